"""explain_spectrum: relevance per frequency bin (the inverse DFT as a virtual inspection layer)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from models import assert_unchanged, build, logit_model, snapshot
from signxai import (
    InputError,
    MethodParameterError,
    TargetError,
    UnsupportedModelError,
    explain,
    explain_spectrogram,
    explain_spectrum,
)
from signxai.spectral import inverse_dft, spectrum

SIGNAL_MODELS = ["ecg", "ecg_beat", "resnet"]


def _model(name: str) -> tuple[nn.Module, torch.Tensor, list[int]]:
    model, x = build(name)
    with torch.no_grad():
        out = logit_model(model)(x)
    targets = [1] * len(x) if out.shape[1] == 1 else out.argmax(1).tolist()
    return model, x, targets


def _logits(model: nn.Module, x: torch.Tensor, targets: list[int]) -> torch.Tensor:
    """The explained logit per sample (the single-output model's z for target 1)."""
    out = logit_model(model)(x)
    return out[:, 0] if out.shape[1] == 1 else out[torch.arange(len(x)), targets]


@pytest.mark.parametrize("length", [7, 8, 140])
def test_the_virtual_layer_is_torchs_inverse_rfft(length: int) -> None:
    x = torch.randn(4, 3, length, dtype=torch.float64)
    coefficients = spectrum(x)
    assert coefficients.shape == (4, 3, 2 * (length // 2 + 1))
    layer = inverse_dft(length, torch.device("cpu"), torch.float64)
    np.testing.assert_allclose(layer(coefficients).numpy(), x.numpy(), atol=1e-12)
    bins = length // 2 + 1
    complex_form = torch.complex(coefficients[..., :bins], coefficients[..., bins:])
    np.testing.assert_allclose(
        torch.fft.irfft(complex_form, n=length, norm="forward").numpy(), x.numpy(), atol=1e-12
    )


@pytest.mark.parametrize("name", SIGNAL_MODELS)
def test_gradient_is_the_gradient_through_torchs_irfft(name: str) -> None:
    """The spectral gradient equals autograd's through ``torch.fft.irfft`` of the complex bins
    (an independent inverse transform), real and imaginary parts apart."""
    model, x, targets = _model(name)
    result = explain_spectrum(model, x, "gradient", target_class=targets)
    length = x.shape[-1]
    transform = torch.fft.rfft(x, norm="forward")
    real = transform.real.clone().requires_grad_()
    imag = transform.imag.clone().requires_grad_()
    signal = torch.fft.irfft(torch.complex(real, imag), n=length, norm="forward")
    real_grad, imag_grad = torch.autograd.grad(_logits(model, signal, targets).sum(), [real, imag])
    want = torch.stack([real_grad, imag_grad], dim=-2).numpy()
    assert result.parts.shape == want.shape
    np.testing.assert_allclose(result.parts, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
    np.testing.assert_allclose(result.relevance, want.sum(-2), rtol=1e-4, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("name", SIGNAL_MODELS)
@pytest.mark.parametrize(
    ("spectral", "temporal"),
    [
        ("gradient_x_input", "gradient_x_input"),
        ("lrpz_epsilon_0_1", "lrp_epsilon_0_1"),
        ("lrpz_alpha_1_beta_0", "lrp_alpha_1_beta_0"),
        ("deeplift", "deeplift"),
    ],
)
def test_bins_sum_to_the_time_domain_relevance(name: str, spectral: str, temporal: str) -> None:
    """Input times gradient and the z-rule at the (bias-free, linear) virtual layer conserve each
    sample's relevance: the bins sum to the time-domain map's sum."""
    model, x, targets = _model(name)
    bins = explain_spectrum(model, x, spectral, target_class=targets).relevance
    samples = explain(model, x, temporal, target_class=targets)
    want = samples.reshape(len(x), -1).sum(1)
    np.testing.assert_allclose(
        bins.reshape(len(x), -1).sum(1), want, rtol=1e-3, atol=1e-4 * np.abs(want).max()
    )


@pytest.mark.parametrize("name", SIGNAL_MODELS)
def test_lrp_z_at_the_virtual_layer_is_dft_lrp(name: str) -> None:
    """``lrpz_`` = DFT-LRP written out: R_X = X * W^T (R_x / x), R_x the time-domain map of the
    same rule on the model's layers; ``lrpsign_`` = sign(X) * W^T (R_x / x), sign(0) = +1."""
    model, x, targets = _model(name)
    temporal = torch.as_tensor(explain(model, x, "lrp_epsilon_0_25", target_class=targets))
    coefficients = spectrum(x)
    basis = inverse_dft(x.shape[-1], torch.device("cpu"), torch.float32).weight
    c = (temporal / x) @ basis
    bins = x.shape[-1] // 2 + 1
    for method, factor in [
        ("lrpz_epsilon_0_25", coefficients),
        ("lrpsign_epsilon_0_25", torch.where(coefficients >= 0, 1.0, -1.0)),
    ]:
        want = (factor * c).reshape(*x.shape[:-1], 2, bins).numpy()
        got = explain_spectrum(model, x, method, target_class=targets).parts
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=2e-4 * np.abs(want).max(), err_msg=method)


def test_integrated_gradients_is_complete_from_the_baselines_spectrum() -> None:
    model, x, targets = _model("ecg_beat")
    baseline = 0.3 * torch.randn(1, 140)
    result = explain_spectrum(
        model,
        x,
        "integrated_gradients_steps_128",
        target_class=targets,
        baseline=baseline.numpy(),
        return_convergence_delta=True,
    )
    with torch.no_grad():
        change = _logits(model, x, targets) - _logits(model, baseline.expand_as(x), targets)
    assert result.delta is not None and result.delta.shape == (3,)
    total = result.relevance.reshape(3, -1).sum(1)
    np.testing.assert_allclose(total - change.numpy(), result.delta, atol=1e-5)
    np.testing.assert_allclose(total, change.numpy(), rtol=0.05, atol=0.02)
    zero = explain_spectrum(model, x, "integrated_gradients", target_class=targets)
    assert not np.allclose(zero.relevance, result.relevance, atol=1e-3)


def test_a_model_reading_one_frequency_finds_it() -> None:
    """z = <cos(2 pi 10 t), x>: of x's 3 Hz and 10 Hz components only the 10 Hz bin is relevant;
    ``bands`` sums it in Hz, the amplitude spectrum shows both components."""
    fs, length = 100.0, 200
    t = torch.arange(length) / fs
    reader = nn.Linear(length, 1, bias=False)
    reader.weight = nn.Parameter(torch.cos(2 * torch.pi * 10 * t)[None])
    x = (torch.sin(2 * torch.pi * 3 * t) + 0.5 * torch.cos(2 * torch.pi * 10 * t))[None]
    result = explain_spectrum(reader, x, "gradient_x_input", fs=fs)
    assert result.relevance.shape == (1, 101) and result.frequencies[20] == pytest.approx(10.0)
    assert result.axes == ("sample", "bin")
    assert explain_spectrum(reader, x[0], "gradient").axes == ("bin",)
    with torch.no_grad():
        z = float(reader(x))
    assert result.relevance[0, 20] == pytest.approx(z, rel=1e-4)
    assert np.abs(np.delete(result.relevance[0], 20)).max() < 1e-4 * abs(z)
    np.testing.assert_allclose(result.amplitude[0, [6, 20]], [1.0, 0.5], atol=1e-5)
    assert np.abs(np.delete(result.amplitude[0], [6, 20])).max() < 1e-5
    bands = result.bands({"slow": (0, 5), "ten": (9.5, 10.5), "all": (0, 50)})
    np.testing.assert_allclose([bands["slow"][0], bands["ten"][0], bands["all"][0]], [0.0, z, z], atol=1e-4)


@settings(max_examples=15, deadline=None)
@given(length=st.integers(2, 41), seed=st.integers(0, 2**16))
def test_batch_equals_per_sample_for_any_length(length: int, seed: int) -> None:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv1d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * length, 4)
    ).eval()
    x = torch.randn(3, 2, length)
    whole = explain_spectrum(model, x, "lrpsign_epsilon_0_1", target_class=[0, 3, 1])
    assert whole.relevance.shape == (3, 2, length // 2 + 1)
    assert whole.frequencies.shape == (length // 2 + 1,)
    for i, target in enumerate([0, 3, 1]):
        one = explain_spectrum(model, x[i], "lrpsign_epsilon_0_1", target_class=target)
        assert one.relevance.shape == (2, length // 2 + 1) and one.parts.shape == (2, 2, length // 2 + 1)
        assert one.axes == ("channel", "bin") and whole.axes == ("sample", "channel", "bin")
        np.testing.assert_allclose(one.parts, whole.parts[i], rtol=1e-5, atol=1e-6)


def test_model_and_input_are_left_as_found() -> None:
    model, x, _ = _model("resnet")
    model.train()
    next(model.parameters()).requires_grad_(False)
    before, x_before = snapshot(model), x.clone()
    explain_spectrum(model, x, "lrpsign_epsilon_0_1", target_class=0)
    with pytest.raises(MethodParameterError):
        explain_spectrum(model, x, "grad_cam")
    assert_unchanged(model, before)
    assert torch.equal(x, x_before)


def test_further_inputs_reach_the_model() -> None:
    class WithAge(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(1, 2, 5)
            self.head = nn.Linear(2 + 1, 2)

        def forward(self, x: torch.Tensor, age: torch.Tensor) -> torch.Tensor:
            return self.head(torch.cat([self.conv(x).relu().mean(-1), age], dim=1))

    model = WithAge().eval()
    x, age = torch.randn(4, 1, 50), torch.rand(4, 1)
    got = explain_spectrum(model, x, "gradient_x_input", target_class=1, forward_args=[age])
    want = explain(model, x, "gradient_x_input", target_class=1, forward_args=[age])
    np.testing.assert_allclose(got.relevance.sum((1, 2)), want.sum((1, 2)), rtol=1e-4, atol=1e-6)


def test_errors_name_the_argument() -> None:
    model, x, _ = _model("ecg_beat")
    for method in ["grad_cam", "guided_grad_cam"]:
        with pytest.raises(MethodParameterError, match="no relevance per spectral coefficient"):
            explain_spectrum(model, x, method)
    with pytest.raises(MethodParameterError, match="window=72 bins is more than the signal's 71"):
        explain_spectrum(model, x, "occlusion_window_72")
    with pytest.raises(MethodParameterError, match=r"per_channel=True needs signals with channels"):
        explain_spectrum(nn.Linear(30, 2), torch.randn(3, 30), "occlusion_window_2", per_channel=True)
    with pytest.raises(MethodParameterError, match="fs must be a positive"):
        explain_spectrum(model, x, "gradient", fs=0)
    with pytest.raises(MethodParameterError, match="fs must be a positive"):
        explain_spectrum(model, x, "gradient", fs="360")
    with pytest.raises(MethodParameterError, match="fs must be a positive number in Hz, got inf"):
        explain_spectrum(model, x, "gradient", fs=float("inf"))
    image_model, image = build("cnn2d")
    with pytest.raises(InputError, match="time on the last axis"):
        explain_spectrum(image_model, image, "gradient")
    result = explain_spectrum(model, x, "gradient", fs=140.0)
    with pytest.raises(MethodParameterError, match="holds no frequency bin"):
        result.bands({"above": (80, 90)})
    with pytest.raises(MethodParameterError, match="low < high"):
        result.bands({"reversed": (20, 5)})
    with pytest.raises(MethodParameterError, match=r"must be \(low, high\)"):
        result.bands({"one": 5})  # type: ignore[dict-item]
    # before: Python's AttributeError ('tuple' object has no attribute 'items')
    with pytest.raises(MethodParameterError, match=r"edges must be a dict of band name -> \(low, high\)"):
        result.bands((0, 10))  # type: ignore[arg-type]


def _band_stopped_drops(
    model: nn.Module, x: torch.Tensor, target: int, bands: list[range], channels: list[int] | None
) -> np.ndarray:
    """By hand with numpy: mean over the bands covering each bin of z(x) - z(x without the band),
    all channels at once (``channels`` None) or one at a time."""
    coefficients = np.fft.rfft(x.double().numpy(), axis=-1)
    z = logit_model(model)
    with torch.no_grad():
        full = z(x)[:, target].double().numpy()
        total, count = np.zeros(coefficients.shape), np.zeros(coefficients.shape)
        for leads in [slice(None)] if channels is None else [slice(c, c + 1) for c in channels]:
            for band in bands:
                kept = coefficients.copy()
                kept[:, leads, band.start : band.stop] = 0
                signal = torch.from_numpy(np.fft.irfft(kept, n=x.shape[-1], axis=-1)).float()
                total[:, leads, band.start : band.stop] += (full - z(signal)[:, target].double().numpy())[
                    :, None, None
                ]
                count[:, leads, band.start : band.stop] += 1
    return total / count


@pytest.mark.parametrize(("name", "per_channel"), [("ecg_beat", False), ("resnet", False), ("resnet", True)])
def test_occlusion_hides_frequency_bands(name: str, per_channel: bool) -> None:
    """Occlusion in explain_spectrum removes bands (both parts of each bin, windows of adjacent
    bins, one more at the end): the mean drop equals the band-stopped signals' by hand."""
    model, x = build(name)
    if name == "resnet":  # fewer, shorter signals: one forward per band and lead
        x = x[:2, :, :100]
    bins = x.shape[-1] // 2 + 1
    window, stride = 4, 3
    bands = [range(start, start + window) for start in range(0, bins - window + 1, stride)]
    if bands[-1].stop != bins:
        bands.append(range(bins - window, bins))
    result = explain_spectrum(
        model, x, f"occlusion_window_{window}_stride_{stride}", target_class=0, per_channel=per_channel
    )
    assert result.parts is None and result.relevance.shape == (*x.shape[:2], bins)
    want = _band_stopped_drops(model, x, 0, bands, list(range(x.shape[1])) if per_channel else None)
    np.testing.assert_allclose(result.relevance, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
    if not per_channel:
        assert np.allclose(result.relevance, result.relevance[:, :1])  # every lead's band at once


def test_occlusion_of_one_bin_finds_the_frequency_a_model_reads() -> None:
    fs, length = 100.0, 200
    t = torch.arange(length) / fs
    reader = nn.Sequential(nn.Flatten(), nn.Linear(length, 1, bias=False)).eval()
    with torch.no_grad():
        reader[1].weight[0] = torch.cos(2 * torch.pi * 10 * t)
    x = (2 * torch.cos(2 * torch.pi * 10 * t) + torch.cos(2 * torch.pi * 3 * t))[None, None]
    result = explain_spectrum(reader, x, "occlusion_window_1", target_class=1, fs=fs)
    output = float(reader(x).detach())  # one logit: class 1 explains +z
    assert int(np.argmax(result.relevance[0, 0])) == 20 and result.frequencies[20] == 10.0
    np.testing.assert_allclose(result.relevance[0, 0, 20], output, rtol=1e-5)  # the band held it all
    np.testing.assert_allclose(np.delete(result.relevance[0, 0], 20), 0.0, atol=1e-5 * output)
    # a baseline hides a band with the baseline's own content there: a constant 0.5 only at 0 Hz
    shifted = explain_spectrum(reader, x, "occlusion_window_1", target_class=1, baseline=0.5)
    np.testing.assert_allclose(shifted.relevance, result.relevance, atol=1e-5 * output)
    dc_reader = nn.Sequential(nn.Flatten(), nn.Linear(length, 1, bias=False)).eval()
    with torch.no_grad():
        dc_reader[1].weight.fill_(1.0 / length)  # the mean
    mean = explain_spectrum(dc_reader, x + 1.0, "occlusion_window_1", target_class=1, baseline=0.5)
    np.testing.assert_allclose(mean.relevance[0, 0, 0], 1.0 - 0.5, rtol=1e-5)  # mean 1 -> 0.5


def test_occlusion_batch_is_per_sample_and_keeps_the_model() -> None:
    model, x, targets = _model("ecg_beat")
    model.train()
    model.features[0].weight.requires_grad_(False)
    before = snapshot(model)
    batch = explain_spectrum(model, x, "occlusion_window_5", target_class=targets, batch_size=7)
    assert_unchanged(model, before)
    model.eval()
    for b in range(len(x)):
        alone = explain_spectrum(model, x[b], "occlusion_window_5", target_class=targets[b])
        assert alone.axes == ("channel", "bin") and alone.parts is None
        np.testing.assert_allclose(alone.relevance, batch.relevance[b], rtol=1e-5, atol=1e-6)


def test_a_model_the_transforms_rounding_changes_is_refused() -> None:
    class Quantised(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            scaled = x * 1e8
            return (scaled - torch.floor(scaled)).sum(-1)  # the fraction: ~1e-7 changes move it

    with pytest.raises(UnsupportedModelError, match="rebuilt from its spectrum"):
        explain_spectrum(Quantised(), torch.randn(2, 1, 30), "gradient", target_class=0)


def test_keras_models_are_converted_and_explained_channels_first() -> None:
    keras = pytest.importorskip("keras")
    from signxai.frontends.keras import converted

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((30, 2)),
            keras.layers.Conv1D(3, 5, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    x = np.random.default_rng(0).normal(size=(3, 30, 2)).astype(np.float32)
    result = explain_spectrum(model, x, "lrpsign_epsilon_0_1", target_class=1, fs=30.0)
    assert result.axes == ("sample", "channel", "bin") and result.relevance.shape == (3, 2, 16)
    module = converted(model, x)
    want = explain_spectrum(module, np.moveaxis(x, 1, 2), "lrpsign_epsilon_0_1", target_class=1)
    np.testing.assert_allclose(result.parts, want.parts, rtol=1e-5, atol=1e-7)
    one = explain_spectrum(model, x[1], "gradient_x_input", target_class=1)
    assert one.axes == ("channel", "bin")
    time_domain = explain(model, x[1], "gradient_x_input", target_class=1)
    np.testing.assert_allclose(one.relevance.sum(), time_domain.sum(), rtol=1e-4, atol=1e-6)
    with pytest.raises(InputError, match="Keras model takes"):
        explain_spectrum(model, x[:, :20], "gradient")
    occluded = explain_spectrum(model, x, "occlusion_window_3", target_class=1, per_channel=True)
    want = explain_spectrum(
        module, np.moveaxis(x, 1, 2), "occlusion_window_3", target_class=1, per_channel=True
    )
    np.testing.assert_allclose(occluded.relevance, want.relevance, rtol=1e-5, atol=1e-6)


def test_the_wrapper_kept_per_model_holds_no_reference_to_it() -> None:
    """The spectral wrapper is reused for a model (its input reading and LRP structure are found
    once) but the model is attached only during a call: a model the caller drops is freed."""
    import gc
    import weakref

    from signxai.spectral import _WRAPPERS

    model, x, targets = _model("ecg_beat")
    explain_spectrum(model, x, "lrpsign_epsilon_0_1", target_class=targets)
    explain_spectrum(model, x, "gradient", target_class=targets)
    (wrapper,) = _WRAPPERS[model].values()
    assert "model" not in dict(wrapper.named_children())
    with pytest.raises(TargetError):  # raised inside the explanation of the wrapper
        explain_spectrum(model, x, "lrp_epsilon_0_1", target_class=7)
    assert "model" not in dict(wrapper.named_children())
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


def test_a_signal_too_long_for_a_dense_inverse_dft_is_refused_before_it_is_built() -> None:
    model = nn.Sequential(
        nn.Conv1d(1, 2, 5), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(2, 2)
    ).eval()
    with pytest.raises(MethodParameterError, match=r"40000 x 40002 matrix \(6\.0 GiB.*explain_spectrogram"):
        explain_spectrum(model, torch.randn(1, 1, 40_000), "gradient", target_class=0)
    result = explain_spectrogram(
        model, torch.randn(1, 1, 40_000), "lrpz_epsilon_0_1", target_class=0, n_fft=256
    )
    assert result.relevance.shape == (1, 1, 129, 1 + 40_000 // 64)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("method", ["gradient_x_input", "occlusion_window_3"])
def test_a_half_precision_model_is_explained_in_float32_with_one_warning(
    dtype: torch.dtype, method: str
) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(1, 3, 5), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 56, 2)).eval()
    x = torch.randn(3, 1, 60).to(dtype)
    half = model.to(dtype)
    exact = copy.deepcopy(half).float()  # the same values in float32: the function explained
    want = explain_spectrum(exact, x.float(), method, target_class=1)
    with pytest.warns(UserWarning, match="parameters are explained in float32") as caught:
        got = explain_spectrum(half, x, method, target_class=1)
    assert len([w for w in caught if "explained in float32" in str(w.message)]) == 1
    assert all(p.dtype == dtype for p in half.parameters())
    np.testing.assert_allclose(
        got.relevance, want.relevance, rtol=1e-5, atol=1e-6 * np.abs(want.relevance).max()
    )


def test_kernel_shap_over_bands_is_the_exact_shapley_value_of_band_stops() -> None:
    """Kernel SHAP in explain_spectrum: bands of `window` bins are the players (a bin's two parts
    together, every lead); with all coalitions evaluated the values are the Shapley values of the
    band-stopped signals, by the subset formula written out here, and sum to z(x) - z(0)."""
    import itertools
    import math

    model, x = build("ecg_beat")
    x = x[:2]
    window = 18  # 71 bins: players of 18, 18, 18, 17 bins
    result = explain_spectrum(model, x, f"kernel_shap_window_{window}", target_class=2)
    assert result.parts is None and result.relevance.shape == (2, 1, 71)
    bands = [range(start, min(start + window, 71)) for start in range(0, 71, window)]
    z = logit_model(model)
    coefficients = np.fft.rfft(x.double().numpy(), axis=-1)

    def value(kept: tuple[int, ...]) -> np.ndarray:
        masked = np.zeros_like(coefficients)
        for player in kept:
            masked[..., bands[player].start : bands[player].stop] = coefficients[
                ..., bands[player].start : bands[player].stop
            ]
        signal = torch.from_numpy(np.fft.irfft(masked, n=140, axis=-1)).float()
        with torch.no_grad():
            return z(signal)[:, 2].double().numpy()

    players = len(bands)
    values = {
        subset: value(subset)
        for k in range(players + 1)
        for subset in itertools.combinations(range(players), k)
    }
    for player, band in enumerate(bands):
        others = [p for p in range(players) if p != player]
        shapley = sum(
            math.factorial(len(subset))
            * math.factorial(players - len(subset) - 1)
            / math.factorial(players)
            * (values[tuple(sorted((*subset, player)))] - values[subset])
            for k in range(players)
            for subset in itertools.combinations(others, k)
        )
        np.testing.assert_allclose(result.relevance[:, 0, band.start], shapley, rtol=1e-4, atol=1e-5)
        assert np.allclose(
            result.relevance[:, 0, band.start : band.stop],
            result.relevance[:, 0, band.start : band.start + 1],
        )
    per_band = result.relevance[:, 0, [band.start for band in bands]].sum(axis=1)
    np.testing.assert_allclose(per_band, values[tuple(range(players))] - values[()], rtol=1e-4, atol=1e-5)


def test_kernel_shap_of_a_linear_model_is_occlusion_of_its_tiles() -> None:
    """For a model linear in x, a band's (or STFT tile's) Shapley value is the drop when it
    alone is removed: Kernel SHAP equals occlusion with non-overlapping windows, in the spectrum
    and in the spectrogram (15 tiles: drawn coalitions, the fit exact for an additive game)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 58, 3)).eval()
    x = torch.randn(2, 2, 58)
    for explain_it, extra in ((explain_spectrum, {}), (explain_spectrogram, {"n_fft": 16, "hop": 4})):
        shap = explain_it(model, x, "kernel_shap_window_3", target_class=1, **extra)
        occluded = explain_it(model, x, "occlusion_window_3_stride_3", target_class=1, **extra)
        assert shap.relevance.shape == occluded.relevance.shape
        scale = np.abs(occluded.relevance).max()
        np.testing.assert_allclose(shap.relevance, occluded.relevance, atol=1e-4 * scale)
    flat, signals = nn.Linear(30, 2).eval(), torch.randn(3, 30)  # signals without a channel axis
    shap = explain_spectrum(flat, signals, "kernel_shap_window_4", target_class=1)
    occluded = explain_spectrum(flat, signals, "occlusion_window_4_stride_4", target_class=1)
    assert shap.axes == ("sample", "bin") and shap.relevance.shape == (3, 16)
    np.testing.assert_allclose(
        shap.relevance, occluded.relevance, atol=1e-4 * np.abs(occluded.relevance).max()
    )
    per_lead = explain_spectrum(model, x, "kernel_shap_window_10", target_class=1, per_channel=True)
    alone = explain_spectrum(model, x, "occlusion_window_10_stride_10", target_class=1, per_channel=True)
    np.testing.assert_allclose(per_lead.relevance, alone.relevance, atol=1e-4 * scale)
    with pytest.raises(MethodParameterError, match="covers all 30 frequency bins: use a smaller window"):
        explain_spectrum(model, x, "kernel_shap_window_30", target_class=1)
    with pytest.raises(MethodParameterError, match="per_channel=True needs signals with channels"):
        explain_spectrum(nn.Linear(30, 2), torch.randn(3, 30), "kernel_shap_window_2", per_channel=True)
