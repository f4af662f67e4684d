"""signxai.checks, and every number, count, seed, flag and choice of the ECG toolkit and the
evaluation functions fed wrong values: each must be a SignXAIError that names the argument (not a
TypeError from deep inside numpy, scipy or torch, and not a silent acceptance of ``True``)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import edfio
import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models import assert_unchanged, snapshot
from signxai.checks import (
    as_path,
    check_choice,
    check_flag,
    check_names,
    check_number,
    check_seed,
    check_whole,
    is_number,
)
from signxai.errors import InputError, MethodParameterError, SignXAIError

matplotlib.use("Agg")

NAN, INF = math.nan, math.inf
NOT_NUMBERS = ["a", None, NAN, INF, -INF, True, np.bool_(False), [1.0], np.zeros(2), 1 + 2j]


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6))
def test_every_finite_number_is_a_number(value: float) -> None:
    assert is_number(value)
    assert check_number(value, "x") == float(value)
    assert is_number(np.float64(value))


@pytest.mark.parametrize("value", NOT_NUMBERS, ids=repr)
def test_what_is_not_a_finite_number_is_refused(value: object) -> None:
    assert not is_number(value)
    with pytest.raises(InputError, match=r"^x must be a finite number of seconds, got "):
        check_number(value, "x", unit="of seconds")


@pytest.mark.parametrize(
    ("bounds", "value", "message"),
    [
        ({"above": 0}, 0, "x must be a positive number in Hz, got 0"),
        ({"above": 0}, -1.5, "x must be a positive number in Hz, got -1.5"),
        ({"at_least": 0}, -1e-9, "x must be a number in Hz >= 0, got -1e-09"),
        ({"above": 1, "at_least": 2}, 1.5, "x must be a number in Hz > 1 and >= 2, got 1.5"),
    ],
)
def test_a_number_outside_its_bounds_is_told_them(bounds: dict, value: float, message: str) -> None:
    with pytest.raises(InputError, match=f"^{message}$"):
        check_number(value, "x", unit="in Hz", **bounds)
    assert check_number(np.float64(3.0), "x", **bounds) == 3.0


def test_the_error_class_is_the_callers() -> None:
    with pytest.raises(MethodParameterError, match="window_ms"):
        check_number(-1, "window_ms", above=0, error=MethodParameterError)
    with pytest.raises(MethodParameterError, match="seed"):
        check_seed(True, error=MethodParameterError)


@given(st.integers(0, 2**63 - 1))
def test_whole_numbers_and_seeds(value: int) -> None:
    assert check_whole(value, "n", at_least=0) == value
    assert check_whole(np.int64(value), "n") == value
    assert check_seed(value) == value


@pytest.mark.parametrize("value", [*NOT_NUMBERS, 2.0, 2.5, np.float32(3)], ids=repr)
def test_what_is_not_a_whole_number_is_refused(value: object) -> None:
    with pytest.raises(InputError, match=r"^n must be a whole number of samples >= 1, got "):
        check_whole(value, "n", at_least=1, unit="of samples")


def test_a_whole_number_below_its_floor_and_a_negative_seed_are_refused() -> None:
    with pytest.raises(InputError, match="^n must be a whole number >= 2, got 1$"):
        check_whole(1, "n", at_least=2)
    with pytest.raises(InputError, match="^seed must be a whole number >= 0, got -1$"):
        check_seed(-1)


@pytest.mark.parametrize("value", ["True", 1, 0, None, 1.0, [True]], ids=repr)
def test_a_flag_is_true_or_false(value: object) -> None:
    assert check_flag(np.bool_(True), "f") is True
    with pytest.raises(InputError, match=r"^f must be True or False, got "):
        check_flag(value, "f")


def test_a_near_miss_choice_is_told_the_closest() -> None:
    assert check_choice("lerf", "order", ("morf", "lerf")) == "lerf"
    with pytest.raises(
        InputError, match=r"order must be one of \['lerf', 'morf'\], got 'mrof' \(did you mean 'morf'\?\)"
    ):
        check_choice("mrof", "order", ("morf", "lerf"))
    with pytest.raises(InputError, match=r"got None$"):
        check_choice(None, "order", ("morf", "lerf"))
    with pytest.raises(InputError, match=r"got \['morf'\]$"):
        check_choice(["morf"], "order", ("morf", "lerf"))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("gradient", "non-empty list of method names, got 'gradient'"),
        ([], "non-empty list of method names, got \\[\\]"),
        (None, "non-empty list of method names, got None"),
        (["gradient", 3], "3 is not a string"),
        (["gradient", "smoothgrad", "gradient"], "lists \\['gradient'\\] more than once"),
    ],
)
def test_a_list_of_names(values: object, message: str) -> None:
    assert check_names(("a", "b"), "methods") == ["a", "b"]
    with pytest.raises(InputError, match=f"^methods .*{message}"):
        check_names(values, "methods", "method names")


def test_a_path(tmp_path: Path) -> None:
    assert as_path(str(tmp_path)) == tmp_path
    assert as_path(tmp_path / "a") == tmp_path / "a"
    for value in (None, 3, "", b"x"):
        with pytest.raises(InputError, match=r"^path must be a file path"):
            as_path(value)


# --- every public function of the toolkit, each of its numbers fed wrong values -------------------

POSITIVE = ["a", None, NAN, INF, -1, 0, True, [1, 2], 1 + 2j]
NON_NEGATIVE = ["a", None, NAN, INF, -1, True, [1, 2]]
SEEDS = ["a", 2.5, True, None, NAN, -1]
FLAGS = ["a", None, 2, NAN]
ARRAY = np.zeros((1, 3600))  # a bare array where a Recording belongs


def whole(floor: int, optional: bool = False) -> list[object]:
    """Wrong values for a whole number >= floor (None too unless the parameter is optional)."""
    return ["a", 2.5, NAN, INF, True, [1], floor - 1] + ([] if optional else [None])


def _setting() -> dict[str, Any]:
    import torch

    from signxai.ecg import io, load_mitbih_208
    from signxai.ecg.models import load_beat_model
    from signxai.ecg.preprocess import detect_r_peaks
    from signxai.ecg.waves import delineate

    strip = io.select(load_mitbih_208(), start=0, duration=10)
    ecg = strip.signal[0]
    peaks = detect_r_peaks(ecg, strip.fs)
    beats = torch.randn(3, 1, 140, generator=torch.Generator().manual_seed(0)).numpy()
    return {
        "strip": strip,
        "ecg": ecg,
        "fs": strip.fs,
        "peaks": peaks,
        "waves": delineate(ecg, peaks, strip.fs),
        # in training mode with one frozen tensor: each call must leave both as they are
        "model": load_beat_model("5class").train().requires_grad_(True),
        "beats": beats,
    }


def _cases() -> list[tuple[str, Callable[[dict[str, Any]], tuple[Callable[..., Any], dict[str, Any]]], dict]]:
    """(function name, its valid call from the setting, {parameter: wrong values})."""
    from signxai.ecg import (
        analysis,
        beats,
        intervals,
        io,
        leads,
        median,
        models,
        plot,
        preprocess,
        quality,
        relevance,
        scoring,
        waves,
        xml_ecg,
    )
    from signxai.ecg.datasets import Recording
    from signxai.evaluate import compare, deletion, frequency, randomization
    from signxai.evaluate import plot as evaluate_plot

    def spectrum(s: dict[str, Any]) -> Any:
        from signxai import explain_spectrum

        return explain_spectrum(s["model"], s["beats"], "gradient", target_class=0, fs=360.0)

    def curves(s: dict[str, Any]) -> dict[str, Any]:
        return compare.compare_methods(s["model"], s["beats"], ["gradient"], 0, randomization=False)[1]

    return [
        (
            "detect_r_peaks",
            lambda s: (preprocess.detect_r_peaks, {"ecg": s["ecg"], "fs": s["fs"]}),
            {"fs": POSITIVE, "refractory": POSITIVE},
        ),
        (
            "match_peaks",
            lambda s: (
                scoring.match_peaks,
                {"detected": s["peaks"], "reference": s["peaks"], "fs": s["fs"]},
            ),
            {
                "fs": POSITIVE,
                "tolerance": NON_NEGATIVE,
                "detected": ["a", None, [[1, 2]], [2, 1], [-1], [0.5], [NAN]],
                "reference": ["a", None, [[1, 2]], [2, 1], [-1], [0.5], [INF]],
            },
        ),
        (
            "aami_scores",
            lambda s: (scoring.aami_scores, {"reference": ["N", "V"], "calls": ["normal", "PVC"]}),
            {
                "reference": ["NV", None, 3, ["N"], ["+", "N"]],
                "calls": ["ab", None, 3, ["normal"], ["normal", "abnormal"]],
                "classes": [None, {"normal": "X", "PVC": "V"}, ["N"]],
            },
        ),
        (
            "lowpass",
            lambda s: (preprocess.lowpass, {"ecg": s["ecg"], "fs": s["fs"]}),
            {"cutoff": [*POSITIVE, 180.0], "order": whole(1)},
        ),
        (
            "notch",
            lambda s: (preprocess.notch, {"ecg": s["ecg"], "fs": s["fs"]}),
            {"freq": [*POSITIVE, 180.0], "quality": POSITIVE},
        ),
        (
            "remove_baseline",
            lambda s: (preprocess.remove_baseline, {"ecg": s["ecg"], "fs": s["fs"]}),
            {"cutoff": POSITIVE, "order": whole(1)},
        ),
        (
            "resample",
            lambda s: (preprocess.resample, {"ecg": s["ecg"], "fs": s["fs"], "target_fs": 250}),
            {"fs": POSITIVE, "target_fs": POSITIVE},
        ),
        (
            "segment_beats",
            lambda s: (preprocess.segment_beats, {"ecg": s["ecg"], "r_peaks": s["peaks"], "fs": s["fs"]}),
            {"before": NON_NEGATIVE, "after": NON_NEGATIVE, "length": whole(2, optional=True)},
        ),
        (
            "windows",
            lambda s: (preprocess.windows, {"ecg": s["ecg"], "length": 100}),
            {"length": whole(1), "step": whole(1, optional=True)},
        ),
        (
            "znormalize",
            lambda s: (preprocess.znormalize, {"x": s["ecg"]}),
            {"axis": ["a", 2.5, True, None, 1, -2]},
        ),
        (
            "classify",
            lambda s: (beats.classify, {"model": s["model"], "beats": s["beats"]}),
            {
                "batch_size": whole(1),
                "beats": ["a", None, np.zeros((0, 1, 140)), np.zeros(140)],
                "model": [None],
            },
        ),
        (
            "ecg5000_windows",
            lambda s: (beats.ecg5000_windows, {"ecg": s["ecg"], "r_peaks": s["peaks"], "fs": s["fs"]}),
            {"pre": ["a", None, NAN, INF, True], "invert": FLAGS, "length": whole(2)},
        ),
        (
            "windows_to_strip",
            lambda s: (
                relevance.windows_to_strip,
                {
                    "relevance": np.ones((2, 1, 10)),
                    "starts": np.array([0, 10]),
                    "stops": np.array([10, 20]),
                    "total": 30,
                },
            ),
            {"total": whole(1)},
        ),
        (
            "plot_12lead",
            lambda s: (plot.plot_12lead, {"ecg": s["ecg"], "fs": s["fs"]}),
            {"gain": POSITIVE, "title": [1, None]},
        ),
        (
            "plot_strip",
            lambda s: (plot.plot_strip, {"ecg": s["ecg"], "fs": s["fs"]}),
            {"title": [1, None], "ax": [1]},
        ),
        (
            "plot_beats",
            lambda s: (
                plot.plot_beats,
                {"ecg": s["ecg"], "fs": s["fs"], "r_peaks": s["peaks"], "labels": ["N"] * len(s["peaks"])},
            ),
            {"labels": [None, "N", 3, ["N"]]},
        ),
        (
            "symmetric_norm",
            lambda s: (plot.symmetric_norm, {"relevance": s["ecg"]}),
            {"relevance": [None, "a", []]},
        ),
        (
            "wave_relevance",
            lambda s: (waves.wave_relevance, {"relevance": s["ecg"], "waves": s["waves"]}),
            {"labels": [1, "N", ["x"]], "leads": [1, ["a", "b"]]},
        ),
        (
            "plot_wave_relevance",
            lambda s: (waves.plot_wave_relevance, {"table": waves.wave_relevance(s["ecg"], s["waves"])}),
            {"title": [1, None], "table": [None, pd.DataFrame()]},
        ),
        (
            "select_beats",
            lambda s: (
                analysis.select_beats,
                {"predicted": np.array([0, 2, 0]), "max_abnormal": 1, "max_normal": 1},
            ),
            {
                "max_abnormal": whole(0),
                "max_normal": whole(0),
                "seed": SEEDS,
                "predicted": [None, "abc", np.zeros((2, 2), dtype=int), [0.5, 1.0]],
                "trusted": ["abc", [1, 0, 1], [True, False], np.ones((3, 1), dtype=bool)],
            },
        ),
        (
            "analyze_strip",
            lambda s: (
                analysis.analyze_strip,
                {
                    "recording": s["strip"],
                    "model": s["model"],
                    "classes": list("ABCDE"),
                    "methods": ["gradient"],
                    "max_abnormal": 1,
                    "max_normal": 1,
                },
            ),
            {
                "recording": [None, ARRAY],
                "model": [None],
                "classes": [None, ["A"], "ABCDE"],
                "methods": ["gradient", [], ["gradient", "gradient"]],
                "progress": [3, "x"],
                "lead": [1, -1, True],
            },
        ),
        (
            "samples_seen",
            lambda s: (models.samples_seen, {"model": s["model"], "length": 140}),
            {"length": whole(1), "channels": whole(1), "trials": whole(1), "seed": SEEDS},
        ),
        (
            "ECGModel",
            lambda s: (models.ECGModel, {"length": 140}),
            {
                "length": [*whole(1), 5],
                "input_channels": whole(1),
                "num_classes": whole(1),
                "ceil_mode": FLAGS,
            },
        ),
        ("load_beat_model", lambda s: (models.load_beat_model, {}), {"task": ["x", None, 1, "Binary"]}),
        (
            "select",
            lambda s: (io.select, {"recording": s["strip"]}),
            {
                "recording": [None, ARRAY],
                "start": ["a", NAN, INF, -1, True, [1]],
                "duration": ["a", NAN, INF, -1, 0, True, [1]],
                "leads": [1, ["X"], []],
            },
        ),
        (
            "write_record",
            lambda s: (io.write_record, {"recording": s["strip"], "path": s["tmp"] / "rec"}),
            {
                "recording": [None, "x"],
                "fmt": ["x", None, 16],
                "path": [None, 3, "rec.xml", "rec.npy"],  # wfdb refused dotted names with a bare Exception
                "annotations": [1, [(1, "N")]],
            },
        ),
        (
            "read_record",
            lambda s: (io.read_record, {"path": s["edf"]}),
            {
                "path": [None, 3, "missing.edf"],
                "group": ["RHYTHM", 0, True],  # an EDF file has no multiplex groups
                "start": ["a", NAN, INF, -1, True, [1], 20],
                "duration": ["a", NAN, INF, -1, 0, True, [1], 20],
                "leads": [1, ["X"], []],
            },
        ),
        (
            "read_beat_annotations",
            lambda s: (io.read_beat_annotations, {"path": s["edf"]}),
            {
                "path": [None, 3, "missing.edf"],
                "extension": ["atr", 1],
                "start": ["a", NAN, INF, -1, True, [1], 20],
                "duration": ["a", NAN, INF, -1, 0, True, [1], 20],
                "codes": [1, ["N"], {"N": "X"}, {1: "N"}],
                "leads": [1, ["X"], []],
            },
        ),
        (
            "read_xml_annotations",
            lambda s: (
                xml_ecg.read_xml_annotations,
                {"path": Path(__file__).parent / "data/muse/sinus_rhythm.xml"},
            ),
            {"path": [None, 3, "missing.xml"]},
        ),
        (
            "detection_table",
            lambda s: (
                scoring.detection_table,
                {"matches": {"208": scoring.match_peaks(s["peaks"], s["peaks"], s["fs"])}},
            ),
            {"matches": [None, {}, {"208": 3}, [1], {1: None}]},
        ),
        (
            "derive_limb_leads",
            lambda s: (
                leads.derive_limb_leads,
                {"recording": Recording(np.vstack([s["ecg"], 0.5 * s["ecg"]]), s["fs"], ["I", "II"])},
            ),
            {"recording": [None, ARRAY, Recording(ARRAY, 360.0, ["I"])]},  # II is needed
        ),
        (
            "record_wave_relevance",
            lambda s: (
                waves.record_wave_relevance,
                {
                    "ecg": s["ecg"][None],
                    "fs": s["fs"],
                    "relevance": {"gradient": np.ones((1, 1, len(s["ecg"])))},
                    "starts": np.array([0]),
                },
            ),
            {
                "ecg": [None, "a", np.zeros(5), ARRAY[None]],
                "fs": ["a", None, 0, NAN, True, 50],
                "relevance": [None, {}, {"g": "a"}, {"g": np.ones((1, 2, 3600))}],
                "starts": [None, "a", np.array([0.5]), np.array([0, 1]), np.array([1])],
                "leads": [1, ["a", "b"]],
                "peak_lead": ["X", 5, True, 1.5],
            },
        ),
        (
            "median_beat",
            lambda s: (median.median_beat, {"ecg": s["ecg"], "r_peaks": s["peaks"], "fs": s["fs"]}),
            {
                "ecg": [None, "a", ARRAY[None]],
                "r_peaks": [None, "a", np.array([0.5]), np.array([5000, 100])],
                "fs": ["a", None, 0, NAN, True],
                "before": ["a", None, NAN, INF, -1, True, 100.0],
                "after": ["a", None, NAN, INF, 0, -1, True, 100.0],
                "statistic": ["medain", None, 1],
            },
        ),
        (
            "signal_quality",
            lambda s: (quality.signal_quality, {"ecg": s["ecg"], "fs": s["fs"]}),
            {
                "ecg": [None, "a", np.zeros(5), ARRAY[None], np.full(3600, NAN)],
                "fs": ["a", None, 0, NAN, True, [360]],
                "r_peaks": ["a", np.array([0.5]), np.array([5000, 100]), np.array([10**9])],
                "leads": [1, ["a", "b"], [None]],
                "window": ["a", None, NAN, INF, 0, -1, True, 1e-6],
                "min_correlation": ["a", NAN, INF, 0, -1, True],
                "max_rr": ["a", NAN, INF, 0, True],
                "max_rr_ratio": ["a", NAN, -2, [2.2]],
                "heart_rate": ["a", 40, (40,), (40, 180, 200), (NAN, 180), (180, 40), (-1, 180), (True, 180)],
            },
        ),
        (
            "template_correlation",
            lambda s: (quality.template_correlation, {"ecg": s["ecg"], "r_peaks": s["peaks"], "fs": s["fs"]}),
            {
                "ecg": [None, "a", ARRAY[None]],
                "r_peaks": [None, "a", np.array([0.5]), np.array([5000, 100]), np.array([10])],
                "fs": ["a", None, 0, NAN, True],
            },
        ),
        (
            "describe_quality",
            lambda s: (quality.describe_quality, {"table": quality.signal_quality(s["ecg"], s["fs"])}),
            {"table": [None, "a", ARRAY, pd.DataFrame({"lead": ["I"]})]},
        ),
        (
            "poor_leads",
            lambda s: (quality.poor_leads, {"quality": quality.signal_quality(s["ecg"], s["fs"])}),
            {"quality": [None, "a", ARRAY, pd.DataFrame({"lead": ["I"]})]},
        ),
        (
            "beat_failures",
            lambda s: (quality.beat_failures, {"reasons": "RR ratio: 3 > 2.2"}),
            {"reasons": [None, 1, ["a"]]},
        ),
        (
            "beat_failures_at",
            lambda s: (
                quality.beat_failures_at,
                {"quality": quality.signal_quality(s["ecg"], s["fs"]), "times": [1.0, 12.5]},
            ),
            {
                "quality": [None, "a", ARRAY, pd.DataFrame({"lead": ["I"]})],
                "times": [None, "a", [[1.0]], [NAN], ["a"], 1.0],
            },
        ),
        (
            "intervals",
            lambda s: (intervals.intervals, {"waves": s["waves"], "fs": s["fs"]}),
            {"waves": [None, ARRAY, pd.DataFrame({"beat": [0]})], "fs": ["a", None, 0, NAN, True, [360]]},
        ),
        (
            "corrected_qt",
            lambda s: (intervals.corrected_qt, {"qt_ms": 400.0, "rr_ms": 800.0}),
            {
                "qt_ms": ["a", None, NAN, INF, 0, -400, True, [], np.zeros(2)],
                "rr_ms": ["a", None, NAN, 0, -1, True, [], [800.0, "a"]],
                "formula": ["bazet", None, 1],
            },
        ),
        (
            "load_array",
            lambda s: (io.load_array, {"path": s["npy"], "fs": 360}),
            {"fs": ["a", None, 0, NAN, True], "leads": [1, ["a", "b"]], "path": [None, 3, "missing.npy"]},
        ),
        (
            "deletion_curve",
            lambda s: (
                deletion.deletion_curve,
                {
                    "model": s["model"],
                    "x": s["beats"],
                    "relevance": np.abs(s["beats"]),
                    "target_class": 0,
                    "window": 10,
                },
            ),
            {
                "window": whole(1),
                "seed": SEEDS,
                "order": ["x", None, 1],
                "infill": ["x", None],
                "score": ["x", None],
            },
        ),
        (
            "spectral_deletion_curve",
            lambda s: (
                frequency.spectral_deletion_curve,
                {
                    "model": s["model"],
                    "x": s["beats"],
                    "relevance": np.ones((3, 1, 71)),
                    "target_class": 0,
                    "bins": 5,
                },
            ),
            {
                "bins": [*whole(1), 72],
                "frames": [*whole(1), 2],
                "order": ["x", None, 1],
                "score": ["x", None],
            },
        ),
        (
            "infill_windows",
            lambda s: (
                deletion.infill_windows,
                {"x": s["beats"], "mask": np.arange(420).reshape(3, 140) % 7 < 3, "how": "median"},
            ),
            {
                "how": ["x", None, 1],
                "window": whole(1),
                "generator": [5, "x", np.random.default_rng(0)],
                "x": ["a", None, np.zeros((3, 140)), np.zeros((3, 1, 140), dtype=int)],
                "mask": [None, np.ones((3, 1, 140), bool), np.ones((3, 139), bool), np.full((3, 140), 2)],
            },
        ),
        (
            "harmonic_shares",
            lambda s: (analysis.harmonic_shares, {"result": spectrum(s), "labels": ["N", "V", "N"]}),
            {"result": [None, "a", np.zeros((3, 1, 71))], "labels": [None, "NVN", ["N"], [None, 1.5, "N"]]},
        ),
        (
            "lead_band_shares",
            lambda s: (analysis.lead_band_shares, {"result": spectrum(s), "leads": ["MLII"]}),
            {"result": [None, "a", np.zeros((3, 1, 71))], "leads": [3, [1], ["a", "b"]]},
        ),
        ("random_relevance", lambda s: (deletion.random_relevance, {"x": s["beats"]}), {"seed": SEEDS}),
        (
            "model_randomization",
            lambda s: (
                randomization.model_randomization,
                {"model": s["model"], "x": s["beats"], "method": "gradient", "target_class": 0},
            ),
            {"seed": SEEDS, "how": ["x", None, 1], "domain": ["x", None, 1]},
        ),
        (
            "similarity",
            lambda s: (randomization.similarity, {"a": np.arange(10.0), "b": np.arange(10.0)}),
            {"how": ["x", None]},
        ),
        (
            "compare_methods",
            lambda s: (
                compare.compare_methods,
                {
                    "model": s["model"],
                    "x": s["beats"],
                    "methods": ["gradient"],
                    "target_class": 0,
                    "randomization": False,
                },
            ),
            {
                "window": whole(1),
                "seed": SEEDS,
                "randomization": FLAGS,
                "include_random": FLAGS,
                "infill": ["x", None],
                "params": [3, {"gradient": 3}],
                "domain": ["x", None, 1],
                "bins": whole(1),
            },
        ),
        (
            "plot_deletion_curves",
            lambda s: (evaluate_plot.plot_deletion_curves, {"curves": curves(s)}),
            {"order": ["x", None], "title": [1, None], "curves": [{}, None, {"a": 1}, [1]]},
        ),
    ]


CASES = _cases()


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    values = _setting()
    values["tmp"] = tmp_path_factory.mktemp("arguments")
    values["npy"] = values["tmp"] / "strip.npy"
    np.save(values["npy"], values["strip"].signal)
    values["edf"] = values["tmp"] / "strip.edf"  # EDF+ with its beats annotated
    edfio.Edf(
        [edfio.EdfSignal(values["ecg"], sampling_frequency=values["fs"], label="MLII")],
        annotations=[edfio.EdfAnnotation(p / values["fs"], None, "N") for p in values["peaks"]],
    ).write(values["edf"])
    return values


@pytest.mark.parametrize(("name", "call", "wrong"), CASES, ids=[case[0] for case in CASES])
def test_every_argument_is_checked(setting: dict[str, Any], name: str, call: Callable, wrong: dict) -> None:
    import matplotlib.pyplot as plt

    function, valid = call(setting)
    model = setting["model"]
    model.features[0].weight.requires_grad_(False)
    before = snapshot(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arrays = {
            key: np.array(value, copy=True) for key, value in valid.items() if isinstance(value, np.ndarray)
        }
        recordings = {key: value.signal.copy() for key, value in valid.items() if hasattr(value, "signal")}
        function(**valid)  # the valid call runs, and leaves the caller's arrays as they were
        failures = [
            f"{key} was changed" for key, value in arrays.items() if not np.array_equal(valid[key], value)
        ]
        failures += [
            f"{key}.signal was changed"
            for key, value in recordings.items()
            if not np.array_equal(valid[key].signal, value)
        ]
        for parameter, values in wrong.items():
            for value in values:
                try:
                    function(**{**valid, parameter: value})
                    failures.append(f"{parameter}={value!r} accepted")
                except SignXAIError as error:
                    if parameter not in str(error):
                        failures.append(f"{parameter}={value!r}: the error does not name it: {error}")
                except Exception as error:  # the point: no other kind of error
                    failures.append(f"{parameter}={value!r}: {type(error).__name__}: {error}")
                finally:
                    plt.close("all")
    assert not failures, f"{name}: " + "; ".join(failures)
    assert_unchanged(model, before)  # by valid and wrong calls alike


def _from_torch_cases() -> list[tuple[str, Callable[[Any, Any], Any]]]:
    """Public functions that take maps, signals or R-peaks, each called on (signal, map)."""
    import matplotlib.pyplot as plt
    import torch
    from torch import nn

    from signxai.ecg.median import median_beat
    from signxai.ecg.plot import plot_12lead, plot_strip
    from signxai.ecg.relevance import normalize_ecg_relevancemap
    from signxai.evaluate import amplitude_bias, deletion_curve, relevance_mass_accuracy, similarity

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(1, 2, 5), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 356, 2))

    def colours(fig: Any) -> list[np.ndarray]:  # the relevance drawn along the trace
        data = [np.asarray(c.get_array()) for ax in fig.axes for c in ax.collections]
        plt.close(fig)
        return data

    return [
        ("plot_strip", lambda ecg, r: colours(plot_strip(ecg, 360.0, r))),
        ("plot_12lead", lambda ecg, r: colours(plot_12lead(ecg[None], 360.0, r[None]))),
        ("normalize_ecg_relevancemap", lambda ecg, r: normalize_ecg_relevancemap(r)),
        ("median_beat", lambda ecg, r: median_beat(r, [100, 200, 300], 360.0, 0.1, 0.1).signal),
        (
            "deletion_curve",
            lambda ecg, r: deletion_curve(model, ecg[None, None], r[None, None], 0, window=40).scores,
        ),
        ("relevance_mass_accuracy", lambda ecg, r: relevance_mass_accuracy(r[None], ecg[None] > 0)),
        ("amplitude_bias", lambda ecg, r: amplitude_bias(r[None, None], ecg[None, None])),
        ("similarity", lambda ecg, r: similarity(r, ecg)),
    ]


@pytest.mark.parametrize("case", _from_torch_cases(), ids=lambda case: case[0])
def test_maps_and_signals_straight_from_torch_give_what_their_numpy_values_give(case) -> None:
    """A signal or map that still requires grad, or is bfloat16 (which numpy lacks), is taken as
    its values (before: torch's RuntimeError/TypeError from inside numpy)."""
    import torch

    _, call = case
    generator = torch.Generator().manual_seed(1)
    ecg, relevance = torch.randn(360, generator=generator), torch.randn(360, generator=generator)
    half_ecg, half_relevance = ecg.bfloat16(), relevance.bfloat16()
    for passed, values in [
        ((ecg.clone().requires_grad_(True), relevance.clone().requires_grad_(True)), (ecg, relevance)),
        ((half_ecg, half_relevance), (half_ecg.float(), half_relevance.float())),
    ]:
        got, expected = call(*passed), call(*(v.numpy() for v in values))
        for a, b in zip(*(x if isinstance(x, list) else [x] for x in (got, expected)), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
