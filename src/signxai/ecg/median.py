"""The median beat of a record: its beats aligned on their R-peaks, sample by sample.

A cart's 12-lead report shows a median beat beside the rhythm: every beat's window around its
R-peak, the median taken at each sample, so that noise and the odd ectopic beat fall away. The
same alignment gives a map's mean over the beats (``statistic="mean"``): where, in the typical
beat, a model's evidence lies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from signxai.checks import check_choice, check_number
from signxai.ecg.checks import check_fs
from signxai.ecg.preprocess import complete_windows

#: How :func:`median_beat` combines the aligned beats at each sample.
STATISTICS = ("median", "mean")


@dataclass(frozen=True)
class BeatTemplate:
    """Beats aligned on their R-peaks and combined sample by sample."""

    #: ``(leads, samples)``: the combined beat.
    signal: np.ndarray
    #: The sampling rate in Hz.
    fs: float
    #: The sample of ``signal`` at which the R-peaks lie.
    r_index: int
    #: The indices (into the R-peaks given) of the beats combined: those whose window lies
    #: inside the record.
    beats: np.ndarray


def median_beat(
    ecg: np.ndarray,
    r_peaks: np.ndarray,
    fs: float,
    before: float = 0.35,
    after: float = 0.65,
    statistic: str = "median",
) -> BeatTemplate:
    """The beats of ``ecg`` aligned on ``r_peaks``, combined sample by sample.

    Parameters
    ----------
    ecg
        ``(samples,)`` or ``(leads, samples)``: a recording, or a relevance map on its time axis.
    r_peaks
        The beats' R-peaks (increasing sample indices).
    fs
        Sampling rate in Hz.
    before, after
        Seconds of each beat's window before and after its R-peak; beats whose window does not
        lie inside the record are left out.
    statistic
        ``"median"`` (a cart's median beat) or ``"mean"`` (e.g. a map's mean over the beats).

    Returns
    -------
    BeatTemplate
        ``signal`` of shape ``(leads, round(before * fs) + round(after * fs))`` (one lead: one row),
        the R-peak at ``r_index``, and the beats combined.
    """
    check_number(after, "after", above=0, unit="of seconds")  # the R-peak lies inside the beat
    statistic = check_choice(statistic, "statistic", STATISTICS)
    signal, r_peaks, used, head, tail = complete_windows(ecg, r_peaks, fs, before, after)
    offsets = np.arange(-head, tail)
    combined = np.empty((len(signal), head + tail))
    for lead, row in enumerate(signal):  # one lead at a time: beats x samples, not leads x beats x samples
        aligned = row[r_peaks[used, None] + offsets]
        combined[lead] = np.median(aligned, axis=0) if statistic == "median" else aligned.mean(axis=0)
    return BeatTemplate(combined, check_fs(fs), head, used)
