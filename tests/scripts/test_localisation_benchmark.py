"""benchmarks/localisation.py: the changed beats carry their evidence only in the window, and
input-multiplied maps are blind to a window set to zero where SIGN is not."""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest

from signxai.ecg import load_ecg5000


@pytest.fixture(scope="module")
def benchmark(load_benchmark: Callable[[str], ModuleType]) -> ModuleType:
    return load_benchmark("localisation")


@pytest.mark.parametrize("task", ["silence", "flat", "bump"])
def test_only_the_window_of_the_changed_beats_changes(benchmark: ModuleType, task: str) -> None:
    beats = load_ecg5000("test").x[:200]
    changed, labels, masks = benchmark.changed_beats(beats, task, seed=3)
    assert changed.shape == beats.shape and set(np.unique(labels)) == {0, 1}
    assert (masks.sum(axis=(1, 2)) == benchmark.WIDTH).all()
    starts = masks[:, 0].argmax(axis=1)
    assert starts.min() >= 15 and starts.max() + benchmark.WIDTH <= 140 - 15
    np.testing.assert_array_equal(changed[labels == 0], beats[labels == 0].astype(np.float32))
    np.testing.assert_array_equal(changed[~masks], beats[~masks].astype(np.float32))
    inside = np.abs(changed - beats)[masks & (labels == 1)[:, None, None]]
    assert inside.max() > 0.1
    if task == "silence":
        assert (changed[masks & (labels == 1)[:, None, None]] == 0).all()


def test_input_multiplied_maps_are_blind_to_a_silenced_window_and_sign_is_not(
    benchmark: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    methods = ["gradient_x_input", "lrp_epsilon_0_5", "lrpsign_epsilon_0_5", "random"]
    table, line = benchmark.scores("silence", methods, epochs=4, beats=300)
    assert "silence, seed 0: held-out accuracy" in line
    assert table["gradient_x_input"][:2] == (0.0, 0.0) and table["lrp_epsilon_0_5"][:2] == (0.0, 0.0)
    assert table["lrpsign_epsilon_0_5"][0] > 2 * table["random"][0]
    benchmark.main(
        [
            "--epochs",
            "1",
            "--beats",
            "100",
            "--tasks",
            "bump",
            "--seeds",
            "2",
            "--methods",
            "gradient",
            "random",
        ]
    )
    out = capsys.readouterr().out
    assert "| method | bump mass | bump rank | seconds |" in out and "bump, seed 1:" in out
    assert re.search(r"\| random \| 0\.\d\d \+- 0\.\d\d \| 0\.\d\d \+- 0\.\d\d \|", out)
