"""Reading and writing ECG recordings: WFDB records (``wfdb``), EDF/BDF files (``edfio``, in
:mod:`signxai.ecg.edf`), DICOM ECGs (:mod:`signxai.ecg.dicom`), GE MUSE and HL7 aECG XML files
(:mod:`signxai.ecg.xml_ecg`), numpy arrays and CSV files; and the beat annotations of WFDB
records, EDF+ files and MUSE files."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signxai.checks import as_path, check_choice, repeated
from signxai.ecg import arrays, dicom, edf, xml_ecg
from signxai.ecg.beats import annotation_codes, as_beat_codes, as_code_map
from signxai.ecg.checks import (
    TO_MILLIVOLT,
    as_lead_names,
    as_peaks,
    check_count,
    check_fs,
    check_time_range,
    check_unambiguous,
    default_lead_names,
    lead_rows,
    one_rate,
)
from signxai.ecg.datasets import Recording, as_recording
from signxai.errors import InputError, SignXAIError


def _millivolt_scale(leads: list[str], units: list[str | None] | None, record: str) -> np.ndarray:
    """Each lead's factor to mV; a lead in other units (a blood-pressure or respiration channel
    beside the ECG) is an error naming it."""
    factors, others = [], []
    for lead, unit in zip(leads, units or [None] * len(leads), strict=True):
        factor = TO_MILLIVOLT.get((unit or "mV").strip().lower())
        factors.append(factor or 0.0)
        if factor is None:
            others.append(f"{lead!r} ({unit})")
    if others:
        voltages = [lead for lead, f in zip(leads, factors, strict=True) if f]
        raise InputError(
            f"record '{record}': leads {', '.join(others)} are not in units of voltage (mV, uV, V), "
            "so they are no ECG leads; pass leads= with the ECG leads "
            f"({f'here: {voltages}' if voltages else 'none of those read'})"
        )
    return np.asarray(factors)


def _check_gaps(signal: np.ndarray, leads: list[str], fs: float, start: float, record: str) -> None:
    """WFDB's missing samples (the format's invalid value, read as NaN): an error that says where."""
    missing = ~np.isfinite(signal)
    if not missing.any():
        return
    where = []
    for lead, row in zip(leads, missing, strict=True):
        if row.any():
            first, last = np.flatnonzero(row)[[0, -1]]
            where.append(
                f"{lead!r}: {int(row.sum())} samples between {start + first / fs:.3f} and "
                f"{start + last / fs:.3f} s"
            )
    raise InputError(
        f"record '{record}' has missing samples (WFDB's invalid value) in lead {'; '.join(where)}; "
        "read a time range without them (start=, duration=) or other leads (leads=)"
    )


def read_record(
    path: str | Path,
    leads: str | Sequence[str] | None = None,
    start: float | None = None,
    duration: float | None = None,
    group: str | int | None = None,
) -> Recording:
    """Read a WFDB record (``path`` without extension), an EDF/BDF file (``.edf``, ``.bdf``,
    also EDF+ and BDF+), a DICOM ECG (``.dcm``) or an ECG XML file (``.xml``: GE MUSE, HL7
    aECG) into a :class:`Recording` in mV.

    Leads stored in other units of voltage (uV, V) are converted to mV; a lead in units that are
    no voltage (mmHg, ...) or with missing samples in the range read is an ``InputError`` naming it.

    Parameters
    ----------
    path
        Record path without extension (the ``.hea`` header and its ``.dat`` beside it), or the
        path of an EDF or BDF file (read with ``edfio``, only the range asked for; an EDF+
        file's annotation channel is no lead, :func:`read_beat_annotations` reads it), a DICOM
        ECG (``.dcm``) or an ECG XML file (``.xml``; both decoded whole, seconds of 12 leads).
    leads
        Lead names to keep (default: all), in the order given; one name alone is one lead. The
        leads read must share one sampling rate (EDF files and multi-frequency WFDB records may
        hold channels at several).
    start, duration
        Time range in seconds (default: the whole record).
    group
        A DICOM ECG's multiplex group or an XML file's waveform group: its label (``'MEDIAN
        BEAT'``; MUSE's ``'MEDIAN'``, aECG's ``'REPRESENTATIVE_BEAT'``) or index; default the
        rhythm. Other formats hold one group: ``group`` must be left out.
    """
    check_time_range(start, duration)
    wanted = as_lead_names(leads)
    path = as_path(path)
    source = _open(path, wanted, group)
    _check_leads(wanted, source.leads)
    sampfrom, sampto = _sample_range(start, duration, source.fs, source.samples)
    values, names, units = source.read(sampfrom, sampto)
    signal = np.asarray(values, dtype=np.float64).T * _millivolt_scale(names, units, str(path))[:, None]
    _check_gaps(signal, names, source.fs, sampfrom / source.fs, str(path))
    return Recording(signal=signal, fs=source.fs, leads=names, name=source.name)


def lead_names(path: str | Path) -> list[str]:
    """The lead names of a WFDB record, an EDF/BDF file (its signal channels, read from the
    header), a DICOM ECG or an ECG XML file (its rhythm's leads), whatever their sampling rates."""
    path = as_path(path)
    if dicom.is_dicom(path):
        return dicom.channels(path, None).leads
    if xml_ecg.is_xml(path):
        return xml_ecg.channels(path, None).leads
    if edf.is_edf(path):
        return edf.signal_names(edf.open_edf(path))
    return list(_wfdb_header(path)[1].sig_name)


def select(
    recording: Recording,
    leads: str | Sequence[str] | None = None,
    start: float | None = None,
    duration: float | None = None,
) -> Recording:
    """Some leads and a time range of a recording, as :func:`read_record` reads them from a file.

    Parameters
    ----------
    recording
        The recording (e.g. from :func:`load_array`); it is not changed.
    leads
        Lead names to keep (default: all), in the order given; one name alone is one lead.
    start, duration
        Time range in seconds (default: the whole recording). A range reaching past the end, or
        a lead the recording lacks, is an ``InputError`` (no silent truncation).

    Returns
    -------
    Recording
        A new recording (its own copy of the samples).
    """
    recording = as_recording(recording)
    check_time_range(start, duration)
    wanted = as_lead_names(leads)
    first, last = _sample_range(start, duration, recording.fs, recording.signal.shape[1])
    _check_leads(wanted, recording.leads)
    rows = range(recording.signal.shape[0]) if wanted is None else [recording.leads.index(n) for n in wanted]
    return Recording(
        signal=recording.signal[list(rows), first:last].copy(),
        fs=recording.fs,
        leads=[recording.leads[row] for row in rows] if recording.leads else [],
        name=recording.name,
    )


def _sample_range(
    start: float | None, duration: float | None, fs: float, length: int
) -> tuple[int, int | None]:
    """``start``/``duration`` in seconds as the first sample and the one after the last (``None``:
    to the end); a range outside the ``length`` samples is an error."""
    first = 0 if start is None else round(start * fs)
    last = None if duration is None else first + round(duration * fs)
    if first < 0 or first >= length or (last is not None and last > length):
        raise InputError(
            f"start/duration ({start}, {duration}) s fall outside the record's {length / fs:.1f} s"
        )
    return first, last


def _check_leads(leads: list[str] | None, available: list[str]) -> None:
    """Every lead asked for is one the record has (and at least one is asked for); a recording
    that names no leads (built from an array) can be selected by time only."""
    if leads is not None:
        if len(leads) == 0:
            raise InputError(f"leads is empty: name at least one, or pass None for all of {available}")
        if not available:
            raise InputError(
                f"leads {leads} cannot be chosen: the recording names no leads (give Recording(leads=...), "
                "or select by time only)"
            )
        missing = [lead for lead in leads if lead not in available]
        if missing:
            raise InputError(f"leads {missing} are not in the record; it has {available}")
        check_unambiguous(leads, available, "leads", "read every lead (leads=None) and take the rows")


#: ``read(sampfrom, sampto)`` -> (samples x leads values, lead names, units) of the leads chosen.
Reader = Callable[[int, int | None], tuple[np.ndarray, list[str], list[str | None]]]


@dataclass(frozen=True)
class _Source:
    """A record opened for reading: its name, the rate and length of the leads chosen, all its
    leads' names (for the lead check) and the reader of the chosen ones."""

    name: str
    fs: float
    samples: int
    leads: list[str]
    read: Reader


def _open(path: Path, leads: list[str] | None, group: str | int | None = None) -> _Source:
    """A WFDB record, an EDF/BDF file or a DICOM or XML ECG's ``group``, opened to read
    ``leads`` (None: all)."""
    if dicom.is_dicom(path) or xml_ecg.is_xml(path):
        reader = dicom.channels if dicom.is_dicom(path) else xml_ecg.channels
        waveform = reader(path, leads, group)
        return _Source(path.stem, waveform.fs, waveform.samples, waveform.leads, waveform.read)
    if group is not None:
        raise InputError(
            f"group chooses a waveform group of a DICOM ECG (.dcm) or an ECG XML file (.xml); '{path}' "
            f"is neither, got {group!r}"
        )
    if edf.is_edf(path):
        channels = edf.channels(path, leads)
        return _Source(path.stem, channels.fs, channels.samples, channels.leads, channels.read)
    return _wfdb(path, leads)[1]


def _header_path(path: Path) -> Path:
    """A WFDB record's header: ``path`` with its extension (``.dat``, or none) as ``.hea``."""
    return path.with_suffix(".hea") if path.suffix != ".hea" else path


@contextmanager
def _wfdb_reads(what: str) -> Iterator[None]:
    """wfdb's own errors on a file it cannot read (a damaged or hand-edited header, a truncated
    ``.dat``, an annotation file of another format: ``HeaderSyntaxError``, ``ValueError``,
    ``TypeError``, ``KeyError``, ...) as an ``InputError`` that names ``what`` was read."""
    try:
        yield
    except SignXAIError:
        raise
    except Exception as error:  # whatever wfdb raises on a file it cannot parse
        raise InputError(
            f"{what} cannot be read by wfdb, damaged or not in the WFDB format "
            f"({type(error).__name__}: {error})"
        ) from error


def _wfdb(path: Path, leads: list[str] | None = None) -> tuple[Any, _Source]:
    """A WFDB record's header and its ``leads`` (None: all) opened for reading (only the range
    asked for is read).

    A multi-frequency record stores some channels at a multiple of its frame rate (``16x2`` in
    the header: two samples per frame); those are read at their own rate (wfdb's default
    averages each frame's samples), so the leads read must share one rate.
    """
    import wfdb

    record_name, header = _wfdb_header(path)
    names = list(header.sig_name)
    per_frame = [int(n) for n in (header.samps_per_frame or [1] * len(names))]
    chosen = lead_rows(names, leads)
    factor = per_frame[chosen[0]] if chosen else 1
    if chosen:  # (leads the record lacks are left to the lead check, which lists its leads)
        one_rate(str(path), [(names[row], float(header.fs) * per_frame[row]) for row in chosen])
    samples = int(header.sig_len) * factor

    def read(first: int, last: int | None) -> tuple[np.ndarray, list[str], list[str | None]]:
        last = samples if last is None else last
        frames = (first // factor, -(-last // factor))  # the frames that hold the samples asked for
        with _wfdb_reads(f"record '{record_name}'"):
            record = wfdb.rdrecord(
                record_name, sampfrom=frames[0], sampto=frames[1], channel_names=leads, smooth_frames=False
            )
            skip = first - frames[0] * factor
            values = np.stack([np.asarray(s)[skip : skip + last - first] for s in record.e_p_signal], axis=1)
        return values, list(record.sig_name), list(record.units or [None] * len(record.sig_name))

    name = str(header.record_name)
    return header, _Source(name, float(header.fs) * factor, samples, names, read)


def _wfdb_header(path: Path) -> tuple[str, Any]:
    """A WFDB record's name (as wfdb takes it) and header; a multi-segment record's header gets
    the leads of its segments and their samples per frame."""
    import wfdb

    header_path = _header_path(path)
    if not header_path.exists():
        if path.is_dir() or (path.is_file() and path.suffix not in (".dat", ".hea")):
            kind = "a folder" if path.is_dir() else f"a {path.suffix or 'extensionless'} file"
            raise InputError(
                f"record '{path}' is {kind}, no WFDB record (no header {header_path}); formats read: "
                "WFDB (the record's path, .hea or .dat), EDF (.edf, .bdf), DICOM (.dcm), GE MUSE and "
                "HL7 aECG (.xml), and arrays (.npy, .npz, .csv) with their sampling rate"
            )
        raise InputError(f"path '{path}' not found: expected a WFDB header at {header_path}")
    record_name = str(header_path.with_suffix(""))
    with _wfdb_reads(f"header '{header_path}'"):
        header = wfdb.rdheader(record_name)
        if header.sig_name is None:  # a multi-segment record: the leads of its segments, as wfdb joins them
            header.sig_name, header.samps_per_frame = _segment_leads(record_name)
        # what the readers below take from it: a damaged header fails here, named, not later
        _ = [int(n) for n in (header.samps_per_frame or [])], float(header.fs), int(header.sig_len)
    return record_name, header


def _segment_leads(record_name: str) -> tuple[list[str], list[int]]:
    """The leads of a multi-segment WFDB record and their samples per frame: those of its first
    sample as wfdb joins the segments (a variable layout's full list of leads)."""
    import wfdb

    first = wfdb.rdrecord(record_name, sampto=1, smooth_frames=False)
    return list(first.sig_name), [int(n) for n in first.samps_per_frame]


@dataclass(frozen=True)
class BeatAnnotations:
    """The beats a WFDB annotation file or an EDF+ file's annotations mark in the range read.

    ``samples`` are sample indices from the start of that range (the R-peaks of a reference
    annotation such as MIT-BIH's ``atr``; ``analyze_strip(r_peaks=...)`` takes them), ``symbols``
    each beat's WFDB code (:data:`signxai.ecg.beats.BEAT_SYMBOLS`), ``fs`` the record's sampling rate.
    """

    samples: np.ndarray
    symbols: list[str]
    fs: float


def read_beat_annotations(
    path: str | Path,
    extension: str | None = None,
    start: float | None = None,
    duration: float | None = None,
    codes: Mapping[str, str] | None = None,
    leads: str | Sequence[str] | None = None,
) -> BeatAnnotations:
    """Read the beat annotations of a WFDB record (e.g. MIT-BIH's reference ``atr`` file), the
    ones an EDF+ or BDF+ file carries in its annotation channel, or a GE MUSE file's beats (its
    cart's QRS times, texts 'QRS type 0', ...: the morphology classes, which ``codes`` maps).

    Parameters
    ----------
    path
        Record path without extension (its ``.hea`` header beside the annotation file), or the
        path of an EDF+/BDF+ file (``.edf``, ``.bdf``) or a GE MUSE file (``.xml``).
    extension
        The WFDB annotation file's extension (default ``atr``, reference beats; ``qrs`` a
        detector's, ...). EDF+ and MUSE files carry their annotations themselves: leave it None.
    start, duration
        Time range in seconds, as :func:`read_record` takes it: the samples returned count from
        ``start``, so they index the recording read with the same range.
    codes
        Annotation texts to read as WFDB beat codes, e.g. ``{'QRS': 'N', 'PVC': 'V'}`` for a file
        that marks beats in words, ``{'QRS type 0': 'N'}`` for a MUSE file's dominant beats;
        texts that are beat codes already are read as they are.
    leads
        The leads whose samples the annotations are counted in, as :func:`read_record` reads them
        (needed only for an EDF file whose channels have different sampling rates).

    Returns
    -------
    BeatAnnotations
        The beats in the range: sample indices (an EDF+ onset in seconds is rounded to the nearest
        sample), codes and the sampling rate.

    Non-beat annotations (rhythm changes ``+``, noise ``~``, comments, EDF+ events) are left out;
    annotations in the range none of which is a beat are an ``InputError`` that lists their texts.
    """
    check_time_range(start, duration)
    path = as_path(path)
    code_map = as_code_map(codes)
    wanted = as_lead_names(leads)
    if dicom.is_dicom(path):
        raise InputError(
            f"'{path}' is a DICOM ECG: its annotations are the device's statements, measurements and "
            "fiducial points (signxai.ecg.dicom.read_dicom_annotations reads them), not beat labels: "
            "devices group the fiducial points differently (e.g. a representative beat's beside each "
            "beat's), so they are not read as beats; give analyze_strip their samples as r_peaks= "
            "where you know which are the beats"
        )
    if edf.is_edf(path) or xml_ecg.is_xml(path):
        if extension is not None:
            raise InputError(
                f"extension names a WFDB annotation file, got {extension!r}; the file '{path}' "
                "carries its annotations itself (leave extension out; on the command line give "
                "--annotations without a value)"
            )
        fs, sample_count, (onsets, texts) = _own_annotations(path, wanted)
        first, last = _sample_range(start, duration, fs, sample_count)
        samples = np.round(onsets * fs).astype(np.int64)
        source = f"'{path}'"
    else:
        extension = "atr" if extension is None else extension
        samples, texts, fs, (first, last), source = _wfdb_annotations(
            path, extension, wanted, start, duration
        )
    # the annotations are read whole: keep those inside [first, last)
    inside = (samples >= first) & ((samples < last) if last is not None else True)
    texts = [text for text, keep in zip(texts, inside, strict=True) if keep]
    read = annotation_codes(texts, code_map, source)
    beat = np.array([code is not None for code in read], dtype=bool)
    return BeatAnnotations(
        samples=samples[inside][beat] - first,
        symbols=[code for code in read if code is not None],
        fs=fs,
    )


def _own_annotations(path: Path, leads: list[str] | None) -> tuple[float, int, tuple[np.ndarray, list[str]]]:
    """The rate and length of the ``leads`` of an EDF+ or MUSE file (a MUSE file's rhythm), and
    the annotations it carries: their onsets in seconds and texts."""
    if edf.is_edf(path):
        channels = edf.channels(path, leads)
        _check_leads(leads, channels.leads)
        return channels.fs, channels.samples, edf.read_annotations(channels.edf)
    rhythm, onsets, texts = xml_ecg.cart_beats(path, leads)
    _check_leads(leads, rhythm.leads)
    return rhythm.fs, rhythm.samples, (onsets, texts)


def _wfdb_annotations(
    path: Path, extension: str, leads: list[str] | None, start: float | None, duration: float | None
) -> tuple[np.ndarray, list[str], float, tuple[int, int | None], str]:
    """A WFDB annotation file's samples and codes around the range read (``start``/``duration``),
    the record's rate, that range in samples, and the file's name for messages."""
    import wfdb

    header, source = _wfdb(path, leads)
    _check_leads(leads, source.leads)
    if not isinstance(extension, str) or not extension or not extension.isalnum():
        raise InputError(f"extension must be an annotation file's extension such as 'atr', got {extension!r}")
    record_name = str(_header_path(path).with_suffix(""))  # as _wfdb reads the record
    annotation_file = Path(f"{record_name}.{extension}")
    if not annotation_file.exists():
        found = sorted(p.suffix[1:] for p in annotation_file.parent.glob(f"{Path(record_name).name}.*"))
        others = [e for e in found if e not in ("hea", "dat")]
        raise InputError(
            f"annotation file '{annotation_file}' not found; the record's other files: "
            f"{others or 'none besides the signal'} (pass extension=)"
        )
    first, last = _sample_range(start, duration, source.fs, source.samples)
    with _wfdb_reads(f"annotation file '{annotation_file}'"):
        _check_definition_notes(record_name, extension, annotation_file)
        annotation = wfdb.rdann(record_name, extension)
    samples = np.asarray(annotation.sample, dtype=np.int64)
    # WFDB counts annotations in frames (at the header's rate); the leads read may run at a
    # multiple of it (a multi-frequency record), or the file may count at the leads' own rate
    rate = float(header.fs) if annotation.fs is None else float(annotation.fs)
    if np.isclose(rate, float(header.fs)):
        samples = samples * round(source.fs / float(header.fs))
    elif not np.isclose(rate, source.fs):
        raise InputError(
            f"annotation file '{annotation_file}' counts samples at {rate:g} Hz, its record at "
            f"{float(header.fs):g} Hz; annotations at the record's own rate are read"
        )
    return samples, list(annotation.symbol or []), source.fs, (first, last), f"'{annotation_file}'"


def _check_definition_notes(record_name: str, extension: str, annotation_file: Path) -> None:
    """Raise for the notes at sample 0 on which ``wfdb.rdann`` (4.x) loops forever: one starting
    with '## ' that is neither the first time resolution ('## time resolution: 360') nor a
    definitions block ('## annotation type definitions' ... '## end of definitions'). It reads
    the file's notes with wfdb's own parser, as ``rdann`` does; a wfdb without those functions
    is not checked."""
    from wfdb.io import annotation as wfdb_annotation

    try:
        parse = (
            wfdb_annotation.load_byte_pairs,
            wfdb_annotation.proc_ann_bytes,
            wfdb_annotation.get_special_inds,
        )
        resolution = wfdb_annotation.rx_fs
    except AttributeError:
        return
    load, process, special = parse
    # the notes at sample 0 come first: parsing stops after them (sampto=1)
    sample, label_store, _, _, _, notes = process(load(record_name, extension, None), 1)
    definitions, _ = special(sample, label_store, notes)
    fs_found, i = False, 0
    while i < len(definitions):  # rdann's walk over the first notes, with a step every time
        note = notes[i] if i < len(notes) else None
        if isinstance(note, str) and note.startswith("## "):
            if not fs_found and resolution.findall(note):
                fs_found = True
            elif note == "## annotation type definitions":
                end = next((k for k in range(i + 1, len(notes)) if notes[k] == "## end of definitions"), None)
                i = len(notes) if end is None else end  # an unended block: rdann's own error
            else:
                raise InputError(
                    f"annotation file '{annotation_file}' holds the note {note!r} at sample 0, on "
                    "which wfdb's reader loops forever (it reads '## time resolution: ...' once and "
                    "'## annotation type definitions' blocks there); remove or rename the note"
                )
        i += 1


#: The WFDB storage formats written (wfdb also reads 8, 61, 160, 310 and 311, which it cannot write,
#: and FLAC's 508, 516 and 524, which are left out).
WRITABLE_FORMATS = ("16", "212", "24", "32", "80")
#: What a WFDB header holds as a record name and as a lead name, so that wfdb (and PhysioNet's
#: tools) read back what was written: before, a name with a space or an accent was written and
#: then unreadable, and 'aVR ü' came back as 'aVR'.
_RECORD_CHARACTERS = "A-Za-z0-9_-"
WFDB_RECORD_NAME = re.compile(f"[{_RECORD_CHARACTERS}]+")
WFDB_LEAD_NAME = re.compile(r"[!-~](?:[ -~]*[!-~])?")  # printable ASCII, no space at either end


def wfdb_record_name(name: str) -> str:
    """``name`` as a WFDB record name: each character other than an ASCII letter, digit, '_' or
    '-' replaced by '_' (``'my ecg'`` -> ``'my_ecg'``)."""
    return re.sub(f"[^{_RECORD_CHARACTERS}]", "_", name)


def _check_wfdb_names(record: str, leads: list[str]) -> None:
    """Raise unless ``record`` and ``leads`` are names a WFDB header holds as they are."""
    if not WFDB_RECORD_NAME.fullmatch(record):
        raise InputError(
            f"path: a WFDB record name holds ASCII letters, digits, '_' and '-' only, got {record!r}; "
            "rename it (or write an .edf file)"
        )
    for lead in leads:
        if not WFDB_LEAD_NAME.fullmatch(lead):
            raise InputError(
                f"recording.leads: a WFDB header holds lead names of printable ASCII characters "
                f"without spaces at either end, got {lead!r}"
            )
    twice = repeated(leads)
    if twice:
        raise InputError(f"recording.leads: a WFDB record's lead names must differ, {twice} repeat")


def write_record(
    recording: Recording, path: str | Path, fmt: str = "16", annotations: BeatAnnotations | None = None
) -> Path:
    """Write a recording as a WFDB record (``path`` without extension) or an EDF/BDF file
    (``.edf``, ``.bdf``); return the header's path (WFDB) or the file's.

    Parameters
    ----------
    recording
        The recording, in mV (the file says mV).
    path
        Record path without extension, or an ``.edf``/``.bdf`` path.
    fmt
        WFDB's storage format, one of :data:`WRITABLE_FORMATS` (``'16'``, ``'212'``, ``'24'``,
        ``'32'``, ``'80'``: those wfdb writes). EDF stores 16 bits, BDF 24: leave it out for them.
    annotations
        Beats to write beside the signal (e.g. from :func:`read_beat_annotations`, or a
        classifier's calls as codes): a WFDB annotation file ``.atr``, or in an EDF+/BDF+ file its
        annotations (each at its sample's time, its code as the text). :func:`read_beat_annotations`
        reads them back.

    EDF stores whole data records (1 s, or the fewest whole seconds holding a whole number of
    samples): a recording that ends inside one is padded with its last values, so it reads back
    that much longer.
    """
    import wfdb

    recording = as_recording(recording)
    path = as_path(path)
    if path.suffix in (".hea", ".dat"):  # a WFDB record named by one of its files
        path = path.with_suffix("")
    elif path.suffix and not edf.is_edf(path):
        raise InputError(
            f"path must be a WFDB record's path without extension, or an .edf or .bdf file, got "
            f"'{path}' (a {path.suffix} file; DICOM and XML ECGs are read, not written)"
        )
    samples, symbols = _as_beats(annotations, recording)
    leads = recording.leads or default_lead_names(recording.signal.shape[0])
    signal = np.asarray(recording.signal, dtype=np.float64)
    if edf.is_edf(path):
        if fmt != "16":
            raise InputError(f"fmt chooses a WFDB storage format; EDF stores 16 bits and BDF 24, got {fmt!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        edf.write_edf(path, signal, recording.fs, leads, samples / recording.fs, symbols)
        return path
    check_choice(fmt, "fmt", WRITABLE_FORMATS)
    _check_wfdb_names(path.name, leads)
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(samples):
        wfdb.wrann(path.name, "atr", samples, symbol=symbols, fs=recording.fs, write_dir=str(path.parent))
    wfdb.wrsamp(
        path.name,
        fs=recording.fs,
        units=["mV"] * len(leads),
        sig_name=leads,
        p_signal=signal.T,
        fmt=[fmt] * len(leads),
        write_dir=str(path.parent),
    )
    return path.with_suffix(".hea")


def _as_beats(annotations: object, recording: Recording) -> tuple[np.ndarray, list[str]]:
    """``write_record``'s ``annotations``: sample indices inside the recording (increasing: one
    beat each), counted at its rate, and their beat codes."""
    if annotations is None:
        return np.zeros(0, dtype=np.int64), []
    if not isinstance(annotations, BeatAnnotations):
        raise InputError(
            "annotations must be BeatAnnotations (samples, symbols, fs; read_beat_annotations gives "
            f"them), got {type(annotations).__name__}"
        )
    if not np.isclose(annotations.fs, recording.fs):
        raise InputError(
            f"annotations count samples at {annotations.fs:g} Hz, the recording runs at {recording.fs:g} Hz"
        )
    samples = as_peaks(annotations.samples, recording.signal.shape[1], "annotations.samples")
    symbols = as_beat_codes(annotations.symbols, "annotations.symbols")
    check_count(symbols, len(samples), "annotations.symbols", "annotated samples")
    return samples, symbols


def load_array(path: str | Path, fs: float, leads: list[str] | None = None) -> Recording:
    """Load a ``.npy``, ``.npz`` (its one array, or the one named ``signal``) or ``.csv`` file
    (one column per lead; comma, semicolon or tab).

    Arrays are ``(leads, samples)``; a 1D array is one lead. A CSV with a header row names the
    leads; a units row under it is skipped, and a first column named as time or sample number
    (``time``, ``'Elapsed time'``, ``sample``, as WFDB's ``rdsamp -c -H -v`` writes) is no lead:
    a time column in seconds must advance ``1 / fs`` a row (see :mod:`signxai.ecg.arrays`).

    Parameters
    ----------
    path
        The file.
    fs
        Its sampling rate in Hz (arrays carry none).
    leads
        Lead names, one per row (default: a CSV's header, else ``lead0``, ``lead1``...).

    Returns
    -------
    Recording
        The signal ``(leads, samples)`` as stored (float64), ``fs``, the leads and the file's
        name.
    """
    path = as_path(path)
    if not path.exists():
        raise InputError(f"path '{path}' not found")
    names = as_lead_names(leads)
    fs = check_fs(fs)
    if path.suffix in (".npy", ".npz"):
        signal = arrays.read_numpy(path)
    elif path.suffix == ".csv":
        signal, header = arrays.read_csv(path, fs)
        names = names if names is not None else header
    else:
        raise InputError(f"'{path}': expected a .npy, .npz or .csv file (or a WFDB record)")
    signal = np.atleast_2d(signal)
    if signal.ndim != 2:
        raise InputError(f"'{path}' holds an array of shape {signal.shape}; expected (leads, samples)")
    if not np.isfinite(signal).all():
        raise InputError(f"'{path}' has non-finite values")
    names = names or default_lead_names(signal.shape[0])
    return Recording(signal=signal, fs=fs, leads=list(names), name=path.stem)
