"""A large CPU batch explained in parts of ``batch_size`` samples: the same maps as one call."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from models import ARCHITECTURES, assert_unchanged, build, snapshot
from signxai import Contrast, TargetError, explain

#: The families that take ``batch_size``, with what makes their maps reproducible.
SPLIT = {
    "integrated_gradients_steps_8": {},
    "smoothgrad_samples_6": {"seed": 3},
    "vargrad_samples_6": {"seed": 3},
    "gradient_shap_samples_6": {"seed": 1, "noise_std": 0.1},
    "occlusion_window_8": {},
    "kernel_shap_window_8_samples_20": {"seed": 0},
    "deeplift_shap": {"baselines": np.linspace(-1, 1, 3 * 2 * 32, dtype=np.float32).reshape(3, 2, 32)},
}
BATCH = 10


class WithMetadata(nn.Module):
    """A conv net whose forward also takes per-sample metadata and a per-sample mask."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 5)
        self.head = nn.Linear(4 * 28 + 3, 3)

    def forward(self, x: torch.Tensor, meta: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        hidden = torch.relu(self.conv(x)).flatten(1)
        if mask is not None:
            hidden = hidden * mask
        return self.head(torch.cat([hidden, meta], dim=1))


@pytest.fixture(scope="module")
def case() -> tuple[nn.Module, np.ndarray, np.ndarray, torch.Tensor]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 2, 32)).astype(np.float32)
    meta = rng.standard_normal((BATCH, 3)).astype(np.float32)
    mask = torch.rand(BATCH, 4 * 28, generator=torch.Generator().manual_seed(1))
    return WithMetadata().eval(), x, meta, mask


def _sample(target: object, i: int) -> object:
    """Sample ``i``'s part of a target written per sample (others as they are)."""
    if isinstance(target, list):
        return target[i : i + 1]
    if isinstance(target, Contrast) and isinstance(target.versus, list):
        return Contrast(target.target, target.versus[i : i + 1])
    return target


@pytest.mark.parametrize(
    "target",
    [None, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0], Contrast(None), Contrast(1, versus=[0, 2] * 5)],
    ids=["predicted", "per-sample", "runner-up", "contrast-per-sample"],
)
@pytest.mark.parametrize("method", list(SPLIT))
def test_parts_give_the_maps_of_one_call_and_of_each_sample_alone(case, method: str, target: object) -> None:
    model, x, meta, mask = case
    params = SPLIT[method]
    inputs = {"forward_args": (meta,), "forward_kwargs": {"mask": mask}}
    before = snapshot(model)
    whole = explain(model, x, method, target, batch_size=256, **params, **inputs)
    parts = explain(model, x, method, target, batch_size=3, **params, **inputs)  # parts of 3, 3, 3, 1
    assert_unchanged(model, before)
    scale = np.abs(whole).max()
    assert scale > 0
    assert np.abs(parts - whole).max() <= 1e-6 * scale
    alone = np.concatenate(
        [
            explain(model, x[i : i + 1], method, _sample(target, i), **params, **_row(inputs, i))
            for i in range(BATCH)
        ]
    )
    assert np.abs(alone - whole).max() <= 1e-6 * scale


def _row(inputs: dict, i: int) -> dict:
    """The further inputs of sample ``i`` alone."""
    (meta,), mask = inputs["forward_args"], inputs["forward_kwargs"]["mask"]
    return {"forward_args": (meta[i : i + 1],), "forward_kwargs": {"mask": mask[i : i + 1]}}


def _pass_rows(model: nn.Module, run) -> list[int]:
    """The rows of every forward pass of ``model`` while ``run()`` runs."""
    rows: list[int] = []
    handle = model.register_forward_pre_hook(lambda _m, args: rows.append(args[0].shape[0]))
    try:
        run()
    finally:
        handle.remove()
    return rows


def test_a_cpu_batch_larger_than_batch_size_runs_passes_of_at_most_batch_size_rows(case) -> None:
    model, x, meta, _ = case
    method = "integrated_gradients_steps_8"

    def run(**params: object) -> list[int]:
        return _pass_rows(model, lambda: explain(model, x, method, forward_args=(meta,), **params))

    run()  # the first call on a model probes that its outputs repeat (one-row passes): not counted
    # the targets fixed for the whole batch from the outputs of its parts of 4, 4 and 2 samples;
    # then each part: its logits, and its 8 steps in passes of at most 4 rows (one step a pass,
    # two for the part of 2)
    assert run(batch_size=4) == [4, 4, 2] + ([4] + [4] * 8) * 2 + [2] + [4] * 4
    # a batch within batch_size is not split: 6 steps of 10 samples in a pass, then 2
    assert run() == [10, 60, 20]


def test_return_convergence_delta_comes_back_per_sample_from_the_parts(case) -> None:
    model, x, meta, _ = case
    inputs = {"forward_args": (meta,), "return_convergence_delta": True}
    whole, delta = explain(model, x, "integrated_gradients", **inputs)
    parts, part_delta = explain(model, x, "integrated_gradients", batch_size=4, **inputs)
    assert part_delta.shape == (BATCH,)
    np.testing.assert_allclose(parts, whole, atol=1e-6 * np.abs(whole).max())
    np.testing.assert_allclose(part_delta, delta, atol=1e-5)


def test_a_target_error_names_the_sample_of_the_whole_batch(case) -> None:
    model, x, meta, _ = case
    versus = [0, 2, 0, 2, 0, 2, 0, 1, 0, 2]  # sample 7: class 1 against itself
    with pytest.raises(TargetError, match=r"sample\(s\) \[7\]"):
        explain(model, x, "smoothgrad", Contrast(1, versus=versus), forward_args=(meta,), batch_size=3)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize(
    "method",
    ["integrated_gradients_steps_4", "smoothgrad_samples_4", "occlusion_window_16"],
)
def test_parts_equal_one_call_on_each_test_architecture(arch: str, method: str) -> None:
    """Signals and images, one and three leads, residual and ceil-mode pooling: a batch of 3 in
    parts of 1 gives the maps of one call, to float32 rounding (occlusion's maps are differences of
    outputs, whose rounding at another batch size is that of the outputs themselves)."""
    model, x = build(arch)
    params = {"seed": 0} if method.startswith("smoothgrad") else {}
    whole = explain(model, x, method, **params)
    parts = explain(model, x, method, batch_size=1, **params)
    with torch.no_grad():
        outputs = float(model(x).abs().max())
    assert np.abs(parts - whole).max() <= max(1e-5 * np.abs(whole).max(), 1e-6 * outputs)
