"""GPU check: every method gives on CUDA what it gives on the CPU, leaves the model as found; timings.

Run from the repository root on a machine with a CUDA GPU: ``python benchmarks/gpu_check.py``
(``DEV=cpu`` runs the same on the CPU, ``B=512`` times a larger batch). It uses the test suite's
models (``tests/models.py`` and the functional-operation nets of ``tests/methods``). Prints the
worst CPU/CUDA difference, every case over 1e-4 or with the model changed, and the cost of a few
methods as ratios to one forward+backward of the tutorial's model with 12 leads; writes
``gpu_check.json`` to ``$OUT`` (default: the current folder). Not a test: CI has no GPU.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

sys.path[:0] = ["src", "tests", "tests/methods"]

from test_lrp import _Ribeiro, _TwoScales  # noqa: E402
from test_lrp_graph import _Between  # noqa: E402

from models import build, randomize_batch_norm  # noqa: E402
from signxai import explain  # noqa: E402
from signxai.ecg.models import ECGModel  # noqa: E402

METHODS = [
    "gradient",
    "gradient_x_sign",
    "integrated_gradients",
    "grad_cam",
    "guided_backprop",
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


def _cases() -> list[tuple[str, torch.nn.Module, torch.Tensor, dict[str, Any]]]:
    cases: list[tuple[str, torch.nn.Module, torch.Tensor, dict[str, Any]]] = []
    for arch in ["ecg", "ecg_beat", "resnet", "cnn2d"]:
        model, x = build(arch)
        cases.append((arch, model, x, {}))
    torch.manual_seed(0)
    ribeiro = randomize_batch_norm(_Ribeiro()).eval()
    cases.append(("ribeiro", ribeiro, torch.randn(4, 12, 256), {"batchnorm": "innvestigate"}))
    cases.append(("two_scales", _TwoScales().eval(), torch.randn(4, 2, 8), {}))
    for operation in ["difference", "add_", "buffer", "interpolate", "upsample", "abs"]:
        cases.append((f"between_{operation}", _Between(operation).eval(), torch.randn(4, 2, 8), {}))
    return cases


def compare(device: torch.device) -> tuple[list[tuple[Any, ...]], float]:
    """Every method on every case, on the CPU and on ``device``."""
    rows: list[tuple[Any, ...]] = []
    worst = 0.0
    for name, model, x, extra in _cases():
        functional_relu = name.startswith(("between", "two_scales"))  # no nn.ReLU for guided backprop
        for method in [m for m in METHODS if not (functional_relu and m == "guided_backprop")]:
            kwargs = dict(extra) if "lrp" in method else {}
            try:
                cpu = explain(model, x, method, target_class=1, **kwargs)
                state = {k: v.clone() for k, v in model.state_dict().items()}
                moved = model.to(device)
                on_device = explain(moved, x.to(device), method, target_class=1, **kwargs)
                kept = all(p.device.type == device.type for p in moved.parameters())
                unchanged = all(torch.equal(v.cpu(), state[k]) for k, v in moved.state_dict().items())
                error = _rel(np.asarray(on_device), np.asarray(cpu))
                worst = max(worst, error)
                rows.append((name, method, error, kept and unchanged))
            except Exception as failure:  # reported, not raised: the check goes on
                rows.append((name, method, -1.0, False, f"{type(failure).__name__}: {failure}"))
            finally:
                model.to("cpu")
    return rows, worst


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
    torch.backends.cudnn.allow_tf32 = True  # timings as users run them
    batch = int(os.environ.get("B", 64))
    timed = timings(device, batch)
    print(f"ratios to one forward+backward (batch {batch}, 12 x 2000):", json.dumps(timed), flush=True)
    out = os.environ.get("OUT", ".")
    with open(os.path.join(out, "gpu_check.json"), "w") as handle:
        json.dump({"device": name, "rows": rows, "timings": timed, "worst": worst}, handle, indent=1)


if __name__ == "__main__":
    main()
