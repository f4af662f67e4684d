"""Model-parameter randomization check (Adebayo et al. 2018), cascading from the top layer.

The model is deep-copied; the copy's layers with parameters are re-initialised one by one from
the output backwards, and after each step the explanation is compared with the one of the
trained model. A method that explains the model (not just the input) should lose similarity as
layers are randomized. The caller's model is never touched.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from signxai.checks import check_choice
from signxai.errors import InputError, MethodParameterError
from signxai.evaluate.deletion import seeded_generator
from signxai.evaluate.frequency import explainer
from signxai.evaluate.localisation import as_real
from signxai.inputs import as_batch
from signxai.model import EXPLAINING, ModelView
from signxai.targets import Contrast, fixed_targets


def _ssim_1d(a: np.ndarray, b: np.ndarray, window: int = 7) -> float:
    """Mean structural similarity of two 1D signals over sliding windows (scaled to [0, 1])."""
    span = max(float(np.ptp(np.concatenate([a, b]))), 1e-12)
    c1, c2 = (0.01 * span) ** 2, (0.03 * span) ** 2
    kernel = np.ones(window) / window

    def smooth(v: np.ndarray) -> np.ndarray:
        return np.convolve(v, kernel, mode="valid")

    mu_a, mu_b = smooth(a), smooth(b)
    var_a = smooth(a * a) - mu_a**2
    var_b = smooth(b * b) - mu_b**2
    cov = smooth(a * b) - mu_a * mu_b
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(np.mean(ssim))


#: The similarity measures, by name: Spearman's and Pearson's correlation, 1D SSIM.
MEASURES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "spearman": lambda x, y: stats.spearmanr(x, y).statistic,
    "pearson": lambda x, y: np.corrcoef(x, y)[0, 1],
    "ssim": _ssim_1d,
}
SIMILARITIES = tuple(MEASURES)
CORRELATIONS = ("spearman", "pearson")


def _absolute(value: Any, name: str) -> np.ndarray:
    """A map's absolute values, flattened: real numbers, at least two of them."""
    array = as_real(value, name, shape="")  # a map of any shape
    if array.size < 2:
        raise InputError(f"{name} must be a map of at least two values, got shape {array.shape}")
    return np.abs(array).ravel()


def similarity(a: np.ndarray, b: np.ndarray, how: str = "spearman") -> float:
    """Similarity of two maps on their absolute values (|R|), flattened.

    A correlation (``'spearman'``, ``'pearson'``) with a constant map (e.g. a map that is zero
    everywhere after randomization) is undefined: it counts as 0 (nothing varies with the other
    map), or 1 where both maps are constant (no ranking either; correlations ignore scale); no
    warning is raised for it.

    Parameters
    ----------
    a, b
        Two finite maps of one shape (numpy arrays, lists or torch tensors).
    how
        ``'spearman'`` (rank correlation), ``'pearson'`` or ``'ssim'`` (the mean structural
        similarity over sliding windows of 7 values, its constants set by the maps' joint range).

    Returns
    -------
    float
        The similarity (1: the same up to what ``how`` ignores).
    """
    x, y = _absolute(a, "a"), _absolute(b, "b")
    if np.shape(a) != np.shape(b):
        raise InputError(f"a and b must be maps of one shape, got {np.shape(a)} and {np.shape(b)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError("a and b must be finite maps (no NaN or inf)")
    how = check_choice(how, "how", SIMILARITIES, MethodParameterError)
    if how in CORRELATIONS and (np.ptp(x) == 0 or np.ptp(y) == 0):
        return 1.0 if np.ptp(x) == np.ptp(y) == 0 else 0.0
    value = MEASURES[how](x, y)
    return float(value) if np.isfinite(value) else 0.0


def _layers_top_down(model: nn.Module) -> list[tuple[str, nn.Module]]:
    layers = [
        (name, module)
        for name, module in model.named_modules()
        if any(True for _ in module.parameters(recurse=False))
    ]
    return list(reversed(layers))


def _randomize(module: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for name, parameter in module.named_parameters(recurse=False):
            if name == "weight" and parameter.ndim > 1:
                fan_in = parameter[0].numel()
                parameter.copy_(torch.randn(parameter.shape, generator=generator) / np.sqrt(fan_in))
            else:
                parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))


@torch.inference_mode(False)  # called under inference mode: gradients and model copies need it off
def model_randomization(
    model: nn.Module,
    x: Any,
    method: str,
    target_class: Any = None,
    how: str = "spearman",
    seed: int = 0,
    domain: str = "time",
    **params: Any,
) -> pd.DataFrame:
    """Cascading randomization from the top layer; similarity to the original map per step.

    ``x`` is a batch; each sample's map is compared with its own original map. Every step
    explains the class the trained model explained (its prediction when ``target_class`` is None;
    a :class:`~signxai.targets.Contrast`'s runner-up is the trained model's too).
    ``params`` go to ``explain``, ``forward_args``/``forward_kwargs`` (the model's further
    inputs) among them. ``domain='frequency'`` compares the maps per frequency bin of
    :func:`signxai.explain_spectrum` instead.

    Parameters
    ----------
    model, x, method, target_class
        As for ``explain``; the model itself is not changed (its copy is randomized).
    how
        The similarity measure (:func:`similarity`).
    seed
        Seed of the random weights (whole number >= 0).
    domain
        ``'time'`` or ``'frequency'``.
    **params
        Further ``explain`` keywords.

    Returns
    -------
    pandas.DataFrame
        One row per step: ``step`` (0 = trained model), ``layer`` (the last randomized),
        ``similarity`` (mean over samples) and ``std``.
    """
    check_choice(how, "how", SIMILARITIES, MethodParameterError)
    explain_in = explainer(domain)
    if target_class is None or isinstance(target_class, Contrast):
        # keep explaining the trained model's predicted class (and runner-up)
        further = (params.get("forward_args"), params.get("forward_kwargs"))
        with ModelView(model, "logit", *further) as view, torch.no_grad():
            target_class = fixed_targets(target_class, view.forward(as_batch(x, view).tensor))
    original = np.asarray(explain_in(model, x, method, target_class=target_class, **params))
    with EXPLAINING:  # not while another thread's explanation has hooks on it or BatchNorm merged
        copy_ = copy.deepcopy(model)
    generator = seeded_generator(seed)
    rows = [{"step": 0, "layer": "(trained)", "similarity": 1.0, "std": 0.0}]
    for step, (name, module) in enumerate(_layers_top_down(copy_), start=1):
        _randomize(module, generator)
        current = np.asarray(explain_in(copy_, x, method, target_class=target_class, **params))
        values = [similarity(a, b, how) for a, b in zip(original, current, strict=True)]
        rows.append(
            {"step": step, "layer": name, "similarity": float(np.mean(values)), "std": float(np.std(values))}
        )
    return pd.DataFrame(rows)
