"""Gradient family: gradient, integrated_gradients, smoothgrad, vargrad, gradient_shap.

Each function takes the whole batch at once and runs on the model's device. Methods with many
passes (IG steps, SmoothGrad samples) run them in chunks of at most ``batch_size`` rows, so that
memory stays bounded and each pass runs at about the user's batch size; a batch larger than
``batch_size`` runs one step (sample, window) per pass. On a CPU ``explain`` hands them such a
batch in parts of ``batch_size`` samples (:mod:`signxai.methods.parts`: passes of thousands of
rows are memory-bound there); on a GPU, larger passes are faster and the batch is not split.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from signxai.checks import numpy_tensor
from signxai.errors import MethodParameterError
from signxai.methods.registry import (
    INTEGER,
    NUMBER,
    Family,
    Param,
    at_least,
    format_number,
    register,
    register_fixed,
)
from signxai.model import ModelView

BATCH_SIZE = Param(
    "batch_size",
    int,
    64,
    "most rows (samples x steps) per pass; a larger batch is explained in parts of this many samples "
    "on a CPU, whole (one step per pass) on a GPU",
    check=at_least(1),
)


def input_gradient(view: ModelView, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The gradient of the weighted logits w.r.t. ``x``, in one pass."""
    x = x.detach().requires_grad_(True)
    logits = view.forward(x)
    (grad,) = torch.autograd.grad(logits, x, grad_outputs=weights.expand_as(logits))
    return grad


def gradient(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
    """dz/dx of the explained logit z."""
    x = x.detach().requires_grad_(True)
    logits = view.forward(x)
    weights = view.target_weights(target, logits)
    (grad,) = torch.autograd.grad(logits, x, grad_outputs=weights)
    return grad


def chunks(total: int, rows_per_item: int, batch_size: int) -> Iterator[range]:
    """Ranges of ``total`` items, each of ``rows_per_item`` rows, at most ``batch_size`` rows a chunk."""
    step = max(1, batch_size // rows_per_item)
    for start in range(0, total, step):
        yield range(start, min(total, start + step))


def _stacked_gradient(view: ModelView, inputs: list[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """Gradients for several inputs of the batch's shape, in one pass; ``(k, B, ...)``."""
    stacked = torch.cat(inputs) if len(inputs) > 1 else inputs[0]
    grad = input_gradient(view, stacked, weights.repeat(len(inputs), 1))
    return grad.reshape(len(inputs), *inputs[0].shape)


SEED = Param(
    "seed",
    int,
    None,
    "seed of the random draws (made on the CPU: the same maps on every device; each draw serves "
    "every sample, so a sample's map does not depend on its batch)",
    # torch's generators take seeds in [0, 2**64) (a negative one wrapped around), as the
    # evaluation functions' seeds are whole numbers >= 0
    check=lambda value: None if 0 <= value < 2**64 else "must be a whole number in [0, 2**64)",
)


BASELINE = Param("baseline", object, None, "reference input x0 (array, tensor or scalar; default 0)")
BASELINES = Param(
    "baselines", object, None, "reference inputs: K samples (K, ...), one sample, or a scalar (default 0)"
)
CONVERGENCE_DELTA = Param("return_convergence_delta", bool, False, "also return sum(R) - (z(x) - z(x0))")


def cpu_generator(seed: int | None) -> torch.Generator | None:
    """A CPU generator seeded with ``seed`` (None: the device's own random numbers). Drawing on
    the CPU gives the same draws, so the same maps, on every device."""
    return None if seed is None else torch.Generator().manual_seed(int(seed))


def reference_tensor(value: Any, x: torch.Tensor, name: str) -> torch.Tensor:
    """``value`` (a number, array or tensor) as a finite tensor on ``x``'s device and dtype."""
    try:
        if isinstance(value, torch.Tensor):
            base = value.detach()
        else:  # numpy_tensor: a reversed view or a memory-mapped array too
            array = np.asarray(value)
            if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
                raise TypeError(array.dtype)
            base = numpy_tensor(array)
        base = base.to(device=x.device, dtype=x.dtype)
    except (TypeError, ValueError, RuntimeError):
        raise MethodParameterError(
            f"{name} must be a number, an array or a tensor, got {type(value).__name__}"
            + (f" of dtype {np.asarray(value).dtype}" if isinstance(value, np.ndarray) else "")
        ) from None
    if not torch.isfinite(base).all():
        raise MethodParameterError(
            f"{name} has {int((~torch.isfinite(base)).sum())} non-finite values (NaN or inf)"
        )
    return base


def baseline_like(value: Any, x: torch.Tensor, name: str = "baseline") -> torch.Tensor:
    """``value`` (None = 0, a scalar, one sample or an array like ``x``) broadcast to ``x``;
    ``name``: the parameter's, for errors."""
    if value is None:
        return torch.zeros_like(x)
    base = reference_tensor(value, x, name)
    if base.ndim == x.ndim - 1:
        base = base.unsqueeze(0)
    try:
        return torch.broadcast_to(base, x.shape).clone()
    except RuntimeError:
        raise MethodParameterError(
            f"{name} of shape {tuple(base.shape)} does not broadcast to x of shape {tuple(x.shape)}"
        ) from None


#: Up to this many nodes numpy's ``leggauss`` (captum's, so the same bits); above it Newton's
#: method (numpy's eigenvalue solve takes O(n^2) memory and O(n^3) time: 2.3 s at 3000 steps).
LEGGAUSS_UP_TO = 200


def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` Gauss-Legendre nodes on [-1, 1], ascending, and their weights.

    Above :data:`LEGGAUSS_UP_TO` nodes: Newton's method on the Legendre polynomial (three-term
    recurrence, every root at once) from Tricomi's estimates, O(n) memory; within 2e-13 of
    ``leggauss`` at 3000 nodes (0.13 s instead of 2.3 s), the weights summing to 2.
    """
    if n <= LEGGAUSS_UP_TO:
        return np.polynomial.legendre.leggauss(n)
    x = np.cos(np.pi * (np.arange(1, n + 1) - 0.25) / (n + 0.5))

    def legendre(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P_n(x) and P_n'(x)."""
        before, value = np.ones_like(x), x.copy()
        for j in range(2, n + 1):
            before, value = value, ((2 * j - 1) * x * value - (j - 1) * before) / j
        return value, n * (x * value - before) / ((x - 1) * (x + 1))

    for _ in range(10):  # quadratic convergence: 3-4 steps from these estimates
        value, slope = legendre(x)
        step = value / slope
        x = x - step
        if np.abs(step).max() < 1e-15:
            break
    _, slope = legendre(x)
    # (1 - x)(1 + x), not 1 - x^2: near the ends the difference keeps its digits
    return x[::-1].copy(), (2.0 / ((1.0 - x) * (1.0 + x) * slope * slope))[::-1].copy()


def integrated_gradients(
    view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """(x - x0) * sum_k w_k dz/dx(x0 + a_k (x - x0)) with Gauss-Legendre nodes a_k, weights w_k."""
    baseline = baseline_like(params["baseline"], x)
    with torch.no_grad():
        logits = view.forward(x)
    weights = view.target_weights(target, logits)
    nodes, node_weights = gauss_legendre(params["steps"])
    alphas = 0.5 * (nodes + 1.0)
    node_weights = 0.5 * node_weights
    difference = x - baseline
    total = torch.zeros_like(x)
    for chunk in chunks(len(alphas), x.shape[0], params["batch_size"]):
        inputs = [baseline + float(alphas[k]) * difference for k in chunk]
        grads = _stacked_gradient(view, inputs, weights)
        for i, k in enumerate(chunk):
            total.add_(grads[i], alpha=float(node_weights[k]))
    attribution = difference * total
    if not params["return_convergence_delta"]:
        return attribution
    with torch.no_grad():
        start = view.forward(baseline)
    expected = ((logits - start) * weights).sum(dim=1)
    delta = attribution.flatten(1).sum(dim=1) - expected
    return attribution, delta


def _normal_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """N(0, 1) noise of ``x``'s shape on its device: from the seeded CPU ``generator`` (one float32
    draw per call, so the stream depends neither on how draws are chunked nor on the model's
    dtype), or the device's own. Callers pass one sample (``x[:1]``) and broadcast the draw over
    the batch, so that a sample's map does not depend on the batch it is explained in."""
    if generator is None:
        return torch.randn_like(x)
    return torch.randn(x.shape, generator=generator).to(device=x.device, dtype=x.dtype)


def _noisy_gradient_moments(
    view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any], variance: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean and (if asked) population variance of dz/dx at x + N(0, sigma^2).

    sigma = s * (max x - min x) per sample, or ``noise_std`` where given (absolute). Draw k is one
    standard normal tensor of a sample's shape, scaled by each sample's sigma: every sample of
    the batch gets the same draws, so with a seed a sample's map is the same in any batch.
    """
    with torch.no_grad():
        logits = view.forward(x)
    weights = view.target_weights(target, logits)
    if params["noise_std"] is not None:
        std = x.new_full((x.shape[0],) + (1,) * (x.ndim - 1), float(params["noise_std"]))
    else:
        dims = tuple(range(1, x.ndim))
        std = params["noise_level"] * (x.amax(dim=dims, keepdim=True) - x.amin(dim=dims, keepdim=True))
    generator = cpu_generator(params["seed"])
    mean = torch.zeros_like(x)
    m2 = torch.zeros_like(x)
    count = 0
    for chunk in chunks(params["samples"], x.shape[0], params["batch_size"]):
        noise = torch.stack([_normal_like(x[:1], generator) for _ in chunk])
        inputs = list(x.unsqueeze(0) + noise * std.unsqueeze(0))
        grads = _stacked_gradient(view, inputs, weights)
        # Chan et al.'s parallel update of mean and sum of squared deviations.
        k = len(chunk)
        chunk_mean = grads.mean(dim=0)
        delta = chunk_mean - mean
        mean = mean + delta * (k / (count + k))
        if variance:
            chunk_m2 = ((grads - chunk_mean) ** 2).sum(dim=0)
            m2 = m2 + chunk_m2 + delta**2 * (count * k / (count + k))
        count += k
    return mean, (m2 / count if variance else None)


def smoothgrad(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
    """Mean of noisy gradients."""
    return _noisy_gradient_moments(view, x, target, params, variance=False)[0]


def vargrad(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
    """Variance of noisy gradients."""
    moments = _noisy_gradient_moments(view, x, target, params, variance=True)[1]
    assert moments is not None
    return moments


def references_like(value: Any, x: torch.Tensor) -> torch.Tensor:
    """Gradient SHAP's baselines as ``(K, *x.shape[1:])``: one (the default 0, a scalar, or an
    array of one sample's shape) or ``K`` of them."""
    if value is None or np.ndim(value) == 0 or tuple(np.shape(value)) == tuple(x.shape[1:]):
        return baseline_like(value, x[:1], "baselines")
    base = reference_tensor(value, x, "baselines")
    if base.ndim != x.ndim or tuple(base.shape[1:]) != tuple(x.shape[1:]):
        raise MethodParameterError(
            f"baselines must be a scalar, one sample of shape {tuple(x.shape[1:])} or K samples of "
            f"shape (K, {', '.join(map(str, x.shape[1:]))}), got shape {tuple(base.shape)}"
        )
    return base


def gradient_shap(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
    """Mean over n draws of (x' - b) * dz/dx at b + a (x' - b): b one of the baselines, a ~ U(0, 1),
    x' = x + N(0, noise_std^2) (captum's GradientShap; expected gradients, Erion et al. 2021).

    Each draw (baseline, a and noise) is made once and used for every sample of the batch, so
    with a seed a sample's map is the same in any batch (captum draws per sample)."""
    references = references_like(params["baselines"], x)
    with torch.no_grad():
        logits = view.forward(x)
    weights = view.target_weights(target, logits)
    samples, rows = params["samples"], x.shape[0]
    generator = cpu_generator(params["seed"])
    # which baseline and where on the path, for every draw; the noise chunk by chunk
    choice = torch.randint(len(references), (samples,), generator=generator).tolist()
    alphas = torch.rand((samples,), generator=generator).tolist()
    total = torch.zeros_like(x)
    std = params["noise_std"]
    for chunk in chunks(samples, rows, params["batch_size"]):
        noisy = [x + std * _normal_like(x[:1], generator) if std else x for _ in chunk]
        bases = [references[choice[k]] for k in chunk]
        points = [b + alphas[k] * (v - b) for k, b, v in zip(chunk, bases, noisy, strict=True)]
        grads = _stacked_gradient(view, points, weights)
        for i, (b, v) in enumerate(zip(bases, noisy, strict=True)):
            total.add_((v - b) * grads[i])
    return total / samples


def _one_noise(params: dict[str, Any], method_name: str) -> dict[str, Any]:
    if params["noise_std"] is not None and "_noise_" in method_name:
        raise MethodParameterError(
            f"'{method_name}' sets the noise as a fraction of the range (_noise_<s>) and noise_std "
            f"sets it absolutely ({params['noise_std']:g}); give one of them"
        )
    return params


def _write_noise(name: str) -> Any:
    def write(params: Mapping[str, Any]) -> str:
        return f"{name}_noise_{format_number(params['noise_level'])}_samples_{params['samples']}"

    return write


register_fixed(
    "gradient", gradient, (), "gradient", "dz/dx, the gradient of the explained logit z w.r.t. the input"
)

register(
    Family(
        name="integrated_gradients",
        pattern=rf"integrated_gradients(?:_steps_(?P<steps>{INTEGER}))?",
        compute=integrated_gradients,
        params=(
            Param("steps", int, 50, "number of Gauss-Legendre nodes", in_name=True, check=at_least(1)),
            BASELINE,
            CONVERGENCE_DELTA,
            BATCH_SIZE,
        ),
        kind="gradient",
        form="integrated_gradients[_steps_<n>]",
        summary="(x - x0) * mean_k dz/dx at x0 + a_k (x - x0), Gauss-Legendre nodes a_k (like captum)",
        examples=("integrated_gradients", "integrated_gradients_steps_16"),
        write=lambda params: f"integrated_gradients_steps_{params['steps']}",
    )
)

register(
    Family(
        name="gradient_shap",
        pattern=rf"gradient_shap(?:_samples_(?P<samples>{INTEGER}))?",
        compute=gradient_shap,
        params=(
            Param("samples", int, 50, "number of draws n per sample", in_name=True, check=at_least(1)),
            BASELINES,
            Param(
                "noise_std",
                float,
                0.0,
                "std of Gaussian noise added to x (captum's stdevs)",
                check=at_least(0.0),
            ),
            SEED,
            BATCH_SIZE,
        ),
        kind="shap",
        form="gradient_shap[_samples_<n>]",
        summary="mean over n draws of (x' - b) * dz/dx at b + a (x' - b), b a baseline, a ~ U(0, 1), "
        "x' = x + noise (captum's GradientShap)",
        examples=("gradient_shap", "gradient_shap_samples_200"),
        write=lambda params: f"gradient_shap_samples_{params['samples']}",
    )
)

for _name, _summary in (
    ("smoothgrad", "mean over n samples of dz/dx at x + N(0, (s * (max x - min x))^2)"),
    ("vargrad", "variance over n samples of dz/dx at x + N(0, (s * (max x - min x))^2)"),
):
    register(
        Family(
            name=_name,
            pattern=rf"{_name}(?:_noise_(?P<noise_level>{NUMBER}))?(?:_samples_(?P<samples>{INTEGER}))?",
            compute=smoothgrad if _name == "smoothgrad" else vargrad,
            params=(
                Param(
                    "noise_level",
                    float,
                    0.2,
                    "noise std as a fraction s of each sample's range",
                    in_name=True,
                    check=at_least(0.0),
                ),
                Param("samples", int, 50, "number of noisy samples n", in_name=True, check=at_least(1)),
                SEED,
                Param(
                    "noise_std",
                    float,
                    None,
                    "absolute noise std instead of noise_level (the original package's noise_scale)",
                    check=at_least(0.0),
                ),
                BATCH_SIZE,
            ),
            kind="gradient",
            form=f"{_name}[_noise_<s>][_samples_<n>]",
            finish=_one_noise,
            summary=_summary,
            examples=(_name, f"{_name}_noise_0_1_samples_20"),
            write=_write_noise(_name),
        )
    )
