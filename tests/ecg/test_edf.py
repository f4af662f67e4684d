"""EDF, EDF+ and BDF files: signals and annotations against files written byte by byte from the
EDF+ specification (https://www.edfplus.info/specs/edfplus.html), by ``edfio`` and by ``wfdb``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signxai.ecg import load_mitbih_208
from signxai.ecg.datasets import Recording
from signxai.ecg.io import BeatAnnotations, lead_names, read_beat_annotations, read_record, write_record
from signxai.ecg.preprocess import detect_r_peaks
from signxai.errors import InputError

DIGITAL = (-32768, 32767)


def _field(value: object, width: int) -> bytes:
    text = str(value).encode("ascii")
    assert len(text) <= width, (value, width)
    return text.ljust(width)


def _digital(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Physical values as the file's 16-bit numbers (the range low..high onto -32768..32767)."""
    scale = (DIGITAL[1] - DIGITAL[0]) / (high - low)
    return np.clip(np.round((values - low) * scale + DIGITAL[0]), *DIGITAL).astype("<i2")


def physical(digital: np.ndarray, low: float, high: float) -> np.ndarray:
    """The specification's value of a stored number: what a reader must return."""
    return (digital.astype(np.float64) - DIGITAL[0]) * (high - low) / (DIGITAL[1] - DIGITAL[0]) + low


def write_edf_plus(
    path: Path,
    channels: list[tuple[str, float, np.ndarray, str, float, float]],
    tals: dict[int, list[bytes]],
    record_seconds: float = 1.0,
    record_onsets: list[float] | None = None,
    kind: str = "EDF+C",
    annotation_bytes: int = 400,
) -> None:
    """An EDF+ file written by hand: ``channels`` as (label, Hz, physical values, unit, physical
    minimum, maximum), an 'EDF Annotations' channel whose data record ``k`` holds the
    timekeeping TAL (its onset ``record_onsets[k]``, default k * record_seconds) and ``tals[k]``."""
    records = round(len(channels[0][2]) / (channels[0][1] * record_seconds))
    onsets = record_onsets or [k * record_seconds for k in range(records)]
    per_record = [round(fs * record_seconds) for _, fs, *_ in channels] + [annotation_bytes // 2]
    signals = len(channels) + 1
    labels = [c[0] for c in channels] + ["EDF Annotations"]
    units = [c[3] for c in channels] + [""]
    lows = [c[4] for c in channels] + [-1]
    highs = [c[5] for c in channels] + [1]
    header = b"".join(
        [
            _field(0, 8),
            _field("X X X X", 80),
            _field("Startdate 01-JAN-2026 X X X", 80),
            _field("01.01.26", 8),
            _field("00.00.00", 8),
            _field(256 * (signals + 1), 8),
            _field(kind, 44),
            _field(records, 8),
            _field(f"{record_seconds:g}", 8),
            _field(signals, 4),
            *(_field(label, 16) for label in labels),
            *(_field("", 80) for _ in labels),
            *(_field(unit, 8) for unit in units),
            *(_field(f"{low:g}", 8) for low in lows),
            *(_field(f"{high:g}", 8) for high in highs),
            *(_field(DIGITAL[0], 8) for _ in labels),
            *(_field(DIGITAL[1], 8) for _ in labels),
            *(_field("", 80) for _ in labels),
            *(_field(n, 8) for n in per_record),
            *(_field("", 32) for _ in labels),
        ]
    )
    body = []
    for k in range(records):
        for (_, _, values, _, low, high), n in zip(channels, per_record, strict=False):
            body.append(_digital(values[k * n : (k + 1) * n], low, high).tobytes())
        annotation = f"+{onsets[k]:g}\x14\x14\x00".encode() + b"".join(tals.get(k, []))
        assert len(annotation) <= annotation_bytes
        body.append(annotation.ljust(annotation_bytes, b"\x00"))
    path.write_bytes(header + b"".join(body))


def tal(onset: float, *texts: str, duration: float | None = None) -> bytes:
    """One time-stamped annotation list: an onset, an optional duration, one or more texts."""
    stamp = f"+{onset:g}" + ("" if duration is None else f"\x15{duration:g}")
    return (stamp + "\x14" + "".join(f"{text}\x14" for text in texts) + "\x00").encode()


@pytest.fixture(scope="module")
def strip() -> np.ndarray:
    """40 s of the real strip (MLII, mV)."""
    return load_mitbih_208().signal[0, : 40 * 360]


@pytest.fixture(scope="module")
def peaks(strip: np.ndarray) -> np.ndarray:
    return detect_r_peaks(strip, 360.0)


def _by_record(onsets: list[float], texts: list[tuple[str, ...]]) -> dict[int, list[bytes]]:
    """TALs in the data record of their onset (1 s records)."""
    tals: dict[int, list[bytes]] = {}
    for onset, words in zip(onsets, texts, strict=True):
        tals.setdefault(int(onset), []).append(tal(onset, *words))
    return tals


def test_an_edf_plus_file_gives_its_signals_and_beats_as_the_specification_says(
    tmp_path: Path, strip: np.ndarray, peaks: np.ndarray
) -> None:
    """Before, an EDF+ file (every EDF+ file has an annotation channel) failed in wfdb's reader
    (a broadcast error). Two ECG leads (one in uV), a respiration channel at 10 Hz, beats coded
    N and V, events that are no beats, two texts in one TAL."""
    resp = np.sin(np.arange(400) / 5.0)
    path = tmp_path / "rec.edf"
    codes = ["V" if k % 7 == 3 else "N" for k in range(len(peaks))]
    onsets = [p / 360 for p in peaks] + [0.5, 12.25]
    texts = [(code,) for code in codes] + [("Recording starts",), ("lights off", "Artifact")]
    channels = [
        ("MLII", 360.0, strip, "mV", -5.0, 5.0),
        ("V1", 360.0, -1000 * strip, "uV", -5000.0, 5000.0),
        ("Resp", 10.0, resp, "Ohm", -2.0, 2.0),
    ]
    write_edf_plus(path, channels, _by_record(onsets, texts))

    assert lead_names(path) == ["MLII", "V1", "Resp"]
    with pytest.raises(
        InputError, match=r"different sampling rates \('MLII', 'V1' at 360 Hz; 'Resp' at 10 Hz\)"
    ):
        read_record(path)
    record = read_record(path, leads=["V1", "MLII"])
    assert record.fs == 360.0 and record.leads == ["V1", "MLII"] and record.name == "rec"
    expected_mlii = physical(_digital(strip, -5.0, 5.0), -5.0, 5.0)
    expected_v1 = physical(_digital(-1000 * strip, -5000.0, 5000.0), -5000.0, 5000.0) / 1000
    np.testing.assert_allclose(record.signal[1], expected_mlii, rtol=0, atol=1e-12)
    np.testing.assert_allclose(record.signal[0], expected_v1, rtol=0, atol=1e-12)
    part = read_record(path, leads="MLII", start=12.5, duration=7.25)
    np.testing.assert_array_equal(part.signal[0], record.signal[1, 4500 : 4500 + 2610])
    with pytest.raises(InputError, match=r"'Resp' \(Ohm\) are not in units of voltage"):
        read_record(path, leads="Resp")

    beats = read_beat_annotations(path, leads="MLII")
    np.testing.assert_array_equal(beats.samples, peaks)  # onsets of p / 360 s, back to sample p
    assert beats.symbols == codes and beats.fs == 360.0
    window = read_beat_annotations(path, leads=["MLII"], start=12.5, duration=7.25)
    inside = (peaks >= 4500) & (peaks < 4500 + 2610)
    np.testing.assert_array_equal(window.samples, peaks[inside] - 4500)
    assert window.symbols == [c for c, keep in zip(codes, inside, strict=True) if keep]
    assert window.samples.max() < part.signal.shape[1]
    with pytest.raises(InputError, match="different sampling rates"):
        read_beat_annotations(path)  # the rate the samples count in is the leads'
    with pytest.raises(InputError, match=r"extension names a WFDB annotation file, got 'atr'"):
        read_beat_annotations(path, "atr", leads="MLII")


def test_a_unit_written_in_latin_1_is_read(tmp_path: Path, strip: np.ndarray) -> None:
    """'µV' as many devices write it (Latin-1 byte 0xB5; EDF headers are meant to be ASCII):
    before, read as an unknown unit and the lead refused; now microvolts."""
    path = tmp_path / "micro.edf"
    write_edf_plus(path, [("ECG", 360.0, 1000 * strip[:3600], "uV", -5000.0, 5000.0)], {})
    raw = path.read_bytes()
    unit_at = 256 + 2 * (16 + 80)  # after the labels and transducer fields of both channels
    assert raw[unit_at : unit_at + 2] == b"uV"
    path.write_bytes(raw[:unit_at] + b"\xb5" + raw[unit_at + 1 :])
    expected = physical(_digital(1000 * strip[:3600], -5000.0, 5000.0), -5000.0, 5000.0) / 1000
    np.testing.assert_allclose(read_record(path).signal[0], expected, rtol=0, atol=1e-12)


def test_texts_that_are_no_beat_codes_are_mapped_or_named(
    tmp_path: Path, strip: np.ndarray, peaks: np.ndarray
) -> None:
    """A file that marks its beats 'QRS' and 'PVC': without codes= an error lists the texts, with
    them the beats are read; an annotation placed in another data record than its onset's (the
    specification allows it) is read at its onset."""
    path = tmp_path / "words.edf"
    words = ["PVC" if k % 5 == 0 else "QRS" for k in range(len(peaks))]
    tals = _by_record([p / 360 for p in peaks], [(w,) for w in words])
    moved = tals[int(peaks[3] / 360)].pop()  # beat 3's TAL, stored in the last data record
    tals[39].append(moved)
    write_edf_plus(path, [("ECG", 360.0, strip, "mV", -5.0, 5.0)], tals)
    with pytest.raises(
        InputError,
        match=r"none of the \d+ annotations of '.*words.edf' is a beat: their texts are 'QRS' \d+, 'PVC' \d+",
    ):
        read_beat_annotations(path)
    beats = read_beat_annotations(path, codes={"QRS": "N", "PVC": "V"})
    np.testing.assert_array_equal(beats.samples, peaks)
    assert beats.symbols == ["V" if w == "PVC" else "N" for w in words]
    only_pvc = read_beat_annotations(path, codes={"PVC": "V"})  # 'QRS' left out as a non-beat text
    np.testing.assert_array_equal(only_pvc.samples, peaks[::5])
    for wrong, message in [
        ({"QRS": "X"}, r"codes maps \{'QRS': 'X'\} to codes that mark no beat"),
        (["N"], "codes must map annotation texts to WFDB beat codes"),
        ({1: "N"}, "codes must map annotation texts"),
    ]:
        with pytest.raises(InputError, match=message):
            read_beat_annotations(path, codes=wrong)


def _plain_edf(tmp_path: Path, strip: np.ndarray) -> Path:
    """A plain EDF file (no annotation channel), written by edfio."""
    import edfio

    path = tmp_path / "plain.edf"
    edfio.Edf([edfio.EdfSignal(strip[:720], sampling_frequency=360.0, label="ECG")]).write(path)
    return path


def test_a_discontinuous_file_is_read_one_part_at_a_time(tmp_path: Path, strip: np.ndarray) -> None:
    """EDF+D written by hand: four 1-s data records, the third starting 10 s after the second
    ends (a recording paused and resumed). Samples and beats are on the recording's time axis:
    a range within one part reads as the specification says; the gap is never bridged."""
    channel = [("ECG", 360.0, strip[: 4 * 360], "mV", -5.0, 5.0)]
    gap = tmp_path / "gap.edf"
    tals = {0: [tal(0.25, "N")], 2: [tal(12.5, "V")], 3: [tal(13.75, "N")]}
    write_edf_plus(gap, channel, tals, record_onsets=[0, 1, 12, 13], kind="EDF+D")
    expected = physical(_digital(strip[: 4 * 360], -5.0, 5.0), -5.0, 5.0)
    second = read_record(gap, start=12, duration=2)  # the second part: records 2 and 3
    np.testing.assert_allclose(second.signal[0], expected[720:1440], rtol=0, atol=1e-12)
    inside = read_record(gap, start=0.5, duration=1)
    np.testing.assert_allclose(inside.signal[0], expected[180:540], rtol=0, atol=1e-12)
    np.testing.assert_allclose(read_record(gap, start=13.5).signal[0], expected[1260:], rtol=0, atol=1e-12)
    for start, duration in [(None, None), (1.5, 1), (5, 1), (11.5, 1)]:  # whole, across or in the gap
        with pytest.raises(InputError, match=r"EDF\+D\) of 2 parts .*\(0-2 s, 12-14 s\); the range read"):
            read_record(gap, start=start, duration=duration)
    beats = read_beat_annotations(gap, start=12, duration=2)
    np.testing.assert_array_equal(beats.samples, [180, 630])  # 12.5 s and 13.75 s, from 12 s
    assert beats.symbols == ["V", "N"]
    everything = read_beat_annotations(gap)  # on the time axis, gaps counted
    np.testing.assert_array_equal(everything.samples, [90, 4500, 4950])
    assert lead_names(gap) == ["ECG"]
    # the record onsets as read from the bytes, also of BDF+ (24-bit) files written by edfio
    from signxai.ecg.edf import record_onsets

    np.testing.assert_array_equal(record_onsets(gap, 4), [0, 1, 12, 13])
    for suffix in (".edf", ".bdf"):
        written = tmp_path / f"edfio{suffix}"
        write_record(Recording(strip[None, : 5 * 360], 360.0, ["ECG"]), written,
                     annotations=BeatAnnotations(np.array([100]), ["N"], 360.0))  # fmt: skip
        np.testing.assert_array_equal(record_onsets(written, 5), [0, 1, 2, 3, 4])
    with pytest.raises(InputError, match="has no annotation channel"):
        record_onsets(_plain_edf(tmp_path, strip), 1)
    whole = tmp_path / "whole.edf"  # EDF+D whose records follow each other: one time axis
    write_edf_plus(whole, channel, {}, kind="EDF+D")
    assert read_record(whole).signal.shape == (1, 4 * 360)
    truncated = tmp_path / "truncated.edf"  # a recording cut short: its whole data records, told
    truncated.write_bytes(whole.read_bytes()[:-100])
    with pytest.warns(UserWarning) as caught:
        assert read_record(truncated).signal.shape == (1, 3 * 360)
    assert "Incomplete data record at the end of the EDF file" in str(caught[0].message)
    broken = tmp_path / "broken.edf"
    broken.write_bytes(b"0       " + b"x" * 400)
    with pytest.raises(InputError, match="could not be read as an EDF file"):
        read_record(broken)
    with pytest.raises(InputError, match=r"'.*missing.bdf' not found \(a BDF file\)"):
        read_record(tmp_path / "missing.bdf")


def test_files_written_by_edfio_and_wfdb_read_as_their_readers_read_them(
    tmp_path: Path, strip: np.ndarray
) -> None:
    """EDF+ and BDF+ from edfio (its own reader gives the same values), a plain EDF from wfdb's
    converter (the specification's values, read by hand; wfdb's own reader one step off)."""
    import edfio
    from wfdb.io.convert.edf import read_edf, wfdb_to_edf

    for suffix, signal_type, file_type in [
        (".edf", edfio.EdfSignal, edfio.Edf),
        (".bdf", edfio.BdfSignal, edfio.Bdf),
    ]:
        path = tmp_path / f"ours{suffix}"
        signal = signal_type(strip, sampling_frequency=360, label="II", physical_dimension="mV")
        file_type([signal], annotations=[edfio.EdfAnnotation(2.5, None, "A")]).write(path)
        theirs = (edfio.read_bdf if suffix == ".bdf" else edfio.read_edf)(path).signals[0].data
        ours = read_record(path)
        np.testing.assert_array_equal(ours.signal[0], theirs)
        step = 10.0 / 2 ** (24 if suffix == ".bdf" else 16) * 2  # the range over the digital steps
        assert np.abs(ours.signal[0] - strip).max() < step
        beats = read_beat_annotations(path)
        assert beats.samples.tolist() == [900] and beats.symbols == ["A"]

    write_record(
        Recording(signal=strip[None, : 20 * 360], fs=360.0, leads=["MLII"], name="r"), tmp_path / "r"
    )
    wfdb_to_edf(str(tmp_path / "r"), output_filename=str(tmp_path / "r.edf"))
    ours = read_record(tmp_path / "r.edf").signal[0]
    by_hand, (low, high) = read_by_hand(tmp_path / "r.edf")
    assert (low, high) == (-1.35006, 2.58012)
    np.testing.assert_allclose(ours, by_hand, rtol=0, atol=1e-12)
    # wfdb's own reader (its own gain and baseline) is about one step below the specification
    theirs = read_edf(str(tmp_path / "r.edf")).p_signal[:, 0]
    step = (high - low) / (DIGITAL[1] - DIGITAL[0])
    assert 0.99 * step < (ours - theirs).min() <= (ours - theirs).max() < 1.01 * step


def read_by_hand(path: Path, channel: int = 0) -> tuple[np.ndarray, tuple[float, float]]:
    """A channel of a plain EDF file (every channel at one rate) by the specification, and its
    physical range."""
    raw = path.read_bytes()
    signals = int(raw[252:256])
    fields = raw[256 : 256 * (signals + 1)]

    def field(offset: int, width: int) -> float:  # the channel's value of a header field
        start = offset * signals + channel * width
        return float(fields[start : start + width])

    low, high = field(104, 8), field(112, 8)  # after label 16, transducer 80, unit 8 bytes
    assert (field(120, 8), field(128, 8)) == DIGITAL
    per_record = int(field(216, 8))  # after the digital range 16 and prefiltering 80 bytes
    data = np.frombuffer(raw[256 * (signals + 1) :], dtype="<i2").reshape(-1, signals, per_record)
    return physical(data[:, channel].ravel(), low, high), (low, high)


def test_write_record_writes_edf_bdf_and_wfdb_with_their_beats(
    tmp_path: Path, strip: np.ndarray, peaks: np.ndarray
) -> None:
    """A recording of 2 leads and 3.43 s with its beats: EDF (read back by hand from the bytes),
    BDF and WFDB (its annotation file read by wfdb itself) give the signal within their step and
    the beats exactly; EDF pads its last data record with the last values."""
    import wfdb

    n = 1234
    recording = Recording(
        signal=np.stack([strip[:n], -strip[:n] / 2]), fs=360.0, leads=["MLII", "V1"], name="x"
    )
    inside = peaks[peaks < n]
    assert len(inside) == 6
    beats = BeatAnnotations(samples=inside, symbols=["N", "V", "N", "A", "N", "N"], fs=360.0)
    plain = write_record(recording, tmp_path / "plain.edf")  # no annotations: plain EDF
    for channel in (0, 1):
        values, (low, high) = read_by_hand(plain, channel)
        step = (high - low) / (DIGITAL[1] - DIGITAL[0])
        assert len(values) == 1440  # four 1-s data records
        assert np.abs(values[:n] - recording.signal[channel]).max() <= step / 2 + 1e-12
        assert np.abs(values[n:] - recording.signal[channel, -1]).max() <= step / 2 + 1e-12  # padded
    for suffix, bits in [(".edf", 16), (".bdf", 24)]:
        path = write_record(recording, tmp_path / f"x{suffix}", annotations=beats)
        back = read_record(path, duration=n / 360)
        assert back.leads == ["MLII", "V1"] and back.fs == 360.0
        spans = np.ptp(recording.signal, axis=1, keepdims=True)
        assert (np.abs(back.signal - recording.signal) <= spans / 2**bits).all()
        read = read_beat_annotations(path)
        np.testing.assert_array_equal(read.samples, beats.samples)
        assert read.symbols == beats.symbols
    header = write_record(recording, tmp_path / "x", annotations=beats)
    assert header == tmp_path / "x.hea"
    atr = wfdb.rdann(str(tmp_path / "x"), "atr")
    np.testing.assert_array_equal(atr.sample, beats.samples)
    assert atr.symbol == beats.symbols and read_beat_annotations(tmp_path / "x").symbols == beats.symbols
    odd = Recording(signal=strip[None, :1442], fs=360.5, leads=["II"], name="odd")  # 2-s records
    assert read_record(write_record(odd, tmp_path / "odd.edf")).fs == 360.5

    for kwargs, message in [
        ({"fmt": "212", "path": tmp_path / "y.edf"}, "fmt chooses a WFDB storage format"),
        ({"annotations": BeatAnnotations(beats.samples, beats.symbols, 720.0)}, "count samples at 720 Hz"),
        (
            {"annotations": BeatAnnotations(np.array([5, 2000]), ["N", "N"], 360.0)},
            "annotations.samples must lie inside",
        ),
        (
            {"annotations": BeatAnnotations(beats.samples, ["N", "+", "N", "N", "N", "N"], 360.0)},
            "annotations.symbols holds codes",
        ),
        ({"annotations": BeatAnnotations(beats.samples, ["N"], 360.0)}, "annotations.symbols has 1 entries"),
        ({"annotations": [(1, "N")]}, "annotations must be BeatAnnotations"),
    ]:
        with pytest.raises(InputError, match=message):
            write_record(recording, **{"path": tmp_path / "y.edf", **kwargs})
    long_name = Recording(signal=strip[None, :720], fs=360.0, leads=["a lead name over sixteen"], name="l")
    with pytest.raises(InputError, match="cannot hold this recording as EDF"):
        write_record(long_name, tmp_path / "l.edf")


PYEDFLIB_FILES = [
    "test_generator.edf",  # EDF+C, 11 channels at 200 Hz, two annotations
    "test_generator.bdf",  # BDF, channels at 1000, 800, 500, 975 and 999 Hz
    "test_generator_datarec_generator_0_5.bdf",  # data records of 0.5 s
    "test_generator_datarec_generator_2.bdf",  # data records of 2 s: 487.5 and 499.5 Hz
    "test_subsecond.edf",  # annotations at fractions of a second
    "test_utf8.edf",  # a UTF-8 annotation text
    "test_legacy.edf",  # a plain EDF header with an 'EDF Annotations' channel
]


@pytest.mark.parametrize("name", PYEDFLIB_FILES)
def test_files_of_another_writer_read_as_pyedflib_reads_them(name: str) -> None:
    """The EDF and BDF files pyedflib ships for its own tests (written by EDFbrowser's generator,
    a program independent of edfio and signxai): every channel, read one rate at a time, equals
    pyedflib's physical values (its C library, EDFlib), and the annotations are its annotations."""
    import pyedflib  # the test extra's

    from signxai.ecg import edf

    path = Path(pyedflib.__file__).parent / "tests" / "data" / name
    reader = pyedflib.EdfReader(str(path))
    try:
        names = lead_names(path)
        labels = reader.getSignalLabels()
        assert names == [label for label in labels if label != "EDF Annotations"]
        for row, lead in enumerate(names):
            ours = read_record(path, leads=[lead])
            assert ours.fs == reader.getSampleFrequency(row)
            np.testing.assert_allclose(ours.signal[0], reader.readSignal(row) / 1000, rtol=0, atol=1e-12)
        onsets, _, texts = reader.readAnnotations()
        read_onsets, read_texts = edf.read_annotations(edf.open_edf(path))
    finally:
        reader.close()
    if name == "test_legacy.edf":  # pyedflib reads a plain EDF's 'EDF Annotations' channel as a signal
        assert len(texts) == 0 and read_texts == ["Recording starts", "Recording ends"]
    else:
        assert read_texts == list(texts)
        assert len(texts) > 0 or name.endswith(".bdf")  # the EDF+ files carry some
        np.testing.assert_allclose(read_onsets, onsets, rtol=0, atol=1e-9)


def test_a_label_several_channels_share_is_chosen_by_row_not_by_name(tmp_path: Path) -> None:
    """EDF allows repeated labels (two channels called 'ECG'). Before, leads=['ECG'] silently gave
    the first of them; now choosing by that name is an error that gives the rows, and rows work."""
    from test_cli import run_here

    strip = load_mitbih_208().signal[0, : 360 * 12]
    path = write_record(
        Recording(signal=np.stack([strip, -strip]), fs=360.0, leads=["ECG", "ECG"], name="x"),
        tmp_path / "two.edf",
    )
    both = read_record(path)
    assert both.leads == ["ECG", "ECG"]
    with pytest.raises(
        InputError, match=r"leads \['ECG'\] name several leads of the record \(rows \{'ECG': \[0, 1\]\}\)"
    ):
        read_record(path, leads=["ECG"])
    from signxai.ecg.io import select
    from signxai.ecg.waves import record_wave_relevance

    with pytest.raises(InputError, match=r"leads \['ECG'\] name several leads"):
        select(both, leads=["ECG"])
    zeros = {"m": np.zeros((1, 2, 360 * 10), dtype=np.float32)}
    with pytest.raises(InputError, match=r"peak_lead \['ECG'\] name several leads .*give its row instead"):
        record_wave_relevance(both.signal, 360.0, zeros, np.array([0]), leads=both.leads, peak_lead="ECG")
    refused = run_here("detect", str(path), "--lead", "ECG", "--out", str(tmp_path / "a"))
    assert refused.returncode == 2 and "--lead ['ECG'] name several leads" in refused.stderr
    second = run_here("detect", str(path), "--lead", "1", "--out", str(tmp_path / "b"))
    assert second.returncode == 0, second.stderr
    first = run_here("detect", str(path), "--lead", "0", "--out", str(tmp_path / "c"))
    assert first.returncode == 0, first.stderr
    assert "lead ECG" in second.stdout and "lead ECG" in first.stdout
