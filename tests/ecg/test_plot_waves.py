"""Plots render to non-empty PNGs; per-wave relevance on the real MIT-BIH strip."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from signxai import InputError
from signxai.ecg import Recording, load_mitbih_208
from signxai.ecg.plot import MAX_PAPER_SECONDS, drawn_seconds, paper_gain, plot_12lead, plot_beats, plot_strip
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
    with pytest.raises(
        InputError, match="plot_strip draws a trace over time: ecg needs 2 or more samples, got 1"
    ):
        plot_strip(ecg[:1], fs, relevance[:1])
    with pytest.raises(InputError, match="plot_beats draws a trace over time: ecg needs 2 or more samples"):
        plot_beats(ecg[None, :1], fs, [0], ["normal"])


@pytest.mark.parametrize("leads", [STANDARD, ["MLII", "V5", "V1"]])
def test_lead_grid_on_ecg_paper_renders_for_any_number_of_leads(tmp_path: Path, strip, leads) -> None:
    ecg, fs, _ = strip
    signal = np.stack([ecg[: 10 * 360] * (1 + 0.1 * i) for i in range(len(leads))])
    relevance = np.random.default_rng(0).normal(size=signal.shape)
    _assert_png(plot_12lead(signal, fs, relevance, leads), tmp_path / "grid.png")


def test_a_beat_is_drawn_whole_in_every_column_of_the_grid(tmp_path: Path, strip) -> None:
    """layout='beat' (a median beat, as carts print it): three rows, each column the whole beat,
    each lead's trace the beat's samples; the rhythm layout of the same second cuts it in four."""
    ecg, fs, peaks = strip
    r = int(peaks[3])
    beat = np.stack([ecg[r - 126 : r + 234] * (1 + 0.1 * i) for i in range(12)])  # one second
    fig = plot_12lead(beat, fs, np.abs(beat), STANDARD, "median", layout="beat")
    rows = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(rows) == 3 and rows[0].get_xlim() == pytest.approx((0.0, 4.0))
    traces = [collection for collection in rows[0].collections if len(collection.get_segments()) > 100]
    starts = sorted(round(float(trace.get_segments()[0][0][0]), 6) for trace in traces)
    assert starts == [0.0, 1.0, 2.0, 3.0]  # I, aVR, V1, V4: each the whole second, side by side
    _assert_png(fig, tmp_path / "beat.png")
    rhythm = [ax for ax in plot_12lead(beat, fs, leads=STANDARD).axes]
    assert len(rhythm) == 4 and rhythm[0].get_xlim() == pytest.approx((0.0, 1.0))
    with pytest.raises(InputError, match=r"layout must be one of \['beat', 'rhythm'\], got 'beats'"):
        plot_12lead(beat, fs, leads=STANDARD, layout="beats")
    assert paper_gain(beat, fs, STANDARD, layout="beat") == 10.0


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


def test_a_lead_grid_wider_than_the_paper_is_refused() -> None:
    """Two leads of five minutes, or ten seconds with fs given in kHz, need metres of ECG paper
    across (before, drawn with a grid line per millimetre until memory ran out: 11 GB at 40
    minutes); the standard layout draws the first 10 s of any length, the beat layout the whole."""
    recording = load_mitbih_208()
    ecg, fs = recording.signal[0], recording.fs
    two = np.stack([ecg, -ecg])  # five minutes
    with pytest.raises(InputError, match=r"ecg lasts 300 s .* needs 295 inches of ECG paper across"):
        plot_12lead(two, fs, leads=["MLII", "V1"])
    with pytest.raises(InputError, match=r"ecg lasts 2400 s \(3600 samples at fs=1\.5 Hz\)"):
        plot_12lead(two[:, :3600], 1.5, leads=["MLII", "V1"])
    limit = int(MAX_PAPER_SECONDS * fs)
    assert plot_12lead(two[:, :limit], fs, leads=["MLII", "V1"]).get_size_inches()[0] <= 101.7
    with pytest.raises(InputError, match=r"its layout \(beat\) needs 200 inches"):  # four columns
        plot_12lead(np.stack([ecg[: limit // 2]] * 12), fs, leads=STANDARD, layout="beat")
    assert drawn_seconds(300 * 360, fs, STANDARD) == 10.0
    assert drawn_seconds(300 * 360, fs, STANDARD, layout="beat") == 300.0
    assert drawn_seconds(300 * 360, fs, ["MLII", "V1"]) == 300.0
    assert drawn_seconds(5 * 360, fs, STANDARD) == 5.0
    twelve = np.stack([ecg[: 300 * 360]] * 12)
    assert len(plot_12lead(twelve, fs, leads=STANDARD).axes) == 4  # its first 10 s


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


def _triangle(n: int, on: int, peak: int, off: int, height: float) -> np.ndarray:
    wave = np.zeros(n)
    wave[on : peak + 1] = np.linspace(0.0, height, peak - on + 1)
    wave[peak : off + 1] = np.linspace(height, 0.0, off - peak + 1)
    return wave


def test_delineation_finds_the_corners_of_straight_limbed_waves() -> None:
    """Waves with straight limbs: the tangent at a limb's steepest point meets the baseline at the
    wave's corner, which a zero-phase low-pass leaves in place (it passes straight lines as they are)."""
    fs, n = 500.0, 2500
    ecg, truth = np.zeros(n), []
    for r in (400, 1000, 1600, 2200):
        p = (r - 110, r - 80, r - 55)  # samples at 500 Hz: P 60 ms up, 50 ms down, PR segment 90 ms
        t = (r + 90, r + 150, r + 190)  # T 120 ms down, 80 ms up (inverted), ST segment 160 ms
        ecg += _triangle(n, *p, 0.15) + _triangle(n, *t, -0.4)
        ecg += _triangle(n, r - 10, r, r + 10, 1.5)
        truth.append((p[0], p[2], t[0], t[2]))
    waves = delineate(ecg, np.array([400, 1000, 1600, 2200]), fs)
    found = waves[["p_on", "p_off", "t_on", "t_off"]].to_numpy()
    error = np.abs(found - np.array(truth))
    assert error[:, [0, 1, 3]].max() <= 1, found  # 2 ms
    assert error[:, 2].max() <= 4, found  # the low-pass overshoots at the corner next to the ST segment
    assert ((waves.qrs_on - (waves.r_peak - 10)).abs() <= 5).all()
    assert ((waves.qrs_off - (waves.r_peak + 10)).abs() <= 5).all()


@pytest.fixture(scope="module")
def carts() -> dict[str, tuple[Recording, np.ndarray, dict[str, np.ndarray]]]:
    """Two real 12-lead ECGs, each with R-peaks (found on lead II) and its cart's fiducial points:
    pydicom's (every beat's P, QRS and T-end points) and the MUSE export's (its median beat's)."""
    from pydicom.data import get_testdata_file

    from signxai.ecg.dicom import read_dicom_annotations
    from signxai.ecg.io import read_record
    from signxai.ecg.xml_ecg import read_xml_annotations

    path = get_testdata_file("waveform_ecg.dcm")
    ecg = read_record(path)
    points = read_dicom_annotations(path).query("group >= 100")  # one group per beat
    points = points.pivot(index="group", columns="text", values="sample")
    names = {"p_on": "P Onset", "p_off": "P Offset", "qrs_on": "QRS Onset", "qrs_off": "QRS Offset"}
    pydicom_cart = {key: points[name].to_numpy() for key, name in {**names, "t_off": "T Offset"}.items()}
    muse = Path(__file__).parent.parent / "data" / "muse" / "sinus_rhythm.xml"
    median = read_record(muse, group="MEDIAN")
    fiducial = read_xml_annotations(muse).query("kind == 'fiducial'").set_index("text")["sample"]
    names = {"p_on": "POnset", "p_off": "POffset", "qrs_on": "QOnset", "qrs_off": "QOffset"}
    muse_cart = {key: np.array([fiducial[name]]) for key, name in {**names, "t_off": "TOffset"}.items()}
    lead_ii = median.signal[median.leads.index("II")]
    return {
        "pydicom": (ecg, detect_r_peaks(ecg.signal[1], ecg.fs), pydicom_cart),
        "muse": (median, np.array([int(np.argmax(np.abs(lead_ii)))]), muse_cart),
    }


def _cart_errors(signal: np.ndarray, fs: float, peaks: np.ndarray, cart: dict[str, np.ndarray]) -> dict:
    waves = delineate(signal, peaks, fs)
    return {key: (waves[key].to_numpy() - value) * 1000.0 / fs for key, value in cart.items()}


def test_delineation_of_lead_ii_agrees_with_two_carts_fiducial_points(carts) -> None:
    ecg, peaks, cart = carts["pydicom"]
    errors = _cart_errors(ecg.signal[ecg.leads.index("II")], ecg.fs, peaks, cart)
    for key, error in errors.items():  # ms; measured medians +1.5, -3, +9, -11, +5; largest 16
        assert abs(np.median(error)) <= 12, (key, error)
        assert np.abs(error).max() <= 20, (key, error)
    median, peaks, cart = carts["muse"]
    errors = _cart_errors(median.signal[median.leads.index("II")], median.fs, peaks, cart)
    for key, error in errors.items():  # ms; measured -18, -2, +10, -10, -22
        assert abs(error[0]) <= 25, (key, error)


def test_delineation_of_all_leads_agrees_with_the_carts_closer(carts) -> None:
    """All leads together (QRS from their spatial velocity, P and T the leads' median): as the
    carts measure. One lead as a (1, samples) array is that lead's delineation."""
    ecg, peaks, cart = carts["pydicom"]
    errors = _cart_errors(ecg.signal, ecg.fs, peaks, cart)
    for key, error in errors.items():  # ms; measured medians +2.5, -6.5, +7, -4, -2.5; largest 11
        assert abs(np.median(error)) <= 8, (key, error)
        assert np.abs(error).max() <= 12, (key, error)
    median, peaks, cart = carts["muse"]
    errors = _cart_errors(median.signal, median.fs, peaks, cart)
    for key, error in errors.items():  # ms; measured -14, -6, +4, -2, -22
        assert abs(error[0]) <= (6 if key.startswith("qrs") else 25), (key, error)
    lead_ii = ecg.signal[1]
    none = peaks[:0]
    pd.testing.assert_frame_equal(delineate(lead_ii[None], none, ecg.fs), delineate(lead_ii, none, ecg.fs))
    peaks = detect_r_peaks(lead_ii, ecg.fs)
    pd.testing.assert_frame_equal(delineate(lead_ii[None], peaks, ecg.fs), delineate(lead_ii, peaks, ecg.fs))
    waves = delineate(ecg.signal, peaks, ecg.fs)
    assert (waves.p_on <= waves.p_off).all() and (waves.p_off < waves.qrs_on).all()
    assert (waves.qrs_off < waves.t_on).all() and (waves.t_on <= waves.t_off).all()
    with pytest.raises(InputError, match=r"ecg must be \(samples,\) or \(leads, samples\), got shape"):
        delineate(ecg.signal[None], peaks, ecg.fs)


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


def test_relevance_per_wave_and_lead_of_a_records_windows(carts) -> None:
    """Maps of overlapping windows are averaged on the record's axis; each wave's sum is that of
    the samples it spans; the shares per lead are the waves' parts of the beats' |relevance|."""
    from signxai.ecg.waves import lead_wave_shares, record_wave_relevance

    ecg, _, _ = carts["pydicom"]
    signal = ecg.signal[:, :6000]
    starts = np.array([0, 1000, 2000, 3000, 4000])  # windows of 2000 samples, half overlapping
    maps = np.stack([np.abs(signal[:, s : s + 2000]) for s in starts])  # |ecg|: the same wherever seen
    found = record_wave_relevance(signal, ecg.fs, {"abs": maps, "neg": -maps}, starts, ecg.leads)
    waves, table = found.waves, found.table
    pd.testing.assert_frame_equal(waves, delineate(signal, detect_r_peaks(signal[1], ecg.fs), ecg.fs))
    # the mean map over the median beat's beats: |ecg| averaged over the same aligned windows
    median = found.median
    aligned = np.stack([np.abs(signal[:, r - 350 : r + 650]) for r in found.r_peaks[median.beats]])
    np.testing.assert_allclose(found.mean_relevance["abs"], aligned.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(found.mean_relevance["neg"], -aligned.mean(axis=0), rtol=1e-12)
    for row in table.sample(40, random_state=0).itertuples():
        lead = np.abs(signal[ecg.leads.index(row.lead)])
        expected = lead[row.start : row.stop + 1].sum()
        assert row.abs_relevance == pytest.approx(expected, rel=1e-9)
        assert row.relevance == pytest.approx(expected if row.method == "abs" else -expected, rel=1e-9)
    shares = lead_wave_shares(table[table.method == "abs"])
    assert list(shares.index) == ["P", "QRS", "T"] and list(shares.columns) == ecg.leads
    beats = table[(table.method == "abs") & (table.wave == "beat")].abs_relevance.sum()
    qrs_ii = table[(table.method == "abs") & (table.wave == "QRS") & (table.lead == "II")].abs_relevance.sum()
    assert shares.loc["QRS", "II"] == pytest.approx(qrs_ii / beats)
    assert 0.5 < shares.to_numpy().sum() < 1.0  # the PR and ST segments hold the rest
    # windows that leave the record's tail out: its beats are not counted (not counted as zero)
    short = record_wave_relevance(signal, ecg.fs, {"abs": maps[:2]}, starts[:2], ecg.leads)
    inside = waves[(waves.p_on >= 0) & (waves.t_off < 3000)]
    assert 0 < len(inside) < len(waves) and set(short.table.beat) == set(inside.beat)
    assert (short.table[short.table.wave == "beat"].abs_relevance > 0).all()
    covered = [k for k in median.beats if 350 <= found.r_peaks[k] <= 3000 - 650]
    assert 0 < len(covered) < len(median.beats)
    np.testing.assert_array_equal(short.mean_beats["abs"], covered)
    partial = np.stack([np.abs(signal[:, r - 350 : r + 650]) for r in found.r_peaks[covered]])
    np.testing.assert_allclose(short.mean_relevance["abs"], partial.mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(found.mean_beats["abs"], median.beats)
    v1 = record_wave_relevance(signal, ecg.fs, {"abs": maps}, starts, ecg.leads, peak_lead="V1")
    assert len(v1.waves) == len(waves) and (found.peak_lead, v1.peak_lead) == ("II", "V1")
    assert found.leads == ecg.leads
    for kwargs, match in (
        ({"fs": 50.0}, "fs must exceed 80 Hz"),
        ({"peak_lead": "X"}, r"peak_lead must be one of the leads \['I', 'II'"),
        ({"peak_lead": 12}, "a row from 0 to 11, got 12"),
        ({"relevance": {}}, "relevance must map method names to maps"),
        ({"relevance": {"abs": maps[:, :2]}}, r"relevance\['abs'\] has 2 lead\(s\) per window"),
        ({"starts": starts[:-1]}, r"starts must hold one whole sample index per window \(5\)"),
        (
            {"starts": starts + 5000},
            "starts: a window starting at sample 9000 runs past the record's 6000 samples",
        ),
        ({"ecg": np.zeros((12, 6000))}, "no beats were detected on lead II"),
        (
            {"relevance": {"abs": maps[:, :, :300]}},
            r"relevance\['abs'\]: its windows hold no whole beat of the 6 detected",
        ),
    ):
        call = {"ecg": signal, "fs": ecg.fs, "relevance": {"abs": maps}, "starts": starts, "leads": ecg.leads}
        with pytest.raises(InputError, match=match):
            record_wave_relevance(**{**call, **kwargs})
