"""LRP family on zennit: the name-to-rule mapping, BatchNorm handling and the input-layer rules.

One backward pass for the whole batch: zennit hooks on every Linear/Conv (the rule chosen by the
method name, the first layer by its prefix), ``PassRule`` (zennit's ``Pass``) on activations other
than ReLU, BatchNorm merged into the Conv/Linear that feeds it (found from the data flow, not the
module order; one that cannot be merged, as in pre-activation blocks, is a layer of its own with
the z-rule, or with ``batchnorm='pass'`` passes relevance on unchanged like zennit's composites)
or, with ``batchnorm='innvestigate'``, every BatchNorm kept as a layer of its own with the z-rule
(the original SIGN package's handling).
Which module gets which hook is found once per model by a probing forward pass
(``probe_structure``); ``lrp_hooks`` applies it, like a zennit ``Composite``. The rest is handled
while the forward pass runs (:mod:`signxai.methods.lrp_graph`): average pooling (modules and
functional means) redistributes relevance in proportion to the inputs, residual additions split
it in proportion to their summands, and products of two input-dependent tensors (attention,
gating) raise an error instead of giving a wrong map (with ``attention='cp'`` attention scores
whose softmax is held constant are allowed; ``attention='attnlrp'`` gives such products the
uniform rule).
"""

from __future__ import annotations

import functools
import re
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from zennit.core import Hook
from zennit.rules import Flat, WSquare, ZBox

from signxai.errors import MethodParameterError, UnsupportedModelError, warn_user
from signxai.methods.lrp_attention import ATTENTION_MODES
from signxai.methods.lrp_graph import FUNCTIONAL_LAYERS, GATE_MODES, LRPGraphMode, refuse_custom_functions
from signxai.methods.lrp_recurrent import RECURRENT, RecurrentRule, unpacked
from signxai.methods.registry import NUMBER, Family, Param, at_least, format_number, one_of, register
from signxai.methods.reparam import plain_weights
from signxai.methods.rules import (
    ALPHA_BETA_BIAS,
    EpsilonRule,
    InnvestigateBatchNorm,
    PassRule,
    ProjectionHook,
    RelayedRule,
    SignRule,
    StdxEpsilon,
    ZRule,
    alpha_beta,
    z_plus,
)
from signxai.model import ModelView

ACTIVATIONS = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.ReLU6,
    nn.Hardtanh,
    nn.PReLU,
    nn.RReLU,  # in eval mode a leaky ReLU with the mean slope
    nn.SELU,
    nn.CELU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.LogSigmoid,
    nn.Softsign,
    nn.Threshold,
    nn.Softshrink,
    nn.Hardshrink,
    nn.Tanhshrink,
)
PASSIVE = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    # rearrangements: every output is one input sample, moved (relevance flows back to it)
    nn.PixelShuffle,
    nn.PixelUnshuffle,
    nn.ChannelShuffle,
    nn.Unfold,
    # max unpooling puts each pooled sample back where the pooling found it (zeros elsewhere)
    nn.MaxUnpool1d,
    nn.MaxUnpool2d,
    nn.MaxUnpool3d,
    nn.Fold,  # sums overlapping patches: F.fold, which the graph mode explains like a sum pooling
    nn.ZeroPad1d,
    nn.ZeroPad2d,
    nn.ZeroPad3d,
    # the other paddings copy input samples (their relevance flows back to the copied sample) or
    # add constants (whose relevance is absorbed, like a bias's)
    nn.ConstantPad1d,
    nn.ConstantPad2d,
    nn.ConstantPad3d,
    nn.ReflectionPad1d,
    nn.ReflectionPad2d,
    nn.ReflectionPad3d,
    nn.ReplicationPad1d,
    nn.ReplicationPad2d,
    nn.ReplicationPad3d,
    nn.CircularPad1d,
    nn.CircularPad2d,
    nn.CircularPad3d,
    nn.Upsample,  # F.interpolate inside, which the graph mode explains by the z-rule
    nn.GLU,  # F.glu inside: the graph mode holds its gate (gates='signal') or raises
)
#: Transposed convolutions (decoders, U-Nets): linear maps like a Conv, with the weight laid out
#: ``(in, out / groups, *kernel)``.
CONV_TRANSPOSES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, *CONV_TRANSPOSES)
#: Modules that only hold others (an empty one is the identity).
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
WEIGHTED = (nn.Linear, *CONVOLUTIONS)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
AVERAGE_POOLS = (
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
)


_EXTRA_PASSIVE: list[type[nn.Module]] = []


def register_passive(module_type: type[nn.Module]) -> None:
    """Let LRP pass through a parameter-free module type whose operations it handles.

    For modules that only rearrange or combine tensors (reshapes, sums, concatenation): the
    graph mode and autograd take care of them, so they need no rule of their own.
    """
    _EXTRA_PASSIVE.append(module_type)


# ------------------------------------------------------------------------ rules by name
@dataclass(frozen=True)
class LayerRule:
    """A rule for every Linear/Conv layer: name pattern and a factory ``(params) -> (conv, linear)``."""

    name: str
    pattern: str
    make: Callable[[Mapping[str, Any]], tuple[Hook, Hook]]
    summary: str
    example: str


def _same(hook: Hook) -> tuple[Hook, Hook]:
    return hook, hook


def _epsilon(params: Mapping[str, Any]) -> tuple[Hook, Hook]:
    if params["std_x"]:
        return _same(StdxEpsilon(params["epsilon"]))
    return _same(EpsilonRule(params["epsilon"]))


LAYER_RULES: dict[str, LayerRule] = {}
INPUT_RULES: dict[str, tuple[Callable[[Mapping[str, Any], torch.Tensor], Hook | None], str]] = {}


def register_layer_rule(rule: LayerRule) -> None:
    """Register a rule for the Linear/Conv layers (the part of the name after the prefix)."""
    LAYER_RULES[rule.name] = rule


def register_input_rule(
    prefix: str, make: Callable[[Mapping[str, Any], torch.Tensor], Hook | None], summary: str
) -> None:
    """Register an input-layer rule chosen by the name prefix (``make`` None = the layer rule)."""
    INPUT_RULES[prefix] = (make, summary)


register_layer_rule(LayerRule("z", "z", lambda p: _same(ZRule()), "z-rule (LRP-0)", "z"))
register_layer_rule(
    LayerRule(
        "epsilon",
        rf"epsilon(?:_(?P<epsilon>{NUMBER}))?(?P<std_x>_std_x)?",
        _epsilon,
        "epsilon rule, z' = z + e sign(z) (with _std_x: e times the std of each layer's input)",
        "epsilon_0_25_std_x",
    )
)
register_layer_rule(
    LayerRule(
        "alpha_beta",
        rf"alpha(?:_(?P<alpha>{NUMBER}))?_beta(?:_(?P<beta>{NUMBER}))?",
        lambda p: _same(alpha_beta(p["alpha"], p["beta"], p["alpha_beta_bias"])),
        "alpha-beta rule (alpha - beta = 1)",
        "alpha_1_beta_0",
    )
)
register_layer_rule(LayerRule("zplus", "zplus", lambda p: _same(z_plus()), "z+ rule", "zplus"))
register_layer_rule(
    LayerRule(
        "sequential_composite_a",
        "sequential_composite_a",
        lambda p: (alpha_beta(1.0, 0.0, p["alpha_beta_bias"]), EpsilonRule(0.1)),
        "epsilon 0.1 on Linear, alpha1-beta0 on Conv",
        "sequential_composite_a",
    )
)
register_layer_rule(
    LayerRule(
        "sequential_composite_b",
        "sequential_composite_b",
        lambda p: (alpha_beta(2.0, 1.0, p["alpha_beta_bias"]), EpsilonRule(0.1)),
        "epsilon 0.1 on Linear, alpha2-beta1 on Conv",
        "sequential_composite_b",
    )
)


def _bounds(params: Mapping[str, Any], x: torch.Tensor) -> tuple[Any, Any]:
    """zB bounds: the given ones, else each sample's minimum and maximum.

    The per-sample bounds have shape ``(B,)``: zennit appends singleton axes to match whatever
    the first layer receives, which need not be shaped like ``x`` (a model may flatten first).
    """
    dims = tuple(range(1, x.ndim))
    low = params["low"] if params["low"] is not None else x.amin(dim=dims)
    high = params["high"] if params["high"] is not None else x.amax(dim=dims)
    return low, high


register_input_rule("lrp", lambda p, x: None, "the same rule as the other layers")
register_input_rule("lrpsign", lambda p, x: SignRule(p["mu"]), "SIGN: z-rule denominator, sign_mu(x) * c")
register_input_rule("lrpz", lambda p, x: ZRule(), "z-rule")
# bias-free, as the w-square rule is defined (Montavon et al. 2017) and the original package has it
# (zennit's WSquare squares the bias too unless told otherwise)
register_input_rule(
    "w2lrp", lambda p, x: RelayedRule(WSquare(zero_params=["bias"])), "w-square rule (no bias)"
)
register_input_rule("flatlrp", lambda p, x: RelayedRule(Flat()), "flat rule")
register_input_rule("zblrp", lambda p, x: RelayedRule(ZBox(*_bounds(p, x))), "z-beta (bounded) rule")


# ------------------------------------------------------------------------ model structure
#: How LRP treats BatchNorm (the ``batchnorm`` parameter; the first is the default).
BATCH_NORM_MODES = ("merge", "innvestigate", "pass")


@dataclass(frozen=True)
class BatchNormSite:
    """One BatchNorm as the probing pass saw it, and why it cannot be merged (if it cannot)."""

    module: nn.Module
    name: str
    #: The Conv/Linear layers to merge it into, each with the BatchNorm's channels it produces
    #: (one layer and all channels, or the layers whose outputs a concatenation over channels
    #: joins, as in InceptionTime); empty when it cannot be merged.
    parts: list[tuple[nn.Module, slice]]
    #: Why merging is impossible (None: it can be merged into ``parts`` or ``feeds``).
    unmergeable: str | None
    #: It normalises the model's input itself.
    fed_by_input: bool
    #: It has running statistics (without, eval mode normalises by each batch's own).
    has_statistics: bool
    #: Where no Conv/Linear feeds it: the Linear (or unpadded Conv) it alone feeds, to merge it
    #: into from the input side (a classifier head's BatchNorm after pooling, xresnet1d's).
    feeds: nn.Module | None = None


@dataclass
class Structure:
    """What one probing forward pass tells about the model: input layers and BatchNorms."""

    #: The Linear/Conv layers that read the input: no Linear/Conv comes before them in the data
    #: flow (one in a plain CNN; several where parallel branches start at the input).
    first_layers: list[nn.Module]
    #: Linear/Conv layers called both on the input and on a later layer's output.
    mixed_first: list[str]
    batch_norms: list[BatchNormSite]
    bypassed: nn.Module | None
    #: Whether the forward pass has operations that ``LRPGraphMode`` must handle.
    needs_graph_mode: bool
    #: Every module that may get a hook, with its role: 'first_conv', 'first_linear', 'conv',
    #: 'linear', 'pass', 'batchnorm' (hooked only when BatchNorms are not merged),
    #: 'unmerged_batchnorm' (one that cannot be merged: the z-rule, or with ``batchnorm='pass'``
    #: relevance passes through unchanged), 'own_forward_batchnorm' (a BatchNorm subclass with a
    #: forward of its own: the z-rule through that forward) or 'relu_into_batchnorm' (a ReLU
    #: feeding such a BatchNorm: with ``'pass'`` relevance reaches the ReLU's zeros, and passes
    #: through it too).
    roles: list[tuple[nn.Module, str]]
    #: Modules called more than once in one forward pass: module -> (name, number of calls).
    repeated: dict[nn.Module, tuple[str, int]]
    #: Recurrent layers (LSTM, GRU) that read the input, by name.
    recurrent_first: list[str]
    #: Whether attention or a normalisation held constant (``attention='cp'``) reads the input
    #: with no Linear/Conv layer before it.
    held_first: bool = False
    #: Linear/Conv layers whose own ``forward`` computes the weight they use: module -> name.
    computed_weights: dict[nn.Module, str] = field(default_factory=dict)


def _roles(
    model: nn.Module,
    first_layers: list[nn.Module],
    bypassed: nn.Module | None,
    recurrent: list[nn.Module],
    special: Mapping[int, str],
) -> list[tuple[nn.Module, str]]:
    """Each module's role; ``special``: module id -> role for BatchNorms that cannot be merged and
    the ReLUs feeding them."""
    roles: list[tuple[nn.Module, str]] = []
    first = set(map(id, first_layers))
    called = set(map(id, recurrent))
    for module in model.modules():
        if module is bypassed:
            continue
        if id(module) in special:
            roles.append((module, special[id(module)]))
        elif isinstance(module, RECURRENT):
            if id(module) in called:  # an unused one needs no rule
                roles.append((module, "recurrent"))
        elif id(module) in first:
            roles.append((module, "first_linear" if isinstance(module, nn.Linear) else "first_conv"))
        elif isinstance(module, CONVOLUTIONS):
            roles.append((module, "conv"))
        elif isinstance(module, nn.Linear):
            roles.append((module, "linear"))
        elif isinstance(module, ACTIVATIONS) and not isinstance(module, nn.ReLU):
            # ReLU needs no hook: its gradient is exact, where it masks the next input is 0
            roles.append((module, "pass"))
        elif isinstance(module, BATCH_NORMS):
            roles.append((module, "batchnorm"))
    return roles


_STRUCTURES: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[Any, ...], Structure]] = (
    weakref.WeakKeyDictionary()
)


#: The forward methods of torch's own Linear/Conv layers (a subclass with another one may compute
#: the weight it uses, e.g. weight standardisation).
_OWN_FORWARDS = {cls.forward for cls in WEIGHTED}
#: The forward methods of torch's own BatchNorms (one of them for every subclass that keeps it).
_OWN_BATCH_NORM_FORWARDS = {cls.forward for cls in BATCH_NORMS}


class _WeightsUsed(TorchFunctionMode):
    """Records the weight tensors that Linear/Conv functions are called with."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: list[torch.Tensor] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in FUNCTIONAL_LAYERS:  # torch's layers compute with these; the weight comes second
            weight = kwargs.get("weight", args[1] if len(args) > 1 else None)
            if isinstance(weight, torch.Tensor):
                self.weights.append(weight)
        return func(*args, **kwargs)


def _computes_its_weight(module: nn.Module, inputs: Sequence[torch.Tensor]) -> bool:
    """Whether a Linear/Conv subclass with a ``forward`` of its own computes with a weight other
    than its ``weight`` parameter (weight standardisation, a scaled or masked weight): rules that
    change the parameters (alpha-beta, z+, flat, w-square, z-beta) would change them before that
    computation. Torch's own forwards use the parameter itself."""
    if type(module).forward in _OWN_FORWARDS:
        return False
    own: Any = getattr(module, "weight", None)
    with torch.no_grad():
        for tensor in inputs:
            with _WeightsUsed() as watch:
                module.forward(tensor.detach())  # not through __call__: no hooks of the user's
            if not any(weight is own for weight in watch.weights):
                return True
    return False


#: Modules that ``attention='cp'`` or ``'attnlrp'`` explains.
HELD_MODULES = (nn.MultiheadAttention, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)
#: Explained by the graph mode in every mode: with running statistics an affine map (the z-rule),
#: by each sample's own statistics held under ``attention='cp'``/``'attnlrp'`` (else an error).
INSTANCE_NORMS = (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)


def _unsupported(
    model: nn.Module,
    bypassed: nn.Module | None,
    called: set[int],
    attention: str = "error",
    weights_used: set[int] | frozenset[int] = frozenset(),
) -> list[str]:
    """Modules without an LRP rule; ``called``: the ids of the leaf modules whose output depended on
    the input in the probe (one that only computes constants, e.g. an ``nn.Embedding`` of
    positions, needs no rule).

    A module of the user's with parameters of its own (a learned class token, a positional
    embedding, a scale) is explained through the operations its ``forward`` runs, unless it uses
    a parameter as the weights of a product (``weights_used``): a layer written by hand, whose
    rule LRP cannot choose.
    """
    held = HELD_MODULES if attention != "error" else ()
    found = []
    for name, module in model.named_modules():
        if module is bypassed or isinstance(module, CONTAINERS):
            continue
        is_leaf = not any(True for _ in module.children())
        if is_leaf and id(module) not in called:
            continue  # not on the signal's path (an unused head, a positional lookup, an empty Sequential)
        supported = isinstance(
            module,
            (
                *WEIGHTED,
                *RECURRENT,
                *ACTIVATIONS,
                *PASSIVE,
                *AVERAGE_POOLS,
                *BATCH_NORMS,
                *INSTANCE_NORMS,
                *_EXTRA_PASSIVE,
                *held,
            ),
        ) and (attention != "error" or not isinstance(module, nn.MultiheadAttention))
        own = [p for p in module._parameters.values() if p is not None]
        # a module of the user's (e.g. a TCN's Chomp1d slicing its input, a ViT's class token) is
        # explained through the operations its forward runs, as the same code in a parent would be
        users = not type(module).__module__.startswith("torch.")
        weights = any(id(p) in weights_used for p in own)
        if (is_leaf or own) and not supported and (not users or weights):
            why = ", its own parameters used as the weights of a layer written by hand" if weights else ""
            found.append(f"'{name or '<root>'}' ({type(module).__name__}{why})")
    return found


def _uses(root: Any) -> dict[Any, int]:
    """How many autograd nodes of the graph below ``root`` take each node's output."""
    uses: dict[Any, int] = {}
    stack, seen = [root], {root}
    while stack:
        node = stack.pop()
        for child, _ in getattr(node, "next_functions", ()):
            if child is None:
                continue
            uses[child] = uses.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return uses


def _downstream(roots: list[Any], marked: set[Any]) -> dict[Any, bool]:
    """For every autograd node below ``roots``: whether a ``marked`` node is at or below it."""
    found: dict[Any, bool] = {}
    for root in roots:
        if root is None or root in found:
            continue
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node in found:
                continue
            children = [c for c, _ in getattr(node, "next_functions", ()) if c is not None]
            if not expanded:
                stack.append((node, True))
                stack.extend((c, False) for c in children if c not in found)
            else:
                found[node] = node in marked or any(found.get(c, False) for c in children)
    return found


def _leaves(value: Any) -> list[Any]:
    """The values inside nested tuples, lists and dicts (a packed sequence as its data)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)) and not isinstance(value, nn.utils.rnn.PackedSequence):
        return [leaf for item in value for leaf in _leaves(item)]
    return [unpacked(value)]


def probe_structure(
    view: ModelView, x: torch.Tensor, gates: str = "error", attention: str = "error"
) -> Structure:
    """Run the model once on one sample to find the input layers and what feeds each BatchNorm.

    ``gates`` and ``attention`` are the graph mode's handling of gates and of attention and
    normalisation (:class:`LRPGraphMode`).

    Raises
    ------
    UnsupportedModelError
        Modules without an LRP rule, or no Linear/Conv layer.
    """
    model = view.model
    signature = (attention, *map(id, view.modules or model.modules()))
    cached = _STRUCTURES.get(model)
    if cached is not None and cached[0] == signature:
        return cached[1]
    names = {id(m): n for n, m in model.named_modules()}
    order: list[nn.Module] = []
    producers: dict[int, nn.Module] = {}
    keep: list[torch.Tensor] = []
    batch_norm_inputs: dict[int, nn.Module | None] = {}
    batch_norm_producers: dict[int, list[int]] = {}  # every call's producer (id; 0: none)
    batch_norm_nodes: dict[int, Any] = {}  # the autograd node of each BatchNorm's input
    batch_norm_outputs: dict[int, tuple[Any, tuple[int, ...]]] = {}  # its output's node and shape
    weighted_at: dict[Any, tuple[nn.Module, int, int]] = {}  # Linear/Conv output: layer, channels, rank
    fed_by_input: set[int] = set()  # BatchNorms applied to the model's input itself
    on_signal: set[int] = set()  # leaf modules whose output depends on the input
    probe = x[:1].detach().requires_grad_(True)
    nodes: dict[int, Any] = {}  # module -> the autograd node of its output
    every_node: dict[int, list[Any]] = {}  # module -> those of every call
    weighted_outputs: set[Any] = set()  # the autograd nodes of every Linear/Conv call's output
    weighted_inputs: list[tuple[nn.Module, torch.Tensor]] = []  # every Linear/Conv call's input

    def after(module: nn.Module, inputs: Any, output: Any) -> None:
        order.append(module)
        if any(isinstance(t, torch.Tensor) and t.requires_grad for t in _leaves(output)):
            on_signal.add(id(module))
        if isinstance(output, torch.Tensor) and not (inputs and output is inputs[0]):  # not Identity
            producers[id(output)] = module
            nodes[id(module)] = output.grad_fn
            every_node.setdefault(id(module), []).append(output.grad_fn)
            keep.append(output)
            if isinstance(module, BATCH_NORMS):
                batch_norm_outputs[id(module)] = (output.grad_fn, tuple(output.shape))
            if isinstance(module, WEIGHTED):
                weighted_outputs.add(output.grad_fn)
                weighted_at[output.grad_fn] = (module, output.shape[1] if output.ndim > 1 else 0, output.ndim)
        if isinstance(module, RECURRENT):  # (output, state): every tensor is the layer's output
            flat = [unpacked(output[0]), *(output[1] if isinstance(output[1], tuple) else (output[1],))]
            weighted_outputs.update(t.grad_fn for t in flat if t.grad_fn is not None)

    def before(module: nn.Module, inputs: Any) -> None:
        first = unpacked(inputs[0]) if inputs else None
        if isinstance(module, (*WEIGHTED, *RECURRENT)) and isinstance(first, torch.Tensor):
            weighted_inputs.append((module, first))
        if isinstance(module, BATCH_NORMS) and inputs:
            batch_norm_inputs[id(module)] = producers.get(id(inputs[0]))
            batch_norm_producers.setdefault(id(module), []).append(id(producers.get(id(inputs[0]), 0)))
            batch_norm_nodes[id(module)] = getattr(inputs[0], "grad_fn", None)
            if inputs[0] is probe:
                fed_by_input.add(id(module))

    handles = []
    try:
        for module in model.modules():
            if not any(True for _ in module.children()):
                handles.append(module.register_forward_pre_hook(before))
                handles.append(module.register_forward_hook(after))
        with LRPGraphMode(WEIGHTED, gates, attention, watch_parameters=True) as graph:
            logits = view.forward(probe)
    finally:
        for handle in handles:
            handle.remove()
    refuse_custom_functions(logits.grad_fn, "LRP")
    uses = _uses(logits.grad_fn)
    below_held = _downstream([t.grad_fn for t in graph.held_inputs], weighted_outputs)
    held_first = any(not below_held.get(t.grad_fn, False) for t in graph.held_inputs)
    unsupported = _unsupported(model, view.bypassed, on_signal, attention, graph.weights_used)
    if unsupported:
        held = [name for name, m in model.named_modules() if isinstance(m, HELD_MODULES)]
        hint = (
            "; attention and LayerNorm/GroupNorm/InstanceNorm are explained with attention='cp' "
            "(conservative propagation, Ali et al. 2022) or attention='attnlrp' (AttnLRP, Achtibat "
            "et al. 2024)"
            if held and attention == "error"
            else ""
        )
        final = type(logits.grad_fn).__name__
        if view.explain_output == "activation" and final in ("SoftmaxBackward0", "LogSoftmaxBackward0"):
            hint += (
                "; a final softmax is kept because explain_output='activation': LRP starts from "
                "the logits (explain_output='logit', the default)"
            )
        raise UnsupportedModelError(
            "LRP has no rule for these modules: "
            + ", ".join(unsupported)
            + " (supported: Linear, Conv, BatchNorm after Conv/Linear, activations, pooling, "
            f"dropout, flatten, padding, modules of your own whose parameters are no layer weights: "
            f"tokens, embeddings, scales; write a layer by hand as nn.Linear/nn.Conv){hint}"
        )
    weighted = [m for m in order if isinstance(m, WEIGHTED)]
    if not weighted:
        raise UnsupportedModelError("LRP needs at least one Linear or Conv layer in the model")
    below = _downstream([t.grad_fn for _, t in weighted_inputs], weighted_outputs)
    reads_input: dict[int, list[bool]] = {}
    for module, tensor in weighted_inputs:
        reads_input.setdefault(id(module), []).append(not below.get(tensor.grad_fn, False))
    first_layers: list[nn.Module] = [
        m for m in dict.fromkeys(weighted) if all(reads_input.get(id(m), [False]))
    ]
    mixed = [names[id(m)] for m in dict.fromkeys(weighted) if len(set(reads_input.get(id(m), []))) > 1]
    recurrent: list[nn.Module] = [m for m in dict.fromkeys(order) if isinstance(m, RECURRENT)]
    recurrent_first = [names[id(m)] for m in recurrent if any(reads_input.get(id(m), [False]))]
    sites: list[BatchNormSite] = []
    calls = Counter(order)
    # how many modules hold each parameter: a merge rewrites a layer's weight, so a weight tied
    # to another layer's would change that layer too
    holders = Counter(id(p) for m in model.modules() for p in m._parameters.values() if p is not None)

    def tied(layer: nn.Module) -> bool:
        return any(holders[id(p)] > 1 for p in layer._parameters.values() if p is not None)

    special: dict[int, str] = {}  # roles of unmergeable BatchNorms and the ReLUs feeding them
    merged_into: set[int] = set()
    fed_merged: set[int] = set()  # layers that take a BatchNorm on their input side
    for module in dict.fromkeys(order):
        if not isinstance(module, BATCH_NORMS):
            continue
        producer = batch_norm_inputs.get(id(module))
        name = names[id(module)]
        problem = None
        parts: list[tuple[nn.Module, slice]] = []
        joined = _concatenated_layers(batch_norm_nodes.get(id(module)), weighted_at, uses)
        own_forward = type(module).forward not in _OWN_BATCH_NORM_FORWARDS
        shared = len(set(batch_norm_producers.get(id(module), ()))) > 1  # after different layers
        if own_forward:
            problem = (
                f"it is a {type(module).__name__} with a forward of its own (which may move the "
                "channels to another axis), so its channels cannot be matched to a layer's"
            )
        elif shared:
            problem = (
                "it is called more than once, after different layers, and merging it into one "
                "would change the others"
            )
        elif id(module) in fed_by_input:
            problem = "it normalises the model's input, where no Conv/Linear layer comes before it"
        elif joined is not None and (
            calls[module] > 1 or any(calls[layer] > 1 or tied(layer) for layer, _ in joined)
        ):
            problem = (
                "it normalises a concatenation of layers of which one is called more than once or "
                "shares its weight with another layer (or it is called more than once itself); "
                "merging would change the others"
            )
        elif joined is not None:
            parts = joined
        elif not isinstance(producer, WEIGHTED):
            source = (
                f"'{names[id(producer)]}' ({type(producer).__name__})"
                if producer is not None
                else "an operation that is not a module (e.g. an addition)"
            )
            problem = f"it is fed by {source}, not by a Conv/Linear layer (e.g. a pre-activation block)"
        elif weighted_at.get(nodes.get(id(producer)), (None, 0, 2))[2] != 2 and isinstance(
            producer, nn.Linear
        ):
            problem = (
                f"'{names[id(producer)]}' (Linear) acts on the last axis of its input, the "
                "BatchNorm on axis 1"
            )
        elif tied(producer):
            problem = (
                f"'{names[id(producer)]}' shares its weight with another layer (tied weights), "
                "which merging would change too"
            )
        elif calls[producer] != len(batch_norm_producers[id(module)]):
            problem = (
                f"'{names[id(producer)]}' is called {calls[producer]} times and the BatchNorm follows "
                f"only {len(batch_norm_producers[id(module)])} of them; merging would change the others"
            )
        elif any(uses.get(node, 0) > 1 for node in every_node.get(id(producer), [])):
            problem = (
                f"the output of '{names[id(producer)]}' also feeds another operation, which merging "
                "would change"
            )
        else:
            parts = [(producer, slice(None))]
        if any(id(layer) in merged_into for layer, _ in parts):
            problem, parts = "its Conv/Linear layer already takes another BatchNorm", []
        merged_into.update(id(layer) for layer, _ in parts)
        feeds = None
        if problem is not None and not own_forward and calls[module] == 1:
            node, shape = batch_norm_outputs.get(id(module), (None, ()))
            feeds = _fed_layer(node, shape, weighted_inputs, uses)
            if feeds is not None and id(feeds) not in fed_merged and not tied(feeds):
                fed_merged.add(id(feeds))
                problem = None
            else:
                feeds = None
        if problem is not None:
            special[id(module)] = "own_forward_batchnorm" if own_forward else "unmerged_batchnorm"
            if type(producer) is nn.ReLU:
                special[id(producer)] = "relu_into_batchnorm"
        sites.append(
            BatchNormSite(
                module=module,
                name=name,
                parts=parts,
                unmergeable=problem,
                fed_by_input=id(module) in fed_by_input,
                has_statistics=getattr(module, "running_var", None) is not None
                and getattr(module, "running_mean", None) is not None,
                feeds=feeds,
            )
        )
    structure = Structure(
        first_layers=first_layers,
        mixed_first=mixed,
        batch_norms=sites,
        bypassed=view.bypassed,
        # the bypassed output activation is one handled call that the real pass never reaches
        needs_graph_mode=graph.handled > (view.bypassed is not None),
        roles=_roles(model, first_layers, view.bypassed, recurrent, special),
        repeated={m: (names[id(m)], n) for m, n in Counter(order).items() if n > 1},
        recurrent_first=recurrent_first,
        held_first=held_first,
        computed_weights={
            module: names[id(module)]
            for module in dict.fromkeys(weighted)
            if _computes_its_weight(module, [t for m, t in weighted_inputs if m is module])
        },
    )
    _STRUCTURES[model] = (signature, structure)
    return structure


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _concatenated_layers(
    node: Any, weighted_at: Mapping[Any, tuple[nn.Module, int, int]], uses: Mapping[Any, int]
) -> list[tuple[nn.Module, slice]] | None:
    """Where a BatchNorm's input is a concatenation over channels of Linear/Conv outputs that
    nothing else reads (InceptionTime's branches), each layer with the channels it gives; else
    None."""
    if node is None or node.name() != "CatBackward0" or uses.get(node, 0) != 1:
        return None
    parts: list[tuple[nn.Module, slice]] = []
    start = 0
    for source, _ in node.next_functions:
        if source not in weighted_at or uses.get(source, 0) != 1:
            return None
        layer, channels, rank = weighted_at[source]
        if node._saved_dim % rank != 1:  # joined along another axis than the channels
            return None
        if isinstance(layer, nn.Linear) and rank != 2:  # its features are the last axis, not axis 1
            return None
        parts.append((layer, slice(start, start + channels)))
        start += channels
    layers = {id(layer) for layer, _ in parts}
    return parts if len(layers) == len(parts) else None


#: Autograd nodes that only give a tensor another shape or name (a Flatten of a flat tensor, a view).
_SHAPE_NODES = {"ViewBackward0", "ReshapeAliasBackward0", "UnsafeViewBackward0", "AliasBackward0"}


def _fed_layer(
    node: Any,
    shape: tuple[int, ...],
    weighted_inputs: Sequence[tuple[nn.Module, torch.Tensor]],
    uses: Mapping[Any, int],
) -> nn.Module | None:
    """The layer a BatchNorm output (autograd ``node`` of ``shape``) alone feeds, where merging
    the BatchNorm into that layer's input side is exact: a Linear on ``(B, features)`` or a Conv
    without padding (padding would pad the normalised signal with zeros, not the raw one), called
    once, reading the BatchNorm's output directly (through dropout or a flatten of a flat tensor)."""
    if node is None or uses.get(node, 0) != 1:
        return None
    calls = Counter(id(module) for module, _ in weighted_inputs)
    for module, tensor in weighted_inputs:
        if tuple(tensor.shape) != shape or calls[id(module)] != 1:
            continue
        step = tensor.grad_fn
        while step is not None and step is not node and step.name() in _SHAPE_NODES:
            step = step.next_functions[0][0]
        if step is not node:
            continue
        if isinstance(module, nn.Linear) and len(shape) == 2:
            return module
        padding = getattr(module, "padding", None)
        unpadded = padding == "valid" or (isinstance(padding, tuple) and not any(padding))
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and unpadded:
            return module
    return None


def merge_batch_norm_forward(batch_norm: nn.Module, layer: nn.Module) -> Callable[[], None]:
    """Merge ``batch_norm`` into the Linear/unpadded Conv ``layer`` it feeds; return the undo.

    With the BatchNorm's ``y = s * x + t`` per channel (``s = gamma / sqrt(var + eps)``,
    ``t = beta - mean * s``), the layer's weight becomes ``w * s`` along its input channels and
    its bias ``b + sum(w * t)``: the same function of ``x``. Under the epsilon and z rules the
    layer then distributes ``x``'s share ``w * s * x`` of each output, which equals the z-rule on
    the BatchNorm followed by the layer's rule. The BatchNorm's forward becomes the identity; the
    undo puts the layer's tensors back.
    """
    target: Any = layer
    norm: Any = batch_norm
    weight, bias = target.weight, target.bias
    with torch.no_grad():
        scale = torch.rsqrt(norm.running_var + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight
        shift = -norm.running_mean * scale
        if norm.bias is not None:
            shift = shift + norm.bias
        groups = getattr(target, "groups", 1)
        out = weight.shape[0]
        # the input channel each weight of output o reads: group (o // (out / groups)), then j
        per_weight = (weight.shape[0], weight.shape[1], *([1] * (weight.ndim - 2)))
        scales = scale.view(groups, 1, -1).expand(groups, out // groups, -1).reshape(per_weight)
        shifts = shift.view(groups, 1, -1).expand(groups, out // groups, -1).reshape(per_weight)
        added = (weight * shifts).flatten(1).sum(dim=1)
        return _merged(target, norm, weight * scales, added if bias is None else bias + added)


def merge_batch_norm(
    linear: nn.Module, batch_norm: nn.Module, channels: slice = slice(None)
) -> Callable[[], None]:
    """Merge ``batch_norm`` (its ``channels``) into the Conv/Linear ``linear`` that feeds them;
    return the undo.

    As zennit's ``MergeBatchNorm``, the layer's weight and bias become
    ``w * s`` and ``(b - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)``; unlike it, the
    BatchNorm's own parameters stay untouched and its ``forward`` becomes the identity (an
    instance attribute, deleted by the undo), so the forward pass is exact and costs nothing
    there. The undo puts the layer's original tensors back (bitwise the same model).
    """
    layer: Any = linear  # nn.Module attributes are typed Tensor | Module
    norm: Any = batch_norm
    bias = layer.bias
    with torch.no_grad():
        scale = torch.rsqrt(norm.running_var[channels] + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight[channels]
        mean = norm.running_mean[channels]
        shift = -mean if bias is None else bias - mean
        merged_bias = shift * scale
        if norm.bias is not None:
            merged_bias = merged_bias + norm.bias[channels]
        return _merged(layer, norm, _scaled_per_output(layer, scale), merged_bias)


def _merged(layer: Any, norm: Any, weight: torch.Tensor, bias: torch.Tensor) -> Callable[[], None]:
    """Give ``layer`` the merged ``weight`` and ``bias`` and make ``norm``'s forward the
    identity (an instance attribute); return the undo, which puts the layer's own tensors back."""
    saved = (layer.weight.data, None if layer.bias is None else layer.bias.data)
    layer.weight.data = weight
    if layer.bias is None:
        layer.bias = nn.Parameter(bias, requires_grad=False)
    else:
        layer.bias.data = bias
    norm.forward = _identity

    def undo() -> None:
        layer.weight.data = saved[0]
        if saved[1] is None:
            layer.bias = None
        else:
            layer.bias.data = saved[1]
        if "forward" in vars(norm):
            del norm.forward

    return undo


def _scaled_per_output(layer: Any, scale: torch.Tensor) -> torch.Tensor:
    """The layer's weight with each output channel's weights multiplied by its ``scale``."""
    weight = layer.weight
    if isinstance(layer, CONV_TRANSPOSES):  # (in, out / groups, *kernel), groups along ``in``
        groups = layer.groups
        grouped = weight.view(groups, weight.shape[0] // groups, *weight.shape[1:])
        per_output = scale.view(groups, 1, weight.shape[1], *([1] * (weight.ndim - 2)))
        return (grouped * per_output).view_as(weight)
    return weight * scale.view(-1, *([1] * (weight.ndim - 1)))


def batch_norm_plan(
    structure: Structure, mode: str, input_rule: str
) -> list[Callable[[], Callable[[], None]]]:
    """The merges to make (``mode`` ``'merge'`` or ``'pass'``), each a call that merges and
    returns its undo: every BatchNorm into the Conv/Linear that feeds it (its channels), or, where
    none does, into the Linear/unpadded Conv it feeds; none for ``'innvestigate'``.

    A BatchNorm that cannot be merged stays a layer of its own (role ``'unmerged_batchnorm'``):
    under ``'merge'`` with the z-rule, as every BatchNorm under ``'innvestigate'``, and a warning
    naming it; under ``'pass'`` relevance passes through it unchanged, as through an activation
    (zennit's composites give ``BatchNorm`` its ``Pass`` rule).

    Raises
    ------
    UnsupportedModelError
        A BatchNorm without running statistics; one kept as a layer (not merged) on the model's
        input under an input-layer rule other than ``lrp_`` (that rule would act on the normalised
        signal, not on ``x``).
    """
    for site in structure.batch_norms:
        if not site.has_statistics:
            raise UnsupportedModelError(
                f"BatchNorm '{site.name}' has no running statistics (track_running_stats=False): "
                "it normalises every batch by that batch's own statistics, so each sample's "
                "explanation would depend on the others; LRP cannot handle it"
            )
    kept = [site for site in structure.batch_norms if mode == "innvestigate" or site.unmergeable is not None]
    for site in kept:
        if site.fed_by_input and input_rule != "lrp":
            raise UnsupportedModelError(
                f"BatchNorm '{site.name}' normalises the model's input, so the first Conv/Linear "
                f"sees the normalised signal, not x; the {input_rule}_ input-layer rule would act "
                "on that (use an lrp_ method, or normalise the data before the model)"
            )
    if mode == "innvestigate":
        return []
    if kept and mode == "merge":
        named = "; ".join(
            f"BatchNorm '{site.name}' cannot be merged: {site.unmergeable}" for site in kept[:5]
        )
        more = f"; {len(kept) - 5} more BatchNorms cannot be merged" if len(kept) > 5 else ""
        warn_user(
            f"LRP: {named}{more}. "
            + ("It stays a layer of its own" if len(kept) == 1 else "They stay layers of their own")
            + " with the z-rule, as every BatchNorm with batchnorm='innvestigate' (the "
            "original SIGN package); batchnorm='pass' passes relevance through unchanged instead, as "
            "zennit's composites do"
        )
    merges: list[Callable[[], Callable[[], None]]] = [
        functools.partial(merge_batch_norm, layer, site.module, channels)
        for site in structure.batch_norms
        for layer, channels in site.parts
    ]
    merges += [
        functools.partial(merge_batch_norm_forward, site.module, site.feeds)
        for site in structure.batch_norms
        if site.feeds is not None
    ]
    return merges


@contextmanager
def lrp_hooks(
    model: nn.Module,
    structure: Structure,
    rules: Mapping[str, Hook | None],
    merge: list[Callable[[], Callable[[], None]]],
) -> Iterator[nn.Module]:
    """The ``merge`` steps made and a copy of ``rules[role]`` on every module of ``structure.roles``.

    Everything is undone on exit, also after an error: hooks removed, merges reverted.
    (zennit's ``Composite`` does the same by walking every module and calling a module map on
    each call; the roles are found once per model here.)
    """
    for module, role in structure.roles:
        template = rules[role]
        per_call = isinstance(template, (ProjectionHook, PassRule, RecurrentRule, RelayedRule))
        if module in structure.repeated and template is not None and not per_call:
            name, calls = structure.repeated[module]
            raise UnsupportedModelError(
                f"module '{name}' is called {calls} times in one forward pass; its rule "
                f"({type(template).__name__}, a zennit hook) keeps one state per module, so it cannot "
                "explain a module used more than once (wrap it in rules.RelayedRule, as every "
                "built-in rule is, to explain each call)"
            )
    undo: list[Callable[[], None]] = []
    try:
        for merged in merge:
            undo.append(merged())
        for module, role in structure.roles:
            template = rules[role]
            if template is not None:
                undo.append(template.copy().register(module).remove)
        yield model
    finally:
        for step in reversed(undo):
            step()


_RULE_NAMES = {"AlphaBetaRule": "alpha-beta", "WSquare": "w-square", "Flat": "flat", "ZBox": "z-beta"}


def _rule_name(rule: Any) -> str:
    """A rule's name for an error message: the alpha-beta rule, or the zennit rule relayed."""
    inner = getattr(rule, "rule", None)
    kind = type(inner if inner is not None else rule).__name__
    return f"{_RULE_NAMES.get(kind, kind)} rule"


# ------------------------------------------------------------------------ the family
def lrp(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
    """Layer-wise relevance propagation from R = z at the target, in one backward pass."""
    view.require_hooks("LRP")
    with plain_weights(view.model):
        return _lrp(view, x, target, params)


def _lrp(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
    structure = probe_structure(view, x, params["gates"], params["attention"])
    merge = batch_norm_plan(structure, params["batchnorm"], params["input_rule"])
    conv_hook, linear_hook = LAYER_RULES[params["rule"]].make(params)
    first_hook = INPUT_RULES[params["input_rule"]][0](params, x)
    if first_hook is not None and structure.mixed_first:
        raise UnsupportedModelError(
            f"layer '{structure.mixed_first[0]}' is called both on the input and on a later layer's "
            f"output, so the {params['input_rule']}_ input-layer rule cannot be given to it alone "
            "(use an lrp_ method)"
        )
    if first_hook is not None and structure.held_first:
        raise UnsupportedModelError(
            f"attention or a Layer/Group/InstanceNorm reads the model's input, where the "
            f"{params['input_rule']}_ input-layer rule has no Linear/Conv layer to apply to (e.g. a "
            "patch embedding); use an lrp_ method"
        )
    rules = {
        "recurrent": _recurrent_rule(structure, linear_hook, first_hook, params),
        "first_conv": first_hook if first_hook is not None else conv_hook,
        "first_linear": first_hook if first_hook is not None else linear_hook,
        "conv": conv_hook,
        "linear": linear_hook,
        "pass": PassRule(),
        # merged BatchNorms are the identity; with 'innvestigate' every one is a z-rule layer, else
        # one that cannot be merged is ('merge'), or passes relevance on unchanged ('pass',
        # zennit's Pass)
        "batchnorm": None if params["batchnorm"] != "innvestigate" else InnvestigateBatchNorm(),
        "unmerged_batchnorm": PassRule() if params["batchnorm"] == "pass" else InnvestigateBatchNorm(),
        # a BatchNorm subclass with a forward of its own (a transpose around it): the z-rule
        # through that forward (iNNvestigate's form needs the channel axis)
        "own_forward_batchnorm": PassRule() if params["batchnorm"] == "pass" else ZRule(),
        # a ReLU needs no hook (where it outputs 0, the next layer gives no relevance) unless it
        # feeds a BatchNorm that passes relevance on: then relevance reaches its zeros too, and
        # passes through as zennit's Pass rule does
        "relu_into_batchnorm": PassRule() if params["batchnorm"] == "pass" else None,
    }
    for module, role in structure.roles:
        if module in structure.computed_weights and isinstance(rules[role], RelayedRule):
            name = structure.computed_weights[module]
            raise UnsupportedModelError(
                f"layer '{name}' ({type(module).__name__}) computes the weight it uses in its own "
                f"forward (e.g. weight standardisation); the {_rule_name(rules[role])} changes the "
                "layer's parameters, before that computation, so its map would be wrong. Use rules "
                "that act on the layer's output there: the z or epsilon rule (lrp_z, lrp_epsilon_*) "
                "and the lrp_, lrpsign_ or lrpz_ input-layer rules; or give the layer its computed "
                "weight as a parameter"
            )
    with lrp_hooks(view.model, structure, rules, merge):
        inputs = x.detach().requires_grad_(True)
        if structure.needs_graph_mode:
            with LRPGraphMode(WEIGHTED, params["gates"], params["attention"]) as graph:
                logits = view.forward(inputs)
            graph.check(view.bypassed)
        else:
            logits = view.forward(inputs)
        if not logits.requires_grad:
            raise UnsupportedModelError(
                "LRP: the explained output does not depend on the input once attention weights are "
                "held constant (a softmax inside the model feeds it directly?); the model's final "
                "softmax must be an nn.Softmax module so that its logits are explained"
            )
        weights = view.target_weights(target, logits)
        (relevance,) = torch.autograd.grad(logits, inputs, grad_outputs=weights * logits.detach())
    return relevance


def _recurrent_rule(
    structure: Structure, linear_hook: Hook, first_hook: Hook | None, params: Mapping[str, Any]
) -> RecurrentRule | None:
    """The LRP recurrence for the model's LSTM/GRU/RNN layers (None without any).

    Raises
    ------
    UnsupportedModelError
        The Linear layers' rule is neither the z nor the epsilon rule (Arras et al. define LRP
        through the recurrence with those), or a recurrent layer reads the input under an
        input-layer rule other than ``lrp_``.
    """
    if not any(role == "recurrent" for _, role in structure.roles):
        return None
    if type(linear_hook) not in (ZRule, EpsilonRule):
        raise UnsupportedModelError(
            "LRP through LSTM/GRU/RNN layers takes the z or epsilon rule on the Linear layers "
            f"(Arras et al. 2017); '{params['rule']}'"
            + (" with std_x" if params.get("std_x") else "")
            + " gives them another"
        )
    if structure.recurrent_first and first_hook is not None:
        raise UnsupportedModelError(
            f"recurrent layer '{structure.recurrent_first[0]}' reads the input; the "
            f"{params['input_rule']}_ input-layer rule is not defined for it (use an lrp_ method)"
        )
    assert isinstance(linear_hook, ProjectionHook)
    return RecurrentRule(linear_hook.denominator)


def _finish(params: dict[str, Any], method_name: str) -> dict[str, Any]:
    text = params["rule"]
    rule = next(
        (name for name, r in LAYER_RULES.items() if text == name or re.fullmatch(r.pattern, text)),
        None,
    )
    if rule is None:
        raise MethodParameterError(
            f"'{method_name}': unknown LRP rule {text!r}; rules: {', '.join(LAYER_RULES)}"
        )
    if params["input_rule"] not in INPUT_RULES:
        raise MethodParameterError(
            f"'{method_name}': unknown input rule {params['input_rule']!r}; prefixes: "
            f"{', '.join(INPUT_RULES)}"
        )
    params = {**params, "rule": rule}
    if rule == "alpha_beta" and (params["alpha"] is None or params["beta"] is None):
        raise MethodParameterError(f"'{method_name}': the alpha-beta rule needs alpha= and beta=")
    if rule == "alpha_beta" and abs(params["alpha"] - params["beta"] - 1.0) > 1e-9:
        raise MethodParameterError(
            f"'{method_name}': alpha - beta must be 1, got alpha={params['alpha']:g}, beta={params['beta']:g}"
        )
    if params["mu"] != 0.0 and params["input_rule"] != "lrpsign":
        raise MethodParameterError(f"'{method_name}': mu (SIGN-mu) only applies to the lrpsign_ input rule")
    if params["alpha_beta_bias"] != "split" and rule not in _ALPHA_BETA_RULES:
        raise MethodParameterError(
            f"'{method_name}': alpha_beta_bias only applies to rules with alpha-beta layers "
            f"({', '.join(_ALPHA_BETA_RULES)})"
        )
    if params["input_rule"] != "zblrp" and (params["low"] is not None or params["high"] is not None):
        raise MethodParameterError(f"'{method_name}': low/high only apply to the zblrp_ input rule")
    if rule != "epsilon" and (params["epsilon"] is not None or params["std_x"]):
        raise MethodParameterError(f"'{method_name}': epsilon/std_x only apply to epsilon rules")
    if rule == "epsilon" and params["epsilon"] is None:
        raise MethodParameterError(f"'{method_name}': the epsilon rule needs epsilon=")
    return params


_ALPHA_BETA_RULES = ("alpha_beta", "sequential_composite_a", "sequential_composite_b")


def _write(params: Mapping[str, Any]) -> str:
    rule = params["rule"]
    if rule == "epsilon":
        body = f"epsilon_{format_number(params['epsilon'])}" + ("_std_x" if params["std_x"] else "")
    elif rule == "alpha_beta":
        body = f"alpha_{format_number(params['alpha'])}_beta_{format_number(params['beta'])}"
    else:
        body = rule
    mu = f"_mu_{format_number(params['mu'])}" if params["mu"] != 0.0 else ""
    return f"{params['input_rule']}_{body}{mu}"


_PREFIXES = "|".join(sorted(INPUT_RULES, key=len, reverse=True))
_RULES = "|".join(rule.pattern for rule in LAYER_RULES.values())


register(
    Family(
        name="lrp",
        pattern=rf"(?P<input_rule>{_PREFIXES})_(?P<rule>{_RULES})(?:_mu_(?P<mu>{NUMBER}))?",
        compute=lrp,
        params=(
            Param("input_rule", str, "lrp", "first-layer rule: " + ", ".join(INPUT_RULES), in_name=True),
            Param("rule", str, None, "rule on the Linear/Conv layers", in_name=True),
            Param("epsilon", float, None, "epsilon of the epsilon rule", in_name=True, check=at_least(0.0)),
            Param("std_x", bool, False, "epsilon times the std of each layer's input", in_name=True),
            Param("alpha", float, None, "alpha of the alpha-beta rule", in_name=True),
            Param("beta", float, None, "beta of the alpha-beta rule", in_name=True, check=at_least(0.0)),
            Param("mu", float, 0.0, "SIGN-mu threshold of lrpsign_", in_name=True),
            Param(
                "alpha_beta_bias",
                str,
                "split",
                "alpha-beta denominators: 'split' (b+ positive, b- negative part; zennit) or 'both' "
                "(the whole bias in both; the original SIGN package)",
                check=one_of(ALPHA_BETA_BIAS),
            ),
            Param(
                "batchnorm",
                str,
                "merge",
                "BatchNorm: 'merge' into the Conv/Linear feeding it (zennit; METHODS.md; one that "
                "cannot be merged stays a layer with the z-rule, with a warning), 'innvestigate' "
                "(each a layer of its own with the z-rule; the original SIGN package) or 'pass' "
                "(merged where it can be, else relevance passes through unchanged: zennit's "
                "composites)",
                check=one_of(BATCH_NORM_MODES),
            ),
            Param(
                "gates",
                str,
                "error",
                "products of two input-dependent tensors: 'error', or 'signal' (a gate broadcast "
                "over its signal, as in squeeze-and-excitation blocks, is held constant and the "
                "signal receives all the relevance; Arras et al. 2017)",
                check=one_of(GATE_MODES),
            ),
            Param(
                "attention",
                str,
                "error",
                "attention (nn.MultiheadAttention, F.scaled_dot_product_attention, or written out as "
                "softmax(q @ k^T) @ v; any softmax inside the network) and LayerNorm/GroupNorm: "
                "'error', 'cp' (conservative propagation, Ali et al. 2022: attention weights and "
                "normalisation statistics held constant, relevance through the values) or 'attnlrp' "
                "(AttnLRP, Achtibat et al. 2024: statistics held, softmax rule, uniform rule on "
                "products of two input-dependent tensors)",
                check=one_of(ATTENTION_MODES),
            ),
            Param("low", object, None, "zblrp_ lower bound (default: the input's minimum)"),
            Param("high", object, None, "zblrp_ upper bound (default: the input's maximum)"),
        ),
        kind="lrp",
        form="<lrp|lrpsign|lrpz|w2lrp|flatlrp|zblrp>_<z|epsilon_<e>[_std_x]|alpha_<a>_beta_<b>|zplus|"
        "sequential_composite_a|sequential_composite_b>[_mu_<m>]",
        summary="layer-wise relevance propagation from R = z (the target logit)",
        examples=(
            *tuple(f"{prefix}_{rule.example}" for prefix in INPUT_RULES for rule in LAYER_RULES.values()),
            "lrpsign_epsilon_0_5_mu_0_5",
            "lrp_epsilon_0_5",
            "lrp_alpha_2_beta_1",
        ),
        write=_write,
        finish=_finish,
    )
)
