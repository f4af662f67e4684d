"""Score a beat detector and a beat classifier against a reference annotation, as ANSI/AAMI EC57
does: sensitivity (Se) and positive predictivity (+P).

Detections (:func:`match_peaks`): a detection matches a reference beat when the two lie within
``tolerance`` seconds of each other (EC57: 150 ms); each detection and each reference beat is in
at most one pair. Unmatched reference beats are missed beats (false negatives), unmatched
detections extra beats (false positives). Classes (:func:`aami_scores`): each beat's call, read
as an AAMI class, against the AAMI class of its reference code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from signxai.checks import check_number
from signxai.ecg.beats import AAMI_CLASSES, as_beat_codes
from signxai.ecg.checks import as_peaks, check_fs
from signxai.errors import InputError

#: The shipped 5-class model's classes (ECG5000's labels) as AAMI classes: both kinds of PVC are
#: ventricular ectopic beats (V), SVEB supraventricular ectopic (S), unclassified Q.
ECG5000_AAMI = {"normal": "N", "R-on-T PVC": "V", "PVC": "V", "SVEB": "S", "unclassified": "Q"}

#: The match window of ANSI/AAMI EC57 (and of the WFDB ``bxb`` program) in seconds.
EC57_TOLERANCE = 0.15


@dataclass(frozen=True)
class PeakMatch:
    """Detections paired with reference beats (:func:`match_peaks`).

    ``pairs`` holds ``(detection index, reference index)`` rows, both increasing; ``missed``
    the reference indices left unpaired, ``extra`` the detection indices left unpaired.
    """

    detected: np.ndarray
    reference: np.ndarray
    pairs: np.ndarray
    missed: np.ndarray
    extra: np.ndarray
    fs: float
    tolerance: float

    @property
    def true_positives(self) -> int:
        """Reference beats detected (pairs)."""
        return len(self.pairs)

    @property
    def false_negatives(self) -> int:
        """Reference beats missed."""
        return len(self.missed)

    @property
    def false_positives(self) -> int:
        """Detections that match no reference beat."""
        return len(self.extra)

    @property
    def sensitivity(self) -> float:
        """Se = TP / (TP + FN), the share of reference beats detected (NaN without reference
        beats)."""
        return self.true_positives / len(self.reference) if len(self.reference) else float("nan")

    @property
    def positive_predictivity(self) -> float:
        """+P = TP / (TP + FP), the share of detections that are reference beats (NaN without
        detections)."""
        return self.true_positives / len(self.detected) if len(self.detected) else float("nan")

    @property
    def offsets(self) -> np.ndarray:
        """Per pair, the detection's time minus the reference beat's, in seconds."""
        return (self.detected[self.pairs[:, 0]] - self.reference[self.pairs[:, 1]]) / self.fs

    def summary(self) -> str:
        """One line: Se, +P, the counts and the median offset (detection minus reference)."""
        offset = f"{1000 * float(np.median(self.offsets)):.1f} ms" if len(self.pairs) else "-"
        return (
            f"sensitivity {_percent(self.sensitivity)} ({self.true_positives} of "
            f"{len(self.reference)} reference beats; {self.false_negatives} missed), positive "
            f"predictivity {_percent(self.positive_predictivity)} ({self.false_positives} of "
            f"{len(self.detected)} detections extra), within {1000 * self.tolerance:g} ms; median "
            f"offset {offset}"
        )


def _percent(share: float) -> str:
    """A share as a percentage, '-' where it is undefined (NaN)."""
    return "-" if np.isnan(share) else f"{100 * share:.2f} %"


def match_peaks(
    detected: np.ndarray, reference: np.ndarray, fs: float, tolerance: float = EC57_TOLERANCE
) -> PeakMatch:
    """Pair detected R-peaks with reference R-peaks, one to one, within ``tolerance`` seconds.

    The pairing has as many pairs as any can have: the reference beats, in time order, each take
    the earliest free detection in their window (for windows of one width this greedy matching
    is a maximum one); then each beat moves on to a later free detection while that one lies
    nearer, which keeps the count (so a double detection leaves its farther half extra).

    Parameters
    ----------
    detected
        The detector's R-peaks, sample indices (increasing), e.g.
        :func:`signxai.ecg.preprocess.detect_r_peaks`.
    reference
        The reference R-peaks at the same rate, e.g.
        ``signxai.ecg.io.read_beat_annotations(path).samples``.
    fs
        Sampling rate in Hz of both.
    tolerance
        The largest distance in seconds at which a detection matches (inclusive); 0.15 s, the
        match window of ANSI/AAMI EC57.

    Returns
    -------
    PeakMatch
        The pairs, the missed reference beats and the extra detections, with sensitivity,
        positive predictivity and offsets.
    """
    detected = as_peaks(detected, None, "detected")
    reference = as_peaks(reference, None, "reference")
    fs = check_fs(fs)
    tolerance = check_number(tolerance, "tolerance", at_least=0, unit="of seconds")
    window = tolerance * fs
    found, beats = detected.tolist(), reference.tolist()
    pairs: list[list[int]] = []
    j = 0
    for i, r in enumerate(beats):
        while j < len(found) and found[j] < r - window:
            j += 1  # too early for this beat, so for every later one
        if j < len(found) and found[j] <= r + window:
            pairs.append([j, i])
            j += 1
    taken = {j for j, _ in pairs}
    for pair in pairs:  # the same number of pairs, each beat with its nearest free detection
        j, i = pair
        while j + 1 < len(found) and j + 1 not in taken:
            if abs(found[j + 1] - beats[i]) >= abs(found[j] - beats[i]):
                break
            taken.discard(j)
            j += 1
            taken.add(j)
        pair[0] = j
    paired = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return PeakMatch(
        detected=detected,
        reference=reference,
        pairs=paired,
        missed=np.setdiff1d(np.arange(len(reference)), paired[:, 1]),
        extra=np.setdiff1d(np.arange(len(detected)), paired[:, 0]),
        fs=fs,
        tolerance=tolerance,
    )


def aami_scores(
    reference: Sequence[str], calls: Sequence[str], classes: Mapping[str, str] = ECG5000_AAMI
) -> pd.DataFrame:
    """Se and +P of a beat classifier's calls per AAMI class, against reference beat codes.

    Parameters
    ----------
    reference
        Each beat's WFDB beat code (N, V, A, ...; ``StripAnalysis.reference``), read as its AAMI
        class (:data:`signxai.ecg.beats.AAMI_CLASSES`).
    calls
        Each beat's call, a class name of the model (``StripAnalysis.labels``).
    classes
        Each call's AAMI class (N, S, V, F or Q); default the shipped 5-class model's
        (:data:`ECG5000_AAMI`).

    Returns
    -------
    pandas.DataFrame
        One row per AAMI class that the reference or the calls hold (in the order N, S, V, F,
        Q): ``reference`` (beats of the class), ``called`` (calls of it), ``agreed`` (both),
        ``Se`` (agreed / reference) and ``+P`` (agreed / called), NaN where undefined.
    """
    reference = as_beat_codes(reference, "reference")
    if isinstance(calls, str) or not isinstance(calls, Sequence | np.ndarray):
        raise InputError(f"calls must be a list of class names (one per beat), got {calls!r}")
    calls = list(calls)
    if len(reference) != len(calls):
        raise InputError(
            f"reference has {len(reference)} codes for {len(calls)} calls; give one each per beat"
        )
    if not isinstance(classes, Mapping) or not set(classes.values()) <= set("NSVFQ"):
        raise InputError(f"classes must map each call to an AAMI class (N, S, V, F or Q), got {classes!r}")
    unmapped = sorted({str(call) for call in calls if call not in classes})
    if unmapped:
        raise InputError(f"calls holds classes that classes does not map to AAMI classes: {unmapped[:5]}")
    truth = pd.Series([AAMI_CLASSES[code] for code in reference])
    called = pd.Series([classes[call] for call in calls])
    groups = [c for c in "NSVFQ" if c in set(truth) | set(called)]
    table = pd.DataFrame(
        {
            "reference": [int((truth == c).sum()) for c in groups],
            "called": [int((called == c).sum()) for c in groups],
            "agreed": [int(((truth == c) & (called == c)).sum()) for c in groups],
        },
        index=pd.Index(groups, name="AAMI class"),
    )
    table["Se"] = table["agreed"] / table["reference"].where(table["reference"] > 0)
    table["+P"] = table["agreed"] / table["called"].where(table["called"] > 0)
    return table


def detection_table(matches: Mapping[str, PeakMatch]) -> pd.DataFrame:
    """A detector's scores on several records, as ANSI/AAMI EC57 reports them: one row per
    record, then its *gross* statistics (the counts of every record summed, then Se and +P: each
    beat weighs alike) and its *average* statistics (the mean of the records' Se and of their +P,
    over the records where each is defined: each record weighs alike).

    Parameters
    ----------
    matches
        Each record's name and its :func:`match_peaks` result.

    Returns
    -------
    pandas.DataFrame
        Indexed by record (then ``'gross'`` and ``'average'``), columns ``reference``,
        ``detected``, ``TP``, ``FN``, ``FP``, ``Se``, ``+P`` and ``median_offset_ms`` (detection
        minus reference; the gross row's over every pair, the average row's the median of the
        records'); the average row has no counts (``<NA>``).
    """
    if not isinstance(matches, Mapping) or not matches:
        raise InputError(
            f"matches must map record names to match_peaks results (at least one), got {matches!r}"
        )
    wrong = [name for name, match in matches.items() if not isinstance(match, PeakMatch)]
    if wrong or not all(isinstance(name, str) for name in matches):
        raise InputError(
            f"matches must map record names (strings) to match_peaks results; {wrong or list(matches)} "
            "are not"
        )
    rows = {
        name: {
            "reference": len(match.reference),
            "detected": len(match.detected),
            "TP": match.true_positives,
            "FN": match.false_negatives,
            "FP": match.false_positives,
            "Se": match.sensitivity,
            "+P": match.positive_predictivity,
            "median_offset_ms": 1000 * float(np.median(match.offsets)) if len(match.pairs) else np.nan,
        }
        for name, match in matches.items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index").astype({"Se": float, "+P": float})
    if {"gross", "average"} & set(table.index):
        raise InputError("matches must not name a record 'gross' or 'average': the summary rows are named so")
    counts = table[["reference", "detected", "TP", "FN", "FP"]].sum()
    offsets = np.concatenate([match.offsets for match in matches.values()])  # (matches is not empty)
    table.loc["gross"] = {
        **counts.to_dict(),
        "Se": counts["TP"] / counts["reference"] if counts["reference"] else np.nan,
        "+P": counts["TP"] / counts["detected"] if counts["detected"] else np.nan,
        "median_offset_ms": 1000 * float(np.median(offsets)) if len(offsets) else np.nan,
    }
    records = table.iloc[:-1]
    table.loc["average"] = {
        "Se": records["Se"].mean(skipna=True),
        "+P": records["+P"].mean(skipna=True),
        "median_offset_ms": records["median_offset_ms"].median(skipna=True),
    }
    table.index.name = "record"
    return table.astype({column: "Int64" for column in ("reference", "detected", "TP", "FN", "FP")})
