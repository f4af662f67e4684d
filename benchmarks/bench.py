"""Cost of explanations as ratios to one plain forward+backward pass, next to captum and zennit.

Run: ``python benchmarks/bench.py [--repeats N] [--batches 1 64]``. Prints a markdown table.
Rows ``spectrum:<method>`` / ``spectrogram:<method>`` time ``explain_spectrum`` /
``explain_spectrogram`` (n_fft 128, hop 32) with the time-domain ``explain`` of the same method as
the reference.
Every number of one table comes from the same run on the same machine: the floor is
``torch.autograd.grad(model(x).sum(), x)`` on the tutorial's ECGModel (1 x 2000) at that batch,
and each method's median time is divided by the median of floor runs interleaved with it.
Not a test: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from models import ECGModel, randomize_batch_norm
from signxai import explain, explain_spectrogram, explain_spectrum


def _timed(function: Callable[[], object], repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _ratio(function: Callable[[], object], floor: Callable[[], object], repeats: int) -> float:
    """Median time of ``function`` over the median of ``floor`` runs interleaved with it.

    Alternating the two makes the ratio robust to the machine getting slower or faster while
    the table is measured (other tenants on a shared machine).
    """
    function()  # warm-up
    floor()
    ours, base = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        middle = time.perf_counter()
        floor()
        ours.append(middle - start)
        base.append(time.perf_counter() - middle)
    return statistics.median(ours) / statistics.median(base)


def _logit_model(model: nn.Module) -> nn.Module:
    import copy

    twin = copy.deepcopy(model)
    twin.fc[-1] = nn.Identity()
    return twin.eval()


def _references(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[str, Callable[[], object]]]:
    from captum.attr import (
        Deconvolution,
        DeepLift,
        GuidedBackprop,
        GuidedGradCam,
        InputXGradient,
        IntegratedGradients,
        LayerGradCam,
        NoiseTunnel,
        Occlusion,
        Saliency,
    )
    from zennit.attribution import Gradient
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import LayerMapComposite, SpecialFirstLayerMapComposite
    from zennit.rules import AlphaBeta, Epsilon, Gamma, Pass, ZPlus
    from zennit.types import Activation, Convolution, Linear

    logits = _logit_model(model)
    target = [0] * len(x)

    def zennit_call(rule: Callable[[], object], first: Callable[[], object] | None = None) -> Callable:
        def call() -> object:
            layer_map = [(Activation, Pass()), (Convolution, rule()), (Linear, rule())]
            if first is None:
                composite = LayerMapComposite(layer_map, canonizers=[SequentialMergeBatchNorm()])
            else:
                composite = SpecialFirstLayerMapComposite(
                    layer_map, [(Convolution, first())], canonizers=[SequentialMergeBatchNorm()]
                )
            with Gradient(model=logits, composite=composite) as attributor:
                return attributor(x, lambda out: out)[1]

        return call

    return {
        "gradient": ("captum Saliency", lambda: Saliency(logits).attribute(x, target=target, abs=False)),
        "gradient_x_input": (
            "captum InputXGradient",
            lambda: InputXGradient(logits).attribute(x, target=target),
        ),
        "guided_backprop": ("captum GuidedBackprop", lambda: GuidedBackprop(logits).attribute(x, target)),
        "deconvnet": ("captum Deconvolution", lambda: Deconvolution(logits).attribute(x, target)),
        "grad_cam": (
            "captum LayerGradCam",
            lambda: LayerGradCam(logits, logits.features[12]).attribute(x, target),
        ),
        "guided_grad_cam": (
            "captum GuidedGradCam",
            lambda: GuidedGradCam(logits, logits.features[12]).attribute(x, target),
        ),
        "integrated_gradients": (
            "captum IntegratedGradients (50)",
            lambda: IntegratedGradients(logits).attribute(x, target=target, n_steps=50),
        ),
        "smoothgrad": (
            "captum NoiseTunnel smoothgrad (50)",
            lambda: NoiseTunnel(Saliency(logits)).attribute(
                x, target=target, nt_type="smoothgrad", nt_samples=50, stdevs=0.2, abs=False
            ),
        ),
        "vargrad": (
            "captum NoiseTunnel vargrad (50)",
            lambda: NoiseTunnel(Saliency(logits)).attribute(
                x, target=target, nt_type="vargrad", nt_samples=50, stdevs=0.2, abs=False
            ),
        ),
        "occlusion": (
            "captum Occlusion (16, stride 8)",
            lambda: Occlusion(logits).attribute(
                x,
                sliding_window_shapes=(1, 16),
                strides=(1, 8),
                target=target,
                baselines=0.0,
                perturbations_per_eval=max(1, 64 // len(x)),  # our chunks: 64 rows per pass
            ),
        ),
        "deeplift": ("captum DeepLift", lambda: DeepLift(logits).attribute(x, target=target)),
        "lrp_epsilon_0_5": ("zennit Epsilon(0.5) composite", zennit_call(lambda: Epsilon(0.5))),
        "lrp_z": ("zennit Epsilon(1e-7) composite", zennit_call(lambda: Epsilon(1e-7))),
        "lrp_alpha_1_beta_0": ("zennit AlphaBeta(1, 0) composite", zennit_call(lambda: AlphaBeta(1.0, 0.0))),
        "lrp_alpha_2_beta_1": ("zennit AlphaBeta(2, 1) composite", zennit_call(lambda: AlphaBeta(2.0, 1.0))),
        "lrp_zplus": ("zennit ZPlus composite", zennit_call(ZPlus)),
        "lrp_gamma_0_25": ("zennit Gamma(0.25) composite", zennit_call(lambda: Gamma(0.25))),
    }


METHODS = [
    "gradient",
    "gradient_x_input",
    "guided_backprop",
    "deconvnet",
    "grad_cam",
    "guided_grad_cam",
    "integrated_gradients",
    "smoothgrad",
    "vargrad",
    "occlusion",
    "deeplift",
    "lrp_z",
    "lrp_epsilon_0_5",
    "lrpsign_epsilon_0_5",
    "lrp_epsilon_0_25_std_x",
    "lrpsign_epsilon_0_25_std_x",
    "lrp_alpha_1_beta_0",
    "lrpsign_alpha_1_beta_0",
    "lrp_alpha_2_beta_1",
    "lrp_zplus",
    "lrp_gamma_0_25",
    "spectrum:gradient_x_input",
    "spectrum:lrpsign_epsilon_0_5",
    "spectrogram:lrpsign_epsilon_0_5",
]
#: ``<kind>:<method>`` rows: the method through a virtual inspection layer.
TRANSFORMED: dict[str, Callable[..., object]] = {
    "spectrum": explain_spectrum,
    "spectrogram": lambda *args, **kwargs: explain_spectrogram(*args, n_fft=128, hop=32, **kwargs),
}
REFERENCE_OF = {
    "lrpsign_epsilon_0_5": "lrp_epsilon_0_5",
    "lrp_epsilon_0_25_std_x": "lrp_epsilon_0_5",
    "lrpsign_alpha_1_beta_0": "lrp_alpha_1_beta_0",
}


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(torch.get_num_threads())
    model = randomize_batch_norm(ECGModel()).eval()
    rows: dict[str, dict[int, tuple[float, float | None, str]]] = {}
    for batch in args.batches:
        x = torch.randn(batch, 1, 2000)

        def floor(x: torch.Tensor = x) -> object:
            xs = x.clone().requires_grad_(True)
            return torch.autograd.grad(model(xs).sum(), xs)

        base = _timed(floor, args.repeats)
        references = _references(model, x)
        for method in args.methods:
            repeats = (
                max(1, args.repeats // 2)
                if method in ("integrated_gradients", "smoothgrad", "vargrad", "occlusion")
                else args.repeats
            )
            if ":" in method:  # per frequency (and time), next to the same method in time
                kind, base_method = method.split(":", 1)
                transformed = TRANSFORMED[kind]
                ours = _ratio(
                    lambda m=base_method, x=x, f=transformed: f(model, x, m, target_class=1), floor, repeats
                )
                name = "signxai explain (time domain)"
                call = lambda m=base_method, x=x: explain(model, x, m, target_class=1)  # noqa: E731
            else:
                ours = _ratio(lambda m=method, x=x: explain(model, x, m, target_class=1), floor, repeats)
                name, call = references.get(REFERENCE_OF.get(method, method), ("", None))
            theirs = _ratio(call, floor, repeats) if call is not None else None
            rows.setdefault(method, {})[batch] = (ours, theirs, name)
        print(f"batch {batch}: plain forward+backward {base * 1e3:.1f} ms", file=sys.stderr)
    header = "| method | reference |"
    rule = "|---|---|"
    for batch in args.batches:
        header += f" signxai b{batch} | reference b{batch} | signxai / reference b{batch} |"
        rule += "---:|---:|---:|"
    print(
        f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; "
        "ratios to one plain forward+backward of the same batch\n"
    )
    print(header)
    print(rule)
    for method, by_batch in rows.items():
        name = next(iter(by_batch.values()))[2] or "-"
        line = f"| {method} | {name} |"
        for batch in args.batches:
            ours, theirs, _ = by_batch[batch]
            if theirs is None:
                line += f" {ours:.2f}x | - | - |"
            else:
                line += f" {ours:.2f}x | {theirs:.2f}x | {ours / theirs:.2f} |"
        print(line)


if __name__ == "__main__":
    main()
