"""scripts/spectrum_study.py: the per-class band table, on a few beats per class."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

import pytest


def test_the_table_has_a_row_per_class_whose_shares_sum_to_one(
    load_script: Callable[[str], ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = load_script("spectrum_study")
    monkeypatch.setattr(
        sys, "argv", ["spectrum_study.py", "--per-class", "3", "--method", "gradient_x_input"]
    )
    module.main()
    rows = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "beats" not in line
    ]
    assert [row.split(" | ")[0][2:] for row in rows] == [
        "normal",
        "R-on-T PVC",
        "PVC",
        "SVEB",
        "unclassified",
    ]
    for row in rows:
        cells = row.strip("| ").split(" | ")
        assert cells[1] == "3"
        assert sum(float(share) for share in cells[2:]) == pytest.approx(1.0, abs=0.03)  # bands cover 0-70
