"""Keras 3 models (TensorFlow or torch backend) explained by the one engine, through a proved
conversion.

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
(:class:`~signxai.frontends.keras_modules.PaddedConv1d`), so that LRP's input-layer rules see the
input, not a padded copy; pooling with ``padding='same'`` pads with -inf (max) or averages over
the samples inside the input only (average), as TensorFlow does (Keras's torch backend repeats the
edge samples where the padding is uneven, and so does the conversion on that backend).

Three modules: :mod:`~signxai.frontends.keras_modules` (the torch modules that compute what Keras
layers compute), :mod:`~signxai.frontends.keras_layers` (one Keras layer and its weights as such a
module) and this one (the choice by layer class, the graph, the parity proof and ``explain``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from signxai.errors import InputError, UnsupportedModelError
from signxai.frontends.keras_layers import (
    ELEMENTWISE,
    IDENTITIES,
    activation,
    batch_norm,
    call_options,
    channels_first_weight,
    conv_transpose,
    convolution,
    dense,
    global_pool,
    group_norm,
    layer_norm,
    multi_head_attention,
    pool,
    recurrent,
    separable,
    standardization,
)
from signxai.frontends.keras_modules import (
    OPERATIONS,
    Add,
    Average,
    ChannelsLastFlatten,
    ChannelsLastPermute,
    ChannelsLastReshape,
    ChannelsLastSoftmax,
    Concatenate,
    Cropping,
    Elementwise,
    KerasDotAttention,
    KerasModule,
    KerasPReLU,
    KerasReLU,
    KerasTimeDistributed,
    Operation,
    Rescaling,
    Subtract,
    UnitNormalization,
)
from signxai.output_window import KERAS_TIME_AXIS, OutputWindow


def map_layer(layer: Any, input_shape: tuple[int, ...], node: Any = None) -> nn.Module:
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
        return convolution(layer, input_shape)
    if name in ("SeparableConv1D", "SeparableConv2D"):
        return separable(layer, input_shape)
    if name in ("Conv1DTranspose", "Conv2DTranspose"):
        return conv_transpose(layer, input_shape)
    if name == "TimeDistributed":
        if len(input_shape) < 3:
            raise UnsupportedModelError(
                f"Keras layer '{layer.name}': TimeDistributed needs (batch, steps, ...)"
            )
        return KerasTimeDistributed(map_layer(layer.layer, (input_shape[0], *input_shape[2:])))
    if name == "Permute":
        return ChannelsLastPermute(tuple(layer.dims))
    if name in ("LSTM", "GRU", "SimpleRNN", "Bidirectional"):
        return recurrent(layer, input_shape)
    if name == "Dense":
        return dense(layer, input_shape)
    if name == "BatchNormalization":
        return batch_norm(layer, input_shape)
    if name == "MultiHeadAttention":
        return multi_head_attention(layer, input_shape, node)
    if name == "Attention":
        options = {k: v for k, v in call_options(layer, node).items() if v is not False}
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
        return layer_norm(layer, input_shape)
    if name == "GroupNormalization":
        return group_norm(layer, input_shape)
    if name in ("MaxPooling1D", "MaxPooling2D"):
        return pool(layer, "max", input_shape)
    if name in ("AveragePooling1D", "AveragePooling2D"):
        return pool(layer, "avg", input_shape)
    if name in ("GlobalAveragePooling1D", "GlobalAveragePooling2D"):
        return global_pool(layer, "avg", input_shape)
    if name in ("GlobalMaxPooling1D", "GlobalMaxPooling2D"):
        return global_pool(layer, "max", input_shape)
    if name == "Flatten":
        return ChannelsLastFlatten()
    if name == "Reshape":
        return ChannelsLastReshape(tuple(layer.target_shape))
    if name in IDENTITIES:
        return nn.Identity()
    if name == "PReLU":
        return KerasPReLU(channels_first_weight(layer.alpha, input_shape))
    if name == "Rescaling":
        return Rescaling(
            channels_first_weight(layer.scale, input_shape), channels_first_weight(layer.offset, input_shape)
        )
    if name == "Normalization":
        return standardization(layer, input_shape)
    if name == "LayerScale" and type(layer).__module__.endswith("applications.convnext"):
        # keras.applications' ConvNeXt: x * gamma over the channels, a per-channel rescaling
        return Rescaling(channels_first_weight(layer.gamma, input_shape), torch.tensor(0.0))
    if name == "UnitNormalization":
        axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        if len(axes) != 1:
            raise UnsupportedModelError(f"Keras layer '{layer.name}': UnitNormalization over several axes")
        return UnitNormalization(int(axes[0]))
    if name in ELEMENTWISE:
        return Elementwise(ELEMENTWISE[name])
    if name == "Activation":
        return activation(layer)
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
            layers[key] = _operation(layer, node) if is_op else map_layer(layer, shape, node)
            mapped[key] = (layer, shape)
            first_options[key] = {} if is_op else call_options(layer, node)
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
        elif call_options(layer, node) != first_options[key]:  # and for its first call's options
            raise UnsupportedModelError(
                f"Keras layer '{layer.name}' is shared by calls with different options "
                f"({first_options[key]} and {call_options(layer, node)}); a shared layer is mapped "
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


def _keras_output(model: Any, x: np.ndarray) -> np.ndarray:
    """The Keras model's output on ``x`` as float64, on any Keras backend (TensorFlow's tensors
    convert to numpy as they are; the torch backend's carry a gradient graph)."""
    from keras import ops

    with torch.no_grad():  # the torch backend runs the model on torch tensors
        return np.asarray(ops.convert_to_numpy(model(x, training=False)), dtype=np.float64)


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
        expected = _keras_output(model, x)
        try:
            with torch.no_grad():
                actual = module(torch.as_tensor(to_channels_first(x), dtype=torch.float32)).numpy()
        except RuntimeError as failure:  # a layer mapped with the wrong layout or shape
            raise UnsupportedModelError(
                f"the converted Keras model failed on x where Keras computes it: {failure}"
            ) from failure
        actual = to_channels_last(actual)  # an output per step, (B, K, T'), in Keras's (B, T', K)
        error = float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-30))
        if error < 1e-4:
            return module
    raise UnsupportedModelError(
        f"the converted Keras model does not compute the same outputs on x (relative error "
        f"{error:.2e}, largest difference {np.abs(actual - expected).max():.3e}); it is not explained"
    )


#: Each OutputWindow of a Keras model with its window of the converted module, kept while the
#: window lives (what signxai learns about a model once is then learnt once).
_WINDOWS: weakref.WeakKeyDictionary[OutputWindow, OutputWindow] = weakref.WeakKeyDictionary()


def _converted_window(window: OutputWindow, module: KerasModule) -> OutputWindow:
    """``window`` over ``module``, the conversion of its Keras model: the time axis moves with
    the channels (Keras's ``(B, T', K)``, axis 1, is the module's ``(B, K, T')``, axis 2)."""
    cached = _WINDOWS.get(window)
    if cached is None or cached.model is not module:
        cached = OutputWindow(
            module, window.start, window.stop, axis=KERAS_TIME_AXIS[window.axis], reduce=window.reduce
        )
        _WINDOWS[window] = cached
    return cached


def fits(expected: tuple[int | None, ...], shape: tuple[int, ...]) -> bool:
    """Whether ``shape`` (no batch axis) fits ``expected``, where ``None`` takes any size."""
    return len(expected) == len(shape) and all(
        w is None or w == g for w, g in zip(expected, shape, strict=True)
    )


def explain_keras(
    model: Any, x: Any, method_name: str, target_class: Any, explain: Callable[..., Any], **params: Any
) -> Any:
    """Explain a Keras model on ``x`` in Keras layout (channels-last); the result has that layout."""
    module, batch, unbatched = keras_input(model, x)
    layer = params.get("target_layer")
    converted_model = module.model if isinstance(module, OutputWindow) else module
    if isinstance(layer, str) and module_key(layer) in getattr(converted_model, "layers", {}):
        inside = "model." if isinstance(module, OutputWindow) else ""
        params["target_layer"] = f"{inside}layers.{module_key(layer)}"
    try:
        result = explain(module, to_channels_first(batch), method_name, target_class, **params)
    except UnsupportedModelError as error:
        shape = tuple(getattr(model, "output_shape", ()) or ())
        if not isinstance(model, OutputWindow) and len(shape) == 3 and "output per time step" in str(error):
            # the converted module's shapes are channels-first: say it in the Keras model's own
            raise UnsupportedModelError(
                f"the Keras model's output is {shape}, (batch, steps, classes): a score per time "
                "step; explain signxai.OutputWindow(model, start, stop), its scores of steps start "
                "to stop - 1 summed per class (time on Keras's axis 1)"
            ) from None
        raise
    relevance, delta = result if isinstance(result, tuple) else (result, None)
    relevance = to_channels_last(relevance)
    relevance = relevance[0] if unbatched else relevance
    return relevance if delta is None else (relevance, delta)


def keras_input(model: Any, x: Any) -> tuple[nn.Module, np.ndarray, bool]:
    """The converted module (proved on ``x``), ``x`` as a float32 batch in Keras layout, and
    whether ``x`` was one sample without the batch axis. For an :class:`~signxai.OutputWindow`
    of a Keras model: the same window of the converted module (whose outputs per step are
    channels-first, ``(B, K, T')`` for Keras's ``(B, T', K)``).

    Raises
    ------
    InputError
        ``x`` is not an array or does not fit the model's input shape.
    UnsupportedModelError
        The model cannot be converted, or the conversion computes other outputs on ``x``.
    """
    if isinstance(model, OutputWindow):
        module, batch, unbatched = _keras_model_input(model.model, x)
        return _converted_window(model, module), batch, unbatched
    return _keras_model_input(model, x)


def _keras_model_input(model: Any, x: Any) -> tuple[KerasModule, np.ndarray, bool]:
    """:func:`keras_input` of a Keras model."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    elif not isinstance(x, np.ndarray):
        from keras import ops

        if not ops.is_tensor(x):  # a tf.Tensor (e.g. from tf.data) on TensorFlow, a jax array on JAX
            raise InputError(
                f"x must be a numpy array or a tensor of the Keras backend for a Keras model, got "
                f"{type(x).__name__}"
            )
        x = np.asarray(ops.convert_to_numpy(x))
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
    return converted(model, batch), batch, unbatched
