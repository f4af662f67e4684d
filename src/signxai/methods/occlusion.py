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
from collections.abc import Mapping
from typing import Any

import torch

from signxai.errors import MethodParameterError
from signxai.methods.gradient import BATCH_SIZE, baseline_like, chunks
from signxai.methods.registry import INTEGER, Family, Param, at_least, register
from signxai.model import ModelView


def _starts(length: int, window: int, stride: int) -> list[int]:
    """Window starts along an axis of ``length``: every ``stride``, and one ending at the end."""
    if window >= length:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    return starts if starts[-1] == length - window else [*starts, length - window]


def _regions(x: torch.Tensor, window: int, stride: int, per_channel: bool) -> list[tuple[slice, ...]]:
    """The hidden regions as indices of ``x``: every sample, the channel(s), a window per axis."""
    channels = [slice(c, c + 1) for c in range(x.shape[1])] if per_channel else [slice(None)]
    spatial = [
        [slice(start, start + window) for start in _starts(length, window, stride)] for length in x.shape[2:]
    ]
    return [(slice(None), channel, *place) for channel in channels for place in itertools.product(*spatial)]


def explained_copies(view: ModelView, copies: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The explained output of ``k`` altered copies of the batch ``(k, B, ...)``, as ``(k, B)``,
    in one forward pass."""
    out = view.forward(copies.flatten(0, 1)) * weights.repeat(len(copies), 1)
    return out.sum(dim=1).view(len(copies), -1)


def occlusion(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
    """Mean drop of the explained logit over the windows covering each input sample."""
    if x.ndim < 3:
        raise MethodParameterError(
            f"occlusion slides a window along the input's samples: x must be (B, C, T) or "
            f"(B, C, H, W), got shape {tuple(x.shape)}"
        )
    window = params["window"]
    if window > max(x.shape[2:]):  # on images, a window may cover one axis whole (clipped to it)
        raise MethodParameterError(
            f"window={window} samples is longer than the input, {tuple(x.shape[2:])}: it would hide "
            "the whole input at once"
        )
    stride = params["stride"] if params["stride"] is not None else max(1, window // 2)
    baseline = baseline_like(params["baseline"], x)
    regions = _regions(x, window, stride, params["per_channel"])
    with torch.no_grad():
        logits = view.forward(x)
        weights = view.target_weights(target, logits)
        explained = (logits * weights).sum(dim=1)
        total = torch.zeros_like(x)
        count = torch.zeros_like(x[:1])  # windows covering each sample (the same for every row)
        for part in chunks(len(regions), x.shape[0], params["batch_size"]):
            chunk = regions[part.start : part.stop]
            copies = x.unsqueeze(0).repeat(len(chunk), *([1] * x.ndim))  # (k, B, ...)
            for copy, region in zip(copies, chunk, strict=True):
                copy[region] = baseline[region]
            drops = explained.unsqueeze(0) - explained_copies(view, copies, weights)
            for drop, region in zip(drops, chunk, strict=True):
                total[region] += drop.view(-1, *([1] * (x.ndim - 1)))
                count[region] += 1
    return total / count


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
        form="occlusion[_window_<w>][_stride_<s>]",
        summary="mean over the windows covering a sample of z(x) - z(x with the window set to the baseline)",
        examples=("occlusion", "occlusion_window_50_stride_25"),
        write=lambda params: (
            f"occlusion_window_{params['window']}"
            + (f"_stride_{params['stride']}" if params["stride"] is not None else "")
        ),
    )
)
