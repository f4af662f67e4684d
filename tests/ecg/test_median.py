"""The median beat of a record, against the median beat a cart stored with the same ECG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signxai import InputError
from signxai.ecg.io import read_record
from signxai.ecg.median import median_beat
from signxai.ecg.preprocess import detect_r_peaks

MUSE = Path(__file__).parent.parent / "data" / "muse" / "sinus_rhythm.xml"


def test_the_median_of_the_rhythm_is_the_carts_median_beat() -> None:
    """The MUSE export holds the rhythm and the cart's median beat (600 samples at 500 Hz). The
    median of the rhythm's beats, aligned on our R-peaks with the cart's R-peak position, each
    referenced to its PR segment (the cart sets it to zero): correlation and difference over the
    beat (P wave to T end), at the best lag of at most one sample (the two alignments differ).
    Measured: r 0.996-0.998 and 12-28 uV in seven leads, V6 0.984 and 87 uV."""
    rhythm, cart = read_record(MUSE), read_record(MUSE, group="MEDIAN")
    fs = rhythm.fs
    peaks = detect_r_peaks(rhythm.signal[1], fs)
    r_cart = int(np.argmax(np.abs(cart.signal[1])))
    ours = median_beat(rhythm.signal, peaks, fs, before=r_cart / fs, after=(600 - r_cart) / fs)
    assert ours.signal.shape == (8, 600) and ours.r_index == r_cart and len(ours.beats) == 14
    beat = slice(100, 480)  # P onset (158) to T end (383) of the cart's fiducial points, and margin
    for lead in range(8):
        b = cart.signal[lead] - cart.signal[lead][205:216].mean()
        fits = []
        for lag in (-1, 0, 1):
            a = np.roll(ours.signal[lead], lag)
            a = a - a[205:216].mean()
            fits.append((np.sqrt(np.mean((a[beat] - b[beat]) ** 2)), np.corrcoef(a[beat], b[beat])[0, 1]))
        rms, r = min(fits)
        assert r > 0.98 and rms < 0.11, (rhythm.leads[lead], r, rms)
        if rhythm.leads[lead] != "V6":
            assert r > 0.995 and rms < 0.03, (rhythm.leads[lead], r, rms)


def test_the_beats_combined_and_the_statistics() -> None:
    fs = 100.0
    ecg = np.zeros((2, 1000))
    peaks = np.array([5, 300, 500, 700, 990])  # the first and last have no whole window
    for k, r in enumerate(peaks[1:4]):
        ecg[0, r - 10 : r + 20] = k + 1.0  # beat values 1, 2, 3
        ecg[1, r] = 10.0 * (k + 1)
    median = median_beat(ecg, peaks, fs, before=0.1, after=0.2)
    assert median.r_index == 10 and median.signal.shape == (2, 30) and list(median.beats) == [1, 2, 3]
    np.testing.assert_array_equal(median.signal[0], np.full(30, 2.0))
    assert median.signal[1, 10] == 20.0 and median.signal[1].sum() == 20.0
    mean = median_beat(ecg[1], peaks, fs, before=0.1, after=0.2, statistic="mean")
    assert mean.signal.shape == (1, 30) and mean.signal[0, 10] == 20.0
    with pytest.raises(InputError, match=r"statistic must be one of .*got 'medain' \(did you mean"):
        median_beat(ecg, peaks, fs, statistic="medain")
    with pytest.raises(InputError, match="no R-peak has a complete window .* in the signal of 10 s"):
        median_beat(ecg, peaks, fs, before=8.0)
    with pytest.raises(InputError, match=r"ecg must be \(samples,\) or \(leads, samples\)"):
        median_beat(ecg[None], peaks, fs)
