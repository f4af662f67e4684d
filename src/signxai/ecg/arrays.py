"""Recordings stored as plain arrays: ``.npy``, ``.npz`` and ``.csv`` files.

A ``.csv`` file has one column per lead, with or without a header row naming the leads; the
delimiter is a comma, semicolon or tab (found from the file). Exports of WFDB's ``rdsamp -c -H
-v`` and spreadsheets carry more than the samples, and are read as such: a units row under the
header (``'seconds','mV','mV'``) is skipped, and a first column named as time or sample number
(``time``, ``'Elapsed time'``, ``sample``, ...) is no lead: a time column in seconds is checked
against the sampling rate given.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from signxai.errors import InputError

#: Header names of a first column that holds each row's time in seconds (case and quotes ignored).
TIME_COLUMNS = re.compile(r"(elapsed )?(time|t|seconds|sec|s)( ?[\[(]s[\])])?")
#: Header names of a first column that holds each row's sample number or time in another form.
INDEX_COLUMNS = re.compile(
    r"sample( ?(#|number|no\.?))?|samples|index|idx|(elapsed )?time ?[\[(](ms|hh:mm:ss(\.mmm)?)[\])]"
)


def read_numpy(path: Path) -> np.ndarray:
    """The array of a ``.npy`` file, or of an ``.npz`` file holding one array (or one named
    ``signal``)."""
    try:
        if path.suffix == ".npy":
            return _numbers(np.load(path), path)
        with np.load(path) as data:
            files = data.files
            key = "signal" if "signal" in files else files[0] if len(files) == 1 else None
            array = data[key] if key is not None else None
    except Exception as error:  # no numpy file, pickles, a damaged header (tokenize's TokenError)
        if isinstance(error, InputError):
            raise
        raise InputError(f"'{path}' is no numeric {path.suffix} array (numpy: {error})") from None
    if array is None:
        held = ", ".join(files) if files else "none"
        raise InputError(f"'{path}' holds {len(files)} arrays ({held}); expected one, or one named 'signal'")
    return _numbers(array, path)


def _numbers(array: np.ndarray, path: Path) -> np.ndarray:
    """``array`` as float64 if it holds real numbers (or booleans)."""
    if array.dtype.kind not in "biuf":
        raise InputError(f"'{path}' holds an array of {array.dtype}; expected real numbers")
    return array.astype(np.float64)


def read_csv(path: Path, fs: float) -> tuple[np.ndarray, list[str] | None]:
    """The ``(leads, samples)`` values of a ``.csv`` file and its header's lead names (None
    without a header)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # a spreadsheet's Latin-1 export ('\xb5V' for uV)
        text = raw.decode("latin-1")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError(f"'{path}' is empty")
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines[:5]), delimiters=",;\t").delimiter
    except csv.Error:  # one column, or no delimiter it knows
        delimiter = ","
    rows = [[_unquoted(cell) for cell in row] for row in csv.reader(lines, delimiter=delimiter)]
    header = None if all(map(_is_number, rows[0])) else rows.pop(0)
    if header is not None and rows and not any(map(_is_number, rows[0])):
        rows.pop(0)  # a units row ('seconds', 'mV', ...)
    if not rows:
        raise InputError(f"'{path}' has a header but no rows of samples")
    width = len(header) if header is not None else len(rows[0])
    for number, row in enumerate(rows):
        if len(row) != width:
            raise InputError(f"'{path}': row {number + 1} of samples has {len(row)} cells, expected {width}")
    first = header[0].lower() if header is not None else ""
    timed, indexed = TIME_COLUMNS.fullmatch(first), INDEX_COLUMNS.fullmatch(first)
    if (timed or indexed) and width > 1:
        times = [row.pop(0) for row in rows]
        assert header is not None
        header = header[1:]
        if timed and all(map(_is_number, times)) and len(times) > 1:
            step = float(np.median(np.diff(np.asarray(times, dtype=np.float64))))
            if not abs(step * fs - 1.0) <= 0.01:
                rate = f" ({1 / step:g} Hz if seconds)" if step > 0 else ""
                raise InputError(
                    f"'{path}': its time column ('{first}') advances {step:g} s a row{rate}; "
                    f"fs={fs:g} Hz was given"
                )
    values = np.empty((len(rows), len(rows[0])))
    for number, row in enumerate(rows):
        for column, cell in enumerate(row):
            if not _is_number(cell):
                place = f"row {number + 1} of samples, column {column + 1}"
                raise InputError(f"'{path}': {place}: {cell!r} is no number")
            values[number, column] = float(cell)
    return values.T, header


def _unquoted(cell: str) -> str:
    """A cell without the single or double quotes around it (``rdsamp`` quotes its header)."""
    return cell.strip().strip("'\"").strip()


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
