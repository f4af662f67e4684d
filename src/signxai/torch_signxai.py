"""The tutorial's TensorFlow-style call, ``tf_calculate_relevancemap(method, x, model)``.

The same engine as :func:`signxai.explain`: argument order and the original package's keyword
``neuron_selection`` (the target class) are the only differences.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
from torch import nn

from signxai.api import explain
from signxai.errors import TargetError, argument_named


def tf_calculate_relevancemap(
    method: str,
    x: np.ndarray | torch.Tensor,
    model: nn.Module,
    neuron_selection: int | Any | None = None,
    **params: Any,
) -> np.ndarray:
    """Compute a relevance map the way the original SIGN package is called.

    Parameters
    ----------
    method
        Method name (the same grammar as ``explain``).
    x
        Input, numpy or torch, batched or one sample.
    model
        The model; it may end without an output activation (then its output is the logit).
    neuron_selection
        The class to explain (``target_class`` of ``explain``); None picks the predicted class.
    **params
        Method parameters, as for ``explain`` (``target_class=`` is accepted too).

    Returns
    -------
    numpy.ndarray
        float32 relevance shaped like ``x``.
    """
    named = "target_class" in params
    if named:
        if neuron_selection is not None:
            raise TargetError("give the class once: neuron_selection or target_class")
        neuron_selection = params.pop("target_class")
    # an error names the class argument as the caller gave it
    with contextlib.nullcontext() if named else argument_named("target_class", "neuron_selection"):
        result = explain(model, x, method, target_class=neuron_selection, **params)
    if isinstance(result, tuple):
        return result[0]
    return result
