"""Argument checks shared by the ECG toolkit: signals, sampling rates, R-peaks, relevance.

Each check returns the argument in the form the caller computes with (float64 signal, int64
peaks) or raises an :class:`~signxai.errors.InputError` that names the argument, what was
expected and what was given.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, cast, overload

import numpy as np
import pandas as pd

from signxai.checks import check_number, host_values, is_number
from signxai.errors import InputError

#: Units of a voltage (case-insensitive) and their factor to mV. A WFDB header without units
#: is in mV (the WFDB default).
TO_MILLIVOLT = {"mv": 1.0, "uv": 1e-3, "\u00b5v": 1e-3, "\u03bcv": 1e-3, "v": 1e3, "nv": 1e-6}

#: The columns a delineation (``waves.delineate``) must have.
DELINEATION_COLUMNS = ("beat", "r_peak", "p_on", "p_off", "qrs_on", "qrs_off", "t_on", "t_off")


def as_signal(values: object, name: str = "ecg", ndim: int | None = None) -> np.ndarray:
    """``values`` as a finite, non-empty float64 array (``ndim`` dimensions if given).

    With ``ndim=1`` a ``(1, samples)`` array (one lead of a multi-lead layout) is accepted too.
    """
    values = host_values(values)
    try:  # a ragged list fails in either conversion
        complex_values = np.iscomplexobj(cast(Any, values))
        x = np.asarray(values, dtype=np.complex128 if complex_values else np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(
            f"{name} must be an array of numbers, got {type(values).__name__} ({error})"
        ) from None
    if complex_values:  # numpy would drop the imaginary parts with only a warning
        raise InputError(f"{name} must hold real numbers, got dtype {np.asarray(values).dtype}")
    if ndim == 1 and x.ndim == 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim == 0:
        raise InputError(f"{name} must be an array of samples, got the single number {values!r}")
    if ndim is not None and x.ndim != ndim:
        layout = "one lead (samples,)" if ndim == 1 else f"{ndim} dimensions"
        raise InputError(f"{name} must be {layout}, got shape {x.shape}")
    if x.size == 0:
        raise InputError(f"{name} is empty: shape {x.shape}")
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise InputError(
            f"{name} has {bad} non-finite values (NaN or inf); interpolate or cut them out first"
        )
    return x


def as_leads(values: object, name: str = "ecg") -> np.ndarray:
    """``(samples,)`` or ``(leads, samples)`` finite values, as ``(leads, samples)``."""
    signal = as_signal(values, name=name)
    if signal.ndim > 2:
        raise InputError(f"{name} must be (samples,) or (leads, samples), got shape {signal.shape}")
    return np.atleast_2d(signal)


def check_fs(fs: float, name: str = "fs") -> float:
    """A positive, finite sampling rate in Hz."""
    value = fs.item() if isinstance(fs, np.ndarray) and fs.ndim == 0 else fs
    if np.ndim(value) != 0 or isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        given = f"an array of shape {np.shape(fs)}" if np.ndim(fs) else repr(fs)
        raise InputError(f"{name} must be a sampling rate in Hz (one number), got {given}")
    if not (is_number(value) and value > 0):
        raise InputError(f"{name} must be a positive sampling rate in Hz, got {fs}")
    return float(value)


def check_band(fs: float, cutoff: float, name: str) -> float:
    """``fs`` is a sampling rate (returned as a float) and the frequency ``cutoff`` lies strictly
    inside (0, fs/2)."""
    fs = check_fs(fs)
    cutoff = check_number(cutoff, name, unit="in Hz")
    if not 0 < cutoff < fs / 2:
        raise InputError(f"{name}={cutoff} Hz must lie between 0 and fs/2 = {fs / 2} Hz")
    return fs


def lead_rows(names: Sequence[str], leads: Sequence[str] | None) -> list[int]:
    """The rows of ``leads`` among a record's lead ``names``, in the order asked (None or empty:
    every row); a name the record lacks is left out, for the lead check to name."""
    return [list(names).index(lead) for lead in leads if lead in names] if leads else list(range(len(names)))


def check_unambiguous(chosen: Sequence[str], names: Sequence[str], what: str, instead: str) -> None:
    """Raise if a lead name in ``chosen`` names several of the record's leads ``names`` (EDF
    allows repeated labels, e.g. two channels called 'ECG'): ``what`` names the argument and
    ``instead`` says how to choose by row."""
    repeated = [lead for lead in dict.fromkeys(chosen) if list(names).count(lead) > 1]
    if repeated:
        rows = {lead: [row for row, name in enumerate(names) if name == lead] for lead in repeated}
        raise InputError(f"{what} {repeated} name several leads of the record (rows {rows}); {instead}")


def one_rate(record: str, rates: Sequence[tuple[str, float]]) -> float:
    """The sampling rate the channels ``rates`` ((name, Hz) pairs, at least one) of ``record``
    share, or an ``InputError`` that lists them by rate."""
    groups: dict[float, list[str]] = {}
    for name, rate in rates:
        groups.setdefault(float(rate), []).append(name)
    if len(groups) > 1:
        listed = "; ".join(f"{', '.join(map(repr, names))} at {rate:g} Hz" for rate, names in groups.items())
        raise InputError(
            f"the channels of '{record}' have different sampling rates ({listed}); pass leads= with "
            "channels of one rate (or resample them to one first)"
        )
    return next(iter(groups))


def check_time_range(
    start: float | None, duration: float | None, names: tuple[str, str] = ("start", "duration")
) -> None:
    """A selection in seconds: ``start`` >= 0 and ``duration`` > 0 where given, finite numbers
    (``names``: how the caller spells the two, e.g. a command line's options)."""
    for name, value in zip(names, (start, duration), strict=True):
        if value is not None:
            check_number(value, name, unit="of seconds")
    if start is not None and not start >= 0:
        raise InputError(f"{names[0]} must be >= 0 s, got {start}")
    if duration is not None and not duration > 0:
        raise InputError(f"{names[1]} must be > 0 s, got {duration}")


def as_peaks(r_peaks: object, samples: int | None, name: str = "r_peaks") -> np.ndarray:
    """Sample indices: one-dimensional, whole numbers, increasing, inside ``[0, samples)`` (``samples``
    None: ``>= 0``)."""
    try:
        peaks = np.asarray(host_values(r_peaks), dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an array of sample indices, got {type(r_peaks).__name__}") from None
    if peaks.ndim != 1:
        raise InputError(f"{name} must be one-dimensional sample indices, got shape {peaks.shape}")
    if not np.all(np.isfinite(peaks)) or np.any(peaks != np.round(peaks)):
        raise InputError(
            f"{name} must be whole sample indices (e.g. from detect_r_peaks), got {peaks[:5]}..."
        )
    outside = peaks < 0 if samples is None else (peaks < 0) | (peaks >= samples)
    if samples is None and outside.any():
        raise InputError(f"{name} must be sample indices (>= 0), got {int(peaks[outside][0])}")
    if outside.any():
        raise InputError(
            f"{name} must lie inside the signal's {samples} samples; "
            f"{int(outside.sum())} do not (e.g. {int(peaks[outside][0])}). Were they found at another fs?"
        )
    if np.any(np.diff(peaks) <= 0):
        raise InputError(f"{name} must be strictly increasing (sorted, no repeats)")
    return peaks.astype(np.int64)


def check_spans(
    starts: object, stops: object, count: int, samples: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Window spans ``starts[i]:stops[i]``: ``count`` of each, non-empty, inside ``[0, samples]``."""
    spans = []
    for name, values in (("starts", starts), ("stops", stops)):
        array = np.asarray(host_values(values))
        if array.ndim != 1 or len(array) != count or not np.issubdtype(array.dtype, np.integer):
            raise InputError(
                f"{name} must hold one whole sample index per window ({count}), "
                f"got {array.dtype} of shape {array.shape}"
            )
        spans.append(array.astype(np.int64))
    begin, end = spans
    if np.any(end <= begin) or np.any(begin < 0):
        raise InputError("every window needs 0 <= starts[i] < stops[i]")
    if samples is not None and np.any(end > samples):
        raise InputError(f"stops reach sample {int(end.max())}, beyond the strip's {samples} samples")
    return begin, end


def as_relevance(relevance: object, shape: tuple[int, ...], of: str = "ecg") -> np.ndarray:
    """Finite float64 relevance of exactly ``shape`` (the shape of ``of``)."""
    values = as_signal(relevance, name="relevance", ndim=1 if len(shape) == 1 else None)
    if values.shape != shape:
        raise InputError(f"relevance must have the shape of {of}, {shape}; got {values.shape}")
    return values


def check_delineation(waves: object, samples: int | None = None) -> pd.DataFrame:
    """A delineation table with every column of ``waves.delineate`` (inside ``samples``)."""
    if not isinstance(waves, pd.DataFrame):
        raise InputError(f"waves must be the DataFrame from delineate(), got {type(waves).__name__}")
    missing = [column for column in DELINEATION_COLUMNS if column not in waves.columns]
    if missing:
        raise InputError(
            f"waves lacks the columns {missing}; expected those of delineate(): {DELINEATION_COLUMNS}"
        )
    if samples is not None and len(waves):
        reach = int(waves[list(DELINEATION_COLUMNS[2:])].to_numpy().max())
        if reach >= samples:
            raise InputError(
                f"the delineation reaches sample {reach}, but the relevance has {samples} samples; "
                "relevance must lie on the delineated strip's time axis"
            )
    return waves


def default_lead_names(count: int) -> list[str]:
    """Names for ``count`` unnamed leads: ``lead0``, ``lead1``... (the row index, as ``lead=`` takes
    it), in tables, files, plots and reports alike."""
    return [f"lead{row}" for row in range(count)]


@overload
def as_lead_names(leads: object, default: list[str], name: str = ...) -> list[str]: ...
@overload
def as_lead_names(leads: object, default: None = ..., name: str = ...) -> list[str] | None: ...
def as_lead_names(leads: object, default: list[str] | None = None, name: str = "leads") -> list[str] | None:
    """Lead names as a list (one name alone is a list of one); ``default`` where ``leads`` is None."""
    if leads is None:
        return default
    if isinstance(leads, str):
        return [leads]
    if not isinstance(leads, Sequence | np.ndarray) or not all(isinstance(lead, str) for lead in leads):
        raise InputError(f"{name} must be lead names (a list of str), got {leads!r}")
    return list(leads)


def check_count(items: Sequence[object] | np.ndarray | None, count: int, name: str, of: str) -> None:
    """``items`` (if given) has one entry per ``of``."""
    if items is None:
        return
    if isinstance(items, str) or not isinstance(items, Sequence | np.ndarray):
        raise InputError(f"{name} must be a list with one entry for each of the {count} {of}, got {items!r}")
    if len(items) != count:
        raise InputError(f"{name} has {len(items)} entries for {count} {of}")
