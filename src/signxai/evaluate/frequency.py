"""Deletion curves in frequency: remove a signal's frequency bins in order of their relevance.

The counterpart of :func:`signxai.evaluate.deletion_curve` for :func:`signxai.explain_spectrum`'s
relevance per frequency bin. Each signal's real DFT (``rfft``, F = T // 2 + 1 bins per channel) has
its bins removed, ``bins`` more per step, most relevant first (MoRF) or least relevant first
(LeRF); a removed bin's coefficient (real and imaginary part, in every channel) is set to zero and
the signal is rebuilt by the inverse DFT: an ideal band-stop filter at the removed bins. Removing
the 0 Hz bin removes the signal's mean; removing every bin leaves the zero signal. The explained
output is recorded after each step, one forward pass per step for the whole batch.

This asks whether the frequencies a spectral explanation ranks first are the ones the model's
output needs, without the time-domain test's infill choice (zero, interpolation, noise); the
removal is itself linear in the signal, so input-multiplied maps still rank large-amplitude
bins first.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from signxai.checks import check_choice, check_whole
from signxai.errors import InputError, MethodParameterError
from signxai.evaluate.deletion import (
    DeletionCurve,
    as_relevance,
    explained_scores,
    group_ranking,
    removal_masks,
)
from signxai.inputs import as_batch
from signxai.model import ModelView
from signxai.spectral import SpectralRelevance, exact


@torch.inference_mode(False)  # as deletion_curve: callable under inference mode
def spectral_deletion_curve(
    model: nn.Module,
    x: Any,
    relevance: SpectralRelevance | np.ndarray,
    target_class: Any = None,
    bins: int = 1,
    order: str = "morf",
    score: str = "logit",
    forward_args: Sequence[Any] | None = None,
    forward_kwargs: dict[str, Any] | None = None,
) -> DeletionCurve:
    """Remove frequency bins in order of relevance and record the explained output.

    Parameters
    ----------
    model, x, target_class
        As for ``explain`` (``x`` batched ``(B, C, T)`` or one sample ``(C, T)``).
    relevance
        The relevance per bin to rank by: the :class:`~signxai.spectral.SpectralRelevance` of
        :func:`signxai.explain_spectrum` for this ``x``, or an array ``(B, C, F)`` (or one
        sample's ``(C, F)``), F = T // 2 + 1. A bin's relevance is summed over the channels.
    bins
        Bins removed per step (adjacent bins form a group; the last group may be smaller).
    order
        ``'morf'`` (most relevant first) or ``'lerf'`` (least relevant first).
    score
        ``'logit'`` (what ``explain`` explains) or ``'probability'`` (the model's output).
    forward_args, forward_kwargs
        The model's further inputs, as for ``explain`` (held as they are).

    Returns
    -------
    DeletionCurve
        ``scores`` ``(B, K + 1)`` after removing 0..K groups, ``fractions`` of groups removed,
        ``aopc``, ``auc``; ``window`` = ``bins``, ``unit`` = ``'bins'``, ``infill`` = ``'zero'``.

    Raises
    ------
    MethodParameterError
        A bad ``bins`` (not a whole number in 1..F), ``order`` or ``score``.
    InputError
        ``x`` is not a batch of signals; ``relevance`` is not of ``(B, C, F)`` shape, is not
        finite, or is a ``SpectralRelevance`` of a signal of another length.
    """
    check_choice(order, "order", ("morf", "lerf"), MethodParameterError)
    check_choice(score, "score", ("logit", "probability"), MethodParameterError)
    explained_output = "logit" if score == "logit" else "activation"
    with ModelView(model, explained_output, forward_args, forward_kwargs) as view:
        inputs = as_batch(x, view).tensor
        if inputs.ndim != 3:
            raise InputError(f"deletion curves take signals (B, C, T); x has shape {tuple(inputs.shape)}")
        length = inputs.shape[2]
        count = length // 2 + 1
        if isinstance(relevance, SpectralRelevance):
            if relevance.length != length:
                raise InputError(
                    f"relevance is the spectrum of {relevance.length}-sample signals; x has {length} samples"
                )
            relevance = relevance.relevance
        per_bin = as_relevance(
            relevance, torch.Size((*inputs.shape[:2], count)), "x's spectrum (B, C, T // 2 + 1)"
        )
        size = check_whole(bins, "bins", at_least=1, unit="of bins", error=MethodParameterError)
        if size > count:
            raise MethodParameterError(
                f"bins must be at most the signal's {count} frequency bins, got {size}"
            )
        ranking = group_ranking(per_bin.sum(dim=1), size, order)
        scores = explained_scores(view, inputs, target_class, score, _band_stopped(inputs, ranking, size))
    groups = ranking.shape[1]
    return DeletionCurve(
        fractions=np.arange(groups + 1) / groups,
        scores=scores,
        order=order,
        infill="zero",
        window=size,
        unit="bins",
    )


def _band_stopped(inputs: torch.Tensor, ranking: torch.Tensor, size: int) -> Iterator[torch.Tensor]:
    """``inputs`` rebuilt without the bins removed after each step (float64 transforms, then the
    inputs' dtype and device)."""
    length = inputs.shape[2]
    coefficients = torch.fft.rfft(exact(inputs), dim=-1)
    for mask in removal_masks(ranking, size, length // 2 + 1):
        kept = coefficients.masked_fill(mask.to(coefficients.device)[:, None, :], 0)
        yield torch.fft.irfft(kept, n=length, dim=-1).to(inputs.dtype).to(inputs.device)
