"""What one probing forward pass tells LRP about a model: the roles of its modules.

:func:`probe_structure` runs the model once on one sample, follows the data flow through the
autograd graph and finds the layers that read the input (the input-layer rule goes on them), the
BatchNorms and the Conv/Linear layers (or the concatenation of them) each can be merged into, the
modules called more than once, the modules without an LRP rule (an error naming them) and
whether the forward pass needs the graph mode. The result is cached per model (while its
modules and the ``attention`` mode stay the same).
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from signxai.errors import UnsupportedModelError
from signxai.methods.lrp_graph import LRPGraphMode
from signxai.methods.lrp_modules import (
    ACTIVATIONS,
    AVERAGE_POOLS,
    BATCH_NORMS,
    CONTAINERS,
    CONVOLUTIONS,
    HELD_MODULES,
    INSTANCE_NORMS,
    WEIGHTED,
    passive_types,
)
from signxai.methods.lrp_recurrent import CELLS, RECURRENT, outputs_of, unpacked
from signxai.methods.operations import FUNCTIONAL_LAYERS, nodes_below, raise_refused, refuse_custom_functions
from signxai.model import ModelView

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
    #: relevance passes through unchanged), 'input_merged_batchnorm' (one merged into the layer it
    #: feeds, from its input side, under ``'merge'``; ``'pass'`` merges only from the output side,
    #: as zennit's canonizers, and passes relevance through it), 'own_forward_batchnorm' (a
    #: BatchNorm subclass with a forward of its own: the z-rule through that forward) or 'relu'
    #: (an ``nn.ReLU``: no hook, its gradient is exact, unless ``'pass'`` passes relevance through
    #: a BatchNorm; relevance then reaches the zeros of a ReLU before it, through pooling and
    #: reshapes too, and passes through every ReLU as through zennit's ``Pass``).
    roles: list[tuple[nn.Module, str]]
    #: Modules called more than once in one forward pass: module -> (name, number of calls).
    repeated: dict[nn.Module, tuple[str, int]]
    #: Recurrent layers and cells (LSTM, GRU, RNN) that read the input, as "recurrent layer 'name'"
    #: or "recurrent cell 'name'".
    recurrent_first: list[str]
    #: Whether attention or a normalisation held constant (``attention='cp'``) reads the input
    #: with no Linear/Conv layer before it.
    held_first: bool = False
    #: Linear/Conv layers whose own ``forward`` computes the weight they use: module -> name.
    computed_weights: dict[nn.Module, str] = field(default_factory=dict)
    #: Input layers whose input the model computes from x (values other than x's and padding's
    #: zeros: a normalisation or scaling in ``forward``), by name; the input-layer rules act on
    #: that input, not on x.
    transformed_first: list[str] = field(default_factory=list)
    #: Input layers into which a BatchNorm on the input is merged from its input side, by name:
    #: where it is not merged (``batchnorm='pass'``) they read the normalised signal, not x.
    input_merged_first: list[str] = field(default_factory=list)


def _transformed_inputs(
    probe: torch.Tensor,
    weighted_inputs: list[tuple[nn.Module, torch.Tensor]],
    first_layers: list[nn.Module],
    input_merged: list[nn.Module],
    names: dict[int, str],
) -> list[str]:
    """The input layers (by name) whose input, computed from the probe, holds values that are
    neither the probe's nor 0.

    Reshapes, transposes, crops, copies and zero padding keep x's values; a normalisation or a
    scaling in ``forward`` does not. The ``input_merged`` layers, into which a BatchNorm on the
    input is merged from its input side, are left out: after the merge they read x itself.
    """
    first = {id(m) for m in first_layers} - {id(m) for m in input_merged}
    read: dict[int, list[torch.Tensor]] = {}  # every call's input, per layer: one test per layer
    for module, tensor in weighted_inputs:
        if id(module) in first and tensor.requires_grad and tensor.is_floating_point():
            read.setdefault(id(module), []).append(tensor.detach().flatten())
    own = torch.cat([probe.detach().flatten(), probe.new_zeros(1)])
    found = []
    for key, tensors in read.items():
        values = torch.cat([t.to(tensors[0].dtype) for t in tensors])
        if not bool(torch.isin(values, own.to(values.dtype)).all()):
            found.append(names[key])
    return found


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
        elif isinstance(module, nn.ReLU):
            # no hook unless a BatchNorm passes relevance: its gradient is exact, where it masks
            # the next input is 0 (see 'relu' in Structure.roles)
            roles.append((module, "relu"))
        elif isinstance(module, ACTIVATIONS):
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


def _unsupported(
    model: nn.Module,
    bypassed: nn.Module | None,
    called: set[int],
    attention: str = "error",
    weights_used: set[int] | frozenset[int] = frozenset(),
) -> list[str]:
    """Modules without an LRP rule; ``called``: the ids of the leaf modules whose output depended on
    the input in the probe and that the explained output depends on (one that only computes
    constants, e.g. an ``nn.Embedding`` of positions, needs no rule, nor one in a head the model
    computes and does not return).

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
                *passive_types(),
                *AVERAGE_POOLS,
                *BATCH_NORMS,
                *INSTANCE_NORMS,
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
    for node in nodes_below(root):
        for child, _ in getattr(node, "next_functions", ()):
            if child is not None:
                uses[child] = uses.get(child, 0) + 1
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
    on_signal: dict[int, list[Any]] = {}  # leaf modules whose output depends on the input: its nodes
    probe = x[:1].detach().requires_grad_(True)
    nodes: dict[int, Any] = {}  # module -> the autograd node of its output
    every_node: dict[int, list[Any]] = {}  # module -> those of every call
    weighted_outputs: set[Any] = set()  # the autograd nodes of every Linear/Conv call's output
    weighted_inputs: list[tuple[nn.Module, torch.Tensor]] = []  # every Linear/Conv call's input

    def after(module: nn.Module, inputs: Any, output: Any) -> None:
        order.append(module)
        tracked = [t for t in _leaves(output) if isinstance(t, torch.Tensor) and t.requires_grad]
        if tracked:
            on_signal.setdefault(id(module), []).extend(t.grad_fn for t in tracked)
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
        if isinstance(module, RECURRENT):  # (output, state) or a cell's state: all the layer's output
            weighted_outputs.update(t.grad_fn for t in outputs_of(module, output) if t.grad_fn is not None)

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
        with LRPGraphMode(WEIGHTED, gates, attention, watch_parameters=True, compiled=view.compiled) as graph:
            logits = view.forward(probe)
    finally:
        for handle in handles:
            handle.remove()
    refuse_custom_functions(logits.grad_fn, "LRP")
    uses = _uses(logits.grad_fn)
    below_held = _downstream([t.grad_fn for t in graph.held_inputs], weighted_outputs)
    held_first = any(not below_held.get(t.grad_fn, False) for t in graph.held_inputs)
    # a module counts where the explained output depends on it (not an auxiliary head the model
    # computes and does not return; the probe's input itself, no node, counts)
    reached = {*uses, logits.grad_fn, None}
    on_path = {m for m, outs in on_signal.items() if any(node in reached for node in outs)}
    unsupported = _unsupported(model, view.bypassed, on_path, attention, graph.weights_used)
    if unsupported:
        held = [name for name, m in model.named_modules() if isinstance(m, HELD_MODULES)]
        hint = (
            "; attention and LayerNorm/GroupNorm/InstanceNorm/RMSNorm are explained with attention='cp' "
            "(conservative propagation, Ali et al. 2022) or attention='attnlrp' (AttnLRP, Achtibat "
            "et al. 2024)"
            if held and attention == "error"
            else ""
        )
        final = getattr(logits.grad_fn, "name", type(logits.grad_fn).__name__)  # (refused: the name)
        if view.explain_output == "activation" and final in ("softmax", "log_softmax"):
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
    raise_refused(logits.grad_fn)
    below = _downstream([t.grad_fn for _, t in weighted_inputs], weighted_outputs)
    reads_input: dict[int, list[bool]] = {}
    for module, tensor in weighted_inputs:
        # a call on a constant (a recurrent cell's zero initial state, metadata passed beside x)
        # reads neither x nor a layer's output: it does not make the layer an input layer, nor a
        # mixed one (the parameters do not require grad while the probe runs: ModelView)
        if tensor.requires_grad:
            reads_input.setdefault(id(module), []).append(not below.get(tensor.grad_fn, False))
    first_layers: list[nn.Module] = [
        m for m in dict.fromkeys(weighted) if all(reads_input.get(id(m), [False]))
    ]
    mixed = [names[id(m)] for m in dict.fromkeys(weighted) if len(set(reads_input.get(id(m), []))) > 1]
    recurrent: list[nn.Module] = [m for m in dict.fromkeys(order) if isinstance(m, RECURRENT)]
    recurrent_first = [
        f"recurrent {'cell' if isinstance(m, CELLS) else 'layer'} '{names[id(m)]}'"
        for m in recurrent
        if any(reads_input.get(id(m), [False]))
    ]
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
        if problem is not None or feeds is not None:
            special[id(module)] = (
                "input_merged_batchnorm"
                if problem is None
                else "own_forward_batchnorm"
                if own_forward
                else "unmerged_batchnorm"
            )
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
    # the layers a BatchNorm on the input is merged into (they read the input: first layers)
    input_merged = [site.feeds for site in sites if site.fed_by_input and site.feeds is not None]
    structure = Structure(
        transformed_first=_transformed_inputs(probe, weighted_inputs, first_layers, input_merged, names),
        input_merged_first=[names[id(layer)] for layer in input_merged],
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
