"""Which harmonics of an ECG5000 beat the shipped 5-class model's evidence lies in, per class.

``python scripts/spectrum_study.py [--method lrpz_epsilon_0_1] [--per-class 200]`` explains up to
``--per-class`` test beats of each true class for that class with :func:`signxai.explain_spectrum`
and prints, per class, the share of the summed relevance in bands of harmonics (k cycles per
140-sample beat, :data:`signxai.ecg.analysis.HARMONIC_BANDS`) as a markdown table. A description
of the model, not a model choice.
"""

from __future__ import annotations

import argparse

import numpy as np

from signxai import explain_spectrum
from signxai.ecg import ECG5000_CLASSES, load_beat_model, load_ecg5000
from signxai.ecg.analysis import harmonic_shares


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
    classes = test.y[chosen]
    result = explain_spectrum(
        load_beat_model("5class"), test.x[chosen], args.method, target_class=classes.tolist()
    )
    shares = harmonic_shares(result, [ECG5000_CLASSES[c] for c in classes])
    print("| class | " + " | ".join(map(str, shares.columns)) + " |")
    print("|---|" + "---:|" * len(shares.columns))
    for name, row in shares.iterrows():
        cells = [f"{int(row['beats'])}"] + [f"{row[band]:.2f}" for band in shares.columns[1:]]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
