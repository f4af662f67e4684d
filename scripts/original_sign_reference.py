"""Relevance maps of the original SIGN package, for ``tests/methods/test_original_package.py``.

Runs the original package's TensorFlow/iNNvestigate implementation (``signxai2==0.5.0``, which
installs as the module ``signxai``, so it cannot share an environment with this project) on three
small Keras models with random weights and non-zero biases, and writes the weights, inputs and
maps to ``tests/data/original_sign_reference.npz``. The test rebuilds the same models in Keras 3
and compares ``signxai.explain`` with these maps.

Environment (Python 3.11, apart from this project's)::

    python3.11 -m venv /tmp/sign-original
    /tmp/sign-original/bin/pip install tensorflow-cpu==2.12.1 "numpy<1.24" matplotlib scipy \\
        pillow requests version-parser
    /tmp/sign-original/bin/pip install --no-deps signxai2==0.5.0
    /tmp/sign-original/bin/python scripts/original_sign_reference.py
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
]
#: Alpha-beta layers: the original's bias handling is ``alpha_beta_bias="both"``.
ALPHA_BETA = [
    "lrp_alpha_1_beta_0",
    "lrpsign_alpha_1_beta_0",
    "lrp_alpha_2_beta_1",
    "lrp_sequential_composite_a",
    "lrpsign_sequential_composite_a",
    "lrp_sequential_composite_b",
]
#: Defined differently on purpose (the start of guided backprop/deconvnet, IG's quadrature).
OTHERS = ["guided_backprop", "deconvnet", "integrated_gradients"]
METHODS = [*EXACT, *ALPHA_BETA, *OTHERS]


def build(keras: Any, kind: str) -> Any:
    """The test models: a 1D CNN ('same' padding, max pooling), an MLP and a 2D CNN, no softmax."""
    layers = keras.layers
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


def main() -> None:
    """Write the weights, inputs and the original package's maps (one sample per call)."""
    import tensorflow as tf

    from signxai.tf_signxai.methods.wrappers import calculate_relevancemap  # the original package

    out: dict[str, np.ndarray] = {"targets": np.array(TARGETS)}
    for kind in ("cnn", "mlp", "cnn2d"):
        tf.random.set_seed(0)
        model = build(tf.keras, kind)
        rng = np.random.default_rng(1)
        weights = [w + rng.normal(0, 0.05, w.shape).astype(np.float32) for w in model.get_weights()]
        model.set_weights(weights)  # the added noise makes every bias non-zero
        x = rng.normal(0, 1, (len(TARGETS), *model.input_shape[1:])).astype(np.float32)
        out[f"{kind}/x"] = x
        for i, w in enumerate(weights):
            out[f"{kind}/w{i}"] = w
        for method in METHODS:
            maps = [
                np.asarray(calculate_relevancemap(method, x[i : i + 1], model, neuron_selection=t))
                for i, t in enumerate(TARGETS)
            ]
            out[f"{kind}/{method}"] = np.stack(maps).reshape(x.shape).astype(np.float32)
        if kind == "cnn":  # Grad-CAM for time series, normalised by its maximum
            maps = [
                np.asarray(
                    calculate_relevancemap(
                        "grad_cam_timeseries",
                        x[i : i + 1],
                        model,
                        neuron_selection=t,
                        last_conv_layer_name="last_conv",
                    )
                )
                for i, t in enumerate(TARGETS)
            ]
            out["cnn/grad_cam_timeseries"] = np.stack(maps).reshape(x.shape).astype(np.float32)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
