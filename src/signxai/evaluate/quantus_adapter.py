"""An ``explain_func`` for Quantus (extra ``signxai[eval]``): any metric, any signxai method."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from signxai.api import explain
from signxai.checks import host_values
from signxai.errors import MethodParameterError


def quantus_explain_func(
    model: nn.Module, inputs: np.ndarray | torch.Tensor, targets: Any, **kwargs: Any
) -> np.ndarray:
    """Quantus's ``explain_func(model, inputs, targets, **explain_func_kwargs)``.

    Pass the method as ``explain_func_kwargs={"method": "lrpsign_epsilon_0_5", ...}``; the other
    keyword arguments go to ``explain``. Returns float32 relevance shaped like ``inputs``.
    """
    kwargs = dict(kwargs)
    method = kwargs.pop("method", None) or kwargs.pop("method_name", None)
    if method is None:
        raise MethodParameterError(
            "quantus_explain_func needs explain_func_kwargs={'method': <signxai method name>}"
        )
    kwargs.pop("device", None)  # Quantus passes its device; explain runs on the model's device
    target = None if targets is None else np.asarray(targets).reshape(-1).astype(int).tolist()
    array = np.asarray(host_values(inputs))
    relevance = explain(model, array.astype(np.float32), method, target_class=target, **kwargs)
    return np.asarray(relevance, dtype=np.float32)
