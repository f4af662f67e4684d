"""Beat classification: the model's own outputs, on its dtype and device, its modes left as found."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signxai.ecg import ECGModel, load_ecg5000
from signxai.ecg.beats import classify


def _modes(model: torch.nn.Module) -> list[bool]:
    return [module.training for module in model.modules()]


@pytest.mark.parametrize("classes", [1, 5])
def test_classify_returns_the_models_probabilities(classes: int) -> None:
    torch.manual_seed(0)
    model = ECGModel(num_classes=classes, length=140, ceil_mode=False).eval()
    beats = load_ecg5000("test").x[:40]
    with torch.no_grad():
        expected = model(torch.from_numpy(beats)).numpy()
    if classes == 1:
        expected = np.concatenate([1 - expected, expected], axis=1)
    np.testing.assert_allclose(classify(model, beats, batch_size=16), expected, rtol=1e-5, atol=1e-7)


def test_classify_leaves_each_modules_mode_as_found() -> None:
    """Before, ``classify`` left the model in eval mode (a model being trained, with a frozen
    BatchNorm in eval mode, came back all in eval mode)."""
    torch.manual_seed(0)
    model = ECGModel(num_classes=5, length=140, ceil_mode=False).train()
    model.features[1].eval()  # a frozen BatchNorm
    modes = _modes(model)
    probabilities = classify(model, load_ecg5000("test").x[:8])
    assert _modes(model) == modes
    eval_model = ECGModel(num_classes=5, length=140, ceil_mode=False)
    eval_model.load_state_dict(model.state_dict())
    with torch.no_grad():  # eval-mode outputs: no dropout, running BatchNorm statistics
        expected = eval_model.eval()(torch.from_numpy(load_ecg5000("test").x[:8])).numpy()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-7)


def test_classify_feeds_a_float64_model_its_own_dtype() -> None:
    """Before, a float64 model raised a dtype error (the float32 beats went in as they were)."""
    torch.manual_seed(0)
    model = ECGModel(num_classes=5, length=140, ceil_mode=False).eval()
    beats = load_ecg5000("test").x[:8]
    single = classify(model, beats)
    double = classify(model.double(), beats)
    assert double.dtype == np.float32
    np.testing.assert_allclose(double, single, rtol=1e-4, atol=1e-6)
