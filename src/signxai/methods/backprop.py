"""Modified ReLU backward passes: guided backprop and deconvnet.

Every ``nn.ReLU`` module of the model gets, for the duration of the call, a forward pre-hook that
keeps its input and a forward hook that replaces its output by the same values computed through
an autograd function with the modified backward rule. This works for in-place ReLUs as well
(the pre-hook hands the ReLU a copy). Functional ``F.relu`` calls cannot be reached by hooks and
keep their plain gradient; a model without any ``nn.ReLU`` module is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from signxai.errors import UnsupportedModelError
from signxai.methods.gradient import gradient
from signxai.methods.registry import Family, register
from signxai.model import ModelView


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0).to(grad.dtype)


class _DeconvReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.clamp(min=0)


def _modified_relu_gradient(function: type[torch.autograd.Function], method: str) -> Any:
    def compute(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
        relus = [m for m in view.model.modules() if isinstance(m, nn.ReLU)]
        if not relus:
            raise UnsupportedModelError(
                f"{method} modifies the backward pass of nn.ReLU modules, and the model has none "
                "(functional F.relu cannot be hooked); use 'gradient' or make the ReLUs modules"
            )
        kept: dict[int, torch.Tensor] = {}

        def keep_input(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> Any:
            kept[id(module)] = inputs[0]
            if getattr(module, "inplace", False):
                return (inputs[0].clone(),)
            return None

        def replace_output(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
            return function.apply(kept.pop(id(module)))

        handles = []
        try:
            for relu in relus:
                handles.append(relu.register_forward_pre_hook(keep_input))
                handles.append(relu.register_forward_hook(replace_output))
            return gradient(view, x, target, params)
        finally:
            for handle in handles:
                handle.remove()
            kept.clear()

    return compute


for _name, _function, _summary in (
    (
        "guided_backprop",
        _GuidedReLU,
        "gradient where every ReLU passes back only positive gradient at positive inputs",
    ),
    (
        "deconvnet",
        _DeconvReLU,
        "gradient where every ReLU applies ReLU to the gradient, ignoring the forward mask",
    ),
):
    register(
        Family(
            name=_name,
            pattern=_name,
            compute=_modified_relu_gradient(_function, _name),
            params=(),
            kind="gradient",
            form=_name,
            summary=_summary,
            examples=(_name,),
            write=lambda params, _n=_name: _n,
        )
    )
