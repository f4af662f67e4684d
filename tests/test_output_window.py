"""OutputWindow: models with an output per time step explained over a window of their output,
against captum (gradients of each step) and zennit (LRP of each step), by linearity (the map of
a window is the sum of its steps' maps), with a trailing Softmax bypassed, and with bad input."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import InputXGradient, IntegratedGradients, Saliency
from torch import nn
from zennit.attribution import Gradient
from zennit.composites import LayerMapComposite
from zennit.rules import AlphaBeta, Epsilon, Pass
from zennit.types import Activation, Convolution

from models import assert_unchanged, snapshot
from signxai import InputError, OutputWindow, TargetError, UnsupportedModelError, explain


class UNet(nn.Module):
    """A small delineation net: an encoder (conv, BatchNorm, pooling), a transposed-conv decoder
    with a skip connection, and per-step scores for 4 classes (``(B, 4, T)``)."""

    def __init__(self, softmax: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.down = nn.Sequential(nn.Conv1d(2, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU())
        self.bottom = nn.Sequential(nn.MaxPool1d(2), nn.Conv1d(8, 8, 3, padding=1), nn.ReLU())
        self.up = nn.ConvTranspose1d(8, 8, 2, stride=2)
        self.head = nn.Conv1d(16, 4, 1)
        self.out = nn.Softmax(dim=1) if softmax else nn.Identity()
        with torch.no_grad():
            self.down[1].running_mean.uniform_(-0.5, 0.5)
            self.down[1].running_var.uniform_(0.5, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.down(x)
        return self.out(self.head(torch.cat([skip, self.up(self.bottom(skip))], dim=1)))


def _plain(softmax: bool = False) -> nn.Sequential:
    """Conv-ReLU-Conv-ReLU-Conv, per-step scores ``(B, 4, T)`` (float64)."""
    torch.manual_seed(1)
    layers = [nn.Conv1d(1, 6, 5, padding=2), nn.ReLU(), nn.Conv1d(6, 6, 3, padding=1), nn.ReLU()]
    layers += [nn.Conv1d(6, 4, 1)] + ([nn.Softmax(dim=1)] if softmax else [])
    return nn.Sequential(*layers).double().eval()


def _signal(channels: int = 2, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(3, channels, 64, dtype=dtype, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize(
    ("method", "captum"),
    [
        ("gradient", Saliency),
        ("gradient_x_input", InputXGradient),
        ("integrated_gradients", IntegratedGradients),
    ],
)
def test_gradient_methods_equal_captum_summed_over_the_window_steps(method: str, captum: type) -> None:
    model, x = UNet().eval(), _signal()
    ours = explain(OutputWindow(model, 20, 30), x, method, target_class=1)
    kwargs = {"abs": False} if captum is Saliency else {}
    if captum is IntegratedGradients:
        kwargs = {"n_steps": 50, "method": "gausslegendre"}
    expected = sum(captum(model).attribute(x, target=(1, t), **kwargs) for t in range(20, 30))
    np.testing.assert_allclose(ours, expected.detach().numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("method", "rule"), [("lrp_epsilon_0_1", Epsilon(0.1)), ("lrp_alpha_1_beta_0", AlphaBeta(1.0, 0.0))]
)
def test_lrp_of_a_window_is_the_sum_of_zennits_maps_of_its_steps(method: str, rule: object) -> None:
    """zennit reads a sum in forward as a copy (every step would start from the whole sum), so
    the reference is zennit's map of each step, summed."""
    model, x = _plain(), _signal(1, torch.float64)
    ours = explain(OutputWindow(model, 30, 40), x, method, target_class=2)
    composite = LayerMapComposite([(Activation, Pass()), (Convolution, rule)])
    expected = torch.zeros_like(x)
    for step in range(30, 40):
        selected = x.clone().requires_grad_()
        with Gradient(model=OutputWindow(model, step, step + 1), composite=composite) as attributor:
            _, relevance = attributor(
                selected, lambda out: F.one_hot(torch.tensor([2, 2, 2]), 4).to(out) * out
            )
        expected += relevance
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "method",
    ["lrpsign_epsilon_0_5", "lrp_epsilon_0_25_std_x", "lrpz_epsilon_0_5", "lrp_alpha_2_beta_1", "deeplift"],
)
def test_a_window_map_is_the_sum_of_its_steps_maps(method: str) -> None:
    """Every LRP rule and DeepLIFT are linear in the explained score's start: the window's map is
    the sum of the maps of its steps (through BatchNorm, pooling, a transposed conv and a skip
    concatenation)."""
    model, x = UNet().double().eval(), _signal(dtype=torch.float64)
    ours = explain(OutputWindow(model, 10, 16), x, method, target_class=[0, 3, 1])
    steps = sum(
        explain(OutputWindow(model, t, t + 1), x, method, target_class=[0, 3, 1]) for t in range(10, 16)
    )
    np.testing.assert_allclose(ours, steps, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "method",
    ["gradient", "lrp_epsilon_0_1", "lrpsign_epsilon_0_5", "integrated_gradients", "deeplift", "occlusion"],
)
def test_a_trailing_softmax_is_bypassed_as_for_any_model(method: str) -> None:
    x = _signal()
    with_softmax = explain(OutputWindow(UNet(softmax=True).eval(), 5, 50), x, method, target_class=3)
    logits = explain(OutputWindow(UNet().eval(), 5, 50), x, method, target_class=3)
    np.testing.assert_array_equal(with_softmax, logits)
    kept = OutputWindow(UNet(softmax=True).eval(), 5, 50)
    if method in ("lrp_epsilon_0_1", "lrpsign_epsilon_0_5", "deeplift"):  # no rule for a softmax
        with pytest.raises(UnsupportedModelError, match="Softmax|softmax"):
            explain(kept, x, method, target_class=3, explain_output="activation")
        return
    probabilities = explain(kept, x, method, target_class=3, explain_output="activation")
    assert np.abs(probabilities - logits).max() > 1e-3 * np.abs(logits).max()


def test_the_probabilities_window_is_explained_with_explain_output_activation() -> None:
    model, x = UNet(softmax=True).eval(), _signal()
    ours = explain(OutputWindow(model, 5, 50), x, "gradient", target_class=3, explain_output="activation")
    expected = sum(Saliency(model).attribute(x, target=(3, t), abs=False) for t in range(5, 50))
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-4, atol=1e-7)


def test_a_window_followed_by_more_layers_is_not_bypassed() -> None:
    """The Softmax is bypassed only where the window's output is the model's: a head after it
    sees the probabilities, and the explanation is of that head."""
    torch.manual_seed(3)
    model = nn.Sequential(OutputWindow(UNet(softmax=True), 5, 50), nn.Linear(4, 2)).eval()
    x = _signal()
    logit = explain(model, x, "gradient", target_class=1)
    as_is = explain(model, x, "gradient", target_class=1, explain_output="activation")
    np.testing.assert_array_equal(logit, as_is)


class _Then(nn.Module):
    """The UNet followed by a function of its scores."""

    def __init__(self, then: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.net = UNet()
        self.then = then

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.then(self.net(x))


def test_a_functional_softmax_before_the_window_is_warned_of() -> None:
    functional = _Then(lambda scores: F.softmax(scores, dim=1)).eval()
    with pytest.warns(UserWarning, match="softmax called as a function"):
        explain(OutputWindow(functional, 5, 50), _signal(), "gradient", target_class=0)


def test_time_axis_first_mean_and_batch_equal_the_plain_window() -> None:
    x = _signal()
    steps_first = _Then(lambda scores: scores.transpose(1, 2)).eval()  # (B, T, K), as recurrent nets return
    plain = explain(OutputWindow(UNet().eval(), 8, 24), x, "lrpsign_epsilon_0_5", target_class=[1, 2, 0])
    transposed = explain(
        OutputWindow(steps_first, 8, 24, axis=1), x, "lrpsign_epsilon_0_5", target_class=[1, 2, 0]
    )
    np.testing.assert_allclose(transposed, plain, rtol=1e-5, atol=1e-7)
    mean = explain(OutputWindow(UNet().eval(), 8, 24, reduce="mean"), x, "gradient", target_class=1)
    total = explain(OutputWindow(UNet().eval(), 8, 24), x, "gradient", target_class=1)
    np.testing.assert_allclose(mean * 16, total, rtol=1e-5, atol=1e-7)
    alone = [explain(OutputWindow(UNet().eval(), 8, 24), x[i], "gradient", target_class=1) for i in range(3)]
    np.testing.assert_allclose(np.stack(alone), total, rtol=1e-5, atol=1e-7)


def test_the_default_target_is_the_class_with_the_largest_window_score() -> None:
    model, x = UNet().eval(), _signal()
    window = OutputWindow(model, 0, 64)
    with torch.no_grad():
        predicted = model(x).sum(-1).argmax(1).tolist()
    np.testing.assert_array_equal(
        explain(window, x, "gradient"), explain(window, x, "gradient", target_class=predicted)
    )


def test_the_model_and_the_window_are_left_as_found_also_after_an_error() -> None:
    model = UNet(softmax=True).train()
    window = OutputWindow(model, 5, 50)
    before = snapshot(window)
    explain(window, _signal(), "lrp_epsilon_0_1", target_class=1)
    assert_unchanged(window, before)
    assert window.scores is None and window.windowed is None
    with pytest.raises(TargetError):
        explain(OutputWindow(model, 5, 99), _signal(), "lrp_epsilon_0_1", target_class=1)
    assert_unchanged(window, before)
    out = window(_signal())  # outside an explanation: a plain window, nothing kept
    assert out.shape == (3, 4) and window.scores is None


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"start": -1, "stop": 3}, TargetError, r"OutputWindow start must be a whole number >= 0, got -1"),
        ({"start": 1.5, "stop": 3}, TargetError, r"OutputWindow start must be a whole number >= 0, got 1.5"),
        ({"start": 5, "stop": 5}, TargetError, r"stop must be above start.*start=5, stop=5"),
        ({"start": 0, "stop": True}, TargetError, r"OutputWindow stop must be a whole number >= 1, got True"),
        ({"start": 0, "stop": 3, "axis": 0}, InputError, r"OutputWindow axis must be the output's time axis"),
        ({"start": 0, "stop": 3, "reduce": "avg"}, InputError, r"OutputWindow reduce must be one of"),
    ],
)
def test_bad_window_arguments_are_named(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        OutputWindow(UNet(), **kwargs)


def test_a_window_beyond_the_output_and_a_model_without_steps_are_errors() -> None:
    with pytest.raises(TargetError, match=r"stop must be at most the model's number of output steps, 64"):
        explain(OutputWindow(UNet().eval(), 60, 65), _signal(), "gradient", target_class=0)
    flat = nn.Sequential(nn.Conv1d(2, 3, 5), nn.AdaptiveAvgPool1d(1), nn.Flatten()).eval()
    with pytest.raises(
        UnsupportedModelError,
        match=r"must return scores per time step.*returned \(\d+, 3\) \(one score per step",
    ):
        explain(OutputWindow(flat, 0, 1), _signal(), "gradient", target_class=0)
    with pytest.raises(
        UnsupportedModelError, match="must be a torch.nn.Module or a Keras model, got function"
    ):
        OutputWindow(lambda x: x, 0, 1)  # type: ignore[arg-type]
    with pytest.raises(
        UnsupportedModelError, match=r"got str \(an ONNX model: OutputWindow\(signxai.from_onnx"
    ):
        OutputWindow("delineation.onnx", 0, 1)  # type: ignore[arg-type]


def test_a_per_step_model_explained_as_it_is_is_told_of_output_window() -> None:
    with pytest.raises(
        UnsupportedModelError, match=r"\(3, 4, 64\).*signxai.OutputWindow\(model, start, stop\)"
    ):
        explain(UNet().eval(), _signal(), "gradient", target_class=0)


def test_no_warning_for_a_plain_window() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explain(OutputWindow(UNet().eval(), 5, 50), _signal(), "lrpsign_epsilon_0_5", target_class=0)


def test_one_score_per_step_unflattened_is_a_window_of_one_class() -> None:
    """A binary per-step model returning (B, T) is refused (a (B, K) classifier looks the same);
    unflattened to (B, 1, T), its window is the sum of its steps' logits, a single-output model
    (target 1: the sum itself), with its trailing Sigmoid bypassed."""
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv1d(2, 4, 5, padding=2), nn.ReLU(), nn.Conv1d(4, 1, 1), nn.Flatten())
    x = _signal()
    with pytest.raises(UnsupportedModelError, match=r"return it as \(batch, 1, time\)"):
        explain(OutputWindow(nn.Sequential(net, nn.Sigmoid()).eval(), 3, 9), x, "gradient", target_class=1)
    window = OutputWindow(nn.Sequential(net, nn.Sigmoid(), nn.Unflatten(1, (1, -1))).eval(), 3, 9)
    ours = explain(window, x, "gradient", target_class=1)
    expected = sum(Saliency(net.eval()).attribute(x, target=t, abs=False) for t in range(3, 9))
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-4, atol=1e-7)


class _Recurrent(nn.Module):
    """Per-step scores (B, T, 3) from a conv, a (bidirectional) LSTM or a transformer encoder."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.kind = kind
        self.conv = nn.Conv1d(1, 8, 5, padding=2)
        if kind == "transformer":
            layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
            self.body: nn.Module = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        else:
            self.body = nn.LSTM(8, 6, batch_first=True, bidirectional=kind == "bilstm")
        self.head = nn.Linear(8 if kind == "transformer" else 6 * (1 + (kind == "bilstm")), 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.body(torch.relu(self.conv(x)).transpose(1, 2))
        return self.head(hidden if self.kind == "transformer" else hidden[0])


@pytest.mark.parametrize("kind", ["lstm", "bilstm", "transformer"])
@pytest.mark.parametrize("method", ["lrp_epsilon_0_1", "lrpsign_epsilon_0_5"])
def test_recurrent_and_attention_per_step_models_sum_their_steps(kind: str, method: str) -> None:
    """Per-step recurrent nets and transformers (time on axis 1): the window's map is the sum
    of its steps' maps (LSTM rules; CP-LRP for attention)."""
    model = _Recurrent(kind).double().eval()
    x = torch.randn(2, 1, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    extra = {"attention": "cp"} if kind == "transformer" else {}
    window = explain(OutputWindow(model, 10, 14, axis=1), x, method, target_class=1, **extra)
    steps = sum(
        explain(OutputWindow(model, t, t + 1, axis=1), x, method, target_class=1, **extra)
        for t in range(10, 14)
    )
    np.testing.assert_allclose(window, steps, rtol=1e-4, atol=1e-6 * np.abs(steps).max())


# ------------------------------------------------------------------ a window per sample
STARTS, STOPS = [5, 20, 40], [15, 26, 64]


def test_windows_per_sample_equal_captum_summed_over_each_samples_steps() -> None:
    """Sample i explained over its own steps STARTS[i]..STOPS[i] - 1: captum's per-step gradients
    of that sample, summed over its window."""
    model, x = UNet().eval(), _signal()
    ours = explain(OutputWindow(model, STARTS, STOPS), x, "gradient_x_input", target_class=[1, 2, 0])
    for i, (start, stop, target) in enumerate(zip(STARTS, STOPS, [1, 2, 0], strict=True)):
        steps = range(start, stop)
        one = x[i : i + 1]
        expected = sum(InputXGradient(model).attribute(one, target=(target, t)) for t in steps)
        np.testing.assert_allclose(ours[i : i + 1], expected.detach().numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("method", "keywords"),
    [
        ("gradient", {}),
        ("integrated_gradients", {"batch_size": 2}),  # steps stacked, the batch in parts
        ("smoothgrad", {"seed": 0, "batch_size": 2}),
        ("gradient_shap", {"seed": 0, "batch_size": 2}),
        ("occlusion", {"batch_size": 2}),
        ("kernel_shap", {"seed": 0}),
        ("deeplift", {}),
        ("lrp_epsilon_0_1", {}),
        ("lrpsign_epsilon_0_5", {}),
        ("lrp_alpha_1_beta_0", {}),
        ("grad_cam", {}),
    ],
)
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_a_batch_with_windows_per_sample_equals_each_sample_with_its_window(
    method: str, keywords: dict, reduce: str
) -> None:
    """The windows follow their samples where the methods run the model on copies of the batch
    (IG's steps, SmoothGrad's samples, occlusion's windows, DeepLIFT's reference rows) or on parts
    of it; a trailing Softmax is bypassed. Sums are exact (the window is a selection); a mean
    divides by its length after the sum (LRP: stabilisers placed differently)."""
    model, x = _plain(softmax=True), _signal(channels=1, dtype=torch.float64)
    targets = [1, 3, 0]
    ours = explain(OutputWindow(model, STARTS, STOPS, reduce=reduce), x, method, targets, **keywords)
    for i in range(len(x)):
        window = OutputWindow(model, STARTS[i], STOPS[i], reduce=reduce)
        alone = explain(window, x[i : i + 1], method, targets[i], **keywords)
        if reduce == "sum" or "lrp" not in method:
            np.testing.assert_allclose(ours[i : i + 1], alone, rtol=1e-9, atol=1e-12)
        else:
            # a mean over a window is a sum divided by its length here, the mean of a narrowed
            # window there: LRP's stabilisers (1e-6 sign(z)) sit on different values (7e-5 measured)
            assert np.abs(ours[i : i + 1] - alone).max() < 5e-4 * np.abs(alone).max()


def test_windows_per_sample_with_a_shared_bound_the_predicted_class_and_one_sample() -> None:
    model, x = _plain(), _signal(channels=1, dtype=torch.float64)
    shared = explain(OutputWindow(model, STARTS, 64), x, "gradient")  # target: the predicted class
    for i in range(len(x)):
        alone = explain(OutputWindow(model, STARTS[i], 64), x[i : i + 1], "gradient")
        np.testing.assert_allclose(shared[i : i + 1], alone, rtol=1e-12)
    one = explain(OutputWindow(model, np.array([5]), torch.tensor([15])), x[0], "lrp_z", target_class=2)
    np.testing.assert_allclose(one, explain(OutputWindow(model, 5, 15), x[0], "lrp_z", target_class=2))
    window = OutputWindow(model, STARTS, STOPS)
    assert "start=[5, 20, 40], stop=[15, 26, 64]" in repr(window)
    assert window(x).shape == (3, 4)  # outside an explanation: row i is sample i


def test_windows_per_sample_in_a_deletion_curve_split_in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The curve runs the model on parts of the batch: each part's samples keep their windows."""
    from signxai.evaluate import deletion

    model, x = _plain(), _signal(channels=1, dtype=torch.float64)
    relevance = explain(OutputWindow(model, STARTS, STOPS), x, "gradient_x_input", target_class=1)
    whole = deletion.deletion_curve(OutputWindow(model, STARTS, STOPS), x, relevance, 1, window=8)
    monkeypatch.setattr(deletion, "CURVE_ROWS", 2)
    parts = deletion.deletion_curve(OutputWindow(model, STARTS, STOPS), x, relevance, 1, window=8)
    np.testing.assert_allclose(parts.scores, whole.scores, rtol=1e-12)
    for i in range(len(x)):
        alone = deletion.deletion_curve(
            OutputWindow(model, STARTS[i], STOPS[i]), x[i : i + 1], relevance[i : i + 1], 1, window=8
        )
        np.testing.assert_allclose(whole.scores[i : i + 1], alone.scores, rtol=1e-12)


@pytest.mark.parametrize(
    ("start", "stop", "rows", "error", "message"),
    [
        ([1, 2], [5, 6], 3, InputError, r"start/stop give 2 windows, one per sample, but x has 3 sample"),
        ([1, 2, 3], [5, 6], 3, TargetError, r"one per sample\), got 3 start\(s\) and 2 stop\(s\)"),
        ([1], [5, 6], 2, TargetError, r"one per sample\), got 1 start\(s\) and 2 stop\(s\)"),
        ([5, 2], [3, 6], 2, TargetError, r"stop must be above start.* start=5, stop=3 for sample 0"),
        (
            [1, 70, 3],
            80,
            3,
            TargetError,
            r"at most the model's number of output steps, 64 .* got 80 for sample",
        ),
        (
            [[1]],
            [3],
            1,
            TargetError,
            r"OutputWindow start must be a whole number or .* got a nested sequence",
        ),
        (np.array([[1, 2]]), 3, 1, TargetError, r"OutputWindow start must be .* got a nested sequence"),
        ([], [3], 1, TargetError, r"OutputWindow start must be .* got an empty sequence"),
        ([1.5, 2], [3, 4], 2, TargetError, r"OutputWindow start\[0\] must be a whole number >= 0, got 1.5"),
        ([1, 2], [3, 0], 2, TargetError, r"OutputWindow stop\[1\] must be a whole number >= 1, got 0"),
    ],
)
def test_bad_windows_per_sample_are_named(
    start: object, stop: object, rows: int, error: type, message: str
) -> None:
    model, x = _plain(), _signal(channels=1, dtype=torch.float64)[:rows]
    before = snapshot(model)
    with pytest.raises(error, match=message):
        explain(OutputWindow(model, start, stop), x, "gradient", target_class=0)  # type: ignore[arg-type]
    assert_unchanged(model, before)


def test_windows_per_sample_called_on_another_number_of_samples_outside_an_explanation() -> None:
    model, x = _plain(), _signal(channels=1, dtype=torch.float64)
    with pytest.raises(InputError, match=r"OutputWindow has 2 windows, one per sample, but the model got 3"):
        OutputWindow(model, [1, 2], [5, 6])(x)
