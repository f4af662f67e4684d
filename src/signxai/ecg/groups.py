"""Waveform groups of the formats that store a whole ECG in one file with several *groups* of
leads at their own rates: DICOM's multiplex groups, GE MUSE's rhythm and median beat, HL7
aECG's series. A group is decoded whole (seconds of 12 leads), then read by range like any
record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signxai.errors import InputError

#: The group read when none is asked for (the first of that label, else the first group).
RHYTHM = "RHYTHM"


def group_index(
    labels: Sequence[str], group: str | int | None, path: Path, kind: str = "waveform group"
) -> int:
    """The group asked for among a file's group ``labels``: a label (any case), an index, or
    None: the rhythm (the first group labelled ``RHYTHM``, else the first). ``kind`` is what the
    format calls its groups, for the error."""
    upper = [label.strip().upper() for label in labels]
    if group is None:
        return upper.index(RHYTHM) if RHYTHM in upper else 0
    if isinstance(group, str) and group.strip().upper() in upper:
        return upper.index(group.strip().upper())
    if isinstance(group, int | np.integer) and not isinstance(group, bool) and 0 <= group < len(labels):
        return int(group)
    listed = ", ".join(f"{k} {label!r}" for k, label in enumerate(labels))
    raise InputError(f"group must be a {kind} of '{path}' (its label or index: {listed}), got {group!r}")


@dataclass(frozen=True)
class GroupChannels:
    """One decoded group of a file: all its channels' ``values`` and names (``leads``), and the
    rows ``chosen`` to read."""

    path: Path
    values: np.ndarray  # (samples, channels), in each channel's units
    units: list[str]
    leads: list[str]
    chosen: list[int]
    fs: float

    @property
    def samples(self) -> int:
        """The group's length in samples."""
        return int(self.values.shape[0])

    def read(self, first: int, last: int | None) -> tuple[np.ndarray, list[str], list[str | None]]:
        """Samples ``first`` to ``last`` (None: the end) of the chosen channels, their names and units."""
        values = self.values[first:last][:, self.chosen]
        return values, [self.leads[row] for row in self.chosen], [self.units[row] for row in self.chosen]
