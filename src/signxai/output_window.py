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

from collections.abc import Sequence
from typing import Any

import numpy as np
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
    start, stop : int or sequence of int
        The window on the output's time axis, in output steps: ``0 <= start < stop <= T'``
        (``stop`` is checked against the output when the model runs). Sequences (lists, 1-D
        arrays) give each sample of ``x`` its own window, in order (one of the two may stay an
        int, shared): a batch of beats, each explained over its own QRS complex.
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
    are passed on. Outside an explanation the module is a plain window of ``model``'s output
    (with windows per sample, of a batch of as many samples as windows). Inside one, the windows
    per sample follow their samples wherever a method runs the model on more rows (integrated
    gradients' steps, SmoothGrad's samples) or on part of the batch (``batch_size``).

    Examples
    --------
    >>> R = explain(OutputWindow(unet, 410, 450), x, "lrpsign_epsilon_0_5", target_class=QRS)
    >>> R = explain(OutputWindow(unet, qrs_on, qrs_off), beats, "lrpsign_epsilon_0_5", target_class=QRS)
    """

    def __init__(
        self,
        model: nn.Module,
        start: int | Sequence[int],
        stop: int | Sequence[int],
        *,
        axis: int | None = None,
        reduce: str = "sum",
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
        starts, stops = _window_bounds(start, stop)
        #: Whether each sample has its own window (``start``/``stop`` given as sequences).
        self.per_sample = not (_is_scalar(start) and _is_scalar(stop))
        #: The window: ints, or tuples of one int per sample (``per_sample``).
        self.start: int | tuple[int, ...] = starts[0] if not self.per_sample else tuple(starts)
        self.stop: int | tuple[int, ...] = stops[0] if not self.per_sample else tuple(stops)
        self._starts = torch.tensor(starts)
        self._stops = torch.tensor(stops)
        #: While signxai explains with windows per sample: the sample of each row of the batch
        #: the model receives next (set by signxai's view before each run; None: row i is
        #: sample i).
        self.rows: torch.Tensor | None = None
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

    @property
    def count(self) -> int:
        """How many windows: one, or one per sample."""
        return len(self._starts)

    def extra_repr(self) -> str:
        """``start=..., stop=..., axis=..., reduce=...``."""
        start, stop = (list(v) if isinstance(v, tuple) else v for v in (self.start, self.stop))
        return f"start={start}, stop={stop}, axis={self.axis}, reduce={self.reduce!r}"

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
        if not self.per_sample:
            assert isinstance(self.start, int) and isinstance(self.stop, int)
            if self.stop > steps:
                raise after_forward(
                    TargetError(
                        f"OutputWindow stop must be at most the model's number of output steps, "
                        f"{steps} (for an input of this length), got {self.stop} (start {self.start})"
                    )
                )
            part = scores.narrow(self.axis, self.start, self.stop - self.start)
            return part.sum(self.axis) if self.reduce == "sum" else part.mean(self.axis)
        return self._per_sample(scores, steps)

    def _per_sample(self, scores: torch.Tensor, steps: int) -> torch.Tensor:
        """Each row's scores over its sample's window (``rows``: the sample of each row): the
        steps outside it selected away (``torch.where``), the rest summed (or averaged)."""
        count = self.count
        rows = self.rows
        if rows is None:
            if scores.shape[0] != count:
                raise after_forward(
                    InputError(
                        f"OutputWindow has {count} windows, one per sample, but the model got "
                        f"{scores.shape[0]} sample(s)"
                    )
                )
            rows = torch.arange(count)
        latest = int(self._stops.argmax())
        if int(self._stops[latest]) > steps:
            raise after_forward(
                TargetError(
                    f"OutputWindow stop must be at most the model's number of output steps, "
                    f"{steps} (for an input of this length), got {int(self._stops[latest])} for "
                    f"sample {latest} (start {int(self._starts[latest])})"
                )
            )
        device = scores.device
        starts, stops = self._starts.to(device)[rows.to(device)], self._stops.to(device)[rows.to(device)]
        step = torch.arange(steps, device=device)
        inside = (step >= starts[:, None]) & (step < stops[:, None])
        inside = inside[:, None, :] if self.axis == 2 else inside[:, :, None]
        # a selection (LRP passes relevance through it as through indexing, no stabiliser)
        total = torch.where(inside, scores, 0.0).sum(self.axis)
        return total if self.reduce == "sum" else total / (stops - starts)[:, None].to(scores.dtype)


def _is_scalar(value: Any) -> bool:
    """Whether a window bound is one number (an int, a numpy integer or a 0-d array/tensor)."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.ndim == 0
    return not isinstance(value, (list, tuple))


def _bound_list(value: Any, name: str, least: int) -> list[int]:
    """A window bound as a list of ints (each ``>= least``): one for a number, one per sample
    for a sequence."""
    if _is_scalar(value):
        item = value.item() if isinstance(value, (np.ndarray, torch.Tensor)) else value
        return [check_whole(item, f"OutputWindow {name}", at_least=least, error=TargetError)]
    values = value.tolist() if isinstance(value, (np.ndarray, torch.Tensor)) else list(value)
    nested = any(isinstance(item, (list, tuple, np.ndarray, torch.Tensor)) for item in values)
    if nested or not values:
        raise TargetError(
            f"OutputWindow {name} must be a whole number or a sequence of them, one per sample; got "
            f"{'a nested sequence' if values else 'an empty sequence'}"
        )
    for index, item in enumerate(values):
        check_whole(item, f"OutputWindow {name}[{index}]", at_least=least, error=TargetError)
    return [int(item) for item in values]


def _window_bounds(start: Any, stop: Any) -> tuple[list[int], list[int]]:
    """``start`` and ``stop`` as lists of equal length (a number shared by every sample), each
    window at least one step long."""
    starts, stops = _bound_list(start, "start", 0), _bound_list(stop, "stop", 1)
    if not _is_scalar(start) and not _is_scalar(stop) and len(starts) != len(stops):
        raise TargetError(
            f"OutputWindow start and stop must give as many windows (one per sample), got "
            f"{len(starts)} start(s) and {len(stops)} stop(s)"
        )
    count = max(len(starts), len(stops))
    starts, stops = starts * (count // len(starts)), stops * (count // len(stops))
    for index, (first, last) in enumerate(zip(starts, stops, strict=True)):
        if last <= first:
            where = (
                f" for sample {index}" if count > 1 or not _is_scalar(start) or not _is_scalar(stop) else ""
            )
            raise TargetError(
                f"OutputWindow stop must be above start: the window is steps start to stop - 1; got "
                f"start={first}, stop={last}{where}"
            )
    return starts, stops


def after_forward(error: SignXAIError) -> SignXAIError:
    """``error`` marked as raised after the model's forward pass ran (on the window of its
    output): where signxai tries readings of ``x`` on the model, this error, not the reading's,
    is the one to report."""
    error.after_forward = True  # type: ignore[attr-defined]
    return error


def ran_the_model(error: BaseException) -> bool:
    """Whether ``error`` was raised after the model's forward pass ran (:func:`after_forward`)."""
    return bool(getattr(error, "after_forward", False))
