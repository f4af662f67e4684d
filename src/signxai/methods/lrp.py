"""LRP family on zennit: the name-to-rule mapping, BatchNorm handling and the input-layer rules.

One backward pass for the whole batch: zennit hooks on every Linear/Conv (the rule chosen by the
method name, the first layer by its prefix), ``PassRule`` (zennit's ``Pass``) on activations other
than ReLU, BatchNorm merged into the Conv/Linear that feeds it (found from the data flow, not the
module order; one that cannot be merged, as in pre-activation blocks, is a layer of its own with
the z-rule, or with ``batchnorm='pass'`` passes relevance on unchanged like zennit's composites)
or, with ``batchnorm='innvestigate'``, every BatchNorm kept as a layer of its own with the z-rule
(the original SIGN package's handling).
Which module gets which hook is found once per model by a probing forward pass
(:mod:`signxai.methods.lrp_structure`); BatchNorms are merged by
:mod:`signxai.methods.lrp_merge`; ``lrp_hooks`` applies the rules, like a zennit ``Composite``;
the module types and how relevance passes each are in :mod:`signxai.methods.lrp_modules`. The
rest is handled while the forward pass runs (:mod:`signxai.methods.lrp_graph`): average pooling (modules and
functional means) redistributes relevance in proportion to the inputs, residual additions split
it in proportion to their summands, and products of two input-dependent tensors (attention,
gating) raise an error instead of giving a wrong map (with ``attention='cp'`` attention scores
whose softmax is held constant are allowed; ``attention='attnlrp'`` gives such products the
uniform rule).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from zennit.core import Hook, expand
from zennit.rules import Flat, WSquare, ZBox

from signxai.errors import MethodParameterError, UnsupportedModelError, warn_user
from signxai.methods.gradient import reference_tensor
from signxai.methods.lrp_attention import ATTENTION_MODES
from signxai.methods.lrp_graph import GATE_MODES, LRPGraphMode
from signxai.methods.lrp_merge import batch_norm_plan
from signxai.methods.lrp_modules import WEIGHTED
from signxai.methods.lrp_recurrent import RecurrentRule
from signxai.methods.lrp_structure import BATCH_NORM_MODES, Structure, probe_structure
from signxai.methods.operations import raise_refused
from signxai.methods.registry import NUMBER, Family, Param, at_least, format_number, one_of, register
from signxai.methods.reparam import plain_weights
from signxai.methods.rules import (
    ALPHA_BETA_BIAS,
    EpsilonRule,
    GammaRule,
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
        "gamma",
        rf"gamma(?:_(?P<gamma>{NUMBER}))?",
        lambda p: _same(GammaRule(p["gamma"])),
        "gamma rule, W + gamma W+ where z > 0 (W + gamma W- where z < 0; zennit's Gamma)",
        "gamma_0_25",
    )
)
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


def _z_box(params: Mapping[str, Any], x: torch.Tensor) -> ZBox:
    """zennit's z-beta rule with the given bounds, or, where none is given, the minimum and
    maximum of each row (sample) of the first layer's own input: the bounds the rule needs
    (low <= a <= high). That input is x itself in most models, but not where the model
    normalises or scales x in ``forward`` before its first layer (bounds taken from x were then
    outside the box), and it has a row per sample and lead where a shared encoder reads every
    lead on its own."""
    rule = ZBox(0.0, 0.0)
    for index, name, extreme in ((1, "low", torch.amin), (2, "high", torch.amax)):
        value = params[name]
        bound = None if value is None else reference_tensor(value, x, name)
        rule.input_modifiers[index] = functools.partial(_bound, bound, name, extreme)
    return rule


def _bound(
    bound: torch.Tensor | None, name: str, extreme: Callable[..., torch.Tensor], a: torch.Tensor
) -> torch.Tensor:
    """The z-beta bound ``name`` shaped like the first layer's input ``a``: the given one (a number,
    one value per row of ``a``, or an array that broadcasts to ``a``; zennit's ``expand``), or,
    where none was given, ``extreme`` (``torch.amin``/``amax``) of each row of ``a``."""
    if bound is None:
        return extreme(a, dim=tuple(range(1, a.ndim)), keepdim=True).expand_as(a)
    try:
        value = expand(bound, a.shape, cut_batch_dim=True).to(a)
    except RuntimeError:
        raise MethodParameterError(
            f"{name} of shape {tuple(bound.shape)} does not fit the first layer's input, of shape "
            f"{tuple(a.shape)}: give a number, one value per row of that input or an array that "
            "broadcasts to it"
        ) from None
    # the rule is defined for inputs inside the box; zennit and the original package take any
    # bounds (conservation holds), so a box the input leaves is said, not refused (before, silent)
    outside = a < value if name == "low" else a > value
    if outside.any():
        side, extremum = ("below", "minimum") if name == "low" else ("above", "maximum")
        warn_user(
            f"{name} does not bound the first layer's input (the z-beta rule is defined for low <= "
            f"input <= high): {int(outside.sum())} of its {a.numel()} values lie {side} it (its "
            f"{extremum} is {float(extreme(a)):.4g}); their relevance may take the wrong sign"
        )
    return value


register_input_rule("lrp", lambda p, x: None, "the same rule as the other layers")
register_input_rule(
    "lrpsign",
    lambda p, x: SignRule(p["mu"], p["sign_epsilon"], p["std_x"]),
    "SIGN: z-rule denominator, sign_mu(x) * c",
)
register_input_rule("lrpz", lambda p, x: ZRule(), "z-rule")
# bias-free, as the w-square rule is defined (Montavon et al. 2017) and the original package has it
# (zennit's WSquare squares the bias too unless told otherwise)
register_input_rule(
    "w2lrp", lambda p, x: RelayedRule(WSquare(zero_params=["bias"])), "w-square rule (no bias)"
)
register_input_rule("flatlrp", lambda p, x: RelayedRule(Flat()), "flat rule")
register_input_rule("zblrp", lambda p, x: RelayedRule(_z_box(p, x)), "z-beta (bounded) rule")


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


_RULE_NAMES = {
    "AlphaBetaRule": "alpha-beta",
    "GammaRule": "gamma",
    "WSquare": "w-square",
    "Flat": "flat",
    "ZBox": "z-beta",
}


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
    _warn_transformed_input(structure, params)
    rules = {
        "recurrent": _recurrent_rule(structure, linear_hook, first_hook, params),
        "first_conv": first_hook if first_hook is not None else conv_hook,
        "first_linear": first_hook if first_hook is not None else linear_hook,
        "conv": conv_hook,
        "linear": linear_hook,
        "pass": PassRule(),
        # merged BatchNorms are the identity; with 'innvestigate' every one is a z-rule layer with
        # iNNvestigate's stabiliser (on (x - mean) y); else one that cannot be merged is a z-rule
        # layer ('merge': R_in = x s R / y, exact zeros of y floored as the z-rule's), or passes
        # relevance on unchanged ('pass', zennit's Pass)
        "batchnorm": None if params["batchnorm"] != "innvestigate" else InnvestigateBatchNorm(),
        "unmerged_batchnorm": {"pass": PassRule(), "innvestigate": InnvestigateBatchNorm()}.get(
            params["batchnorm"], ZRule()
        ),
        # a BatchNorm subclass with a forward of its own (a transpose around it): the z-rule
        # through that forward (iNNvestigate's form needs the channel axis)
        "own_forward_batchnorm": PassRule() if params["batchnorm"] == "pass" else ZRule(),
        # one that 'merge' merges into the layer it feeds (from its input side): 'pass' merges
        # only from the output side, as zennit's canonizers, and passes relevance through it
        "input_merged_batchnorm": {"pass": PassRule(), "innvestigate": InnvestigateBatchNorm()}.get(
            params["batchnorm"]
        ),
        # a ReLU needs no hook (where it outputs 0, the next layer gives no relevance) unless a
        # BatchNorm passes relevance on: then relevance can reach its zeros (through pooling and
        # reshapes too), and passes through every ReLU as zennit's Pass rule does
        "relu": PassRule() if _passes_batch_norm(structure, params["batchnorm"]) else None,
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
    layers = {module: rules[role] for module, role in structure.roles if role in _WEIGHTED_ROLES}
    # only where a layer's rule is not sign-symmetric can the output layer's be (_negated_logit)
    asymmetric = [module for module, rule in layers.items() if not _sign_symmetric(rule)]
    with lrp_hooks(view.model, structure, rules, merge):
        inputs = x.detach().requires_grad_(True)
        with _calls(list(layers) if asymmetric else []) as called:
            logits = _forward(view, structure, params, inputs)
        weights = view.target_weights(target, logits)
        negated = (weights[:, 0] < 0) if logits.shape[1] == 1 else None
        output_layer = called[-1] if called else None
        symmetric = not asymmetric or (output_layer is not None and _sign_symmetric(layers[output_layer]))
        if negated is None or not bool(negated.any()) or symmetric:
            (relevance,) = torch.autograd.grad(logits, inputs, grad_outputs=weights * logits.detach())
            return relevance
        return _negated_logit(view, structure, params, inputs, logits, negated, output_layer, layers)


#: The roles of the Linear/Conv layers (``Structure.roles``).
_WEIGHTED_ROLES = ("first_conv", "first_linear", "conv", "linear")


def _passes_batch_norm(structure: Structure, mode: str) -> bool:
    """Whether ``batchnorm='pass'`` passes relevance through a BatchNorm (one not merged from
    its output side), so that relevance can reach the zeros of a ReLU."""
    return mode == "pass" and any(
        site.unmergeable is not None or site.feeds is not None for site in structure.batch_norms
    )


def _warn_transformed_input(structure: Structure, params: Mapping[str, Any]) -> None:
    """Say so where an input-layer rule that reads the values of the first layer's input (SIGN's
    sign, z-beta's given bounds) gets values the model computed from x, not x's own."""
    rule = params["input_rule"]
    bounds = params["low"] is not None or params["high"] is not None
    transformed = structure.transformed_first + (
        structure.input_merged_first if params["batchnorm"] == "pass" else []
    )
    if not transformed or not (rule == "lrpsign" or (rule == "zblrp" and bounds)):
        return
    reads = (
        f"the sign of that input (sign_mu(a) with mu={params['mu']:g}, in its units)"
        if rule == "lrpsign"
        else "low= and high= as bounds of that input (in its units)"
    )
    warn_user(
        f"LRP: the model computes the input of its first layer '{transformed[0]}' "
        "from x (its values are not all x's: e.g. a normalisation or scaling in forward), and the "
        f"{rule}_ input-layer rule takes {reads}, not of x; normalise the data before the model "
        "for the rule to act on x itself"
    )


def _sign_symmetric(rule: Any) -> bool:
    """Whether the explanation of -z by ``rule`` is minus that of z (``ProjectionHook``); a rule
    that does not say is taken as not."""
    return rule is None or bool(getattr(rule, "sign_symmetric", False))


def _forward(
    view: ModelView, structure: Structure, params: Mapping[str, Any], inputs: torch.Tensor
) -> torch.Tensor:
    """The explained output under the rules' hooks (graph operations checked where needed)."""
    if structure.needs_graph_mode:
        with LRPGraphMode(WEIGHTED, params["gates"], params["attention"], compiled=view.compiled):
            logits = view.forward(inputs)
        raise_refused(logits.grad_fn)
    else:
        logits = view.forward(inputs)
    if not logits.requires_grad:
        raise UnsupportedModelError(
            "LRP: the explained output does not depend on the input once attention weights are "
            "held constant (a softmax inside the model feeds it directly?); the model's final "
            "softmax must be an nn.Softmax module so that its logits are explained"
        )
    return logits


@contextmanager
def _calls(modules: list[nn.Module]) -> Iterator[list[nn.Module]]:
    """The ``modules`` in the order the forward pass inside calls them (no hooks if none)."""
    called: list[nn.Module] = []
    handles = [m.register_forward_hook(lambda module, *_: called.append(module)) for m in modules]
    try:
        yield called
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def _negated_parameters(module: nn.Module) -> Iterator[None]:
    """``module``'s weight and bias negated inside (in place, so merged BatchNorms stay merged;
    negation is exact, so the undo restores them bitwise)."""
    tensors = [
        t
        for t in (getattr(module, "weight", None), getattr(module, "bias", None))
        if isinstance(t, torch.Tensor)
    ]
    with torch.no_grad():
        for tensor in tensors:
            tensor.neg_()
    try:
        yield
    finally:
        with torch.no_grad():
            for tensor in tensors:
                tensor.neg_()


def _negated_logit(
    view: ModelView,
    structure: Structure,
    params: Mapping[str, Any],
    inputs: torch.Tensor,
    logits: torch.Tensor,
    negated: torch.Tensor,
    layer: nn.Module | None,
    layers: Mapping[nn.Module, Any],
) -> torch.Tensor:
    """LRP of a single-output model where some samples explain -z (target 0, the logit of class 0)
    and the rule of the output ``layer`` (the last Linear/Conv the forward pass called) is not
    sign-symmetric.

    The explanation of -z is that of the network whose output is -z: the same network with its
    output layer negated, weight and bias. A sign-symmetric rule there (z, epsilon, SIGN) gives
    minus the map of z, which ``_lrp`` computes in its one pass; the alpha-beta, z+ and z-beta
    rules do not (negating a layer swaps its positive and negative contributions), so those
    samples are explained in a second pass through the negated layer, which is checked to output
    -z. Equal to explaining class 0 of the two-logit model with logits (-z, z).

    Raises
    ------
    UnsupportedModelError
        Negating the last Linear/Conv layer does not negate the output (a ReLU, max pooling or a
        second branch after it), so -z is not the output of a network of the same layers.
    """
    relevance = torch.zeros_like(inputs)
    if not bool(negated.all()):  # the samples that explain z, as usual
        kept = (~negated).to(logits.dtype)[:, None]
        (relevance,) = torch.autograd.grad(logits, inputs, grad_outputs=kept * logits.detach())
    z = logits.detach()
    del logits  # its graph, if not used, goes before the layer changes
    why = (
        "target 0 of a single-output model explains -z, the logit of class 0; the "
        f"{_rule_name(layers[layer]) if layer is not None else 'layer rule'} on the model's output "
        "layer is not symmetric in the sign of the output, so -z is explained through that layer "
        "negated, "
    )
    if layer is None:
        raise UnsupportedModelError(why + "and the forward pass called no Linear/Conv layer")
    again = inputs.detach().requires_grad_(True)
    with _negated_parameters(layer):
        flipped = _forward(view, structure, params, again)
        scale = float(z.abs().max()) if z.numel() else 0.0
        if not torch.allclose(flipped.detach(), -z, rtol=1e-4, atol=1e-5 * max(scale, 1.0)):
            name = next(n for n, m in view.model.named_modules() if m is layer)
            raise UnsupportedModelError(
                why + f"but negating the last Linear/Conv layer '{name}' (weight and "
                "bias) does not negate the model's output (a ReLU, max pooling, a normalisation or "
                "another branch after it, or an output activation kept by explain_output="
                "'activation'?). Explain target 1, use the z, epsilon or SIGN rules, or give the "
                "model a two-logit output"
            )
        weights = negated.to(flipped.dtype)[:, None]
        (second,) = torch.autograd.grad(flipped, again, grad_outputs=weights * flipped.detach())
    mask = negated.reshape(-1, *([1] * (inputs.ndim - 1)))
    return torch.where(mask, second, relevance)


def _recurrent_rule(
    structure: Structure, linear_hook: Hook, first_hook: Hook | None, params: Mapping[str, Any]
) -> RecurrentRule | None:
    """The LRP recurrence for the model's LSTM/GRU/RNN layers and cells (None without any).

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
            "LRP through LSTM/GRU/RNN layers and cells takes the z or epsilon rule on the Linear layers "
            f"(Arras et al. 2017); '{params['rule']}'"
            + (" with std_x" if params.get("std_x") else "")
            + " gives them another"
        )
    if structure.recurrent_first and first_hook is not None:
        raise UnsupportedModelError(
            f"{structure.recurrent_first[0]} reads the input; the "
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
    if rule != "alpha_beta" and (params["alpha"] is not None or params["beta"] is not None):
        # before, ignored (the composites fix their own alpha and beta)
        raise MethodParameterError(f"'{method_name}': alpha/beta only apply to the alpha-beta rule")
    if params["mu"] != 0.0 and params["input_rule"] != "lrpsign":
        raise MethodParameterError(f"'{method_name}': mu (SIGN-mu) only applies to the lrpsign_ input rule")
    if params["alpha_beta_bias"] != "split" and rule not in _ALPHA_BETA_RULES:
        raise MethodParameterError(
            f"'{method_name}': alpha_beta_bias only applies to rules with alpha-beta layers "
            f"({', '.join(_ALPHA_BETA_RULES)})"
        )
    if params["sign_epsilon"] is not None and params["input_rule"] != "lrpsign":
        raise MethodParameterError(
            f"'{method_name}': sign_epsilon (the SIGN layer's stabiliser) only applies to the lrpsign_ "
            "input rule"
        )
    if params["input_rule"] != "zblrp" and (params["low"] is not None or params["high"] is not None):
        raise MethodParameterError(f"'{method_name}': low/high only apply to the zblrp_ input rule")
    if rule != "epsilon" and (params["epsilon"] is not None or params["std_x"]):
        raise MethodParameterError(f"'{method_name}': epsilon/std_x only apply to epsilon rules")
    if rule == "epsilon" and params["epsilon"] is None:
        raise MethodParameterError(f"'{method_name}': the epsilon rule needs epsilon=")
    if rule != "gamma" and params["gamma"] is not None:
        raise MethodParameterError(f"'{method_name}': gamma only applies to the gamma rule")
    if rule == "gamma" and params["gamma"] is None:
        raise MethodParameterError(f"'{method_name}': the gamma rule needs gamma= (e.g. lrp_gamma_0_25)")
    return params


_ALPHA_BETA_RULES = ("alpha_beta", "sequential_composite_a", "sequential_composite_b")


def _write(params: Mapping[str, Any]) -> str:
    rule = params["rule"]
    if rule == "epsilon":
        body = f"epsilon_{format_number(params['epsilon'])}" + ("_std_x" if params["std_x"] else "")
    elif rule == "alpha_beta":
        body = f"alpha_{format_number(params['alpha'])}_beta_{format_number(params['beta'])}"
    elif rule == "gamma":
        body = f"gamma_{format_number(params['gamma'])}"
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
            Param("gamma", float, None, "gamma of the gamma rule", in_name=True, check=at_least(0.0)),
            Param("mu", float, 0.0, "SIGN-mu threshold of lrpsign_", in_name=True),
            Param(
                "sign_epsilon",
                float,
                None,
                "lrpsign_ first-layer denominator z + e sign(z) (e times the std of x per sample with "
                "_std_x), as signxai2's PyTorch composites (EpsilonStdXSIGN's signstdfactor); "
                "None: z, as the original package (METHODS.md)",
                check=at_least(0.0),
            ),
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
            Param(
                "low", object, None, "zblrp_ lower bound of the first layer's input (default: its minimum)"
            ),
            Param(
                "high", object, None, "zblrp_ upper bound of the first layer's input (default: its maximum)"
            ),
        ),
        kind="lrp",
        form="<lrp|lrpsign|lrpz|w2lrp|flatlrp|zblrp>_<z|epsilon_<e>[_std_x]|alpha_<a>_beta_<b>|zplus|gamma_<g>|"
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
