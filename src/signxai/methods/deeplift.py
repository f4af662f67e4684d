"""DeepLIFT with the Rescale rule (Shrikumar et al. 2017), as captum's ``DeepLift``.

The model runs once on the input and its reference stacked into one batch (``[x; x0]``), so
every operation sees each sample next to its reference. ``DeepLiftMode``, a
``TorchFunctionMode`` active during that pass, gives the nonlinear operations DeepLIFT's
multipliers in place of their derivative:

- elementwise activations (modules or functions: ReLU, sigmoid, tanh, ELU, GELU, softplus,
  ``clamp``, ``exp``, ``c / h``, ...): the Rescale rule, m = (f(x) - f(x0)) / (x - x0), or the
  derivative where ``|x - x0| < eps`` (captum's choice);
- max pooling (``nn.MaxPool*d``, adaptive, functional) and ``max``/``amax``/``min``/``amin`` over
  one axis: captum's rule: per window, ``max(y, y0) - y0`` goes to the input's maximum and
  ``y - max(y, y0)`` to the reference's, divided by the input's difference there. Overlapping
  windows add their shares (captum's ``max_unpool`` keeps one of them, which breaks
  summation-to-delta there);
- linear and structural operations (convolutions, linear layers, BatchNorm in eval mode,
  additions, means, average pooling, reshapes, ...) keep their gradient: DeepLIFT's linear rule.

Everything else that a value reaching the output passes through has no DeepLIFT rule here and
raises an error naming it (recurrent layers, attention, layer normalisation, a softmax before the
output, products and quotients of two input-dependent tensors), where captum would silently
use the plain gradient. The attribution ``(x - x0) * m`` sums to ``z(x) - z(x0)`` of the
explained logit (summation-to-delta).

Masks and indices computed from the input itself (``h > 0``, ``argmax``, pooling indices) are
followed; a selection by them (``torch.where(h > 0, h, 0.1 * h)``, ``h[..., idx]``, unpooling)
would be made elsewhere for the reference, so it is an error too (captum passes its gradient).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from signxai.errors import UnsupportedModelError
from signxai.methods.gradient import (
    BASELINE,
    BASELINES,
    BATCH_SIZE,
    CONVERGENCE_DELTA,
    baseline_like,
    chunks,
    references_like,
)
from signxai.methods.operations import (
    ADDITIONS,
    DIVISIONS,
    ELEMENTWISE,
    ELEMENTWISE_IN_PLACE,
    FUNCTIONAL_LAYERS,
    IN_PLACE,
    MOVES,
    MULTIPLICATIONS,
    NORMALISATIONS,
    PAIRWISE_EXTREMES,
    POOLINGS,
    PRODUCTS,
    RECIPROCALS,
    REDUCTIONS,
    REVERSED_SUBTRACTIONS,
    SOFTMAX,
    STATISTICS,
    STATISTICS_SWITCH,
    SUBTRACTIONS,
    flat,
    input_dependent,
    out_of_place,
    outputs,
    raise_refused,
    refuse_custom_functions,
    refused,
    substituted,
    uses_own_statistics,
    written_into,
)
from signxai.methods.pointwise import PointwiseSources
from signxai.methods.registry import Param, above, register_fixed
from signxai.model import ModelView

T = torch.Tensor

#: Elementwise functions under the Rescale rule (those LRP passes relevance through, ReLUs and
#: reciprocals).
RESCALED = (
    ELEMENTWISE
    | RECIPROCALS
    | {
        F.relu,
        torch.relu,
        T.relu,
        F.threshold,
        F.prelu,
        F.rrelu,
        F.hardshrink,
        F.softshrink,
        F.tanhshrink,
    }
)
#: In-place forms, and the out-of-place function each one computes.
RESCALED_IN_PLACE: dict[Any, Any] = {
    **ELEMENTWISE_IN_PLACE,
    T.relu_: torch.relu,
    torch.relu_: torch.relu,
    F.relu_: torch.relu,
    F.elu_: F.elu,
    F.leaky_relu_: F.leaky_relu,
    F.hardtanh_: F.hardtanh,
    torch.threshold_: F.threshold,
    F.rrelu_: F.rrelu,
    F.celu_: F.celu,
    F.selu_: F.selu,
}
#: Max pooling functions: the variant that also returns indices, and the position of the
#: ``return_indices`` argument.
MAX_POOLS: dict[Any, tuple[Any, int]] = {}
for _plain, _indexed, _position in (
    (F.max_pool1d, F.max_pool1d_with_indices, 6),
    (F.max_pool2d, F.max_pool2d_with_indices, 6),
    (F.max_pool3d, F.max_pool3d_with_indices, 6),
    (F.adaptive_max_pool1d, F.adaptive_max_pool1d_with_indices, 2),
    (F.adaptive_max_pool2d, F.adaptive_max_pool2d_with_indices, 2),
    (F.adaptive_max_pool3d, F.adaptive_max_pool3d_with_indices, 2),
):
    MAX_POOLS[_plain] = MAX_POOLS[_indexed] = (_indexed, _position)
#: Maxima and minima over one axis: (returns indices too, is a minimum).
EXTREMES: dict[Any, tuple[bool, bool]] = {
    torch.max: (True, False),
    T.max: (True, False),
    torch.min: (True, True),
    T.min: (True, True),
    torch.amax: (False, False),
    T.amax: (False, False),
    torch.amin: (False, True),
    T.amin: (False, True),
}
#: Elementwise maxima and minima of two tensors (torch.max/min called with two tensors too): with
#: one of them constant, a function of the other.
BINARY_EXTREMES = PAIRWISE_EXTREMES | {torch.max, T.max, torch.min, T.min}
#: A constant added or subtracted (``h + 3``): with one input-dependent operand, elementwise in it.
OFFSETS = ADDITIONS | SUBTRACTIONS | REVERSED_SUBTRACTIONS
#: Operations linear in the input-dependent values (or only moving them): their gradient is
#: DeepLIFT's multiplier.
LINEAR = ADDITIONS | SUBTRACTIONS | REVERSED_SUBTRACTIONS | REDUCTIONS | POOLINGS | FUNCTIONAL_LAYERS | MOVES
#: Operations that read only the shape, dtype or device of their input-dependent argument.
SHAPE_ONLY = {
    torch.zeros_like,
    torch.ones_like,
    torch.empty_like,
    torch.full_like,
    torch.rand_like,
    torch.randn_like,
    torch.randint_like,
    T.new_zeros,
    T.new_ones,
    T.new_empty,
    T.new_full,
    T.new_tensor,
    T.size,
    T.dim,
    T.numel,
}


def _name(func: Any) -> str:
    return str(getattr(func, "__name__", func))


def _rescaled(
    grad: torch.Tensor,
    h: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    derivative: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """The Rescale rule's gradient at ``h`` for ``y``, an elementwise function of ``h`` on
    ``[x; x0]`` rows: (y(x) - y(x0)) / (x - x0) times ``grad``, and ``derivative(grad)`` (the
    gradient through the function) where ``|x - x0| < eps``."""
    half = h.shape[0] // 2
    dx = h[:half] - h[half:]
    small = dx.abs() < eps
    ratio = (y[:half] - y[half:]).div_(dx.masked_fill_(small, 1.0))
    out = grad * torch.cat([ratio, ratio])
    if bool(small.any()):
        with torch.enable_grad():
            plain = derivative(grad)
        out = torch.where(torch.cat([small, small]), plain, out)
    return out


class _Rescale(torch.autograd.Function):
    """y = f(h) on ``[x; x0]`` rows; backward: m = (f(x) - f(x0)) / (x - x0) times the gradient
    arriving at y, f'(h) where ``|x - x0| < eps``."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor], eps: float) -> Any:
        y = f(h)
        ctx.save_for_backward(h, y)
        ctx.f, ctx.eps = f, eps
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        h, y = ctx.saved_tensors

        def derivative(g: torch.Tensor) -> torch.Tensor:
            leaf = h.detach().requires_grad_(True)
            return torch.autograd.grad(ctx.f(leaf), leaf, g)[0]

        return _rescaled(grad, h, y, ctx.eps, derivative), None, None


class _RescaleOf(torch.autograd.Function):
    """``y``, an elementwise function of ``h`` computed by operations of its own (a swish written
    as ``h * sigmoid(h)``), under the Rescale rule from ``h``; where ``|x - x0| < eps`` the
    gradient through those operations (their own multipliers are derivatives there)."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, y: torch.Tensor, eps: float) -> Any:
        ctx.h, ctx.y, ctx.eps = h, y, eps  # y's own graph, for the derivative
        return y.detach().clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        h, y = ctx.h, ctx.y

        def derivative(g: torch.Tensor) -> torch.Tensor:
            return torch.autograd.grad(y, h, g, retain_graph=True)[0]

        return _rescaled(grad, h.detach(), y.detach(), ctx.eps, derivative), None, None


class _MaxRule(torch.autograd.Function):
    """Maxima of windows, ``h`` as ``(N, M, L)`` and ``values``/``index`` as ``(N, M, K)`` (index
    into L); backward: captum's DeepLIFT rule for max pooling."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, values: torch.Tensor, index: torch.Tensor, eps: float) -> Any:
        ctx.save_for_backward(h, values, index)
        ctx.eps = eps
        return values.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        h, values, index = ctx.saved_tensors
        half = h.shape[0] // 2
        value, reference = values[:half], values[half:]
        top = torch.maximum(value, reference)
        delta_out = torch.cat([top - reference, value - top])
        spread = torch.zeros_like(h).scatter_add_(2, index, grad * delta_out)
        dx = h[:half] - h[half:]
        small = dx.abs() < ctx.eps
        shares = (spread[:half] + spread[half:]).div_(dx.masked_fill_(small, 1.0))
        out = torch.cat([shares, shares])
        if bool(small.any()):  # the gradient there (unchanged inputs, e.g. after a ReLU)
            plain = torch.zeros_like(h).scatter_add_(2, index, grad)
            out = torch.where(torch.cat([small, small]), plain, out)
        return out, None, None, None


class DeepLiftMode(TorchFunctionMode):
    """Give nonlinear operations DeepLIFT's multipliers during a forward pass on ``[x; x0]``.

    Parameters
    ----------
    eps
        Below this ``|x - x0|`` an activation's (or pooling's) derivative is used (captum's 1e-10).
    rows
        The rows of ``[x; x0]``: a rule applied to a tensor whose rows are not a multiple of them
        (a model that runs its layers on parts of its batch) would pair rows with other rows'
        references, and is refused.
    activation
        Whether the explained output is the model's final activation
        (``explain_output='activation'``): what an error about a softmax the output depends on
        says.

    Operations without a rule are computed as usual and raise only where the explained output
    depends on them (:func:`~signxai.methods.operations.refused`): a model may compute what it
    does not return.
    """

    def __init__(self, eps: float = 1e-10, rows: int | None = None, activation: bool = False) -> None:
        super().__init__()
        self.eps = eps
        self.rows = rows
        self._softmax_message = (
            "deeplift: the model applies softmax to input-dependent values (at its output, "
            "explained as it is with explain_output='activation'?); DeepLIFT has no rule for "
            "it here: explain the logits (explain_output='logit', the softmax an nn.Softmax "
            "module at the end)"
            if activation
            else "deeplift: the model applies softmax to input-dependent values before its output "
            "(attention?); DeepLIFT has no rule for it here. A softmax at the very end must be "
            "an nn.Softmax module so that its logits are explained"
        )
        #: Tensors computed from input-dependent values without a gradient (comparisons, argmax,
        #: pooling indices, detached copies), and what is computed from them: masks and indices
        #: that differ between the input and its reference.
        self._derived: dict[int, torch.Tensor] = {}
        #: The tensors computed from one tensor alone by elementwise operations.
        self._pointwise = PointwiseSources()

    def __exit__(self, *exc: Any) -> None:
        try:
            super().__exit__(*exc)
        finally:
            self._pointwise.clear()

    def _paired(self, h: Any) -> None:
        """Raise unless ``h``'s rows hold each input row and its reference row in the two halves
        (the stacked rows, or a multiple of them where the model folds an axis into the batch)."""
        if self.rows and isinstance(h, torch.Tensor) and h.ndim and h.shape[0] % self.rows:
            raise UnsupportedModelError(
                f"deeplift: the model applies a nonlinearity to {h.shape[0]} rows, not a multiple of "
                f"the {self.rows} rows it was given: it runs its layers on parts of its batch (as an "
                "ONNX graph with a fixed batch size does, run in chunks). DeepLIFT pairs each row "
                "with its reference row inside every layer, so it cannot explain this model; use "
                "integrated_gradients or gradient_shap (or export the ONNX graph with a dynamic "
                "batch axis)"
            )

    def _is_derived(self, value: Any) -> bool:
        return isinstance(value, torch.Tensor) and self._derived.get(id(value)) is value

    def _mark(self, out: Any) -> Any:
        """Remember the tensors of ``out`` that carry no gradient as derived from the input."""
        for value in outputs(out):
            if isinstance(value, torch.Tensor) and not value.requires_grad:
                self._derived[id(value)] = value
        return out

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        given = flat((*args, *kwargs.values()))
        tracked = [a for a in given if input_dependent(a)]
        derived = any(self._is_derived(a) for a in given)
        if not tracked:
            out = func(*args, **kwargs)
            return self._mark(out) if derived else out
        if _name(func) == "__get__":
            return func(*args, **kwargs)
        if derived:
            return refused(
                f"deeplift: the model applies {_name(func)} to input-dependent values with a mask or "
                "indices computed from the input itself (a comparison, argmax, pooling indices, "
                "torch.where(h > 0, ...)): a selection that the reference would make elsewhere, "
                "for which DeepLIFT has no rule here (activations, max pooling and max/min over "
                "an axis have one)",
                func,
                args,
                kwargs,
            )
        if func in LINEAR:  # an untracked result of a tracked first argument: a detached copy
            out = func(*args, **kwargs)
            if func in OFFSETS and len(tracked) == 1 and func not in IN_PLACE:  # h + c: elementwise
                return self._pointwise.record(out, tracked[0])
            return self._mark(out) if input_dependent(given[0]) else out
        first = input_dependent(args[0]) if args else False
        if func in RESCALED or func in RESCALED_IN_PLACE:
            if len(tracked) > 1 or not first:
                return refused(
                    f"deeplift: {_name(func)} of input-dependent values other than its input has no "
                    "rule (the Rescale rule takes functions of one tensor)",
                    func,
                    args,
                    kwargs,
                )
            self._paired(args[0])
            in_place, f = out_of_place(func, args, kwargs, RESCALED_IN_PLACE)
            if in_place:
                return written_into(args[0], lambda a: _Rescale.apply(a, f, self.eps))
            return self._pointwise.record(_Rescale.apply(args[0], f, self.eps), args[0])
        binary = len(args) == 2 and all(isinstance(a, torch.Tensor) for a in args) and not kwargs
        if func in BINARY_EXTREMES and binary and len(tracked) == 1:
            position = 0 if first else 1  # max(h, c): elementwise in h, the Rescale rule
            self._paired(args[position])
            f = substituted(func, args, position, kwargs)
            return self._pointwise.record(_Rescale.apply(args[position], f, self.eps), args[position])
        if func in MAX_POOLS and first and len(tracked) == 1:
            self._paired(args[0])
            return self._max_pool(func, args, kwargs)
        if func in EXTREMES and first and len(tracked) == 1:
            self._paired(args[0])
            return self._extreme(func, args, kwargs)
        if func in PRODUCTS and len(tracked) == 1:
            position = next((i for i, a in enumerate(flat(args)) if input_dependent(a)), 0)
            if func in DIVISIONS and (position != 0 or func is T.__rtruediv__) and not kwargs:
                # c / h: an elementwise function of h, under the Rescale rule
                f = substituted(func, args, position, {})
                self._paired(args[position])
                return self._pointwise.record(_Rescale.apply(args[position], f, self.eps), args[position])
            out = func(*args, **kwargs)
            if (func in MULTIPLICATIONS or func in DIVISIONS) and func not in IN_PLACE:  # a scale
                return self._pointwise.record(out, tracked[0])
            return out
        if func in MULTIPLICATIONS and binary and len(tracked) == 2 and func not in IN_PLACE:
            source = self._pointwise.common(*args)
            if source is not None:  # h * sigmoid(h): an activation of h, the Rescale rule from h
                self._paired(source)
                out = func(*args)
                return self._pointwise.record(_RescaleOf.apply(source, out, self.eps), source)
        if func in STATISTICS_SWITCH and len(tracked) == 1 and first:
            if not uses_own_statistics(func, args, kwargs):  # fixed statistics: an affine map
                return func(*args, **kwargs)
        if func in SOFTMAX:  # an error if the output depends on it (a final nn.Softmax is bypassed)
            return refused(self._softmax_message, func, args, kwargs)
        out = func(*args, **kwargs)
        if not any(input_dependent(v) for v in outputs(out)):
            # comparisons, indices: nothing the gradient passes through, but derived from the input
            return out if func in SHAPE_ONLY else self._mark(out)
        return refused(self._unsupported(func, len(tracked)), func, args, kwargs)

    @staticmethod
    def _unsupported(func: Any, count: int) -> str:
        name = _name(func)
        if func in PRODUCTS or count > 1:
            what = f"{name} of {count} input-dependent tensors (as attention or gating do)"
        elif func in NORMALISATIONS or func in STATISTICS:
            what = f"{name}, a normalisation or statistic of the input-dependent values themselves"
        elif func in STATISTICS_SWITCH:
            what = f"{name} in training mode (batch statistics mix the input with its reference)"
        else:
            what = name
        return (
            f"deeplift: the model applies {what}; DeepLIFT's rules cover elementwise activations, "
            "max pooling and linear operations (convolutions, linear layers, BatchNorm in eval "
            "mode, sums, average pooling). Recurrent layers, attention and layer normalisation "
            "have none here; use integrated_gradients or gradient_shap, or LRP"
        )

    def _max_pool(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        pool, position = MAX_POOLS[func]
        returns = func is pool or bool(
            kwargs.pop("return_indices", args[position] if len(args) > position else False)
        )
        h = args[0]
        if h.ndim < 3:
            raise UnsupportedModelError("deeplift: max pooling of an unbatched tensor has no rule here")
        with torch.no_grad():
            values, index = pool(*args[:position], **kwargs)
        rows, channels = h.shape[:2]
        out = _MaxRule.apply(
            h.reshape(rows, channels, -1),
            values.reshape(rows, channels, -1),
            index.reshape(rows, channels, -1),
            self.eps,
        ).reshape(values.shape)
        return (out, self._mark(index)) if returns else out

    def _extreme(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with_indices, minimum = EXTREMES[func]
        h = args[0]
        dim = args[1] if len(args) > 1 else kwargs.get("dim")
        keepdim = bool(args[2] if len(args) > 2 else kwargs.get("keepdim", False))
        if isinstance(dim, (list, tuple)) and len(dim) == 1:
            dim = dim[0]
        if not isinstance(dim, int) or dim % h.ndim == 0 or set(kwargs) - {"dim", "keepdim"}:
            raise UnsupportedModelError(
                f"deeplift: {_name(func)} needs one axis other than the batch axis (e.g. "
                f"x.amax(dim=-1)), got dim={dim!r}; its DeepLIFT rule compares each sample's maxima "
                "with its reference's"
            )
        sign = -1.0 if minimum else 1.0
        moved = (sign * h).movedim(dim, -1)
        rest = moved.shape[:-1]
        flat = moved.reshape(h.shape[0], -1, moved.shape[-1])
        with torch.no_grad():
            index = flat.argmax(-1, keepdim=True)
            values = flat.gather(-1, index)
        out = sign * _MaxRule.apply(flat, values, index, self.eps).reshape(rest)
        indices = index.reshape(rest)
        if keepdim:
            out, indices = out.unsqueeze(dim), indices.unsqueeze(dim)
        if not with_indices:
            return out
        kind = torch.return_types.min if minimum else torch.return_types.max
        return kind((out, self._mark(indices)))


def _deeplift_pass(
    view: ModelView, x: torch.Tensor, references: torch.Tensor, target: Any, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass on ``[x; x; ...; references]`` (``x`` once per reference row block): the
    multipliers of the x rows and ``z(x) - z(x0)`` of the explained output per row."""
    copies = references.shape[0] // x.shape[0]
    stacked = torch.cat([x.repeat(copies, *(1,) * (x.ndim - 1)), references]).detach()
    stacked.requires_grad_(True)
    with DeepLiftMode(eps, rows=stacked.shape[0], activation=view.explain_output == "activation"):
        logits = view.forward(stacked)
    raise_refused(logits.grad_fn)
    refuse_custom_functions(logits.grad_fn, "deeplift")
    half = references.shape[0]
    weights = view.target_weights(target, logits[: x.shape[0]].detach())
    repeated = weights.repeat(2 * copies, 1)
    (grad,) = torch.autograd.grad(logits, stacked, repeated)
    rise = ((logits[:half] - logits[half:]).detach() * repeated[:half]).sum(dim=1)
    return grad[:half], rise


def deeplift(
    view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """(x - x0) * m, m DeepLIFT's multipliers under the Rescale rule (captum's DeepLift)."""
    view.require_hooks("deeplift")
    baseline = baseline_like(params["baseline"], x)
    multipliers, rise = _deeplift_pass(view, x, baseline, target, params["eps"])
    attribution = (x - baseline) * multipliers
    if not params["return_convergence_delta"]:
        return attribution
    return attribution, attribution.flatten(1).sum(dim=1) - rise


def deeplift_shap(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
    """Mean over the K baselines b of DeepLIFT's (x - b) * m(x, b) (captum's DeepLiftShap)."""
    view.require_hooks("deeplift_shap")
    references = references_like(params["baselines"], x)
    rows = x.shape[0]
    total = torch.zeros_like(x)
    for chunk in chunks(len(references), 2 * rows, params["batch_size"]):
        bases = torch.cat([references[k : k + 1].expand_as(x) for k in chunk])
        multipliers, _ = _deeplift_pass(view, x, bases, target, params["eps"])
        differences = x.repeat(len(chunk), *(1,) * (x.ndim - 1)) - bases
        total += (differences * multipliers).reshape(len(chunk), *x.shape).sum(dim=0)
    return total / len(references)


EPS = Param(
    "eps",
    float,
    1e-10,
    "below this |x - x0| an activation's derivative is used (captum's eps)",
    check=above(0.0),
)
DEFINITION = (
    "m the chain of DeepLIFT multipliers: Rescale (f(x) - f(x0)) / (x - x0) at activations, "
    "captum's rule at max pooling"
)


for _family, _compute, _params, _summary in (
    (
        "deeplift",
        deeplift,
        (BASELINE, CONVERGENCE_DELTA, EPS),
        f"(x - x0) * m, {DEFINITION} (captum's DeepLift)",
    ),
    (
        "deeplift_shap",
        deeplift_shap,
        (BASELINES, EPS, BATCH_SIZE),
        f"mean over the K baselines b of (x - b) * m(x, b), {DEFINITION} (captum's DeepLiftShap)",
    ),
):
    register_fixed(_family, _compute, _params, "reference", _summary)
