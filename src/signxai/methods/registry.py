"""The method registry and the method-name grammar.

Every method is a :class:`Family` (a compute function plus its parameters and a regular
expression for the part of the name that carries them), registered once with :func:`register`.
:func:`parse` turns a method name and keyword parameters into a :class:`MethodSpec`; no other code
looks at the raw string. ``list_methods``, ``describe_method``, ``explain`` and the README table
all read this registry.

Numbers in names join their digit groups: ``0_5`` = 0.5, ``0_05`` = 0.05, ``neg_0_5`` = -0.5,
``10`` = 10.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from signxai.errors import MethodParameterError, UnknownMethodError

NUMBER = r"(?:neg_)?\d+(?:_\d+)?"
INTEGER = r"\d+"

#: Old spellings of the original SIGN package and the field, mapped to their names here.
ALIASES: dict[str, str] = {
    "saliency": "gradient",
    "gradcam": "grad_cam",
    "grad_cam_timeseries": "grad_cam",
    "input_t_gradient": "gradient_x_input",
}

#: Model-specific presets of the original package, which hard-code parameters for one network:
#: its Grad-CAM layer (a layer name of that Keras model) and, for VGG16 on ImageNet, the z-beta
#: bounds of its input (pixels after subtracting the ImageNet mean).
PRESETS: dict[str, dict[str, str]] = {
    "_VGG16ILSVRC": {"grad_cam": "target_layer='block5_conv3'", "zblrp": "low=-123.68, high=151.061"},
    "_VGG16MITPL365": {"grad_cam": "target_layer='relu5_3'"},
    "_MNISTCNN": {"grad_cam": "target_layer='conv2d_1'"},
}


def parse_number(text: str) -> float:
    """Read a number written in a method name (``0_5`` -> 0.5, ``neg_0_25`` -> -0.25)."""
    return float(text.replace("neg_", "-").replace("_", "."))


def format_number(value: float) -> str:
    """Write a number the way method names spell it (0.5 -> ``0_5``, -1.0 -> ``neg_1``)."""
    text = np.format_float_positional(abs(float(value)), trim="-").replace(".", "_")
    return ("neg_" if value < 0 else "") + text


@dataclass(frozen=True)
class Param:
    """One parameter of a method family.

    ``kind`` converts a keyword value (``float``, ``int``, ``bool`` or ``object`` for anything);
    ``check`` returns an error message for an invalid value or ``None``.
    """

    name: str
    kind: type
    default: Any
    doc: str
    in_name: bool = False
    check: Callable[[Any], str | None] | None = None

    def convert(self, value: Any, method_name: str) -> Any:
        """Convert and check a value for this parameter, raising a named error when invalid."""
        if self.kind is not object and value is not None:
            try:
                if self.kind is bool:
                    if not isinstance(value, (bool, np.bool_)):
                        raise TypeError
                    value = bool(value)
                elif self.kind is int:
                    if isinstance(value, bool) or int(value) != value:
                        raise TypeError
                    value = int(value)
                elif self.kind is float:
                    # a bool is no number here, nor NaN or inf (before, mu=nan made SIGN-mu's
                    # sign -1 everywhere, silently)
                    if isinstance(value, (bool, np.bool_)) or not math.isfinite(float(value)):
                        raise TypeError
                    value = float(value)
                else:
                    value = self.kind(value)
            except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
                kind = "a finite float" if self.kind is float else self.kind.__name__
                raise MethodParameterError(
                    f"parameter '{self.name}' of '{method_name}' expects {kind}, got {value!r}"
                ) from None
        if self.check is not None and value is not None:
            message = self.check(value)
            if message:
                raise MethodParameterError(
                    f"parameter '{self.name}' of '{method_name}' {message}, got {value!r}"
                )
        return value


def one_of(choices: tuple[Any, ...]) -> Callable[[Any], str | None]:
    """A parameter check: the value must be one of ``choices``."""
    return lambda value: None if value in choices else f"must be one of {choices}"


def at_least(bound: float) -> Callable[[Any], str | None]:
    """A parameter check: the value must be >= ``bound``."""
    return lambda value: None if value >= bound else f"must be >= {bound}"


def above(bound: float) -> Callable[[Any], str | None]:
    """A parameter check: the value must be > ``bound``."""
    return lambda value: None if value > bound else f"must be > {bound}"


@dataclass(frozen=True)
class Family:
    """A registered method family: how to compute it and how its names are written.

    Parameters
    ----------
    name
        The family's name, also the literal start of its method names.
    pattern
        Regular expression of the base name (no post-multiplier suffix); each named group is a
        parameter of ``params`` with ``in_name=True`` (flags match as text, numbers via ``NUMBER``).
    compute
        ``compute(view, x, target_class, params) -> relevance`` on the whole batch.
    params
        Every parameter the family accepts, in the name or as a keyword.
    kind
        ``'gradient'`` (post-multiplier suffixes allowed), ``'cam'`` or ``'lrp'``.
    form
        The grammar in words, e.g. ``integrated_gradients[_steps_<n>]``.
    summary
        A one-line definition.
    examples
        Concrete names listed by :func:`list_methods`.
    write
        Writes the canonical name from the parameters.
    finish
        Optional cross-parameter check/completion, ``finish(params, method_name) -> params``.
    """

    name: str
    pattern: str
    compute: Callable[..., Any]
    params: tuple[Param, ...]
    kind: str
    form: str
    summary: str
    examples: tuple[str, ...]
    write: Callable[[Mapping[str, Any]], str]
    finish: Callable[[dict[str, Any], str], dict[str, Any]] | None = None
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))

    def param(self, name: str) -> Param:
        """The parameter called ``name``."""
        return next(p for p in self.params if p.name == name)


@dataclass(frozen=True)
class Post:
    """A post-multiplier suffix (``_x_input``, ``_x_sign``, ``_x_sign_mu_<m>``)."""

    name: str
    apply: Callable[..., Any]
    summary: str


@dataclass(frozen=True)
class MethodSpec:
    """A parsed method: the family, every parameter resolved, and the optional post-multiplier."""

    name: str
    family: Family
    params: Mapping[str, Any]
    post: Post | None = None
    mu: float = 0.0

    @property
    def definition(self) -> str:
        """A one-line definition of what this method computes."""
        text = self.family.summary
        if self.post is not None:
            text += "; then " + self.post.summary.replace("<mu>", f"{self.mu:g}")
        return text


_FAMILIES: dict[str, Family] = {}
_POSTS: dict[str, Post] = {}
POST_PATTERN = re.compile(rf"^(?P<base>.+?)_x_(?P<post>input|sign_mu|sign)(?:_(?P<mu>{NUMBER}))?$")


def register_fixed(
    name: str, compute: Callable[..., Any], params: tuple[Param, ...], kind: str, summary: str
) -> None:
    """Register a family whose one name carries no parameters (``gradient``, ``deeplift``)."""
    register(
        Family(
            name=name,
            pattern=name,
            compute=compute,
            params=params,
            kind=kind,
            form=name,
            summary=summary,
            examples=(name,),
            write=lambda params: name,
        )
    )


def register(family: Family) -> Family:
    """Register a method family; its name must be new."""
    if family.name in _FAMILIES:
        raise ValueError(f"method family '{family.name}' is already registered")
    _FAMILIES[family.name] = family
    _parse_name.cache_clear()
    return family


def register_post(post: Post) -> Post:
    """Register a post-multiplier suffix (``x_<name>``)."""
    _POSTS[post.name] = post
    _parse_name.cache_clear()
    return post


def families() -> list[Family]:
    """All registered families in registration order."""
    return list(_FAMILIES.values())


def list_methods() -> list[str]:
    """Return the sorted list of concrete example method names, from the registry.

    Every family appears, with every input-layer prefix (LRP) and every suffix (gradient-type
    families: ``_x_input``, ``_x_sign``, ``_x_sign_mu_0_5``).
    """
    names: set[str] = set()
    for family in _FAMILIES.values():
        for example in family.examples:
            names.add(example)
            if family.kind == "gradient":
                names.update(f"{example}_x_{post}" for post in ("input", "sign", "sign_mu_0_5"))
    return sorted(names)


#: Other libraries' names (captum's classes, written as names) for methods signxai has, and
#: words that name a kind of method: suggested, never taken in their place.
OTHER_NAMES: dict[str, tuple[str, ...]] = {
    "input_x_gradient": ("gradient_x_input",),
    "inputxgradient": ("gradient_x_input",),
    "layer_grad_cam": ("grad_cam",),
    "guided_backpropagation": ("guided_backprop",),
    "deconvolution": ("deconvnet",),
    "noise_tunnel": ("smoothgrad", "vargrad"),
    "deep_lift": ("deeplift",),
    "deep_lift_shap": ("deeplift_shap",),
    "shap": ("gradient_shap", "kernel_shap", "deeplift_shap"),
    "lrp": ("lrp_epsilon_0_1", "lrp_z", "lrp_alpha_1_beta_0"),
    "sign": ("lrpsign_epsilon_0_1", "gradient_x_sign"),
}

_NUMBER_TEXT = re.compile(r"(^|[_\s-])(-?)(\d+(?:\.\d+)?(?:e[-+]?\d+)?)(?=$|[_\s-])")


def _normalised(name: str) -> str:
    """``name`` as method names are written: CamelCase split (``IntegratedGradients``), lower
    case, numbers as ``0_1`` / ``neg_0_5`` / ``0_001`` (``0.1``, ``-0.5`` after ``_``, ``1e-3``),
    and hyphens, dots, spaces and ``*`` as ``_`` (``LRP-Epsilon`` -> ``lrp_epsilon``)."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()

    def number(match: re.Match[str]) -> str:
        if not (match[2] or "." in match[3] or "e" in match[3]):
            return match[0]  # digits alone: a name's own number (0_01 is 0.01)
        value = float(match[3]) * (-1.0 if match[2] else 1.0)
        return ("_" if match[1] else "") + format_number(value)

    text = _NUMBER_TEXT.sub(number, text)
    return re.sub(r"[\s\-.*]+", "_", text).strip("_")


def _closest(name: str) -> str:
    candidates = list_methods() + list(ALIASES)
    normal = _normalised(name)
    close = difflib.get_close_matches(normal, candidates, n=5, cutoff=0.6)
    first = list(OTHER_NAMES.get(normal, ()))
    if normal != name and _valid(normal):  # 'LRP-Epsilon-0.1' -> lrp_epsilon_0_1
        first.insert(0, normal)
    else:
        respelled = _respelled(normal, candidates)
        if respelled is not None:  # the user's own numbers with the misspelt words mended
            first.insert(0, respelled)
    close = [*first, *[c for c in close if c not in first]][: max(5, len(first))]
    return f"; closest names: {', '.join(close)}" if close else ""


def _valid(name: str) -> bool:
    try:
        _parse_name(name)
    except (UnknownMethodError, MethodParameterError):
        return False
    return True


def _respelled(name: str, candidates: list[str]) -> str | None:
    """``name`` with each unknown word replaced by the closest word of the known names, if that
    gives a valid name (``lrp_epsilom_0_1`` -> ``lrp_epsilon_0_1``), else ``None``."""
    words = {word for candidate in candidates for word in candidate.split("_") if not word.isdigit()}
    words.add("neg")
    mended = []
    for word in name.lower().split("_"):
        if word.isdigit() or word in words:
            mended.append(word)
            continue
        close = difflib.get_close_matches(word, sorted(words), n=1, cutoff=0.6)
        if not close:
            return None
        mended.append(close[0])
    respelled = "_".join(mended)
    return respelled if respelled != name and _valid(respelled) else None


def _match_family(base: str, method_name: str) -> tuple[Family, dict[str, Any]]:
    for family in _FAMILIES.values():
        match = family.regex.fullmatch(base)
        if match is None:
            continue
        values: dict[str, Any] = {}
        for key, text in match.groupdict().items():
            if text is None:
                continue
            param = family.param(key)
            if param.kind is bool:
                values[key] = True
            elif param.kind is float:
                values[key] = parse_number(text)
            elif param.kind is int:
                values[key] = int(text)
            else:
                values[key] = text
        return family, values
    stems = [f for f in _FAMILIES.values() if base.startswith(f.name)]
    if stems:
        forms = " or ".join(f"'{f.form}'" for f in stems)
        raise UnknownMethodError(
            f"method_name '{method_name}' starts like {forms} but does not follow that form "
            f"(numbers are written 0_5, 0_05, neg_0_5, 10){_closest(method_name)}"
        )
    raise UnknownMethodError(f"unknown method_name '{method_name}'{_closest(method_name)}")


def parse(method_name: str, keywords: Mapping[str, Any] | None = None) -> MethodSpec:
    """Parse a method name and keyword parameters into a :class:`MethodSpec`.

    Parameters
    ----------
    method_name
        A name of the grammar in METHODS.md, e.g. ``'lrpsign_epsilon_0_25_std_x'``.
    keywords
        Parameters passed as keywords; a keyword that contradicts the name is an error.

    Returns
    -------
    MethodSpec
        The family, every parameter (defaults filled in) and the post-multiplier.

    Raises
    ------
    UnknownMethodError
        The name is not in the registry (the closest names are suggested).
    MethodParameterError
        A bad number, an unknown keyword or a conflict between name and keyword.
    """
    if not isinstance(method_name, str):
        raise UnknownMethodError(f"method_name must be a str, got {type(method_name).__name__}")
    if not keywords:  # the common call: the name alone, parsed once
        spec = _parse_name(method_name)
        return dataclasses.replace(spec, params=dict(spec.params))
    return _parse(method_name, dict(keywords))


#: The threshold of the ``_x_sign_mu`` suffix, given as a keyword.
_POST_MU = Param("mu", float, 0.0, "SIGN-mu threshold of the _x_sign_mu suffix")


@functools.lru_cache(maxsize=512)
def _parse_name(method_name: str) -> MethodSpec:
    return _parse(method_name, {})


def _parse(method_name: str, keywords: dict[str, Any]) -> MethodSpec:
    for preset, fixed in PRESETS.items():
        if method_name.endswith(preset):
            base = method_name[: -len(preset)]
            kind = "zblrp" if base.startswith("zblrp_") else "grad_cam"
            need = (
                "low= and high= (the bounds of your model's input)"
                if kind == "zblrp"
                else "target_layer= (the layer of your model to explain)"
            )
            raise UnknownMethodError(
                f"method_name '{method_name}' is a preset of the original package for its "
                f"{preset[1:]} network ({fixed[kind]}); use '{base}' with {need}"
            )
    name = ALIASES.get(method_name, method_name)
    post: Post | None = None
    mu = 0.0
    base = name
    post_match = POST_PATTERN.match(name)
    if post_match is not None:
        base = ALIASES.get(post_match["base"], post_match["base"])
        post = _POSTS[post_match["post"]]
        if post_match["mu"] is not None:
            if post.name != "sign_mu":
                raise UnknownMethodError(
                    f"method_name '{method_name}': only _x_sign_mu takes a number{_closest(method_name)}"
                )
            mu = parse_number(post_match["mu"])
            given = _POST_MU.convert(keywords.pop("mu", None), method_name)
            if given is not None and given != mu:
                raise MethodParameterError(
                    f"parameter 'mu' is {mu:g} in method_name '{method_name}' but the keyword "
                    "gives another value"
                )
        elif post.name == "sign_mu":  # before, float(): NaN taken, text and None raw errors
            given = _POST_MU.convert(keywords.pop("mu", None), method_name)
            mu = 0.0 if given is None else given
    family, values = _match_family(base, method_name)
    if post is not None and family.kind != "gradient":
        raise UnknownMethodError(
            f"method_name '{method_name}': the suffix _x_{post.name} applies to gradient-type "
            f"methods only, not to the {family.kind} family '{family.name}'"
        )
    params = _merge(family, values, keywords, method_name)
    if family.finish is not None:
        params = family.finish(params, method_name)
    spec = MethodSpec(name="", family=family, params=params, post=post, mu=mu)
    return MethodSpec(name=canonical_name(spec), family=family, params=params, post=post, mu=mu)


#: How other libraries name the explained class (captum, the original package, Keras tutorials).
TARGET_SPELLINGS = {
    "target",
    "targets",
    "target_index",
    "target_idx",
    "neuron_selection",
    "label",
    "labels",
    "class_idx",
    "class_index",
    "target_class_index",
}


def _merge(
    family: Family, values: dict[str, Any], keywords: dict[str, Any], method_name: str
) -> dict[str, Any]:
    known = {p.name for p in family.params}
    unknown = sorted(set(keywords) - known)
    if unknown:
        meant = {word: difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6) for word in unknown}
        hints = "".join(f"; {word}: did you mean {close[0]}?" for word, close in meant.items() if close)
        targets = [word for word in unknown if word in TARGET_SPELLINGS]
        if targets:  # the other libraries' names for the explained class
            hints += f"; {', '.join(targets)}: the class to explain is explain()'s target_class="
        raise MethodParameterError(
            f"'{method_name}' does not take the parameter(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(known)) or 'none'}{hints}"
        )
    params: dict[str, Any] = {}
    for param in family.params:
        value = param.convert(values[param.name], method_name) if param.name in values else None
        if param.name in keywords:
            given = param.convert(keywords[param.name], method_name)
            if value is not None and not _same(given, value):
                raise MethodParameterError(
                    f"parameter '{param.name}' is {value!r} in method_name '{method_name}' but "
                    f"{given!r} as a keyword; give it once"
                )
            value = given
        params[param.name] = param.default if value is None else value
    return params


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def canonical_name(spec: MethodSpec) -> str:
    """Write the canonical method name of a spec (parse-then-write gives the name back)."""
    name = spec.family.write(spec.params)
    if spec.post is not None:
        name += f"_x_{spec.post.name}"
        if spec.post.name == "sign_mu":
            name += f"_{format_number(spec.mu)}"
    return name


def describe_method(method_name: str, **params: Any) -> dict[str, Any]:
    """Describe a method: its family, rule, parameters and a one-line definition.

    Parameters
    ----------
    method_name
        Any accepted method name (aliases included).
    **params
        Keyword parameters, as they would be given to ``explain``.

    Returns
    -------
    dict
        ``name`` (canonical), ``family``, ``kind``, ``parameters`` (every value resolved),
        ``post`` (suffix or None) and ``definition``.
    """
    spec = parse(method_name, params)
    post = None if spec.post is None else f"x_{spec.post.name}"
    parameters = dict(spec.params)
    if spec.post is not None and spec.post.name == "sign_mu":
        parameters["mu"] = spec.mu
    return {
        "name": spec.name,
        "family": spec.family.name,
        "kind": spec.family.kind,
        "parameters": parameters,
        "post": post,
        "definition": spec.definition,
    }
