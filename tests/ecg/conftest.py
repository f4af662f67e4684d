"""Fixtures shared by the ECG toolkit's tests."""

from __future__ import annotations

import numpy as np
import pytest

from signxai.ecg import load_mitbih_208
from signxai.ecg.preprocess import detect_r_peaks


@pytest.fixture(scope="session")
def peaks_208() -> tuple[np.ndarray, np.ndarray, float]:
    """Record 208's R-peaks: ours (``detect_r_peaks``), neurokit2's (``ecg_peaks`` after
    ``ecg_clean``), and the rate."""
    nk = pytest.importorskip("neurokit2")
    strip = load_mitbih_208()
    ecg = strip.signal[0]
    _, info = nk.ecg_peaks(nk.ecg_clean(ecg, sampling_rate=strip.fs), sampling_rate=strip.fs)
    return detect_r_peaks(ecg, strip.fs), np.asarray(info["ECG_R_Peaks"]), strip.fs
