"""The ``signxai`` command: ``demo``, ``explain`` and ``methods``.

Exit codes: 0 ok, 2 bad usage or input (one line on stderr; the traceback only with --debug).
"""

from __future__ import annotations

import html
import importlib
import json
import logging
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import numpy as np

from signxai.errors import InputError, SignXAIError, TargetError, warn_user

if TYPE_CHECKING:
    from signxai.ecg.waves import RecordWaves
    from signxai.report import Section
    from signxai.spectral import SpectralRelevance

T = TypeVar("T")


def _maps(relevance: dict[str, np.ndarray]) -> dict[str, Any]:
    """The relevance arrays under the keys ``relevance/<method>`` of the .npz files."""
    return {f"relevance/{method}": values for method, values in relevance.items()}


#: ``explain``'s keywords that the CLI takes as options, as the library's errors spell them.
_KEYWORD = re.compile(r"\b(explain_output|batchnorm|gates|attention)=['\"]([\w-]+)['\"]")


#: OutputWindow's arguments as its errors name them (``OutputWindow stop must be ...``).
_WINDOW_ARGUMENT = re.compile(r"\bOutputWindow (start|stop|axis) ")

#: ``read_record``'s keywords named without a value (``pass leads= with ...``).
_BARE_KEYWORD = re.compile(r"\b(leads|start|duration)=(?=[\s,)])")

#: ``read_record``'s and ``select``'s errors about the range, leads or group (DICOM, XML) asked for.
_SELECTION = re.compile(r"\bstart/duration \(|^leads (?=\[)|^group (?=must|chooses)")


def _as_options(message: str) -> str:
    """``message`` with ``explain``'s and ``read_record``'s keywords (and OutputWindow's
    arguments) spelt as this CLI's options."""
    message = _KEYWORD.sub(lambda m: f"--{m[1].replace('_', '-')} {m[2]}", message)
    message = _WINDOW_ARGUMENT.sub(lambda m: f"--output-window {m[1].upper()} ", message)
    message = _SELECTION.sub(
        lambda m: "--start/--duration (" if m[0].startswith("start") else f"--{m[0]}", message
    )
    return _BARE_KEYWORD.sub(lambda m: f"--{m[1]}", message)


def _out_folder(out: Path) -> Path:
    """``--out`` as a folder that exists (made where missing), or an ``InputError`` saying why
    it cannot be one (before: "[Errno 17] File exists: 'strip.npy'")."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out must be a folder to write into; '{out}' is a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--out: the folder '{out}' cannot be made: {error.strerror or error}") from None
    return out


def _fail(debug: bool, error: BaseException) -> None:
    """Print the error (its ``explain`` keywords as this CLI's options) and exit with status 2."""
    if debug:
        raise error
    click.echo(f"signxai: error: {_as_options(str(error))}", err=True)
    sys.exit(2)


def _show_warning(message: Warning | str, *_: Any, **__: Any) -> None:
    """A warning as one line on stderr, like the errors, above the progress bar (``tqdm.write``)."""
    from tqdm import tqdm

    tqdm.write(f"signxai: warning: {_as_options(str(message))}", file=sys.stderr)


class _Progress:
    """A tqdm bar over named steps, silent with --quiet."""

    def __init__(self, total: int, quiet: bool, description: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=description, disable=quiet, leave=False, file=sys.stderr)

    def __call__(self, message: str) -> None:
        self.bar.set_postfix_str(message)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _versions() -> str:
    """signxai's version with the versions a bug report needs: torch, zennit, Python."""
    from importlib.metadata import PackageNotFoundError, version

    from signxai import __version__

    found = []
    for package in ("torch", "zennit"):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:  # (a source tree without the package's metadata)
            found.append(f"{package} not installed")
    python = ".".join(str(part) for part in sys.version_info[:3])
    return f"signxai {__version__} ({', '.join(found)}, Python {python})"


def _print_versions(context: click.Context, _: click.Parameter, value: bool) -> None:
    if value and not context.resilient_parsing:
        click.echo(_versions())
        context.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    "-V",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_versions,
    help="Print signxai's version and torch's, zennit's and Python's, and exit.",
)
@click.pass_context
def main(context: click.Context) -> None:
    """Explain deep models on ECG signals (gradients, IG, SmoothGrad, Grad-CAM, LRP, SIGN)."""
    shown = warnings.showwarning
    warnings.showwarning = _show_warning
    context.call_on_close(lambda: setattr(warnings, "showwarning", shown))


DEVICE_HELP = "Where the model runs: cpu, cuda, cuda:1, mps (a GPU must be visible to torch)."
#: The demo's relevance per harmonic of every beat: DFT-LRP, the z-rule at the virtual inverse-DFT
#: layer and the demo's epsilon everywhere else.
DEMO_SPECTRAL_METHOD = "lrpz_epsilon_0_5"


def _device(name: str) -> Any:
    """``name`` as a torch device that is there to use, or an InputError naming ``--device``."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(
            f"--device must be a torch device such as 'cpu', 'cuda' or 'cuda:1', got '{name}'"
        ) from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"--device '{name}': torch sees no CUDA GPU on this machine; use --device cpu")
        if device.index is not None and device.index >= count:
            raise InputError(f"--device '{name}': torch sees {count} CUDA GPU(s), numbered 0 to {count - 1}")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device '{name}': the Apple MPS backend is not available here")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"--device '{name}': only cpu, cuda and mps devices are supported")
    return device


def _listed(values: Sequence[str]) -> list[str]:
    """The names a repeatable option was given, each value also split at commas."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _check_methods(methods: Sequence[str]) -> list[str]:
    """The names given to ``--method`` (repeated, or comma-separated), each checked."""
    from signxai.methods import parse

    names = _listed(methods)
    if not names:
        raise InputError(
            "--method names no method; give one or more names (repeat --method, or comma-separated)"
        )
    for method in names:
        parse(method)  # raises UnknownMethodError with the closest names
    return names


@main.command()
def methods() -> None:
    """Print the method registry: families, LRP rules and prefixes, one line each."""
    from signxai.methods.table import method_table

    click.echo(method_table())


def _applied(*options: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A decorator adding click ``options`` to a command, in the order given (its help's order)."""

    def apply(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


#: The options ``demo`` and ``beats`` share: the report's folder, methods, model and beats.
_beat_options = _applied(
    click.option(
        "--out",
        "out",
        type=click.Path(path_type=Path),
        default=Path("signxai-report"),
        show_default=True,
        help="Folder for report.html, relevance.npz, wave_relevance.csv and strip.edf.",
    ),
    click.option(
        "--edf/--no-edf",
        "edf",
        default=True,
        show_default=True,
        help="Write strip.edf: the lead, each method's relevance, every beat's call and the windows "
        "of poor signal quality as EDF+ "
        "for EDF viewers (16 bits per sample and channel: about 2.6 MB per channel and hour at "
        "360 Hz).",
    ),
    click.option(
        "--method",
        "methods_",
        multiple=True,
        help="Method name (repeat, or comma-separated); default: eight.",
    ),
    click.option(
        "--spectrum",
        "spectral_method",
        default=DEMO_SPECTRAL_METHOD,
        show_default=True,
        help="Method explaining every beat per harmonic of its window (explain_spectrum).",
    ),
    click.option(
        "--task",
        type=click.Choice(["binary", "5class"]),
        default="binary",
        show_default=True,
        help="Which shipped beat model classifies the beats.",
    ),
    click.option(
        "--versus",
        default=None,
        help="With --task 5class: explain each beat's predicted class against another, runner_up "
        "(its most likely other class) or a class index (beats of that class: against their "
        "runner-up).",
    ),
    *(
        click.option(
            f"--{kind}",
            type=click.IntRange(min=0),
            default=count,
            show_default=True,
            help=f"{kind.capitalize()} beats to explain.",
        )
        for kind, count in (("abnormal", 6), ("normal", 3))
    ),
    click.option("--device", default="cpu", show_default=True, help=DEVICE_HELP),
    click.option("--quiet", is_flag=True, help="No progress bar."),
    click.option("--debug", is_flag=True, help="Show tracebacks."),
)


@main.command()
@_beat_options
def demo(**options: Any) -> None:
    """Explain the beats of the shipped MIT-BIH 208 strip with the shipped model; write a report."""
    from signxai.ecg import load_mitbih_208

    _beat_report(load_mitbih_208, **options)


#: The options choosing a record's time range, and an array's sampling rate.
_RANGE_OPTIONS = (
    click.option("--start", type=float, default=None, help="Start in seconds."),
    click.option("--duration", type=float, default=None, help="Duration in seconds."),
    click.option("--fs", type=float, default=None, help="Sampling rate of .npy/.npz/.csv input."),
)

#: The options reading a record's reference beats (``beats``, ``detect``, ``convert``).
_annotation_options = _applied(
    click.option(
        "--annotations",
        is_flag=False,
        flag_value="",
        default=None,
        help="The record's reference beats (beats: cut the beats at them and tabulate the calls "
        "against their codes; detect: score the detections against them; convert: write them "
        "beside the signal). A WFDB record: the annotation file's extension (atr, qrs; alone: atr). "
        "An EDF+/BDF+ file carries its annotations, a GE MUSE file its cart's QRS times: give the "
        "option alone.",
    ),
    click.option(
        "--annotation-code",
        "annotation_codes",
        multiple=True,
        metavar="TEXT=CODE",
        help="Read annotations whose text is TEXT as the WFDB beat code CODE (e.g. QRS=N for a "
        "file that marks its beats 'QRS'); repeatable. Texts that are WFDB codes are read as those "
        "codes ('R': right bundle branch block; R=N reads a file's R-peak marks as normal beats).",
    ),
)

#: The options choosing the leads, time range and group of a record (``explain``, ``convert``).
_selection_options = _applied(
    click.option(
        "--leads",
        multiple=True,
        help="Leads to use (repeat, or comma-separated: --leads II,V1; default all).",
    ),
    *_RANGE_OPTIONS,
    click.option(
        "--group",
        default=None,
        help="A DICOM ECG's multiplex group or an XML ECG's waveform group to read: its label "
        "(RHYTHM, 'MEDIAN BEAT'; MUSE's MEDIAN) or index; default the rhythm.",
    ),
    click.option(
        "--derive-limb-leads",
        "derive",
        is_flag=True,
        help="Derive the limb leads a record lacks (III, aVR, aVL, aVF) from I and II, as carts "
        "that store eight leads do (GE MUSE files), before --leads are chosen.",
    ),
)

#: The options choosing one lead of a record and its reference beats (``beats``, ``detect``).
_lead_options = _applied(
    click.option(
        "--lead",
        default=None,
        help="The lead to analyse: its name or its row (0, 1, ...; default: the first).",
    ),
    *_RANGE_OPTIONS,
    _annotation_options,
)


@main.command()
@click.argument("record")
@_lead_options
@_beat_options
def beats(
    record: str,
    lead: str | None,
    start: float | None,
    duration: float | None,
    fs: float | None,
    annotations: str | None,
    annotation_codes: tuple[str, ...],
    **options: Any,
) -> None:
    """Classify every beat of one lead of RECORD (WFDB record path, .edf, .bdf, .dcm, .xml, .npy,
    .npz or .csv, in mV) with a shipped beat model, explain a selection of them; write a report (as the
    demo's)."""

    def recording() -> tuple[Any, int, Any, Any]:
        codes = _annotation_codes(annotations, annotation_codes)
        loaded, row = _read_lead(record, fs, lead, start, duration)
        if annotations is None:
            return loaded, row, None, None
        reference = _reference_beats(record, annotations, codes, start, duration, loaded.leads[row])
        return loaded, row, reference.samples, reference.symbols

    _beat_report(recording, **options)


@main.command()
@click.argument("records", nargs=-1, required=True)
@_lead_options
@click.option(
    "--tolerance",
    type=float,
    default=None,
    help="With --annotations: the match window in seconds (default 0.15, ANSI/AAMI EC57's).",
)
@click.option(
    "--search-back/--no-search-back",
    default=True,
    show_default=True,
    help="Search long RR intervals again for missed beats (detect_r_peaks' search_back).",
)
@click.option(
    "--min-steepness",
    type=float,
    default=0.2,
    show_default=True,
    help="Drop a peak less steep than this part of the 32 around it (P waves in long pauses; "
    "detect_r_peaks' min_steepness; 0 keeps every peak).",
)
@click.option(
    "--out", "out", type=click.Path(path_type=Path), default=Path("signxai-detect"), show_default=True
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def detect(
    records: tuple[str, ...],
    lead: str | None,
    start: float | None,
    duration: float | None,
    fs: float | None,
    annotations: str | None,
    annotation_codes: tuple[str, ...],
    tolerance: float | None,
    search_back: bool,
    min_steepness: float,
    out: Path,
    debug: bool,
) -> None:
    """Detect the R-peaks of one lead of each of RECORDS (baseline removed, as beats and demo
    detect them) and write them (r_peaks.csv); with --annotations, score them against each
    record's reference beats as ANSI/AAMI EC57 does: Se and +P per record, gross and average
    (scores.csv, printed). Each lead is also judged 10 s at a time by Orphanidou et al. 2015's
    signal-quality rules with the peaks found (quality.csv, a line per record printed)."""
    import pandas as pd

    from signxai.checks import check_number
    from signxai.ecg.preprocess import detect_r_peaks, remove_baseline
    from signxai.ecg.quality import describe_quality, signal_quality
    from signxai.ecg.scoring import detection_table, match_peaks

    try:
        codes = _annotation_codes(annotations, annotation_codes)
        if tolerance is not None and annotations is None:  # before, ignored (-1 and nan too)
            raise InputError("--tolerance is the window the peaks are scored in: it needs --annotations")
        tolerance = 0.15 if tolerance is None else tolerance
        if annotations is not None:
            check_number(tolerance, "--tolerance", above=0, unit="of seconds")
        if not 0 <= min_steepness < 1:
            raise InputError(
                f"--min-steepness must be at least 0 and below 1 (a part of the neighbouring beats' "
                f"steepness; 0 keeps every peak), got {min_steepness:g}"
            )
        names = _distinct([Path(record).name for record in records], "each record's name labels its rows")
        peaks, matches, qualities = [], {}, []
        for record, name in zip(records, names, strict=True):
            loaded, row = _read_lead(record, fs, lead, start, duration)
            clean = remove_baseline(loaded.signal[row], loaded.fs)
            detected = detect_r_peaks(clean, loaded.fs, search_back=search_back, min_steepness=min_steepness)
            lead_name = loaded.lead_name(row)
            peaks.append(
                pd.DataFrame(
                    {"record": name, "lead": lead_name, "sample": detected, "time_s": detected / loaded.fs}
                )
            )
            quality = signal_quality(loaded.signal[row], loaded.fs, detected, [lead_name])
            qualities.append((name, quality))
            if annotations is not None:
                reference = _reference_beats(record, annotations, codes, start, duration, lead_name)
                matches[name] = match_peaks(detected, reference.samples, loaded.fs, tolerance)
        _out_folder(out)
        pd.concat(peaks, ignore_index=True).to_csv(out / "r_peaks.csv", index=False)
        count = f"{len(records)} record{'s' if len(records) > 1 else ''}"
        click.echo(f"{sum(len(p) for p in peaks)} R-peaks in {count}: {out / 'r_peaks.csv'}")
        pd.concat([q.assign(record=n) for n, q in qualities], ignore_index=True).set_index("record").to_csv(
            out / "quality.csv"
        )
        for name, quality in qualities:
            click.echo(f"signal quality of {name}: {describe_quality(quality)}")
        click.echo(f"signal quality per 10 s: {out / 'quality.csv'}")
        if matches:
            table = detection_table(matches)
            table.to_csv(out / "scores.csv")
            shown = table.copy()
            shown[["Se", "+P"]] = (100 * shown[["Se", "+P"]]).round(2)
            shown["median_offset_ms"] = shown["median_offset_ms"].round(1)
            click.echo(f"within {1000 * tolerance:g} ms (Se, +P in %):\n{shown.to_string()}")
            click.echo(f"scores: {out / 'scores.csv'}")
    except (SignXAIError, OSError) as error:
        _fail(debug, error)


@main.command()
@click.argument("records", nargs=-1, required=True)
@_selection_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["wfdb", "edf", "bdf"]),
    default="wfdb",
    show_default=True,
    help="The format written: a WFDB record (16-bit, with an .atr of the beats), EDF+ (16-bit) or BDF+ "
    "(24-bit), the beats among its annotations.",
)
@_annotation_options
@click.option(
    "--out", "out", type=click.Path(path_type=Path), default=Path("signxai-converted"), show_default=True
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def convert(
    records: tuple[str, ...],
    leads: tuple[str, ...],
    start: float | None,
    duration: float | None,
    fs: float | None,
    group: str | None,
    derive: bool,
    fmt: str,
    annotations: str | None,
    annotation_codes: tuple[str, ...],
    out: Path,
    debug: bool,
) -> None:
    """Convert each of RECORDS (WFDB, EDF, DICOM, GE MUSE or HL7 aECG XML, .npy/.npz/.csv) to a
    WFDB record, an EDF+ or a BDF+ file in mV, named by the record (OUT/NAME), its leads, range
    and group chosen, its limb leads derived (--derive-limb-leads) and its reference beats written
    beside it (--annotations)."""
    from signxai.ecg.io import lead_names, wfdb_record_name, write_record

    try:
        codes = _annotation_codes(annotations, annotation_codes)
        # a WFDB record name holds ASCII letters, digits, '_' and '-': 'my ecg.edf' -> my_ecg
        given = [Path(record).stem for record in records]
        stems = _distinct(
            [wfdb_record_name(stem) if fmt == "wfdb" else stem for stem in given],
            "each is written as OUT/NAME",
        )
        if annotations is not None and group is not None:
            raise InputError("--annotations are the rhythm's beats: leave --group out to write them")
        for record, stem in zip(records, stems, strict=True):
            recording = _load_record(record, fs, leads, start, duration, group, derive)
            beats = None
            if annotations is not None:  # counted in the samples of a lead the file stores
                names = [] if Path(record).suffix.lower() in ARRAY_SUFFIXES else lead_names(record)
                stored = [lead for lead in recording.leads if lead in names]
                beats = _reference_beats(record, annotations, codes, start, duration, (stored or [None])[0])
            target = _out_folder(out) / (stem if fmt == "wfdb" else f"{stem}.{fmt}")
            written = write_record(recording, target, annotations=beats)
            count = "" if beats is None else f", {len(beats.samples)} beats"
            rows = recording.signal.shape[0]
            named = f"{rows} lead{'s' if rows > 1 else ''}"
            click.echo(
                f"{record}: {named}, {recording.duration:g} s at {recording.fs:g} Hz{count} -> {written}"
            )
    except (SignXAIError, OSError) as error:
        _fail(debug, error)


def _distinct(names: list[str], why: str) -> list[str]:
    """The names of RECORDS, each once (``why``: what a name is used for); a name given twice is
    an error."""
    from signxai.checks import repeated

    twice = repeated(names)
    if twice:
        raise InputError(f"RECORDS name {twice} more than once; {why}")
    return names


def _reference_beats(
    record: str,
    annotations: str,
    codes: dict[str, str],
    start: float | None,
    duration: float | None,
    lead: str | None,
) -> Any:
    """``--annotations``: the beats of RECORD's annotation file (its extension; '' the default,
    or the file's own annotations), counted in the samples of ``lead``."""
    from signxai.ecg.io import read_beat_annotations

    if Path(record).suffix.lower() in ARRAY_SUFFIXES:
        raise InputError(
            "--annotations needs a WFDB record (an annotation file beside its header), an EDF+ "
            f"file or a GE MUSE file (annotations inside it), got '{record}'"
        )
    return read_beat_annotations(record, annotations or None, start, duration, codes=codes, leads=lead)


def _annotation_codes(annotations: str | None, values: Sequence[str]) -> dict[str, str]:
    """``--annotation-code TEXT=CODE`` values as a map from annotation text to beat code (they
    need ``--annotations``)."""
    from signxai.ecg.beats import as_code_map

    if annotations is None and values:
        raise InputError("--annotation-code reads annotations: it needs --annotations")
    codes = {}
    for value in values:
        text, equals, code = value.rpartition("=")
        if not equals or not text.strip() or not code.strip():
            raise InputError(f"--annotation-code must be TEXT=CODE (e.g. QRS=N), got {value!r}")
        codes[text.strip()] = code.strip()
    return as_code_map(codes, "--annotation-code")


def _read_lead(
    record: str, fs: float | None, lead: str | None, start: float | None, duration: float | None
) -> tuple[Any, int]:
    """RECORD read for ``--lead``, and the lead's row in what was read. A WFDB record's or EDF
    file's lead is read alone: its other channels may be no ECG (blood pressure) or, in an EDF
    file, have other sampling rates. An array is read whole, and the lead picked from it."""
    from signxai.ecg.io import lead_names

    try:
        if Path(record).suffix.lower() not in ARRAY_SUFFIXES:
            named = lead_names(record)
            row = _lead_row(named, lead)
            if named.count(named[row]) > 1:  # a label several channels share: read all, take the row
                return _load_record(record, fs, (), start, duration), row
            return _load_record(record, fs, (named[row],), start, duration), 0
        loaded = _load_record(record, fs, (), start, duration)
    except InputError as error:  # read_record advises leads=: here the choice is --lead
        raise InputError(str(error).replace("pass leads= with", "choose --lead among")) from None
    return loaded, _lead_row([loaded.lead_name(row) for row in range(loaded.signal.shape[0])], lead)


def _lead_row(names: list[str], lead: str | None) -> int:
    """``--lead`` among the lead ``names``: a lead's name or its row; None: the first row."""
    if lead is None:
        return 0
    if lead in names:
        from signxai.ecg.checks import check_unambiguous

        check_unambiguous([lead], names, "--lead", "give its row instead (0, 1, ...)")
        return names.index(lead)
    if lead.isdigit() and int(lead) < len(names):
        return int(lead)
    raise InputError(
        f"--lead must be one of the record's leads {names} or a row from 0 to {len(names) - 1}, got '{lead}'"
    )


def _beat_report(
    source: Callable[[], Any],
    *,
    out: Path,
    methods_: tuple[str, ...],
    spectral_method: str,
    task: str,
    versus: str | None,
    abnormal: int,
    device: str,
    normal: int,
    quiet: bool,
    debug: bool,
    edf: bool,
) -> None:
    """Read the recording (``source()``: a Recording, or a Recording, its lead row, and R-peaks
    and their beat codes or None), classify and explain its beats with a shipped model, write
    report.html, relevance.npz, wave_relevance.csv and (``edf``) strip.edf (the lead, the
    relevance and the calls for EDF viewers) to ``out``; errors as one line (exit 2)."""
    from signxai.ecg import load_beat_model, model_card
    from signxai.ecg.analysis import DEFAULT_METHODS, analyze_strip
    from signxai.ecg.export import write_analysis_edf
    from signxai.ecg.report import strip_report

    try:
        if abnormal == normal == 0:
            raise InputError("--abnormal and --normal are both 0: no beat to explain")
        chosen = _check_methods(methods_ or DEFAULT_METHODS)
        _check_spectral(spectral_method)
        contrast = _contrast(None, versus)
        if contrast is not None and task == "binary":
            raise InputError(
                "--versus needs --task 5class: the binary model has one output, whose map of "
                "'abnormal' already explains abnormal against normal"
            )
        start = time.perf_counter()
        card = model_card()
        model = load_beat_model(task).to(_device(device))
        classes = card["models"][task]["classes"]
        if contrast is not None and isinstance(contrast.versus, int) and contrast.versus >= len(classes):
            raise InputError(
                f"--versus must be a class index from 0 to {len(classes) - 1} ({', '.join(classes)}) "
                f"or runner_up, got {contrast.versus}"
            )
        loaded = source()
        recording, lead, r_peaks, symbols = loaded if isinstance(loaded, tuple) else (loaded, 0, None, None)
        progress = _Progress(len(chosen) + 2, quiet, "explaining")
        analysis = analyze_strip(
            recording,
            model,
            classes,
            chosen,
            lead=lead,
            max_abnormal=abnormal,
            max_normal=normal,
            progress=progress,
            spectral_method=spectral_method,
            versus=None if contrast is None else contrast.versus,
            r_peaks=r_peaks,
            beat_symbols=symbols,
        )
        progress.close()
        _out_folder(out)
        assert analysis.spectrum is not None
        arrays: dict[str, Any] = {**_maps(analysis.relevance), **_spectral_maps(analysis.spectrum)}
        if analysis.detection is not None:  # the detector's peaks, scored against the given ones
            arrays["detected_r_peaks"] = analysis.detection.detected
            arrays["detection_pairs"] = analysis.detection.pairs
        np.savez_compressed(
            out / "relevance.npz",
            beats=analysis.windows.beats[analysis.explained],
            beat_index=analysis.explained,
            starts=analysis.windows.starts[analysis.explained],
            stops=analysis.windows.stops[analysis.explained],
            predicted=analysis.predicted[analysis.explained],
            **({} if analysis.versus is None else {"versus": analysis.versus[analysis.explained]}),
            all_r_peaks=analysis.windows.r_peaks,
            all_predicted=analysis.predicted,
            all_probabilities=analysis.probabilities,
            **(
                {}
                if analysis.reference is None
                else {
                    "reference": np.array(analysis.reference)[analysis.explained],
                    "all_reference": np.array(analysis.reference),
                }
            ),
            **arrays,
        )
        analysis.wave_table.to_csv(out / "wave_relevance.csv", index=False)
        if analysis.quality is not None:
            analysis.quality.to_csv(out / "quality.csv", index=False)
        if edf:
            write_analysis_edf(analysis, out / "strip.edf")
        report = strip_report(analysis, card, task, out / "report.html")
    except (SignXAIError, OSError) as error:
        _fail(debug, error)
        return
    if not quiet:
        counts = ", ".join(
            f"{name}: {analysis.labels.count(name)}" for name in classes if analysis.labels.count(name)
        )
        click.echo(
            f"{len(analysis.labels)} beats ({counts}); explained {len(analysis.explained)} "
            f"with {len(chosen)} methods in {time.perf_counter() - start:.1f} s"
        )
        if analysis.detection is not None:
            click.echo(f"R-peak detector against the annotation: {analysis.detection.summary()}")
        if analysis.quality is not None:
            from signxai.ecg.quality import describe_quality

            click.echo(f"signal quality: {describe_quality(analysis.quality)}")
    click.echo(str(report.resolve()))


#: Keras model files: converted to torch and proved on the record's own inputs.
KERAS_SUFFIXES = (".keras", ".h5")
#: What to do where the model takes the record's inputs in neither reading.
SHAPE_HINT = (
    "choose --window, --leads and --resample so that the inputs have the shape the model takes "
    "(and --channels-last for a model that takes (batch, samples, leads))"
)


def _model_kwargs(text: str | None) -> dict[str, Any]:
    """``--model-kwargs``: a JSON object of the model class's keyword arguments."""
    if not text:
        return {}
    example = """'{"length": 2000}'"""
    try:
        kwargs = json.loads(text)
    except ValueError as error:
        raise InputError(
            f"--model-kwargs must be a JSON object such as {example}, got '{text}' ({error})"
        ) from None
    if not isinstance(kwargs, dict):
        raise InputError(f"--model-kwargs must be a JSON object such as {example}, got '{text}'")
    return kwargs


def _first_line(error: BaseException) -> str:
    """``Type: first line of the message`` of an error a reader raised."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _load_model(path: Path, model_class: str | None, model_kwargs: str | None) -> Any:
    import torch

    if not path.exists():
        raise InputError(f"model file '{path}' not found")
    if model_class:
        if ":" not in model_class:
            raise InputError(f"--model-class must be 'module:Class', got '{model_class}'")
        module_name, class_name = model_class.split(":", 1)
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            raise InputError(f"--model-class '{model_class}': {error}") from None
        kwargs = _model_kwargs(model_kwargs)
        built = f"--model-class {model_class}" + (
            f" with --model-kwargs '{json.dumps(kwargs)}'" if kwargs else ""
        )
        try:
            model = cls(**kwargs)
        except Exception as error:  # the user's constructor: any error, named
            raise InputError(f"{built} failed: {type(error).__name__}: {error}") from None
        if not isinstance(model, torch.nn.Module):
            raise InputError(f"{built} made a {type(model).__name__}, not a torch.nn.Module")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch's unpickler raises several kinds
            raise InputError(
                f"'{path}' could not be read as a state dict (torch.load, weights_only=True): "
                f"{_first_line(error)}; save the weights with "
                "torch.save(model.state_dict(), path), or pass a TorchScript file without --model-class"
            ) from None
        if not isinstance(state, dict):
            raise InputError(f"'{path}' holds a {type(state).__name__}, not a state dict")
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            detail = "; ".join(line.strip() for line in str(error).splitlines()[1:3])
            raise InputError(
                f"the state dict in '{path}' does not fit {built} ({detail}); pass the "
                "--model-kwargs the model was built with"
            ) from None
        return model.eval()
    if path.suffix == ".pt2":
        export_log = logging.getLogger("torch.export")  # it logs a traceback, then falls back
        level = export_log.level
        export_log.setLevel(logging.ERROR)
        try:
            return torch.export.load(str(path)).module()
        except Exception as error:  # a damaged or foreign archive: zipfile's, torch's errors
            raise InputError(
                f"'{path}' could not be read as a torch.export archive: {_first_line(error)}"
            ) from None
        finally:
            export_log.setLevel(level)
    if path.suffix.lower() == ".onnx":  # converted here, proved on the record's inputs later
        from signxai.frontends.onnx_model import from_onnx

        return from_onnx(path)
    if path.suffix in KERAS_SUFFIXES:
        try:
            import keras
        except ImportError:
            raise InputError(
                f"'{path}' is a Keras model; install the keras extra: pip install 'signxai[keras]'"
            ) from None
        try:
            return keras.saving.load_model(str(path), compile=False)
        except Exception as error:  # keras says 'File not found' of a damaged .keras file
            raise InputError(f"'{path}' could not be read as a Keras model: {_first_line(error)}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated in torch 2.9+
            return torch.jit.load(str(path), map_location="cpu").eval()
    except RuntimeError:
        raise InputError(
            f"'{path}' is not a TorchScript file; for a state dict pass --model-class module:Class"
        ) from None


#: Records read as arrays (``load_array``: no sampling rate, no annotations).
ARRAY_SUFFIXES = (".npy", ".npz", ".csv")


def _load_record(
    record: str,
    fs: float | None,
    leads: Sequence[str],
    start: float | None,
    duration: float | None,
    group: str | None = None,
    derive: bool = False,
) -> Any:
    """RECORD read: ``leads`` of a time range (and a DICOM or XML file's ``group``); with
    ``derive``, every lead read and the limb leads it lacks derived before ``leads`` are chosen."""
    from signxai.ecg.checks import check_time_range
    from signxai.ecg.io import load_array, read_record, select
    from signxai.ecg.leads import derive_limb_leads

    check_time_range(start, duration, ("--start", "--duration"))
    leads = _listed(leads)
    path = Path(record)
    if path.suffix in ARRAY_SUFFIXES:
        if fs is None:
            raise InputError(f"--fs is needed for '{record}' (arrays carry no sampling rate)")
        loaded = load_array(path, fs=fs)
        if derive:
            loaded = derive_limb_leads(loaded)
        return select(loaded, leads=leads or None, start=start, duration=duration)
    chosen = int(group) if group is not None and group.isdigit() else group
    if derive:
        whole = read_record(path, start=start, duration=duration, group=chosen)
        return select(derive_limb_leads(whole), leads=leads or None)
    return read_record(path, leads=leads or None, start=start, duration=duration, group=chosen)


def _filter(recording: Any, baseline: float | None, notch: float | None, lowpass: float | None) -> list[str]:
    """Filter ``recording.signal`` in place (at its own rate); return the steps, as the report says them."""
    from signxai.ecg.preprocess import lowpass as low_passed
    from signxai.ecg.preprocess import notch as notched
    from signxai.ecg.preprocess import remove_baseline

    steps = []
    for value, option, apply, text in (
        (baseline, "--baseline", remove_baseline, "baseline wander removed (high-pass {:g} Hz)"),
        (notch, "--notch", notched, "powerline notch at {:g} Hz"),
        (lowpass, "--lowpass", low_passed, "low-pass {:g} Hz"),
    ):
        if value is None:
            continue
        try:
            recording.signal = apply(recording.signal, recording.fs, value)
        except InputError as error:  # the filter names its own argument (cutoff=, freq=)
            raise InputError(f"{option} {value:g}: {error}") from None
        steps.append(text.format(value))
    return steps


#: The LRP keywords ``explain`` passes on to the LRP methods: name -> (choices, the first being the
#: default, as in the registry; help).
LRP_OPTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "batchnorm": (
        ("merge", "innvestigate", "pass"),
        "LRP methods: merge each BatchNorm into its Conv/Linear (one that cannot be merged is a "
        "z-rule layer, with a warning); keep every BatchNorm as a z-rule layer (the original SIGN "
        "package's handling); or merge each BatchNorm into the Conv/Linear before it and pass "
        "relevance through the others unchanged (zennit's composites).",
    ),
    "gates": (
        ("error", "signal"),
        "LRP methods: a gate broadcast over its signal (squeeze-and-excitation) is an error, or "
        "held constant so that the signal receives all the relevance.",
    ),
    "attention": (
        ("error", "cp", "attnlrp"),
        "LRP methods: attention and LayerNorm/GroupNorm are an error, or explained by conservative "
        "propagation (attention weights and normalisation statistics held constant; Ali et al. 2022) "
        "or by AttnLRP (statistics held, softmax and uniform rules; Achtibat et al. 2024).",
    ),
}


def _lrp_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--batchnorm``/``--gates``/``--attention`` options of :data:`LRP_OPTIONS`, in that order."""
    for name, (choices, text) in reversed(LRP_OPTIONS.items()):
        command = click.option(
            f"--{name}", type=click.Choice(list(choices)), default=choices[0], show_default=True, help=text
        )(command)
    return command


@main.command(name="explain")
@click.argument("record")
@click.option(
    "--model",
    "model_path",
    required=True,
    type=click.Path(path_type=Path),
    help="TorchScript file, torch.export archive (.pt2), Keras model (.keras, .h5; extra "
    "signxai[keras]), ONNX model (.onnx; extra signxai[onnx]), or a state dict with --model-class.",
)
@click.option("--model-class", help="module:Class of the model, for a state-dict file.")
@click.option("--model-kwargs", help="JSON keyword arguments for --model-class.")
@click.option(
    "--channels-last",
    is_flag=True,
    help="The model takes (batch, samples, leads): explained as signxai.ChannelsFirst(model) "
    "(Keras models are read so already).",
)
@click.option(
    "--output-window",
    default=None,
    metavar="START:STOP[:AXIS]",
    help="The model scores every time step, (batch, classes, steps) (AXIS 1: (batch, steps, "
    "classes), the default for Keras models): explain the scores of output steps START to STOP-1 "
    "summed per class (signxai.OutputWindow; --target then picks the class).",
)
@click.option(
    "--method",
    "methods_",
    multiple=True,
    default=("lrpsign_epsilon_0_5",),
    show_default=True,
    help="Method name (repeat, or comma-separated: --method gradient,lrp_z).",
)
@click.option("--target", type=int, default=None, help="Class to explain (default: predicted).")
@click.option(
    "--versus",
    default=None,
    help="Explain the target class against this class (an index, or runner_up: each input's "
    "most likely other class): why the target rather than it (signxai.Contrast; models with two "
    "or more outputs). Without --target, inputs predicted as that class are explained against "
    "their runner-up.",
)
@click.option(
    "--spectrum",
    "spectral_method",
    default=None,
    help="Also explain every input per frequency bin with this method (explain_spectrum; e.g. "
    "lrpz_epsilon_0_5, occlusion_window_5): relevance.npz and a report section with each band's "
    "share per lead (baseline wander, P/T, QRS, above 40 Hz).",
)
@click.option(
    "--explain-output",
    type=click.Choice(["logit", "activation"]),
    default="logit",
    show_default=True,
    help="Explain the logit behind a final Sigmoid/Softmax, or the output.",
)
@_lrp_options
@click.option("--device", default="cpu", show_default=True, help=DEVICE_HELP)
@_selection_options
@click.option(
    "--resample",
    "resample_to",
    type=float,
    default=None,
    help="Resample the selection to this rate (Hz) before windowing: the rate the model was trained at.",
)
@click.option(
    "--baseline",
    type=float,
    default=None,
    help="Remove baseline wander: zero-phase high-pass at this cutoff (Hz, e.g. 0.5), before "
    "resampling. Use the preprocessing the model was trained with.",
)
@click.option(
    "--notch", type=float, default=None, help="Remove powerline interference at this frequency (50 or 60 Hz)."
)
@click.option("--lowpass", type=float, default=None, help="Zero-phase low-pass at this cutoff (Hz, e.g. 40).")
@click.option(
    "--znormalize",
    is_flag=True,
    help="Z-normalise each input (window) per lead, after windowing: zero mean, unit deviation.",
)
@click.option(
    "--window",
    type=int,
    default=None,
    help="Explain windows of this many samples (the model's input length); default: "
    "the whole selection as one input.",
)
@click.option(
    "--step",
    type=int,
    default=None,
    help="Start a window every this many samples (overlapping windows when below --window); "
    "default: --window, windows side by side.",
)
@click.option(
    "--batch-size",
    type=int,
    default=256,
    show_default=True,
    help="Windows explained per call (bounds the memory of long records).",
)
@click.option(
    "--out", "out", type=click.Path(path_type=Path), default=Path("signxai-report"), show_default=True
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def explain_command(
    record: str,
    model_path: Path,
    model_class: str | None,
    model_kwargs: str | None,
    channels_last: bool,
    output_window: str | None,
    methods_: tuple[str, ...],
    target: int | None,
    versus: str | None,
    spectral_method: str | None,
    explain_output: str,
    device: str,
    leads: tuple[str, ...],
    start: float | None,
    duration: float | None,
    fs: float | None,
    group: str | None,
    derive: bool,
    resample_to: float | None,
    baseline: float | None,
    notch: float | None,
    lowpass: float | None,
    znormalize: bool,
    window: int | None,
    step: int | None,
    batch_size: int,
    out: Path,
    quiet: bool,
    debug: bool,
    **lrp_options: str,
) -> None:
    """Explain a model's decision on RECORD (WFDB record path, .edf, .bdf, .dcm, .xml, .npy, .npz
    or .csv)."""
    from signxai.api import explain
    from signxai.ecg.checks import check_fs
    from signxai.ecg.datasets import Recording
    from signxai.ecg.preprocess import resample, windows
    from signxai.ecg.preprocess import znormalize as z_normalised
    from signxai.layout import ChannelsFirst
    from signxai.methods import parse
    from signxai.spectral import SpectralRelevance, explain_spectrum

    try:
        chosen = _check_methods(methods_)
        if spectral_method is not None:
            _check_spectral(spectral_method)
        explained_target = _contrast(target, versus)
        where = _device(device)
        recording = _load_record(record, fs, leads, start, duration, group, derive)
        steps = _filter(recording, baseline, notch, lowpass)
        if resample_to is not None:
            check_fs(resample_to, "--resample")
            recording = Recording(
                resample(recording.signal, recording.fs, resample_to),
                resample_to,
                recording.leads,
                recording.name,
            )
        model = _load_model(model_path, model_class, model_kwargs)
        signal = recording.signal.astype(np.float32)
        if step is not None and window is None:
            raise InputError("--step needs --window (the length of the windows it starts)")
        if window is not None:
            try:
                inputs, starts = windows(signal, window, step)
            except InputError as error:  # said in the function's words: length=, step=
                options = f"--window {window}" + ("" if step is None else f" --step {step}")
                raise InputError(f"{options}: {error}") from None
        else:
            inputs, starts = signal[None], np.zeros(1, dtype=np.int64)
        if resample_to is not None:
            steps.append(f"resampled to {resample_to:g} Hz")
        if znormalize:
            inputs = z_normalised(inputs, axis=-1).astype(np.float32)
            steps.append("z-normalised per input and lead")
        if model_path.suffix in KERAS_SUFFIXES:  # takes (time, leads): converted, proved on inputs
            from signxai.frontends.keras import converted, fits, to_channels_last

            given = to_channels_last(inputs).shape[1:]
            if not fits(tuple(model.input_shape[1:]), given):
                raise InputError(
                    f"the Keras model takes inputs of shape {model.input_shape} (batch, samples, leads); "
                    f"the record gives {given}: choose --window and --leads to fit"
                )
            model = converted(model, to_channels_last(inputs))
        if model_path.suffix.lower() == ".onnx":  # onnxruntime's outputs on every input
            try:
                model.prove(inputs.transpose(0, 2, 1) if channels_last else inputs)
            except InputError as error:
                raise InputError(f"{error}: choose --window and --leads to fit") from None
        if channels_last:
            if model_path.suffix in KERAS_SUFFIXES:
                raise InputError("--channels-last: a Keras model is read channels-last already")
            model = ChannelsFirst(model)
        if output_window is not None:
            model = _output_window(model, output_window, keras=model_path.suffix in KERAS_SUFFIXES)
        model = model.to(where)
        progress = _Progress(len(chosen) + (spectral_method is not None), quiet, "explaining")
        relevance: dict[str, np.ndarray] = {}
        if batch_size < 1:
            raise InputError(f"--batch-size must be >= 1, got {batch_size}")
        classes = _explained_classes(model, inputs, explained_target, explain_output, batch_size)

        def lrp_extra(method: str) -> dict[str, Any]:
            """The LRP options for an LRP method, else none."""
            return lrp_options if parse(method).family.name == "lrp" else {}

        for method in chosen:

            def explained(chunk: np.ndarray, rows: slice, method: str = method) -> np.ndarray:
                result = explain(
                    model,
                    chunk,
                    method,
                    target_class=_rows_target(classes, rows),
                    explain_output=explain_output,
                    **lrp_extra(method),
                )
                return result[0] if isinstance(result, tuple) else result

            relevance[method] = np.concatenate(_in_chunks(inputs, batch_size, explained))
            progress(method)
        spectral = None
        if spectral_method is not None:

            def per_bin(chunk: np.ndarray, rows: slice, method: str = spectral_method) -> SpectralRelevance:
                return explain_spectrum(
                    model,
                    chunk,
                    method,
                    target_class=_rows_target(classes, rows),
                    fs=recording.fs,
                    explain_output=explain_output,
                    **lrp_extra(method),
                )

            spectral = SpectralRelevance.concatenate(_in_chunks(inputs, batch_size, per_bin))
            progress(f"{spectral_method} per frequency")
        progress.close()
        _out_folder(out)
        arrays: dict[str, Any] = {
            **classes,
            **_maps(relevance),
            **({} if spectral is None else _spectral_maps(spectral)),
        }
        np.savez_compressed(
            out / "relevance.npz",
            inputs=inputs,
            starts=starts,
            fs=recording.fs,
            leads=np.array(recording.leads),
            **arrays,
        )
        found, wave_text = _record_waves(recording, relevance, starts)
        if found is not None:
            found.table.to_csv(out / "wave_relevance.csv", index=False)
        quality = _quality_section(recording, out)
        report = _record_report(
            recording,
            inputs,
            starts,
            relevance,
            out / "report.html",
            record,
            model_path,
            steps,
            spectral,
            _classes_text(classes, target, versus) + _window_text(model),
            _waves_section(found, wave_text),
            quality,
        )
    except (SignXAIError, OSError, ValueError) as error:
        _fail(debug, error)
        return
    click.echo(str(report.resolve()))


def _in_chunks(inputs: np.ndarray, batch_size: int, compute: Callable[[np.ndarray, slice], T]) -> list[T]:
    """``compute(chunk, rows)`` on consecutive chunks of at most ``batch_size`` inputs (a long
    record: bounded memory; ``rows``: the chunk's rows of ``inputs``); an error the model raised
    becomes an InputError about the inputs' shape."""
    from signxai.model import raised_by_model

    results = []
    for first in range(0, len(inputs), batch_size):
        try:
            rows = slice(first, first + batch_size)
            results.append(compute(inputs[rows], rows))
        except Exception as error:
            if not raised_by_model(error):
                raise
            # the last line: a TorchScript model's error is its interpreter's traceback
            said = [line for line in str(error).splitlines() if line.strip()]
            raise InputError(
                f"the model failed on inputs of {inputs.shape[1]} lead(s) x {inputs.shape[2]} "
                f"samples ({type(error).__name__}: {said[-1] if said else ''}); {SHAPE_HINT}"
            ) from error
    return results


def _check_spectral(method: str) -> None:
    """``--spectrum``: a method ``explain_spectrum`` takes (checked before any work)."""
    from signxai.spectral import spectral_spec

    try:
        spectral_spec(method)
    except SignXAIError as error:
        raise type(error)(f"--spectrum: {error}") from None


def _spectral_maps(result: SpectralRelevance) -> dict[str, np.ndarray]:
    """The spectral relevance's arrays for relevance.npz: ``spectrum/<method>`` (N, C, F) and
    ``spectrum_frequencies`` (F,: in Hz, or in cycles per sample without a rate)."""
    return {f"spectrum/{result.method}": result.relevance, "spectrum_frequencies": result.frequencies}


def _spectrum_section(result: SpectralRelevance, leads: Sequence[str]) -> Section:
    """Each band's share of the relevance per lead, and the first input's relevance per bin."""
    from signxai.ecg.analysis import lead_band_shares
    from signxai.ecg.plot import plot_spectrum
    from signxai.report import Section, figure_html, paragraph, table_html

    shares = lead_band_shares(result, leads)
    spacing = float(result.frequencies[1] - result.frequencies[0])
    empty = shares.attrs["empty"]
    text = (
        f"Every input explained as a function of its spectrum (explain_spectrum, {result.method}): "
        f"{len(result.frequencies)} frequency bins {spacing:.3g} Hz apart, up to "
        f"{float(result.frequencies[-1]):g} Hz. The table gives each band's share of the relevance "
        "summed over the inputs, per lead (signed: the shares sum to 1 over the bands, and a band "
        "above 1 is offset by another). Evidence below 0.5 Hz (baseline wander) or above 40 Hz "
        "(muscle noise, powerline) is evidence the model takes from what ECG filters usually remove."
        + (f" Bands without a bin at this rate and length: {', '.join(empty)}." if empty else "")
    )
    figures = "".join(
        figure_html(
            plot_spectrum(result, 0, channel, title=f"{result.method}, input 0, lead {lead}"),
            f"input 0, lead {lead}: relevance per frequency bin over its amplitude spectrum",
        )
        for channel, lead in list(enumerate(leads))[:3]
    )
    return Section(
        f"Relevance per frequency band ({result.method})",
        paragraph(text) + table_html(shares) + figures,
        anchor="spectrum",
    )


def _output_window(model: Any, text: str, keras: bool) -> Any:
    """``model`` as :class:`~signxai.OutputWindow` of ``--output-window START:STOP[:AXIS]``;
    ``keras``: ``model`` is a Keras model's conversion, and AXIS is read in Keras's layout
    (default 1, ``(batch, steps, classes)``; the conversion's is channels-first)."""
    from signxai.output_window import KERAS_TIME_AXIS, OutputWindow

    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(re.fullmatch(r"\s*-?\d+\s*", part) for part in parts):
        raise InputError(
            "--output-window must be START:STOP or START:STOP:AXIS in output steps (whole "
            f"numbers, e.g. 410:450 or 410:450:1), got {text!r}"
        )
    start, stop, *axis = (int(part) for part in parts)
    given = axis[0] if axis else (1 if keras else -1)
    if keras:  # Keras's (B, T', K) is the conversion's (B, K, T'); other values refused as given
        given = KERAS_TIME_AXIS.get(given, given)
    return OutputWindow(model, start, stop, axis=given)


def _contrast(target: int | None, versus: str | None) -> Any:
    """``--target`` alone, or with ``--versus`` the :class:`~signxai.Contrast` of the two."""
    from signxai.targets import Contrast, check_versus_word

    if versus is None:
        return target
    if re.fullmatch(r"\d+", versus.strip()):
        return Contrast(target, int(versus))
    check_versus_word(versus, "--versus", "a class index (0, 1, ...)")
    return Contrast(target, versus)


def _explained_classes(
    model: Any, inputs: np.ndarray, target: Any, explain_output: str, batch_size: int
) -> dict[str, np.ndarray]:
    """The class each input's maps explain (``targets``) and, for a contrast, the class it is
    explained against (``versus``), chosen on one forward pass (in chunks). With ``--versus K``
    and no ``--target``, the inputs predicted as K are explained against their runner-up."""
    import torch

    from signxai.inputs import as_batch
    from signxai.model import ModelView
    from signxai.targets import RUNNER_UP, Contrast, against_predicted, fixed_targets, resolve_targets

    def chosen(chunk: np.ndarray, rows: slice) -> Any:
        with ModelView(model, explain_output) as view, torch.no_grad():
            try:
                batch = as_batch(chunk, view).tensor
            except InputError as error:  # the model takes neither reading of the inputs
                raise InputError(
                    f"{error}; the inputs are {chunk.shape[1]} lead(s) x {chunk.shape[2]} samples: "
                    f"{SHAPE_HINT}"
                ) from None
            try:
                logits = view.forward(batch)
                if isinstance(target, Contrast) and target.target is None and target.versus != RUNNER_UP:
                    if logits.shape[1] > 1:  # a single output: fixed_targets says why not
                        resolve_targets(target.versus, logits, "Contrast versus")  # in range
                        return against_predicted(logits, target.versus)
                return fixed_targets(target, logits)
            except TargetError as error:  # in the options' words
                said = str(error).replace("target_class=Contrast(...)", "--versus")
                for name, option in (("Contrast versus", "--versus"), ("Contrast target", "--target")):
                    said = said.replace(name, option)
                said = said.replace("target_class=", "--target ").replace("target_class", "--target")
                raise TargetError(said) from None

    parts = _in_chunks(inputs, batch_size, chosen)
    if isinstance(target, Contrast):
        return {
            "targets": np.concatenate([part.target for part in parts]).astype(np.int64),
            "versus": np.concatenate([part.versus for part in parts]).astype(np.int64),
        }
    return {"targets": np.concatenate(parts).astype(np.int64)}


def _rows_target(classes: dict[str, np.ndarray], rows: slice) -> Any:
    """The target of the inputs ``rows`` (their classes, and a :class:`Contrast` with ``versus``)."""
    from signxai.targets import Contrast

    targets = classes["targets"][rows].tolist()
    return Contrast(targets, classes["versus"][rows].tolist()) if "versus" in classes else targets


def _window_text(model: Any) -> str:
    """What an ``--output-window`` explains (empty without one)."""
    from signxai.output_window import OutputWindow

    if not isinstance(model, OutputWindow):
        return ""
    kind = "summed" if model.reduce == "sum" else "averaged"
    assert isinstance(model.start, int) and isinstance(model.stop, int), "one window per call"
    return (
        f" The scores of the model's output steps {model.start} to {model.stop - 1} (--output-window) "
        f"{kind} per class: each map says why the model gave those steps that class."
    )


def _classes_text(classes: dict[str, np.ndarray], target: int | None, versus: str | None) -> str:
    """One sentence saying which class the maps explain, per input when they differ."""
    pairs = list(
        zip(classes["targets"].tolist(), classes.get("versus", classes["targets"]).tolist(), strict=True)
    )
    contrast = "versus" in classes
    counts: dict[tuple[int, int], int] = {}
    for pair in pairs:
        counts[pair] = counts.get(pair, 0) + 1
    what = [
        (f"class {t} against class {v}" if contrast else f"class {t}") + f" ({n} input{'s' * (n > 1)})"
        for (t, v), n in sorted(counts.items())
    ]
    source = "the predicted class" if target is None else "--target"
    if versus is not None:
        source += f", against --versus {versus}"
        if target is None and versus.strip().isdigit():
            source += f" (inputs predicted as class {int(versus)}: against their runner-up)"
    return f"Explained ({source}; relevance.npz: targets{', versus' * contrast}): {'; '.join(what)}."


def _record_waves(
    recording: Any, relevance: dict[str, np.ndarray], starts: np.ndarray
) -> tuple[RecordWaves | None, str]:
    """Relevance per wave and lead of the record's maps and its median beat
    (``record_wave_relevance``), and what the report says of it; None and the reason where the
    record's beats cannot be delineated."""
    from signxai.ecg.waves import record_wave_relevance

    try:
        found = record_wave_relevance(
            recording.signal, recording.fs, relevance, starts, recording.leads or None
        )
    except InputError as error:
        return None, f"Not computed for this record: {error}."
    return found, (
        f"{len(found.waves)} beats detected on lead {found.peak_lead} and delineated over all "
        f"{len(recording.signal)} lead(s) (signxai.ecg.waves.delineate: QRS from the leads' spatial "
        "velocity, P and T the median of the leads' bounds). Each table gives, per lead, the share "
        "of the |relevance| inside the beats (P onset to T end, all leads) that lies in its P "
        "waves, QRS complexes and T waves; the rest lies in the PR and ST segments. "
        f"wave_relevance.csv holds every beat that lies wholly inside the explained windows ("
        f"{found.table['beat'].nunique()}). Each figure draws the record's median beat (the "
        f"{len(found.median.beats)} beats with 0.35 s before and 0.65 s after their R-peak, "
        "aligned on it) coloured by the method's map averaged over those of them whose window "
        f"the explained windows cover ({len(next(iter(found.mean_beats.values())))})."
    )


def _waves_section(found: RecordWaves | None, text: str) -> Section:
    """The report section of ``_record_waves``'s result: a table and a median beat per method."""
    from signxai.ecg.plot import paper_gain, plot_12lead, plot_strip
    from signxai.ecg.waves import lead_wave_shares
    from signxai.report import Section, figure_html, paragraph, table_html

    body = paragraph(text)
    if found is not None:
        from signxai.ecg.intervals import intervals

        measured = intervals(found.waves, found.median.fs).drop(columns="beat").median().to_frame().T
        body += (
            "<h3>Intervals (medians over the beats)</h3>"
            + table_html(measured, float_format="{:.0f}", index=False)
            + paragraph(
                "From the same delineation (signxai.ecg.intervals): research measurements, not a "
                "cart's; on two carts' ECGs our QRS ran 8-11 ms and our QT 9-26 ms shorter (README).",
                note=True,
            )
        )
        median = found.median
        for method, rows in found.table.groupby("method", sort=False):
            mean = found.mean_relevance[str(method)]
            title = f"{method}: median beat, mean relevance"
            if len(median.signal) == 1:
                figure = plot_strip(median.signal[0], median.fs, mean[0], title=title)
            else:
                gain = paper_gain(median.signal, median.fs, found.leads, layout="beat")
                figure = plot_12lead(median.signal, median.fs, mean, found.leads, title, gain, layout="beat")
            body += (
                f"<h3>{html.escape(str(method))}</h3>"
                + table_html(lead_wave_shares(rows), float_format="{:.2f}")
                + figure_html(figure, f"{method}: the median beat coloured by the mean relevance")
            )
    return Section("Relevance per wave and lead", body, anchor="waves")


def _quality_section(recording: Any, out: Path) -> Section:
    """Each lead of the record judged 10 s at a time by Orphanidou et al. 2015's rules with the
    R-peaks detected on it (``signal_quality``), written to quality.csv; leads fewer than half of
    whose windows pass are warned of. A record that cannot be judged gets the reason instead."""
    from signxai.ecg.quality import WINDOW, poor_leads, signal_quality
    from signxai.ecg.report import quality_html
    from signxai.report import Section, paragraph

    duration = recording.signal.shape[-1] / recording.fs
    if duration < WINDOW:  # a median beat, a short strip: the rules judge 10 s of rhythm
        return Section(
            "Signal quality",
            paragraph(
                f"Not judged: the record's {duration:.3g} s are shorter than one window of {WINDOW:g} s."
            ),
            anchor="quality",
        )
    try:
        quality = signal_quality(recording.signal, recording.fs, leads=recording.leads or None)
    except InputError as error:
        return Section("Signal quality", paragraph(f"Not judged for this record: {error}."), anchor="quality")
    quality.to_csv(out / "quality.csv", index=False)
    poor = poor_leads(quality)
    if poor:
        warn_user(
            f"lead{'s' if len(poor) > 1 else ''} {', '.join(poor)}: fewer than half of the 10 s "
            "windows meet Orphanidou et al. 2015's signal-quality rules on the beats themselves "
            "(two or more, alike; noise or a lead that is off fails them; report.html, quality.csv)"
        )
    subject = "Each lead of the record, 10 s at a time, with the R-peaks detected on it"
    return Section("Signal quality", quality_html(quality, subject), anchor="quality")


def _record_report(
    recording: Any,
    inputs: np.ndarray,
    starts: np.ndarray,
    relevance: dict[str, np.ndarray],
    path: Path,
    record: str,
    model_path: Path,
    steps: list[str],
    spectral: SpectralRelevance | None = None,
    explained: str = "",
    waves: Section | None = None,
    quality: Section | None = None,
) -> Path:
    from signxai.ecg.plot import MAX_PAPER_SECONDS, drawn_seconds, paper_gain, plot_12lead, plot_strip
    from signxai.methods import describe_method
    from signxai.report import Section, figure_html, paragraph, write_report

    sections = [
        Section(
            "Input",
            paragraph(
                f"Record {record}: {len(recording.leads)} lead(s) {', '.join(recording.leads)}, "
                f"{recording.fs:g} Hz, {inputs.shape[0]} input(s) of {inputs.shape[-1]} samples; "
                f"model {model_path}. Preprocessing: {'; '.join(steps) if steps else 'none'}. "
                f"{explained}"
            ),
        ),
        *([quality] if quality is not None else []),
    ]
    plot: Callable[..., Any]
    # leads laid out on ECG paper: at most MAX_PAPER_SECONDS of each input (a long record's first part)
    shown = min(inputs.shape[-1], int(MAX_PAPER_SECONDS * recording.fs))
    seconds, total = drawn_seconds(shown, recording.fs, recording.leads), inputs.shape[-1] / recording.fs
    cut = inputs.shape[1] > 1 and seconds < total
    part = f"; its first {seconds:.4g} s of {total:.4g} s drawn" if cut else ""
    for method, values in relevance.items():
        figures = []
        for k in range(min(len(inputs), 4)):
            if inputs.shape[1] == 1:
                plot = plot_strip
                fig = plot(inputs[k, 0], recording.fs, values[k, 0], title=f"{method}, input {k}")
            else:
                # ECG paper at 10 mm/mV, or at the gain that keeps it printable (the title says it)
                signal, drawn = inputs[k, :, :shown], values[k, :, :shown]
                gain = paper_gain(signal, recording.fs, recording.leads)
                fig = plot_12lead(signal, recording.fs, drawn, recording.leads, f"{method}, input {k}", gain)
            figures.append(figure_html(fig, f"input {k} starting at sample {int(starts[k])}{part}"))
        info = describe_method(method)
        sections.append(Section(method, paragraph(info["definition"]) + "".join(figures)))
    if waves is not None:
        sections.append(waves)
    if spectral is not None:
        sections.append(_spectrum_section(spectral, recording.leads))
    return write_report(path, f"signxai: {html.escape(record)}", sections)


if __name__ == "__main__":
    main()
