"""amplitude_bias: Spearman's rho of |R| and |x| per map, against scipy; on the shipped model
input-multiplied maps follow amplitude and SIGN maps do not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from signxai import explain
from signxai.ecg import load_beat_model, load_ecg5000
from signxai.errors import InputError
from signxai.evaluate import amplitude_bias


def test_equals_scipys_spearman_per_map_with_ties() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 2, 40))
    relevance = np.round(rng.standard_normal((6, 2, 40)) * x, 1)  # rounded: ties
    expected = [spearmanr(np.abs(r).ravel(), np.abs(s).ravel())[0] for r, s in zip(relevance, x, strict=True)]
    np.testing.assert_allclose(amplitude_bias(relevance, x), expected, rtol=1e-12)
    np.testing.assert_allclose(amplitude_bias(torch.from_numpy(relevance), torch.from_numpy(x)), expected)


def test_follows_amplitude_ignores_it_or_favours_small_values() -> None:
    x = np.linspace(-2, 2, 101)[None, None] * np.ones((3, 1, 1))
    assert amplitude_bias(3 * x, x) == pytest.approx([1.0] * 3, abs=1e-4)  # linspace: near-ties
    assert amplitude_bias(1 / (1 + np.abs(x)), x) == pytest.approx([-1.0] * 3, abs=1e-4)
    assert np.isnan(amplitude_bias(np.zeros_like(x), x)).all()  # an all-zero map: undefined


def test_on_the_shipped_beats_input_multiplied_maps_follow_amplitude_and_sign_maps_do_not() -> None:
    """The 5-class model and 60 test beats, on the 110 samples it sees (README: 1000 beats)."""
    model, beats = load_beat_model("5class"), load_ecg5000("test").x[:60]
    bias = {
        method: np.nanmean(amplitude_bias(explain(model, beats, method)[..., :110], beats[..., :110]))
        for method in ("gradient_x_input", "lrp_epsilon_0_5", "lrpsign_epsilon_0_5")
    }
    assert bias["gradient_x_input"] > 0.3 and bias["lrp_epsilon_0_5"] > 0.5
    assert abs(bias["lrpsign_epsilon_0_5"]) < 0.2


@pytest.mark.parametrize(
    ("relevance", "x", "message"),
    [
        (np.ones((2, 1, 10)), np.ones((2, 1, 9)), "x must have the maps' shape (2, 1, 10), got (2, 1, 9)"),
        (
            np.ones(10),
            np.ones(10),
            "relevance must be a batch (B, ...) with a sample axis first and at least 2",
        ),
        (np.ones((2, 1)), np.ones((2, 1)), "got shape (2, 1)"),
        (np.ones((2, 5)), np.full((2, 5), np.inf), "x has 10 non-finite values"),
        ("map", np.ones((2, 5)), "relevance must be an array (B, ...), got str"),
    ],
)
def test_bad_input_is_named(relevance, x, message) -> None:
    with pytest.raises(InputError) as raised:
        amplitude_bias(relevance, x)
    assert message in str(raised.value)
