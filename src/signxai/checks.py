"""Argument checks shared by the whole library: numbers, whole numbers, seeds, flags, choices,
lists of names and text.

Each check returns the value in the form the caller computes with (``float``, ``int``, ``bool``,
``str``, ``list[str]``) or raises ``error`` - an :class:`~signxai.errors.InputError` unless the
caller names another :class:`~signxai.errors.SignXAIError` - whose message names the argument,
what was expected and what was given. A ``bool`` is never taken for a number (``True`` is an
``int`` to Python, but ``window=True`` is a mistake, not one sample).
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from signxai.errors import InputError, SignXAIError


def _unit(unit: str) -> str:
    return f" {unit}" if unit else ""


def host_values(value: object) -> object:
    """A torch tensor's values as a numpy array (detached from autograd, copied to the CPU;
    bfloat16, which numpy lacks, as float32), for the checks that follow; anything else as given.

    Maps and signals may come straight from torch (an attribution that still requires grad, a
    tensor on a GPU), where ``np.asarray`` would raise torch's ``RuntimeError``/``TypeError``.
    """
    if not isinstance(value, torch.Tensor):
        return value
    tensor = value.detach().cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def numpy_tensor(array: np.ndarray) -> torch.Tensor:
    """``array`` as a tensor sharing its memory where it can: C-contiguous, and copied where numpy
    marks it read-only (a memory-mapped ``np.load(..., mmap_mode='r')``), which torch, having no
    read-only tensors, would otherwise warn of as 'undefined behavior' on the user's screen."""
    contiguous = np.ascontiguousarray(array)
    return torch.from_numpy(contiguous if contiguous.flags.writeable else contiguous.copy())


def is_number(value: object) -> bool:
    """``value`` is a finite real number (a Python or numpy scalar, not a bool)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(value)


def check_number(
    value: object,
    name: str,
    *,
    above: float | None = None,
    at_least: float | None = None,
    unit: str = "",
    error: type[SignXAIError] = InputError,
) -> float:
    """A finite number, ``> above`` and ``>= at_least`` where given; returned as a float.

    ``unit`` completes the phrase "a positive number ..." (``"of seconds"``, ``"in Hz"``).
    """
    bounds = ([f"> {above}"] if above is not None else []) + (
        [f">= {at_least}"] if at_least is not None else []
    )
    if bounds == ["> 0"]:
        wanted = f"a positive number{_unit(unit)}"
    elif bounds:
        wanted = f"a number{_unit(unit)} {' and '.join(bounds)}"
    else:
        wanted = f"a finite number{_unit(unit)}"
    fits = is_number(value)
    if fits and above is not None:
        fits = value > above  # type: ignore[operator]
    if fits and at_least is not None:
        fits = value >= at_least  # type: ignore[operator]
    if not fits:
        raise error(f"{name} must be {wanted}, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_whole(
    value: object,
    name: str,
    *,
    at_least: int | None = None,
    unit: str = "",
    error: type[SignXAIError] = InputError,
) -> int:
    """A whole number (a Python or numpy integer, not a bool), ``>= at_least`` where given."""
    whole = isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    if not whole or (at_least is not None and value < at_least):  # type: ignore[operator]
        floor = "" if at_least is None else f" >= {at_least}"
        raise error(f"{name} must be a whole number{_unit(unit)}{floor}, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def check_seed(value: object, name: str = "seed", error: type[SignXAIError] = InputError) -> int:
    """A random seed: a whole number >= 0 (what numpy's and torch's generators both accept)."""
    return check_whole(value, name, at_least=0, error=error)


def check_flag(value: object, name: str, error: type[SignXAIError] = InputError) -> bool:
    """``True`` or ``False`` (a numpy bool too); not a string, a number or ``None``."""
    if not isinstance(value, bool | np.bool_):
        raise error(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_text(value: object, name: str, error: type[SignXAIError] = InputError) -> str:
    """A string (a title, a label)."""
    if not isinstance(value, str):
        raise error(f"{name} must be a string, got {value!r}")
    return value


def check_choice(
    value: object, name: str, choices: Collection[str], error: type[SignXAIError] = InputError
) -> str:
    """One of ``choices``; a near miss is told the closest choice."""
    if isinstance(value, str) and value in choices:
        return value
    close = difflib.get_close_matches(value, sorted(choices), n=1) if isinstance(value, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise error(f"{name} must be one of {sorted(choices)}, got {value!r}{hint}")


def check_module(value: object, name: str = "model", error: type[SignXAIError] = InputError) -> nn.Module:
    """A torch model (an ``nn.Module``)."""
    if not isinstance(value, nn.Module):
        raise error(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def as_path(value: object, name: str = "path", error: type[SignXAIError] = InputError) -> Path:
    """A file system path from a string or a path-like object."""
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise error(f"{name} must be a file path (a string or pathlib.Path), got {value!r}")
    return Path(value)


def repeated(values: Sequence[object]) -> list[Any]:
    """The values that occur more than once in ``values``, each once, sorted."""
    counts = Counter(values)
    return sorted(value for value, count in counts.items() if count > 1)


def check_names(
    values: object, name: str, what: str = "names", error: type[SignXAIError] = InputError
) -> list[str]:
    """A non-empty list of strings, each given once (a lone string is refused: ``"gradient"``
    would otherwise be taken for eight one-letter names)."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise error(f"{name} must be a non-empty list of {what}, got {values!r}")
    wrong = [value for value in values if not isinstance(value, str)]
    if wrong:
        raise error(f"{name} must be a non-empty list of {what}; {wrong[0]!r} is not a string")
    twice = repeated(values)
    if twice:
        raise error(f"{name} lists {twice} more than once")
    return list(values)
