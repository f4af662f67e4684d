"""How stable LRP maps are under each ``batchnorm`` mode on pre-activation ResNets.

Run: ``python benchmarks/batchnorm_modes.py [--models 10]``. Prints a markdown table.
On ``--models`` pre-activation 1D ResNets in the style of Hannun et al. 2019 (``tests/models.py``,
random weights and BatchNorm statistics, 6 inputs of 2 x 64 each) and five LRP methods, for each
mode: how far a batch's maps are from the same samples explained one by one (float32; the
largest absolute difference over the map's largest value), how far float32 maps are from
float64 ones, and how spiky maps are (a map's largest magnitude over its median magnitude).
The README's numbers for ``batchnorm='merge'`` (z-rule on the BatchNorms that cannot be merged)
and ``'pass'`` (zennit's composites) come from this script. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from models import PreActivationResNet1D, randomize_batch_norm
from signxai import explain

METHODS = ("lrp_epsilon_0_1", "lrpsign_epsilon_0_1", "lrp_alpha_1_beta_0", "lrp_z", "flatlrp_zplus")
TARGETS = [0, 3, 1, 2, 0, 1]


def _measure(mode: str, models: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"batch": [], "float64": [], "peak": []}
    for seed in range(models):
        torch.manual_seed(seed)
        model = randomize_batch_norm(PreActivationResNet1D(), seed + 5).eval()
        x = torch.randn(len(TARGETS), 2, 64)
        wide = PreActivationResNet1D()
        wide.load_state_dict(model.state_dict())
        wide = wide.double().eval()
        for method in METHODS:
            batch = explain(model, x, method, target_class=TARGETS, batchnorm=mode)
            single = np.stack(
                [explain(model, x[i], method, target_class=t, batchnorm=mode) for i, t in enumerate(TARGETS)]
            )
            exact = explain(wide, x.double(), method, target_class=TARGETS, batchnorm=mode)
            scale = np.abs(batch).max()
            found["batch"].append(float(np.abs(single - batch).max() / scale))
            found["float64"].append(float(np.abs(exact - batch).max() / np.abs(exact).max()))
            magnitude = np.abs(batch).reshape(len(TARGETS), -1)
            found["peak"] += list(magnitude.max(axis=1) / np.median(magnitude, axis=1))
    return found


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10, help="number of random models")
    args = parser.parse_args()
    print(f"{args.models} models x {len(METHODS)} methods x {len(TARGETS)} inputs\n")
    print(
        "| batchnorm | batch vs one by one: worst / median | float32 vs float64: worst "
        "| peak / median magnitude: worst / median |"
    )
    print("|---|---|---|---|")
    for mode in ("merge", "pass", "innvestigate"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the warning naming the BatchNorms that are not merged
            found = _measure(mode, args.models)
        print(
            f"| {mode} | {max(found['batch']):.1e} / {statistics.median(found['batch']):.1e} "
            f"| {max(found['float64']):.1e} "
            f"| {max(found['peak']):.0f} / {statistics.median(found['peak']):.0f} |"
        )


if __name__ == "__main__":
    main()
