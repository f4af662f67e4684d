"""Cross-check LRP through LSTMs against Arras et al.'s own code (ArrasL/LRP_for_LSTM, BSD-2-Clause).

Arras, Montavon, Mueller and Samek (WASSA 2017) define LRP through an LSTM and publish a NumPy
implementation for a bidirectional LSTM whose two final hidden states feed a bias-free linear
output layer (``code/LSTM/LSTM_bidi.py``, with ``lrp_linear`` in ``LRP_linear_layer.py``). This
script runs that code unchanged on random ECG-shaped LSTMs (leads as the LSTM's input features,
samples as its time steps) and compares its input relevance with ``explain(model, x,
'lrp_epsilon_<eps>')`` for epsilon 0.001 (their default), 0.1 and 1, bidirectional and
one-directional (the reference with a zero backward encoder).

The reference is not a package and not a dependency: clone it and pass its folder,
``git clone https://github.com/ArrasL/LRP_for_LSTM`` then ``python scripts/arras_lstm_reference.py
LRP_for_LSTM``. Its class reads a model folder (``vocab``, ``embeddings.npy``, ``model``); the
script writes one per recording, the recording's samples as the "embeddings" of the "words"
0..T-1, so that its ``set_input`` builds exactly the recording. Its ``bias_factor`` is left at
0 (biases and stabilisers absorb relevance, as in signxai's epsilon rule). It prints the largest
difference relative to the largest relevance of each map, per epsilon (the maps are float32).
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _reference_code import load_files  # scripts/, beside this file
from torch import nn

from signxai import explain

#: the epsilons compared, and their method names
EPSILONS = {0.001: "lrp_epsilon_0_001", 0.1: "lrp_epsilon_0_1", 1.0: "lrp_epsilon_1"}

#: the reference's parameter names and torch's
PARAMETERS = ("Wxh", "weight_ih"), ("bxh", "bias_ih"), ("Whh", "weight_hh"), ("bhh", "bias_hh")


class _LSTMClassifier(nn.Module):
    """An LSTM over the samples of a (B, leads, T) recording; its final hidden state(s) feed a
    bias-free Linear layer (the architecture of the reference code)."""

    def __init__(self, leads: int, hidden: int, classes: int, bidirectional: bool) -> None:
        super().__init__()
        self.lstm = nn.LSTM(leads, hidden, batch_first=True, bidirectional=bidirectional)
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x.transpose(1, 2))
        return self.out(torch.cat(list(h), dim=1))


def _load_reference(folder: Path) -> Any:
    """The ``LSTM_bidi`` class of the clone, its ``from code.LSTM... import *`` resolved to the
    clone (the folder name ``code`` is also a standard-library module)."""
    source = folder / "code" / "LSTM"
    if not (source / "LSTM_bidi.py").is_file():
        raise SystemExit(f"{folder} is not a clone of ArrasL/LRP_for_LSTM (no code/LSTM/LSTM_bidi.py)")
    return load_files("code.LSTM", source, ("LRP_linear_layer", "LSTM_bidi"))["LSTM_bidi"].LSTM_bidi


def _gates(weight: np.ndarray, hidden: int) -> np.ndarray:
    """torch's gate order (i, f, g, o) in the reference's (i, g, f, o)."""
    i, f, g, o = (weight[k * hidden : (k + 1) * hidden] for k in range(4))
    return np.concatenate([i, g, f, o])


def _reference_weights(model: _LSTMClassifier) -> dict[str, np.ndarray]:
    lstm, hidden = model.lstm, model.lstm.hidden_size
    out = model.out.weight.detach().numpy()
    weights: dict[str, np.ndarray] = {}
    for side, suffix in (("Left", ""), ("Right", "_reverse")):
        for theirs, ours in PARAMETERS:
            if lstm.bidirectional or side == "Left":
                value = _gates(getattr(lstm, f"{ours}_l0{suffix}").detach().numpy(), hidden)
            else:  # one direction: a backward encoder whose output layer weights are zero
                value = np.zeros_like(weights[f"{theirs}_Left"])
            weights[f"{theirs}_{side}"] = value
    weights["Why_Left"] = out[:, :hidden]
    weights["Why_Right"] = out[:, hidden:] if lstm.bidirectional else np.zeros_like(out)
    return weights


def _compare(
    reference_class: Any, folder: Path, bidirectional: bool, seed: int
) -> tuple[float, dict[float, float]]:
    """One random model, three recordings: the largest score difference, and per epsilon the
    largest map difference relative to the map's largest value."""
    rng = np.random.default_rng(seed)
    leads, hidden = int(rng.integers(1, 13)), int(rng.integers(2, 17))
    classes, samples = int(rng.integers(2, 6)), int(rng.integers(2, 60))
    torch.manual_seed(seed)
    model = _LSTMClassifier(leads, hidden, classes, bidirectional).double().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(float(rng.uniform(1.0, 4.0)))
    with open(folder / "model", "wb") as file:
        pickle.dump(_reference_weights(model), file)
    x = torch.from_numpy(rng.normal(0.0, rng.uniform(0.5, 3.0), (3, leads, samples)))
    targets = [int(t) for t in rng.integers(0, classes, len(x))]
    scores = model(x).detach().numpy()
    forward_difference, errors = 0.0, dict.fromkeys(EPSILONS, 0.0)
    for epsilon, name in EPSILONS.items():
        ours = explain(model, x, name, target_class=targets)
        for b, target in enumerate(targets):
            np.save(folder / "embeddings.npy", x[b].numpy().T)  # the "words" 0..T-1 are the samples
            reference = reference_class(model_path=f"{folder}/")
            forward, backward, _ = reference.lrp(np.arange(samples), target, eps=epsilon, bias_factor=0.0)
            forward_difference = max(forward_difference, float(np.abs(reference.s - scores[b]).max()))
            theirs = (forward + backward).T
            error = float(np.abs(ours[b] - theirs).max() / np.abs(theirs).max())
            errors[epsilon] = max(errors[epsilon], error)
    return forward_difference, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clone", type=Path, help="a clone of https://github.com/ArrasL/LRP_for_LSTM")
    parser.add_argument("--models", type=int, default=40, help="random models per direction setting")
    args = parser.parse_args()
    reference_class = _load_reference(args.clone)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        with open(path / "vocab", "wb") as file:
            pickle.dump({}, file)
        for bidirectional in (True, False):
            runs = [_compare(reference_class, path, bidirectional, seed) for seed in range(args.models)]
            kind = "bidirectional" if bidirectional else "one direction"
            scores = max(r[0] for r in runs)
            print(f"{kind}, {args.models} models: scores equal the torch model's to {scores:.1e}")
            for epsilon in EPSILONS:
                error = max(r[1][epsilon] for r in runs)
                print(f"  epsilon {epsilon:g}: maps differ by {error:.1e} of their largest value")


if __name__ == "__main__":
    main()
