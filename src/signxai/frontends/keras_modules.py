"""Torch modules that compute what Keras layers compute, channels-first.

The Keras frontend (:mod:`signxai.frontends.keras`) builds a converted model from these and from
torch's own layers: padded and cropped convolutions and poolings that pad as TensorFlow does
(``padding='same'`` with strides pads more on the right, max pooling with -inf), channels-last
flattening and reshaping, Keras's attention, recurrent and merge layers, and
:class:`KerasModule`, which runs the mapped layers in the Keras graph's order. The
parameter-free ones are registered as passive for LRP (autograd and the graph mode explain them).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from signxai.methods.lrp_modules import register_passive

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
    """Keras's average pooling with ``padding='same'``: the mean over the samples inside.

    The window sum of the zero-padded input divided by how many of the window's samples lie in
    the input (not by the window size); LRP redistributes relevance in proportion to the inputs,
    which that per-window divisor does not change. That is TensorFlow's pooling, and Keras's torch
    backend's where the padding is the same on both sides; where it is not, that backend pads by
    repeating the edge samples and averages whole windows (``replicate=True``): the edge samples
    then count more than once.
    """

    def __init__(
        self,
        kernel_size: tuple[int, ...],
        stride: tuple[int, ...],
        pads: tuple[int, ...],
        replicate: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.pads, self.replicate = kernel_size, stride, pads, replicate
        pool: Any = nn.AvgPool1d if len(kernel_size) == 1 else nn.AvgPool2d
        self.pool = pool(kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Average of the padded input, rescaled to the samples inside the input."""
        if self.replicate:
            return self.pool(F.pad(x, self.pads, mode="replicate"))
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
