"""LRP through attention and LayerNorm/GroupNorm by conservative propagation (``attention='cp'``).

The reference is how LXT (Achtibat et al. 2024) computes CP-LRP: Gradient x Input of the same
network written out with the attention weights and the normalisation's standard deviation
detached and its activations under the identity rule; for the epsilon rule, the gradient
behind each Linear/Conv module scaled by y / (y + eps sign y). On a network of linear maps with
constants, that equals LRP-0/LRP-epsilon layer by layer. In float64, with the library's
stabilisers made negligible, the two agree to 1e-7; with the default stabilisers (1e-6 on
near-zero outputs) to about 1e-2 in float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import signxai.methods.lrp_graph as graph_mode
import signxai.methods.rules as rules
from models import assert_unchanged, rel_error, snapshot
from signxai import UnsupportedModelError, explain


class _Eps(torch.autograd.Function):
    """y unchanged; backward: the gradient scaled by y / (y + eps sign y) (the epsilon rule)."""

    @staticmethod
    def forward(ctx, y, eps):  # type: ignore[override]
        ctx.save_for_backward(y)
        ctx.eps = eps
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return grad * y / (y + ctx.eps * torch.where(y >= 0, 1.0, -1.0).to(y.dtype)), None


class _Identity(torch.autograd.Function):
    """LXT's identity rule for activations: backward g * f(x) / x."""

    @staticmethod
    def forward(ctx, x, fn):  # type: ignore[override]
        y = fn(x)
        ctx.save_for_backward(y / (x + 1e-30))
        return y

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return ctx.saved_tensors[0] * grad, None


class _DivideGradient(torch.autograd.Function):
    """LXT's ``divide_gradient``: y unchanged, the gradient divided by ``factor`` (the uniform rule
    of AttnLRP in Gradient x Input: 4 for queries and keys, 2 for values)."""

    @staticmethod
    def forward(ctx, x, factor):  # type: ignore[override]
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad / ctx.factor, None


def _weighted(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, mask: torch.Tensor | None, mode: str
) -> torch.Tensor:
    """``softmax(q k^T scale + mask) v`` as LXT explains it: CP-LRP detaches the weights; AttnLRP
    lets the gradient through the softmax and divides it at q, k (by 4) and v (by 2)."""
    if mode == "attnlrp":
        q, k, v = _DivideGradient.apply(q, 4), _DivideGradient.apply(k, 4), _DivideGradient.apply(v, 2)
    scores = q @ k.transpose(-1, -2) * scale
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    weights = torch.softmax(scores, -1)
    return (weights.detach() if mode == "cp" else weights) @ v


def _layer(module: nn.Module, u: torch.Tensor, eps: float) -> torch.Tensor:
    y = module(u)
    return _Eps.apply(y, eps) if eps else y


def _norm(u: torch.Tensor, module: nn.LayerNorm) -> torch.Tensor:
    mean = u.mean(-1, keepdim=True)
    std = ((u - mean) ** 2).mean(-1, keepdim=True).add(module.eps).sqrt()
    y = (u - mean) / std.detach()
    y = y * module.weight if module.weight is not None else y
    return y + module.bias if module.bias is not None else y


def _attention(
    mha: nn.MultiheadAttention,
    query: torch.Tensor,
    memory: torch.Tensor | None = None,
    padding: torch.Tensor | None = None,
    mode: str = "cp",
) -> torch.Tensor:
    """Attention of (B, L, E) queries on (B, S, .) memory (the queries themselves by default),
    explained by ``mode``; projections (packed or separate, kdim/vdim) as functions (the z-rule);
    the learned key and value (add_bias_kv) and a zero one (add_zero_attn) appended as constants."""
    memory = query if memory is None else memory
    embed, heads = mha.embed_dim, mha.num_heads
    if mha._qkv_same_embed_dim:
        weights = mha.in_proj_weight.split(embed)
    else:
        weights = (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight)
    biases = (None, None, None) if mha.in_proj_bias is None else mha.in_proj_bias.split(embed)
    q, k, v = (
        F.linear(t, w, b).reshape(t.shape[0], t.shape[1], heads, embed // heads).transpose(1, 2)
        for t, w, b in zip((query, memory, memory), weights, biases, strict=True)
    )
    appended = []
    if mha.bias_k is not None:
        appended.append((mha.bias_k.view(1, heads, 1, -1), mha.bias_v.view(1, heads, 1, -1)))
    if mha.add_zero_attn:
        appended.append((torch.zeros_like(k[:, :, :1]), torch.zeros_like(v[:, :, :1])))
    for key, value in appended:
        k = torch.cat([k, key.expand(len(k), -1, -1, -1)], dim=2)
        v = torch.cat([v, value.expand(len(v), -1, -1, -1)], dim=2)
    mask = None if padding is None else F.pad(padding, (0, len(appended)))[:, None, None, :]
    out = _weighted(q, k, v, 1 / math.sqrt(embed // heads), mask, mode)
    out = out.transpose(1, 2).reshape(*query.shape[:2], embed)
    return F.linear(out, mha.out_proj.weight, mha.out_proj.bias)


class _ECGTransformer(nn.Module):
    """Patch embedding (Conv1d), PyTorch's TransformerEncoder, mean over tokens, a Linear head."""

    def __init__(self, norm_first: bool, activation: str, bias: bool = True) -> None:
        super().__init__()
        self.embed = nn.Conv1d(2, 16, 8, stride=8, bias=bias)
        layer = nn.TransformerEncoderLayer(
            16, 4, 32, dropout=0.1, activation=activation, batch_first=True, norm_first=norm_first, bias=bias
        )
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3, bias=bias)

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        h = self.encoder(self.embed(x).transpose(1, 2), src_key_padding_mask=padding)
        return self.head(h.mean(1))


def _transformer_reference(
    model: _ECGTransformer, x: torch.Tensor, eps: float, padding=None, mode: str = "cp"
) -> torch.Tensor:
    h = _layer(model.embed, x, eps).transpose(1, 2)
    for block in model.encoder.layers:

        def feed_forward(u: torch.Tensor, block: nn.Module = block) -> torch.Tensor:
            a = _Identity.apply(_layer(block.linear1, u, eps), block.activation)
            return _layer(block.linear2, a, eps)

        if block.norm_first:
            h = h + _attention(block.self_attn, _norm(h, block.norm1), padding=padding, mode=mode)
            h = h + feed_forward(_norm(h, block.norm2))
        else:
            h = _norm(h + _attention(block.self_attn, h, padding=padding, mode=mode), block.norm1)
            h = _norm(h + feed_forward(h), block.norm2)
    return _layer(model.head, h.mean(1), eps)


def _grad_x_input(reference, x: torch.Tensor, target: list[int]) -> np.ndarray:
    leaf = x.detach().clone().requires_grad_(True)
    out = reference(leaf)
    (grad,) = torch.autograd.grad(out[torch.arange(len(x)), torch.tensor(target)].sum(), leaf)
    return (leaf * grad).detach().numpy()


def _assert_equals_reference(
    model: nn.Module,
    reference: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    target: list[int],
    mode: str = "cp",
) -> None:
    """``reference`` computes the model's output; lrp_z with ``attention=mode`` equals its
    Gradient x Input to 1e-7."""
    with torch.no_grad():
        np.testing.assert_allclose(reference(x).numpy(), model(x).numpy(), rtol=1e-10)
    ours = explain(model, x, "lrp_z", target_class=target, attention=mode)
    assert rel_error(ours, _grad_x_input(reference, x, target)) < 1e-7


@pytest.fixture
def negligible_stabilisers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's stabilisers (1e-6 on near-zero outputs) made negligible, in float64."""
    monkeypatch.setattr(graph_mode, "STABILIZER", 1e-30)
    monkeypatch.setattr(rules, "Z_FLOOR", 1e-30)


MODES = ["cp", "attnlrp"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["gelu", "relu"])
@pytest.mark.parametrize(("method", "eps"), [("lrp_z", 0.0), ("lrp_epsilon_0_1", 0.1)])
def test_a_transformer_encoder_equals_lxt_style_lrp(
    negligible_stabilisers: None, mode: str, norm_first: bool, activation: str, method: str, eps: float
) -> None:
    torch.manual_seed(0)
    model = _ECGTransformer(norm_first, activation).double().eval()
    x = torch.randn(3, 2, 64, dtype=torch.float64)
    padding = torch.zeros(3, 8, dtype=torch.bool)
    padding[1, 6:] = True  # the second ECG's last two patches are padding
    target = [0, 2, 1]
    with torch.no_grad():
        np.testing.assert_allclose(
            _transformer_reference(model, x, 0.0, padding).numpy(), model(x, padding).numpy(), rtol=1e-10
        )
    before = snapshot(model)
    ours = explain(model, x, method, target_class=target, attention=mode, forward_kwargs={"padding": padding})
    assert_unchanged(model, before)
    expected = _grad_x_input(lambda u: _transformer_reference(model, u, eps, padding, mode), x, target)
    assert rel_error(ours, expected) < 1e-7


def test_with_the_default_stabilisers_in_float32_and_batch_equals_per_sample() -> None:
    torch.manual_seed(1)
    model = _ECGTransformer(norm_first=True, activation="gelu").eval()
    x = torch.randn(4, 2, 64)
    target = [0, 1, 2, 0]
    ours = explain(model, x, "lrp_epsilon_0_1", target_class=target, attention="cp")
    expected = _grad_x_input(lambda u: _transformer_reference(model, u, 0.1), x, target)
    assert rel_error(ours, expected) < 1e-2
    alone = explain(model, x[2:3], "lrp_epsilon_0_1", target_class=[2], attention="cp")
    np.testing.assert_allclose(ours[2:3], alone, rtol=1e-4, atol=1e-7)
    signed = explain(model, x, "lrpsign_epsilon_0_1", target_class=target, attention="cp")
    assert np.isfinite(signed).all() and np.abs(signed).sum() > 0


def test_a_bias_free_transformer_conserves_the_logit() -> None:
    torch.manual_seed(2)
    model = _ECGTransformer(norm_first=False, activation="relu", bias=False).eval()
    x = torch.randn(3, 2, 64)
    target = [1, 0, 2]
    relevance = explain(model, x, "lrp_z", target_class=target, attention="cp")
    logits = model(x).detach()[torch.arange(3), torch.tensor(target)].numpy()
    np.testing.assert_allclose(relevance.reshape(3, -1).sum(1), logits, rtol=1e-3, atol=1e-5)


class _SequenceFirst(nn.Module):
    """nn.MultiheadAttention called directly: (L, B, E) layout, need_weights left on, a
    different key/value source (cross-attention of two conv branches)."""

    def __init__(self) -> None:
        super().__init__()
        self.query_conv = nn.Conv1d(1, 8, 5, padding=2)
        self.memory_conv = nn.Conv1d(1, 8, 9, padding=4)
        self.attention = nn.MultiheadAttention(8, 2)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query = torch.relu(self.query_conv(x)).permute(2, 0, 1)
        memory = torch.relu(self.memory_conv(x)).permute(2, 0, 1)
        out, _ = self.attention(query, memory, memory)
        return self.head(out.mean(0))


def test_cross_attention_passes_relevance_through_the_values_only(negligible_stabilisers: None) -> None:
    torch.manual_seed(3)
    model = _SequenceFirst().double().eval()
    x = torch.randn(2, 1, 24, dtype=torch.float64)

    def reference(u: torch.Tensor) -> torch.Tensor:
        query = torch.relu(model.query_conv(u)).transpose(1, 2)  # (B, L, E)
        memory = torch.relu(model.memory_conv(u)).transpose(1, 2)
        return model.head(_attention(model.attention, query, memory).mean(1))

    _assert_equals_reference(model, reference, x, [0, 1])


class _GroupNormCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(2, 8, 5, padding=2)
        self.norm1 = nn.GroupNorm(2, 8)
        self.conv2 = nn.Conv1d(8, 8, 3, padding=1)
        self.norm2 = nn.GroupNorm(4, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm1(self.conv1(x)))
        h = torch.relu(self.norm2(self.conv2(h)))
        return self.head(h.mean(-1))


def test_group_norm_holds_each_groups_deviation(negligible_stabilisers: None) -> None:
    torch.manual_seed(4)
    model = _GroupNormCNN().double().eval()
    with torch.no_grad():
        for norm in (model.norm1, model.norm2):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.normal_(0, 0.1)
    x = torch.randn(3, 2, 30, dtype=torch.float64)

    def group_norm(u: torch.Tensor, norm: nn.GroupNorm) -> torch.Tensor:
        g = u.reshape(u.shape[0], norm.num_groups, -1)
        std = g.var(-1, unbiased=False, keepdim=True).add(norm.eps).sqrt().detach()
        y = ((g - g.mean(-1, keepdim=True)) / std).reshape(u.shape)
        return y * norm.weight[:, None] + norm.bias[:, None]

    def reference(u: torch.Tensor) -> torch.Tensor:
        h = torch.relu(group_norm(model.conv1(u), model.norm1))
        h = torch.relu(group_norm(model.conv2(h), model.norm2))
        return model.head(h.mean(-1))

    _assert_equals_reference(model, reference, x, [0, 1, 2])


class _InstanceNormCNN(nn.Module):
    def __init__(self, affine: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(2, 8, 5, padding=2)
        self.norm1 = nn.InstanceNorm1d(8, affine=affine)
        self.conv2 = nn.Conv1d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm1(self.conv1(x)))
        h = torch.relu(F.instance_norm(self.conv2(h)))  # the function, without a module
        return self.head(h.mean(-1))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm_holds_each_samples_and_channels_deviation(
    negligible_stabilisers: None, mode: str, affine: bool
) -> None:
    torch.manual_seed(5)
    model = _InstanceNormCNN(affine).double().eval()
    if affine:
        with torch.no_grad():
            model.norm1.weight.uniform_(0.5, 1.5)
            model.norm1.bias.normal_(0, 0.1)
    x = torch.randn(3, 2, 30, dtype=torch.float64)

    def instance_norm(u: torch.Tensor, norm: nn.Module | None) -> torch.Tensor:
        std = u.var(-1, unbiased=False, keepdim=True).add(1e-5).sqrt().detach()
        y = (u - u.mean(-1, keepdim=True)) / std
        return y * norm.weight[:, None] + norm.bias[:, None] if norm is not None and affine else y

    def reference(u: torch.Tensor) -> torch.Tensor:
        h = torch.relu(instance_norm(model.conv1(u), model.norm1))
        h = torch.relu(instance_norm(model.conv2(h), None))
        return model.head(h.mean(-1))

    _assert_equals_reference(model, reference, x, [0, 1, 2], mode)
    with pytest.raises(UnsupportedModelError, match=r"own statistics \(instance_norm\).*attention='cp'"):
        explain(model, x, "lrp_epsilon_0_1")


class _AttentionPooling(nn.Module):
    """Attention pooling over time, common in ECG classifiers: softmax weights from a 1x1 conv,
    the weighted sum of the feature map."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 8, 5, padding=2)
        self.score = nn.Conv1d(8, 1, 1)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x))
        return self.head((h * torch.softmax(self.score(h), dim=-1)).sum(-1))


@pytest.mark.parametrize("mode", MODES)
def test_attention_pooling_holds_its_weights_and_the_errors_lead_there(
    negligible_stabilisers: None, mode: str
) -> None:
    torch.manual_seed(6)
    model = _AttentionPooling().double().eval()
    x = torch.randn(3, 2, 30, dtype=torch.float64)

    def reference(u: torch.Tensor) -> torch.Tensor:
        h = torch.relu(model.conv(u))
        return model.head((h * torch.softmax(model.score(h), dim=-1).detach()).sum(-1))

    if mode == "cp":  # AttnLRP lets relevance through the weights: its product is no gate
        _assert_equals_reference(model, reference, x, [0, 1, 2], mode)
    with pytest.raises(UnsupportedModelError, match="gates='signal'"):
        explain(model, x, "lrp_epsilon_0_1")
    # with gates='signal' the softmax weights, broadcast over the channels, are the gate held
    # constant: the softmax itself is then off the explained path, and the map is cp's
    held = explain(model, x, "lrp_z", target_class=[0, 1, 2], gates="signal")
    assert rel_error(held, _grad_x_input(reference, x, [0, 1, 2])) < 1e-7


class _RMSNormed(nn.Module):
    """Conv patches, an nn.RMSNorm (as in recent transformers), a Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 8, 4, stride=4)
        self.norm = nn.RMSNorm(8, eps=1e-5)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(torch.relu(self.conv(x)).transpose(1, 2)).mean(1))


@pytest.mark.parametrize("mode", MODES)
def test_rms_norm_holds_its_root_mean_square(negligible_stabilisers: None, mode: str) -> None:
    torch.manual_seed(15)
    model = _RMSNormed().double().eval()
    with torch.no_grad():
        model.norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(3, 2, 32, dtype=torch.float64)

    def reference(u: torch.Tensor) -> torch.Tensor:
        h = torch.relu(model.conv(u)).transpose(1, 2)
        rms = (h.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt().detach()
        return model.head((h / rms * model.norm.weight).mean(1))

    _assert_equals_reference(model, reference, x, [0, 1, 2], mode)
    with pytest.raises(UnsupportedModelError, match=r"'norm' \(RMSNorm\).*attention='cp'"):
        explain(model, x, "lrp_z", target_class=0)


class _ScaledDotProduct(nn.Module):
    """Attention written with F.scaled_dot_product_attention (causal), as custom ECG models do."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv1d(1, 8, 4, stride=4)
        self.qkv = nn.Linear(8, 24)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).transpose(1, 2)
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)
        causal = torch.ones(8, 8, dtype=torch.bool).tril()  # passed positionally, as the mask
        return self.head(F.scaled_dot_product_attention(q, k, v, causal).mean(1))


@pytest.mark.parametrize("mode", MODES)
def test_scaled_dot_product_attention(negligible_stabilisers: None, mode: str) -> None:
    torch.manual_seed(5)
    model = _ScaledDotProduct().double().eval()
    x = torch.randn(2, 1, 32, dtype=torch.float64)

    def reference(u: torch.Tensor) -> torch.Tensor:
        q, k, v = model.qkv(model.embed(u).transpose(1, 2)).chunk(3, dim=-1)
        causal = torch.ones(8, 8, dtype=torch.bool).tril()
        return model.head(_weighted(q, k, v, 1 / math.sqrt(8), ~causal, mode).mean(1))

    _assert_equals_reference(model, reference, x, [1, 0], mode)


class _WrittenOutAttention(nn.Module):
    """Multi-head self-attention written out, as custom ECG transformers do: Linear modules for
    q, k, v and the output, the scores by ``product``, a padding mask, softmax and dropout."""

    def __init__(self, embed: int, heads: int, product: str) -> None:
        super().__init__()
        self.q, self.k, self.v, self.out = (nn.Linear(embed, embed) for _ in range(4))
        self.heads, self.product = heads, product
        self.dropout = nn.Dropout(0.1)

    def forward(self, h: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        batch, length, embed = h.shape
        width = embed // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.heads, width).transpose(1, 2)

        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        if self.product == "einsum":  # operands as a list
            scores = torch.einsum("bhld,bhsd->bhls", [q, k]) * width**-0.5
        elif self.product == "baddbmm":
            flat_q, flat_k = q.flatten(0, 1), k.flatten(0, 1).transpose(1, 2)
            start = torch.zeros(batch * self.heads, length, length, dtype=h.dtype)
            scores = torch.baddbmm(start, flat_q, flat_k, alpha=width**-0.5).view(batch, -1, length, length)
        else:
            scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(width)
        if padding is not None:
            scores = scores.masked_fill(padding[:, None, None, :], float("-inf"))
        weights = self.dropout(F.softmax(scores, dim=-1))
        if self.product == "einsum":
            mixed = torch.einsum("bhls,bhsd->bhld", weights, v)
        else:
            mixed = weights @ v
        return self.out(mixed.transpose(1, 2).reshape(batch, length, embed))


class _WrittenOutTransformer(nn.Module):
    """Patch embedding, two post-norm blocks of written-out attention and a GELU feed-forward."""

    def __init__(self, product: str) -> None:
        super().__init__()
        self.embed = nn.Conv1d(2, 16, 8, stride=8)
        self.blocks = nn.ModuleList(
            nn.ModuleDict(
                {
                    "attention": _WrittenOutAttention(16, 4, product),
                    "norm1": nn.LayerNorm(16),
                    "linear1": nn.Linear(16, 32),
                    "activation": nn.GELU(),
                    "linear2": nn.Linear(32, 16),
                    "norm2": nn.LayerNorm(16),
                }
            )
            for _ in range(2)
        )
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        h = self.embed(x).transpose(1, 2)
        for b in self.blocks:
            h = b["norm1"](h + b["attention"](h, padding))
            h = b["norm2"](h + b["linear2"](b["activation"](b["linear1"](h))))
        return self.head(h.mean(1))


def _written_out_reference(
    model: _WrittenOutTransformer, x: torch.Tensor, eps: float, padding: torch.Tensor, mode: str
) -> torch.Tensor:
    """The same network explained by ``mode`` (LayerNorm deviations detached), every Linear/Conv
    module under the epsilon rule (q and k too; under CP-LRP no relevance reaches them)."""
    h = _layer(model.embed, x, eps).transpose(1, 2)
    for b in model.blocks:
        a: Any = b["attention"]
        batch, length, embed = h.shape
        q, k, v = (
            _layer(m, h, eps).view(batch, length, 4, embed // 4).transpose(1, 2) for m in (a.q, a.k, a.v)
        )
        mixed = _weighted(q, k, v, 1 / math.sqrt(embed // 4), padding[:, None, None, :], mode)
        mixed = mixed.transpose(1, 2).reshape(batch, length, embed)
        h = _norm(h + _layer(a.out, mixed, eps), b["norm1"])
        hidden = _Identity.apply(_layer(b["linear1"], h, eps), F.gelu)
        h = _norm(h + _layer(b["linear2"], hidden, eps), b["norm2"])
    return _layer(model.head, h.mean(1), eps)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("product", ["matmul", "einsum", "baddbmm"])
@pytest.mark.parametrize(("method", "eps"), [("lrp_z", 0.0), ("lrp_epsilon_0_1", 0.1)])
def test_attention_written_out(
    negligible_stabilisers: None, mode: str, product: str, method: str, eps: float
) -> None:
    torch.manual_seed(9)
    model = _WrittenOutTransformer(product).double().eval()
    x = torch.randn(3, 2, 64, dtype=torch.float64)
    padding = torch.zeros(3, 8, dtype=torch.bool)
    padding[2, 5:] = True
    target = [2, 0, 1]
    with torch.no_grad():
        np.testing.assert_allclose(
            _written_out_reference(model, x, 0.0, padding, mode).numpy(),
            model(x, padding).numpy(),
            rtol=1e-10,
        )
    before = snapshot(model)
    ours = explain(model, x, method, target_class=target, attention=mode, forward_kwargs={"padding": padding})
    assert_unchanged(model, before)
    expected = _grad_x_input(lambda u: _written_out_reference(model, u, eps, padding, mode), x, target)
    assert rel_error(ours, expected) < 1e-7


def test_written_out_attention_gives_the_map_of_torchs_transformer(negligible_stabilisers: None) -> None:
    """The same weights in nn.TransformerEncoder (post-norm, GELU) and written out: lrp_z maps equal."""
    torch.manual_seed(11)
    torchs = _ECGTransformer(norm_first=False, activation="gelu").double().eval()
    ours = _WrittenOutTransformer("matmul").double().eval()
    with torch.no_grad():
        ours.embed.load_state_dict(torchs.embed.state_dict())
        ours.head.load_state_dict(torchs.head.state_dict())
        for mine, layer in zip(ours.blocks, torchs.encoder.layers, strict=True):
            mha: Any = layer.self_attn
            for linear, weight, bias in zip(
                (mine["attention"].q, mine["attention"].k, mine["attention"].v),
                mha.in_proj_weight.split(16),
                mha.in_proj_bias.split(16),
                strict=True,
            ):
                linear.weight.copy_(weight)
                linear.bias.copy_(bias)
            mine["attention"].out.load_state_dict(mha.out_proj.state_dict())
            for name in ("norm1", "linear1", "linear2", "norm2"):
                mine[name].load_state_dict(getattr(layer, name).state_dict())
    x = torch.randn(3, 2, 64, dtype=torch.float64)
    with torch.no_grad():
        np.testing.assert_allclose(ours(x).numpy(), torchs(x).numpy(), rtol=1e-10)
    target = [1, 2, 0]
    written = explain(ours, x, "lrp_z", target_class=target, attention="cp")
    assert rel_error(written, explain(torchs, x, "lrp_z", target_class=target, attention="cp")) < 1e-7


class _ViT(nn.Module):
    """A ViT-style ECG transformer: conv patches, a learned class token and positional embedding
    (parameters of the model itself, or an ``nn.Embedding`` of positions with ``lookup``, or given
    as further inputs), the class token's output."""

    def __init__(self, lookup: bool = False) -> None:
        super().__init__()
        self.embed = nn.Conv1d(2, 16, 8, stride=8)
        self.cls = nn.Parameter(torch.randn(1, 1, 16))
        self.lookup = nn.Embedding(9, 16) if lookup else None
        self.pos = nn.Parameter(0.1 * torch.randn(1, 9, 16))
        layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3)

    def forward(
        self, x: torch.Tensor, cls: torch.Tensor | None = None, pos: torch.Tensor | None = None
    ) -> torch.Tensor:
        cls = self.cls if cls is None else cls
        if pos is None:
            pos = self.pos if self.lookup is None else self.lookup(torch.arange(9)).unsqueeze(0)
        tokens = torch.cat([cls.expand(len(x), -1, -1), self.embed(x).transpose(1, 2)], dim=1) + pos
        return self.head(self.encoder(tokens)[:, 0])


@pytest.mark.parametrize("lookup", [False, True])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["lrp_epsilon_0_1", "lrpsign_epsilon_0_1"])
def test_a_class_token_and_positional_embedding_of_the_model_are_constants(
    mode: str, method: str, lookup: bool
) -> None:
    """Parameters of the model's own module (not a Linear/Conv) used as tokens and embeddings,
    and an nn.Embedding of positions, were refused; they are explained as the same tensors given
    as further inputs."""
    torch.manual_seed(14)
    model = _ViT(lookup).eval()
    x = torch.randn(3, 2, 64)
    before = snapshot(model)
    ours = explain(model, x, method, target_class=[0, 1, 2], attention=mode)
    assert_unchanged(model, before)
    with torch.no_grad():
        pos = model.pos if model.lookup is None else model.lookup(torch.arange(9)).unsqueeze(0)
    given = {"cls": model.cls.detach().expand(3, -1, -1), "pos": pos.expand(3, -1, -1)}
    reference = explain(model, x, method, target_class=[0, 1, 2], attention=mode, forward_kwargs=given)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-8)
    assert np.abs(ours).sum() > 0


class _ExplicitAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(4, 12)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x.transpose(1, 2)).chunk(3, dim=-1)
        return self.head((torch.softmax(q @ k.transpose(-1, -2), -1) @ v).mean(1))


class _Bilinear(_ExplicitAttention):
    """Two input-dependent factors whose product reaches the output without a softmax (a GLU-like
    gate of equal shape): no LRP rule, with or without attention='cp'."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x.transpose(1, 2)).chunk(3, dim=-1)
        attended = torch.softmax(q @ k.transpose(-1, -2), -1) @ v
        return self.head((attended * torch.sigmoid(q)).mean(1))


def test_a_product_relevance_reaches_is_an_error_under_cp_too() -> None:
    torch.manual_seed(10)
    model = _Bilinear().eval()
    x = torch.randn(2, 4, 6, requires_grad=False)
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match=r"relevance reaches a product .*\(mul\)"):
        explain(model, x, "lrpsign_epsilon_0_1", target_class=0, attention="cp")
    assert_unchanged(model, before)
    with pytest.raises(UnsupportedModelError, match="written out as softmax"):
        explain(_ExplicitAttention().eval(), x, "lrp_z", target_class=0)
    written_out = explain(_ExplicitAttention().eval(), x, "lrp_z", target_class=0, attention="cp")
    assert np.isfinite(written_out).all() and np.abs(written_out).sum() > 0


def test_what_cp_does_not_cover_and_the_default_are_errors_that_say_so() -> None:
    torch.manual_seed(6)
    x = torch.randn(2, 2, 64)
    model = _ECGTransformer(norm_first=False, activation="relu").eval()
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match="attention='cp'"):
        explain(model, x, "lrp_epsilon_0_1", target_class=0)
    assert_unchanged(model, before)

    class _AlwaysDropout(_ScaledDotProduct):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.qkv(self.embed(x).transpose(1, 2)).chunk(3, dim=-1)
            return self.head(F.scaled_dot_product_attention(q, k, v, dropout_p=0.1).mean(1))

    # random at inference: refused before any method runs (explain's repeatability check)
    with pytest.raises(UnsupportedModelError, match="different outputs for the same input"):
        explain(_AlwaysDropout().eval(), torch.randn(2, 1, 32), "lrp_z", target_class=0, attention="cp")
    with pytest.raises(Exception, match="must be one of"):
        explain(model, x, "lrp_z", target_class=0, attention="values")
    # gradient methods never needed it
    assert explain(model, x, "gradient", target_class=0).shape == x.shape


class _LogSoftmaxInside(_ExplicitAttention):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x.transpose(1, 2)).chunk(3, dim=-1)
        return self.head((torch.log_softmax(q @ k.transpose(-1, -2), -1) @ v).mean(1))


def test_attnlrp_refuses_what_its_rules_do_not_cover_and_batch_equals_per_sample() -> None:
    torch.manual_seed(12)
    x = torch.randn(2, 4, 6)
    model = _LogSoftmaxInside().eval()
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match="only softmax has AttnLRP's softmax rule"):
        explain(model, x, "lrp_z", target_class=0, attention="attnlrp")
    assert_unchanged(model, before)

    class _ThreeFactors(_ExplicitAttention):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.qkv(x.transpose(1, 2)).chunk(3, dim=-1)
            return self.head(torch.einsum("btd,btd,btd->bd", q, k, v).unsqueeze(1).mean(1))

    for mode in MODES:
        with pytest.raises(UnsupportedModelError, match="einsum of 3 input-dependent tensors"):
            explain(_ThreeFactors().eval(), x, "lrp_z", target_class=0, attention=mode)
    transformer = _ECGTransformer(norm_first=True, activation="gelu").eval()
    signals = torch.randn(3, 2, 64)
    batch = explain(transformer, signals, "lrpsign_epsilon_0_1", target_class=[0, 1, 2], attention="attnlrp")
    alone = explain(transformer, signals[1:2], "lrpsign_epsilon_0_1", target_class=[1], attention="attnlrp")
    np.testing.assert_allclose(batch[1:2], alone, rtol=1e-4, atol=1e-7)
    held = explain(transformer, signals, "lrpsign_epsilon_0_1", target_class=[0, 1, 2], attention="cp")
    assert rel_error(batch, held) > 0.05  # relevance through the queries and keys changes the map


class _Appended(nn.Module):
    """nn.MultiheadAttention with a learned key/value (add_bias_kv) and/or a zero one appended."""

    def __init__(self, bias_kv: bool, zero_attn: bool) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 5, padding=2)
        self.attention = nn.MultiheadAttention(
            8, 2, add_bias_kv=bias_kv, add_zero_attn=zero_attn, batch_first=True
        )
        self.head = nn.Linear(8, 2)
        if bias_kv:
            nn.init.normal_(self.attention.bias_k)
            nn.init.normal_(self.attention.bias_v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x)).transpose(1, 2)
        padding = torch.zeros(len(x), h.shape[1], dtype=torch.bool, device=x.device)
        padding[0, -3:] = True
        return self.head(self.attention(h, h, h, key_padding_mask=padding)[0].mean(1))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("bias_kv", "zero_attn"), [(True, False), (False, True), (True, True)])
def test_appended_keys_and_values(
    negligible_stabilisers: None, mode: str, bias_kv: bool, zero_attn: bool
) -> None:
    torch.manual_seed(13)
    model = _Appended(bias_kv, zero_attn).double().eval()
    x = torch.randn(2, 1, 20, dtype=torch.float64)

    def reference(u: torch.Tensor) -> torch.Tensor:
        h = torch.relu(model.conv(u)).transpose(1, 2)
        padding = torch.zeros(len(u), h.shape[1], dtype=torch.bool)
        padding[0, -3:] = True
        return model.head(_attention(model.attention, h, padding=padding, mode=mode).mean(1))

    _assert_equals_reference(model, reference, x, [1, 0], mode)


class _OtherWidths(nn.Module):
    """Keys and values of another width than the queries (kdim, vdim: separate projections)."""

    def __init__(self) -> None:
        super().__init__()
        self.query_conv = nn.Conv1d(1, 8, 3, padding=1)
        self.memory_conv = nn.Conv1d(1, 6, 3, padding=1)
        self.attention = nn.MultiheadAttention(8, 2, kdim=6, vdim=6, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query = torch.relu(self.query_conv(x)).transpose(1, 2)
        memory = torch.relu(self.memory_conv(x)).transpose(1, 2)
        return self.head(self.attention(query, memory, memory)[0].mean(1))


def test_separate_key_and_value_projections(negligible_stabilisers: None) -> None:
    torch.manual_seed(7)
    model = _OtherWidths().double().eval()
    x = torch.randn(3, 1, 20, dtype=torch.float64)

    def reference(u: torch.Tensor) -> torch.Tensor:
        query = torch.relu(model.query_conv(u)).transpose(1, 2)
        memory = torch.relu(model.memory_conv(u)).transpose(1, 2)
        return model.head(_attention(model.attention, query, memory).mean(1))

    _assert_equals_reference(model, reference, x, [0, 1, 0])


def test_an_input_layer_rule_needs_a_layer_before_the_attention() -> None:
    """Without a patch embedding the attention reads the input: SIGN, flat, w-square, z-box
    cannot be given to it (nor to a Linear the input reaches past it, through the residual)."""
    torch.manual_seed(8)
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True)
    model = nn.Sequential(
        nn.TransformerEncoder(layer, 1, enable_nested_tensor=False), nn.Flatten(), nn.Linear(24, 2)
    )
    model.eval()
    x = torch.randn(2, 6, 4)  # six tokens of four features, straight into the encoder
    for method in ("lrpsign_epsilon_0_1", "flatlrp_z", "w2lrp_epsilon_0_1"):
        with pytest.raises(UnsupportedModelError, match="reads the model's input"):
            explain(model, x, method, target_class=0, attention="cp")
    relevance = explain(model, x, "lrp_epsilon_0_1", target_class=[0, 1], attention="cp")
    assert relevance.shape == x.shape and np.isfinite(relevance).all()
    embedded = _ECGTransformer(norm_first=True, activation="gelu").eval()  # a conv embedding first
    assert np.isfinite(explain(embedded, torch.randn(2, 2, 64), "lrpsign_epsilon_0_1", attention="cp")).all()
