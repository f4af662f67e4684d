"""The users' tutorial (../shared/seed/tutorial.py) runs unchanged on this package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[2] / "shared" / "seed" / "tutorial.py"


@pytest.mark.skipif(not TUTORIAL.exists(), reason=f"{TUTORIAL} is not present")
def test_tutorial_runs_unchanged(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(TUTORIAL)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "TUTORIAL COMPLETED" in result.stdout
