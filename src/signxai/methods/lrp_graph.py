"""LRP for the operations that module hooks cannot reach, handled while the forward pass runs.

``LRPGraphMode`` is a ``TorchFunctionMode`` active during the LRP forward pass. It sees every
torch operation, including those written as Python operators inside ``forward``:

- ``a + b`` / ``a - b`` of two input-dependent tensors (residual connections): relevance is split
  in proportion to the summands, R_a = a / (a + b) * R (zennit's ``Norm`` rule on ``Sum``);
- ``mean`` / ``sum`` over axes of an input-dependent tensor (global average pooling written
  functionally): relevance is redistributed in proportion to the inputs, like ``AvgPool``;
- element-wise activations called as functions (``torch.sigmoid``, ``F.gelu``, ...): relevance
  passes through, like zennit's ``Pass`` rule on activation modules;
- products of two input-dependent tensors (attention, gating), and softmax other than the
  bypassed output activation: no LRP rule exists, so an error names them.

"Input-dependent" means ``requires_grad``: during an explanation the model's parameters do not
require gradients, so only tensors computed from the explained input do.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from signxai.errors import UnsupportedModelError

STABILIZER = 1e-6
T = torch.Tensor

ADDITIONS = {torch.add, T.add, T.__add__, T.__radd__, T.__iadd__, T.add_}
SUBTRACTIONS = {torch.sub, torch.subtract, T.sub, T.__sub__, T.__isub__, T.sub_}
REDUCTIONS = {torch.mean, T.mean, torch.sum, T.sum}
POOLINGS = {
    F.avg_pool1d,
    F.avg_pool2d,
    F.avg_pool3d,
    F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d,
    F.adaptive_avg_pool3d,
}
PRODUCTS = {
    torch.mul,
    T.mul,
    T.__mul__,
    T.__rmul__,
    T.__imul__,
    T.mul_,
    torch.div,
    T.div,
    T.__truediv__,
    T.__rtruediv__,
    torch.matmul,
    T.matmul,
    T.__matmul__,
    torch.bmm,
    T.bmm,
    torch.einsum,
    torch.baddbmm,
    F.scaled_dot_product_attention,
    F.bilinear,
}
ELEMENTWISE = {
    torch.sigmoid,
    T.sigmoid,
    F.sigmoid,
    torch.tanh,
    T.tanh,
    F.tanh,
    F.gelu,
    F.silu,
    F.elu,
    F.leaky_relu,
    F.softplus,
    F.relu6,
    F.hardtanh,
    F.selu,
    F.celu,
    F.mish,
    F.hardswish,
    F.hardsigmoid,
    F.logsigmoid,
    F.softsign,
}
SOFTMAX = {torch.softmax, T.softmax, F.softmax, torch.log_softmax, T.log_softmax, F.log_softmax}
WATCHED = ADDITIONS | SUBTRACTIONS | REDUCTIONS | POOLINGS | PRODUCTS | ELEMENTWISE | SOFTMAX


def _stabilize(z: torch.Tensor) -> torch.Tensor:
    return z + torch.where(z >= 0, 1.0, -1.0).to(z.dtype) * STABILIZER


class _ProportionalSum(torch.autograd.Function):
    """z = a + b forward; backward splits relevance R into a R / z and b R / z."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        return a + b

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = ctx.saved_tensors
        share = relevance / _stabilize(a + b)
        return (a * share).sum_to_size(a.shape), (b * share).sum_to_size(b.shape)


class _ProportionalReduce(torch.autograd.Function):
    """y = mean/sum of x over axes; backward gives each input x_i R / sum_j x_j (as avg pooling)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, reduce: Any, args: tuple[Any, ...], kwargs: Any) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.reduce, ctx.args, ctx.kwargs = reduce, args, kwargs
        return reduce(x, *args, **kwargs)

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[Any, ...]:
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            output = ctx.reduce(leaf, *ctx.args, **ctx.kwargs)
            (grad,) = torch.autograd.grad(output, leaf, relevance / _stabilize(output.detach()))
        return x * grad, None, None, None


class _PassThrough(torch.autograd.Function):
    """y = f(x) forward (computed outside); backward passes relevance unchanged."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y.clone()

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[torch.Tensor, None]:
        return relevance, None


def _tracked(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.requires_grad


class LRPGraphMode(TorchFunctionMode):
    """Handle residual additions, functional pooling and activations during an LRP forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.softmax_calls = 0
        #: How many operations were handled (or checked) here; 0 means the mode was not needed.
        self.handled = 0

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        tracked = [a for a in args if _tracked(a)]
        if not tracked:
            return func(*args, **kwargs)
        self.handled += func in WATCHED
        if func in ADDITIONS or func in SUBTRACTIONS:
            if len(args) >= 2 and len(tracked) == 2 and "alpha" not in kwargs and not kwargs.get("out"):
                a, b = args[0], args[1]
                return _ProportionalSum.apply(a, -b if func in SUBTRACTIONS else b)
        elif func in REDUCTIONS and _tracked(args[0]):
            if (len(args) > 1 or "dim" in kwargs) and "out" not in kwargs:
                return _ProportionalReduce.apply(args[0], func, tuple(args[1:]), kwargs)
            raise UnsupportedModelError(
                f"LRP: {getattr(func, '__name__', func)} over all axes of an input-dependent "
                "tensor has no rule; reduce over named axes (e.g. x.mean(dim=-1))"
            )
        elif func in POOLINGS and _tracked(args[0]):
            return _ProportionalReduce.apply(args[0], func, tuple(args[1:]), kwargs)
        elif func in PRODUCTS and len(tracked) >= 2:
            raise UnsupportedModelError(
                f"LRP: the model multiplies two input-dependent tensors "
                f"({getattr(func, '__name__', func)}, as attention or gating do); LRP has no rule "
                "for that product"
            )
        elif func in ELEMENTWISE and _tracked(args[0]):
            with torch.no_grad():
                output = func(*args, **kwargs)
            return _PassThrough.apply(args[0], output)
        elif func in SOFTMAX:
            self.softmax_calls += 1
        return func(*args, **kwargs)

    def check(self, bypassed: nn.Module | None) -> None:
        """Raise if a softmax other than the bypassed output activation was on the path."""
        allowed = 1 if isinstance(bypassed, (nn.Softmax, nn.LogSoftmax)) else 0
        if self.softmax_calls > allowed:
            raise UnsupportedModelError(
                "LRP: the model applies softmax to input-dependent values before its output "
                "(attention?); LRP has no rule for it. A softmax at the very end must be an "
                "nn.Softmax module so that its logits are explained"
            )
