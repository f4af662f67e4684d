"""benchmarks/amplitude_bias.py: one row per method, over the samples the model sees."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest


def test_the_table_has_a_row_per_method_and_random_is_near_zero(
    load_benchmark: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_benchmark("amplitude_bias")
    rows = module.table(["lrp_alpha_1_beta_0", "random"], beats=40)
    assert [row[0] for row in rows] == ["lrp_alpha_1_beta_0", "random"]
    assert rows[0][1] > 0.5 and abs(rows[1][1]) < 0.1 and rows[1][3] == 0
    module.main(["--beats", "10", "--methods", "gradient"])
    assert "| gradient | " in capsys.readouterr().out
