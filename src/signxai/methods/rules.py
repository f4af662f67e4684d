"""LRP rules on zennit's ``BasicHook``: z, epsilon, epsilon-std_x and SIGN, without recomputation;
alpha-beta, z+, gamma and zennit's input rules per call through a relay (``RelayedRule``).

A rule is a choice of gradient mapper (the stabilised denominator z') and reducer (what
multiplies the back-projected c = W^T (R / z')), like zennit's own ``Epsilon``. These rules
leave the input and the parameters unmodified, so the layer's backward pass that autograd runs
anyway already computes c: ``ProjectionHook`` maps the relevance arriving at the layer's output
before that backward (a pre-hook on the output's autograd node, using the z stored in the
forward pass) and applies the reducer to what comes out at the layer's input. zennit's
``BasicHook.backward`` instead runs the layer forward a second time inside the backward pass;
the result is the same (the tests compare with zennit's ``Epsilon``), the cost is about
one forward pass less. ``PassRule`` is zennit's ``Pass`` for activations.

Rules that modify the input or the parameters (alpha-beta, z+, gamma, flat, w-square, z-box) must run
the layer again; ``RelayedRule`` runs it on a detached copy in the forward pass and relays the
output to the input through an autograd function whose backward is the rule, so the layer's own
backward (which zennit's hooks run and discard) is skipped. ``AlphaBetaRule`` also leaves out
the terms that are zero (no ``a-`` after a ReLU, no negative share at beta = 0).

All of them capture what the backward pass needs per call of the module, so a module called
more than once in one forward pass (weight sharing, one activation module used in several
places) is explained as if each call were its own module.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
from zennit.core import BasicHook, Hook, Identity, ParamMod, RemovableHandle, RemovableHandleList
from zennit.rules import Flat, GammaMod, WSquare

from signxai.checks import check_choice
from signxai.errors import MethodParameterError

Z_FLOOR = 1e-7

Reducer = Callable[[Sequence[torch.Tensor], Sequence[torch.Tensor]], torch.Tensor]


def z_denominator(z: torch.Tensor) -> torch.Tensor:
    """z with exact zeros replaced by 1e-7 (the z-rule denominator)."""
    return z.masked_fill(z == 0, Z_FLOOR)


@functools.lru_cache(maxsize=64)
def _scalar(value: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(value, dtype=dtype, device=device)


def epsilon_denominator(z: torch.Tensor, epsilon: torch.Tensor | float) -> torch.Tensor:
    """z + epsilon * sign(z), with sign(0) = +1."""
    if not isinstance(epsilon, torch.Tensor):
        epsilon = _scalar(float(epsilon), z.dtype, z.device)
    # z + 0.0 turns -0.0 into +0.0, so copysign gives sign(0) = +1 for both zeros
    return z + torch.copysign(epsilon, z + 0.0)


def std_x_denominator(a: torch.Tensor, z: torch.Tensor, factor: float) -> torch.Tensor:
    """z + e * sign(z) with e = ``factor`` times the std (ddof 0) of the layer's input ``a``, taken
    per sample over all its non-batch axes."""
    std = a.detach().flatten(1).std(dim=1, unbiased=False)
    return epsilon_denominator(z.detach(), (factor * std).view(-1, *([1] * (z.ndim - 1))))


def _input_slot(node: Any, tensor: torch.Tensor) -> int:
    """Which of an autograd node's inputs ``tensor`` is (its producer, or its AccumulateGrad)."""
    for slot, (function, _) in enumerate(node.next_functions):
        if function is None:
            continue
        if tensor.grad_fn is not None and function is tensor.grad_fn:
            return slot
        if tensor.grad_fn is None and getattr(function, "variable", None) is tensor:
            return slot
    raise RuntimeError(f"internal error: the layer's input is not an input of {node.name()}")


def input_times_gradient(inputs: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor]) -> torch.Tensor:
    """The usual LRP reducer: R_in = a * c."""
    return inputs[0] * gradients[0]


def _through_identity(
    hook: Hook, input: tuple[Any, ...], replace: Callable[[Hook, torch.Tensor], torch.Tensor | None]
) -> tuple[Any, ...]:
    """Route ``input[0]`` through zennit's ``Identity`` node (and a copy, safe from in-place ops).

    In the backward pass, while ``hook`` is active, the gradient the Identity node passes to the
    input becomes ``replace(hook, gradient)`` (``None`` keeps the gradient). Returns the new input
    tuple for a forward pre-hook.
    """
    (passed,) = Identity.apply(input[0])
    hook_ref = weakref.ref(hook)

    def on_backward(grad_inputs: tuple[Any, ...], grad_outputs: Any) -> tuple[Any, ...] | None:
        owner = hook_ref()
        if owner is None or not owner.active or grad_inputs[0] is None:
            return None
        replaced = replace(owner, grad_inputs[0])
        return None if replaced is None else (replaced, *grad_inputs[1:])

    hook.tensor_handles.append(passed.grad_fn.register_hook(on_backward))
    return (passed.clone(), *input[1:])


_CONV_FORWARDS = (torch.nn.Conv1d.forward, torch.nn.Conv2d.forward, torch.nn.Conv3d.forward)


def _takes_input_directly(module: torch.nn.Module) -> bool:
    """Whether the module's autograd node always has the module's input as one of its inputs.

    True for torch's own Conv forward with symmetric zero padding. A subclass with its own
    ``forward`` (one that pads or rescales its input first), and ``padding='same'`` with an odd
    ``dilation * (kernel - 1)`` (torch pads such an input on one side before the convolution, so
    the node takes the padded copy), get the Identity node like any other layer.
    """
    if type(module).forward not in _CONV_FORWARDS or getattr(module, "padding_mode", None) != "zeros":
        return False
    conv: Any = module  # nn.Module attributes are typed Tensor | Module
    if conv.padding == "same":
        pairs = zip(conv.dilation, conv.kernel_size, strict=True)
        return all(dilation * (kernel - 1) % 2 == 0 for dilation, kernel in pairs)
    return True


class ProjectionHook(BasicHook):
    """A ``BasicHook`` for rules with unmodified input and parameters, without recomputation.

    Parameters
    ----------
    denominator
        ``z -> z'``, the stabilised denominator; computed in the forward pass (so a later
        in-place operation on the layer's output cannot change it) and applied as
        ``relevance / z'`` before the layer's backward pass (the gradient mapper).
    reducer
        ``([a], [c]) -> relevance at the input``, applied to c = W^T (R / z').
    """

    #: Whether negating the layer (weight and bias) and the relevance arriving at its output
    #: negates the relevance it passes on. True for the projection rules: z' is odd in z (the
    #: z, epsilon and SIGN rules; sign(0) = +1 and the z-rule's floor aside) and c = W^T (R / z')
    #: keeps its sign. The explanation of -z (target 0 of a single-output model) then is minus
    #: that of z; for a rule where it is not (alpha-beta, z+, z-beta) it must be computed on the
    #: negated layer (``signxai.methods.lrp``).
    sign_symmetric = True

    def __init__(
        self,
        denominator: Callable[[torch.Tensor], torch.Tensor],
        reducer: Reducer = input_times_gradient,
    ) -> None:
        self.denominator = denominator
        super().__init__(
            gradient_mapper=lambda relevance, outputs: relevance / denominator(outputs[0]),
            reducer=reducer,
        )

    def register(self, module: torch.nn.Module) -> RemovableHandleList:
        """An output hook, and an input hook where the layer's own node may not take the input.

        zennit's third hook, ``forward``, runs inside the output hook.
        """
        handles = [RemovableHandle(self)]
        if not _takes_input_directly(module):
            handles.append(module.register_forward_pre_hook(self.pre_forward))
        handles.append(module.register_forward_hook(self.post_forward))
        return RemovableHandleList(handles)

    def pre_forward(self, module: torch.nn.Module, input: Any) -> Any:
        """Where the layer's own node may not take the input: an Identity node to reduce at.

        A Conv with zero padding (no input hook at all) or a Linear on ``(batch, features)``
        takes its input directly, so the reducer acts on the input's slot of the layer's own
        autograd node (no extra node). Anything else gets zennit's ``Identity`` on the input
        (and a copy, safe from later in-place changes) and the reducer runs on its gradient.
        """
        layer_input = input[0]
        direct = isinstance(module, torch.nn.Linear) and layer_input.ndim == 2
        self.stored_tensors["input"] = layer_input
        self.stored_tensors["direct"] = direct
        if direct or not layer_input.requires_grad:
            return None
        return _through_identity(
            self, input, lambda hook, gradient: hook.reducer([layer_input.detach()], [gradient])
        )

    def forward(self, module: torch.nn.Module, input: Any, output: Any) -> None:
        """Compute the denominator z' from the layer's output."""
        self.stored_tensors["denominator"] = self.denominator(output.detach())

    def post_forward(self, module: torch.nn.Module, input: Any, output: Any) -> Any:
        """Map the relevance before the layer's own backward; reduce what it gives the input.

        Everything the backward needs is captured per call (not read from the hook's state at
        backward time), so a module called more than once in a forward pass is explained right.
        """
        if _takes_input_directly(module):
            self.stored_tensors["input"] = input[0]
            self.stored_tensors["direct"] = True
        self.forward(module, input, output)
        node = output.grad_fn if isinstance(output, torch.Tensor) else None
        if node is None:
            return output
        hook_ref = weakref.ref(self)
        denominator = self.stored_tensors["denominator"]

        def map_relevance(grad_outputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...] | None:
            hook = hook_ref()
            if hook is None or not hook.active:
                return None
            return (grad_outputs[0] / denominator, *grad_outputs[1:])

        self.tensor_handles.append(node.register_prehook(map_relevance))
        if self.stored_tensors["direct"]:
            layer_input = self.stored_tensors["input"]
            slot = _input_slot(node, layer_input)

            def reduce_at_input(grad_inputs: tuple[Any, ...], grad_outputs: Any) -> tuple[Any, ...] | None:
                hook = hook_ref()
                if hook is None or not hook.active or grad_inputs[slot] is None:
                    return None
                relevance = hook.reducer([layer_input.detach()], [grad_inputs[slot]])
                return (*grad_inputs[:slot], relevance, *grad_inputs[slot + 1 :])

            self.tensor_handles.append(node.register_hook(reduce_at_input))
        return output

    def copy(self) -> ProjectionHook:
        """A fresh instance with the same denominator and reducer (and its own stored tensors)."""
        return ProjectionHook(self.denominator, self.reducer)


class ZRule(ProjectionHook):
    """LRP-0: z' = z (exact zeros replaced by 1e-7), R_in = a * W^T (R / z)."""

    def __init__(self) -> None:
        super().__init__(z_denominator)

    def copy(self) -> ZRule:
        """A fresh instance for another layer."""
        return ZRule()


class EpsilonRule(ProjectionHook):
    """Epsilon rule: z' = z + epsilon * sign(z), sign(0) = +1 (zennit's ``Epsilon``)."""

    def __init__(self, epsilon: float) -> None:
        self.epsilon = epsilon
        super().__init__(lambda z: epsilon_denominator(z, epsilon))

    def copy(self) -> EpsilonRule:
        """A fresh instance for another layer."""
        return EpsilonRule(self.epsilon)


class StdxEpsilon(ProjectionHook):
    """Epsilon rule whose epsilon is ``factor`` times the std (ddof 0) of this layer's input.

    The std is taken per sample over all non-batch axes of the layer's own input, so every layer
    (and every sample) gets its own epsilon; ``copy`` returns an instance with its own state.
    """

    def __init__(self, factor: float) -> None:
        self.factor = factor
        super().__init__(z_denominator)

    def forward(self, module: torch.nn.Module, input: Any, output: Any) -> None:
        """The denominator z + e * std(a) * sign(z), with this layer's input a, per sample."""
        self.stored_tensors["denominator"] = std_x_denominator(input[0], output, self.factor)

    def copy(self) -> StdxEpsilon:
        """A fresh instance with its own stored epsilon."""
        return StdxEpsilon(self.factor)


class InnvestigateBatchNorm(ProjectionHook):
    """A BatchNorm (eval mode) as its own layer, as iNNvestigate and so the original SIGN package.

    BatchNorm is the affine map y = s (x - mean) + beta per channel, s = gamma / sqrt(var + eps);
    iNNvestigate's ``BatchNormalizationReverseLayer`` passes relevance by the z-rule on it,
    R_in = x (y - beta) R / ((x - mean) y) = x s R / y, whatever the rule on the other layers,
    and stabilises the denominator d = (x - mean) y as d + 1e-7 sign(d), sign(0) = +1. That
    stabiliser is reproduced here: the gradient mapper divides by it, the layer's backward
    multiplies by s, and the reducer by x (x - mean).
    """

    def __init__(self) -> None:
        super().__init__(z_denominator, self._reduce)
        self.mean: torch.Tensor | None = None

    def register(self, module: torch.nn.Module) -> RemovableHandleList:
        """Hooks on ``module``, whose running mean the rule keeps."""
        mean = getattr(module, "running_mean", None)
        if not isinstance(mean, torch.Tensor):
            raise TypeError(f"{type(module).__name__} has no running mean")
        self.mean = mean
        return super().register(module)

    def _centred(self, x: torch.Tensor) -> torch.Tensor:
        assert self.mean is not None, "registered on a BatchNorm first"
        return x - self.mean.view(1, -1, *([1] * (x.ndim - 2))).to(x.dtype)

    def forward(self, module: torch.nn.Module, input: Any, output: Any) -> None:
        """The denominator (x - mean) y + 1e-7 sign(...)."""
        product = self._centred(input[0].detach()) * output.detach()
        self.stored_tensors["denominator"] = product + torch.where(product >= 0, Z_FLOOR, -Z_FLOOR)

    def _reduce(self, inputs: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor]) -> torch.Tensor:
        return inputs[0] * self._centred(inputs[0]) * gradients[0]

    def copy(self) -> InnvestigateBatchNorm:
        """A fresh instance for another BatchNorm."""
        return InnvestigateBatchNorm()


class SignRule(ProjectionHook):
    """SIGN input rule: z' = z (z-rule denominator), R_in = sign_mu(x) * W^T (R / z').

    sign_mu(x) is +1 where x >= mu and -1 elsewhere, so with mu = 0, sign(0) = +1
    (Gumpfer et al., "SIGNed explanations", Information Fusion 2023). ``epsilon`` stabilises the
    denominator instead, z' = z + e sign(z): e = ``epsilon``, or ``epsilon`` times the std of the
    layer's input per sample with ``std_x`` (the SIGN layer of signxai2's PyTorch composites).
    """

    def __init__(self, mu: float = 0.0, epsilon: float | None = None, std_x: bool = False) -> None:
        self.mu = mu
        self.epsilon = epsilon
        self.std_x = std_x
        denominator = z_denominator
        if epsilon is not None and not std_x:
            stabiliser = epsilon

            def denominator(z: torch.Tensor) -> torch.Tensor:
                return epsilon_denominator(z, stabiliser)

        super().__init__(
            denominator,
            lambda inputs, gradients: (
                torch.where(inputs[0] >= mu, 1.0, -1.0).to(gradients[0].dtype) * gradients[0]
            ),
        )

    def forward(self, module: torch.nn.Module, input: Any, output: Any) -> None:
        """The denominator: with ``std_x``, z + epsilon * std(x) * sign(z) per sample."""
        if self.epsilon is not None and self.std_x:
            self.stored_tensors["denominator"] = std_x_denominator(input[0], output, self.epsilon)
        else:
            super().forward(module, input, output)

    def copy(self) -> SignRule:
        """A fresh instance for another layer."""
        return SignRule(self.mu, self.epsilon, self.std_x)


def input_and_output_hooks(hook: Hook, module: torch.nn.Module) -> RemovableHandleList:
    """The handles of a rule that works per call: itself, its ``pre_forward`` on the module's
    input and its ``post_forward`` on the output (zennit's third hook, ``forward``, unused)."""
    return RemovableHandleList(
        [
            RemovableHandle(hook),
            module.register_forward_pre_hook(hook.pre_forward),
            module.register_forward_hook(hook.post_forward),
        ]
    )


def tracked(input: tuple[Any, ...]) -> bool:
    """Whether a module's first input is a tensor that the explanation's gradient reaches."""
    return bool(input) and isinstance(input[0], torch.Tensor) and input[0].requires_grad


class PassRule(Hook):
    """zennit's ``Pass`` rule (relevance passes through an activation unchanged), per call.

    zennit's ``Pass`` keeps the gradient arriving at the output in the hook's state until the
    input's backward reads it, which mixes the calls of an activation module that is used more
    than once in a forward pass. Here each call gets its own cell: the output's autograd node
    puts the arriving relevance in it and the input's ``Identity`` node takes it out.
    """

    sign_symmetric = True  # relevance passes through unchanged (see ProjectionHook)

    def register(self, module: torch.nn.Module) -> RemovableHandleList:
        """An input hook (the Identity node) and an output hook (the cell's writer)."""
        return input_and_output_hooks(self, module)

    def pre_forward(self, module: torch.nn.Module, input: Any) -> Any:
        """Route the input through an Identity node that hands on what the cell holds."""
        if not tracked(input):
            self.stored_tensors["cell"] = None
            return None
        cell: dict[str, torch.Tensor] = {}
        self.stored_tensors["cell"] = cell
        return _through_identity(self, input, lambda hook, gradient: cell.pop("relevance", None))

    def post_forward(self, module: torch.nn.Module, input: Any, output: Any) -> None:
        """Keep the relevance that arrives at this call's output in this call's cell."""
        cell = self.stored_tensors.pop("cell", None)
        if cell is None or not isinstance(output, torch.Tensor) or output.grad_fn is None:
            return
        hook_ref = weakref.ref(self)

        def keep(grad_outputs: tuple[torch.Tensor, ...]) -> None:
            hook = hook_ref()
            if hook is not None and hook.active:
                cell["relevance"] = grad_outputs[0]

        self.tensor_handles.append(output.grad_fn.register_prehook(keep))

    def copy(self) -> PassRule:
        """A fresh instance for another module."""
        return PassRule()


#: How the alpha-beta rule's denominators take the layer's bias.
ALPHA_BETA_BIAS = ("split", "both")


def _weights(sign: int, bias: str) -> ParamMod:
    """The layer's weights clamped to one sign, and its bias as ``bias`` says: ``'positive'`` or
    ``'negative'`` (clamped like the weights), ``'whole'`` or ``'none'``."""

    def modify(param: torch.Tensor, name: str) -> torch.Tensor:
        if name != "bias":
            return param.clamp(min=0) if sign > 0 else param.clamp(max=0)
        if bias == "whole":
            return param
        if bias == "none":
            return torch.zeros_like(param)
        return param.clamp(min=0) if bias == "positive" else param.clamp(max=0)

    return ParamMod(modify)


class _Relay(torch.autograd.Function):
    """A layer's output (computed without a graph) whose backward is an LRP rule's relevance at
    the layer's input: the layer's own backward pass does not run."""

    @staticmethod
    def forward(
        ctx: Any,
        layer_input: torch.Tensor,
        rule: Callable[[torch.Tensor], torch.Tensor],
        output: list[torch.Tensor],
    ) -> torch.Tensor:
        # the output is handed over in a list, not as an input of the function: an input
        # returned as it is would be a view, which the model may not change in place
        ctx.rule = rule
        return output[0]

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[Any, ...]:
        return ctx.rule(relevance), None, None


class RelayedRule(BasicHook):
    """A zennit ``BasicHook`` rule, computed per call and without the layer's own backward.

    The layer runs on a detached copy of its input, and its output is relayed to the input by
    ``_Relay``, whose backward is the rule: zennit's ``BasicHook.backward`` (the layer run once
    per input and parameter modifier, the gradient mapper, the reducer) on this call's input.
    zennit's hooks keep one input per module and let the layer's own backward run, to discard
    its result; here a module called more than once in a forward pass (weight sharing, e.g. one
    encoder for every lead) is explained per call, at one backward pass less.

    Parameters
    ----------
    rule
        The zennit rule (``Flat()``, ``WSquare(...)``, ``ZBox(...)``); None for a subclass that
        computes ``relevance`` itself.
    """

    def __init__(self, rule: BasicHook | None = None) -> None:
        if rule is None:
            super().__init__()
        else:
            super().__init__(
                input_modifiers=rule.input_modifiers,
                param_modifiers=rule.param_modifiers,
                output_modifiers=rule.output_modifiers,
                gradient_mapper=rule.gradient_mapper,
                reducer=rule.reducer,
            )
        self.rule = rule

    @property
    def sign_symmetric(self) -> bool:
        """See ``ProjectionHook``: the flat and w-square rules ignore the weights' signs; the
        z-beta rule's bounds meet W+ and W-, which a negated layer swaps; others unknown."""
        return isinstance(self.rule, (Flat, WSquare))

    def register(self, module: torch.nn.Module) -> RemovableHandleList:
        """An input and an output hook: the layer runs on a detached copy of its input, and its
        output is relayed to the input by ``_Relay``, whose backward is this rule."""
        return input_and_output_hooks(self, module)

    def pre_forward(self, module: torch.nn.Module, input: Any) -> Any:
        """Keep this call's input; the layer itself runs on a detached copy (no graph)."""
        if not tracked(input):
            self.stored_tensors["input"] = None
            return None
        self.stored_tensors["input"] = input[0]
        return (input[0].detach().clone(), *input[1:])

    def post_forward(self, module: torch.nn.Module, input: Any, output: Any) -> Any:
        """Relay this call's output to its input through the rule (captured per call)."""
        layer_input = self.stored_tensors.pop("input", None)
        if layer_input is None or not isinstance(output, torch.Tensor):
            return None
        a = input[0]  # the copy the layer ran on, safe from later in-place changes
        hook_ref = weakref.ref(self)

        def backward(relevance_out: torch.Tensor) -> torch.Tensor:
            hook = hook_ref()
            if hook is None or not hook.active:  # the plain gradient
                with torch.enable_grad():
                    copy = a.detach().requires_grad_()
                    return torch.autograd.grad(module.forward(copy), copy, relevance_out)[0]
            return hook.relevance(module, a, relevance_out)

        fresh = output.detach()
        return _Relay.apply(layer_input, backward, [fresh.clone() if fresh._is_view() else fresh])

    def relevance(
        self, module: torch.nn.Module, a: torch.Tensor, relevance_out: torch.Tensor
    ) -> torch.Tensor:
        """The relevance at the layer's input ``a``: zennit's ``BasicHook.backward``."""
        inputs, outputs = [], []
        modifiers = zip(self.input_modifiers, self.param_modifiers, self.output_modifiers, strict=True)
        for input_modifier, param_modifier, output_modifier in modifiers:
            term = input_modifier(a.detach()).detach().requires_grad_()
            with ParamMod.ensure(param_modifier)(module) as modified, torch.enable_grad():
                outputs.append(output_modifier(modified.forward(term)))
            inputs.append(term)
        mapped = self.gradient_mapper(relevance_out, outputs)
        gradients = torch.autograd.grad(outputs, inputs, grad_outputs=mapped)
        return self.reducer(inputs, gradients)

    def copy(self) -> RelayedRule:
        """A fresh instance for another layer."""
        return RelayedRule(self.rule)


def _input_parts(a: torch.Tensor) -> list[tuple[torch.Tensor, int]]:
    """The layer input's parts with the index of the parameters each meets: a+ (0) and a- (1);
    ``a`` itself alone where it has no negative value (every layer after a ReLU)."""
    if not bool((a < 0).any()):
        return [(a, 0)]
    return [(a.clamp(min=0), 0), (a.clamp(max=0), 1)]


def _terms(
    module: torch.nn.Module,
    parts: list[tuple[torch.Tensor, int]],
    modifiers: Sequence[ParamMod],
    mapping: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """sum_i part_i * c_i: the layer run on each input part with its parameters modified
    (``modifiers[index]``), d = the sum of those outputs, c_i = W_i^T mapping(d) (the gradient
    of the part's output, weighted by ``mapping(d)``, e.g. R / d)."""
    inputs = [part.detach().requires_grad_() for part, _ in parts]
    with torch.enable_grad():
        outputs = []
        for part, (_, index) in zip(inputs, parts, strict=True):
            with modifiers[index](module) as modified:
                outputs.append(modified.forward(part))
        d = outputs[0] if len(outputs) == 1 else outputs[0] + outputs[1]
        mapped = mapping(d.detach())
        gradients = torch.autograd.grad(outputs, inputs, grad_outputs=[mapped] * len(outputs))
    relevance = inputs[0].detach() * gradients[0]
    for part, gradient in zip(inputs[1:], gradients[1:], strict=True):
        relevance = relevance + part.detach() * gradient
    return relevance


class AlphaBetaRule(RelayedRule):
    """The alpha-beta rule (Bach et al. 2015): R_in = alpha R+ - beta R-, alpha - beta = 1.

    R+ shares the relevance in proportion to the positive contributions W+ a+ and W- a- (input
    parts a+ = max(a, 0), a- = min(a, 0)), R- to the negative ones W- a+ and W+ a-. The bias
    joins the denominators only (never the numerators):

    - ``'split'`` (zennit's ``AlphaBeta``): the positive denominator gets b+ = max(b, 0), the
      negative one b- = min(b, 0); stabilised as zennit does, z + 1e-6 sign(z), sign(0) = +1;
    - ``'both'`` (the original SIGN package, iNNvestigate's ``AlphaBetaRule`` with
      ``bias=True``): both denominators get the whole bias b; an exact zero denominator becomes
      1 (iNNvestigate's ``SafeDivide``).

    The layer runs once per term in the backward pass, as in zennit's ``BasicHook``, but only
    for the terms that contribute: the negative ones not where beta = 0, the a- ones not where
    the layer's input has no negative value (every layer after a ReLU). On such layers alpha1-
    beta0 costs one layer pass and its backward instead of zennit's four; and the layer's own
    backward pass, which zennit runs and then discards, does not run (``_Relay``). The input
    is captured per call, so a module called more than once in a forward pass (weight sharing)
    is explained per call.

    Parameters
    ----------
    alpha, beta
        The weights of the positive and the negative share.
    bias
        ``'split'`` or ``'both'``, as above.
    """

    def __init__(self, alpha: float, beta: float, bias: str = "split") -> None:
        check_choice(bias, "bias", ALPHA_BETA_BIAS, MethodParameterError)
        super().__init__()
        self.alpha, self.beta, self.bias = alpha, beta, bias
        on_a_plus = ("positive", "negative") if bias == "split" else ("whole", "whole")
        #: Per share: its weight, and the parameters that meet a+ and a-.
        self.shares = [
            (alpha, _weights(1, on_a_plus[0]), _weights(-1, "none")),
            (-beta, _weights(-1, on_a_plus[1]), _weights(1, "none")),
        ]

    @property
    def sign_symmetric(self) -> bool:
        """No: a negated layer swaps the positive and the negative contributions."""
        return False

    def _denominator(self, z: torch.Tensor) -> torch.Tensor:
        if self.bias == "both":
            return z.masked_fill(z == 0, 1.0)
        return epsilon_denominator(z, 1e-6)

    def relevance(
        self, module: torch.nn.Module, a: torch.Tensor, relevance_out: torch.Tensor
    ) -> torch.Tensor:
        """The relevance at the layer's input ``a``, from the terms that contribute."""
        parts = _input_parts(a)
        relevance = torch.zeros_like(a)
        for weight, *modifiers in self.shares:
            if weight != 0:
                share = _terms(module, parts, modifiers, lambda z: relevance_out / self._denominator(z))
                relevance = relevance + weight * share
        return relevance

    def copy(self) -> AlphaBetaRule:
        """A fresh instance for another layer."""
        return AlphaBetaRule(self.alpha, self.beta, self.bias)


class GammaRule(RelayedRule):
    """The gamma rule (Montavon et al. 2019), generalised to inputs and outputs of either sign
    as zennit's ``Gamma`` (Andeol et al. 2021).

    Where the layer's output z is positive, the relevance is shared in proportion to the
    contributions (W + gamma W+) a+ and (W + gamma W-) a-; where it is negative, to
    (W + gamma W-) a+ and (W + gamma W+) a-; where it is zero, nothing is shared. The bias takes
    the same modification (b + gamma b+, resp. b + gamma b-) and joins the denominators only;
    each denominator is stabilised as zennit does, d + 1e-6 sign(d), sign(0) = +1. For inputs
    a >= 0 and positive outputs this is the gamma rule as first defined (W + gamma W+); gamma = 0
    is the z-rule (up to the stabiliser), and a large gamma approaches the z+ rule.

    The layer runs once per term that contributes in the backward pass: the a- terms not where
    the layer's input has no negative value (every layer after a ReLU), a sign's terms not where
    no output has that sign; its own backward pass does not run (``_Relay``). The input is
    captured per call, so a module called more than once in a forward pass is explained per call.

    Parameters
    ----------
    gamma
        The weight of the added positive (or negative) parts, >= 0.
    """

    def __init__(self, gamma: float) -> None:
        super().__init__()
        self.gamma = gamma
        #: Per output sign: the parameters that meet a+ (bias kept) and a- (bias dropped).
        self.branches = [
            (1, GammaMod(gamma, min=0.0), GammaMod(gamma, max=0.0, zero_params=["bias"])),
            (-1, GammaMod(gamma, max=0.0), GammaMod(gamma, min=0.0, zero_params=["bias"])),
        ]

    @property
    def sign_symmetric(self) -> bool:
        """Yes: a negated layer's output changes sign, and the branch for that sign uses the
        negated weights of the other branch, so every share is the same (see ``ProjectionHook``)."""
        return True

    def relevance(
        self, module: torch.nn.Module, a: torch.Tensor, relevance_out: torch.Tensor
    ) -> torch.Tensor:
        """The relevance at the layer's input ``a``, from the terms that contribute."""
        with torch.no_grad():
            z = module.forward(a.detach())
        parts = _input_parts(a)
        relevance = torch.zeros_like(a)
        for sign, *modifiers in self.branches:
            selected = z > 0 if sign > 0 else z < 0
            if bool(selected.any()):

                def mapping(d: torch.Tensor, selected: torch.Tensor = selected) -> torch.Tensor:
                    return selected * relevance_out / epsilon_denominator(d, 1e-6)

                share = _terms(module, parts, modifiers, mapping)
                relevance = relevance + share
        return relevance

    def copy(self) -> GammaRule:
        """A fresh instance for another layer."""
        return GammaRule(self.gamma)


def alpha_beta(alpha: float, beta: float, bias: str = "split") -> AlphaBetaRule:
    """The alpha-beta rule, with the bias taken as ``bias`` says (see ``AlphaBetaRule``)."""
    return AlphaBetaRule(alpha, beta, bias)


def z_plus() -> AlphaBetaRule:
    """The z+ rule: zennit's ``ZPlus`` is its alpha1-beta0 rule (same terms, same bias)."""
    return AlphaBetaRule(1.0, 0.0, "split")


def check_written_out(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    """Raise if the forward of a layer written out for LRP (``got``) is not torch's own (``want``).

    Relative 1e-4, absolute 1e-5 of the output's magnitude (at least 1): summation order only.
    """
    got, want = got.detach(), want.detach()
    if not torch.allclose(got, want, rtol=1e-4, atol=1e-5 * float(want.abs().max().clamp(min=1))):
        raise RuntimeError(
            f"internal error: the written-out {what} differs from torch's by "
            f"{float((got - want).abs().max()):.3g}"
        )
