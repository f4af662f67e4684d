"""signxai.errors: warnings point at the user's line."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from signxai import explain
from signxai.errors import warn_user


def test_a_warning_from_deep_inside_explain_points_at_the_callers_line() -> None:
    """LRP's BatchNorm warning (raised several calls deep) and a half-precision model's: both at
    this file's line, whatever the path inside the library."""
    model = nn.Sequential(
        nn.Conv1d(2, 3, 3, padding=1), nn.ReLU(), nn.BatchNorm1d(3), nn.Flatten(), nn.Linear(24, 2)
    )
    model.eval()
    x = torch.randn(2, 2, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        explain(model, x, "lrp_epsilon_0_1", target_class=0)
        explain(model.half(), x, "gradient", target_class=0)
    messages = [(str(w.message), w.filename) for w in caught]
    assert any("cannot be merged" in m for m, _ in messages)
    assert any("explained in float32" in m for m, _ in messages)
    assert {filename for _, filename in messages} == {__file__}


def test_warn_user_called_from_outside_the_library_points_at_that_line() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_user("look here")
    assert [(str(w.message), w.filename, w.category) for w in caught] == [
        ("look here", __file__, UserWarning)
    ]
