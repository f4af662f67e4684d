"""The Keras frontend on Keras's torch backend: every test of test_keras.py again, in a process of
its own with ``KERAS_BACKEND=torch`` (the backend is chosen once, when Keras is first imported)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

keras = pytest.importorskip("keras", reason="the keras extra (keras, tensorflow) is not installed")

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="this run is on the torch backend already")
def test_every_keras_test_passes_on_the_torch_backend() -> None:
    env = {**os.environ, "KERAS_BACKEND": "torch", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::DeprecationWarning",
            str(ROOT / "tests" / "frontends" / "test_keras.py"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary, summary
