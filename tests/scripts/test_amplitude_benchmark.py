"""benchmarks/amplitude_bias.py: one row per method, over the samples the model sees."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "amplitude_bias.py"


def test_the_table_has_a_row_per_method_and_random_is_near_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.MonkeyPatch.context() as patch:  # it imports benchmarks/aopc.py
        patch.syspath_prepend(str(BENCHMARK.parent))
        spec = importlib.util.spec_from_file_location("amplitude_benchmark", BENCHMARK)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    rows = module.table(["lrp_alpha_1_beta_0", "random"], beats=40)
    assert [row[0] for row in rows] == ["lrp_alpha_1_beta_0", "random"]
    assert rows[0][1] > 0.5 and abs(rows[1][1]) < 0.1 and rows[1][3] == 0
    module.main(["--beats", "10", "--methods", "gradient"])
    assert "| gradient | " in capsys.readouterr().out
