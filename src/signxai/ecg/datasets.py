"""The real recordings shipped with signxai (see ``data/README.md`` for sources and licences)."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import numpy as np


@dataclass
class Recording:
    """A multi-lead recording: ``signal`` is ``(leads, samples)`` in mV at ``fs`` Hz."""

    signal: np.ndarray
    fs: float
    leads: list[str] = field(default_factory=list)
    name: str = ""

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.signal.shape[1] / self.fs


@dataclass
class BeatSet:
    """Labelled beats: ``x`` is ``(beats, 1, 140)``, ``y`` the labels 0..4 (UCR labels 1..5)."""

    x: np.ndarray
    y: np.ndarray


def _load(name: str) -> np.lib.npyio.NpzFile:
    path = resources.files("signxai.ecg.data").joinpath(name)
    with resources.as_file(path) as file:
        return np.load(file)


def load_ecg5000(split: str = "test") -> BeatSet:
    """The UCR ECG5000 beats (BIDMC CHF database, record chf07; 140 samples per beat).

    Parameters
    ----------
    split
        ``'train'`` (500 beats) or ``'test'`` (4500 beats), the official UCR splits.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    data = _load("ecg5000.npz")
    x = data[f"{split}_x"].astype(np.float32)[:, None, :]
    y = data[f"{split}_y"].astype(np.int64) - 1
    return BeatSet(x=x, y=y)


def load_mitbih_208() -> Recording:
    """Five minutes of MIT-BIH Arrhythmia record 208, lead MLII, 360 Hz (108,000 samples), in mV."""
    data = _load("mitbih_208.npz")
    signal = (data["raw"].astype(np.float64) - 1024.0) / 200.0
    return Recording(signal=signal[None, :], fs=float(data["fs"]), leads=["MLII"], name="mitdb/208")
