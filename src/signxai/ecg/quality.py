"""Signal quality per lead and window: is this an ECG whose beats can be trusted?

A beat detector finds "beats" in anything: in white noise, in a lead that came off, in muscle
artefact. Before a beat classifier's calls (and their explanations) mean anything, the beats must
be beats. Orphanidou et al. (2015, "Signal-quality indices for the electrocardiogram and
photoplethysmogram: derivation and applications to wireless monitoring", IEEE J Biomed Health
Inform 19(3): 832-838) judge a 10 s window of one lead by four rules, meant to pass a clean
window and to fail one of noise or of a detached lead:

1. the heart rate (from the mean RR interval) lies within 40-180 bpm;
2. no RR interval is longer than 3 s;
3. the longest RR interval is at most 2.2 times the shortest;
4. the beats look alike: each beat (a window of the median RR interval centred on its R-peak)
   correlated with the mean of the window's beats (the template), averaged, is at least 0.66.

The RR rules (2, 3) were made for sinus rhythm in ambulatory monitoring: a window with a
compensatory pause after a premature beat, or a couplet, can fail rule 3 while its signal is
clean, and frequent ectopic beats lower the correlation of rule 4. Each rule's limit is a
parameter (None leaves the rule out), and the toolkit's warnings (:func:`poor_leads`) heed only
the rules on the beats themselves (:data:`BEAT_RULES`). The table also gives the window's
kurtosis, Zhao and Zhang's (2018) kSQI: an ECG's spiky QRS complexes give it a kurtosis above 5
(Gaussian noise: 3).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.stats

from signxai.checks import check_number
from signxai.ecg.checks import (
    as_lead_names,
    as_leads,
    as_peaks,
    as_signal,
    check_count,
    check_fs,
    default_lead_names,
)
from signxai.ecg.preprocess import detect_r_peaks, remove_baseline
from signxai.errors import InputError

#: Seconds per window judged (Orphanidou et al. 2015).
WINDOW = 10.0
#: The smallest mean correlation of a window's beats with their template (rule 4).
MIN_CORRELATION = 0.66
#: The heart rates (bpm) a window's mean RR interval must give (rule 1).
HEART_RATE = (40.0, 180.0)
#: The longest RR interval allowed, in seconds (rule 2).
MAX_RR = 3.0
#: The largest ratio of a window's longest RR interval to its shortest (rule 3).
MAX_RR_RATIO = 2.2
#: The rules a window can fail, as its ``reasons`` name them.
RULES = ("beats", "heart rate", "longest RR", "RR ratio", "template correlation")
#: The rules on the beats themselves (at least two in a window, alike): what noise and a lead that
#: is off fail. The others judge the rhythm, which arrhythmias fail as well (a tachycardia the
#: rate, a sinus pause the longest RR, premature beats the RR ratio).
BEAT_RULES = ("beats", "template correlation")
#: The columns of :func:`signal_quality`'s table.
COLUMNS = (
    "lead",
    "start_s",
    "stop_s",
    "beats",
    "heart_rate_bpm",
    "max_rr_s",
    "rr_ratio",
    "template_correlation",
    "kurtosis",
    "acceptable",
    "reasons",
)


def _correlations(lead: np.ndarray, r_peaks: np.ndarray) -> np.ndarray:
    """Each beat's Pearson correlation with the mean beat: beats are ``lead[r - half : r + half]``,
    ``half`` half the median RR interval; a beat whose window leaves the lead is NaN (every beat,
    with fewer than two R-peaks); a flat beat or template correlates 0."""
    half = int(np.median(np.diff(r_peaks))) // 2 if len(r_peaks) > 1 else 0
    inside = (r_peaks - half >= 0) & (r_peaks + half <= lead.shape[-1])
    result = np.full(len(r_peaks), np.nan)
    if half < 1 or inside.sum() == 0:
        return result
    beats = lead[r_peaks[inside, None] + np.arange(-half, half)]
    beats = beats - beats.mean(axis=1, keepdims=True)
    template = beats.mean(axis=0)
    norms = np.sqrt((beats**2).sum(axis=1) * (template**2).sum())
    products = beats @ template
    result[inside] = np.divide(products, norms, out=np.zeros_like(products), where=norms > 0)
    return result


def template_correlation(ecg: np.ndarray, r_peaks: np.ndarray | Sequence[int], fs: float) -> np.ndarray:
    """Each beat's correlation with the mean of all beats (Orphanidou et al. 2015's template).

    Parameters
    ----------
    ecg
        ``(samples,)`` or ``(leads, samples)``, as recorded or filtered (the correlation is taken
        on what is given; :func:`signal_quality` removes the baseline first).
    r_peaks
        The beats' R-peaks (increasing sample indices, at least two).
    fs
        Sampling rate in Hz (checked; the beat window is in samples).

    Returns
    -------
    numpy.ndarray
        ``(beats,)`` for one lead, ``(leads, beats)`` for several: each beat's Pearson correlation
        with the template, the mean of the beats whose window (the median RR interval, centred on
        the R-peak) lies inside the signal; NaN for a beat whose window does not. A flat beat or
        template correlates 0 (no ECG there).
    """
    signal = as_leads(ecg)
    check_fs(fs)
    peaks = as_peaks(r_peaks, signal.shape[-1])
    if len(peaks) < 2:
        raise InputError(
            f"r_peaks must hold at least 2 R-peaks (the beat window is the median RR), got {len(peaks)}"
        )
    result = np.stack([_correlations(lead, peaks) for lead in signal])
    return result[0] if np.ndim(ecg) == 1 else result


def _limit(value: object, name: str) -> float | None:
    """A rule's limit: a positive number, or None (the rule left out)."""
    return None if value is None else check_number(value, name, above=0)


def _rates(value: object) -> tuple[float, float] | None:
    """The heart-rate range of rule 1: ``(low, high)`` bpm with ``0 <= low < high``, or None."""
    if value is None:
        return None
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise InputError(f"heart_rate must be (lowest, highest) in bpm, or None, got {value!r}")
    low = check_number(value[0], "heart_rate's lowest", at_least=0, unit="of bpm")
    high = check_number(value[1], "heart_rate's highest", above=low, unit="of bpm")
    return low, high


def _window_edges(samples: int, width: int) -> np.ndarray:
    """Starts of the windows and the end: ``width`` samples each, the last one taking the rest
    (a signal shorter than ``width`` is one window)."""
    count = max(1, samples // width)
    return np.append(np.arange(count) * width, samples)


def _shown(value: float, digits: int, *limits: float) -> str:
    """``value`` with ``digits`` decimals, or more where it would read as one of ``limits``
    (a ratio of 2.204 is '2.204 > 2.2', not '2.2 > 2.2')."""
    text = f"{value:.{digits}f}"
    while any(float(text) == limit for limit in limits) and digits < 6:
        digits += 1
        text = f"{value:.{digits}f}"
    return text


def _judge(
    row: dict[str, float],
    min_correlation: float | None,
    heart_rate: tuple[float, float] | None,
    max_rr: float | None,
    max_rr_ratio: float | None,
) -> list[str]:
    """The rules ``row`` fails, each as ``'<rule>: <why>'`` (:data:`RULES`); a rule whose value
    cannot be measured (no RR interval, one beat) fails too."""
    reasons = []
    beats = int(row["beats"])
    if beats < 2:
        reasons.append(f"beats: {beats} in the window")
    rate, longest, ratio = row["heart_rate_bpm"], row["max_rr_s"], row["rr_ratio"]
    if np.isnan(rate) and (heart_rate, max_rr, max_rr_ratio) != (None, None, None):
        reasons.append("heart rate: no RR interval")
    if heart_rate is not None and not np.isnan(rate) and not heart_rate[0] <= rate <= heart_rate[1]:
        reasons.append(
            f"heart rate: {_shown(rate, 0, *heart_rate)} bpm outside {heart_rate[0]:g}-{heart_rate[1]:g}"
        )
    if max_rr is not None and longest > max_rr:
        reasons.append(f"longest RR: {_shown(longest, 1, max_rr)} s > {max_rr:g} s")
    if max_rr_ratio is not None and ratio > max_rr_ratio:
        reasons.append(f"RR ratio: {_shown(ratio, 1, max_rr_ratio)} > {max_rr_ratio:g}")
    correlation = row["template_correlation"]
    if min_correlation is not None and beats >= 2:
        if np.isnan(correlation):
            reasons.append("template correlation: fewer than 2 beats inside the recording")
        elif correlation < min_correlation:
            reasons.append(
                f"template correlation: {_shown(correlation, 2, min_correlation)} < {min_correlation:g}"
            )
    return reasons


def signal_quality(
    ecg: np.ndarray,
    fs: float,
    r_peaks: np.ndarray | Sequence[int] | None = None,
    leads: Sequence[str] | str | None = None,
    window: float = WINDOW,
    min_correlation: float | None = MIN_CORRELATION,
    heart_rate: tuple[float, float] | None = HEART_RATE,
    max_rr: float | None = MAX_RR,
    max_rr_ratio: float | None = MAX_RR_RATIO,
) -> pd.DataFrame:
    """Judge each lead, ``window`` seconds at a time, by Orphanidou et al. (2015)'s four rules.

    Parameters
    ----------
    ecg
        ``(samples,)`` or ``(leads, samples)`` in mV, as recorded: the baseline is removed
        (:func:`~signxai.ecg.preprocess.remove_baseline`) before beats are compared.
    fs
        Sampling rate in Hz.
    r_peaks
        The beats' R-peaks (sample indices), one set for every lead (a reference annotation,
        the peaks a beat report used). None (default): :func:`~signxai.ecg.preprocess.detect_r_peaks`
        on each baseline-removed lead, as ``signxai detect`` and ``analyze_strip`` find them.
    leads
        Lead names for the table (default: ``lead0``, ``lead1``... the row index).
    window
        Seconds per window; the last window takes the rest (a shorter signal is one window).
    min_correlation, heart_rate, max_rr, max_rr_ratio
        The rules' limits (defaults: Orphanidou et al.'s 0.66, 40-180 bpm, 3 s, 2.2); None leaves
        a rule out (e.g. ``max_rr_ratio=None`` for a rhythm with premature beats).

    Returns
    -------
    pandas.DataFrame
        One row per lead and window (:data:`COLUMNS`): the window's ``start_s``/``stop_s``,
        the R-peaks in it (``beats``), the heart rate from the mean of the RR intervals that end
        in it (the first from the beat before the window), the longest of them (``max_rr_s``),
        longest over shortest (``rr_ratio``), the mean correlation of its beats with their template
        (:func:`template_correlation` over the window's beats), the kurtosis of the
        baseline-removed window, ``acceptable`` (every rule met) and ``reasons`` (the rules
        failed, ``'; '``-joined, each ``'<rule>: <why>'`` with a rule of :data:`RULES`, e.g.
        ``'RR ratio: 5.6 > 2.2'``; a window with fewer than 2 beats fails ``beats``, one without
        an RR interval ``heart rate``). NaN where a value cannot be taken.
    """
    signal = as_leads(ecg)
    fs = check_fs(fs)
    names = as_lead_names(leads, default_lead_names(len(signal)))
    check_count(names, len(signal), "leads", "lead of ecg")
    width = round(check_number(window, "window", above=0, unit="of seconds") * fs)
    if width < 1:
        raise InputError(f"window must be at least one sample (1 / fs = {1 / fs:g} s), got {window!r}")
    limits = (
        _limit(min_correlation, "min_correlation"),
        _rates(heart_rate),
        _limit(max_rr, "max_rr"),
        _limit(max_rr_ratio, "max_rr_ratio"),
    )
    given = None if r_peaks is None else as_peaks(r_peaks, signal.shape[-1])
    edges = _window_edges(signal.shape[-1], width)
    rows = []
    for name, raw in zip(names, signal, strict=True):
        lead = remove_baseline(raw, fs)
        peaks = detect_r_peaks(lead, fs) if given is None else given
        for start, stop in itertools.pairwise(edges):
            first, last = np.searchsorted(peaks, [start, stop])
            inside = peaks[first:last]
            rr = np.diff(peaks[max(first - 1, 0) : last]) / fs
            correlation = _correlations(lead, inside)
            measured = correlation[np.isfinite(correlation)]
            row: dict[str, float] = {
                "start_s": start / fs,
                "stop_s": stop / fs,
                "beats": len(inside),
                "heart_rate_bpm": 60 / rr.mean() if len(rr) else np.nan,
                "max_rr_s": rr.max() if len(rr) else np.nan,
                "rr_ratio": rr.max() / rr.min() if len(rr) else np.nan,
                "template_correlation": measured.mean() if len(measured) > 1 else np.nan,
                "kurtosis": _kurtosis(lead[start:stop]),
            }
            reasons = _judge(row, *limits)
            rows.append({"lead": name, **row, "acceptable": not reasons, "reasons": "; ".join(reasons)})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _kurtosis(values: np.ndarray) -> float:
    """Pearson's kurtosis (3 for Gaussian noise); NaN for a flat or one-sample stretch."""
    if len(values) < 2 or np.ptp(values) == 0:
        return float("nan")
    return float(scipy.stats.kurtosis(values, fisher=False))


def _check_table(table: object, name: str = "table") -> None:
    """``table`` is a :func:`signal_quality` table (a DataFrame with its columns)."""
    if not isinstance(table, pd.DataFrame):
        raise InputError(
            f"{name} must be signal_quality's table (a pandas DataFrame), got {type(table).__name__}"
        )
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{name} must be signal_quality's table, missing the columns {', '.join(missing)}")


def describe_quality(table: pd.DataFrame) -> str:
    """One sentence per lead: how many of its windows are acceptable, and the rules they fail.

    Parameters
    ----------
    table
        :func:`signal_quality`'s table.

    Returns
    -------
    str
        E.g. ``"lead MLII: 25 of 30 windows of 10 s acceptable (failed: RR ratio 4, longest RR 1,
        template correlation 1) by Orphanidou et al. 2015's rules"``: each rule with the number of
        windows that fail it, most often failed first.
    """
    _check_table(table)
    sentences = []
    for lead, rows in table.groupby("lead", sort=False):
        width = float(rows["stop_s"].iloc[0] - rows["start_s"].iloc[0])  # the last may be longer
        good = int(rows["acceptable"].sum())
        windows = f"{len(rows)} window{'s' if len(rows) > 1 else ''}"
        sentence = f"lead {lead}: {good} of {windows} of {width:.3g} s acceptable"
        failed = rows.loc[~rows["acceptable"], "reasons"].str.split("; ").explode().str.split(":").str[0]
        if len(failed):
            counts = failed.value_counts().reindex(RULES).dropna().sort_values(ascending=False, kind="stable")
            sentence += f" (failed: {', '.join(f'{rule} {int(n)}' for rule, n in counts.items())})"
        sentences.append(sentence)
    return "; ".join(sentences) + " by Orphanidou et al. 2015's rules"


def beat_failures(reasons: str) -> list[str]:
    """The reasons (a ``reasons`` entry of :func:`signal_quality`'s table) that belong to the rules
    on the beats themselves (:data:`BEAT_RULES`)."""
    if not isinstance(reasons, str):
        raise InputError(f"reasons must be a reasons entry of signal_quality's table (text), got {reasons!r}")
    return [r for r in reasons.split("; ") if r.split(":")[0] in BEAT_RULES]


def beat_failures_at(quality: pd.DataFrame, times: np.ndarray | Sequence[float]) -> list[list[str]]:
    """For each time, the rules on the beats themselves (:data:`BEAT_RULES`) that its window of
    a one-lead :func:`signal_quality` table fails: ``[]`` where the beats there can be trusted (or
    no window holds the time).

    Parameters
    ----------
    quality
        :func:`signal_quality`'s table of one lead.
    times
        Times in seconds from the lead's start (e.g. beats' R-peaks over ``fs``).

    Returns
    -------
    list of list of str
        One list per time, e.g. ``['template correlation: 0.60 < 0.66']``.
    """
    _check_table(quality, "quality")
    leads = quality["lead"].unique().tolist()
    if len(leads) > 1:
        raise InputError(f"quality must be the table of one lead, got the leads {leads}")
    no_times = (isinstance(times, (list, tuple)) and not times) or (
        isinstance(times, np.ndarray) and times.shape == (0,)
    )
    seconds = np.zeros(0) if no_times else as_signal(times, "times")
    if seconds.ndim != 1:
        raise InputError(f"times must be a 1-D sequence of seconds, got shape {seconds.shape}")
    if quality.empty:
        return [[] for _ in seconds]
    ordered = quality.sort_values("start_s", kind="stable")
    starts, stops = ordered["start_s"].to_numpy(), ordered["stop_s"].to_numpy()
    failures = [beat_failures(reasons) for reasons in ordered["reasons"]]
    rows = np.searchsorted(starts, seconds, side="right") - 1  # the last window starting at or before
    inside = (rows >= 0) & (seconds < stops[rows]) | (rows == len(starts) - 1) & (seconds <= stops[-1])
    pairs = zip(rows.tolist(), inside.tolist(), strict=True)
    return [list(failures[row]) if held else [] for row, held in pairs]


def poor_leads(quality: pd.DataFrame) -> list[str]:
    """The leads of a :func:`signal_quality` table in fewer than half of whose windows the beats
    cannot be trusted: windows that fail a rule on the beats themselves (:data:`BEAT_RULES`: fewer
    than two beats, or beats unlike each other). The rhythm rules are left out: a tachycardia, a
    sinus pause or premature beats fail them in a clean lead.

    Returns
    -------
    list of str
        Lead names, in their order in the table.
    """
    _check_table(quality, "quality")
    failed = quality["reasons"].map(lambda reasons: bool(beat_failures(reasons)))
    shares = (~failed).groupby(quality["lead"], sort=False).mean()
    return [str(lead) for lead, share in shares.items() if share < 0.5]
