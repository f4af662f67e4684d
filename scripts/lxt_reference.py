"""Cross-check ``attention='cp'`` and ``'attnlrp'`` against LXT itself (Achtibat et al. 2024, ``lxt==2.1``).

LXT (LRP-eXplains-Transformers) computes CP-LRP for torchvision's vision transformer as Gradient x
Input with its ``cp_LRP`` patches: LayerNorm's standard deviation detached
(``layer_norm_forward``), the queries and keys of ``nn.MultiheadAttention`` detached
(``cp_multi_head_attention_forward``) and activation modules under the identity rule
(``non_linear_forward``). This script applies exactly those functions, from the installed
package, to the instances of an ECG transformer (torch's ``TransformerEncoder`` with GELU
modules, pre- and post-norm) and compares Gradient x Input with ``explain(..., 'lrp_z',
attention='cp')`` (LRP-0 everywhere is what Gradient x Input computes).

AttnLRP: LXT patches the attention *function* of Hugging Face models (``wrap_attention_forward``:
the gradient divided by 4 at the queries and keys and by 2 at the values, the uniform rule, with
the gradient through the softmax as its softmax rule), LayerNorm and activations as above. This
script builds an ECG transformer whose attention blocks call such a function
(``eager_attention_forward``, as Hugging Face writes it), wraps it with LXT's own wrapper and
compares Gradient x Input with ``explain(..., 'lrp_z', attention='attnlrp')``.

LXT is not a dependency (its package pulls in transformers, bitsandbytes and open_clip): install
it next to signxai with ``pip install --no-deps lxt==2.1``; only ``lxt/efficient/patches.py`` and
``rules.py`` are loaded (the package's ``__init__`` imports the language models). Run
``python scripts/lxt_reference.py``; it prints the relative L2 difference per model, in float32
with the library's default stabilisers and in float64 with them made negligible.
"""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

import numpy as np
import torch
from _reference_code import load_files  # scripts/, beside this file
from torch import nn

import signxai.methods.lrp_graph as graph_mode
import signxai.methods.rules as rules
from signxai import explain


def _load_lxt() -> types.ModuleType:
    """``lxt.efficient.patches`` (and the ``rules`` it imports) without the package ``__init__``."""
    spec = importlib.util.find_spec("lxt")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("lxt is not installed: pip install --no-deps lxt==2.1")
    folder = Path(next(iter(spec.submodule_search_locations))) / "efficient"
    return load_files("lxt.efficient", folder, ("rules", "patches"))["patches"]


class ECGTransformer(nn.Module):
    """Patch embedding (Conv1d), torch's TransformerEncoder with GELU modules, mean, Linear."""

    def __init__(self, norm_first: bool) -> None:
        super().__init__()
        self.embed = nn.Conv1d(2, 16, 8, stride=8)
        layer = nn.TransformerEncoderLayer(
            16, 4, 32, dropout=0.1, activation=nn.GELU(), batch_first=True, norm_first=norm_first
        )
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x).transpose(1, 2)).mean(1))


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
) -> torch.Tensor:
    """Hugging Face's eager attention: (B, H, L, d) queries, keys, values -> (B, L, H, d)."""
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = torch.softmax(scores, dim=-1)
    return torch.matmul(weights, value).transpose(1, 2).contiguous()


class EagerAttention(nn.Module):
    """Self-attention as Hugging Face models write it: Linear projections and an attention
    function (``function``, the one LXT's AttnLRP patch wraps)."""

    def __init__(self, embed: int, heads: int) -> None:
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(embed, embed) for _ in range(4))
        self.heads = heads
        self.function = eager_attention_forward

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        batch, length, embed = h.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.heads, -1).transpose(1, 2)

        scaling = (embed // self.heads) ** -0.5
        out = self.function(self, split(self.q(h)), split(self.k(h)), split(self.v(h)), None, scaling)
        return self.o(out.reshape(batch, length, embed))


class EagerTransformer(nn.Module):
    """Conv patch embedding, two post-norm blocks (EagerAttention, a GELU feed-forward), a head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv1d(2, 16, 8, stride=8)
        self.attention = nn.ModuleList(EagerAttention(16, 4) for _ in range(2))
        self.norms = nn.ModuleList(nn.LayerNorm(16) for _ in range(4))
        self.feed_forward = nn.ModuleList(
            nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16)) for _ in range(2)
        )
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x).transpose(1, 2)
        for i in range(2):
            h = self.norms[2 * i](h + self.attention[i](h))
            h = self.norms[2 * i + 1](h + self.feed_forward[i](h))
        return self.head(h.mean(1))


def lxt_gradient_x_input(
    model: nn.Module, x: torch.Tensor, target: list[int], patches: types.ModuleType
) -> np.ndarray:
    """Gradient x Input with LXT's patches on the model's instances (removed after): LayerNorm and
    GELU as both variants patch them, nn.MultiheadAttention by cp_LRP's patch, an
    EagerAttention's function by AttnLRP's wrapper."""
    patched = []
    for module in model.modules():
        if isinstance(module, EagerAttention):
            module.function = patches.wrap_attention_forward(eager_attention_forward)
        elif isinstance(module, nn.LayerNorm):
            module.forward = types.MethodType(patches.layer_norm_forward, module)
        elif isinstance(module, nn.MultiheadAttention):
            module.original_forward = module.forward
            module.forward = types.MethodType(patches.cp_multi_head_attention_forward, module)
        elif isinstance(module, nn.GELU):
            module.original_forward = module.forward
            module.forward = types.MethodType(patches.non_linear_forward, module)
        else:
            continue
        patched.append(module)
    try:
        leaf = x.detach().clone().requires_grad_(True)
        out = model(leaf)
        selected = out[torch.arange(len(x)), torch.tensor(target)].sum()
        (grad,) = torch.autograd.grad(selected, leaf)
        return (leaf * grad).detach().numpy()
    finally:
        for module in patched:
            for name in ("forward", "original_forward"):
                module.__dict__.pop(name, None)
            if isinstance(module, EagerAttention):
                module.function = eager_attention_forward


def main() -> None:
    """Print the relative L2 difference between LXT's CP-LRP / AttnLRP and ours."""
    patches = _load_lxt()
    target = [0, 2, 1]
    cases = (
        ("cp", "TransformerEncoder, post-norm", lambda: ECGTransformer(norm_first=False)),
        ("cp", "TransformerEncoder, pre-norm", lambda: ECGTransformer(norm_first=True)),
        ("attnlrp", "eager attention, post-norm", EagerTransformer),
    )
    for dtype, negligible in ((torch.float32, False), (torch.float64, True)):
        if negligible:
            graph_mode.STABILIZER = 1e-30
            rules.Z_FLOOR = 1e-30
        for mode, name, build in cases:
            torch.manual_seed(0)
            model = build().to(dtype).eval()
            x = torch.randn(3, 2, 64, dtype=dtype)
            reference = lxt_gradient_x_input(model, x, target, patches)
            ours = explain(model, x, "lrp_z", target_class=target, attention=mode)
            error = np.linalg.norm(ours - reference) / np.linalg.norm(reference)
            print(
                f"{mode:8s} {name:30s} {dtype!s:14s} stabilisers "
                f"{'negligible' if negligible else 'default':10s} relative L2 difference {error:.2e}"
            )


if __name__ == "__main__":
    main()
