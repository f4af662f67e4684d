"""An ``explain_func`` for Quantus (extra ``signxai[eval]``): any metric, any signxai method."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from signxai.api import explain
from signxai.checks import host_values
from signxai.errors import InputError, MethodParameterError, TargetError, argument_named


def quantus_explain_func(
    model: nn.Module, inputs: np.ndarray | torch.Tensor, targets: Any, **kwargs: Any
) -> np.ndarray:
    """Quantus's ``explain_func(model, inputs, targets, **explain_func_kwargs)``.

    Parameters
    ----------
    model
        The model Quantus evaluates.
    inputs
        The batch Quantus passes (numpy or torch).
    targets
        Class indices, one per input or one for all (or None: the predicted class).
    **kwargs
        ``method`` (or ``method_name``): the signxai method, from Quantus's
        ``explain_func_kwargs={"method": "lrpsign_epsilon_0_5", ...}``; ``device`` (Quantus's,
        ignored: the model's device is used); the rest go to ``explain``.

    Returns
    -------
    numpy.ndarray
        float32 relevance shaped like ``inputs``.
    """
    kwargs = dict(kwargs)
    method = kwargs.pop("method", None)
    alias = kwargs.pop("method_name", None)
    if method is not None and alias is not None:
        raise MethodParameterError("give the method once: method or method_name in explain_func_kwargs")
    method = alias if method is None else method
    if method is None:
        raise MethodParameterError(
            "quantus_explain_func needs explain_func_kwargs={'method': <signxai method name>}"
        )
    kwargs.pop("device", None)  # Quantus passes its device; explain runs on the model's device
    array = np.asarray(host_values(inputs))
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
        raise InputError(f"inputs must be real numbers (a batch of signals), got {array.dtype} values")
    with argument_named("target_class", "targets", TargetError), argument_named("x", "inputs", InputError):
        relevance = explain(model, array.astype(np.float32), method, target_class=_targets(targets), **kwargs)
    return np.asarray(relevance, dtype=np.float32)


def _targets(targets: Any) -> int | list[int] | None:
    """Quantus's targets as ``explain``'s ``target_class``: one class index per input, or one for
    all; a number that is no whole number is refused (``astype(int)`` made 2.5 class 2)."""
    if targets is None:
        return None
    values = np.asarray(host_values(targets))
    whole = np.issubdtype(values.dtype, np.number) and not np.iscomplexobj(values) and values.dtype != bool
    if not whole or not np.isfinite(values).all() or (values != np.round(values)).any():
        raise TargetError(
            f"targets must be class indices (whole numbers), one per input or one for all, got {targets!r}"
        )
    return int(values) if values.ndim == 0 else values.reshape(-1).astype(int).tolist()
