"""Evaluation: deletion curves on a model with a known relevant window, randomization, comparison."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from models import Bound, WithMetadata, assert_unchanged, build, snapshot
from signxai import explain, explain_spectrum
from signxai.errors import InputError, MethodParameterError
from signxai.evaluate import (
    compare_methods,
    deletion_curve,
    infill_windows,
    model_randomization,
    random_relevance,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
    similarity,
)
from signxai.evaluate.plot import plot_comparison, plot_deletion_curves

LENGTH, START, STOP = 100, 40, 60


def window_model() -> nn.Module:
    """Output 0 = sum of ReLU(x) over samples 40..59; output 1 = minus that. Nothing else counts."""
    model = nn.Sequential(
        nn.Conv1d(1, 1, 1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(LENGTH, 2, bias=False)
    )
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[3].weight.zero_()
        model[3].weight[0, START:STOP] = 1.0
        model[3].weight[1, START:STOP] = -1.0
    return model.eval()


@pytest.fixture
def beats() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    x = 0.1 * torch.rand(8, 1, LENGTH, generator=generator)
    x[:, :, START:STOP] += 1.0
    return x


def test_the_evaluations_run_under_inference_mode_as_outside_it(beats: torch.Tensor) -> None:
    """Before, compare_methods and model_randomization raised torch's RuntimeError there (their
    copies of x and of the model were inference tensors, which cannot require gradients)."""
    model = window_model()
    outside = compare_methods(model, beats, ["gradient", "lrp_z"], 0, window=10, seed=0)[0]
    steps = model_randomization(model, beats, "gradient", 0, seed=0)
    with torch.inference_mode():
        inside = compare_methods(model, beats, ["gradient", "lrp_z"], 0, window=10, seed=0)[0]
        again = model_randomization(model, beats, "gradient", 0, seed=0)
        assert torch.is_inference_mode_enabled()
    columns = ["aopc_morf", "aopc_lerf"]
    np.testing.assert_allclose(inside[columns].to_numpy(), outside[columns].to_numpy())
    np.testing.assert_allclose(again["similarity"].to_numpy(), steps["similarity"].to_numpy())


def test_morf_with_a_correct_method_drops_faster_than_random(beats: torch.Tensor) -> None:
    model = window_model()
    relevance = explain(model, beats, "gradient_x_input", target_class=0)
    good = deletion_curve(model, beats, relevance, 0, window=10, order="morf")
    rand = deletion_curve(model, beats, random_relevance(beats, seed=1), 0, window=10, order="morf")
    anti = deletion_curve(model, beats, -relevance, 0, window=10, order="morf")
    # the two relevant windows go first: after 2 of 10 steps the score is gone
    assert good.scores[:, 2] == pytest.approx(0.0, abs=1e-6)
    assert good.aopc > rand.aopc > anti.aopc
    lerf = deletion_curve(model, beats, relevance, 0, window=10, order="lerf")
    assert lerf.aopc < good.aopc
    assert good.auc < rand.auc
    assert good.scores.shape == (8, 11) and good.fractions[-1] == 1.0


def test_window_in_milliseconds_and_errors(beats: torch.Tensor) -> None:
    model = window_model()
    relevance = explain(model, beats, "gradient", target_class=0)
    curve = deletion_curve(model, beats, relevance, 0, window_ms=40, fs=250)
    assert curve.window == 10
    with pytest.raises(MethodParameterError, match="needs fs"):
        deletion_curve(model, beats, relevance, 0, window_ms=40)
    with pytest.raises(MethodParameterError, match="infill"):
        deletion_curve(model, beats, relevance, 0, window=10, infill="blur")
    with pytest.raises(MethodParameterError, match="order"):
        deletion_curve(model, beats, relevance, 0, window=10, order="random")


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({}, MethodParameterError, "either in samples"),
        ({"window": 10, "window_ms": 40, "fs": 250}, MethodParameterError, "either in samples"),
        ({"window": 2.5}, MethodParameterError, "whole number of samples"),
        ({"window": 0}, MethodParameterError, "whole number of samples"),
        ({"window": LENGTH + 1}, MethodParameterError, "must not exceed the signal's 100 samples"),
        ({"window_ms": 1000, "fs": 250}, MethodParameterError, "gives 250 samples"),
        ({"window_ms": 40, "fs": -1}, MethodParameterError, "needs fs"),
        ({"window_ms": 40, "fs": "250"}, MethodParameterError, "needs fs"),
        (
            {"window_ms": float("inf"), "fs": 250},
            MethodParameterError,
            "window_ms must be a positive number of milliseconds",
        ),
        (
            {"window_ms": "40", "fs": 250},
            MethodParameterError,
            "window_ms must be a positive number of milliseconds",
        ),
        (
            {"window": 10, "infill": "noise", "seed": 1.5},
            MethodParameterError,
            "seed must be a whole number >= 0, got 1.5",
        ),
        ({"window": 10, "relevance": np.zeros((8, 1, 50))}, InputError, r"shaped like x, \(8, 1, 100\)"),
        ({"window": 10, "relevance": np.zeros((4, 1, 100))}, InputError, r"shaped like x"),
        ({"window": 10, "relevance": np.full((8, 1, 100), np.nan)}, InputError, "800 non-finite"),
    ],
)
def test_deletion_arguments_are_checked(
    beats: torch.Tensor, arguments: dict, error: type, message: str
) -> None:
    arguments = {"relevance": np.ones((8, 1, LENGTH)), **arguments}
    with pytest.raises(error, match=message):
        deletion_curve(window_model(), beats, target_class=0, **arguments)


def test_one_sample_takes_its_relevance_without_batch_axis(beats: torch.Tensor) -> None:
    model = window_model()
    relevance = explain(model, beats[0], "gradient_x_input", target_class=0)
    assert relevance.shape == (1, LENGTH)
    one = deletion_curve(model, beats[0], relevance, 0, window=10)
    batch = deletion_curve(
        model, beats, explain(model, beats, "gradient_x_input", target_class=0), 0, window=10
    )
    np.testing.assert_allclose(one.scores[0], batch.scores[0], rtol=1e-6)


@pytest.mark.parametrize(
    ("methods", "params", "message"),
    [
        ([], None, "non-empty list"),
        ("gradient", None, "non-empty list"),
        (3, None, "non-empty list of method names, got 3"),
        ([1, 2], None, "non-empty list of method names"),
        (["gradient", "gradient"], None, r"\['gradient'\] more than once"),
        (["gradient", "random"], None, "added by include_random"),
        (["gradient"], {"smoothgrad": {"noise_level": 0.1}}, r"\['smoothgrad'\], which are not in methods"),
    ],
)
def test_compare_methods_checks_its_list(beats: torch.Tensor, methods, params, message: str) -> None:
    with pytest.raises(MethodParameterError, match=message):
        compare_methods(window_model(), beats, methods, 0, params=params)


def test_compare_methods_says_which_method_raised(beats: torch.Tensor) -> None:
    with pytest.raises(MethodParameterError, match=r"^compare_methods, method 'smoothgrad': .*noise_level"):
        compare_methods(
            window_model(), beats, ["gradient", "smoothgrad"], 0, params={"smoothgrad": {"noise_level": -1.0}}
        )


def test_similarity_needs_two_finite_maps_of_one_shape() -> None:
    with pytest.raises(InputError, match="one shape"):
        similarity(np.zeros(5), np.zeros(6))
    with pytest.raises(InputError, match="finite"):
        similarity(np.r_[np.zeros(4), np.nan], np.arange(5.0))
    assert similarity(np.arange(5.0), np.arange(5.0) * 2) == pytest.approx(1.0)
    # before: numpy's ValueError/TypeError for text, and 0.0 for an empty pair of maps
    for bad, match in [
        ("x", r"a must be an array, got str"),  # any shape (the message said "(B, ...)")
        ([[1.0, 2.0], [3.0]], r"a must be a rectangular array: "),
        (["a", "b"], r"a must hold real numbers, got dtype <U1"),
        (np.zeros(0), r"a must be a map of at least two values, got shape \(0,\)"),
        (np.ones(2, dtype=complex), "a must hold real numbers, got dtype complex128"),
    ]:
        with pytest.raises(InputError, match=match):
            similarity(bad, np.arange(2.0))  # a is checked first


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("how", ["spearman", "pearson"])
def test_a_correlation_with_a_constant_map_is_0_or_1_if_both_are_without_warnings(how: str) -> None:
    varying = np.arange(6.0)
    assert similarity(np.zeros(6), varying, how) == 0.0  # before: scipy's/numpy's warning, then 0
    assert similarity(varying, np.full(6, 3.0), how) == 0.0
    assert similarity(np.zeros(6), np.zeros(6), how) == 1.0  # the same map: not dissimilar
    assert similarity(np.full(6, 2.0), np.full(6, -1.0), how) == 1.0  # no ranking either, any scale


def test_infills() -> None:
    x = torch.arange(12, dtype=torch.float32).view(1, 1, 12) + 1.0
    mask = torch.zeros(1, 12, dtype=torch.bool)
    mask[0, 4:8] = True
    assert infill_windows(x, mask, "zero", 4, None)[0, 0, 4:8].tolist() == [0, 0, 0, 0]
    np.testing.assert_allclose(infill_windows(x, mask, "linear", 4, None)[0, 0].numpy(), x[0, 0].numpy())
    median = infill_windows(x, mask, "median", 4, None)[0, 0]
    assert median[4].item() == 3.0  # median of the kept 1, 2, 3, 4, 9 within one window
    first = infill_windows(x, mask, "noise", 4, torch.Generator().manual_seed(0))
    second = infill_windows(x, mask, "noise", 4, torch.Generator().manual_seed(0))
    assert torch.equal(first, second) and torch.equal(first[0, 0, :4], x[0, 0, :4])
    long, blank = torch.randn(2, 3, 64), torch.ones(2, 64, dtype=torch.bool)
    narrow = infill_windows(long, blank, "noise", 4, torch.Generator().manual_seed(0))
    wide = infill_windows(long.double(), blank, "noise", 4, torch.Generator().manual_seed(0))
    torch.testing.assert_close(wide.float(), narrow)  # the same noise for a float64 signal
    alone = infill_windows(long[1:], blank[1:], "noise", 4, torch.Generator().manual_seed(0))
    torch.testing.assert_close(alone, narrow[1:])  # a sample's noise does not depend on its batch


def test_infill_windows_takes_arrays_and_0_1_masks_and_returns_what_it_was_given() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 30))
    mask = np.zeros((2, 30), dtype=int)
    mask[:, 10:16] = 1
    for how in ("zero", "linear", "median", "noise"):
        expected = infill_windows(torch.from_numpy(x), torch.from_numpy(mask.astype(bool)), how, 3)
        got = infill_windows(x, mask, how, 3)  # before: torch's AttributeError on an array
        assert isinstance(got, np.ndarray) and got.dtype == x.dtype, how
        if how != "noise":  # noise draws from torch's global generator
            np.testing.assert_array_equal(got, expected.numpy())
        np.testing.assert_array_equal(got[:, :, :10], x[:, :, :10])
    # before, a misspelt `how` filled by the local median, silently
    with pytest.raises(MethodParameterError, match="how must be one of .* got 'zeros' .*'zero'"):
        infill_windows(x, mask, "zeros")
    with pytest.raises(InputError, match=r"mask must be \(B, T\) = \(2, 30\) .* got shape \(2, 3, 30\)"):
        infill_windows(x, np.ones((2, 3, 30), bool))  # before: torch's RuntimeError


def test_probability_score_of_a_single_output_binary_model() -> None:
    model, x = build("ecg")
    relevance = explain(model, x, "gradient", target_class=0)
    curve = deletion_curve(model, x, relevance, 0, window=200, score="probability")
    with torch.no_grad():
        p = model(x)[:, 0].numpy()
    np.testing.assert_allclose(curve.scores[:, 0], 1 - p, rtol=1e-5)


def test_randomization_needs_a_whole_number_seed() -> None:
    model, x = build("ecg_beat")
    with pytest.raises(MethodParameterError, match="seed must be a whole number >= 0, got 'a'"):
        model_randomization(model, x, "gradient", 0, seed="a")


def test_randomization_leaves_the_model_unchanged_and_similarity_falls_for_gradient() -> None:
    model, x = build("ecg")
    before = snapshot(model)
    steps = model_randomization(model, x, "gradient", target_class=1)
    assert_unchanged(model, before)
    assert steps.similarity.iloc[0] == 1.0
    assert list(steps.layer[1:4]) == ["fc.6", "fc.3", "fc.0"]
    assert steps.similarity.iloc[-1] < 0.5
    assert steps.similarity.iloc[-1] < steps.similarity.iloc[1]


@pytest.mark.parametrize("how", ["spearman", "pearson", "ssim"])
def test_similarities_are_one_for_equal_maps(how: str) -> None:
    a = np.random.default_rng(0).normal(size=200)
    assert similarity(a, a, how) == pytest.approx(1.0)
    assert similarity(a, np.random.default_rng(1).normal(size=200), how) < 0.5


def test_compare_methods_gives_a_tidy_table_and_figures(beats: torch.Tensor) -> None:
    model = window_model()
    table, curves = compare_methods(model, beats, ["gradient_x_input", "lrp_epsilon_0_1"], 0, window=10)
    assert list(table.index) == ["gradient_x_input", "lrp_epsilon_0_1", "random"]
    for column in ("aopc_morf", "aopc_lerf", "randomized_similarity", "seconds", "corr_random"):
        assert column in table
    assert table.loc["gradient_x_input", "aopc_morf"] > table.loc["random", "aopc_morf"]
    assert table.loc["gradient_x_input", "corr_gradient_x_input"] == pytest.approx(1.0)
    assert plot_deletion_curves(curves).axes and plot_comparison(table).axes


def test_compare_methods_scores_the_maps_against_a_ground_truth_mask(beats: torch.Tensor) -> None:
    """window_model's evidence is samples 40-59 and nothing else: gradient x input puts all its
    positive relevance there; the columns equal the metrics on explain's maps, for a batch and for
    one sample given without its batch axis."""
    model = window_model()
    mask = np.zeros((1, 1, LENGTH), dtype=bool)
    mask[..., START:STOP] = True  # broadcast over the batch
    methods = ["gradient_x_input", "lrpsign_epsilon_0_1"]
    table, _ = compare_methods(model, beats, methods, 0, window=10, mask=mask, randomization=False)
    assert table.loc["gradient_x_input", "mass_accuracy"] == pytest.approx(1.0)
    for method in methods:
        relevance = explain(model, beats, method, target_class=0)
        assert table.loc[method, "mass_accuracy"] == pytest.approx(
            relevance_mass_accuracy(relevance, mask).mean()
        )
        assert table.loc[method, "rank_accuracy"] == pytest.approx(
            relevance_rank_accuracy(relevance, mask).mean()
        )
    assert table.loc["random", "mass_accuracy"] == pytest.approx(0.2, abs=0.1)
    one, _ = compare_methods(model, beats[0], methods, 0, window=10, mask=mask[0], randomization=False)
    first = explain(model, beats[:1], "lrpsign_epsilon_0_1", target_class=0)
    assert one.loc["lrpsign_epsilon_0_1", "rank_accuracy"] == pytest.approx(
        relevance_rank_accuracy(first, mask)[0]
    )
    assert "mass_accuracy" not in compare_methods(model, beats, methods[:1], 0, randomization=False)[0]
    bins = np.zeros((1, 1, LENGTH // 2 + 1), dtype=bool)  # per frequency bin: a band as the truth
    bins[..., 5:15] = True
    spectral, _ = compare_methods(
        model, beats, methods[:1], 0, domain="frequency", mask=bins, randomization=False, include_random=False
    )
    per_bin = explain_spectrum(model, beats, methods[0], target_class=0).relevance
    assert spectral.loc[methods[0], "rank_accuracy"] == pytest.approx(
        relevance_rank_accuracy(per_bin, bins).mean()
    )
    with pytest.raises(InputError, match=r"mask must be shaped like the maps, \(8, 1, 100\), or broadcast"):
        compare_methods(model, beats, methods, 0, mask=np.ones((1, 1, 99), dtype=bool))


def test_evaluation_of_a_model_with_further_inputs_equals_each_sample_with_its_inputs_bound() -> None:
    """Before, deletion curves, randomization and compare_methods could not run a model that
    takes metadata next to the ECG (explain could)."""
    torch.manual_seed(5)
    model = WithMetadata(leads=1, kernel=7, pool="amax").eval()
    torch.manual_seed(0)
    x, metadata, mask = torch.randn(3, 1, 40), torch.randn(3, 2), (torch.rand(3, 1, 40) > 0.2).float()
    further = {"forward_args": (metadata,), "forward_kwargs": {"mask": mask}}
    before = snapshot(model)
    relevance = explain(model, x, "gradient_x_input", **further)
    curve = deletion_curve(model, x, relevance, None, window=8, **further)
    assert curve.scores.shape == (3, 6)
    for b in range(3):
        bound = Bound(model, metadata[b : b + 1], mask[b : b + 1])
        alone = deletion_curve(bound, x[b : b + 1], relevance[b : b + 1], None, window=8)
        np.testing.assert_allclose(curve.scores[b], alone.scores[0], rtol=1e-5, atol=1e-6)
    noisy = deletion_curve(model, x, relevance, None, window=8, infill="noise", **further)
    assert np.isfinite(noisy.scores).all() and not np.allclose(noisy.scores, curve.scores)
    steps = model_randomization(model, x, "gradient", **further)
    assert steps["similarity"].iloc[0] == 1.0 and list(steps["layer"][1:]) == ["head", "meta", "conv"]
    bound_targets = [
        int(Bound(model, metadata[b : b + 1], mask[b : b + 1])(x[b : b + 1]).argmax()) for b in range(3)
    ]
    np.testing.assert_allclose(
        steps["similarity"],
        model_randomization(model, x, "gradient", target_class=bound_targets, **further)["similarity"],
    )
    table, _ = compare_methods(model, x, ["gradient", "lrp_epsilon_0_1"], window=8, **further)
    assert set(table.index) == {"gradient", "lrp_epsilon_0_1", "random"}
    assert np.isfinite(
        table.loc[["gradient", "lrp_epsilon_0_1"], ["aopc_morf", "randomized_similarity"]].to_numpy()
    ).all()
    assert_unchanged(model, before)
    with pytest.raises(InputError, match=r"forward_args\[0\] must have x's batch axis first"):
        deletion_curve(model, x, relevance, window=8, forward_args=(metadata[:2],))
