"""AOPC of the methods on the shipped ECG5000 test beats and the shipped 5-class model.

``python benchmarks/aopc.py [--beats N]`` prints a markdown table. Settings: every method
explains the model's predicted class (its logit); windows of 10 samples (14 per 140-sample beat)
are removed most-relevant-first (MoRF) or least-relevant-first (LeRF), filled with zeros (the
beats are z-normalised, so 0 is the beat's mean) or by linear interpolation; AOPC is the mean
over beats and steps k = 0..14 of logit(x) - logit(x_k). Higher MoRF AOPC = the removed windows
mattered more; lower LeRF AOPC = the windows called irrelevant were irrelevant.

``python benchmarks/aopc.py --spectrum [--bins 5]`` does the same in frequency: each method
explains the beats per frequency bin (``explain_spectrum``; 71 bins per beat) and
``spectral_deletion_curve`` removes groups of 5 adjacent bins (15 groups) in order of their
relevance (an ideal band stop); AOPC over steps k = 0..15.

``python benchmarks/aopc.py --contrast`` asks whether a contrast map (``Contrast``: the predicted
class against the runner-up, the model's closest alternative) finds what separates the two
classes: windows are removed in the order of the contrast map, of the predicted class's own map
and of a random map, and the curves score the margin z_predicted - z_runner-up. Columns: AOPC of
that margin (MoRF, zero infill) and the share of beats whose margin turned negative (the
runner-up now above the predicted class) after 1 and 2 windows.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from signxai import Contrast, describe_method
from signxai.ecg import load_beat_model, load_ecg5000
from signxai.evaluate import deletion_curve, random_relevance, spectral_deletion_curve
from signxai.evaluate.frequency import explainer, map_shape
from signxai.targets import fixed_targets

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


#: Methods with relevance per frequency bin: DFT-LRP (lrpz_), SIGN at the virtual layer (lrpsign_),
#: epsilon there too (lrp_), alpha-beta with DFT-LRP's z-rule there; occlusion and Kernel SHAP
#: over the test's own bands of 5 bins (the removal the test measures).
SPECTRAL_METHODS = [
    "gradient",
    "gradient_x_input",
    "integrated_gradients",
    "deeplift",
    "lrpz_epsilon_0_5",
    "lrpsign_epsilon_0_5",
    "lrp_epsilon_0_5",
    "lrpz_alpha_1_beta_0",
    "occlusion_window_5_stride_5",
    "kernel_shap_window_5",
    "random",
]


def timed_relevance(
    model: torch.nn.Module, beats: np.ndarray, target: list[int], method: str, domain: str
) -> tuple[np.ndarray, float]:
    """The method's map in ``domain`` (per sample, or per frequency bin), seeded with 0 where it
    draws, and the seconds it took; ``'random'``: a random map of that shape."""
    start = time.perf_counter()
    if method == "random":
        relevance = random_relevance(np.zeros(map_shape(beats.shape, domain)), seed=0)
    else:
        seeded = {"seed": 0} if "seed" in describe_method(method)["parameters"] else {}
        relevance = explainer(domain)(model, beats, method, target_class=target, **seeded)
    return relevance, time.perf_counter() - start


def spectral_table(model: torch.nn.Module, beats: np.ndarray, target: list[int], bins: int) -> None:
    """Explain the beats per frequency bin with every method and print the AOPC table."""
    print(f"{len(beats)} ECG5000 test beats, 5-class model, predicted class, {bins} bins per step\n")
    print("| method | AOPC MoRF | AOPC LeRF | MoRF - LeRF | seconds |")
    print("|---|---:|---:|---:|---:|")
    for method in SPECTRAL_METHODS:
        relevance, seconds = timed_relevance(model, beats, target, method, "frequency")
        morf, lerf = (
            spectral_deletion_curve(model, beats, relevance, target, bins=bins, order=order).aopc
            for order in ("morf", "lerf")
        )
        print(f"| {method} | {morf:.2f} | {lerf:.2f} | {morf - lerf:.2f} | {seconds:.1f} |", flush=True)


#: Methods of the contrast table (the random map is added to each).
CONTRAST_METHODS = [
    "gradient",
    "gradient_x_input",
    "integrated_gradients",
    "deeplift",
    "occlusion_window_10",
    "lrp_epsilon_0_5",
    "lrpsign_epsilon_0_5",
    "lrp_alpha_1_beta_0",
]


def contrast_table(model: torch.nn.Module, beats: np.ndarray, window: int) -> None:
    """Rank windows by each method's contrast map and by its map of the predicted class alone;
    print the margin's AOPC and the beats flipped to the runner-up."""
    with torch.no_grad():
        contrast = fixed_targets(
            Contrast(), model.fc[:-1](model.features(torch.from_numpy(beats)).flatten(1))
        )
    assert isinstance(contrast, Contrast)
    counts = np.bincount(np.array(contrast.target) * 5 + np.array(contrast.versus), minlength=25).reshape(
        5, 5
    )
    print(f"{len(beats)} ECG5000 test beats, 5-class model, predicted class against the runner-up, ")
    print(f"window {window} samples, MoRF, zero infill; (predicted, runner-up) counts {counts.tolist()}\n")
    print("| method | map ranking the windows | AOPC of the margin | flipped after 1 window | 2 | seconds |")
    print("|---|---|---:|---:|---:|---:|")

    def row(method: str, kind: str, relevance: np.ndarray, seconds: float) -> None:
        curve = deletion_curve(model, beats, relevance, contrast, window=window)
        flipped = (curve.scores[:, 1:3] < 0).mean(axis=0)
        print(
            f"| {method} | {kind} | {curve.aopc:.2f} | {flipped[0]:.1%} | {flipped[1]:.1%} | {seconds:.1f} |",
            flush=True,
        )

    for method in CONTRAST_METHODS:
        seeded = {"seed": 0} if "seed" in describe_method(method)["parameters"] else {}
        for kind, target in (("contrast", contrast), ("predicted class", contrast.target)):
            start = time.perf_counter()
            relevance = explainer("time")(model, beats, method, target_class=target, **seeded)
            row(method, kind, relevance, time.perf_counter() - start)
    row("random", "random", random_relevance(beats, seed=0), 0.0)


def main() -> None:
    """Explain the beats with every method and print the AOPC table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--beats", type=int, default=4500)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--spectrum", action="store_true", help="the table in frequency instead")
    parser.add_argument("--bins", type=int, default=5, help="bins removed per step (--spectrum)")
    parser.add_argument("--contrast", action="store_true", help="the contrast table instead")
    args = parser.parse_args()
    model = load_beat_model("5class")
    beats = load_ecg5000("test").x[: args.beats]
    with torch.no_grad():
        target = model(torch.from_numpy(beats)).argmax(1).tolist()
    if args.spectrum:
        spectral_table(model, beats, target, args.bins)
        return
    if args.contrast:
        contrast_table(model, beats, args.window)
        return
    print(f"{len(beats)} ECG5000 test beats, 5-class model, predicted class, window {args.window} samples\n")
    print("| method | AOPC MoRF (zero) | AOPC MoRF (linear) | AOPC LeRF (zero) | MoRF - LeRF | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for method in METHODS:
        relevance, seconds = timed_relevance(model, beats, target, method, "time")
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
