"""An analysis as EDF+: the lead, each method's relevance on its time axis, every beat's call."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import edfio
import numpy as np
import pytest

from signxai import InputError
from signxai.ecg.analysis import analyze_strip
from signxai.ecg.datasets import load_mitbih_208
from signxai.ecg.export import QUALITY_NOTE, write_analysis_edf
from signxai.ecg.io import read_beat_annotations, read_record
from signxai.ecg.models import load_beat_model
from signxai.ecg.preprocess import detect_r_peaks
from signxai.ecg.relevance import windows_to_strip


def test_the_lead_the_relevance_and_the_calls_come_back_from_the_file(tmp_path: Path) -> None:
    strip = load_mitbih_208()
    short = dataclasses.replace(strip, signal=strip.signal[:, : int(30 * strip.fs)])
    peaks = detect_r_peaks(short.signal[0], short.fs)
    codes = ["V" if k % 4 == 1 else "N" for k in range(len(peaks))]
    analysis = analyze_strip(
        short, load_beat_model("binary"), ["normal", "abnormal"], ["gradient", "lrpsign_epsilon_0_5"],
        max_abnormal=2, max_normal=1, r_peaks=peaks, beat_symbols=codes,
    )  # fmt: skip
    path = write_analysis_edf(analysis, tmp_path / "strip.edf")
    written = edfio.read_edf(path)
    labels = [signal.label for signal in written.signals]
    assert labels == ["MLII", "relevance 1", "relevance 2"]
    assert [s.transducer_type for s in written.signals] == ["", "gradient", "lrpsign_epsilon_0_5"]
    assert [s.physical_dimension for s in written.signals] == ["mV", "a.u.", "a.u."]
    n = short.signal.shape[1]  # 30 s: whole 1-s data records, no padding
    lead = written.signals[0].data
    assert len(lead) == n and np.abs(lead - short.signal[0]).max() <= np.ptp(short.signal[0]) / 65535
    chosen = analysis.explained
    inside = np.zeros(n, dtype=bool)
    for start, stop in zip(analysis.windows.starts[chosen], analysis.windows.stops[chosen], strict=True):
        inside[start:stop] = True
    assert 0 < inside.sum() < n
    for k, (method, relevance) in enumerate(analysis.relevance.items(), start=1):
        expected = windows_to_strip(
            relevance, analysis.windows.starts[chosen], analysis.windows.stops[chosen], n
        )[0]
        values = written.signals[k].data
        step = np.ptp(expected) / 65535
        assert np.abs(values - expected).max() <= step, method
        assert np.abs(values[~inside]).max() <= step  # nothing outside the explained beats
    notes = [note for note in written.annotations if not note.text.startswith(QUALITY_NOTE)]
    assert len(notes) == len(analysis.labels)
    # the window that fails the signal-quality rules (a premature beat's pause at 20-30 s) spans
    # its 10 s and names the rule, as analysis.quality does
    failing = analysis.quality[~analysis.quality["acceptable"]]
    assert failing[["start_s", "stop_s"]].values.tolist() == [[20.0, 30.0]]
    spans = [(n.onset, n.duration, n.text) for n in written.annotations if n.text.startswith(QUALITY_NOTE)]
    assert spans == [(20.0, 10.0, "quality rules failed: RR ratio: 2.3 > 2.2")]
    assert all(note.duration is None for note in notes)
    np.testing.assert_allclose([a.onset for a in notes], analysis.windows.r_peaks / short.fs, atol=1e-9)
    for beat, note in enumerate(notes):
        expected_text = f"{analysis.labels[beat]}, ref {analysis.reference[beat]}"
        expected_text += ", explained" if beat in chosen else ""
        assert note.text == expected_text
    # signxai reads the file back: the lead alone (the relevance channels are no voltage)
    np.testing.assert_allclose(read_record(path, leads="MLII").signal, lead[None])
    with pytest.raises(
        InputError, match=r"'relevance 1' \(a.u.\), 'relevance 2' \(a.u.\) are not in units of voltage"
    ):
        read_record(path)
    back = read_beat_annotations(path, codes={text: "N" for text in {n.text for n in notes}})
    np.testing.assert_array_equal(back.samples, analysis.windows.r_peaks)
    with pytest.raises(InputError, match=r"path must name an EDF file \(.edf, .bdf\), got '.*strip.csv'"):
        write_analysis_edf(analysis, tmp_path / "strip.csv")
    # before: Python's AttributeError ('... has no attribute recording')
    with pytest.raises(InputError, match="analysis must be what signxai.ecg.analysis.analyze_strip returns"):
        write_analysis_edf(analysis.relevance, tmp_path / "other.edf")  # type: ignore[arg-type]


def test_channels_given_one_at_a_time_write_the_same_file(tmp_path: Path) -> None:
    """``write_edf`` takes the channels as a generator (the strip export makes each relevance
    channel only when the previous one is stored in 16 bits): the same bytes as the array, each
    row padded to whole data records with its last value."""
    from signxai.ecg.edf import write_edf

    rows = np.random.default_rng(0).standard_normal((3, 1234))  # 3.4 s at 360 Hz: padded to 4 s
    common = {"fs": 360.0, "leads": ["a", "b", "c"], "onsets": np.array([0.5]), "texts": ["x"]}
    write_edf(tmp_path / "array.edf", rows, **common)
    write_edf(tmp_path / "rows.edf", (row for row in rows), **common)
    assert (tmp_path / "array.edf").read_bytes() == (tmp_path / "rows.edf").read_bytes()
    data = edfio.read_edf(tmp_path / "rows.edf").signals[1].data
    assert len(data) == 1440 and np.all(data[1234:] == data[1233])
    np.testing.assert_allclose(data[:1234], rows[1], atol=np.ptp(rows[1]) / 65535)
