"""Plots render to non-empty PNGs; per-wave relevance on the real MIT-BIH strip."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from signxai import InputError
from signxai.ecg import load_mitbih_208
from signxai.ecg.plot import paper_gain, plot_12lead, plot_beats, plot_strip
from signxai.ecg.preprocess import detect_r_peaks
from signxai.ecg.relevance import normalize_ecg_relevancemap, normalize_signed, windows_to_strip
from signxai.ecg.waves import delineate, plot_wave_relevance, summarize, wave_relevance

STANDARD = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def _assert_png(fig, path: Path) -> None:
    fig.savefig(path, dpi=60)
    image = mpimg.imread(path)
    assert path.stat().st_size > 5_000
    assert image.std() > 0.01  # not a blank canvas


@pytest.fixture(scope="module")
def strip() -> tuple[np.ndarray, float, np.ndarray]:
    recording = load_mitbih_208()
    ecg = recording.signal[0, : 20 * 360]
    return ecg, recording.fs, detect_r_peaks(ecg, recording.fs)


def test_strip_and_beat_plots_render(tmp_path: Path, strip) -> None:
    ecg, fs, peaks = strip
    relevance = np.sin(np.arange(len(ecg)) / 50.0)
    _assert_png(plot_strip(ecg, fs, relevance, title="strip"), tmp_path / "strip.png")
    labels = ["normal" if i % 3 else "PVC" for i in range(len(peaks))]
    _assert_png(plot_beats(ecg, fs, peaks, labels, relevance), tmp_path / "beats.png")
    with pytest.raises(InputError, match="relevance must have the shape of ecg"):
        plot_strip(ecg, fs, relevance[:10])


@pytest.mark.parametrize("leads", [STANDARD, ["MLII", "V5", "V1"]])
def test_lead_grid_on_ecg_paper_renders_for_any_number_of_leads(tmp_path: Path, strip, leads) -> None:
    ecg, fs, _ = strip
    signal = np.stack([ecg[: 10 * 360] * (1 + 0.1 * i) for i in range(len(leads))])
    relevance = np.random.default_rng(0).normal(size=signal.shape)
    _assert_png(plot_12lead(signal, fs, relevance, leads), tmp_path / "grid.png")


def test_a_lead_grid_in_microvolts_is_refused_or_drawn_at_a_gain_that_fits(tmp_path: Path, strip) -> None:
    """In uV the 12-lead grid needs 8625 inches of paper at 10 mm/mV (drawn silently before: a
    PNG of hundreds of megapixels); the error gives the gain that fits, at which it is drawn."""
    ecg, fs, _ = strip
    signal = np.stack([ecg[: 10 * 360] * (1 + 0.1 * i) for i in range(12)]) * 1000.0
    with pytest.raises(InputError, match=r"need \d+ inches of ECG paper .* \(uV / 1000\) or gain=0\.\d+"):
        plot_12lead(signal, fs, leads=STANDARD)
    gain = paper_gain(signal, fs, STANDARD)
    assert gain < 10 and paper_gain(signal / 1000.0, fs, STANDARD) == 10.0
    fig = plot_12lead(signal, fs, leads=STANDARD, title="uV", gain=gain)
    assert fig.get_size_inches()[1] <= 101 and f"{gain:g} mm/mV" in fig._suptitle.get_text()
    _assert_png(fig, tmp_path / "uv.png")
    with pytest.raises(InputError, match="gain must be a positive number of mm per mV"):
        plot_12lead(signal / 1000.0, fs, leads=STANDARD, gain=0)


def test_normalisations() -> None:
    r = np.array([-2.0, 0.0, 1.0])
    np.testing.assert_allclose(normalize_ecg_relevancemap(r), [0.0, 2 / 3, 1.0])
    np.testing.assert_allclose(normalize_signed(r), [-1.0, 0.0, 0.5])
    np.testing.assert_allclose(normalize_ecg_relevancemap(np.ones(3)), np.ones(3))


def test_windows_to_strip_keeps_each_window_sum() -> None:
    relevance = np.ones((2, 1, 10))
    strip = windows_to_strip(relevance, np.array([0, 50]), np.array([20, 70]), 100)
    assert strip[0, :20].sum() == pytest.approx(10.0)
    assert strip[0, 20:50].sum() == 0.0


def test_delineation_on_the_real_strip_is_physiological(strip) -> None:
    ecg, fs, peaks = strip
    waves = delineate(ecg, peaks, fs)
    assert len(waves) == len(peaks)
    width_ms = (waves.qrs_off - waves.qrs_on) / fs * 1000
    assert width_ms.between(40, 280).all()
    assert (waves.p_on <= waves.p_off).all() and (waves.p_off <= waves.qrs_on).all()
    assert (waves.qrs_on <= waves.r_peak).all() and (waves.r_peak <= waves.qrs_off).all()
    assert (waves.qrs_off < waves.t_on).all() and (waves.t_on <= waves.t_off).all()


def test_wave_relevance_table_sums_and_shares(tmp_path: Path, strip) -> None:
    ecg, fs, peaks = strip
    waves = delineate(ecg, peaks, fs)
    relevance = np.zeros((1, len(ecg)))
    first = waves.iloc[1]
    relevance[0, first.qrs_on : first.qrs_off + 1] = 1.0
    labels = ["PVC" if i == 1 else "normal" for i in range(len(waves))]
    table = wave_relevance(relevance, waves, ["MLII"], labels)
    row = table[(table.beat == 1) & (table.wave == "QRS")].iloc[0]
    assert row.relevance == pytest.approx(first.qrs_off - first.qrs_on + 1)
    assert row.share == pytest.approx(1.0)
    assert table[(table.beat == 1) & (table.wave == "T")].abs_relevance.iloc[0] == 0.0
    summary = summarize(table)
    assert summary.loc["QRS", "PVC"] == pytest.approx(1.0)
    _assert_png(plot_wave_relevance(table), tmp_path / "waves.png")
    with pytest.raises(InputError, match="labels"):
        wave_relevance(relevance, waves, ["MLII"], labels[:-1])


def test_spectrum_plot_renders_for_the_shipped_model(tmp_path: Path) -> None:
    from signxai import explain_spectrum
    from signxai.ecg import load_beat_model, load_ecg5000
    from signxai.ecg.plot import plot_spectrum

    beats = load_ecg5000("test").x[:4]
    result = explain_spectrum(load_beat_model("5class"), beats, "lrpz_epsilon_0_1")
    _assert_png(plot_spectrum(result, sample=2, title="beat 2"), tmp_path / "spectrum.png")
    one = explain_spectrum(load_beat_model("5class"), beats[0], "gradient", fs=140.0)
    assert one.relevance.shape == (1, 71)
    fig = plot_spectrum(one)
    assert fig.axes[0].get_xlabel() == "frequency (Hz)"
    with pytest.raises(InputError, match=r"sample must be an int in \[0, 4\)"):
        plot_spectrum(result, sample=4)
    with pytest.raises(InputError, match="channel must be an int"):
        plot_spectrum(result, channel=1)
    with pytest.raises(InputError, match="channel must be an int"):
        plot_spectrum(one, sample=3, channel=1)  # one beat: no sample axis
    with pytest.raises(InputError, match="explain_spectrum returns"):
        plot_spectrum(beats)  # type: ignore[arg-type]


def test_spectrogram_plot_renders_on_the_real_strip(tmp_path: Path, strip) -> None:
    import torch

    from signxai import explain_spectrogram
    from signxai.ecg.models import ECGModel
    from signxai.ecg.plot import plot_spectrogram

    ecg, fs, _ = strip
    window = ecg[: 5 * 360].astype(np.float32)
    torch.manual_seed(0)
    model = ECGModel(length=len(window)).eval()
    result = explain_spectrogram(model, window[None], "lrpz_epsilon_0_1", n_fft=128, hop=32, fs=fs)
    assert result.axes == ("channel", "bin", "frame") and result.relevance.shape == (1, 65, 57)
    _assert_png(plot_spectrogram(result, ecg=window, title="5 s of 208"), tmp_path / "spectrogram.png")
    _assert_png(plot_spectrogram(result), tmp_path / "bare.png")
    with pytest.raises(InputError, match="ecg must have the 1800 samples"):
        plot_spectrogram(result, ecg=window[:100])
    with pytest.raises(InputError, match=r"channel must be an int in \[0, 1\)"):
        plot_spectrogram(result, channel=2)
    with pytest.raises(InputError, match="explain_spectrogram returns"):
        plot_spectrogram(window)  # type: ignore[arg-type]
