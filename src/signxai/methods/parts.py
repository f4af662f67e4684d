"""A large batch on the CPU explained in parts of ``batch_size`` samples.

The methods with many passes (integrated gradients' steps, SmoothGrad's and VarGrad's samples,
Gradient SHAP's draws, occlusion's windows, Kernel SHAP's coalitions, DeepLIFT SHAP's baselines)
run their passes at the batch's size or more: a batch larger than ``batch_size`` runs one step
per pass. On a CPU a pass of thousands of rows is memory-bound, so :func:`compute` splits such a
batch into parts of ``batch_size`` samples and runs the method on each part: every pass then
holds at most ``batch_size`` rows. Measured on 2 CPU cores (``benchmarks/large_batch.py``,
2026-11-29): the shipped 5-class beat model on 2048 test beats, in parts of 64 (256), integrated
gradients took 0.64 (0.59) of the time, SmoothGrad 0.49 (0.46), occlusion 0.68 (0.62), the maps
bitwise equal; the tutorial's model on 256 x 2000 samples, integrated gradients 0.55 (parts of
64) and occlusion 0.88 (0.73 in parts of 128). Elsewhere the maps agree to float32 rounding (the
outputs' rounding differs between batch sizes).

The targets are fixed for the whole batch first (the predicted class, a contrast's runner-up,
from the outputs of each part; the same errors as before), and each part explains its samples'
classes with its rows of the further forward inputs. The methods' random draws serve every
sample of a batch alike (see :data:`~signxai.methods.gradient.SEED`), so with a seed each part
draws what the whole batch would: the maps equal those of one call. On a GPU, larger passes are
faster: the batch is never split there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from signxai.methods.registry import Family
from signxai.model import ModelView
from signxai.targets import fixed_targets, rows_of


def compute(
    family: Family, view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``family.compute(view, x, target, params)``, on a CPU batch of more than ``batch_size``
    samples (for the families with that parameter) in parts of ``batch_size`` samples.

    Parameters
    ----------
    family
        The method's family.
    view
        The model as the methods see it.
    x
        The batch ``(B, ...)``.
    target
        ``target_class`` as the user gave it.
    params
        The method's parameters (``batch_size`` among them, for the families that split).

    Returns
    -------
    torch.Tensor or tuple of torch.Tensor
        What ``family.compute`` returns for the whole batch: the map ``(B, ...)`` (and, where
        the method gives one, a value per sample ``(B,)``), the parts joined in order.
    """
    size = params.get("batch_size")
    if size is None or x.device.type != "cpu" or x.shape[0] <= size:
        return family.compute(view, x, target, params)
    bounds = [(start, min(x.shape[0], start + size)) for start in range(0, x.shape[0], size)]
    with torch.no_grad():  # in parts too: a whole large batch's activations may not fit
        fixed = fixed_targets(target, view.forward_in_parts(x, size))
    maps, values = [], []
    for start, stop in bounds:
        with view.rows(start, stop):
            result = family.compute(view, x[start:stop], rows_of(fixed, slice(start, stop)), params)
        if isinstance(result, tuple):
            result, value = result
            values.append(value)
        maps.append(result)
    joined = torch.cat(maps)
    return (joined, torch.cat(values)) if values else joined
