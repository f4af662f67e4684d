"""Recognise a Keras model without importing Keras (so torch-only installs never load it)."""

from __future__ import annotations

from typing import Any


def is_keras_model(model: Any) -> bool:
    """Whether ``model`` is a Keras model (Sequential, Functional or a Model subclass)."""
    return any(
        cls.__module__.startswith("keras") and cls.__name__ in ("Model", "Sequential", "Functional")
        for cls in type(model).__mro__
    )


def is_keras_input(model: Any) -> bool:
    """Whether ``model`` is explained through the Keras frontend: a Keras model, or an
    :class:`~signxai.OutputWindow` of one."""
    return is_keras_model(model) or (
        type(model).__name__ == "OutputWindow" and bool(getattr(model, "keras", False))
    )
