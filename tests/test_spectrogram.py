"""explain_spectrogram: relevance per frequency and frame (the inverse STFT as a virtual layer)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from models import assert_unchanged, build, logit_model, reference_stft, snapshot
from signxai import MethodParameterError, explain, explain_spectrogram
from signxai.spectrogram import ShortTimeDFT

SIGNAL_MODELS = ["ecg_beat", "resnet"]


def _model(name: str) -> tuple[nn.Module, torch.Tensor, list[int]]:
    model, x = build(name)
    with torch.no_grad():
        targets = logit_model(model)(x).argmax(1).tolist()
    return model, x, targets


@pytest.mark.parametrize(("length", "n_fft", "hop"), [(100, 32, 8), (101, 31, 15), (64, 64, 32), (50, 16, 3)])
def test_analysis_and_virtual_layer_are_torchs_stft_and_istft(length: int, n_fft: int, hop: int) -> None:
    transform = ShortTimeDFT(length, torch.device("cpu"), torch.float64, n_fft, hop)
    x = torch.randn(2, 3, length, dtype=torch.float64)
    coefficients = transform.analyse(x)
    bins = n_fft // 2 + 1
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    reference = torch.stft(
        x.reshape(6, length), n_fft, hop, window=window, center=True, pad_mode="constant", return_complex=True
    )
    assert coefficients.shape == (2, 3, 2 * bins, 1 + (length + 2 * (n_fft // 2) - n_fft) // hop)
    np.testing.assert_allclose(coefficients[..., :bins, :].reshape(6, bins, -1), reference.real, atol=1e-12)
    np.testing.assert_allclose(coefficients[..., bins:, :].reshape(6, bins, -1), reference.imag, atol=1e-12)
    rebuilt = transform.synthesis()(coefficients)
    np.testing.assert_allclose(rebuilt.numpy(), x.numpy(), atol=1e-10)
    istft = torch.istft(reference, n_fft, hop, window=window, center=True, length=length)
    np.testing.assert_allclose(rebuilt.reshape(6, length).numpy(), istft.numpy(), atol=1e-10)


@pytest.mark.parametrize("name", SIGNAL_MODELS)
def test_gradient_is_the_gradient_through_torchs_istft(name: str) -> None:
    model, x, targets = _model(name)
    n_fft, hop = 32, 8
    result = explain_spectrogram(model, x, "gradient", target_class=targets, n_fft=n_fft, hop=hop)
    window = torch.hann_window(n_fft, periodic=True)
    rows = x.reshape(-1, x.shape[-1])
    transform = torch.stft(
        rows, n_fft, hop, window=window, center=True, pad_mode="constant", return_complex=True
    )
    real = transform.real.clone().requires_grad_()
    imag = transform.imag.clone().requires_grad_()
    signal = torch.istft(
        torch.complex(real, imag), n_fft, hop, window=window, center=True, length=x.shape[-1]
    )
    out = logit_model(model)(signal.reshape(x.shape))
    real_grad, imag_grad = torch.autograd.grad(out[torch.arange(len(x)), targets].sum(), [real, imag])
    want = torch.stack([real_grad, imag_grad], dim=1).reshape(*x.shape[:2], 2, *real_grad.shape[1:]).numpy()
    assert result.parts.shape == want.shape and result.axes == ("sample", "channel", "bin", "frame")
    np.testing.assert_allclose(result.parts, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("name", SIGNAL_MODELS)
@pytest.mark.parametrize(
    ("spectral", "temporal"),
    [
        ("gradient_x_input", "gradient_x_input"),
        ("lrpz_epsilon_0_1", "lrp_epsilon_0_1"),
        ("deeplift", "deeplift"),
    ],
)
def test_bins_and_frames_sum_to_the_time_domain_relevance(name: str, spectral: str, temporal: str) -> None:
    model, x, targets = _model(name)
    cells = explain_spectrogram(model, x, spectral, target_class=targets, n_fft=48, hop=12).relevance
    want = explain(model, x, temporal, target_class=targets).reshape(len(x), -1).sum(1)
    np.testing.assert_allclose(
        cells.reshape(len(x), -1).sum(1), want, rtol=1e-3, atol=1e-4 * np.abs(want).max()
    )


def test_a_model_reading_a_late_10_hz_burst_finds_it_in_frequency_and_time() -> None:
    fs, length = 100.0, 400
    t = torch.arange(length) / fs
    reader = nn.Linear(length, 1, bias=False)
    reader.weight = nn.Parameter((torch.cos(2 * torch.pi * 10 * t) * (t >= 2))[None])
    x = (torch.cos(2 * torch.pi * 10 * t) + torch.cos(2 * torch.pi * 4 * t))[None]
    result = explain_spectrogram(reader, x, "gradient_x_input", n_fft=50, hop=10, fs=fs)
    assert result.axes == ("sample", "bin", "frame") and result.relevance.shape == (1, 26, 41)
    assert result.frequencies[5] == pytest.approx(10.0) and result.times[20] == pytest.approx(2.0)
    relevance = result.relevance[0]
    with torch.no_grad():
        z = float(reader(x))
    assert relevance.sum() == pytest.approx(z, rel=1e-4)
    # a Hann-windowed 10 Hz sinusoid lies on the 8, 10 and 12 Hz bins (the window's main lobe)
    bands = result.bands({"alpha": (7, 13), "slow": (0, 7), "high": (13, 51)})
    assert bands["alpha"].shape == (1, 41)
    assert bands["alpha"].sum() > 0.97 * z
    outside = (result.frequencies < 7) | (result.frequencies > 13)
    assert np.abs(relevance[outside]).sum() < 0.04 * abs(z)  # the burst's onset and the edge
    assert np.abs(relevance[:, result.times < 1.7]).max() < 1e-4 * abs(z)  # nothing before it
    np.testing.assert_allclose(result.amplitude[0, [2, 5], 20], [1.0, 1.0], atol=1e-3)


@settings(max_examples=10, deadline=None)
@given(length=st.integers(8, 40), n_fft=st.integers(2, 8), seed=st.integers(0, 2**16))
def test_batch_equals_per_sample(length: int, n_fft: int, seed: int) -> None:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv1d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * length, 4)
    ).eval()
    x = torch.randn(3, 2, length)
    hop = max(1, n_fft // 2)
    whole = explain_spectrogram(model, x, "lrpsign_epsilon_0_1", target_class=[0, 3, 1], n_fft=n_fft, hop=hop)
    assert whole.relevance.shape == (3, 2, n_fft // 2 + 1, 1 + (length + 2 * (n_fft // 2) - n_fft) // hop)
    for i, target in enumerate([0, 3, 1]):
        one = explain_spectrogram(
            model, x[i], "lrpsign_epsilon_0_1", target_class=target, n_fft=n_fft, hop=hop
        )
        assert one.axes == ("channel", "bin", "frame")
        np.testing.assert_allclose(one.parts, whole.parts[i], rtol=1e-5, atol=1e-6)


def test_model_left_as_found_and_errors_name_the_argument() -> None:
    model, x, _ = _model("ecg_beat")
    model.train()
    before = snapshot(model)
    explain_spectrogram(model, x, "lrpz_epsilon_0_1", target_class=0, n_fft=16)
    for kwargs, match in [
        ({"n_fft": 1}, "n_fft must be a whole number >= 2, got 1"),
        ({"n_fft": 200}, "n_fft must be at most the signal's length 140, got 200"),
        ({"n_fft": 16, "hop": 9}, "hop must be at most n_fft // 2 = 8"),
        ({"n_fft": 16, "hop": 0}, "hop must be a whole number >= 1, got 0"),
        ({"n_fft": 16.0}, "n_fft must be a whole number"),
        ({"fs": -1}, "fs must be a positive number in Hz"),
        ({"fs": float("inf")}, "fs must be a positive number in Hz"),
    ]:
        with pytest.raises(MethodParameterError, match=match):
            explain_spectrogram(model, x, "gradient", **kwargs)
    with pytest.raises(MethodParameterError, match="window=20 is more than both the 9 frequency bins and"):
        explain_spectrogram(model, x, "occlusion_window_20", n_fft=16, hop=8)
    with pytest.raises(MethodParameterError, match="no relevance per spectral coefficient"):
        explain_spectrogram(model, x, "guided_grad_cam")
    assert explain_spectrogram(model, x, "gradient", n_fft=3).hop == 1  # the default hop is at least 1
    result = explain_spectrogram(model, x, "gradient", n_fft=16, fs=140.0)
    with pytest.raises(MethodParameterError, match="holds no frequency bin"):
        result.bands({"none": (1.0, 5.0)})  # bins 8.75 Hz apart
    assert_unchanged(model, before)


@pytest.mark.parametrize(("per_channel", "window", "stride"), [(False, 3, 2), (True, 12, 5)])
def test_occlusion_hides_tiles_of_bins_and_frames(per_channel: bool, window: int, stride: int) -> None:
    """Occlusion in explain_spectrogram: tiles of window bins x window frames (clipped to the 9
    bins when wider), stride apart, removed from the STFT and the signal rebuilt by torch.istft;
    each cell's mean drop equals the one computed by hand."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv1d(2, 3, 5), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 56, 2)).eval()
    x = torch.randn(2, 2, 60)
    n_fft, hop = 16, 4
    result = explain_spectrogram(
        model,
        x,
        f"occlusion_window_{window}_stride_{stride}",
        target_class=1,
        n_fft=n_fft,
        hop=hop,
        per_channel=per_channel,
    )
    bins, frames = n_fft // 2 + 1, 1 + 60 // hop
    assert result.parts is None and result.relevance.shape == (2, 2, bins, frames)

    def starts(length: int, size: int) -> list[int]:
        size = min(size, length)
        found = list(range(0, length - size + 1, stride))
        return found if found[-1] == length - size else [*found, length - size]

    hann = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    stft = reference_stft(x.reshape(-1, 60), n_fft, hop).reshape(2, 2, bins, frames)
    with torch.no_grad():
        full = model(x)[:, 1].double()
        total, count = torch.zeros(2, 2, bins, frames, dtype=torch.float64), torch.zeros(2, bins, frames)
        for leads in [slice(c, c + 1) for c in range(2)] if per_channel else [slice(None)]:
            for b0 in starts(bins, window):
                for m0 in starts(frames, window):
                    tile = (slice(None), leads, slice(b0, b0 + min(window, bins)), slice(m0, m0 + window))
                    kept = stft.clone()
                    kept[tile] = 0
                    signal = torch.istft(kept.reshape(4, bins, frames), n_fft, hop, window=hann, length=60)
                    drop = full - model(signal.reshape(2, 2, 60).float())[:, 1].double()
                    total[tile] += drop[:, None, None, None]
                    count[tile[1:]] += 1
    want = (total / count).numpy()
    np.testing.assert_allclose(result.relevance, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
