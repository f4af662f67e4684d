"""Shipped real data and trained models: shapes, provenance, re-measured accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signxai import explain
from signxai.ecg import (
    ECG5000_CLASSES,
    ECGModel,
    Recording,
    load_beat_model,
    load_ecg5000,
    load_mitbih_208,
    model_card,
    samples_seen,
)
from signxai.errors import InputError


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
    assert strip.lead_name(0) == "MLII"


def test_a_lead_name_is_asked_for_by_a_row_of_the_recording() -> None:
    unnamed = Recording(np.zeros((2, 10)), 100.0)
    assert [unnamed.lead_name(0), unnamed.lead_name(np.int64(1))] == ["lead0", "lead1"]
    for row in (2, -1, True, 0.0, "II"):  # before: 'lead2' for a lead it has not, or a TypeError
        with pytest.raises(InputError, match=r"row must be a lead's row, an int in \[0, 2\)"):
            unnamed.lead_name(row)  # type: ignore[arg-type]


def _shipped_predictions(task: str) -> tuple[np.ndarray, np.ndarray]:
    """The shipped model's predicted and true labels on the shipped test split."""
    model = load_beat_model(task)
    test = load_ecg5000("test")
    with torch.no_grad():
        out = model(torch.from_numpy(test.x))
    predicted = (out[:, 0] > 0.5).long().numpy() if task == "binary" else out.argmax(1).numpy()
    truth = (test.y > 0).astype(int) if task == "binary" else test.y
    return predicted, truth


@pytest.mark.parametrize("task", ["binary", "5class"])
def test_shipped_models_reach_the_accuracy_their_card_states(task: str) -> None:
    predicted, truth = _shipped_predictions(task)
    measured = float((predicted == truth).mean())
    card = model_card()["models"][task]
    assert measured == pytest.approx(card["test_accuracy"], abs=1e-4)
    assert measured > (0.97 if task == "binary" else 0.92)  # well above a 1-NN baseline's 92.5 %


@pytest.mark.parametrize("task", ["binary", "5class"])
def test_the_cards_confusion_matrix_interval_and_recalls_are_the_shipped_models(task: str) -> None:
    """Re-measured on the shipped test split: the confusion matrix (rows true, columns
    predicted), each class's recall, the balanced accuracy and the 95 % Wilson interval of the
    accuracy (scipy's)."""
    from scipy.stats import binomtest

    predicted, truth = _shipped_predictions(task)
    card = model_card()["models"][task]
    classes = len(card["classes"])
    counts = np.zeros((classes, classes), dtype=int)
    np.add.at(counts, (truth, predicted), 1)
    assert card["test_confusion"]["counts"] == counts.tolist()
    recall = counts.diagonal() / counts.sum(axis=1)
    assert list(card["test_recall"]) == card["classes"]
    np.testing.assert_allclose(list(card["test_recall"].values()), recall, atol=5e-5)
    assert card["test_balanced_accuracy"] == pytest.approx(recall.mean(), abs=5e-5)
    interval = binomtest(int(counts.trace()), len(truth)).proportion_ci(method="wilson")
    np.testing.assert_allclose(card["test_accuracy_95ci"], [interval.low, interval.high], atol=5e-5)


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


class _TwoClass(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(6, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(self.linear(x.flatten(1)))
        return torch.cat([p, 1 - p], dim=1)


def test_ceil_mode_lets_every_sample_of_a_beat_reach_the_output() -> None:
    # floor pooling drops what each stage leaves over: the last 30 samples never count
    seen = samples_seen(ECGModel(num_classes=5, length=140, ceil_mode=False), 140)
    assert seen[:110].all() and not seen[110:].any()
    assert samples_seen(ECGModel(num_classes=5, length=140), 140).all()
    assert samples_seen(ECGModel(input_channels=3, length=1000), 1000, channels=3).all()
    # outputs that always sum to one ([p, 1 - p], like a softmax) still show what reaches them
    assert samples_seen(_TwoClass(), 6).all()


def test_shipped_models_see_samples_0_to_109_as_their_card_says() -> None:
    # the shipped models keep the tutorial's pooling (the README says why)
    for task in ("binary", "5class"):
        model = load_beat_model(task)
        seen = samples_seen(model, 140)
        assert seen[:110].all() and not seen[110:].any()
        assert model_card()["models"][task]["config"]["ceil_mode"] is False
        relevance = explain(model, load_ecg5000("test").x[:8], "lrpsign_epsilon_0_5")
        assert not relevance[..., 110:].any() and relevance[..., :110].any()


def test_samples_seen_leaves_the_model_as_found() -> None:
    model = ECGModel(num_classes=2, length=140).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    samples_seen(model, 140)
    assert model.training and all(p.grad is None for p in model.parameters())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    with pytest.raises(ValueError, match="length"):
        samples_seen(model, 0)


def test_samples_seen_restores_mixed_modes_and_takes_the_models_dtype() -> None:
    """Before, a model in train mode with a frozen (eval-mode) BatchNorm came back with that
    BatchNorm in train mode, and a float64 model raised a dtype error."""
    model = ECGModel(num_classes=2, length=140, ceil_mode=False).train()
    model.features[1].eval()
    modes = [module.training for module in model.modules()]
    seen = samples_seen(model, 140)
    assert [module.training for module in model.modules()] == modes
    np.testing.assert_array_equal(samples_seen(model.double(), 140), seen)


def test_ceil_mode_is_the_tutorial_model_when_length_divides() -> None:
    torch.manual_seed(0)
    ceil, floor = ECGModel(num_classes=3).eval(), ECGModel(num_classes=3, ceil_mode=False).eval()
    floor.load_state_dict(ceil.state_dict())
    x = torch.randn(2, 1, 2000)
    torch.testing.assert_close(ceil(x), floor(x), rtol=0, atol=0)


def test_shipped_model_explains_with_every_core_family() -> None:
    model = load_beat_model("5class")
    x = load_ecg5000("test").x[:4]
    for method in ("gradient", "integrated_gradients_steps_8", "grad_cam", "lrpsign_epsilon_0_5"):
        relevance = explain(model, x, method)
        assert relevance.shape == x.shape and np.isfinite(relevance).all()
