"""LRP for the operations that module hooks cannot reach, handled while the forward pass runs.

``LRPGraphMode`` is a ``TorchFunctionMode`` active during the LRP forward pass. It sees every
torch operation, including those written as Python operators inside ``forward``:

- ``a + b`` / ``a - b`` of two input-dependent tensors (residual connections), also in place
  (``a += b``, ``a.add_(b)``): relevance is split in proportion to the summands,
  R_a = a / (a + b) * R, R_b = b / (a + b) * R (for ``a - b``: -b / (a - b) * R; zennit's ``Norm``
  rule on ``Sum``);
- ``mean`` / ``sum`` over axes of an input-dependent tensor (global average pooling written
  functionally), functional average pooling, ``F.interpolate`` (also inside ``nn.Upsample``),
  ``cumsum`` and ``diff``: relevance is redistributed in proportion to the inputs, like
  ``AvgPool``;
- products of one input-dependent tensor and constants (``0.5 * x``, ``x / scale``, ``x @ W``,
  also in place): the z-rule of that linear map, R_x = x * J^T (R / y), so a constant scale
  passes relevance unchanged instead of scaling it (dividing *by* an input-dependent tensor is
  not linear and raises an error);
- element-wise activations called as functions (``torch.sigmoid``, ``F.gelu``, ..., also
  ``abs``, ``pow``, ``exp``, ``log``, ``sqrt``, ``clamp``, ``sin``, ``erf``, ... and in-place
  forms): relevance passes through, like zennit's ``Pass`` rule on activation modules;
- a product of two tensors that are elementwise functions of one and the same tensor ``h`` (a
  swish or hard-swish written out, ``h * torch.sigmoid(h)``, ``h * F.relu6(h + 3) / 6``, Keras
  MobileNetV3's ``Multiply()([h, hard_sigmoid(h)])``) is an elementwise activation of ``h``:
  relevance passes through to ``h``, as through ``F.silu`` / ``nn.Hardswish``;
- other products of two input-dependent tensors: with ``gates='signal'``, an elementwise product of a
  signal and a gate broadcast over it (a squeeze-and-excitation block's ``h * sigmoid(fc(pool(h)))``,
  the gate having fewer elements, or of the signal's shape and computed from it) holds the gate
  constant, so all relevance goes to the signal
  (Arras et al. 2017's "signal-take-all" rule for gates), and so does a GLU's ``sigmoid(b)``
  (``F.glu``, ``nn.GLU``); otherwise (attention, equal-shaped gating) an error names them;
- softmax other than the bypassed output activation, functional normalisations
  (``F.layer_norm``, ``F.normalize``, ...) and nonlinear statistics (``std``, ``var``, norms,
  ``prod``, ``logsumexp``): no LRP rule exists, so an error names them;
- with ``attention='cp'`` (conservative propagation, :mod:`signxai.methods.lrp_attention`): the
  attention of ``nn.MultiheadAttention`` and ``F.scaled_dot_product_attention`` and every other
  softmax inside the network are held constant, and layer/group normalisation holds its
  standard deviation constant. Attention written out (``softmax(q @ k^T / s) @ v``, also with
  ``torch.einsum``/``bmm``/``baddbmm``) follows: the scores ``q @ k^T`` may multiply two
  input-dependent tensors because only the held softmax reads them, so no relevance reaches
  them (an error is raised if the explained output does depend on such a product), and
  ``A v`` with ``A`` held is a product with a constant;
- with ``attention='attnlrp'`` (AttnLRP): the same normalisations held, softmax under AttnLRP's
  softmax rule and products of two input-dependent tensors under its uniform rule;
- adding a constant (``h + position``, an attention mask, an input offset) passes the relevance
  to ``h`` unchanged (Gradient x Input would give the constant a share, as a bias takes one).
- ``F.batch_norm`` with running statistics called outside a BatchNorm module, and
  ``F.instance_norm`` with running statistics: an affine map, explained by the z-rule as an
  unmerged BatchNorm is; by the batch's statistics an error;
- operations that only move, copy or select input-dependent values (``MOVES``, ``SELECTIONS``:
  reshapes, indexing, concatenation, padding, casts, max pooling, top-k, sorting) pass the
  gradient, which routes the relevance; any other operation computing input-dependent values is
  an error naming it (a whitelist, as DeepLIFT's: an operation missing from the lists above
  passed the plain gradient before, which is no relevance).

Every such error is raised only where the explained output depends on the operation
(:func:`~signxai.methods.operations.refused`, checked after the forward pass): what a model
computes and does not return (an auxiliary head, the rest of a tuple) is computed as usual.

"Input-dependent" means ``requires_grad``: during an explanation the model's parameters do not
require gradients, so only tensors computed from the explained input do. The operations of each
kind (``ADDITIONS``, ``PRODUCTS``, ``MOVES``, ...) are listed in :mod:`signxai.methods.operations`,
which DeepLIFT's graph mode reads too.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.overrides import TorchFunctionMode

from signxai.errors import UnsupportedModelError
from signxai.methods.lrp_attention import HELD
from signxai.methods.operations import (
    ADDITIONS,
    DIVISIONS,
    ELEMENTWISE,
    ELEMENTWISE_IN_PLACE,
    FUNCTIONAL_LAYERS,
    IN_PLACE,
    LIST_PRODUCTS,
    MOVES,
    MULTIPLICATIONS,
    NONLINEAR,
    NORMALISATIONS,
    PAIRWISE_EXTREMES,
    POOLINGS,
    PRODUCTS,
    RECIPROCALS,
    REDUCTIONS,
    RELUS,
    REVERSED_SUBTRACTIONS,
    SELECTIONS,
    SOFTMAX,
    SPECTRAL,
    STATISTICS,
    STATISTICS_SWITCH,
    STEPS,
    SUBTRACTIONS,
    T,
    input_dependent,
    out_of_place,
    outputs,
    refused,
    substituted,
    uses_own_statistics,
    written_into,
)
from signxai.methods.pointwise import PointwiseSources

STABILIZER = 1e-6
#: What LRP lets through by the gradient (everything else that computes input-dependent values
#: has a rule above or is an error): moves, selections, ReLUs and softmax (the bypassed output
#: activation; any other is an error after the forward pass).
PASSED = MOVES | SELECTIONS | RELUS | SOFTMAX | PAIRWISE_EXTREMES
#: How products of two input-dependent tensors are explained.
GATE_MODES = ("error", "signal")
WATCHED = (
    ADDITIONS
    | SUBTRACTIONS
    | REVERSED_SUBTRACTIONS
    | REDUCTIONS
    | POOLINGS
    | PRODUCTS
    | ELEMENTWISE
    | set(ELEMENTWISE_IN_PLACE)
    | SOFTMAX
    | NORMALISATIONS
    | STATISTICS
    | RECIPROCALS
    | PAIRWISE_EXTREMES
)


def _stabilize(z: torch.Tensor) -> torch.Tensor:
    return z + torch.where(z >= 0, 1.0, -1.0).to(z.dtype) * STABILIZER


class _ProportionalSum(torch.autograd.Function):
    """z = a + s b forward (s = 1, -1 or ``alpha``); backward splits R into a R / z and s b R / z."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        return a + scale * b

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        a, b = ctx.saved_tensors
        scaled = ctx.scale * b
        share = relevance / _stabilize(a + scaled)
        return (a * share).sum_to_size(a.shape), (scaled * share).sum_to_size(b.shape), None


class _LinearZ(torch.autograd.Function):
    """y = f(x), f linear in x without offset; backward: the z-rule R_x = x * J_f^T (R / y).

    For a mean or sum over axes (average pooling) that gives each input x_i R / sum_j x_j; for a
    product with a constant it passes R unchanged (wherever y is not 0).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, f: Any) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.f = f
        return f(x)

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[Any, ...]:
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            output = ctx.f(leaf)
            (grad,) = torch.autograd.grad(output, leaf, relevance / _stabilize(output.detach()))
        return x * grad, None


#: A softmax the explained output depends on, outside attention (attention='error'): the logits
#: bypass a final nn.Softmax module, so this is one inside the model or a functional one at its end.
SOFTMAX_INSIDE = (
    "LRP: the model applies softmax to input-dependent values before its output "
    "(attention?); LRP has no rule for it. Pass attention='cp' to hold its weights "
    "constant (attention or attention pooling: relevance then reaches the input through "
    "what they weight) or attention='attnlrp'. A softmax at the very end must be an "
    "nn.Softmax module so that its logits are explained"
)


class _Uniform(torch.autograd.Function):
    """A product of two input-dependent factors under AttnLRP's uniform rule (Achtibat et al. 2024).

    Each factor receives half of the relevance the z-rule would give it with the other factor held
    constant, ``R_a = a * J_a^T (R / y) / 2``; for a bilinear product (``q @ k^T``, ``A @ v``,
    ``a * b``) the two halves add up to ``R``.
    """

    @staticmethod
    def forward(ctx: Any, func: Any, args: Any, kwargs: Any, *factors: torch.Tensor) -> Any:
        ctx.func, ctx.args, ctx.kwargs = func, args, kwargs
        ctx.positions = [next(i for i, a in enumerate(args) if a is f) for f in factors]
        ctx.save_for_backward(*factors)
        return func(*args, **kwargs)

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[Any, ...]:
        factors = ctx.saved_tensors
        with torch.enable_grad():
            leaves = [f.detach().requires_grad_(True) for f in factors]
            args = list(ctx.args)
            for position, leaf in zip(ctx.positions, leaves, strict=True):
                args[position] = leaf
            output = ctx.func(*args, **ctx.kwargs)
            grads = torch.autograd.grad(output, leaves, relevance / _stabilize(output.detach()))
        return (None, None, None, *(0.5 * f * g for f, g in zip(factors, grads, strict=True)))


class _SoftmaxRule(torch.autograd.Function):
    """Softmax under AttnLRP's rule: ``R_x = x * (R - s * sum(R))`` over the softmax axis.

    What Gradient x Input gives through a softmax (its linearisation at ``x``, the bias term
    dropped); where ``s`` is 0 (masked, ``x = -inf``) the relevance is 0.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, s: torch.Tensor, dim: int) -> torch.Tensor:
        ctx.save_for_backward(x, s)
        ctx.dim = dim
        return s.clone()

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[Any, ...]:
        x, s = ctx.saved_tensors
        spread = x * (relevance - s * relevance.sum(ctx.dim, keepdim=True))
        return torch.where(s > 0, spread, torch.zeros_like(spread)), None, None


class _PassThrough(torch.autograd.Function):
    """y = f(x) forward (computed outside); backward passes relevance unchanged."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y.clone()

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[torch.Tensor, None]:
        return relevance, None


def _computed_from(value: torch.Tensor, source: torch.Tensor) -> bool:
    """Whether ``source`` is among the tensors ``value`` was computed from (autograd history)."""
    if value.grad_fn is None:
        return False
    seen: set[int] = set()
    stack = [value.grad_fn]
    while stack:
        node = stack.pop()
        if node is source.grad_fn or getattr(node, "variable", None) is source:
            return True
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend(previous for previous, _ in node.next_functions if previous is not None)
    return False


class LRPGraphMode(TorchFunctionMode):
    """Handle residual additions, functional pooling and activations during an LRP forward pass.

    Parameters
    ----------
    layers
        The module types whose forward's own ``F.linear`` / ``F.conv*`` call their LRP rule
        explains (Linear, Conv); the same functions called anywhere else get the z-rule here.
    gates
        ``'error'``: a product of two input-dependent tensors raises an error. ``'signal'``: in an
        elementwise product where one factor is broadcast over the other (a gate), the gate is
        held constant and the other factor (the signal) receives all the relevance.
    attention
        ``'error'``: attention and normalisation by the input's own statistics raise an error.
        ``'cp'``: conservative propagation (attention weights and normalisation statistics held
        constant; :mod:`signxai.methods.lrp_attention`). ``'attnlrp'``: AttnLRP (Achtibat et al.
        2024): the normalisation statistics held constant, softmax under its softmax rule and
        products of two input-dependent tensors under the uniform rule.
    """

    def __init__(
        self,
        layers: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d),
        gates: str = "error",
        attention: str = "error",
        watch_parameters: bool = False,
        compiled: bool = False,
    ) -> None:
        super().__init__()
        self._compiled = compiled
        #: Parameters (ids) used as the constant factor of a matrix product or functional layer
        #: outside a Linear/Conv module, directly or through computations: the weights of a layer
        #: written by hand (recorded when ``watch_parameters``, as the structure probe does).
        self.weights_used: set[int] = set()
        self._watch = watch_parameters
        self._derived: dict[int, tuple[torch.Tensor, frozenset[int]]] = {}
        self.gates = gates
        self.attention = attention
        #: The input-dependent tensors that held attention/normalisation operations read.
        self.held_inputs: list[torch.Tensor] = []
        #: How many operations were handled (or checked) here; 0 means the mode was not needed.
        self.handled = 0
        self._layers = layers
        self._inside = 0  # how many ``layers`` calls are running
        #: How many calls of modules with a rule of their own are running (BatchNorms; recurrent
        #: layers, explained step by step by lrp_recurrent): their operations are theirs.
        self._in_ruled = 0
        #: The tensors computed from one tensor alone by elementwise operations.
        self._pointwise = PointwiseSources()
        #: The inputs of the module calls running (per module), as given, before any pre-hook.
        self._entered: dict[int, list[Any]] = {}
        self._handles: list[Any] = []
        self._quiet: warnings.catch_warnings[None] | None = None

    def __enter__(self) -> LRPGraphMode:
        # the module hooks are global (every module of the process runs them) and this mode is
        # this thread's: a forward pass another thread runs meanwhile (a model of its own) must
        # not count as this one's layers (before, one in progress changed this pass's map)
        owner = threading.get_ident()

        def enter(module: nn.Module, inputs: Any) -> None:
            if threading.get_ident() != owner:
                return
            self._inside += isinstance(module, self._layers)
            self._in_ruled += isinstance(module, (_BatchNorm, nn.RNNBase, nn.RNNCellBase))
            self._entered.setdefault(id(module), []).append(inputs)

        def leave(module: nn.Module, inputs: Any, output: Any) -> None:
            if threading.get_ident() != owner:
                return
            self._inside -= isinstance(module, self._layers)
            self._in_ruled -= isinstance(module, (_BatchNorm, nn.RNNBase, nn.RNNCellBase))
            calls = self._entered.get(id(module))
            if calls:
                self._through_module(calls.pop(), inputs, output)

        self._handles = [
            nn.modules.module.register_module_forward_pre_hook(enter),
            nn.modules.module.register_module_forward_hook(leave, always_call=True),
        ]
        # a torch.compile'd model (or part) warns the user of these global hooks on every call
        # ("will cause the hooks to fire an extra time"): the extra call is its wrapper's, which
        # changes nothing here (maps equal to the eager model's, tested). Only for such a model:
        # leaving catch_warnings resets Python's once-per-line memory of every warning
        if self._compiled:
            self._quiet = quiet = warnings.catch_warnings()
            quiet.__enter__()
            warnings.filterwarnings("ignore", message=r"Using `torch.compile\(module\)` when there are")
        try:
            super().__enter__()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            super().__exit__(*exc)
        finally:
            self._remove()

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self._quiet is not None:
            self._quiet.__exit__(None, None, None)
            self._quiet = None
        self._pointwise.clear()
        self._entered = {}

    def _through_module(self, given: Any, inputs: Any, output: Any) -> None:
        """An activation module whose own pre-hook routed its input ``h`` through an identity
        node (LRP's Pass rule does): its output, an elementwise function of that node, is one of
        ``h`` (so that ``h * sigmoid_module(h)`` is seen as an activation of ``h``)."""
        if not (len(given) == len(inputs) == 1 and isinstance(output, torch.Tensor)):
            return
        (h,), (routed,) = given, inputs
        if routed is h or not (input_dependent(h) and input_dependent(routed)):
            return
        if h.grad_fn is None or routed.shape != h.shape or self._pointwise.common(output, routed) is None:
            return
        node = routed.grad_fn
        for _ in range(4):  # the identity node and its copy: a chain of single-input nodes back to h
            if node is h.grad_fn:
                self._pointwise.record(output, h)
                return
            previous = [n for n, _ in (node.next_functions if node is not None else ()) if n is not None]
            if len(previous) != 1:
                return
            node = previous[0]

    def _activation_product(self, func: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
        """``a * b`` where both are elementwise functions of one tensor ``h`` (or ``h`` itself):
        an activation of ``h``, so the relevance passes to ``h``; None for any other product."""
        if func not in MULTIPLICATIONS or func in IN_PLACE or len(args) != 2 or kwargs:
            return None
        source = self._pointwise.common(*args)
        if source is None:
            return None
        with torch.no_grad():
            output = func(*args)
        return self._pointwise.record(_PassThrough.apply(source, output), source)

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if self._inside:
            # inside a Linear/Conv module's own forward (a subclass that scales or pads its input,
            # or computes its weight): its rule explains what the forward computes as a whole, by
            # the gradient through it; a rule here would turn that gradient into relevance
            return func(*args, **kwargs)
        if func is torch.einsum and len(args) == 2 and isinstance(args[1], (list, tuple)):
            args = (args[0], *args[1])  # einsum(equation, [a, b]) as einsum(equation, a, b)
        if func in LIST_PRODUCTS and any(input_dependent(a) for a in (args[0] if args else ())):
            return refused(
                f"LRP: {getattr(func, '__name__', func)} of a list holding input-dependent tensors has "
                "no rule here; write the product with @ (torch.matmul)",
                func,
                args,
                kwargs,
            )
        tracked = [a for a in args if input_dependent(a)]
        if not tracked:
            out = func(*args, **kwargs)
            if self._watch:
                self._derive(out, args, kwargs)
            return out
        if func in FUNCTIONAL_LAYERS and input_dependent(args[0]):
            self.handled += 1
            if self._watch and len(args) > 1:
                self.weights_used |= self._parameters_in(args[1])
            if len(tracked) > 1 or any(input_dependent(v) for v in kwargs.values()):
                message = f"LRP: {func.__name__} with input-dependent weights has no rule"
                return refused(message, func, args, kwargs)
            return _LinearZ.apply(args[0], substituted(func, args, 0, kwargs))
        if func is F.glu and input_dependent(args[0]):
            self.handled += 1
            return self._glu(args, kwargs)
        if func in STATISTICS_SWITCH and input_dependent(args[0]) and not self._in_ruled:
            fixed = self._fixed_statistics(func, args, kwargs, tracked)
            if fixed is not None:
                return fixed
        if self.attention != "error" and func in HELD:
            self.handled += 1
            self.held_inputs += [a for a in (*args, *kwargs.values()) if input_dependent(a)]
            return HELD[func](args, kwargs, _LinearZ.apply, self._dispatch)
        if self.attention != "error" and func in SOFTMAX:
            self.handled += 1
            if self.attention == "cp":  # held constant: no relevance to the scores
                return func(*args, **kwargs).detach()
            return self._softmax_rule(func, args, kwargs)
        self.handled += func in WATCHED
        if kwargs.get("out") is not None:
            return func(*args, **kwargs)
        if func in ADDITIONS or func in SUBTRACTIONS or func in REVERSED_SUBTRACTIONS:
            return self._sum(func, args, kwargs, tracked)
        elif func in REDUCTIONS and input_dependent(args[0]):
            if len(args) > 1 or "dim" in kwargs:
                return _LinearZ.apply(args[0], substituted(func, args, 0, kwargs))
            return refused(
                f"LRP: {getattr(func, '__name__', func)} over all axes of an input-dependent "
                "tensor has no rule; reduce over named axes (e.g. x.mean(dim=-1))",
                func,
                args,
                kwargs,
            )
        elif func in POOLINGS and input_dependent(args[0]):
            return _LinearZ.apply(args[0], substituted(func, args, 0, kwargs))
        elif func in PRODUCTS and len(tracked) >= 2:
            activation = self._activation_product(func, args, kwargs)
            if activation is not None:
                return activation
            gated = self._gated(func, args, kwargs)
            if gated is not None:
                return gated
            name = getattr(func, "__name__", func)
            if self.attention != "error":
                if func not in IN_PLACE and len(tracked) == 2 and self.attention == "attnlrp":
                    return _Uniform.apply(func, args, kwargs, *tracked)
                if func not in IN_PLACE and len(tracked) == 2:
                    # under cp the scores (q @ k^T) only feed a softmax held constant: no relevance
                    # reaches them; should it (the product feeds the output another way), an error
                    return refused(
                        f"LRP: relevance reaches a product of two input-dependent tensors ({name}) "
                        "that feeds something other than a softmax; LRP has no rule for it (gating, "
                        "bilinear terms). With attention='cp' only attention scores (q @ k^T, whose "
                        "softmax is held constant) may multiply two such tensors",
                        func,
                        args,
                        kwargs,
                    )
                return refused(
                    f"LRP attention={self.attention!r}: {name} of {len(tracked)} input-dependent "
                    "tensors, or in place, has no rule (products of two, written out of place, do)",
                    func,
                    args,
                    kwargs,
                )
            return refused(
                f"LRP: the model multiplies two input-dependent tensors ({name}, as attention or "
                "gating do); LRP has no rule for that product. Attention (nn.MultiheadAttention, "
                "F.scaled_dot_product_attention or written out as softmax(q @ k^T) @ v) is "
                "explained with attention='cp' or attention='attnlrp'; a gate computed from the "
                "signal (h * sigmoid(f(h))) is held constant with gates='signal'",
                func,
                args,
                kwargs,
            )
        elif func in PRODUCTS:
            position = next(i for i, a in enumerate(args) if input_dependent(a))
            if func in DIVISIONS and (position != 0 or func is T.__rtruediv__):
                return refused(
                    "LRP: the model divides by an input-dependent tensor (c / x is not linear in x); "
                    "LRP has no rule for it",
                    func,
                    args,
                    kwargs,
                )
            if func in IN_PLACE and position != 0:
                raise UnsupportedModelError(
                    f"LRP: the model multiplies a constant tensor in place by an input-dependent one "
                    f"({getattr(func, '__name__', func)}); write it out of place (c = c * x)"
                )
            if self._watch and func not in MULTIPLICATIONS and func not in DIVISIONS:
                for factor in args:  # a matrix of weights, not a scale
                    self.weights_used |= self._parameters_in(factor)
            if func in IN_PLACE:
                product = substituted(IN_PLACE[func], args, 0, kwargs)
                return written_into(args[0], lambda a: _LinearZ.apply(a, product))
            scaled = _LinearZ.apply(args[position], substituted(func, args, position, kwargs))
            if func in MULTIPLICATIONS or func in DIVISIONS:  # a scale: elementwise
                return self._pointwise.record(scaled, args[position])
            return scaled
        elif (func in ELEMENTWISE or func in ELEMENTWISE_IN_PLACE) and len(tracked) > 1:
            return refused(
                f"LRP: {getattr(func, '__name__', func)} of two input-dependent tensors has no rule",
                func,
                args,
                kwargs,
            )
        elif (
            func in ELEMENTWISE
            or func in ELEMENTWISE_IN_PLACE
            or (func in PAIRWISE_EXTREMES and len(tracked) == 1 and not kwargs)
        ) and input_dependent(args[0]):
            # x.clamp_(...) and F.relu6(x, inplace=True) are computed out of place, then written into x
            in_place, f = out_of_place(func, args, kwargs, ELEMENTWISE_IN_PLACE)
            with torch.no_grad():
                output = f(args[0])
            if in_place:
                return written_into(args[0], lambda a: _PassThrough.apply(a, output))
            return self._pointwise.record(_PassThrough.apply(args[0], output), args[0])
        elif func in SOFTMAX:
            return refused(SOFTMAX_INSIDE, func, args, kwargs)
        elif func in RECIPROCALS and input_dependent(args[0]):
            return refused(
                f"LRP: the model divides by an input-dependent tensor ({getattr(func, '__name__', func)}: "
                "1 / x is not linear in x); LRP has no rule for it",
                func,
                args,
                kwargs,
            )
        elif func in STATISTICS and input_dependent(args[0]):
            return refused(
                f"LRP: the model computes {getattr(func, '__name__', func)} of input-dependent values "
                "(a standard deviation, variance, norm or product, e.g. statistics pooling); LRP has "
                "no rule for it; use a gradient-type method",
                func,
                args,
                kwargs,
            )
        elif func in SPECTRAL or func in STEPS or func in NONLINEAR:
            name = getattr(func, "__name__", func)
            why = (
                "a spectral transform (complex-valued; its magnitude is not linear)"
                if func in SPECTRAL
                else "a step function (zero gradient almost everywhere: relevance would stop there)"
                if func in STEPS
                else "a nonlinear function of them"
            )
            return refused(
                f"LRP: the model applies {name} to input-dependent values, {why}; LRP has no rule "
                "for it; use a gradient-type method or occlusion",
                func,
                args,
                kwargs,
            )
        elif func in NORMALISATIONS:
            hint = (
                "; pass attention='cp' or attention='attnlrp' to hold the normalisation's statistics "
                "constant (Ali et al. 2022)"
                if func in HELD
                else ""
            )
            return refused(
                f"LRP: the model normalises input-dependent values by their own statistics "
                f"({getattr(func, '__name__', func)}); LRP has no rule for it{hint}",
                func,
                args,
                kwargs,
            )
        elif func in RELUS and input_dependent(args[0]) and not kwargs.get("inplace"):
            return self._pointwise.record(func(*args, **kwargs), args[0])
        out = func(*args, **kwargs)
        if func in PASSED or self._in_ruled or getattr(func, "__name__", "") == "__get__":
            return out  # (a BatchNorm's or recurrent layer's own function, under its rule; h.T)
        if any(input_dependent(v) for v in outputs(out)):
            # anything else passed the plain gradient before, which is no relevance (relevance
            # scaled by the operation's slope, or copied to each summand)
            hint = (
                "; attention is explained with attention='cp' (conservative propagation, Ali et al. "
                "2022) or attention='attnlrp' (AttnLRP, Achtibat et al. 2024)"
                if func in HELD
                else "; use a gradient-type method or occlusion"
            )
            return refused(
                f"LRP: the model applies {getattr(func, '__name__', func)} to input-dependent values; "
                f"LRP has no rule for it{hint}",
                func,
                args,
                kwargs,
            )
        return out

    def _fixed_statistics(
        self, func: Any, args: tuple[Any, ...], kwargs: Any, tracked: list[torch.Tensor]
    ) -> Any:
        """``F.batch_norm`` / ``F.instance_norm`` called as a function (outside a BatchNorm module,
        whose own rule explains it): with fixed statistics an affine map of the input, explained
        by the z-rule as an unmerged BatchNorm is (R_in = x s R / y, y stabilised as a sum's); None
        for an instance norm by each sample's statistics (held under ``attention='cp'``, else
        an error); batch statistics raise an error."""
        name = func.__name__
        if len(tracked) > 1 or any(input_dependent(v) for v in kwargs.values()):
            raise UnsupportedModelError(f"LRP: {name} with input-dependent statistics or weights has no rule")
        if not uses_own_statistics(func, args, kwargs):
            self.handled += 1
            return _LinearZ.apply(args[0], substituted(func, args, 0, kwargs))
        if func is F.batch_norm:
            raise UnsupportedModelError(
                "LRP: the model normalises input-dependent values by the statistics of the batch "
                "(F.batch_norm with training=True): each sample's explanation would depend on the "
                "others in the batch; normalise with running statistics (training=False) to explain it"
            )
        return None

    def _sum(self, func: Any, args: tuple[Any, ...], kwargs: Any, tracked: list[torch.Tensor]) -> Any:
        """``a + b`` / ``a - b`` of two input-dependent tensors: relevance split in proportion.

        With a constant ``c``, ``x + c`` and ``x - c`` pass the relevance to ``x`` unchanged (as
        the gradient does) and so does ``c - x``, whose gradient would flip its sign.
        """
        reversed_ = func in REVERSED_SUBTRACTIONS
        if len(args) >= 2 and len(tracked) == 2:
            scale = kwargs.get("alpha", 1) * (1 if func in ADDITIONS else -1)
            first, second = (args[1], args[0]) if reversed_ else (args[0], args[1])
            if func in IN_PLACE:
                return written_into(args[0], lambda a: _ProportionalSum.apply(a, args[1], scale))
            return _ProportionalSum.apply(first, second, scale)
        subtrahend = (
            input_dependent(args[0]) if reversed_ else func in SUBTRACTIONS and not input_dependent(args[0])
        )
        if not subtrahend:  # x + c, x - c: elementwise in x where c does not broadcast x
            out = func(*args, **kwargs)
            return out if func in IN_PLACE else self._pointwise.record(out, tracked[0])
        if func in IN_PLACE:
            raise UnsupportedModelError(
                "LRP: the model subtracts an input-dependent tensor in place from a constant one; "
                "write it out of place (c = c - x)"
            )
        with torch.no_grad():
            output = func(*args, **kwargs)
        return self._pointwise.record(_PassThrough.apply(tracked[0], output), tracked[0])

    def _glu(self, args: tuple[Any, ...], kwargs: Any) -> torch.Tensor:
        """``F.glu``: ``a * sigmoid(b)`` of the input's halves, the gate ``sigmoid(b)`` held
        constant under ``gates='signal'`` (the signal ``a`` receives all the relevance)."""
        if self.gates != "signal":
            raise UnsupportedModelError(
                "LRP: a GLU multiplies one half of its input by a gate computed from the other "
                "(a * sigmoid(b)); pass gates='signal' to hold the gate constant so that the signal "
                "receives all the relevance (Arras et al. 2017), or use a gradient-type method"
            )
        dim = args[1] if len(args) > 1 else kwargs.get("dim", -1)
        signal, gate = args[0].chunk(2, dim=dim)
        held = torch.sigmoid(gate).detach()
        return _LinearZ.apply(signal, lambda u: u * held)

    def _parameters_in(self, value: Any) -> frozenset[int]:
        """The parameters (ids) a constant tensor is, views or was computed from."""
        if not isinstance(value, torch.Tensor):
            return frozenset()
        for candidate in (value, value._base):
            if isinstance(candidate, nn.Parameter):
                return frozenset({id(candidate)})
            entry = self._derived.get(id(candidate)) if candidate is not None else None
            if entry is not None and entry[0] is candidate:
                return entry[1]
        return frozenset()

    def _derive(self, out: Any, args: tuple[Any, ...], kwargs: Any) -> None:
        """Remember the parameters a constant result was computed from (kept alive while probing)."""
        flat = [v for a in (*args, *kwargs.values()) for v in (a if isinstance(a, (list, tuple)) else (a,))]
        sources = frozenset().union(*(self._parameters_in(v) for v in flat))
        if sources and isinstance(out, torch.Tensor):
            self._derived[id(out)] = (out, sources)

    def _dispatch(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """``func(*args, **kwargs)`` under this mode's rules (for operations written out here)."""
        return self.__torch_function__(func, (), args, kwargs)

    def _softmax_rule(self, func: Any, args: tuple[Any, ...], kwargs: Any) -> torch.Tensor:
        """A softmax under AttnLRP's softmax rule (log-softmax has none: an error)."""
        dim = args[1] if len(args) > 1 else kwargs.get("dim")
        if func not in (torch.softmax, T.softmax, F.softmax) or not isinstance(dim, int):
            raise UnsupportedModelError(
                f"LRP attention='attnlrp': {getattr(func, '__name__', func)} needs an explicit integer "
                "dim, and only softmax has AttnLRP's softmax rule (not log_softmax)"
            )
        with torch.no_grad():
            s = func(*args, **kwargs)
        return _SoftmaxRule.apply(args[0], s, dim)

    def _gated(self, func: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
        """``signal * gate`` with the gate held constant (``gates='signal'``), or None.

        The gate is the factor with fewer elements, broadcast over the other, or (under
        ``'signal'``), of two factors of one shape, the one computed from the other (a
        squeeze-and-excitation gate on a 1 x 1 feature map). Raises an error that names the
        option for a broadcast gate under ``'error'``, and one that says why for a product that
        is no gating under ``'signal'``.
        """
        if func not in MULTIPLICATIONS or len(args) != 2 or kwargs:
            return None
        a, b = args
        shape = torch.broadcast_shapes(a.shape, b.shape)
        signal_first: bool | None = None
        if a.shape != b.shape and shape in (a.shape, b.shape):
            signal_first = a.shape == shape
        elif a.shape == b.shape and self.gates == "signal":
            b_from_a, a_from_b = _computed_from(b, a), _computed_from(a, b)
            signal_first = b_from_a if b_from_a != a_from_b else None
        if signal_first is None:
            if self.gates == "signal":
                raise UnsupportedModelError(
                    "LRP: gates='signal' needs a gate broadcast over the signal (fewer elements) or "
                    "computed from it; the model multiplies input-dependent tensors of shapes "
                    f"{tuple(a.shape)} and {tuple(b.shape)}, so neither is a gate over the other"
                )
            return None
        if self.gates != "signal":
            raise UnsupportedModelError(
                f"LRP: the model multiplies an input-dependent tensor of shape {tuple(a.shape)} by "
                f"one of shape {tuple(b.shape)} (a gate, as in squeeze-and-excitation blocks); "
                "pass gates='signal' to hold the gate constant so that the signal receives all the "
                "relevance (Arras et al. 2017), or use a gradient-type method"
            )
        gate = (b if signal_first else a).detach()
        if func in IN_PLACE:
            if not signal_first:
                raise UnsupportedModelError(
                    "LRP: the model multiplies a gate in place by its signal; write it out of place"
                )
            return written_into(a, lambda t: _LinearZ.apply(t, lambda u: u * gate))
        return _LinearZ.apply(a if signal_first else b, lambda u: u * gate)
