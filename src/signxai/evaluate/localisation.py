"""Does a map point where the evidence is? Localisation against a known ground-truth mask.

Where the part of a signal that decides the class is known (a segment injected into a real beat,
a delineated wave, an annotated artefact), a map can be scored by how much of its relevance lies
inside that part (relevance mass accuracy) and how many of its top-ranked samples do (relevance
rank accuracy; Arras, Osman and Samek, "CLEVR-XAI", Information Fusion 2022). Both are computed
per sample, on maps of any shape ``(B, ...)``, and agree with Quantus's ``RelevanceMassAccuracy``
and ``RelevanceRankAccuracy`` (tested); unlike those, ties at the rank cut-off are shared out
(an all-zero map scores the chance level, not whatever order a sort left), and the mass can be
taken over positive relevance only, as Arras et al. do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from signxai.checks import check_choice, host_values
from signxai.errors import InputError

#: How relevance counts towards the mass: its positive part (Arras et al.), its magnitude, or as
#: signed (Quantus's default, ``abs=False``; negative relevance outside the mask raises the score).
PARTS = ("positive", "absolute", "signed")


def as_array(value: Any, name: str, shape: str = "(B, ...)") -> np.ndarray:
    """``value`` (numpy, torch, nested lists) as a numpy array; anything else named, with the
    ``shape`` expected ('' where any shape will do)."""
    wanted = f" {shape}" if shape else ""
    if value is None or isinstance(value, (str, bytes, bool, int, float)):
        raise InputError(f"{name} must be an array{wanted}, got {type(value).__name__}")
    try:
        return np.asarray(host_values(value))
    except ValueError as error:  # ragged nested lists
        raise InputError(f"{name} must be a rectangular array{wanted}: {error}") from None


def as_real(value: Any, name: str, shape: str = "(B, ...)") -> np.ndarray:
    """``value`` (as :func:`as_array` takes it) as a float64 array, if it holds real numbers."""
    array = as_array(value, name, shape)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise InputError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array.astype(np.float64)


def as_mask(value: Any, name: str, marking: str) -> np.ndarray:
    """``value`` (as :func:`as_array` takes it) as a boolean array, if it holds booleans or 0/1;
    ``marking`` says what its true values mark, for the error."""
    truth = as_array(value, name)
    if truth.dtype == bool:
        return truth
    number = np.issubdtype(truth.dtype, np.number)
    if not number or not np.isin(truth, (0, 1)).all():
        raise InputError(
            f"{name} must be boolean (or 0/1) marking {marking}, got dtype {truth.dtype}"
            + (" with values other than 0 and 1" if number else "")
        )
    return truth.astype(bool)


def as_maps(value: Any, name: str, at_least: int = 1) -> np.ndarray:
    """``value`` as a float64 array of finite real numbers in its own shape ``(B, ...)``, at
    least ``at_least`` numbers a sample."""
    array = as_array(value, name)
    if array.ndim < 2 or array.shape[0] == 0 or array[0].size < at_least:
        raise InputError(
            f"{name} must be a batch (B, ...) with a sample axis first and at least {at_least} "
            f"value{'s' if at_least > 1 else ''} per sample, got shape {array.shape}"
        )
    array = as_real(array, name)
    if not np.isfinite(array).all():
        raise InputError(f"{name} has {int((~np.isfinite(array)).sum())} non-finite values (NaN or inf)")
    return array


def _maps_and_masks(relevance: Any, mask: Any) -> tuple[np.ndarray, np.ndarray]:
    """``relevance`` and ``mask`` as ``(B, N)`` float64 and bool arrays, checked."""
    values = as_maps(relevance, "relevance")
    shape = values.shape
    truth = as_mask(mask, "mask", "the ground-truth samples")
    try:
        truth = np.broadcast_to(truth, shape)
    except ValueError:
        raise InputError(
            f"mask must have relevance's shape {shape} or one that broadcasts to it (e.g. "
            f"{(shape[0], 1, *shape[2:])} for every lead), got {truth.shape}"
        ) from None
    values, truth = values.reshape(len(values), -1), truth.reshape(len(values), -1)
    empty = np.flatnonzero(~truth.any(axis=1))
    if empty.size:
        shown = ", ".join(map(str, empty[:5])) + (", ..." if empty.size > 5 else "")
        raise InputError(f"mask marks no sample of map(s) {shown}: there is nothing to localise")
    return values, truth


def _counted(relevance: Any, mask: Any, part: str) -> tuple[np.ndarray, np.ndarray]:
    """The maps as ``part`` counts them (positive part, magnitude or as signed), and the masks."""
    part = check_choice(part, "part", PARTS)
    values, truth = _maps_and_masks(relevance, mask)
    if part == "positive":
        return np.clip(values, 0.0, None), truth
    return (np.abs(values) if part == "absolute" else values), truth


def relevance_mass_accuracy(relevance: Any, mask: Any, part: str = "positive") -> np.ndarray:
    """The share of each map's relevance that lies inside the ground-truth mask.

    Parameters
    ----------
    relevance
        Maps ``(B, ...)`` (e.g. from ``explain``), numpy or torch.
    mask
        Boolean (or 0/1) ground truth, shaped like ``relevance`` or broadcasting to it (a
        ``(B, 1, T)`` time mask for every lead of ``(B, C, T)`` maps).
    part
        ``'positive'`` (default; Arras et al.): positive relevance inside over positive relevance
        in all; ``'absolute'``: the same for ``|R|`` (Quantus with ``abs=True``); ``'signed'``:
        ``R`` as it is (Quantus's default).

    Returns
    -------
    numpy.ndarray
        ``(B,)`` scores, 1 where all the counted relevance is inside the mask; NaN for a map with
        nothing to count (no positive relevance, or an all-zero map), which no share describes.

    Raises
    ------
    InputError
        Maps without a sample axis, non-finite values, a mask that is not boolean, does not fit
        the maps' shape or marks nothing in some map, or an unknown ``part``.
    """
    values, truth = _counted(relevance, mask, part)
    total = values.sum(axis=1)
    inside = np.where(truth, values, 0.0).sum(axis=1)
    defined = total != 0
    return np.where(defined, inside / np.where(defined, total, 1.0), np.nan)


def relevance_rank_accuracy(relevance: Any, mask: Any, part: str = "signed") -> np.ndarray:
    """The share of each map's K highest-ranked samples that lie inside the mask (K: the mask's
    size in that map).

    Samples tied with the K-th value share the places left among them: each counts in proportion,
    which is the expected score over every order of the ties (an all-zero map scores K / N, the
    chance level).

    Parameters
    ----------
    relevance
        Maps ``(B, ...)``, numpy or torch.
    mask
        Boolean (or 0/1) ground truth, shaped like ``relevance`` or broadcasting to it.
    part
        ``'signed'`` (default; Arras et al. and Quantus): rank by relevance, most positive first;
        ``'absolute'``: rank by ``|R|`` (Quantus with ``abs=True``); ``'positive'``: rank by the
        positive part, so that every sample with no positive relevance ties at zero.

    Returns
    -------
    numpy.ndarray
        ``(B,)`` scores in [0, 1].

    Raises
    ------
    InputError
        As :func:`relevance_mass_accuracy`.
    """
    values, truth = _counted(relevance, mask, part)
    k = truth.sum(axis=1)  # differs from map to map
    cut = np.take_along_axis(-np.sort(-values, axis=1), (k - 1)[:, None], axis=1)  # the K-th largest
    above, tied = values > cut, values == cut
    share = (k - above.sum(axis=1)) / tied.sum(axis=1)  # the places left, shared by the ties
    return ((above & truth).sum(axis=1) + share * (tied & truth).sum(axis=1)) / k
