"""Where time is: signxai reads signals as ``(B, C, T)`` (images ``(B, C, H, W)``), channels
first. :class:`ChannelsFirst` puts a model that takes channels last in that layout."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class ChannelsFirst(nn.Module):
    """``model``, which takes channels last (``(B, T, C)``, ``(B, H, W, C)``), as a module that
    takes channels first (``(B, C, T)``, ``(B, C, H, W)``): the input's axis 1 is moved to the
    end before ``model`` runs. Explain it on ``x`` moved the other way, ``x.movedim(-1, 1)``,
    and move the map back with ``np.moveaxis(R, 1, -1)``: the methods that cut or resize along
    time (Grad-CAM, occlusion, Kernel SHAP, deletion curves, the ECG toolkit) then see time on
    the last axis. The model's layers are ``model.<name>`` (e.g. ``target_layer='model.conv3'``).
    Further inputs (``forward_args``/``forward_kwargs``) are passed on as they are.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        """``model`` on ``x`` with its channel axis moved last."""
        return self.model(x.movedim(1, -1), *args, **kwargs)


def channels_last_hint(shape: tuple[int, ...], length: int) -> str:
    """A hint for an input ``shape`` whose last axis is shorter than ``length`` (a window, a
    feature map) while its axis 1 is not: it may be channels last. Empty where it does not look
    so."""
    if len(shape) == 3 and shape[-1] < length <= shape[1]:
        return (
            f"; x {shape} looks channels-last (B, T, C), and signxai reads signals as (B, C, T): "
            "explain signxai.ChannelsFirst(model) on x.movedim(-1, 1) (see its docstring)"
        )
    return ""
