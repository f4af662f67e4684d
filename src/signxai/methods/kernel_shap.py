"""Kernel SHAP on segments of the signal (Lundberg & Lee 2017; captum's ``KernelShap``).

The input is cut into segments of ``window`` samples (``window x window`` pixels on images; the
last segment of an axis takes what is left), on all leads at once or (``per_channel=True``) lead
by lead: M players. A coalition keeps its segments and sets the others to the baseline (0 by
default); the Shapley values of the explained logit over the segments are the weighted least
squares fit of the coalitions' logits under the Shapley kernel, with the fit held to
``sum(phi) = z(x) - z(baseline)``. Where all ``2^M - 2`` coalitions fit in ``samples`` they are
all evaluated and the values are exact Shapley values; otherwise ``samples`` coalitions are drawn
from the kernel (a size with probability ~ (M - 1) / (k (M - k)), then a subset of that size,
each draw paired with its complement), as captum and shap's KernelExplainer draw them. Each
sample of a segment carries the segment's value (captum's convention with a feature mask: the
values sum to ``z(x) - z(baseline)`` over segments, not over samples). Only forward passes, the
coalitions in chunks of at most ``batch_size`` rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from signxai.errors import MethodParameterError
from signxai.layout import channels_last_hint
from signxai.methods.gradient import BATCH_SIZE, SEED, baseline_like, chunks, cpu_generator
from signxai.methods.occlusion import bin_grid, explained_copies
from signxai.methods.registry import INTEGER, Family, Param, at_least, register
from signxai.model import ModelView, windowed_as_one_lead


def segment_ids(shape: tuple[int, ...], window: int, per_channel: bool) -> torch.Tensor:
    """The player of every element of one sample of ``shape`` (C, *spatial): segments of
    ``window`` along each spatial axis, per channel or shared by all channels."""
    channels, spatial = shape[0], shape[1:]
    counts = [math.ceil(length / window) for length in spatial]
    ids = torch.zeros(spatial, dtype=torch.long)
    for axis, length in enumerate(spatial):
        position = torch.arange(length) // window
        stride = math.prod(counts[axis + 1 :])
        ids = ids + (position * stride).view(*([1] * axis), length, *([1] * (len(spatial) - axis - 1)))
    if not per_channel:
        return ids.expand(channels, *spatial)
    return ids.unsqueeze(0) + torch.arange(channels).view(-1, *([1] * len(spatial))) * math.prod(counts)


def _all_coalitions(players: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every coalition but the empty and the full one, and its Shapley kernel weight."""
    codes = torch.arange(1, 2**players - 1)
    z = ((codes.unsqueeze(1) >> torch.arange(players)) & 1).to(torch.float64)
    size = z.sum(dim=1).long()
    ways = torch.tensor([math.comb(players, k) for k in range(players + 1)], dtype=torch.float64)
    return z, (players - 1) / (ways[size] * size * (players - size))


def _drawn_coalitions(players: int, samples: int, generator: torch.Generator | None) -> torch.Tensor:
    """``samples`` coalitions from the Shapley kernel, in pairs (a coalition and its complement)."""
    sizes = torch.arange(1, players, dtype=torch.float64)
    kernel = (players - 1) / (sizes * (players - sizes))
    half = (samples + 1) // 2
    drawn = torch.multinomial(kernel, half, replacement=True, generator=generator) + 1
    order = torch.rand(half, players, generator=generator).argsort(dim=1)
    z = (order.argsort(dim=1) < drawn.unsqueeze(1)).to(torch.float64)
    return torch.cat([z, 1.0 - z])[:samples]


@windowed_as_one_lead
def kernel_shap(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
    """Shapley values of the explained logit over the segments, each on the segment's samples."""
    ids = segment_ids(tuple(x.shape[1:]), params["window"], params["per_channel"]).to(x.device)
    if int(ids.max()) < 1:
        raise MethodParameterError(
            f"kernel_shap needs at least two segments; window={params['window']} covers the whole "
            f"input of shape {tuple(x.shape[2 if view.lead_added else 1 :])}: use a smaller window"
            + channels_last_hint(tuple(x.shape), params["window"])
        )
    return shapley_values(view, x, target, params, ids)[:, ids].to(x.dtype)


def kernel_shap_bins(
    view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any], framed: bool = False
) -> torch.Tensor:
    """Kernel SHAP over bands of the frequency bins of spectra in real form, ``x`` ``(B, [C,]
    2F[, M])`` as for :func:`~signxai.methods.occlusion.occlude_bins`: the players are segments
    of ``window`` adjacent bins (tiles of ``window`` bins by ``window`` frames where ``framed``;
    the last takes what is left), a bin's real and imaginary parts in one player, shared by the
    channels or (``per_channel``) per channel; an absent player's coefficients are the
    baseline's. Each bin (and frame) carries its segment's Shapley value: ``(B, [C,] F[, M])``."""
    leads, grid = bin_grid(x, framed, params["per_channel"])
    ids = segment_ids(grid, params["window"], params["per_channel"]).to(x.device)  # per bin
    if int(ids.max()) < 1:
        raise MethodParameterError(
            f"kernel_shap needs at least two segments; window={params['window']} covers all "
            f"{grid[1]} frequency bins{f' and {grid[2]} frames' if framed else ''}: use a smaller window"
        )
    coefficient_ids = torch.cat([ids, ids], dim=1)  # a bin's real and imaginary parts together
    if not leads:
        ids, coefficient_ids = ids[0], coefficient_ids[0]
    return shapley_values(view, x, target, params, coefficient_ids)[:, ids].to(x.dtype)


def shapley_values(
    view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any], ids: torch.Tensor
) -> torch.Tensor:
    """The Shapley values ``(B, M)`` (float64) of the explained logit over the M >= 2 players
    ``ids`` (one sample's shape: the player of each element), exact or from drawn coalitions."""
    players = int(ids.max()) + 1
    exact = 2**players - 2 <= params["samples"] if players < 63 else False
    if exact:
        z, weight = _all_coalitions(players)
    else:
        if params["samples"] < players:
            raise MethodParameterError(
                f"kernel_shap with {players} segments needs samples >= {players} to fit them (2^M - 2 "
                f"= all coalitions would be exact), got samples={params['samples']}"
            )
        z = _drawn_coalitions(players, params["samples"], cpu_generator(params["seed"]))
        weight = torch.ones(len(z), dtype=torch.float64)
    baseline = baseline_like(params["baseline"], x)
    rows = x.shape[0]
    with torch.no_grad():
        logits = view.forward(torch.cat([x, baseline]))
        weights = view.target_weights(target, logits[:rows])
        explained = (logits[:rows] * weights).sum(dim=1).double()
        start = (logits[rows:] * weights).sum(dim=1).double()
        values = torch.empty(len(z), rows, dtype=torch.float64, device=x.device)
        players_kept = z.to(device=x.device).bool()
        for part in chunks(len(z), rows, params["batch_size"]):
            kept = players_kept[part.start : part.stop][:, ids].unsqueeze(1)  # (k, 1, C, ...)
            masked = torch.where(kept, x.unsqueeze(0), baseline.unsqueeze(0))
            values[part.start : part.stop] = explained_copies(view, masked, weights).double()
    # weighted least squares with sum(phi) = total: phi_M eliminated (as shap's KernelExplainer)
    total = explained - start
    z = z.to(x.device)
    design = z[:, :-1] - z[:, -1:]
    response = values - start.unsqueeze(0) - z[:, -1:] * total.unsqueeze(0)
    root = weight.to(x.device).sqrt().unsqueeze(1)
    phi = torch.linalg.lstsq(root * design, root * response).solution  # (M - 1, B)
    phi = torch.cat([phi, (total - phi.sum(dim=0)).unsqueeze(0)])  # (M, B)
    return phi.T


register(
    Family(
        name="kernel_shap",
        pattern=rf"kernel_shap(?:_window_(?P<window>{INTEGER}))?(?:_samples_(?P<samples>{INTEGER}))?",
        compute=kernel_shap,
        params=(
            Param(
                "window",
                int,
                16,
                "samples per segment (pixels per side on images); the last takes what is left",
                in_name=True,
                check=at_least(1),
            ),
            Param(
                "samples",
                int,
                1024,
                "coalitions evaluated (all of them, exact, where 2^M - 2 fit)",
                in_name=True,
                check=at_least(1),
            ),
            Param("baseline", object, None, "what replaces a segment (array, tensor or scalar; default 0)"),
            Param("per_channel", bool, False, "segments lead by lead (channel) instead of across leads"),
            SEED,
            BATCH_SIZE,
        ),
        kind="perturbation",
        form="kernel_shap[_window_<w>][_samples_<n>]",
        summary="Shapley values of z over segments of w samples (set to the baseline when absent), by "
        "the Shapley-kernel least squares fit (captum's KernelShap); exact where 2^M - 2 <= n",
        examples=("kernel_shap", "kernel_shap_window_35_samples_2000"),
        write=lambda params: f"kernel_shap_window_{params['window']}_samples_{params['samples']}",
    )
)
