"""Shipped real data and trained models: shapes, provenance, re-measured accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signxai import explain
from signxai.ecg import ECG5000_CLASSES, ECGModel, load_beat_model, load_ecg5000, load_mitbih_208, model_card


def test_ecg5000_splits_are_the_official_ones() -> None:
    train, test = load_ecg5000("train"), load_ecg5000("test")
    assert train.x.shape == (500, 1, 140) and test.x.shape == (4500, 1, 140)
    assert set(np.unique(train.y)) == set(range(5))
    # the UCR beats are z-normalised per beat
    np.testing.assert_allclose(test.x.mean(axis=2), 0, atol=1e-3)
    with pytest.raises(ValueError, match="split"):
        load_ecg5000("validation")


def test_mitbih_208_strip_is_five_minutes_of_mlii_in_millivolts() -> None:
    strip = load_mitbih_208()
    assert strip.signal.shape == (1, 108_000) and strip.fs == 360 and strip.leads == ["MLII"]
    assert strip.duration == pytest.approx(300.0)
    assert -4 < strip.signal.min() < 0 < strip.signal.max() < 4


@pytest.mark.parametrize("task", ["binary", "5class"])
def test_shipped_models_reach_the_accuracy_their_card_states(task: str) -> None:
    model = load_beat_model(task)
    test = load_ecg5000("test")
    with torch.no_grad():
        out = model(torch.from_numpy(test.x))
    predicted = (out[:, 0] > 0.5).long().numpy() if task == "binary" else out.argmax(1).numpy()
    truth = (test.y > 0).astype(int) if task == "binary" else test.y
    measured = float((predicted == truth).mean())
    card = model_card()["models"][task]
    assert measured == pytest.approx(card["test_accuracy"], abs=1e-4)
    assert measured > (0.97 if task == "binary" else 0.92)  # well above a 1-NN baseline's 92.5 %


def test_model_card_names_data_source_and_recipe() -> None:
    card = model_card()
    assert "chf07" in card["data"]["source"]
    assert card["models"]["5class"]["classes"] == list(ECG5000_CLASSES)
    assert card["recipe"]["seed"] == 0


def test_ecg_model_is_parametrised_by_length_and_channels() -> None:
    tutorial = ECGModel()
    assert tutorial.fc[0].in_features == 256 * 25
    beats = ECGModel(input_channels=12, num_classes=5, length=140)
    assert beats(torch.randn(2, 12, 140)).shape == (2, 5)
    with pytest.raises(ValueError, match="too short"):
        ECGModel(length=40)


def test_shipped_model_explains_with_every_core_family() -> None:
    model = load_beat_model("5class")
    x = load_ecg5000("test").x[:4]
    for method in ("gradient", "integrated_gradients_steps_8", "grad_cam", "lrpsign_epsilon_0_5"):
        relevance = explain(model, x, method)
        assert relevance.shape == x.shape and np.isfinite(relevance).all()
