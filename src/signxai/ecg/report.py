"""The beat report (``signxai demo``, ``signxai beats``): a strip's beats, their explanations,
relevance per wave and per harmonic, method comparison, the calls against a reference annotation."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from signxai.ecg.analysis import SPECTRAL_BINS_PER_STEP, StripAnalysis, harmonic_shares
from signxai.ecg.beats import AAMI_CLASSES
from signxai.ecg.plot import RELEVANCE_CMAP, coloured_trace, plot_beats, symmetric_norm
from signxai.ecg.quality import beat_failures, beat_failures_at, describe_quality, poor_leads
from signxai.ecg.scoring import ECG5000_AAMI, aami_scores
from signxai.ecg.waves import WAVES, plot_wave_relevance, summarize
from signxai.evaluate.deletion import DeletionCurve
from signxai.evaluate.plot import plot_deletion_curves
from signxai.methods import describe_method
from signxai.report import Section, figure_html, paragraph, table_html, write_report

#: Windows that fail the signal-quality rules listed in the report (all of them: quality.csv).
MAX_QUALITY_ROWS = 20
#: The signal-quality columns the report shows, and their headings.
QUALITY_COLUMNS = {
    "start_s": "from (s)",
    "stop_s": "to (s)",
    "beats": "beats",
    "heart_rate_bpm": "rate (bpm)",
    "max_rr_s": "longest RR (s)",
    "rr_ratio": "RR ratio",
    "template_correlation": "correlation",
    "kurtosis": "kurtosis",
    "reasons": "rules failed",
}

#: Rows of the strip drawn whole (30 s each: the demo's five minutes); a longer recording gets the
#: rows that hold an explained beat (a day's Holter would be 2880 figures).
MAX_STRIP_ROWS = 10


def _strip_rows(analysis: StripAnalysis, seconds_per_row: float = 30.0) -> list[str]:
    """The strip in rows of ``seconds_per_row``, each beat marked with its call; beyond
    :data:`MAX_STRIP_ROWS` rows only those with an explained beat, and a line saying so."""
    fs = analysis.recording.fs
    clean = analysis.clean
    figures = []
    shaded = 0
    peaks = analysis.windows.r_peaks
    starts = np.arange(0, len(clean) / fs, seconds_per_row)
    if len(starts) > MAX_STRIP_ROWS:
        holding = np.unique(peaks[analysis.explained] // round(seconds_per_row * fs))
        figures.append(
            paragraph(
                f"The recording has {len(starts)} rows of {seconds_per_row:g} s; the {len(holding)} "
                f"that hold an explained beat are drawn. Every beat's call is in relevance.npz "
                "(all_r_peaks, all_predicted, all_probabilities).",
                note=True,
            )
        )
        starts = starts[holding]
    for row_start in starts:
        a, b = round(row_start * fs), min(len(clean), round((row_start + seconds_per_row) * fs))
        inside = (peaks >= a) & (peaks < b)
        labels = [analysis.labels[i] for i in np.flatnonzero(inside)]
        fig = plot_beats(
            clean[a:b],
            fs,
            peaks[inside] - a,
            labels,
            title=f"{row_start:.0f}-{row_start + seconds_per_row:.0f} s",
        )
        fig.set_size_inches(16, 2.6)
        shaded += _shade_untrusted(fig.axes[0], analysis.quality, row_start, (b - a) / fs)
        figures.append(figure_html(fig, dpi=60))
    if shaded:
        figures.insert(
            0,
            paragraph(
                "Grey: 10 s windows whose beats fail the signal-quality rules on the beats themselves "
                "(section 'Signal quality'): the beats found there may be noise, and no beat there is "
                "explained where another beat of its class can be.",
                note=True,
            ),
        )
    return figures


def _shade_untrusted(ax: plt.Axes, quality: pd.DataFrame | None, row_start: float, seconds: float) -> int:
    """Shade (grey, behind the trace) the parts of a strip row from ``row_start`` lasting
    ``seconds`` (its time axis from 0) that lie in a window failing a rule on the beats
    themselves; return how many were shaded."""
    if quality is None:
        return 0
    count = 0
    for row in quality.itertuples():
        lo, hi = max(row.start_s, row_start), min(row.stop_s, row_start + seconds)
        if hi > lo and beat_failures(row.reasons):
            ax.axvspan(lo - row_start, hi - row_start, color="0.85", zorder=0, linewidth=0)
            count += 1
    return count


def _beat_rows(analysis: StripAnalysis, position: int) -> str:
    """One table row per method: the beat (the model's input) coloured by that method's map."""
    beat_index = int(analysis.explained[position])
    beat = analysis.windows.beats[beat_index, 0]
    t = np.arange(len(beat))
    rows = []
    for method, maps in analysis.relevance.items():
        values = maps[position, 0]
        fig, ax = plt.subplots(figsize=(6.5, 0.95))
        line = coloured_trace(ax, t, beat, values, symmetric_norm(values), width=1.8)
        ax.set_xlim(0, len(beat) - 1)
        ax.set_ylim(beat.min() - 0.3, beat.max() + 0.3)
        ax.set_yticks([])
        ax.tick_params(labelsize=6)
        fig.colorbar(line, ax=ax, pad=0.01, fraction=0.03).ax.tick_params(labelsize=6)
        image = figure_html(fig, dpi=60, alt=f"{method} relevance, beat {beat_index}")
        rows.append(f"<tr><th>{html.escape(method)}</th><td>{image}</td></tr>")
    probability = analysis.probabilities[beat_index].max()
    time_s = analysis.windows.r_peaks[beat_index] / analysis.recording.fs
    caption = (
        f"Beat {beat_index} at {time_s:.2f} s: predicted {analysis.labels[beat_index]} "
        f"(p = {probability:.2f}), explained{analysis.against(beat_index) or ' for that class'}. "
        f"Colour = relevance ({RELEVANCE_CMAP}: red supports the predicted class"
        f"{' over the other' if analysis.versus is not None else ''}, blue speaks against it); "
        "x = sample of the 140-sample model input."
    ) + _window_quality(analysis, time_s)
    return f"<h3>{html.escape(caption)}</h3><table>{''.join(rows)}</table>"


def _window_quality(analysis: StripAnalysis, time_s: float) -> str:
    """' Its 10 s window fails the signal-quality rules (...).' for a beat at ``time_s`` whose
    window fails a rule on the beats themselves (:data:`~signxai.ecg.quality.BEAT_RULES`, as
    :func:`~signxai.ecg.quality.poor_leads` counts), else ''."""
    if analysis.quality is None:
        return ""
    reasons = beat_failures_at(analysis.quality, [time_s])[0]
    return f" Its 10 s window fails the signal-quality rules ({'; '.join(reasons)})." if reasons else ""


def _comparison(analysis: StripAnalysis) -> str:
    correlations = analysis.correlations()
    fig, ax = plt.subplots(figsize=(6, 5))
    image = ax.imshow(correlations.to_numpy(), vmin=-1, vmax=1, cmap="coolwarm")
    ax.set_xticks(range(len(correlations)), correlations.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(correlations)), correlations.index, fontsize=8)
    fig.colorbar(image, ax=ax, label="mean Pearson correlation")
    fig.tight_layout()
    timing = pd.DataFrame({"seconds": analysis.seconds}).T
    return (
        paragraph("Mean Pearson correlation between the methods' maps over the explained beats.")
        + figure_html(fig, "correlation between methods")
        + table_html(correlations)
        + paragraph("Time to explain the selected beats, per method (s):")
        + table_html(timing)
        + "<h3>Faithfulness</h3>"
        + paragraph(
            "Deletion curves on the explained beats: windows of 10 samples are set to 0 (the "
            "z-normalised beat's mean) most relevant first (MoRF) or least relevant first (LeRF); "
            "the curve is the explained logit. A faithful map makes the MoRF curve fall faster "
            "than a random map's and the LeRF curve stay flat; AOPC is the mean drop."
        )
        + figure_html(plot_deletion_curves(analysis.faithfulness, "morf"), "MoRF deletion")
        + figure_html(plot_deletion_curves(analysis.faithfulness, "lerf"), "LeRF deletion")
        + _aopc_table(analysis.faithfulness)
    )


def _aopc_table(curves: dict[str, dict[str, DeletionCurve]]) -> str:
    """AOPC of the MoRF and LeRF curves per method, and their difference."""
    frame = pd.DataFrame(
        {
            "AOPC MoRF": {m: c["morf"].aopc for m, c in curves.items()},
            "AOPC LeRF": {m: c["lerf"].aopc for m, c in curves.items()},
        }
    )
    frame["MoRF - LeRF"] = frame["AOPC MoRF"] - frame["AOPC LeRF"]
    return table_html(frame)


def _virtual_rule(method: str) -> str:
    """What an LRP input-layer prefix does at the virtual layer, in words (else nothing)."""
    rules = {
        "lrpz_": " with the z-rule (DFT-LRP)",
        "lrpsign_": " with the SIGN rule (SIGN on the coefficients)",
    }
    return next((text for prefix, text in rules.items() if method.startswith(prefix)), "")


def _contrast_words(analysis: StripAnalysis) -> str:
    """What a contrast adds to 'explained for the predicted class' (nothing without one)."""
    if analysis.versus is None:
        return ""
    return (
        " against another class, named in each beat's caption (signxai.Contrast: the margin "
        "z_predicted - z_other; the deletion curves score that margin)"
    )


def _spectrum(analysis: StripAnalysis) -> str:
    """Relevance per harmonic of the beat window: band shares per predicted class, and each
    class's mean relevance per harmonic."""
    result = analysis.spectrum
    assert result is not None
    shares = harmonic_shares(result, analysis.labels)
    fig, ax = plt.subplots(figsize=(8, 3))
    harmonics = np.arange(result.relevance.shape[-1])
    for label in shares.index:
        rows = [i for i, name in enumerate(analysis.labels) if name == label]
        ax.plot(
            harmonics, result.relevance[rows].mean(axis=(0, 1)), marker=".", label=f"{label} ({len(rows)})"
        )
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("harmonic of the beat window (cycles per window)")
    ax.set_ylabel("mean relevance")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return (
        paragraph(
            f"Every beat explained for its predicted class{_contrast_words(analysis)} as a function "
            "of its spectrum "
            f"({html.escape(result.method)}: {describe_method(result.method)['definition']}; "
            f"the inverse DFT in front of the model as a virtual layer{_virtual_rule(result.method)}, "
            "see the README's 'Relevance per frequency'). A beat "
            f"window is {result.length} samples, so bin k is its k-th harmonic. Share of each "
            "class's summed relevance per band of harmonics (signed: a band above 1 is offset by "
            "negative ones); a wide complex lies at low harmonics, a narrow QRS at 6-20."
        )
        + table_html(shares, float_format="{:.2f}")
        + figure_html(fig, "mean relevance per harmonic and predicted class")
        + paragraph(
            "Is it faithful? Every beat's harmonics removed in bands of "
            f"{SPECTRAL_BINS_PER_STEP} (an ideal band stop: their DFT coefficients set to zero) in "
            "the order of this relevance, most relevant first (MoRF) or least relevant first "
            "(LeRF), and in a random order; AOPC is the mean drop of the explained logit "
            "(signxai.evaluate.spectral_deletion_curve)."
        )
        + _aopc_table(analysis.spectral_faithfulness)
    )


def _seen(seen: np.ndarray | None) -> str:
    """Which samples of a beat window the model sees, in words."""
    if seen is None:
        return "not measured"
    if seen.all():
        return f"all {len(seen)}"
    indices = np.flatnonzero(seen)
    contiguous = len(indices) > 0 and indices[-1] - indices[0] + 1 == len(indices)
    which = (
        f"{indices[0]}-{indices[-1]} of 0-{len(seen) - 1}" if contiguous else f"{len(indices)} of {len(seen)}"
    )
    return (
        f"{which}: the others never reach the output, so gradient and LRP relevance is zero there "
        "(not seen, not irrelevant)"
    )


def _accuracy(entry: dict[str, Any]) -> str:
    """The test accuracy with its 95 % interval and the balanced accuracy, where the card has them."""
    text = f"{entry['test_accuracy']:.4f}"
    if "test_accuracy_95ci" in entry:
        low, high = entry["test_accuracy_95ci"]
        text += f" (95 % interval {low:.4f}-{high:.4f})"
    if "test_balanced_accuracy" in entry:
        text += f"; balanced (mean recall) {entry['test_balanced_accuracy']:.4f}"
    return text


def _model_card(card: dict[str, Any], task: str, methods: list[str], seen: np.ndarray | None) -> str:
    entry = card["models"][task]
    data = card["data"]
    rows = pd.DataFrame(
        {
            "value": [
                data["name"],
                data["source"],
                data["train"],
                data["test"],
                ", ".join(entry["classes"]),
                entry["recipe"]["name"],
                _accuracy(entry),
                ", ".join(
                    f"{name} {'-' if value is None else f'{value:.3f}'}"
                    for name, value in entry.get("test_recall", {}).items()
                ),
                _seen(seen),
                "; ".join(data["citation"]),
            ]
        },
        index=[
            "data",
            "source",
            "training data",
            "held-out data",
            "classes",
            "recipe",
            "test accuracy",
            "test recall per class",
            "beat samples seen",
            "cite",
        ],
    )
    definitions = pd.DataFrame(
        {"definition": [describe_method(m)["definition"] for m in methods]}, index=methods
    )
    return table_html(rows) + "<h3>Methods</h3>" + table_html(definitions)


def _against_reference(analysis: StripAnalysis) -> str:
    """The model's calls against the reference annotation: counts per AAMI class and call, the
    codes behind each class, and the agreement on normal against the rest."""
    assert analysis.reference is not None
    aami = [AAMI_CLASSES[code] for code in analysis.reference]
    counts = pd.crosstab(pd.Series(aami, name="reference (AAMI)"), pd.Series(analysis.labels, name="model"))
    counts = counts.reindex(
        index=[c for c in "NSVFQ" if c in counts.index],
        columns=[c for c in analysis.classes if c in counts.columns],
    )
    codes = pd.Series(analysis.reference).groupby(aami).value_counts()
    listed = "; ".join(
        f"{group}: " + ", ".join(f"{code} {int(n)}" for code, n in codes[group].items())
        for group in counts.index
    )
    normal = analysis.classes[0] if analysis.classes else "normal"
    agree = sum(
        (group == "N") == (label == normal) for group, label in zip(aami, analysis.labels, strict=True)
    )
    text = paragraph(
        f"Each beat's code in the reference annotation (the code of the R-peak it starts at), by "
        f"AAMI class (N normal, bundle branch block and escape beats; S supraventricular ectopic; "
        f"V ventricular ectopic; F fusion; Q paced and unclassifiable), against the model's call. "
        f"{agree} of {len(aami)} beats ({100 * agree / len(aami):.1f} %) agree on '{normal}' "
        f"(AAMI N) against the rest. Codes per class: {listed}."
    ) + table_html(counts)
    if not set(analysis.classes) <= set(ECG5000_AAMI):
        return text
    scores = aami_scores(analysis.reference, analysis.labels)
    shown = scores.assign(**{key: 100 * scores[key] for key in ("Se", "+P")})
    return (
        text
        + paragraph(
            "Per AAMI class, as ANSI/AAMI EC57 scores beat classifiers, with the model's calls read "
            "as AAMI classes (R-on-T PVC and PVC: V; SVEB: S; unclassified: Q): Se is the share in "
            "% of the class's reference beats called so, +P the share of the calls of the class "
            "that are ('-' where the class has no reference beats or no calls)."
        )
        + table_html(shown, float_format="{:.1f}")
    )


def _quality(analysis: StripAnalysis) -> str:
    """The analysed lead judged by Orphanidou et al. 2015's rules (:func:`quality_html`)."""
    assert analysis.quality is not None
    return quality_html(analysis.quality, "The analysed lead, 10 s at a time, with the beats' R-peaks")


def quality_html(quality: pd.DataFrame, subject: str) -> str:
    """A report's signal-quality section: ``subject`` (what was judged, with which peaks) by
    Orphanidou et al. 2015's four rules, how many windows of each lead pass, the windows that fail
    (the first :data:`MAX_QUALITY_ROWS`) with the rules they fail, and what the rules cannot tell.
    The text names the rules' default limits: ``quality`` is a table of
    :func:`~signxai.ecg.quality.signal_quality` with its defaults."""
    failed = quality.loc[~quality["acceptable"], ["lead", *QUALITY_COLUMNS]].rename(columns=QUALITY_COLUMNS)
    if quality["lead"].nunique() == 1:
        failed = failed.drop(columns="lead")
    text = paragraph(
        f"{subject}, by Orphanidou et al. (2015)'s four rules: a heart rate of 40-180 bpm, no RR "
        "interval over 3 s, the longest RR at most 2.2 times the shortest, and beats alike (each "
        "beat's correlation with the window's mean beat at least 0.66 on average; "
        f"signxai.ecg.quality). {describe_quality(quality)}."
    )
    if len(failed):
        more = len(failed) - MAX_QUALITY_ROWS
        text += table_html(failed.head(MAX_QUALITY_ROWS), float_format="{:.2f}", index=False)
        if more > 0:
            text += paragraph(f"{more} more windows fail (quality.csv holds every window).", note=True)
    return text + paragraph(
        "Noise, a lead that is off and artefacts fail these rules; so can a clean window whose "
        "premature beats and their pauses make the RR ratio large, or whose ectopic beats lower "
        "the correlation. The kurtosis (Zhao and Zhang 2018's kSQI) is above 5 for an ECG's "
        "spiky QRS complexes and 3 for Gaussian noise.",
        note=True,
    )


def _times(samples: np.ndarray, fs: float, most: int = 12) -> str:
    """Sample indices as times in seconds, the first ``most`` of them."""
    shown = ", ".join(f"{t / fs:.1f}" for t in samples[:most])
    return f"{shown}{', ...' if len(samples) > most else ''} s"


def _detection(analysis: StripAnalysis) -> str:
    """The default R-peak detector scored against the peaks given: Se, +P, where it missed and
    where it added beats (with the reference codes of the missed beats where known)."""
    match = analysis.detection
    assert match is not None
    text = (
        "This report's beats are cut at the R-peaks given. Run on the same baseline-removed lead, "
        f"signxai's own detector (detect_r_peaks, what the report uses without given peaks) has "
        f"{match.summary()} (ANSI/AAMI EC57's beat-by-beat match)."
    )
    missed = match.reference[match.missed]
    if len(missed):
        text += f" Missed beats at {_times(missed, match.fs)}"
        if analysis.reference is not None:
            at = {int(r): code for r, code in zip(analysis.windows.r_peaks, analysis.reference, strict=True)}
            codes = pd.Series([at[int(r)] for r in missed if int(r) in at]).value_counts()
            if len(codes):
                text += " (reference codes: " + ", ".join(f"{c} {int(n)}" for c, n in codes.items()) + ")"
        text += "."
    extra = match.detected[match.extra]
    if len(extra):
        text += f" Detections that match no given peak at {_times(extra, match.fs)}."
    return paragraph(text)


def _shares_per_beat(table: pd.DataFrame) -> pd.DataFrame:
    """Share of |relevance| per wave (columns, P QRS T other) for every explained beat and method
    (rows), the mean over leads; a beat with an all-zero map keeps its row, without shares (a
    pivot table drops it)."""
    shares = table.groupby(["method", "beat", "label", "wave"])["share"].mean().unstack("wave")
    return shares.reindex(columns=[w for w in (*WAVES, "other") if w in shares.columns])


#: The intervals the report gives per call (columns of ``StripAnalysis.interval_table``), and
#: their headings.
REPORTED_INTERVALS = {
    "rr_ms": "RR (ms)",
    "qrs_ms": "QRS (ms)",
    "qt_ms": "QT (ms)",
    "qtc_bazett_ms": "QTc Bazett (ms)",
}


def _median_intervals(table: pd.DataFrame, by: str) -> pd.DataFrame:
    groups = table.groupby(by, sort=False)
    medians = groups[list(REPORTED_INTERVALS)].median()
    medians.insert(0, "beats", groups.size())
    return medians.rename(columns=REPORTED_INTERVALS)


def _intervals(analysis: StripAnalysis) -> str:
    table = analysis.interval_table()
    text = paragraph(
        f"Medians over the beats of each call, measured on lead {analysis.lead_name} from the "
        "delineation of the waves above (signxai.ecg.intervals): RR from the previous beat (a "
        "premature beat has a short one; the first beat has none), the QRS duration, the QT "
        "(QRS onset to T end) and the QT corrected by Bazett's formula with the beat's RR."
    ) + table_html(_median_intervals(table, "label"), float_format="{:.0f}")
    if "reference" in table:
        text += "<h3>Per reference code</h3>" + table_html(
            _median_intervals(table, "reference"), float_format="{:.0f}"
        )
    note = (
        "One lead's QRS runs about 10 ms shorter, and the tangent method's QT 10-25 ms shorter, "
        "than a cart's over all leads (README); these are research measurements, not a cart's."
    )
    return text + paragraph(note, note=True)


def strip_report(analysis: StripAnalysis, card: dict[str, Any], task: str, path: Path) -> Path:
    """Write the beat report (``signxai demo``, ``signxai beats``) for one analysed strip."""
    recording = analysis.recording
    counts = pd.Series(analysis.labels).value_counts().rename("beats").to_frame()
    methods = list(analysis.relevance)
    summary = pd.concat(
        {m: summarize(analysis.wave_table[analysis.wave_table.method == m]) for m in methods}, axis=1
    )
    sign_method = next((m for m in methods if m.startswith("lrpsign")), methods[0])
    sections = [
        Section(
            "Overview",
            paragraph(
                f"{recording.name or 'The recording'}, lead: {analysis.lead_name}, {recording.fs:g} Hz, "
                f"{recording.duration:.0f} s: {len(analysis.labels)} beats "
                f"{'cut at the R-peaks given and' if analysis.peaks_given else 'detected and'} classified by "
                f"the shipped ECG5000 {task} model; {len(analysis.explained)} beats explained with "
                f"{len(methods)} methods, each for the beat's predicted class"
                f"{_contrast_words(analysis)}."
            )
            + table_html(counts)
            + (
                paragraph(
                    "Fewer than half of this lead's 10 s windows meet the signal-quality rules "
                    "on the beats themselves (section 'Signal quality'): the beats found in noise "
                    "or in a lead that is off are not beats, and their calls and explanations mean "
                    "little."
                )
                if analysis.quality is not None and poor_leads(analysis.quality)
                else ""
            )
            + paragraph(
                "The model was trained on ECG5000 beats from another patient (BIDMC "
                "chf07); beat labels here are its predictions, not annotations. Beats are "
                "cut from 20 ms before an R-peak to 20 ms before the next, resampled to 140 "
                "samples, z-normalised and flipped in sign, as the ECG5000 beats are.",
                note=True,
            ),
            anchor="overview",
        ),
        *(
            [Section("Signal quality", _quality(analysis), anchor="quality")]
            if analysis.quality is not None
            else []
        ),
        *(
            [Section("Against the reference annotation", _against_reference(analysis), anchor="reference")]
            if analysis.reference is not None
            else []
        ),
        *(
            [Section("R-peaks: the detector against the peaks given", _detection(analysis), anchor="peaks")]
            if analysis.detection is not None
            else []
        ),
        Section("Strip with beats by predicted class", "".join(_strip_rows(analysis)), anchor="strip"),
        Section(
            "Explained beats",
            "".join(_beat_rows(analysis, k) for k in range(len(analysis.explained))),
            anchor="beats",
        ),
        Section(
            "Relevance per wave",
            paragraph(
                "Mean share of each explained beat's |relevance| that lies in the P wave, the QRS "
                "complex, the T wave or elsewhere (the beat window runs from this beat's QRS to the "
                "next beat's P wave), per method and predicted class. A map that is zero on the "
                "whole beat (Grad-CAM where no feature of the last conv layer speaks for the class: "
                "the map is rectified) has no shares: '-' per beat, and left out of the means."
            )
            + table_html(summary)
            + figure_html(
                plot_wave_relevance(
                    analysis.wave_table[analysis.wave_table.method == sign_method],
                    title=f"{sign_method}: share of |relevance| per wave",
                ),
                sign_method,
            )
            + "<h3>Per beat</h3>"
            + table_html(_shares_per_beat(analysis.wave_table)),
            anchor="waves",
        ),
        Section("Intervals per call", _intervals(analysis), anchor="intervals"),
        *(
            [Section("Relevance per harmonic", _spectrum(analysis), anchor="spectrum")]
            if analysis.spectrum is not None
            else []
        ),
        Section("Method comparison", _comparison(analysis), anchor="comparison"),
        Section("Model card", _model_card(card, task, methods, analysis.seen), anchor="model"),
    ]
    title = f"signxai: the beats of {recording.name or 'a recording'}, lead {analysis.lead_name}"
    return write_report(path, title, sections)
