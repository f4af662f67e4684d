"""Relevance per P wave, QRS complex, T wave, beat and lead: a tidy table and a plot.

The delineation here is a transparent, rule-based one (no training, no extra dependency) of one
lead or of all leads together: QRS onset and offset are where the slope around the R-peak (of
several leads, their spatial velocity) falls below 10 % of its maximum; P and T waves are found
as the most prominent extremum in their search windows, and bounded by the tangent method
(where the tangent at each limb's steepest point meets the PR level). On two real 12-lead ECGs
with their carts' fiducial points (README), lead II's bounds lie within 18 ms of the carts' for
P and QRS and within 22 ms for the T-wave end; all leads together come closer. It is meant for
attributing relevance to waves (:func:`wave_relevance`, :func:`record_wave_relevance`), and for
research measurements (:mod:`signxai.ecg.intervals`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import signal as sps

from signxai.checks import check_text
from signxai.ecg.checks import (
    DELINEATION_COLUMNS,
    as_lead_names,
    as_leads,
    as_peaks,
    as_signal,
    check_count,
    check_delineation,
    check_fs,
    check_spans,
    check_unambiguous,
    default_lead_names,
)
from signxai.ecg.median import BeatTemplate, median_beat
from signxai.ecg.preprocess import detect_r_peaks, zero_phase
from signxai.ecg.relevance import windows_to_strip
from signxai.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WAVES = ("P", "QRS", "T")
#: The columns of :func:`wave_relevance`'s and :func:`window_wave_relevance`'s tables.
WAVE_COLUMNS = ("beat", "label", "lead", "wave", "start", "stop", "relevance", "abs_relevance", "share")
WINDOW_COLUMNS = ("window", "label", "lead", "wave", "relevance", "abs_relevance", "share")


#: The sampling rate :func:`delineate` needs to exceed (its band-pass reaches 40 Hz).
DELINEATION_MIN_FS = 80.0
#: The low-pass (Hz) of the lead on which P and T waves are delineated.
WAVE_LOWPASS = 25.0


def check_delineation_fs(fs: float, name: str = "fs") -> float:
    """``fs`` (returned as a float) is a sampling rate :func:`delineate` can work at."""
    fs = check_fs(fs, name)
    if not fs > DELINEATION_MIN_FS:
        raise InputError(
            f"{name} must exceed {DELINEATION_MIN_FS:g} Hz for the delineation of its waves, got "
            f"{fs:g} Hz (its 1-40 Hz band-pass); record at a higher rate (upsampling adds no QRS detail)"
        )
    return fs


def _qrs_bounds(slope: np.ndarray, r: int, ms: float) -> tuple[int, int]:
    """QRS onset and offset around R-peak ``r``: where the slope stays below 10 % of its peak
    (within 60 ms of ``r``) for 8 ms, searched up to 120 ms before and 160 ms after ``r``."""
    n = len(slope)
    around = slope[max(0, r - round(60 * ms)) : r + round(60 * ms) + 1]
    level = 0.1 * around.max() if len(around) else 0.0
    quiet = max(1, round(8 * ms))
    qrs_on = max(0, r - round(120 * ms))
    for s in range(r, max(quiet, r - round(120 * ms)), -1):
        if (slope[s - quiet : s] < level).all():
            qrs_on = s
            break
    qrs_off = min(n - 1, r + round(160 * ms))
    for s in range(r, min(n - quiet, r + round(160 * ms))):
        if (slope[s : s + quiet] < level).all():
            qrs_off = s
            break
    return qrs_on, qrs_off


def _wave_peak(low: np.ndarray, base: float, lo: int, hi: int) -> int:
    """The most prominent extremum of ``low - base`` (the lead less its baseline) in ``[lo, hi]``.

    Only interior extrema count, so the tail of an earlier wave falling through the window's
    start is not taken for the wave; a window without one gives its largest ``|curve|``.
    """
    magnitude = np.abs(low[lo : hi + 1] - base)
    found, properties = sps.find_peaks(magnitude, prominence=0)
    if len(found):
        return lo + int(found[np.argmax(properties["prominences"])])
    return lo + int(np.argmax(magnitude))


def _tangent_bound(
    low: np.ndarray, slope: np.ndarray, base: float, peak: int, stop: int, bound: int | None = None
) -> int:
    """The tangent method: where the tangent at the steepest point of the wave's limb between
    ``peak`` and ``stop`` (its end after the peak, its start before it) meets the level ``base``.

    The result lies between ``peak`` and ``bound`` (default ``stop``; a T wave's limb is searched
    after the QRS's low-passed tail, its onset may lie before); a limb that never turns towards
    the baseline gives ``bound``.
    """
    bound = stop if bound is None else bound
    if stop == peak:
        return peak
    lo, hi = sorted((peak, stop))
    towards = -np.sign(stop - peak) * (1.0 if low[peak] >= base else -1.0) * slope[lo : hi + 1]
    steepest = lo + int(np.argmax(towards))
    if towards[steepest - lo] <= 0:
        return bound
    crossing = steepest - (low[steepest] - base) / slope[steepest]
    first, last = sorted((peak, bound))
    return round(min(max(crossing, first), last))


def _wave_bounds(
    ecg: np.ndarray,
    low: np.ndarray,
    low_slope: np.ndarray,
    r_peaks: np.ndarray,
    qrs: list[tuple[int, int]],
    ms: float,
) -> np.ndarray:
    """``(beats, 4)``: P onset, P offset, T onset and T offset of every beat of one lead."""
    n = len(ecg)
    bounds = np.zeros((len(r_peaks), 4), dtype=np.int64)
    for i, r in enumerate(int(r) for r in r_peaks):
        qrs_on, qrs_off = qrs[i]
        base = float(np.median(ecg[max(0, qrs_on - round(20 * ms)) : qrs_on + 1]))
        t_on = t_lo = min(n - 1, qrs_off + 1)
        t_hi = r + round(600 * ms)
        if i + 1 < len(r_peaks):
            t_hi = min(r + round(0.7 * (int(r_peaks[i + 1]) - r)), qrs[i + 1][0] - 1)
        t_hi = max(t_lo, min(n - 1, t_hi))
        t_off = t_hi
        search = min(t_hi, qrs_off + round(60 * ms))
        if t_hi - search >= 2:
            peak = _wave_peak(low, base, search, t_hi)
            t_off = _tangent_bound(low, low_slope, base, peak, t_hi)
            t_on = _tangent_bound(low, low_slope, base, peak, search, bound=t_lo)
        p_hi = max(0, qrs_on - round(20 * ms))
        p_lo = qrs_on - round(300 * ms)
        if i > 0:
            previous = int(r_peaks[i - 1])
            p_lo = max(p_lo, int(bounds[i - 1, 3]) + 1, previous + round(0.5 * (r - previous)))
        p_lo = max(0, min(p_lo, p_hi))
        p_on, p_off = p_lo, p_hi
        if p_hi - p_lo >= 2:
            peak = _wave_peak(low, base, p_lo, p_hi)
            p_on = _tangent_bound(low, low_slope, base, peak, p_lo)
            p_off = _tangent_bound(low, low_slope, base, peak, p_hi)
        bounds[i] = p_on, p_off, t_on, t_off
    return bounds


def delineate(ecg: np.ndarray, r_peaks: np.ndarray, fs: float) -> pd.DataFrame:
    """Onsets and offsets (sample indices) of P, QRS and T for every beat of one lead or of
    several leads together.

    QRS: where the slope of the 1-40 Hz band-passed lead falls below 10 % of its peak (of
    several leads: their spatial velocity, the root of the sum of their squared slopes). P and
    T: on the 25 Hz low-passed lead less the lead's level at the end of the PR segment (the
    median of the 20 ms before the QRS onset), the wave's peak is the most prominent extremum in
    its search window (P: the 300 ms before the QRS onset less 20 ms, after the previous beat's
    T wave and the middle of the RR interval; T: from 60 ms after the QRS offset to 70 % of the
    RR interval, before the next QRS, or 600 ms after the last R-peak), and its onset and offset
    are found by the tangent method (the tangent at the steepest point of each limb meets that
    level). A biphasic wave is bounded around its more prominent phase. Of several leads, each
    P and T bound is the median of the leads' bounds.

    Parameters
    ----------
    ecg
        ``(samples,)``: one lead; ``(leads, samples)``: one delineation of all leads together
        (the bounds a cart reports, which hold for every lead).
    r_peaks
        The beats' R-peaks (sample indices, increasing).
    fs
        Sampling rate in Hz (above 80 Hz).

    Returns
    -------
    pandas.DataFrame
        One row per beat: ``beat``, ``r_peak``, ``p_on``, ``p_off``, ``qrs_on``, ``qrs_off``,
        ``t_on``, ``t_off``.
    """
    leads = as_leads(ecg)
    fs = check_delineation_fs(fs)
    r_peaks = as_peaks(r_peaks, leads.shape[-1])
    band = sps.butter(2, [1.0, 40.0], btype="bandpass", fs=fs, output="sos")
    slopes = np.gradient(zero_phase(leads, band, "1-40 Hz band-pass of the delineation"), axis=-1)
    velocity = np.sqrt((slopes**2).sum(axis=0))
    wave_band = sps.butter(2, WAVE_LOWPASS, fs=fs, output="sos")
    low = zero_phase(leads, wave_band, f"{WAVE_LOWPASS:g} Hz low-pass of the delineation")
    low_slope = np.gradient(low, axis=-1)
    ms = fs / 1000.0
    qrs = [_qrs_bounds(velocity, int(r), ms) for r in r_peaks]
    per_lead = [_wave_bounds(leads[k], low[k], low_slope[k], r_peaks, qrs, ms) for k in range(len(leads))]
    bounds = np.floor(np.median(np.stack(per_lead), axis=0)).astype(np.int64)  # (beats, 4)
    table = pd.DataFrame(
        {
            "beat": np.arange(len(r_peaks)),
            "r_peak": r_peaks.astype(np.int64),
            "p_on": bounds[:, 0],
            "p_off": bounds[:, 1],
            "qrs_on": [on for on, _ in qrs],
            "qrs_off": [off for _, off in qrs],
            "t_on": bounds[:, 2],
            "t_off": bounds[:, 3],
        },
        columns=list(DELINEATION_COLUMNS),
    )
    return table.astype(np.int64)


def wave_relevance(
    relevance: np.ndarray,
    waves: pd.DataFrame,
    leads: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Sum the relevance over each wave of each beat, per lead: a tidy table.

    Parameters
    ----------
    relevance
        ``(leads, samples)`` or ``(samples,)`` relevance on the strip's time axis.
    waves
        The delineation from :func:`delineate`.
    leads
        Lead names (default ``lead0``...).
    labels
        A class name per beat (e.g. the model's prediction), copied into the table.

    Returns
    -------
    pandas.DataFrame
        Columns ``beat``, ``label``, ``lead``, ``wave`` (P, QRS, T, beat), ``start``, ``stop``,
        ``relevance`` (signed sum), ``abs_relevance`` (sum of |R|) and ``share`` (the wave's
        part of the beat's |R|).
    """
    relevance = np.atleast_2d(as_signal(relevance, name="relevance"))
    if relevance.ndim != 2:
        raise InputError(f"relevance must be (samples,) or (leads, samples), got shape {relevance.shape}")
    waves = check_delineation(waves, relevance.shape[-1])
    names = as_lead_names(leads, default_lead_names(len(relevance)))
    check_count(names, len(relevance), "leads", "leads of relevance")
    check_count(labels, len(waves), "labels", "beats")
    # every span's sum as a difference of running sums: one pass over the samples, whatever the
    # number of beats (a day's record has 100,000)
    spans = {
        "P": ("p_on", "p_off"),
        "QRS": ("qrs_on", "qrs_off"),
        "T": ("t_on", "t_off"),
        "beat": ("p_on", "t_off"),
    }
    first = np.stack([waves[on].to_numpy(np.int64) for on, _ in spans.values()], axis=1)  # (beats, waves)
    last = np.stack([waves[off].to_numpy(np.int64) for _, off in spans.values()], axis=1)  # inclusive
    samples = relevance.shape[-1]
    begin = np.clip(first, 0, samples)
    end = np.clip(last + 1, begin, samples)
    sums = np.empty((len(waves), len(relevance), len(spans)))  # (beats, leads, waves)
    sizes = np.empty_like(sums)
    for lead, values in enumerate(relevance):  # one lead's running sums at a time: memory O(samples)
        for result, running in ((sums, values), (sizes, np.abs(values))):
            total = np.concatenate([[0.0], np.cumsum(running)])
            result[:, lead] = total[end] - total[begin]
    totals = sizes[:, :, -1:]  # the whole beat's |R| per lead
    shares = np.divide(sizes, totals, out=np.full(sizes.shape, np.nan), where=totals > 0)
    beats = waves["beat"].to_numpy(np.int64)
    count, leads_count, kinds = sums.shape
    beat_of = np.repeat(np.arange(count), leads_count * kinds)
    wave_of = np.tile(np.arange(kinds), count * leads_count)
    return pd.DataFrame(
        {
            "beat": beats[beat_of],
            "label": None
            if labels is None
            else np.array([labels[int(b)] for b in beats], dtype=object)[beat_of],
            "lead": np.array(names, dtype=object)[np.tile(np.repeat(np.arange(leads_count), kinds), count)],
            "wave": np.array(list(spans), dtype=object)[wave_of],
            "start": first[beat_of, wave_of],
            "stop": last[beat_of, wave_of],
            "relevance": sums.ravel(),
            "abs_relevance": sizes.ravel(),
            "share": shares.ravel(),
        },
        columns=list(WAVE_COLUMNS),
    )


@dataclass
class RecordWaves:
    """What :func:`record_wave_relevance` found on a record: its beats, their waves, the
    relevance per wave and lead, and the median beat with each method's mean map over it."""

    #: The R-peaks found (sample indices).
    r_peaks: np.ndarray
    #: :func:`delineate` of all leads.
    waves: pd.DataFrame
    #: :func:`wave_relevance` per method, with a first column ``method``.
    table: pd.DataFrame
    #: The record's median beat (:func:`~signxai.ecg.median.median_beat`).
    median: BeatTemplate
    #: Method -> the method's map averaged over the median beat's beats whose window lies inside
    #: the explained windows, aligned as ``median.signal``.
    mean_relevance: dict[str, np.ndarray]
    #: Method -> the beats (indices into ``r_peaks``) averaged in ``mean_relevance``.
    mean_beats: dict[str, np.ndarray]
    #: The record's lead names (``lead0``... where none were given), by row.
    leads: list[str]
    #: The lead the R-peaks were detected on.
    peak_lead: str


def record_wave_relevance(
    ecg: np.ndarray,
    fs: float,
    relevance: Mapping[str, np.ndarray],
    starts: np.ndarray,
    leads: Sequence[str] | None = None,
    peak_lead: str | int | None = None,
) -> RecordWaves:
    """Relevance per wave, beat and lead of the explanations of a record's windows.

    The record's beats are found on one lead (:func:`~signxai.ecg.preprocess.detect_r_peaks`)
    and delineated over all its leads (:func:`delineate`); each method's maps are placed on the
    record's time axis (windows that overlap averaged) and summed per wave (:func:`wave_relevance`)
    of the beats that lie wholly inside the explained windows (P onset to T end), and averaged over
    the beats of the record's median beat (0.35 s before to 0.65 s after the R-peak) whose window
    lies inside them: a beat the windows leave out (e.g. the record's tail after the last whole
    window) is not counted, rather than counted with no relevance.

    Parameters
    ----------
    ecg
        ``(leads, samples)``: the record the windows were cut from, on its time axis (after the
        filters and resampling the model's inputs had).
    fs
        Its sampling rate in Hz (above 80 Hz).
    relevance
        Method name -> ``(windows, leads, length)`` maps; window ``i`` covers samples
        ``starts[i]:starts[i] + length``.
    starts
        Each window's first sample.
    leads
        Lead names (default ``lead0``...).
    peak_lead
        The lead (name or row) the R-peaks are detected on; default lead II (or MLII) where the
        record has it, else its first lead.

    Returns
    -------
    RecordWaves
        An :class:`InputError` where no beat with a whole window is found, or a method's windows
        hold no whole beat.
    """
    signal = as_signal(ecg, ndim=2)
    fs = check_delineation_fs(fs)
    names = as_lead_names(leads, default_lead_names(len(signal)))
    check_count(names, len(signal), "leads", "leads of ecg")
    if not isinstance(relevance, Mapping) or not relevance:
        raise InputError(f"relevance must map method names to maps, got {type(relevance).__name__}")
    maps = {
        method: _record_maps(method, values, starts, signal.shape) for method, values in relevance.items()
    }
    row = _peak_row(peak_lead, names)
    r_peaks = detect_r_peaks(signal[row], fs)
    if not len(r_peaks):
        raise InputError(f"no beats were detected on lead {names[row]}")
    waves = delineate(signal, r_peaks, fs)
    median = median_beat(signal, r_peaks, fs)
    centres = r_peaks[median.beats]  # the median beat's beats, and their windows' spans
    head, tail = median.r_index, median.signal.shape[-1] - median.r_index
    tables, means, used = [], {}, {}
    for method, (windows, begin, end) in maps.items():
        strip = windows_to_strip(windows, begin, end, signal.shape[-1])
        gaps = _gaps(begin, end, signal.shape[-1])
        whole = waves[_inside(gaps, waves["p_on"].to_numpy(), waves["t_off"].to_numpy() + 1)]
        mean_beats = median.beats[_inside(gaps, centres - head, centres + tail)]
        if not len(whole) or not len(mean_beats):
            raise InputError(
                f"relevance[{method!r}]: its windows hold no whole beat of the {len(waves)} detected "
                f"({len(whole)} from P onset to T end, {len(mean_beats)} with the median beat's window)"
            )
        table = wave_relevance(strip, whole, names)
        table.insert(0, "method", method)
        tables.append(table)
        means[method] = median_beat(strip, r_peaks[mean_beats], fs, statistic="mean").signal
        used[method] = mean_beats
    table = pd.concat(tables, ignore_index=True)
    return RecordWaves(r_peaks, waves, table, median, means, used, names, names[row])


def _gaps(begin: np.ndarray, end: np.ndarray, samples: int) -> np.ndarray:
    """How many of the record's samples before each index (0 to ``samples``) no window covers."""
    covered = np.zeros(samples, dtype=bool)
    for first, stop in zip(begin, end, strict=True):
        covered[first:stop] = True
    return np.concatenate([[0], np.cumsum(~covered)])


def _inside(gaps: np.ndarray, first: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Which spans ``[first, stop)`` lie inside the record and wholly inside the windows."""
    samples = len(gaps) - 1
    valid = (first >= 0) & (stop <= samples) & (first < stop)
    return valid & (gaps[np.clip(stop, 0, samples)] - gaps[np.clip(first, 0, samples)] == 0)


def _record_maps(
    method: str, values: object, starts: object, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A method's window maps, checked against the record's shape, with their spans."""
    windows = as_signal(values, name=f"relevance[{method!r}]", ndim=3)
    if windows.shape[1] != shape[0]:
        raise InputError(
            f"relevance[{method!r}] has {windows.shape[1]} lead(s) per window, the record {shape[0]}"
        )
    begin = np.asarray(starts)
    stops = begin + windows.shape[-1] if np.issubdtype(begin.dtype, np.integer) else begin
    begin, end = check_spans(begin, stops, len(windows))
    if len(end) and end.max() > shape[-1]:
        raise InputError(
            f"starts: a window starting at sample {int(begin[end.argmax()])} runs past the "
            f"record's {shape[-1]} samples (relevance[{method!r}]'s windows are "
            f"{windows.shape[-1]} samples long)"
        )
    return windows, begin, end


def _peak_row(peak_lead: str | int | None, names: list[str]) -> int:
    """The row of the lead R-peaks are detected on (lead II or MLII by default, else the first)."""
    if peak_lead is None:
        return next((names.index(name) for name in ("II", "MLII") if name in names), 0)
    if isinstance(peak_lead, str) and peak_lead in names:
        check_unambiguous([peak_lead], names, "peak_lead", "give its row instead")
        return names.index(peak_lead)
    if (
        isinstance(peak_lead, int | np.integer)
        and not isinstance(peak_lead, bool)
        and 0 <= peak_lead < len(names)
    ):
        return int(peak_lead)
    raise InputError(
        f"peak_lead must be one of the leads {names} or a row from 0 to {len(names) - 1}, got {peak_lead!r}"
    )


def lead_wave_shares(table: pd.DataFrame) -> pd.DataFrame:
    """Each wave's share of the |relevance| in the beats, per lead, for one method's table.

    Returns
    -------
    pandas.DataFrame
        Rows P, QRS, T; one column per lead: the wave's |relevance| in that lead summed over the
        beats, over the |relevance| of the beats (P onset to T end) in all leads. What is left to
        one is the PR and ST segments.
    """
    if not isinstance(table, pd.DataFrame) or not {"wave", "lead", "abs_relevance"} <= set(table.columns):
        raise InputError("table must be a wave_relevance() table (columns wave, lead, abs_relevance)")
    total = table.loc[table.wave == "beat", "abs_relevance"].sum()
    parts = table[table.wave.isin(WAVES)].pivot_table(
        index="wave", columns="lead", values="abs_relevance", aggfunc="sum", sort=False
    )
    parts = parts.reindex(index=list(WAVES), columns=list(dict.fromkeys(table.lead)))
    return parts / total if total > 0 else parts * np.nan


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean share of |relevance| per wave (rows) and beat label (columns)."""
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table must be the DataFrame from wave_relevance(), got {type(table).__name__}")
    missing = [column for column in ("wave", "label", "share") if column not in table.columns]
    if missing:
        raise InputError(f"table lacks the columns {missing} of a wave_relevance() table")
    order = [w for w in (*WAVES, "other") if w in set(table.wave)]
    waves = table[table.wave.isin(order)].copy()
    waves["label"] = waves["label"].fillna("all")
    return waves.pivot_table(index="wave", columns="label", values="share", aggfunc="mean").reindex(order)


def plot_wave_relevance(table: pd.DataFrame, title: str = "") -> Figure:
    """Bar chart of the mean share of |relevance| in P, QRS and T, one group per beat label.

    Parameters
    ----------
    table
        :func:`wave_relevance`'s or :func:`window_wave_relevance`'s table.
    title
        The axes' title.

    Returns
    -------
    matplotlib.figure.Figure
        The chart.
    """
    import matplotlib.pyplot as plt

    check_text(title, "title")
    summary = summarize(table)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / max(1, summary.shape[1])
    for k, label in enumerate(summary.columns):
        ax.bar(np.arange(len(summary)) + k * width, summary[label].to_numpy(), width, label=str(label))
    ax.set_xticks(np.arange(len(summary)) + 0.4 - width / 2)
    ax.set_xticklabels(summary.index)
    ax.set_ylabel("mean share of |relevance|")
    ax.set_title(title or "relevance per wave")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def window_wave_relevance(
    relevance: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    waves: pd.DataFrame,
    labels: Sequence[str] | None = None,
    leads: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Where the relevance of each explained window lies: P, QRS, T or elsewhere.

    For relevance computed on resampled windows (e.g. a beat model's 140-sample beats),
    window ``i`` covered strip samples ``starts[i]:stops[i]``. Every delineated wave that
    overlaps a window gets the relevance of its overlap (the window's samples mapped to strip
    time); what lies in no wave is ``other``.

    Parameters
    ----------
    relevance
        The windows' maps ``(windows, leads, samples)`` (e.g. ``explain`` of
        :func:`~signxai.ecg.beats.ecg5000_windows`' beats).
    starts, stops
        Each window's first and past-the-last sample on the strip.
    waves
        The strip's delineation (:func:`delineate`, or your own table of its columns).
    labels
        One label per window (e.g. its predicted class; default none).
    leads
        One name per lead of ``relevance`` (default ``lead0``, ``lead1``...).

    Returns
    -------
    pandas.DataFrame
        ``window``, ``label``, ``lead``, ``wave`` (P, QRS, T, other), ``relevance``,
        ``abs_relevance`` and ``share`` of the window's |R|.
    """
    relevance = as_signal(relevance, name="relevance")
    if relevance.ndim == 2:
        relevance = relevance[:, None, :]
    if relevance.ndim != 3:
        raise InputError(
            f"relevance must be (windows, samples) or (windows, leads, samples), got {relevance.shape}"
        )
    count, lead_count, length = relevance.shape
    starts, stops = check_spans(starts, stops, count)
    waves = check_delineation(waves)
    check_count(labels, count, "labels", "windows")
    names = as_lead_names(leads, default_lead_names(lead_count))
    check_count(names, lead_count, "leads", "leads of relevance")
    intervals = [
        (wave, int(row[f"{key}_on"]), int(row[f"{key}_off"]))
        for _, row in waves.iterrows()
        for wave, key in (("P", "p"), ("QRS", "qrs"), ("T", "t"))
    ]
    rows = []
    for index in range(count):
        start, stop = int(starts[index]), int(stops[index])
        # strip sample s lies at window position (s - start) * length / (stop - start)
        owner = np.full(length, "other", dtype=object)
        positions = start + (np.arange(length) + 0.5) * (stop - start) / length
        for wave, on, off in intervals:
            if off < start or on >= stop:
                continue
            owner[(positions >= on) & (positions < off + 1)] = wave
        for lead_index, lead in enumerate(names):
            values = relevance[index, lead_index]
            total = np.abs(values).sum()
            for wave in (*WAVES, "other"):
                part = values[owner == wave]
                magnitude = float(np.abs(part).sum())
                rows.append(
                    {
                        "window": index,
                        "label": None if labels is None else labels[index],
                        "lead": lead,
                        "wave": wave,
                        "relevance": float(part.sum()),
                        "abs_relevance": magnitude,
                        "share": magnitude / total if total > 0 else np.nan,
                    }
                )
    return pd.DataFrame(rows, columns=list(WINDOW_COLUMNS))
