"""Do the maps follow the signal's amplitude? ``amplitude_bias`` on the shipped beats.

``python benchmarks/amplitude_bias.py [--beats 1000]`` prints a markdown table: for the shipped
5-class model and the first ``--beats`` ECG5000 test beats, each method explains the predicted
class and ``signxai.evaluate.amplitude_bias`` gives each beat's Spearman correlation of ``|R|``
with ``|x|`` over the samples the model sees (``samples_seen``: 110 of 140); the columns are the
mean, the standard deviation over the beats and how many maps were constant (no correlation).
Input-multiplied maps carry a factor of ``x``, which pulls their correlation up; the SIGN
methods replace it by ``sign(x)``.
"""

from __future__ import annotations

import argparse

import numpy as np

from aopc import timed_relevance  # benchmarks/aopc.py, beside this file
from signxai.ecg import load_beat_model, load_ecg5000, samples_seen
from signxai.evaluate import amplitude_bias

METHODS = [
    "gradient",
    "gradient_x_input",
    "gradient_x_sign",
    "integrated_gradients",
    "deeplift",
    "smoothgrad",
    "lrp_epsilon_0_5",
    "lrpsign_epsilon_0_5",
    "lrp_alpha_1_beta_0",
    "lrpsign_alpha_1_beta_0",
    "occlusion_window_10",
    "random",
]


def table(methods: list[str], beats: int) -> list[tuple[str, float, float, int, float]]:
    """(method, mean, standard deviation, maps without a correlation, seconds) per method."""
    model = load_beat_model("5class")
    x = load_ecg5000("test").x[:beats]
    seen = samples_seen(model, x.shape[-1])
    rows = []
    for method in methods:
        relevance, seconds = timed_relevance(model, x, None, method, "time")  # the predicted class
        bias = amplitude_bias(relevance[..., seen], x[..., seen])
        defined = bias[~np.isnan(bias)]
        rows.append((method, float(defined.mean()), float(defined.std()), int(np.isnan(bias).sum()), seconds))
    return rows


def main(argv: list[str] | None = None) -> None:
    """Print the table (the command line's entry)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--beats", type=int, default=1000)
    parser.add_argument("--methods", nargs="+", default=METHODS)
    args = parser.parse_args(argv)
    print("| method | amplitude bias (mean) | sd over beats | constant maps | seconds |")
    print("|---|---:|---:|---:|---:|")
    for method, mean, sd, constant, seconds in table(args.methods, args.beats):
        print(f"| {method} | {mean:.2f} | {sd:.2f} | {constant} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
