"""EDF and BDF files (plain, EDF+ and BDF+): their signal channels and the annotations an EDF+
file carries, read with ``edfio`` (lazily: only the time range asked for is read from disk).

EDF+ keeps its annotations in an *EDF Annotations* channel of its own, which is no signal: it is
left out of the channels, and its time-stamped texts are what :func:`read_annotations` returns.
Each data record's first annotation keeps its time: in a discontinuous file (EDF+D, a Holter or
sleep recording paused and resumed) the records come in parts with gaps between them, and the
samples are read on the recording's own time axis, one part at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signxai.ecg.checks import lead_rows, one_rate
from signxai.errors import InputError

#: File suffixes read as EDF (16-bit) and BDF (24-bit), with or without the '+' annotations.
EDF_SUFFIXES = (".edf", ".bdf")


def is_edf(path: Path) -> bool:
    """Whether ``path`` names an EDF or BDF file (by its suffix)."""
    return path.suffix.lower() in EDF_SUFFIXES


@dataclass(frozen=True)
class EdfChannels:
    """Channels of one sampling rate chosen from an EDF file (the time axis they share).

    ``leads`` are all signal channels of the file (its annotation channels left out), ``chosen``
    the rows of those asked for, ``fs`` their rate and ``samples`` their length on the
    recording's time axis. ``parts`` (a discontinuous file's): each part's first sample on that
    axis, its first stored sample and its length; None for a continuous file.
    """

    path: Path
    edf: Any
    leads: list[str]
    chosen: list[int]
    fs: float
    samples: int
    parts: np.ndarray | None = None

    def read(self, first: int, last: int | None) -> tuple[np.ndarray, list[str], list[str | None]]:
        """Samples ``first`` to ``last`` (exclusive; None: the end) of the chosen channels, as
        (samples x channels) physical values, their names and their units. In a discontinuous
        file the range must lie within one part."""
        last = self.samples if last is None else last
        shift = 0 if self.parts is None else self._stored(first, last)
        columns = []
        for row in self.chosen:
            values = self.edf.signals[row].get_data_slice((first - shift) / self.fs, (last - shift) / self.fs)
            if len(values) != last - first:  # edfio rounds seconds to samples: never off, but say so
                raise InputError(
                    f"'{self.path}': channel {self.leads[row]!r} gave {len(values)} samples for the "
                    f"{last - first} from {first} to {last}"
                )
            columns.append(np.asarray(values, dtype=np.float64))
        units = [self.edf.signals[row].physical_dimension.strip() or None for row in self.chosen]
        return np.stack(columns, axis=1), [self.leads[row] for row in self.chosen], units

    def _stored(self, first: int, last: int) -> int:
        """The shift of the part holding samples ``first`` to ``last``: its first sample's place on
        the time axis minus its place among the stored samples; a range outside one part is an
        error listing the parts."""
        parts = np.zeros((0, 3), dtype=np.int64) if self.parts is None else self.parts
        for start, stored, length in parts:
            if start <= first and last <= start + length:
                return int(start - stored)
        spans = ", ".join(
            f"{start / self.fs:g}-{(start + length) / self.fs:g} s" for start, _, length in parts
        )
        raise InputError(
            f"'{self.path}' is a discontinuous EDF+ recording (EDF+D) of {len(parts)} parts with "
            f"gaps between them ({spans}); the range read, {first / self.fs:g}-{last / self.fs:g} s, "
            "must lie within one part (start=, duration=)"
        )


def open_edf(path: Path) -> Any:
    """An EDF/BDF file as an ``edfio`` object (the signal data read only when asked for)."""
    import edfio

    kind = "a BDF" if path.suffix.lower() == ".bdf" else "an EDF"
    if not path.exists():
        raise InputError(f"path '{path}' not found ({kind} file)")
    reader = edfio.read_bdf if path.suffix.lower() == ".bdf" else edfio.read_edf
    try:  # EDF headers are ASCII; Latin-1 reads the 'µV' (byte 0xB5) that many devices write too
        edf = reader(path, header_encoding="latin-1")
    except Exception as error:  # edfio raises what its parser meets (value, unicode, index errors)
        raise InputError(
            f"'{path}' could not be read as {kind} file: {type(error).__name__}: {error}"
        ) from None
    if not edf.signals:
        raise InputError(f"'{path}' holds no signal channels (annotations only)")
    return edf


def signal_names(edf: Any) -> list[str]:
    """The names of an EDF file's signal channels (its leads; annotation channels left out)."""
    return [signal.label.strip() for signal in edf.signals]


def channels(path: Path, leads: list[str] | None) -> EdfChannels:
    """The channels ``leads`` (None: all) of an EDF file; they must share one sampling rate.

    A lead name the file lacks is left for the caller's lead check (which lists the file's leads).
    """
    edf = open_edf(path)
    names = signal_names(edf)
    chosen = lead_rows(names, leads)
    fs = one_rate(str(path), [(names[row], edf.signals[row].sampling_frequency) for row in chosen or [0]])
    first = (chosen or [0])[0]  # (no lead of the file asked for: the lead check names them)
    if fs <= 0:
        raise InputError(f"channel {names[first]!r} of '{path}' holds no samples")
    per_record = int(edf.signals[first].samples_per_data_record)
    if int(edf.num_data_records) <= 0:  # (before: edfio's IndexError on asking if it is continuous)
        raise InputError(f"'{path}' holds no data records: an empty or truncated file")
    samples = per_record * int(edf.num_data_records)
    parts = None if edf.is_continuous else _parts(path, edf, per_record, fs)
    if parts is not None:
        samples = int(parts[-1, 0] + parts[-1, 2])
    return EdfChannels(path=path, edf=edf, leads=names, chosen=chosen, fs=fs, samples=samples, parts=parts)


def record_onsets(path: Path, records: int) -> np.ndarray:
    """The onset of each of an EDF+ file's first ``records`` data records, in seconds from the
    file's start: the time-keeping annotation that opens the record's annotation channel
    ('+12.5' then byte 20), read from the file's bytes as the EDF+ specification lays them out."""
    with path.open("rb") as file:
        head = file.read(256)
        signals = int(head[252:256])
        fields = file.read(256 * signals)
    labels = [fields[16 * k : 16 * (k + 1)].decode("latin-1").strip() for k in range(signals)]
    offset = 216 * signals  # the samples per data record come after eight fields of every channel
    per_record = [int(fields[offset + 8 * k : offset + 8 * (k + 1)]) for k in range(signals)]
    width = 3 if head[:1] == b"\xff" else 2  # BDF stores 24 bits
    found = [k for k, label in enumerate(labels) if label in ("EDF Annotations", "BDF Annotations")]
    if not found:
        raise InputError(
            f"'{path}' has no annotation channel, so its data records carry no times (plain EDF)"
        )
    annotation = found[0]
    size = sum(per_record) * width
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=int(head[184:192]), shape=(records, size))
    start = sum(per_record[:annotation]) * width
    tals = data[:, start : start + min(per_record[annotation] * width, 40)]
    onsets = np.empty(records)
    for k, tal in enumerate(tals):
        stamp = bytes(tal).split(b"\x14", 1)[0]
        try:
            onsets[k] = float(stamp)
        except ValueError:
            raise InputError(
                f"'{path}': data record {k} opens with no time-keeping annotation ({stamp[:20]!r}); "
                "EDF+ needs one in every data record"
            ) from None
    return onsets


def _parts(path: Path, edf: Any, per_record: int, fs: float) -> np.ndarray:
    """A discontinuous file's parts: runs of data records each starting where the one before
    ends, as (first sample on the recording's time axis, first stored sample, length)."""
    onsets = np.round(record_onsets(path, int(edf.num_data_records)) * fs).astype(np.int64)
    if not np.all(np.diff(onsets) >= per_record):
        raise InputError(f"'{path}': its data records overlap in time (EDF+D onsets out of order)")
    breaks = np.flatnonzero(np.diff(onsets) != per_record) + 1
    firsts = np.concatenate([[0], breaks])
    lasts = np.concatenate([breaks, [len(onsets)]])
    return np.stack([onsets[firsts], firsts * per_record, (lasts - firsts) * per_record], axis=1)


def write_edf(
    path: Path,
    signal: np.ndarray | Iterable[np.ndarray],
    fs: float,
    leads: list[str],
    onsets: np.ndarray,
    texts: list[str],
    units: list[str] | None = None,
    sources: list[str] | None = None,
    durations: list[float | None] | None = None,
) -> None:
    """Write ``signal`` (channels x samples, in ``units``, default mV) as an EDF file (BDF for
    ``.bdf``), EDF+ with the annotations ``texts`` at ``onsets`` (seconds) where there are any,
    each lasting its ``durations`` entry (seconds; None or left out: an instant);
    ``sources`` fill the channels' transducer fields (80 characters, beside 16 for a label).

    ``signal`` may also be the channels one at a time (any iterable of equally long rows, e.g. a
    generator): each is turned into EDF's 16 (BDF's 24) bits before the next is made, so a long
    recording's channels are never all held as floats at once.

    EDF stores whole data records: of 1 s, or the fewest whole seconds that hold a whole number of
    samples (2 s at 360.5 Hz); a recording ending inside one is padded with its last values.
    """
    import edfio

    seconds = next((d for d in range(1, 61) if abs(fs * d - round(fs * d)) < 1e-9 * fs * d), None)
    if seconds is None:
        raise InputError(
            f"fs {fs:g} Hz gives no whole number of samples in any data record of 1 to 60 s, which EDF "
            "needs; resample the recording first"
        )
    per_record = round(fs * seconds)
    bdf = path.suffix.lower() == ".bdf"
    kind: Any = edfio.BdfSignal if bdf else edfio.EdfSignal  # (24 or 16 bits; one interface)
    file: Any = edfio.Bdf if bdf else edfio.Edf
    try:
        signals = [
            kind(
                np.pad(row, (0, -len(row) % per_record), mode="edge"),
                sampling_frequency=fs,
                label=lead,
                physical_dimension=unit,
                transducer_type=source,
            )
            for row, lead, unit, source in zip(
                signal, leads, units or ["mV"] * len(leads), sources or [""] * len(leads), strict=True
            )
        ]
        lasting = durations if durations is not None else [None] * len(texts)
        notes = [
            edfio.EdfAnnotation(float(t), None if d is None else float(d), text)
            for t, d, text in zip(onsets, lasting, texts, strict=True)
        ]
        file(signals, data_record_duration=seconds, annotations=notes or None).write(path)
    except ValueError as error:  # a label over 16 characters, non-ASCII text: EDF's own limits
        raise InputError(f"'{path}' cannot hold this recording as EDF: {error}") from None


def read_annotations(edf: Any) -> tuple[np.ndarray, list[str]]:
    """Every annotation of an EDF+ file: onsets in seconds from its first sample, and texts
    (stripped; the timekeeping entries left out)."""
    entries = edf.annotations
    onsets = np.array([float(entry.onset) for entry in entries], dtype=np.float64)
    return onsets, [str(entry.text).strip() for entry in entries]
