"""Preprocessing with scipy.signal: filters, resampling, windows, R-peaks, beats, normalisation.

Every function takes ``(samples,)`` or ``(leads, samples)`` arrays and filters along the last
axis with zero phase (``sosfiltfilt`` / ``filtfilt``), so waves do not shift in time.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import signal as sps

from signxai.checks import check_flag, check_number, check_whole
from signxai.ecg.checks import as_leads, as_peaks, as_signal, check_band, check_fs
from signxai.errors import InputError


def zero_phase(ecg: np.ndarray, filt: np.ndarray | tuple[np.ndarray, np.ndarray], what: str) -> np.ndarray:
    """Filter ``ecg`` forwards and backwards along its last axis with second-order sections
    ``filt`` or coefficients ``(b, a)``, after checking it is longer than scipy's edge padding."""
    x = as_signal(ecg)
    if isinstance(filt, tuple):
        b, a = filt
        padlen = 3 * max(len(a), len(b))
    else:  # scipy.signal.sosfiltfilt's default padding
        taps = 2 * len(filt) + 1 - min(int((filt[:, 2] == 0).sum()), int((filt[:, 5] == 0).sum()))
        padlen = 3 * taps
    if x.shape[-1] <= padlen:
        raise InputError(
            f"ecg has {x.shape[-1]} samples along its last axis; the {what} needs more than {padlen}"
        )
    if isinstance(filt, tuple):
        return sps.filtfilt(*filt, x, axis=-1)
    return sps.sosfiltfilt(filt, x, axis=-1)


def remove_baseline(ecg: np.ndarray, fs: float, cutoff: float = 0.5, order: int = 2) -> np.ndarray:
    """Remove baseline wander with a zero-phase Butterworth high-pass (default 0.5 Hz).

    Parameters
    ----------
    ecg
        One lead ``(samples,)`` or several ``(leads, samples)`` (any leading axes), in any unit;
        a numpy array, a list or a torch tensor.
    fs
        Sampling rate in Hz.
    cutoff
        The high-pass cutoff in Hz (between 0 and fs/2).
    order
        The Butterworth order (applied forward and backward: twice the attenuation).

    Returns
    -------
    numpy.ndarray
        The filtered signal, of ``ecg``'s shape (float64).

    Each lead's first sample is subtracted before filtering (the high-pass removes any constant;
    this changes the result only at the rounding level), so that a constant lead (a lead off at
    an offset, a clipped amplifier) comes out exactly zero rather than as rounding noise of its
    offset's scale, in which the R-peak detector would find beats.
    """
    fs = check_band(fs, cutoff, "cutoff")
    sos = sps.butter(check_whole(order, "order", at_least=1), cutoff, btype="highpass", fs=fs, output="sos")
    x = as_signal(ecg)
    return zero_phase(x - x[..., :1], sos, "baseline high-pass")


def notch(ecg: np.ndarray, fs: float, freq: float = 50.0, quality: float = 30.0) -> np.ndarray:
    """Remove powerline interference (50 or 60 Hz) with a zero-phase IIR notch.

    Parameters
    ----------
    ecg, fs
        As for :func:`remove_baseline`.
    freq
        The mains frequency in Hz (below fs/2).
    quality
        The notch's quality factor (> 0): its -3 dB width is ``freq / quality``.

    Returns
    -------
    numpy.ndarray
        The filtered signal, of ``ecg``'s shape (float64).
    """
    fs = check_band(fs, freq, "freq")
    quality = check_number(quality, "quality", above=0)
    return zero_phase(ecg, sps.iirnotch(freq, quality, fs=fs), "notch filter")


def lowpass(ecg: np.ndarray, fs: float, cutoff: float = 40.0, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass (default 40 Hz).

    Parameters
    ----------
    ecg, fs
        As for :func:`remove_baseline`.
    cutoff
        The cutoff in Hz (between 0 and fs/2).
    order
        The Butterworth order (applied forward and backward).

    Returns
    -------
    numpy.ndarray
        The filtered signal, of ``ecg``'s shape (float64).
    """
    fs = check_band(fs, cutoff, "cutoff")
    sos = sps.butter(check_whole(order, "order", at_least=1), cutoff, btype="lowpass", fs=fs, output="sos")
    return zero_phase(ecg, sos, "low-pass")


def resample(ecg: np.ndarray, fs: float, target_fs: float) -> np.ndarray:
    """Resample to ``target_fs`` with a polyphase filter (rational ratio of the two rates).

    Parameters
    ----------
    ecg, fs
        As for :func:`remove_baseline`.
    target_fs
        The new sampling rate in Hz; the ratio of the two rates is taken as a fraction with a
        denominator of at most 1000.

    Returns
    -------
    numpy.ndarray
        The signal with its last axis at ``target_fs``.
    """
    fs = check_fs(fs)
    target_fs = check_fs(target_fs, "target_fs")
    ratio = Fraction(target_fs / fs).limit_denominator(1000)
    return sps.resample_poly(as_signal(ecg), ratio.numerator, ratio.denominator, axis=-1)


def windows(ecg: np.ndarray, length: int, step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``(leads, samples)`` into windows ``(n, leads, length)`` every ``step`` samples.

    Parameters
    ----------
    ecg
        ``(leads, samples)``, or one lead ``(samples,)``.
    length
        Samples per window (>= 1).
    step
        Samples from one window's start to the next (default ``length``: no overlap).

    Returns
    -------
    tuple of numpy.ndarray
        The windows ``(n, leads, length)`` and their start samples ``(n,)``; the tail shorter
        than ``length`` is dropped.
    """
    ecg = as_leads(ecg)  # before, a (recordings, leads, samples) array was cut along its leads
    length = check_whole(length, "length", at_least=1, unit="of samples")
    step = length if step is None else check_whole(step, "step", at_least=1, unit="of samples")
    if ecg.shape[-1] < length:
        raise InputError(f"the signal has {ecg.shape[-1]} samples, fewer than length={length}")
    starts = np.arange(0, ecg.shape[-1] - length + 1, step)
    return np.stack([ecg[:, s : s + length] for s in starts]), starts


def znormalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Zero mean, unit standard deviation along ``axis`` (constant segments stay at zero).

    Parameters
    ----------
    x
        Signals or windows of any shape.
    axis
        The axis normalised (default the last: each lead of each window on its own).

    Returns
    -------
    numpy.ndarray
        ``x`` normalised, of its shape.
    """
    x = as_signal(x)
    if not -x.ndim <= check_whole(axis, "axis") < x.ndim:
        raise InputError(
            f"axis must be an axis of x's {x.ndim} dimensions (-{x.ndim} to {x.ndim - 1}), got {axis}"
        )
    mean = x.mean(axis=axis, keepdims=True)
    std = x.std(axis=axis, keepdims=True)
    return (x - mean) / np.where(std > 0, std, 1.0)


#: Search-back (Pan-Tompkins): an RR interval this many times the median of its neighbours' is
#: searched again for a beat the threshold missed.
SEARCH_BACK_GAP = 1.66
#: A search-back candidate's steepest band-passed slope must reach this part of the median of the
#: neighbouring beats' (a T wave's is far below it).
SEARCH_BACK_SLOPE = 0.3
#: A detected peak whose steepest band-passed slope is below this part of the median of the 32
#: beats around it is no QRS complex (a P or T wave a threshold fallen in a long pause took).
MIN_STEEPNESS = 0.2


def detect_r_peaks(
    ecg: np.ndarray,
    fs: float,
    refractory: float = 0.25,
    search_back: bool = True,
    min_steepness: float = MIN_STEEPNESS,
) -> np.ndarray:
    """Detect R-peaks in one lead (Pan-Tompkins style energy detector), as sample indices.

    Parameters
    ----------
    ecg
        One lead ``(samples,)``, baseline wander removed (:func:`remove_baseline`).
    fs
        Sampling rate in Hz (> 30).
    refractory
        The least time between two beats in seconds (0.25: at most 240 bpm; 0.2 for
        tachycardia).
    search_back
        Search long RR intervals again for a missed beat (below).
    min_steepness
        Drop peaks less steep than this part of the beats around them (below; 0 keeps all).

    Returns
    -------
    numpy.ndarray
        The R-peaks' sample indices, ascending (int64).

    5-15 Hz band-pass, derivative, squaring, 150 ms moving integration, peaks at least
    ``refractory`` seconds apart above an adaptive threshold (15 % of the 90th percentile over
    the 10 s centred on each 5 s block); each peak is then moved to the largest absolute
    band-passed deflection within +-75 ms, so upright and inverted (e.g. ventricular) complexes
    are both found.

    Search-back (``search_back=True``, as Pan and Tompkins): an RR interval longer than 1.66
    times the median of the 16 around it is searched again, at half the threshold, for its
    highest peak at least half that median from both beats (no less than ``refractory``, no
    more than 360 ms); where that peak's steepest band-passed slope reaches 30 % of the median of
    the neighbouring beats' (a T wave's is far lower), it splits the interval, and the parts are
    searched again. On record 208 with 40 beats' QRS complexes scaled to 35 % (three draws),
    106 of 120 were found instead of 64 (scaled to half: 113 instead of 111); with 40 QRS
    complexes removed (pauses that keep their P and T waves; three draws), each draw got one more
    peak 150 ms or more from every QRS (a T wave or a noise spike); the unchanged record gains
    one beat, inside an amplifier-saturation artefact (503 peaks).

    Last, the shallow-peak test: a peak whose steepest band-passed slope is below
    ``min_steepness`` (0.2) times the median of the 32 peaks around it (16 on each side) is
    dropped, in one pass. In a pause of more than about 6 s the 10 s a block's level comes from
    hold mostly pause, and the threshold falls to the P waves that go on in it (ventricular
    standstill, high-grade AV block); those are far less steep than QRS complexes (on record 208
    0.08-0.12 of the median beat's, its own beats 0.34 and up). With the test, pauses of 8, 10
    and 14 s that keep their P waves (record 208, four places each) got no beat; without it
    (``min_steepness=0``) 4, 4-9 and 8-13 false beats in three or four of the places. Pauses of
    20 s still get them (19-25 in three places), as their P waves outnumber the beats around.
    Record 208's 503 peaks are unchanged; 30 s of it at a tenth of the amplitude at six places
    lost 62 of 302 beats instead of 61, at a twentieth 102 instead of 96 (a smaller beat beside
    larger ones at the drop's edge is taken for a P wave); at a quarter 9 with or without.

    A flat stretch (a lead off, a constant signal) yields no peaks: its rounding noise lies far
    below the floor the threshold keeps (1 % of the median block's level); a constant lead
    through :func:`remove_baseline` is exactly zero. Where the amplitude
    drops abruptly, beats in the 5 s blocks at its edges may be missed.

    ``refractory`` caps the rate it can follow (0.25 s: 240 beats per minute). On record 208
    sped up by resampling (``scipy.signal.resample_poly(ecg, 10, 19)`` and ``(ecg, 10, 21)``
    read at 360 Hz, its morphology compressed too; scored against its 503 peaks on the unchanged
    record, moved to the new time scale) it found 95 % of the beats at a median 198 bpm and 87 %
    at 219 bpm; ``refractory=0.2`` found 99 % there, but 508 peaks for the 503 of the unchanged
    record. For tachycardia (infants, SVT) pass 0.2.
    """
    ecg = as_signal(ecg, ndim=1)
    fs = check_fs(fs)
    check_number(refractory, "refractory", above=0, unit="of seconds")
    search_back = check_flag(search_back, "search_back")
    min_steepness = check_number(min_steepness, "min_steepness", at_least=0)
    if min_steepness >= 1:
        raise InputError(
            f"min_steepness must be below 1 (a part of the neighbouring beats' steepness; 0 keeps "
            f"every peak), got {min_steepness}"
        )
    if not fs > 30:
        raise InputError(f"fs must exceed 30 Hz for the detector's 5-15 Hz band-pass, got {fs}")
    sos = sps.butter(2, [5.0, 15.0], btype="bandpass", fs=fs, output="sos")
    band = zero_phase(ecg, sos, "5-15 Hz band-pass of the R-peak detector")
    slope = np.gradient(band)
    width = max(1, round(0.15 * fs))
    integrated = np.convolve(slope**2, np.ones(width) / width, mode="same")
    block = round(5 * fs)  # each 5 s block's level from the 10 s centred on it
    level = np.array(
        [
            np.percentile(integrated[max(0, i - block // 2) : i + block + block // 2], 90)
            for i in range(0, len(integrated), block)
        ]
    )
    # a flat stretch (a lead off, a constant signal) holds only the filters' rounding noise: its
    # level is floored at 1 % of the median block's (a beat 10x smaller still passes) and at a
    # rounding-noise level of the signal's own scale, so that noise there is no beat
    floor = max(0.01 * float(np.median(level)), (1e-8 * float(np.max(np.abs(ecg)))) ** 2)
    threshold = 0.15 * np.repeat(np.maximum(level, floor), block)[: len(integrated)]
    distance = max(1, round(refractory * fs))
    peaks, _ = sps.find_peaks(integrated, height=threshold, distance=distance)
    half = round(0.075 * fs)
    if search_back:
        peaks = _search_back(peaks, integrated, threshold, np.abs(slope), half, distance, round(0.36 * fs))
    if min_steepness > 0:
        peaks = _drop_shallow(peaks, np.abs(slope), half, min_steepness)
    refined = [
        max(0, p - half) + int(np.argmax(np.abs(band[max(0, p - half) : p + half + 1]))) for p in peaks
    ]
    return np.unique(np.asarray(refined, dtype=np.int64))


def _search_back(
    peaks: np.ndarray,
    integrated: np.ndarray,
    threshold: np.ndarray,
    steepness: np.ndarray,
    half: int,
    distance: int,
    longest_margin: int,
) -> np.ndarray:
    """Pan-Tompkins search-back: the peaks of ``integrated`` (above half ``threshold``) that split
    RR intervals longer than ``SEARCH_BACK_GAP`` times their neighbours' median, where the
    candidate's steepest slope (the largest ``steepness`` within ``half`` samples) is QRS-like;
    repeated until no interval is split."""
    candidates, _ = sps.find_peaks(integrated, height=0.5 * threshold, distance=distance)
    found = np.asarray(peaks, dtype=np.int64)
    while len(found) >= 3 and len(candidates):
        rr = np.diff(found)
        expected = _median_around(rr, 8)  # of the 16 intervals around each
        slopes = np.lib.stride_tricks.sliding_window_view(
            np.pad(_steepest(steepness, found, half), 4, mode="edge"), 9
        )
        reference = np.median(slopes, axis=1)  # the beats around each beat
        added = []
        for i in np.nonzero(rr > SEARCH_BACK_GAP * expected)[0]:
            margin = int(np.clip(expected[i] / 2, distance, max(distance, longest_margin)))
            inside = candidates[(candidates >= found[i] + margin) & (candidates <= found[i + 1] - margin)]
            if not len(inside):
                continue
            best = int(inside[np.argmax(integrated[inside])])
            if _steepest(steepness, np.array([best]), half)[0] >= SEARCH_BACK_SLOPE * reference[i]:
                added.append(best)
        if not added:
            break
        found = np.sort(np.concatenate([found, added]))
    return found


def _steepest(steepness: np.ndarray, at: np.ndarray, half: int) -> np.ndarray:
    """The largest ``steepness`` within ``half`` samples of each index in ``at``."""
    offsets = np.arange(-half, half + 1)
    return steepness[np.clip(np.asarray(at)[:, None] + offsets, 0, len(steepness) - 1)].max(axis=1)


def _drop_shallow(peaks: np.ndarray, steepness: np.ndarray, half: int, ratio: float) -> np.ndarray:
    """``peaks`` without those whose steepest slope (``_steepest``) is below ``ratio`` times the
    median of the 32 peaks around them (one pass: dropping again would eat into the smaller beats
    after an amplitude drop, each pass taking those the last one left beside larger ones)."""
    found = np.asarray(peaks, dtype=np.int64)
    if len(found) < 3:
        return found
    steep = _steepest(steepness, found, half)
    return found[steep >= ratio * _median_around(steep, 16)]


def _median_around(values: np.ndarray, side: int) -> np.ndarray:
    """For each of ``values``, the median of the up to ``side`` values on each side of it (itself
    left out; fewer at the ends)."""
    padded = np.pad(np.asarray(values, dtype=float), side, constant_values=np.nan)
    around = np.lib.stride_tricks.sliding_window_view(padded, 2 * side + 1).copy()
    around[:, side] = np.nan
    return np.nanmedian(around, axis=1)


def complete_windows(
    ecg: object, r_peaks: object, fs: float, before: float, after: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """The checked ``(leads, samples)`` signal and R-peaks, the indices of the R-peaks whose
    window of ``before`` and ``after`` seconds lies inside it, and those two spans in samples."""
    signal = as_leads(ecg)
    fs = check_fs(fs)
    before = check_number(before, "before", at_least=0, unit="of seconds")
    after = check_number(after, "after", at_least=0, unit="of seconds")
    if not before + after > 0:
        raise InputError(f"before and after must have a positive sum, got {before} and {after} s")
    peaks = as_peaks(r_peaks, signal.shape[-1])
    start, stop = round(before * fs), round(after * fs)
    kept = np.flatnonzero((peaks - start >= 0) & (peaks + stop <= signal.shape[-1]))
    if len(kept) == 0:
        raise InputError(
            f"no R-peak has a complete window ({before:g} s before, {after:g} s after) in the "
            f"signal of {signal.shape[-1] / fs:g} s ({len(peaks)} R-peaks given)"
        )
    return signal, peaks, kept, start, stop


def segment_beats(
    ecg: np.ndarray,
    r_peaks: np.ndarray,
    fs: float,
    before: float = 0.25,
    after: float = 0.45,
    length: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut windows centred on R-peaks: ``before``/``after`` seconds around each peak.

    Parameters
    ----------
    ecg
        One lead ``(samples,)`` or several ``(leads, samples)``.
    fs
        Sampling rate in Hz.
    r_peaks
        The R-peaks' sample indices (e.g. from :func:`detect_r_peaks`).
    before, after
        Seconds kept before and after each R-peak (their sum > 0).
    length
        Resample each window to this many samples (>= 2; default: as cut).

    Returns
    -------
    tuple of numpy.ndarray
        The beats ``(beats, leads, samples)`` and the R-peaks that had a complete window (a
        window running past either end of the signal is left out).
    """
    if length is not None:
        length = check_whole(length, "length", at_least=2, unit="of samples")
    ecg, r_peaks, kept, start, stop = complete_windows(ecg, r_peaks, fs, before, after)
    keep = r_peaks[kept]
    beats = np.stack([ecg[:, r - start : r + stop] for r in keep])
    if length is not None and length != beats.shape[-1]:
        beats = sps.resample(beats, length, axis=-1)
    return beats, keep
