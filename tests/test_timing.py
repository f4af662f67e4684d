"""warm_up_autograd: torch's one-time imports on its first gradient, paid before any clock starts."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import signxai.evaluate.compare as compare
from signxai.evaluate import compare_methods
from signxai.timing import warm_up_autograd

FRESH_PROCESS = textwrap.dedent(
    """
    import sys
    import numpy as np
    import torch
    from torch import nn
    from signxai import explain
    from signxai.timing import warm_up_autograd

    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2))
    x = np.ones((2, 1, 8), dtype=np.float32)
    model(torch.from_numpy(x))  # the forward's own first-call imports
    {first}
    before = set(sys.modules)
    explain(model, x, "gradient")
    new = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in ("torch", "sympy"))
    print(len(new))
    """
)


def _modules_imported_by_a_later_gradient(first: str) -> int:
    code = FRESH_PROCESS.format(first=first)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def test_after_the_warm_up_a_first_explanation_imports_no_torch_module_in_a_fresh_process() -> None:
    assert _modules_imported_by_a_later_gradient("pass") > 0  # what the warm-up is for
    assert _modules_imported_by_a_later_gradient("warm_up_autograd()") == 0


def test_warm_up_autograd_is_idempotent_and_leaves_grad_mode_and_random_state() -> None:
    state = torch.random.get_rng_state()
    with torch.no_grad():
        warm_up_autograd()
        warm_up_autograd()
        assert not torch.is_grad_enabled()
    assert torch.equal(torch.random.get_rng_state(), state)


def test_compare_methods_warms_autograd_before_it_times_the_first_method(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(compare, "warm_up_autograd", lambda: calls.append("warm"))
    explain_in = compare.explainer("time")

    def recorded(*args: object, **kwargs: object) -> np.ndarray:
        calls.append("explain")
        return explain_in(*args, **kwargs)

    monkeypatch.setattr(compare, "explainer", lambda domain: recorded)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2))
    x = np.ones((2, 1, 8), dtype=np.float32)
    compare_methods(model, x, ["gradient", "lrp_z"], window=2, include_random=False)
    assert calls[:2] == ["warm", "explain"]
