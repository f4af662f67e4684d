"""WFDB round trip on the real strip, filters on injected interference, R-peaks vs neurokit2."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.signal as sps

from signxai import InputError
from signxai.ecg import Recording, load_mitbih_208
from signxai.ecg.beats import BEAT_SYMBOLS
from signxai.ecg.io import lead_names, load_array, read_beat_annotations, read_record, select, write_record
from signxai.ecg.preprocess import (
    detect_r_peaks,
    lowpass,
    notch,
    remove_baseline,
    resample,
    segment_beats,
    windows,
    znormalize,
)
from signxai.ecg.scoring import match_peaks


@pytest.mark.parametrize(("fmt", "bits"), [("16", 16), ("212", 12), ("24", 24), ("32", 32), ("80", 8)])
def test_every_writable_wfdb_format_round_trips(tmp_path: Path, fmt: str, bits: int) -> None:
    strip = load_mitbih_208()
    ten = strip.signal[:, :3600]
    two = Recording(np.vstack([ten, -0.5 * ten]), strip.fs, ["MLII", "X"])
    write_record(two, tmp_path / "r", fmt=fmt)
    back = read_record(tmp_path / "r")
    assert back.leads == ["MLII", "X"] and back.fs == strip.fs
    step = np.ptp(two.signal, axis=1, keepdims=True) / 2 ** (bits - 1)  # wfdb spans each lead's range
    assert (np.abs(back.signal - two.signal) <= step).all()


@pytest.mark.parametrize("fmt", ["8", "61", "160", "310", "311", "508", 16])
def test_formats_wfdb_cannot_write_are_an_input_error(tmp_path: Path, fmt: object) -> None:
    # before: wfdb's ValueError (61, 160, 310, 311) or a numpy TypeError from inside wfdb (8)
    with pytest.raises(InputError, match=r"fmt must be one of \['16', '212', '24', '32', '80'\]"):
        write_record(load_mitbih_208(), tmp_path / "r", fmt=fmt)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("record", "leads", "match"),
    [  # before: written, then unreadable (a space, an accent) or read back as another name
        (
            "my record",
            ["I"],
            r"path: a WFDB record name holds ASCII letters, digits, '_' and '-' only, got 'my record'",
        ),
        ("réc", ["I"], "got 'réc'"),
        (
            "r",
            ["aVR ü"],
            r"recording.leads: a WFDB header holds lead names of printable ASCII .* got 'aVR ü'",
        ),
        ("r", ["I "], "got 'I '"),  # before: wfdb's ValueError
        ("r", ["a\tb"], re.escape("got 'a\\tb'")),
        ("r", ["I", "II", "I"], r"recording.leads: a WFDB record's lead names must differ, \['I'\] repeat"),
    ],
)
def test_names_a_wfdb_header_cannot_hold_are_refused_before_writing(
    tmp_path: Path, record: str, leads: list[str], match: str
) -> None:
    recording = Recording(signal=np.zeros((len(leads), 360)), fs=360.0, leads=leads, name="x")
    with pytest.raises(InputError, match=match):
        write_record(recording, tmp_path / record)
    assert not any(tmp_path.iterdir())  # nothing half written


def test_lead_names_a_wfdb_header_holds_round_trip(tmp_path: Path) -> None:
    from signxai.ecg.io import wfdb_record_name

    leads = ["V1 (mV)", "I#1", "a,b", "aVR"]
    recording = Recording(signal=np.zeros((4, 360)), fs=360.0, leads=leads, name="x")
    name = wfdb_record_name("my ecg é")
    assert name == "my_ecg__"
    assert read_record(write_record(recording, tmp_path / name)).leads == leads


def test_wfdb_round_trip_of_the_real_strip(tmp_path: Path) -> None:
    strip = load_mitbih_208()
    header = write_record(strip, tmp_path / "r208")
    back = read_record(tmp_path / "r208")
    assert header.exists() and back.fs == 360 and back.leads == ["MLII"]
    assert write_record(strip, tmp_path / "again.hea") == tmp_path / "again.hea"  # named by its header
    np.testing.assert_array_equal(read_record(tmp_path / "again").signal, back.signal)
    for name in ("r208.xml", "r208.npy"):  # before: wfdb's bare Exception on the dot
        with pytest.raises(InputError, match=rf"path must be a WFDB record's path .*got '.*{name}'"):
            write_record(strip, tmp_path / name)
    # format 16 stores 1/adc_gain steps: the real strip comes back to within one step
    np.testing.assert_allclose(back.signal, strip.signal, atol=2e-3)
    part = read_record(tmp_path / "r208", leads=["MLII"], start=10.0, duration=2.0)
    np.testing.assert_allclose(part.signal, strip.signal[:, 3600:4320], atol=2e-3)
    with pytest.raises(InputError, match="not in the record"):
        read_record(tmp_path / "r208", leads=["V5"])
    with pytest.raises(InputError, match="outside"):
        read_record(tmp_path / "r208", start=400.0)
    with pytest.raises(InputError, match="not found"):
        read_record(tmp_path / "missing")
    (tmp_path / "model.pt").write_bytes(b"weights")
    with pytest.raises(InputError, match=r"is a \.pt file, no WFDB record .*GE MUSE and HL7 aECG \(\.xml\)"):
        read_record(tmp_path / "model.pt")
    with pytest.raises(InputError, match="is a folder, no WFDB record"):
        read_record(tmp_path)


def _write_in_units(path: Path, units: list[str], signal_mv: np.ndarray, names: list[str]) -> None:
    """The real strip's leads written by wfdb itself in ``units`` (values scaled to them)."""
    import wfdb

    scale = {"uV": 1e3, "V": 1e-3, "mV": 1.0, "mmHg": 1.0}
    values = signal_mv * np.array([scale[u] for u in units])[:, None]
    wfdb.wrsamp(
        path.name,
        fs=360,
        units=units,
        sig_name=names,
        p_signal=values.T,
        fmt=["32"] * len(units),
        adc_gain=[1e6 / scale[u] for u in units],
        baseline=[0] * len(units),
        write_dir=str(path.parent),
    )


def test_a_record_in_microvolts_or_volts_is_read_in_millivolts(tmp_path: Path) -> None:
    """Before, a record stored in uV came back 1000 times too large, labelled mV."""
    strip = load_mitbih_208().signal[:, :3600]
    _write_in_units(tmp_path / "rec", ["uV", "V", "mV"], np.repeat(strip, 3, axis=0), ["I", "II", "III"])
    back = read_record(tmp_path / "rec")
    np.testing.assert_allclose(back.signal, np.repeat(strip, 3, axis=0), atol=1e-6)


def test_an_edf_file_is_read_like_a_wfdb_record(tmp_path: Path) -> None:
    """The real strip (20 s of it) written as EDF by wfdb's converter and read back."""
    from wfdb.io.convert.edf import wfdb_to_edf

    strip = load_mitbih_208()
    part = Recording(signal=strip.signal[:, :7200], fs=strip.fs, leads=["MLII"], name="r208")
    write_record(part, tmp_path / "r208")
    wfdb_to_edf(str(tmp_path / "r208"), output_filename=str(tmp_path / "r208.edf"))
    back = read_record(tmp_path / "r208.edf")
    assert back.fs == 360 and back.leads == ["MLII"] and back.name == "r208"
    # EDF stores 16-bit values scaled to the physical range: within a step of the signal
    np.testing.assert_allclose(back.signal[:, :7200], part.signal, atol=5e-4)
    window = read_record(tmp_path / "r208.edf", leads=["MLII"], start=10.0, duration=2.0)
    np.testing.assert_allclose(window.signal, part.signal[:, 3600:4320], atol=5e-4)
    with pytest.raises(InputError, match="not in the record"):
        read_record(tmp_path / "r208.edf", leads=["V1"])
    with pytest.raises(InputError, match="not found"):
        read_record(tmp_path / "missing.edf")
    (tmp_path / "broken.edf").write_bytes(b"not an EDF file")
    with pytest.raises(InputError, match="could not be read as an EDF file"):
        read_record(tmp_path / "broken.edf")


def test_a_multi_frequency_record_reads_each_lead_at_its_own_rate(tmp_path: Path) -> None:
    """A WFDB record whose ECG is stored at twice its frame rate (format '16x2', written here by
    hand from the WFDB format's description) beside a respiration channel at the frame rate.
    Before, the ECG came back at the frame rate, each pair of samples averaged (wfdb's default),
    labelled with the frame rate and no word said; now it is read sample for sample at 360 Hz,
    its beat annotations (counted in frames) at its rate, and both channels at once are an error."""
    import wfdb

    strip = load_mitbih_208().signal[0, :7200]  # 20 s at 360 Hz: 3600 frames at 180 Hz
    ecg = np.round(strip * 200).astype("<i2")
    resp = np.round(1000 * np.sin(np.arange(3600) / 30)).astype("<i2")
    np.concatenate([ecg.reshape(3600, 2), resp[:, None]], axis=1).tofile(tmp_path / "mf.dat")
    (tmp_path / "mf.hea").write_text(
        "mf 2 180 3600\nmf.dat 16x2 200/mV 16 0 0 0 0 MLII\nmf.dat 16 1000/mV 16 0 0 0 0 Resp\n"
    )
    with pytest.raises(InputError, match=r"different sampling rates \('MLII' at 360 Hz; 'Resp' at 180 Hz\)"):
        read_record(tmp_path / "mf")
    assert lead_names(tmp_path / "mf") == ["MLII", "Resp"]  # without the rate check
    record = read_record(tmp_path / "mf", leads="MLII")
    assert record.fs == 360.0 and record.signal.shape == (1, 7200)
    np.testing.assert_array_equal(record.signal[0], ecg / 200)
    part = read_record(tmp_path / "mf", leads=["MLII"], start=1001 / 360, duration=333 / 360)
    np.testing.assert_array_equal(part.signal[0], ecg[1001:1334] / 200)  # from inside a frame
    resp_read = read_record(tmp_path / "mf", leads="Resp", start=2.0, duration=1.0)
    assert resp_read.fs == 180.0
    np.testing.assert_array_equal(resp_read.signal[0], resp[360:540] / 1000)
    averaged = wfdb.rdrecord(str(tmp_path / "mf")).p_signal[:, 0]  # what was read before
    assert len(averaged) == 3600 and np.abs(averaged - record.signal[0, ::2]).max() > 0.05

    frames = np.array([100, 1000, 2999])
    wfdb.wrann("mf", "atr", frames, symbol=["N", "V", "N"], fs=180, write_dir=str(tmp_path))
    beats = read_beat_annotations(tmp_path / "mf", leads="MLII", start=2.0)
    np.testing.assert_array_equal(beats.samples, 2 * frames[1:] - 720)
    assert beats.symbols == ["V", "N"] and beats.fs == 360.0
    slow = read_beat_annotations(tmp_path / "mf", leads="Resp")
    np.testing.assert_array_equal(slow.samples, frames)
    with pytest.raises(InputError, match="different sampling rates"):
        read_beat_annotations(tmp_path / "mf")


def test_a_multi_segment_record_is_read_across_its_segments(tmp_path: Path) -> None:
    """Multi-segment WFDB records (long recordings, MIMIC's waveforms): before, reading one was a
    TypeError (its header lists segments, not leads). A fixed layout is read across the segment
    boundary; in a variable layout a lead absent from a segment is a gap, named."""
    import wfdb

    strip = load_mitbih_208().signal[0, :9000]
    for name, part, leads in [("s0", strip[:3600], ["MLII"]), ("s1", strip[3600:], ["MLII", "V1"])]:
        values = np.stack([part, -part][: len(leads)], axis=1)
        wfdb.wrsamp(name, fs=360, units=["mV"] * len(leads), sig_name=leads, p_signal=values,
                    fmt=["16"] * len(leads), adc_gain=[200.0] * len(leads), baseline=[0] * len(leads),
                    write_dir=str(tmp_path))  # fmt: skip
    (tmp_path / "fixed.hea").write_text("fixed/2 1 360 9000\ns0 3600\ns1 5400\n")  # MLII in both
    (tmp_path / "var_layout.hea").write_text(
        "var_layout 2 360 0\n~ 16 200/mV 16 0 0 0 0 MLII\n~ 16 200/mV 16 0 0 0 0 V1\n"
    )
    (tmp_path / "var.hea").write_text("var/3 2 360 9000\nvar_layout 0\ns0 3600\ns1 5400\n")
    stored = np.round(strip * 200) / 200  # what 16 bits at 200 per mV keep
    fixed = read_record(tmp_path / "fixed", start=5.0, duration=10.0)
    assert fixed.leads == ["MLII"] and fixed.fs == 360.0 and fixed.name == "fixed"
    np.testing.assert_allclose(fixed.signal[0], stored[1800:5400], atol=1e-12)
    both = read_record(tmp_path / "var", start=12.0, duration=5.0)
    assert both.leads == ["MLII", "V1"]
    np.testing.assert_allclose(both.signal, [stored[4320:6120], -stored[4320:6120]], atol=1e-12)
    with pytest.raises(InputError, match=r"missing samples .* in lead 'V1': 1800 samples between 5.000"):
        read_record(tmp_path / "var", start=5.0, duration=10.0)
    mlii = read_record(tmp_path / "var", leads="MLII", start=5.0, duration=10.0)
    np.testing.assert_allclose(mlii.signal[0], stored[1800:5400], atol=1e-12)


def test_leads_in_no_unit_of_voltage_or_with_gaps_are_named(tmp_path: Path) -> None:
    strip = load_mitbih_208().signal[:, :3600]
    _write_in_units(tmp_path / "abp", ["mV", "mmHg"], np.repeat(strip, 2, axis=0), ["II", "ABP"])
    with pytest.raises(InputError, match=r"leads 'ABP' \(mmHg\) are not in units of voltage.*here: \['II'\]"):
        read_record(tmp_path / "abp")
    np.testing.assert_allclose(read_record(tmp_path / "abp", leads=["II"]).signal, strip, atol=1e-6)
    gap = np.repeat(strip, 2, axis=0)
    gap[1, 720:738] = np.nan  # 2.000-2.047 s of lead V1 missing (WFDB's invalid value on disk)
    _write_in_units(tmp_path / "gap", ["mV", "mV"], gap, ["II", "V1"])
    with pytest.raises(
        InputError, match=r"missing samples .* lead 'V1': 18 samples between 2.000 and 2.047 s"
    ):
        read_record(tmp_path / "gap")
    with pytest.raises(InputError, match=r"'V1': 18 samples between 2.000 and 2.047 s"):
        read_record(tmp_path / "gap", start=1.0)
    assert read_record(tmp_path / "gap", leads=["II"]).signal.shape == (1, 3600)
    assert read_record(tmp_path / "gap", start=3.0).signal.shape == (2, 2520)


def test_numpy_and_csv_loading(tmp_path: Path) -> None:
    signal = np.random.default_rng(0).normal(size=(2, 500))
    np.save(tmp_path / "a.npy", signal)
    np.savez(tmp_path / "b.npz", signal=signal)
    (tmp_path / "c.csv").write_text("I,II\n" + "\n".join(f"{a},{b}" for a, b in signal.T))
    for name in ("a.npy", "b.npz", "c.csv"):
        recording = load_array(tmp_path / name, fs=250)
        np.testing.assert_allclose(recording.signal, signal, rtol=1e-6)
    assert load_array(tmp_path / "c.csv", fs=250).leads == ["I", "II"]
    with pytest.raises(InputError, match="expected a .npy"):
        (tmp_path / "d.txt").write_text("1")
        load_array(tmp_path / "d.txt", fs=250)


def test_csv_exports_with_other_delimiters_units_and_time_columns(tmp_path: Path) -> None:
    """Semicolons and tabs; WFDB's ``rdsamp -c -H -v`` export (quoted header, a units row, the
    elapsed time in seconds or as hh:mm:ss.mmm); a sample-number column. Before, each was numpy's
    ValueError, or the time column read as a lead."""
    signal = np.round(np.random.default_rng(0).normal(size=(2, 500)), 6)
    rows = [f"{a},{b}" for a, b in signal.T]
    seconds = [f"{i / 250:.3f}" for i in range(500)]
    clock = [f"'0:{i // 250:02d}.{(i % 250) * 4:03d}'" for i in range(500)]
    rdsamp = ["'Elapsed time','MLII','V5'"]
    files = {  # name: lines, lead names
        "semicolon.csv": (["I;II", *(row.replace(",", ";") for row in rows)], ["I", "II"]),
        "tab.csv": ([row.replace(",", "\t") for row in rows], ["lead0", "lead1"]),
        "rdsamp.csv": (
            [*rdsamp, "'seconds','mV','mV'", *(f"{t},{r}" for t, r in zip(seconds, rows, strict=True))],
            ["MLII", "V5"],
        ),
        "clock.csv": (
            [*rdsamp, "'hh:mm:ss.mmm','mV','mV'", *(f"{t},{r}" for t, r in zip(clock, rows, strict=True))],
            ["MLII", "V5"],
        ),
        "numbered.csv": (["sample,I,II", *(f"{i},{r}" for i, r in enumerate(rows))], ["I", "II"]),
    }
    for name, (lines, leads) in files.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        recording = load_array(tmp_path / name, fs=250)
        np.testing.assert_allclose(recording.signal, signal, err_msg=name)
        assert recording.leads == leads, name
    (tmp_path / "latin1.csv").write_bytes("I;II\n\u00b5V;\u00b5V\n1;2\n3;4\n".encode("latin-1"))
    assert load_array(tmp_path / "latin1.csv", fs=250).leads == ["I", "II"]  # before: UnicodeDecodeError
    with pytest.raises(InputError, match=r"\('elapsed time'\) advances 0\.004 s a row \(250 Hz .*fs=360"):
        load_array(tmp_path / "rdsamp.csv", fs=360)
    for name, text, match in [
        ("still.csv", "time,I\n0,1\n0,2\n0,3\n", r"\('time'\) advances 0 s a row; fs=250 Hz was given"),
        ("ragged.csv", "1,2\n3\n", "row 2 of samples has 1 cells, expected 2"),
        ("word.csv", "1,2\n3,x\n", r"row 2 of samples, column 2: 'x' is no number"),
        ("empty.csv", "\n", "is empty"),
    ]:
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError, match=match):
            load_array(tmp_path / name, fs=250)


def test_numpy_files_that_hold_no_recording_are_named(tmp_path: Path) -> None:
    """Before: numpy's ValueError (objects, not a numpy file), TypeError (a structured array),
    IndexError (an empty .npz); a complex array lost its imaginary part with a warning, and an
    .npz with several arrays gave its first."""
    np.save(tmp_path / "objects.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    np.save(tmp_path / "complex.npy", np.ones((2, 10)) + 1j)
    np.save(tmp_path / "table.npy", np.zeros(10, dtype=[("a", "f4"), ("b", "i4")]))
    np.savez(tmp_path / "two.npz", a=np.ones((2, 10)), b=np.ones((3, 10)))
    np.savez(tmp_path / "none.npz")
    (tmp_path / "text.npy").write_bytes(b"no numpy file")
    import zipfile

    with zipfile.ZipFile(tmp_path / "damaged.npz", "w") as archive:  # a header cut short
        header = b"{'descr': '<f8', 'shape': (2, 10".ljust(117) + b"\n"  # unbalanced: numpy tokenizes it
        archive.writestr("ecg.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
    for name, match in [
        ("damaged.npz", r"is no numeric \.npz array \(numpy: "),  # before: tokenize's TokenError
        ("objects.npy", r"is no numeric \.npy array \(numpy: Object arrays cannot be loaded"),
        ("complex.npy", "holds an array of complex128; expected real numbers"),
        ("table.npy", "holds an array of .*; expected real numbers"),
        ("two.npz", r"holds 2 arrays \(a, b\); expected one, or one named 'signal'"),
        ("none.npz", r"holds 0 arrays \(none\)"),
        ("text.npy", r"is no numeric \.npy array"),
    ]:
        with pytest.raises(InputError, match=match):
            load_array(tmp_path / name, fs=250)
    np.savez(tmp_path / "named.npz", signal=np.ones((2, 10)), fs=np.array(250.0))
    assert load_array(tmp_path / "named.npz", fs=250).signal.shape == (2, 10)


def test_select_takes_leads_and_a_time_range_as_read_record_does(tmp_path: Path) -> None:
    strip = load_mitbih_208()
    two = Recording(
        signal=np.vstack([strip.signal[0, :3600], -strip.signal[0, :3600]]), fs=360, leads=["II", "V1"]
    )
    kept = two.signal.copy()
    part = select(two, leads=["V1", "II"], start=1.0, duration=2.5)
    assert part.leads == ["V1", "II"] and part.signal.shape == (2, 900) and part.fs == 360
    np.testing.assert_array_equal(part.signal, two.signal[::-1, 360:1260])
    np.testing.assert_array_equal(two.signal, kept)  # the recording is not changed
    part.signal[:] = 0
    np.testing.assert_array_equal(two.signal, kept)  # nor shares its samples
    write_record(two, tmp_path / "two")  # the same selection read from a WFDB record
    read = read_record(tmp_path / "two", leads=["V1", "II"], start=1.0, duration=2.5)
    np.testing.assert_allclose(read.signal, two.signal[::-1, 360:1260], atol=1e-3)
    np.testing.assert_array_equal(select(two).signal, two.signal)
    assert select(two, leads="V1").leads == ["V1"]  # one name alone
    assert read_record(tmp_path / "two", leads="V1").leads == ["V1"]
    for kwargs, match in [
        ({"duration": 10.5}, r"start/duration \(None, 10.5\) s fall outside the record's 10.0 s"),
        ({"start": 10.0}, "fall outside"),
        ({"leads": ["V5"]}, r"leads \['V5'\] are not in the record; it has \['II', 'V1'\]"),
        ({"start": -1.0}, "start must be >= 0 s"),
        ({"leads": []}, r"leads is empty: name at least one, or pass None for all of \['II', 'V1'\]"),
        ({"leads": [1]}, r"leads must be lead names \(a list of str\), got \[1\]"),
        ({"start": "1"}, "start must be a finite number of seconds, got '1'"),
        ({"start": float("inf")}, "start must be a finite number of seconds, got inf"),
        ({"duration": float("nan")}, "duration must be a finite number of seconds, got nan"),
    ]:
        with pytest.raises(InputError, match=match):
            select(two, **kwargs)
        with pytest.raises(InputError, match=match):
            read_record(tmp_path / "two", **kwargs)


def test_select_by_time_keeps_every_lead_of_a_recording_without_lead_names() -> None:
    """A Recording built from an array names no leads; a time selection kept none of its rows
    (an empty signal, an InputError) before."""
    unnamed = Recording(signal=np.arange(2000.0).reshape(2, 1000), fs=100.0)
    part = select(unnamed, start=1.0, duration=2.0)
    assert part.leads == [] and part.signal.shape == (2, 200)
    np.testing.assert_array_equal(part.signal, unnamed.signal[:, 100:300])
    with pytest.raises(InputError, match=r"leads \['II'\] cannot be chosen: the recording names no leads"):
        select(unnamed, leads="II")


def _power_at(x: np.ndarray, fs: float, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / fs)
    return float(spectrum[np.argmin(np.abs(freqs - freq))])


def test_filters_remove_injected_powerline_and_baseline_drift() -> None:
    strip = load_mitbih_208()
    fs = strip.fs
    clean = strip.signal[0, : 60 * 360]
    t = np.arange(len(clean)) / fs
    hum = 0.3 * np.sin(2 * np.pi * 50 * t)
    drift = 0.8 * np.sin(2 * np.pi * 0.15 * t)
    noisy = clean + hum + drift
    filtered = notch(noisy, fs, 50.0)
    attenuation = 10 * np.log10(_power_at(noisy, fs, 50) / _power_at(filtered, fs, 50))
    assert attenuation > 30  # dB
    flat = remove_baseline(noisy, fs, 0.5)
    # the filter is linear: what is left of the drift is the filtered drift alone
    residual = flat - remove_baseline(clean + hum, fs, 0.5)
    assert np.sqrt(np.mean(residual[3600:-3600] ** 2)) < 0.02 * np.sqrt(np.mean(drift**2))
    assert _power_at(flat, fs, 0.15) < 1e-3 * _power_at(noisy, fs, 0.15)
    smooth = lowpass(noisy, fs, 30.0)
    assert _power_at(smooth, fs, 50) < 1e-2 * _power_at(noisy, fs, 50)
    with pytest.raises(InputError, match="cutoff"):
        lowpass(noisy, fs, 400.0)


def test_resample_windows_and_znormalize() -> None:
    x = np.sin(2 * np.pi * 1.0 * np.arange(3600) / 360)
    y = resample(x, 360, 250)
    assert len(y) == 2500
    np.testing.assert_allclose(y[100:-100], np.sin(2 * np.pi * np.arange(2500) / 250)[100:-100], atol=1e-2)
    parts, starts = windows(np.stack([x, x]), 1000, 500)
    assert parts.shape == (6, 2, 1000) and list(starts) == [0, 500, 1000, 1500, 2000, 2500]
    z = znormalize(parts)
    np.testing.assert_allclose(z.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(-1), 1, atol=1e-12)
    # one recording's layout only: before, recordings stacked on a first axis were cut along the leads
    # (a window as long as the recording came back as the whole stack, with no error)
    with pytest.raises(
        InputError, match=r"ecg must be \(samples,\) or \(leads, samples\), got shape \(3, 2, 1000\)"
    ):
        windows(np.stack([parts[0]] * 3), 1000)


def test_r_peaks_on_record_208_agree_with_neurokit2(peaks_208) -> None:
    ours, reference, fs = peaks_208
    assert abs(len(ours) - len(reference)) <= 0.02 * len(reference)
    # beat by beat within 150 ms (EC57's window; ventricular complexes are wide)
    match = match_peaks(ours, reference, fs)
    assert match.sensitivity >= 0.98 and match.positive_predictivity >= 0.98


@pytest.mark.parametrize(
    ("slower", "bpm", "found_at_default"),
    [(19, 198, (0.94, 0.97)), (21, 219, (0.85, 0.89))],
)
def test_the_refractory_period_caps_the_rate_as_the_docstring_says(
    slower: int, bpm: int, found_at_default: tuple[float, float]
) -> None:
    """Record 208 sped up by resampling (``resample_poly(ecg, 10, slower)`` read at 360 Hz, its
    morphology compressed too), scored against its own 503 peaks on the unchanged record, moved
    to the new time scale: the numbers ``detect_r_peaks``' docstring gives for 0.25 and 0.2 s."""
    from scipy.signal import resample_poly

    strip = load_mitbih_208()
    ecg, fs = strip.signal[0], strip.fs
    reference = np.round(detect_r_peaks(ecg, fs) * 10 / slower).astype(int)
    assert abs(60 * fs / np.median(np.diff(reference)) - bpm) < 1.5
    fast = resample_poly(ecg, 10, slower)
    default = match_peaks(detect_r_peaks(fast, fs), reference, fs)
    assert found_at_default[0] <= default.sensitivity <= found_at_default[1]  # 95 % and 87 %
    assert default.positive_predictivity >= 0.99
    shorter = match_peaks(detect_r_peaks(fast, fs, refractory=0.2), reference, fs)
    assert shorter.sensitivity >= 0.985 and shorter.positive_predictivity >= 0.99  # 99 %


@pytest.mark.parametrize("bpm", [40, 120, 220])
@pytest.mark.parametrize("fs", [250, 500])
def test_r_peaks_of_simulated_ecgs_from_40_to_220_bpm(bpm: int, fs: int) -> None:
    """neurokit2's ECGSYN simulation, 30 s with noise, upright and inverted: one peak per beat
    (the complex the recording starts in may count too), each on its QRS complex (the simulated
    R waves found on the noise-free signal, within 150 ms). At 220 bpm neurokit2's own
    ``ecg_peaks`` finds every other beat (54)."""
    import neurokit2 as nk

    clean = nk.ecg_simulate(duration=30, sampling_rate=fs, heart_rate=bpm, noise=0, random_state=1)
    noisy = nk.ecg_simulate(duration=30, sampling_rate=fs, heart_rate=bpm, noise=0.1, random_state=1)
    reference = detect_r_peaks(clean, fs)
    assert abs(len(reference) - bpm / 2) <= 1.5  # the beats of 30 s, one more at an edge
    for signal in (noisy, -noisy):
        match = match_peaks(detect_r_peaks(signal, fs), reference, fs)
        assert match.sensitivity == 1.0 and match.positive_predictivity == 1.0


def test_a_flat_stretch_or_a_constant_signal_has_no_r_peaks() -> None:
    """A lead off for 30 s (the signal held at its last value) and a constant signal: before, the
    threshold, relative to each 10 s block's own level, found peaks in the filters' rounding noise
    (7 in the stretch, 34 in 10 s of a constant). The beats around the stretch are still found."""
    strip = load_mitbih_208()
    ecg, fs = strip.signal[0].copy(), strip.fs
    everywhere = detect_r_peaks(ecg, fs)
    start, stop = int(100 * fs), int(130 * fs)
    ecg[start:stop] = ecg[start]
    peaks = detect_r_peaks(ecg, fs)
    assert not ((peaks > start + 0.1 * fs) & (peaks < stop - 0.1 * fs)).any()
    outside = everywhere[(everywhere < start - fs) | (everywhere > stop + fs)]
    assert np.isin(outside, peaks).mean() > 0.99
    for level in (0.0, 0.7, -1024.0):
        assert len(detect_r_peaks(np.full(3600, level), fs)) == 0


def test_a_constant_lead_without_its_baseline_is_zero_and_has_no_r_peaks() -> None:
    """A constant lead (off at an offset, a clipped amplifier) through remove_baseline, as the
    analysis, the CLI and signal_quality detect beats: before, the high-pass left rounding noise of
    the offset's scale (1.2e-13 for 1 mV), and the detector, which cannot know that scale, found
    beats in it (4 in 100 s at 1 mV, 317 at 1000). Now each lead's first sample is subtracted
    first: the output is exactly zero, and record 208's baseline-removed lead changes by 3.4e-13."""
    fs = 360.0
    for level in (1.0, 5.0, -3.2, 1000.0, 1e5):
        flat = remove_baseline(np.full(36_000, level), fs)
        assert not flat.any() and len(detect_r_peaks(flat, fs)) == 0
    strip = load_mitbih_208()
    two = np.vstack([strip.signal[0], np.full(108_000, 2.5)])
    without = remove_baseline(two, fs)
    assert not without[1].any()
    sos = sps.butter(2, 0.5, btype="highpass", fs=fs, output="sos")
    np.testing.assert_allclose(without[0], sps.sosfiltfilt(sos, strip.signal[0]), rtol=0, atol=1e-11)


@pytest.mark.parametrize("start", [95.0, 103.0, 150.0])
def test_r_peaks_after_an_abrupt_amplitude_drop_are_missed_only_near_its_edges(start: float) -> None:
    """30 s of record 208 at a tenth of its amplitude: 15-24 of about 50 beats were missed with
    10 s blocks from 20 s windows (the whole first block after the drop); with 5 s blocks, at most
    12, each within 5 s of an edge, or 5.5 s: the shallow-peak test drops one more beat at 150 s,
    5.45 s before the drop ends, as too shallow beside the larger beats after it."""
    strip = load_mitbih_208()
    fs = strip.fs
    reference = detect_r_peaks(strip.signal[0], fs)
    ecg = strip.signal[0].copy()
    first, last = int(start * fs), int((start + 30) * fs)
    ecg[first:last] *= 0.1
    peaks = detect_r_peaks(ecg, fs)
    inside = reference[(reference > first) & (reference < last)]
    missed = np.array([r for r in inside if np.min(np.abs(peaks - r)) > 0.15 * fs])
    assert len(missed) <= 12
    assert np.all((missed < first + 5.5 * fs) | (missed > last - 5.5 * fs))


def test_beat_annotations_round_trip_through_a_wfdb_annotation_file(tmp_path: Path) -> None:
    """The strip's R-peaks written as an annotation file beside it, with the rhythm, noise and
    comment annotations a reference file holds: the beats come back, the others are left out,
    and a time range counts from its start, as read_record's does."""
    import wfdb

    strip = load_mitbih_208()
    fs = strip.fs
    write_record(strip, tmp_path / "r208")
    peaks = detect_r_peaks(strip.signal[0], fs)
    beats = ["V" if k % 5 == 0 else "N" for k in range(len(peaks))]
    others = np.array([5, int(30 * fs) + 7, int(30 * fs) + 9])  # '+' rhythm, '~' noise, '"' comment
    samples = np.concatenate([peaks, others])
    symbols = [*beats, "+", "~", '"']
    order = np.argsort(samples, kind="stable")
    wfdb.wrann(
        "r208", "atr", samples[order], symbol=[symbols[i] for i in order], fs=fs, write_dir=str(tmp_path)
    )
    annotations = read_beat_annotations(tmp_path / "r208")
    np.testing.assert_array_equal(annotations.samples, peaks)
    assert annotations.symbols == beats and annotations.fs == fs
    assert set(beats) <= BEAT_SYMBOLS and not {"+", "~", '"'} & BEAT_SYMBOLS
    part = read_beat_annotations(tmp_path / "r208.hea", start=60.0, duration=10.0)
    inside = (peaks >= 60 * fs) & (peaks < 70 * fs)
    np.testing.assert_array_equal(part.samples, peaks[inside] - int(60 * fs))
    assert part.symbols == [b for b, keep in zip(beats, inside, strict=True) if keep]
    record = read_record(tmp_path / "r208", start=60.0, duration=10.0)
    assert part.samples.max() < record.signal.shape[1]
    with pytest.raises(InputError, match=r"r208.qrs' not found; the record's other files: \['atr'\]"):
        read_beat_annotations(tmp_path / "r208", extension="qrs")
    wfdb.wrann("r208", "fast", peaks[:3] * 2, symbol=["N"] * 3, fs=720, write_dir=str(tmp_path))
    with pytest.raises(InputError, match="counts samples at 720 Hz, its record at 360 Hz"):
        read_beat_annotations(tmp_path / "r208", extension="fast")
    with pytest.raises(InputError, match="extension must be"):
        read_beat_annotations(tmp_path / "r208", extension=".atr")
    with pytest.raises(InputError, match="outside the record"):
        read_beat_annotations(tmp_path / "r208", start=400.0)
    with pytest.raises(InputError, match="not found"):
        read_beat_annotations(tmp_path / "missing")


def test_segment_beats_gives_centred_windows() -> None:
    strip = load_mitbih_208()
    peaks = detect_r_peaks(strip.signal[0], strip.fs)
    beats, kept = segment_beats(strip.signal, peaks, strip.fs, before=0.25, after=0.45, length=140)
    assert beats.shape == (len(kept), 1, 140) and len(kept) >= len(peaks) - 2
    with pytest.raises(InputError):
        segment_beats(strip.signal[:, :100], peaks[:1] + 10_000, strip.fs)
    assert isinstance(Recording(signal=strip.signal, fs=360.0), Recording)
    # a batch of recordings is no recording: refused by name (before, an empty (2, n, 0, 1000) result)
    with pytest.raises(InputError, match=r"ecg must be \(samples,\) or \(leads, samples\), got shape \(2,"):
        segment_beats(np.stack([strip.signal[:, :1000]] * 2), np.array([300, 600]), strip.fs)


def test_znormalize_takes_lists() -> None:
    np.testing.assert_allclose(znormalize([1, 2, 3]), [-1.2247449, 0.0, 1.2247449], rtol=1e-6)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: remove_baseline(np.zeros(5), 360),
            r"ecg has 5 samples .* baseline high-pass needs more than 9",
        ),
        (lambda: notch(np.zeros((2, 8)), 360), r"ecg has 8 samples .* notch filter needs more than 9"),
        (lambda: lowpass(np.r_[np.zeros(99), np.nan], 360), "1 non-finite"),
        (lambda: remove_baseline(np.zeros(0), 360), "empty"),
        (lambda: lowpass(np.array(["a", "b"]), 360), "array of numbers"),
        (lambda: lowpass(np.zeros(1000), 0), "fs must be a positive"),
        (lambda: detect_r_peaks(np.zeros(10), 360), "R-peak detector needs more than"),
        (lambda: detect_r_peaks(np.zeros(1000), 25), "fs must exceed 30 Hz"),
        (lambda: detect_r_peaks(np.r_[np.zeros(999), np.inf], 360), "1 non-finite"),
        (lambda: resample(np.r_[np.zeros(99), np.nan], 360, 100), "1 non-finite"),
        (lambda: znormalize(np.zeros((2, 0))), "empty"),
        (lambda: remove_baseline(360, 360), "ecg must be an array of samples, got the single number 360"),
        (lambda: znormalize(0.5), "got the single number 0.5"),
        (lambda: notch(np.zeros(1000), 360, "60"), "freq must be a finite number in Hz, got '60'"),
        (lambda: notch(np.zeros(1000), 360, None), "freq must be a finite number in Hz, got None"),
    ],
)
def test_filters_name_bad_signals(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=match):
        call()


def test_pauses_that_keep_their_p_waves_get_no_beat_up_to_14_s() -> None:
    """Ventricular standstill with the atria going on: record 208's 2 s T-P stretch after its beat
    at 96.3 s (P wave included), repeated to fill a pause of 4-14 s at four places, gets no beat
    inside, and the beats within 10 s of the pause are all found. From 8 s on, the threshold falls
    to the P waves: without the shallow-peak test (``min_steepness=0``) the 8 s pauses got 4 false
    beats in three of the four places; 20 s pauses get them even with it (see the docstring)."""
    strip = load_mitbih_208()
    ecg, fs = strip.signal[0], strip.fs
    peaks = detect_r_peaks(ecg, fs)
    k = int(np.argmax(np.where(np.abs(peaks[:-1] / fs - 96.3) < 0.5, np.diff(peaks), 0)))
    stretch = ecg[peaks[k] + int(0.42 * fs) : peaks[k + 1] - int(0.2 * fs)]
    assert 1.9 < len(stretch) / fs < 2.1
    stretch = stretch - np.linspace(0, stretch[-1] - stretch[0], len(stretch))  # its ends meet
    for seconds in (4.0, 6.0, 8.0, 10.0, 14.0):
        filler = np.tile(stretch, 8)[: int(seconds * fs)]
        for place in (20, 80, 150, 220):
            at = int(peaks[np.searchsorted(peaks, place * fs)] - 0.2 * fs)
            paused = np.concatenate([ecg[:at], filler - filler[0] + ecg[at], ecg[at:]])
            low, high = at + 0.15 * fs, at + len(filler) - 0.15 * fs  # inside the pause
            detected = detect_r_peaks(paused, fs)
            assert not ((detected > low) & (detected < high)).any(), (seconds, place)
            if seconds == 8.0 and place != 20:
                without = detect_r_peaks(paused, fs, min_steepness=0)
                assert ((without > low) & (without < high)).sum() == 4, place
            moved = np.where(peaks >= at, peaks + len(filler), peaks)
            near = moved[np.abs(moved - at - len(filler) / 2) < len(filler) / 2 + 10 * fs]
            gaps = np.abs(near[:, None] - detected[None, :]).min(axis=1)
            assert gaps.max() <= 2, (seconds, place, gaps.max())  # measured: at most 1 sample


def test_search_back_finds_small_beats_in_long_rr_intervals_and_not_t_waves_in_pauses() -> None:
    """Record 208's PVCs set a high threshold: 40 of its beats' QRS complexes scaled to 35 % were
    found 20 times without search-back. With it, a long RR interval is searched again at half the
    threshold for a QRS-steep peak: 35 are found. 40 QRS complexes removed instead (pauses that
    keep their P and T waves, in three draws): at most one pause per draw gets a peak 150 ms or
    more from every QRS (a T wave or a noise spike) that it did not get before (measured: 1 each)."""
    strip = load_mitbih_208()
    ecg, fs = strip.signal[0], strip.fs
    peaks = detect_r_peaks(ecg, fs)
    without = detect_r_peaks(ecg, fs, search_back=False)
    assert len(peaks) == len(without) + 1  # one beat in a saturation artefact at 44.1 s
    assert abs(float(np.setdiff1d(peaks, without)[0]) / fs - 44.1) < 0.05
    chosen = np.random.default_rng(0).choice(np.arange(5, len(peaks) - 5), 40, replace=False)
    small = ecg - np.median(ecg)
    for k in chosen:  # the 200 ms around the R-peak
        small[peaks[k] - int(0.1 * fs) : peaks[k] + int(0.1 * fs)] *= 0.35

    def found(detected: np.ndarray) -> int:
        return sum(np.min(np.abs(detected - peaks[k])) <= 0.15 * fs for k in chosen)

    assert found(detect_r_peaks(small, fs, search_back=False)) <= 25
    assert found(detect_r_peaks(small, fs)) >= 33
    for seed in range(3):
        gone = np.random.default_rng(seed).choice(np.arange(5, len(peaks) - 5, 3), 40, replace=False)
        paused = ecg.copy()
        for k in gone:
            first, last = peaks[k] - int(0.12 * fs), peaks[k] + int(0.12 * fs)
            paused[first:last] = np.linspace(paused[first], paused[last], last - first)
        kept = np.delete(peaks, gone)
        detected = detect_r_peaks(paused, fs)
        assert np.isin(kept, detected).mean() > 0.99

        def off_qrs(detected: np.ndarray) -> int:  # not a removed complex's remnant either
            return sum(np.min(np.abs(peaks - p)) > 0.15 * fs for p in detected)

        assert off_qrs(detected) <= off_qrs(detect_r_peaks(paused, fs, search_back=False)) + 1
    with pytest.raises(InputError, match="search_back must be True or False"):
        detect_r_peaks(ecg, fs, search_back="yes")  # type: ignore[arg-type]


def _short_record(path: Path) -> Path:
    return write_record(Recording(signal=np.zeros((1, 3600)), fs=360.0, leads=["MLII"], name="x"), path)


def test_a_note_on_which_wfdbs_reader_loops_forever_is_an_input_error(tmp_path: Path) -> None:
    """wfdb.rdann (4.x) never returns on a note at sample 0 that starts with '## ' and is no time
    resolution or definitions block (a device's '## recorded by ...'); before, reading hung."""
    import threading

    import wfdb

    _short_record(tmp_path / "r")
    samples = np.array([0, 100, 400])
    wfdb.wrann("r", "atr", samples, symbol=['"', "N", "V"], aux_note=["## recorded by device X", "", ""],
               write_dir=str(tmp_path))  # fmt: skip
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            read_beat_annotations(tmp_path / "r")
            outcome.append(None)
        except BaseException as error:  # reported below
            outcome.append(error)

    reader = threading.Thread(target=read, daemon=True)  # a regression would hang: the test fails
    reader.start()
    reader.join(60)
    assert outcome, "read_beat_annotations hung"
    assert isinstance(outcome[0], InputError)
    assert "holds the note '## recorded by device X' at sample 0, on which wfdb's reader loops" in str(
        outcome[0]
    )
    # the notes wfdb writes and reads: its time resolution and a definitions block
    wfdb.wrann("r", "atr", samples[1:], symbol=["N", "V"], fs=360, write_dir=str(tmp_path),
               custom_labels=[(42, "Q", "a custom label")])  # fmt: skip
    assert read_beat_annotations(tmp_path / "r").symbols == ["N", "V"]


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (
            lambda d: (d / "r.hea").write_text("r 1 36x0 3600\nr.dat 16 200/mV 16 0 0 0 0 MLII\n"),
            r"header '.*r\.hea' cannot",
        ),
        (
            lambda d: (d / "r.hea").write_text("r 1 360\n"),
            r"header '.*r\.hea' cannot be read by wfdb, damaged",
        ),
        (
            lambda d: (d / "r.dat").write_bytes((d / "r.dat").read_bytes()[:100]),
            r"record '.*r' cannot be read by wfdb",
        ),
        (
            lambda d: (d / "r.atr").write_bytes(b"\xff" * 7),
            r"annotation file '.*r\.atr' cannot be read by wfdb",
        ),
    ],
)
def test_a_damaged_wfdb_file_is_an_input_error_naming_it(tmp_path: Path, damage, match: str) -> None:
    """Before: wfdb's HeaderSyntaxError, TypeError, ValueError ('Samples were not loaded
    correctly') or KeyError escaped as they were."""
    import wfdb

    _short_record(tmp_path / "r")
    wfdb.wrann("r", "atr", np.array([100, 400]), symbol=["N", "V"], write_dir=str(tmp_path))
    damage(tmp_path)
    with pytest.raises(InputError, match=match):
        read_record(tmp_path / "r")
        read_beat_annotations(tmp_path / "r")


def test_an_edf_file_without_data_records_is_an_input_error(tmp_path: Path) -> None:
    path = write_record(
        Recording(signal=np.zeros((1, 3600)), fs=360.0, leads=["MLII"], name="x"), tmp_path / "a.edf"
    )
    header_bytes = 256 + 256  # one signal
    path.write_bytes(path.read_bytes()[:header_bytes])  # before: edfio's IndexError
    with (
        pytest.warns(UserWarning),
        pytest.raises(InputError, match=r"holds no data records: an empty or truncated"),
    ):
        read_record(path)
