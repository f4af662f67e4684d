"""Loading the scripts under scripts/ and benchmarks/ as modules (they are not part of the package)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
BENCHMARKS = SCRIPTS.parent / "benchmarks"


def _load(name: str, folder: Path = SCRIPTS) -> ModuleType:
    """``folder/name.py`` executed as a module; ``folder`` is on ``sys.path`` only meanwhile (the
    benchmarks import ``aopc`` beside them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def load_script() -> Callable[[str], ModuleType]:
    """``load_script('wave_study')``: scripts/wave_study.py, freshly executed, as a module."""
    return _load


@pytest.fixture(scope="session")
def load_benchmark() -> Callable[[str], ModuleType]:
    """``load_benchmark('localisation')``: benchmarks/localisation.py, freshly executed."""
    return lambda name: _load(name, BENCHMARKS)
