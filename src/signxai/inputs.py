"""Input normalisation, written once: numpy/torch, batched/unbatched in; float32 numpy out."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from signxai.checks import numpy_tensor
from signxai.errors import InputError
from signxai.model import INPUT_RANK, ModelView, input_placement
from signxai.output_window import ran_the_model


@dataclass(frozen=True)
class Batch:
    """The input as one batched tensor on the model's device, and how it was given."""

    tensor: torch.Tensor
    unbatched: bool
    shape: tuple[int, ...]


def as_batch(x: Any, view: ModelView) -> Batch:
    """Turn ``x`` (numpy array or torch tensor, batched or one sample) into a batch tensor.

    The model's first Linear/Conv layer tells what a batch looks like: its rank, with the layer's
    input features (Linear, last axis) or channels (Conv, axis 1). Such an ``x`` is a batch.
    Otherwise the model itself is run (without gradients) on ``x[None]`` (one sample) and on
    ``x[:1]`` (a batch; a model that flattens, unsqueezes or otherwise reshapes its input before
    that layer), the one-sample reading first where ``x`` has one axis less and fits the layer,
    and the first reading the model accepts is taken. Without a Linear/Conv layer first (an
    LSTM, a custom module), the model is asked too, the batch reading first. The caller's array
    is never modified. The view's further inputs must
    have the batch's rows.

    Raises
    ------
    InputError
        ``x`` is not an array, fits neither reading, is empty or has non-finite values; a further
        input has another number of rows.
    """
    if isinstance(x, torch.Tensor):
        tensor = x.detach()
    elif isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
            raise InputError(f"x must hold real numbers, got dtype {x.dtype}")
        tensor = numpy_tensor(x)
    else:
        hint = ""
        if isinstance(getattr(x, "signal", None), np.ndarray):  # a signxai.ecg Recording
            hint = "; pass its array, x.signal (leads, samples), cut to the model's input length"
        elif isinstance(getattr(x, "x", None), np.ndarray):  # a signxai.ecg BeatSet
            hint = "; pass its beats, x.x (beats, 1, samples)"
        elif isinstance(x, (list, tuple)):
            hint = "; convert it, e.g. np.asarray(x, dtype=np.float32)"
        raise InputError(f"x must be a numpy array or a torch tensor, got {type(x).__name__}{hint}")
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise InputError(f"x must hold real numbers, got dtype {tensor.dtype}")
    shape = tuple(tensor.shape)
    layer = view.first_layer()
    if tensor.ndim == 0:
        raise InputError("x must be an array of samples, got a scalar")
    if tensor.numel() == 0:
        raise InputError(f"x is empty: shape {shape}")
    if layer is None and tensor.ndim < 2:
        raise InputError(f"x must be batched (B, ...), got shape {shape}")
    device, dtype = input_placement(view.model)
    tensor = tensor.to(device=device, dtype=dtype).clone()
    if not torch.isfinite(tensor).all():
        count = int((~torch.isfinite(tensor)).sum())
        raise InputError(f"x has {count} non-finite values (NaN or inf)")
    unbatched = _is_one_sample(view, layer, tensor, shape)
    if unbatched:
        tensor = tensor.unsqueeze(0)
    view.check_forward_inputs(tensor.shape[0])
    return Batch(tensor=tensor, unbatched=unbatched, shape=shape)


def _expected_size(layer: torch.nn.Module) -> int:
    """The first layer's input features (Linear) or channels (Conv)."""
    size = layer.in_features if isinstance(layer, torch.nn.Linear) else layer.in_channels
    return int(cast(int, size))


def _fits(layer: torch.nn.Module, size: int) -> bool:
    """Whether ``size`` is the first layer's input features (Linear) or channels (Conv)."""
    return size == _expected_size(layer)


def _is_one_sample(
    view: ModelView, layer: torch.nn.Module | None, tensor: torch.Tensor, shape: tuple[int, ...]
) -> bool:
    """Whether ``x`` is one sample rather than a batch, for a model whose first layer is ``layer``.

    A batch that fits the layer's rank and size is taken as it is; anything else (one sample, or
    a model that reshapes its input first: Flatten, unsqueeze, a head registered before the stem)
    is tried on the model, one sample first where ``x`` fits that reading. Without a Linear/Conv
    layer first (an LSTM, a custom module), the model is asked, the batch reading first.
    """
    if layer is None:
        return _ask_the_model(view, None, 0, tensor, shape, False)
    rank = INPUT_RANK[type(layer)]
    if tensor.ndim == rank and _fits(layer, tensor.shape[-1 if rank == 2 else 1]):
        return False
    single_first = tensor.ndim == rank - 1 and _fits(layer, tensor.shape[-1 if rank == 2 else 0])
    return _ask_the_model(view, layer, rank, tensor, shape, single_first)


#: What the model accepted, per model and input shape, so that it is asked once per shape.
_READINGS: weakref.WeakKeyDictionary[torch.nn.Module, dict[tuple[int, ...], bool]] = (
    weakref.WeakKeyDictionary()
)


def _brief(error: Exception) -> str:
    """The last line of an error's message (a TorchScript error's first lines are its trace)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _ask_the_model(
    view: ModelView,
    layer: torch.nn.Module | None,
    rank: int,
    tensor: torch.Tensor,
    shape: tuple[int, ...],
    single_first: bool,
) -> bool:
    """Whether ``x`` is one sample, found by running the model on ``x[None]`` and on ``x[:1]``.

    Used where ``x`` is not a batch that fits the first layer's rank and size: it may be one
    sample, or the model reshapes its input before that layer. The one-sample reading is tried
    first where ``single_first`` (``x`` fits it), else the batch reading. The answer is kept per
    model and input shape.

    Raises
    ------
    InputError
        The model runs on neither reading; the message names the first layer and the model's error.
    """
    known = _READINGS.get(view.model, {}).get(shape)
    if known is not None:
        return known
    errors: list[tuple[str, Exception]] = []
    readings = [(False, tensor[:1]), (True, tensor[None])]
    for unbatched, trial in reversed(readings) if single_first else readings:
        if trial.ndim < 2:
            continue
        try:
            with torch.no_grad():
                view.call(trial)
        except Exception as error:  # any failure of the user's forward pass
            errors.append(("one sample" if unbatched else "a batch", error))
            continue
        _READINGS.setdefault(view.model, {})[shape] = unbatched
        return unbatched
    ran = [error for _, error in errors if ran_the_model(error)]
    if ran:  # the model ran on x; what it returned was refused (an OutputWindow beyond its output)
        raise ran[0]
    cause = "".join(
        f"; read as {reading}, the model's forward pass failed: {_brief(e)}" for reading, e in errors
    )
    if layer is None:
        raise InputError(
            f"x has shape {shape}, and the model runs neither on it as a batch nor on it as one "
            f"sample (x[None]){cause}"
        ) from (errors[-1][1] if errors else None)
    layout = {2: "(B, features)", 3: "(B, C, T)", 4: "(B, C, H, W)", 5: "(B, C, D, H, W)"}
    size = "features" if rank == 2 else "channels"
    expected = _expected_size(layer)
    hint = " (for one lead, add the channel axis: x[None])" if tensor.ndim == 1 else ""
    raise InputError(
        f"x has shape {shape} (rank {len(shape)}), but the model's first layer "
        f"({type(layer).__name__}) expects {layout.get(rank, f'rank {rank}')} with {expected} "
        f"{size}, or one sample without the batch axis{hint}{cause}"
    ) from (errors[-1][1] if errors else None)


def as_like(relevance: torch.Tensor, batch: Batch) -> np.ndarray:
    """Return the relevance as a float32 numpy array shaped like the ``x`` that was given."""
    result = relevance.detach().to("cpu", torch.float32).numpy()
    if batch.unbatched:
        result = result[0]
    if result.shape != batch.shape:
        raise RuntimeError(f"internal error: relevance shape {result.shape} differs from x {batch.shape}")
    return np.ascontiguousarray(result)
