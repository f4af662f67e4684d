"""Operations without a rule (LRP's and DeepLIFT's graph modes): an error only where the explained
output depends on them. A model may compute what it does not return (an auxiliary head, a quality
score, ``z.sum()`` in a tuple the wrapper drops); its explanation is that of the model without it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models import FirstOutput, assert_unchanged, randomize_batch_norm, rel_error, snapshot
from signxai import UnsupportedModelError, explain
from signxai.methods.operations import Refused, raise_refused, refused


class _Features(nn.Module):
    """The trunk both models share: two convs, a BatchNorm, a max pooling."""

    def __init__(self) -> None:
        super().__init__()
        first = (nn.Conv1d(2, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(2))
        self.net = nn.Sequential(*first, nn.Conv1d(8, 8, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _MultiTask(nn.Module):
    """A classifier with an auxiliary head and a quality score, returned beside the logits: the
    head normalises by its input's own statistics (a LayerNorm module) and takes a softmax, the
    score a standard deviation, a total and a spectrum: none has an LRP or DeepLIFT rule."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _Features()
        self.head = nn.Linear(8, 3)
        self.norm = nn.LayerNorm(8)
        self.aux = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.features(x)
        logits = self.head(h.mean(-1))
        aux = F.softmax(self.aux(self.norm(h.transpose(1, 2))), dim=-1)
        quality = h.std(dim=-1).sum() + torch.fft.rfft(x).abs().mean()
        return logits, aux, quality


class _HeadOnly(nn.Module):
    """The same weights, the logits alone."""

    def __init__(self, model: _MultiTask) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.head(self.model.features(x).mean(-1))


#: Four LRP rules (SIGN among them) and two composites, then the other graph-mode methods.
LRP = ["lrp_z", "lrp_epsilon_0_1", "lrpsign_epsilon_0_5", "lrp_alpha_2_beta_1"]
METHODS = [*LRP, "lrpz_sequential_composite_a", "lrp_epsilon_0_1_std_x", "deeplift", "guided_backprop"]


@pytest.mark.parametrize("method", METHODS)
def test_what_the_model_computes_and_does_not_return_does_not_stop_the_explanation(method: str) -> None:
    torch.manual_seed(0)
    model = randomize_batch_norm(_MultiTask()).eval()
    x = torch.randn(4, 2, 40)
    wrapped = FirstOutput(model)
    before = snapshot(model)
    ours = explain(wrapped, x, method, target_class=[0, 1, 2, 0])
    assert_unchanged(model, before)
    reference = explain(_HeadOnly(model), x, method, target_class=[0, 1, 2, 0])
    assert float(abs(reference).max()) > 0
    assert rel_error(ours, reference) < 1e-6


class _OnPath(nn.Module):
    """An operation without a rule on the way to the logits."""

    def __init__(self, operation: str) -> None:
        super().__init__()
        self.features = _Features()
        self.head = nn.Linear(8, 3)
        self.operation = operation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        if self.operation == "softmax":
            return self.head(F.softmax(h, dim=1).mean(-1))
        if self.operation == "std":
            return self.head(h.std(dim=-1))
        if self.operation == "total":
            return self.head(h.mean(-1)) + 0.0 * h.sum()
        # both a statistic and a step, in this order: the first one the forward pass ran is named
        return self.head(torch.sign(h.std(dim=-1)))


@pytest.mark.parametrize(
    ("operation", "method", "match"),
    [
        ("softmax", "lrp_epsilon_0_1", "LRP: the model applies softmax to input-dependent values before"),
        ("softmax", "deeplift", "deeplift: the model applies softmax to input-dependent values before"),
        ("std", "lrpsign_epsilon_0_5", r"LRP: the model computes std of input-dependent values"),
        ("std", "deeplift", r"deeplift: the model applies std, a normalisation or statistic"),
        ("total", "lrp_z", r"LRP: sum over all axes of an input-dependent tensor has no rule"),
        ("first", "lrp_z", r"LRP: the model computes std of input-dependent values"),
        ("first", "deeplift", r"deeplift: the model applies std"),
    ],
)
def test_an_operation_without_a_rule_on_the_explained_path_is_an_error(
    operation: str, method: str, match: str
) -> None:
    torch.manual_seed(1)
    model = _OnPath(operation).eval()
    x = torch.randn(2, 2, 40)
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match=match):
        explain(model, x, method)
    assert_unchanged(model, before)
    explain(model, x, "gradient")  # gradient-type methods still explain it


def test_a_refused_operation_raises_if_relevance_reaches_it_and_keeps_its_return_type() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    out = refused("no rule for max", torch.max, (x, 1), {})
    assert isinstance(out, torch.return_types.max)
    torch.testing.assert_close(out.values, x.max(1).values)
    assert not out.indices.requires_grad
    assert out.values.grad_fn._forward_cls is Refused
    with pytest.raises(UnsupportedModelError, match="no rule for max"):
        raise_refused(out.values.sum().grad_fn)
    with pytest.raises(UnsupportedModelError, match="no rule for max"):  # the backstop
        out.values.sum().backward()
    raise_refused((x * 2).sum().grad_fn)  # nothing refused below: no error


def test_a_refused_operation_in_place_or_without_input_dependence_raises_at_once() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    h = x * 1.0
    with pytest.raises(UnsupportedModelError, match="in place"):
        refused("in place", torch.Tensor.exp_, (h,), {})
    with pytest.raises(UnsupportedModelError, match="inplace"):
        refused("inplace", F.relu, (h,), {"inplace": True})
    with pytest.raises(UnsupportedModelError, match="constant"):
        refused("constant", torch.std, (torch.randn(3),), {})
