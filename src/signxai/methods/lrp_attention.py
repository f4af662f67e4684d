"""LRP through attention and layer/group normalisation by conservative propagation (CP-LRP).

Ali et al. 2022 ("XAI for Transformers: Better Explanations through Conservative Propagation",
ICML) hold two things constant while relevance flows back, so that a Transformer block is linear
in what remains:

- the attention weights ``softmax(q k^T / sqrt(d))``: relevance reaches the input only through
  the values, ``out = A v`` with ``A`` constant (none through the queries and keys);
- the standard deviation of ``nn.LayerNorm`` / ``nn.GroupNorm``: ``y = (x - mean(x)) / sigma * w + b``
  is then a linear map of ``x``.

Each linear map left (the value and output projections, ``A v``, the centred normalisation) is
explained by the z-rule, ``R_x = x * J^T (R / y)`` (LRP-0; a bias takes its share), which on such a
network gives what the Gradient x Input of AttnLRP's implementation (LXT, Achtibat et al. 2024)
gives with these quantities detached. The Linear layers of the model keep the method's rule
(epsilon, alpha-beta, ...); the attention's own projections, which ``nn.MultiheadAttention``
applies as functions, get the z-rule, as in LXT. ``LRPGraphMode`` calls these while the forward
pass runs when ``attention='cp'``.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F

from signxai.errors import UnsupportedModelError
from signxai.methods.rules import check_written_out

#: How attention and normalisation by input statistics are explained.
ATTENTION_MODES = ("error", "cp")


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


def held_layer_norm(args: tuple[Any, ...], kwargs: dict[str, Any], linear_z: Any) -> torch.Tensor:
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


def held_group_norm(args: tuple[Any, ...], kwargs: dict[str, Any], linear_z: Any) -> torch.Tensor:
    """``F.group_norm`` with each group's standard deviation held constant; the z-rule on the rest."""
    a = _bind(("input", "num_groups", "weight", "bias", "eps"), args, kwargs)
    x, groups, weight, bias = a["input"], int(a["num_groups"]), a.get("weight"), a.get("bias")
    with torch.no_grad():
        grouped = x.reshape(x.shape[0], groups, -1)
        std = torch.sqrt(grouped.var(dim=-1, unbiased=False, keepdim=True) + a.get("eps", 1e-5))
    affine = (1, x.shape[1]) + (1,) * (x.ndim - 2)

    def centred(u: torch.Tensor) -> torch.Tensor:
        g = u.reshape(u.shape[0], groups, -1)
        y = ((g - g.mean(dim=-1, keepdim=True)) / std).reshape(u.shape)
        y = y * weight.view(affine) if weight is not None else y
        return y + bias.view(affine) if bias is not None else y

    return _checked(F.group_norm, args, kwargs, linear_z(x, centred))


def held_sdpa(args: tuple[Any, ...], kwargs: dict[str, Any], linear_z: Any) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` with constant weights: the z-rule of ``v -> A v``."""
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
    a = _bind(names, args, kwargs)
    if float(a.get("dropout_p", 0.0)) > 0:
        raise UnsupportedModelError(
            "LRP attention='cp': F.scaled_dot_product_attention is called with dropout_p > 0 while "
            "the model is explained (random weights); pass dropout_p=0.0 outside training"
        )
    query, key, value = a.pop("query").detach(), a.pop("key").detach(), a.pop("value")
    rest = {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in a.items()}

    attend: Any = F.scaled_dot_product_attention

    def mixed(u: torch.Tensor) -> torch.Tensor:
        return attend(query, key, u, **rest)

    if not value.requires_grad:
        return mixed(value)
    return _checked(attend, args, kwargs, linear_z(value, mixed))


def held_multi_head_attention(
    args: tuple[Any, ...], kwargs: dict[str, Any], linear_z: Any
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``F.multi_head_attention_forward`` (``nn.MultiheadAttention``) with constant attention weights.

    The weights come from torch's own function on the detached inputs; the value projection,
    ``A v`` per head and the output projection are the z-rule's linear maps. The output is checked
    against torch's.
    """
    function: Any = F.multi_head_attention_forward
    a = inspect.signature(function).bind(*args, **kwargs)
    a.apply_defaults()
    p = dict(a.arguments)
    if p["bias_k"] is not None or p["bias_v"] is not None or p["add_zero_attn"]:
        raise UnsupportedModelError(
            "LRP attention='cp': nn.MultiheadAttention with add_bias_kv or add_zero_attn is not supported"
        )
    if p["static_k"] is not None or p["static_v"] is not None:
        raise UnsupportedModelError("LRP attention='cp': static keys/values are not supported")
    if p["training"] and p["dropout_p"] > 0:
        raise UnsupportedModelError("LRP attention='cp': attention dropout in training mode")
    value = p["value"]
    constant = {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in p.items()}
    with torch.no_grad():
        expected, weights = function(**{**constant, "need_weights": True, "average_attn_weights": False})
    if weights is None:
        raise RuntimeError("internal error: torch's attention returned no weights")
    embed, heads = int(p["embed_dim_to_check"]), int(p["num_heads"])
    bias = p["in_proj_bias"]
    w_v = p["v_proj_weight"] if p["use_separate_proj_weight"] else p["in_proj_weight"][2 * embed :]
    b_v = bias[2 * embed :] if bias is not None else None
    batched = value.dim() == 3
    per_head = weights if batched else weights.unsqueeze(0)  # (B, H, L, S)
    per_head = per_head.detach()

    def mix(v: torch.Tensor) -> torch.Tensor:  # (S, B, E) -> (L, B, E)
        source, batch, _ = v.shape
        split = v.reshape(source, batch, heads, embed // heads).permute(1, 2, 0, 3)
        out = per_head @ split  # (B, H, L, E / H)
        return out.permute(2, 0, 1, 3).reshape(out.shape[2], batch, embed)

    v_in = value if batched else value.unsqueeze(1)
    values = linear_z(v_in, lambda u: F.linear(u, w_v, b_v))
    attended = linear_z(values, mix)
    out = linear_z(attended, lambda u: F.linear(u, p["out_proj_weight"], p["out_proj_bias"]))
    out = out if batched else out.squeeze(1)
    check_written_out(out, expected, "attention")
    if not p["need_weights"]:
        return out, None
    shown = weights.mean(dim=-3) if p["average_attn_weights"] else weights
    return out, shown.detach()


#: The functions conservative propagation explains, and how.
HELD = {
    F.layer_norm: held_layer_norm,
    F.group_norm: held_group_norm,
    F.scaled_dot_product_attention: held_sdpa,
    F.multi_head_attention_forward: held_multi_head_attention,
}
