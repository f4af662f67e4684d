"""Relevance maps of the original SIGN package, for ``tests/methods/test_original_package.py``.

Runs the original package's TensorFlow/iNNvestigate implementation on eight small Keras models
with random weights and non-zero biases (three with BatchNorm layers whose statistics are far from
the identity: one residual with global average pooling, one with two convs on the input), and
writes the weights, inputs and maps to ``tests/data/original_sign_reference.npz``. The test
rebuilds the same models in Keras 3 and compares ``signxai.explain`` with these maps.

Either original package runs it, each installing as the module ``signxai`` (so neither can share an
environment with this project): ``signxai==1.1.9.2``, the package published with the paper, whose
method names are the tutorial's list, and ``signxai2==0.5.0``, which carries the same TensorFlow
code under ``signxai.tf_signxai`` (the shipped file is 0.5.0's; 1.1.9.2 gives the same maps, and
has no ``lrp_alpha_2_beta_1``). ``--all-names OUT`` writes the maps of every deterministic name
of the tutorial's list instead; ``SIGNXAI_ORIGINAL_MAPS=OUT pytest tests/methods/test_original_package.py``
then compares them all.

Environment (Python 3.11, apart from this project's)::

    python3.11 -m venv /tmp/sign-original
    /tmp/sign-original/bin/pip install tensorflow-cpu==2.12.1 "numpy<1.24" matplotlib scipy \\
        pillow requests version-parser
    /tmp/sign-original/bin/pip install --no-deps signxai2==0.5.0   # or signxai==1.1.9.2
    /tmp/sign-original/bin/python scripts/original_sign_reference.py

(``signxai==1.1.9.2`` has no ``signxai/__init__.py``; where ``signxai2`` is also installed, add an
empty one to its copy, or Python imports the other.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "original_sign_reference.npz"
TARGETS = [0, 1, 2, 1]
#: Methods defined as the original defines them (the test expects its maps to float32 rounding).
EXACT = [
    "gradient",
    "gradient_x_input",
    "gradient_x_sign",
    "gradient_x_sign_mu_0_5",
    "lrp_z",
    "lrpsign_z",
    "lrpz_epsilon_0_1",
    "lrp_epsilon_0_1",
    "lrpsign_epsilon_0_1",
    "lrp_epsilon_1",
    "lrp_epsilon_0_25_std_x",
    "lrpsign_epsilon_0_25_std_x",
    "lrpsign_epsilon_0_25_std_x_mu_0_5",
    "lrpsign_epsilon_100_mu_0_5",
    "w2lrp_z",
    "flatlrp_z",
    "w2lrp_epsilon_0_1",
    "flatlrp_epsilon_0_1",
    "lrpz_epsilon_0_1_std_x",
    "w2lrp_epsilon_0_1_std_x",
    "flatlrp_epsilon_0_1_std_x",
    "lrpsign_epsilon_0_25_std_x_mu_neg_0_5",
    "gradient_x_sign_mu_neg_0_5",
]
#: Alpha-beta layers: the original's bias handling is ``alpha_beta_bias="both"``.
ALPHA_BETA = [
    "lrp_alpha_1_beta_0",
    "lrpsign_alpha_1_beta_0",
    "lrp_alpha_2_beta_1",
    "lrp_sequential_composite_a",
    "lrpsign_sequential_composite_a",
    "lrp_sequential_composite_b",
    "lrpz_alpha_1_beta_0",
    "w2lrp_alpha_1_beta_0",
    "flatlrp_alpha_1_beta_0",
    "lrpz_sequential_composite_a",
    "w2lrp_sequential_composite_a",
    "flatlrp_sequential_composite_b",
]
#: The z-beta (bounded) input rule: the original has it only as presets for VGG16 (ImageNet's
#: bounds after its mean subtraction), compared with ours given the same bounds.
BOUNDS = {"low": -123.68, "high": 151.061}
BOUNDED = {
    "zblrp_z": "zblrp_z_VGG16ILSVRC",
    "zblrp_epsilon_0_1": "zblrp_epsilon_0_1_VGG16ILSVRC",
    "zblrp_epsilon_0_1_std_x": "zblrp_epsilon_0_1_std_x_VGG16ILSVRC",
    "zblrp_alpha_1_beta_0": "zblrp_alpha_1_beta_0_VGG16ILSVRC",
    "zblrp_sequential_composite_a": "zblrp_sequential_composite_a_VGG16ILSVRC",
}
#: Defined differently on purpose (the start of guided backprop/deconvnet, IG's quadrature).
OTHERS = ["guided_backprop", "deconvnet", "integrated_gradients"]
METHODS = [*EXACT, *ALPHA_BETA, *OTHERS]


def build(keras: Any, kind: str) -> Any:
    """The test models, none ending in a softmax.

    A 1D CNN ('same' padding, max pooling), an MLP, a 2D CNN, a 1D CNN with BatchNorm after each
    Conv/Dense, a residual 1D CNN with BatchNorm, average and global average pooling, two convs on
    the input concatenated, 'same' max pooling with causal convs, and strided 'same' 2D convs.
    """
    layers = keras.layers
    if kind == "branches_bn":  # two convs read the input (multi-scale), concatenated, BatchNorm
        inputs = keras.Input((64, 2))
        both = layers.Concatenate()(
            [layers.Conv1D(4, 3, padding="same")(inputs), layers.Conv1D(4, 7, padding="same")(inputs)]
        )
        h = layers.MaxPooling1D(2)(layers.Activation("relu")(layers.BatchNormalization()(both)))
        return keras.Model(inputs, layers.Dense(3)(layers.Flatten()(h)))
    if kind == "cnn_same_pool":  # 'same' max pooling on an odd length, tanh and causal convs
        return keras.Sequential(
            [
                keras.Input((63, 2)),
                layers.Conv1D(6, 5, padding="same", activation="tanh"),
                layers.MaxPooling1D(2, padding="same"),
                layers.Conv1D(6, 4, padding="causal", activation="relu"),
                layers.Flatten(),
                layers.Dense(3),
            ]
        )
    if kind == "cnn2d_strided":  # strided 'same' convs (padded more on one side), average pooling
        return keras.Sequential(
            [
                keras.Input((16, 16, 3)),
                layers.Conv2D(6, 3, strides=2, padding="same", activation="relu"),
                layers.AveragePooling2D(2),
                layers.Conv2D(6, 3, padding="valid", activation="relu"),
                layers.Flatten(),
                layers.Dense(3),
            ]
        )
    if kind == "resnet_bn":  # a residual block (Add) and global average pooling, functional
        inputs = keras.Input((64, 2))
        h = layers.Activation("relu")(
            layers.BatchNormalization()(layers.Conv1D(8, 5, padding="same")(inputs))
        )
        r = layers.Activation("relu")(layers.BatchNormalization()(layers.Conv1D(8, 3, padding="same")(h)))
        r = layers.BatchNormalization()(layers.Conv1D(8, 3, padding="same")(r))
        h = layers.Activation("relu")(layers.Add()([h, r]))
        h = layers.AveragePooling1D(2)(h)
        h = layers.Conv1D(8, 3, padding="same", name="last_conv")(h)
        h = layers.GlobalAveragePooling1D()(layers.Activation("relu")(h))
        return keras.Model(inputs, layers.Dense(3)(h))
    if kind == "cnn_bn":  # the tutorial's Conv/BatchNorm/ReLU/MaxPool blocks, and a Dense BatchNorm
        return keras.Sequential(
            [
                keras.Input((64, 2)),
                layers.Conv1D(8, 5, padding="same"),
                layers.BatchNormalization(),
                layers.Activation("relu"),
                layers.MaxPooling1D(2),
                layers.Conv1D(8, 3, padding="same", name="last_conv"),
                layers.BatchNormalization(),
                layers.Activation("relu"),
                layers.Flatten(),
                layers.Dense(16),
                layers.BatchNormalization(),
                layers.Activation("relu"),
                layers.Dense(3),
            ]
        )
    if kind == "cnn":
        return keras.Sequential(
            [
                keras.Input((128, 2)),
                layers.Conv1D(8, 5, padding="same", activation="relu"),
                layers.MaxPooling1D(2),
                layers.Conv1D(8, 3, padding="same", activation="relu", name="last_conv"),
                layers.Flatten(),
                layers.Dense(16, activation="relu"),
                layers.Dense(3),
            ]
        )
    if kind == "cnn2d":
        return keras.Sequential(
            [
                keras.Input((12, 12, 3)),
                layers.Conv2D(4, 3, padding="same", activation="relu"),
                layers.MaxPooling2D(2),
                layers.Conv2D(4, 3, padding="same", activation="relu"),
                layers.Flatten(),
                layers.Dense(3),
            ]
        )
    return keras.Sequential(
        [
            keras.Input((20,)),
            layers.Dense(16, activation="relu"),
            layers.Dense(16, activation="relu"),
            layers.Dense(3),
        ]
    )


KINDS = ("cnn", "mlp", "cnn2d", "cnn_bn", "resnet_bn", "branches_bn", "cnn_same_pool", "cnn2d_strided")


def _weights(model: Any, rng: np.random.Generator) -> list[np.ndarray]:
    """Weights drawn from ``rng`` alone (TensorFlow's initialisers differ from run to run).

    Kernels Glorot-uniform, biases N(0, 0.05^2) (non-zero), BatchNorm statistics and scales far
    from 0 and 1.
    """
    weights = []
    for variable in model.weights:
        name, shape = variable.name, tuple(variable.shape)
        if "moving_variance" in name:
            value = rng.uniform(0.3, 3.0, shape)
        elif "moving_mean" in name:
            value = rng.normal(0, 0.5, shape)
        elif "gamma" in name:
            value = rng.uniform(0.5, 2.0, shape)
        elif "kernel" in name:
            fan_in, fan_out = int(np.prod(shape[:-1])), shape[-1] * int(np.prod(shape[:-2]) or 1)
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            value = rng.uniform(-limit, limit, shape)
        else:  # biases, BatchNorm's beta
            value = rng.normal(0, 0.05, shape)
        weights.append(value.astype(np.float32))
    return weights


def _original() -> tuple[Any, bool]:
    """The original package's ``calculate_relevancemap`` and whether it takes a batched sample.

    ``signxai2==0.5.0`` keeps the TensorFlow code under ``signxai.tf_signxai`` and takes a batch of
    one; ``signxai==1.1.9.2`` (the package published with the paper) has it under
    ``signxai.methods`` and takes the sample without its batch axis.
    """
    try:
        from signxai.tf_signxai.methods.wrappers import calculate_relevancemap
    except ImportError:
        from signxai.methods.wrappers import calculate_relevancemap

        return calculate_relevancemap, False
    return calculate_relevancemap, True


#: The tutorial's list of the original names (``signxai==1.1.9.2``'s, all of them), beside the repo.
SEED_NAMES = Path(__file__).resolve().parents[2] / "shared" / "seed" / "original_method_names.txt"
#: ``--all-names`` leaves out the presets of other models and the random methods.
NOT_COMPARED = ("_VGG16ILSVRC", "_VGG16MITPL365", "_MNISTCNN", "smoothgrad", "vargrad")
#: The original's ``*_x_sign_mu`` names without a number require ``mu``; both get this one.
MU = 0.3
#: The models with a layer called ``last_conv`` (Grad-CAM's layer).
LAST_CONV = ("cnn", "cnn_bn", "resnet_bn")


def all_names() -> list[str]:
    """Every deterministic original name (``--all-names``), the image Grad-CAM left out (it fails
    on 1D models in the original, and its 2D resizing is OpenCV's, not METHODS.md's)."""
    names = SEED_NAMES.read_text().split()
    return [n for n in names if n != "grad_cam" and not any(part in n for part in NOT_COMPARED)]


def original_options(kind: str, method: str) -> dict[str, Any] | None:
    """The extra arguments the original (and ours) needs for ``method``; None: not on ``kind``."""
    if method.startswith("grad_cam"):
        return {"last_conv_layer_name": "last_conv"} if kind in LAST_CONV else None
    return {"mu": MU} if method.endswith("_x_sign_mu") else {}


def main(out_path: Path = OUT, every_name: bool = False) -> None:
    """Write the weights, inputs and the original package's maps (one sample per call).

    ``every_name``: the maps of all the original's deterministic names (``all_names()``) instead
    of the selection the tests ship with (``METHODS``, the z-beta presets and Grad-CAM).
    """
    import tensorflow as tf

    calculate_relevancemap, batched = _original()

    def sample(x: np.ndarray, i: int) -> np.ndarray:
        return x[i : i + 1] if batched else x[i]

    if every_name:
        methods = [(m, m) for m in all_names()]
    else:
        methods = [*((m, m) for m in METHODS), *BOUNDED.items(), ("grad_cam_timeseries",) * 2]
    out: dict[str, np.ndarray] = {"targets": np.array(TARGETS)}
    for kind in KINDS:
        model = build(tf.keras, kind)
        rng = np.random.default_rng(1)
        weights = _weights(model, rng)
        model.set_weights(weights)
        x = rng.normal(0, 1, (len(TARGETS), *model.input_shape[1:])).astype(np.float32)
        out[f"{kind}/x"] = x
        for i, w in enumerate(weights):
            out[f"{kind}/w{i}"] = w
        for method, original in methods:
            options = original_options(kind, original)
            if options is None or (not every_name and original.startswith("grad_cam") and kind != "cnn"):
                continue  # the shipped file has Grad-CAM on the first CNN only
            if original not in calculate_relevancemap.__globals__:  # 1.1.9.2 has no alpha2-beta1
                print(f"{kind}: the original package has no method {original!r}")
                continue
            maps = [
                np.asarray(
                    calculate_relevancemap(original, sample(x, i), model, neuron_selection=t, **options)
                )
                for i, t in enumerate(TARGETS)
            ]
            out[f"{kind}/{method}"] = np.stack(maps).reshape(x.shape).astype(np.float32)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, **out)
    print(f"wrote {out_path} ({out_path.stat().st_size} bytes)")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Relevance maps of the original SIGN package.")
    parser.add_argument("out", nargs="?", type=Path, default=OUT, help=f"the npz to write (default {OUT})")
    parser.add_argument("--all-names", action="store_true", help="every deterministic original name")
    arguments = parser.parse_args()
    main(arguments.out, arguments.all_names)
