"""Recognise a Keras model without importing Keras (so torch-only installs never load it)."""

from __future__ import annotations

from typing import Any


def is_keras_model(model: Any) -> bool:
    """Whether ``model`` is a Keras model (Sequential, Functional or a Model subclass)."""
    return any(
        cls.__module__.startswith("keras") and cls.__name__ in ("Model", "Sequential", "Functional")
        for cls in type(model).__mro__
    )
