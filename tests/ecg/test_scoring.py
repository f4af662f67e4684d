"""Beat-by-beat scoring of R-peak detections: a maximum one-to-one pairing within the tolerance,
checked against a brute-force assignment and against WFDB's own comparison."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from signxai import InputError
from signxai.ecg.scoring import EC57_TOLERANCE, aami_scores, detection_table, match_peaks

peaks = st.lists(st.integers(0, 300), max_size=14, unique=True).map(sorted)


@settings(max_examples=300, deadline=None)
@given(detected=peaks, reference=peaks, window=st.integers(0, 40))
def test_the_pairing_is_one_to_one_within_the_window_and_as_large_as_any(
    detected: list[int], reference: list[int], window: int
) -> None:
    match = match_peaks(np.array(detected, dtype=np.int64), np.array(reference, dtype=np.int64), 1.0, window)
    d, r = np.array(detected), np.array(reference)
    close = np.abs(np.subtract.outer(d, r)) <= window
    rows, cols = linear_sum_assignment(-close.astype(float))
    assert match.true_positives == int(close[rows, cols].sum())
    pairs = match.pairs
    assert np.all(np.abs(d[pairs[:, 0]] - r[pairs[:, 1]]) <= window)
    assert np.all(np.diff(pairs, axis=0) > 0)  # one to one, in time order
    assert sorted([*pairs[:, 1], *match.missed]) == list(range(len(r)))
    assert sorted([*pairs[:, 0], *match.extra]) == list(range(len(d)))
    assert match.true_positives + match.false_negatives == len(r)
    assert match.true_positives + match.false_positives == len(d)
    if len(r):
        assert match.sensitivity == match.true_positives / len(r)
    else:
        assert np.isnan(match.sensitivity)
    np.testing.assert_array_equal(match.offsets, d[pairs[:, 0]] - r[pairs[:, 1]])


def test_a_double_detection_pairs_its_nearer_half_and_leaves_the_other_extra() -> None:
    match = match_peaks([70, 102, 405, 900], [100, 400, 600], fs=1000.0, tolerance=0.05)
    np.testing.assert_array_equal(match.pairs, [[1, 0], [2, 1]])
    np.testing.assert_array_equal(match.extra, [0, 3])
    np.testing.assert_array_equal(match.missed, [2])
    np.testing.assert_allclose(match.offsets, [0.002, 0.005])
    assert (match.sensitivity, match.positive_predictivity) == (2 / 3, 0.5)
    assert match.summary() == (
        "sensitivity 66.67 % (2 of 3 reference beats; 1 missed), positive predictivity 50.00 % "
        "(2 of 4 detections extra), within 50 ms; median offset 3.5 ms"
    )
    none = match_peaks([], [100, 400], fs=1000.0)
    assert none.sensitivity == 0.0 and np.isnan(none.positive_predictivity)
    assert "positive predictivity - (0 of 0 detections extra)" in none.summary()
    assert "median offset -" in none.summary()


def test_record_208_detections_against_neurokit2_as_wfdb_compares_them(peaks_208) -> None:
    """WFDB's ``compare_annotations`` (a window strictly below its width in samples) on the
    same peaks: the same true positives, missed and extra beats."""
    from wfdb.processing import compare_annotations

    ours, reference, fs = peaks_208
    match = match_peaks(ours, reference, fs)
    assert EC57_TOLERANCE * fs == 54
    wfdb_match = compare_annotations(reference, ours, 55)  # |offset| < 55 samples: <= 54
    assert (match.true_positives, match.false_negatives, match.false_positives) == (
        wfdb_match.tp,
        wfdb_match.fn,
        wfdb_match.fp,
    )
    np.testing.assert_array_equal(match.missed, wfdb_match.unmatched_ref_inds)
    np.testing.assert_array_equal(match.extra, wfdb_match.unmatched_test_inds)
    assert match.sensitivity > 0.98 and match.positive_predictivity > 0.98


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"detected": [5, 3]}, "detected must be strictly increasing"),
        ({"reference": [-1, 3]}, r"reference must be sample indices \(>= 0\), got -1"),
        ({"detected": [1.5]}, "detected must be whole sample indices"),
        ({"reference": [[1, 2]]}, "reference must be one-dimensional"),
        ({"fs": 0}, "fs must be a positive sampling rate"),
        ({"tolerance": -0.1}, "tolerance must be a number of seconds >= 0"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    arguments = {"detected": [1, 2], "reference": [1, 2], "fs": 360.0, **kwargs}
    with pytest.raises(InputError, match=message):
        match_peaks(**arguments)


def test_aami_scores_count_calls_per_aami_class_against_the_codes() -> None:
    """Codes N, L (both N), V, r (both V), A (S), F against 5-class calls read as AAMI classes."""
    reference = ["N", "L", "N", "V", "r", "V", "A", "F"]
    calls = ["normal", "normal", "PVC", "R-on-T PVC", "PVC", "normal", "SVEB", "normal"]
    table = aami_scores(reference, calls)
    assert list(table.index) == ["N", "S", "V", "F"]
    assert table.loc["N"].to_dict() == {"reference": 3, "called": 4, "agreed": 2, "Se": 2 / 3, "+P": 0.5}
    assert table.loc["V"].to_dict() == {"reference": 3, "called": 3, "agreed": 2, "Se": 2 / 3, "+P": 2 / 3}
    assert table.loc["S", "Se"] == 1.0 and table.loc["S", "+P"] == 1.0
    assert table.loc["F", "Se"] == 0.0 and np.isnan(table.loc["F", "+P"])  # no model calls F
    binary = aami_scores(["N", "V"], ["abnormal", "abnormal"], {"normal": "N", "abnormal": "V"})
    assert binary.loc["N", "Se"] == 0.0 and binary.loc["V", "+P"] == 0.5
    for bad, message in (
        ((["N"], ["normal", "PVC"]), "reference has 1 codes for 2 calls"),
        ((["+"], ["normal"]), r"codes that mark no beat in WFDB: \['\+'\]"),
        ((["N"], ["abnormal"]), r"classes does not map to AAMI classes: \['abnormal'\]"),
        (("NV", ["normal", "PVC"]), "reference must be a list"),
        ((["N"], None), "calls must be a list"),
    ):
        with pytest.raises(InputError, match=message):
            aami_scores(*bad)
    with pytest.raises(InputError, match="classes must map each call to an AAMI class"):
        aami_scores(["N"], ["normal"], {"normal": "normal"})


def test_detection_table_has_ec57s_gross_and_average_statistics() -> None:
    """Three records counted by hand (100 Hz, window 15 samples): a) 2 of 3 beats found, one
    extra; b) the one beat found and one extra; c) the one beat missed, nothing detected."""
    matches = {
        "a": match_peaks(np.array([100, 200, 300]), np.array([100, 205, 400]), 100.0),
        "b": match_peaks(np.array([50, 60]), np.array([50]), 100.0),
        "c": match_peaks(np.array([], dtype=np.int64), np.array([10]), 100.0),
    }
    table = detection_table(matches)
    assert list(table.index) == ["a", "b", "c", "gross", "average"]
    counts = table.loc[["a", "b", "c", "gross"], ["reference", "detected", "TP", "FN", "FP"]]
    assert counts.to_numpy().tolist() == [[3, 3, 2, 1, 1], [1, 2, 1, 0, 1], [1, 0, 0, 1, 0], [5, 5, 3, 2, 2]]
    np.testing.assert_allclose(table["Se"], [2 / 3, 1, 0, 3 / 5, (2 / 3 + 1 + 0) / 3])
    # +P: c has no detections (undefined), so the average is over a and b
    np.testing.assert_allclose(table["+P"], [2 / 3, 1 / 2, np.nan, 3 / 5, (2 / 3 + 1 / 2) / 2])
    # offsets (ms): a's pairs 0 and -50, b's 0: medians -25, 0; gross over the three pairs: 0
    np.testing.assert_allclose(table["median_offset_ms"], [-25, 0, np.nan, 0, -12.5])
    assert table.loc["average", ["reference", "TP"]].isna().all()
    for wrong, message in [
        ({}, "at least one"),
        ({"a": 3}, r"\['a'\] are not"),
        ({"gross": matches["a"]}, "must not name a record 'gross'"),
    ]:
        with pytest.raises(InputError, match=message):
            detection_table(wrong)
