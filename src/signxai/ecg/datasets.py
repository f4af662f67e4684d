"""The real recordings shipped with signxai (see ``data/README.md`` for sources and licences)."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from signxai.checks import check_choice, check_text
from signxai.ecg.checks import as_lead_names, as_signal, check_count, check_fs, default_lead_names
from signxai.errors import InputError


@dataclass
class Recording:
    """A multi-lead recording: ``signal`` is ``(leads, samples)`` in mV at ``fs`` Hz."""

    signal: np.ndarray
    fs: float
    leads: list[str] = field(default_factory=list)
    name: str = ""

    def __post_init__(self) -> None:
        """Check the layout: ``(leads, samples)`` of finite numbers, a sampling rate, one name
        per lead (if named)."""
        self.signal = np.atleast_2d(as_signal(self.signal, name="signal"))
        if self.signal.ndim != 2:
            raise InputError(f"signal must be (leads, samples), got shape {self.signal.shape}")
        if self.signal.shape[0] > self.signal.shape[1]:
            raise InputError(
                f"signal has shape {self.signal.shape}: more leads than samples; recordings are "
                "(leads, samples), so pass the array transposed (signal.T)"
            )
        self.fs = check_fs(self.fs)
        self.leads = as_lead_names(self.leads, [])
        self.name = check_text(self.name, "name")
        check_count(self.leads or None, self.signal.shape[0], "leads", "leads of signal")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.signal.shape[1] / self.fs

    def lead_name(self, row: int) -> str:
        """The name of lead ``row``: its own, or ``lead0``, ``lead1``... in a recording that names
        none (:func:`~signxai.ecg.checks.default_lead_names`)."""
        count = self.signal.shape[0]
        if isinstance(row, bool) or not isinstance(row, int | np.integer) or not 0 <= row < count:
            raise InputError(f"row must be a lead's row, an int in [0, {count}), got {row!r}")
        return self.leads[row] if self.leads else default_lead_names(count)[row]


@dataclass
class BeatSet:
    """Labelled beats: ``x`` is ``(beats, 1, 140)``, ``y`` the labels 0..4 (UCR labels 1..5)."""

    x: np.ndarray
    y: np.ndarray


def _load(name: str) -> np.lib.npyio.NpzFile:
    path = resources.files("signxai.ecg.data").joinpath(name)
    with resources.as_file(path) as file:
        return np.load(file)


def as_recording(value: object, name: str = "recording") -> Recording:
    """``value`` if it is a :class:`Recording` (an array is told how to make one)."""
    if not isinstance(value, Recording):
        hint = " (wrap an array: Recording(signal, fs, leads))" if isinstance(value, np.ndarray) else ""
        raise InputError(f"{name} must be a signxai.ecg.Recording, got {type(value).__name__}{hint}")
    return value


def load_ecg5000(split: str = "test") -> BeatSet:
    """The UCR ECG5000 beats (BIDMC CHF database, record chf07; 140 samples per beat).

    Parameters
    ----------
    split
        ``'train'`` (500 beats) or ``'test'`` (4500 beats), the official UCR splits.
    """
    check_choice(split, "split", ("train", "test"))
    data = _load("ecg5000.npz")
    x = data[f"{split}_x"].astype(np.float32)[:, None, :]
    y = data[f"{split}_y"].astype(np.int64) - 1
    return BeatSet(x=x, y=y)


def load_mitbih_208() -> Recording:
    """Five minutes of MIT-BIH Arrhythmia record 208, lead MLII, 360 Hz (108,000 samples), in mV."""
    data = _load("mitbih_208.npz")
    signal = (data["raw"].astype(np.float64) - 1024.0) / 200.0
    return Recording(signal=signal[None, :], fs=float(data["fs"]), leads=["MLII"], name="mitdb/208")
