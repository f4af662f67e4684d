"""Which harmonics of an ECG5000 beat the shipped 5-class model's evidence lies in, per class.

``python scripts/spectrum_study.py [--method lrpz_epsilon_0_1] [--per-class 200]`` explains up to
``--per-class`` test beats of each true class for that class with :func:`signxai.explain_spectrum`
and prints, per class, the share of the summed relevance in bands of harmonics (k cycles per
140-sample beat) as a markdown table. A description of the model, not a model choice.
"""

from __future__ import annotations

import argparse

import numpy as np

from signxai import explain_spectrum
from signxai.ecg import ECG5000_CLASSES, load_beat_model, load_ecg5000

#: Bands of harmonics (cycles per beat), as [low, high) in the bins' unit, cycles per sample.
BANDS = {"0-2": (0, 2.5), "3-5": (2.5, 5.5), "6-10": (5.5, 10.5), "11-20": (10.5, 20.5), "21-70": (20.5, 71)}


def main() -> None:
    """Run the study and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", default="lrpz_epsilon_0_1")
    parser.add_argument("--per-class", type=int, default=200)
    args = parser.parse_args()
    test = load_ecg5000("test")
    chosen = np.concatenate(
        [np.flatnonzero(test.y == c)[: args.per_class] for c in range(len(ECG5000_CLASSES))]
    )
    result = explain_spectrum(
        load_beat_model("5class"), test.x[chosen], args.method, target_class=test.y[chosen].tolist()
    )
    length = test.x.shape[-1]
    bands = result.bands({name: (low / length, high / length) for name, (low, high) in BANDS.items()})
    total = result.relevance.sum(axis=-1)[:, 0]
    print(f"| class | beats | {' | '.join(BANDS)} |")
    print("|---|---:|" + "---:|" * len(BANDS))
    for c, name in enumerate(ECG5000_CLASSES):
        rows = test.y[chosen] == c
        shares = [float(bands[band][rows, 0].sum() / total[rows].sum()) for band in BANDS]
        print(f"| {name} | {int(rows.sum())} | " + " | ".join(f"{share:.2f}" for share in shares) + " |")


if __name__ == "__main__":
    main()
