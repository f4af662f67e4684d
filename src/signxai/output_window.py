"""Models with an output per time step (segmentation, delineation, per-step classification)
explained over a window of their output: :class:`OutputWindow`.

``explain`` explains one score per class and sample, ``(B, K)``. A model that scores every time
step, ``(B, K, T)`` (a U-Net marking P, QRS and T waves, a recurrent net classifying each
beat), is explained over a stretch of its output: the scores of steps ``start`` to ``stop - 1``
summed (or averaged) per class, *why did the model call these steps class k*. The gradient
methods, LRP, DeepLIFT and occlusion are linear in the explained score, so their map of the sum
is the sum of the maps of the steps (Grad-CAM, a ReLU of a weighted sum, is not); LRP distributes
a sum over its terms (z-rule), where zennit, which reads a sum in ``forward`` as a copy, would
give every step the whole sum.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from signxai.checks import check_choice, check_whole
from signxai.errors import InputError, SignXAIError, TargetError, UnsupportedModelError
from signxai.frontends.keras_check import is_keras_model

#: How the window's scores are reduced to one per class.
REDUCTIONS = ("sum", "mean")
#: A Keras model's output time axis (channels-last, ``(B, T', K)``: 1) as the axis of its
#: channels-first conversion's output (``(B, K, T')``: 2), and the other way round.
KERAS_TIME_AXIS = {1: 2, -2: 2, 2: 1, -1: 1}


class OutputWindow(nn.Module):
    """``model``, whose output scores every time step, as a model of one score per class: the
    scores of output steps ``start`` to ``stop - 1`` summed (``reduce='sum'``) or averaged.

    Parameters
    ----------
    model : torch.nn.Module or Keras model
        A model returning ``(B, K, T')`` scores (``axis=-1``, time last) or ``(B, T', K)``
        (``axis=1``); ``T'`` may differ from the input's length (a downsampling encoder). A
        Keras model is explained through its conversion, proved on ``x`` as for any Keras model.
    start, stop : int
        The window on the output's time axis, in output steps: ``0 <= start < stop <= T'``
        (``stop`` is checked against the output when the model runs).
    axis : int, optional
        The output's time axis: ``-1`` or ``2`` (``(B, K, T')``, the default for torch models),
        ``1`` or ``-2`` (``(B, T', K)``, the default for Keras models).
    reduce : str
        ``'sum'`` (default) or ``'mean'`` over the window.

    Notes
    -----
    With ``explain_output='logit'`` (the default) a trailing ``nn.Softmax``/``nn.Sigmoid``/
    ``nn.LogSoftmax`` module of ``model`` (over classes, per step) is bypassed as for any model:
    the window of the logits is explained. The layers of ``model`` are ``model.<name>``
    (``target_layer='model.encoder.conv3'``). Further inputs (``forward_args``/``forward_kwargs``)
    are passed on. Outside an explanation the module is a plain window of ``model``'s output.

    Examples
    --------
    >>> R = explain(OutputWindow(unet, 410, 450), x, "lrpsign_epsilon_0_5", target_class=QRS)
    """

    def __init__(
        self, model: nn.Module, start: int, stop: int, *, axis: int | None = None, reduce: str = "sum"
    ) -> None:
        super().__init__()
        keras = is_keras_model(model)
        if not isinstance(model, nn.Module) and not keras:
            # imported here: onnx_model imports signxai.model, which imports this module
            from signxai.frontends.onnx_model import is_onnx_model

            onnx = (
                " (an ONNX model: OutputWindow(signxai.from_onnx(model), ...))"
                if is_onnx_model(model)
                else ""
            )
            raise UnsupportedModelError(
                f"OutputWindow's model must be a torch.nn.Module or a Keras model, got "
                f"{type(model).__name__}{onnx}"
            )
        if axis is None:
            axis = 1 if keras else -1
        self.model = model
        self.start = check_whole(start, "OutputWindow start", at_least=0, error=TargetError)
        self.stop = check_whole(stop, "OutputWindow stop", at_least=1, error=TargetError)
        if self.stop <= self.start:
            raise TargetError(
                f"OutputWindow stop must be above start: the window is steps start to stop - 1; got "
                f"start={self.start}, stop={self.stop}"
            )
        if isinstance(axis, bool) or axis not in (-1, 1, 2, -2):
            raise InputError(
                "OutputWindow axis must be the output's time axis: -1 or 2 for (batch, classes, "
                f"time), 1 or -2 for (batch, time, classes); got {axis!r}"
            )
        #: Whether ``model`` is a Keras model (explained through its proved conversion).
        self.keras = keras
        self.axis = 2 if axis in (-1, 2) else 1
        self.reduce = check_choice(reduce, "OutputWindow reduce", REDUCTIONS)
        #: While signxai explains: the last output of ``model`` and its window, for the view
        #: that bypasses a trailing Softmax/Sigmoid module (None otherwise: nothing is kept).
        self.scores: torch.Tensor | None = None
        self.windowed: torch.Tensor | None = None
        self._keep = False

    def extra_repr(self) -> str:
        """``start=..., stop=..., axis=..., reduce=...``."""
        return f"start={self.start}, stop={self.stop}, axis={self.axis}, reduce={self.reduce!r}"

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """The window of ``model(x)``'s scores, reduced over time: ``(B, K)``."""
        scores = self.model(x, *args, **kwargs)
        windowed = self.window(scores)
        if self._keep:
            self.scores, self.windowed = scores, windowed
        return windowed

    def keep(self, flag: bool) -> None:
        """Keep (``True``) the last scores and window from now on, or (``False``) stop and drop
        them; signxai's explanations switch it on for their call."""
        self._keep = flag
        if not flag:
            self.scores = self.windowed = None

    def window(self, scores: torch.Tensor) -> torch.Tensor:
        """``scores`` ``(B, K, T')`` (or ``(B, T', K)``) reduced over the window: ``(B, K)``."""
        if not isinstance(scores, torch.Tensor) or scores.ndim != 3:
            got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
            raise after_forward(
                UnsupportedModelError(
                    "OutputWindow's model must return scores per time step, (batch, classes, "
                    f"time) (axis=-1) or (batch, time, classes) (axis=1); it returned {got}"
                    + (
                        " (one score per step, (batch, time)? return it as (batch, 1, time), e.g. "
                        "nn.Sequential(model, nn.Unflatten(1, (1, -1))); a (batch, classes) "
                        "output needs no window)"
                        if isinstance(scores, torch.Tensor) and scores.ndim == 2
                        else ""
                    )
                )
            )
        steps = scores.shape[self.axis]
        if self.stop > steps:
            raise after_forward(
                TargetError(
                    f"OutputWindow stop must be at most the model's number of output steps, "
                    f"{steps} (for an input of this length), got {self.stop} (start {self.start})"
                )
            )
        part = scores.narrow(self.axis, self.start, self.stop - self.start)
        return part.sum(self.axis) if self.reduce == "sum" else part.mean(self.axis)


def after_forward(error: SignXAIError) -> SignXAIError:
    """``error`` marked as raised after the model's forward pass ran (on the window of its
    output): where signxai tries readings of ``x`` on the model, this error, not the reading's,
    is the one to report."""
    error.after_forward = True  # type: ignore[attr-defined]
    return error


def ran_the_model(error: BaseException) -> bool:
    """Whether ``error`` was raised after the model's forward pass ran (:func:`after_forward`)."""
    return bool(getattr(error, "after_forward", False))
