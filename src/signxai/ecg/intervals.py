"""ECG intervals from a delineation: RR, heart rate, P, PR, QRS, QT and the QT corrected for rate.

A cart measures its intervals over all leads of a median beat; :func:`intervals` measures them
per beat from :func:`signxai.ecg.waves.delineate` (of one lead, or of all leads together, which
is the closer match to a cart: README). The QT corrections are the four in clinical use.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from signxai.checks import check_choice
from signxai.ecg.checks import check_delineation, check_fs
from signxai.errors import InputError

#: The QT corrections :func:`corrected_qt` knows: Bazett (1920) QT / RR^(1/2), Fridericia (1920)
#: QT / RR^(1/3), Framingham (Sagie et al. 1992) QT + 154 ms (1 - RR), Hodges (1983)
#: QT + 1.75 ms (HR - 60 bpm); RR in seconds, HR in beats per minute.
QTC_CORRECTIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "bazett": lambda qt, rr: qt / np.sqrt(rr),
    "fridericia": lambda qt, rr: qt / np.cbrt(rr),
    "framingham": lambda qt, rr: qt + 154.0 * (1.0 - rr),
    "hodges": lambda qt, rr: qt + 1.75 * (60.0 / rr - 60.0),
}
#: Their names.
QTC_FORMULAS = tuple(QTC_CORRECTIONS)

#: The columns of :func:`intervals`'s table (durations in ms, rate in beats per minute).
INTERVAL_COLUMNS = (
    "beat",
    "rr_ms",
    "heart_rate_bpm",
    "p_ms",
    "pr_ms",
    "qrs_ms",
    "qt_ms",
    "qtc_bazett_ms",
    "qtc_fridericia_ms",
)


def _positive_ms(values: object, name: str) -> np.ndarray:
    """Positive, finite durations in ms: a number or an array of them."""
    array = np.asarray(values) if not isinstance(values, str | bytes) else np.asarray([])
    if (
        array.size == 0
        or not np.issubdtype(array.dtype, np.number)
        or not np.all(np.isfinite(array))
        or np.any(array <= 0)
    ):
        given = f"an array of shape {array.shape}" if array.ndim else repr(values)
        raise InputError(f"{name} must be positive, finite durations in ms (a number or array), got {given}")
    return array.astype(np.float64)


def corrected_qt(qt_ms: object, rr_ms: object, formula: str = "bazett") -> np.ndarray | float:
    """The QT interval corrected for heart rate, in ms.

    Parameters
    ----------
    qt_ms
        QT interval(s) in ms.
    rr_ms
        The RR interval(s) in ms (of the same shape, or one for all).
    formula
        One of :data:`QTC_FORMULAS`.

    Returns
    -------
    float or numpy.ndarray
        The corrected QT in ms (a float for single numbers).
    """
    formula = check_choice(formula, "formula", QTC_FORMULAS)
    qt = _positive_ms(qt_ms, "qt_ms")
    rr = _positive_ms(rr_ms, "rr_ms")
    if qt.shape != rr.shape and rr.size != 1 and qt.size != 1:
        raise InputError(f"rr_ms must have the shape of qt_ms, {qt.shape}, or be one number; got {rr.shape}")
    result = QTC_CORRECTIONS[formula](qt, rr / 1000.0)
    return float(result) if result.ndim == 0 else result


def intervals(waves: pd.DataFrame, fs: float) -> pd.DataFrame:
    """Each beat's intervals from its delineation.

    Parameters
    ----------
    waves
        The table of :func:`signxai.ecg.waves.delineate` (or one with its columns).
    fs
        The sampling rate (Hz) of the delineated signal.

    Returns
    -------
    pandas.DataFrame
        One row per beat: ``beat``; ``rr_ms``, the interval from the previous R-peak (NaN for the
        first beat) and ``heart_rate_bpm`` from it; ``p_ms`` (P onset to offset), ``pr_ms`` (P
        onset to QRS onset), ``qrs_ms`` (QRS onset to offset), ``qt_ms`` (QRS onset to T end);
        ``qtc_bazett_ms`` and ``qtc_fridericia_ms`` with the beat's ``rr_ms`` (NaN for the first
        beat; :func:`corrected_qt` for others or another RR).
    """
    waves = check_delineation(waves)
    fs = check_fs(fs)
    per_ms = 1000.0 / fs

    def span(start: str, stop: str) -> np.ndarray:
        return (waves[stop].to_numpy(np.float64) - waves[start].to_numpy(np.float64)) * per_ms

    rr = np.full(len(waves), np.nan)
    rr[1:] = np.diff(waves["r_peak"].to_numpy(np.float64)) * per_ms
    if np.any(rr[1:] <= 0):
        raise InputError("waves must list its beats in time order (R-peaks increasing)")
    qt = span("qrs_on", "t_off")
    known = ~np.isnan(rr) & (qt > 0)
    qtc = {formula: np.full(len(waves), np.nan) for formula in ("bazett", "fridericia")}
    for formula, values in qtc.items():
        if known.any():
            values[known] = corrected_qt(qt[known], rr[known], formula)
    return pd.DataFrame(
        {
            "beat": waves["beat"].to_numpy(),
            "rr_ms": rr,
            "heart_rate_bpm": 60000.0 / rr,
            "p_ms": span("p_on", "p_off"),
            "pr_ms": span("p_on", "qrs_on"),
            "qrs_ms": span("qrs_on", "qrs_off"),
            "qt_ms": qt,
            "qtc_bazett_ms": qtc["bazett"],
            "qtc_fridericia_ms": qtc["fridericia"],
        },
        columns=list(INTERVAL_COLUMNS),
    )
