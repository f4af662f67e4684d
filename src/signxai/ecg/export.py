"""A strip analysis as a file other programs read: EDF+ for EDF viewers (EDFbrowser and the
like), where the lead, each method's relevance, every beat's call and the windows of poor
signal quality scroll together."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from signxai.checks import as_path
from signxai.ecg import edf
from signxai.ecg.analysis import StripAnalysis
from signxai.ecg.relevance import windows_to_strip
from signxai.errors import InputError

#: The unit written for relevance channels (arbitrary units: the explained output per input).
RELEVANCE_UNIT = "a.u."
#: How the annotation over a window that fails the signal-quality rules begins.
QUALITY_NOTE = "quality rules failed"


def write_analysis_edf(analysis: StripAnalysis, path: str | Path) -> Path:
    """Write the analysed lead, each method's relevance of the explained beats on the lead's time
    axis, and every beat's call as an EDF+ file (``.edf``; ``.bdf`` for 24 bits).

    Parameters
    ----------
    analysis
        What :func:`~signxai.ecg.analysis.analyze_strip` found.
    path
        The file to write.

    Returns
    -------
    pathlib.Path
        ``path``.

    Channel 0 is the lead as it was read (mV); channel ``k`` (label ``relevance k``, the method's
    name in its transducer field) the relevance of method ``k`` (in the order of
    ``analysis.relevance``), zero outside the explained beats. An annotation at each beat's R-peak
    gives its call, its reference code where the analysis has one (``ref V``) and ``explained``
    for the beats explained. Each window of ``analysis.quality`` that fails the signal-quality
    rules is an annotation over the window (onset and duration) that names the rules failed
    (``quality rules failed: RR ratio: 2.3 > 2.2``); reading the file's beats back
    (:func:`~signxai.ecg.io.read_beat_annotations`) leaves them out.
    """
    if not isinstance(analysis, StripAnalysis):
        raise InputError(
            f"analysis must be what signxai.ecg.analysis.analyze_strip returns, got {type(analysis).__name__}"
        )
    path = as_path(path)
    if not edf.is_edf(path):
        raise InputError(f"path must name an EDF file (.edf, .bdf), got '{path}'")
    recording, windows, chosen = analysis.recording, analysis.windows, analysis.explained
    lead = np.asarray(recording.signal[analysis.lead], dtype=np.float64)
    # one channel at a time, each turned into 16 bits before the next is placed on the strip's
    # axis: a day's strip with eight methods is not held as nine float rows at once
    maps = (
        windows_to_strip(relevance, windows.starts[chosen], windows.stops[chosen], len(lead))[0]
        for relevance in analysis.relevance.values()
    )
    texts, explained = [], set(chosen.tolist())
    for beat, label in enumerate(analysis.labels):
        notes = [label]
        if analysis.reference is not None:
            notes.append(f"ref {analysis.reference[beat]}")
        if beat in explained:
            notes.append("explained")
        texts.append(", ".join(notes))
    onsets = [float(t) for t in windows.r_peaks / recording.fs]
    durations: list[float | None] = [None] * len(onsets)
    if analysis.quality is not None:
        for row in analysis.quality.itertuples():
            if not row.acceptable:
                onsets.append(float(row.start_s))
                durations.append(float(row.stop_s - row.start_s))
                texts.append(f"{QUALITY_NOTE}: {row.reasons}")
    methods = list(analysis.relevance)
    edf.write_edf(
        path,
        itertools.chain([lead], maps),
        recording.fs,
        [analysis.lead_name[:16], *(f"relevance {k + 1}" for k in range(len(methods)))],
        np.asarray(onsets),
        texts,
        units=["mV", *[RELEVANCE_UNIT] * len(methods)],
        sources=["", *methods],
        durations=durations,
    )
    return path
