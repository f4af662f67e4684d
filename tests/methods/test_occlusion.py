"""Occlusion against captum's ``Occlusion`` on three architectures, plus its own properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import Occlusion
from torch import nn

from models import ARCHITECTURES, WithMetadata, assert_unchanged, build, captum_targets, logit_model, snapshot
from signxai import MethodParameterError, explain

#: A window and stride that tile each architecture's input exactly (captum covers no remainder).
TILING = {"ecg": (100, 50), "ecg_beat": (20, 10), "resnet": (50, 25), "cnn2d": (4, 4)}


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_occlusion_equals_captums(arch: str, per_channel: bool) -> None:
    model, x = build(arch)
    window, stride = TILING[arch]
    index, target = captum_targets(model, x)
    spatial = x.ndim - 2
    shape = (1 if per_channel else x.shape[1], *([window] * spatial))
    expected = Occlusion(logit_model(model)).attribute(
        x, sliding_window_shapes=shape, strides=(1, *([stride] * spatial)), target=index, baselines=0.0
    )
    before = snapshot(model)
    ours = explain(
        model, x, f"occlusion_window_{window}_stride_{stride}", target_class=target, per_channel=per_channel
    )
    assert_unchanged(model, before)
    scale = np.abs(expected.numpy()).max()
    np.testing.assert_allclose(ours / scale, expected.numpy() / scale, atol=1e-5)


def _one_window_at_a_time(
    model: nn.Module, x: torch.Tensor, target: int, window: int, starts: list[int]
) -> np.ndarray:
    """Each window hidden in its own forward pass, drops averaged per sample: the definition."""
    with torch.no_grad():
        z = model(x)[0, target]
        total, count = torch.zeros_like(x), torch.zeros_like(x)
        for start in starts:
            hidden = x.clone()
            hidden[..., start : start + window] = 0.0
            total[..., start : start + window] += z - model(hidden)[0, target]
            count[..., start : start + window] += 1
    return (total / count).numpy()


def test_a_window_at_the_end_covers_what_the_stride_leaves_and_chunks_change_nothing() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv1d(2, 4, 5, padding=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 45, 3)).eval()
    x = torch.randn(1, 2, 45)  # windows of 10 every 10: 0..40, then one at 35 for samples 40-44
    ours = explain(model, x, "occlusion_window_10_stride_10", target_class=2)
    expected = _one_window_at_a_time(model, x, 2, 10, [0, 10, 20, 30, 35])
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    batch = torch.randn(5, 2, 45)
    whole = explain(model, batch, "occlusion_window_10_stride_10", target_class=[0, 1, 2, 0, 1])
    chunked = explain(
        model, batch, "occlusion_window_10_stride_10", target_class=[0, 1, 2, 0, 1], batch_size=5
    )
    np.testing.assert_allclose(whole, chunked, rtol=1e-5, atol=1e-7)
    alone = explain(model, batch[3:4], "occlusion_window_10_stride_10", target_class=[0])
    np.testing.assert_allclose(whole[3:4], alone, rtol=1e-5, atol=1e-7)


def test_baseline_further_inputs_and_errors() -> None:
    torch.manual_seed(4)
    model = WithMetadata().eval()
    x = torch.randn(3, 2, 16)
    metadata = torch.randn(3, 2)
    mask = torch.rand(3, 1, 16)
    ours = explain(
        model,
        x,
        "occlusion_window_4",
        target_class=1,
        forward_args=(metadata,),
        forward_kwargs={"mask": mask},
    )
    for b in range(3):
        alone = explain(
            model,
            x[b : b + 1],
            "occlusion_window_4",
            target_class=1,
            forward_args=(metadata[b : b + 1],),
            forward_kwargs={"mask": mask[b : b + 1]},
        )
        np.testing.assert_allclose(ours[b : b + 1], alone, rtol=1e-5, atol=1e-7)
    # hiding with x itself changes nothing
    assert (
        np.abs(
            explain(
                model,
                x,
                "occlusion",
                target_class=1,
                baseline=x,
                forward_args=(metadata,),
                forward_kwargs={"mask": mask},
            )
        ).max()
        == 0
    )
    flat = nn.Sequential(nn.Linear(8, 2)).eval()
    with pytest.raises(MethodParameterError, match=r"window=16 samples is longer than the input, \(8,\)"):
        explain(flat, torch.randn(2, 8), "occlusion", target_class=0)  # features: one lead of 8
    with pytest.raises(MethodParameterError, match="window"):
        explain(
            model,
            x,
            "occlusion_window_0",
            target_class=0,
            forward_args=(metadata,),
            forward_kwargs={"mask": mask},
        )


def test_a_window_longer_than_the_input_is_refused() -> None:
    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.LazyLinear(2)).eval()
    x = torch.randn(2, 1, 50)
    model(x)
    with pytest.raises(MethodParameterError, match=r"window=64 samples is longer than the input, \(50,\)"):
        explain(model, x, "occlusion_window_64", target_class=0)
    assert explain(model, x, "occlusion_window_50", target_class=0).shape == (2, 1, 50)
