"""The Quantus adapter: Quantus metrics evaluate signxai methods on 1D ECG beats."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from signxai import explain
from signxai.ecg import load_beat_model, load_ecg5000
from signxai.errors import InputError, MethodParameterError, TargetError
from signxai.evaluate import quantus_explain_func

quantus = pytest.importorskip("quantus", reason="the eval extra (quantus) is not installed")


@pytest.fixture(scope="module")
def data() -> tuple:
    model = load_beat_model("5class")
    test = load_ecg5000("test")
    return model, test.x[:6], test.y[:6]


def test_adapter_returns_what_quantus_expects(data) -> None:
    model, x, y = data
    relevance = quantus_explain_func(model, x, y, method="lrpsign_epsilon_0_5")
    assert relevance.shape == x.shape and relevance.dtype == np.float32
    np.testing.assert_array_equal(
        relevance, explain(model, x, "lrpsign_epsilon_0_5", target_class=y.tolist())
    )
    with pytest.raises(MethodParameterError, match="method"):
        quantus_explain_func(model, x, y)


def test_adapter_names_quantus_arguments_and_refuses_fractional_targets(data) -> None:
    model, x, y = data
    expected = explain(model, x, "gradient", target_class=2)
    np.testing.assert_array_equal(quantus_explain_func(model, x, np.int64(2), method="gradient"), expected)
    np.testing.assert_array_equal(quantus_explain_func(model, x, [2.0] * 6, method="gradient"), expected)
    # before: astype(int) explained class 2 for 2.5, silently
    with pytest.raises(TargetError, match="targets must be class indices"):
        quantus_explain_func(model, x, [2.5] * 6, method="gradient")
    with pytest.raises(TargetError, match=r"^targets 7 is out of range"):  # before: 'target_class'
        quantus_explain_func(model, x, 7, method="gradient")
    with pytest.raises(TargetError, match="^targets has 2 entries"):
        quantus_explain_func(model, x, [0, 1], method="gradient")
    with pytest.raises(InputError, match="^inputs must be real numbers"):  # before: a ValueError
        quantus_explain_func(model, np.array([["a"]]), y, method="gradient")
    with pytest.raises(InputError, match=r"^inputs has shape \(3,\)"):
        quantus_explain_func(model, np.zeros(3), None, method="gradient")
    with pytest.raises(MethodParameterError, match="give the method once"):
        quantus_explain_func(model, x, y, method="gradient", method_name="gradient")


@pytest.mark.parametrize(
    "metric",
    [
        lambda: quantus.MaxSensitivity(nr_samples=3, disable_warnings=True, display_progressbar=False),
        lambda: quantus.RandomLogit(num_classes=5, disable_warnings=True),
    ],
    ids=["MaxSensitivity", "RandomLogit"],
)
def test_quantus_metrics_evaluate_signxai_methods_on_1d_beats(data, metric) -> None:
    model, x, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = metric()(
            model=model,
            x_batch=x,
            y_batch=y,
            a_batch=None,
            device="cpu",
            explain_func=quantus_explain_func,
            explain_func_kwargs={"method": "gradient_x_input"},
        )
    scores = np.asarray(scores, dtype=float)
    assert scores.shape == (len(x),) and np.isfinite(scores).all()


def test_quantus_imports_after_signxai_where_tensorflow_is_installed() -> None:
    """Quantus imports TensorFlow, then torchvision; with a CUDA build of torch that order crashes
    in triton unless torchvision came first (``import torch, quantus`` did). The README tells users
    to import signxai first: this keeps that true."""
    pytest.importorskip("tensorflow")
    result = subprocess.run(
        [sys.executable, "-c", "import signxai, quantus; print('imported')"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and "imported" in result.stdout, result.stderr[-2000:]
