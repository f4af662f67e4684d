"""DICOM ECG waveforms (12-lead, general and ambulatory ECG storage), read with ``pydicom``.

A DICOM ECG holds one or more *multiplex groups*: the rhythm (10 s of every lead, typically)
and often a median beat, each with its own rate. Each channel carries its lead as a coded source
('Lead I (Einthoven)', 'Lead aVR', ...; read as 'I', 'aVR') and the sensitivity that turns its
stored integers into a voltage: value = stored x sensitivity x correction factor + baseline, in
the sensitivity's units (uV, mV).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from signxai.ecg.checks import lead_rows
from signxai.ecg.groups import GroupChannels, group_index
from signxai.errors import InputError

#: File suffixes read as DICOM.
DICOM_SUFFIXES = (".dcm", ".dicom")


def is_dicom(path: Path) -> bool:
    """Whether ``path`` names a DICOM file (by its suffix)."""
    return path.suffix.lower() in DICOM_SUFFIXES


def lead_name(channel: Any, row: int) -> str:
    """A channel's lead as ECG leads are named: 'Lead I (Einthoven)' -> 'I', 'Lead aVR' -> 'aVR',
    'aVR, augmented voltage, right' (the standard's current code meaning) -> 'aVR'; its label, or
    ``ch<row>``, where it names no source."""
    sources = channel.get("ChannelSourceSequence") or []
    meaning = str(sources[0].get("CodeMeaning", "")) if sources else ""
    meaning = re.sub(r"\s*(\(.*\)|,.*)\s*$", "", meaning).strip()
    meaning = re.sub(r"^lead\s+", "", meaning, flags=re.IGNORECASE)
    return meaning or str(channel.get("ChannelLabel", "")).strip() or f"ch{row}"


def _unit(channel: Any) -> str:
    """A channel's unit of voltage as its sensitivity gives it ('uV', 'mV'); a channel without
    sensitivity holds raw numbers, which the millivolt check refuses by this name."""
    units = channel.get("ChannelSensitivityUnitsSequence") or []
    if channel.get("ChannelSensitivity") is None or not units:
        return "no sensitivity: raw numbers"
    return str(units[0].get("CodeValue", "")).strip() or "no unit"


def read_dataset(path: Path) -> Any:
    """A DICOM file with waveforms, as a ``pydicom`` dataset."""
    import pydicom

    if not path.exists():
        raise InputError(f"path '{path}' not found (a DICOM file)")
    try:
        dataset = pydicom.dcmread(path)
    except Exception as error:  # pydicom raises what its parser meets
        raise InputError(
            f"'{path}' could not be read as a DICOM file: {type(error).__name__}: {error}"
        ) from None
    if not dataset.get("WaveformSequence"):
        kind = getattr(dataset.get("SOPClassUID"), "name", None) or "no waveform storage"
        raise InputError(f"'{path}' holds no waveforms (a DICOM file of {kind}); DICOM ECGs are read")
    return dataset


def group_labels(dataset: Any) -> list[str]:
    """The labels of a DICOM file's multiplex groups ('RHYTHM', 'MEDIAN BEAT', ...)."""
    return [str(item.get("MultiplexGroupLabel", "")).strip() for item in dataset.WaveformSequence]


def channels(path: Path, leads: list[str] | None, group: str | int | None = None) -> GroupChannels:
    """The channels ``leads`` (None: all) of one multiplex group (None: the rhythm) of a DICOM ECG.

    A lead name the group lacks is left for the caller's lead check (which lists its leads).
    """
    dataset = read_dataset(path)
    index = group_index(group_labels(dataset), group, path, "multiplex group")
    item = dataset.WaveformSequence[index]
    definitions = list(item.get("ChannelDefinitionSequence") or [])
    names = [lead_name(channel, row) for row, channel in enumerate(definitions)]
    try:
        values = np.asarray(dataset.waveform_array(index), dtype=np.float64)
    except Exception as error:  # missing elements, unknown sample interpretations
        raise InputError(
            f"the waveform of '{path}' (group {index}) could not be decoded: {type(error).__name__}: {error}"
        ) from None
    fs = float(item.get("SamplingFrequency") or 0)
    if fs <= 0 or values.shape != (int(item.NumberOfWaveformSamples), len(names)):
        raise InputError(
            f"the waveform of '{path}' (group {index}) gives {fs:g} Hz and {values.shape} values for "
            f"{len(names)} channel definitions"
        )
    chosen = lead_rows(names, leads)
    units = [_unit(channel) for channel in definitions]
    return GroupChannels(path=path, values=values, units=units, leads=names, chosen=chosen, fs=fs)


def read_dicom_annotations(path: str | Path) -> pd.DataFrame:
    """The annotations a DICOM ECG carries: the recording device's statements ('SINUS RHYTHM'),
    measurements (RR interval, QT, axes) and fiducial points (P onset, QRS onset, the fiducial
    point of each beat, ...), one row each.

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` (the annotation group number, as the device numbers them: e.g. one per
        beat), ``text`` (a statement, or the concept's name: 'QT Interval', 'Fiducial Point'),
        ``value`` (a measurement's number, else NaN), ``unit``, ``waveform`` (the index of the
        multiplex group it refers to, -1 for none) and ``sample`` (a point's sample index from 0
        in that group, NaN for none; the file counts from 1).
    """
    from signxai.checks import as_path

    dataset = read_dataset(as_path(path))
    groups = list(dataset.WaveformSequence)
    rows = []
    for item in dataset.get("WaveformAnnotationSequence") or []:
        concept = (item.get("ConceptNameCodeSequence") or [None])[0]
        unit = (item.get("MeasurementUnitsCodeSequence") or [None])[0]
        referenced = _first(item.get("ReferencedWaveformChannels"))  # (group from 1, channel)
        waveform = int(referenced) - 1 if referenced is not None else -1
        sample = _first(item.get("ReferencedSamplePositions"))
        offset = _first(item.get("ReferencedTimeOffsets"))
        if sample is not None:
            sample = float(sample) - 1
        elif offset is not None and 0 <= waveform < len(groups):
            sample = float(offset) * float(groups[waveform].SamplingFrequency)
        value = _first(item.get("NumericValue"))
        rows.append(
            {
                "group": int(item.get("AnnotationGroupNumber", -1)),
                "text": str(
                    item.get("UnformattedTextValue") or (concept.get("CodeMeaning", "") if concept else "")
                ),
                "value": float(value) if value not in (None, "") else np.nan,
                "unit": str(unit.get("CodeValue", "")) if unit else "",
                "waveform": waveform,
                "sample": np.nan if sample is None else sample,
            }
        )
    return pd.DataFrame(rows, columns=["group", "text", "value", "unit", "waveform", "sample"])


def _first(value: Any) -> Any:
    """A DICOM element's value, or its first where it holds several; None where it is absent."""
    if value is None or isinstance(value, str | bytes | float | int):
        return value
    return next(iter(value), None)
