"""Bad arguments to the ECG toolkit: each is an InputError naming the argument and what it got."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from signxai import InputError
from signxai.ecg import Recording, load_mitbih_208
from signxai.ecg.beats import ecg5000_windows
from signxai.ecg.io import read_beat_annotations, read_record
from signxai.ecg.plot import plot_12lead, plot_beats, plot_strip
from signxai.ecg.preprocess import detect_r_peaks, lowpass, notch, segment_beats, windows
from signxai.ecg.relevance import normalize_ecg_relevancemap, windows_to_strip
from signxai.ecg.waves import (
    WAVE_COLUMNS,
    WINDOW_COLUMNS,
    delineate,
    summarize,
    wave_relevance,
    window_wave_relevance,
)

FS = 360.0


@pytest.fixture(scope="module")
def strip() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    ecg = load_mitbih_208().signal[0, : 30 * 360]
    peaks = detect_r_peaks(ecg, FS)
    return ecg, peaks, delineate(ecg, peaks, FS)


CASES: list[tuple[str, Callable[[np.ndarray, np.ndarray, pd.DataFrame], object], str]] = [
    (
        "refractory",
        lambda e, p, w: detect_r_peaks(e, FS, refractory=-1),
        "refractory must be a positive number of seconds, got -1",
    ),
    (
        "min_steepness negative",
        lambda e, p, w: detect_r_peaks(e, FS, min_steepness=-0.1),
        "min_steepness must be a number >= 0, got -0.1",
    ),
    (
        "min_steepness whole",
        lambda e, p, w: detect_r_peaks(e, FS, min_steepness=1),
        r"min_steepness must be below 1 \(a part of the neighbouring beats' steepness; 0 keeps every peak\)",
    ),
    (
        "fs array",
        lambda e, p, w: plot_strip(e, np.zeros(3)),
        r"fs must be a sampling rate in Hz \(one number\)",
    ),
    ("fs string", lambda e, p, w: plot_12lead(np.stack([e, e]), "360"), "fs must be a sampling rate"),
    (
        "fs none",
        lambda e, p, w: segment_beats(e, p, None),
        r"fs must be a sampling rate in Hz \(one number\), got None",
    ),
    ("fs zero", lambda e, p, w: segment_beats(e, p, 0), "fs must be a positive sampling rate"),
    ("peaks outside", lambda e, p, w: delineate(e, np.r_[p, len(e) + 5], FS), "r_peaks must lie inside"),
    ("peaks unsorted", lambda e, p, w: delineate(e, p[::-1], FS), "r_peaks must be strictly increasing"),
    ("peaks fractional", lambda e, p, w: segment_beats(e, p + 0.5, FS), "r_peaks must be whole sample"),
    ("peaks 2d", lambda e, p, w: ecg5000_windows(e, p[None], FS), "r_peaks must be one-dimensional"),
    (
        "peaks of beats plot",
        lambda e, p, w: plot_beats(e, FS, p * 10, ["N"] * len(p)),
        "r_peaks must lie inside",
    ),
    ("delineate fs", lambda e, p, w: delineate(e, p, 50.0), "fs must exceed 80 Hz"),
    ("delineate nan", lambda e, p, w: delineate(np.r_[e[:-1], np.nan], p, FS), "ecg has 1 non-finite"),
    (
        "segment before",
        lambda e, p, w: segment_beats(e, p, FS, before=-0.1),
        "before must be a number of seconds >= 0, got -0.1",
    ),
    ("segment length", lambda e, p, w: segment_beats(e, p, FS, length=1.5), "length must be a whole number"),
    (
        "windows length",
        lambda e, p, w: windows(e, 100.5),
        "length must be a whole number of samples >= 1, got 100.5",
    ),
    ("windows nan", lambda e, p, w: windows(np.r_[e, np.nan], 100), "ecg has 1 non-finite"),
    (
        "strip leads",
        lambda e, p, w: plot_strip(np.stack([e, e]), FS),
        "plot_strip draws one lead.*plot_12lead",
    ),
    ("strip relevance nan", lambda e, p, w: plot_strip(e, FS, np.full(len(e), np.nan)), "relevance has"),
    ("grid relevance", lambda e, p, w: plot_12lead(np.stack([e, e]), FS, e), "relevance must have the shape"),
    ("grid 3d", lambda e, p, w: plot_12lead(np.zeros((2, 3, 400)), FS), r"ecg must be \(leads, samples\)"),
    (
        "grid leads number",
        lambda e, p, w: plot_12lead(np.stack([e, e]), FS, leads=5),
        r"leads must be lead names \(a list of str\), got 5",
    ),
    (
        "grid one lead name",
        lambda e, p, w: plot_12lead(np.stack([e, e]), FS, leads="II"),
        "leads has 1 entries for 2",
    ),
    (
        "wave leads",
        lambda e, p, w: wave_relevance(np.ones_like(e), w, leads=[1.5]),
        r"leads must be lead names \(a list of str\), got \[1.5\]",
    ),
    (
        "notch freq",
        lambda e, p, w: notch(e, FS, "60"),
        "freq must be a finite number in Hz, got '60'",
    ),
    ("wave relevance short", lambda e, p, w: wave_relevance(e[:1000], w), "delineation reaches sample"),
    ("wave relevance table", lambda e, p, w: wave_relevance(e, w[["beat"]]), "waves lacks the columns"),
    ("wave relevance type", lambda e, p, w: wave_relevance(e, p), "waves must be the DataFrame"),
    (
        "wave relevance leads",
        lambda e, p, w: wave_relevance(e, w, leads=["I", "II"]),
        "leads has 2 entries for 1",
    ),
    (
        "window spans",
        lambda e, p, w: window_wave_relevance(np.ones((2, 140)), [5, 0], [0, 9], w),
        "0 <= starts",
    ),
    (
        "window count",
        lambda e, p, w: window_wave_relevance(np.ones((2, 140)), [0], [9], w),
        "starts must hold",
    ),
    (
        "window leads",
        lambda e, p, w: window_wave_relevance(np.ones((1, 140)), [0], [9], w, leads=[]),
        "leads",
    ),
    ("strip spans", lambda e, p, w: windows_to_strip(np.ones((1, 1, 9)), [0], [99], 50), "beyond the strip"),
    ("strip relevance", lambda e, p, w: windows_to_strip(np.ones((1, 9)), [0], [9], 50), r"\(windows, leads"),
    ("record start", lambda e, p, w: read_record("r208", start=-2.0), "start must be >= 0 s, got -2.0"),
    ("record duration", lambda e, p, w: read_record("r208", duration=0.0), "duration must be > 0 s"),
    (
        "annotation start",
        lambda e, p, w: read_beat_annotations("r208", start=-2.0),
        "start must be >= 0 s, got -2.0",
    ),
    (
        "recording transposed",
        lambda e, p, w: Recording(np.zeros((5000, 12)), 500.0),
        r"pass the array transposed",
    ),
    ("recording leads", lambda e, p, w: Recording(np.stack([e, e]), FS, ["II"]), "leads has 1 entries for 2"),
    ("recording fs", lambda e, p, w: Recording(e[None], None), "fs must be a sampling rate"),
    ("recording nan", lambda e, p, w: Recording(np.r_[e, np.nan][None], FS), "signal has 1 non-finite"),
    ("tutorial normalise", lambda e, p, w: normalize_ecg_relevancemap([0.0, np.inf]), "relevancemap has 1"),
    # before: numpy dropped the imaginary parts with a ComplexWarning and the filter ran on the rest
    ("complex", lambda e, p, w: lowpass(e + 1j, FS), "ecg must hold real numbers, got dtype complex128"),
    # before: numpy's ValueError from the check for complex values, outside the conversion's guard
    ("ragged", lambda e, p, w: lowpass([[1.0, 2.0], [1.0]], FS), "ecg must be an array of numbers, got list"),
]


@pytest.mark.parametrize(("case", "call", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_arguments_are_named(strip, case: str, call, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call(*strip)


def test_no_beats_give_empty_tables_with_their_columns(strip) -> None:
    ecg, _, _ = strip
    waves = delineate(ecg, np.array([], dtype=np.int64), FS)
    assert len(waves) == 0 and "qrs_on" in waves.columns
    table = wave_relevance(np.zeros(len(ecg)), waves)
    assert list(table.columns) == list(WAVE_COLUMNS) and len(table) == 0
    assert summarize(table).empty
    windowed = window_wave_relevance(np.zeros((1, 140)), [0], [140], waves)
    assert list(windowed.columns) == list(WINDOW_COLUMNS)
    assert set(windowed.wave) == {"P", "QRS", "T", "other"} and (windowed.relevance == 0).all()


def test_one_lead_as_a_row_and_fs_as_a_0d_array_are_accepted(strip) -> None:
    ecg, peaks, _ = strip
    np.testing.assert_array_equal(detect_r_peaks(ecg[None], FS), peaks)
    np.testing.assert_array_equal(detect_r_peaks(ecg, np.array(FS)), peaks)  # fs read from an npz
    np.testing.assert_array_equal(
        lowpass(notch(ecg, np.array(FS)), np.array(FS)), lowpass(notch(ecg, FS), FS)
    )
    plot_strip(ecg[None, :3600], FS, ecg[None, :3600])
