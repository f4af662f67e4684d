"""Modified ReLU backward passes: guided backprop and deconvnet.

For the duration of the forward pass a ``TorchFunctionMode`` replaces every ReLU the model
applies, in any spelling (``nn.ReLU``, ``F.relu``, ``torch.relu``, ``x.relu()`` and their
in-place forms, ``inplace=True`` included), by the same values computed through an autograd
function with the method's backward:

- guided backprop: the gradient passes only where the ReLU's input and the arriving gradient
  are positive (Springenberg et al. 2015);
- deconvnet: the ReLU is applied to the arriving gradient, ignoring the forward mask
  (Zeiler and Fergus 2014).

captum's ``GuidedBackprop`` and ``Deconvolution`` hook ``nn.ReLU`` modules only and keep the
plain gradient at functional ReLUs; here both spellings get the rule. Other activations (tanh,
ELU, GELU, ReLU6, ...) keep their gradient, as in captum and zennit; a model whose forward pass
applies no ReLU at all is an error (the map would be the plain gradient).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from signxai.errors import UnsupportedModelError
from signxai.methods.gradient import gradient
from signxai.methods.operations import out_of_place, written_into
from signxai.methods.registry import register_fixed
from signxai.model import ModelView

T = torch.Tensor

#: The ReLU in every spelling: out of place, and in place mapped to the out-of-place function.
RELUS = {F.relu, torch.relu, T.relu}
RELUS_IN_PLACE: dict[Any, Any] = {F.relu_: torch.relu, torch.relu_: torch.relu, T.relu_: torch.relu}


class GuidedReLU(torch.autograd.Function):
    """relu(x); backward: the gradient where it and x are positive, else 0."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad.clamp(min=0), x, 0)  # ReLU's own mask


class DeconvReLU(torch.autograd.Function):
    """relu(x); backward: relu of the gradient, whatever x."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.clamp(min=0)


class ReLUBackwardMode(TorchFunctionMode):
    """Give every ReLU applied to a tensor that needs a gradient the backward pass of ``rule``.

    Parameters
    ----------
    rule
        An autograd function of one tensor computing ``relu(x)`` with a modified backward.
    """

    def __init__(self, rule: type[torch.autograd.Function]) -> None:
        super().__init__()
        self.rule = rule
        #: How many ReLUs on input-dependent values the forward pass applied.
        self.count = 0

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if (func in RELUS or func in RELUS_IN_PLACE) and args and isinstance(args[0], torch.Tensor):
            if args[0].requires_grad:
                self.count += 1
                in_place, _ = out_of_place(func, args, kwargs, RELUS_IN_PLACE)
                if in_place:
                    return written_into(args[0], self.rule.apply)
                return self.rule.apply(args[0])
        return func(*args, **kwargs)


def modified_relu_gradient(rule: type[torch.autograd.Function], method: str) -> Any:
    """The gradient with ``rule``'s backward at every ReLU (errors name ``method``)."""

    def compute(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
        view.require_hooks(method)
        with ReLUBackwardMode(rule) as mode:
            relevance = gradient(view, x, target, params)
        if not mode.count:
            raise UnsupportedModelError(
                f"{method} modifies the backward pass of ReLUs, and the model's forward pass applied "
                "none (nn.ReLU, F.relu, torch.relu or Tensor.relu, in place or not; other "
                "activations keep their gradient), so its map would be the plain gradient: use "
                "'gradient'"
            )
        return relevance

    return compute


for _name, _rule, _summary in (
    (
        "guided_backprop",
        GuidedReLU,
        "gradient where every ReLU passes back only positive gradient at positive inputs",
    ),
    (
        "deconvnet",
        DeconvReLU,
        "gradient where every ReLU applies ReLU to the gradient, ignoring the forward mask",
    ),
):
    register_fixed(_name, modified_relu_gradient(_rule, _name), (), "gradient", _summary)
