"""Channels-last models: ChannelsFirst puts them in signxai's (B, C, T) layout, and the methods
that cut or resize along time say so where they are handed channels-last input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam, Occlusion
from torch import nn

from models import assert_unchanged, snapshot
from signxai import ChannelsFirst, LayerError, MethodParameterError, explain


class ChannelsLast(nn.Module):
    """A 3-lead classifier taking (B, T, C), as recurrent and Keras-style models do; its age
    input is added to the logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 8, 5, padding=2)
        self.pool = nn.MaxPool1d(2)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor, age: torch.Tensor | None = None) -> torch.Tensor:
        h = self.pool(torch.relu(self.conv(x.transpose(1, 2))))
        out = self.head(h.mean(dim=-1))
        return out if age is None else out + age[:, None]


def _model() -> tuple[ChannelsLast, torch.Tensor]:
    torch.manual_seed(0)
    return ChannelsLast().eval(), torch.randn(4, 50, 3)


@pytest.mark.parametrize("method", ["gradient", "integrated_gradients", "lrpsign_epsilon_0_5", "deeplift"])
def test_layout_free_methods_give_the_same_map_moved(method: str) -> None:
    model, x = _model()
    wrapped = ChannelsFirst(model)
    before = snapshot(model)
    moved = explain(wrapped, x.movedim(-1, 1), method, target_class=[0, 1, 1, 0])
    assert_unchanged(model, before)
    np.testing.assert_allclose(
        np.moveaxis(moved, 1, -1), explain(model, x, method, target_class=[0, 1, 1, 0]), rtol=1e-5, atol=1e-7
    )


def test_windows_and_feature_maps_run_along_time() -> None:
    """Occlusion hides windows of time (all leads), as captum's Occlusion with (10, 3) windows
    on the channels-last model; Grad-CAM resizes the conv's map over time, as captum's
    LayerGradCam on the wrapper."""
    model, x = _model()
    wrapped = ChannelsFirst(model)
    ours = np.moveaxis(
        explain(wrapped, x.movedim(-1, 1), "occlusion_window_10_stride_5", target_class=1), 1, -1
    )
    expected = Occlusion(model).attribute(x, sliding_window_shapes=(10, 3), strides=(5, 3), target=1)
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-5, atol=1e-6)
    cam = explain(wrapped, x.movedim(-1, 1), "grad_cam", target_class=1, target_layer="model.conv")
    reference = LayerGradCam(wrapped, model.conv).attribute(
        x.movedim(-1, 1), target=1, relu_attributions=True
    )
    expected = F.interpolate(reference, size=50, mode="linear", align_corners=True).expand(-1, 3, -1)
    np.testing.assert_allclose(cam, expected.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_further_inputs_pass_through() -> None:
    model, x = _model()
    age = torch.tensor([0.5, -1.0, 2.0, 0.0])
    with torch.no_grad():
        assert torch.equal(ChannelsFirst(model)(x.movedim(-1, 1), age), model(x, age))
    moved = explain(ChannelsFirst(model), x.movedim(-1, 1), "gradient", target_class=0, forward_args=(age,))
    np.testing.assert_allclose(
        np.moveaxis(moved, 1, -1), explain(model, x, "gradient", target_class=0), rtol=1e-6
    )


def test_channels_last_input_to_time_methods_is_named() -> None:
    """Before, Grad-CAM resized the conv's 50-step map onto the 3 leads and returned it."""
    model, x = _model()
    hint = r"x \(4, 50, 3\) looks channels-last \(B, T, C\).*ChannelsFirst"
    with pytest.raises(LayerError, match=r"outputs feature maps of length 50, longer than .* \(3\).*" + hint):
        explain(model, x, "grad_cam")
    with pytest.raises(
        MethodParameterError, match=r"window=10 samples is longer than the input, \(3,\).*" + hint
    ):
        explain(model, x, "occlusion_window_10")
    with pytest.raises(MethodParameterError, match="at least two segments.*" + hint):
        explain(model, x, "kernel_shap_window_16")
    with pytest.raises(
        MethodParameterError, match=r"window=60 samples is longer than the input, \(3,\)[^;]*$"
    ):
        explain(model, x, "occlusion_window_60")  # longer than both axes: no layout hint
