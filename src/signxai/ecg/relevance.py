"""Relevance maps for plotting and for moving between beat windows and the strip's time axis."""

from __future__ import annotations

import numpy as np

from signxai.checks import check_whole
from signxai.ecg.checks import as_signal, check_spans
from signxai.errors import InputError


def normalize_ecg_relevancemap(relevancemap: np.ndarray) -> np.ndarray:
    """Min-max normalise a relevance map to [0, 1] (the tutorial's helper; constant maps stay)."""
    relevancemap = as_signal(relevancemap, name="relevancemap")
    low, high = relevancemap.min(), relevancemap.max()
    if high > low:
        return (relevancemap - low) / (high - low)
    return relevancemap


def normalize_signed(relevancemap: np.ndarray) -> np.ndarray:
    """Divide by the largest absolute value: [-1, 1], zero stays zero, signs kept."""
    relevancemap = as_signal(relevancemap, name="relevancemap")
    peak = np.abs(relevancemap).max()
    return relevancemap / peak if peak > 0 else relevancemap


def windows_to_strip(relevance: np.ndarray, starts: np.ndarray, stops: np.ndarray, total: int) -> np.ndarray:
    """Place per-window relevance ``(n, leads, length)`` back on the strip's time axis.

    Window ``i`` covered strip samples ``starts[i]:stops[i]`` and was resampled to ``length``;
    its relevance is resampled back (linear interpolation, scaled so that each window's sum is
    kept) and added; where windows overlap, contributions are averaged.

    Parameters
    ----------
    relevance
        The windows' maps ``(n, leads, length)``.
    starts, stops
        Each window's first and past-the-last sample on the strip.
    total
        The strip's length in samples.

    Returns
    -------
    numpy.ndarray
        ``(leads, total)``: the relevance on the strip, 0 where no window lies.
    """
    relevance = as_signal(relevance, name="relevance")
    if relevance.ndim != 3:
        raise InputError(f"relevance must be (windows, leads, length), got shape {relevance.shape}")
    total = check_whole(total, "total", at_least=1, unit="of samples")
    starts, stops = check_spans(starts, stops, len(relevance), total)
    leads = relevance.shape[1]
    strip = np.zeros((leads, total))
    count = np.zeros(total)
    for window, start, stop in zip(relevance, starts, stops, strict=True):
        span = int(stop - start)
        positions = np.linspace(0, window.shape[-1] - 1, span)
        values = np.stack([np.interp(positions, np.arange(window.shape[-1]), lead) for lead in window])
        values *= window.shape[-1] / span
        strip[:, start:stop] += values
        count[start:stop] += 1
    return strip / np.maximum(count, 1)
