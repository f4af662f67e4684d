"""LRP on layers with weight or spectral normalisation (temporal convolutional networks)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations, parametrize

from models import assert_unchanged, rel_error, snapshot
from signxai import explain

WRAPS = {
    "weight_norm": parametrizations.weight_norm,
    "spectral_norm": parametrizations.spectral_norm,
    "old_weight_norm": torch.nn.utils.weight_norm,  # deprecated, still in TCN reference code
    "old_spectral_norm": torch.nn.utils.spectral_norm,
}
METHODS = [
    "lrp_z",
    "lrp_epsilon_0_1_std_x",
    "lrp_alpha_2_beta_1",
    "w2lrp_epsilon_0_1",
    "zblrp_epsilon_0_1",
    "lrpsign_z",
]


def _net(first: nn.Module, second: nn.Module, batch_norm: bool) -> nn.Sequential:
    norm = [nn.BatchNorm1d(8)] if batch_norm else []
    return nn.Sequential(
        first, *norm, nn.ReLU(), second, nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 3)
    )


def _pair(wrap: str, batch_norm: bool) -> tuple[nn.Sequential, nn.Sequential]:
    """A net with both convs wrapped, and the same function with plain convs."""
    torch.manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the old functions are deprecated
        model = _net(
            WRAPS[wrap](nn.Conv1d(4, 8, 5, padding=2)), WRAPS[wrap](nn.Conv1d(8, 8, 3, padding=1)), batch_norm
        )
    if batch_norm:
        model[1].running_mean.normal_()
        model[1].running_var.uniform_(0.5, 2.0)
    model(torch.randn(4, 4, 40))  # train mode: one power iteration of spectral normalisation
    model.eval()
    plain = _net(nn.Conv1d(4, 8, 5, padding=2), nn.Conv1d(8, 8, 3, padding=1), batch_norm).eval()
    convs = {0, 3 if batch_norm else 2}
    with torch.no_grad():
        for i, layer in enumerate(model):
            if i in convs:
                plain[i].weight.copy_(layer.weight)
                plain[i].bias.copy_(layer.bias)
            else:
                plain[i].load_state_dict(layer.state_dict())
    return model, plain


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("wrap", list(WRAPS))
def test_lrp_on_normalised_weights_equals_lrp_on_the_plain_weights(wrap: str, batch_norm: bool) -> None:
    """Before, the old functions gave maps 5x to 4600x off (their raw weights were changed by the
    rules and the BatchNorm merge was lost), and the new ones an error."""
    model, plain = _pair(wrap, batch_norm)
    x = torch.randn(3, 4, 40)
    torch.testing.assert_close(model(x), plain(x))
    before = snapshot(model)
    cls = [type(m) for m in model.modules()]
    for method in METHODS:
        ours = explain(model, x, method, target_class=[1, 0, 2])
        assert rel_error(ours, explain(plain, x, method, target_class=[1, 0, 2])) < 1e-5, method
    assert_unchanged(model, before)
    assert [type(m) for m in model.modules()] == cls
    # still normalised: the weight follows its raw tensors
    layer = model[0]
    if parametrize.is_parametrized(layer):
        originals = layer.parametrizations.weight
        raw = originals.original0 if hasattr(originals, "original0") else originals.original
    else:
        raw = layer.weight_g if hasattr(layer, "weight_g") else layer.weight_orig
    with torch.no_grad():
        raw.add_(torch.randn_like(raw))
    assert not torch.allclose(model(x), plain(x))


def test_the_model_is_restored_after_an_error() -> None:
    model, _ = _pair("weight_norm", batch_norm=False)
    before = snapshot(model)
    with pytest.raises(ValueError, match="target_class"):
        explain(model, torch.randn(2, 4, 40), "lrp_alpha_1_beta_0", target_class=7)
    assert_unchanged(model, before)
    assert parametrize.is_parametrized(model[0])
    assert np.isfinite(model(torch.randn(2, 4, 40)).detach().numpy()).all()
