"""Deletion curves in frequency (and time): remove a signal's frequency bins, or its STFT cells,
in order of their relevance.

The counterpart of :func:`signxai.evaluate.deletion_curve` for :func:`signxai.explain_spectrum`'s
relevance per frequency bin and :func:`signxai.explain_spectrogram`'s per bin and frame. Each
signal's real DFT (``rfft``, F = T // 2 + 1 bins per channel) has its bins removed, ``bins`` more
per step, most relevant first (MoRF) or least relevant first (LeRF); a removed bin's coefficient
(real and imaginary part, in every channel) is set to zero and the signal is rebuilt by the
inverse DFT: an ideal band-stop filter at the removed bins. Removing the 0 Hz bin removes the
signal's mean; removing every bin leaves the zero signal. For a spectrogram, tiles of ``bins``
bins by ``frames`` frames of the STFT are removed and the signal rebuilt by the inverse STFT
(``torch.istft``, the transform ``explain_spectrogram`` explained through). The explained output
is recorded after each step, one forward pass per step for the whole batch.

This asks whether the frequencies a spectral explanation ranks first are the ones the model's
output needs, without the time-domain test's infill choice (zero, interpolation, noise); the
removal is itself linear in the signal, so input-multiplied maps still rank large-amplitude
bins first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from signxai.api import explain
from signxai.checks import check_choice, check_whole
from signxai.errors import InputError, MethodParameterError
from signxai.evaluate.deletion import (
    DeletionCurve,
    as_relevance,
    as_signals,
    explained_scores,
    removal_masks,
    tile_ranking,
)
from signxai.inputs import as_batch
from signxai.model import ModelView
from signxai.spectral import SpectralRelevance, exact, explain_spectrum
from signxai.spectrogram import ShortTimeDFT, SpectrogramRelevance


@torch.inference_mode(False)  # as deletion_curve: callable under inference mode
def spectral_deletion_curve(
    model: nn.Module,
    x: Any,
    relevance: SpectralRelevance | SpectrogramRelevance | np.ndarray,
    target_class: Any = None,
    bins: int = 1,
    order: str = "morf",
    score: str = "logit",
    forward_args: Sequence[Any] | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    *,
    frames: int = 1,
) -> DeletionCurve:
    """Remove frequency bins (or STFT cells) in order of relevance and record the explained output.

    Parameters
    ----------
    model, x, target_class
        As for ``explain`` (``x`` batched ``(B, C, T)`` or one sample ``(C, T)``; ``(B, T)``
        for a model that takes one lead without its axis, with relevance ``(B, F)``).
    relevance
        The relevance to rank by: the :class:`~signxai.spectral.SpectralRelevance` of
        :func:`signxai.explain_spectrum` for this ``x`` or an array ``(B, C, F)`` (or one
        sample's ``(C, F)``), F = T // 2 + 1; or the
        :class:`~signxai.spectrogram.SpectrogramRelevance` of :func:`signxai.explain_spectrogram`
        for this ``x`` (its ``n_fft`` and ``hop`` give the STFT). Summed over the channels.
    bins
        Adjacent bins removed together per step (the last group may be smaller).
    order
        ``'morf'`` (most relevant first) or ``'lerf'`` (least relevant first).
    score
        ``'logit'`` (what ``explain`` explains) or ``'probability'`` (the model's output).
    forward_args, forward_kwargs
        The model's further inputs, as for ``explain`` (held as they are).
    frames
        For a spectrogram: adjacent frames removed together, so each step removes a tile of
        ``bins`` x ``frames`` cells. 1 (the default) for a spectrum.

    Returns
    -------
    DeletionCurve
        ``scores`` ``(B, K + 1)`` after removing 0..K groups, ``fractions`` of groups removed,
        ``aopc``, ``auc``; ``infill`` = ``'zero'``; ``unit`` = ``'bins'`` with ``window`` =
        ``bins``, or ``'cells'`` (a spectrogram) with ``window`` = ``bins * frames``.

    Raises
    ------
    MethodParameterError
        A bad ``bins`` (not a whole number in 1..F) or ``frames`` (1..M; 1 for a spectrum),
        ``order`` or ``score``.
    InputError
        ``x`` is not a batch of signals; ``relevance`` is not of the right shape, is not finite,
        or explains signals of another length.
    """
    check_choice(order, "order", ("morf", "lerf"), MethodParameterError)
    check_choice(score, "score", ("logit", "probability"), MethodParameterError)
    explained_output = "logit" if score == "logit" else "activation"
    with ModelView(model, explained_output, forward_args, forward_kwargs) as view:
        inputs, leadless = as_signals(as_batch(x, view).tensor)  # (B, T): one lead's spectra
        leads = "" if leadless else "C, "
        length = inputs.shape[2]
        if isinstance(relevance, SpectralRelevance | SpectrogramRelevance) and relevance.length != length:
            raise InputError(f"relevance explains {relevance.length}-sample signals; x has {length} samples")
        if isinstance(relevance, SpectrogramRelevance):
            stft = ShortTimeDFT(length, exact(inputs).device, torch.float64, relevance.n_fft, relevance.hop)
            grid = tuple(relevance.relevance.shape[-2:])
            like = f"x's spectrogram (B, {leads}{grid[0]}, {grid[1]})"
            rebuild = _stft_rebuilt(stft, inputs)
        else:
            grid = (length // 2 + 1,)
            like = f"x's spectrum (B, {leads}T // 2 + 1)"
            rebuild = _dft_rebuilt(inputs)
        values = (
            relevance.relevance
            if isinstance(relevance, SpectralRelevance | SpectrogramRelevance)
            else relevance
        )
        rows = inputs.shape[:1] if leadless else inputs.shape[:2]
        per_cell = as_relevance(values, torch.Size((*rows, *grid)), like)
        per_cell = per_cell if leadless else per_cell.sum(dim=1)
        per_cell = per_cell if len(grid) == 2 else per_cell[..., None]  # (B, F, M), M = 1 for a spectrum
        size = check_whole(bins, "bins", at_least=1, unit="of bins", error=MethodParameterError)
        if size > per_cell.shape[1]:
            raise MethodParameterError(
                f"bins must be at most the signal's {per_cell.shape[1]} frequency bins, got {size}"
            )
        span = check_whole(frames, "frames", at_least=1, unit="of frames", error=MethodParameterError)
        if len(grid) == 1 and span != 1:
            raise MethodParameterError(f"frames must be 1 for a spectrum (it has no frame axis), got {span}")
        if span > per_cell.shape[2]:
            raise MethodParameterError(
                f"frames must be at most the {per_cell.shape[2]} frames of the relevance, got {span}"
            )
        ranking = tile_ranking(per_cell, (size, span), order)
        removed = (rebuild(mask) for mask in removal_masks(ranking, (size, span), per_cell.shape[1:]))
        scores = explained_scores(view, inputs, target_class, score, removed, leadless)
    groups = ranking.shape[1]
    return DeletionCurve(
        fractions=np.arange(groups + 1) / groups,
        scores=scores,
        order=order,
        infill="zero",
        window=size * span,
        unit="cells" if len(grid) == 2 else "bins",
    )


def _dft_rebuilt(inputs: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Rebuild ``inputs`` without the bins a ``(B, F, 1)`` mask removes (float64 transforms,
    then the inputs' dtype and device)."""
    length = inputs.shape[2]
    coefficients = torch.fft.rfft(exact(inputs), dim=-1)

    def rebuilt(removed: torch.Tensor) -> torch.Tensor:
        kept = coefficients.masked_fill(removed[:, None, :, 0].to(coefficients.device), 0)
        return torch.fft.irfft(kept, n=length, dim=-1).to(inputs.dtype).to(inputs.device)

    return rebuilt


def _stft_rebuilt(stft: ShortTimeDFT, inputs: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Rebuild ``inputs`` without the STFT cells a ``(B, F, M)`` mask removes (both parts of each
    coefficient; the inverse STFT, float64, then the inputs' dtype and device)."""
    coefficients = stft.analyse(exact(inputs))  # (B, C, 2F, M)
    inverse = stft.synthesis()

    def rebuilt(removed: torch.Tensor) -> torch.Tensor:
        both = torch.cat([removed, removed], dim=1)[:, None].to(coefficients.device)
        with torch.no_grad():
            signal = inverse(coefficients.masked_fill(both, 0))
        return signal.to(inputs.dtype).to(inputs.device)

    return rebuilt


#: Where an evaluation explains: ``'time'`` (:func:`signxai.explain`, relevance per sample) or
#: ``'frequency'`` (:func:`signxai.explain_spectrum`, relevance per frequency bin).
DOMAINS = ("time", "frequency")


def explainer(domain: str) -> Callable[..., Any]:
    """``explain`` for ``'time'``, or for ``'frequency'`` a function with ``explain``'s arguments
    that returns ``explain_spectrum``'s relevance per bin (the shape of ``x`` with F = T // 2 + 1
    bins on the last axis)."""
    check_choice(domain, "domain", DOMAINS, MethodParameterError)
    if domain == "time":
        return explain

    def per_bin(
        model: nn.Module, x: Any, method_name: str, target_class: Any = None, **params: Any
    ) -> np.ndarray:
        return explain_spectrum(model, x, method_name, target_class, **params).relevance

    return per_bin


def map_shape(shape: Sequence[int], domain: str) -> tuple[int, ...]:
    """The shape of a map of signals of ``shape`` in ``domain``: ``shape`` itself in time, the
    last axis' T samples as T // 2 + 1 bins in frequency (as :func:`explainer`'s maps)."""
    check_choice(domain, "domain", DOMAINS, MethodParameterError)
    return tuple(shape) if domain == "time" else (*shape[:-1], shape[-1] // 2 + 1)
