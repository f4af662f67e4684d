"""ECG figures with relevance: a single-lead strip, a 12-lead grid on ECG paper, a beat view,
relevance per frequency and per frequency and time.

Relevance is drawn as colour along the trace (blue negative, red positive, symmetric scale), so
the signal stays readable. All functions return a matplotlib ``Figure``; save it with
``fig.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from signxai.checks import check_choice, check_number, check_text, check_whole, host_values
from signxai.ecg.checks import (
    as_lead_names,
    as_peaks,
    as_relevance,
    as_signal,
    check_count,
    check_fs,
    default_lead_names,
)
from signxai.errors import InputError
from signxai.spectral import SpectralRelevance
from signxai.spectrogram import SpectrogramRelevance

RELEVANCE_CMAP = "coolwarm"
#: The standard 12-lead layout: rows of (lead name) in four 2.5 s columns.
STANDARD_LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
PAPER_MAJOR = "#f4a6a6"
PAPER_MINOR = "#fbdada"


def coloured_trace(
    ax: plt.Axes, t: np.ndarray, y: np.ndarray, relevance: np.ndarray, norm: Normalize, width: float = 1.2
) -> LineCollection:
    """Draw ``y`` over ``t`` on ``ax`` as line segments coloured by ``relevance``."""
    points = np.stack([t, y], axis=1)[:, None, :]
    segments = np.concatenate([points[:-1], points[1:]], axis=1)
    colours = 0.5 * (relevance[:-1] + relevance[1:])
    collection = LineCollection(list(segments), cmap=RELEVANCE_CMAP, norm=norm, linewidths=width)
    collection.set_array(colours)
    ax.add_collection(collection)
    return collection


def symmetric_norm(relevance: np.ndarray) -> Normalize:
    """A colour scale symmetric around 0 up to the largest |relevance| (zero stays white)."""
    peak = float(np.abs(as_signal(relevance, "relevance")).max()) or 1.0
    return Normalize(-peak, peak)


def plot_strip(
    ecg: np.ndarray,
    fs: float,
    relevance: np.ndarray | None = None,
    title: str = "",
    ax: plt.Axes | None = None,
) -> Figure:
    """One lead with its relevance as colour along the trace and a colour bar.

    Parameters
    ----------
    ecg, relevance
        ``(samples,)`` arrays (mV, and relevance of the same length; None: the trace in black).
    fs
        Sampling rate in Hz.
    title
        The axes' title.
    ax
        Draw into these axes (default: a new figure, wider for a longer strip, up to 24 in).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn into.
    """
    ecg = _one_lead(ecg, "plot_strip")
    fs = check_fs(fs)
    check_text(title, "title")
    if ax is not None and not isinstance(ax, plt.Axes):
        raise InputError(f"ax must be a matplotlib Axes (or None), got {type(ax).__name__}")
    t = np.arange(len(ecg)) / fs
    if ax is None:
        fig, ax = plt.subplots(figsize=(min(24, 4 + len(ecg) / fs * 1.2), 3))
    else:
        fig = cast(Figure, ax.figure)
    if relevance is None:
        ax.plot(t, ecg, color="black", lw=1)
    else:
        relevance = as_relevance(relevance, ecg.shape)
        line = coloured_trace(ax, t, ecg, relevance, symmetric_norm(relevance))
        fig.colorbar(line, ax=ax, label="relevance", pad=0.01)
    margin = 0.1 * (np.ptp(ecg) or 1.0)
    ax.set_xlim(t[0], t[-1])
    ax.set_ylim(ecg.min() - margin, ecg.max() + margin)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mV")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig


def _one_lead(ecg: np.ndarray, function: str) -> np.ndarray:
    """One lead ``(samples,)`` (or ``(1, samples)``); several leads point to ``plot_12lead``."""
    values = np.asarray(host_values(ecg))
    if values.ndim == 2 and values.shape[0] > 1:
        raise InputError(
            f"{function} draws one lead (samples,), got ecg of shape {values.shape}; "
            "pick a lead (ecg[i]) or draw all with plot_12lead"
        )
    lead = as_signal(values, ndim=1)
    if len(lead) < 2:  # one sample spans no time: matplotlib would only warn of a singular axis
        raise InputError(f"{function} draws a trace over time: ecg needs 2 or more samples, got {len(lead)}")
    return lead


def _paper(ax: plt.Axes, width_s: float, low: float, high: float, gain: float) -> None:
    """ECG paper: a thin line every 1 mm (0.04 s; 1 / gain mV), a thick one every 5 mm."""
    for step, colour, lw in ((0.04, PAPER_MINOR, 0.4), (0.2, PAPER_MAJOR, 0.8)):
        for x in np.arange(0, width_s + 1e-9, step):
            ax.axvline(x, color=colour, lw=lw, zorder=0)
    for step, colour, lw in ((1 / gain, PAPER_MINOR, 0.4), (5 / gain, PAPER_MAJOR, 0.8)):
        for y in np.arange(np.floor(low / step) * step, high + 1e-9, step):
            ax.axhline(y, color=colour, lw=lw, zorder=0)


#: The tallest ECG paper ``plot_12lead`` draws (inches, about 2.5 m): a signal in uV or ADC
#: units drawn as mV at 10 mm/mV made figures of thousands of inches (a 28 MB PNG of 420
#: megapixels for a 12-lead in uV), silently.
MAX_PAPER_INCHES = 100.0
#: The longest signal :func:`plot_12lead` lays out across the paper (seconds: ``MAX_PAPER_INCHES``
#: at 25 mm/s, about 100 s): a 30-minute two-lead record (or an fs given in kHz) drew a
#: paper hundreds of metres wide, with a grid line every millimetre, until memory ran out.
MAX_PAPER_SECONDS = MAX_PAPER_INCHES * 25.4 / 25


#: The layouts of :func:`plot_12lead`: a 10 s record's (columns of consecutive 2.5 s, a rhythm
#: strip) or a beat's (every column the whole signal, as carts print median beats).
LAYOUTS = ("rhythm", "beat")


#: One row of the grid: (lead, start s, stop s, where it is drawn s) per panel.
Row = list[tuple[str, float, float, float]]


def _rows(names: list[str], duration: float, layout: str = "rhythm") -> tuple[list[Row], float]:
    """The rows of the grid for leads ``names`` of ``duration`` seconds, and its width in seconds."""
    standard = set(names) >= {n for row in STANDARD_LAYOUT for n in row}
    if standard and layout == "beat":
        rows = [[(n, 0.0, duration, c * duration) for c, n in enumerate(row)] for row in STANDARD_LAYOUT]
        return rows, 4 * duration
    if standard:
        panel = min(2.5, duration / 4)
        rows = [
            [(n, c * panel, (c + 1) * panel, c * panel) for c, n in enumerate(row)] for row in STANDARD_LAYOUT
        ]
        rows.append([("II", 0.0, 4 * panel, 0.0)])
        return rows, 4 * panel
    return [[(n, 0.0, duration, 0.0)] for n in names], duration


def _layout(
    ecg: np.ndarray, fs: float, names: list[str], layout: str = "rhythm"
) -> tuple[list[Row], float, list[tuple[float, float]]]:
    """The rows of the grid (:func:`_rows`), the width in seconds and each row's range in mV."""
    rows, width = _rows(names, ecg.shape[1] / fs, layout)
    ranges = []
    for row in rows:
        values = np.concatenate([ecg[names.index(n), round(a * fs) : round(b * fs)] for n, a, b, _ in row])
        ranges.append((min(-1.5, values.min() - 0.2), max(1.5, values.max() + 0.2)))
    return rows, width, ranges


def _paper_inches(ranges: list[tuple[float, float]], gain: float) -> float:
    """The height of ECG paper for the rows' ranges (mV) at ``gain`` mm/mV, in inches."""
    return gain * sum(high - low for low, high in ranges) / 25.4


def paper_gain(
    ecg: np.ndarray, fs: float, leads: Sequence[str] | None = None, layout: str = "rhythm"
) -> float:
    """The ECG-paper gain (mm per mV) at which :func:`plot_12lead` draws ``ecg``: the standard
    10 mm/mV, or the largest 10 / 2^k that keeps the paper within ``MAX_PAPER_INCHES`` (for a
    signal of large amplitude, or in other units than mV).

    Parameters
    ----------
    ecg, fs, leads, layout
        As for :func:`plot_12lead`.

    Returns
    -------
    float
        The gain in mm per mV: 10, 5, 2.5, ...
    """
    ecg = np.atleast_2d(as_signal(ecg))
    names = as_lead_names(leads, default_lead_names(len(ecg)))
    check_count(names, len(ecg), "leads", "leads of ecg")
    ranges = _layout(ecg, check_fs(fs), names, check_choice(layout, "layout", LAYOUTS))[2]
    gain = 10.0
    while _paper_inches(ranges, gain) > MAX_PAPER_INCHES:
        gain /= 2
    return gain


def drawn_seconds(samples: int, fs: float, leads: Sequence[str], layout: str = "rhythm") -> float:
    """How many seconds of a ``samples``-long signal :func:`plot_12lead` draws: the first 10 s
    in the standard 12-lead layout (rhythm), the whole signal otherwise.

    Parameters
    ----------
    samples
        The signal's length in samples (>= 1).
    fs, leads, layout
        As for :func:`plot_12lead`.

    Returns
    -------
    float
        Seconds drawn.
    """
    duration = check_whole(samples, "samples", at_least=1) / check_fs(fs)
    rows, _ = _rows(as_lead_names(leads, []), duration, check_choice(layout, "layout", LAYOUTS))
    return max((stop for row in rows for _, _, stop, _ in row), default=duration)


def plot_12lead(
    ecg: np.ndarray,
    fs: float,
    relevance: np.ndarray | None = None,
    leads: Sequence[str] | None = None,
    title: str = "",
    gain: float = 10.0,
    layout: str = "rhythm",
) -> Figure:
    """Leads on ECG paper (25 mm/s, ``gain`` mm/mV: at 10, 1 mm = 0.04 s = 0.1 mV), relevance as
    colour.

    Twelve standard leads are laid out in three rows of four 2.5 s columns (I aVR V1 V4 /
    II aVL V2 V5 / III aVF V3 V6) with lead II as a rhythm strip; with ``layout="beat"`` every
    column shows the whole signal (a median beat, as carts print it) and there is no rhythm strip.
    Any other set of leads gets one row per lead over the whole duration. ``ecg`` is in mV: paper
    taller than ``MAX_PAPER_INCHES`` (a signal in uV, say) is an ``InputError`` that gives the
    gain that fits (:func:`paper_gain`); ECG machines offer 5 and 20 mm/mV beside the standard 10.
    Paper wider than ``MAX_PAPER_INCHES`` (leads laid out over more than ``MAX_PAPER_SECONDS``,
    about 100 s) is an ``InputError`` too: draw a part. The standard layout draws the first 10 s.

    Parameters
    ----------
    ecg
        ``(leads, samples)`` in mV (one lead ``(samples,)`` too).
    fs
        Sampling rate in Hz.
    relevance
        A map of ``ecg``'s shape, drawn as colour along each trace (None: black traces).
    leads
        One name per lead (default ``lead0``, ``lead1``...); the twelve standard names in any
        order give the standard layout.
    title
        The figure's title.
    gain
        mm per mV (> 0).
    layout
        ``'rhythm'`` (the standard 12-lead sheet with a lead II rhythm strip) or ``'beat'``
        (every column the whole signal: a median beat).

    Returns
    -------
    matplotlib.figure.Figure
        The sheet.
    """
    ecg = np.atleast_2d(as_signal(ecg))
    if ecg.ndim != 2:
        raise InputError(f"ecg must be (leads, samples) or (samples,), got shape {ecg.shape}")
    fs = check_fs(fs)
    gain = check_number(gain, "gain", above=0, unit="of mm per mV")
    check_text(title, "title")
    names = as_lead_names(leads, default_lead_names(len(ecg)))
    check_count(names, len(ecg), "leads", "leads of ecg")
    if relevance is not None:
        relevance = as_relevance(np.atleast_2d(np.asarray(host_values(relevance))), ecg.shape)
    norm = symmetric_norm(relevance) if relevance is not None else None
    rows, width, ranges = _layout(ecg, fs, names, check_choice(layout, "layout", LAYOUTS))
    if width > MAX_PAPER_SECONDS:
        raise InputError(
            f"ecg lasts {ecg.shape[1] / fs:.4g} s ({ecg.shape[1]} samples at fs={fs:g} Hz): at 25 mm/s "
            f"its layout ({layout}) needs {25 * width / 25.4:.0f} inches of ECG paper across "
            f"(at most {MAX_PAPER_INCHES:g}, {MAX_PAPER_SECONDS:.1f} s); "
            "draw a part (ecg[:, a:b]), or check fs"
        )
    heights_mm = [gain * (high - low) for low, high in ranges]
    inches = _paper_inches(ranges, gain)
    if inches > MAX_PAPER_INCHES:
        raise InputError(
            f"ecg spans {ecg.min():.4g} to {ecg.max():.4g}: at {gain:g} mm/mV its leads need "
            f"{inches:.0f} inches of ECG paper (at most {MAX_PAPER_INCHES:g}); pass the "
            f"signal in mV (uV / 1000) or gain={paper_gain(ecg, fs, names, layout):g}"
        )
    fig, axes = plt.subplots(
        len(rows),
        1,
        squeeze=False,
        gridspec_kw={"height_ratios": heights_mm},
        figsize=(25 * width / 25.4 + 1.6, inches + 0.8),
    )
    line = None
    for ax, row, (low, high) in zip(axes[:, 0], rows, ranges, strict=True):
        for name, start, stop, where in row:
            lead = names.index(name)
            a, b = round(start * fs), min(ecg.shape[1], round(stop * fs))
            t = where + np.arange(b - a) / fs
            y = ecg[lead, a:b]
            if relevance is None:
                ax.plot(t, y, color="black", lw=0.9)
            else:
                assert norm is not None
                line = coloured_trace(ax, t, y, relevance[lead, a:b], norm, width=1.4)
            ax.text(where + 0.05, high - 3.5 / gain, name, fontsize=9, fontweight="bold")
        _paper(ax, width, low, high, gain)
        ax.set_xlim(0, width)
        ax.set_ylim(low, high)
        ax.set_aspect(gain / 25, adjustable="box")  # 1 s = 25 mm, 1 mV = gain mm
        ax.set_xticks([])
        ax.set_yticks([])
    if line is not None:
        fig.colorbar(line, ax=axes[:, 0].tolist(), label="relevance", pad=0.01, fraction=0.02)
    scale = f"25 mm/s, {gain:g} mm/mV"
    fig.suptitle(f"{title} ({scale})" if title else scale)
    return fig


def plot_beats(
    ecg: np.ndarray,
    fs: float,
    r_peaks: np.ndarray,
    labels: Sequence[str],
    relevance: np.ndarray | None = None,
    title: str = "",
) -> Figure:
    """The strip with each beat marked by its predicted class, and its relevance as colour.

    Parameters
    ----------
    ecg
        One lead ``(samples,)`` in mV.
    fs
        Sampling rate in Hz.
    r_peaks
        The beats' R-peaks (sample indices).
    labels
        One class name per R-peak: each class a coloured marker above its beats, in a legend
        with its count.
    relevance
        A map of ``ecg``'s shape (e.g. :func:`~signxai.ecg.relevance.windows_to_strip` of the
        beats' maps), or None.
    title
        The axes' title.

    Returns
    -------
    matplotlib.figure.Figure
        The strip (as :func:`plot_strip` draws it) with the beats' markers and their legend.
    """
    ecg = _one_lead(ecg, "plot_beats")
    r_peaks = as_peaks(r_peaks, len(ecg))
    if labels is None:
        raise InputError(f"labels must be a list of one class name per R-peak ({len(r_peaks)}), got None")
    check_count(labels, len(r_peaks), "labels", "r_peaks")
    fig = plot_strip(ecg, fs, relevance, title=title)
    fig.set_size_inches(fig.get_size_inches()[0], 3.6)
    ax = fig.axes[0]
    classes = sorted(set(labels))
    colours = plt.get_cmap("tab10")
    top = ecg.max() + 0.05 * (np.ptp(ecg) or 1.0)
    for k, name in enumerate(classes):
        idx = [i for i, label in enumerate(labels) if label == name]
        ax.scatter(
            np.asarray(r_peaks)[idx] / fs,
            np.full(len(idx), top),
            marker="v",
            s=30,
            color=colours(k % 10),
            label=f"{name} ({len(idx)})",
            zorder=5,
        )
    ax.set_ylim(ax.get_ylim()[0], top + 0.1 * (np.ptp(ecg) or 1.0))
    ax.legend(loc="upper right", fontsize=8, ncol=max(1, len(classes)))
    return fig


def plot_spectrum(
    result: SpectralRelevance,
    sample: int = 0,
    channel: int = 0,
    title: str = "",
    ax: plt.Axes | None = None,
) -> Figure:
    """Relevance per frequency bin of one sample's channel (bars: red positive, blue negative),
    with the signal's amplitude spectrum on a second axis (grey line).

    Parameters
    ----------
    result
        What :func:`signxai.explain_spectrum` returned.
    sample, channel
        Which sample and channel (lead) to draw, where ``result`` has those axes
        (``result.axes``).
    """
    if not isinstance(result, SpectralRelevance):
        raise InputError(f"result must be what signxai.explain_spectrum returns, got {type(result).__name__}")
    check_text(title, "title")
    if ax is not None and not isinstance(ax, plt.Axes):
        raise InputError(f"ax must be a matplotlib Axes (or None), got {type(ax).__name__}")
    relevance = _pick(result.relevance, result.axes, sample, channel)
    amplitude = _pick(result.amplitude, result.axes, sample, channel)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 3))
    else:
        fig = cast(Figure, ax.figure)
    f = result.frequencies
    width = float(f[1] - f[0]) if len(f) > 1 else 1.0
    ax.bar(f, relevance, width=0.9 * width, color=np.where(relevance >= 0, "#d62728", "#1f77b4"))
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("frequency (Hz)" if result.fs is not None else "frequency (cycles per sample)")
    ax.set_ylabel(f"relevance ({result.method})")
    ax.set_xlim(f[0] - width, f[-1] + width)
    twin = ax.twinx()
    twin.plot(f, amplitude, color="grey", lw=1)
    twin.set_ylabel("amplitude")
    twin.set_ylim(bottom=0)
    ax.set_title(title)
    return fig


def plot_spectrogram(
    result: SpectrogramRelevance,
    sample: int = 0,
    channel: int = 0,
    ecg: np.ndarray | None = None,
    title: str = "",
) -> Figure:
    """Relevance per frequency and frame of one sample's channel (red positive, blue negative,
    symmetric scale), under the signal itself where ``ecg`` is given.

    Parameters
    ----------
    result
        What :func:`signxai.explain_spectrogram` returned.
    sample, channel
        Which sample and channel (lead) to draw, where ``result`` has those axes
        (``result.axes``).
    ecg
        The drawn sample's channel as ``(samples,)`` (``result.length`` of them), or None.
    """
    if not isinstance(result, SpectrogramRelevance):
        raise InputError(
            f"result must be what signxai.explain_spectrogram returns, got {type(result).__name__}"
        )
    check_text(title, "title")
    relevance = _pick(result.relevance, result.axes, sample, channel)
    unit = 1.0 / result.fs if result.fs is not None else 1.0
    if ecg is not None:
        ecg = _one_lead(ecg, "plot_spectrogram")
        if len(ecg) != result.length:
            raise InputError(f"ecg must have the {result.length} samples that were explained, got {len(ecg)}")
        fig, (top, ax) = plt.subplots(2, 1, figsize=(10, 5), sharex=True, height_ratios=(1, 2))
        top.plot(np.arange(len(ecg)) * unit, ecg, color="black", lw=0.8)
        top.set_ylabel("signal")
        top.set_title(title)
    else:
        fig, ax = plt.subplots(figsize=(10, 3.5))
        ax.set_title(title)
    step = result.hop * unit
    f = result.frequencies
    half = (f[1] - f[0]) / 2
    image = ax.imshow(
        relevance,
        origin="lower",
        aspect="auto",
        cmap=RELEVANCE_CMAP,
        norm=symmetric_norm(relevance),
        extent=(result.times[0] - step / 2, result.times[-1] + step / 2, f[0] - half, f[-1] + half),
        interpolation="nearest",
    )
    fig.colorbar(image, ax=ax, label=f"relevance ({result.method})", pad=0.01)
    ax.set_xlabel("time (s)" if result.fs is not None else "time (samples)")
    ax.set_ylabel("frequency (Hz)" if result.fs is not None else "frequency (cycles per sample)")
    return fig


def _pick(values: np.ndarray, axes: tuple[str, ...], sample: int, channel: int) -> np.ndarray:
    """``values`` at ``sample`` and ``channel`` where its leading ``axes`` have them."""
    for name in axes:
        if name not in ("sample", "channel"):
            break
        index, size = {"sample": sample, "channel": channel}[name], values.shape[0]
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -size <= index < size:
            raise InputError(f"{name} must be an int in [0, {size}), got {index!r}")
        values = values[index]
    return values
