"""Timing methods side by side without charging torch's one-time start-up to the first one.

A process's first ``torch.autograd.grad`` imports modules (``torch.fx``'s symbolic shapes, and
with them sympy: about a second on a laptop CPU, 30-50 times a small batch's gradient). A table
of seconds per method (``compare_methods``, the beat report) would charge all of it to whichever
method it timed first; :func:`warm_up_autograd` pays it before the clock starts.
"""

from __future__ import annotations

import torch

_warm = False


def warm_up_autograd() -> None:
    """Run one tiny ``torch.autograd.grad`` (once per process; later calls return at once).

    Call it before timing explanations so that torch's one-time imports on its first gradient
    are not counted as the first method's time. It touches no model and no random state.
    """
    global _warm
    if _warm:
        return
    with torch.enable_grad():
        leaf = torch.zeros(1, requires_grad=True)
        torch.autograd.grad(leaf * 2.0, leaf, torch.ones(1))
    _warm = True
