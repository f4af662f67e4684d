"""AOPC of the methods on the shipped ECG5000 test beats and the shipped 5-class model.

``python benchmarks/aopc.py [--beats N]`` prints a markdown table. Settings: every method
explains the model's predicted class (its logit); windows of 10 samples (14 per 140-sample beat)
are removed most-relevant-first (MoRF) or least-relevant-first (LeRF), filled with zeros (the
beats are z-normalised, so 0 is the beat's mean) or by linear interpolation; AOPC is the mean
over beats and steps k = 0..14 of logit(x) - logit(x_k). Higher MoRF AOPC = the removed windows
mattered more; lower LeRF AOPC = the windows called irrelevant were irrelevant.
"""

from __future__ import annotations

import argparse
import time

import torch

from signxai import describe_method, explain
from signxai.ecg import load_beat_model, load_ecg5000
from signxai.evaluate import deletion_curve, random_relevance

METHODS = [
    "gradient",
    "gradient_x_input",
    "integrated_gradients",
    "deeplift",
    "occlusion_window_10",
    "kernel_shap_window_10",
    "lrp_epsilon_0_5",
    "lrpsign_epsilon_0_5",
    "lrp_alpha_1_beta_0",
    "grad_cam",
    "random",
]


def main() -> None:
    """Explain the beats with every method and print the AOPC table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--beats", type=int, default=4500)
    parser.add_argument("--window", type=int, default=10)
    args = parser.parse_args()
    model = load_beat_model("5class")
    beats = load_ecg5000("test").x[: args.beats]
    with torch.no_grad():
        target = model(torch.from_numpy(beats)).argmax(1).tolist()
    print(f"{len(beats)} ECG5000 test beats, 5-class model, predicted class, window {args.window} samples\n")
    print("| method | AOPC MoRF (zero) | AOPC MoRF (linear) | AOPC LeRF (zero) | MoRF - LeRF | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for method in METHODS:
        start = time.perf_counter()
        if method == "random":
            relevance = random_relevance(beats, seed=0)
        else:
            seeded = {"seed": 0} if "seed" in describe_method(method)["parameters"] else {}
            relevance = explain(model, beats, method, target_class=target, **seeded)
        seconds = time.perf_counter() - start
        curves = {
            (order, infill): deletion_curve(
                model, beats, relevance, target, window=args.window, order=order, infill=infill
            )
            for order, infill in (("morf", "zero"), ("morf", "linear"), ("lerf", "zero"))
        }
        morf, lerf = curves["morf", "zero"].aopc, curves["lerf", "zero"].aopc
        print(
            f"| {method} | {morf:.2f} | {curves['morf', 'linear'].aopc:.2f} | {lerf:.2f} | "
            f"{morf - lerf:.2f} | {seconds:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
