"""Relevance mass and rank accuracy: by hand, against Quantus, properties, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from signxai.errors import InputError
from signxai.evaluate import relevance_mass_accuracy, relevance_rank_accuracy


def test_mass_accuracy_by_hand_for_each_part() -> None:
    relevance = np.array([[[1.0, 2.0, -1.0, 0.0]]])
    mask = np.array([[[False, True, True, False]]])
    assert relevance_mass_accuracy(relevance, mask) == pytest.approx([2 / 3])  # positive part
    assert relevance_mass_accuracy(relevance, mask, part="absolute") == pytest.approx([3 / 4])
    assert relevance_mass_accuracy(relevance, mask, part="signed") == pytest.approx([1 / 2])


def test_rank_accuracy_by_hand_with_ties_shared_out() -> None:
    assert relevance_rank_accuracy([[3.0, 1.0, 2.0, 0.0]], [[1, 0, 1, 0]]) == pytest.approx([1.0])
    assert relevance_rank_accuracy([[5.0, 1.0, 1.0, 0.0]], [[0, 1, 0, 0]]) == pytest.approx([0.0])
    # K = 2: one place above the tie at 1.0, one left for two tied samples, one of them marked
    assert relevance_rank_accuracy([[5.0, 1.0, 1.0, 0.0]], [[1, 1, 0, 0]]) == pytest.approx([0.75])
    assert relevance_rank_accuracy(np.zeros((1, 8)), np.eye(8, dtype=bool)[:1]) == pytest.approx([1 / 8])
    # by magnitude, -4 ranks first
    assert relevance_rank_accuracy([[1.0, -4.0, 0.5]], [[0, 1, 0]], part="absolute") == pytest.approx([1.0])
    assert relevance_rank_accuracy([[1.0, -4.0, 0.5]], [[0, 1, 0]]) == pytest.approx([0.0])


def test_a_perfect_an_opposite_and_an_empty_map() -> None:
    mask = np.zeros((3, 2, 20), dtype=bool)
    mask[:, :, 5:9] = True
    inside = np.where(mask, 1.0, 0.0)
    np.testing.assert_allclose(relevance_mass_accuracy(inside, mask), 1.0)
    np.testing.assert_allclose(relevance_rank_accuracy(inside, mask), 1.0)
    np.testing.assert_allclose(relevance_mass_accuracy(1.0 - inside, mask), 0.0)
    np.testing.assert_allclose(relevance_rank_accuracy(1.0 - inside, mask), 0.0)
    # nothing to count: no share describes it; ranks: the chance level
    assert np.isnan(relevance_mass_accuracy(np.zeros((3, 2, 20)), mask)).all()
    assert np.isnan(relevance_mass_accuracy(-inside, mask)).all()  # no positive relevance
    np.testing.assert_allclose(relevance_rank_accuracy(np.zeros((3, 2, 20)), mask), 8 / 40)


def test_a_time_mask_broadcasts_over_the_leads_and_torch_equals_numpy() -> None:
    rng = np.random.default_rng(0)
    relevance = rng.standard_normal((4, 3, 50)).astype(np.float32)
    window = np.zeros((4, 1, 50), dtype=bool)
    for row, start in enumerate((0, 10, 20, 40)):
        window[row, :, start : start + 10] = True
    full = np.broadcast_to(window, relevance.shape)
    for metric in (relevance_mass_accuracy, relevance_rank_accuracy):
        np.testing.assert_array_equal(metric(relevance, window), metric(relevance, full))
        np.testing.assert_array_equal(
            metric(torch.from_numpy(relevance), torch.from_numpy(window)), metric(relevance, window)
        )
        # each map scored on its own: the batch is the samples one by one
        alone = np.concatenate([metric(relevance[i : i + 1], window[i : i + 1]) for i in range(4)])
        np.testing.assert_array_equal(metric(relevance, window), alone)


def test_equal_to_quantus_on_maps_without_ties() -> None:
    quantus = pytest.importorskip("quantus", reason="the eval extra (quantus) is not installed")
    rng = np.random.default_rng(1)
    relevance = rng.standard_normal((16, 1, 60))
    mask = rng.random((16, 1, 60)) < rng.uniform(0.05, 0.5, (16, 1, 1))
    mask[:, 0, 0] = True  # none empty
    x, y = rng.standard_normal((16, 1, 60)), np.zeros(16, dtype=int)
    for ours, theirs in (
        (relevance_mass_accuracy, quantus.RelevanceMassAccuracy),
        (relevance_rank_accuracy, quantus.RelevanceRankAccuracy),
    ):
        for part, absolute in (("signed", False), ("absolute", True)):
            metric = theirs(abs=absolute, normalise=False, disable_warnings=True)
            expected = metric(model=None, x_batch=x, y_batch=y, a_batch=relevance, s_batch=mask)
            np.testing.assert_allclose(ours(relevance, mask, part=part), expected, rtol=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, (3, 12), elements=st.floats(-5, 5, allow_nan=False, width=32)),
    arrays(np.bool_, (3, 12)),
    st.permutations(list(range(12))),
)
def test_scores_lie_in_0_1_and_do_not_depend_on_the_order_of_samples(relevance, mask, order) -> None:
    mask[:, 0] = True
    mass = relevance_mass_accuracy(relevance, mask)
    rank = relevance_rank_accuracy(relevance, mask)
    assert np.all((mass[~np.isnan(mass)] >= -1e-12) & (mass[~np.isnan(mass)] <= 1 + 1e-12))
    assert np.all((rank >= -1e-12) & (rank <= 1 + 1e-12))
    np.testing.assert_allclose(relevance_mass_accuracy(relevance[:, order], mask[:, order]), mass)
    np.testing.assert_allclose(relevance_rank_accuracy(relevance[:, order], mask[:, order]), rank)


MAPS = np.ones((2, 1, 10))
WINDOW = np.zeros((2, 1, 10), dtype=bool)
WINDOW[:, :, 3:5] = True


@pytest.mark.parametrize(
    ("relevance", "mask", "options", "message"),
    [
        (1.0, WINDOW, {}, "relevance must be an array (B, ...), got float"),
        (np.ones(10), WINDOW, {}, "must be a batch (B, ...) with a sample axis first and at least 1 value"),
        (np.zeros((0, 10)), WINDOW, {}, "got shape (0, 10)"),
        (np.where(np.eye(1, 10) > 0, np.nan, 1), WINDOW[:1, 0], {}, "relevance has 1 non-finite values"),
        (np.ones((2, 10), dtype=complex), WINDOW[:, 0], {}, "must hold real numbers, got dtype complex128"),
        (MAPS, None, {}, "mask must be an array (B, ...), got NoneType"),
        (MAPS, WINDOW * 2, {}, "mask must be boolean (or 0/1) marking the ground-truth samples, got dtype"),
        (MAPS, np.zeros((2, 1, 9), dtype=bool), {}, "mask must have relevance's shape (2, 1, 10) or one"),
        (MAPS, np.stack([WINDOW[0], ~WINDOW[0] & False]), {}, "mask marks no sample of map(s) 1"),
        (MAPS, WINDOW, {"part": "positve"}, "got 'positve' (did you mean 'positive'?)"),
    ],
)  # fmt: skip
def test_bad_input_is_named(relevance, mask, options, message) -> None:
    for metric in (relevance_mass_accuracy, relevance_rank_accuracy):
        with pytest.raises(InputError) as raised:
            metric(relevance, mask, **options)
        assert message in str(raised.value)
