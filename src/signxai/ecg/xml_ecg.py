"""ECGs exported as XML by hospital ECG systems: GE MUSE ``RestingECG`` files and HL7 annotated
ECGs (aECG, the format the FDA takes ECGs of clinical trials in), read with the standard
library's XML parser.

A GE MUSE file holds a 10-s rhythm and a median beat (``<Waveform>``, type ``Rhythm`` and
``Median``), each lead base64-encoded as little-endian 16-bit numbers times its
``LeadAmplitudeUnitsPerBit`` (4.88 uV, typically), with a CRC32 of its bytes; most carts store
eight leads (I, II, V1-V6), from which the other four are derived
(:func:`signxai.ecg.leads.derive_limb_leads`). Its ``QRSTimesTypes`` list the cart's beats (the
time of each QRS in ms and its morphology class), ``RestingECGMeasurements`` the intervals and
axes, ``Diagnosis`` the confirmed statements.

An aECG file holds series (``RHYTHM``; a ``REPRESENTATIVE_BEAT`` derived from it), each with
sequence sets: a time sequence (its increment the sampling interval) and one sequence per lead
(``MDC_ECG_LEAD_II``), whose values are origin + scale x digits in the scale's unit.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from signxai.checks import as_path
from signxai.ecg.checks import TO_MILLIVOLT, lead_rows
from signxai.ecg.groups import RHYTHM, GroupChannels, group_index
from signxai.errors import InputError

#: File suffixes read as ECG XML (any case: MUSE exports are often ``.XML``).
XML_SUFFIXES = (".xml",)

#: The HL7 version 3 namespace of aECG files.
HL7 = "{urn:hl7-org:v3}"

#: Lead names as ECGs write them where a file writes them in capitals (MUSE's 'AVR', aECG's
#: 'MDC_ECG_LEAD_AVR').
_AUGMENTED = {"AVR": "aVR", "AVL": "aVL", "AVF": "aVF"}

#: MUSE's amplitude units and the units of voltage they are.
_MUSE_UNITS = {"MICROVOLTS": "uV", "MILLIVOLTS": "mV", "VOLTS": "V"}

#: The units of the numbers in MUSE's ``RestingECGMeasurements``.
_MUSE_MEASUREMENTS = {
    "VentricularRate": "bpm",
    "AtrialRate": "bpm",
    "PRInterval": "ms",
    "QRSDuration": "ms",
    "QTInterval": "ms",
    "QTCorrected": "ms",
    "QTcFrederica": "ms",
    "PAxis": "deg",
    "RAxis": "deg",
    "TAxis": "deg",
    "QRSCount": "beats",
    "SystolicBP": "mmHg",
    "DiastolicBP": "mmHg",
}

#: MUSE's fiducial points of the median beat (sample positions at ``ECGSampleBase``).
_MUSE_FIDUCIALS = ("POnset", "POffset", "QOnset", "QOffset", "TOffset")

#: The annotation table's columns (:func:`read_xml_annotations`).
ANNOTATION_COLUMNS = ["kind", "text", "value", "unit", "waveform", "sample"]


def is_xml(path: Path) -> bool:
    """Whether ``path`` names an XML file (by its suffix)."""
    return path.suffix.lower() in XML_SUFFIXES


def lead_name(code: str) -> str:
    """A lead as ECGs name it: 'AVR' and 'MDC_ECG_LEAD_AVR' -> 'aVR', 'MDC_ECG_LEAD_V1' -> 'V1'."""
    name = code.strip().removeprefix("MDC_ECG_LEAD_")
    return _AUGMENTED.get(name.upper(), name)


@dataclass(frozen=True)
class XmlGroup:
    """One waveform group of an ECG XML file, decoded: its label, rate, leads (values in
    ``units``) and the leads the file marks as off (an electrode that was not connected)."""

    label: str
    fs: float
    leads: list[str]
    values: np.ndarray  # (samples, leads)
    units: list[str]
    off: list[str]


def read_root(path: Path) -> tuple[str, ET.Element]:
    """An ECG XML file's format (``'muse'`` or ``'aecg'``) and its parsed root element."""
    if not path.exists():
        raise InputError(f"path '{path}' not found (an ECG XML file)")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise InputError(f"'{path}' could not be read as XML: {error}") from None
    if root.tag == "RestingECG":
        return "muse", root
    if root.tag == f"{HL7}AnnotatedECG":
        return "aecg", root
    raise InputError(
        f"'{path}' is XML with the root element <{root.tag}>; ECG XML files read are GE MUSE "
        f"(<RestingECG>) and HL7 aECG (<AnnotatedECG xmlns='{HL7[1:-1]}'>)"
    )


def read_groups(path: Path) -> list[XmlGroup]:
    """Every waveform group of an ECG XML file, decoded (a MUSE file's rhythm and median beat,
    an aECG file's sequence sets)."""
    return _decoded(*read_root(path), path)


def _decoded(kind: str, root: ET.Element, path: Path) -> list[XmlGroup]:
    """The waveform groups of a parsed file of ``kind``, decoded; none is an error."""
    groups = _muse_groups(root, path) if kind == "muse" else _aecg_groups(root, path)
    if not groups:
        raise InputError(f"'{path}' holds no waveforms (no lead data in its {kind.upper()} groups)")
    return groups


def channels(path: Path, leads: list[str] | None, group: str | int | None = None) -> GroupChannels:
    """The leads ``leads`` (None: all) of one waveform group (None: the rhythm) of an ECG XML
    file. A lead the group lacks is left for the caller's lead check (which lists its leads); a
    lead chosen that the file marks as off is an ``InputError``."""
    return _chosen(read_groups(path), leads, group, path)


def cart_beats(path: Path, leads: list[str] | None) -> tuple[GroupChannels, np.ndarray, list[str]]:
    """A GE MUSE file's rhythm (its leads ``leads``, as :func:`channels` gives them) and the
    cart's beats in it: their times in seconds and texts ('QRS type 0'); the file parsed once.
    An aECG file's annotations are not read as beats: an ``InputError``."""
    kind, root = read_root(path)
    if kind != "muse":
        raise InputError(
            f"'{path}' is an HL7 aECG file: its annotations are not read as beats (GE MUSE files' "
            "QRS times are); read_record reads its waveforms"
        )
    rhythm = _chosen(_decoded(kind, root, path), leads, RHYTHM, path)  # the QRS times count in it
    return (rhythm, *_muse_beats(root, path))


def _chosen(
    groups: list[XmlGroup], leads: list[str] | None, group: str | int | None, path: Path
) -> GroupChannels:
    """The leads ``leads`` of the group ``group`` among decoded ``groups`` (see :func:`channels`)."""
    chosen_group = groups[group_index([g.label for g in groups], group, path)]
    chosen = lead_rows(chosen_group.leads, leads)
    off = [chosen_group.leads[row] for row in chosen if chosen_group.leads[row] in chosen_group.off]
    if off:
        raise InputError(
            f"'{path}' marks lead {', '.join(off)} as off (its electrode was not connected): no ECG "
            "was recorded there; choose other leads (leads=)"
        )
    return GroupChannels(
        path=path,
        values=chosen_group.values,
        units=chosen_group.units,
        leads=chosen_group.leads,
        chosen=chosen,
        fs=chosen_group.fs,
    )


def _text(element: ET.Element | None, tag: str) -> str | None:
    """The stripped text of ``element``'s child ``tag``; None where it is absent or empty."""
    found = None if element is None else element.find(tag)
    text = None if found is None or found.text is None else found.text.strip()
    return text or None


def _number(element: ET.Element | None, tag: str, path: Path, default: float | None = None) -> float | None:
    """``element``'s child ``tag`` as a number (``default`` where it is absent)."""
    text = _text(element, tag)
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        raise InputError(f"'{path}': <{tag}> must be a number, got {text!r}") from None


def _muse_rate(element: ET.Element, base: str, exponent: str, path: Path) -> float:
    """A MUSE rate: ``base`` x 10 ** ``exponent`` (500 Hz where the file leaves it out)."""
    rate = (_number(element, base, path, 500.0) or 0.0) * 10 ** (_number(element, exponent, path, 0.0) or 0.0)
    if not rate > 0:
        raise InputError(f"'{path}': <{base}> gives the sampling rate {rate:g} Hz; a positive rate is needed")
    return rate


def _muse_groups(root: ET.Element, path: Path) -> list[XmlGroup]:
    """A MUSE file's ``<Waveform>`` groups: each lead's 16-bit numbers decoded from base64,
    checked against its byte count and CRC32."""
    groups: list[XmlGroup] = []
    for waveform in root.iter("Waveform"):
        label = (_text(waveform, "WaveformType") or f"waveform {len(groups)}").upper()
        fs = _muse_rate(waveform, "SampleBase", "SampleExponent", path)
        names: list[str] = []
        columns: list[np.ndarray] = []
        units: list[str] = []
        off: list[str] = []
        for lead in waveform.findall("LeadData"):
            name = lead_name(_text(lead, "LeadID") or f"lead{len(names)}")
            where = f"'{path}' ({label}, lead {name})"
            size = _number(lead, "LeadSampleSize", path, 2.0)
            if size != 2:
                raise InputError(f"{where}: {size:g}-byte samples; MUSE's 2-byte samples are read")
            if _number(lead, "LeadTimeOffset", path, 0.0):
                raise InputError(
                    f"{where} starts {_text(lead, 'LeadTimeOffset')} after the others; leads "
                    "starting together are read"
                )
            try:
                data = base64.b64decode(_text(lead, "WaveFormData") or "", validate=False)
            except binascii.Error as error:
                raise InputError(f"{where}: <WaveFormData> is no base64 ({error})") from None
            crc = _number(lead, "LeadDataCRC32", path)
            if crc is not None and zlib.crc32(data) != int(crc):
                raise InputError(
                    f"{where}: the data fail their CRC32 check ({zlib.crc32(data)}, the file says "
                    f"{int(crc)}): the file is damaged"
                )
            count = int(_number(lead, "LeadSampleCountTotal", path, len(data) // 2) or 0)
            if len(data) < 2 * count or count == 0:
                raise InputError(f"{where}: {len(data)} bytes of data for {count} samples of 2 bytes")
            scale = _number(lead, "LeadAmplitudeUnitsPerBit", path)
            unit = _text(lead, "LeadAmplitudeUnits") or "MICROVOLTS"
            names.append(name)
            columns.append(np.frombuffer(data[: 2 * count], dtype="<i2").astype(np.float64) * (scale or 0.0))
            # a lead without its scale holds raw numbers: a unit the millivolt check refuses by name
            units.append(_MUSE_UNITS.get(unit.upper(), unit) if scale is not None else "no units per bit")
            if (_text(lead, "LeadOff") or "").upper() == "TRUE":
                off.append(name)
        if names:
            groups.append(XmlGroup(label, fs, names, _stack(columns, names, label, path), units, off))
    return groups


def _stack(columns: list[np.ndarray], names: list[str], label: str, path: Path) -> np.ndarray:
    """A group's leads side by side; leads of different lengths are an error naming them."""
    lengths = {name: len(column) for name, column in zip(names, columns, strict=True)}
    if len(set(lengths.values())) > 1:
        raise InputError(f"'{path}' ({label}): its leads have different lengths, in samples: {lengths}")
    return np.stack(columns, axis=1)


def _aecg_groups(root: ET.Element, path: Path) -> list[XmlGroup]:
    """An aECG file's sequence sets, each labelled by its series' code (``RHYTHM``,
    ``REPRESENTATIVE_BEAT``)."""
    groups: list[XmlGroup] = []
    for tag in ("series", "derivedSeries"):
        for series in root.iter(f"{HL7}{tag}"):
            code = series.find(f"{HL7}code")
            label = ((code.get("code") if code is not None else None) or tag).upper()
            for sequence_set in series.findall(f"{HL7}component/{HL7}sequenceSet"):
                group = _aecg_group(sequence_set, label, path)
                if group is not None:
                    groups.append(group)
    return groups


def _aecg_group(sequence_set: ET.Element, label: str, path: Path) -> XmlGroup | None:
    """One aECG sequence set: its rate from the time sequence's increment, each lead's values
    origin + scale x digits (in the scale's unit)."""
    fs: float | None = None
    names: list[str] = []
    columns: list[np.ndarray] = []
    units: list[str] = []
    for sequence in sequence_set.findall(f"{HL7}component/{HL7}sequence"):
        code, value = sequence.find(f"{HL7}code"), sequence.find(f"{HL7}value")
        name = (code.get("code") or "") if code is not None else ""
        if value is None:
            continue
        if name.upper().startswith("TIME_"):
            fs = _aecg_rate(value, label, path)
            continue
        digits, scale, origin = (
            value.find(f"{HL7}digits"),
            value.find(f"{HL7}scale"),
            value.find(f"{HL7}origin"),
        )
        if digits is None:
            continue
        lead = lead_name(name or f"lead{len(names)}")
        try:
            numbers = np.array((digits.text or "").split(), dtype=np.float64)
            step = float(scale.get("value", "")) if scale is not None else None
            offset = float(origin.get("value", "0")) if origin is not None else 0.0
        except ValueError as error:
            raise InputError(
                f"'{path}' ({label}, lead {lead}): a number could not be read ({error})"
            ) from None
        unit = (scale.get("unit") if scale is not None else None) or "no unit"
        origin_unit = origin.get("unit") if origin is not None else None
        if offset and origin_unit and origin_unit != unit:  # the origin in the scale's unit
            to_origin, to_scale = (TO_MILLIVOLT.get(u.lower()) for u in (origin_unit, unit))
            if to_origin is None or to_scale is None:
                raise InputError(
                    f"'{path}' ({label}, lead {lead}): its origin is in {origin_unit} and its scale in "
                    f"{unit}; units of voltage (mV, uV, V) are read"
                )
            offset *= to_origin / to_scale
        names.append(lead)
        columns.append(numbers * (step if step is not None else 0.0) + offset)
        units.append(unit if step is not None else "no scale: raw numbers")
    if not names:
        return None
    if fs is None:
        raise InputError(f"'{path}' ({label}): a sequence set without a time sequence (no sampling rate)")
    return XmlGroup(label, fs, names, _stack(columns, names, label, path), units, [])


def _aecg_rate(value: ET.Element, label: str, path: Path) -> float:
    """The sampling rate of an aECG time sequence: one over its increment (in s or ms)."""
    increment = value.find(f"{HL7}increment")
    scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6}.get(
        (increment.get("unit") or "s") if increment is not None else ""
    )
    try:
        step = float(increment.get("value", "")) * scale if increment is not None and scale else 0.0
    except ValueError:
        step = 0.0
    if not step > 0:
        shown = None if increment is None else dict(increment.attrib)
        raise InputError(f"'{path}' ({label}): the time sequence's increment {shown} gives no sampling rate")
    return 1.0 / step


def read_xml_annotations(path: str | Path) -> pd.DataFrame:
    """What a GE MUSE file says about its ECG: the confirmed diagnostic statements, the
    measurements, the median beat's fiducial points and the cart's beats, one row each.

    Returns
    -------
    pandas.DataFrame
        Columns ``kind`` ('statement', 'measurement', 'fiducial', 'beat'), ``text`` (a statement,
        a measurement's or point's MUSE name: 'QTInterval', 'QOnset'; a beat's morphology class:
        'QRS type 0'), ``value`` (a measurement's number, else NaN), ``unit`` ('ms', 'bpm', 'deg'),
        ``waveform`` (the index of the waveform group a point or beat lies in, -1 for none; the
        groups as ``read_record(group=)`` counts them) and ``sample`` (its sample index in that
        group; a beat's QRS time in ms at the rhythm's rate, a fiducial point's position at the
        median's).
    """
    path = as_path(path)
    kind, root = read_root(path)
    if kind != "muse":
        raise InputError(
            f"'{path}' is an HL7 aECG file: its annotations are not read (GE MUSE files' are); "
            "read_record reads its waveforms"
        )
    groups = _muse_groups(root, path)
    labels = [group.label for group in groups]
    rhythm = labels.index(RHYTHM) if RHYTHM in labels else -1  # the cart's beats lie in the rhythm
    median = labels.index("MEDIAN") if "MEDIAN" in labels else -1
    rows: list[dict[str, object]] = []
    for statement in root.findall("Diagnosis/DiagnosisStatement"):
        text = _text(statement, "StmtText")
        if text:
            rows.append(
                {
                    "kind": "statement",
                    "text": text,
                    "value": np.nan,
                    "unit": "",
                    "waveform": -1,
                    "sample": np.nan,
                }
            )
    measurements = root.find("RestingECGMeasurements")
    for tag, unit in _MUSE_MEASUREMENTS.items():
        value = _number(measurements, tag, path)
        if value is not None:
            rows.append(
                {
                    "kind": "measurement",
                    "text": tag,
                    "value": value,
                    "unit": unit,
                    "waveform": -1,
                    "sample": np.nan,
                }
            )
    if measurements is not None and median >= 0:
        scale = groups[median].fs / _muse_rate(measurements, "ECGSampleBase", "ECGSampleExponent", path)
        for tag in _MUSE_FIDUCIALS:
            value = _number(measurements, tag, path)
            if value is not None and value >= 0:
                rows.append(
                    {
                        "kind": "fiducial",
                        "text": tag,
                        "value": np.nan,
                        "unit": "",
                        "waveform": median,
                        "sample": value * scale,
                    }
                )
    times, texts = _muse_beats(root, path)
    rate = groups[rhythm].fs if rhythm >= 0 else np.nan
    for time, text in zip(times, texts, strict=True):
        rows.append(
            {
                "kind": "beat",
                "text": text,
                "value": np.nan,
                "unit": "",
                "waveform": rhythm,
                "sample": time * rate,
            }
        )
    return pd.DataFrame(rows, columns=ANNOTATION_COLUMNS)


def _muse_beats(root: ET.Element, path: Path) -> tuple[np.ndarray, list[str]]:
    """The beats of a MUSE file's ``QRSTimesTypes``: each QRS's time in seconds and its text
    'QRS type k' (the cart's morphology class; 0 the dominant beat)."""
    times, texts = [], []
    for qrs in root.findall("QRSTimesTypes/QRS"):
        time = _number(qrs, "Time", path)
        if time is not None:
            times.append(time / 1000.0)
            texts.append(f"QRS type {_text(qrs, 'Type') or '?'}")
    return np.asarray(times, dtype=np.float64), texts
