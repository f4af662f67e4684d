"""Which tensors of a forward pass are elementwise functions of which (activations written out).

``h * torch.sigmoid(h)`` (swish), ``h * F.relu6(h + 3) / 6`` (hard-swish) and Keras's
``Multiply()([h, hard_sigmoid(h)])`` multiply two input-dependent tensors, but both factors are
elementwise functions of one tensor ``h``: the product is an activation of ``h``, for LRP (pass
the relevance through) and for DeepLIFT (the Rescale rule) alike. The torch function modes of
both record here, while the forward pass runs, each result that an elementwise operation
computed from one input-dependent tensor alone, and ask for the common source of a product's
factors.
"""

from __future__ import annotations

from typing import Any

import torch


class PointwiseSources:
    """For the tensors of one forward pass: the tensor each is an elementwise function of."""

    def __init__(self) -> None:
        #: id(out) -> (out, h); the tensor is kept so that a recycled id is not mistaken for it.
        self._of: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def clear(self) -> None:
        """Forget the pass (and release its tensors)."""
        self._of = {}

    def source(self, value: torch.Tensor) -> torch.Tensor:
        """The tensor ``value`` is an elementwise function of (``value`` itself if none)."""
        entry = self._of.get(id(value))
        return entry[1] if entry is not None and entry[0] is value else value

    def record(self, out: Any, source: torch.Tensor) -> Any:
        """Remember that ``out`` is an elementwise function of ``source`` alone; return ``out``.

        Only a result of ``source``'s shape is one (a constant that broadcasts ``source`` to a
        larger shape makes each value of it feed several outputs).
        """
        if isinstance(out, torch.Tensor) and out.shape == source.shape:
            self._of[id(out)] = (out, self.source(source))
        return out

    def common(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor | None:
        """The tensor of which ``a`` and ``b`` (each of its shape) are elementwise functions, or
        None where they have none (two signals, a gate computed by a layer)."""
        source = self.source(a)
        if source is self.source(b) and a.shape == b.shape == source.shape:
            return source
        return None
