"""What explaining a large CPU batch in parts of ``batch_size`` samples saves.

Run: ``python benchmarks/large_batch.py [--beats 2048] [--repeats 3]``. Prints a markdown table.
The multi-pass methods (integrated gradients, SmoothGrad, occlusion) on the shipped 5-class beat
model and ECG5000 test beats (``--beats`` of them, 1 x 140), each timed three ways in one run,
interleaved: the whole batch in every pass (``batch_size`` = the batch: one step, sample or
window per pass, as ``explain`` ran before it split CPU batches), and in parts of 64 (the
default) and 256 samples. Each time is the median of ``--repeats`` runs; the ratios are to the
whole batch, and the last column the largest difference between the maps (over the largest
value). Not a test: the machine's other load moves the times.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from signxai import explain
from signxai.ecg.datasets import load_ecg5000
from signxai.ecg.models import load_beat_model

METHODS = {"integrated_gradients": {}, "smoothgrad": {"seed": 0}, "occlusion_window_16_stride_8": {}}
PARTS = (64, 256)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beats", type=int, default=2048, help="number of test beats explained at once")
    parser.add_argument("--repeats", type=int, default=3, help="runs per way (the median is shown)")
    args = parser.parse_args()
    model = load_beat_model("5class")
    x = np.asarray(load_ecg5000("test").x[: args.beats], dtype=np.float32)
    print(f"{len(x)} beats, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    columns = " | ".join(f"parts of {p} (s) | ratio" for p in PARTS)
    print(f"| method | whole batch (s) | {columns} | max diff |")
    print("|---|---:|" + "---:|---:|" * len(PARTS) + "---:|")
    for method, params in METHODS.items():
        sizes = (len(x), *PARTS)
        times: dict[int, list[float]] = {size: [] for size in sizes}
        maps: dict[int, np.ndarray] = {}
        for _ in range(args.repeats):
            for size in sizes:
                start = time.perf_counter()
                maps[size] = explain(model, x, method, batch_size=size, **params)
                times[size].append(time.perf_counter() - start)
        whole = statistics.median(times[len(x)])
        cells = []
        for size in PARTS:
            median = statistics.median(times[size])
            cells.append(f"{median:.2f} | {median / whole:.2f}")
        scale = np.abs(maps[len(x)]).max()
        diff = max(float(np.abs(maps[size] - maps[len(x)]).max() / scale) for size in PARTS)
        print(f"| {method} | {whole:.2f} | " + " | ".join(cells) + f" | {diff:.1e} |")


if __name__ == "__main__":
    main()
