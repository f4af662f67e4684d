"""Deletion curves in frequency: the band-stopped signals by hand, a model reading one frequency,
batch = per sample, the caller's model and metadata, errors."""

from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from models import Bound, WithMetadata, assert_unchanged, build, reference_stft, snapshot
from signxai import explain_spectrogram, explain_spectrum
from signxai.errors import InputError, MethodParameterError
from signxai.evaluate import random_relevance, spectral_deletion_curve
from signxai.evaluate.plot import plot_deletion_curves

matplotlib.use("Agg")

FS, LENGTH = 100.0, 200


def cosine_reader() -> nn.Module:
    """Output 0 = <cos(2 pi 10 t), x>, output 1 = its negative: only the 10 Hz bin counts."""
    t = torch.arange(LENGTH, dtype=torch.float32) / FS
    model = nn.Sequential(nn.Flatten(), nn.Linear(LENGTH, 2, bias=False))
    with torch.no_grad():
        model[1].weight[0] = torch.cos(2 * torch.pi * 10 * t)
        model[1].weight[1] = -model[1].weight[0]
    return model.eval()


def mixture(batch: int = 3) -> torch.Tensor:
    """10 Hz and 3 Hz cosines with noise, the 10 Hz one of amplitude 1 + b."""
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(LENGTH) / FS
    amplitude = 1.0 + torch.arange(batch, dtype=torch.float32)[:, None, None]
    x = amplitude * torch.cos(2 * torch.pi * 10 * t) + 2 * torch.cos(2 * torch.pi * 3 * t)
    return (x + 0.1 * torch.randn(batch, 1, LENGTH, generator=generator)).float()


def test_removing_the_frequency_the_model_reads_removes_its_output() -> None:
    model, x = cosine_reader(), mixture()
    spectrum = explain_spectrum(model, x, "gradient_x_input", target_class=0, fs=FS)
    assert np.all(spectrum.relevance[:, 0].argmax(axis=-1) == 20)  # 10 Hz: bin 20 of 101
    morf = spectral_deletion_curve(model, x, spectrum, 0, order="morf")
    lerf = spectral_deletion_curve(model, x, spectrum, 0, order="lerf")
    with torch.no_grad():
        output = model(x)[:, 0].numpy()
    assert morf.scores.shape == lerf.scores.shape == (3, LENGTH // 2 + 2)
    assert morf.unit == "bins" and morf.window == 1 and morf.infill == "zero"
    np.testing.assert_allclose(morf.scores[:, 0], output, rtol=1e-6)
    scale = np.abs(output).max()
    np.testing.assert_allclose(morf.scores[:, 1:], 0.0, atol=1e-5 * scale)  # gone with the first bin
    np.testing.assert_allclose(
        lerf.scores[:, :-1], np.repeat(output[:, None], 101, axis=1), rtol=1e-4
    )  # kept to the last
    np.testing.assert_allclose(lerf.scores[:, -1], 0.0, atol=1e-5 * scale)
    assert morf.aopc > lerf.aopc
    rand = spectral_deletion_curve(model, x, random_relevance(spectrum.relevance, seed=1), 0)
    assert morf.aopc > rand.aopc > lerf.aopc


@pytest.mark.parametrize(("name", "bins", "order"), [("ecg_beat", 3, "morf"), ("resnet", 7, "lerf")])
def test_each_step_is_the_band_stopped_signal(name: str, bins: int, order: str) -> None:
    model, x = build(name)
    model = nn.Sequential(nn.ConstantPad1d((0, 1), 0.0), model).eval()
    x = x[..., :-1]  # an odd length: no Nyquist bin
    length, count = x.shape[-1], x.shape[-1] // 2 + 1
    relevance = np.random.default_rng(0).standard_normal((x.shape[0], x.shape[1], count))
    curve = spectral_deletion_curve(model, x, relevance, 1, bins=bins, order=order, score="probability")
    groups = -(-count // bins)
    assert curve.scores.shape == (x.shape[0], groups + 1)
    np.testing.assert_allclose(curve.fractions, np.arange(groups + 1) / groups)
    coefficients = np.fft.rfft(x.double().numpy(), axis=-1)
    for b in range(x.shape[0]):
        sums = np.add.reduceat(relevance[b].sum(axis=0), np.arange(0, count, bins))
        ranked = np.argsort(-sums if order == "morf" else sums, kind="stable")
        kept = coefficients[b].copy()
        expected = [float(model(x[b : b + 1]).detach()[0, 1])]
        for group in ranked:
            kept[:, group * bins : (group + 1) * bins] = 0
            signal = torch.from_numpy(np.fft.irfft(kept, n=length, axis=-1)).float()
            expected.append(float(model(signal[None]).detach()[0, 1]))
        np.testing.assert_allclose(curve.scores[b], expected, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        assert np.allclose(curve.scores[:, -1], model(torch.zeros_like(x))[:, 1].numpy(), atol=1e-6)


def test_batch_is_per_sample_and_one_sample_takes_its_own_shape() -> None:
    model, x = build("ecg_beat")
    spectrum = explain_spectrum(model, x, "lrpz_epsilon_0_1", target_class=[0, 1, 2])
    batch = spectral_deletion_curve(model, x, spectrum, [0, 1, 2], bins=5)
    for b in range(3):
        alone = explain_spectrum(model, x[b], "lrpz_epsilon_0_1", target_class=b)
        assert alone.relevance.shape == (1, 71)
        one = spectral_deletion_curve(model, x[b], alone, b, bins=5)
        np.testing.assert_allclose(one.scores[0], batch.scores[b], rtol=1e-5, atol=1e-6)
    probability = spectral_deletion_curve(model, x, spectrum, [0, 1, 2], bins=5, score="probability")
    assert ((probability.scores >= 0) & (probability.scores <= 1)).all()


def test_the_model_its_metadata_and_the_inputs_are_left_as_found() -> None:
    torch.manual_seed(5)
    model = WithMetadata(leads=1, kernel=7, pool="amax").train()
    model.conv.weight.requires_grad_(False)
    torch.manual_seed(0)
    x, metadata, mask = torch.randn(3, 1, 40), torch.randn(3, 2), (torch.rand(3, 1, 40) > 0.2).float()
    further = {"forward_args": (metadata,), "forward_kwargs": {"mask": mask}}
    before, copy = snapshot(model), x.clone()
    relevance = np.random.default_rng(0).standard_normal((3, 1, 21))
    curve = spectral_deletion_curve(model, x, relevance, None, bins=4, **further)
    assert_unchanged(model, before)
    assert torch.equal(x, copy)
    model.eval()
    for b in range(3):
        bound = Bound(model, metadata[b : b + 1], mask[b : b + 1])
        alone = spectral_deletion_curve(bound, x[b : b + 1], relevance[b : b + 1], None, bins=4)
        np.testing.assert_allclose(curve.scores[b], alone.scores[0], rtol=1e-5, atol=1e-6)
    with torch.inference_mode():
        inside = spectral_deletion_curve(model, x, relevance, None, bins=4, **further)
    np.testing.assert_allclose(inside.scores, curve.scores, rtol=1e-6)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"bins": 0}, MethodParameterError, "bins must be a whole number of bins >= 1, got 0"),
        ({"bins": 2.0}, MethodParameterError, "bins must be a whole number"),
        ({"bins": True}, MethodParameterError, "bins must be a whole number"),
        ({"bins": 102}, MethodParameterError, "bins must be at most the signal's 101 frequency bins"),
        ({"order": "random"}, MethodParameterError, "order"),
        ({"score": "loss"}, MethodParameterError, "score"),
        ({"relevance": np.zeros((3, 1, 200))}, InputError, r"shaped like x's spectrum .*\(3, 1, 101\)"),
        ({"relevance": np.full((3, 1, 101), np.inf)}, InputError, "303 non-finite"),
        ({"relevance": "bins"}, InputError, "relevance must be an array"),
    ],
)
def test_arguments_are_checked(arguments: dict, error: type, message: str) -> None:
    arguments = {"relevance": np.ones((3, 1, 101)), **arguments}
    with pytest.raises(error, match=message):
        spectral_deletion_curve(cosine_reader(), mixture(), target_class=0, **arguments)


def test_a_spectrum_of_another_length_is_refused() -> None:
    model, x = cosine_reader(), mixture()
    other = explain_spectrum(model, x, "gradient", target_class=0)
    short = nn.Sequential(nn.Flatten(), nn.Linear(LENGTH - 2, 2)).eval()
    with pytest.raises(InputError, match="relevance explains 200-sample signals; x has 198 samples"):
        spectral_deletion_curve(short, x[..., 2:], other, 0)


def test_signals_without_a_lead_axis_are_one_lead() -> None:
    """The cosine reader takes (B, T) as well (its Flatten): the curves of (B, T) signals and
    their (B, F) spectra are those of the same signals as one lead, (B, 1, T) and (B, 1, F)."""
    model, x = cosine_reader(), mixture()
    leadless = x[:, 0]
    spectrum = explain_spectrum(model, leadless, "gradient_x_input", target_class=0)
    assert spectrum.relevance.shape == (3, LENGTH // 2 + 1)
    one_lead = spectral_deletion_curve(model, x, spectrum.relevance[:, None], 0, bins=4)
    for relevance in (spectrum, spectrum.relevance):
        curve = spectral_deletion_curve(model, leadless, relevance, 0, bins=4)
        np.testing.assert_array_equal(curve.scores, one_lead.scores)
    with pytest.raises(InputError, match=r"shaped like x's spectrum \(B, T // 2 \+ 1\), \(3, 101\)"):
        spectral_deletion_curve(model, leadless, spectrum.relevance[:, None], 0)
    with pytest.raises(InputError, match=r"signals \(B, C, T\) or, one lead without its axis, \(B, T\)"):
        spectral_deletion_curve(model, x[:, :, None], spectrum.relevance, 0)


def test_the_plot_names_frequency_bins() -> None:
    model, x = cosine_reader(), mixture()
    spectrum = explain_spectrum(model, x, "gradient_x_input", target_class=0)
    curve = spectral_deletion_curve(model, x, spectrum, 0, bins=10)
    figure = plot_deletion_curves({"gradient_x_input": {"morf": curve}})
    assert figure.axes[0].get_xlabel() == "fraction of frequency bins removed"


@pytest.mark.parametrize(("bins", "frames", "order"), [(3, 2, "morf"), (9, 1, "lerf"), (2, 16, "morf")])
def test_a_spectrogram_loses_tiles_of_cells_rebuilt_by_torchs_istft(
    bins: int, frames: int, order: str
) -> None:
    """For a SpectrogramRelevance, each step removes a tile of bins x frames of the STFT (both
    parts, every channel) and the signal is rebuilt by torch.istft: as written out here."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv1d(2, 3, 5), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 56, 2)).eval()
    x = torch.randn(2, 2, 60)
    n_fft, hop = 16, 4
    spectrogram = explain_spectrogram(model, x, "gradient_x_input", target_class=1, n_fft=n_fft, hop=hop)
    count, width = spectrogram.relevance.shape[-2:]
    noise = np.random.default_rng(0).standard_normal(spectrogram.relevance.shape).astype(np.float32)
    ranked_by = dataclasses.replace(spectrogram, relevance=noise)  # a ranking with no ties
    curve = spectral_deletion_curve(model, x, ranked_by, 1, bins=bins, order=order, frames=frames)
    assert curve.unit == "cells" and curve.window == bins * frames
    starts = [(b, m) for b in range(0, count, bins) for m in range(0, width, frames)]
    assert curve.scores.shape == (2, len(starts) + 1)
    hann = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    stft = reference_stft(x.reshape(4, 60), n_fft, hop).reshape(2, 2, count, width)
    with torch.no_grad():
        for sample in range(2):
            sums = [noise[sample, :, b : b + bins, m : m + frames].sum() for b, m in starts]
            ranked = np.argsort(-np.array(sums) if order == "morf" else np.array(sums), kind="stable")
            kept = stft[sample].clone()
            expected = [float(model(x[sample : sample + 1])[0, 1])]
            for tile in ranked:
                b, m = starts[tile]
                kept[:, b : b + bins, m : m + frames] = 0
                signal = torch.istft(kept, n_fft, hop, window=hann, length=60).float()
                expected.append(float(model(signal[None])[0, 1]))
            np.testing.assert_allclose(curve.scores[sample], expected, rtol=1e-4, atol=1e-5)
    faithful = spectral_deletion_curve(model, x, spectrogram, 1, bins=3, frames=2)
    shuffled = spectral_deletion_curve(model, x, ranked_by, 1, bins=3, frames=2)
    assert faithful.aopc > shuffled.aopc
    figure = plot_deletion_curves({"gradient_x_input": {"morf": faithful}})
    assert figure.axes[0].get_xlabel() == "fraction of time-frequency cells removed"
    with pytest.raises(
        MethodParameterError, match="frames must be at most the 16 frames of the relevance, got 17"
    ):
        spectral_deletion_curve(model, x, spectrogram, 1, frames=17)
    spectrum = explain_spectrum(model, x, "gradient", target_class=1)
    with pytest.raises(MethodParameterError, match="frames must be 1 for a spectrum"):
        spectral_deletion_curve(model, x, spectrum, 1, frames=2)


def test_compare_methods_and_randomization_in_frequency() -> None:
    """domain='frequency': every method (and the random map) per frequency bin, deletion by band
    stops, the randomization check on maps per bin: each equal to the pieces called directly."""
    import copy

    from signxai.evaluate import compare_methods, model_randomization
    from signxai.evaluate.deletion import seeded_generator
    from signxai.evaluate.randomization import _layers_top_down, _randomize, similarity

    model, x = cosine_reader(), mixture(4)
    table, curves = compare_methods(
        model, x, ["gradient_x_input", "lrpz_epsilon_0_1"], 0, domain="frequency", bins=10
    )
    assert list(table.index) == ["gradient_x_input", "lrpz_epsilon_0_1", "random"]
    spectrum = explain_spectrum(model, x, "lrpz_epsilon_0_1", target_class=0)
    direct = spectral_deletion_curve(model, x, spectrum, 0, bins=10, order="lerf")
    assert curves["lrpz_epsilon_0_1"]["lerf"].unit == "bins"
    np.testing.assert_allclose(table.loc["lrpz_epsilon_0_1", "aopc_lerf"], direct.aopc, rtol=1e-6)
    random = random_relevance(np.zeros((4, 1, 101)), seed=0)
    np.testing.assert_allclose(
        table.loc["random", "aopc_morf"],
        spectral_deletion_curve(model, x, random, 0, bins=10).aopc,
        rtol=1e-6,
    )
    # one layer: the randomized copy's map per bin against the trained model's, by hand
    steps = model_randomization(model, x, "gradient_x_input", 0, seed=0, domain="frequency")
    randomized = copy.deepcopy(model)
    generator = seeded_generator(0)
    for _, layer in _layers_top_down(randomized):
        _randomize(layer, generator)
    trained = explain_spectrum(model, x, "gradient_x_input", 0).relevance
    after = explain_spectrum(randomized, x, "gradient_x_input", 0).relevance
    want = np.mean([similarity(a, b) for a, b in zip(trained, after, strict=True)])
    np.testing.assert_allclose(steps["similarity"].iloc[-1], want, rtol=1e-6)
    np.testing.assert_allclose(
        table.loc["gradient_x_input", "randomized_similarity"], steps["similarity"].iloc[-1]
    )
    assert table.loc["gradient_x_input", "corr_lrpz_epsilon_0_1"] > 0.99  # a linear model: the same ranking
    with pytest.raises(MethodParameterError, match="domain must be one of"):
        compare_methods(model, x, ["gradient"], 0, domain="spectrum")
    with pytest.raises(MethodParameterError, match="infill='linear' fills time windows"):
        compare_methods(model, x, ["gradient"], 0, domain="frequency", infill="linear")


class _BatchSizes(nn.Module):
    """The model, recording the batch size of every forward pass."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.sizes = model, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(x))
        return self.model(x)


def test_large_batches_run_in_parts_with_the_same_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    """A strip's thousands of beats (analyze_strip's spectral curves cover every beat) run through
    the model in parts of CURVE_ROWS rows, giving the scores of one whole batch; the time-domain
    curve shares the code."""
    from signxai.ecg import load_beat_model, load_ecg5000
    from signxai.evaluate import deletion, deletion_curve

    model = _BatchSizes(load_beat_model("5class").eval())
    x = load_ecg5000("test").x[:1100]
    spectrum = explain_spectrum(model, x, "lrpz_epsilon_0_5")
    model.sizes.clear()
    parts = spectral_deletion_curve(model, x, spectrum, bins=8)
    assert max(model.sizes) == deletion.CURVE_ROWS and len(model.sizes) == 3 * (1 + 9)
    in_time = deletion_curve(model, x, np.abs(x), window=20)
    monkeypatch.setattr(deletion, "CURVE_ROWS", 10**6)
    model.sizes.clear()
    whole = spectral_deletion_curve(model, x, spectrum, bins=8)
    assert set(model.sizes) == {1100}
    np.testing.assert_allclose(parts.scores, whole.scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        in_time.scores, deletion_curve(model, x, np.abs(x), window=20).scores, rtol=1e-5, atol=1e-5
    )
