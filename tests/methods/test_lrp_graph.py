"""LRP through functional operations (``LRPGraphMode``): sums, differences, constant products.

On bias-free ReLU nets the z-rule conserves relevance: the input relevance sums to the explained
logit. Each model here puts one functional operation between two layers; before these rules,
a constant scale scaled the relevance (``0.5 * h`` halved it), a difference gave the subtrahend
the wrong sign, and an in-place ``g.add_(h)`` written as a statement was lost from the forward
pass, so the map explained another function; linear interpolation lost 14 % of the relevance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models import SELF_GATED, SelfGated, assert_conserves, assert_unchanged, snapshot
from signxai import UnsupportedModelError, explain


class _Between(nn.Module):
    """conv -> ReLU -> ``operation(h, conv2(h))`` -> ReLU -> linear, all without biases."""

    def __init__(self, operation: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.operation = operation
        self.conv1 = nn.Conv1d(2, 4, 3, padding=1, bias=False)
        self.conv2 = nn.Conv1d(4, 4, 3, padding=1, bias=False)
        self.fc = nn.Linear(4 * 8, 2, bias=False)
        self.register_buffer("scale", torch.linspace(0.5, 2.0, 4).view(1, 4, 1))
        self.register_buffer("mix", torch.randn(8, 8))
        self.up = nn.Upsample(scale_factor=2, mode="linear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x))
        g = self.conv2(h)
        if self.operation == "sum":
            g = g + h
        elif self.operation == "difference":
            g = g - h
        elif self.operation == "add_alpha":
            g = torch.add(g, h, alpha=0.5)
        elif self.operation == "add_":
            g.add_(h)  # in place, as a statement
        elif self.operation == "sub_":
            g.sub_(h)
        elif self.operation == "iadd":
            g += h
        elif self.operation == "negate":  # -g: relevance passes unchanged, as through g * -1
            g = -g
        elif self.operation == "from_constant":  # 0.5 - g: the same, the constant absorbs nothing
            g = 0.5 - g
        elif self.operation == "rsub":  # torch.rsub(g, h) = h - g
            g = torch.rsub(g, h)
        elif self.operation == "scalar":
            g = 0.5 * g
        elif self.operation == "divide":
            g = g / 3.0
        elif self.operation == "buffer":
            g = g * self.scale
        elif self.operation == "mul_":
            g.mul_(self.scale)
        elif self.operation == "div_":
            g /= 4.0
        elif self.operation == "matmul":
            g = g @ self.mix
        elif self.operation == "mm":
            g = torch.mm(g.reshape(-1, 8), self.mix).view_as(g)
        elif self.operation == "tensordot":
            g = torch.tensordot(g, self.mix, dims=([2], [0]))
        elif self.operation == "einsum":
            g = torch.einsum("bct,ts->bcs", g, self.mix)
        elif self.operation == "einsum_list":  # operands as a list: the same product
            g = torch.einsum("bct,ts->bcs", [g, self.mix])
        elif self.operation == "cumsum":  # a running sum and a difference: linear, no offset
            g = g.cumsum(-1)
        elif self.operation == "diff":
            g = torch.diff(g, dim=-1, prepend=torch.zeros_like(g[..., :1]))
        elif self.operation == "interpolate":  # linear interpolation mixes neighbours
            g = F.interpolate(g[..., ::2], size=8, mode="linear")
        elif self.operation == "upsample":
            g = self.up(g[..., ::2])
        elif self.operation == "square":  # elementwise functions are activations: relevance passes
            g = g**2
        elif self.operation == "abs":
            g = torch.abs(g)
        elif self.operation == "sin":
            g = torch.sin(g)
        elif self.operation == "exp":
            g = g.exp() - 1.0
        elif self.operation == "clamp_":
            g.clamp_(max=0.2)  # in place, as a statement
        return self.fc(torch.relu(g).flatten(1))


OPERATIONS = [
    "sum",
    "difference",
    "add_alpha",
    "add_",
    "sub_",
    "iadd",
    "negate",
    "from_constant",
    "rsub",
    "scalar",
    "divide",
    "buffer",
    "mul_",
    "div_",
    "matmul",
    "mm",
    "tensordot",
    "einsum",
    "einsum_list",
    "cumsum",
    "diff",
    "interpolate",
    "upsample",
    "square",
    "abs",
    "exp",
    "sin",
    "clamp_",
]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_lrp_z_conserves_the_logit_through_functional_operations(operation: str) -> None:
    model = _Between(operation).eval()
    x = torch.randn(5, 2, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model(x.clone())
    before = snapshot(model)
    relevance = explain(model, x, "lrp_z", target_class=[0, 1, 0, 1, 0])
    assert_unchanged(model, before)
    expected = logits[torch.arange(5), torch.tensor([0, 1, 0, 1, 0])].numpy()
    # up to the sum and product rules' stabiliser (1e-6 in each denominator)
    np.testing.assert_allclose(relevance.sum(axis=(1, 2)), expected, rtol=1e-3, atol=1e-5)


def test_a_constant_scale_passes_relevance_unchanged() -> None:
    """0.5 * h halves the logit of a bias-free ReLU net, so the z-rule map halves too (not quarters)."""
    x = torch.randn(3, 2, 8, generator=torch.Generator().manual_seed(2))
    plain = explain(_Between("none").eval(), x, "lrp_z", target_class=1)
    halved = explain(_Between("scalar").eval(), x, "lrp_z", target_class=1)
    assert np.abs(plain).sum() > 0
    # 1e-3: the product rule's stabiliser (1e-6) where the scaled value is near 0; a quarter is 0.5 off
    assert np.linalg.norm(halved - 0.5 * plain) / np.linalg.norm(0.5 * plain) < 1e-3


class _ConvThen(nn.Module):
    """conv -> ReLU -> ``middle`` -> linear: one functional operation to refuse."""

    def __init__(self, middle: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.middle = middle
        self.conv = nn.Conv1d(2, 4, 3, padding=1)
        self.fc = nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.middle(torch.relu(self.conv(x))).flatten(1))


@pytest.mark.parametrize(
    "divide", [lambda h: 1.0 / (h + 1.0), lambda h: torch.reciprocal(h + 2.0), lambda h: (h**2 + 1.0).rsqrt()]
)
def test_dividing_by_an_input_dependent_tensor_is_an_error(
    divide: Callable[[torch.Tensor], torch.Tensor],
) -> None:
    model = _ConvThen(divide).eval()
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match="divides by an input-dependent tensor"):
        explain(model, torch.randn(2, 2, 8), "lrp_epsilon_0_1", target_class=0)
    assert_unchanged(model, before)


def _into_constant(h: torch.Tensor) -> torch.Tensor:
    k = torch.ones_like(h).detach()
    k.mul_(h)
    return k


def test_an_in_place_product_into_a_constant_is_an_error() -> None:
    """k.mul_(h) with a constant k: the product's relevance would have no path back to h."""
    with pytest.raises(UnsupportedModelError, match="multiplies a constant tensor in place"):
        explain(_ConvThen(_into_constant).eval(), torch.randn(2, 2, 8), "lrp_z", target_class=0)


NORMALISATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "layer_norm": lambda h: F.layer_norm(h, h.shape[-1:]),
    "normalize": lambda h: F.normalize(h, dim=1),
    "group_norm": lambda h: F.group_norm(h, 2),
}


@pytest.mark.parametrize("normalise", list(NORMALISATIONS))
def test_a_functional_normalisation_is_an_error(normalise: str) -> None:
    model = _ConvThen(NORMALISATIONS[normalise]).eval()
    with pytest.raises(UnsupportedModelError, match=f"by their own statistics \\({normalise}\\)"):
        explain(model, torch.randn(2, 2, 8), "lrp_epsilon_0_1", target_class=0)
    assert np.isfinite(explain(model, torch.randn(2, 2, 8), "gradient", target_class=0)).all()


STATISTICS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    # statistics pooling (mean and standard deviation over time), as in x-vector-style models
    "std": lambda h: torch.cat([h.mean(-1), h.std(-1)], dim=1).repeat(1, 4),
    "norm": lambda h: h / 1.0 + h.norm(dim=-1, keepdim=True),
    "logsumexp": lambda h: h.logsumexp(-1, keepdim=True).expand_as(h),
}


@pytest.mark.parametrize("statistic", list(STATISTICS))
def test_a_nonlinear_statistic_of_the_signal_is_an_error(statistic: str) -> None:
    model = _ConvThen(STATISTICS[statistic]).eval()
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match=f"computes {statistic} of input-dependent values"):
        explain(model, torch.randn(2, 2, 8), "lrp_epsilon_0_1", target_class=0)
    assert_unchanged(model, before)
    assert np.isfinite(explain(model, torch.randn(2, 2, 8), "gradient", target_class=0)).all()


class _FixedFilterFirst(nn.Module):
    """A fixed derivative filter (a buffer, ``F.conv1d``) before a learned conv net."""

    def __init__(self, functional: bool) -> None:
        super().__init__()
        kernel = torch.tensor([[[-1.0, 0.0, 1.0]], [[1.0, 2.0, 1.0]]])
        self.functional = functional
        self.register_buffer("kernel", kernel)
        self.filter = nn.Conv1d(1, 2, 3, padding=1, bias=False)
        self.filter.weight.data.copy_(kernel)
        self.net = nn.Sequential(
            nn.Conv1d(2, 4, 5, padding=2, bias=False),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * 16, 3, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.conv1d(x, self.kernel, padding=1) if self.functional else self.filter(x)
        return self.net(h)


def test_a_functional_conv_with_a_fixed_kernel_takes_the_z_rule_like_a_conv_module() -> None:
    """Before, ``F.conv1d`` outside a Conv module passed the gradient: the map did not conserve."""
    torch.manual_seed(0)
    functional, module = _FixedFilterFirst(True).eval(), _FixedFilterFirst(False).eval()
    module.net.load_state_dict(functional.net.state_dict())
    x = torch.randn(3, 1, 16)
    torch.testing.assert_close(functional(x), module(x))
    before = snapshot(functional)
    ours = explain(functional, x, "lrp_z", target_class=[0, 1, 2])
    np.testing.assert_allclose(
        ours, explain(module, x, "lrp_z", target_class=[0, 1, 2]), rtol=1e-4, atol=1e-6
    )
    logits = functional(x).detach()[torch.arange(3), torch.tensor([0, 1, 2])].numpy()
    np.testing.assert_allclose(ours.reshape(3, -1).sum(1), logits, rtol=1e-4)
    assert_unchanged(functional, before)


def test_a_functional_linear_with_input_dependent_weights_is_an_error() -> None:
    class _SelfWeighted(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.fc(x)
            return F.linear(h, h)

    with pytest.raises(UnsupportedModelError, match="linear with input-dependent weights"):
        explain(_SelfWeighted().eval(), torch.randn(2, 4), "lrp_z", target_class=0)


class _SEResNet1d(nn.Module):
    """A 1D residual block with squeeze-and-excitation (as in SE-ResNet ECG classifiers).

    With ``gate`` given, the excitation is that constant tensor instead of being computed.
    """

    def __init__(self, bias: bool = True) -> None:
        super().__init__()
        self.stem = nn.Conv1d(2, 8, 5, padding=2, bias=bias)
        self.conv = nn.Conv1d(8, 8, 3, padding=1, bias=bias)
        self.squeeze = nn.Linear(8, 4, bias=bias)
        self.excite = nn.Linear(4, 8, bias=bias)
        self.head = nn.Linear(8, 3, bias=bias)
        self.gate: torch.Tensor | None = None

    def excitation(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.excite(torch.relu(self.squeeze(h.mean(-1)))))[:, :, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.stem(x))
        r = torch.relu(self.conv(h))
        # a frozen gate is per sample of one batch (LRP's structure probe runs its first sample)
        gate = self.excitation(r) if self.gate is None else self.gate[: len(x)]
        h = torch.relu(h + r * gate)
        return self.head(h.mean(-1))


@pytest.mark.parametrize(
    "method", ["lrp_epsilon_0_1", "lrpsign_epsilon_0_1_std_x", "lrp_alpha_1_beta_0", "w2lrp_z"]
)
@pytest.mark.parametrize("length", [24, 1])  # on one sample the gate has the signal's shape
def test_gates_signal_holds_a_squeeze_excitation_gate_constant(method: str, length: int) -> None:
    """The map equals that of the same net with the gate frozen to its value on this batch."""
    torch.manual_seed(0)
    model = _SEResNet1d().eval()
    x = torch.randn(3, 2, length)
    frozen = _SEResNet1d().eval()
    frozen.load_state_dict(model.state_dict())
    with torch.no_grad():
        frozen.gate = model.excitation(torch.relu(model.conv(torch.relu(model.stem(x)))))
    torch.testing.assert_close(model(x), frozen(x))
    before = snapshot(model)
    ours = explain(model, x, method, target_class=[0, 1, 2], gates="signal")
    np.testing.assert_allclose(ours, explain(frozen, x, method, target_class=[0, 1, 2]), rtol=1e-5, atol=1e-7)
    assert_unchanged(model, before)


def test_gates_signal_conserves_and_the_default_names_it() -> None:
    torch.manual_seed(1)
    model = _SEResNet1d(bias=False).eval()
    x = torch.randn(2, 2, 24)
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match=r"shape \(1, 8, 1\).*gates='signal'"):
        explain(model, x, "lrp_z", target_class=0)
    assert_unchanged(model, before)
    relevance = explain(model, x, "lrp_z", target_class=0, gates="signal")
    np.testing.assert_allclose(relevance.reshape(2, -1).sum(1), model(x)[:, 0].detach().numpy(), rtol=1e-4)


def test_gates_signal_refuses_a_product_where_neither_factor_is_a_gate() -> None:
    class _Glu(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.out = nn.Linear(4, 6), nn.Linear(4, 6), nn.Linear(6, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.a(x) * torch.sigmoid(self.b(x)))

    with pytest.raises(UnsupportedModelError, match="neither is a gate"):
        explain(_Glu().eval(), torch.randn(2, 4), "lrp_z", target_class=0, gates="signal")
    with pytest.raises(ValueError, match="gates"):
        explain(_Glu().eval(), torch.randn(2, 4), "lrp_z", target_class=0, gates="constant")


class _GatedConv(nn.Module):
    """A gated convolution (nn.GLU over the channels), as in gated TCN/WaveNet-style ECG models.

    With ``gate`` given, the GLU's gate is that constant tensor instead of sigmoid(b).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 8, 5, padding=2)
        self.glu = nn.GLU(dim=1)
        self.head = nn.Linear(4 * 12, 3)
        self.gate: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        if self.gate is None:
            g = self.glu(h)
        else:
            g = h[:, :4] * self.gate[: len(x)]
        return self.head(torch.relu(g).flatten(1))


@pytest.mark.parametrize("method", ["lrp_epsilon_0_1", "lrpsign_epsilon_0_1", "lrp_alpha_1_beta_0"])
def test_gates_signal_holds_a_glu_gate_and_the_default_names_it(method: str) -> None:
    torch.manual_seed(5)
    model = _GatedConv().eval()
    x = torch.randn(3, 2, 12)
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match="GLU.*gates='signal'"):
        explain(model, x, method, target_class=0)
    assert_unchanged(model, before)
    frozen = _GatedConv().eval()
    frozen.load_state_dict(model.state_dict())
    with torch.no_grad():
        frozen.gate = torch.sigmoid(model.conv(x)[:, 4:])
    torch.testing.assert_close(model(x), frozen(x))
    ours = explain(model, x, method, target_class=[0, 1, 2], gates="signal")
    np.testing.assert_allclose(ours, explain(frozen, x, method, target_class=[0, 1, 2]), rtol=1e-5, atol=1e-7)
    assert_unchanged(model, before)


class _HandWritten(nn.Module):
    """A conv, then a parameter of the module itself used as a per-channel scale (``'scale'``) or
    as the weights of a layer written by hand, directly or through computations."""

    def __init__(self, use: str) -> None:
        super().__init__()
        self.use = use
        self.conv = nn.Conv1d(2, 4, 3, padding=1)
        self.scale = nn.Parameter(torch.rand(1, 4, 1) + 0.5)
        self.weights = nn.Parameter(torch.randn(4 * 8, 3))
        self.head = nn.Linear(4 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x))
        if self.use == "scale":
            return self.head((h * self.scale).flatten(1))
        if self.use == "direct":
            return h.flatten(1) @ self.weights
        return h.flatten(1) @ (2.0 * self.weights.t()).t()


def test_a_parameter_as_a_scale_is_a_constant_but_as_the_weights_of_a_layer_is_an_error() -> None:
    torch.manual_seed(6)
    x = torch.randn(2, 2, 8)
    scaled = _HandWritten("scale").eval()
    relevance = explain(scaled, x, "lrp_epsilon_0_1", target_class=1)
    frozen = _HandWritten("scale").eval()
    frozen.load_state_dict(scaled.state_dict())
    del frozen.scale
    frozen.register_buffer("scale", scaled.scale.detach().clone())  # the same scale as a constant
    np.testing.assert_allclose(relevance, explain(frozen, x, "lrp_epsilon_0_1", target_class=1), rtol=1e-6)
    for use in ("direct", "derived"):
        model = _HandWritten(use).eval()
        before = snapshot(model)
        with pytest.raises(UnsupportedModelError, match="weights of a layer written by hand"):
            explain(model, x, "lrp_alpha_1_beta_0", target_class=1)
        assert_unchanged(model, before)


@pytest.mark.parametrize("form", list(SELF_GATED))
@pytest.mark.parametrize(
    "method", ["lrp_epsilon_0_1", "lrpsign_epsilon_0_5", "lrp_alpha_1_beta_0", "w2lrp_z"]
)
def test_an_activation_written_as_a_product_equals_its_module(form: str, method: str) -> None:
    written, module = SELF_GATED[form]
    torch.manual_seed(2)
    reference = SelfGated(module).eval()
    model = SelfGated(module, written).eval()
    model.load_state_dict(reference.state_dict())
    x = torch.randn(3, 2, 32)
    torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-6)
    before = snapshot(model)
    ours = explain(model, x, method, target_class=[0, 1, 2])
    expected = explain(reference, x, method, target_class=[0, 1, 2])
    # a constant scale after the product (``/ 6``) takes the z-rule, whose 1e-6 stabiliser moves
    # the relevance of outputs near 0 slightly (2.5e-5 of the largest in float64)
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())
    assert_unchanged(model, before)


@pytest.mark.parametrize(
    "written",
    [
        lambda m, h: h * torch.sigmoid(m.conv2(h)),  # the gate is computed by a layer: a gating
        lambda m, h: h * torch.sigmoid(h.flip(-1)),  # not elementwise in h
        lambda m, h: h[:, :2].repeat(1, 2, 1) * torch.sigmoid(h),  # two different tensors
    ],
)
def test_a_product_with_a_gate_that_is_not_an_elementwise_function_of_the_signal_stays_an_error(
    written: Callable,
) -> None:
    model = SelfGated(nn.SiLU, written).eval()
    with pytest.raises(UnsupportedModelError, match="multiplies two input-dependent tensors"):
        explain(model, torch.randn(2, 2, 32), "lrp_epsilon_0_1", target_class=0)


class _FrontEnd(nn.Module):
    """An operation on the input before a conv, then a linear head."""

    def __init__(self, op: Callable[[torch.Tensor], torch.Tensor], length: int, bias: bool = True) -> None:
        super().__init__()
        self.op = op
        self.conv = nn.Conv1d(1, 4, 3, padding=1, bias=bias)
        self.fc = nn.Linear(4 * length, 2, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(self.op(x))).flatten(1))


@pytest.mark.parametrize(
    ("op", "length", "match"),
    [
        (lambda x: torch.fft.rfft(x, dim=-1).abs(), 9, "fft_rfft to input-dependent values, a spectral"),
        (
            lambda x: torch.view_as_real(torch.fft.fft(x, dim=-1))[..., 0],
            16,
            "fft_fft to input-dependent values, a spectral",
        ),
        (
            lambda x: (
                torch.stft(
                    x.flatten(1), n_fft=8, hop_length=4, window=torch.hann_window(8), return_complex=True
                )
                .abs()
                .reshape(x.shape[0], 1, -1)
            ),
            25,
            "stft to input-dependent values, a spectral",
        ),
        (lambda x: 2.0 * torch.sign(x), 16, "sign to input-dependent values, a step function"),
        (lambda x: x.round(), 16, "round to input-dependent values, a step function"),
        (lambda x: torch.cumprod(1 + 0.1 * x, -1), 16, "cumprod to input-dependent values, a nonlinear"),
        (lambda x: torch.atan2(x, x.roll(1, -1)), 16, "atan2 to input-dependent values, a nonlinear"),
        (lambda x: torch.lerp(x, x.roll(1, -1), 0.3), 16, "lerp to input-dependent values, a nonlinear"),
        (lambda x: torch.remainder(x, 1.0), 16, "remainder to input-dependent values, a nonlinear"),
    ],
)
def test_operations_without_an_lrp_rule_are_errors_not_gradient_maps(
    op: Callable[[torch.Tensor], torch.Tensor], length: int, match: str
) -> None:
    """Spectral transforms, step functions and other nonlinear functions passed the plain
    gradient before: maps that conserved nothing (a step function's: all zeros), silently."""
    torch.manual_seed(0)
    model = _FrontEnd(op, length).eval()
    x = torch.randn(2, 1, 16)
    with pytest.raises(UnsupportedModelError, match=match):
        explain(model, x, "lrp_epsilon_0_1", target_class=1)
    assert explain(model, x, "gradient", target_class=1).shape == x.shape


OTHER_NAMES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    # torch's other names for products, divisions, sums and activations are functions of their own:
    # each passed the plain gradient before (between two layers of a bias-free net, relevance sums
    # of 0.56 to 25 times the logit)
    "multiply": lambda x: torch.multiply(x, 0.5),
    "Tensor.multiply": lambda x: x.multiply(3.0),
    "divide": lambda x: torch.divide(x, 2.0),
    "true_divide": lambda x: torch.true_divide(x, 2.0),
    "inner": lambda x: torch.inner(x.transpose(1, 2), torch.tensor([[2.0]])).transpose(1, 2),
    "vecdot": lambda x: torch.linalg.vecdot(torch.stack([x, x.roll(1, -1)], -1), torch.tensor([0.5, 1.5])),
    "nansum": lambda x: torch.nansum(torch.stack([x, x.roll(1, -1)]), 0),
    "nanmean": lambda x: torch.nanmean(torch.stack([x, 3 * x]), 0),
    "trapezoid": lambda x: torch.trapezoid(torch.stack([x, 2 * x], -1), dx=0.5, dim=-1),
    "expit": lambda x: torch.special.expit(x),
    "clamp_min": lambda x: torch.clamp_min(x, -0.5),
    "sinh": lambda x: torch.sinh(0.5 * x),
    # moves under less common names (each an error while missing from the whitelist)
    "moveaxis": lambda x: torch.moveaxis(x, 1, 2).moveaxis(2, 1),
    "ravel": lambda x: x.ravel().reshape(x.shape),
    "broadcast_tensors": lambda x: torch.broadcast_tensors(x, torch.zeros(1, 1, 16))[0],
    "channel_shuffle": lambda x: F.channel_shuffle(torch.cat([x, -x], 1), 2)[:, :1],
}


@pytest.mark.parametrize("name", list(OTHER_NAMES))
def test_other_names_of_the_same_operations_take_their_rules(name: str) -> None:
    torch.manual_seed(0)
    model = _FrontEnd(OTHER_NAMES[name], 16, bias=False).eval()
    assert_conserves(model, torch.randn(3, 1, 16), 1, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize(
    ("op", "match"),
    [
        # any operation LRP has no rule for is an error now, not the plain gradient: index_add
        # sums its sources (and scales them by alpha); grid_sample interpolates
        (lambda x: torch.zeros_like(x).index_add(-1, torch.arange(16), x, alpha=2.0), "applies index_add"),
        (
            lambda x: F.grid_sample(
                x[:, :, None], torch.zeros(x.shape[0], 1, 16, 2) + 0.1, align_corners=False
            )[:, :, 0],
            "applies grid_sample to input-dependent values; LRP has no rule",
        ),
        (lambda x: torch.linalg.multi_dot([x[0], torch.ones(16, 16)])[None], "linalg_multi_dot of a list"),
        (lambda x: torch.multiply(x, x.roll(1, -1)), r"multiplies two input-dependent tensors \(multiply"),
        (lambda x: torch.quantile(x, 0.3, dim=-1, keepdim=True).expand_as(x), "quantile to input-dependent"),
    ],
    ids=["index_add", "grid_sample", "multi_dot", "multiply_two", "quantile"],
)
def test_an_operation_without_a_rule_is_an_error_whatever_it_is(
    op: Callable[[torch.Tensor], torch.Tensor], match: str
) -> None:
    torch.manual_seed(0)
    model = _FrontEnd(op, 16).eval()
    x = torch.randn(1, 1, 16)
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match=match):
        explain(model, x, "lrp_epsilon_0_1", target_class=1)
    assert_unchanged(model, before)
    assert explain(model, x, "gradient", target_class=1).shape == x.shape


@pytest.mark.parametrize(
    "op",
    [
        lambda x: torch.tan(0.3 * x),
        lambda x: torch.log2(x.abs() + 1),
        lambda x: torch.logit(torch.sigmoid(x)),
        lambda x: F.prelu(x, torch.tensor([0.2])),
        lambda x: F.softshrink(x),
        lambda x: F.threshold(x, 0.1, -1.0),
        lambda x: torch.maximum(x, torch.tensor(0.3)),
        lambda x: torch.minimum(x, torch.tensor(0.3)),
        lambda x: torch.maximum(x, x.roll(1, -1)),
    ],
    ids=["tan", "log2", "logit", "prelu", "softshrink", "threshold", "max_c", "min_c", "max_of_two"],
)
def test_more_elementwise_functions_pass_relevance_as_activations(
    op: Callable[[torch.Tensor], torch.Tensor],
) -> None:
    """Elementwise functions written out pass relevance on (the plain gradient scaled it before:
    not conserved); max/min with a constant too, and of two input-dependent tensors the gradient
    routes relevance to the larger one, as max pooling does. Bias-free: the z-rule conserves."""
    torch.manual_seed(0)
    model = _FrontEnd(op, 16, bias=False).eval()
    assert_conserves(model, torch.randn(3, 1, 16), 1, rtol=1e-3, atol=1e-5)


class _GradientReversal(torch.autograd.Function):
    """The identity forward, the gradient's negative backward (domain-adversarial training)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return -grad


@pytest.mark.parametrize("method", ["lrp_epsilon_0_1", "lrpsign_z", "deeplift"])
def test_a_custom_autograd_function_in_the_model_is_an_error(method: str) -> None:
    """Its backward stood in for the rules: a gradient-reversal layer negated every map."""
    torch.manual_seed(0)
    model = _FrontEnd(_GradientReversal.apply, 16).eval()
    x = torch.randn(2, 1, 16)
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match=r"custom autograd Function .*_GradientReversal"):
        explain(model, x, method, target_class=1)
    assert_unchanged(model, before)
    assert explain(model, x, "gradient", target_class=1).shape == x.shape


class _WaitsInside(nn.Conv1d):
    """A conv layer whose forward, run in another thread, stops inside the layer until released."""

    def __init__(self, inside: Any, release: Any) -> None:
        super().__init__(4, 4, 3)
        self.inside, self.release = inside, release

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        self.inside.set()
        self.release.wait(30)
        return super().forward(h)


class _StartsAnotherForward(nn.Module):
    """Functional operations LRP has rules for (a mean, a sum), between conv layers; ``pause``
    runs at the start of each forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU())
        self.b = nn.Sequential(nn.Conv1d(4, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 12, 2))
        self.pause: Callable[[], None] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pause is not None:
            self.pause()
        h = self.a(x)
        h = torch.cat([h[..., :7].mean(-1, keepdim=True).expand(-1, -1, 7), h[..., 7:] + h[..., 7:]], -1)
        return self.b(h)


@pytest.mark.parametrize("method", ["lrp_epsilon_0_1", "lrp_z", "lrpsign_epsilon_0_1", "lrp_alpha_1_beta_0"])
def test_another_threads_forward_pass_does_not_enter_this_threads_lrp(method: str) -> None:
    """LRP's module hooks are global: before, a forward pass of another model that another thread
    was running (here stopped inside a conv layer) counted as this pass's layer, and this pass's
    sum and mean were then passed by their gradient: maps off by up to 10 % of their largest value."""
    import threading

    torch.manual_seed(0)
    inside, release = threading.Event(), threading.Event()
    other = nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(), _WaitsInside(inside, release), nn.Flatten())
    model = _StartsAnotherForward().eval()
    x = torch.randn(3, 1, 16)
    expected = explain(model, x, method, 0)  # the model's checks are done: its next pass is LRP's
    started: list[threading.Thread] = []

    def start_the_other() -> None:
        if not started:
            started.append(threading.Thread(target=lambda: other(torch.randn(2, 1, 16))))
            started[0].start()
            assert inside.wait(30)

    model.pause = start_the_other
    try:
        got = explain(model, x, method, 0)
    finally:
        release.set()
        for thread in started:
            thread.join(30)
    assert started and not started[0].is_alive()
    np.testing.assert_array_equal(got, expected)
