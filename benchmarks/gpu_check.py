"""GPU check: every method gives on CUDA what it gives on the CPU, leaves the model as found; timings.

Run from the repository root on a machine with a CUDA GPU: ``python benchmarks/gpu_check.py``
(``DEV=cpu`` runs the same on the CPU, ``B=512`` times a larger batch, ``CASES=LSTM,GRU`` checks
only the cases so named and times nothing). It uses the test suite's
models (``tests/models.py`` and the functional-operation nets of ``tests/methods``). Prints the
worst CPU/CUDA difference, every case over 1e-4 or with the model changed, the same for the ECG
toolkit with the shipped model on the device (beat classification, a strip analysis, deletion
curves, cascading randomization, relevance per frequency and per frequency and time), and the
cost of a few methods as ratios to one forward+backward of the tutorial's model with 12 leads;
writes
``gpu_check.json`` to ``$OUT`` (default: the current folder). Not a test: CI has no GPU.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

sys.path[:0] = ["src", "tests", "tests/methods"]

from test_lrp import _TCN, _Ribeiro, _TwoScales  # noqa: E402
from test_lrp_attention import _ECGTransformer  # noqa: E402
from test_lrp_graph import _Between, _SEResNet1d  # noqa: E402
from test_lrp_recurrent import _Recurrent  # noqa: E402

from models import WithMetadata, build, randomize_batch_norm  # noqa: E402
from signxai import Contrast, explain, explain_spectrogram, explain_spectrum  # noqa: E402
from signxai.ecg.models import ECG5000_CLASSES, ECGModel  # noqa: E402

METHODS = [
    "gradient",
    "gradient_x_sign",
    "integrated_gradients",
    "deeplift",
    "grad_cam",
    "guided_backprop",
    "guided_grad_cam",
    "lrp_z",
    "lrp_epsilon_0_1",
    "lrpsign_epsilon_0_1",
    "lrp_epsilon_0_25_std_x",
    "lrp_alpha_1_beta_0",
    "w2lrp_epsilon_0_1",
    "zblrp_epsilon_0_1",
    "lrp_sequential_composite_a",
]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(float(np.linalg.norm(b)), 1e-30))


#: The methods an LSTM/GRU/RNN net has (LRP: the z and epsilon rules; no conv for Grad-CAM).
RECURRENT_METHODS = ["gradient", "integrated_gradients", "lrp_z", "lrp_epsilon_0_1"]


class Case(NamedTuple):
    """A model and input; keywords for the LRP methods and for every call; the methods run."""

    name: str
    model: torch.nn.Module
    x: torch.Tensor
    lrp: dict[str, Any]
    call: dict[str, Any]
    methods: list[str]


def _cases() -> list[Case]:
    cases: list[Case] = []
    for arch in ["ecg", "ecg_beat", "resnet", "cnn2d"]:
        model, x = build(arch)
        cases.append(Case(arch, model, x, {}, {}, METHODS))
    torch.manual_seed(0)
    ribeiro = randomize_batch_norm(_Ribeiro()).eval()
    cases.append(
        Case("ribeiro", ribeiro, torch.randn(4, 12, 256), {"batchnorm": "innvestigate"}, {}, METHODS)
    )
    # no nn.ReLU module in these (functional relu): no guided backprop
    functional = [m for m in METHODS if m not in ("guided_backprop", "guided_grad_cam")]
    cases.append(Case("two_scales", _TwoScales().eval(), torch.randn(4, 2, 8), {}, {}, functional))
    for operation in ["difference", "add_", "buffer", "interpolate", "upsample", "abs"]:
        model = _Between(operation).eval()
        cases.append(Case(f"between_{operation}", model, torch.randn(4, 2, 8), {}, {}, functional))
    # what the LRP of LSTM/GRU, gates, weight normalisation and further inputs added
    for kind in (torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN):
        model = _Recurrent(kind, bidirectional=True).eval()
        cases.append(Case(kind.__name__, model, torch.randn(4, 30, 3), {}, {}, RECURRENT_METHODS))
    # a gate multiplies two input-dependent tensors: no DeepLIFT rule (an error)
    se = [m for m in functional if m not in ("grad_cam", "deeplift")] + ["grad_cam_conv"]
    cases.append(Case("se_gates", _SEResNet1d().eval(), torch.randn(4, 2, 24), {"gates": "signal"}, {}, se))
    cases.append(
        Case("tcn_weight_norm", _TCN(chomp_module=True).eval(), torch.randn(4, 2, 48), {}, {}, functional)
    )
    transformer = [m for m in functional if m not in ("grad_cam", "guided_backprop", "deeplift")]
    torch.manual_seed(1)
    model = _ECGTransformer(norm_first=True, activation="gelu").eval()
    for mode in ("cp", "attnlrp"):
        cases.append(
            Case(f"transformer_{mode}", model, torch.randn(4, 2, 64), {"attention": mode}, {}, transformer)
        )
    metadata = {"forward_args": (torch.randn(4, 2),), "forward_kwargs": {"mask": torch.rand(4, 1, 16)}}
    meta = [m for m in functional if m != "grad_cam"] + ["grad_cam_conv"]
    cases.append(Case("forward_args", WithMetadata().eval(), torch.randn(4, 2, 16), {}, metadata, meta))
    onnx = _onnx_case()
    if onnx is not None:
        cases.append(onnx)
    return cases


def _onnx_case() -> Case | None:
    """The tutorial's model exported to ONNX (dynamo, a dynamic batch), converted and proved on
    the CPU; None without the onnx extra."""
    try:
        import onnx2torch  # noqa: F401

        from signxai import from_onnx
    except ImportError:
        return None
    model, x = build("ecg")
    path = os.path.join(tempfile.mkdtemp(), "ecg.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, dynamic_shapes=({0: torch.export.Dim("batch")},))
    return Case("onnx_ecg", from_onnx(path, x), x, {}, {}, METHODS)


def _to(value: Any, device: torch.device) -> Any:
    """Tensors in ``value`` (nested tuples and dicts) moved to ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, tuple):
        return tuple(_to(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    return value


def compare(device: torch.device) -> tuple[list[tuple[Any, ...]], float]:
    """Every method on every case, on the CPU and on ``device``."""
    rows: list[tuple[Any, ...]] = []
    worst = 0.0
    only = [name for name in os.environ.get("CASES", "").split(",") if name]
    for name, model, x, lrp, call, methods in _cases():
        if only and name not in only:
            continue
        for listed in methods:
            method, kwargs = listed, dict(call)
            if "lrp" in method:
                kwargs.update(lrp)
            if method == "grad_cam_conv":  # a model whose last conv is not found by the default
                method, kwargs["target_layer"] = "grad_cam", "conv"
            try:
                cpu = explain(model, x, method, target_class=1, **kwargs)
                state = {k: v.clone() for k, v in model.state_dict().items()}
                moved = model.to(device)
                on_device = explain(moved, x.to(device), method, target_class=1, **_to(kwargs, device))
                kept = all(p.device.type == device.type for p in moved.parameters())
                unchanged = all(torch.equal(v.cpu(), state[k]) for k, v in moved.state_dict().items())
                error = _rel(np.asarray(on_device), np.asarray(cpu))
                worst = max(worst, error)
                rows.append((name, listed, error, kept and unchanged))
            except Exception as failure:  # reported, not raised: the check goes on
                rows.append((name, listed, -1.0, False, f"{type(failure).__name__}: {failure}"))
            finally:
                model.to("cpu")
    return rows, worst


def toolkit(device: torch.device) -> dict[str, float]:
    """The ECG toolkit with the shipped 5-class model on ``device`` against the CPU: relative
    differences of beat classification, a strip analysis (60 s of MIT-BIH 208: probabilities,
    maps, deletion curves, samples seen), deletion curves of infill 'linear' and 'noise' (seeded),
    seeded SmoothGrad and VarGrad (the noise drawn on the CPU: the same maps on every device) and
    a cascading randomization table; explain_spectrum (also the strip's relevance per harmonic,
    occlusion and Kernel SHAP over bands), spectral deletion curves and explain_spectrogram;
    contrasts (LRP, Grad-CAM, a deletion curve, the strip against its runner-ups)."""
    from dataclasses import replace

    from signxai.ecg import load_beat_model, load_ecg5000, load_mitbih_208
    from signxai.ecg.analysis import analyze_strip
    from signxai.ecg.beats import classify
    from signxai.evaluate import deletion_curve, model_randomization, spectral_deletion_curve

    model = load_beat_model("5class")
    beats = load_ecg5000("test").x[:64]
    strip = load_mitbih_208()
    strip = replace(strip, signal=strip.signal[:, : int(60 * strip.fs)])
    methods = ("gradient", "lrpsign_epsilon_0_1", "integrated_gradients")
    relevance = explain(model, beats, "lrpsign_epsilon_0_1", target_class=2)
    spectral = explain_spectrum(model, beats, "lrpz_epsilon_0_1", target_class=2)

    def run(on: torch.nn.Module) -> dict[str, np.ndarray]:
        analysis = analyze_strip(
            strip, on, ECG5000_CLASSES, methods=methods, spectral_method="lrpz_epsilon_0_5"
        )
        assert analysis.spectrum is not None
        found = {
            "classify": classify(on, beats),
            "strip_probabilities": analysis.probabilities,
            "strip_seen": analysis.seen.astype(np.float32),
            "deletion_linear": deletion_curve(on, beats, relevance, 2, window=10, infill="linear").scores,
            "deletion_noise": deletion_curve(
                on, beats, relevance, 2, window=10, infill="noise", seed=3
            ).scores,
            "smoothgrad_seeded": explain(on, beats[:8], "smoothgrad", target_class=2, seed=5),
            "vargrad_seeded": explain(on, beats[:8], "vargrad", target_class=2, seed=5),
            "randomization": model_randomization(on, beats[:4], "gradient", target_class=2)[
                "similarity"
            ].to_numpy(),
            "strip_spectrum": analysis.spectrum.relevance,
            "spectrum_lrpsign": explain_spectrum(on, beats, "lrpsign_epsilon_0_1", target_class=2).relevance,
            "spectrum_ig": explain_spectrum(on, beats, "integrated_gradients", target_class=2).relevance,
            "spectrum_occlusion": explain_spectrum(
                on, beats, "occlusion_window_5", target_class=2, per_channel=True
            ).relevance,
            "spectrum_kernel_shap": explain_spectrum(
                on, beats[:8], "kernel_shap_window_10", target_class=2, seed=1
            ).relevance,
            "spectral_deletion": spectral_deletion_curve(on, beats, spectral, 2, bins=5).scores,
            "spectrogram_lrpz": explain_spectrogram(
                on, beats, "lrpz_epsilon_0_1", target_class=2, n_fft=32, hop=8
            ).relevance,
            "contrast_lrp": explain(on, beats, "lrp_epsilon_0_1", target_class=Contrast()),
            "contrast_grad_cam": explain(on, beats, "grad_cam", target_class=Contrast(2, 0)),
            "contrast_deletion": deletion_curve(on, beats, relevance, Contrast(2, 0), window=10).scores,
            "strip_versus": analyze_strip(
                strip, on, ECG5000_CLASSES, methods=methods[:2], versus="runner_up"
            ).relevance[methods[1]],
        }
        for method in methods:
            found[f"strip_{method}"] = analysis.relevance[method]
            found[f"strip_deletion_{method}"] = analysis.faithfulness[method]["morf"].scores
        return found

    cpu = run(model)
    moved = run(model.to(device))
    model.to("cpu")
    return {key: _rel(np.asarray(moved[key]), np.asarray(cpu[key])) for key in cpu}


def timings(device: torch.device, batch: int) -> dict[str, float]:
    """Ratios to one forward+backward of ECGModel(12 leads, 2000 samples) at ``batch``."""
    model = ECGModel(input_channels=12, num_classes=5, length=2000).eval().to(device)
    x = torch.randn(batch, 12, 2000, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def floor() -> None:
        leaf = x.detach().requires_grad_(True)
        torch.autograd.grad(model(leaf).sum(), leaf)
        sync()

    def timed(f: Callable[[], Any], n: int = 20) -> float:
        for _ in range(3):
            f()
        sync()
        start = time.perf_counter()
        for _ in range(n):
            f()
        sync()
        return (time.perf_counter() - start) / n

    base = timed(floor)
    result = {"floor_ms": base * 1e3}
    for method in [
        "gradient",
        "lrp_epsilon_0_5",
        "lrpsign_epsilon_0_5",
        "lrp_alpha_1_beta_0",
        "integrated_gradients",
    ]:

        def run(method: str = method) -> None:
            explain(model, x, method, target_class=1)
            sync()

        result[method] = timed(run, 5 if method == "integrated_gradients" else 20) / base
    return result


def main() -> None:
    """Compare CPU and device, time, print and write gpu_check.json."""
    device = torch.device(os.environ.get("DEV", "cuda"))
    torch.backends.cudnn.allow_tf32 = False  # the comparison in float32
    torch.backends.cuda.matmul.allow_tf32 = False
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    print(torch.__version__, name, flush=True)
    rows, worst = compare(device)
    bad = [r for r in rows if r[2] < 0 or r[2] > 1e-4 or not r[3]]
    print(f"cases {len(rows)}, worst relative difference {worst:.2g}, flagged {len(bad)}", flush=True)
    for row in bad:
        print("FLAGGED", row, flush=True)
    ecg = toolkit(device)
    print("ECG toolkit, relative CPU/device difference:", json.dumps(ecg), flush=True)
    for key, error in ecg.items():
        if error > 1e-4:
            print("FLAGGED toolkit", key, error, flush=True)
    torch.backends.cudnn.allow_tf32 = True  # timings as users run them
    batch = int(os.environ.get("B", 64))
    timed = {} if os.environ.get("CASES") else timings(device, batch)
    if timed:
        print(f"ratios to one forward+backward (batch {batch}, 12 x 2000):", json.dumps(timed), flush=True)
    out = os.environ.get("OUT", ".")
    with open(os.path.join(out, "gpu_check.json"), "w") as handle:
        json.dump(
            {"device": name, "rows": rows, "toolkit": ecg, "timings": timed, "worst": worst}, handle, indent=1
        )


if __name__ == "__main__":
    main()
