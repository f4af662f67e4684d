"""Keras 3 models: forward parity, GradientTape agreement, every method, clear errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras", reason="the keras extra (keras, tensorflow) is not installed")
#: The Keras backend these tests run on: TensorFlow by default; test_keras_torch_backend.py runs them
#: all again with KERAS_BACKEND=torch.
BACKEND = keras.backend.backend()
if BACKEND == "tensorflow":
    pytest.importorskip("tensorflow", reason="the keras extra (keras, tensorflow) is not installed")

from models import assert_same_maps, rel_error  # noqa: E402
from signxai import InputError, UnsupportedModelError, explain, list_methods  # noqa: E402
from signxai.frontends.keras import converted, to_channels_first, to_torch  # noqa: E402
from signxai.frontends.keras_modules import PaddedConv1d  # noqa: E402
from signxai.torch_signxai import tf_calculate_relevancemap  # noqa: E402

L = keras.layers


def _randomize_batch_norm(model) -> None:
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights(
                [0.5 + rng.random(n), 0.1 * rng.normal(size=n), 0.1 * rng.normal(size=n), 0.5 + rng.random(n)]
            )


def ecg_model(length: int = 160, classes: int = 3):
    """The tutorial's ECG architecture in Keras (activations inside and as layers)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((length, 1)),
            L.Conv1D(8, 5, padding="same"),
            L.BatchNormalization(),
            L.Activation("relu"),
            L.MaxPooling1D(2),
            L.Conv1D(16, 5, padding="same"),
            L.BatchNormalization(),
            L.ReLU(),
            L.MaxPooling1D(4),
            L.Conv1D(16, 3, padding="same", activation="relu", name="last_conv"),
            L.MaxPooling1D(2),
            L.Flatten(),
            L.Dense(32, activation="relu"),
            L.Dropout(0.5),
            L.Dense(classes),
            L.Activation("softmax"),
        ]
    )
    _randomize_batch_norm(model)
    return model


def cnn2d():
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            L.ZeroPadding2D(1),
            L.Conv2D(6, 3, strides=2, padding="same", activation="relu"),
            L.Conv2D(8, 3, padding="valid", dilation_rate=1),
            L.BatchNormalization(),
            L.ReLU(),
            L.AveragePooling2D(2),
            L.Flatten(),
            L.Dense(4),
            L.Softmax(),
        ]
    )


def residual():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((64, 2))
    a = L.Conv1D(6, 7, strides=2, padding="same", activation="relu", name="branch")(inputs)
    b = L.Conv1D(6, 1, strides=2, name="shortcut")(inputs)
    added = L.Add(name="add")([a, b])
    joined = L.Concatenate()([added, L.Conv1D(2, 3, padding="same", activation="relu")(added)])
    padded = L.ZeroPadding1D(2)(joined)
    pooled = L.GlobalAveragePooling1D()(padded)
    outputs = L.Dense(3, activation="softmax")(pooled)
    return keras.Model(inputs, outputs)


def sequence():
    """Dilation, causal padding, a strided 'same' convolution after a Reshape, global max pooling."""
    keras.utils.set_random_seed(6)
    return keras.Sequential(
        [
            keras.Input((48, 2)),
            L.Conv1D(4, 3, dilation_rate=2, padding="same", activation="relu"),
            L.Conv1D(4, 3, padding="causal", activation="tanh"),
            L.Reshape((24, 8)),
            L.Conv1D(3, 4, strides=3, padding="same"),
            L.GlobalMaxPooling1D(),
            L.Dense(3, activation="softmax"),
        ]
    )


MODELS = {
    "ecg": (ecg_model, (4, 160, 1)),
    "cnn2d": (cnn2d, (4, 12, 12, 3)),
    "residual": (residual, (4, 64, 2)),
    "sequence": (sequence, (4, 48, 2)),
}


def _data(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(3).normal(size=shape).astype(np.float32)


def _assert_parity(model, x: np.ndarray) -> np.ndarray:
    """The converted model's output on ``x``, asserted equal to Keras's; returned."""
    with torch.no_grad():
        ours = to_torch(model)(torch.from_numpy(to_channels_first(x))).numpy()
    np.testing.assert_allclose(ours, _numpy(model(x)), rtol=1e-5, atol=1e-6)
    return ours


def _numpy(value) -> np.ndarray:
    """A Keras output as numpy, on any backend (the torch backend's carry a gradient graph)."""
    return np.asarray(keras.ops.convert_to_numpy(value))


def _backend_gradient(compute, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Keras backend's own gradient (TensorFlow's GradientTape, or torch autograd) of a score.

    ``compute(inputs) -> (score, tensor)``, the score a sum over the batch; returns
    d score / d tensor and the tensor, as numpy.
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        inputs = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            score, tensor = compute(inputs)
        return tape.gradient(score, tensor).numpy(), tensor.numpy()
    if BACKEND == "jax":  # a function's gradient, so with respect to the input only
        import jax

        gradient = jax.grad(lambda inputs: compute(inputs)[0])(jax.numpy.asarray(x))
        return np.asarray(gradient), x
    inputs = torch.tensor(x, requires_grad=True)
    score, tensor = compute(inputs)
    (gradient,) = torch.autograd.grad(score, tensor)
    return gradient.detach().numpy(), tensor.detach().numpy()


def _tape_gradient(model, x: np.ndarray, output: int) -> np.ndarray:
    """The backend's gradient of the model's output ``output`` with respect to ``x``."""
    return _backend_gradient(lambda inputs: (keras.ops.sum(model(inputs)[:, output]), inputs), x)[0]


def _logits(model):
    """The Keras model without its final softmax (a separate layer or inside the last Dense)."""
    last = model.layers[-1]
    if isinstance(last, (L.Activation, L.Softmax)):
        return keras.Model(model.inputs, last.input)
    head = L.Dense(last.units, name="logits")
    logits = keras.Model(model.inputs, head(last.input))
    head.set_weights(last.get_weights())
    return logits


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_parity(name: str) -> None:
    factory, shape = MODELS[name]
    model, x = factory(), _data(shape)
    module = to_torch(model)
    with torch.no_grad():
        ours = module(torch.from_numpy(to_channels_first(x))).numpy()
    assert rel_error(ours, _numpy(model(x, training=False))) < 1e-5


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("method", ["gradient", "gradient_x_input", "gradient_x_sign"])
def test_gradients_equal_a_gradient_tape(name: str, method: str) -> None:
    factory, shape = MODELS[name]
    model, x = factory(), _data(shape)
    target = [0, 2, 1, 2]
    logits = _logits(model)
    one_hot = keras.ops.one_hot(np.array(target), 3 if name != "cnn2d" else 4)
    grad, _ = _backend_gradient(
        lambda inputs: (keras.ops.sum(logits(inputs, training=False) * one_hot), inputs), x
    )
    expected = {
        "gradient": grad,
        "gradient_x_input": grad * x,
        "gradient_x_sign": grad * np.where(x >= 0, 1.0, -1.0),
    }[method]
    ours = explain(model, x, method, target_class=target)
    assert ours.shape == x.shape
    assert rel_error(ours, expected) < 1e-4


def test_a_contrast_is_the_gradient_tape_of_the_difference_of_two_logits() -> None:
    from signxai import Contrast

    model, x = ecg_model(), _data((4, 160, 1))
    target, versus = [0, 2, 1, 2], [1, 0, 2, 1]
    weights = keras.ops.one_hot(np.array(target), 3) - keras.ops.one_hot(np.array(versus), 3)
    logits = _logits(model)
    grad, _ = _backend_gradient(
        lambda inputs: (keras.ops.sum(logits(inputs, training=False) * weights), inputs), x
    )
    assert rel_error(explain(model, x, "gradient", target_class=Contrast(target, versus)), grad) < 1e-4


def test_every_method_on_the_keras_ecg_model_and_the_tf_style_call() -> None:
    model, x = ecg_model(), _data((2, 160, 1))
    for method in list_methods():
        extra = {"seed": 0} if method.startswith(("smoothgrad", "vargrad")) else {}
        relevance = explain(model, x, method, target_class=[0, 1], **extra)
        assert relevance.shape == x.shape and np.isfinite(relevance).all(), method
    np.testing.assert_array_equal(
        tf_calculate_relevancemap("lrp_epsilon_0_1", x, model, neuron_selection=1),
        explain(model, x, "lrp_epsilon_0_1", target_class=1),
    )
    one = explain(model, x[0], "gradient", target_class=1)
    np.testing.assert_allclose(one, explain(model, x, "gradient", target_class=1)[0], rtol=1e-4, atol=1e-7)


def test_lrp_on_keras_equals_lrp_on_the_converted_module() -> None:
    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [
            keras.Input((80, 1)),
            L.Conv1D(4, 5, activation="relu"),
            L.MaxPooling1D(2),
            L.Conv1D(6, 3, activation="relu"),
            L.Flatten(),
            L.Dense(3),
        ]
    )
    x = _data((3, 80, 1))
    module = converted(model, x)
    for method in (
        "lrpsign_epsilon_0_25_std_x",
        "lrp_epsilon_0_1_std_x",
        "lrpz_epsilon_0_5",
        "lrp_alpha_1_beta_0",
    ):
        direct = explain(module, to_channels_first(x), method, target_class=2)
        np.testing.assert_allclose(
            explain(model, x, method, target_class=2), np.moveaxis(direct, 1, -1), rtol=1e-6, atol=1e-9
        )


@pytest.mark.skipif(
    BACKEND == "jax", reason="the reference is a gradient at an inner tensor; jax.grad gives a function's"
)
def test_grad_cam_target_layer_is_a_keras_layer_name_after_its_activation() -> None:
    model, x = ecg_model(), _data((2, 160, 1))
    cam = explain(model, x, "grad_cam", target_class=1, target_layer="last_conv")
    logits = _logits(model)
    feature = keras.Model(model.inputs, [model.get_layer("last_conv").output, logits.output])

    def compute(inputs):  # type: ignore[no-untyped-def]
        activation, out = feature(inputs, training=False)
        return keras.ops.sum(out[:, 1]), activation

    grads, activation = _backend_gradient(compute, x)  # (B, T, C), after the ReLU
    weights = grads.mean(axis=1, keepdims=True)
    raw = np.maximum((weights * activation).sum(axis=2), 0)  # (B, T')
    expected = np.stack(
        [np.interp(np.linspace(0, raw.shape[1] - 1, 160), np.arange(raw.shape[1]), r) for r in raw]
    )[..., None]
    assert rel_error(cam, expected) < 1e-4


def test_unsupported_layers_and_parity_failures_are_named_errors() -> None:
    keras.utils.set_random_seed(5)
    volume = keras.Sequential([keras.Input((4, 4, 4, 1)), L.Conv3D(2, 2), L.Flatten(), L.Dense(2)])
    with pytest.raises(UnsupportedModelError, match="class Conv3D has no mapping"):
        explain(volume, _data((2, 4, 4, 4, 1)), "gradient", target_class=0)
    bilinear = keras.Sequential(
        [keras.Input((6, 5, 3)), L.UpSampling2D(2, interpolation="bilinear"), L.Flatten()]
    )
    with pytest.raises(UnsupportedModelError, match="interpolation='nearest'"):
        explain(bilinear, _data((2, 6, 5, 3)), "gradient", target_class=0)
    model, x = ecg_model(), _data((2, 160, 1))
    module = converted(model, x)
    with torch.no_grad():
        _conv(module.layers["last_conv"]).weight.mul_(2.0)  # the cached conversion goes stale
    explain(model, x, "gradient", target_class=0)  # reconverted and proved again
    from signxai.frontends import keras as frontend

    broken = frontend.to_torch(model)
    with torch.no_grad():
        _conv(broken.layers["last_conv"]).weight.mul_(2.0)
    original = frontend.to_torch
    frontend.to_torch = lambda m: broken
    try:
        frontend._CACHE.pop(model, None)
        with pytest.raises(UnsupportedModelError, match="relative error"):
            explain(model, x, "gradient", target_class=0)
        frontend.to_torch = lambda m: torch.nn.Linear(3, 3)  # fails on x: torch's shape error
        frontend._CACHE.pop(model, None)
        with pytest.raises(UnsupportedModelError, match="failed on x where Keras computes it: mat1"):
            explain(model, x, "gradient", target_class=0)
    finally:
        frontend.to_torch = original
        frontend._CACHE.pop(model, None)


class _Subclassed(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.conv = L.Conv1D(4, 3, activation="relu")
        self.dense = L.Dense(2)

    def call(self, x):  # type: ignore[no-untyped-def]
        return self.dense(L.Flatten()(self.conv(x)))


def test_models_without_one_layer_graph_are_named_errors() -> None:
    """A subclassed model and an unbuilt Sequential raised Keras's AttributeError ('input_shape')."""
    keras.utils.set_random_seed(5)
    x = _data((2, 16, 2))
    subclassed = _Subclassed()
    subclassed(x)
    with pytest.raises(
        UnsupportedModelError, match="class _Subclassed is a subclassed keras.Model.*functional API"
    ):
        explain(subclassed, x, "gradient", target_class=0)
    unbuilt = keras.Sequential([L.Conv1D(4, 3), L.Flatten(), L.Dense(2)])
    with pytest.raises(UnsupportedModelError, match="Sequential model .* has no input shape.*keras.Input"):
        explain(unbuilt, x, "gradient", target_class=0)
    inputs = keras.Input((16, 2))
    hidden = L.Flatten()(inputs)
    two_heads = keras.Model(inputs, [L.Dense(2)(hidden), L.Dense(1)(hidden)])
    with pytest.raises(UnsupportedModelError, match=r"one output are mapped; this one has 2.*outputs\[0\]"):
        explain(two_heads, x, "gradient", target_class=0)


@pytest.mark.parametrize("layer", ["conv", "pool"])
def test_a_channels_first_layer_is_a_named_error(layer: str) -> None:
    """The mapping reads layers channels-last: a channels-first Conv1D failed with torch's raw
    shape error, a channels-first pooling with a parity failure that did not say why."""
    keras.utils.set_random_seed(0)
    if layer == "conv":
        inputs = keras.Input((2, 64))
        hidden = L.Conv1D(4, 3, padding="same", data_format="channels_first")(inputs)
        x, name = _data((2, 2, 64)), "Conv1D"
    else:
        inputs = keras.Input((64, 2))
        hidden = L.MaxPooling1D(2, data_format="channels_first")(L.Conv1D(4, 3)(inputs))
        x, name = _data((2, 64, 2)), "MaxPooling1D"
    model = keras.Model(inputs, L.Dense(3)(L.Flatten()(hidden)))
    with pytest.raises(UnsupportedModelError, match=rf"\({name}\) has data_format='channels_first'"):
        explain(model, x, "gradient", target_class=0)


def test_a_channels_first_or_misshapen_x_is_an_input_error() -> None:
    model = ecg_model()
    with pytest.raises(InputError, match=r"x has shape \(2, 1, 160\).*looks channels-first"):
        explain(model, _data((2, 1, 160)), "gradient", target_class=0)
    with pytest.raises(InputError, match=r"x has shape \(2, 150, 1\)") as error:
        explain(model, _data((2, 150, 1)), "gradient", target_class=0)
    assert "channels-first" not in str(error.value)
    with pytest.raises(InputError, match=r"x has shape \(1, 160\).*looks channels-first"):
        explain(model, _data((1, 160)), "gradient", target_class=0)  # one sample, channels first


def test_x_may_be_a_tensor_of_the_keras_backend() -> None:
    """A tf.Tensor (from tf.data, say) on TensorFlow, a torch tensor on the torch backend: the same
    map as for the numpy array (a tf.Tensor was an InputError); anything else is one naming x."""
    model, x = ecg_model(), _data((2, 160, 1))
    expected = explain(model, x, "lrpsign_epsilon_0_1", target_class=1)
    tensor = keras.ops.convert_to_tensor(x)
    assert not isinstance(tensor, np.ndarray)
    np.testing.assert_array_equal(explain(model, tensor, "lrpsign_epsilon_0_1", target_class=1), expected)
    with pytest.raises(
        InputError, match="x must be a numpy array or a tensor of the Keras backend.*got list"
    ):
        explain(model, x.tolist(), "gradient", target_class=1)


@pytest.mark.parametrize(("kernel", "strides"), [(5, 1), (4, 1), (3, 2)])
def test_same_padding_belongs_to_the_convolution(kernel: int, strides: int) -> None:
    """LRP's first-layer rules (flat, w-square, std_x) must see the input, not a zero-padded copy.

    Symmetric padding is the Conv's own, asymmetric (even kernels, strides) a ``PaddedConv1d``
    that pads inside its ``forward``; with no bias the flat rule then conserves relevance (a
    padded copy would give part of it to the padding, where it is lost).
    """
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 2)),
            keras.layers.Conv1D(
                3, kernel, strides=strides, padding="same", activation="relu", use_bias=False
            ),
            keras.layers.Flatten(),
            keras.layers.Dense(2, use_bias=False),
        ]
    )
    module = to_torch(model)
    assert not [m for m in module.modules() if isinstance(m, (torch.nn.ZeroPad1d, torch.nn.ConstantPad1d))]
    assert isinstance(_conv(module), PaddedConv1d) == (kernel % 2 == 0 or strides > 1)
    x = np.random.default_rng(0).normal(size=(2, 32, 2)).astype(np.float32)
    with torch.no_grad():
        ours = module(torch.from_numpy(to_channels_first(x))).numpy()
    np.testing.assert_allclose(ours, _numpy(model(x)), rtol=1e-5, atol=1e-6)
    relevance = explain(model, x, "flatlrp_z", target_class=[0, 1])
    np.testing.assert_allclose(relevance.sum(axis=(1, 2)), ours[[0, 1], [0, 1]], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(("shape", "pool", "strides"), [((31, 2), 2, 2), ((30, 2), 3, 2), ((9, 11, 2), 2, 3)])
def test_pooling_with_same_padding_is_the_keras_backends(
    kind: str, shape: tuple, pool: int, strides: int
) -> None:
    """'same' pooling: -inf padding for max, the mean over the samples inside for average.

    The odd lengths leave partial windows at the edges, where a zero-padded average would be
    smaller than TensorFlow's; the bias-free z-rule conserves relevance through the pooling.
    """
    keras.utils.set_random_seed(3)
    two_d = len(shape) == 3
    layer = {
        "max": L.MaxPooling2D if two_d else L.MaxPooling1D,
        "avg": L.AveragePooling2D if two_d else L.AveragePooling1D,
    }
    conv = L.Conv2D if two_d else L.Conv1D
    model = keras.Sequential(
        [
            keras.Input(shape),
            conv(3, 3, padding="same", use_bias=False),  # no ReLU: negative values reach the pooling
            layer[kind](pool, strides=strides, padding="same"),
            L.Flatten(),
            L.Dense(2, use_bias=False),
        ]
    )
    x = _data((2, *shape)) - 1.0  # mostly negative: a zero-padded max would differ at the edges
    ours = _assert_parity(model, x)
    relevance = explain(model, x, "lrp_z", target_class=[0, 1])
    np.testing.assert_allclose(relevance.reshape(2, -1).sum(1), ours[[0, 1], [0, 1]], rtol=1e-3, atol=1e-5)


def _conv(layer: torch.nn.Module) -> torch.nn.Module:
    return next(m for m in layer.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)))


def test_more_signal_layers_are_mapped_with_parity() -> None:
    """LeakyReLU, ELU, ReLU(max_value), UpSampling1D, Cropping1D, Subtract, Average, leaky_relu."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((40, 2))
    h = L.Conv1D(4, 5, padding="same", activation="leaky_relu")(inputs)
    h = L.LeakyReLU(negative_slope=0.1)(L.Conv1D(4, 3, padding="same")(h))
    a = L.ELU(alpha=0.5)(L.Conv1D(4, 3, padding="same")(h))
    b = L.ReLU(max_value=0.3)(L.Conv1D(4, 3, padding="same")(h))
    h = L.Average()([L.Subtract()([a, b]), h])
    h = L.Cropping1D((3, 1))(L.UpSampling1D(2)(L.MaxPooling1D(2)(h)))
    model = keras.Model(inputs, L.Dense(3)(L.Flatten()(h)))
    x = _data((3, 40, 2))
    _assert_parity(model, x)
    for method in ("gradient", "lrp_epsilon_0_1", "lrpsign_z"):
        relevance = explain(model, x, method, target_class=[0, 1, 2])
        assert relevance.shape == x.shape and np.isfinite(relevance).all() and np.abs(relevance).sum() > 0


@pytest.mark.parametrize("shape", [(32, 2), (8, 8, 2)])
def test_inference_identities_rescaling_prelu_softmax_axes_and_elementwise_merges(shape: tuple) -> None:
    """Layers an ECG model may carry: identities at inference (AlphaDropout, Identity,
    ActivityRegularization), Rescaling with per-channel scale and offset, PReLU with alpha per
    position (Keras's default) and shared, Softmax and UnitNormalization over a non-default axis,
    Multiply, Maximum, Minimum: forward parity and GradientTape agreement; LRP and DeepLIFT where
    they have rules, a named error where not."""
    keras.utils.set_random_seed(6)
    conv = L.Conv1D if len(shape) == 2 else L.Conv2D
    spatial = list(range(1, len(shape)))
    inputs = keras.Input(shape)
    h = L.Rescaling(np.linspace(0.5, 1.5, 2).astype("float32"), offset=np.array([0.1, -0.2], "float32"))(
        inputs
    )
    h = L.AlphaDropout(0.1)(L.Identity()(L.ActivityRegularization()(conv(6, 3, padding="same")(h))))
    h = L.PReLU(alpha_initializer=keras.initializers.RandomUniform(0.0, 0.5, seed=1))(h)
    g = L.PReLU(alpha_initializer=keras.initializers.RandomUniform(0.0, 0.5, seed=2), shared_axes=spatial)(
        conv(6, 3, padding="same")(h)
    )
    merged = L.Add()([L.Maximum()([h, g]), L.Minimum()([h, g])])
    attended = L.Softmax(axis=1)(conv(6, 1)(merged))
    normed = L.UnitNormalization(axis=1)(merged)
    model = keras.Model(inputs, L.Dense(3)(L.Flatten()(L.Concatenate()([attended, normed]))))
    x = _data((2, *shape))
    _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=1), _tape_gradient(model, x, 1)) < 1e-5
    with pytest.raises(UnsupportedModelError, match="applies softmax to input-dependent values"):
        explain(model, x, "lrp_epsilon_0_1", target_class=1)  # the first of two without a rule
    plain = keras.Model(inputs, L.Dense(3)(L.Flatten()(merged)))
    for method in ("lrp_epsilon_0_1", "lrp_alpha_1_beta_0", "integrated_gradients_steps_8"):
        relevance = explain(plain, x, method, target_class=1)
        assert relevance.shape == x.shape and np.isfinite(relevance).all() and np.abs(relevance).sum() > 0
    with pytest.raises(UnsupportedModelError, match="applied none"):  # a PReLU is not a ReLU
        explain(plain, x, "guided_backprop", target_class=1)
    with pytest.raises(UnsupportedModelError, match="maximum of 2 input-dependent"):
        explain(plain, x, "deeplift", target_class=1)
    prelus = keras.Model(inputs, L.Dense(3)(L.Flatten()(g)))  # DeepLIFT's Rescale rule on PReLUs
    _, delta = explain(prelus, x, "deeplift", target_class=1, return_convergence_delta=True)
    assert np.abs(delta).max() < 1e-5
    gated = keras.Model(inputs, L.Dense(3)(L.Flatten()(L.Multiply()([h, g]))))
    _assert_parity(gated, x)
    assert rel_error(explain(gated, x, "gradient", target_class=0), _tape_gradient(gated, x, 0)) < 1e-5
    with pytest.raises(UnsupportedModelError, match="multiplies two input-dependent tensors"):
        explain(gated, x, "lrp_epsilon_0_1", target_class=0)


def _checked_activation(layer, target: int):  # type: ignore[no-untyped-def]
    """Conv1D -> ``layer`` -> Dense: parity with Keras, GradientTape agreement, a finite LRP map."""
    inputs = keras.Input((16, 2))
    model = keras.Model(inputs, L.Dense(3)(L.Flatten()(layer(L.Conv1D(4, 3)(inputs)))))
    x = _data((3, 16, 2))
    _assert_parity(model, x)
    gradient = explain(model, x, "gradient", target_class=target)
    assert rel_error(gradient, _tape_gradient(model, x, target)) < 1e-5
    relevance = explain(model, x, "lrp_epsilon_0_1", target_class=target)
    assert np.isfinite(relevance).all() and np.abs(relevance).sum() > 0
    return model, x


@pytest.mark.parametrize(
    "activation",
    [
        "celu",
        "exponential",
        "hard_tanh",
        "hard_shrink",
        "soft_shrink",
        "tanh_shrink",
        "log_sigmoid",
        "softsign",
    ],
)
def test_more_keras_activations_are_mapped_and_pass_lrp(activation: str) -> None:
    """These activations were errors (no mapping); each is now the torch module computing it."""
    keras.utils.set_random_seed(4)
    _checked_activation(L.Activation(activation), target=2)


@pytest.mark.parametrize(
    "options",
    [
        {"threshold": 0.3},
        {"negative_slope": 0.1},
        {"negative_slope": 0.2, "max_value": 1.0},
        {"negative_slope": 0.2, "threshold": 0.5, "max_value": 1.0},
    ],
)
def test_relu_with_threshold_or_negative_slope_is_mapped(options: dict[str, float]) -> None:
    """Keras's ReLU(threshold=...) (Keras 3's ThresholdedReLU) and ReLU(negative_slope=...) were errors."""
    keras.utils.set_random_seed(2)
    model, x = _checked_activation(L.ReLU(**options), target=1)
    if "threshold" in options:  # a jump at the threshold: a selection DeepLIFT has no rule for
        with pytest.raises(UnsupportedModelError, match="deeplift: the model applies where"):
            explain(model, x, "deeplift", target_class=1)
    else:  # clamps: the Rescale rule, complete
        _, delta = explain(model, x, "deeplift", target_class=1, return_convergence_delta=True)
        assert np.abs(delta).max() < 1e-5


def test_a_final_log_softmax_is_bypassed_like_softmax() -> None:
    """``activation='log_softmax'`` on the last Dense: the logits are explained, as for softmax."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((16, 2))
    hidden = L.Flatten()(L.Conv1D(4, 3, activation="relu")(inputs))
    model = keras.Model(inputs, L.Dense(3, activation="log_softmax")(hidden))
    x = _data((2, 16, 2))
    full = explain(model, x, "gradient", target_class=1, explain_output="activation")
    assert rel_error(full, _tape_gradient(model, x, 1)) < 1e-5
    head = L.Dense(3)  # the same layer without the log-softmax: the logits
    linear = keras.Model(inputs, head(hidden))
    head.set_weights(model.layers[-1].get_weights())
    assert rel_error(explain(model, x, "gradient", target_class=1), _tape_gradient(linear, x, 1)) < 1e-5


def test_keras_ops_in_the_graph_normalization_and_hard_activations_are_mapped() -> None:
    """``x + 3.0``, ``h * (1 / 6)``, ``3.0 - h``, ``h / 2.0`` and ``a * b`` written as keras.ops
    calls in a functional graph (before, a KeyError at the forward pass), Normalization,
    GlobalAveragePooling with keepdims, hard_silu/hard_sigmoid/relu6 activations: parity and
    GradientTape agreement; an operation without a mapping is a named error."""
    keras.utils.set_random_seed(8)
    inputs = keras.Input((24, 3))
    normed = L.Normalization(mean=[0.1, -0.2, 0.3], variance=[1.5, 0.5, 2.0])(inputs)
    h = L.Conv1D(6, 3, padding="same", activation="hard_silu")(normed)
    hard_sigmoid = L.ReLU(6.0)(h + 3.0) * (1.0 / 6.0)
    h = L.Conv1D(6, 1, activation="relu6")((3.0 - hard_sigmoid) / 2.0)
    gate = L.Dense(6, activation="hard_sigmoid")(L.GlobalAveragePooling1D(keepdims=True)(h))
    model = keras.Model(inputs, L.Dense(3)(L.Flatten()(h * gate)))
    x = _data((2, 24, 3))
    _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=2), _tape_gradient(model, x, 2)) < 1e-5
    relevance = explain(model, x, "lrp_epsilon_0_1", target_class=2, gates="signal")
    assert relevance.shape == x.shape and np.isfinite(relevance).all() and np.abs(relevance).sum() > 0
    rooted = keras.Model(inputs, L.Dense(3)(L.Flatten()(keras.ops.sqrt(L.ReLU()(L.Conv1D(2, 3)(inputs))))))
    with pytest.raises(UnsupportedModelError, match=r"operation 'sqrt' \(Sqrt, a keras.ops call"):
        explain(rooted, x, "gradient", target_class=0)


def test_a_model_used_as_a_layer_dotted_names_and_grouped_convolutions() -> None:
    """Transfer learning's shape: a pretrained encoder (a Functional model named with a '.', as
    keras.applications names them: a KeyError from torch before) inside a Sequential model, with
    a grouped Conv1D (refused before): parity, GradientTape agreement, LRP, Grad-CAM on the
    encoder by its Keras name."""
    keras.utils.set_random_seed(10)
    inputs = keras.Input((40, 4))
    # Keras's torch backend keeps a layer's weights in a torch ParameterDict, whose keys cannot
    # hold a '.': there only the model's name has one
    name = "grouped.conv" if BACKEND == "tensorflow" else "grouped_conv"
    h = L.Conv1D(8, 5, padding="same", groups=2, activation="relu", name=name)(inputs)
    encoder = keras.Model(inputs, L.Conv1D(6, 3, activation="relu")(h), name="encoder_1.00")
    model = keras.Sequential([keras.Input((40, 4)), encoder, L.GlobalAveragePooling1D(), L.Dense(3)])
    x = _data((2, 40, 4))
    _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=2), _tape_gradient(model, x, 2)) < 1e-5
    for method in ("lrpsign_epsilon_0_1", "lrp_alpha_1_beta_0"):
        relevance = explain(model, x, method, target_class=2)
        assert relevance.shape == x.shape and np.isfinite(relevance).all() and np.abs(relevance).sum() > 0
    cam = explain(model, x, "grad_cam", target_class=2, target_layer="encoder_1.00")
    assert cam.shape == x.shape and np.abs(cam).sum() > 0


def test_a_model_loaded_from_a_file_converts_and_a_shared_layer_is_one_module(tmp_path) -> None:
    """Loading a .keras file builds each layer more than once (three inbound nodes for the first
    layer of a Sequential model), which was taken for a shared layer: the graph's own nodes are
    read now. A layer really called twice (shared weights, refused before) is one torch module
    called twice, explained per call: the maps of two layers with its weights."""
    keras.utils.set_random_seed(11)
    x = _data((2, 60, 2))
    sequential = keras.Sequential(
        [keras.Input((60, 2)), L.Conv1D(4, 5, activation="relu"), L.Flatten(), L.Dense(3)]
    )
    inputs = keras.Input((60, 2))
    functional = keras.Model(inputs, L.Dense(3)(L.GlobalMaxPooling1D()(L.Conv1D(4, 3)(inputs) + 1.0)))
    for model in (sequential, functional):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, compile=False)
        _assert_parity(loaded, x)
        assert_same_maps(loaded, model, x, ("gradient", "lrpsign_epsilon_0_1"), 1, rtol=1e-5, atol=1e-7)
    shared = L.Conv1D(2, 3, padding="same")  # called twice: one module, explained per call
    head = L.Dense(3)
    twice = keras.Model(inputs, head(L.Flatten()(shared(L.ReLU()(shared(inputs))))))
    first, second = L.Conv1D(2, 3, padding="same"), L.Conv1D(2, 3, padding="same")
    untied = keras.Model(inputs, L.Dense(3)(L.Flatten()(second(L.ReLU()(first(inputs))))))
    first.set_weights(shared.get_weights())
    second.set_weights(shared.get_weights())
    untied.layers[-1].set_weights(head.get_weights())
    _assert_parity(twice, x)
    methods = ("gradient", "lrp_epsilon_0_1", "lrp_alpha_1_beta_0", "lrp_zplus")
    assert_same_maps(twice, untied, x, methods, 0, rtol=1e-5, atol=1e-7)
    with pytest.raises(UnsupportedModelError, match="both on the input and on a later layer"):
        explain(twice, x, "lrpsign_epsilon_0_1", target_class=0)  # no input rule for one call alone
    pooled = L.Conv1D(2, 3, padding="same")
    mixed = keras.Model(inputs, L.Flatten()(pooled(L.MaxPooling1D(2)(pooled(inputs)))))
    with pytest.raises(UnsupportedModelError, match="shared by calls on inputs of shapes"):
        explain(mixed, x, "gradient", target_class=0)


@pytest.mark.parametrize(("use_scale", "causal"), [(False, False), (True, False), (True, True)])
def test_dot_product_attention_layer_is_mapped_and_explained_by_conservative_propagation(
    use_scale: bool, causal: bool
) -> None:
    """Keras's ``Attention`` (Luong, as in ECG CNN-attention models), also causal: parity,
    GradientTape agreement; LRP names attention='cp', and with it the z-rule conserves the logit
    of the bias-free model; padding masks, returned scores and the additive ('concat') score
    are named errors."""
    keras.utils.set_random_seed(12)
    inputs = keras.Input((30, 2))
    h = L.Conv1D(6, 5, padding="same", activation="relu", use_bias=False)(inputs)
    attention = L.Attention(use_scale=use_scale)
    attended = attention([L.Conv1D(6, 1, use_bias=False)(h), h], use_causal_mask=causal)
    model = keras.Model(inputs, L.Dense(3, use_bias=False)(L.GlobalAveragePooling1D()(attended)))
    if use_scale:
        attention.scale.assign(0.7)
    x = _data((2, 30, 2))
    logits = _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=1), _tape_gradient(model, x, 1)) < 1e-5
    with pytest.raises(UnsupportedModelError, match="attention"):
        explain(model, x, "lrp_z", target_class=1)
    relevance = explain(model, x, "lrp_z", target_class=1, attention="cp")
    np.testing.assert_allclose(relevance.sum(axis=(1, 2)), logits[:, 1], rtol=1e-4, atol=1e-6)
    attended_and_scores, _ = L.Attention()([h, h], return_attention_scores=True)
    with pytest.raises(
        UnsupportedModelError, match=r"without masks \(other than use_causal_mask\) or returned"
    ):
        explain(keras.Model(inputs, L.Flatten()(attended_and_scores)), x, "gradient", target_class=0)


def test_a_shared_attention_layer_called_with_different_options_is_an_error() -> None:
    """One module per shared layer is mapped with one call's options: a second call with other
    options (causal here, not there) would run with the first's."""
    keras.utils.set_random_seed(13)
    inputs = keras.Input((20, 2))
    h = L.Conv1D(4, 3, padding="same")(inputs)
    attention = L.Attention()
    both = L.Add()([attention([h, h]), attention([h, h], use_causal_mask=True)])
    model = keras.Model(inputs, L.Dense(2)(L.Flatten()(both)))
    with pytest.raises(UnsupportedModelError, match="shared by calls with different options"):
        explain(model, _data((1, 20, 2)), "gradient", target_class=0)
    same = L.Add()([attention([h, h], use_causal_mask=True), attention([h, h], use_causal_mask=True)])
    shared = keras.Model(inputs, L.Dense(2)(L.Flatten()(same)))
    _assert_parity(shared, _data((2, 20, 2)))


def _assert_application(model, x: np.ndarray, refusal: str, **option: str) -> None:
    """Parity, GradientTape agreement; LRP/SIGN refused with a message matching ``refusal``, then
    run with ``option``: a finite, non-zero map of ``x``'s shape."""
    _assert_parity(model, x)
    logits = _logits(model)
    assert rel_error(explain(model, x, "gradient", target_class=1), _tape_gradient(logits, x, 1)) < 1e-4
    with pytest.raises(UnsupportedModelError, match=refusal):
        explain(model, x, "lrpsign_epsilon_0_1", target_class=1)
    relevance = explain(model, x, "lrpsign_epsilon_0_1", target_class=1, **option)
    assert relevance.shape == x.shape and np.isfinite(relevance).all() and np.abs(relevance).sum() > 0


def test_mobilenet_v3_converts_with_its_operations_and_gates() -> None:
    """keras.applications' MobileNetV3Small (Rescaling, hard sigmoid as keras.ops arithmetic,
    squeeze-and-excitation gates, hard-swish written as ``Multiply()([x, hard_sigmoid(x)])``):
    parity and GradientTape agreement; LRP names the gates, and with ``gates='signal'`` runs
    (the hard-swish product is an activation of its one input)."""
    keras.utils.set_random_seed(9)
    model = keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), classes=4)
    _randomize_batch_norm(model)
    x = _data((1, 32, 32, 3))
    _assert_application(model, x, "gates", gates="signal")
    relevance = explain(model, x, "integrated_gradients_steps_8", target_class=1)
    assert np.isfinite(relevance).all() and np.abs(relevance).sum() > 0


def test_convnext_converts_with_its_layer_scale() -> None:
    """keras.applications' ConvNeXtTiny (depthwise 7 x 7 convs, LayerNormalization, GELU and its
    own LayerScale layer, x * gamma per channel): parity and GradientTape agreement; LRP names
    the LayerNorm and runs with ``attention='cp'``."""
    keras.utils.set_random_seed(2)
    model = keras.applications.ConvNeXtTiny(
        weights=None, input_shape=(32, 32, 3), classes=4, include_preprocessing=False
    )
    assert "LayerScale" in {type(layer).__name__ for layer in model.layers}
    _assert_application(model, _data((2, 32, 32, 3)), "layer_norm.*attention='cp'", attention="cp")


def test_resnet50v2_runs_lrp_with_its_pre_activation_batch_norms_as_z_rule_layers() -> None:
    """keras.applications' ResNet50V2: its pre-activation BatchNorms (after pooling and residual
    sums) cannot be merged; LRP/SIGN runs with the defaults (they are z-rule layers, a warning
    names them), and with ``batchnorm='innvestigate'`` (every BatchNorm is)."""
    keras.utils.set_random_seed(4)
    model = keras.applications.ResNet50V2(weights=None, input_shape=(32, 32, 3), classes=4)
    _randomize_batch_norm(model)
    x = _data((1, 32, 32, 3))
    _assert_parity(model, x)
    with pytest.warns(UserWarning, match=r"'layers.conv2_block1_preact_bn' cannot be merged.*\d+ more"):
        relevance = explain(model, x, "lrpsign_epsilon_0_1", target_class=1)
    assert relevance.shape == x.shape and np.isfinite(relevance).all() and np.abs(relevance).sum() > 0
    kept = explain(model, x, "lrp_epsilon_0_1", target_class=1, batchnorm="innvestigate")
    with pytest.warns(UserWarning, match="cannot be merged"):
        default = explain(model, x, "lrp_epsilon_0_1", target_class=1)
    assert np.isfinite(kept).all() and not np.allclose(kept, default)


@pytest.mark.parametrize(("written", "activation"), [("hard_swish", "hard_silu"), ("swish", "silu")])
@pytest.mark.parametrize("method", ["lrp_epsilon_0_1", "lrpsign_epsilon_0_5", "lrp_alpha_1_beta_0"])
def test_a_swish_written_with_multiply_equals_the_activation(
    written: str, activation: str, method: str
) -> None:
    """``Multiply()([h, hard_sigmoid(h)])`` (MobileNetV3's hard-swish, the sigmoid an Activation
    layer or keras.ops arithmetic) is an activation of ``h``: LRP maps equal those of the model
    with the activation layer."""

    def build(written_out: bool):
        inputs = keras.Input((48, 2))
        h = L.Conv1D(4, 5, padding="same", name="conv1")(inputs)
        if not written_out:
            h = L.Activation(activation)(h)
        elif written == "hard_swish":
            h = L.Multiply()([h, L.ReLU(6.0)(h + 3.0) * (1.0 / 6.0)])
        else:
            h = L.Multiply()([h, L.Activation("sigmoid")(h)])
        h = L.Conv1D(4, 5, padding="same", activation="relu", name="conv2")(h)
        return keras.Model(inputs, L.Dense(3, name="head")(L.GlobalAveragePooling1D()(h)))

    keras.utils.set_random_seed(4)
    reference, model = build(False), build(True)
    model.set_weights(reference.get_weights())
    x = _data((3, 48, 2))
    np.testing.assert_allclose(_numpy(model(x)), _numpy(reference(x)), rtol=1e-5, atol=1e-6)
    expected = explain(reference, x, method, target_class=[0, 1, 2])
    ours = explain(model, x, method, target_class=[0, 1, 2])
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())


@pytest.mark.skipif(BACKEND != "tensorflow", reason="Keras's torch backend imports torch's compiler itself")
def test_a_keras_user_script_imports_tensorflow_first_and_does_not_crash() -> None:
    """Importing torch's compiler (dynamo, triton) after TensorFlow kills the process with a
    segmentation fault; the compiled-model support once did that on every explanation."""
    import subprocess
    import sys

    script = (
        "import numpy as np, keras, sys\n"
        "from keras import layers as L\n"
        "from signxai import explain\n"
        "inp = keras.Input((32, 2)); h = L.Conv1D(4, 3, activation='relu')(inp)\n"
        "model = keras.Model(inp, L.Dense(3, activation='softmax')(L.GlobalMaxPooling1D()(h)))\n"
        "x = np.random.default_rng(0).normal(size=(2, 32, 2)).astype('float32')\n"
        "for method in ('lrpsign_epsilon_0_1', 'guided_backprop', 'gradient'):\n"
        "    assert explain(model, x, method, target_class=1).shape == x.shape\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_depthwise_convolutions_and_permute_are_mapped_with_parity() -> None:
    """DepthwiseConv1D/2D (a torch conv with one group per channel) and Permute were errors."""
    keras.utils.set_random_seed(6)
    inputs = keras.Input((40, 3))
    h = L.DepthwiseConv1D(4, depth_multiplier=2, padding="same", activation="relu")(inputs)  # asymmetric
    h = L.DepthwiseConv1D(3, strides=2, dilation_rate=1, padding="valid")(h)
    h = L.Conv1D(4, 3, padding="same", activation="relu")(h)
    h = L.Permute((2, 1))(h)  # (4, 19): the next conv runs over the 4 former channels
    model = keras.Model(inputs, L.Dense(3)(L.Flatten()(L.Conv1D(2, 2, activation="relu")(h))))
    x = _data((3, 40, 3))
    _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=1), _tape_gradient(model, x, 1)) < 1e-5
    for method in ("lrp_epsilon_0_1", "lrpsign_z", "lrp_alpha_1_beta_0"):
        relevance = explain(model, x, method, target_class=[0, 1, 2])
        assert relevance.shape == x.shape and np.isfinite(relevance).all() and np.abs(relevance).sum() > 0
    image = keras.Input((9, 9, 2))
    g = L.DepthwiseConv2D((3, 2), depth_multiplier=3, padding="same", activation="relu")(image)
    flat = keras.Model(image, L.Dense(2)(L.GlobalAveragePooling2D()(g)))
    _assert_parity(flat, _data((2, 9, 9, 2)))


def test_separable_convolutions_and_eegnet_are_mapped_with_parity() -> None:
    """SeparableConv1D/2D (a depthwise torch conv, then the pointwise 1x1 conv with the bias) were
    errors; EEGNet (Lawhern et al. 2018), a common biosignal model, is built from them."""
    keras.utils.set_random_seed(8)
    inputs = keras.Input((40, 3))
    h = L.SeparableConv1D(5, 4, depth_multiplier=2, padding="same", activation="relu")(inputs)  # asymmetric
    h = L.SeparableConv1D(4, 3, strides=2, dilation_rate=1, padding="valid", use_bias=False)(h)
    h = L.SeparableConv1D(4, 3, dilation_rate=2, padding="same", activation="relu")(h)
    model = keras.Model(inputs, L.Dense(3)(L.GlobalAveragePooling1D()(h)))
    x = _data((3, 40, 3))
    _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=1), _tape_gradient(model, x, 1)) < 1e-5
    eeg = keras.Input((4, 64, 1))  # (electrodes or leads, samples, 1), as EEGNet takes its input
    g = L.Conv2D(4, (1, 16), padding="same", use_bias=False)(eeg)
    g = L.BatchNormalization()(g)
    g = L.DepthwiseConv2D((4, 1), depth_multiplier=2, use_bias=False)(g)
    g = L.Activation("elu")(L.BatchNormalization()(g))
    g = L.Dropout(0.25)(L.AveragePooling2D((1, 4))(g))
    g = L.SeparableConv2D(8, (1, 8), padding="same", use_bias=False)(g)
    g = L.Activation("elu")(L.BatchNormalization()(g))
    g = L.Flatten()(L.AveragePooling2D((1, 4))(g))
    eegnet = keras.Model(eeg, L.Dense(3, activation="softmax")(g))
    for layer in eegnet.layers:  # trained-looking BatchNorm statistics
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            rng = np.random.default_rng(1)
            layer.set_weights([gamma + 0.2, beta + 0.1, mean + rng.normal(0, 0.1, mean.shape), var + 0.5])
    signals = _data((2, 4, 64, 1))
    _assert_parity(eegnet, signals)
    tape = _tape_gradient(_logits(eegnet), signals, 2)
    assert rel_error(explain(eegnet, signals, "gradient", target_class=2), tape) < 1e-5
    module = converted(eegnet, signals)
    for method in ("lrp_epsilon_0_1", "lrpsign_epsilon_0_1", "lrp_alpha_1_beta_0"):
        relevance = explain(eegnet, signals, method, target_class=[0, 2])
        assert (
            relevance.shape == signals.shape and np.isfinite(relevance).all() and np.abs(relevance).sum() > 0
        )
        on_module = explain(module, torch.from_numpy(to_channels_first(signals)), method, target_class=[0, 2])
        np.testing.assert_allclose(to_channels_first(relevance), on_module, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    ("kernel", "strides", "dilation"), [(2, 1, 1), (3, 2, 1), (4, 2, 1), (5, 3, 1), (2, 3, 1), (3, 1, 2)]
)
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_transposed_convolutions_crop_as_tensorflow(
    kernel: int, strides: int, dilation: int, padding: str
) -> None:
    """TensorFlow keeps (n - 1) s + max(e, s) samples ('valid') or n s from max(e - s, 0) // 2 on
    ('same'): an odd total is cropped more on the right, which torch's padding cannot express."""
    inputs = keras.Input((9, 2))
    layer = L.Conv1DTranspose(3, kernel, strides=strides, padding=padding, dilation_rate=dilation)
    model = keras.Model(inputs, L.Flatten()(layer(inputs)))
    layer.bias.assign(np.array([0.5, -1.0, 2.0], dtype=np.float32))  # also where no kernel reaches
    x = _data((2, 9, 2))
    try:
        model(x)
    except ValueError as error:  # Keras <= 3.12 on the torch backend: 'same', even kernel, stride 1
        assert BACKEND == "torch" and "not supported" in str(error)
        with pytest.raises(UnsupportedModelError, match="torch backend .* cannot compute it"):
            explain(model, x, "gradient", target_class=0)
        return
    _assert_parity(model, x)


def test_transposed_convolutions_are_mapped_and_explained() -> None:
    """Conv1DTranspose/Conv2DTranspose (decoders, U-Net-style ECG models) were errors."""
    keras.utils.set_random_seed(9)
    inputs = keras.Input((32, 2))
    h = L.Conv1D(6, 5, strides=2, padding="same", activation="relu")(inputs)
    h = L.Conv1DTranspose(4, 3, strides=2, padding="same")(h)  # odd total: cropped more on the right
    h = L.Activation("relu")(L.BatchNormalization()(h))
    h = L.Conv1DTranspose(4, 4, strides=2, padding="valid", activation="relu")(h)
    model = keras.Model(inputs, L.Dense(3)(L.GlobalAveragePooling1D()(h)))
    _randomize_batch_norm(model)
    x = _data((3, 32, 2))
    _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=1), _tape_gradient(model, x, 1)) < 1e-5
    module = converted(model, x)
    for method in ("lrp_epsilon_0_1", "lrpsign_epsilon_0_1", "lrp_alpha_1_beta_0"):
        relevance = explain(model, x, method, target_class=[0, 1, 2])
        assert relevance.shape == x.shape and np.isfinite(relevance).all() and np.abs(relevance).sum() > 0
        on_module = explain(module, torch.from_numpy(to_channels_first(x)), method, target_class=[0, 1, 2])
        np.testing.assert_allclose(to_channels_first(relevance), on_module, rtol=1e-5, atol=1e-8)
    image = keras.Input((7, 6, 2))  # a transposed conv on the input: the input-layer rule's layer
    upsample = L.Conv2DTranspose(3, (3, 2), strides=(2, 3), padding="same", activation="relu")
    g = upsample(image)
    upsample.bias.assign(np.array([0.1, 0.3, -0.2], dtype=np.float32))
    upsampler = keras.Model(image, L.Dense(2)(L.Flatten()(g)))
    pictures = _data((2, 7, 6, 2))
    _assert_parity(upsampler, pictures)
    tape = _tape_gradient(upsampler, pictures, 1)
    assert rel_error(explain(upsampler, pictures, "gradient", target_class=1), tape) < 1e-5
    assert np.isfinite(explain(upsampler, pictures, "flatlrp_epsilon_0_1", target_class=1)).all()
    with pytest.raises(UnsupportedModelError, match="output_padding is not mapped"):
        explain(
            keras.Model(inputs, L.Conv1DTranspose(2, 3, strides=2, output_padding=1)(inputs)), x, "gradient"
        )


def _keras_transformer(bias: bool = True):
    """A Keras ECG transformer: a conv patch embedding, a self-attention block (value_dim differs
    from key_dim), a causal one with a GELU feed-forward of Dense layers on the sequence,
    post-norm, global average pooling and a Dense head."""
    keras.utils.set_random_seed(10)
    inputs = keras.Input((48, 2))
    h = L.Conv1D(8, 4, strides=4, use_bias=bias)(inputs)
    for causal in (False, True):
        attended = L.MultiHeadAttention(2, 3, value_dim=5, use_bias=bias)(h, h, use_causal_mask=causal)
        h = L.LayerNormalization(center=bias)(L.Add()([h, attended]))
        hidden = L.Dense(16, activation="gelu" if bias else "relu", use_bias=bias)(h)
        h = L.LayerNormalization(center=bias)(L.Add()([h, L.Dense(8, use_bias=bias)(hidden)]))
    model = keras.Model(inputs, L.Dense(3, use_bias=bias)(L.GlobalAveragePooling1D()(h)))
    rng = np.random.default_rng(4)
    for weight in model.weights:  # biases and LayerNorm offsets away from their zero initialisation
        if weight.path.endswith(("bias", "beta")):
            weight.assign(rng.normal(0, 0.2, weight.shape).astype(np.float32))
    return model


@pytest.mark.skipif(
    BACKEND == "jax",
    reason="Keras's own MultiHeadAttention fails on JAX with value_dim != key_dim (a reshape error)",
)
def test_multi_head_attention_is_mapped_and_explained_by_conservative_propagation() -> None:
    """MultiHeadAttention (and Dense on sequences, for the feed-forward) were errors."""
    model, x = _keras_transformer(), _data((3, 48, 2))
    _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=1), _tape_gradient(model, x, 1)) < 1e-5
    with pytest.raises(UnsupportedModelError, match="attention='cp'"):
        explain(model, x, "lrp_epsilon_0_1", target_class=1)
    module = converted(model, x)
    for method, mode in (
        ("lrp_epsilon_0_1", "cp"),
        ("lrpsign_epsilon_0_1", "cp"),
        ("lrp_epsilon_0_1", "attnlrp"),
    ):
        relevance = explain(model, x, method, target_class=[0, 1, 2], attention=mode)
        direct = explain(module, to_channels_first(x), method, target_class=[0, 1, 2], attention=mode)
        np.testing.assert_allclose(to_channels_first(relevance), direct, rtol=1e-5, atol=1e-8)
        assert np.isfinite(relevance).all() and np.abs(relevance).sum() > 0
    bias_free = _keras_transformer(bias=False)  # the z-rule conserves the logit through it all
    relevance = explain(bias_free, x, "lrp_z", target_class=[0, 1, 2], attention="cp")
    logits = _numpy(bias_free(x))[np.arange(3), [0, 1, 2]]
    np.testing.assert_allclose(relevance.reshape(3, -1).sum(1), logits, rtol=1e-3, atol=1e-5)


def test_time_distributed_segments_feed_a_recurrent_layer() -> None:
    """A Keras CNN-LSTM over an ECG cut into segments: TimeDistributed conv, pooling and Dense on
    each segment, an LSTM over the segments (TimeDistributed was an error)."""
    keras.utils.set_random_seed(13)
    inputs = keras.Input((5, 40, 2))  # five segments of 40 samples, two leads
    h = L.TimeDistributed(L.Conv1D(4, 5, padding="same", activation="relu"))(inputs)
    h = L.TimeDistributed(L.GlobalAveragePooling1D())(L.TimeDistributed(L.MaxPooling1D(2))(h))
    h = L.TimeDistributed(L.Dense(6, activation="relu"))(h)
    model = keras.Model(inputs, L.Dense(3)(L.LSTM(6)(h)))
    x = _data((3, 5, 40, 2))
    _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=1), _tape_gradient(model, x, 1)) < 1e-5
    module = converted(model, x)
    for method in ("lrp_epsilon_0_1", "lrpsign_epsilon_0_1"):
        relevance = explain(model, x, method, target_class=[0, 1, 2])
        assert relevance.shape == x.shape and np.isfinite(relevance).all() and np.abs(relevance).sum() > 0
        direct = explain(module, to_channels_first(x), method, target_class=[0, 1, 2])
        np.testing.assert_allclose(to_channels_first(relevance), direct, rtol=1e-5, atol=1e-8)


def test_two_dimensional_upsampling_and_cropping_are_mapped() -> None:
    """UpSampling2D (nearest) and Cropping2D, as in 2D U-Net-style models, were errors."""
    keras.utils.set_random_seed(14)
    image = keras.Input((6, 5, 2))
    g = L.Conv2D(3, 3, padding="same", activation="relu")(image)
    g = L.Cropping2D(((1, 2), (0, 1)))(L.UpSampling2D((2, 3))(g))
    model = keras.Model(image, L.Dense(2)(L.Flatten()(g)))
    x = _data((2, 6, 5, 2))
    _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=1), _tape_gradient(model, x, 1)) < 1e-5
    assert np.isfinite(explain(model, x, "lrpsign_epsilon_0_1", target_class=1)).all()


def test_dense_on_sequences_and_images_is_a_1x1_conv() -> None:
    keras.utils.set_random_seed(12)
    steps = keras.Input((20, 3))
    h = L.Dense(4, activation="relu")(L.Dense(5)(steps))
    sequence = keras.Model(steps, L.Dense(2)(L.Flatten()(h)))
    x = _data((2, 20, 3))
    _assert_parity(sequence, x)
    assert rel_error(explain(sequence, x, "gradient", target_class=1), _tape_gradient(sequence, x, 1)) < 1e-5
    pixels = keras.Input((5, 6, 3))
    image = keras.Model(pixels, L.Dense(2)(L.GlobalAveragePooling2D()(L.Dense(4, activation="relu")(pixels))))
    _assert_parity(image, _data((2, 5, 6, 3)))


def test_cross_attention_with_separate_keys_and_unmapped_options() -> None:
    keras.utils.set_random_seed(11)
    inputs = keras.Input((24, 2))
    query = L.Conv1D(6, 3, padding="same", activation="relu")(inputs)
    value = L.Conv1D(4, 5, padding="same", activation="relu")(inputs)
    key = L.Conv1D(5, 3, padding="same")(inputs)
    attended = L.MultiHeadAttention(3, 2, output_shape=7)(query, value, key)
    model = keras.Model(inputs, L.Dense(2)(L.Flatten()(attended)))
    x = _data((2, 24, 2))
    _assert_parity(model, x)
    # passed by keyword in another order (Keras lists keyword tensors by name: key, query, value)
    by_name = L.MultiHeadAttention(3, 2, output_shape=7)(value=value, key=key, query=query)
    _assert_parity(keras.Model(inputs, L.Dense(2)(L.Flatten()(by_name))), x)
    assert rel_error(explain(model, x, "gradient", target_class=0), _tape_gradient(model, x, 0)) < 1e-5
    assert np.isfinite(explain(model, x, "lrp_epsilon_0_1", target_class=[0, 1], attention="cp")).all()
    h = L.Conv1D(4, 3)(inputs)
    out, _ = L.MultiHeadAttention(2, 2)(h, h, return_attention_scores=True)
    with pytest.raises(UnsupportedModelError, match="return_attention_scores"):
        explain(keras.Model(inputs, L.Dense(2)(L.Flatten()(out))), x, "gradient")


def test_layer_normalization_is_mapped_and_explained_by_conservative_propagation() -> None:
    """LayerNormalization (over the channels) was an error; LRP explains it with attention='cp'."""
    keras.utils.set_random_seed(9)
    inputs = keras.Input((32, 2))
    h = L.LayerNormalization(epsilon=1e-3)(L.Conv1D(8, 4, strides=4, activation="relu")(inputs))
    h = L.GlobalAveragePooling1D()(L.Conv1D(6, 3, padding="same", activation="relu")(h))
    model = keras.Model(inputs, L.Dense(3)(L.LayerNormalization(center=False)(h)))
    for layer in model.layers:
        if isinstance(layer, L.LayerNormalization):
            layer.gamma.assign(np.random.default_rng(2).uniform(0.5, 1.5, layer.gamma.shape))
    x = _data((3, 32, 2))
    _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=1), _tape_gradient(model, x, 1)) < 1e-5
    with pytest.raises(UnsupportedModelError, match="attention='cp'"):
        explain(model, x, "lrp_epsilon_0_1", target_class=1)
    module = converted(model, x)
    for method in ("lrp_epsilon_0_1", "lrpsign_z"):
        relevance = explain(model, x, method, target_class=[0, 1, 2], attention="cp")
        direct = explain(module, to_channels_first(x), method, target_class=[0, 1, 2], attention="cp")
        np.testing.assert_allclose(to_channels_first(relevance), direct, rtol=1e-5, atol=1e-8)
        assert np.isfinite(relevance).all() and np.abs(relevance).sum() > 0
    with pytest.raises(UnsupportedModelError, match="last axis only"):
        explain(
            keras.Sequential([keras.Input((8, 2)), L.LayerNormalization(axis=1), L.Flatten(), L.Dense(2)]),
            _data((2, 8, 2)),
            "gradient",
            target_class=0,
        )


@pytest.mark.parametrize(("shape", "groups"), [((32, 2), 2), ((32, 2), 8), ((32, 2), 1), ((8, 8, 2), 4)])
def test_group_normalization_is_mapped_and_conserves_under_conservative_propagation(
    shape: tuple[int, ...], groups: int
) -> None:
    """GroupNormalization was an error (no mapping): now nn.GroupNorm with Keras's groups and eps."""
    keras.utils.set_random_seed(3)
    conv = L.Conv1D if len(shape) == 2 else L.Conv2D
    inputs = keras.Input(shape)
    h = conv(8, 3, padding="same", activation="relu", use_bias=False)(inputs)
    h = L.GroupNormalization(groups, epsilon=1e-2, center=False)(h)
    h = L.GroupNormalization(2, center=False)(conv(4, 3, padding="same", use_bias=False)(h))
    model = keras.Model(inputs, L.Dense(3, use_bias=False)(L.Flatten()(h)))
    for layer in model.layers:
        if isinstance(layer, L.GroupNormalization):
            layer.gamma.assign(np.random.default_rng(2).uniform(0.5, 1.5, layer.gamma.shape))
    x = _data((3, *shape))
    _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=1), _tape_gradient(model, x, 1)) < 1e-5
    with pytest.raises(UnsupportedModelError, match="attention='cp'"):
        explain(model, x, "lrp_z", target_class=1)
    relevance = explain(model, x, "lrp_z", target_class=1, attention="cp")
    logits = _numpy(model(x))[:, 1]
    np.testing.assert_allclose(relevance.reshape(3, -1).sum(1), logits, rtol=1e-4, atol=1e-5)
    with pytest.raises(UnsupportedModelError, match="last axis only"):
        explain(
            keras.Sequential([keras.Input((8, 4)), L.GroupNormalization(2, axis=1), L.Flatten(), L.Dense(2)]),
            _data((2, 8, 4)),
            "gradient",
            target_class=0,
        )


def test_lstm_gru_and_bidirectional_are_mapped_and_explained_by_lrp() -> None:
    """Keras recurrent layers were errors (no mapping): now torch LSTM/GRU/RNN with Keras's weights."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((30, 2))
    h = L.Conv1D(4, 3, padding="same", activation="relu")(inputs)
    h = L.LSTM(5, return_sequences=True)(h)
    h = L.Bidirectional(L.GRU(3))(h)
    model = keras.Model(inputs, L.Dense(2)(h))
    first = keras.Sequential(
        [
            keras.Input((12, 3)),
            L.Bidirectional(L.LSTM(4, return_sequences=True)),
            L.GRU(3, use_bias=False),
            L.Dense(3),
        ]
    )
    for net, x in ((model, _data((3, 30, 2))), (first, _data((2, 12, 3)))):
        _assert_parity(net, x)
        assert rel_error(explain(net, x, "gradient", target_class=1), _tape_gradient(net, x, 1)) < 1e-4
        relevance = explain(net, x, "lrp_epsilon_0_01", target_class=1)
        assert relevance.shape == x.shape and np.isfinite(relevance).all() and np.abs(relevance).sum() > 0
    assert explain(model, _data((3, 30, 2)), "lrpsign_epsilon_0_1", target_class=1).shape == (3, 30, 2)
    with pytest.raises(UnsupportedModelError, match="reads the input"):
        explain(first, _data((2, 12, 3)), "lrpsign_epsilon_0_1", target_class=1)
    simple = keras.Sequential(
        [
            keras.Input((12, 3)),
            L.Conv1D(4, 3, activation="relu"),
            L.SimpleRNN(5, return_sequences=True),
            L.Bidirectional(L.SimpleRNN(3, activation="relu")),
            L.Dense(2),
        ]
    )  # SimpleRNN was an error (no mapping): torch's RNN, tanh or relu, with LRP through it
    x = _data((2, 12, 3))
    _assert_parity(simple, x)
    assert rel_error(explain(simple, x, "gradient", target_class=1), _tape_gradient(simple, x, 1)) < 1e-4
    for method in ("lrp_epsilon_0_01", "lrpsign_epsilon_0_1"):
        relevance = explain(simple, x, method, target_class=[0, 1])
        assert relevance.shape == x.shape and np.isfinite(relevance).all() and np.abs(relevance).sum() > 0
    sigmoid = keras.Sequential([keras.Input((12, 3)), L.SimpleRNN(3, activation="sigmoid"), L.Dense(2)])
    with pytest.raises(UnsupportedModelError, match="only activation 'tanh' or 'relu'"):
        explain(sigmoid, x, "gradient", target_class=1)
    backwards = keras.Sequential([keras.Input((12, 3)), L.GRU(3, reset_after=False), L.Dense(2)])
    with pytest.raises(UnsupportedModelError, match="reset_after=False"):
        explain(backwards, _data((2, 12, 3)), "gradient", target_class=1)


@pytest.mark.parametrize("merge", ["sum", "ave", "mul", None])
@pytest.mark.parametrize("sequences", [False, True])
def test_bidirectional_merge_modes_are_mapped(merge: str | None, sequences: bool) -> None:
    """merge_mode 'sum', 'ave', 'mul' were errors; 'mul' multiplies two signals (an LRP error)."""
    keras.utils.set_random_seed(8)
    inputs = keras.Input((12, 3))
    recurrent = L.Bidirectional(L.LSTM(4, return_sequences=sequences), merge_mode=merge)
    if merge is None:  # two outputs: no one tensor to map
        hidden = L.Concatenate()(recurrent(inputs))
        model = keras.Model(inputs, L.Dense(2)(L.Flatten()(hidden)))
        with pytest.raises(UnsupportedModelError, match="merge_mode None is not mapped"):
            explain(model, _data((2, 12, 3)), "gradient", target_class=1)
        return
    model = keras.Model(inputs, L.Dense(2)(L.Flatten()(recurrent(inputs))))
    x = _data((3, 12, 3))
    _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=1), _tape_gradient(model, x, 1)) < 1e-4
    if merge == "mul":
        with pytest.raises(UnsupportedModelError, match="multiplies two input-dependent tensors"):
            explain(model, x, "lrp_epsilon_0_1", target_class=1)
    else:
        relevance = explain(model, x, "lrp_epsilon_0_1", target_class=1)
        assert np.isfinite(relevance).all() and np.abs(relevance).sum() > 0


@pytest.mark.parametrize("kind", [L.LSTM, L.GRU, L.SimpleRNN])
@pytest.mark.parametrize("sequences", [False, True])
def test_go_backwards_is_mapped(kind: type, sequences: bool) -> None:
    """go_backwards=True was an error: the reversed input, and a sequence left in reversed order."""
    keras.utils.set_random_seed(8)
    inputs = keras.Input((12, 3))
    hidden = kind(4, go_backwards=True, return_sequences=sequences)(inputs)
    model = keras.Model(inputs, L.Dense(2)(L.Flatten()(hidden)))
    x = _data((3, 12, 3))
    _assert_parity(model, x)
    assert rel_error(explain(model, x, "gradient", target_class=0), _tape_gradient(model, x, 0)) < 1e-4
    forwards = keras.Model(inputs, L.Dense(2)(L.Flatten()(kind(4, return_sequences=sequences)(inputs))))
    forwards.set_weights(model.get_weights())
    if not sequences:  # the same layer on the reversed input
        np.testing.assert_allclose(_numpy(model(x)), _numpy(forwards(x[:, ::-1])), rtol=1e-5, atol=1e-6)
    relevance = explain(model, x, "lrp_epsilon_0_1", target_class=0)
    assert np.isfinite(relevance).all() and np.abs(relevance).sum() > 0


def _per_step_model():
    """A delineation-style Keras model: per-step softmax scores (B, T, 3), logits named."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64, 2))
    hidden = L.Conv1D(4, 5, padding="same", activation="relu", name="conv")(inputs)
    logits = L.Conv1D(3, 1, name="logits")(hidden)
    model = keras.Model(inputs, L.Softmax(axis=-1)(logits))
    return model, keras.Model(inputs, logits)


def test_an_output_window_of_a_keras_model_equals_the_backends_gradient_of_the_window() -> None:
    """OutputWindow(keras_model, start, stop): time on Keras's axis 1 by default, the softmax
    bypassed (the window of the logits), maps in Keras layout; also LRP, Grad-CAM by Keras layer
    name and explain_spectrum."""
    from signxai import OutputWindow, explain_spectrum

    model, logits = _per_step_model()
    x = np.random.default_rng(0).standard_normal((2, 64, 2)).astype(np.float32)
    ours = explain(OutputWindow(model, 20, 30), x, "gradient", target_class=1)
    expected = _backend_gradient(lambda inputs: (keras.ops.sum(logits(inputs)[:, 20:30, 1]), inputs), x)[0]
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6)
    steps = sum(
        explain(OutputWindow(model, t, t + 1), x, "lrp_epsilon_0_1", target_class=1) for t in range(20, 30)
    )
    window = explain(OutputWindow(model, 20, 30), x, "lrp_epsilon_0_1", target_class=1)
    np.testing.assert_allclose(window, steps, rtol=1e-4, atol=1e-6)
    assert (
        explain(OutputWindow(model, 20, 30), x, "grad_cam", target_class=1, target_layer="conv").shape
        == x.shape
    )
    spectrum = explain_spectrum(OutputWindow(model, 20, 30), x, "gradient_x_input", target_class=1)
    assert spectrum.relevance.shape == (2, 2, 33)


def test_a_keras_model_with_an_output_per_step_is_told_of_output_window() -> None:
    from signxai import OutputWindow, TargetError

    model, _ = _per_step_model()
    x = np.zeros((2, 64, 2), np.float32)
    with pytest.raises(
        UnsupportedModelError,
        match=r"output is \(None, 64, 3\), \(batch, steps, classes\).*OutputWindow\(model, start, stop\)",
    ):
        explain(model, x, "gradient", target_class=0)  # before: numpy's broadcast error
    with pytest.raises(TargetError, match="at most the model's number of output steps, 64"):
        explain(OutputWindow(model, 20, 70), x, "gradient", target_class=0)
