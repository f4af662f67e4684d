"""Signals without a lead axis, ``(B, T)``, for a model that adds the axis itself: the windowing
methods (Grad-CAM, occlusion, Kernel SHAP) and the deletion curves take them as one lead."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam, Occlusion
from torch import nn

from models import assert_unchanged, snapshot
from signxai import LayerError, explain
from signxai.errors import InputError
from signxai.evaluate import deletion_curve
from signxai.evaluate.deletion import INFILLS


class OneLead(nn.Module):
    """A single-lead beat classifier on (B, 1, T)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, 6, 7, padding=3)
        self.conv2 = nn.Conv1d(6, 8, 5, padding=2)
        self.pool = nn.MaxPool1d(2)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))
        return self.head(torch.relu(self.conv2(x)).mean(dim=-1))


class Leadless(nn.Module):
    """The same classifier taking (B, T): it adds the lead axis itself; records what it got."""

    def __init__(self, core: OneLead) -> None:
        super().__init__()
        self.core = core
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return self.core(x.unsqueeze(1))


def _models() -> tuple[OneLead, Leadless, torch.Tensor]:
    torch.manual_seed(0)
    core = OneLead().eval()
    return core, Leadless(core).eval(), torch.randn(4, 60)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("grad_cam", {}),
        ("grad_cam", {"target_layer": "core.conv1", "interpolation": "nearest"}),
        ("guided_grad_cam", {}),
        ("occlusion_window_10_stride_5", {}),
        ("occlusion_window_7_stride_4", {"baseline": 0.5}),
        ("kernel_shap_window_12_samples_64", {"seed": 3}),
    ],
)
def test_a_signal_without_lead_axis_is_explained_as_one_lead(method: str, params: dict) -> None:
    core, model, x = _models()
    in_core = {k: v.removeprefix("core.") if k == "target_layer" else v for k, v in params.items()}
    one_lead = explain(core, x[:, None], method, target_class=[0, 1, 2, 1], **in_core)
    before = snapshot(model)
    ours = explain(model, x, method, target_class=[0, 1, 2, 1], **params)
    assert_unchanged(model, before)
    assert ours.shape == (4, 60)
    assert np.abs(ours).max() > 0
    np.testing.assert_array_equal(ours, one_lead[:, 0])
    assert {shape[1:] for shape in model.shapes} == {(60,)}  # the model always got (rows, T)


def test_one_lead_equals_captums_occlusion_and_grad_cam() -> None:
    """captum's Occlusion and LayerGradCam on the (B, T) model itself."""
    _, model, x = _models()
    targets = [2, 0, 1, 1]
    expected = Occlusion(model).attribute(x, sliding_window_shapes=(10,), strides=(5,), target=targets)
    ours = explain(model, x, "occlusion_window_10_stride_5", target_class=targets)
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-5, atol=1e-6)
    cam = LayerGradCam(model, model.core.conv2).attribute(x, target=targets, relu_attributions=True)
    expected = F.interpolate(cam, size=60, mode="linear", align_corners=True)[:, 0]
    ours = explain(model, x, "grad_cam", target_class=targets, target_layer="core.conv2")
    np.testing.assert_allclose(ours, expected.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_features_of_a_linear_model_are_windowed_along_their_axis() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(24, 16), nn.Tanh(), nn.Linear(16, 3)).eval()
    x = torch.randn(3, 24)
    expected = Occlusion(model).attribute(x, sliding_window_shapes=(6,), strides=(6,), target=[0, 1, 2])
    ours = explain(model, x, "occlusion_window_6_stride_6", target_class=[0, 1, 2])
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(LayerError, match="the model has none"):  # no conv: no feature map
        explain(model, x, "grad_cam")
    with pytest.raises(LayerError, match=r"outputs \(3, 16\), not a feature map .* \(3, 24\), one lead"):
        explain(model, x, "grad_cam", target_layer="0")


@pytest.mark.parametrize("infill", INFILLS)
def test_deletion_curves_of_signals_without_lead_axis(infill: str) -> None:
    core, model, x = _models()
    relevance = explain(model, x, "gradient_x_input", target_class=1)
    before = snapshot(model)
    curve = deletion_curve(model, x, relevance, target_class=1, window=6, infill=infill, seed=2)
    assert_unchanged(model, before)
    one_lead = deletion_curve(core, x[:, None], relevance[:, None], 1, window=6, infill=infill, seed=2)
    np.testing.assert_array_equal(curve.scores, one_lead.scores)
    assert curve.scores.shape == (4, 11)
    with pytest.raises(InputError, match=r"shaped like x, \(4, 60\)"):
        deletion_curve(model, x, relevance[:, None], 1, window=6)


def _bn_cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv1d(1, 8, 5), nn.BatchNorm1d(8), nn.ReLU(), nn.Conv1d(8, 8, 5), nn.ReLU(),
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 3),
    )  # fmt: skip
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.5, 0.5)
        model[1].running_var.uniform_(0.5, 2.0)
    return model.train()  # left in train mode: each call switches it to eval and back


def test_explanations_from_several_threads_run_one_after_another_and_restore_the_model() -> None:
    """Before: two threads explaining one model raised internal errors ("the layer's input is not
    an input of ConvolutionBackward0") and left its parameters with requires_grad=False, each
    thread restoring what the other had changed; the denormal setting is process-wide too."""
    import threading

    from signxai.model import denormals_flushed

    models = [_bn_cnn(0), _bn_cnn(1)]  # two models: the process-wide settings are shared
    x = np.random.default_rng(0).normal(size=(16, 1, 128)).astype(np.float32)
    methods = ["gradient", "lrp_epsilon_0_1", "lrpsign_epsilon_0_1", "lrp_alpha_2_beta_1", "guided_backprop"]
    params = {"grad_cam": {"target_layer": "3"}}
    methods.append("grad_cam")
    before = [snapshot(model) for model in models]
    flushed = denormals_flushed()
    expected = {(k, m): explain(models[k], x, m, 0, **params.get(m, {})) for k in (0, 1) for m in methods}
    failures: list[str] = []

    def work(k: int, method: str) -> None:
        try:
            for _ in range(3):
                got = explain(models[k], x, method, 0, **params.get(method, {}))
                if not np.array_equal(got, expected[(k, method)]):
                    failures.append(f"model {k}, {method}: another map")
        except Exception as error:  # every error is a failure here
            failures.append(f"model {k}, {method}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=work, args=(k, m)) for k in (0, 1) for m in methods for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    for model, snap in zip(models, before, strict=True):
        assert_unchanged(model, snap)
    assert denormals_flushed() == flushed


def test_an_explanation_that_fails_on_entry_lets_the_next_thread_explain() -> None:
    import threading

    from signxai.errors import UnsupportedModelError

    scripted = torch.jit.script(nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)))
    with pytest.raises(UnsupportedModelError, match="bypassed"):  # raised inside the view's entry
        explain(scripted, np.ones((2, 4), dtype=np.float32), "gradient")
    done: list[np.ndarray] = []
    thread = threading.Thread(
        target=lambda: done.append(explain(nn.Linear(4, 3), np.ones((2, 4)), "gradient"))
    )
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive() and done[0].shape == (2, 4)
