"""The error family of signxai: every error a user can catch, each a subclass of ``SignXAIError``."""

from __future__ import annotations


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
