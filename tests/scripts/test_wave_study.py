"""scripts/wave_study.py --versus: shares alone and against the runner-up, each summing to one."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

import pytest


def test_the_contrast_table_pairs_the_shares_alone_and_against_the_runner_up(
    load_script: Callable[[str], ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = load_script("wave_study")
    monkeypatch.setattr(module, "METHODS", ("lrp_epsilon_0_5", "gradient"))
    monkeypatch.setattr(sys, "argv", ["wave_study.py", "--versus"])
    module.main()
    out = capsys.readouterr().out
    assert "runner-ups of the explained beats:" in out
    rows = [
        line.strip("| ").split(" | ")
        for line in out.splitlines()
        if line.startswith("| lrp") or line.startswith("| grad")
    ]
    assert {(row[0], row[1]) for row in rows} == {
        (m, c) for m in ("lrp_epsilon_0_5", "gradient") for c in ("normal", "R-on-T PVC", "SVEB")
    }
    for row in rows:
        pairs = [cell.split(" / ") for cell in row[2:]]
        for side in (0, 1):
            assert sum(float(pair[side]) for pair in pairs) == pytest.approx(1.0, abs=0.03)
    lrp = next(row for row in rows if row[:2] == ["lrp_epsilon_0_5", "R-on-T PVC"])
    alone, against = lrp[3].split(" / ")  # the QRS share
    assert alone != against
