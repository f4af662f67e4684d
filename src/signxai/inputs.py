"""Input normalisation, written once: numpy/torch, batched/unbatched in; float32 numpy out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from signxai.errors import InputError
from signxai.model import ModelView


@dataclass(frozen=True)
class Batch:
    """The input as one batched tensor on the model's device, and how it was given."""

    tensor: torch.Tensor
    unbatched: bool
    shape: tuple[int, ...]


def as_batch(x: Any, view: ModelView) -> Batch:
    """Turn ``x`` (numpy array or torch tensor, batched or one sample) into a batch tensor.

    The rank the model expects is read from its first Linear/Conv layer: ``x`` may have that
    rank (a batch) or one less (one sample). The caller's array is never modified.

    Raises
    ------
    InputError
        ``x`` is not an array, has the wrong rank, an empty batch or non-finite values.
    """
    if isinstance(x, torch.Tensor):
        tensor = x.detach()
    elif isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
            raise InputError(f"x must hold real numbers, got dtype {x.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(x))
    else:
        raise InputError(f"x must be a numpy array or a torch tensor, got {type(x).__name__}")
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise InputError(f"x must hold real numbers, got dtype {tensor.dtype}")
    shape = tuple(tensor.shape)
    rank = view.input_rank()
    unbatched = False
    if rank is not None:
        if tensor.ndim == rank - 1:
            unbatched = True
            tensor = tensor.unsqueeze(0)
        elif tensor.ndim != rank:
            layout = {2: "(B, features)", 3: "(B, C, T)", 4: "(B, C, H, W)", 5: "(B, C, D, H, W)"}
            raise InputError(
                f"x has shape {shape} (rank {len(shape)}), but the model's first layer expects "
                f"{layout.get(rank, f'rank {rank}')} or one sample without the batch axis"
                + (" (for one lead, add the channel axis: x[None])" if tensor.ndim == 1 else "")
            )
    elif tensor.ndim < 2:
        raise InputError(f"x must be batched (B, ...), got shape {shape}")
    if tensor.shape[0] == 0 or tensor.numel() == 0:
        raise InputError(f"x is empty: shape {shape}")
    reference = view.parameter()
    dtype = reference.dtype if reference is not None and reference.is_floating_point() else (torch.float32)
    device = reference.device if reference is not None else torch.device("cpu")
    tensor = tensor.to(device=device, dtype=dtype).clone()
    if not torch.isfinite(tensor).all():
        count = int((~torch.isfinite(tensor)).sum())
        raise InputError(f"x has {count} non-finite values (NaN or inf)")
    return Batch(tensor=tensor, unbatched=unbatched, shape=shape)


def as_like(relevance: torch.Tensor, batch: Batch) -> np.ndarray:
    """Return the relevance as a float32 numpy array shaped like the ``x`` that was given."""
    result = relevance.detach().to("cpu", torch.float32).numpy()
    if batch.unbatched:
        result = result[0]
    if result.shape != batch.shape:
        raise RuntimeError(f"internal error: relevance shape {result.shape} differs from x {batch.shape}")
    return np.ascontiguousarray(result)
