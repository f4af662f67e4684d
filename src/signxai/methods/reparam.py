"""Reparametrised weights (weight and spectral normalisation) made plain while LRP runs.

A layer wrapped by ``torch.nn.utils.parametrizations.weight_norm`` / ``spectral_norm`` (or the
older ``torch.nn.utils.weight_norm`` / ``spectral_norm``, common in temporal convolutional
networks) computes its ``weight`` from other tensors at every call. LRP rules that change the
weights (alpha-beta, z+, w-square, flat, z-beta) and the BatchNorm merge need a weight they can
change: here each such layer holds its effective weight as a plain parameter for the duration,
and is put back exactly as it was (the same dictionaries, class and hooks) on exit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.spectral_norm import SpectralNorm
from torch.nn.utils.weight_norm import WeightNorm

#: The older forward-pre-hook reparametrisations and the raw parameters each keeps.
_HOOKS: dict[type, tuple[str, ...]] = {WeightNorm: ("_g", "_v"), SpectralNorm: ("_orig",)}


def _plain(module: nn.Module, weights: dict[str, torch.Tensor], hidden: set[str]) -> Callable[[], None]:
    """Give ``module`` the tensors ``weights`` as plain parameters, without the parameters
    ``hidden``; return the undo, which puts back the module's own dictionaries."""
    state: Any = vars(module)
    saved = {key: state[key] for key in ("_parameters", "_modules", "_forward_pre_hooks")}
    attributes = {name: state.pop(name) for name in weights if name in state}
    cls = type(module)
    parameters = {k: v for k, v in saved["_parameters"].items() if k not in hidden}
    for name, tensor in weights.items():
        parameters[name] = nn.Parameter(tensor.detach().clone(), requires_grad=False)
    state["_parameters"] = parameters
    if parametrize.is_parametrized(module):
        state["_modules"] = {k: v for k, v in saved["_modules"].items() if k != "parametrizations"}
        module.__class__ = cls.__bases__[0]  # the class torch.nn.utils.parametrize derived it from
    hooks = saved["_forward_pre_hooks"]
    state["_forward_pre_hooks"] = type(hooks)((k, h) for k, h in hooks.items() if type(h) not in _HOOKS)

    def undo() -> None:
        module.__class__ = cls
        state.update(saved)
        state.update(attributes)

    return undo


def _effective(module: nn.Module) -> tuple[dict[str, torch.Tensor], set[str]]:
    """The reparametrised tensors' current values by name, and the raw parameters behind them."""
    weights: dict[str, torch.Tensor] = {}
    hidden: set[str] = set()
    with torch.no_grad():
        if parametrize.is_parametrized(module):
            for name in module.parametrizations:  # type: ignore[union-attr]
                weights[name] = getattr(module, name)
        hook: Any
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm):
                weights[hook.name] = hook.compute_weight(module)
            elif isinstance(hook, SpectralNorm):  # as an eval-mode forward: no power iteration
                weights[hook.name] = hook.compute_weight(module, do_power_iteration=False)
            if type(hook) in _HOOKS:
                hidden.update(hook.name + suffix for suffix in _HOOKS[type(hook)])
    return weights, hidden


def reparametrized(model: nn.Module) -> list[nn.Module]:
    """The modules of ``model`` whose tensors are computed by a parametrisation or a norm hook."""
    return [
        module
        for module in model.modules()
        if parametrize.is_parametrized(module)
        or any(type(hook) in _HOOKS for hook in module._forward_pre_hooks.values())
    ]


@contextmanager
def plain_weights(model: nn.Module) -> Iterator[nn.Module]:
    """Every reparametrised tensor of ``model`` a plain parameter with its current value, inside.

    The values are those of the model's mode on entry (eval mode for explanations: spectral
    normalisation does no power iteration). On exit, also after an error, every module is as it
    was: its parameter, submodule and pre-hook dictionaries (the same objects), its class and its
    cached weight attribute.
    """
    undo: list[Callable[[], None]] = []
    try:
        for module in reparametrized(model):
            weights, hidden = _effective(module)
            undo.append(_plain(module, weights, hidden))
        yield model
    finally:
        for step in reversed(undo):
            step()
