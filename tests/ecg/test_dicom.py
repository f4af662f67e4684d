"""DICOM ECGs: the real 12-lead ECG that pydicom ships (waveform_ecg.dcm: 10 s at 1000 Hz and a
median beat), decoded by hand from its bytes as the DICOM standard describes them, checked by
Einthoven's law and against the recording device's own fiducial points."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from signxai.ecg.dicom import read_dicom_annotations
from signxai.ecg.io import lead_names, read_beat_annotations, read_record
from signxai.ecg.preprocess import detect_r_peaks, remove_baseline
from signxai.ecg.scoring import match_peaks
from signxai.errors import InputError

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


@pytest.fixture
def ecg(tmp_path: Path) -> Path:
    path = tmp_path / "ecg.dcm"
    shutil.copy(get_testdata_file("waveform_ecg.dcm"), path)
    return path


def by_hand(path: Path, group: int) -> np.ndarray:
    """A multiplex group in mV from the file's bytes: channels interleaved sample by sample as
    signed 16-bit numbers, each times its sensitivity and correction factor plus its baseline."""
    item = pydicom.dcmread(path).WaveformSequence[group]
    assert (item.WaveformBitsAllocated, item.WaveformSampleInterpretation) == (16, "SS")
    channels = int(item.NumberOfWaveformChannels)
    stored = np.frombuffer(item.WaveformData, dtype="<i2")[: channels * int(item.NumberOfWaveformSamples)]
    stored = stored.reshape(-1, channels).T.astype(np.float64)
    out = np.empty_like(stored)
    for row, channel in enumerate(item.ChannelDefinitionSequence):
        assert channel.ChannelSensitivityUnitsSequence[0].CodeValue == "uV"
        scale = float(channel.ChannelSensitivity) * float(channel.ChannelSensitivityCorrectionFactor)
        out[row] = (stored[row] * scale + float(channel.ChannelBaseline)) / 1000
    return out


def test_the_real_12_lead_ecg_reads_as_the_standard_says(ecg: Path) -> None:
    record = read_record(ecg)
    assert record.leads == LEADS and record.fs == 1000.0 and record.signal.shape == (12, 10000)
    assert record.name == "ecg" and lead_names(ecg) == LEADS
    np.testing.assert_allclose(record.signal, by_hand(ecg, 0), rtol=0, atol=1e-12)
    # Einthoven's and Goldberger's relations between the limb leads: the lead names are right
    lead = dict(zip(LEADS, record.signal, strict=True))
    step = 1.25e-3  # the sensitivity, 1.25 uV per stored unit, in mV
    np.testing.assert_allclose(lead["III"], lead["II"] - lead["I"], rtol=0, atol=1e-12)
    for name, derived in [
        ("aVR", -(lead["I"] + lead["II"]) / 2),
        ("aVL", lead["I"] - lead["II"] / 2),
        ("aVF", lead["II"] - lead["I"] / 2),
    ]:
        assert np.abs(lead[name] - derived).max() <= step / 2 + 1e-12, name
    assert np.abs(lead["V2"] - lead["V1"]).max() > 0.1  # the precordial leads are six leads

    part = read_record(ecg, leads=["V5", "II"], start=2.5, duration=4.0)
    np.testing.assert_array_equal(part.signal, record.signal[[10, 1], 2500:6500])
    median = read_record(ecg, group="median beat", leads="II")
    assert median.fs == 1000.0 and median.signal.shape == (1, 1200)
    np.testing.assert_allclose(median.signal[0], by_hand(ecg, 1)[1], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(
        read_record(ecg, group=1).signal, read_record(ecg, group="MEDIAN BEAT").signal
    )
    np.testing.assert_array_equal(read_record(ecg, group="rhythm").signal, record.signal)


def test_the_devices_fiducial_points_are_the_beats_our_detector_finds(ecg: Path) -> None:
    """The ECG machine marks each beat's fiducial point (annotation groups 100-109 here); our
    R-peak detector on lead II finds the same ten beats within a few milliseconds."""
    table = read_dicom_annotations(ecg)
    assert list(table.columns) == ["group", "text", "value", "unit", "waveform", "sample"]
    assert table.loc[table.text == "RR Interval", ["value", "unit"]].values.tolist() == [[982.0, "ms"]]
    assert "RITMO SINUSALE" in table.text.tolist()  # the device's statement, as written
    device = table[(table.text == "Fiducial Point") & (table.group >= 100)]["sample"].to_numpy(dtype=int)
    assert len(device) == 10 and (device[1:] > device[:-1]).all()
    lead_ii = read_record(ecg, leads="II")
    ours = detect_r_peaks(remove_baseline(lead_ii.signal[0], lead_ii.fs), lead_ii.fs)
    match = match_peaks(ours, device, lead_ii.fs)
    assert match.sensitivity == 1.0 and match.positive_predictivity == 1.0
    assert np.abs(match.offsets).max() <= 0.005


def test_what_cannot_be_read_as_a_dicom_ecg_is_told(ecg: Path, tmp_path: Path) -> None:
    with pytest.raises(
        InputError,
        match=r"multiplex group of .* \(its label or index: 0 'RHYTHM', 1 'MEDIAN BEAT'\), got 'T'",
    ):
        read_record(ecg, group="T")
    for wrong in (2, -1, True, 1.0):
        with pytest.raises(InputError, match="group must be a multiplex group"):
            read_record(ecg, group=wrong)
    with pytest.raises(InputError, match=r"leads \['X'\] are not in the record"):
        read_record(ecg, leads="X")
    with pytest.raises(InputError, match="is a DICOM ECG: its annotations are the device's statements"):
        read_beat_annotations(ecg)
    dataset = pydicom.dcmread(ecg)  # a channel whose stored numbers have no sensitivity
    del dataset.WaveformSequence[0].ChannelDefinitionSequence[6].ChannelSensitivity
    dataset.save_as(tmp_path / "raw.dcm")
    with pytest.raises(
        InputError, match=r"leads 'V1' \(no sensitivity: raw numbers\) are not in units of voltage"
    ):
        read_record(tmp_path / "raw.dcm")
    assert read_record(tmp_path / "raw.dcm", leads=["I", "V2"]).signal.shape == (2, 10000)
    dataset = pydicom.dcmread(ecg)  # a baseline and a correction factor: the standard's formula
    channel = dataset.WaveformSequence[0].ChannelDefinitionSequence[0]
    channel.ChannelBaseline, channel.ChannelSensitivityCorrectionFactor = "-20", "0.5"
    dataset.save_as(tmp_path / "corrected.dcm")
    corrected = read_record(tmp_path / "corrected.dcm", leads="I").signal[0]
    np.testing.assert_allclose(corrected, by_hand(tmp_path / "corrected.dcm", 0)[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(corrected, read_record(ecg, leads="I").signal[0] * 0.5 - 0.02, atol=1e-12)
    with pytest.raises(InputError, match=r"holds no waveforms \(a DICOM file of CT Image Storage\)"):
        read_record(get_testdata_file("CT_small.dcm"))
    (tmp_path / "text.dcm").write_text("not DICOM")
    with pytest.raises(InputError, match="could not be read as a DICOM file"):
        read_record(tmp_path / "text.dcm")
    with pytest.raises(InputError, match=r"not found \(a DICOM file\)"):
        read_record(tmp_path / "missing.dcm")
    with pytest.raises(
        InputError,
        match=r"group chooses a waveform group of a DICOM ECG \(\.dcm\) or an ECG XML file .* is neither",
    ):
        read_record(tmp_path / "rec.edf", group=0)
