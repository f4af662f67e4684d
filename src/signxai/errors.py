"""The error family of signxai: every error a user can catch, each a subclass of ``SignXAIError``;
and :func:`warn_user`, for what is worth saying but not an error.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """Issue a warning attributed to the first caller outside signxai (the user's line), wherever
    inside the library it is raised (a fixed ``stacklevel`` points into the library when the call
    path changes, and Python then shows the warning once for all users' lines)."""
    level, frame = 1, sys._getframe(0)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "signxai":
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level)


class SignXAIError(Exception):
    """Base class of every error raised by signxai on bad input or unsupported models."""


class UnknownMethodError(SignXAIError, ValueError):
    """The method name is not in the registry or does not follow the name grammar."""


class MethodParameterError(SignXAIError, ValueError):
    """A method parameter (in the name or as a keyword) is invalid, unknown or conflicting."""


class InputError(SignXAIError, ValueError):
    """The input ``x`` has the wrong type, rank, size or non-finite values."""


class TargetError(SignXAIError, ValueError):
    """``target_class`` is out of range, of the wrong length or of the wrong type."""


class LayerError(SignXAIError, ValueError):
    """A ``target_layer`` does not exist, did not run, or does not produce a feature map."""


class UnsupportedModelError(SignXAIError, ValueError):
    """The model is not an ``nn.Module`` or contains something the chosen method cannot handle."""


@contextmanager
def argument_named(internal: str, given: str, kind: type[SignXAIError] = SignXAIError) -> Iterator[None]:
    """Inside, an error of ``kind`` naming the argument ``internal`` (as a word) names it ``given``
    instead: an adapter with the caller's own argument names (the original package's
    ``neuron_selection``, Quantus's ``targets``) passes them on under signxai's names. The error
    itself is re-raised (its type, traceback and notes kept)."""
    try:
        yield
    except kind as error:
        word = re.compile(rf"\b{re.escape(internal)}\b")
        error.args = tuple(word.sub(given, arg) if isinstance(arg, str) else arg for arg in error.args)
        raise
