"""One Keras layer as a torch module: weights copied, layout made channels-first.

Each function takes the Keras layer and the shape of its input (Keras's layout, batch first)
and returns the module of :mod:`signxai.frontends.keras_modules` or of torch that computes the
same function; :func:`signxai.frontends.keras.map_layer` chooses the function by layer class.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from signxai.errors import UnsupportedModelError
from signxai.frontends.keras_modules import (
    ACTIVATIONS,
    ChannelsLastLayerNorm,
    CroppedConvTranspose1d,
    CroppedConvTranspose2d,
    KerasLayer,
    KerasMultiHeadAttention,
    KerasRecurrent,
    PaddedConv1d,
    PaddedConv2d,
    SamePadAvgPool,
    SamePadMaxPool1d,
    SamePadMaxPool2d,
    Standardization,
)


def _same_padding(length: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    effective = (kernel - 1) * dilation + 1
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


def _tensor(value: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(value), dtype=torch.float32)


def activation(layer: Any) -> nn.Module:
    """The torch module of the activation a Keras layer carries (``linear``: the identity)."""
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


def convolution(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
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
    return KerasLayer(_keras_conv(layer, input_shape, weight, groups, bias), activation(layer))


def _legacy_torch_backend_crops(layer: Any, dims: int) -> list[tuple[int, int]] | None:
    """Per axis (torch padding p, output padding q) where Keras's torch backend crops a transposed
    conv's output its own way: ``p`` samples off each end of the full output, ``q`` bias-only
    samples added at the end. Keras up to 3.12 (the last for Python 3.10) does so and warns that
    with ``p > 0`` and ``q > 0`` (``'same'``, an even kernel) its output is shifted from
    TensorFlow's; later versions crop as TensorFlow (None, as on the other backends)."""
    from keras import backend

    if backend.backend() != "torch":
        return None
    try:
        from keras.src.backend.common import backend_utils
    except ImportError:  # a Keras laid out otherwise: the parity proof checks the crop
        return None
    padding_args = getattr(backend_utils, "compute_conv_transpose_padding_args_for_torch", None)
    if padding_args is None or hasattr(backend_utils, "compute_conv_transpose_output_crops_for_torch"):
        return None
    with warnings.catch_warnings():  # Keras warns of the shift itself when the layer runs
        warnings.simplefilter("ignore")
        try:
            paddings, output_paddings = padding_args(
                input_shape=(1,) * (dims + 2),
                kernel_shape=tuple(layer.kernel.shape),
                strides=tuple(layer.strides),
                padding=layer.padding,
                output_padding=None,
                dilation_rate=tuple(layer.dilation_rate),
            )
        except ValueError as error:  # e.g. 'same' with an even kernel and stride 1
            raise UnsupportedModelError(
                f"Keras layer '{layer.name}': Keras's torch backend (this Keras version) cannot "
                f"compute it, so neither can its conversion: {error}"
            ) from error
    return list(zip(paddings, output_paddings, strict=True))


def conv_transpose(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
    """Conv1DTranspose/2DTranspose: torch's transposed conv, its output cropped as TensorFlow's.

    The full output of a transposed conv over ``n`` samples has ``(n - 1) * s + e`` samples
    (``e`` the dilated kernel size); TensorFlow keeps ``(n - 1) * s + max(e, s)`` of them from the
    start (``'valid'``) or ``n * s`` starting ``max(e - s, 0) // 2`` in (``'same'``). Where that
    is more than the full output (``e < s``), torch's ``output_padding`` adds the samples at the
    end, which hold the bias, as TensorFlow's do. On Keras's torch backend up to Keras 3.12 the
    crop is that backend's (``_legacy_torch_backend_crops``).
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
    legacy = _legacy_torch_backend_crops(layer, dims)
    for axis, (length, k, s, d) in enumerate(
        zip(input_shape[1:-1], layer.kernel_size, layer.strides, layer.dilation_rate, strict=True)
    ):
        effective = (k - 1) * d + 1
        full = (length - 1) * s + effective
        if legacy is not None:
            start, kept = legacy[axis][0], full - 2 * legacy[axis][0] + legacy[axis][1]
        elif layer.padding == "valid":
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
    return KerasLayer(conv, activation(layer))


def separable(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
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
    return KerasLayer(nn.Sequential(depthwise, pointwise), activation(layer))


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


def pool(layer: Any, kind: str, input_shape: tuple[int, ...]) -> nn.Module:
    """MaxPooling/AveragePooling 1D/2D (``kind``: ``'max'``, ``'avg'``), padded as the Keras
    backend pads (``SamePadAvgPool``)."""
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
    if kind == "max":  # (the torch backend's edge padding never gives a larger maximum either)
        return (SamePadMaxPool1d if dims == 1 else SamePadMaxPool2d)(size, stride, pads=flat, value=-math.inf)
    from keras import backend

    uneven = any(left != right for left, right in pads)
    return SamePadAvgPool(size, stride, flat, replicate=uneven and backend.backend() == "torch")


def batch_norm(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
    """BatchNormalization over the channel axis as a torch BatchNorm with Keras's statistics."""
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


def layer_norm(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
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


def group_norm(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
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


def dense(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
    """Dense on ``(batch, features)`` as a Linear; on sequences or images (it acts on the last,
    channel axis) as a 1x1 Conv1d/Conv2d on the channels-first data."""
    if len(input_shape) not in (2, 3, 4):
        raise UnsupportedModelError(
            f"Keras layer '{layer.name}' (Dense) acts on a {len(input_shape)}D tensor; Dense is mapped "
            "on (batch, features), (batch, steps, features) and (batch, height, width, features)"
        )
    kernel = _tensor(layer.kernel.numpy())  # (in, out)
    bias = _tensor(layer.bias.numpy()) if layer.use_bias else None
    return KerasLayer(_linear(kernel, bias, len(input_shape) - 2), activation(layer))


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


def call_options(layer: Any, node: Any = None) -> dict[str, Any]:
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


def multi_head_attention(layer: Any, input_shape: tuple[int, ...], node: Any = None) -> nn.Module:
    """MultiHeadAttention over the steps of ``(batch, steps, features)`` (Keras's default axes)."""
    options = call_options(layer, node)
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


def recurrent(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
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


def global_pool(layer: Any, kind: str, input_shape: tuple[int, ...]) -> nn.Module:
    """GlobalAverage/GlobalMaxPooling 1D/2D as an adaptive pooling to one sample, flattened."""
    dims = len(input_shape) - 2
    pools = {
        ("avg", 1): nn.AdaptiveAvgPool1d,
        ("avg", 2): nn.AdaptiveAvgPool2d,
        ("max", 1): nn.AdaptiveMaxPool1d,
        ("max", 2): nn.AdaptiveMaxPool2d,
    }
    pool = pools[kind, dims](1)
    return pool if getattr(layer, "keepdims", False) else nn.Sequential(pool, nn.Flatten())


def standardization(layer: Any, input_shape: tuple[int, ...]) -> nn.Module:
    """Normalization (adapted mean and variance) as a :class:`Standardization`."""
    if getattr(layer, "invert", False):
        raise UnsupportedModelError(f"Keras layer '{layer.name}': Normalization(invert=True) is not mapped")
    import keras

    mean, variance = (np.asarray(value, dtype=np.float32) for value in (layer.mean, layer.variance))
    if mean.ndim == len(input_shape):  # Keras keeps a batch axis of 1
        mean, variance = mean[0], variance[0]
    divisor = np.maximum(np.sqrt(variance), np.float32(keras.config.epsilon()))
    return Standardization(
        channels_first_weight(mean, input_shape), channels_first_weight(divisor, input_shape)
    )


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


def channels_first_weight(value: Any, input_shape: tuple[int, ...]) -> torch.Tensor:
    """A Keras weight broadcast over a channels-last input ``(batch, *spatial, C)``, as a tensor
    broadcast over the channels-first input (a scalar stays a scalar)."""
    array = np.asarray(value, dtype=np.float32)
    if array.ndim == 0:
        return torch.tensor(float(array))
    full = np.broadcast_to(array, tuple(int(d) for d in input_shape[1:]))
    return torch.from_numpy(np.moveaxis(full, -1, 0).copy())  # a writable copy of the broadcast view
