"""Where the relevance of abnormal and normal beats of MIT-BIH 208 lies, per wave and method.

``python scripts/wave_study.py`` classifies every beat of the shipped strip with the shipped
binary model, explains up to 100 abnormal and 100 normal beats (the predicted class each time)
and prints the mean share of |relevance| in P, QRS, T and elsewhere as a markdown table.
"""

from __future__ import annotations

import pandas as pd

from signxai.ecg import load_beat_model, load_mitbih_208, model_card
from signxai.ecg.analysis import analyze_strip
from signxai.ecg.waves import summarize

METHODS = (
    "lrpsign_epsilon_0_5",
    "lrp_epsilon_0_5",
    "gradient_x_input",
    "gradient",
    "integrated_gradients",
    "deeplift",
)


def main() -> None:
    """Run the study and print the table."""
    classes = model_card()["models"]["binary"]["classes"]
    analysis = analyze_strip(
        load_mitbih_208(), load_beat_model("binary"), classes, METHODS, max_abnormal=100, max_normal=100
    )
    counts = pd.Series([analysis.labels[i] for i in analysis.explained]).value_counts()
    print(f"beats: {len(analysis.labels)}, explained: {counts.to_dict()}\n")
    rows = []
    for method in METHODS:
        summary = summarize(analysis.wave_table[analysis.wave_table.method == method])
        for label in summary.columns:
            rows.append(
                {
                    "method": method,
                    "beats": label,
                    **{wave: f"{summary.loc[wave, label]:.2f}" for wave in summary.index},
                }
            )
    table = pd.DataFrame(rows)
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
