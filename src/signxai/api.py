"""``explain``: parse the method, view the model, batch the input, compute, post-multiply, return."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from signxai.errors import UnsupportedModelError
from signxai.frontends.keras_check import is_keras_input
from signxai.frontends.onnx_model import is_onnx_model, onnx_input
from signxai.inputs import as_batch, as_like
from signxai.methods import parse, parts
from signxai.model import ModelView, one_at_a_time


@one_at_a_time
def explain(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    method_name: str,
    target_class: int | Any | None = None,
    *,
    explain_output: str = "logit",
    forward_args: Sequence[Any] | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    **params: Any,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Explain the model's decision for ``x`` with one method.

    The explanation runs with the model in eval mode and with parameter gradients off; on
    return, also after an error, the model is exactly as it was given (hooks removed, train/eval
    mode and ``requires_grad`` restored, parameters unchanged).

    Parameters
    ----------
    model
        A ``torch.nn.Module`` returning ``(B, K)`` or ``(B,)`` outputs.
    x
        Input as numpy array or torch tensor, batched ``(B, C, T)`` / ``(B, C, H, W)`` /
        ``(B, F)`` or one sample without the batch axis. It is not modified.
    method_name
        A method name of the grammar (see ``list_methods()`` and ``describe_method()``).
    target_class
        The class to explain: an int, one int per sample, or None for the predicted class.
        For single-output binary models, 1 (or None when z > 0) explains z and 0 explains -z.
        ``Contrast(target, versus=...)`` explains one class against another,
        ``z_target - z_versus`` (see :class:`signxai.Contrast`).
    explain_output
        ``'logit'`` (default) explains the value behind a trailing Sigmoid/Softmax/LogSoftmax
        module; ``'activation'`` explains the model output as it is.
    forward_args, forward_kwargs
        Further inputs of the model's ``forward`` after ``x`` (e.g. age and sex next to the
        ECG): ``model(x, *forward_args, **forward_kwargs)``. They are held constant (not
        explained); each tensor or numpy array has ``x``'s batch axis first (one sample: a
        batch of one) and follows ``x`` through every method's batching.
    **params
        Method parameters as keywords (e.g. ``epsilon=0.5``, ``target_layer='features.9'``,
        ``steps=32``, ``seed=0``); a keyword contradicting the name is an error.

    Returns
    -------
    numpy.ndarray
        float32 relevance, same shape as ``x``. With ``return_convergence_delta=True``
        (integrated gradients), a tuple ``(relevance, delta)`` with one delta per sample.

    Raises
    ------
    SignXAIError
        ``UnknownMethodError``, ``MethodParameterError``, ``InputError``, ``TargetError``,
        ``LayerError`` or ``UnsupportedModelError``, each naming the argument at fault.
    """
    if is_keras_input(model):
        from signxai.frontends.keras import explain_keras

        if forward_args or forward_kwargs:
            raise UnsupportedModelError(
                "forward_args/forward_kwargs: a Keras model is explained on its one input x"
            )
        return explain_keras(
            model, x, method_name, target_class, explain, explain_output=explain_output, **params
        )
    if is_onnx_model(model):  # converted, proved on x against onnxruntime, explained as torch
        model = onnx_input(model, x, forward_args or ())
    if not isinstance(model, nn.Module):
        swapped = isinstance(model, (torch.Tensor, np.ndarray)) and isinstance(x, nn.Module)
        raise UnsupportedModelError(
            f"model must be a torch.nn.Module, a Keras model or an ONNX model (onnx.ModelProto or a "
            f"'.onnx' path), got {type(model).__name__}"
            + (
                "; the arguments are explain(model, x, method_name): model and x look swapped"
                if swapped
                else ""
            )
        )
    spec = parse(method_name, params)
    with ModelView(model, explain_output, forward_args, forward_kwargs) as view:
        batch = as_batch(x, view)
        view.require_repeatable(batch.tensor)
        try:
            result = parts.compute(spec.family, view, batch.tensor, target_class, spec.params)
        except (torch.OutOfMemoryError, RuntimeError) as error:
            _note_memory_failure(error, batch.tensor, spec.params.get("batch_size"))
            raise
        delta = None
        if isinstance(result, tuple):
            result, delta = result
        if spec.post is not None:
            result = spec.post.apply(result, batch.tensor, spec.mu)
        relevance = as_like(result, batch)
        view.warn_unbypassed()
    bad = int(np.count_nonzero(~np.isfinite(relevance)))
    if bad:
        raise UnsupportedModelError(
            f"{method_name} gave {bad} non-finite relevance values (NaN or inf) for x: the model's "
            "output or its gradient overflowed or is NaN for this input (check model(x))"
        )
    if delta is not None:
        delta_array = delta.detach().to("cpu", torch.float32).numpy()
        return relevance, (delta_array[0] if batch.unbatched else delta_array)
    return relevance


def _note_memory_failure(error: BaseException, x: torch.Tensor, batch_size: int | None) -> None:
    """Add to torch's out-of-memory error (it keeps its type) how to explain with less memory."""
    message = str(error).lower()
    add_note = getattr(error, "add_note", None)
    if add_note is None or not (
        isinstance(error, torch.OutOfMemoryError)
        or "out of memory" in message
        or "can't allocate memory" in message
    ):
        return
    passes = (
        f"; its passes run up to batch_size={batch_size} rows (steps or draws of the samples): "
        "a smaller batch_size= holds fewer at a time"
        if batch_size is not None
        else ""
    )
    add_note(
        f"signxai: explaining {len(x)} samples of shape {tuple(x.shape[1:])} at once ran out of "
        f"memory on {x.device}: pass fewer samples per call{passes}"
    )
