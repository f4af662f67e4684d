"""Contrastive targets (``Contrast``): one class against another, cross-checked against captum and
zennit on the difference of the two outputs, and the properties that define it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import Deconvolution, GuidedBackprop, IntegratedGradients, LayerGradCam, Saliency
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from zennit.attribution import Gradient
from zennit.canonizers import SequentialMergeBatchNorm
from zennit.composites import LayerMapComposite
from zennit.rules import AlphaBeta, Epsilon, Norm, Pass
from zennit.types import Activation, AvgPool, Convolution
from zennit.types import Linear as AnyLinear

from models import CAM_LAYERS, assert_unchanged, build, logit_model, rel_error, snapshot
from signxai import Contrast, TargetError, explain, explain_spectrum
from signxai.evaluate import deletion_curve, model_randomization
from signxai.targets import fixed_targets, target_weights
from signxai.torch_signxai import tf_calculate_relevancemap

#: Multi-output architectures of tests/models.py (the "ecg" model has a single output).
MULTI = ["ecg_beat", "resnet", "cnn2d"]
TARGET, VERSUS = [1, 2, 0], [3, 0, 2]


class Difference(nn.Module):
    """``model``'s logit of ``target`` minus that of ``versus``, per sample, as one output: what a
    contrast explains, for the reference implementations (which explain one output). A batch of
    copies of the samples (captum's integration steps) is taken as the samples tiled."""

    def __init__(self, model: nn.Module, target: list[int], versus: list[int]) -> None:
        super().__init__()
        self.model = logit_model(model)
        self.target, self.versus = torch.tensor(target), torch.tensor(versus)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        copies = len(x) // len(self.target)
        rows = torch.arange(len(x))
        return (z[rows, self.target.repeat(copies)] - z[rows, self.versus.repeat(copies)])[:, None]


def _folded(model: nn.Module, target: int, versus: int) -> nn.Module:
    """The ECG beat model with its last Linear layer folded into one output, z_target - z_versus
    (no per-sample indexing: any batch of noisy copies)."""
    folded = logit_model(model)
    last = folded.fc[-2]
    layer = nn.Linear(last.in_features, 1)
    with torch.no_grad():
        layer.weight.copy_(last.weight[target] - last.weight[versus])
        layer.bias.copy_(last.bias[target] - last.bias[versus])
    folded.fc[-2] = layer
    return folded.eval()


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return logit_model(model)(x)


CAPTUM = {"gradient": Saliency, "guided_backprop": GuidedBackprop, "deconvnet": Deconvolution}


@pytest.mark.parametrize("arch", MULTI)
@pytest.mark.parametrize("method", list(CAPTUM))
def test_gradient_type_contrasts_are_captums_maps_of_the_difference(arch: str, method: str) -> None:
    """Guided backprop and deconvnet are not linear in the output's gradient: the contrast is the
    map of the difference itself, not a difference of maps."""
    model, x = build(arch)
    reference = Difference(model, TARGET, VERSUS).eval()
    kwargs = {"abs": False} if method == "gradient" else {}
    expected = CAPTUM[method](reference).attribute(x, target=0, **kwargs)
    ours = explain(model, x, method, target_class=Contrast(TARGET, VERSUS))
    assert rel_error(ours, expected) < 1e-5


@pytest.mark.parametrize("arch", MULTI)
def test_integrated_gradients_contrast_is_captums_and_complete(arch: str) -> None:
    model, x = build(arch)
    reference = Difference(model, TARGET, VERSUS).eval()
    expected = IntegratedGradients(reference).attribute(x, target=0, n_steps=50)
    ours, delta = explain(
        model, x, "integrated_gradients", target_class=Contrast(TARGET, VERSUS), return_convergence_delta=True
    )
    assert rel_error(ours, expected) < 1e-4
    with torch.no_grad():
        rise = (reference(x) - reference(torch.zeros_like(x)))[:, 0].numpy()
    sums = ours.reshape(len(x), -1).sum(1)
    np.testing.assert_allclose(sums - rise, delta, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("arch", MULTI)
def test_grad_cam_of_a_contrast_weights_the_feature_maps_by_the_differences_gradient(arch: str) -> None:
    model, x = build(arch)
    reference = Difference(model, TARGET, VERSUS).eval()
    layer = dict(reference.named_modules())[f"model.{CAM_LAYERS[arch]}"]
    cam = LayerGradCam(reference, layer).attribute(x, target=0, relu_attributions=True)
    mode = "linear" if x.ndim == 3 else "bilinear"
    expected = nn.functional.interpolate(cam, size=x.shape[2:], mode=mode, align_corners=True)
    ours = explain(model, x, "grad_cam", target_class=Contrast(TARGET, VERSUS), target_layer=CAM_LAYERS[arch])
    assert np.abs(ours).max() > 0
    assert rel_error(ours[:, :1], expected) < 1e-4


def _base_map(rule: object) -> list:
    return [(Activation, Pass()), (AvgPool, Norm()), (Convolution, rule), (AnyLinear, rule)]


@pytest.mark.parametrize(
    ("method", "rule"),
    [
        ("lrp_epsilon_0_1", Epsilon(0.1)),
        ("lrp_alpha_2_beta_1", AlphaBeta(2.0, 1.0)),
    ],
)
@pytest.mark.parametrize("arch", ["ecg_beat", "cnn2d"])
def test_lrp_of_a_contrast_is_zennits_with_relevance_started_at_both_logits(
    arch: str, method: str, rule: object
) -> None:
    """LRP starts from +z_target and -z_versus (zennit given that output relevance)."""
    model, x = build(arch)
    reference = logit_model(model)
    composite = LayerMapComposite(_base_map(rule), canonizers=[SequentialMergeBatchNorm()])
    rows = torch.arange(len(x))

    def start(out: torch.Tensor) -> torch.Tensor:
        weights = torch.zeros_like(out)
        weights[rows, TARGET], weights[rows, VERSUS] = 1.0, -1.0
        return weights * out

    with Gradient(model=reference, composite=composite) as attributor:
        _, expected = attributor(x, start)
    ours = explain(model, x, method, target_class=Contrast(TARGET, VERSUS))
    assert rel_error(ours, expected) < 1e-4


def test_lrp_z_of_a_contrast_conserves_the_difference_of_the_logits() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(2, 6, 5, padding=2, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 30, 8, bias=False),
        nn.ReLU(),
        nn.Linear(8, 4, bias=False),
    ).double()
    x = torch.randn(5, 2, 30, dtype=torch.float64)
    relevance = explain(model, x, "lrp_z", target_class=Contrast([0, 1, 2, 3, 0], [1, 2, 3, 0, 3]))
    with torch.no_grad():
        z = model(x)
    rows = torch.arange(5)
    expected = (z[rows, [0, 1, 2, 3, 0]] - z[rows, [1, 2, 3, 0, 3]]).numpy()
    np.testing.assert_allclose(relevance.reshape(5, -1).sum(1), expected, rtol=1e-5)  # float32 maps


LINEAR = [
    "gradient_x_input",
    "integrated_gradients_steps_16",
    "smoothgrad_noise_0_1_samples_20",
    "gradient_shap",
    "deeplift",
    "deeplift_shap",
    "occlusion_window_10",
    "kernel_shap_window_20",
    "lrp_epsilon_0_25_std_x",
    "lrpsign_epsilon_0_5",
    "lrp_gamma_0_25",
    "lrp_sequential_composite_a",
    "zblrp_alpha_1_beta_0",
]
SEEDED = ("smoothgrad", "vargrad", "gradient_shap", "kernel_shap")


@pytest.mark.parametrize("method", LINEAR)
def test_methods_linear_in_the_output_weights_give_the_difference_of_the_two_maps(method: str) -> None:
    model, x = build("ecg_beat")
    extra = {"seed": 0} if method.startswith(SEEDED) else {}
    contrast = explain(model, x, method, target_class=Contrast(TARGET, VERSUS), **extra)
    difference = explain(model, x, method, target_class=TARGET, **extra) - explain(
        model, x, method, target_class=VERSUS, **extra
    )
    assert np.abs(contrast).max() > 0
    scale = np.abs(difference).max()
    np.testing.assert_allclose(contrast / scale, difference / scale, atol=2e-5)


def test_vargrad_of_a_contrast_is_vargrad_of_the_difference() -> None:
    """VarGrad (a variance) is not linear in the output: the contrast's map is that of a model
    returning the difference, drawn from the same noise."""
    model, x = build("ecg_beat")
    ours = explain(model, x, "vargrad_samples_10", target_class=Contrast(1, 3), seed=3)
    expected = explain(_folded(model, 1, 3), x, "vargrad_samples_10", target_class=1, seed=3)
    assert np.abs(ours).max() > 0
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-9)


def test_runner_up_is_the_most_likely_other_class() -> None:
    model, x = build("ecg_beat", seed=4)
    z = _logits(model, x)
    ranked = z.argsort(dim=1, descending=True)
    # of the prediction: the second most likely class
    weights = target_weights(Contrast(), z)
    assert (weights[torch.arange(3), ranked[:, 0]] == 1).all()
    assert (weights[torch.arange(3), ranked[:, 1]] == -1).all()
    assert (weights.abs().sum(1) == 2).all()
    np.testing.assert_array_equal(
        explain(model, x, "gradient", target_class=Contrast()),
        explain(model, x, "gradient", target_class=Contrast(ranked[:, 0].tolist(), ranked[:, 1].tolist())),
    )
    # of a class that is not predicted: the predicted class is its runner-up
    least = ranked[:, -1].tolist()
    assert fixed_targets(Contrast(least), z) == Contrast(least, ranked[:, 0].tolist())
    assert fixed_targets(None, z) == ranked[:, 0].tolist()
    assert repr(Contrast(1, 2)) == "Contrast(target=1, versus=2)"


@settings(max_examples=10, deadline=None)
@given(
    target=st.lists(st.integers(0, 4), min_size=4, max_size=4),
    shift=st.lists(st.integers(1, 4), min_size=4, max_size=4),
    method=st.sampled_from(["gradient", "lrp_epsilon_0_1", "lrpsign_z", "guided_backprop", "grad_cam"]),
)
def test_a_batch_of_contrasts_is_each_sample_alone(target: list[int], shift: list[int], method: str) -> None:
    model, _ = build("ecg_beat")
    x = torch.randn(4, 1, 140, generator=torch.Generator().manual_seed(sum(target)))
    versus = [(t + s) % 5 for t, s in zip(target, shift, strict=True)]
    batch = explain(model, x, method, target_class=Contrast(target, versus))
    alone = np.stack(
        [explain(model, x[i], method, target_class=Contrast(target[i], versus[i])) for i in range(4)]
    )
    scale = np.abs(batch).max() + 1e-12
    np.testing.assert_allclose(alone / scale, batch / scale, atol=1e-5)


@pytest.mark.parametrize(
    ("arch", "contrast", "message"),
    [
        ("ecg", Contrast(1, 0), "Contrast\\(...\\) needs a model with two or more outputs"),
        (
            "ecg_beat",
            Contrast(1, 1),
            "versus equals the target class for sample\\(s\\) \\[0, 1, 2\\] \\(class 1\\)",
        ),
        ("ecg_beat", Contrast([0, 1, 2], [1, 1, 0]), "sample\\(s\\) \\[1\\]"),
        ("ecg_beat", Contrast(1, 5), "Contrast versus 5 is out of range: the model has 5 outputs, so 0..4"),
        ("ecg_beat", Contrast(7, 1), "Contrast target 7 is out of range"),
        ("ecg_beat", Contrast(1, "runerup"), "did you mean 'runner_up'"),
        (
            "ecg_beat",
            Contrast(1, None),
            "versus must be a class index, one per sample, or 'runner_up'; got None",
        ),
        ("ecg_beat", Contrast(1, [0, 2]), "Contrast versus has 2 entries but the batch has 3 samples"),
        ("ecg_beat", Contrast(1, 2.0), "Contrast versus must be an int"),
        ("ecg_beat", Contrast("1", 2), "Contrast target must be an int"),
    ],
)
def test_bad_contrasts_are_target_errors_and_leave_the_model_unchanged(
    arch: str, contrast: Contrast, message: str
) -> None:
    model, x = build(arch)
    before = snapshot(model)
    for method in ("gradient", "lrp_alpha_1_beta_0"):
        with pytest.raises(TargetError, match=message):
            explain(model, x, method, target_class=contrast)
    assert_unchanged(model, before)


def test_deletion_curves_score_the_contrast() -> None:
    model, x = build("ecg_beat")
    relevance = explain(model, x, "gradient_x_input", target_class=Contrast(TARGET, VERSUS))
    curve = deletion_curve(model, x, relevance, Contrast(TARGET, VERSUS), window=14)
    rows = torch.arange(3)
    z = _logits(model, x)
    np.testing.assert_allclose(curve.scores[:, 0], (z[rows, TARGET] - z[rows, VERSUS]).numpy(), rtol=1e-5)
    chance = deletion_curve(model, x, relevance, Contrast(TARGET, VERSUS), window=14, score="probability")
    p = torch.softmax(z, dim=1)
    np.testing.assert_allclose(chance.scores[:, 0], (p[rows, TARGET] - p[rows, VERSUS]).numpy(), atol=1e-6)


def test_randomization_keeps_the_trained_models_runner_up() -> None:
    model, x = build("ecg_beat", seed=2)
    fixed = fixed_targets(Contrast(), _logits(model, x))
    assert isinstance(fixed, Contrast) and isinstance(fixed.versus, list)
    chosen = model_randomization(model, x, "gradient", Contrast(), seed=1)
    written = model_randomization(model, x, "gradient", fixed, seed=1)
    assert chosen.equals(written)


def test_spectra_and_the_tutorials_call_take_a_contrast() -> None:
    model, x = build("ecg_beat")
    contrast = explain_spectrum(model, x, "lrp_epsilon_0_1", Contrast(TARGET, VERSUS), fs=100.0).relevance
    parts = [explain_spectrum(model, x, "lrp_epsilon_0_1", t, fs=100.0).relevance for t in (TARGET, VERSUS)]
    np.testing.assert_allclose(contrast, parts[0] - parts[1], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(
        tf_calculate_relevancemap("gradient", x, model, neuron_selection=Contrast(TARGET, VERSUS)),
        explain(model, x, "gradient", target_class=Contrast(TARGET, VERSUS)),
    )


def test_compare_methods_scores_each_method_on_the_margin() -> None:
    from signxai.evaluate import compare_methods

    model, x = build("ecg_beat")
    table, curves = compare_methods(
        model, x, ["gradient_x_input"], Contrast(), window=14, randomization=False
    )
    relevance = explain(model, x, "gradient_x_input", target_class=Contrast())
    direct = deletion_curve(model, x, relevance, Contrast(), window=14)
    np.testing.assert_allclose(curves["gradient_x_input"]["morf"].scores, direct.scores, rtol=1e-6)
    assert table.loc["gradient_x_input", "aopc_morf"] == pytest.approx(direct.aopc)


def test_a_contrast_of_the_outputs_as_they_are_and_in_a_spectrogram() -> None:
    """With ``explain_output='activation'`` the contrast is that of the softmax probabilities;
    ``explain_spectrogram`` takes a contrast as ``explain_spectrum`` does."""
    from signxai import explain_spectrogram

    model, x = build("ecg_beat")
    inputs = x.clone().requires_grad_(True)
    p = model(inputs)
    rows = torch.arange(3)
    (expected,) = torch.autograd.grad((p[rows, TARGET] - p[rows, VERSUS]).sum(), inputs)
    ours = explain(model, x, "gradient", target_class=Contrast(TARGET, VERSUS), explain_output="activation")
    assert rel_error(ours, expected) < 1e-5
    kwargs = {"fs": 100.0, "n_fft": 32}
    contrast = explain_spectrogram(model, x, "lrp_epsilon_0_1", Contrast(TARGET, VERSUS), **kwargs).relevance
    parts = [
        explain_spectrogram(model, x, "lrp_epsilon_0_1", t, **kwargs).relevance for t in (TARGET, VERSUS)
    ]
    np.testing.assert_allclose(contrast, parts[0] - parts[1], rtol=1e-4, atol=1e-6)
