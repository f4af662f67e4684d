"""The torch operations a model's forward pass may apply, by kind, and helpers for their calls.

Two graph modes read these tables while the forward pass runs: LRP's
(:mod:`signxai.methods.lrp_graph`) and DeepLIFT's (:mod:`signxai.methods.deeplift`). Each names
the functions, ``Tensor`` methods and operators of one kind: sums and differences, reductions and
poolings, products (linear when one factor is constant), elementwise activations, statistics and
normalisations, steps and spectral transforms, and the operations that only move, copy or select
values. An operation on input-dependent values that no table names is an error in both modes (a
whitelist), never a silent plain gradient.
"""

from __future__ import annotations

import functools
import inspect
import itertools
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

from signxai.errors import UnsupportedModelError

T = torch.Tensor

ADDITIONS = {torch.add, T.add, T.__add__, T.__radd__, T.__iadd__, T.add_}
SUBTRACTIONS = {torch.sub, torch.subtract, T.sub, T.subtract, T.__sub__, T.__isub__, T.sub_, T.subtract_}
#: ``c - x`` written with ``x`` first (``1.0 - x`` calls ``x.__rsub__(1.0)``).
REVERSED_SUBTRACTIONS = {T.__rsub__, torch.rsub}
#: In-place forms, and the out-of-place operation each one computes.
IN_PLACE: dict[Any, Any] = {
    T.__iadd__: torch.add,
    T.add_: torch.add,
    T.__isub__: torch.sub,
    T.sub_: torch.sub,
    T.subtract_: torch.sub,
    T.__imul__: torch.mul,
    T.mul_: torch.mul,
    T.multiply_: torch.mul,
    T.__itruediv__: torch.div,
    T.div_: torch.div,
    T.divide_: torch.div,
    T.true_divide_: torch.div,
}
#: Divisions, under each of torch's names (``torch.divide`` and ``true_divide`` are functions of
#: their own, not ``torch.div``: before, they passed the gradient, scaling the relevance).
DIVISIONS = {
    torch.div, T.div, T.__truediv__, T.__rtruediv__, T.__itruediv__, T.div_, torch.divide,
    T.divide, T.divide_, torch.true_divide, T.true_divide, T.true_divide_,
}  # fmt: skip
REDUCTIONS = {torch.mean, T.mean, torch.sum, T.sum, torch.nanmean, T.nanmean, torch.nansum, T.nansum}
#: Linear maps without offset, explained by the z-rule (R_x = x * J^T (R / y)): negation, running
#: sums and differences, average pooling and interpolation (linear interpolation mixes neighbours,
#: so the gradient alone would not conserve).
POOLINGS = {
    torch.neg,  # -x: relevance passes unchanged, as through x * -1 (the gradient would flip its sign)
    T.neg,
    T.__neg__,
    torch.negative,
    T.negative,
    torch.cumsum,  # running sums and differences along an axis: linear maps without offset too
    T.cumsum,
    torch.diff,
    T.diff,
    F.interpolate,
    F.upsample,
    F.avg_pool1d,
    F.avg_pool2d,
    F.avg_pool3d,
    F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d,
    F.adaptive_avg_pool3d,
    F.upsample_nearest,
    F.upsample_bilinear,
    T.sum_to_size,  # sums over broadcast axes
    F.fold,  # sums overlapping patches
    torch.trapezoid,  # integrals of the input-dependent values: weighted sums
    torch.trapz,
    torch.cumulative_trapezoid,
}
#: Elementwise products, where one factor may be a gate over the other.
MULTIPLICATIONS = {
    torch.mul,
    T.mul,
    T.__mul__,
    T.__rmul__,
    T.__imul__,
    T.mul_,
    torch.multiply,
    T.multiply,
    T.multiply_,
}
PRODUCTS = (
    MULTIPLICATIONS
    | DIVISIONS
    | {
        torch.matmul,
        T.matmul,
        T.__matmul__,
        T.__rmatmul__,
        torch.mm,
        T.mm,
        torch.mv,
        T.mv,
        torch.tensordot,
        torch.addmm,
        torch.bmm,
        T.bmm,
        torch.einsum,
        torch.baddbmm,
        F.scaled_dot_product_attention,
        F.bilinear,
        # the same products under other names (each passed the gradient before)
        torch.inner,
        T.inner,
        torch.linalg.vecdot,
        torch.linalg.matmul,
        torch.dot,
        T.dot,
        torch.vdot,
        T.vdot,
        T.addmm,
        torch.addmv,
        T.addmv,
        torch.addbmm,
        T.addbmm,
        T.baddbmm,
    }
)
#: Products of a list of matrices: relevance has no rule through the list (write them with ``@``).
LIST_PRODUCTS = {torch.linalg.multi_dot, torch.chain_matmul}
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
    # elementwise functions written out in a forward: activations too (relevance passes)
    torch.abs,
    T.abs,
    T.__abs__,
    torch.square,
    T.square,
    torch.pow,
    T.pow,
    T.__pow__,
    T.__rpow__,
    torch.exp,
    T.exp,
    torch.log,
    T.log,
    torch.sqrt,
    T.sqrt,
    torch.clamp,
    T.clamp,
    torch.clip,
    T.clip,
    torch.sin,
    T.sin,
    torch.cos,
    T.cos,
    torch.atan,
    T.atan,
    torch.erf,
    T.erf,
    torch.log1p,
    T.log1p,
    torch.expm1,
    T.expm1,
    F.prelu,
    F.rrelu,
    F.threshold,
    F.hardshrink,
    F.softshrink,
    F.tanhshrink,
    torch.tan,
    T.tan,
    torch.asinh,
    T.asinh,
    torch.erfc,
    T.erfc,
    torch.exp2,
    T.exp2,
    torch.log2,
    T.log2,
    torch.log10,
    T.log10,
    torch.logit,
    T.logit,
    torch.sinc,
    T.sinc,
    torch.nan_to_num,
    T.nan_to_num,
    # the same under torch.special's names, and further elementwise functions
    torch.special.expit,
    torch.special.erf,
    torch.special.erfc,
    torch.special.erfinv,
    torch.erfinv,
    T.erfinv,
    torch.special.logit,
    torch.special.expm1,
    torch.special.exp2,
    torch.special.log1p,
    torch.special.sinc,
    torch.special.ndtr,
    torch.special.log_ndtr,
    torch.special.i0e,
    torch.i0,
    torch.clamp_min,
    T.clamp_min,
    torch.clamp_max,
    T.clamp_max,
    torch.sinh,
    T.sinh,
    torch.cosh,
    T.cosh,
    torch.arcsinh,
    torch.arctan,
    torch.rad2deg,
    torch.deg2rad,
    torch.float_power,
    T.float_power,
}
#: Elementwise maxima and minima of two tensors. LRP: max(h, c) with a constant is an elementwise
#: function of h (relevance passes); of two input-dependent tensors the gradient routes relevance
#: to the larger (smaller), as max pooling. (DeepLIFT adds torch.max/min of two tensors.)
PAIRWISE_EXTREMES = {
    torch.maximum,
    T.maximum,
    torch.minimum,
    T.minimum,
    torch.fmax,
    T.fmax,
    torch.fmin,
    T.fmin,
}
#: 1 / x and 1 / sqrt(x) of an input-dependent x: divisions by it (no rule).
RECIPROCALS = {torch.reciprocal, T.reciprocal, torch.rsqrt, T.rsqrt}
#: In-place elementwise methods, and the out-of-place function each one computes.
ELEMENTWISE_IN_PLACE: dict[Any, Any] = {
    T.abs_: torch.abs,
    T.pow_: torch.pow,
    T.__ipow__: torch.pow,
    T.exp_: torch.exp,
    T.log_: torch.log,
    T.sqrt_: torch.sqrt,
    T.clamp_: torch.clamp,
    T.clip_: torch.clip,
    T.sigmoid_: torch.sigmoid,
    T.tanh_: torch.tanh,
}
SOFTMAX = {
    torch.softmax, T.softmax, F.softmax, torch.log_softmax, T.log_softmax, F.log_softmax, F.softmin,
    torch.special.softmax, torch.special.log_softmax,
}  # fmt: skip
#: Normalisations by statistics of the input itself, written functionally (the modules are caught
#: as modules without a rule): no LRP rule, and their gradient is no relevance.
NORMALISATIONS = {
    F.layer_norm,
    F.group_norm,
    F.rms_norm,
    F.instance_norm,
    F.local_response_norm,
    F.normalize,
}
#: Normalisations that are an affine map of their input when they use fixed statistics (running
#: ones, in eval mode) and normalise by the input's own statistics otherwise: each function's
#: argument that says which (position, name, default).
STATISTICS_SWITCH = {F.batch_norm: (5, "training", False), F.instance_norm: (5, "use_input_stats", True)}


def uses_own_statistics(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a call of a ``STATISTICS_SWITCH`` function normalises by its input's own statistics
    (the batch's, or each sample's) rather than by fixed ones."""
    position, name, default = STATISTICS_SWITCH[func]
    return bool(kwargs.get(name, args[position] if len(args) > position else default))


#: Nonlinear statistics of input-dependent values (statistics pooling's standard deviation, norms,
#: products over an axis): no LRP rule, and their gradient is no relevance.
STATISTICS = {
    torch.std,
    T.std,
    torch.var,
    T.var,
    torch.std_mean,
    torch.var_mean,
    torch.norm,
    T.norm,
    torch.linalg.norm,
    torch.linalg.vector_norm,
    torch.prod,
    T.prod,
    torch.logsumexp,
    T.logsumexp,
}
#: ReLU called as a function: the gradient passes it (nothing to handle), but its output is an
#: elementwise function of its input (for products of functions of one tensor).
RELUS = {torch.relu, T.relu, F.relu}
#: Spectral transforms of input-dependent values: complex-valued, their magnitude not linear; no
#: LRP rule (the plain gradient through them gave maps that conserve nothing, silently).
SPECTRAL = {
    *(
        getattr(torch.fft, name)
        for name in (
            "fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2",
            "fftn", "ifftn", "rfftn", "irfftn", "hfft", "ihfft",
        )
    ),
    torch.stft,
    torch.istft,
    T.stft,
    T.istft,
    torch.view_as_real,
    torch.view_as_complex,
}  # fmt: skip
#: Step functions: their gradient is zero almost everywhere, so relevance would stop at them.
STEPS = {
    torch.sign, T.sign, torch.sgn, T.sgn, torch.round, T.round, torch.floor, T.floor,
    torch.ceil, T.ceil, torch.trunc, T.trunc, torch.fix, T.fix, torch.heaviside, T.heaviside,
    torch.floor_divide, T.floor_divide, T.__floordiv__, T.__rfloordiv__,
}  # fmt: skip
#: Other nonlinear functions of input-dependent values without an LRP rule.
NONLINEAR = {
    torch.cumprod, T.cumprod, torch.atan2, T.atan2, torch.arctan2, torch.hypot, T.hypot,
    torch.fmod, T.fmod, torch.remainder, T.remainder, T.__mod__, torch.frac, T.frac,
    torch.lgamma, T.lgamma, torch.lerp, T.lerp, torch.addcmul, T.addcmul, torch.addcdiv,
    T.addcdiv, torch.outer, T.outer, torch.kron, torch.cdist, F.cosine_similarity, torch.ger,
    T.ger, torch.logaddexp, T.logaddexp, torch.logaddexp2, T.logaddexp2, torch.xlogy, T.xlogy,
    torch.special.xlogy, torch.special.xlog1py, torch.copysign, T.copysign, torch.quantile,
    T.quantile, torch.nanquantile, T.nanquantile, torch.logcumsumexp, T.logcumsumexp,
    F.pairwise_distance, F.pdist, torch.renorm, T.renorm, F.lp_pool1d, F.lp_pool2d, F.lp_pool3d,
}  # fmt: skip
#: Operations that only move, copy or select input-dependent values elementwise (reshapes,
#: indexing, concatenation, padding, casts, dropout at inference): their gradient carries the
#: relevance (a copy's relevance sums back), so LRP and DeepLIFT let it through.
MOVES = {
    T.__getitem__,
    T.__setitem__,
    torch._pack_padded_sequence,  # packed sequences (recordings of different lengths)
    torch._pad_packed_sequence,
    # further names of moves and copies (each an error while missing from this list)
    torch.broadcast_tensors,
    torch.atleast_1d,
    torch.atleast_2d,
    torch.atleast_3d,
    torch.ravel,
    T.ravel,
    torch.moveaxis,
    T.moveaxis,
    torch.swapdims,
    T.swapdims,
    torch.hsplit,
    torch.vsplit,
    torch.dsplit,
    T.hsplit,
    T.vsplit,
    torch.column_stack,
    torch.dstack,
    torch.row_stack,
    T.scatter,
    torch.scatter,
    T.index_fill,
    torch.index_fill,
    torch.take,
    T.take,
    torch.narrow_copy,
    torch.diagonal,
    T.diagonal,
    torch.diag_embed,
    torch.tril,
    T.tril,
    torch.triu,
    T.triu,
    T.bfloat16,
    T.requires_grad_,
    T.squeeze_,
    T.unsqueeze_,
    T.t_,
    T.transpose_,
    T.swapaxes_,
    T.swapdims_,
    T.__reversed__,
    F.channel_shuffle,
    torch.channel_shuffle,
    torch.native_channel_shuffle,
    T.unsafe_chunk,
    T.unsafe_split,
    torch.unsafe_chunk,
    torch.unsafe_split,
    T.split_with_sizes,
    torch.split_with_sizes,
    T.view,
    T.view_as,
    T.reshape,
    T.reshape_as,
    torch.reshape,
    T.flatten,
    torch.flatten,
    T.unflatten,
    torch.unflatten,
    T.permute,
    torch.permute,
    T.transpose,
    torch.transpose,
    T.swapaxes,
    torch.swapaxes,
    T.movedim,
    torch.movedim,
    T.t,
    torch.t,
    T.squeeze,
    torch.squeeze,
    T.unsqueeze,
    torch.unsqueeze,
    T.contiguous,
    T.clone,
    torch.clone,
    T.detach,
    torch.detach,
    T.expand,
    T.expand_as,
    T.broadcast_to,
    torch.broadcast_to,
    T.repeat,
    T.repeat_interleave,
    torch.repeat_interleave,
    T.tile,
    torch.tile,
    torch.cat,
    torch.concat,
    torch.concatenate,
    torch.stack,
    torch.hstack,
    torch.vstack,
    torch.split,
    T.split,
    torch.chunk,
    T.chunk,
    torch.tensor_split,
    T.unbind,
    torch.unbind,
    T.narrow,
    torch.narrow,
    T.select,
    torch.select,
    T.index_select,
    torch.index_select,
    T.gather,
    torch.gather,
    T.flip,
    torch.flip,
    T.roll,
    torch.roll,
    T.unfold,
    F.unfold,
    F.pixel_shuffle,
    F.pixel_unshuffle,
    T.to,
    T.float,
    T.double,
    T.half,
    T.type,
    T.type_as,
    T.cpu,
    T.cuda,
    T.copy_,
    T.masked_fill,
    torch.masked_fill,
    torch.where,
    F.pad,
    torch.constant_pad_nd,
    F.dropout,
    F.dropout1d,
    F.dropout2d,
    F.dropout3d,
    F.alpha_dropout,
    F.feature_alpha_dropout,
    torch.dropout,
}
#: Selections of input-dependent values (max pooling, maxima, top-k, sorting, medians, unpooling):
#: the gradient routes the relevance to what was selected, as through max pooling.
SELECTIONS = {
    F.max_pool1d, F.max_pool2d, F.max_pool3d, F.max_pool1d_with_indices, F.max_pool2d_with_indices,
    F.max_pool3d_with_indices, F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d,
    F.adaptive_max_pool1d_with_indices, F.adaptive_max_pool2d_with_indices,
    F.adaptive_max_pool3d_with_indices, F.max_unpool1d, F.max_unpool2d, F.max_unpool3d, torch.max,
    T.max, torch.min, T.min, torch.amax, T.amax, torch.amin, T.amin, torch.topk, T.topk, torch.sort,
    T.sort, torch.msort, T.msort, torch.median, T.median, torch.nanmedian, T.nanmedian,
    torch.kthvalue, T.kthvalue, torch.cummax, T.cummax, torch.cummin, T.cummin, torch.mode, T.mode,
    torch.take_along_dim, T.take_along_dim, torch.masked_select, T.masked_select, T.index_put,
    T.index_put_, torch.index_put, T.masked_fill_, T.masked_scatter, torch.masked_scatter,
    torch.relu_, T.relu_, F.relu_,
}  # fmt: skip
#: Layers written as functions (``F.conv1d(x, self.kernel)`` with a fixed kernel): a constant
#: linear map outside a Linear/Conv module, explained by the z-rule like products with constants.
#: Inside a Linear/Conv module's forward they are that module's own call, explained by its rule.
FUNCTIONAL_LAYERS = {
    F.linear,
    F.conv1d,
    F.conv2d,
    F.conv3d,
    F.conv_transpose1d,
    F.conv_transpose2d,
    F.conv_transpose3d,
}


def written_into(x: torch.Tensor, rule: Any) -> torch.Tensor:
    """An in-place operation kept in place for the model: ``x`` becomes ``rule(copy of x)``.

    ``rule`` builds the operation's result with its relevance rule; the copy keeps the
    autograd graph to ``x``'s old value, and ``copy_`` writes the result into ``x`` itself (a
    statement such as ``g.add_(h)`` whose result the model never reads changes ``g``).
    """
    return x.copy_(rule(x.clone()))


@functools.cache
def _signature(func: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None


def out_of_place(
    func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], in_place_forms: dict[Any, Any]
) -> tuple[bool, Any]:
    """An elementwise call on ``args[0]`` as (whether it works in place, ``t -> func`` computed out
    of place with ``t`` for ``args[0]``): in-place methods (``x.clamp_()``, as ``in_place_forms``
    maps them) and ``inplace=True``, also given by position (``F.relu6(x, True)``)."""
    in_place = func in in_place_forms
    base = in_place_forms.get(func, func)
    rest, kwargs = list(args[1:]), dict(kwargs)
    signature = _signature(base)
    if signature is not None and "inplace" in signature.parameters:
        bound = signature.bind(args[0], *rest, **kwargs)
        in_place = in_place or bool(bound.arguments.get("inplace", False))
        bound.arguments["inplace"] = False
        rest, kwargs = list(bound.args[1:]), dict(bound.kwargs)
    return in_place, lambda t: base(t, *rest, **kwargs)


def flat(values: Any) -> list[Any]:
    """``values`` with each tuple or list among them spread out (one level)."""
    out: list[Any] = []
    for value in values:
        out += list(value) if isinstance(value, (list, tuple)) else [value]
    return out


def outputs(out: Any) -> list[Any]:
    """The values an operation returned (one, or those of a tuple or list)."""
    return flat(out if isinstance(out, (list, tuple)) else (out,))


class Refused(torch.autograd.Function):
    """An operation a graph mode has no rule for, computed as usual: an error only where the
    explained output depends on it (:func:`raise_refused` raises it after the forward pass; this
    backward is the backstop). A model may compute what it does not return (an auxiliary
    head, ``z.sum()`` for a tuple output, statistics kept for monitoring)."""

    @staticmethod
    def forward(ctx: Any, message: str, func: Any, args: Any, kwargs: Any, *tracked: torch.Tensor) -> Any:
        ctx.message, ctx.order = message, next(_REFUSED_ORDER)
        ctx.name = getattr(func, "__name__", str(func))
        out = func(*args, **kwargs)
        ctx.kind = type(out)
        return out

    @staticmethod
    def backward(ctx: Any, *relevance: Any) -> Any:
        raise UnsupportedModelError(ctx.message)


_REFUSED_ORDER = itertools.count()


def refused(message: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``func(*args, **kwargs)``, which the method has no rule for: raise ``message`` now for an
    operation in place (the model's own tensor would carry it), else later, should the explained
    output depend on it (:class:`Refused`)."""
    name = getattr(func, "__name__", "")
    in_place = (
        func in IN_PLACE
        or (name.endswith("_") and not name.endswith("__"))
        or name.startswith("__i")
        or bool(kwargs.get("inplace"))
        or kwargs.get("out") is not None
    )
    tracked = [a for a in flat((*args, *kwargs.values())) if input_dependent(a)]
    if in_place or not tracked:
        raise UnsupportedModelError(message)
    out = Refused.apply(message, func, args, kwargs, *tracked)
    node = next((v.grad_fn for v in outputs(out) if getattr(v, "grad_fn", None) is not None), None)
    kind = getattr(node, "kind", tuple)
    if isinstance(out, tuple) and kind is not tuple and issubclass(kind, tuple):
        return kind(out)  # torch.return_types (values, indices), as the function returns them
    return out


def nodes_below(root: Any) -> Iterator[Any]:
    """The autograd nodes ``root`` is computed from, ``root`` first, each once."""
    stack, seen = [root], {root}
    while stack:
        node = stack.pop()
        yield node
        for child, _ in getattr(node, "next_functions", ()):
            if child is not None and child not in seen:
                seen.add(child)
                stack.append(child)


def _functions_below(root: Any) -> Iterator[Any]:
    """The ``torch.autograd.Function`` nodes of the autograd graph below ``root``."""
    return (node for node in nodes_below(root) if getattr(node, "_forward_cls", None) is not None)


def raise_refused(root: Any) -> None:
    """Raise the message of the first operation without a rule (:func:`refused`) that ``root``
    depends on, in the order the forward pass ran them; nothing if there is none."""
    refusals = [node for node in _functions_below(root) if node._forward_cls is Refused]
    if refusals:
        raise UnsupportedModelError(min(refusals, key=lambda node: node.order).message)


def refuse_custom_functions(root: Any, method: str) -> None:
    """Raise if the autograd graph below ``root`` holds a ``torch.autograd.Function`` of the
    model's own (signxai's rules excepted): the graph modes cannot see the operations inside it,
    and its backward would stand in for the method's rules (a gradient-reversal layer flipped
    the sign of every LRP and DeepLIFT map, silently)."""
    found = {
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in (node._forward_cls for node in _functions_below(root))
        if not cls.__module__.startswith("signxai.")
    }
    if found:
        raise UnsupportedModelError(
            f"{method}: the model applies the custom autograd Function {', '.join(sorted(found))}, "
            f"whose operations {method} cannot see and whose backward would stand in for its rules; "
            "use a gradient-type method or occlusion"
        )


def substituted(func: Any, args: tuple[Any, ...], position: int, kwargs: Any) -> Any:
    """``t -> func(*args)`` with ``t`` in place of ``args[position]``."""

    def f(t: torch.Tensor) -> Any:
        return func(*args[:position], t, *args[position + 1 :], **kwargs)

    return f


def input_dependent(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.requires_grad
