"""Keras 3 (TensorFlow backend) models explained by the one engine, through a proved conversion.

``to_torch(keras_model)`` maps the model layer by layer onto torch modules (channels-first), so
every method of the registry — LRP and SIGN included — runs on it unchanged. ``explain`` calls
:func:`explain_keras`, which checks on the caller's input that the converted module computes the
same outputs as the Keras model (relative error < 1e-4) before it explains anything.

Why a small mapping instead of a general converter (tf2onnx + onnx2torch): the explanation
methods need the model's *layers* as torch modules (Conv1d, Linear, BatchNorm, ReLU, ...) with
Keras's names, so that LRP rules, BatchNorm merging and Grad-CAM's ``target_layer`` work; an
ONNX round trip yields generic graph nodes (and splits activations, transposes and pads into
anonymous ops), and adds two heavy dependencies. The mapping covers the layers of signal and
image classifiers listed in :data:`SUPPORTED`; anything else is an error naming the layer class.

Details that break naive conversions, handled here: Keras is channels-last, so inputs and maps
are transposed and ``Flatten`` flattens in channels-last order; Keras layers carry their
activation (``Conv1D(..., activation='relu')``), so each becomes a linear module plus an
activation module inside one container named like the Keras layer, whose output (after the
activation) is what Grad-CAM uses for ``target_layer='<keras layer name>'``; ``padding='same'``
with strides pads asymmetrically (more on the right), as TensorFlow does, inside the convolution
(:class:`PaddedConv1d`), so that LRP's input-layer rules see the input, not a padded copy; pooling
with ``padding='same'`` pads with -inf (max) or averages over the samples inside the input only
(average), as TensorFlow does.
"""

from __future__ import annotations

import math
import operator
import weakref
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from signxai.errors import InputError, UnsupportedModelError
from signxai.methods.lrp import register_passive

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "linear": nn.Identity,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "softmax": lambda: nn.Softmax(dim=1),
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "softplus": nn.Softplus,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "gelu": nn.GELU,  # Keras's gelu is exact (approximate=False), as torch's default
    "relu6": nn.ReLU6,
    "hard_sigmoid": nn.Hardsigmoid,  # Keras 3: relu6(x + 3) / 6, as torch's
    "hard_silu": nn.Hardswish,
    "hard_swish": nn.Hardswish,
    "mish": nn.Mish,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),  # Keras's default slope for the activation function
    "log_softmax": lambda: nn.LogSoftmax(dim=1),
    "celu": nn.CELU,  # alpha 1, as Keras's default
    "hard_tanh": nn.Hardtanh,
    "hard_shrink": nn.Hardshrink,  # threshold 0.5, as Keras's default
    "soft_shrink": nn.Softshrink,  # threshold 0.5, as Keras's default
    "tanh_shrink": nn.Tanhshrink,
    "log_sigmoid": nn.LogSigmoid,
    "softsign": nn.Softsign,
    "exponential": lambda: Exponential(),
}


class Exponential(nn.Module):
    """Keras's ``exponential`` activation, ``exp(x)`` (an elementwise activation for LRP)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """exp(x)."""
        return torch.exp(x)


class _PadsFirst:
    """Mixin: the module pads its own input first (``pads`` in torch's order, last axis first).

    The padding belongs to the layer, as in Keras, so rules that look at a layer's input (the
    flat and w-square rules' normalisation, epsilon std_x, SIGN) see the unpadded input.
    """

    def __init__(self, *args: Any, pads: tuple[int, ...], value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pads, self.pad_value = pads, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer applied to the padded input."""
        return super().forward(F.pad(x, self.pads, value=self.pad_value))  # type: ignore[misc]


class PaddedConv1d(_PadsFirst, nn.Conv1d):
    """A Conv1d that zero-pads its own input first, by any amounts on either side."""


class PaddedConv2d(_PadsFirst, nn.Conv2d):
    """A Conv2d that zero-pads its own input first, by any amounts on either side."""


class _CropsAfter:
    """Mixin: a transposed convolution whose output is cropped at either end (``pads`` <= 0, in
    torch's order, last axis first), to TensorFlow's output shape.

    TensorFlow's ``padding='same'`` crops an odd total more on the right, which torch's symmetric
    ``padding`` cannot express. The crop belongs to the layer, so its LRP rule sees the output
    Keras computes.
    """

    def __init__(self, *args: Any, pads: tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pads = pads

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        """The layer's full output, cropped (``output_size`` as torch's)."""
        return F.pad(super().forward(input, output_size), self.pads)  # type: ignore[misc]


class CroppedConvTranspose1d(_CropsAfter, nn.ConvTranspose1d):
    """A ConvTranspose1d with TensorFlow's output cropping (Keras ``Conv1DTranspose``)."""


class CroppedConvTranspose2d(_CropsAfter, nn.ConvTranspose2d):
    """A ConvTranspose2d with TensorFlow's output cropping (Keras ``Conv2DTranspose``)."""


class SamePadMaxPool1d(_PadsFirst, nn.MaxPool1d):
    """TensorFlow's max pooling with ``padding='same'`` (pass ``value=-inf``: never the maximum)."""


class SamePadMaxPool2d(_PadsFirst, nn.MaxPool2d):
    """TensorFlow's 2D max pooling with ``padding='same'`` (pass ``value=-inf``)."""


class SamePadAvgPool(nn.Module):
    """TensorFlow's average pooling with ``padding='same'``: the mean over the samples inside.

    The window sum of the zero-padded input divided by how many of the window's samples lie in
    the input (not by the window size); LRP redistributes relevance in proportion to the inputs,
    which that per-window divisor does not change.
    """

    def __init__(self, kernel_size: tuple[int, ...], stride: tuple[int, ...], pads: tuple[int, ...]) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.pads = kernel_size, stride, pads
        pool: Any = nn.AvgPool1d if len(kernel_size) == 1 else nn.AvgPool2d
        self.pool = pool(kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Average of the zero-padded input, rescaled to the samples inside the input."""
        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
        inside = self.pool(F.pad(ones, self.pads))
        return self.pool(F.pad(x, self.pads)) / inside


class KerasLayer(nn.Module):
    """One Keras layer: its linear part and its activation, output after the activation."""

    def __init__(self, body: nn.Module, activation: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """activation(body(x))."""
        return self.activation(self.body(x))


class ChannelsLastFlatten(nn.Flatten):
    """Keras's ``Flatten`` on channels-first data: move channels last, then flatten."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Flatten in Keras's (channels-last) order."""
        if x.ndim > 2:
            x = x.movedim(1, -1)
        return x.flatten(1)


class ChannelsLastReshape(nn.Module):
    """Keras's ``Reshape`` (of the channels-last tensor), returning channels-first."""

    def __init__(self, target_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.target_shape = target_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reshape as Keras would, in channels-last layout."""
        if x.ndim > 2:
            x = x.movedim(1, -1)
        x = x.reshape(x.shape[0], *self.target_shape)
        return x.movedim(-1, 1) if x.ndim > 2 else x


class ChannelsLastPermute(nn.Module):
    """Keras's ``Permute`` (``dims`` numbers the channels-last axes from 1), channels-first out."""

    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Permute as Keras would, in channels-last layout."""
        x = x.movedim(1, -1).permute(0, *self.dims)
        return x.movedim(-1, 1)


class ChannelsLastLayerNorm(nn.LayerNorm):
    """Keras's ``LayerNormalization`` over the channels (its last axis) on channels-first data."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each position over its channels."""
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class KerasMultiHeadAttention(nn.Module):
    """Keras's ``MultiHeadAttention`` on channels-first sequences ``(B, E, T)``, written out.

    The query, key, value and output projections are ``nn.Linear`` modules (Keras's EinsumDense
    kernels, heads flattened), so LRP gives them the method's rule; the attention itself is
    ``F.scaled_dot_product_attention`` with Keras's scale ``1 / sqrt(key_dim)``, which LRP explains
    with ``attention='cp'`` (the weights held constant) or ``'attnlrp'`` like any other.
    ``causal`` is Keras's ``use_causal_mask=True``.
    """

    def __init__(self, heads: int, key_dim: int, projections: dict[str, nn.Module], causal: bool) -> None:
        super().__init__()
        self.heads, self.key_dim, self.causal = heads, key_dim, causal
        self.query, self.key = projections["query"], projections["key"]
        self.value, self.attention_output = projections["value"], projections["attention_output"]

    def forward(
        self, query: torch.Tensor, value: torch.Tensor, key: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attention of ``query`` on ``value`` (keys from ``key``, by default ``value``)."""
        q_in, v_in = query.transpose(1, 2), value.transpose(1, 2)
        k_in = v_in if key is None else key.transpose(1, 2)
        batch, length, source = q_in.shape[0], q_in.shape[1], v_in.shape[1]

        def heads(t: torch.Tensor, steps: int) -> torch.Tensor:  # (B, steps, H * d) -> (B, H, steps, d)
            return t.view(batch, steps, self.heads, -1).transpose(1, 2)

        q, k = heads(self.query(q_in), length), heads(self.key(k_in), source)
        v = heads(self.value(v_in), source)
        scale = 1.0 / math.sqrt(self.key_dim)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal, scale=scale)
        return self.attention_output(attended.transpose(1, 2).reshape(batch, length, -1)).transpose(1, 2)


class KerasDotAttention(nn.Module):
    """Keras's ``Attention`` (Luong-style, ``score_mode='dot'``) on channels-first sequences:
    softmax(q k^T * scale) v over the steps, the key defaulting to the value. With ``causal``
    (``use_causal_mask=True``) step i attends to steps j <= i: the others' scores are lowered by
    1e9 before the softmax, as Keras does."""

    def __init__(self, scale: float | None, causal: bool = False) -> None:
        super().__init__()
        self.scale = scale
        self.causal = causal

    def forward(
        self, query: torch.Tensor, value: torch.Tensor, key: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attention of the query's steps over the value's, returned channels first."""
        q, v = query.transpose(1, 2), value.transpose(1, 2)
        k = v if key is None else key.transpose(1, 2)
        scores = q @ k.transpose(1, 2)
        if self.scale is not None:
            scores = scores * self.scale
        if self.causal:
            later = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).triu(1)
            scores = scores - 1.0e9 * later.to(scores.dtype)
        return (torch.softmax(scores, dim=-1) @ v).transpose(1, 2)


class KerasTimeDistributed(nn.Module):
    """Keras's ``TimeDistributed``: ``inner`` on every step of ``(B, C, T, ...)`` (channels-first;
    Keras's ``(B, T, ..., C)``), the steps folded into the batch; returns ``(B, C', T, ...)``."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The inner layer on each step."""
        batch, steps = x.shape[0], x.shape[2]
        out = self.inner(x.movedim(2, 1).reshape(batch * steps, x.shape[1], *x.shape[3:]))
        return out.reshape(batch, steps, *out.shape[1:]).movedim(1, 2)


class KerasRecurrent(nn.Module):
    """A Keras LSTM/GRU/SimpleRNN (or ``Bidirectional`` of one) on channels-first data ``(B, C, T)``.

    Returns the sequence channels-first ``(B, H, T)`` (``return_sequences=True``) or the last
    state, as Keras does; a bidirectional layer's two directions are merged by ``merge``
    (Keras's ``merge_mode``: ``concat``, ``sum``, ``ave`` or ``mul``).
    """

    def __init__(
        self, rnn: nn.RNNBase, return_sequences: bool, merge: str = "concat", backwards: bool = False
    ) -> None:
        super().__init__()
        self.rnn = rnn
        self.return_sequences = return_sequences
        self.merge = merge
        self.backwards = backwards  # go_backwards: the reversed input; a sequence stays reversed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the recurrent layer over time (the last axis)."""
        output, state = self.rnn((x.flip(-1) if self.backwards else x).transpose(1, 2))
        if self.return_sequences:
            directions = list(output.chunk(2, dim=-1)) if self.rnn.bidirectional else [output]
            return self._merged(directions).transpose(1, 2)
        h_n = state[0] if isinstance(state, tuple) else state
        return self._merged(list(h_n[-2:] if self.rnn.bidirectional else h_n[-1:]))

    def _merged(self, directions: list[torch.Tensor]) -> torch.Tensor:
        """The directions' outputs (the features last) merged as Keras's ``merge_mode``."""
        if len(directions) == 1 or self.merge == "concat":
            return torch.cat(directions, dim=-1)
        forward, backward = directions
        if self.merge == "sum":
            return forward + backward
        if self.merge == "ave":
            return (forward + backward) / 2
        return forward * backward  # "mul": a product of two signals (LRP and DeepLIFT say so)


class Add(nn.Module):
    """Keras ``Add``: the sum of the inputs (LRP splits it in proportion to the summands)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Sum of all inputs."""
        total = inputs[0]
        for other in inputs[1:]:
            total = total + other
        return total


class Concatenate(nn.Module):
    """Keras ``Concatenate`` along a channels-last axis, on channels-first tensors."""

    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Concatenate along the mapped axis."""
        return torch.cat(inputs, dim=channels_first_axis(self.axis, inputs[0].ndim))


class Subtract(nn.Module):
    """Keras ``Subtract``: the first input minus the second."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a - b."""
        return a - b


class Average(Add):
    """Keras ``Average``: the mean of the inputs (the sum, then a constant scale)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Mean of all inputs."""
        return super().forward(*inputs) / len(inputs)


def channels_first_axis(axis: int, rank: int) -> int:
    """A Keras (channels-last) axis of a tensor of ``rank`` as the torch (channels-first) axis."""
    axis %= rank
    return axis if rank == 2 or axis == 0 else (1 if axis == rank - 1 else axis + 1)


class ChannelsLastSoftmax(nn.Softmax):
    """Keras's ``Softmax`` over a channels-last axis (the last by default), on channels-first
    tensors (an ``nn.Softmax``: bypassed at the output like any)."""

    def __init__(self, axis: int) -> None:
        super().__init__(dim=1)
        self.axis = axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax along the mapped axis."""
        return torch.softmax(x, dim=channels_first_axis(self.axis, x.ndim))


class KerasPReLU(nn.PReLU):
    """Keras's ``PReLU``: max(x, 0) + alpha min(x, 0), alpha per position and channel (Keras's
    default) or shared over ``shared_axes``; alpha held channels first, ``(C, *spatial)``.

    An ``nn.PReLU``, so LRP passes relevance through it as through any activation; written with
    clamps, so guided backprop (ReLUs only) keeps its gradient and DeepLIFT's Rescale rule on
    the two parts is the rule on the whole.
    """

    def __init__(self, alpha: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """max(x, 0) + alpha min(x, 0)."""
        return x.clamp(min=0) + self.weight * x.clamp(max=0)


class KerasReLU(nn.LeakyReLU):
    """Keras's ``ReLU`` with a ``threshold`` (Keras 3's form of ``ThresholdedReLU``) or a
    ``negative_slope``: ``x`` above the threshold (clipped at ``max_value``), else
    ``negative_slope * (x - threshold)``, as ``keras.activations.relu`` computes it.

    An ``nn.LeakyReLU`` (slope ``negative_slope``), so LRP passes relevance through it as through
    any activation. Without a threshold it is written with clamps, so DeepLIFT's Rescale rule on
    the parts is the rule on the whole; a threshold is a jump (0 to ``threshold``), a selection by
    ``torch.where`` that DeepLIFT refuses.
    """

    def __init__(self, negative_slope: float, threshold: float, max_value: float | None) -> None:
        super().__init__(negative_slope)
        self.threshold = threshold
        self.max_value = max_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """clip(x * [x > threshold], 0, max_value) - negative_slope * max(threshold - x, 0)."""
        if self.threshold == 0:
            return x.clamp(min=0, max=self.max_value) + self.negative_slope * x.clamp(max=0)
        above = torch.where(x > self.threshold, x, torch.zeros_like(x)).clamp(min=0, max=self.max_value)
        return above - self.negative_slope * (self.threshold - x).clamp(min=0)


class Rescaling(nn.Module):
    """Keras's ``Rescaling``: x * scale + offset, scale and offset held channels first."""

    def __init__(self, scale: torch.Tensor, offset: torch.Tensor) -> None:
        super().__init__()
        self.scale: torch.Tensor
        self.offset: torch.Tensor
        self.register_buffer("scale", scale)
        self.register_buffer("offset", offset)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x * scale + offset."""
        return x * self.scale + self.offset


class Standardization(nn.Module):
    """Keras's ``Normalization``: (x - mean) / max(sqrt(variance), epsilon), held channels first."""

    def __init__(self, mean: torch.Tensor, divisor: torch.Tensor) -> None:
        super().__init__()
        self.mean: torch.Tensor
        self.divisor: torch.Tensor
        self.register_buffer("mean", mean)
        self.register_buffer("divisor", divisor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(x - mean) / divisor."""
        return (x - self.mean) / self.divisor


class UnitNormalization(nn.Module):
    """Keras's ``UnitNormalization``: x divided by its L2 norm over a channels-last axis."""

    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x / max(||x||, 1e-6) along the mapped axis (Keras: x / sqrt(max(||x||^2, 1e-12)))."""
        return F.normalize(x, dim=channels_first_axis(self.axis, x.ndim), eps=1e-6)


class Elementwise(nn.Module):
    """Keras's ``Multiply``, ``Maximum`` and ``Minimum``: ``combine`` folded over the inputs."""

    def __init__(self, combine: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.combine = combine

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """combine(combine(x1, x2), x3) ..."""
        out = inputs[0]
        for other in inputs[1:]:
            out = self.combine(out, other)
        return out


class Cropping(nn.Module):
    """Keras ``Cropping1D``/``Cropping2D``: drop samples at the start and the end of each spatial
    axis (one ``(start, end)`` per axis after the channels)."""

    def __init__(self, crops: tuple[tuple[int, int], ...]) -> None:
        super().__init__()
        self.crops = crops

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The cropped tensor."""
        for axis, (start, end) in enumerate(self.crops, start=2):
            x = x.narrow(axis, start, x.shape[axis] - start - end)
        return x


for _passive in (
    ChannelsLastReshape,
    ChannelsLastPermute,
    Add,
    Concatenate,
    Subtract,
    Average,
    Cropping,
    Rescaling,
    Standardization,
    UnitNormalization,
    Elementwise,
):
    register_passive(_passive)


#: keras.ops calls in a functional graph (``x + 3.0``, ``x * (1 / 6)``, as in MobileNetV3's
#: hard sigmoid), by the class name of the operation.
OPERATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.add,
    "Subtract": operator.sub,
    "Multiply": operator.mul,
    "Divide": operator.truediv,
    "TrueDivide": operator.truediv,
}


class Operation(nn.Module):
    """A keras.ops call of the functional graph on tensors and scalar constants, in its order
    (``None`` in ``arguments`` marks where a tensor goes)."""

    def __init__(self, kind: str, arguments: list[float | None]) -> None:
        super().__init__()
        self.kind = kind
        self.arguments = arguments

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        """The operation on the tensors and the constants."""
        given = iter(tensors)
        first, second = (next(given) if a is None else a for a in self.arguments)
        return cast(torch.Tensor, OPERATIONS[self.kind](first, second))


register_passive(Operation)


class KerasModule(nn.Module):
    """A converted Keras model: ``layers[<keras name>]`` run in the Keras graph's order.

    ``plan`` holds, per call of a layer, the key of its value (``'<name>:<call>'``), the layer
    and the keys of the values it takes; a layer shared by several calls is one module.
    """

    def __init__(
        self,
        plan: list[tuple[str, str, list[str]]],
        layers: dict[str, nn.Module],
        output: str,
        input_rank: int,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleDict(layers)
        self.plan = plan
        self.output = output
        self.input_rank = input_rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the layers in order; ``x`` is channels-first."""
        values: dict[str, torch.Tensor] = {"<input>": x}
        for value, name, sources in self.plan:
            values[value] = self.layers[name](*(values[s] for s in sources))
        return values[self.output]


def _same_padding(length: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    effective = (kernel - 1) * dilation + 1
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


def _tensor(value: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(value), dtype=torch.float32)


def _activation(layer: Any) -> nn.Module:
    function = getattr(layer, "activation", None)
    name = getattr(function, "__name__", "linear") if function is not None else "linear"
    if name not in ACTIVATIONS:
        raise UnsupportedModelError(
            f"Keras layer '{layer.name}' ({type(layer).__name__}) uses activation '{name}', which "
            f"has no mapping; supported: {', '.join(sorted(ACTIVATIONS))}"
        )
    return ACTIVATIONS[name]()


def _depthwise_weight(kernel: Any, dims: int) -> tuple[torch.Tensor, int]:
    """A Keras depthwise kernel ``(*k, in, multiplier)`` as torch's grouped weight and groups.

    Keras's output channel ``c * multiplier + m`` is torch's group ``c``, filter ``m``.
    """
    values = torch.as_tensor(np.asarray(kernel.numpy()))
    groups = values.shape[dims]
    values = values.reshape(*values.shape[:dims], 1, -1)
    return values.permute(dims + 1, dims, *range(dims)).contiguous(), groups


def _convolution(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
    """Conv1D/2D (also grouped: Keras's groups are torch's, contiguous blocks of channels), and
    DepthwiseConv1D/2D as a torch conv with one group per input channel."""
    dims = len(layer.kernel_size)
    if type(layer).__name__.startswith("Depthwise"):
        weight, groups = _depthwise_weight(layer.kernel, dims)
    else:
        kernel = torch.as_tensor(np.asarray(layer.kernel.numpy()))  # (*k, in / groups, out)
        weight = kernel.permute(dims + 1, dims, *range(dims)).contiguous()
        groups = int(getattr(layer, "groups", 1))
    bias = _tensor(layer.bias.numpy()) if layer.use_bias else None
    return KerasLayer(_keras_conv(layer, input_shape, weight, groups, bias), _activation(layer))


def _conv_transpose(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
    """Conv1DTranspose/2DTranspose: torch's transposed conv, its output cropped as TensorFlow's.

    The full output of a transposed conv over ``n`` samples has ``(n - 1) * s + e`` samples
    (``e`` the dilated kernel size); TensorFlow keeps ``(n - 1) * s + max(e, s)`` of them from the
    start (``'valid'``) or ``n * s`` starting ``max(e - s, 0) // 2`` in (``'same'``). Where that
    is more than the full output (``e < s``), torch's ``output_padding`` adds the samples at the
    end, which hold the bias, as TensorFlow's do.
    """
    if getattr(layer, "output_padding", None) is not None:
        raise UnsupportedModelError(f"Keras layer '{layer.name}': output_padding is not mapped")
    if layer.padding not in ("valid", "same"):
        raise UnsupportedModelError(f"Keras layer '{layer.name}': padding '{layer.padding}' is not mapped")
    dims = len(layer.kernel_size)
    kernel = torch.as_tensor(np.asarray(layer.kernel.numpy()))  # (*k, out, in)
    weight = kernel.permute(dims + 1, dims, *range(dims)).contiguous()  # torch: (in, out, *k)
    pads: list[tuple[int, int]] = []
    extra: list[int] = []  # samples added at the end (torch's output_padding: they get the bias)
    for length, k, s, d in zip(
        input_shape[1:-1], layer.kernel_size, layer.strides, layer.dilation_rate, strict=True
    ):
        effective = (k - 1) * d + 1
        full = (length - 1) * s + effective
        if layer.padding == "valid":
            start, kept = 0, (length - 1) * s + max(effective, s)
        else:
            start, kept = max(effective - s, 0) // 2, length * s
        grow = kept - (full - start)
        extra.append(max(grow, 0))
        pads.append((-start, min(grow, 0)))
    conv = (CroppedConvTranspose1d if dims == 1 else CroppedConvTranspose2d)(
        weight.shape[0],
        weight.shape[1],
        tuple(layer.kernel_size),
        stride=tuple(layer.strides),
        dilation=tuple(layer.dilation_rate),
        output_padding=tuple(extra),
        bias=layer.use_bias,
        pads=tuple(p for pair in reversed(pads) for p in pair),
    )
    with torch.no_grad():
        conv.weight.copy_(weight)
        if conv.bias is not None:
            conv.bias.copy_(_tensor(layer.bias.numpy()))
    return KerasLayer(conv, _activation(layer))


def _separable(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
    """SeparableConv1D/2D: the depthwise conv (Keras's strides, padding, dilation), then the
    pointwise 1x1 conv with the bias, then the activation."""
    dims = len(layer.kernel_size)
    weight, groups = _depthwise_weight(layer.depthwise_kernel, dims)
    depthwise = _keras_conv(layer, input_shape, weight, groups, None)
    point = torch.as_tensor(np.asarray(layer.pointwise_kernel.numpy()))  # (*1, in * multiplier, out)
    point_weight = point.permute(dims + 1, dims, *range(dims)).contiguous()
    pointwise = (nn.Conv1d if dims == 1 else nn.Conv2d)(
        point_weight.shape[1], point_weight.shape[0], 1, bias=layer.use_bias
    )
    with torch.no_grad():
        pointwise.weight.copy_(point_weight)
        if pointwise.bias is not None:
            pointwise.bias.copy_(_tensor(layer.bias.numpy()))
    return KerasLayer(nn.Sequential(depthwise, pointwise), _activation(layer))


def _keras_conv(
    layer: Any, input_shape: tuple[int, ...], weight: torch.Tensor, groups: int, bias: torch.Tensor | None
) -> nn.Module:
    """A torch conv with ``weight`` (out, in / groups, *k) and Keras's strides, dilation and padding."""
    dims = len(layer.kernel_size)
    conv_type = nn.Conv1d if dims == 1 else nn.Conv2d
    conv = conv_type(
        weight.shape[1] * groups,
        weight.shape[0],
        tuple(layer.kernel_size),
        stride=tuple(layer.strides),
        dilation=tuple(layer.dilation_rate),
        groups=groups,
        bias=bias is not None,
    )
    with torch.no_grad():
        conv.weight.copy_(weight)
        if conv.bias is not None and bias is not None:
            conv.bias.copy_(bias)
    padding = layer.padding
    if padding == "valid":
        body: nn.Module = conv
    else:
        spatial = input_shape[1:-1]
        pads = []
        for length, k, s, d in zip(
            spatial, layer.kernel_size, layer.strides, layer.dilation_rate, strict=True
        ):
            if padding == "causal":
                pads.append(((k - 1) * d, 0))
            elif padding == "same":
                pads.append(_same_padding(length, k, s, d))
            else:
                raise UnsupportedModelError(f"Keras layer '{layer.name}': padding '{padding}' is not mapped")
        if all(left == right for left, right in pads):
            # symmetric: the convolution pads itself, so that LRP's first-layer rules (flat,
            # w-square, std_x) see the input as Keras does, not a zero-padded copy of it
            conv.padding = tuple(left for left, _ in pads)
            body = conv
        else:  # asymmetric: a convolution that pads itself first, for the same reason
            flat = tuple(p for pair in reversed(pads) for p in pair)  # torch pads the last axis first
            padded = (PaddedConv1d if dims == 1 else PaddedConv2d)(
                conv.in_channels,
                conv.out_channels,
                conv.kernel_size,
                stride=conv.stride,
                dilation=conv.dilation,
                groups=groups,
                bias=conv.bias is not None,
                pads=flat,
            )
            padded.load_state_dict(conv.state_dict())
            body = padded
    return body


def _pool(layer: Any, kind: str, input_shape: tuple[int, ...]) -> nn.Module:
    dims = len(layer.pool_size)
    size, stride = tuple(layer.pool_size), tuple(layer.strides)
    if layer.padding == "valid":
        if kind == "max":
            return (nn.MaxPool1d if dims == 1 else nn.MaxPool2d)(size, stride)
        return (nn.AvgPool1d if dims == 1 else nn.AvgPool2d)(size, stride)
    if layer.padding != "same":
        raise UnsupportedModelError(f"Keras layer '{layer.name}': padding '{layer.padding}' is not mapped")
    pads = [_same_padding(n, k, st, 1) for n, k, st in zip(input_shape[1:-1], size, stride, strict=True)]
    flat = tuple(p for pair in reversed(pads) for p in pair)  # torch pads the last axis first
    if kind == "max":
        return (SamePadMaxPool1d if dims == 1 else SamePadMaxPool2d)(size, stride, pads=flat, value=-math.inf)
    return SamePadAvgPool(size, stride, flat)


def _batch_norm(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
    axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
    if axis % len(input_shape) != len(input_shape) - 1:
        raise UnsupportedModelError(
            f"Keras layer '{layer.name}': BatchNormalization must act on the last axis"
        )
    channels = input_shape[-1]
    module = (nn.BatchNorm1d if len(input_shape) <= 3 else nn.BatchNorm2d)(channels, eps=layer.epsilon)
    with torch.no_grad():
        module.weight.copy_(_tensor(layer.gamma.numpy()) if layer.scale else torch.ones(channels))
        module.bias.copy_(_tensor(layer.beta.numpy()) if layer.center else torch.zeros(channels))
        module.running_mean.copy_(_tensor(layer.moving_mean.numpy()))  # type: ignore[union-attr]
        module.running_var.copy_(_tensor(layer.moving_variance.numpy()))  # type: ignore[union-attr]
    return module


def _layer_norm(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
    """LayerNormalization over the last (channel) axis; LRP needs ``attention='cp'`` for it."""
    axes = [layer.axis] if isinstance(layer.axis, int) else list(layer.axis)
    if [a % len(input_shape) for a in axes] != [len(input_shape) - 1] or getattr(layer, "rms_scaling", False):
        raise UnsupportedModelError(
            f"Keras layer '{layer.name}': LayerNormalization is mapped over the last axis only, "
            "without rms_scaling"
        )
    channels = input_shape[-1]
    module = ChannelsLastLayerNorm(channels, eps=layer.epsilon, elementwise_affine=True)
    with torch.no_grad():
        module.weight.copy_(_tensor(layer.gamma.numpy()) if layer.scale else torch.ones(channels))
        module.bias.copy_(_tensor(layer.beta.numpy()) if layer.center else torch.zeros(channels))
    return module


def _group_norm(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
    """GroupNormalization over the last (channel) axis: ``nn.GroupNorm`` on channels-first data.

    Both split the channels into ``groups`` runs of consecutive channels and normalise each run
    over the positions; LRP needs ``attention='cp'`` for it, as for LayerNormalization.
    """
    if int(layer.axis) % len(input_shape) != len(input_shape) - 1:
        raise UnsupportedModelError(
            f"Keras layer '{layer.name}': GroupNormalization is mapped over the last axis only, "
            f"got axis={layer.axis}"
        )
    channels = input_shape[-1]
    module = nn.GroupNorm(int(layer.groups), channels, eps=float(layer.epsilon), affine=True)
    with torch.no_grad():
        module.weight.copy_(_tensor(layer.gamma.numpy()) if layer.scale else torch.ones(channels))
        module.bias.copy_(_tensor(layer.beta.numpy()) if layer.center else torch.zeros(channels))
    return module


def _dense(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
    """Dense on ``(batch, features)`` as a Linear; on sequences or images (it acts on the last,
    channel axis) as a 1x1 Conv1d/Conv2d on the channels-first data."""
    if len(input_shape) not in (2, 3, 4):
        raise UnsupportedModelError(
            f"Keras layer '{layer.name}' (Dense) acts on a {len(input_shape)}D tensor; Dense is mapped "
            "on (batch, features), (batch, steps, features) and (batch, height, width, features)"
        )
    kernel = _tensor(layer.kernel.numpy())  # (in, out)
    bias = _tensor(layer.bias.numpy()) if layer.use_bias else None
    return KerasLayer(_linear(kernel, bias, len(input_shape) - 2), _activation(layer))


def _linear(kernel: torch.Tensor, bias: torch.Tensor | None, dims: int = 0) -> nn.Module:
    """``x @ kernel + bias`` over the channels: a Linear (``dims`` 0) or a 1x1 Conv1d/Conv2d."""
    module: Any  # nn.Module attributes are typed Tensor | Module
    if dims == 0:
        module = nn.Linear(kernel.shape[0], kernel.shape[1], bias=bias is not None)
        weight = kernel.T
    else:
        module = (nn.Conv1d if dims == 1 else nn.Conv2d)(
            kernel.shape[0], kernel.shape[1], 1, bias=bias is not None
        )
        weight = kernel.T.reshape(kernel.shape[1], kernel.shape[0], *([1] * dims))
    with torch.no_grad():
        module.weight.copy_(weight)
        if bias is not None:
            module.bias.copy_(bias)
    return module


def _call_options(layer: Any, node: Any = None) -> dict[str, Any]:
    """The keyword options a layer was called with in ``node`` (default: its first call), not its
    tensors, ``training`` or ``None``s."""
    kwargs = (node or layer._inbound_nodes[0]).arguments.kwargs
    return {
        k: v
        for k, v in kwargs.items()
        if k not in ("query", "value", "key", "training") and v is not None and not _is_keras_tensor(v)
    }


def _is_keras_tensor(value: Any) -> bool:
    return hasattr(value, "_keras_history")


def _multi_head_attention(layer: Any, input_shape: tuple[int, ...], node: Any = None) -> nn.Module:
    """MultiHeadAttention over the steps of ``(batch, steps, features)`` (Keras's default axes)."""
    options = _call_options(layer, node)
    causal = bool(options.pop("use_causal_mask", False))
    if options.pop("return_attention_scores", False) or options:
        raise UnsupportedModelError(
            f"Keras layer '{layer.name}' (MultiHeadAttention): only query, value, key and "
            f"use_causal_mask are mapped, got {sorted(options) or ['return_attention_scores']}"
        )
    if len(input_shape) != 3 or tuple(layer._attention_axes) != (1,):
        raise UnsupportedModelError(
            f"Keras layer '{layer.name}' (MultiHeadAttention) is mapped on (batch, steps, features) "
            "with attention over the steps"
        )
    projections: dict[str, nn.Module] = {}
    for name in ("query", "key", "value", "attention_output"):
        dense = getattr(layer, f"_{name.removeprefix('attention_')}_dense")
        kernel = _tensor(dense.kernel.numpy())  # (in, heads, dim), or (heads, dim, out) for the output
        kernel = kernel.reshape(-1, kernel.shape[-1]) if name == "attention_output" else kernel.flatten(1)
        bias = _tensor(dense.bias.numpy()).flatten() if dense.bias is not None else None
        projections[name] = _linear(kernel, bias)
    return KerasMultiHeadAttention(int(layer._num_heads), int(layer._key_dim), projections, causal)


def _recurrent_weights(layer: Any) -> dict[str, torch.Tensor]:
    """A Keras LSTM/GRU/SimpleRNN's weights as torch's (``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh``)."""
    name = type(layer).__name__
    if name == "SimpleRNN":
        if layer.activation.__name__ not in ("tanh", "relu"):
            raise UnsupportedModelError(
                f"Keras layer '{layer.name}' (SimpleRNN): only activation 'tanh' or 'relu' is mapped"
            )
    elif layer.activation.__name__ != "tanh" or layer.recurrent_activation.__name__ != "sigmoid":
        raise UnsupportedModelError(
            f"Keras layer '{layer.name}' ({name}): only activation='tanh' with "
            "recurrent_activation='sigmoid' is mapped"
        )
    if layer.return_state or layer.stateful:
        raise UnsupportedModelError(
            f"Keras layer '{layer.name}' ({name}): return_state/stateful are not mapped"
        )
    kernel = _tensor(layer.cell.kernel.numpy()).T  # (gates * H, in)
    recurrent = _tensor(layer.cell.recurrent_kernel.numpy()).T
    bias = _tensor(layer.cell.bias.numpy()) if layer.use_bias else None
    if name == "GRU":
        if not layer.reset_after:
            raise UnsupportedModelError(
                f"Keras layer '{layer.name}' (GRU): reset_after=False is not mapped (torch's GRU "
                "applies the reset gate after the recurrent matrix, as reset_after=True does)"
            )
        # Keras orders the gates z, r, h; torch r, z, n
        units = layer.units

        def reorder(t: torch.Tensor) -> torch.Tensor:
            z, r, h = t.split(units, dim=0)
            return torch.cat([r, z, h])

        kernel, recurrent = reorder(kernel), reorder(recurrent)
        biases = (reorder(bias[0]), reorder(bias[1])) if bias is not None else None
    else:  # Keras's LSTM gates i, f, c, o are torch's i, f, g, o (a SimpleRNN has none); one bias
        biases = (bias, torch.zeros_like(bias)) if bias is not None else None
    weights = {"weight_ih": kernel, "weight_hh": recurrent}
    if biases is not None:
        weights.update(bias_ih=biases[0], bias_hh=biases[1])
    return weights


def _recurrent(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
    """Keras LSTM/GRU/SimpleRNN, or ``Bidirectional`` around one (merged by ``concat``, ``sum``,
    ``ave`` or ``mul``)."""
    directions = [layer]
    merge = "concat"
    if type(layer).__name__ == "Bidirectional":
        if layer.merge_mode not in ("concat", "sum", "ave", "mul"):
            raise UnsupportedModelError(
                f"Keras layer '{layer.name}' (Bidirectional): merge_mode {layer.merge_mode!r} is not "
                "mapped (it returns the two directions as two outputs)"
            )
        merge = layer.merge_mode
        directions = [layer.forward_layer, layer.backward_layer]
    first = directions[0]
    kinds: dict[str, Any] = {"LSTM": nn.LSTM, "GRU": nn.GRU, "SimpleRNN": nn.RNN}
    if type(first).__name__ not in kinds:
        raise UnsupportedModelError(f"Keras layer '{layer.name}': Bidirectional of {type(first).__name__}")
    weights = [_recurrent_weights(direction) for direction in directions]  # checks the activations
    extra = {"nonlinearity": first.activation.__name__} if type(first).__name__ == "SimpleRNN" else {}
    rnn = kinds[type(first).__name__](
        input_shape[-1],
        first.units,
        batch_first=True,
        bias=first.use_bias,
        bidirectional=len(directions) == 2,
        **extra,
    )
    with torch.no_grad():
        for suffix, direction_weights in zip(("_l0", "_l0_reverse"), weights, strict=False):
            for key, value in direction_weights.items():
                getattr(rnn, key + suffix).copy_(value)
    backwards = len(directions) == 1 and bool(layer.go_backwards)
    return KerasRecurrent(rnn, bool(first.return_sequences), merge, backwards)


def _global(layer: Any, kind: str, input_shape: tuple[int, ...]) -> nn.Module:
    dims = len(input_shape) - 2
    pools = {
        ("avg", 1): nn.AdaptiveAvgPool1d,
        ("avg", 2): nn.AdaptiveAvgPool2d,
        ("max", 1): nn.AdaptiveMaxPool1d,
        ("max", 2): nn.AdaptiveMaxPool2d,
    }
    pool = pools[kind, dims](1)
    return pool if getattr(layer, "keepdims", False) else nn.Sequential(pool, nn.Flatten())


def _standardization(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
    if getattr(layer, "invert", False):
        raise UnsupportedModelError(f"Keras layer '{layer.name}': Normalization(invert=True) is not mapped")
    import keras

    mean, variance = (np.asarray(value, dtype=np.float32) for value in (layer.mean, layer.variance))
    if mean.ndim == len(input_shape):  # Keras keeps a batch axis of 1
        mean, variance = mean[0], variance[0]
    divisor = np.maximum(np.sqrt(variance), np.float32(keras.config.epsilon()))
    return Standardization(_channels_first(mean, input_shape), _channels_first(divisor, input_shape))


#: Layers that are the identity at inference.
IDENTITIES = (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
)
#: Merge layers computed elementwise.
ELEMENTWISE: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "Multiply": torch.mul,
    "Maximum": torch.maximum,
    "Minimum": torch.minimum,
}


def _channels_first(value: Any, input_shape: tuple[int, ...]) -> torch.Tensor:
    """A Keras weight broadcast over a channels-last input ``(batch, *spatial, C)``, as a tensor
    broadcast over the channels-first input (a scalar stays a scalar)."""
    array = np.asarray(value, dtype=np.float32)
    if array.ndim == 0:
        return torch.tensor(float(array))
    full = np.broadcast_to(array, tuple(int(d) for d in input_shape[1:]))
    return torch.from_numpy(np.moveaxis(full, -1, 0).copy())  # a writable copy of the broadcast view


def _map_layer(layer: Any, input_shape: tuple[int, ...], node: Any = None) -> nn.Module:
    """The torch module for a Keras layer on inputs of ``input_shape``, called as in ``node`` (its
    call in the model's graph: the options of attention layers; default its first call)."""
    name = type(layer).__name__
    if getattr(layer, "data_format", None) == "channels_first":
        # the mapping reads every layer channels-last: a channels-first conv failed with torch's
        # shape error, a channels-first pooling computed another function (the parity check's error)
        raise UnsupportedModelError(
            f"Keras layer '{layer.name}' ({name}) has data_format='channels_first'; the conversion "
            "maps channels-last layers (Keras's default) only: build the model channels-last, "
            "with x as (batch, samples, leads)"
        )
    if name in ("Sequential", "Functional"):  # a model used as a layer (a pretrained encoder)
        return to_torch(layer)
    if name in ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D"):
        return _convolution(layer, input_shape)
    if name in ("SeparableConv1D", "SeparableConv2D"):
        return _separable(layer, input_shape)
    if name in ("Conv1DTranspose", "Conv2DTranspose"):
        return _conv_transpose(layer, input_shape)
    if name == "TimeDistributed":
        if len(input_shape) < 3:
            raise UnsupportedModelError(
                f"Keras layer '{layer.name}': TimeDistributed needs (batch, steps, ...)"
            )
        return KerasTimeDistributed(_map_layer(layer.layer, (input_shape[0], *input_shape[2:])))
    if name == "Permute":
        return ChannelsLastPermute(tuple(layer.dims))
    if name in ("LSTM", "GRU", "SimpleRNN", "Bidirectional"):
        return _recurrent(layer, input_shape)
    if name == "Dense":
        return _dense(layer, input_shape)
    if name == "BatchNormalization":
        return _batch_norm(layer, input_shape)
    if name == "MultiHeadAttention":
        return _multi_head_attention(layer, input_shape, node)
    if name == "Attention":
        options = {k: v for k, v in _call_options(layer, node).items() if v is not False}
        causal = bool(options.pop("use_causal_mask", False))
        if layer.score_mode != "dot" or len(input_shape) != 3 or options:
            raise UnsupportedModelError(
                f"Keras layer '{layer.name}': Attention is mapped with score_mode='dot' on sequences "
                f"without masks (other than use_causal_mask) or returned scores, got "
                f"score_mode={layer.score_mode!r} on inputs of rank {len(input_shape)}"
                + (f" and {sorted(options)}" if options else "")
            )
        return KerasDotAttention(float(np.asarray(layer.scale)) if layer.use_scale else None, causal)
    if name == "LayerNormalization":
        return _layer_norm(layer, input_shape)
    if name == "GroupNormalization":
        return _group_norm(layer, input_shape)
    if name in ("MaxPooling1D", "MaxPooling2D"):
        return _pool(layer, "max", input_shape)
    if name in ("AveragePooling1D", "AveragePooling2D"):
        return _pool(layer, "avg", input_shape)
    if name in ("GlobalAveragePooling1D", "GlobalAveragePooling2D"):
        return _global(layer, "avg", input_shape)
    if name in ("GlobalMaxPooling1D", "GlobalMaxPooling2D"):
        return _global(layer, "max", input_shape)
    if name == "Flatten":
        return ChannelsLastFlatten()
    if name == "Reshape":
        return ChannelsLastReshape(tuple(layer.target_shape))
    if name in IDENTITIES:
        return nn.Identity()
    if name == "PReLU":
        return KerasPReLU(_channels_first(layer.alpha, input_shape))
    if name == "Rescaling":
        return Rescaling(
            _channels_first(layer.scale, input_shape), _channels_first(layer.offset, input_shape)
        )
    if name == "Normalization":
        return _standardization(layer, input_shape)
    if name == "LayerScale" and type(layer).__module__.endswith("applications.convnext"):
        # keras.applications' ConvNeXt: x * gamma over the channels, a per-channel rescaling
        return Rescaling(_channels_first(layer.gamma, input_shape), torch.tensor(0.0))
    if name == "UnitNormalization":
        axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        if len(axes) != 1:
            raise UnsupportedModelError(f"Keras layer '{layer.name}': UnitNormalization over several axes")
        return UnitNormalization(int(axes[0]))
    if name in ELEMENTWISE:
        return Elementwise(ELEMENTWISE[name])
    if name == "Activation":
        return _activation(layer)
    if name == "ReLU":
        if float(layer.negative_slope) != 0 or float(layer.threshold) != 0:
            maximum = None if layer.max_value is None else float(layer.max_value)
            return KerasReLU(float(layer.negative_slope), float(layer.threshold), maximum)
        if layer.max_value is not None:  # ReLU6 and the like
            return nn.Hardtanh(0.0, float(layer.max_value))
        return nn.ReLU()
    if name == "LeakyReLU":
        return nn.LeakyReLU(float(layer.negative_slope))
    if name == "ELU":
        return nn.ELU(float(layer.alpha))
    if name == "UpSampling1D":
        return nn.Upsample(scale_factor=int(layer.size), mode="nearest")
    if name == "UpSampling2D":
        if layer.interpolation != "nearest":
            raise UnsupportedModelError(
                f"Keras layer '{layer.name}': UpSampling2D is mapped with interpolation='nearest', "
                f"got {layer.interpolation!r}"
            )
        return nn.Upsample(scale_factor=tuple(float(f) for f in layer.size), mode="nearest")
    if name == "Cropping1D":
        start, end = (int(c) for c in layer.cropping)
        return Cropping(((start, end),))
    if name == "Cropping2D":
        (top, bottom), (left, right) = layer.cropping
        return Cropping(((int(top), int(bottom)), (int(left), int(right))))
    if name == "Subtract":
        return Subtract()
    if name == "Average":
        return Average()
    if name == "Softmax":
        return ChannelsLastSoftmax(int(layer.axis))
    if name == "Add":
        return Add()
    if name == "Concatenate":
        return Concatenate(layer.axis)
    if name in ("ZeroPadding1D", "ZeroPadding2D"):
        padding = layer.padding
        if name == "ZeroPadding1D":
            return nn.ZeroPad1d(tuple(padding))
        (top, bottom), (left, right) = padding
        return nn.ZeroPad2d((left, right, top, bottom))
    raise UnsupportedModelError(
        f"Keras layer '{layer.name}' of class {name} has no mapping; supported: {', '.join(SUPPORTED)}"
    )


SUPPORTED = (
    "Dense",
    "Conv1D",
    "Conv2D",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "MultiHeadAttention",
    "Attention",
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Flatten",
    "Reshape",
    "Permute",
    "LSTM",
    "GRU",
    "SimpleRNN",
    "Bidirectional",
    "TimeDistributed",
    *IDENTITIES,
    "Rescaling",
    "Normalization",
    "UnitNormalization",
    "LayerScale (keras.applications' ConvNeXt)",
    "PReLU",
    *ELEMENTWISE,
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "Add",
    "Subtract",
    "Average",
    "Concatenate",
    "UpSampling1D",
    "UpSampling2D",
    "Cropping1D",
    "Cropping2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
)


def _operation(op: Any, node: Any) -> Operation:
    """A keras.ops call of the graph (``x + 3.0``) as an ``Operation``, or a named error."""
    kind = type(op).__name__
    arguments = node.arguments.args
    if kind not in OPERATIONS or len(arguments) != 2:
        raise UnsupportedModelError(
            f"Keras operation '{op.name}' ({kind}, a keras.ops call in the functional graph) has no "
            f"mapping; mapped: {', '.join(OPERATIONS)} of two tensors or a tensor and a number"
        )
    constants: list[float | None] = []
    for argument in arguments:
        if hasattr(argument, "_keras_history"):
            constants.append(None)
        elif np.ndim(argument) == 0:
            constants.append(float(argument))
        else:
            raise UnsupportedModelError(
                f"Keras operation '{op.name}' ({kind}) has an array constant; only numbers are mapped"
            )
    return Operation(kind, constants)


def _call_tensors(layer: Any, node: Any) -> list[Any]:
    """The Keras tensors a layer was called on at ``node``, in the order its torch module takes
    them: ``(query, value[, key])`` for MultiHeadAttention however they were passed (Keras lists
    keyword tensors by name), the node's order otherwise."""
    if type(layer).__name__ != "MultiHeadAttention":
        return list(node.input_tensors)
    roles = dict(zip(("query", "value", "key"), node.arguments.args, strict=False))
    roles.update({k: v for k, v in node.arguments.kwargs.items() if k in ("query", "value", "key")})
    return [roles[k] for k in ("query", "value", "key") if roles.get(k) is not None]


def check_graph(model: Any) -> None:
    """Raise unless ``model`` has a layer graph to map: a Functional or a built Sequential model.

    Raises
    ------
    UnsupportedModelError
        A subclassed ``keras.Model`` (its ``call`` is Python code, not a graph of layers), or a
        ``Sequential`` model that was never given an input shape (it has no weights yet).
    """
    try:
        model.inputs  # noqa: B018  (Keras raises AttributeError when there is no graph)
    except AttributeError:
        kind = type(model).__name__
        if kind == "Sequential":
            raise UnsupportedModelError(
                f"the Keras Sequential model '{model.name}' has no input shape (no keras.Input "
                "first, never built or called), so it has no weights to explain; start it with "
                "keras.Input(shape) or call model.build((None, *shape)) before training it"
            ) from None
        raise UnsupportedModelError(
            f"the Keras model of class {kind} is a subclassed keras.Model: its call() is Python "
            "code, not a graph of layers that can be mapped onto torch; build the same layers "
            "with the functional API (keras.Model(inputs, outputs)) or keras.Sequential and copy "
            "the weights into it (new.set_weights(model.get_weights()))"
        ) from None


def to_torch(model: Any) -> KerasModule:
    """Convert a Keras 3 model (Sequential or Functional, one input and one output) to torch."""
    check_graph(model)
    if len(model.inputs) != 1:
        raise UnsupportedModelError(
            f"only Keras models with one input are mapped; this one has {len(model.inputs)}"
        )
    if len(model.outputs) != 1:
        raise UnsupportedModelError(
            f"only Keras models with one output are mapped; this one has {len(model.outputs)}: "
            "explain the one you want, e.g. keras.Model(model.inputs, model.outputs[0])"
        )
    input_names = {t._keras_history[0].name for t in model.inputs}
    plan: list[tuple[str, str, list[str]]] = []
    layers: dict[str, nn.Module] = {}
    mapped: dict[str, tuple[Any, tuple[int, ...]]] = {}  # module key: (Keras layer, input shape)
    first_options: dict[str, dict[str, Any]] = {}  # module key: the options of its first call
    for node in _graph_nodes(model):
        layer = node.operation
        if type(layer).__name__ == "InputLayer":
            input_names.add(layer.name)
            continue
        tensors = _call_tensors(layer, node)
        sources = [
            "<input>"
            if tensor._keras_history[0].name in input_names
            or type(tensor._keras_history[0]).__name__ == "InputLayer"
            else _value_key(tensor)
            for tensor in tensors
        ]
        key, shape = module_key(layer.name), tuple(tensors[0].shape)
        if key not in mapped:
            is_op = type(layer).__module__.startswith("keras.src.ops")
            layers[key] = _operation(layer, node) if is_op else _map_layer(layer, shape, node)
            mapped[key] = (layer, shape)
            first_options[key] = {} if is_op else _call_options(layer, node)
        elif mapped[key][0] is not layer:
            raise UnsupportedModelError(
                f"Keras layers '{layer.name}' and another one have the same torch module name "
                f"'{key}' ('.' becomes '_'); rename one of them"
            )
        elif mapped[key][1] != shape:  # a shared layer: one module, mapped for one input shape
            raise UnsupportedModelError(
                f"Keras layer '{layer.name}' is shared by calls on inputs of shapes {mapped[key][1]} "
                f"and {shape}; a shared layer is mapped for one input shape"
            )
        elif _call_options(layer, node) != first_options[key]:  # and for its first call's options
            raise UnsupportedModelError(
                f"Keras layer '{layer.name}' is shared by calls with different options "
                f"({first_options[key]} and {_call_options(layer, node)}); a shared layer is mapped "
                "for one call's options"
            )
        plan.append((f"{key}:{layer._inbound_nodes.index(node)}", key, sources))
    return KerasModule(plan, layers, _value_key(model.outputs[0]), len(model.input_shape)).eval()


def _value_key(tensor: Any) -> str:
    """The key of a Keras tensor's value in ``KerasModule.forward``: its layer and call."""
    layer, call, _ = tensor._keras_history
    return f"{module_key(layer.name)}:{call}"


def _graph_nodes(model: Any) -> list[Any]:
    """The nodes of the model's own graph, inputs first: its layers and keras.ops calls
    (``x + 3.0``), each call of a layer in this graph once. A layer's ``_inbound_nodes`` also
    hold calls from outside the graph (a model loaded from a file has several per layer)."""
    graph = getattr(model, "_functional", None) or model  # a Sequential model wraps a Functional
    by_depth = graph._nodes_by_depth
    return [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]


def module_key(name: str) -> str:
    """A Keras layer's name as the name of its torch module: '.' (which torch forbids, and
    keras.applications uses: 'mobilenetv2_1.00_64') becomes '_'."""
    return name.replace(".", "_")


_CACHE: weakref.WeakKeyDictionary[Any, KerasModule] = weakref.WeakKeyDictionary()


def to_channels_first(x: np.ndarray) -> np.ndarray:
    """(B, ..., C) -> (B, C, ...)."""
    return np.moveaxis(x, -1, 1) if x.ndim > 2 else x


def to_channels_last(x: np.ndarray) -> np.ndarray:
    """(B, C, ...) -> (B, ..., C)."""
    return np.moveaxis(x, 1, -1) if x.ndim > 2 else x


def converted(model: Any, x: np.ndarray) -> KerasModule:
    """The cached conversion of ``model``, proved on ``x`` (Keras layout): outputs must agree.

    Raises
    ------
    UnsupportedModelError
        The converted module's output differs from the Keras model's (relative error >= 1e-4).
    """
    module = _CACHE.get(model)
    for attempt in range(2):
        if module is None or attempt == 1:
            module = to_torch(model)
            _CACHE[model] = module
        expected = np.asarray(model(x, training=False), dtype=np.float64)
        try:
            with torch.no_grad():
                actual = module(torch.as_tensor(to_channels_first(x), dtype=torch.float32)).numpy()
        except RuntimeError as failure:  # a layer mapped with the wrong layout or shape
            raise UnsupportedModelError(
                f"the converted Keras model failed on x where Keras computes it: {failure}"
            ) from failure
        error = float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-30))
        if error < 1e-4:
            return module
    raise UnsupportedModelError(
        f"the converted Keras model does not compute the same outputs on x (relative error "
        f"{error:.2e}, largest difference {np.abs(actual - expected).max():.3e}); it is not explained"
    )


def fits(expected: tuple[int | None, ...], shape: tuple[int, ...]) -> bool:
    """Whether ``shape`` (no batch axis) fits ``expected``, where ``None`` takes any size."""
    return len(expected) == len(shape) and all(
        w is None or w == g for w, g in zip(expected, shape, strict=True)
    )


def explain_keras(
    model: Any, x: Any, method_name: str, target_class: Any, explain: Callable[..., Any], **params: Any
) -> Any:
    """Explain a Keras model on ``x`` in Keras layout (channels-last); the result has that layout."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise InputError(f"x must be a numpy array for a Keras model, got {type(x).__name__}")
    check_graph(model)
    rank = len(model.input_shape)
    unbatched = x.ndim == rank - 1
    batch = (x[None] if unbatched else x).astype(np.float32)
    expected = tuple(model.input_shape[1:])
    if not fits(expected, batch.shape[1:]):  # also a wrong number of axes
        layout = (
            "; it looks channels-first: Keras models take channels-last, e.g. np.moveaxis(x, 1, -1)"
            if fits(expected, to_channels_last(batch).shape[1:])
            else ""
        )
        raise InputError(
            f"x has shape {x.shape}; the Keras model takes {model.input_shape} (None: any size; "
            f"or one sample without the batch axis){layout}"
        )
    module = converted(model, batch)
    layer = params.get("target_layer")
    if isinstance(layer, str) and module_key(layer) in module.layers:
        params["target_layer"] = f"layers.{module_key(layer)}"
    result = explain(module, to_channels_first(batch), method_name, target_class, **params)
    relevance, delta = result if isinstance(result, tuple) else (result, None)
    relevance = to_channels_last(relevance)
    relevance = relevance[0] if unbatched else relevance
    return relevance if delta is None else (relevance, delta)
