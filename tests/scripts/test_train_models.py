"""The training script's pieces on a few beats and a short recipe (the real runs take minutes)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest
import torch

from signxai.ecg.datasets import BeatSet, load_ecg5000


@pytest.fixture(scope="module")
def script(load_script: Callable[[str], ModuleType]) -> ModuleType:
    return load_script("train_models")


@pytest.fixture(scope="module")
def beats() -> tuple[BeatSet, BeatSet]:
    train, test = load_ecg5000("train"), load_ecg5000("test")
    return BeatSet(x=train.x[:60], y=train.y[:60]), BeatSet(x=test.x[:200], y=test.y[:200])


TINY = {"epochs": 2, "shift": 4, "smoothing": 0.1, "ema": 0.9, "mixup": 1.0}


def test_labels_threshold_and_argmax(script: ModuleType) -> None:
    assert script._labels(np.array([[0.2], [0.7], [0.5]])).tolist() == [0, 1, 0]
    assert script._labels(np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])).tolist() == [1, 0]


@pytest.mark.parametrize("task", ["binary", "5class"])
def test_fit_is_seeded_and_returns_the_tutorial_pooling(
    script: ModuleType, beats: tuple[BeatSet, BeatSet], task: str
) -> None:
    train, _ = beats
    first = script.fit(task, train.x, train.y, TINY, seed=3)
    again = script.fit(task, train.x, train.y, TINY, seed=3)
    other = script.fit(task, train.x, train.y, TINY, seed=4)
    assert not first.training
    assert first.config["ceil_mode"] is False
    assert first.config["num_classes"] == (1 if task == "binary" else 5)
    for name, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name
    assert not torch.equal(first.fc[-2].weight, other.fc[-2].weight)


def test_seed_spread_reports_each_seed_and_their_range(
    script: ModuleType,
    beats: tuple[BeatSet, BeatSet],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    train, test = beats
    name = script.model_card_recipe("5class")
    monkeypatch.setitem(script.RECIPES, name, TINY)
    script.seed_spread("5class", 3, train, test)
    lines = capsys.readouterr().out.splitlines()
    per_seed = [float(re.search(r"test accuracy (\S+)$", line).group(1)) for line in lines[:3]]
    assert [re.search(r"seed (\d+):", line).group(1) for line in lines[:3]] == ["0", "1", "2"]
    summary = re.search(r"test accuracy (\S+)-(\S+) \(mean (\S+)\); averaged probabilities (\S+)$", lines[3])
    assert summary is not None
    low, high, mean, _ = map(float, summary.groups())
    assert (low, high) == (min(per_seed), max(per_seed))
    assert mean == pytest.approx(np.mean(per_seed), abs=1e-4)
    # seed 0 of the spread is the model the script would ship from these beats
    shipped = script.fit("5class", train.x, train.y, TINY, seed=0)
    assert per_seed[0] == pytest.approx(script.accuracy(shipped, test.x, test.y, "5class"), abs=1e-4)


def test_normal_abnormal_loss_is_the_binary_cross_entropy_of_the_summed_softmax(script: ModuleType) -> None:
    logits = torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    abnormal = torch.tensor([0.0, 1.0, 0.3, 1.0, 0.0, 0.8], dtype=torch.float64)
    p_abnormal = logits.softmax(-1)[:, 1:].sum(-1)
    expected = torch.nn.functional.binary_cross_entropy(p_abnormal, abnormal)
    assert script._normal_abnormal_loss(logits, abnormal).item() == pytest.approx(expected.item(), rel=1e-12)


def test_sharpness_aware_gradient_is_the_gradient_at_the_perturbed_weights(script: ModuleType) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1).double()
    x = torch.randn(8, 3, dtype=torch.float64)

    def loss() -> torch.Tensor:
        return (model(x) ** 4).mean()  # not quadratic: the gradient moves with the weights

    before = [p.detach().clone() for p in model.parameters()]
    loss().backward()
    plain = [p.grad.clone() for p in model.parameters()]
    norm = torch.sqrt(sum((g**2).sum() for g in plain))
    model.zero_grad()
    script._sharpness_aware_gradient(model, loss, 0.1)
    sam = [p.grad.clone() for p in model.parameters()]
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p.detach(), b)  # weights restored
    with torch.no_grad():
        for p, g in zip(model.parameters(), plain, strict=True):
            p.add_(0.1 * g / norm)
    model.zero_grad()
    loss().backward()
    for p, g, g0 in zip(model.parameters(), sam, plain, strict=True):
        torch.testing.assert_close(g, p.grad)
        assert not torch.allclose(g, g0)


def test_recipe_options_change_the_training(script: ModuleType, beats: tuple[BeatSet, BeatSet]) -> None:
    train, _ = beats
    plain = script.fit("5class", train.x, train.y, TINY, seed=0)
    for option in ({"balanced": True}, {"hier": 1.0}, {"sam": 0.05}):
        other = script.fit("5class", train.x, train.y, {**TINY, **option}, seed=0)
        assert not torch.equal(plain.fc[-2].weight, other.fc[-2].weight), option


def test_seed_spread_in_parallel_reports_what_one_process_does(
    script: ModuleType,
    beats: tuple[BeatSet, BeatSet],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--jobs``: seeds trained in worker processes (one thread each), named recipes."""
    train, test = beats
    monkeypatch.setitem(sys.modules, "train_models", script)  # the workers find the functions
    monkeypatch.setitem(script.RECIPES, "tiny", TINY)
    monkeypatch.setitem(script.RECIPES, "tiny_plain", {**TINY, "mixup": None})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        script.seed_spread("5class", 3, train, test, jobs=1, names=["tiny", "tiny_plain"])
        alone = capsys.readouterr().out.splitlines()
        script.seed_spread("5class", 3, train, test, jobs=2, names=["tiny", "tiny_plain"])
        parallel = capsys.readouterr().out.splitlines()
    finally:
        torch.set_num_threads(threads)

    def per_seed(lines: list[str]) -> dict[str, str]:
        found = [re.search(r"(tiny\S*) seed (\d+): test accuracy (\S+)$", line) for line in lines]
        return {f"{m.group(1)} {m.group(2)}": m.group(3) for m in found if m}

    assert len(per_seed(alone)) == 6
    assert per_seed(parallel) == per_seed(alone)
    summaries = [line for line in parallel if "seeds 0-2" in line or "quantiles" in line]
    assert summaries == [line for line in alone if "seeds 0-2" in line or "quantiles" in line]
    assert len(summaries) == 4


def test_evaluation_counts_recalls_and_the_wilson_interval(
    script: ModuleType, beats: tuple[BeatSet, BeatSet]
) -> None:
    """On a random 5-class model: the confusion matrix counted by numpy, recalls, balanced accuracy
    and the interval (scipy's Wilson interval); the test fields go after ``train_accuracy``."""
    from scipy.stats import binomtest

    from signxai.ecg.models import ECG5000_CLASSES, ECGModel

    _, test = beats
    torch.manual_seed(0)
    model = ECGModel(length=140, num_classes=5).eval()
    found = script.evaluation(model, test.x, test.y, "5class", ECG5000_CLASSES)
    with torch.no_grad():
        predicted = model(torch.from_numpy(test.x)).argmax(1).numpy()
    counts = np.zeros((5, 5), dtype=int)
    np.add.at(counts, (test.y, predicted), 1)
    assert found["test_confusion"]["counts"] == counts.tolist()
    assert found["test_accuracy"] == round(float((predicted == test.y).mean()), 4)
    with np.errstate(invalid="ignore"):
        recall = counts.diagonal() / counts.sum(axis=1)
    present = ~np.isnan(recall)
    assert [value is None for value in found["test_recall"].values()] == list(~present)
    np.testing.assert_allclose(
        [value for value in found["test_recall"].values() if value is not None], recall[present], atol=5e-5
    )
    assert found["test_balanced_accuracy"] == pytest.approx(recall[present].mean(), abs=5e-5)
    interval = binomtest(int(counts.trace()), len(test.y)).proportion_ci(method="wilson")
    np.testing.assert_allclose(found["test_accuracy_95ci"], [interval.low, interval.high], atol=5e-5)
    for correct, total in [(0, 10), (10, 10), (4242, 4500)]:
        expected = binomtest(correct, total).proportion_ci(method="wilson")
        np.testing.assert_allclose(
            script.wilson_interval(correct, total), [expected.low, expected.high], atol=1e-9
        )
    entry = {"weights": "w.pt", "train_accuracy": 1.0, "test_accuracy": 0.5, "training_seconds": 3.0}
    assert list(script._with_evaluation(entry, found)) == [
        "weights",
        "train_accuracy",
        *found,
        "training_seconds",
    ]
