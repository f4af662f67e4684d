"""Relevance maps of ``signxai2==0.15.10`` (the SIGN authors' PyTorch package, on zennit 1.0.0), for
``tests/methods/test_signxai2_package.py``.

signxai2 0.6 and later are a PyTorch package of their own (the TensorFlow code of the paper is
``signxai==1.1.9.2``, compared by ``scripts/original_sign_reference.py``): zennit composites with
an epsilon rule whose epsilon is a factor times the std of each layer's input (``EpsilonStdX``),
the same with a SIGN first layer (``EpsilonStdXSIGN``), and the DFT-LRP code of Vielhaben et al.
(``signxai2.dftutils``, relevance through a Fourier layer). This script runs them on five small
torch models with weights drawn here (non-zero biases; BatchNorms far from the identity) and
writes the weights, inputs and maps to ``tests/data/signxai2_reference.npz``.

Maps are computed one sample at a time (the package takes the std over the whole batch, so its
maps of a sample depend on the other samples in the batch; signxai's are per sample), with the
output relevance ``one_hot * logit`` (signxai starts from R = z; the package's examples start
from a one-hot R = 1, which divides each map by its logit).

Environment: the package asks for Python >= 3.11.11 and zennit 1.0.0, which pip does not
install beside this project's zennit 0.5.1; both are pure Python, so their wheels are unpacked
into a folder of their own and run with this project's virtual environment (torch 2.14.1)::

    .venv/bin/pip download --no-deps --only-binary=:all: --python-version 3.12 -d /tmp/sx2 \\
        signxai2==0.15.10 zennit==1.0.0
    cd /tmp/sx2 && for w in *.whl; do unzip -q -o "$w"; done && cd -
    PYTHONPATH=/tmp/sx2 .venv/bin/python scripts/signxai2_reference.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "signxai2_reference.npz"
MODELS = ("cnn", "mlp", "bn", "cnn2d", "residual")
TARGETS = [0, 3, 1, 2]
#: signxai's method name, its keywords, and the package's composite with its arguments.
METHODS: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
    "lrp_epsilon_0_25_std_x": ({}, "EpsilonStdX", {"stdfactor": 0.25}),
    "lrp_epsilon_1_std_x": ({}, "EpsilonStdX", {"stdfactor": 1.0}),
    "lrpsign_epsilon_0_25_std_x": (
        {"sign_epsilon": 0.25},
        "EpsilonStdXSIGN",
        {"stdfactor": 0.25, "signstdfactor": 0.25, "mu": 0.0},
    ),
    "lrpsign_epsilon_0_25_std_x_mu_0_5": (
        {"sign_epsilon": 0.25},
        "EpsilonStdXSIGN",
        {"stdfactor": 0.25, "signstdfactor": 0.25, "mu": 0.5},
    ),
    "lrpsign_epsilon_0_25_std_x_mu_neg_0_5": (
        {"sign_epsilon": 0.25},
        "EpsilonStdXSIGN",
        {"stdfactor": 0.25, "signstdfactor": 0.25, "mu": -0.5},
    ),
    "lrpsign_epsilon_0_1_std_x": (
        {"sign_epsilon": 0.5},
        "EpsilonStdXSIGN",
        {"stdfactor": 0.1, "signstdfactor": 0.5, "mu": 0.0},
    ),
}
#: Models whose maps go through DFT-LRP: the time-domain map of this method, one signal per lead.
DFT_MODELS = ("cnn", "bn")
DFT_METHOD = "lrp_epsilon_0_25_std_x"


class Residual(nn.Module):
    """conv-ReLU, a block of two convs added to its input (``add``: a zennit ``Sum`` in the
    script, ``+`` in the test), ReLU, global average pooling (a module: zennit gives it its Norm
    rule, while a functional mean would pass relevance on as a gradient), Linear."""

    def __init__(self, add: nn.Module | None = None) -> None:
        super().__init__()
        self.stem = nn.Conv1d(2, 8, 5, padding=2)
        self.conv1 = nn.Conv1d(8, 8, 3, padding=1)
        self.conv2 = nn.Conv1d(8, 8, 3, padding=1)
        self.add = add
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.stem(x))
        r = self.conv2(torch.relu(self.conv1(h)))
        h = torch.relu(self.add(torch.stack([h, r], dim=-1)) if self.add is not None else h + r)
        return self.head(self.pool(h).flatten(1))


def build(name: str, add: nn.Module | None = None) -> tuple[nn.Module, tuple[int, ...]]:
    """The architecture ``name`` (weights as torch initialises them) and its input shape."""
    if name == "cnn":  # max and average pooling, a hidden Linear
        return nn.Sequential(
            nn.Conv1d(1, 8, 7, padding=3),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(8, 16, 5, padding=2),
            nn.ReLU(),
            nn.AvgPool1d(2),
            nn.Flatten(),
            nn.Linear(16 * 35, 32),
            nn.ReLU(),
            nn.Linear(32, 5),
        ), (4, 1, 140)
    if name == "mlp":
        return nn.Sequential(
            nn.Flatten(), nn.Linear(140, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 5)
        ), (4, 1, 140)
    if name == "bn":  # 12 leads, a BatchNorm after each Conv (merged), adaptive average pooling
        return nn.Sequential(
            nn.Conv1d(12, 16, 7, padding=3),
            nn.BatchNorm1d(16),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(16, 16, 5, padding=2),
            nn.BatchNorm1d(16),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(16, 5),
        ), (4, 12, 250)
    if name == "cnn2d":  # leads as the image's height
        return nn.Sequential(
            nn.Conv2d(1, 6, (3, 7), padding=(1, 3)),
            nn.ReLU(),
            nn.Conv2d(6, 8, (3, 5), padding=(1, 2)),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(8 * 12 * 50, 4),
        ), (4, 1, 12, 50)
    if name == "residual":
        return Residual(add), (4, 2, 96)
    raise ValueError(f"unknown model {name!r}")


def draw(name: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Weights (Kaiming-like scale, non-zero biases) and BatchNorm statistics far from identity."""
    model, _ = build(name)
    state: dict[str, np.ndarray] = {}
    for key, value in model.state_dict().items():
        shape = tuple(value.shape)
        if key.endswith("num_batches_tracked"):
            state[key] = np.zeros((), dtype=np.int64)
        elif key.endswith("running_var"):
            state[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        elif key.endswith("running_mean") or key.endswith("bias"):
            state[key] = (0.3 * rng.standard_normal(shape)).astype(np.float32)
        elif value.ndim == 1:  # a BatchNorm's weight
            state[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            fan_in = int(np.prod(shape[1:]))
            state[key] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    return state


def load(name: str, state: dict[str, np.ndarray], add: nn.Module | None = None) -> nn.Module:
    """``build(name)`` with ``state``, in eval mode."""
    model, _ = build(name, add)
    model.load_state_dict({key: torch.as_tensor(value) for key, value in state.items()})
    return model.eval()


def fold(relevance: np.ndarray) -> np.ndarray:
    """Relevance of all T bins of a DFT ``(..., T)`` as the F = T // 2 + 1 bins of a real signal:
    bin T - k (the mirror of bin k) added to bin k."""
    length = relevance.shape[-1]
    folded = relevance[..., : length // 2 + 1].copy()
    folded[..., 1 : length - length // 2] += relevance[..., length - 1 : length // 2 : -1]
    return folded


def main(out_path: Path = OUT) -> None:
    """Write weights, inputs, targets and the package's maps to ``out_path``."""
    from signxai2 import composites
    from signxai2.dftutils import DFTLRP
    from zennit.attribution import Gradient
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.layer import Sum

    rng = np.random.default_rng(0)
    out: dict[str, np.ndarray] = {"targets": np.asarray(TARGETS)}
    for name in MODELS:
        state = draw(name, rng)
        for key, value in state.items():
            out[f"{name}/state/{key}"] = value
        _, shape = build(name)
        x = rng.standard_normal(shape).astype(np.float32) + 0.2
        out[f"{name}/x"] = x
        for method, (_, composite_name, arguments) in METHODS.items():
            maps = []
            for sample, target in enumerate(TARGETS):
                model = load(name, state, Sum() if name == "residual" else None)
                composite = getattr(composites, composite_name)(
                    **arguments, canonizers=[SequentialMergeBatchNorm()]
                )
                one = torch.as_tensor(x[sample : sample + 1])
                with Gradient(model=model, composite=composite) as attributor:
                    _, relevance = attributor(
                        one,
                        lambda output, target=target: (
                            nn.functional.one_hot(torch.tensor([target]), output.shape[1]).to(output) * output
                        ),
                    )
                maps.append(relevance.detach().numpy())
            out[f"{name}/{method}"] = np.concatenate(maps)
        if name in DFT_MODELS:
            signals = x.reshape(-1, x.shape[-1])
            time_map = out[f"{name}/{DFT_METHOD}"].reshape(signals.shape)
            dft = DFTLRP(
                signals.shape[-1],
                leverage_symmetry=False,
                create_stdft=False,
                create_inverse=False,
                cuda=False,
            )
            _, per_bin = dft.dft_lrp(time_map, signals, real=False, short_time=False)
            out[f"{name}/dft_lrp"] = fold(per_bin).reshape(*x.shape[:-1], -1).astype(np.float32)
    np.savez_compressed(out_path, **out)
    print(f"wrote {len(out)} arrays to {out_path}")


if __name__ == "__main__":
    main()
