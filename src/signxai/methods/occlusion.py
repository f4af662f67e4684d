"""Occlusion (Zeiler & Fergus 2014): how much the explained logit drops when a window is hidden.

A window of ``window`` samples (``window x window`` pixels on images) slides over the input with
``stride``; each position is replaced by the baseline (0 by default) in a copy of the input, on
every lead at once or (``per_channel=True``) on one lead at a time. Each input sample's relevance
is the mean, over the windows that cover it, of ``z(x) - z(x with the window hidden)``: what captum's
``Occlusion`` computes. Where the windows do not tile the input, one more window is placed at its
end, so that every sample is covered (captum leaves the rest with no window). Model-agnostic: only
forward passes, the copies in chunks of at most ``batch_size`` rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from signxai.errors import MethodParameterError
from signxai.layout import channels_last_hint
from signxai.methods.gradient import BATCH_SIZE, baseline_like, chunks
from signxai.methods.registry import INTEGER, Family, Param, at_least, register
from signxai.model import ModelView, windowed_as_one_lead


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Window starts along an axis of ``length``: every ``stride``, and one ending at the end."""
    if window >= length:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    return starts if starts[-1] == length - window else [*starts, length - window]


def _regions(x: torch.Tensor, window: int, stride: int, per_channel: bool) -> list[tuple[slice, ...]]:
    """The hidden regions as indices of ``x``: every sample, the channel(s), a window per axis."""
    channels = [slice(c, c + 1) for c in range(x.shape[1])] if per_channel else [slice(None)]
    spatial = [
        [slice(start, start + window) for start in window_starts(length, window, stride)]
        for length in x.shape[2:]
    ]
    return [(slice(None), channel, *place) for channel in channels for place in itertools.product(*spatial)]


def explained_copies(view: ModelView, copies: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The explained output of ``k`` altered copies of the batch ``(k, B, ...)``, as ``(k, B)``,
    in one forward pass."""
    out = view.forward(copies.flatten(0, 1)) * weights.repeat(len(copies), 1)
    return out.sum(dim=1).view(len(copies), -1)


@windowed_as_one_lead
def occlusion(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
    """Mean drop of the explained logit over the windows covering each input sample."""
    window = params["window"]
    if window > max(x.shape[2:]):  # on images, a window may cover one axis whole (clipped to it)
        raise MethodParameterError(
            f"window={window} samples is longer than the input, {tuple(x.shape[2:])}: it would hide "
            "the whole input at once" + channels_last_hint(tuple(x.shape), window)
        )
    stride = params["stride"] if params["stride"] is not None else max(1, window // 2)
    regions = _regions(x, window, stride, params["per_channel"])
    hidden = [(region, region) for region in regions]
    return occlude(
        view, x, target, hidden, baseline_like(params["baseline"], x), params["batch_size"], x.shape
    )


def bin_grid(x: torch.Tensor, framed: bool, per_channel: bool) -> tuple[bool, tuple[int, ...]]:
    """For spectra in real form ``x`` ``(B, [C,] 2F[, M])`` (``M`` where ``framed``): whether they
    have a channel axis, and the grid of bins ``(C or 1, F[, M])``. ``per_channel`` needs
    channels (a named error otherwise)."""
    leads = x.ndim == (4 if framed else 3)
    if per_channel and not leads:
        raise MethodParameterError(
            f"per_channel=True needs signals with channels (B, C, T); x has shape {tuple(x.shape)}"
        )
    return leads, (x.shape[1] if leads else 1, x.shape[1 + leads] // 2, *x.shape[2 + leads :])


def occlude_bins(
    view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any], framed: bool = False
) -> torch.Tensor:
    """Occlusion over the frequency bins of spectra in real form: ``x`` ``(B, [C,] 2F)`` (the real
    parts of F bins, then their imaginary parts; :func:`signxai.spectral.spectrum`) or, ``framed``,
    ``(B, [C,] 2F, M)`` (per frame of a short-time transform). Windows of ``window`` adjacent
    bins (by ``window`` adjacent frames where framed; clipped to an axis shorter than the window),
    ``stride`` apart and one ending at the last, have both parts of every bin set to the
    baseline's (0: removed). Each bin's (and frame's) relevance, ``(B, [C,] F[, M])``, is the mean
    drop of the explained output over the windows covering it. Every channel's at once, or
    (``per_channel``) one channel's at a time."""
    leads, grid = bin_grid(x, framed, params["per_channel"])
    bins, frames = grid[1], grid[2] if framed else 0
    window = params["window"]
    if window > max(bins, frames):
        counted = (
            f"both the {bins} frequency bins and the {frames} frames"
            if framed
            else f"the signal's {bins} frequency bins"
        )
        unit = "" if framed else " bins"
        raise MethodParameterError(
            f"window={window}{unit} is more than {counted}: it would hide the whole spectrum at once"
        )
    channels: list[tuple[slice, ...]] = [()]
    if leads:
        channels = (
            [(slice(c, c + 1),) for c in range(x.shape[1])] if params["per_channel"] else [(slice(None),)]
        )
    stride = params["stride"] if params["stride"] is not None else max(1, window // 2)
    times: list[tuple[slice, ...]] = [()]
    if framed:
        times = [(slice(start, start + window),) for start in window_starts(frames, window, stride)]
    width = min(window, bins)
    regions = []
    for channel in channels:
        for start in window_starts(bins, width, stride):
            band = torch.arange(start, start + width, device=x.device)
            for time in times:
                hidden = (slice(None), *channel, torch.cat([band, band + bins]), *time)
                regions.append((hidden, (slice(None), *channel, slice(start, start + width), *time)))
    shape = (*x.shape[: 1 + leads], bins, *x.shape[2 + leads :])
    return occlude(
        view, x, target, regions, baseline_like(params["baseline"], x), params["batch_size"], shape
    )


#: An index of a tensor: slices, or slices and an index tensor.
Region = tuple[Any, ...]


def occlude(
    view: ModelView,
    x: torch.Tensor,
    target: Any,
    regions: Sequence[tuple[Region, Region]],
    baseline: torch.Tensor,
    batch_size: int,
    shape: Sequence[int],
) -> torch.Tensor:
    """Occlusion's mean drop, over any regions: each pair ``(hidden, credited)`` sets
    ``x[hidden]`` to ``baseline[hidden]`` in a copy of the batch and adds the drop of the
    explained output to ``relevance[credited]`` (``relevance`` of ``shape``, rows first); each
    element's relevance is the mean over the pairs that credit it. The copies run in chunks of at
    most ``batch_size`` rows, without gradients."""
    with torch.no_grad():
        logits = view.forward(x)
        weights = view.target_weights(target, logits)
        explained = (logits * weights).sum(dim=1)
        total = x.new_zeros(tuple(shape))
        count = x.new_zeros((1, *shape[1:]))  # pairs crediting each element (the same for every row)
        for part in chunks(len(regions), x.shape[0], batch_size):
            chunk = regions[part.start : part.stop]
            copies = x.unsqueeze(0).repeat(len(chunk), *([1] * x.ndim))  # (k, B, ...)
            for copy, (hidden, _) in zip(copies, chunk, strict=True):
                copy[hidden] = baseline[hidden]
            drops = explained.unsqueeze(0) - explained_copies(view, copies, weights)
            for drop, (_, credited) in zip(drops, chunk, strict=True):
                total[credited] += drop.view(-1, *([1] * (len(shape) - 1)))
                count[credited] += 1
    return total / count


def _covering_stride(params: dict[str, Any], method_name: str) -> dict[str, Any]:
    """A stride longer than the window would leave the samples between two windows hidden by
    none: no relevance there (before, NaN maps reported as the model's overflow)."""
    if params["stride"] is not None and params["stride"] > params["window"]:
        raise MethodParameterError(
            f"'{method_name}': stride={params['stride']} is longer than window={params['window']}: the "
            "samples between two windows would be hidden by none (no relevance there); give a stride "
            "of at most the window"
        )
    return params


register(
    Family(
        name="occlusion",
        pattern=rf"occlusion(?:_window_(?P<window>{INTEGER}))?(?:_stride_(?P<stride>{INTEGER}))?",
        compute=occlusion,
        params=(
            Param(
                "window",
                int,
                16,
                "samples hidden at once (pixels per side on images)",
                in_name=True,
                check=at_least(1),
            ),
            Param(
                "stride",
                int,
                None,
                "shift between windows (default: half the window)",
                in_name=True,
                check=at_least(1),
            ),
            Param("baseline", object, None, "what hides a window (array, tensor or scalar; default 0)"),
            Param("per_channel", bool, False, "hide one lead (channel) at a time instead of all of them"),
            BATCH_SIZE,
        ),
        kind="perturbation",
        finish=_covering_stride,
        form="occlusion[_window_<w>][_stride_<s>]",
        summary="mean over the windows covering a sample of z(x) - z(x with the window set to the baseline)",
        examples=("occlusion", "occlusion_window_50_stride_25"),
        write=lambda params: (
            f"occlusion_window_{params['window']}"
            + (f"_stride_{params['stride']}" if params["stride"] is not None else "")
        ),
    )
)
