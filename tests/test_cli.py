"""The CLI on the shipped data. Most commands run in this process through click's runner
(``run_here``: the same command, options and messages, without the seconds a new interpreter
spends importing torch); the demo, a Keras model's explanation (Keras's import order), ``python -m
signxai``, the LRP options under a changed environment and one refusal run through the installed
entry point in subprocesses (``run``)."""

from __future__ import annotations

import base64
import contextlib
import io
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import wfdb

from signxai import OutputWindow, explain
from signxai.cli import main
from signxai.ecg import ECGModel, load_mitbih_208
from signxai.ecg.analysis import DEFAULT_METHODS
from signxai.ecg.io import write_record
from signxai.ecg.plot import paper_gain
from signxai.ecg.preprocess import lowpass, notch, remove_baseline, resample, windows, znormalize

SCRIPT = Path(sys.executable).parent / "signxai"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=600, cwd=cwd)


def run_here(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI run in this process by click's runner: the same command and messages as the
    entry point (``test_a_refusal_through_the_entry_point`` compares one refusal, the demo runs
    there) without the seconds a new interpreter spends importing torch. A crash re-raises with
    its traceback instead of passing as an exit status."""
    from click.testing import CliRunner

    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click 8.1
    except TypeError:
        runner = CliRunner()  # click 8.2 and later keep stderr apart themselves
    result = runner.invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash, not a refusal: its traceback
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("demo")
    result = run("demo", "--out", str(out), "--quiet", "--abnormal", "3", "--normal", "2")
    return out, result


def test_demo_writes_a_report_with_every_method(demo_report) -> None:
    out, result = demo_report
    assert result.returncode == 0, result.stderr
    report = Path(result.stdout.strip().splitlines()[-1])
    assert report == (out / "report.html").resolve() and report.exists()
    page = report.read_text()
    for method in DEFAULT_METHODS:
        # one figure per explained beat (3 abnormal + 2 normal) for every method
        assert page.count(f'alt="{method} relevance, beat ') == 5, method
    assert page.count("data:image/png;base64,") >= 5 + 10  # beats, strip rows, waves, comparison
    assert "Relevance per wave" in page and "Model card" in page and "AOPC MoRF" in page
    assert 'id="spectrum"' in page and "lrpz_epsilon_0_5" in page  # relevance per harmonic, all beats
    assert "beat samples seen" in page and "0-109 of 0-139" in page  # measured on the model
    assert 'id="quality"' in page and "25 of 30 windows of 10 s acceptable" in page
    assert len((out / "quality.csv").read_text().splitlines()) == 31  # a row per 10 s, and the header
    # the binary model's card: accuracy with its interval, balanced accuracy, recall per class
    assert "0.9873 (95 % interval 0.9836-0.9902); balanced (mean recall) 0.9855" in page
    assert "normal 0.996, abnormal 0.975" in page
    assert "<script" not in page and "http" not in re.sub(r"data:image[^\"]+", "", page)
    import edfio  # strip.edf: the lead and one relevance channel per method, for EDF viewers

    written = edfio.read_edf(out / "strip.edf")
    assert [s.transducer_type for s in written.signals] == ["", *DEFAULT_METHODS]
    spans = [note for note in written.annotations if note.duration is not None]
    assert len(written.annotations) - len(spans) == len(np.load(out / "relevance.npz")["all_r_peaks"])
    # the five windows that fail the signal-quality rules, each over its 10 s
    assert [(note.onset, note.duration) for note in spans] == [
        (t, 10.0) for t in (20.0, 40.0, 50.0, 90.0, 210.0)
    ]
    assert all(note.text.startswith("quality rules failed: ") for note in spans)


def test_beats_on_the_demo_strip_saved_as_an_array_gives_the_demos_results(demo_report, tmp_path) -> None:
    """``signxai beats`` runs the demo's analysis on a recording of one's own: the shipped strip,
    saved as .npy, gives the demo's relevance.npz and wave table exactly."""
    demo_out, _ = demo_report
    array = tmp_path / "strip.npy"
    np.save(array, load_mitbih_208().signal)
    out = tmp_path / "beats"
    result = run_here("beats", str(array), "--fs", "360", "--lead", "lead0", "--out", str(out), "--quiet",
                      "--abnormal", "3", "--normal", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    ours, demo = np.load(out / "relevance.npz"), np.load(demo_out / "relevance.npz")
    assert sorted(ours.files) == sorted(demo.files)
    for key in demo.files:
        np.testing.assert_array_equal(ours[key], demo[key], err_msg=key)
    # every beat's R-peak, call and probabilities; the explained beats' rows among them
    assert len(demo["all_r_peaks"]) == len(demo["all_predicted"]) == len(demo["all_probabilities"])
    np.testing.assert_array_equal(demo["all_predicted"][demo["beat_index"]], demo["predicted"])
    np.testing.assert_array_equal(demo["all_predicted"], demo["all_probabilities"].argmax(1))
    np.testing.assert_array_equal(demo["all_r_peaks"][demo["beat_index"]], demo["starts"] + round(0.02 * 360))
    # the array names no lead: 'lead0' where the demo's strip says 'MLII'
    table = (out / "wave_relevance.csv").read_text().replace(",lead0,", ",MLII,")
    assert table == (demo_out / "wave_relevance.csv").read_text()
    quality = (out / "quality.csv").read_text().replace("\nlead0,", "\nMLII,")
    assert quality == (demo_out / "quality.csv").read_text()


def test_beats_cuts_a_wfdb_record_at_its_annotated_r_peaks(tmp_path: Path) -> None:
    """--annotations atr: the beats lie between the annotation file's R-peaks (every other
    peak of the detector's here, so the beats differ from the detected ones), counted from
    --start; the report says the R-peaks were given."""
    from signxai.ecg.preprocess import detect_r_peaks

    strip = load_mitbih_208()
    record = tmp_path / "r208"
    write_record(strip, record)
    peaks = detect_r_peaks(strip.signal[0], strip.fs)[::2]
    wfdb.wrann("r208", "atr", peaks, symbol=["N"] * len(peaks), fs=strip.fs, write_dir=str(tmp_path))
    out = tmp_path / "out"
    result = run_here("beats", str(record), "--lead", "MLII", "--start", "30", "--duration", "60",
                      "--annotations", "atr", "--method", "gradient", "--abnormal", "1", "--normal", "1",
                      "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    inside = peaks[(peaks >= 30 * 360) & (peaks < 90 * 360)] - 30 * 360
    assert (
        f"R-peak detector against the annotation: sensitivity 100.00 % ({len(inside)} of "
        f"{len(inside)} reference beats; 0 missed)" in result.stdout
    )
    assert "signal quality: lead MLII: " in result.stdout  # judged with the given R-peaks
    starts = saved["starts"] + round(0.02 * 360)  # a beat starts 20 ms before its R-peak
    assert len(starts) == 2 and np.isin(starts, inside).all()
    np.testing.assert_array_equal(
        saved["stops"] + round(0.02 * 360), inside[np.searchsorted(inside, starts) + 1]
    )
    page = (out / "report.html").read_text()
    assert f"{len(inside) - 1} beats cut at the R-peaks given and classified" in page
    assert 'id="reference"' in page and f"Codes per class: N: N {len(inside) - 1}." in page
    assert saved["reference"].tolist() == ["N", "N"]  # the explained beats' codes
    assert saved["all_reference"].tolist() == ["N"] * (len(inside) - 1)
    # the detector on the same minute, scored against the annotation: it finds every annotated
    # beat (each is a peak it found on the whole record) and the other half as extra beats
    detected, pairs = saved["detected_r_peaks"], saved["detection_pairs"]
    assert pairs[:, 1].tolist() == list(range(len(inside)))
    assert np.abs(detected[pairs[:, 0]] - inside).max() <= 2
    assert abs(len(detected) - 2 * len(inside)) <= 2 and 'id="peaks"' in page


def test_beats_reads_the_beats_an_edf_plus_file_carries(tmp_path: Path) -> None:
    """An EDF+ file with the ECG at 360 Hz, a respiration channel at 25 Hz (so not every channel
    can be read as one recording) and its R-peaks annotated 'QRS': --lead reads the ECG alone,
    --annotations alone reads the file's own annotations, --annotation-code QRS=N their code.
    Without --lead the first lead is read alone: the demo's analysis of the strip's MLII."""
    import edfio

    from signxai.ecg.preprocess import detect_r_peaks

    strip = load_mitbih_208().signal[0, : 90 * 360]
    peaks = detect_r_peaks(strip, 360.0)
    record = tmp_path / "night.edf"
    edfio.Edf(
        [
            edfio.EdfSignal(strip, sampling_frequency=360, label="MLII", physical_dimension="mV"),
            edfio.EdfSignal(np.zeros(90 * 25), sampling_frequency=25, label="Resp", physical_dimension="Ohm"),
        ],
        annotations=[edfio.EdfAnnotation(p / 360, None, "QRS") for p in peaks]
        + [edfio.EdfAnnotation(1.0, 30.0, "Lights off")],
    ).write(record)
    out = tmp_path / "out"
    result = run_here("beats", str(record), "--lead", "MLII", "--start", "30", "--duration", "60",
                      "--annotations", "--annotation-code", "QRS=N", "--method", "gradient",
                      "--abnormal", "1", "--normal", "1", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    inside = peaks[(peaks >= 30 * 360) & (peaks < 90 * 360)] - 30 * 360
    assert (
        f"R-peak detector against the annotation: sensitivity 100.00 % ({len(inside)} of "
        f"{len(inside)} reference beats; 0 missed)" in result.stdout
    )
    saved = np.load(out / "relevance.npz")
    assert saved["all_reference"].tolist() == ["N"] * (len(inside) - 1)
    np.testing.assert_array_equal(saved["all_r_peaks"], inside[:-1])
    first = run_here(
        "beats", str(record), "--quiet", "--method", "gradient", "--no-edf", "--out", str(tmp_path / "first")
    )
    assert first.returncode == 0, first.stderr
    assert not (tmp_path / "first" / "strip.edf").exists() and (out / "strip.edf").exists()
    assert "MLII" in (tmp_path / "first" / "wave_relevance.csv").read_text()
    for args, message in [
        (["--annotations"], "none of the .* annotations of '.*night.edf' is a beat: their texts are 'QRS'"),
        (["--annotations", "atr"], "the file '.*night.edf' carries its annotations itself"),
        (["--annotation-code", "QRS=N"], "--annotation-code reads annotations: it needs --annotations"),
        (["--annotations", "--annotation-code", "QRS"], "--annotation-code must be TEXT=CODE"),
        (["--annotations", "--annotation-code", "QRS=X"], r"--annotation-code maps \{'QRS': 'X'\}"),
        (["--lead", "1"], r"'Resp' \(Ohm\) are not in units of voltage .*; choose --lead among the ECG"),
    ]:
        lead = [] if "--lead" in args else ["--lead", "MLII"]
        failed = run_here("beats", str(record), *lead, *args, "--quiet", "--out", str(tmp_path / "no"))
        assert failed.returncode == 2 and re.search(message, failed.stderr), (args, failed.stderr)


def test_beats_explains_a_real_dicom_12_lead_ecg(tmp_path: Path) -> None:
    """pydicom's real 12-lead ECG (10 s at 1000 Hz): lead II read alone from the rhythm group,
    its ten beats cut and classified, one per call explained."""
    from pydicom.data import get_testdata_file

    out = tmp_path / "out"
    result = run_here("beats", get_testdata_file("waveform_ecg.dcm"), "--lead", "II", "--method", "gradient",
                      "--abnormal", "1", "--normal", "1", "--quiet", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    assert len(saved["all_r_peaks"]) == 9  # ten peaks, nine beats between them
    calls = saved["all_predicted"]  # one beat of each call the model made (1 abnormal, 1 normal asked)
    assert len(saved["beat_index"]) == min(1, int((calls == 1).sum())) + min(1, int((calls == 0).sum()))
    assert ",II," in (out / "wave_relevance.csv").read_text()


MUSE = Path(__file__).parent / "data" / "muse" / "sinus_rhythm.xml"


def test_beats_on_a_real_muse_export_scored_against_the_carts_beats(tmp_path: Path) -> None:
    """A real GE MUSE file's lead II (10 s at 500 Hz): its 16 beats found, scored against the
    cart's own QRS times (--annotations, their morphology class mapped to N)."""
    out = tmp_path / "out"
    common = ["--lead", "II", "--method", "gradient", "--quiet", "--no-edf", "--out", str(out)]
    result = run_here("beats", str(MUSE), "--annotations", "--annotation-code", "QRS type 0=N", *common)
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    assert len(saved["all_r_peaks"]) == 15  # beats cut at the cart's 16 QRS times: 15 complete ones
    assert len(saved["detected_r_peaks"]) == 16  # signxai's detector, scored against them
    np.testing.assert_array_equal(saved["detection_pairs"], np.stack([np.arange(16)] * 2, axis=1))
    refused = run_here("beats", str(MUSE), "--annotations", *common)
    assert refused.returncode == 2 and "'QRS type 0' 16" in refused.stderr, refused.stderr


def test_explain_a_muse_export_with_its_limb_leads_derived(tmp_path: Path) -> None:
    """--derive-limb-leads on a MUSE file's eight leads: the 12 standard leads in order, the
    derived four by Einthoven's and Goldberger's relations, explained as explain() explains them."""
    from signxai.ecg.io import read_record

    model = ECGModel(length=2500, input_channels=12, num_classes=3).eval()
    scripted = tmp_path / "model.pt"
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 12, 2500)), str(scripted))
    out = tmp_path / "out"
    common = ["--model", str(scripted), "--method", "gradient", "--explain-output", "activation",
              "--window", "2500", "--quiet", "--out", str(out)]  # fmt: skip
    result = run_here("explain", str(MUSE), "--derive-limb-leads", *common)
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    stored = read_record(MUSE).signal  # I, II, V1-V6
    i, ii = stored[0], stored[1]
    twelve = np.stack([i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2, *stored[2:]])
    np.testing.assert_allclose(saved["inputs"], twelve.reshape(12, 2, 2500).transpose(1, 0, 2), atol=1e-6)
    direct = explain(model, saved["inputs"], "gradient", explain_output="activation")
    np.testing.assert_allclose(saved["relevance/gradient"], direct, rtol=1e-5, atol=1e-9)
    # relevance per wave and lead: every row's sum is the map's sum over those samples of that lead
    import pandas as pd

    table = pd.read_csv(out / "wave_relevance.csv")
    strip = np.concatenate(list(saved["relevance/gradient"]), axis=-1)  # two windows side by side
    assert set(table.lead) == set(saved["leads"]) and table.beat.nunique() == 16  # the cart's 16 beats
    for row in table.sample(60, random_state=0).itertuples():
        part = strip[list(saved["leads"]).index(row.lead), row.start : row.stop + 1]
        assert row.abs_relevance == pytest.approx(np.abs(part).sum(), rel=1e-6)
    page = (out / "report.html").read_text()
    assert "Relevance per wave and lead" in page and "16 beats detected on lead II" in page
    assert 'alt="gradient: the median beat coloured by the mean relevance"' in page
    assert "Intervals (medians over the beats)" in page and "<th>qt_ms</th>" in page
    quality = pd.read_csv(out / "quality.csv")  # each lead of the real ECG: an acceptable 10 s
    assert list(quality.lead) == list(saved["leads"]) and quality.acceptable.all()
    assert 'id="quality"' in page and "lead aVF: 1 of 1 window of 10 s acceptable" in page
    assert "warning" not in result.stderr
    two = ECGModel(length=2500, input_channels=2, num_classes=3).eval()
    torch.jit.save(torch.jit.trace(two, torch.zeros(1, 2, 2500)), str(scripted))
    chosen = run_here("explain", str(MUSE), "--derive-limb-leads", "--leads", "aVF,II", *common)
    assert chosen.returncode == 0, chosen.stderr
    np.testing.assert_allclose(np.load(out / "relevance.npz")["inputs"][0], twelve[[5, 1], :2500], atol=1e-6)
    missing = run_here("explain", str(MUSE), "--leads", "aVF,II", *common)  # aVF is derived, not stored
    assert missing.returncode == 2 and "--leads ['aVF'] are not in the record" in missing.stderr


def test_detect_scores_several_records_as_ec57_does(tmp_path: Path) -> None:
    """Record 208 (WFDB, its reference an independent detector's beats: neurokit2's) and the real
    MUSE file (its cart's beats): each record's counts equal match_peaks on the same detections,
    the gross row their sums, the average row the mean of the records' Se and +P."""
    import pandas as pd

    from signxai.cli import detect
    from signxai.ecg import load_mitbih_208
    from signxai.ecg.io import BeatAnnotations, read_beat_annotations, read_record, write_record
    from signxai.ecg.preprocess import MIN_STEEPNESS, detect_r_peaks, remove_baseline
    from signxai.ecg.scoring import match_peaks

    nk = pytest.importorskip("neurokit2")
    strip = load_mitbih_208()
    _, info = nk.ecg_peaks(nk.ecg_clean(strip.signal[0], sampling_rate=strip.fs), sampling_rate=strip.fs)
    reference = np.asarray(info["ECG_R_Peaks"])
    write_record(
        strip, tmp_path / "r208", annotations=BeatAnnotations(reference, ["N"] * len(reference), strip.fs)
    )
    muse = tmp_path / "muse.xml"
    muse.write_bytes(MUSE.read_bytes())
    out = tmp_path / "out"
    common = ["--annotations", "--annotation-code", "QRS type 0=N", "--out", str(out)]
    result = run_here("detect", str(tmp_path / "r208"), str(muse), "--lead", "0", *common)
    assert result.returncode == 0, result.stderr
    scores = pd.read_csv(out / "scores.csv", index_col="record")
    expected = {}
    for name, path, lead in [("r208", tmp_path / "r208", "MLII"), ("muse.xml", muse, "I")]:
        record = read_record(path, leads=lead)
        detected = detect_r_peaks(remove_baseline(record.signal[0], record.fs), record.fs)
        marked = read_beat_annotations(path, codes={"QRS type 0": "N"})
        expected[name] = match_peaks(detected, marked.samples, record.fs)
        row = scores.loc[name]
        match = expected[name]
        assert (row.reference, row.detected, row.TP, row.FN, row.FP) == (
            len(match.reference), len(match.detected), match.true_positives, match.false_negatives,
            match.false_positives,
        )  # fmt: skip
        assert row.Se == pytest.approx(match.sensitivity) and row["+P"] == pytest.approx(
            match.positive_predictivity
        )
    assert scores.loc["r208", "Se"] > 0.98 and scores.loc["muse.xml", "Se"] == 1.0
    gross = scores.loc["gross"]
    assert gross.TP == sum(m.true_positives for m in expected.values())
    assert gross.Se == pytest.approx(gross.TP / gross.reference)
    assert scores.loc["average", "+P"] == pytest.approx(
        np.mean([m.positive_predictivity for m in expected.values()])
    )
    peaks = pd.read_csv(out / "r_peaks.csv")
    assert peaks.groupby("record").size().to_dict() == {n: len(m.detected) for n, m in expected.items()}
    assert set(peaks.lead) == {"MLII", "I"} and "within 150 ms" in result.stdout
    quality = pd.read_csv(out / "quality.csv", keep_default_na=False)
    assert quality.groupby("record").size().to_dict() == {"r208": 30, "muse.xml": 1}
    assert quality.groupby("record").beats.sum().to_dict() == {
        n: len(m.detected) for n, m in expected.items()
    }
    assert "signal quality of muse.xml: lead I: 1 of 1 window of 10 s acceptable by" in result.stdout
    assert "signal quality of r208: lead MLII: 25 of 30 windows of 10 s acceptable (failed:" in result.stdout
    alone = run_here("detect", str(muse), "--lead", "II", "--out", str(tmp_path / "alone"))  # no reference
    assert alone.returncode == 0 and not (tmp_path / "alone" / "scores.csv").exists(), alone.stderr
    assert len(pd.read_csv(tmp_path / "alone" / "r_peaks.csv")) == 16
    plain = run_here("detect", str(tmp_path / "r208"), "--no-search-back", "--out", str(tmp_path / "plain"))
    assert plain.returncode == 0, plain.stderr  # the detector without its search-back: one beat fewer
    without = detect_r_peaks(remove_baseline(strip.signal[0], strip.fs), strip.fs, search_back=False)
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "plain" / "r_peaks.csv")["sample"], without)
    assert len(without) == len(expected["r208"].detected) - 1
    shallow = run_here(
        "detect", str(tmp_path / "r208"), "--min-steepness", "0", "--out", str(tmp_path / "shallow")
    )
    assert shallow.returncode == 0, shallow.stderr  # every peak kept: on record 208 the same peaks
    kept = detect_r_peaks(remove_baseline(strip.signal[0], strip.fs), strip.fs, min_steepness=0)
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "shallow" / "r_peaks.csv")["sample"], kept)
    default = next(p.default for p in detect.params if p.name == "min_steepness")
    assert default == MIN_STEEPNESS  # the option's default is the detector's
    for args, message in [
        (["--annotation-code", "QRS=N"], "--annotation-code reads annotations: it needs --annotations"),
        (["--annotations", "--tolerance", "0"], "--tolerance must be a positive number of seconds"),
        (["--tolerance", "0.1"], "--tolerance is the window the peaks are scored in: it needs --annotations"),
        (
            [str(muse), "--annotations", "--annotation-code", "QRS type 0=N"],
            "name ['muse.xml'] more than once",
        ),
        (["--annotations", "qrs"], "extension names a WFDB annotation file, got 'qrs'"),
        (["--min-steepness", "1"], "--min-steepness must be at least 0 and below 1"),
    ]:
        failed = run_here("detect", str(muse), *args, "--out", str(tmp_path / "no"))
        assert failed.returncode == 2 and message in failed.stderr, (args, failed.stderr)


def test_convert_writes_what_read_record_reads_with_the_beats_beside_it(tmp_path: Path) -> None:
    """The real MUSE file to EDF+ with its limb leads derived and the cart's beats, the shipped
    strip (as .npy) to WFDB: read back within the format's step, the beats exact."""
    from signxai.ecg import load_mitbih_208
    from signxai.ecg.io import read_beat_annotations, read_record
    from signxai.ecg.leads import derive_limb_leads

    out = tmp_path / "out"
    beats = ["--annotations", "--annotation-code", "QRS type 0=N"]
    result = run_here(
        "convert", str(MUSE), "--derive-limb-leads", *beats, "--format", "edf", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "12 leads, 10 s at 500 Hz, 16 beats" in result.stdout
    twelve = derive_limb_leads(read_record(MUSE))
    back = read_record(out / "sinus_rhythm.edf")
    assert back.leads == twelve.leads and back.fs == 500.0
    steps = np.ptp(twelve.signal, axis=1, keepdims=True) / 65535  # EDF's 16 bits over each lead's range
    assert np.all(np.abs(back.signal - twelve.signal) <= steps / 2 + 1e-9)
    cart = read_beat_annotations(MUSE, codes={"QRS type 0": "N"})
    written = read_beat_annotations(out / "sinus_rhythm.edf")
    np.testing.assert_array_equal(written.samples, cart.samples)
    assert written.symbols == ["N"] * 16
    strip = load_mitbih_208()
    np.save(tmp_path / "strip.npy", strip.signal)
    result = run_here("convert", str(tmp_path / "strip.npy"), "--fs", "360", "--start", "10",
                      "--duration", "20", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    wfdb = read_record(out / "strip")
    assert wfdb.fs == 360.0 and wfdb.signal.shape == (1, 7200)
    np.testing.assert_allclose(wfdb.signal, strip.signal[:, 3600:10800], atol=1e-3)
    np.save(tmp_path / "my strip ü.npy", strip.signal[:, :3600])  # a WFDB record name holds neither
    result = run_here("convert", str(tmp_path / "my strip ü.npy"), "--fs", "360", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("my_strip__.hea")
    assert read_record(out / "my_strip__").signal.shape == (1, 3600)
    for args, message in [
        ([str(MUSE), str(MUSE)], "RECORDS name ['sinus_rhythm'] more than once"),
        ([str(MUSE), *beats, "--group", "MEDIAN"], "--annotations are the rhythm's beats: leave --group out"),
        ([str(tmp_path / "strip.npy"), "--fs", "360", "--derive-limb-leads"], "leads 'I' and 'II'"),
        ([str(MUSE), "--leads", "aVF"], "--leads ['aVF'] are not in the record"),
        ([str(tmp_path / "strip.npy"), "--fs", "360", "--annotations"], "--annotations needs a WFDB record"),
    ]:
        failed = run_here("convert", *args, "--out", str(tmp_path / "no"))
        assert failed.returncode == 2 and message in failed.stderr, (args, failed.stderr)


def test_demo_relevance_npz_equals_explain(demo_report) -> None:
    from signxai.ecg import load_beat_model

    out, result = demo_report
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    model = load_beat_model("binary")
    direct = explain(model, saved["beats"], "lrpsign_epsilon_0_5", target_class=saved["predicted"].tolist())
    np.testing.assert_allclose(saved["relevance/lrpsign_epsilon_0_5"], direct, rtol=1e-5, atol=1e-7)
    assert (out / "wave_relevance.csv").exists()
    # every beat per harmonic (the --spectrum default); the explained beats' rows as explain_spectrum's
    from signxai import explain_spectrum

    spectrum = saved["spectrum/lrpz_epsilon_0_5"]
    assert spectrum.shape[1:] == (1, 71) and spectrum.shape[0] > saved["beats"].shape[0]
    np.testing.assert_allclose(saved["spectrum_frequencies"], np.arange(71) / 140)
    alone = explain_spectrum(
        model, saved["beats"], "lrpz_epsilon_0_5", target_class=saved["predicted"].tolist()
    )
    np.testing.assert_allclose(spectrum[saved["beat_index"]], alone.relevance, rtol=1e-4, atol=1e-6)


def test_python_dash_m_and_methods_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "signxai", "methods"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "lrpsign_" in result.stdout and "integrated_gradients" in result.stdout


def test_version_names_signxai_torch_zennit_and_python() -> None:
    from importlib.metadata import version

    from click.testing import CliRunner

    import signxai

    python = ".".join(str(part) for part in sys.version_info[:3])
    expected = (
        f"signxai {signxai.__version__} (torch {version('torch')}, zennit {version('zennit')}, "
        f"Python {python})\n"
    )
    assert signxai.__version__ == version("signxai")
    for flag in ("--version", "-V"):
        result = CliRunner().invoke(main, [flag, "methods"])  # eager: the command does not run
        assert result.exit_code == 0 and result.stdout == expected, result.output


def test_warnings_are_one_line_each_and_the_handler_is_put_back() -> None:
    """In the CLI a warning is a 'signxai: warning:' line with the options as the CLI spells them;
    after the command (run in this process) Python's own warning display is back."""
    from click.testing import CliRunner

    from signxai.cli import _show_warning

    shown = warnings.showwarning
    assert CliRunner().invoke(main, ["methods"]).exit_code == 0
    assert warnings.showwarning is shown
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        _show_warning(UserWarning("pass batchnorm='pass' instead"), UserWarning, "f.py", 1)
    assert buffer.getvalue() == "signxai: warning: pass --batchnorm pass instead\n"


@pytest.fixture(scope="module")
def record_and_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("explain")
    strip = load_mitbih_208()
    strip.signal = strip.signal[:, : 20 * 360]
    record = folder / "r208"
    write_record(strip, record)
    torch.manual_seed(0)
    model = ECGModel(length=2000).eval()
    scripted = folder / "model.pt"
    logits_only = ECGModel(length=2000).eval()
    logits_only.load_state_dict(model.state_dict())
    logits_only.fc[-1] = torch.nn.Identity()  # TorchScript cannot be hooked to bypass a sigmoid
    torch.jit.script(logits_only).save(str(scripted))
    state = folder / "state.pt"
    torch.save(model.state_dict(), state)
    return record, scripted, state


def test_explain_a_wfdb_record_with_a_state_dict_and_compare_npz(record_and_model, tmp_path: Path) -> None:
    record, _, state = record_and_model
    result = run_here(
        "explain",
        str(record),
        "--model",
        str(state),
        "--model-class",
        "signxai.ecg.models:ECGModel",
        "--model-kwargs",
        '{"length": 2000}',
        "--window",
        "2000",
        "--method",
        "gradient,lrpsign_epsilon_0_5",  # comma-separated, as repeating --method
        "--leads",
        "MLII",
        "--target",
        "1",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    saved = np.load(tmp_path / "relevance.npz")
    assert sorted(k for k in saved if k.startswith("relevance/")) == [
        "relevance/gradient",
        "relevance/lrpsign_epsilon_0_5",
    ]
    model = ECGModel(length=2000)
    model.load_state_dict(torch.load(state, weights_only=True))
    for method in ("gradient", "lrpsign_epsilon_0_5"):
        direct = explain(model.eval(), saved["inputs"], method, target_class=1)
        np.testing.assert_allclose(saved[f"relevance/{method}"], direct, rtol=1e-5, atol=1e-7)
    assert saved["inputs"].shape == (3, 1, 2000)
    page = (tmp_path / "report.html").read_text()
    assert "lrpsign_epsilon_0_5" in page and "gradient" in page


def test_explain_with_a_torch_export_archive(record_and_model, tmp_path: Path) -> None:
    record, _, state = record_and_model
    model = ECGModel(length=2000).eval()
    model.load_state_dict(torch.load(state, weights_only=True))
    model.fc[-1] = torch.nn.Identity()
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(model, (torch.randn(2, 1, 2000),), dynamic_shapes=({0: batch},))
    archive = tmp_path / "model.pt2"
    torch.export.save(program, str(archive))
    out = tmp_path / "out"
    result = run_here(
        "explain",
        str(record),
        "--model",
        str(archive),
        "--window",
        "2000",
        "--method",
        "gradient_x_input",
        "--target",
        "0",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    direct = explain(model, saved["inputs"], "gradient_x_input", target_class=0)
    np.testing.assert_allclose(saved["relevance/gradient_x_input"], direct, rtol=1e-4, atol=1e-7)
    refused = run_here(
        "explain",
        str(record),
        "--model",
        str(archive),
        "--window",
        "2000",
        "--method",
        "lrp_z",
        "--out",
        str(out),
        "--quiet",
    )
    assert refused.returncode == 2 and "exported" in refused.stderr


def test_explain_a_numpy_record_with_torchscript(record_and_model, tmp_path: Path) -> None:
    _, scripted, _ = record_and_model
    array = tmp_path / "x.npy"
    np.save(array, load_mitbih_208().signal[:, :2000])
    result = run_here(
        "explain",
        str(array),
        "--fs",
        "360",
        "--model",
        str(scripted),
        "--method",
        "gradient",
        "--out",
        str(tmp_path / "out"),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "report.html").exists()


def test_the_report_draws_the_first_part_of_a_long_multi_lead_input(tmp_path: Path) -> None:
    """Five minutes of two leads as one input of a fully convolutional model: the report lays out
    the first MAX_PAPER_SECONDS on ECG paper and says so (before, plot_12lead drew 295 inches of
    paper with a grid line per millimetre); the saved maps cover the whole input."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(2, 4, 7, padding=3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(), torch.nn.Linear(4, 3),
    ).eval()  # fmt: skip
    scripted = tmp_path / "model.pt"
    torch.jit.script(model).save(str(scripted))
    strip = load_mitbih_208().signal[0]
    np.save(tmp_path / "x.npy", np.stack([strip, -strip]))
    out = tmp_path / "out"
    common = ["--fs", "360", "--model", str(scripted), "--method", "gradient", "--quiet"]
    result = run_here("explain", str(tmp_path / "x.npy"), *common, "--out", str(out))
    assert result.returncode == 0, result.stderr
    page = (out / "report.html").read_text()
    assert "input 0 starting at sample 0; its first 101.6 s of 300 s drawn" in page
    assert np.load(out / "relevance.npz")["relevance/gradient"].shape == (1, 2, 108000)
    np.save(tmp_path / "short.npy", np.stack([strip, -strip])[:, :3600])
    result = run_here("explain", str(tmp_path / "short.npy"), *common, "--out", str(tmp_path / "short"))
    assert result.returncode == 0 and "s drawn" not in (tmp_path / "short" / "report.html").read_text()
    noisy = np.stack([strip, np.random.default_rng(0).normal(size=strip.shape)])[:, : 60 * 360]
    np.save(tmp_path / "noisy.npy", noisy)  # a lead of noise beside record 208's first minute
    result = run_here("explain", str(tmp_path / "noisy.npy"), *common, "--out", str(tmp_path / "noisy"))
    assert result.returncode == 0, result.stderr
    assert "lead lead1: fewer than half of the 10 s windows meet Orphanidou" in result.stderr
    import pandas as pd

    quality = pd.read_csv(tmp_path / "noisy" / "quality.csv")
    assert quality.groupby("lead").acceptable.sum().to_dict() == {"lead0": 3, "lead1": 0}
    page = (tmp_path / "noisy" / "report.html").read_text()  # the first minute's PVCs: the RR ratio
    assert "lead lead0: 3 of 6 windows of 10 s acceptable (failed: RR ratio 3)" in page
    assert "lead0" not in result.stderr


def test_explain_a_dicom_ecgs_median_beat_with_a_12_lead_model(tmp_path: Path) -> None:
    """--group 'MEDIAN BEAT' of pydicom's real 12-lead ECG (1200 samples at 1000 Hz): one window
    of 1000 samples of all 12 leads, explained as explain() explains it."""
    from pydicom.data import get_testdata_file

    from signxai.ecg.io import read_record

    dicom = get_testdata_file("waveform_ecg.dcm")
    model = ECGModel(length=1000, input_channels=12, num_classes=3).eval()
    scripted = tmp_path / "model.pt"
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 12, 1000)), str(scripted))
    out = tmp_path / "out"
    common = ["--model", str(scripted), "--method", "gradient", "--explain-output", "activation", "--quiet"]
    result = run_here(
        "explain", dicom, "--group", "MEDIAN BEAT", "--window", "1000", *common, "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    median = read_record(dicom, group="MEDIAN BEAT").signal
    np.testing.assert_allclose(saved["inputs"], median[None, :, :1000])
    direct = explain(model, saved["inputs"], "gradient", explain_output="activation")
    np.testing.assert_allclose(saved["relevance/gradient"], direct, rtol=1e-5, atol=1e-9)
    page = (out / "report.html").read_text()  # one beat: no rhythm to judge, and no false alarm
    assert "Not judged: the record&#x27;s 1.2 s are shorter than one window of 10 s." in page
    assert "Orphanidou" not in result.stderr and not (out / "quality.csv").exists()
    for group, message in [("T", "--group must be a multiplex group of"), ("2", "got 2")]:
        refused = run_here("explain", dicom, "--group", group, *common, "--out", str(out))
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr


def test_explain_resamples_to_the_models_rate_before_windowing(record_and_model, tmp_path: Path) -> None:
    """--resample 250 on a 360 Hz record: 20 s become 5000 samples, two windows of 2000, explained
    as explain() explains the resampled windows."""
    record, scripted, _ = record_and_model
    out = tmp_path / "out"
    common = ["--model", str(scripted), "--method", "gradient", "--window", "2000", "--quiet"]
    result = run_here("explain", str(record), *common, "--resample", "250", "--out", str(out))
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    assert float(saved["fs"]) == 250.0 and saved["inputs"].shape == (2, 1, 2000)
    expected = resample(load_mitbih_208().signal[:, : 20 * 360], 360.0, 250.0)[:, :4000]
    np.testing.assert_allclose(saved["inputs"].reshape(1, -1), expected, atol=1e-3)
    model = torch.jit.load(str(scripted))
    np.testing.assert_allclose(
        saved["relevance/gradient"], explain(model, saved["inputs"], "gradient"), rtol=1e-5, atol=1e-7
    )
    refused = run_here("explain", str(record), *common, "--resample", "0", "--out", str(out))
    assert refused.returncode == 2 and "--resample must be a positive sampling rate" in refused.stderr


def test_explain_applies_the_models_preprocessing_in_order(record_and_model, tmp_path: Path) -> None:
    """--baseline/--notch/--lowpass filter the record at its rate, --resample follows, windows are
    cut, --znormalize normalises each; the npz holds what the model saw, the report says it."""
    record, scripted, _ = record_and_model
    out = tmp_path / "out"
    options = ["--baseline", "0.5", "--notch", "60", "--lowpass", "40", "--resample", "250", "--znormalize"]
    common = ["--model", str(scripted), "--method", "gradient", "--window", "2000", "--quiet"]
    result = run_here("explain", str(record), *common, *options, "--out", str(out))
    assert result.returncode == 0, result.stderr
    signal = load_mitbih_208().signal[:, : 20 * 360]
    signal = lowpass(notch(remove_baseline(signal, 360.0, 0.5), 360.0, 60.0), 360.0, 40.0)
    expected = znormalize(windows(resample(signal, 360.0, 250.0).astype(np.float32), 2000)[0])
    saved = np.load(out / "relevance.npz")
    np.testing.assert_allclose(saved["inputs"], expected, atol=1e-3)  # the record went through WFDB integers
    np.testing.assert_allclose(saved["inputs"].std(-1), 1.0, atol=1e-4)
    model = torch.jit.load(str(scripted))
    np.testing.assert_allclose(
        saved["relevance/gradient"], explain(model, saved["inputs"], "gradient"), rtol=1e-5, atol=1e-7
    )
    text = (out / "report.html").read_text()
    assert (
        "Preprocessing: baseline wander removed (high-pass 0.5 Hz); powerline notch at 60 Hz; "
        "low-pass 40 Hz; resampled to 250 Hz; z-normalised per input and lead." in text
    )
    refused = run_here("explain", str(record), *common, "--notch", "200", "--out", str(out))
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "signxai: error: --notch 200: freq=200.0 Hz must lie between 0 and fs/2 = 180.0 Hz"
    )


def test_explain_overlapping_windows_every_step_samples(record_and_model, tmp_path: Path) -> None:
    """--step 500 with --window 2000: windows start every 500 samples, each explained as cut."""
    record, scripted, _ = record_and_model
    out = tmp_path / "out"
    common = ["--model", str(scripted), "--method", "gradient", "--quiet", "--out", str(out)]
    result = run_here("explain", str(record), *common, "--window", "2000", "--step", "500")
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    np.testing.assert_array_equal(saved["starts"], np.arange(0, 20 * 360 - 2000 + 1, 500))
    signal = saved["inputs"]
    np.testing.assert_array_equal(signal[1, :, :1500], signal[0, :, 500:])  # they overlap
    model = torch.jit.load(str(scripted))
    np.testing.assert_allclose(
        saved["relevance/gradient"], explain(model, signal, "gradient"), rtol=1e-5, atol=1e-7
    )


def test_explain_in_chunks_of_windows_equals_one_call(record_and_model, tmp_path: Path) -> None:
    """--batch-size bounds the windows per explain() call (a Holter record would not fit in
    memory at once); the maps are those of one call."""
    record, scripted, _ = record_and_model
    common = ["--model", str(scripted), "--method", "gradient", "--method", "integrated_gradients"]
    common += ["--window", "2000", "--quiet"]
    for size, out in (("256", "whole"), ("2", "chunks")):
        result = run_here("explain", str(record), *common, "--batch-size", size, "--out", str(tmp_path / out))
        assert result.returncode == 0, result.stderr
    whole, chunks = (np.load(tmp_path / out / "relevance.npz") for out in ("whole", "chunks"))
    assert whole["inputs"].shape[0] == 3
    for key in ("relevance/gradient", "relevance/integrated_gradients"):
        np.testing.assert_allclose(chunks[key], whole[key], rtol=1e-5, atol=1e-8)
    refused = run_here("explain", str(record), *common, "--batch-size", "0", "--out", str(tmp_path / "x"))
    assert refused.returncode == 2 and "--batch-size must be >= 1, got 0" in refused.stderr


def test_explain_per_frequency_band(record_and_model, tmp_path: Path) -> None:
    """--spectrum explains every input per frequency bin (in chunks of --batch-size, joined), saves
    it in relevance.npz and adds a section with each band's share per lead to the report."""
    from signxai import explain_spectrum
    from signxai.ecg.analysis import lead_band_shares

    record, _, state = record_and_model
    common = ["--model", str(state), "--model-class", "signxai.ecg.models:ECGModel"]
    common += ["--model-kwargs", '{"length": 2000}', "--window", "2000", "--quiet", "--method", "gradient"]
    result = run_here(
        "explain",
        str(record),
        *common,
        "--spectrum",
        "lrpz_epsilon_0_5",
        "--batch-size",
        "2",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    saved = np.load(tmp_path / "relevance.npz")
    model = ECGModel(length=2000)
    model.load_state_dict(torch.load(state, weights_only=True))
    direct = explain_spectrum(model.eval(), saved["inputs"], "lrpz_epsilon_0_5", fs=360.0)
    assert saved["spectrum/lrpz_epsilon_0_5"].shape == (3, 1, 1001)
    np.testing.assert_allclose(saved["spectrum/lrpz_epsilon_0_5"], direct.relevance, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(saved["spectrum_frequencies"], direct.frequencies)
    page = (tmp_path / "report.html").read_text()
    assert 'id="spectrum"' in page and "Relevance per frequency band (lrpz_epsilon_0_5)" in page
    shares = lead_band_shares(direct, ["MLII"])
    assert f"{shares.loc['MLII', '10-40 Hz (QRS)']:.3f}" in page and "0.5-10 Hz (P, T)" in page
    # three inputs' strips, the median beat under the method's mean map, the first input's spectrum
    assert page.count("<img") == 3 + 1 + 1
    occluded = run_here(
        "explain", str(record), *common, "--spectrum", "occlusion_window_20", "--out", str(tmp_path / "occ")
    )
    assert occluded.returncode == 0, occluded.stderr
    with np.load(tmp_path / "occ" / "relevance.npz") as again:
        assert again["spectrum/occlusion_window_20"].shape == (3, 1, 1001)


def test_demo_explains_each_beat_against_its_runner_up(tmp_path: Path) -> None:
    result = run_here(
        "demo", "--task", "5class", "--versus", "runner_up", "--method", "lrpsign_epsilon_0_5",
        "--abnormal", "2", "--normal", "1", "--out", str(tmp_path), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    saved = np.load(tmp_path / "relevance.npz")
    from signxai import Contrast
    from signxai.ecg import load_beat_model

    model = load_beat_model("5class")
    with torch.no_grad():
        ranked = model(torch.as_tensor(saved["beats"])).argsort(1, descending=True).numpy()
    np.testing.assert_array_equal(saved["predicted"], ranked[:, 0])
    np.testing.assert_array_equal(saved["versus"], ranked[:, 1])
    expected = explain(
        model, saved["beats"], "lrpsign_epsilon_0_5", target_class=Contrast(None, saved["versus"])
    )
    np.testing.assert_allclose(saved["relevance/lrpsign_epsilon_0_5"], expected, rtol=1e-5, atol=1e-7)
    assert "explained against" in (tmp_path / "report.html").read_text()


def test_explain_one_class_against_another(tmp_path: Path) -> None:
    """--versus explains the target (or predicted) class against another (signxai.Contrast):
    relevance.npz holds the classes each input was explained for and against, the report says it."""
    from signxai import Contrast
    from signxai.ecg import load_beat_model, load_ecg5000

    model = load_beat_model("5class")
    beats = load_ecg5000("test").x[:4, 0]
    record = tmp_path / "beats.npy"
    np.save(record, beats.reshape(1, -1))
    state = tmp_path / "state.pt"
    torch.save(model.state_dict(), state)
    common = ["--model", str(state), "--model-class", "signxai.ecg.models:ECGModel", "--quiet"]
    common += ["--model-kwargs", '{"num_classes": 5, "length": 140, "ceil_mode": false}']
    common += ["--fs", "140", "--window", "140", "--method", "lrp_epsilon_0_1,gradient", "--batch-size", "3"]
    result = run_here("explain", str(record), *common, "--versus", "runner_up", "--out", str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    saved = np.load(tmp_path / "a" / "relevance.npz")
    with torch.no_grad():
        ranked = model.fc[:-1](model.features(torch.as_tensor(beats[:, None])).flatten(1)).argsort(
            1, descending=True
        )
    np.testing.assert_array_equal(saved["targets"], ranked[:, 0].numpy())
    np.testing.assert_array_equal(saved["versus"], ranked[:, 1].numpy())
    for method in ("lrp_epsilon_0_1", "gradient"):
        direct = explain(model, saved["inputs"], method, target_class=Contrast())
        # batches of 3 against 4: float32 sums in another order (1.1e-7 seen on maps up to 0.8)
        np.testing.assert_allclose(saved[f"relevance/{method}"], direct, rtol=1e-5, atol=1e-6)
    page = (tmp_path / "a" / "report.html").read_text()
    pairs = sorted(zip(saved["targets"].tolist(), saved["versus"].tolist(), strict=True))
    assert f"class {pairs[0][0]} against class {pairs[0][1]}" in page
    assert (
        "Explained (the predicted class, against --versus runner_up; relevance.npz: targets, versus)" in page
    )
    fixed = run_here(
        "explain", str(record), *common, "--target", "3", "--versus", "1", "--out", str(tmp_path / "b")
    )
    assert fixed.returncode == 0, fixed.stderr
    again = np.load(tmp_path / "b" / "relevance.npz")
    assert again["targets"].tolist() == [3] * 4 and again["versus"].tolist() == [1] * 4
    expected = explain(model, again["inputs"], "gradient", target_class=3) - explain(
        model, again["inputs"], "gradient", target_class=1
    )
    # the margin's gradient against the difference of two gradients: float32 rounding (1.6e-7 seen)
    np.testing.assert_allclose(again["relevance/gradient"], expected, rtol=1e-4, atol=1e-6)
    assert "class 3 against class 1 (4 inputs)" in (tmp_path / "b" / "report.html").read_text()
    plain = run_here("explain", str(record), *common, "--out", str(tmp_path / "c"))
    assert plain.returncode == 0, plain.stderr
    with np.load(tmp_path / "c" / "relevance.npz") as only:
        assert "versus" not in only and only["targets"].tolist() == ranked[:, 0].tolist()
    same = run_here(
        "explain", str(record), *common, "--target", "1", "--versus", "1", "--out", str(tmp_path / "d")
    )
    assert same.returncode == 2 and "--versus equals the target class" in same.stderr
    # --versus K without --target: the inputs predicted as K are explained against their runner-up
    k = int(ranked[0, 0])
    own = run_here("explain", str(record), *common, "--versus", str(k), "--out", str(tmp_path / "e"))
    assert own.returncode == 0, own.stderr
    with np.load(tmp_path / "e" / "relevance.npz") as mixed:
        expected_versus = np.where(ranked[:, 0] == k, ranked[:, 1], k)
        np.testing.assert_array_equal(mixed["versus"], expected_versus)
        direct = explain(model, mixed["inputs"], "gradient", target_class=Contrast(None, expected_versus))
        np.testing.assert_allclose(mixed["relevance/gradient"], direct, rtol=1e-5, atol=1e-6)
    page = (tmp_path / "e" / "report.html").read_text()
    assert f"(inputs predicted as class {k}: against their runner-up)" in page


def test_explain_with_a_saved_keras_model(tmp_path: Path) -> None:
    """A .keras file: converted, proved on the record's windows, explained; the maps equal
    explain() on the Keras model (channels last); a record that does not fit is a one-line error."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((500, 1)),
            layers.Conv1D(4, 7, activation="relu"),
            layers.MaxPooling1D(4),
            layers.Flatten(),
            layers.Dense(2),
        ]
    )
    path = tmp_path / "beat.keras"
    model.save(path)
    array = tmp_path / "x.npy"
    signal = load_mitbih_208().signal[:, :1500].astype(np.float32)
    np.save(array, signal)
    out = tmp_path / "out"
    common = ["--fs", "360", "--model", str(path), "--out", str(out), "--quiet"]
    result = run(
        "explain", str(array), *common, "--window", "500", "--method", "gradient", "--method", "lrpsign_z"
    )
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    windows = saved["inputs"]  # (3, 1, 500), channels first
    assert windows.shape == (3, 1, 500)
    for method in ("gradient", "lrpsign_z"):
        expected = explain(model, windows.transpose(0, 2, 1), method).transpose(0, 2, 1)
        np.testing.assert_allclose(saved[f"relevance/{method}"], expected, rtol=1e-5, atol=1e-7)
    unfit = run("explain", str(array), *common, "--window", "400")
    assert unfit.returncode == 2 and "takes inputs of shape (None, 500, 1)" in unfit.stderr


def test_explain_a_keras_model_with_an_output_per_step(tmp_path: Path) -> None:
    """--output-window on a .keras model scoring every step, (batch, steps, classes): AXIS read
    in Keras's layout (default 1); the maps equal explain() on OutputWindow(keras_model)."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((500, 1))
    hidden = keras.layers.Conv1D(4, 9, padding="same", activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Softmax(axis=-1)(keras.layers.Conv1D(3, 1)(hidden)))
    path = tmp_path / "steps.keras"
    model.save(path)
    array = tmp_path / "x.npy"
    np.save(array, load_mitbih_208().signal[:, :1000].astype(np.float32))
    out = tmp_path / "out"
    common = ["--fs", "360", "--model", str(path), "--window", "500", "--out", str(out), "--quiet"]
    result = run_here(
        "explain", str(array), *common, "--output-window", "100:180", "--target", "1", "--method", "gradient"
    )
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    expected = explain(
        OutputWindow(model, 100, 180), saved["inputs"].transpose(0, 2, 1), "gradient", target_class=1
    )
    np.testing.assert_allclose(saved["relevance/gradient"], expected.transpose(0, 2, 1), rtol=1e-5, atol=1e-7)
    classes_first = run_here(
        "explain", str(array), *common, "--output-window", "100:180:2", "--method", "gradient"
    )
    assert classes_first.returncode == 2 and "number of output steps, 3" in classes_first.stderr


def test_explain_with_an_onnx_model(record_and_model, tmp_path: Path) -> None:
    """A .onnx file (the default dynamo exporter, a dynamic batch): converted, proved against
    onnxruntime on the record's windows, explained with its sigmoid bypassed; the maps equal
    explain() on the torch model it was exported from."""
    pytest.importorskip("onnx2torch")
    pytest.importorskip("onnxruntime")
    record, _, state = record_and_model
    model = ECGModel(length=2000).eval()
    model.load_state_dict(torch.load(state, weights_only=True))
    path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dynamic = ({0: torch.export.Dim("batch")},)
        torch.onnx.export(model, (torch.randn(2, 1, 2000),), str(path), dynamic_shapes=dynamic)
    out = tmp_path / "out"
    common = ["--model", str(path), "--window", "2000", "--out", str(out), "--quiet"]
    result = run_here(
        "explain", str(record), *common, "--method", "gradient,lrpsign_epsilon_0_5", "--target", "1"
    )
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    for method in ("gradient", "lrpsign_epsilon_0_5"):
        expected = explain(model, saved["inputs"], method, target_class=1)
        np.testing.assert_allclose(saved[f"relevance/{method}"], expected, rtol=1e-4, atol=1e-6)
    unfit = run_here(
        "explain", str(record), "--model", str(path), "--window", "1000", "--out", str(out), "--quiet"
    )
    assert (
        unfit.returncode == 2
        and ("input 'x' is (batch, 1, 2000) (names: any size); it was given (7, 1, 1000): choose --window")
        in unfit.stderr
    )


class _LeadsLast(torch.nn.Module):
    """The fixture's ECG model taking (batch, samples, leads)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.transpose(1, 2))


def test_explain_a_channels_last_model(record_and_model, tmp_path: Path) -> None:
    """--channels-last: the model takes (batch, samples, leads); the maps (saved channels first)
    equal explain() on it moved; without the option the model's failure names the option."""
    record, _, state = record_and_model
    model = ECGModel(length=2000).eval()
    model.load_state_dict(torch.load(state, weights_only=True))
    model.fc[-1] = torch.nn.Identity()
    leads_last = _LeadsLast(model).eval()
    path = tmp_path / "last.pt"
    torch.jit.script(leads_last).save(str(path))
    out = tmp_path / "out"
    common = ["--model", str(path), "--window", "2000", "--out", str(out), "--quiet"]
    result = run_here(
        "explain",
        str(record),
        *common,
        "--channels-last",
        "--method",
        "gradient,occlusion_window_100",
        "--target",
        "1",
    )
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    inputs = saved["inputs"]  # channels first, as always
    assert inputs.shape[1:] == (1, 2000)
    moved = explain(leads_last, inputs.transpose(0, 2, 1), "gradient", target_class=1).transpose(0, 2, 1)
    np.testing.assert_allclose(saved["relevance/gradient"], moved, rtol=1e-4, atol=1e-7)
    hidden = explain(model, inputs, "occlusion_window_100", target_class=1)  # windows of time
    np.testing.assert_allclose(saved["relevance/occlusion_window_100"], hidden, rtol=1e-4, atol=1e-6)
    plain = run_here("explain", str(record), *common, "--method", "gradient")
    assert plain.returncode == 2 and "--channels-last for a model that takes" in plain.stderr


def test_explain_a_per_step_model_over_an_output_window(record_and_model, tmp_path: Path) -> None:
    """--output-window START:STOP: a model scoring every time step is explained over output steps
    START to STOP-1 (signxai.OutputWindow); the maps equal explain() on the window."""
    record = record_and_model[0]
    torch.manual_seed(0)
    per_step = torch.nn.Sequential(
        torch.nn.Conv1d(1, 4, 9, padding=4), torch.nn.ReLU(), torch.nn.Conv1d(4, 3, 1)
    ).eval()
    path = tmp_path / "per_step.pt"
    torch.jit.script(per_step).save(str(path))
    out = tmp_path / "out"
    common = ["--model", str(path), "--window", "2000", "--out", str(out), "--quiet"]
    result = run_here("explain", str(record), *common, "--output-window", "100:180", "--method", "gradient")
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    expected = explain(OutputWindow(per_step, 100, 180), saved["inputs"], "gradient")
    np.testing.assert_allclose(saved["relevance/gradient"], expected, rtol=1e-4, atol=1e-7)
    assert np.abs(expected[..., 100 - 10 : 180 + 10]).sum() == pytest.approx(np.abs(expected).sum())
    report = (out / "report.html").read_text()
    assert "output steps 100 to 179 (--output-window) summed per class" in report
    for window, message in [
        ("100-180", "--output-window must be START:STOP or START:STOP:AXIS in output steps"),
        ("100:2001", "--output-window STOP must be at most the model's number of output steps, 2000"),
        ("100:180:0", "--output-window AXIS must be the output's time axis"),
        (
            "180:100",
            "--output-window STOP must be above start: the window is steps start to stop - 1",
        ),
    ]:
        refused = run_here("explain", str(record), *common, "--output-window", window, "--method", "gradient")
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    plain = run_here("explain", str(record), *common, "--method", "gradient")
    assert plain.returncode == 2 and "signxai.OutputWindow(model, start, stop)" in plain.stderr


#: The fixture's state dict as --model, with its class.
STATE_DICT = ["--model", "{state}", "--model-class", "signxai.ecg.models:ECGModel"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain", "missing_record", "--model", "{scripted}"], "not found"),
        (["explain", "{record}", "--model", "{scripted}", "--method", "gradiant"], "closest names: gradient"),
        (
            ["explain", "{record}", *STATE_DICT, "--window", "2000", "--target", "7"],
            "--target 7 is out of range",
        ),
        (
            ["explain", "{record}", *STATE_DICT, "--window", "2000", "--versus", "runner-up"],
            "--versus must be a class index (0, 1, ...) or 'runner_up'; got 'runner-up' (did you mean "
            "'runner_up'?)",
        ),
        (
            ["explain", "{record}", *STATE_DICT, "--window", "2000", "--versus", "0"],
            "--versus needs a model with two or more outputs; this one has a single output z (class 1, "
            "and -z for class 0): --target 1 already explains the log-odds",
        ),
        (
            ["explain", "{record}", "--model", "{scripted}", "--window", "2000", "--method", "lrp_z"],
            "TorchScript modules do not support",
        ),
        (["explain", "{array}", "--model", "{scripted}"], "--fs is needed"),
        (["demo", "--spectrum", "grad_cam"], "--spectrum: method_name 'grad_cam' (cam) has no relevance"),
        (
            ["explain", "{record}", "--model", "{scripted}", "--spectrum", "grad_cam"],
            "--spectrum: method_name 'grad_cam' (cam) has no relevance per spectral coefficient",
        ),
        (
            ["explain", "{record}", "--model", "{scripted}", "--spectrum", "lrpz_epsilom_0_5"],
            "closest names: lrpz_epsilon_0_5",
        ),
        (
            ["explain", "{array}", "--model", "{scripted}", "--fs", "50", "--duration", "3"],
            "--start/--duration (None, 3.0) s fall outside the record's 2.0 s",
        ),
        (
            ["explain", "{array}", "--model", "{scripted}", "--fs", "50", "--leads", "II"],
            "--leads ['II'] are not in the record; it has ['lead0']",
        ),
        (
            ["explain", "{record}", "--model", "{scripted}", "--leads", "V5,MLII"],
            "--leads ['V5'] are not in the record; it has ['MLII']",
        ),
        (
            ["explain", "{record}", "--model", "{scripted}", "--start", "25"],
            "--start/--duration (25.0, None) s fall outside the record's 20.0 s",
        ),
        (
            ["explain", "{record}", "--model", "{scripted}", "--start", "-1"],
            "--start must be >= 0 s, got -1.0",
        ),
        (["explain", "{record}", "--model", "{scripted}", "--duration", "0"], "--duration must be > 0 s"),
        (
            ["explain", "{record}", "--model", "{scripted}", "--method", "gradient"],
            "read as a batch, the model's forward pass failed: RuntimeError: mat1 and mat2",
        ),
        (["explain", "{record}", "--model", "{state}"], "not a TorchScript file"),
        (  # before: zipfile's BadZipFile with its traceback
            ["explain", "{record}", "--model", "{damaged}"],
            "could not be read as a torch.export archive: BadZipFile: File is not a zip file",
        ),
        (
            ["explain", "{record}", *STATE_DICT, "--model-kwargs", "[1]"],
            "--model-kwargs must be a JSON object such as '{\"length\": 2000}', got '[1]'",
        ),
        (
            ["explain", "{record}", *STATE_DICT, "--model-kwargs", "{{bad"],
            "--model-kwargs must be a JSON object",
        ),
        (
            ["explain", "{record}", *STATE_DICT, "--model-kwargs", '{{"lenght": 2000}}'],
            "with --model-kwargs '{\"lenght\": 2000}' failed: TypeError: ",
        ),
        (
            ["explain", "{record}", *STATE_DICT, "--model-kwargs", '{{"length": 1000}}'],
            "does not fit --model-class signxai.ecg.models:ECGModel with --model-kwargs "
            "'{\"length\": 1000}' (size mismatch for fc.0.weight",
        ),
        (
            ["explain", "{record}", "--model", "{array}", "--model-class", "signxai.ecg.models:ECGModel"],
            "could not be read as a state dict (torch.load, weights_only=True)",
        ),
        (
            ["explain", "{record}", "--model", "{state}", "--model-class", "signxai.ecg.models:model_card"],
            "--model-class signxai.ecg.models:model_card made a dict, not a torch.nn.Module",
        ),
        pytest.param(
            ["explain", "{record}", *STATE_DICT, "--model-kwargs", '{{"length": 2000}}', "--window", "1000"],
            "the model failed on inputs of 1 lead(s) x 1000 samples (RuntimeError: mat1 and mat2 "
            "shapes cannot be multiplied",
            marks=pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes: Python 3.11+"),
        ),
        (["explain", "{record}", "--model", "{scripted}", "--step", "500"], "--step needs --window"),
        (
            ["explain", "{record}", "--model", "{scripted}", "--window", "2000", "--step", "0"],
            "--window 2000 --step 0: step must be a whole number of samples >= 1, got 0",
        ),
        (
            ["explain", "{record}", "--model", "{scripted}", "--window", "20000"],
            "--window 20000: the signal has 7200 samples, fewer than length=20000",
        ),
        (["demo", "--method", "lrp_epsilon_0_5_5"], "does not follow that form"),
        (["demo", "--method", ","], "--method names no method; give one or more names"),
        (
            ["demo", "--abnormal", "0", "--normal", "0"],
            "--abnormal and --normal are both 0: no beat to explain",
        ),
        (["demo", "--versus", "runner_up"], "--versus needs --task 5class: the binary model has one output"),
        (
            ["demo", "--task", "5class", "--versus", "9"],
            "--versus must be a class index from 0 to 4 (normal, R-on-T PVC, PVC, SVEB, unclassified)",
        ),
        (["demo", "--device", "gpu"], "--device must be a torch device such as 'cpu', 'cuda'"),
        (["beats", "{record}", "--lead", "V1"], "--lead must be one of the record's leads ['MLII'] or a row"),
        (["beats", "{array}", "--fs", "360", "--annotations", "atr"], "--annotations needs a WFDB record"),
        (["beats", "{record}", "--annotations", "qrs"], "r208.qrs' not found"),
        (["beats", "{record}", "--task", "5class", "--versus", "9"], "--versus must be a class index"),
        (
            ["explain", "{record}", "--model", "{scripted}", "--device", "cuda:99"],
            "--device 'cuda:99': torch sees",
        ),
        (["explain", "{record}", "--model", "{scripted}", "--device", "meta"], "only cpu, cuda and mps"),
        (
            ["explain", "{abp}", "--model", "{scripted}"],
            "leads 'ABP' (mmHg) are not in units of voltage (mV, uV, V), so they are no ECG leads; "
            "pass --leads with the ECG leads (here: ['II'])",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(
    record_and_model, tmp_path: Path, args: list[str], message: str
) -> None:
    record, scripted, state = record_and_model
    array = tmp_path / "x.npy"
    np.save(array, np.zeros((1, 100)))
    abp = tmp_path / "abp"  # an ECG lead and a blood-pressure channel
    wfdb.wrsamp(
        abp.name,
        fs=360,
        units=["mV", "mmHg"],
        sig_name=["II", "ABP"],
        p_signal=np.sin(np.arange(1440.0)).reshape(720, 2),
        write_dir=str(tmp_path),
    )
    damaged = tmp_path / "damaged.pt2"
    damaged.write_bytes(b"no archive")
    places = {
        "record": record,
        "scripted": scripted,
        "state": state,
        "array": array,
        "abp": abp,
        "damaged": damaged,
    }
    filled = [a.format(**places) for a in args]
    result = run_here(*filled, "--out", str(tmp_path / "out"), "--quiet")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_a_refusal_through_the_entry_point(record_and_model, tmp_path: Path) -> None:
    """The installed ``signxai`` script refuses as the in-process runner does: status 2 and one
    line on stderr, the closest method names suggested."""
    record, _, state = record_and_model
    args = ["explain", str(record), "--model", str(state), "--model-class", "signxai.ecg.models:ECGModel",
            "--method", "lrp_epsilon_0_5_sgn", "--out", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    outside, inside = run(*args), run_here(*args)
    assert outside.returncode == inside.returncode == 2
    assert outside.stderr == inside.stderr and len(outside.stderr.strip().splitlines()) == 1
    assert "closest names: lrp_epsilon_0_5" in outside.stderr and "Traceback" not in outside.stderr


PRE_ACTIVATION = '''
import torch
from torch import nn


class PreActivation(nn.Module):
    """A BatchNorm on the input and one after a residual sum: neither can be merged."""

    def __init__(self) -> None:
        super().__init__()
        self.norm_in = nn.BatchNorm1d(1)
        self.conv = nn.Conv1d(1, 4, 7, padding=3)
        self.conv2 = nn.Conv1d(4, 4, 7, padding=3)
        self.norm_sum = nn.BatchNorm1d(4)
        self.head = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 2))

    def forward(self, x):
        h = torch.relu(self.conv(torch.relu(self.norm_in(x))))
        return self.head(torch.relu(self.norm_sum(h + self.conv2(h))))


class SqueezeExcite(nn.Module):
    """A conv whose channels a squeeze-and-excitation gate rescales."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 7, padding=3)
        self.squeeze = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        gate = torch.sigmoid(self.squeeze(h.mean(-1)))[:, :, None]
        return self.head((h * gate).mean(-1))


class Transformer(nn.Module):
    """A patch embedding and a transformer encoder layer (attention, LayerNorm)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv1d(1, 8, 50, stride=50)
        self.encoder = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x).transpose(1, 2)).mean(1))
'''


@pytest.mark.parametrize(
    ("model_class", "option", "value", "refusal"),
    [
        # the default keeps the BatchNorms it cannot merge as z-rule layers, with a warning
        (
            "PreActivation",
            "--batchnorm",
            "innvestigate",
            "signxai: warning: LRP: BatchNorm 'norm_in' cannot be merged",
        ),
        ("SqueezeExcite", "--gates", "signal", "--gates signal"),
        ("Transformer", "--attention", "cp", "--attention cp"),
    ],
)
def test_explain_lrp_options_reach_the_lrp_methods(
    record_and_model, tmp_path: Path, model_class: str, option: str, value: str, refusal: str
) -> None:
    import os

    record, _, _ = record_and_model
    (tmp_path / "custom.py").write_text(PRE_ACTIVATION)
    sys.path.insert(0, str(tmp_path))
    try:
        import custom  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("custom", None)
    torch.manual_seed(3)
    model = getattr(custom, model_class)().eval()
    state = tmp_path / "state.pt"
    torch.save(model.state_dict(), state)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    base = [
        str(SCRIPT),
        "explain",
        str(record),
        "--model",
        str(state),
        "--model-class",
        f"custom:{model_class}",
    ]
    base += ["--window", "2000", "--method", "gradient", "--method", "lrp_epsilon_0_1", "--quiet"]
    default = subprocess.run([*base, "--out", str(tmp_path / "a")], capture_output=True, text=True, env=env)
    assert default.returncode == (0 if option == "--batchnorm" else 2) and refusal in default.stderr
    assert "batchnorm='" not in default.stderr  # the options as the CLI spells them
    out = tmp_path / "b"
    result = subprocess.run(
        [*base, option, value, "--target", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    saved = np.load(out / "relevance.npz")
    keyword = option.removeprefix("--")
    direct = explain(model, saved["inputs"], "lrp_epsilon_0_1", target_class=1, **{keyword: value})
    np.testing.assert_allclose(saved["relevance/lrp_epsilon_0_1"], direct, rtol=1e-5, atol=1e-7)


def test_the_lrp_options_offer_the_registrys_modes_with_its_defaults() -> None:
    """The CLI lists its LRP choices itself (a light import); they must be the registry's."""
    from signxai.cli import LRP_OPTIONS
    from signxai.methods import parse
    from signxai.methods.lrp import BATCH_NORM_MODES
    from signxai.methods.lrp_attention import ATTENTION_MODES
    from signxai.methods.lrp_graph import GATE_MODES

    modes = {"batchnorm": BATCH_NORM_MODES, "gates": GATE_MODES, "attention": ATTENTION_MODES}
    defaults = {p.name: p.default for p in parse("lrp_z").family.params}
    assert {name: choices for name, (choices, _) in LRP_OPTIONS.items()} == modes
    assert all(choices[0] == defaults[name] for name, (choices, _) in LRP_OPTIONS.items())


def test_a_multi_lead_record_in_microvolts_is_drawn_at_a_gain_that_fits(tmp_path: Path) -> None:
    """The report's grid at 10 mm/mV would need hundreds of inches of paper for a record in uV
    (drawn so before: a figure thousands of inches tall); it is drawn at paper_gain's gain, named
    in the title."""
    strip = load_mitbih_208().signal[0, :4000]
    array = tmp_path / "uv.npy"
    np.save(array, np.stack([strip, -strip]) * 1000.0)  # two leads in uV
    torch.manual_seed(0)
    state = tmp_path / "two_leads.pt"
    torch.save(ECGModel(input_channels=2, length=2000).state_dict(), state)
    model = ["--model", str(state), "--model-class", "signxai.ecg.models:ECGModel"]
    kwargs = ["--model-kwargs", '{"input_channels": 2, "length": 2000}', "--window", "2000"]
    result = run_here(
        "explain", str(array), "--fs", "360", *model, *kwargs, "--out", str(tmp_path / "out"), "--quiet"
    )
    assert result.returncode == 0, result.stderr
    gain = paper_gain(np.load(array)[:, :2000], 360.0, ["lead0", "lead1"])
    assert gain < 10
    page = (tmp_path / "out" / "report.html").read_text()
    images = [base64.b64decode(i) for i in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)]
    heights = [int.from_bytes(png[20:24], "big") for png in images]  # the PNG header's height
    # the report's 80 dpi: under 100 inches of paper plus margins (at 10 mm/mV: about 5000 inches)
    assert images and max(heights) < 110 * 80


def test_a_record_whose_beats_cannot_be_delineated_says_why_in_the_explain_report() -> None:
    """No wave table then, and the report section gives the reason (the maps are still written)."""
    from signxai.cli import _record_waves, _waves_section
    from signxai.ecg.datasets import Recording

    maps = {"gradient": np.ones((1, 2, 1000))}
    starts = np.zeros(1, dtype=np.int64)
    slow = Recording(np.random.default_rng(0).normal(size=(2, 1000)), 50.0, ["I", "II"])
    table, text = _record_waves(slow, maps, starts)
    assert table is None and text.startswith("Not computed for this record: fs must exceed 80 Hz")
    flat = Recording(np.zeros((2, 1000)), 250.0, ["V1", "V2"])
    table, text = _record_waves(flat, maps, starts)
    assert table is None and text == "Not computed for this record: no beats were detected on lead V1."
    assert "no beats were detected" in _waves_section(None, text).body


def test_out_must_be_a_folder_it_can_write_into(tmp_path: Path) -> None:
    """Before: "[Errno 17] File exists: 'strip.npy'" where --out named a file."""
    from signxai.ecg import load_mitbih_208

    strip = tmp_path / "strip.npy"
    np.save(strip, load_mitbih_208().signal[:, :3600])
    for command in (["convert"], ["detect"], ["beats", "--quiet"]):
        failed = run_here(command[0], str(strip), "--fs", "360", *command[1:], "--out", str(strip))
        assert failed.returncode == 2, failed.stdout
        assert f"--out must be a folder to write into; '{strip}' is a file" in failed.stderr, command
    blocked = run_here("convert", str(strip), "--fs", "360", "--out", str(strip / "below"))
    assert blocked.returncode == 2 and "cannot be made" in blocked.stderr, blocked.stderr
    written = run_here("convert", str(strip), "--fs", "360", "--out", str(tmp_path / "new" / "folder"))
    assert written.returncode == 0 and (tmp_path / "new" / "folder" / "strip.hea").exists(), written.stderr
