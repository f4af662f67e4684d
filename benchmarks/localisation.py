"""Does the map point where the evidence is? Localisation on real beats with a known ground truth.

``python benchmarks/localisation.py [--epochs 15] [--beats 1000] [--seeds 3]`` prints a markdown
table (with several seeds: the mean and, after +-, the standard deviation over the seeds).
Real ECG5000 beats (z-normalised, 140 samples) carry a 12-sample window at a random place
(samples 15-113); in half of them, drawn at random, the window is changed, and an ``ECGModel``
(two logits) is trained to tell changed beats from unchanged ones (the 500 train beats and the
first 2000 test beats, Adam), so the evidence for class 1 lies in the window and nowhere
else. Three changes:

- ``silence``: the window set to 0 (the beat's mean): the evidence is a flat stretch *at zero*,
  as where a wave is missing;
- ``flat``: the window set to the beat's median (its isoelectric level), a flat stretch near but
  not at zero;
- ``bump``: a Hann bump of height 1.5 added: the evidence is a large deflection.

Each method explains class 1 on the held-out changed beats the model calls changed (test beats
2000-2999); the columns are the mean relevance mass accuracy (the share of the positive relevance
inside the window) and relevance rank accuracy (the share of the 12 top-ranked samples inside it;
ties shared out) of ``signxai.evaluate``; a random map scores about 12 / 140 = 0.09 on both.
Input-multiplied maps (gradient x input, Integrated Gradients from a zero baseline, DeepLIFT from
zero, LRP) are zero wherever the input is zero, which is what the SIGN methods correct.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from aopc import timed_relevance  # benchmarks/aopc.py, beside this file
from signxai.ecg import ECGModel, load_ecg5000
from signxai.evaluate import relevance_mass_accuracy, relevance_rank_accuracy

WIDTH = 12
TASKS = ("silence", "flat", "bump")
METHODS = [
    "gradient",
    "gradient_x_input",
    "gradient_x_sign",
    "integrated_gradients",
    "deeplift",
    "lrp_epsilon_0_5",
    "lrpsign_epsilon_0_5",
    "lrp_alpha_1_beta_0",
    "lrpsign_alpha_1_beta_0",
    "occlusion_window_6",
    "grad_cam",
    "random",
]


def changed_beats(beats: np.ndarray, task: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The beats with a window changed in a random half (labels 1), the labels, and each beat's
    window as a mask (the same place is marked in the unchanged beats)."""
    rng = np.random.default_rng(seed)
    rows, _, length = beats.shape
    starts = rng.integers(15, length - 15 - WIDTH + 1, rows)
    labels = rng.integers(0, 2, rows)
    masks = np.zeros(beats.shape, dtype=bool)
    for row, start in enumerate(starts):
        masks[row, :, start : start + WIDTH] = True
    out = beats.astype(np.float32, copy=True)
    changed = masks & (labels == 1)[:, None, None]
    if task == "silence":
        out[changed] = 0.0
    elif task == "flat":
        level = np.broadcast_to(np.median(beats, axis=-1, keepdims=True), beats.shape)
        out[changed] = level[changed]
    else:
        bump = np.zeros(beats.shape, dtype=np.float32)
        bump[masks] = np.tile(1.5 * np.hanning(WIDTH), rows)
        out += np.where(changed, bump, 0.0).astype(np.float32)
    return out, labels, masks


def train(x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0) -> ECGModel:
    """An ``ECGModel`` with two logits, cross-entropy, Adam (1e-3), batches of 64."""
    torch.manual_seed(seed)
    model = ECGModel(num_classes=2, length=x.shape[-1])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(inputs)).split(64):
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(inputs[batch]), labels[batch]).backward()
            optimiser.step()
    return model.eval()


def scores(
    task: str, methods: list[str], epochs: int, beats: int, seed: int = 0
) -> tuple[dict[str, tuple], str]:
    """Mean mass and rank accuracy and seconds per method for one task and seed (the windows'
    places, the halves changed and the training), and a line on the model."""
    train_split, test_split = load_ecg5000("train"), load_ecg5000("test")
    carriers = np.concatenate([train_split.x, test_split.x[:2000]])
    x_train, y_train, _ = changed_beats(carriers, task, seed=2 * seed)
    x_test, y_test, masks = changed_beats(test_split.x[2000 : 2000 + beats], task, seed=2 * seed + 1)
    model = train(x_train, y_train, epochs, seed)
    with torch.no_grad():
        called = model(torch.from_numpy(x_test)).argmax(1).numpy()
    chosen = (y_test == 1) & (called == 1)
    beats_1, masks_1 = x_test[chosen], masks[chosen]
    line = (
        f"{task}, seed {seed}: held-out accuracy {np.mean(called == y_test):.1%} ({len(y_test)} beats); "
        f"{chosen.sum()} changed beats called changed are explained"
    )
    table = {}
    for method in methods:
        relevance, seconds = timed_relevance(model, beats_1, [1] * len(beats_1), method, "time")
        mass = relevance_mass_accuracy(relevance, masks_1)
        table[method] = (
            float(np.nanmean(mass)),
            float(relevance_rank_accuracy(relevance, masks_1).mean()),
            seconds,
        )
    return table, line


def main(argv: list[str] | None = None) -> None:
    """Print the table (the command line's entry)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--beats", type=int, default=1000, help="held-out beats per task (at most 2500)")
    parser.add_argument("--seeds", type=int, default=1, help="runs with seeds 0, 1, ...")
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    args = parser.parse_args(argv)
    results: dict[str, list[dict[str, tuple]]] = {task: [] for task in args.tasks}
    for task in args.tasks:
        for seed in range(args.seeds):
            table, line = scores(task, args.methods, args.epochs, args.beats, seed)
            results[task].append(table)
            print(line, flush=True)

    def cell(task: str, method: str, column: int) -> str:
        values = np.array([table[method][column] for table in results[task]])
        return f"{values.mean():.2f}" + (f" +- {values.std(ddof=1):.2f}" if len(values) > 1 else "")

    header = " | ".join(f"{task} mass | {task} rank" for task in args.tasks)
    print(f"\n| method | {header} | seconds |")
    print("|---|" + "---:|" * (2 * len(args.tasks) + 1))
    for method in args.methods:
        cells = " | ".join(f"{cell(t, method, 0)} | {cell(t, method, 1)}" for t in args.tasks)
        seconds = sum(table[method][2] for t in args.tasks for table in results[t])
        print(f"| {method} | {cells} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
