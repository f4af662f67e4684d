"""Where the relevance of abnormal and normal beats of MIT-BIH 208 lies, per wave and method.

``python scripts/wave_study.py`` classifies every beat of the shipped strip with the shipped
binary model, explains up to 100 abnormal and 100 normal beats (the predicted class each time)
and prints the mean share of |relevance| in P, QRS, T and elsewhere as a markdown table.

``python scripts/wave_study.py --versus`` does it with the shipped 5-class model (every beat it
does not call normal, up to 100, and 60 normal beats) twice: each beat explained for its predicted
class alone, and against its runner-up (``Contrast``); the table gives both shares side by side.
"""

from __future__ import annotations

import argparse

import pandas as pd

from signxai.ecg import load_beat_model, load_mitbih_208, model_card
from signxai.ecg.analysis import StripAnalysis, analyze_strip
from signxai.ecg.waves import summarize

METHODS = (
    "lrpsign_epsilon_0_5",
    "lrp_epsilon_0_5",
    "gradient_x_input",
    "gradient",
    "integrated_gradients",
    "deeplift",
)


def shares(analysis: StripAnalysis) -> dict[tuple[str, str], pd.Series]:
    """Per (method, predicted class): the mean share of |relevance| per wave."""
    found = {}
    for method in analysis.relevance:
        summary = summarize(analysis.wave_table[analysis.wave_table.method == method])
        for label in summary.columns:
            found[method, label] = summary[label]
    return found


def print_table(rows: list[dict[str, str]]) -> None:
    """``rows`` as a markdown table."""
    table = pd.DataFrame(rows)
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in row) + " |")


def main() -> None:
    """Run the study and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--versus", action="store_true", help="5-class model, alone and against the runner-up"
    )
    args = parser.parse_args()
    task = "5class" if args.versus else "binary"
    classes = model_card()["models"][task]["classes"]
    counts = {"max_abnormal": 100, "max_normal": 60 if args.versus else 100}
    analysis = analyze_strip(load_mitbih_208(), load_beat_model(task), classes, METHODS, **counts)
    explained = pd.Series([analysis.labels[i] for i in analysis.explained]).value_counts()
    print(f"beats: {len(analysis.labels)}, explained: {explained.to_dict()}\n")
    alone = shares(analysis)
    if not args.versus:
        print_table(
            [
                {"method": m, "beats": label, **{w: f"{v:.2f}" for w, v in values.items()}}
                for (m, label), values in alone.items()
            ]
        )
        return
    against = analyze_strip(
        load_mitbih_208(), load_beat_model(task), classes, METHODS, versus="runner_up", **counts
    )
    assert against.versus is not None
    others = pd.Series([classes[k] for k in against.versus[against.explained]]).value_counts()
    print(f"runner-ups of the explained beats: {others.to_dict()}\n")
    contrast = shares(against)
    print_table(
        [
            {
                "method": m,
                "beats": label,
                **{
                    f"{w} (alone / against)": f"{v:.2f} / {contrast[m, label][w]:.2f}"
                    for w, v in values.items()
                },
            }
            for (m, label), values in alone.items()
        ]
    )


if __name__ == "__main__":
    main()
