"""Gradient SHAP (captum's GradientShap, expected gradients): the same draws by hand, its
expectation against captum's and against integrated gradients, exact cases, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import GradientShap, Saliency
from torch import nn

from models import assert_unchanged, build, captum_targets, logit_model, rel_error, snapshot
from signxai import MethodParameterError, explain


def test_gradient_shap_is_the_mean_over_its_draws() -> None:
    """Seeded draws reproduced by hand: baseline index, path position, then noise per draw, each
    draw shared by the batch's samples."""
    model, x = build("resnet")
    index, target = captum_targets(model, x)
    references = torch.randn(4, *x.shape[1:])
    samples, std, seed = 6, 0.05, 11

    def run(batch_size: int) -> np.ndarray:
        name = f"gradient_shap_samples_{samples}"
        return explain(
            model,
            x,
            name,
            target_class=target,
            baselines=references,
            noise_std=std,
            seed=seed,
            batch_size=batch_size,
        )

    before = snapshot(model)
    ours = run(7)
    assert_unchanged(model, before)
    generator = torch.Generator().manual_seed(seed)
    choice = torch.randint(4, (samples,), generator=generator)
    alphas = torch.rand((samples,), generator=generator)
    saliency = Saliency(logit_model(model))
    total = torch.zeros_like(x)
    for k in range(samples):
        noisy = x + std * torch.randn((1, *x.shape[1:]), generator=generator)
        base = references[choice[k]]
        point = base + alphas[k] * (noisy - base)
        total += (noisy - base) * saliency.attribute(point, target=index, abs=False)
    assert rel_error(ours, total / samples) < 1e-5
    np.testing.assert_allclose(ours, run(1000), rtol=1e-5, atol=1e-9)  # chunking changes nothing


def test_on_a_linear_model_it_is_x_minus_baseline_times_the_weights() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv1d(2, 3, 5, padding=2), nn.Flatten(), nn.Linear(3 * 20, 4)).eval()
    x, baseline = torch.randn(3, 2, 20), torch.randn(2, 20)
    ours = explain(model, x, "gradient_shap_samples_5", target_class=[0, 3, 1], baselines=baseline, seed=0)
    expected = explain(model, x - baseline, "gradient", target_class=[0, 3, 1]) * (x - baseline).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-7)


def test_its_expectation_is_integrated_gradients_and_captums() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2)).eval()
    x = torch.randn(2, 6)
    many = explain(model, x, "gradient_shap_samples_20000", target_class=1, seed=1, batch_size=40000)
    integrated = explain(model, x, "integrated_gradients_steps_64", target_class=1)
    assert rel_error(many, integrated) < 0.02
    references = torch.randn(5, 6)
    ours = explain(
        model,
        x,
        "gradient_shap_samples_20000",
        target_class=1,
        baselines=references,
        seed=2,
        batch_size=40000,
    )
    np.random.seed(0)
    torch.manual_seed(0)
    theirs = GradientShap(model).attribute(x, baselines=references, n_samples=20000, target=1)
    assert rel_error(ours, theirs) < 0.03


def test_baselines_of_the_wrong_shape_are_an_error() -> None:
    model, x = build("ecg_beat")
    with pytest.raises(MethodParameterError, match=r"baselines must be .* got shape \(4, 1, 7\)"):
        explain(model, x, "gradient_shap", baselines=np.zeros((4, 1, 7)))
    with pytest.raises(MethodParameterError, match="noise_std"):
        explain(model, x, "gradient_shap", noise_std=-1.0)


@pytest.mark.parametrize("method", ["gradient_shap", "smoothgrad", "vargrad"])
def test_a_seed_gives_the_same_draws_in_float64(method: str) -> None:
    """The draws are float32 from the seed, cast to the model's dtype (float64 drew other numbers)."""
    model, x = build("ecg_beat")
    wide = build("ecg_beat")[0].double()
    single = explain(model, x, method, target_class=[0, 3, 4], seed=5)
    double = explain(wide, x, method, target_class=[0, 3, 4], seed=5)
    assert (
        rel_error(double, single) < 1e-3
    )  # float32 arithmetic near ReLU and max-pool kinks; other draws: 0.2
