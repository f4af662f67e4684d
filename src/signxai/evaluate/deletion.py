"""Time-window deletion (MoRF) and insertion-order (LeRF) curves for signals, batched.

The time axis is cut into windows (``window`` samples, or ``window_ms`` with ``fs``); each
window's relevance is the sum over its samples and all channels. Windows are removed in order of
relevance — most relevant first (MoRF) or least relevant first (LeRF) — one more per step, and
the explained output (the logit, as ``explain`` explains it, or the probability) is recorded for
the whole batch at every step: one forward pass per step.

AOPC (Samek et al. 2017) is the mean over steps k = 0..K of f(x) - f(x_k); the area under the
curve (AUC) uses the fraction of removed windows on the x axis (trapezoid rule).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from signxai.checks import (
    check_choice,
    check_number,
    check_seed,
    check_whole,
    host_values,
    is_number,
    numpy_tensor,
)
from signxai.errors import InputError, MethodParameterError
from signxai.evaluate.localisation import as_mask
from signxai.inputs import as_batch
from signxai.model import ModelView

INFILLS = ("zero", "linear", "median", "noise")


@dataclass
class DeletionCurve:
    """Scores after removing 0..K windows, per sample; and the summaries of the curve.

    Attributes
    ----------
    fractions
        ``(K + 1,)``: the fraction of the signal's windows removed at each step.
    scores
        ``(B, K + 1)``: the explained output per sample after each step (step 0: ``x`` itself).
    order
        ``'morf'`` or ``'lerf'``.
    infill
        What replaced the removed windows (``'zero'`` for removed frequency bins).
    window
        The units removed per step: samples, or frequency bins (``unit``).
    unit
        ``'samples'`` (time windows, :func:`deletion_curve`) or ``'bins'`` (frequency bins,
        :func:`signxai.evaluate.spectral_deletion_curve`).
    """

    fractions: np.ndarray
    scores: np.ndarray
    order: str
    infill: str
    window: int
    unit: str = "samples"

    @property
    def drop(self) -> np.ndarray:
        """f(x) - f(x_k) per sample and step."""
        return self.scores[:, :1] - self.scores

    @property
    def aopc(self) -> float:
        """Area over the perturbation curve: mean over samples and steps of f(x) - f(x_k)."""
        return float(self.drop.mean())

    @property
    def auc(self) -> float:
        """Area under the mean curve over the fraction of removed windows."""
        mean = self.scores.mean(axis=0)
        return float(np.sum((mean[1:] + mean[:-1]) / 2 * np.diff(self.fractions)))


def seeded_generator(seed: object, name: str = "seed") -> torch.Generator:
    """A CPU generator seeded with ``seed``, a whole number >= 0 (a named error if not)."""
    return torch.Generator().manual_seed(check_seed(seed, name, MethodParameterError))


def _window_length(window: int | None, window_ms: float | None, fs: float | None, length: int) -> int:
    """The deletion window in samples, from ``window`` or from ``window_ms`` and ``fs``."""
    if (window is None) == (window_ms is None):
        raise MethodParameterError(
            f"give the deletion window either in samples (window=) or in ms with fs (window_ms=, fs=); "
            f"got window={window!r}, window_ms={window_ms!r}"
        )
    if window_ms is not None:
        check_number(window_ms, "window_ms", above=0, unit="of milliseconds", error=MethodParameterError)
        if fs is None or not (is_number(fs) and fs > 0):
            raise MethodParameterError(f"window_ms needs fs, the sampling rate in Hz (> 0); got fs={fs!r}")
        window = round(window_ms * fs / 1000.0)
        given = f"window_ms={window_ms} at fs={fs} Hz gives {window} samples"
    else:
        given = f"got window={window!r}"
    if not isinstance(window, int | np.integer) or isinstance(window, bool) or window < 1:
        raise MethodParameterError(f"window must be a whole number of samples >= 1; {given}")
    if window > length:
        raise MethodParameterError(f"window must not exceed the signal's {length} samples; {given}")
    return int(window)


def infill_windows(
    x: Any, mask: Any, how: str = "zero", window: int = 10, generator: torch.Generator | None = None
) -> Any:
    """Replace the samples of each signal that ``mask`` marks, in every channel.

    The perturbation :func:`deletion_curve` applies to the windows it removes.

    Parameters
    ----------
    x
        Signals ``(B, C, T)``, a torch tensor or numpy array of real numbers.
    mask
        ``(B, T)`` booleans (or 0/1): the samples to replace, the same in every channel.
    how
        ``'zero'``; ``'linear'`` (interpolated between the kept samples either side); ``'median'``
        (the median of the kept samples within ``window`` samples either side, or of all kept
        samples where none is that near); ``'noise'`` (Gaussian noise with the channel's standard
        deviation, one draw of a sample's shape shared by the batch).
    window
        The median's reach either side, in samples (>= 1; read only by ``'median'``).
    generator
        The ``torch.Generator`` the noise is drawn from (None: torch's global one).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        ``x`` with the marked samples replaced, of the kind, shape and dtype given.
    """
    check_choice(how, "how", INFILLS, MethodParameterError)
    check_whole(window, "window", at_least=1, unit="of samples", error=MethodParameterError)
    if generator is not None and not isinstance(generator, torch.Generator):
        kind = type(generator).__name__
        raise MethodParameterError(f"generator must be a torch.Generator or None, got {kind}")
    given = x
    if isinstance(x, np.ndarray):
        x = numpy_tensor(x)
    if not isinstance(x, torch.Tensor) or x.ndim != 3 or not x.is_floating_point():
        kind = f"{x.dtype} values of shape {tuple(x.shape)}" if hasattr(x, "shape") else type(x).__name__
        raise InputError(f"x must be real signals (B, C, T) as a tensor or array, got {kind}")
    marks = as_mask(mask, "mask", "the samples to replace")
    if marks.shape != (x.shape[0], x.shape[2]):
        raise InputError(
            f"mask must be (B, T) = {(x.shape[0], x.shape[2])} for x of shape {tuple(x.shape)} (one "
            f"row of samples per signal, for every channel), got shape {marks.shape}"
        )
    filled = _infill(x, torch.as_tensor(marks, device=x.device), how, window, generator)
    return filled.detach().cpu().numpy() if isinstance(given, np.ndarray) else filled


def _infill(
    x: torch.Tensor, mask: torch.Tensor, how: str, window: int, generator: torch.Generator | None
) -> torch.Tensor:
    """:func:`infill_windows` on checked tensors: ``x`` (B, C, T), ``mask`` (B, T) boolean."""
    if how == "zero":
        return x.masked_fill(mask[:, None, :], 0.0)
    if how == "noise":
        std = x.std(dim=2, keepdim=True)
        # drawn on the CPU in float32 (the same noise on every device and for every dtype), then
        # moved to x's device and dtype; one draw of a sample's shape, scaled per sample, so a
        # sample's curve is the same alone or in any batch
        draw = torch.randn((1, *x.shape[1:]), generator=generator)
        noise = draw.to(device=x.device, dtype=x.dtype) * std
        return torch.where(mask[:, None, :], noise, x)
    result = x.clone()
    length = x.shape[2]
    for b in range(x.shape[0]):
        removed = mask[b].cpu().numpy()
        if not removed.any():
            continue
        kept = np.flatnonzero(~removed)
        for c in range(x.shape[1]):
            values = x[b, c].cpu().numpy()
            if how == "linear":
                filled = np.interp(np.arange(length), kept, values[kept]) if len(kept) else 0 * values
            else:  # median of the kept samples within one window either side
                filled = values.copy()
                for t in np.flatnonzero(removed):
                    lo, hi = max(0, t - window), min(length, t + window + 1)
                    near = values[lo:hi][~removed[lo:hi]]
                    filled[t] = np.median(near) if len(near) else np.median(values[kept]) if len(kept) else 0
            result[b, c] = torch.as_tensor(filled, dtype=x.dtype)
    return result


@torch.inference_mode(False)  # called under inference mode: gradients and model copies need it off
def deletion_curve(
    model: nn.Module,
    x: Any,
    relevance: Any,
    target_class: Any = None,
    window: int | None = None,
    window_ms: float | None = None,
    fs: float | None = None,
    order: str = "morf",
    infill: str = "zero",
    score: str = "logit",
    seed: int = 0,
    forward_args: Sequence[Any] | None = None,
    forward_kwargs: dict[str, Any] | None = None,
) -> DeletionCurve:
    """Remove time windows in order of relevance and record the explained output.

    Parameters
    ----------
    model, x, target_class
        As for ``explain`` (``x`` batched ``(B, C, T)`` or one sample; ``(B, T)`` for a model
        that takes one lead without its axis).
    relevance
        The relevance map to rank windows by, shaped like ``x`` (e.g. from ``explain``).
    window, window_ms, fs
        Window length in samples, or in milliseconds with the sampling rate ``fs``.
    order
        ``'morf'`` (most relevant first) or ``'lerf'`` (least relevant first).
    infill
        ``'zero'``, ``'linear'`` (interpolation across the removed samples), ``'median'`` (local
        median of the kept samples within one window) or ``'noise'`` (Gaussian, the sample's std;
        one draw per step, seeded by ``seed``, serves every sample of the batch).
    score
        ``'logit'`` (what ``explain`` explains) or ``'probability'`` (the model's output).
    forward_args, forward_kwargs
        The model's further inputs, as for ``explain`` (held as they are while ``x`` is
        perturbed).
    """
    check_choice(order, "order", ("morf", "lerf"), MethodParameterError)
    check_choice(infill, "infill", INFILLS, MethodParameterError)
    check_choice(score, "score", ("logit", "probability"), MethodParameterError)
    explained_output = "logit" if score == "logit" else "activation"
    with ModelView(model, explained_output, forward_args, forward_kwargs) as view:
        batch = as_batch(x, view)
        inputs, leadless = as_signals(batch.tensor)  # (B, T): windows are cut from one lead
        relevance_t = as_relevance(relevance, batch.tensor.shape).view(inputs.shape)
        length = inputs.shape[2]
        size = _window_length(window, window_ms, fs, length)
        ranking = tile_ranking(relevance_t.sum(dim=1)[..., None], (size, 1), order)  # windows as tiles
        generator = seeded_generator(seed)
        perturbed = (
            _infill(inputs, mask[..., 0].to(inputs.device), infill, size, generator)
            for mask in removal_masks(ranking, (size, 1), (length, 1))
        )
        scores = explained_scores(view, inputs, target_class, score, perturbed, leadless)
    count = ranking.shape[1]
    return DeletionCurve(
        fractions=np.arange(count + 1) / count, scores=scores, order=order, infill=infill, window=size
    )


def tile_ranking(relevance: torch.Tensor, tile: tuple[int, int], order: str) -> torch.Tensor:
    """``(B, N, M)`` relevance per cell (time sample, frequency bin; M = 1, or frames) cut into
    tiles of ``tile`` = (cells along N, cells along M) (the last of each axis smaller), each
    tile's relevance summed: ``(B, tiles)``, the tiles (numbered along N first) of each row in the
    order of removal (most relevant first for ``'morf'``, least relevant first for ``'lerf'``)."""
    rows, count, width = relevance.shape
    down, across = -(-count // tile[0]), -(-width // tile[1])
    padded = torch.nn.functional.pad(relevance, (0, across * tile[1] - width, 0, down * tile[0] - count))
    sums = padded.reshape(rows, down, tile[0], across, tile[1]).sum(dim=(2, 4)).reshape(rows, -1)
    return torch.argsort(sums, dim=1, descending=(order == "morf"))


def removal_masks(
    ranking: torch.Tensor, tile: tuple[int, int], grid: Sequence[int]
) -> Iterator[torch.Tensor]:
    """The ``(B, N, M)`` masks of the cells of ``grid`` = (N, M) removed (True) after each step
    of :func:`tile_ranking`'s order, one more tile per step."""
    count, width = grid
    down, across = -(-count // tile[0]), -(-width // tile[1])
    removed = torch.zeros(ranking.shape, dtype=torch.bool)
    rows = torch.arange(ranking.shape[0])
    for step in range(ranking.shape[1]):
        removed[rows, ranking[:, step]] = True
        tiles = removed.reshape(-1, down, across)
        yield tiles.repeat_interleave(tile[0], dim=1).repeat_interleave(tile[1], dim=2)[:, :count, :width]


def as_signals(inputs: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``inputs`` as signals ``(B, C, T)``, and whether they came without a lead axis, ``(B, T)``
    (one lead, for a model that adds the axis: pass the flag to :func:`explained_scores`)."""
    if inputs.ndim not in (2, 3):
        raise InputError(
            f"deletion curves take signals (B, C, T) or, one lead without its axis, (B, T); x "
            f"has shape {tuple(inputs.shape)}"
        )
    return (inputs[:, None], True) if inputs.ndim == 2 else (inputs, False)


#: Rows per forward pass of a deletion curve's steps (each part with its samples' further
#: inputs): a batch of thousands of beats runs slower per row than parts of it (the spectral curve
#: of 6023 beats of 140 samples: 12.1 s in one batch, 4.2 s in parts of 512, 6.6 s of 1024).
CURVE_ROWS = 512


def explained_scores(
    view: ModelView,
    inputs: torch.Tensor,
    target_class: Any,
    score: str,
    perturbed: Iterable[torch.Tensor],
    leadless: bool = False,
) -> np.ndarray:
    """The explained output (``score``: ``'logit'`` or ``'probability'``) for ``inputs`` and for
    each batch of ``perturbed`` (drawn one at a time): ``(B, 1 + steps)``, without gradients.
    ``leadless``: the signals ``(B, 1, T)`` go to the model as ``(B, T)`` (:func:`as_signals`)."""

    def explained(output: torch.Tensor) -> torch.Tensor:
        if score == "probability" and output.shape[1] == 1:  # class 0 of a sigmoid is 1 - p
            return torch.where(weights[:, 0] < 0, 1 - output[:, 0], output[:, 0])
        return (output * weights).sum(dim=1)

    with torch.no_grad(), view.one_lead() if leadless else contextlib.nullcontext():
        logits = view.forward_in_parts(inputs, CURVE_ROWS)
        weights = view.target_weights(target_class, logits)
        scores = [explained(logits)]
        scores.extend(explained(view.forward_in_parts(batch, CURVE_ROWS)) for batch in perturbed)
    return torch.stack(scores, dim=1).cpu().numpy()


def as_relevance(relevance: Any, shape: torch.Size, like: str = "x") -> torch.Tensor:
    """``relevance`` as a float32 tensor of the batch's ``shape`` (or of one sample's); ``like``
    names what it must be shaped like in the error."""
    try:
        values = np.asarray(host_values(relevance), dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(
            f"relevance must be an array shaped like {like}, got {type(relevance).__name__}"
        ) from None
    if values.shape not in (tuple(shape), tuple(shape[1:])) or values.size != math.prod(shape):
        raise InputError(f"relevance must be shaped like {like}, {tuple(shape)}; got {values.shape}")
    if not np.isfinite(values).all():
        raise InputError(f"relevance has {int((~np.isfinite(values)).sum())} non-finite values (NaN or inf)")
    return numpy_tensor(values.reshape(tuple(shape)))


def random_relevance(x: Any, seed: int = 0) -> np.ndarray:
    """A random relevance map shaped like ``x`` (the baseline every method should beat).

    Parameters
    ----------
    x
        Anything with a shape (an array, a tensor, a list): only its shape is read.
    seed
        Seed of the draw (whole number >= 0).

    Returns
    -------
    numpy.ndarray
        Standard normal values of ``x``'s shape (float32).
    """
    shape = tuple(np.shape(x))
    generator = np.random.default_rng(check_seed(seed, error=MethodParameterError))
    return generator.standard_normal(shape).astype(np.float32)
