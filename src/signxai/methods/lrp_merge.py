"""BatchNorm merged into the Conv/Linear layer beside it, for the duration of one explanation.

Merging (canonization) turns ``BatchNorm(conv(a))`` into one affine layer with the BatchNorm's
scale and shift folded into the weights and bias, so that the LRP rule of that layer sees the
function the model computes. A BatchNorm that no Conv/Linear feeds but that alone feeds a Linear
or an unpadded Conv (a classifier head's, after pooling) is merged into that layer from its input
side. :func:`batch_norm_plan` chooses per BatchNorm (:mod:`signxai.methods.lrp_structure` found
them); every merge is undone when the explanation ends.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from signxai.errors import UnsupportedModelError, warn_user
from signxai.methods.lrp_modules import CONV_TRANSPOSES
from signxai.methods.lrp_structure import Structure


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def merge_batch_norm_forward(batch_norm: nn.Module, layer: nn.Module) -> Callable[[], None]:
    """Merge ``batch_norm`` into the Linear/unpadded Conv ``layer`` it feeds; return the undo.

    With the BatchNorm's ``y = s * x + t`` per channel (``s = gamma / sqrt(var + eps)``,
    ``t = beta - mean * s``), the layer's weight becomes ``w * s`` along its input channels and
    its bias ``b + sum(w * t)``: the same function of ``x``. Under the epsilon and z rules the
    layer then distributes ``x``'s share ``w * s * x`` of each output, which equals the z-rule on
    the BatchNorm followed by the layer's rule. The BatchNorm's forward becomes the identity; the
    undo puts the layer's tensors back.
    """
    target: Any = layer
    norm: Any = batch_norm
    weight, bias = target.weight, target.bias
    with torch.no_grad():
        scale = torch.rsqrt(norm.running_var + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight
        shift = -norm.running_mean * scale
        if norm.bias is not None:
            shift = shift + norm.bias
        groups = getattr(target, "groups", 1)
        out = weight.shape[0]
        # the input channel each weight of output o reads: group (o // (out / groups)), then j
        per_weight = (weight.shape[0], weight.shape[1], *([1] * (weight.ndim - 2)))
        scales = scale.view(groups, 1, -1).expand(groups, out // groups, -1).reshape(per_weight)
        shifts = shift.view(groups, 1, -1).expand(groups, out // groups, -1).reshape(per_weight)
        added = (weight * shifts).flatten(1).sum(dim=1)
        return _merged(target, norm, weight * scales, added if bias is None else bias + added)


def merge_batch_norm(
    linear: nn.Module, batch_norm: nn.Module, channels: slice = slice(None)
) -> Callable[[], None]:
    """Merge ``batch_norm`` (its ``channels``) into the Conv/Linear ``linear`` that feeds them;
    return the undo.

    As zennit's ``MergeBatchNorm``, the layer's weight and bias become
    ``w * s`` and ``(b - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)``; unlike it, the
    BatchNorm's own parameters stay untouched and its ``forward`` becomes the identity (an
    instance attribute, deleted by the undo), so the forward pass is exact and costs nothing
    there. The undo puts the layer's original tensors back (bitwise the same model).
    """
    layer: Any = linear  # nn.Module attributes are typed Tensor | Module
    norm: Any = batch_norm
    bias = layer.bias
    with torch.no_grad():
        scale = torch.rsqrt(norm.running_var[channels] + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight[channels]
        mean = norm.running_mean[channels]
        shift = -mean if bias is None else bias - mean
        merged_bias = shift * scale
        if norm.bias is not None:
            merged_bias = merged_bias + norm.bias[channels]
        return _merged(layer, norm, _scaled_per_output(layer, scale), merged_bias)


def _merged(layer: Any, norm: Any, weight: torch.Tensor, bias: torch.Tensor) -> Callable[[], None]:
    """Give ``layer`` the merged ``weight`` and ``bias`` and make ``norm``'s forward the
    identity (an instance attribute); return the undo, which puts the layer's own tensors back."""
    saved = (layer.weight.data, None if layer.bias is None else layer.bias.data)
    layer.weight.data = weight
    if layer.bias is None:
        layer.bias = nn.Parameter(bias, requires_grad=False)
    else:
        layer.bias.data = bias
    norm.forward = _identity

    def undo() -> None:
        layer.weight.data = saved[0]
        if saved[1] is None:
            layer.bias = None
        else:
            layer.bias.data = saved[1]
        if "forward" in vars(norm):
            del norm.forward

    return undo


def _scaled_per_output(layer: Any, scale: torch.Tensor) -> torch.Tensor:
    """The layer's weight with each output channel's weights multiplied by its ``scale``."""
    weight = layer.weight
    if isinstance(layer, CONV_TRANSPOSES):  # (in, out / groups, *kernel), groups along ``in``
        groups = layer.groups
        grouped = weight.view(groups, weight.shape[0] // groups, *weight.shape[1:])
        per_output = scale.view(groups, 1, weight.shape[1], *([1] * (weight.ndim - 2)))
        return (grouped * per_output).view_as(weight)
    return weight * scale.view(-1, *([1] * (weight.ndim - 1)))


def batch_norm_plan(
    structure: Structure, mode: str, input_rule: str
) -> list[Callable[[], Callable[[], None]]]:
    """The merges to make (``mode`` ``'merge'`` or ``'pass'``), each a call that merges and
    returns its undo: every BatchNorm into the Conv/Linear that feeds it (its channels), or, where
    none does, under ``'merge'`` into the Linear/unpadded Conv it feeds; none for
    ``'innvestigate'``. ``'pass'`` merges from the output side only, as zennit's canonizers do,
    and passes relevance through every other BatchNorm (its maps are zennit's composites').

    A BatchNorm that cannot be merged stays a layer of its own (role ``'unmerged_batchnorm'``):
    under ``'merge'`` with the exact z-rule (R_in = x s R / y; ``'innvestigate'`` adds the
    original's stabiliser to every BatchNorm), and a warning
    naming it; under ``'pass'`` relevance passes through it unchanged, as through an activation
    (zennit's composites give ``BatchNorm`` its ``Pass`` rule).

    Raises
    ------
    UnsupportedModelError
        A BatchNorm without running statistics; one kept as a layer (not merged) on the model's
        input under an input-layer rule other than ``lrp_``, unless ``mode`` is ``'pass'`` (that
        rule would act on the normalised signal, not on ``x``, and its relevance would pass the
        BatchNorm's z-rule; under ``'pass'`` relevance passes it unchanged, as through a
        normalisation written in ``forward``, and a warning says that the rule reads the
        normalised signal).
    """
    for site in structure.batch_norms:
        if not site.has_statistics:
            raise UnsupportedModelError(
                f"BatchNorm '{site.name}' has no running statistics (track_running_stats=False): "
                "it normalises every batch by that batch's own statistics, so each sample's "
                "explanation would depend on the others; LRP cannot handle it"
            )
    kept = [site for site in structure.batch_norms if mode == "innvestigate" or site.unmergeable is not None]
    for site in kept:
        if site.fed_by_input and input_rule != "lrp" and mode != "pass":
            raise UnsupportedModelError(
                f"BatchNorm '{site.name}' normalises the model's input, so the first Conv/Linear "
                f"sees the normalised signal, not x; the {input_rule}_ input-layer rule would act "
                f"on that, and its relevance would then pass the BatchNorm's z-rule (use an lrp_ "
                "method; or batchnorm='pass', where relevance passes the BatchNorm unchanged and the "
                "rule acts on the normalised signal; or normalise the data before the model)"
            )
    if mode == "innvestigate":
        return []
    if kept and mode == "merge":
        named = "; ".join(
            f"BatchNorm '{site.name}' cannot be merged: {site.unmergeable}" for site in kept[:5]
        )
        more = f"; {len(kept) - 5} more BatchNorms cannot be merged" if len(kept) > 5 else ""
        warn_user(
            f"LRP: {named}{more}. "
            + ("It stays a layer of its own" if len(kept) == 1 else "They stay layers of their own")
            + " with the z-rule, as every BatchNorm with batchnorm='innvestigate' (the "
            "original SIGN package, which also adds its stabiliser); batchnorm='pass' passes "
            "relevance through unchanged instead, as zennit's composites do"
        )
    merges: list[Callable[[], Callable[[], None]]] = [
        functools.partial(merge_batch_norm, layer, site.module, channels)
        for site in structure.batch_norms
        for layer, channels in site.parts
    ]
    merges += [
        functools.partial(merge_batch_norm_forward, site.module, site.feeds)
        for site in structure.batch_norms
        if site.feeds is not None and mode == "merge"
    ]
    return merges
