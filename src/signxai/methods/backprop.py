"""Modified ReLU backward passes: guided backprop and deconvnet.

For the duration of the call every ``nn.ReLU`` module of the model gets hooks:

- guided backprop: a hook on the ReLU's output tensor clamps the arriving gradient at 0; the
  ReLU's own backward then applies its forward mask (gradient only where input and gradient
  are positive);
- deconvnet: a forward pre-hook keeps the ReLU's input and a forward hook replaces its output
  by the same values computed through an autograd function whose backward ignores the mask.
  In-place ReLUs get a copy of their input so the kept input stays intact.

Functional ``F.relu`` calls cannot be reached by hooks and keep their plain gradient; a model
without any ``nn.ReLU`` module is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from signxai.errors import UnsupportedModelError
from signxai.methods.gradient import gradient
from signxai.methods.registry import register_fixed
from signxai.model import ModelView


class _DeconvReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.clamp(min=0)


def guided_hooks(relu: nn.Module) -> list[Any]:
    """Hooks that clamp the gradient arriving at ``relu``'s output at 0 (guided backprop)."""

    def clamp_gradient(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        if output.requires_grad:
            output.register_hook(lambda grad: grad.clamp(min=0))

    return [relu.register_forward_hook(clamp_gradient)]


def _deconvnet_hooks(relu: nn.Module) -> list[Any]:
    kept: list[torch.Tensor] = []

    def keep_input(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> Any:
        kept.append(inputs[0])
        return (inputs[0].clone(),) if getattr(module, "inplace", False) else None

    def replace_output(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        return _DeconvReLU.apply(kept.pop())

    return [relu.register_forward_pre_hook(keep_input), relu.register_forward_hook(replace_output)]


def modified_relu_gradient(install: Callable[[nn.Module], list[Any]], method: str) -> Any:
    """The gradient with ``install``'s hooks on every ``nn.ReLU`` module (errors name ``method``)."""

    def compute(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
        view.require_hooks(method)
        relus = [m for m in view.model.modules() if isinstance(m, nn.ReLU)]
        if not relus:
            raise UnsupportedModelError(
                f"{method} modifies the backward pass of nn.ReLU modules, and the model has none "
                "(functional F.relu cannot be hooked); use 'gradient' or make the ReLUs modules"
            )
        handles: list[Any] = []
        try:
            for relu in relus:
                handles += install(relu)
            return gradient(view, x, target, params)
        finally:
            for handle in handles:
                handle.remove()

    return compute


for _name, _install, _summary in (
    (
        "guided_backprop",
        guided_hooks,
        "gradient where every ReLU passes back only positive gradient at positive inputs",
    ),
    (
        "deconvnet",
        _deconvnet_hooks,
        "gradient where every ReLU applies ReLU to the gradient, ignoring the forward mask",
    ),
):
    register_fixed(_name, modified_relu_gradient(_install, _name), (), "gradient", _summary)
