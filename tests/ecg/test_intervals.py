"""Intervals from a delineation, and the QT corrections, against two real carts' measurements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signxai import InputError
from signxai.ecg.intervals import INTERVAL_COLUMNS, QTC_FORMULAS, corrected_qt, intervals
from signxai.ecg.io import read_record
from signxai.ecg.preprocess import detect_r_peaks
from signxai.ecg.waves import delineate

MUSE = Path(__file__).parent.parent / "data" / "muse" / "sinus_rhythm.xml"


def _pydicom_ecg() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("waveform_ecg.dcm"))


def _muse_measurements() -> dict[str, float]:
    from signxai.ecg.xml_ecg import read_xml_annotations

    table = read_xml_annotations(MUSE).query("kind == 'measurement'")
    return dict(zip(table.text, table.value, strict=True))


def _pydicom_measurements() -> dict[str, float]:
    from signxai.ecg.dicom import read_dicom_annotations

    table = read_dicom_annotations(_pydicom_ecg()).dropna(subset=["value"])
    return dict(zip(table.text, table.value, strict=True))


def test_the_qt_corrections_by_hand() -> None:
    assert {formula: corrected_qt(400.0, 1000.0, formula) for formula in QTC_FORMULAS} == dict.fromkeys(
        QTC_FORMULAS, 400.0
    )  # at 60 bpm every correction is the QT itself
    assert corrected_qt(400.0, 640.0, "bazett") == pytest.approx(400.0 / 0.8)
    assert corrected_qt(400.0, 640.0, "fridericia") == pytest.approx(400.0 / 0.64 ** (1 / 3))
    assert corrected_qt(400.0, 640.0, "framingham") == pytest.approx(400.0 + 154.0 * 0.36)
    assert corrected_qt(400.0, 640.0, "hodges") == pytest.approx(400.0 + 1.75 * (60 / 0.64 - 60))
    np.testing.assert_allclose(corrected_qt(np.array([400.0, 360.0]), 640.0), [500.0, 450.0])
    with pytest.raises(InputError, match=r"formula must be one of .*got 'bazet' \(did you mean 'bazett'\?\)"):
        corrected_qt(400.0, 640.0, "bazet")
    with pytest.raises(InputError, match=r"rr_ms must have the shape of qt_ms, \(2,\), or be one number"):
        corrected_qt([400.0, 360.0], [640.0, 700.0, 800.0])


def test_the_qt_corrections_give_the_carts_own_numbers() -> None:
    """A cart's corrected QT from its own QT and rate: the MUSE cart's QTc (Bazett) and
    QTcFrederica, the pydicom cart's QTc (Hodges' formula: 370 ms where Bazett gives 371.4)."""
    muse = _muse_measurements()
    rr = 60000.0 / muse["VentricularRate"]
    assert corrected_qt(muse["QTInterval"], rr, "bazett") == pytest.approx(muse["QTCorrected"], abs=1.0)
    assert corrected_qt(muse["QTInterval"], rr, "fridericia") == pytest.approx(muse["QTcFrederica"], abs=1.0)
    cart = _pydicom_measurements()
    hodges = corrected_qt(cart["QT Interval"], cart["RR Interval"], "hodges")
    assert hodges == pytest.approx(cart["QTc Interval"], abs=0.5)


def test_intervals_of_a_delineation_counted_by_hand() -> None:
    waves = pd.DataFrame(
        {
            "beat": [0, 1],
            "r_peak": [100, 600],
            "p_on": [20, 520],
            "p_off": [60, 565],
            "qrs_on": [90, 590],
            "qrs_off": [110, 615],
            "t_on": [150, 650],
            "t_off": [290, 790],
        }
    )
    table = intervals(waves, 500.0)  # 2 ms a sample
    assert list(table.columns) == list(INTERVAL_COLUMNS)
    assert np.isnan(table.rr_ms[0]) and np.isnan(table.heart_rate_bpm[0]) and np.isnan(table.qtc_bazett_ms[0])
    np.testing.assert_allclose(table.p_ms, [80.0, 90.0])
    np.testing.assert_allclose(table.pr_ms, [140.0, 140.0])
    np.testing.assert_allclose(table.qrs_ms, [40.0, 50.0])
    np.testing.assert_allclose(table.qt_ms, [400.0, 400.0])
    assert table.rr_ms[1] == 1000.0 and table.heart_rate_bpm[1] == 60.0
    assert table.qtc_bazett_ms[1] == table.qtc_fridericia_ms[1] == 400.0
    assert intervals(waves.iloc[:0], 500.0).columns.tolist() == list(INTERVAL_COLUMNS)
    with pytest.raises(InputError, match="R-peaks increasing"):
        intervals(waves.iloc[::-1], 500.0)


@pytest.mark.parametrize(
    ("source", "cart_names"),
    [
        ("pydicom", ("RR Interval", "PR Interval", "QRS Duration", "QT Interval")),
        ("muse", ("VentricularRate", "PRInterval", "QRSDuration", "QTInterval")),
    ],
)
def test_intervals_of_all_leads_are_near_the_carts(source: str, cart_names: tuple[str, ...]) -> None:
    """The rhythm's beats delineated over all leads; the medians against the cart's global
    measurements (of its median beat). Measured (ms): pydicom RR 983 / 982, PR 165 / 161, QRS
    64 / 75, QT 359 / 368; MUSE RR 616 / 619, PR 138 / 122, QRS 66 / 74, QT 302 / 328."""
    path = _pydicom_ecg() if source == "pydicom" else MUSE
    cart = _pydicom_measurements() if source == "pydicom" else _muse_measurements()
    rr_name, pr_name, qrs_name, qt_name = cart_names
    cart_rr = cart[rr_name] if source == "pydicom" else 60000.0 / cart[rr_name]
    ecg = read_record(path)
    peaks = detect_r_peaks(ecg.signal[ecg.leads.index("II")], ecg.fs)
    table = intervals(delineate(ecg.signal, peaks, ecg.fs), ecg.fs).median()
    assert table.rr_ms == pytest.approx(cart_rr, abs=5.0)
    assert table.pr_ms == pytest.approx(cart[pr_name], abs=20.0)
    assert table.qrs_ms == pytest.approx(cart[qrs_name], abs=12.0)
    assert table.qt_ms == pytest.approx(cart[qt_name], abs=30.0)
