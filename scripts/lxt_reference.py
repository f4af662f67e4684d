"""Cross-check ``attention='cp'`` against LXT's own CP-LRP (Achtibat et al. 2024, ``lxt==2.1``).

LXT (LRP-eXplains-Transformers) computes CP-LRP for torchvision's vision transformer as Gradient x
Input with its ``cp_LRP`` patches: LayerNorm's standard deviation detached
(``layer_norm_forward``), the queries and keys of ``nn.MultiheadAttention`` detached
(``cp_multi_head_attention_forward``) and activation modules under the identity rule
(``non_linear_forward``). This script applies exactly those functions, from the installed
package, to the instances of an ECG transformer (torch's ``TransformerEncoder`` with GELU
modules, pre- and post-norm) and compares Gradient x Input with ``explain(..., 'lrp_z',
attention='cp')`` (LRP-0 everywhere is what Gradient x Input computes).

LXT is not a dependency (its package pulls in transformers, bitsandbytes and open_clip): install
it next to signxai with ``pip install --no-deps lxt==2.1``; only ``lxt/efficient/patches.py`` and
``rules.py`` are loaded (the package's ``__init__`` imports the language models). Run
``python scripts/lxt_reference.py``; it prints the relative L2 difference per model, in float32
with the library's default stabilisers and in float64 with them made negligible.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import torch
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
    for name in ("lxt", "lxt.efficient"):
        sys.modules.setdefault(name, types.ModuleType(name))
    modules = {}
    for name in ("rules", "patches"):
        module_spec = importlib.util.spec_from_file_location(f"lxt.efficient.{name}", folder / f"{name}.py")
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[f"lxt.efficient.{name}"] = module
        module_spec.loader.exec_module(module)
        modules[name] = module
    return modules["patches"]


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


def lxt_cp_lrp(model: nn.Module, x: torch.Tensor, target: list[int], patches: types.ModuleType) -> np.ndarray:
    """Gradient x Input with LXT's cp_LRP patches on the model's instances (removed after)."""
    patched = []
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
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


def main() -> None:
    """Print the relative L2 difference between LXT's CP-LRP and ours."""
    patches = _load_lxt()
    target = [0, 2, 1]
    for dtype, negligible in ((torch.float32, False), (torch.float64, True)):
        if negligible:
            graph_mode.STABILIZER = 1e-30
            rules.Z_FLOOR = 1e-30
        for norm_first in (False, True):
            torch.manual_seed(0)
            model = ECGTransformer(norm_first).to(dtype).eval()
            x = torch.randn(3, 2, 64, dtype=dtype)
            reference = lxt_cp_lrp(model, x, target, patches)
            ours = explain(model, x, "lrp_z", target_class=target, attention="cp")
            error = np.linalg.norm(ours - reference) / np.linalg.norm(reference)
            print(
                f"{dtype!s:14s} norm_first={norm_first!s:5s} stabilisers "
                f"{'negligible' if negligible else 'default':10s} relative L2 difference {error:.2e}"
            )


if __name__ == "__main__":
    main()
