"""Explain the beats of a strip: detect, classify, explain a selection, attribute to waves.

Pure computation (no files, no printing): the CLI and the report build on :func:`analyze_strip`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from signxai.api import explain
from signxai.checks import check_module, check_names, check_seed, check_whole
from signxai.ecg.beats import BeatWindows, as_beat_codes, classify, ecg5000_windows
from signxai.ecg.checks import (
    as_lead_names,
    as_peaks,
    check_count,
    default_lead_names,
)
from signxai.ecg.datasets import Recording, as_recording
from signxai.ecg.intervals import intervals
from signxai.ecg.models import samples_seen
from signxai.ecg.preprocess import detect_r_peaks, remove_baseline
from signxai.ecg.quality import beat_failures_at, describe_quality, poor_leads, signal_quality
from signxai.ecg.scoring import PeakMatch, match_peaks
from signxai.ecg.waves import check_delineation_fs, delineate, window_wave_relevance
from signxai.errors import InputError, warn_user
from signxai.evaluate.deletion import DeletionCurve, deletion_curve, random_relevance
from signxai.evaluate.frequency import spectral_deletion_curve
from signxai.methods import describe_method
from signxai.model import evaluated, input_placement
from signxai.spectral import SpectralRelevance, explain_spectrum, spectral_spec, sum_bands
from signxai.targets import Contrast, against_predicted, as_int, check_versus_word, rows_of
from signxai.timing import warm_up_autograd

#: Bands of harmonics of a beat window (k cycles per window), ``[low, high)``: the slow waves and a
#: wide complex (0-2), the T and P waves (3-5), a narrow QRS complex (6-20), above.
HARMONIC_BANDS = {
    "0-2": (0.0, 2.5),
    "3-5": (2.5, 5.5),
    "6-10": (5.5, 10.5),
    "11-20": (10.5, 20.5),
    "21+": (20.5, np.inf),
}

#: Frequency bands of the ECG in Hz, ``[low, high)``: baseline wander, the P and T waves, the QRS
#: complex, and above (muscle noise, powerline interference), which ECG filters usually remove.
ECG_BANDS = {
    "<0.5 Hz (baseline)": (0.0, 0.5),
    "0.5-10 Hz (P, T)": (0.5, 10.0),
    "10-40 Hz (QRS)": (10.0, 40.0),
    ">40 Hz (noise, mains)": (40.0, np.inf),
}

#: Harmonics removed per step of the strip's deletion curves in frequency (15 steps for a
#: 140-sample beat window's 71 bins).
SPECTRAL_BINS_PER_STEP = 5

DEFAULT_METHODS = (
    "gradient",
    "gradient_x_input",
    "grad_cam",
    "lrp_epsilon_0_5",
    "lrpsign_epsilon_0_5",
    "lrp_alpha_1_beta_0",
    "integrated_gradients",
    "smoothgrad",
)


@dataclass
class StripAnalysis:
    """Everything :func:`analyze_strip` found, per beat and per method."""

    recording: Recording
    clean: np.ndarray
    windows: BeatWindows
    probabilities: np.ndarray
    labels: list[str]
    explained: np.ndarray
    relevance: dict[str, np.ndarray]
    waves: pd.DataFrame
    wave_table: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)
    #: MoRF deletion curves of the explained beats per method (and a random map), zero infill.
    faithfulness: dict[str, dict[str, DeletionCurve]] = field(default_factory=dict)
    #: Which samples of a beat window can change the model's output (:func:`samples_seen`).
    seen: np.ndarray | None = None
    #: The row of ``recording`` that was analysed.
    lead: int = 0
    #: Every beat's relevance per harmonic of its window, for its predicted class (with
    #: ``spectral_method``; else None).
    spectrum: SpectralRelevance | None = None
    #: With ``spectrum``: the deletion curves in frequency of every beat (bands of
    #: :data:`SPECTRAL_BINS_PER_STEP` harmonics removed, ideal band stops), ranked by ``spectrum``
    #: and by a random map (``'random'``), per order (``'morf'``, ``'lerf'``).
    spectral_faithfulness: dict[str, dict[str, DeletionCurve]] = field(default_factory=dict)
    #: With ``versus``: per beat, the class its maps are explained against (every map, curve and
    #: spectrum explains the margin of the predicted class over it); else None.
    versus: np.ndarray | None = None
    #: The class names the analysis was given (``classes``), by output index.
    classes: tuple[str, ...] = ()
    #: Whether the R-peaks were given (``analyze_strip(r_peaks=...)``) rather than detected.
    peaks_given: bool = False
    #: With ``beat_symbols``: each beat's reference WFDB code (that of the R-peak it starts at).
    reference: list[str] | None = None
    #: With ``r_peaks``: :func:`~signxai.ecg.preprocess.detect_r_peaks` on the same
    #: baseline-removed lead scored against the peaks given (:func:`~signxai.ecg.scoring.match_peaks`,
    #: 150 ms): how far the default detection would have been from them.
    detection: PeakMatch | None = None
    #: The analysed lead judged 10 s at a time with the beats' R-peaks
    #: (:func:`~signxai.ecg.quality.signal_quality`, Orphanidou et al. 2015's rules).
    quality: pd.DataFrame | None = None

    @property
    def lead_name(self) -> str:
        """The analysed lead's name (``lead0``, ``lead1``... where the recording names none)."""
        return self.recording.lead_name(self.lead)

    def against(self, beat: int) -> str:
        """`` against <class>`` for a beat explained against another class (``versus``), else ''."""
        if self.versus is None:
            return ""
        return f" against {self.classes[int(self.versus[beat])]}"

    @property
    def predicted(self) -> np.ndarray:
        """Predicted class index per beat."""
        return self.probabilities.argmax(axis=1)

    def interval_table(self) -> pd.DataFrame:
        """Each classified beat's intervals on the analysed lead, with its call.

        Returns
        -------
        pandas.DataFrame
            The columns of :func:`~signxai.ecg.intervals.intervals` (from :attr:`waves`), one row
            per classified beat in order (``beat`` as in :attr:`labels`), with ``label`` (the
            call) and, with reference codes, ``reference``.
        """
        table = intervals(self.waves, self.recording.fs)
        rows = np.searchsorted(self.waves["r_peak"].to_numpy(), self.windows.r_peaks)
        table = table.iloc[rows].reset_index(drop=True)
        table["beat"] = np.arange(len(table))
        table.insert(1, "label", self.labels)
        if self.reference is not None:
            table.insert(2, "reference", self.reference)
        return table

    def correlations(self) -> pd.DataFrame:
        """Mean Pearson correlation between methods' maps over the explained beats."""
        names = list(self.relevance)
        matrix = np.ones((len(names), len(names)))
        for i, a in enumerate(names):
            for j, b in enumerate(names[:i]):
                values = [
                    np.corrcoef(x.ravel(), y.ravel())[0, 1]
                    for x, y in zip(self.relevance[a], self.relevance[b], strict=True)
                    if x.std() > 0 and y.std() > 0
                ]
                matrix[i, j] = matrix[j, i] = float(np.mean(values)) if values else np.nan
        return pd.DataFrame(matrix, index=names, columns=names)


def select_beats(
    predicted: np.ndarray,
    max_abnormal: int,
    max_normal: int,
    seed: int = 0,
    trusted: np.ndarray | Sequence[bool] | None = None,
) -> np.ndarray:
    """Indices of up to ``max_abnormal`` beats not of class 0 and ``max_normal`` of class 0.

    Abnormal beats are taken spread over the strip (evenly spaced among them), normal beats at
    random with ``seed``; the result is sorted in time. With ``trusted`` (one flag per beat, e.g.
    False where the beat's 10 s window fails the signal-quality rules on the beats themselves), a
    chosen beat that is not trusted is replaced by the nearest trusted beat of its predicted class
    not chosen yet (nearest in beat order, the earlier on a tie); where there is none it stays.

    Parameters
    ----------
    predicted
        Each beat's predicted class index (0: normal).
    max_abnormal, max_normal
        How many beats of each kind to choose at most (>= 0).
    seed
        Seed of the normal beats' draw.
    trusted
        One flag per beat, or None (every beat trusted).

    Returns
    -------
    numpy.ndarray
        The chosen beats' indices, ascending.
    """
    predicted = np.asarray(predicted)
    if predicted.ndim != 1 or not (np.issubdtype(predicted.dtype, np.integer) or predicted.size == 0):
        raise InputError(
            "predicted must be one class index per beat (a 1-D array of whole numbers, e.g. "
            f"probabilities.argmax(axis=1)), got {predicted.dtype} of shape {predicted.shape}"
        )
    max_abnormal = check_whole(max_abnormal, "max_abnormal", at_least=0)
    max_normal = check_whole(max_normal, "max_normal", at_least=0)
    seed = check_seed(seed)
    flags = None if trusted is None else np.asarray(trusted)
    if flags is not None and (flags.dtype != bool or flags.shape != predicted.shape):
        raise InputError(
            f"trusted must be one True/False per beat ({len(predicted)} booleans) or None, got "
            f"{flags.dtype} of shape {flags.shape}"
        )
    abnormal = np.flatnonzero(predicted != 0)
    normal = np.flatnonzero(predicted == 0)
    if len(abnormal) > max_abnormal:
        abnormal = abnormal[np.linspace(0, len(abnormal) - 1, max_abnormal).round().astype(int)]
    rng = np.random.default_rng(seed)
    normal = rng.choice(normal, size=min(max_normal, len(normal)), replace=False) if len(normal) else normal
    chosen = np.sort(np.concatenate([abnormal, normal]).astype(np.int64))
    return chosen if flags is None else _trusted_instead(chosen, predicted, flags)


def _trusted_instead(chosen: np.ndarray, predicted: np.ndarray, trusted: np.ndarray) -> np.ndarray:
    """``chosen`` with each beat that is not ``trusted`` replaced by the nearest trusted beat of
    its predicted class not chosen yet (kept where there is none); sorted."""
    taken = set(chosen.tolist())
    result = []
    for beat in chosen.tolist():
        if not trusted[beat]:
            candidates = np.flatnonzero(trusted & (predicted == predicted[beat]))
            candidates = candidates[[c not in taken for c in candidates.tolist()]]
            if len(candidates):
                nearest = int(candidates[np.argmin(np.abs(candidates - beat))])  # the earlier on a tie
                taken.discard(beat)
                taken.add(nearest)
                beat = nearest
        result.append(beat)
    return np.sort(np.asarray(result, dtype=np.int64))


#: Beats per ``explain_spectrum`` call when every beat of a strip is explained per harmonic: one
#: call for all 6023 beats of an hour took 1.1 GB (a day's Holter would take tens of GB).
SPECTRUM_BEATS = 512


def _spectrum_of_every_beat(
    model: nn.Module, beats: np.ndarray, method: str, target: Any, seeded: dict[str, Any]
) -> SpectralRelevance:
    """``explain_spectrum`` of every beat, in parts of :data:`SPECTRUM_BEATS` beats (a seeded
    method draws per beat, so the parts give the maps of one call), joined."""
    parts = []
    for start in range(0, len(beats), SPECTRUM_BEATS):
        rows = slice(start, start + SPECTRUM_BEATS)
        parts.append(explain_spectrum(model, beats[rows], method, rows_of(target, rows), **seeded))
    return SpectralRelevance.concatenate(parts)


def _seeded(method: str, seed: int) -> dict[str, Any]:
    """``{'seed': seed}`` for a method with random draws (SmoothGrad, VarGrad, Gradient SHAP), so
    that a report reproduces; else no keyword."""
    return {"seed": seed} if "seed" in describe_method(method)["parameters"] else {}


def _check_selection(
    recording: Recording,
    methods: Sequence[str],
    lead: int,
    max_abnormal: int,
    max_normal: int,
    spectral_method: str | None,
) -> None:
    """What ``analyze_strip`` is asked to explain: some methods, a lead the strip has, counts of
    beats (whole numbers >= 0, not both 0), a method for the spectrum or None; a sampling rate
    the delineation can work at."""
    check_names(methods, "methods", "method names")
    if spectral_method is not None:
        if not isinstance(spectral_method, str):
            raise InputError(f"spectral_method must be a method name or None, got {spectral_method!r}")
        spectral_spec(spectral_method)
    recording = as_recording(recording)
    leads = recording.signal.shape[0]
    check_delineation_fs(recording.fs, "the recording's fs")
    if isinstance(lead, bool) or not isinstance(lead, int | np.integer) or not 0 <= lead < leads:
        raise InputError(f"lead must be a lead index from 0 to {leads - 1}, got {lead!r}")
    for name, count in (("max_abnormal", max_abnormal), ("max_normal", max_normal)):
        check_whole(count, name, at_least=0)
    if max_abnormal == max_normal == 0:
        raise InputError("max_abnormal and max_normal are both 0: no beat to explain")


def analyze_strip(
    recording: Recording,
    model: nn.Module,
    classes: Sequence[str],
    methods: Sequence[str] = DEFAULT_METHODS,
    lead: int = 0,
    max_abnormal: int = 6,
    max_normal: int = 3,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    spectral_method: str | None = None,
    versus: int | str | None = None,
    r_peaks: np.ndarray | Sequence[int] | None = None,
    beat_symbols: Sequence[str] | None = None,
) -> StripAnalysis:
    """Detect beats on one lead, classify all of them, explain a selection with every method.

    Parameters
    ----------
    recording
        The strip; ``lead`` selects the lead used.
    model
        A beat classifier for :func:`signxai.ecg.beats.ecg5000_windows` beats.
    classes
        Class names of the model's outputs (a single-output model: normal, abnormal).
    methods
        Method names for ``explain``; each explains the beat's predicted class.
    progress
        Called with a short message after each step (the CLI draws a progress bar from it).
    spectral_method
        A method for :func:`signxai.explain_spectrum` (e.g. ``'lrpz_epsilon_0_5'``, DFT-LRP):
        every beat's relevance per harmonic of its window, for its predicted class; None: none.
    versus
        Explain each beat's predicted class *against* another (:class:`signxai.Contrast`; models
        with two or more outputs): ``'runner_up'`` (each beat's most likely other class) or a
        class index; beats predicted as that class are explained against their runner-up. The
        maps, deletion curves (which score the margin) and spectrum all explain the margin;
        ``StripAnalysis.versus`` holds each beat's other class. None (default): the predicted
        class alone.
    r_peaks
        The beats' R-peaks as sample indices of ``recording`` (a reference annotation:
        :func:`signxai.ecg.io.read_beat_annotations`, another detector's): the beats are cut
        between them. None (default): :func:`~signxai.ecg.preprocess.detect_r_peaks` on the
        baseline-removed lead (which may miss beats next to an abrupt drop in amplitude).
    beat_symbols
        With ``r_peaks``: each peak's WFDB beat code (``read_beat_annotations(...).symbols``; N,
        V, A, ...). Each beat then carries its reference code (``StripAnalysis.reference``), and
        the report tabulates the model's calls against the codes' AAMI classes, with the
        agreement on the first class (normal) against AAMI N; the wave table gets a column
        ``reference``. Given R-peaks are also the reference against which the default detector
        is scored (``StripAnalysis.detection``; the report's section on R-peaks).
    """
    _check_selection(recording, methods, lead, max_abnormal, max_normal, spectral_method)
    if isinstance(versus, str):  # before any work; a class index is checked against the model
        check_versus_word(versus, "versus", "a class index")
    classes = check_names(classes, "classes", "class names")
    check_module(model)
    if progress is not None and not callable(progress):
        raise InputError(f"progress must be a function of one message (or None), got {progress!r}")
    note = progress or (lambda message: None)
    given = None if r_peaks is None else as_peaks(r_peaks, recording.signal.shape[-1])
    symbols = _check_symbols(beat_symbols, given)
    clean = remove_baseline(recording.signal[lead], recording.fs)
    detected = detect_r_peaks(clean, recording.fs)
    peaks = detected if given is None else given
    windows = ecg5000_windows(clean, peaks, recording.fs)
    quality = signal_quality(recording.signal[lead], recording.fs, peaks, [recording.lead_name(lead)])
    _warn_of_quality(quality)
    note(f"{len(windows.beats)} beats")
    probabilities = classify(model, windows.beats)
    predicted = probabilities.argmax(axis=1)
    check_count(classes, probabilities.shape[1], "classes", "classes the model tells apart")
    labels = [classes[k] for k in predicted]
    # beats in windows whose beats are unlike each other (noise, artefact) are not explained where
    # another beat of their class can be
    trusted = np.array([not f for f in beat_failures_at(quality, windows.r_peaks / recording.fs)], dtype=bool)
    explained = select_beats(predicted, max_abnormal, max_normal, seed, trusted)
    beats = windows.beats[explained]
    others = None if versus is None else _other_classes(model, windows.beats, probabilities, versus)
    # a single-output binary model takes target 0 (explains -z) or 1 (z), like the class index
    target: Any = predicted[explained].tolist()
    every: Any = predicted.tolist()  # the spectrum's beats: all of them
    if others is not None:
        target = Contrast(target, others[explained].tolist())
        every = Contrast(every, others.tolist())
    relevance: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    warm_up_autograd()  # torch's first gradient imports modules: not the first method's time
    for method in methods:
        start = time.perf_counter()
        result = explain(model, beats, method, target_class=target, **_seeded(method, seed))
        relevance[method] = result if not isinstance(result, tuple) else result[0]
        seconds[method] = time.perf_counter() - start
        note(method)
    faithfulness = {}
    for method, values in {**relevance, "random": random_relevance(beats, seed)}.items():
        faithfulness[method] = {
            order: deletion_curve(model, beats, values, target, window=10, order=order)
            for order in ("morf", "lerf")
        }
    spectrum = None
    spectral_faithfulness = {}
    if spectral_method is not None:
        seeded = _seeded(spectral_method, seed)
        spectrum = _spectrum_of_every_beat(model, windows.beats, spectral_method, every, seeded)
        rankings = {spectral_method: spectrum.relevance, "random": random_relevance(spectrum.relevance, seed)}
        spectral_faithfulness = {
            method: {
                order: spectral_deletion_curve(
                    model, windows.beats, values, every, bins=SPECTRAL_BINS_PER_STEP, order=order
                )
                for order in ("morf", "lerf")
            }
            for method, values in rankings.items()
        }
        note(spectral_method)
    waves = delineate(clean, peaks, recording.fs)
    # each beat's reference code: that of the R-peak it starts at
    reference = (
        None
        if symbols is None or given is None
        else [symbols[i] for i in np.searchsorted(given, windows.r_peaks)]
    )
    tables = []
    for method, values in relevance.items():
        table = window_wave_relevance(
            values,
            windows.starts[explained],
            windows.stops[explained],
            waves,
            labels=[labels[i] for i in explained],
            leads=[recording.lead_name(lead)],
        )
        table.insert(0, "method", method)
        table["beat"] = explained[table["window"].to_numpy()]
        if reference is not None:
            table["reference"] = [reference[beat] for beat in table["beat"]]
        tables.append(table)
    return StripAnalysis(
        recording=recording,
        clean=clean,
        windows=windows,
        probabilities=probabilities,
        labels=labels,
        explained=explained,
        relevance=relevance,
        waves=waves,
        wave_table=pd.concat(tables, ignore_index=True),
        seconds=seconds,
        faithfulness=faithfulness,
        seen=samples_seen(model, windows.beats.shape[2], windows.beats.shape[1]),
        lead=int(lead),
        spectrum=spectrum,
        spectral_faithfulness=spectral_faithfulness,
        versus=others,
        classes=tuple(classes),
        peaks_given=given is not None,
        reference=reference,
        detection=None if given is None else match_peaks(detected, given, recording.fs),
        quality=quality,
    )


def _warn_of_quality(quality: pd.DataFrame) -> None:
    """Warn where fewer than half of the lead's windows meet the signal-quality rules on the beats
    themselves (:func:`~signxai.ecg.quality.poor_leads`): the beats found there may be noise, and
    their calls and maps mean little."""
    if poor_leads(quality):
        warn_user(
            f"{describe_quality(quality)}: beats found in noise or in a lead that is off are not "
            "beats, and their calls and explanations mean little (StripAnalysis.quality; the "
            "report's section 'Signal quality')"
        )


def _check_symbols(symbols: Sequence[str] | None, peaks: np.ndarray | None) -> list[str] | None:
    """``beat_symbols``: None, or one WFDB beat code per R-peak given."""
    if symbols is None:
        return None
    if peaks is None:
        raise InputError("beat_symbols needs r_peaks: the codes of the R-peaks given, one each")
    if isinstance(symbols, str) or not isinstance(symbols, Sequence | np.ndarray):
        raise InputError(f"beat_symbols must be a list of WFDB beat codes (N, V, A, ...), got {symbols!r}")
    if len(symbols) != len(peaks):
        raise InputError(f"beat_symbols has {len(symbols)} codes for {len(peaks)} r_peaks; give one per peak")
    return as_beat_codes(symbols, "beat_symbols")


def _other_classes(
    model: nn.Module, beats: np.ndarray, probabilities: np.ndarray, versus: int | str
) -> np.ndarray:
    """Per beat, the class it is explained against: its runner-up (``'runner_up'``), or the class
    ``versus`` (the runner-up for beats predicted as that class)."""
    classes = probabilities.shape[1]
    device, dtype = input_placement(model)
    with evaluated(model), torch.no_grad():  # classify gives a single output two columns
        outputs = model(torch.as_tensor(beats[:1]).to(device=device, dtype=dtype)).shape[-1]
    if outputs == 1:
        raise InputError(
            "versus needs a model with two or more outputs (the 5-class model); a single-output "
            "model's map of 'abnormal' already explains abnormal against normal"
        )
    if not isinstance(versus, str):  # the word was checked before any work
        try:
            versus = as_int(versus)
        except TypeError:
            raise InputError(f"versus must be a class index, 'runner_up' or None, got {versus!r}") from None
        if not 0 <= versus < classes:
            raise InputError(
                f"versus must be a class index from 0 to {classes - 1} or 'runner_up', got {versus}"
            )
    return np.array(against_predicted(torch.from_numpy(probabilities), versus).versus, dtype=np.int64)


def harmonic_shares(
    result: SpectralRelevance,
    labels: Sequence[str],
    bands: dict[str, tuple[float, float]] = HARMONIC_BANDS,
) -> pd.DataFrame:
    """Per label, each band's share of the summed relevance (all leads), and the beat count.

    Parameters
    ----------
    result
        :func:`signxai.explain_spectrum` of beat windows ``(B, C, T)`` (one row per beat).
    labels
        One label per beat (the predicted or the true class).
    bands
        Band name -> ``(low, high)`` in harmonics of the window (k cycles per window).

    Returns
    -------
    pandas.DataFrame
        Rows: labels (first-seen order); columns: ``beats`` and one share per band. A share is
        the band's relevance over the total relevance of that label's beats, signed: shares sum
        to 1 over bands that cover every bin, and a band can exceed 1 where another offsets it.
    """
    _check_spectral(result)
    if result.axes[0] != "sample":
        raise InputError(f"result must be explained beats (B, ...), got axes {result.axes}")
    if labels is None:
        beats = len(result.relevance)
        raise InputError(f"labels must be a list with one label for each of the {beats} beats in result")
    check_count(labels, result.relevance.shape[0], "labels", "beats in result")
    if not all(isinstance(label, str | int | np.integer) for label in labels):
        raise InputError(f"labels must be class names (str) or indices (int), got {list(labels)[:5]!r}")
    unit = (result.fs if result.fs is not None else 1.0) / result.length
    sums = result.bands({name: (low * unit, high * unit) for name, (low, high) in bands.items()})
    per_beat = pd.DataFrame(
        {name: values.reshape(len(values), -1).sum(axis=1) for name, values in sums.items()}
    )
    total = pd.Series(result.relevance.reshape(len(per_beat), -1).sum(axis=1))
    grouped = per_beat.groupby(list(labels), sort=False).sum()
    shares = grouped.div(total.groupby(list(labels), sort=False).sum(), axis=0)
    shares.insert(0, "beats", pd.Series(list(labels)).value_counts()[shares.index].to_numpy())
    return shares


def _check_spectral(result: object) -> None:
    if not isinstance(result, SpectralRelevance):
        raise InputError(f"result must be what signxai.explain_spectrum returns, got {type(result).__name__}")


def lead_band_shares(
    result: SpectralRelevance,
    leads: Sequence[str] | None = None,
    bands: dict[str, tuple[float, float]] = ECG_BANDS,
) -> pd.DataFrame:
    """Per lead and for all leads, each band's share of the relevance summed over the inputs.

    Parameters
    ----------
    result
        :func:`signxai.explain_spectrum` with ``fs`` (frequencies in Hz) of inputs ``(N, C, T)``.
    leads
        One name per channel (None: ``lead0``, ``lead1``...).
    bands
        Band name -> ``(low, high)`` in Hz. Bands that hold no bin at this sampling rate and
        resolution (above the Nyquist frequency, or narrower than the bins' spacing) are left out
        and named in ``attrs['empty']``.

    Returns
    -------
    pandas.DataFrame
        Rows: the leads, then ``'all leads'``; columns: ``relevance`` (the summed relevance) and
        one share per band: the band's relevance over the row's total, signed (shares sum to 1
        over bands that cover every bin; a band can exceed 1 where another offsets it).
    """
    _check_spectral(result)
    if result.fs is None or result.axes != ("sample", "channel", "bin"):
        raise InputError(
            "result must explain inputs (N, C, T) with fs= (bands in Hz); got axes "
            f"{result.axes} and fs={result.fs}"
        )
    names = as_lead_names(leads, default_lead_names(result.relevance.shape[1]))
    check_count(names, result.relevance.shape[1], "leads", "channels in result")
    per_lead = result.relevance.sum(axis=0)  # (C, F)
    sums = sum_bands(per_lead, result.frequencies, result.fs, bands, skip_empty=True)
    rows = [*names, "all leads"]
    frame = pd.DataFrame({"relevance": [*per_lead.sum(axis=1), per_lead.sum()]}, index=rows)
    total = frame["relevance"].to_numpy()
    for name, values in sums.items():
        band = np.append(values, values.sum())
        frame[name] = np.divide(band, total, out=np.full_like(band, np.nan), where=total != 0)
    frame.attrs["empty"] = [name for name in bands if name not in sums]
    return frame
