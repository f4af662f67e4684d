"""Kernel SHAP on segments: exact Shapley values by the subset formula, captum's KernelShap,
efficiency, the drawn coalitions (seeded, chunk-independent, converging), errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from captum.attr import KernelShap
from torch import nn

from models import assert_unchanged, build, captum_targets, logit_model, rel_error, snapshot
from signxai import MethodParameterError, explain
from signxai.methods.kernel_shap import segment_ids


class _Interacting(nn.Module):
    """Scores with interactions of every order between segments (a maximum over the signal)."""

    def __init__(self, channels: int, dims: int = 1) -> None:
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.conv = conv(channels, 3, 5, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x).flatten(2)
        return torch.stack([h.amax(dim=(1, 2)), torch.tanh(h).prod(1).sum(-1), (h.mean(-1) ** 2).sum(1)], 1)


def _shapley_by_subsets(
    model: nn.Module, x: torch.Tensor, baseline: torch.Tensor, ids: torch.Tensor, target: int
) -> np.ndarray:
    """phi_i = sum over S without i of |S|! (M - |S| - 1)! / M! (v(S + i) - v(S))."""
    players = int(ids.max()) + 1

    def value(members: tuple[int, ...]) -> torch.Tensor:
        keep = torch.zeros(players)
        keep[list(members)] = 1.0
        with torch.no_grad():
            return model(baseline + keep[ids] * (x - baseline))[:, target].double()

    phi = torch.zeros(players, len(x), dtype=torch.float64)
    for i in range(players):
        others = [j for j in range(players) if j != i]
        for size in range(players):
            weight = math.factorial(size) * math.factorial(players - size - 1) / math.factorial(players)
            for members in itertools.combinations(others, size):
                phi[i] += weight * (value((*members, i)) - value(members))
    return phi.T[:, ids].numpy()


@pytest.mark.parametrize(
    ("shape", "window", "per_channel"),
    [((2, 30), 5, False), ((2, 30), 10, True), ((1, 9, 9), 5, False)],
    ids=["1d", "1d_per_lead", "2d"],
)
def test_all_coalitions_give_the_exact_shapley_values(
    shape: tuple[int, ...], window: int, per_channel: bool
) -> None:
    torch.manual_seed(1)
    model = _Interacting(shape[0], dims=len(shape) - 1).eval()
    x, baseline = torch.randn(3, *shape), 0.3 * torch.randn(*shape)
    ids = segment_ids(shape, window, per_channel)
    before = snapshot(model)
    for target in range(3):
        ours = explain(
            model,
            x,
            f"kernel_shap_window_{window}",
            target_class=target,
            baseline=baseline,
            per_channel=per_channel,
        )
        expected = _shapley_by_subsets(model, x, baseline, ids, target)
        assert np.abs(ours - expected).max() < 1e-5 * np.abs(expected).max()
    assert_unchanged(model, before)


def test_segments_partition_the_input_the_last_taking_the_rest() -> None:
    ids = segment_ids((2, 10), 4, per_channel=False)
    assert ids[0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2] and torch.equal(ids[0], ids[1])
    per_lead = segment_ids((2, 10), 4, per_channel=True)
    assert per_lead[1].tolist() == [3, 3, 3, 3, 4, 4, 4, 4, 5, 5]
    image = segment_ids((1, 3, 5), 2, per_channel=False)
    assert image[0].tolist() == [[0, 0, 1, 1, 2], [0, 0, 1, 1, 2], [3, 3, 4, 4, 5]]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("arch", ["ecg_beat", "resnet"])
def test_captum_kernel_shap_converges_to_the_exact_values(arch: str) -> None:
    model, x = build(arch)
    index, target = captum_targets(model, x)
    window = 20 if arch == "ecg_beat" else 125  # 7 and 8 segments: exact with the default samples
    ours = explain(model, x, f"kernel_shap_window_{window}", target_class=target)
    ids = segment_ids(tuple(x.shape[1:]), window, per_channel=False)
    torch.manual_seed(0)
    theirs = KernelShap(logit_model(model)).attribute(
        x, baselines=0.0, target=index, feature_mask=ids.unsqueeze(0), n_samples=4000
    )
    assert rel_error(ours, theirs) < 0.05


def test_the_values_add_up_to_the_change_of_the_logit_also_when_drawn() -> None:
    model, x = build("ecg_beat")
    baseline = torch.randn(*x.shape[1:])
    with torch.no_grad():
        logits = logit_model(model)(torch.cat([x, baseline.unsqueeze(0)]))
    change = (logits[:3, 1] - logits[3, 1]).numpy()
    ids = segment_ids(tuple(x.shape[1:]), 5, per_channel=False)  # 28 segments: drawn
    first = [int((ids[0] == k).nonzero()[0]) for k in range(int(ids.max()) + 1)]
    for name in ("kernel_shap_window_5_samples_300", "kernel_shap_window_35"):
        values = explain(model, x, name, target_class=1, baseline=baseline, seed=0)
        np.testing.assert_allclose(
            values[:, 0, first if "_5_" in name else [0, 35, 70, 105]].sum(1), change, rtol=1e-4
        )


def test_drawn_coalitions_are_seeded_chunk_independent_and_converge() -> None:
    torch.manual_seed(2)
    model = _Interacting(1).eval()
    x = torch.randn(2, 1, 30)
    exact = explain(model, x, "kernel_shap_window_3", target_class=0)  # 10 segments, 1022 coalitions
    errors = []
    for samples in (100, 400, 900):
        drawn = explain(
            model, x, f"kernel_shap_window_3_samples_{samples}", target_class=0, seed=3, batch_size=7
        )
        again = explain(
            model, x, f"kernel_shap_window_3_samples_{samples}", target_class=0, seed=3, batch_size=500
        )
        np.testing.assert_allclose(drawn, again, rtol=1e-5, atol=1e-7)
        errors.append(rel_error(drawn, exact))
    assert errors[2] < errors[0] and errors[2] < 0.1
    other = explain(model, x, "kernel_shap_window_3_samples_100", target_class=0, seed=4)
    assert (
        rel_error(other, explain(model, x, "kernel_shap_window_3_samples_100", target_class=0, seed=3)) > 1e-3
    )


def test_batch_equals_per_sample() -> None:
    model, x = build("cnn2d")
    batch = explain(model, x, "kernel_shap_window_8", target_class=[0, 3, 1])
    for i, target in enumerate([0, 3, 1]):
        one = explain(model, x[i : i + 1], "kernel_shap_window_8", target_class=target)
        np.testing.assert_allclose(batch[i : i + 1], one, rtol=1e-4, atol=1e-6)


def test_errors_name_what_is_wrong() -> None:
    model, x = build("ecg_beat")
    with pytest.raises(MethodParameterError, match="at least two segments"):
        explain(model, x, "kernel_shap_window_140")
    with pytest.raises(MethodParameterError, match=r"28 segments needs samples >= 28"):
        explain(model, x, "kernel_shap_window_5_samples_20")
    with pytest.raises(MethodParameterError, match=r"window=16 covers the whole input of shape \(6,\)"):
        explain(nn.Linear(6, 2), torch.randn(2, 6), "kernel_shap")  # features: one lead of 6
