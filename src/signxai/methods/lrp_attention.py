"""LRP through attention and layer/group normalisation: CP-LRP and AttnLRP.

Ali et al. 2022 ("XAI for Transformers: Better Explanations through Conservative Propagation",
ICML) hold two things constant while relevance flows back, so that a Transformer block is linear
in what remains:

- the attention weights ``softmax(q k^T / sqrt(d))``: relevance reaches the input only through
  the values, ``out = A v`` with ``A`` constant (none through the queries and keys);
- the standard deviation of ``nn.LayerNorm`` / ``nn.GroupNorm`` / ``nn.InstanceNorm1d``:
  ``y = (x - mean(x)) / sigma * w + b`` is then a linear map of ``x``.

AttnLRP (Achtibat et al. 2024, ``attention='attnlrp'``) holds the same statistics but lets relevance
through the attention weights: the softmax by its rule ``R_x = x (R - s sum(R))`` and the products
``q k^T`` and ``A v`` by the uniform rule (each factor half of what the z-rule gives it with the
other held), so the queries and keys receive relevance too. Both modes run the attention written
out (``_attend``), its operations dispatched through the graph mode's rules.

Each linear map left (the value and output projections, ``A v``, the centred normalisation) is
explained by the z-rule, ``R_x = x * J^T (R / y)`` (LRP-0; a bias takes its share), which on such a
network gives what the Gradient x Input of AttnLRP's implementation (LXT, Achtibat et al. 2024)
gives with these quantities detached. The Linear layers of the model keep the method's rule
(epsilon, alpha-beta, ...); the attention's own projections, which ``nn.MultiheadAttention``
applies as functions, get the z-rule, as in LXT. ``LRPGraphMode`` calls these while the forward
pass runs when ``attention`` is ``'cp'`` or ``'attnlrp'``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from signxai.errors import UnsupportedModelError
from signxai.methods.rules import check_written_out

#: How attention and normalisation by input statistics are explained.
ATTENTION_MODES = ("error", "cp", "attnlrp")
#: ``op(func, *args, **kwargs)``: a torch operation run through the graph mode's rules.
Dispatch = Callable[..., Any]


def _bind(names: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments by name (``names``: the leading positional parameters)."""
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound


def _detached(value: Any) -> Any:
    return value.detach() if isinstance(value, torch.Tensor) else value


def _checked(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: torch.Tensor) -> torch.Tensor:
    """``out``, after checking that it is what ``func`` computes on the same arguments."""
    with torch.no_grad():
        want = func(*map(_detached, args), **{k: _detached(v) for k, v in kwargs.items()})
    check_written_out(out, want, getattr(func, "__name__", str(func)))
    return out


def held_layer_norm(
    args: tuple[Any, ...], kwargs: dict[str, Any], linear_z: Any, op: Dispatch
) -> torch.Tensor:
    """``F.layer_norm`` with its standard deviation held constant; the z-rule on the rest."""
    a = _bind(("input", "normalized_shape", "weight", "bias", "eps"), args, kwargs)
    x, weight, bias = a["input"], a.get("weight"), a.get("bias")
    dims = tuple(range(-len(tuple(a["normalized_shape"])), 0))
    with torch.no_grad():
        std = torch.sqrt(x.var(dim=dims, unbiased=False, keepdim=True) + a.get("eps", 1e-5))

    def centred(u: torch.Tensor) -> torch.Tensor:
        y = (u - u.mean(dim=dims, keepdim=True)) / std
        y = y * weight if weight is not None else y
        return y + bias if bias is not None else y

    return _checked(F.layer_norm, args, kwargs, linear_z(x, centred))


def _held_grouped(
    x: torch.Tensor, groups: int, weight: Any, bias: Any, eps: float, linear_z: Any
) -> torch.Tensor:
    """``x`` normalised per sample over ``groups`` groups of channels (and all further axes), each
    group's standard deviation held constant; the z-rule on the centring and the affine map."""
    with torch.no_grad():
        grouped = x.reshape(x.shape[0], groups, -1)
        std = torch.sqrt(grouped.var(dim=-1, unbiased=False, keepdim=True) + eps)
    affine = (1, x.shape[1]) + (1,) * (x.ndim - 2)

    def centred(u: torch.Tensor) -> torch.Tensor:
        g = u.reshape(u.shape[0], groups, -1)
        y = ((g - g.mean(dim=-1, keepdim=True)) / std).reshape(u.shape)
        y = y * weight.view(affine) if weight is not None else y
        return y + bias.view(affine) if bias is not None else y

    return linear_z(x, centred)


def held_group_norm(
    args: tuple[Any, ...], kwargs: dict[str, Any], linear_z: Any, op: Dispatch
) -> torch.Tensor:
    """``F.group_norm`` with each group's standard deviation held constant; the z-rule on the rest."""
    a = _bind(("input", "num_groups", "weight", "bias", "eps"), args, kwargs)
    x = a["input"]
    held = _held_grouped(
        x, int(a["num_groups"]), a.get("weight"), a.get("bias"), a.get("eps", 1e-5), linear_z
    )
    return _checked(F.group_norm, args, kwargs, held)


def held_instance_norm(
    args: tuple[Any, ...], kwargs: dict[str, Any], linear_z: Any, op: Dispatch
) -> torch.Tensor:
    """``F.instance_norm`` by each sample's statistics (``nn.InstanceNorm1d``): a group norm with
    one group per channel, each sample's and channel's standard deviation held constant. (With
    fixed running statistics it is an affine map, which the graph mode explains before this is
    reached.)"""
    names = ("input", "running_mean", "running_var", "weight", "bias", "use_input_stats", "momentum", "eps")
    a = _bind(names, args, kwargs)
    x = a["input"]
    held = _held_grouped(x, x.shape[1], a.get("weight"), a.get("bias"), a.get("eps", 1e-5), linear_z)
    # checked without the running statistics, which the input's own statistics would update
    return _checked(F.instance_norm, (), {**a, "running_mean": None, "running_var": None}, held)


def held_rms_norm(args: tuple[Any, ...], kwargs: dict[str, Any], linear_z: Any, op: Dispatch) -> torch.Tensor:
    """``F.rms_norm`` (``nn.RMSNorm``) with its root mean square held constant; the z-rule on the
    rest (LXT's patch for RMS norms)."""
    a = _bind(("input", "normalized_shape", "weight", "eps"), args, kwargs)
    x, weight = a["input"], a.get("weight")
    dims = tuple(range(-len(tuple(a["normalized_shape"])), 0))
    eps = torch.finfo(x.dtype).eps if a.get("eps") is None else a["eps"]
    with torch.no_grad():
        rms = torch.sqrt(x.pow(2).mean(dim=dims, keepdim=True) + eps)

    def scaled(u: torch.Tensor) -> torch.Tensor:
        return u / rms * weight if weight is not None else u / rms

    return _checked(F.rms_norm, args, kwargs, linear_z(x, scaled))


def _additive(mask: torch.Tensor, dtype: torch.dtype, blocked: bool = True) -> torch.Tensor:
    """A mask as added to the attention scores: a boolean one is -inf where ``blocked`` (0 elsewhere)."""
    if mask.dtype != torch.bool:
        return mask.to(dtype)
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
        mask if blocked else ~mask, float("-inf")
    )


def _attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, mask: torch.Tensor | None, op: Dispatch
) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q k^T scale + mask) v`` by operations the graph mode explains: the mode's rules for
    the two products and the softmax (CP-LRP: weights held; AttnLRP: uniform and softmax rules)."""
    scores = op(torch.matmul, op(torch.mul, q, scale), k.transpose(-2, -1))
    if mask is not None:
        scores = scores + mask  # a constant offset: relevance passes
    weights = op(torch.softmax, scores, -1)
    return op(torch.matmul, weights, v), weights


def written_sdpa(args: tuple[Any, ...], kwargs: dict[str, Any], linear_z: Any, op: Dispatch) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` written out (its mask, causal mask and scale)."""
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
    a = _bind(names, args, kwargs)
    if float(a.get("dropout_p", 0.0)) > 0:
        raise UnsupportedModelError(
            "LRP attention: F.scaled_dot_product_attention is called with dropout_p > 0 while "
            "the model is explained (random weights); pass dropout_p=0.0 outside training"
        )
    if a.get("enable_gqa"):
        raise UnsupportedModelError(
            "LRP attention: F.scaled_dot_product_attention with enable_gqa is not supported"
        )
    q, k, v = a["query"], a["key"], a["value"]
    mask = a.get("attn_mask")
    additive = None if mask is None else _additive(mask, q.dtype, blocked=False)  # True: takes part
    if a.get("is_causal"):
        causal = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
        additive = _additive(causal, q.dtype, blocked=False)
    scale = a.get("scale")
    out, _ = _attend(q, k, v, 1 / math.sqrt(q.shape[-1]) if scale is None else scale, additive, op)
    return _checked(F.scaled_dot_product_attention, args, kwargs, out)


def _mha_mask(
    p: dict[str, Any], batch: int, heads: int, source: int, dtype: torch.dtype, extra: int
) -> torch.Tensor | None:
    """The additive mask ``F.multi_head_attention_forward`` applies, ``(B * H or 1, L, S + extra)``:
    the ``extra`` keys appended (``add_bias_kv``, ``add_zero_attn``) are never masked."""
    masks = []
    if p["key_padding_mask"] is not None:
        padding = _additive(p["key_padding_mask"], dtype).reshape(batch, 1, 1, source)
        masks.append(padding.expand(batch, heads, 1, source).reshape(batch * heads, 1, source))
    if p["attn_mask"] is not None:
        attn_mask = _additive(p["attn_mask"], dtype)
        masks.append(attn_mask if attn_mask.dim() == 3 else attn_mask.unsqueeze(0))
    elif p["is_causal"]:
        raise UnsupportedModelError(
            "LRP attention: is_causal needs the attn_mask it stands for, as torch's does"
        )
    masks = [F.pad(mask, (0, extra)) for mask in masks]
    return None if not masks else masks[0] if len(masks) == 1 else masks[0] + masks[1]


def written_multi_head_attention(
    args: tuple[Any, ...], kwargs: dict[str, Any], linear_z: Any, op: Dispatch
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``F.multi_head_attention_forward`` (``nn.MultiheadAttention``) written out.

    The projections are functions there, so the graph mode gives them the z-rule (as LXT does);
    the attention follows the mode's rules. The output is checked against torch's.
    """
    function: Any = F.multi_head_attention_forward
    a = inspect.signature(function).bind(*args, **kwargs)
    a.apply_defaults()
    p = dict(a.arguments)
    if p["static_k"] is not None or p["static_v"] is not None:
        raise UnsupportedModelError("LRP attention: static keys/values are not supported")
    if p["training"] and p["dropout_p"] > 0:
        raise UnsupportedModelError("LRP attention: attention dropout in training mode")
    constant = {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in p.items()}
    with torch.no_grad():
        expected, _ = function(**{**constant, "need_weights": False})
    batched = p["query"].dim() == 3
    query, key, value = (t if batched else t.unsqueeze(1) for t in (p["query"], p["key"], p["value"]))
    length, batch, embed = query.shape
    source, heads = key.shape[0], int(p["num_heads"])
    if p["use_separate_proj_weight"]:
        projections = (p["q_proj_weight"], p["k_proj_weight"], p["v_proj_weight"])
    else:
        projections = p["in_proj_weight"].chunk(3)
    biases = (None,) * 3 if p["in_proj_bias"] is None else p["in_proj_bias"].chunk(3)

    def heads_first(t: torch.Tensor, steps: int) -> torch.Tensor:  # (steps, B, E) -> (B * H, steps, E / H)
        return t.reshape(steps, batch * heads, embed // heads).transpose(0, 1)

    q, k, v = (
        op(F.linear, t, w, b) for t, w, b in zip((query, key, value), projections, biases, strict=True)
    )
    extra = 0  # keys and values appended to every sequence: constants, their relevance is absorbed
    if p["bias_k"] is not None:  # add_bias_kv: a learned key and value
        k = torch.cat([k, p["bias_k"].repeat(1, batch, 1)])
        v = torch.cat([v, p["bias_v"].repeat(1, batch, 1)])
        extra += 1
    q, k, v = heads_first(q, length), heads_first(k, source + extra), heads_first(v, source + extra)
    if p["add_zero_attn"]:  # a zero key and value
        zeros = torch.zeros(batch * heads, 1, embed // heads, dtype=k.dtype, device=k.device)
        k, v = torch.cat([k, zeros], dim=1), torch.cat([v, zeros], dim=1)
        extra += 1
    mask = _mha_mask(p, batch, heads, source, q.dtype, extra)
    mixed, weights = _attend(q, k, v, (embed // heads) ** -0.5, mask, op)
    mixed = mixed.transpose(0, 1).reshape(length * batch, embed)
    out = op(F.linear, mixed, p["out_proj_weight"], p["out_proj_bias"]).view(length, batch, embed)
    out = out if batched else out.squeeze(1)
    check_written_out(out, expected, "attention")
    if not p["need_weights"]:
        return out, None
    shown = weights.detach().view(batch, heads, length, source + extra)
    shown = shown.mean(dim=1) if p["average_attn_weights"] else shown
    return out, shown if batched else shown.squeeze(0)


#: The functions ``attention='cp'`` and ``'attnlrp'`` explain, and how (each handler runs the
#: operation written out, its attention by the mode's rules).
HELD = {
    F.layer_norm: held_layer_norm,
    F.group_norm: held_group_norm,
    F.instance_norm: held_instance_norm,
    F.rms_norm: held_rms_norm,
    F.scaled_dot_product_attention: written_sdpa,
    F.multi_head_attention_forward: written_multi_head_attention,
}
