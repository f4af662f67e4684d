"""What is explained: the target class of each sample, or one class against another (`Contrast`).

Every method starts from the same ``(B, K)`` weights ``w`` on the model's outputs ``z`` (logits,
or the activations with ``explain_output='activation'``): ``+1`` at the target class and ``0``
elsewhere; a contrast puts ``-1`` at the class it is compared with. Gradient-type methods,
DeepLIFT, occlusion and Kernel SHAP explain the scalar ``w . z = z_target - z_versus`` as if the
model returned it; LRP starts its backward pass with relevance ``w * z`` (``+z_target`` and
``-z_versus``), so that under the z-rule the map sums to ``z_target - z_versus``. Where a method is
linear in ``w`` (gradient, IG, SmoothGrad, DeepLIFT, occlusion, Kernel SHAP, every LRP rule) a
contrast's map is the target's map minus the other class's; guided backprop, deconvnet, VarGrad
and Grad-CAM are not linear in ``w`` and give the map of the difference itself.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from signxai.errors import TargetError

#: The one word ``Contrast.versus`` takes besides class indices.
RUNNER_UP = "runner_up"


@dataclass(frozen=True)
class Contrast:
    """Explain one class *against* another: the output ``z_target - z_versus``.

    Pass it as ``target_class`` wherever a target class is taken (``explain``,
    ``explain_spectrum``, ``deletion_curve``, ``compare_methods``, ...):
    ``explain(model, x, "lrp_epsilon_0_1", target_class=Contrast(3, versus=1))`` answers *why class
    3 rather than class 1*. Evidence both classes share cancels; what remains separates them.

    Parameters
    ----------
    target
        The class explained: an int, one int per sample, or None (the predicted class).
    versus
        The class it is compared with: an int, one int per sample, or ``'runner_up'`` (default:
        for each sample the class with the highest output other than its target, the closest
        alternative). A sample whose ``versus`` equals its target is an error (its map would be
        zero).

    Notes
    -----
    A contrast needs a model with two or more outputs: a single-output binary model's target 1
    already explains its log-odds of class 1 against class 0 (and target 0 the reverse).
    """

    target: Any = None
    versus: Any = RUNNER_UP


def as_int(value: Any) -> int:
    """``value`` as a Python int: ints, numpy integers and one-element integer tensors; else TypeError."""
    if isinstance(value, np.ndarray) and value.ndim == 0:  # np.array(1), e.g. from np.argmax
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        raise TypeError
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_floating_point():
            raise TypeError
        value = value.item()
    if isinstance(value, (int, np.integer)):
        return int(value)
    raise TypeError


def _class_list(value: Any, batch: int, name: str) -> list[int]:
    """``value`` (an int or one int per sample) as ``batch`` ints; ``name`` for the errors."""
    try:
        return [as_int(value)] * batch
    except TypeError:
        pass
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, (Sequence, np.ndarray, torch.Tensor))
        or getattr(value, "ndim", 1) == 0
    ):
        kind = type(value).__name__
        dtype = getattr(value, "dtype", None)
        raise TargetError(
            f"{name} must be an int, a sequence of ints (one per sample) or None, "
            f"got {kind}" + (f" of {dtype}" if dtype is not None else "")
        )
    items = list(value.tolist() if hasattr(value, "tolist") else value)
    shape = tuple(getattr(value, "shape", ()))
    # a column or row of labels, (B, 1) or (1, B), as data loaders give them
    flatten = f" (shape {shape}: one class per sample is ({batch},); flatten it)" if len(shape) > 1 else ""
    if len(items) != batch:
        raise TargetError(f"{name} has {len(items)} entries but the batch has {batch} samples{flatten}")
    try:
        return [as_int(v) for v in items]
    except TypeError:
        whole = all(isinstance(v, float) and v.is_integer() for v in items)
        hint = flatten or (
            " (floats: give the labels as ints, e.g. y.long() or y.astype(int))" if whole else ""
        )
        raise TargetError(f"{name} entries must be ints, got {items[:5]!r}{hint}") from None


def _check_range(values: list[int], classes: int, name: str) -> None:
    allowed = 2 if classes == 1 else classes
    bad = [v for v in values if not 0 <= v < allowed]
    if bad:
        kind = (
            "a single-output binary model takes 0 or 1"
            if classes == 1
            else f"the model has {classes} outputs, so 0..{classes - 1}"
        )
        raise TargetError(f"{name} {bad[0]} is out of range: {kind}")


def resolve_targets(target_class: Any, logits: torch.Tensor, name: str = "target_class") -> torch.Tensor:
    """Turn ``target_class`` (int, per-sample sequence or None) into a ``(B,)`` index tensor.

    ``None`` picks each sample's predicted class (for a single-output model: 1 where ``z > 0``).
    """
    batch, classes = logits.shape
    if target_class is None:
        if classes == 1:
            return (logits[:, 0] > 0).long()
        return logits.detach().argmax(dim=1)
    values = _class_list(target_class, batch, name)
    _check_range(values, classes, name)
    return torch.tensor(values, device=logits.device, dtype=torch.long)


def check_versus_word(versus: str, name: str, indices: str = "a class index, one per sample,") -> None:
    """Raise a TargetError naming ``name`` unless ``versus`` is ``'runner_up'`` (the one word
    taken), with the closest word suggested; ``indices`` says what else ``name`` takes."""
    if versus != RUNNER_UP:
        close = difflib.get_close_matches(versus, [RUNNER_UP], n=1, cutoff=0.5)
        raise TargetError(
            f"{name} must be {indices} or '{RUNNER_UP}'; got {versus!r}"
            + (f" (did you mean '{close[0]}'?)" if close else "")
        )


def _contrast_classes(contrast: Contrast, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(B,)`` target and versus classes of ``contrast`` for outputs ``logits``."""
    batch, classes = logits.shape
    if classes == 1:
        raise TargetError(
            "target_class=Contrast(...) needs a model with two or more outputs; this one has a single "
            "output z (class 1, and -z for class 0): target_class=1 already explains the log-odds of "
            "class 1 against class 0, target_class=0 the reverse"
        )
    targets = resolve_targets(contrast.target, logits, "Contrast target")
    versus = contrast.versus
    if isinstance(versus, str):
        check_versus_word(versus, "Contrast versus")
        others = logits.detach().clone()
        others.scatter_(1, targets[:, None], float("-inf"))
        return targets, others.argmax(dim=1)
    if versus is None:
        raise TargetError(
            f"Contrast versus must be a class index, one per sample, or '{RUNNER_UP}'; got None"
        )
    values = _class_list(versus, batch, "Contrast versus")
    _check_range(values, classes, "Contrast versus")
    versus_t = torch.tensor(values, device=logits.device, dtype=torch.long)
    same = (versus_t == targets).nonzero().flatten().tolist()
    if same:
        raise TargetError(
            f"Contrast versus equals the target class for sample(s) {same[:5]} (class "
            f"{int(targets[same[0]])}): a class against itself has nothing to explain (a zero map)"
        )
    return targets, versus_t


def target_weights(target_class: Any, logits: torch.Tensor) -> torch.Tensor:
    """The ``(B, K)`` weights that select the explained output of each sample.

    ``+1`` at the target class, ``0`` elsewhere; for single-output binary models target ``0``
    gives ``-1`` (the logit of class 0 is ``-z``). ``None`` picks the predicted class. A
    :class:`Contrast` adds ``-1`` at the class compared with.
    """
    if isinstance(target_class, Contrast):
        targets, versus = _contrast_classes(target_class, logits)
        weights = torch.zeros_like(logits).scatter_(1, targets[:, None], 1.0)
        return weights.scatter_(1, versus[:, None], -1.0)
    targets = resolve_targets(target_class, logits)
    if logits.shape[1] == 1:
        return (targets[:, None] * 2 - 1).to(logits.dtype)
    return torch.zeros_like(logits).scatter_(1, targets[:, None], 1.0)


def against_predicted(scores: torch.Tensor, versus: int | str) -> Contrast:
    """Each sample's predicted class (its highest score) against ``versus``, written out per
    sample: ``'runner_up'`` (its second highest), or the class index ``versus``, where the samples
    predicted as that class take their runner-up instead (the demo's and the CLI's rule for
    ``--versus K``). ``versus`` is one valid word or index (checked by the caller, in its words)."""
    runner_up = fixed_targets(Contrast(None, RUNNER_UP), scores)
    assert isinstance(runner_up, Contrast)
    if isinstance(versus, str):
        return runner_up
    others = [v if t == versus else versus for t, v in zip(runner_up.target, runner_up.versus, strict=True)]
    return Contrast(runner_up.target, others)


def fixed_targets(target_class: Any, logits: torch.Tensor) -> Any:
    """``target_class`` with every choice made from ``logits`` written out per sample (the
    predicted class for None, the runner-up of a contrast), so that other models (a randomized
    copy) explain the same classes."""
    if isinstance(target_class, Contrast):
        targets, versus = _contrast_classes(target_class, logits)
        return Contrast(targets.tolist(), versus.tolist())
    return resolve_targets(target_class, logits).tolist()


def rows_of(targets: Any, rows: slice) -> Any:
    """The targets of ``rows`` of a batch, from targets written out per sample (as
    :func:`fixed_targets` gives them: a list of classes, or a :class:`Contrast` of two lists)."""
    if isinstance(targets, Contrast):
        return Contrast(targets.target[rows], targets.versus[rows])
    return targets[rows]
