"""Gradient-type methods cross-checked against captum on three architectures, plus properties."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import (
    Deconvolution,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    LayerGradCam,
    Saliency,
)
from torch import nn

from models import (
    ARCHITECTURES,
    CAM_LAYERS,
    FirstOutput,
    assert_same_maps,
    assert_unchanged,
    build,
    captum_targets,
    logit_model,
    rel_error,
    snapshot,
)
from signxai import LayerError, MethodParameterError, UnsupportedModelError, explain
from signxai.methods.post import sign_mu

CAPTUM = {
    "gradient": lambda m: Saliency(m),
    "gradient_x_input": lambda m: InputXGradient(m),
    "guided_backprop": lambda m: GuidedBackprop(m),
    "deconvnet": lambda m: Deconvolution(m),
}


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("method", list(CAPTUM))
def test_gradient_type_methods_match_captum(arch: str, method: str) -> None:
    model, x = build(arch)
    reference_model = logit_model(model)
    index, target = captum_targets(model, x)
    kwargs = {"abs": False} if method == "gradient" else {}
    expected = CAPTUM[method](reference_model).attribute(x, target=index, **kwargs)
    ours = explain(model, x, method, target_class=target)
    assert rel_error(ours, expected) < 1e-5


def test_binary_target_zero_explains_minus_the_logit() -> None:
    model, x = build("ecg")
    expected = Saliency(logit_model(model)).attribute(x, target=0, abs=False)
    assert rel_error(explain(model, x, "gradient", target_class=0), -expected) < 1e-6
    assert (
        rel_error(
            explain(model, x, "gradient", target_class=[1, 0, 1]),
            expected * torch.tensor([1.0, -1.0, 1.0]).view(3, 1, 1),
        )
        < 1e-6
    )


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_integrated_gradients_matches_captum(arch: str) -> None:
    model, x = build(arch)
    index, target = captum_targets(model, x)
    reference = IntegratedGradients(logit_model(model))
    expected, delta = reference.attribute(
        x, target=index, n_steps=50, method="gausslegendre", return_convergence_delta=True
    )
    ours, our_delta = explain(
        model, x, "integrated_gradients", target_class=target, return_convergence_delta=True
    )
    assert rel_error(ours, expected) < 1e-4
    np.testing.assert_allclose(our_delta, delta.detach().numpy(), atol=1e-3)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_integrated_gradients_baseline_matches_captum(arch: str) -> None:
    model, x = build(arch)
    index, target = captum_targets(model, x)
    baseline = 0.3 * torch.randn_like(x[:1])
    expected = IntegratedGradients(logit_model(model)).attribute(
        x, baselines=baseline.expand_as(x), target=index, n_steps=20
    )
    ours = explain(
        model, x, "integrated_gradients_steps_20", target_class=target, baseline=baseline[0].numpy()
    )
    assert rel_error(ours, expected) < 1e-4


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_grad_cam_matches_captum_layer_grad_cam(arch: str) -> None:
    model, x = build(arch)
    index, target = captum_targets(model, x)
    layer = dict(model.named_modules())[CAM_LAYERS[arch]]
    logits = logit_model(model)
    reference = LayerGradCam(logits, dict(logits.named_modules())[CAM_LAYERS[arch]])
    cam = reference.attribute(x, target=index, relu_attributions=True)
    mode = "linear" if x.ndim == 3 else "bilinear"
    expected = torch.nn.functional.interpolate(cam, size=x.shape[2:], mode=mode, align_corners=True)
    ours = explain(model, x, "grad_cam", target_class=target, target_layer=layer)
    for channel in range(x.shape[1]):
        assert rel_error(ours[:, channel : channel + 1], expected) < 1e-4


class _InPlaceVGG1d(nn.Module):
    """Conv -> ReLU(inplace=True) blocks, no BatchNorm (VGG-style): the ReLU overwrites each
    conv's output tensor, the default Grad-CAM layer's included."""

    def __init__(self, inplace: bool) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 8, 5, padding=2),
            nn.ReLU(inplace=inplace),
            nn.MaxPool1d(2),
            nn.Conv1d(8, 8, 3, padding=1),
            nn.ReLU(inplace=inplace),
        )
        self.fc = nn.Linear(8 * 20, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))


@pytest.mark.parametrize("method", ["grad_cam", "guided_grad_cam"])
def test_grad_cam_is_the_same_whether_a_relu_after_the_layer_is_in_place(method: str) -> None:
    """The feature map is the layer's own output, as captum takes it on the model without
    in-place ReLUs; before, an in-place ReLU after the conv made it the ReLU's output (torchvision
    VGG11's default map 59 % off, AlexNet's zero where the other is not)."""
    torch.manual_seed(0)
    model = _InPlaceVGG1d(inplace=True).eval()
    plain = _InPlaceVGG1d(inplace=False).eval()
    plain.load_state_dict(model.state_dict())
    x = torch.randn(4, 1, 40)
    target = [0, 1, 2, 1]
    ours = explain(model, x, method, target_class=target)
    expected = explain(plain, x, method, target_class=target)
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-9)
    if method == "grad_cam":  # captum on the model without in-place ReLUs, the default layer
        cam = LayerGradCam(plain, plain.features[3]).attribute(x, target=target, relu_attributions=True)
        up = torch.nn.functional.interpolate(cam, size=(40,), mode="linear", align_corners=True)
        assert rel_error(ours, up) < 1e-5


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_guided_grad_cam_matches_captum_guided_grad_cam(arch: str) -> None:
    """captum resizes by nearest neighbour: ``interpolation='nearest'`` gives its maps."""
    model, x = build(arch)
    index, target = captum_targets(model, x)
    logits = logit_model(model)
    layer = dict(logits.named_modules())[CAM_LAYERS[arch]]
    expected = GuidedGradCam(logits, layer).attribute(x, target=index)
    kwargs = {"target_class": target, "target_layer": CAM_LAYERS[arch], "interpolation": "nearest"}
    assert rel_error(explain(model, x, "guided_grad_cam", **kwargs), expected) < 1e-5
    cam = LayerGradCam(logits, layer).attribute(x, target=index, relu_attributions=True)
    nearest = torch.nn.functional.interpolate(cam, size=x.shape[2:], mode="nearest")
    assert rel_error(explain(model, x, "grad_cam", **kwargs), nearest.expand_as(x)) < 1e-5


def test_guided_grad_cam_is_grad_cam_times_guided_backprop() -> None:
    model, x = build("ecg_beat")
    cam = explain(model, x, "grad_cam", target_class=0)
    assert (np.abs(cam).max(axis=(1, 2)) > 0).all()
    guided = explain(model, x, "guided_backprop", target_class=0)
    np.testing.assert_allclose(explain(model, x, "guided_grad_cam", target_class=0), cam * guided, rtol=1e-6)
    nearest = explain(model, x, "guided_grad_cam", target_class=0, interpolation="nearest")
    assert rel_error(nearest, cam * guided) > 1e-3  # the last conv layer has 9 positions, not 140
    with pytest.raises(MethodParameterError, match=r"interpolation.*one of \('linear', 'nearest'\)"):
        explain(model, x, "guided_grad_cam", interpolation="cubic")
    functional = nn.Sequential(nn.Conv1d(1, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 140, 2))
    with pytest.raises(UnsupportedModelError, match="guided_grad_cam modifies the backward pass of ReLUs"):
        explain(functional.eval(), x, "guided_grad_cam")


def test_grad_cam_default_layer_is_the_deepest_conv_not_a_shortcut_run_after_it() -> None:
    """The ResNet's last block registers and runs its 1x1 projection shortcut after its main path:
    the last conv by registration and by run order, which the default took before. The default
    is the conv at the end of the longest chain of convs, the block's second conv."""
    model, x = build("resnet")
    default = explain(model, x, "grad_cam", target_class=1)
    main = explain(model, x, "grad_cam", target_class=1, target_layer="block2.conv2")
    np.testing.assert_array_equal(default, main)
    assert (
        rel_error(default, explain(model, x, "grad_cam", target_class=1, target_layer="block2.project"))
        > 0.05
    )


def test_grad_cam_default_layer_is_on_the_explained_path_not_in_a_dropped_head() -> None:
    """A multi-task model whose auxiliary head (a conv after the trunk's last one) the wrapper
    drops: the default was that head's conv, and torch's "appears to not have been used in the
    graph" came back. Now the trunk's last conv; the head's conv, named, is an error that says why."""

    class MultiTask(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv1d(1, 8, 5, padding=2)
            self.conv2 = nn.Conv1d(8, 8, 3, padding=1)
            self.head = nn.Linear(8, 3)
            self.aux_conv = nn.Conv1d(8, 4, 3, padding=1)
            self.aux = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
            return self.head(h.mean(-1)), self.aux(torch.relu(self.aux_conv(h)).mean(-1))

    torch.manual_seed(3)
    model, x = FirstOutput(MultiTask().eval()), torch.randn(3, 1, 60)
    default = explain(model, x, "grad_cam", target_class=1)
    np.testing.assert_array_equal(
        default, explain(model, x, "grad_cam", target_class=1, target_layer="model.conv2")
    )
    assert float(np.abs(default).sum()) > 0
    np.testing.assert_array_equal(
        explain(model, x, "guided_grad_cam", target_class=1),
        explain(model, x, "guided_grad_cam", target_class=1, target_layer="model.conv2"),
    )
    with pytest.raises(LayerError, match="'model.aux_conv' does not reach the explained output"):
        explain(model, x, "grad_cam", target_class=1, target_layer="model.aux_conv")


def test_grad_cam_on_a_layer_that_runs_twice_is_an_error() -> None:
    """A shared layer has one feature map per call: before, the last call's was taken silently."""

    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(2, 2, 3, padding=1)
            self.fc = nn.Linear(2 * 20, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.conv(torch.relu(self.conv(x))).flatten(1))

    with pytest.raises(LayerError, match="'conv' ran 2 times in one forward pass"):
        explain(Shared().eval(), torch.randn(2, 2, 20), "grad_cam", target_layer="conv")


def test_grad_cam_default_layer_is_last_conv_and_normalize_divides_by_max() -> None:
    model, x = build("ecg")
    default = explain(model, x, "grad_cam", target_class=1)
    last_conv = explain(model, x, "grad_cam", target_class=1, target_layer="features.12")
    np.testing.assert_array_equal(default, last_conv)
    normalized = explain(model, x, "gradcam", target_class=1, normalize=True)
    # divided by the peak of the feature-map-resolution map, before resizing (as the original):
    # the resized map's peak is at most 1 (its samples fall between the nodes)
    core = torch.nn.Sequential(*list(model.features)[:13])
    with torch.no_grad():
        length = core(torch.as_tensor(x)).shape[-1]
    assert length < x.shape[-1]
    for i in range(len(x)):
        positive = default[i] > 1e-6 * default[i].max()
        ratio = normalized[i][positive] / default[i][positive]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)
        assert 0.5 < normalized[i].max() <= 1.0 + 1e-6
    assert np.array_equal(explain(model, x, "grad_cam_timeseries", target_class=1), default)


def test_smoothgrad_is_the_mean_of_captum_saliency_on_the_same_noise() -> None:
    model, x = build("resnet")
    target = [1, 2, 0]
    samples, level, seed = 8, 0.1, 7
    ours = explain(
        model, x, f"smoothgrad_noise_0_1_samples_{samples}", target_class=target, seed=seed, batch_size=10_000
    )
    variance = explain(
        model,
        x,
        "vargrad",
        target_class=target,
        noise_level=level,
        samples=samples,
        seed=seed,
        batch_size=10_000,
    )
    generator = torch.Generator().manual_seed(seed)
    # one draw of a sample's shape per noise sample, shared by the batch's samples
    noise = [torch.randn((1, *x.shape[1:]), generator=generator) for _ in range(samples)]
    spread = x.amax(dim=(1, 2), keepdim=True) - x.amin(dim=(1, 2), keepdim=True)
    saliency = Saliency(model.eval())
    grads = torch.stack([saliency.attribute(x + n * level * spread, target=target, abs=False) for n in noise])
    assert rel_error(ours, grads.mean(0)) < 1e-5
    assert rel_error(variance, grads.var(0, unbiased=False)) < 1e-4


def test_smoothgrad_chunking_does_not_change_the_result_and_seed_reproduces() -> None:
    model, x = build("ecg")
    one_pass = explain(model, x, "smoothgrad_samples_12", seed=3, batch_size=1000)
    chunked = explain(model, x, "smoothgrad_samples_12", seed=3, batch_size=3)
    np.testing.assert_allclose(chunked, one_pass, rtol=1e-5, atol=1e-9)
    vchunk = explain(model, x, "vargrad_samples_12", seed=3, batch_size=7)
    vone = explain(model, x, "vargrad_samples_12", seed=3, batch_size=1000)
    np.testing.assert_allclose(vchunk, vone, rtol=1e-4, atol=1e-12)
    assert not np.array_equal(one_pass, explain(model, x, "smoothgrad_samples_12", seed=4))
    # an input whose size is no multiple of 16: torch's CPU sampler draws such a tensor in another
    # order than two smaller ones, so a single draw per chunk made the map depend on batch_size
    odd = torch.randn(3, 1, 101)
    beat = nn.Sequential(nn.Conv1d(1, 4, 5), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 97, 2)).eval()
    np.testing.assert_allclose(
        explain(beat, odd, "smoothgrad_samples_12", target_class=0, seed=3, batch_size=5),
        explain(beat, odd, "smoothgrad_samples_12", target_class=0, seed=3, batch_size=1000),
        rtol=1e-5,
        atol=1e-9,
    )


def test_integrated_gradients_completeness_error_shrinks_with_steps() -> None:
    model, x = build("resnet")
    deltas = []
    for steps in (2, 8, 64):
        _, delta = explain(
            model, x, f"integrated_gradients_steps_{steps}", target_class=1, return_convergence_delta=True
        )
        deltas.append(np.abs(delta).max())
    assert deltas[2] < deltas[0]
    assert deltas[2] < 1e-2 * max(deltas[0], 1e-6) or deltas[2] < 1e-4


def test_integrated_gradients_chunking_is_exact() -> None:
    model, x = build("ecg")
    a = explain(model, x, "integrated_gradients_steps_10", batch_size=3)
    b = explain(model, x, "integrated_gradients_steps_10", batch_size=1000)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("base", ["gradient", "guided_backprop", "deconvnet", "smoothgrad"])
def test_suffixes_equal_their_definitions(base: str) -> None:
    model, x = build("ecg")
    x[0, 0, :5] = 0.0
    x[0, 0, 5:10] = 0.5
    seed = {"seed": 1} if base == "smoothgrad" else {}
    plain = explain(model, x, base, target_class=1, **seed)
    xt = torch.as_tensor(x)
    np.testing.assert_allclose(
        explain(model, x, f"{base}_x_input", target_class=1, **seed), plain * x.numpy(), rtol=1e-6
    )
    np.testing.assert_array_equal(
        explain(model, x, f"{base}_x_sign", target_class=1, **seed), plain * sign_mu(xt).numpy()
    )
    np.testing.assert_array_equal(
        explain(model, x, f"{base}_x_sign_mu_0_5", target_class=1, **seed),
        plain * np.where(x.numpy() >= 0.5, 1.0, -1.0),
    )
    np.testing.assert_array_equal(
        explain(model, x, f"{base}_x_sign_mu_neg_0_5", target_class=1, **seed),
        plain * np.where(x.numpy() >= -0.5, 1.0, -1.0),
    )
    assert (sign_mu(torch.zeros(1)) == 1).all()


SPELLINGS = {
    "F.relu": F.relu,
    "torch.relu": torch.relu,
    "Tensor.relu": torch.Tensor.relu,
    "F.relu inplace": lambda h: F.relu(h, inplace=True),
    "F.relu inplace by position": lambda h: F.relu(h, True),
    "torch.relu_": torch.relu_,
    "Tensor.relu_": torch.Tensor.relu_,
}


class _Spelled(nn.Module):
    """A ReLU that is not an ``nn.ReLU`` module: captum's hooks do not see it."""

    def __init__(self, spelling: str) -> None:
        super().__init__()
        self.relu = SPELLINGS[spelling]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.relu(h)


@pytest.mark.parametrize("spelling", list(SPELLINGS))
@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet", "guided_grad_cam"])
def test_functional_relus_get_the_rule_where_captum_keeps_the_gradient(method: str, spelling: str) -> None:
    """Every ReLU of the ResNet spelled as a function: the maps of the module model, which are
    captum's; captum's own maps of the functional model are its plain gradient there, far off."""
    model, x = build("resnet")
    spelled = copy.deepcopy(model)
    relus = [name for name, module in spelled.named_modules() if isinstance(module, nn.ReLU)]
    for name in relus:
        parent, _, attribute = name.rpartition(".")
        setattr(spelled.get_submodule(parent), attribute, _Spelled(spelling))
    assert not any(isinstance(module, nn.ReLU) for module in spelled.modules())
    index, target = captum_targets(model, x)
    ours = explain(spelled, x, method, target_class=target)
    np.testing.assert_allclose(ours, explain(model, x, method, target_class=target), rtol=1e-5, atol=1e-7)
    if method != "guided_grad_cam":
        assert rel_error(ours, CAPTUM[method](logit_model(model)).attribute(x, target=index)) < 1e-5
        assert rel_error(ours, CAPTUM[method](logit_model(spelled)).attribute(x, target=index)) > 0.1


def test_guided_backprop_handles_inplace_relu() -> None:
    model, x = build("cnn2d")
    inplace, _ = build("cnn2d")
    for module in inplace.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = True
    assert_same_maps(inplace, model, x, ("guided_backprop", "deconvnet"), 1, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(("params", "sigma"), [({"noise_level": 0.1}, None), ({"noise_std": 0.3}, 0.3)])
def test_vargrad_of_a_square_measures_the_noise_std(params: dict, sigma: float | None) -> None:
    """z = sum(x^2) / 2: dz/dx = x + noise, so vargrad = sigma^2 and smoothgrad = x (expectations)."""

    class Square(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.nn.Linear(1, 1, bias=False)
            with torch.no_grad():
                self.scale.weight.fill_(1.0)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.scale((x**2).sum(dim=(1, 2))[:, None] / 2)

    x = torch.linspace(-1.0, 3.0, 64).reshape(1, 1, 64)
    expected = sigma if sigma is not None else 0.1 * 4.0  # noise_level times the range (4)
    var = explain(Square(), x, "vargrad", target_class=1, samples=4000, seed=0, **params)
    assert np.mean(var) == pytest.approx(expected**2, rel=0.05)
    mean = explain(Square(), x, "smoothgrad", target_class=1, samples=4000, seed=0, **params)
    np.testing.assert_allclose(mean, x.numpy(), atol=5 * expected / np.sqrt(4000) + 1e-6)


def test_noise_std_and_a_noise_level_in_the_name_conflict() -> None:
    model, x = build("ecg")
    with pytest.raises(MethodParameterError, match="give one of them"):
        explain(model, x, "smoothgrad_noise_0_1", target_class=1, noise_std=0.2)


@pytest.mark.parametrize(
    ("method", "keyword", "value", "message"),
    [
        ("integrated_gradients", "baseline", np.full((1, 100), np.nan), "baseline has 100 non-finite"),
        ("deeplift", "baseline", float("inf"), "baseline has 1 non-finite"),
        ("occlusion", "baseline", "zero", "baseline must be a number, an array or a tensor, got str"),
        ("gradient_shap", "baselines", np.full((3, 1, 100), np.nan), "baselines has 300 non-finite"),
        ("integrated_gradients", "baseline", np.ones(100, complex), "got ndarray of dtype complex128"),
        # one sample's shape or a number: before, these named it 'baseline'
        ("deeplift_shap", "baselines", float("nan"), "^baselines has 1 non-finite"),
        ("gradient_shap", "baselines", "zero", "^baselines must be a number, an array or a tensor"),
        ("deeplift_shap", "baselines", np.zeros((1, 7)), r"^baselines must be .* got shape \(1, 7\)"),
    ],
)
def test_references_must_be_finite_numbers(method: str, keyword: str, value, message: str) -> None:
    model = nn.Sequential(nn.Conv1d(1, 2, 5), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 96, 2)).eval()
    with pytest.raises(MethodParameterError, match=message):
        explain(model, torch.randn(2, 1, 100), method, target_class=0, **{keyword: value})


class _LeadImage(nn.Module):
    """A 12-lead model that treats (leads, length) as an image: Conv2d along time in every lead
    (feature maps of height 12), then one across the leads (height 1), as 2-D ECG CNNs do."""

    def __init__(self) -> None:
        super().__init__()
        self.along = nn.Conv2d(1, 6, (1, 9), padding=(0, 4))
        self.pool = nn.MaxPool2d((1, 4))
        self.across = nn.Conv2d(6, 8, (12, 1))
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(torch.relu(self.along(x.unsqueeze(1))))  # (B, 6, 12, L / 4)
        return self.fc(torch.relu(self.across(h)).mean(dim=(2, 3)))  # across: (B, 8, 1, L / 4)


def test_grad_cam_of_a_model_running_conv2d_over_leads_by_length() -> None:
    """Before, every layer of such a model was refused (2-D feature maps of a 1-D input). Now a
    map of height 12 (per lead) or 1 (the leads combined) is resized onto (leads, length):
    captum's LayerGradCam on the same layer, resized by bilinear (or nearest) interpolation."""
    torch.manual_seed(0)
    model, x = _LeadImage().eval(), torch.randn(3, 12, 200)
    before = snapshot(model)
    index, target = captum_targets(model, x)
    for layer, height in (("along", 12), ("pool", 12), ("across", 1)):
        cam = LayerGradCam(model, getattr(model, layer)).attribute(x, target=index, relu_attributions=True)
        assert cam.shape[2] == height
        for mode, extra in (("bilinear", {"align_corners": True}), ("nearest", {})):
            expected = F.interpolate(cam, size=(12, 200), mode=mode, **extra)[:, 0]
            kwargs = {"target_layer": layer, "interpolation": mode.replace("bi", "")}
            ours = explain(model, x, "grad_cam", target_class=target, **kwargs)
            assert ours.shape == (3, 12, 200) and rel_error(ours, expected) < 1e-6
    across = explain(model, x, "grad_cam", target_class=target, target_layer="across")
    np.testing.assert_allclose(across, np.broadcast_to(across[:, :1], across.shape))  # one map, every lead
    per_lead = explain(model, x, "grad_cam", target_class=target, target_layer="along")
    assert np.abs(per_lead - per_lead[:, :1]).max() > 0.1 * np.abs(per_lead).max()  # a map per lead
    np.testing.assert_array_equal(explain(model, x, "grad_cam", target_class=target), across)  # default
    guided = explain(model, x, "guided_backprop", target_class=target)
    product = explain(model, x, "guided_grad_cam", target_class=target, target_layer="along")
    np.testing.assert_allclose(product, per_lead * guided, rtol=1e-6)
    assert_unchanged(model, before)
    shrunk = nn.Sequential(_Unsqueeze(), nn.Conv2d(1, 4, (3, 5)), nn.Flatten(), nn.LazyLinear(2))
    shrunk(x)  # the lazy layer takes its shape
    with pytest.raises(LayerError, match=r"only where H is the number of leads \(12\) or 1 .*not 10"):
        explain(shrunk.eval(), x, "grad_cam")


class _Unsqueeze(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1)


@pytest.mark.parametrize(
    ("method", "keyword"),
    [("integrated_gradients", "baseline"), ("deeplift", "baseline"), ("occlusion", "baseline"),
     ("gradient_shap", "baselines")],
)  # fmt: skip
def test_a_reversed_or_memory_mapped_reference_is_its_copy(tmp_path, method: str, keyword: str) -> None:
    """Before: a reversed view was 'baseline must be a number, an array or a tensor, got ndarray'
    (torch refuses negative strides), a memory-mapped one made torch warn of read-only arrays."""
    model = nn.Sequential(nn.Conv1d(1, 2, 5), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 96, 2)).eval()
    x = torch.randn(2, 1, 100)
    reference = np.linspace(-1, 1, 200, dtype=np.float32).reshape(2, 1, 100)
    np.save(tmp_path / "reference.npy", reference[..., ::-1])
    params = {"seed": 0} if method == "gradient_shap" else {}
    expected = explain(model, x, method, 0, **{keyword: reference[..., ::-1].copy()}, **params)
    reversed_view = explain(model, x, method, 0, **{keyword: reference[..., ::-1]}, **params)
    mapped = explain(
        model, x, method, 0, **{keyword: np.load(tmp_path / "reference.npy", mmap_mode="r")}, **params
    )
    np.testing.assert_array_equal(reversed_view, expected)
    np.testing.assert_array_equal(mapped, expected)


@pytest.mark.parametrize("n", [201, 1000, 2500])
def test_gauss_legendre_nodes_past_leggauss_are_its_nodes_in_linear_memory(n: int) -> None:
    """Before, IG's nodes came from numpy's leggauss at every step count: an n x n eigenvalue
    problem (2.3 s at 3000 steps, 3.2 GB at 20000). Newton's method gives the same nodes."""
    from signxai.methods.gradient import gauss_legendre

    nodes, weights = gauss_legendre(n)
    expected_nodes, expected_weights = np.polynomial.legendre.leggauss(n)
    np.testing.assert_allclose(nodes, expected_nodes, rtol=0, atol=1e-14)
    # leggauss's own weights at the ends are off by up to 1e-8 (relative; ours by 2e-11 at 1000
    # nodes, against mpmath's at 40 digits)
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-7, atol=0)
    degree = 2 * n - 2  # exact for polynomials up to degree 2n - 1: the integral of x^degree
    assert np.sum(weights * nodes**degree) == pytest.approx(2.0 / (degree + 1), rel=1e-10)


def test_integrated_gradients_with_many_steps_equals_captums() -> None:
    """Past 200 steps the nodes are Newton's (above); the map is captum's (leggauss nodes)."""
    from captum.attr import IntegratedGradients

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(1, 4, 5), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3)).eval()
    x = torch.randn(2, 1, 40)
    relevance, delta = explain(
        model, x, "integrated_gradients", target_class=1, steps=1500, return_convergence_delta=True
    )
    expected = IntegratedGradients(model).attribute(x, target=1, n_steps=1500, internal_batch_size=3000)
    np.testing.assert_allclose(relevance, expected.detach().numpy(), rtol=1e-4, atol=1e-7)
    assert np.abs(delta).max() < 1e-4  # float32 sums of 1500 gradients
