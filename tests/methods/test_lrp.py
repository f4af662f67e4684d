"""LRP and SIGN: agreement with zennit's composites, a hand-written LRP, conservation, errors."""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from zennit.attribution import Gradient
from zennit.canonizers import NamedMergeBatchNorm, SequentialMergeBatchNorm
from zennit.composites import EpsilonAlpha2Beta1, LayerMapComposite, SpecialFirstLayerMapComposite
from zennit.layer import Sum
from zennit.rules import AlphaBeta, Epsilon, Flat, Gamma, Norm, Pass, WSquare, ZBox, ZPlus
from zennit.types import Activation, AvgPool, BatchNorm, Convolution
from zennit.types import Linear as AnyLinear

from models import (
    ARCHITECTURES,
    BatchStatistics,
    ECGModel,
    PreActivationResNet1D,
    ResNet1D,
    assert_conserves,
    assert_same_maps,
    assert_unchanged,
    build,
    random_residual,
    random_sequential,
    randomize_batch_norm,
    rel_error,
    snapshot,
)
from signxai import MethodParameterError, UnsupportedModelError, explain, list_methods
from signxai.methods import lrp_graph

TARGETS = {"ecg": [1, 1, 1], "ecg_beat": [0, 3, 4], "resnet": [1, 4, 0], "cnn2d": [3, 0, 2]}


def _reference_model(arch: str, model: nn.Module) -> tuple[nn.Module, list]:
    """The same function for zennit's direct use: logits out, residual sums as zennit Sum."""
    if arch == "resnet":
        twin = ResNet1D(sum_module=True)
        twin.load_state_dict(model.state_dict())
        return twin.eval(), [NamedMergeBatchNorm(twin.batch_norm_names())]
    twin = copy.deepcopy(model)
    for container in twin.modules():
        if isinstance(container, nn.Sequential) and isinstance(container[-1], (nn.Sigmoid, nn.Softmax)):
            container[-1] = nn.Identity()
    return twin.eval(), [SequentialMergeBatchNorm()]


def _zennit(model: nn.Module, composite: object, x: torch.Tensor, target: list[int]) -> torch.Tensor:
    with torch.no_grad():
        classes = model(x).shape[1]
    index = torch.tensor(target if classes > 1 else [0] * len(x))
    with Gradient(model=model, composite=composite) as attributor:
        _, relevance = attributor(x, lambda out: F.one_hot(index, classes).to(out) * out)
    return relevance


def _base_map(rule: object) -> list:
    return [(Activation, Pass()), (AvgPool, Norm()), (Sum, Norm()), (Convolution, rule), (AnyLinear, rule)]


COMPOSITES = {
    "lrp_epsilon_0_1": lambda c, x: LayerMapComposite(_base_map(Epsilon(0.1)), canonizers=c),
    "lrp_epsilon_1": lambda c, x: LayerMapComposite(_base_map(Epsilon(1.0)), canonizers=c),
    "lrp_alpha_2_beta_1": lambda c, x: LayerMapComposite(_base_map(AlphaBeta(2.0, 1.0)), canonizers=c),
    "lrp_alpha_1_beta_0": lambda c, x: LayerMapComposite(_base_map(AlphaBeta(1.0, 0.0)), canonizers=c),
    "lrp_zplus": lambda c, x: LayerMapComposite(_base_map(ZPlus()), canonizers=c),
    "lrp_gamma_0_25": lambda c, x: LayerMapComposite(_base_map(Gamma(0.25)), canonizers=c),
    "lrp_gamma_2": lambda c, x: LayerMapComposite(_base_map(Gamma(2.0)), canonizers=c),
    "flatlrp_gamma_0_5": lambda c, x: SpecialFirstLayerMapComposite(
        _base_map(Gamma(0.5)), [(Convolution, Flat()), (AnyLinear, Flat())], canonizers=c
    ),
    "lrp_sequential_composite_b": lambda c, x: EpsilonAlpha2Beta1(epsilon=0.1, canonizers=c),
    "flatlrp_epsilon_0_1": lambda c, x: SpecialFirstLayerMapComposite(
        _base_map(Epsilon(0.1)), [(Convolution, Flat()), (AnyLinear, Flat())], canonizers=c
    ),
    "w2lrp_alpha_1_beta_0": lambda c, x: SpecialFirstLayerMapComposite(
        _base_map(AlphaBeta(1.0, 0.0)),
        [(Convolution, WSquare(zero_params=["bias"])), (AnyLinear, WSquare(zero_params=["bias"]))],
        canonizers=c,
    ),
    "zblrp_epsilon_0_1": lambda c, x: SpecialFirstLayerMapComposite(
        _base_map(Epsilon(0.1)), [(Convolution, ZBox(-3.0, 3.0)), (AnyLinear, ZBox(-3.0, 3.0))], canonizers=c
    ),
}


def _assert_equals_zennit(
    model: nn.Module,
    twin: nn.Module,
    x: torch.Tensor,
    target: list[int],
    method: str,
    mode: str,
    batch_norm_rule: object,
    rule: object,
    context: str,
) -> None:
    """``method`` under ``batchnorm=mode`` equals zennit's composite (``rule`` on Conv/Linear,
    ``batch_norm_rule`` on the BatchNorms its canonizer does not merge) on ``twin`` to 1e-6."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # under 'merge' the BatchNorms that cannot be merged are named
        ours = explain(model, x, method, target, batchnorm=mode)
    layer_map = [(BatchNorm, batch_norm_rule), *_base_map(rule)]
    composite = LayerMapComposite(layer_map, canonizers=[SequentialMergeBatchNorm()])
    expected = _zennit(copy.deepcopy(twin), composite, x, target)
    assert rel_error(torch.as_tensor(ours, dtype=torch.float64), expected) < 1e-6, (mode, method, context)


@pytest.mark.parametrize("seed", range(24))
def test_batchnorm_pass_equals_zennits_composites_on_random_cnns(seed: int) -> None:
    """``batchnorm="pass"`` is zennit's composites (Pass on BatchNorms and activations, the
    BatchNorm canonizer) on random Sequential CNNs: BatchNorms on the input, after activations,
    in the head after pooling and after a hidden Linear; strides, dilations, groups, padded and
    ceil-mode pooling, ReLU/LeakyReLU/ELU. Before, ``'pass'`` merged a BatchNorm into the
    Linear/unpadded Conv it feeds and let a ReLU's gradient drop the relevance that reached its
    zeros through a pooling: 14 of these 24 were off, by up to 2.3 times the map (relative L2)."""
    model, x, layers = random_sequential(seed)
    with torch.no_grad():
        target = model(x).argmax(1).tolist()
    rules = {
        "lrp_epsilon_0_1": Epsilon(0.1),
        "lrp_alpha_1_beta_0": AlphaBeta(1.0, 0.0),
        "lrp_alpha_2_beta_1": AlphaBeta(2.0, 1.0),
        "lrp_gamma_0_25": Gamma(0.25),
    }
    for method, rule in rules.items():
        _assert_equals_zennit(model, model, x, target, method, "pass", Pass(), rule, layers)


@pytest.mark.parametrize("seed", range(24))
def test_batchnorm_merge_equals_zennit_with_the_unmerged_as_z_layers_on_random_cnns(seed: int) -> None:
    """The default ``merge`` on the same random CNNs: zennit's composite with its canonizer and
    the z-rule (Epsilon(1e-12)) on every BatchNorm it does not merge. Under the epsilon rule a
    BatchNorm merged into the layer it feeds (from its input side) gives the same map as that
    z-rule followed by the layer's rule, so the two agree everywhere."""
    model, x, layers = random_sequential(seed)
    with torch.no_grad():
        target = model(x).argmax(1).tolist()
    for epsilon, method in ((0.1, "lrp_epsilon_0_1"), (1.0, "lrp_epsilon_1")):
        _assert_equals_zennit(
            model, model, x, target, method, "merge", Epsilon(1e-12), Epsilon(epsilon), layers
        )


@pytest.mark.parametrize("seed", range(12))
def test_both_batchnorm_modes_equal_zennit_on_random_residual_cnns(seed: int) -> None:
    """Random residual, pre-activation and concatenation blocks with the additions written in
    ``forward`` (zennit's twin: the same weights, the additions as its ``Sum``, Norm rule): under
    ``'pass'`` zennit's composites, under ``'merge'`` the same with the z-rule on the BatchNorms
    zennit does not merge (pre-activation ones, after a residual sum)."""
    model, twin, x, blocks = random_residual(seed)
    with torch.no_grad():
        target = model(x).argmax(1).tolist()
    cases = [
        ("pass", "lrp_epsilon_0_1", Pass(), Epsilon(0.1)),
        ("pass", "lrp_alpha_1_beta_0", Pass(), AlphaBeta(1.0, 0.0)),
        ("merge", "lrp_epsilon_0_1", Epsilon(1e-12), Epsilon(0.1)),
    ]
    for mode, method, batch_norm_rule, rule in cases:
        _assert_equals_zennit(model, twin, x, target, method, mode, batch_norm_rule, rule, blocks)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("method", list(COMPOSITES))
def test_lrp_agrees_with_zennit_composites(arch: str, method: str) -> None:
    model, x = build(arch)
    reference_model, canonizers = _reference_model(arch, model)
    expected = _zennit(reference_model, COMPOSITES[method](canonizers, x), x, TARGETS[arch])
    extra = {"low": -3.0, "high": 3.0} if method.startswith("zblrp") else {}
    ours = explain(model, x, method, target_class=TARGETS[arch], **extra)
    assert rel_error(ours, expected) < 1e-4


def test_sequential_composite_a_is_epsilon_on_linear_and_alpha1_beta0_on_conv() -> None:
    model, x = build("ecg")
    reference_model, canonizers = _reference_model("ecg", model)
    composite = LayerMapComposite(
        [(Activation, Pass()), (Convolution, AlphaBeta(1.0, 0.0)), (AnyLinear, Epsilon(0.1))],
        canonizers=canonizers,
    )
    expected = _zennit(reference_model, composite, x, TARGETS["ecg"])
    assert rel_error(explain(model, x, "lrp_sequential_composite_a", target_class=1), expected) < 1e-4


# ----------------------------------------------------------------- a hand-written LRP
def _denominator(z: torch.Tensor, rule: str, epsilon: float, a: torch.Tensor) -> torch.Tensor:
    if rule == "z":
        return torch.where(z == 0, torch.full_like(z, 1e-7), z)
    if rule == "std_x":
        epsilon = epsilon * a.flatten(1).std(dim=1, unbiased=False).view(-1, *[1] * (z.ndim - 1))
    return z + torch.where(z >= 0, 1.0, -1.0) * epsilon


def explicit_lrp(
    model: nn.Sequential,
    x: torch.Tensor,
    target: int,
    rule: str,
    epsilon: float = 0.0,
    first: str = "same",
    mu: float = 0.0,
) -> torch.Tensor:
    """LRP written out layer by layer: Linear/Conv1d/ReLU/MaxPool1d/Flatten only."""
    activations = [x]
    indices = {}
    for i, layer in enumerate(model):
        if isinstance(layer, nn.MaxPool1d):
            out, indices[i] = F.max_pool1d(
                activations[-1], layer.kernel_size, layer.stride, return_indices=True
            )
        else:
            out = layer(activations[-1])
        activations.append(out)
    logits = activations[-1]
    relevance = torch.zeros_like(logits)
    relevance[:, target] = logits[:, target]
    weighted = [i for i, layer in enumerate(model) if isinstance(layer, (nn.Linear, nn.Conv1d))]
    for i in reversed(range(len(model))):
        layer, a = model[i], activations[i]
        if isinstance(layer, nn.ReLU):
            continue
        if isinstance(layer, nn.Flatten):
            relevance = relevance.reshape(a.shape)
        elif isinstance(layer, nn.MaxPool1d):
            relevance = F.max_unpool1d(
                relevance, indices[i], layer.kernel_size, layer.stride, output_size=a.shape[2:]
            )
        else:
            is_first = i == weighted[0]
            this_rule = "z" if is_first and first in ("sign", "z") else rule
            s = relevance / _denominator(activations[i + 1], this_rule, epsilon, a)
            if isinstance(layer, nn.Linear):
                c = s @ layer.weight
            else:
                c = F.conv_transpose1d(
                    s, layer.weight, stride=layer.stride, padding=layer.padding, dilation=layer.dilation
                )
                c = F.pad(c, (0, a.shape[2] - c.shape[2]))
            factor = torch.where(a >= mu, 1.0, -1.0) if is_first and first == "sign" else a
            relevance = factor * c
    return relevance


def _sequential(seed: int, bias: bool = True) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv1d(2, 6, 5, padding=2, bias=bias),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(6, 8, 3, bias=bias),
        nn.ReLU(),
        nn.MaxPool1d(3),
        nn.Flatten(),
        nn.Linear(8 * 6, 10, bias=bias),
        nn.ReLU(),
        nn.Linear(10, 3, bias=bias),
    ).eval()


@pytest.mark.parametrize(
    ("method", "rule", "epsilon", "first", "mu"),
    [
        ("lrp_z", "z", 0.0, "same", 0.0),
        ("lrp_epsilon_0_1", "epsilon", 0.1, "same", 0.0),
        ("lrp_epsilon_2", "epsilon", 2.0, "same", 0.0),
        ("lrp_epsilon_0_25_std_x", "std_x", 0.25, "same", 0.0),
        ("lrpsign_z", "z", 0.0, "sign", 0.0),
        ("lrpsign_epsilon_0_5", "epsilon", 0.5, "sign", 0.0),
        ("lrpsign_epsilon_0_25_std_x", "std_x", 0.25, "sign", 0.0),
        ("lrpsign_epsilon_1_mu_0_5", "epsilon", 1.0, "sign", 0.5),
        ("lrpsign_epsilon_0_1_std_x_mu_neg_0_5", "std_x", 0.1, "sign", -0.5),
        ("lrpz_epsilon_0_5", "epsilon", 0.5, "z", 0.0),
        ("lrpz_epsilon_1_std_x", "std_x", 1.0, "z", 0.0),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_lrp_agrees_with_a_hand_written_layer_by_layer_lrp(
    method: str, rule: str, epsilon: float, first: str, mu: float, seed: int
) -> None:
    model = _sequential(seed)
    x = torch.randn(4, 2, 40)
    x[0, 0, :4] = 0.0
    for target in (0, 2):
        expected = explicit_lrp(model, x, target, rule, epsilon, first, mu)
        ours = explain(model, x, method, target_class=target)
        assert rel_error(ours, expected) < 1e-5


# ----------------------------------------------------------------- properties
def _bias_free_ecg() -> nn.Module:
    torch.manual_seed(3)
    model = ECGModel(num_classes=4, length=400)
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Linear)):
            module.bias = None
    return randomize_batch_norm(model, 3, zero_shift=True).eval()


def _bias_free_resnet() -> nn.Module:
    torch.manual_seed(4)
    return randomize_batch_norm(ResNet1D(bias=False), 4, zero_shift=True).eval()


@pytest.mark.parametrize("factory", [_bias_free_ecg, _bias_free_resnet])
def test_lrp_z_conserves_the_logit_through_merged_batch_norm_and_residuals(factory) -> None:
    model = factory()
    channels = next(m for m in model.modules() if isinstance(m, nn.Conv1d)).in_channels
    x = torch.randn(3, channels, 400)
    before = snapshot(model)
    relevance = explain(model, x, "lrp_z", target_class=[0, 1, 2])
    assert_unchanged(model, before)
    with torch.no_grad():
        if isinstance(model, ECGModel):  # softmax output: compare with the logits behind it
            logits = model.fc[:-1](model.features(x).flatten(1))
        else:
            logits = model(x)
    expected = logits[torch.arange(3), torch.tensor([0, 1, 2])]
    total = torch.as_tensor(relevance).flatten(1).sum(1)
    assert rel_error(total, expected) < 1e-4


def test_lrp_z_equals_gradient_x_input_on_bias_free_relu_nets_without_max_pooling() -> None:
    torch.manual_seed(5)
    plain = nn.Sequential(
        nn.Conv1d(3, 8, 5, bias=False),
        nn.ReLU(),
        nn.Conv1d(8, 8, 3, stride=2, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 27, 16, bias=False),
        nn.ReLU(),
        nn.Linear(16, 4, bias=False),
    ).eval()
    x = torch.randn(2, 3, 60)
    assert (
        rel_error(
            explain(plain, x, "lrp_z", target_class=3), explain(plain, x, "gradient_x_input", target_class=3)
        )
        < 1e-5
    )
    # with residual sums and average pooling, whose proportional rules carry zennit's 1e-6
    # stabiliser, the equality holds up to that stabiliser
    model = _bias_free_resnet()
    x = torch.randn(2, 12, 300)
    assert (
        rel_error(
            explain(model, x, "lrp_z", target_class=3), explain(model, x, "gradient_x_input", target_class=3)
        )
        < 2e-3
    )


def test_sign_on_a_single_layer_equals_the_formula() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(6, 3).eval()
    x = torch.tensor([[1.5, -2.0, 0.0, 0.3, -0.1, 4.0]])
    # R = z at the target; s = z / z = 1, c = W[k], R_in = sign(x) * W[k] with sign(0) = +1
    sign = torch.tensor([[1.0, -1.0, 1.0, 1.0, -1.0, 1.0]])
    for k in range(3):
        expected = sign * linear.weight[k]
        assert rel_error(explain(linear, x, "lrpsign_z", target_class=k), expected) < 1e-6
        assert rel_error(explain(linear, x, "lrpsign_epsilon_10", target_class=k), expected) < 1e-6
        mu = torch.where(x >= 0.5, 1.0, -1.0)
        assert rel_error(explain(linear, x, "lrpsign_z_mu_0_5", target_class=k), mu * linear.weight[k]) < 1e-6
    conv = nn.Conv1d(1, 2, 3, padding=1).eval()
    xc = torch.randn(1, 1, 9)
    z = conv(xc)
    for k in range(2):
        # the explained output here is the k-th flattened value: use a Flatten + Linear selector
        selector = nn.Sequential(conv, nn.Flatten()).eval()
        position = k * 9 + 4
        c = torch.zeros(1, 2, 9)
        c[0, position // 9, position % 9] = 1.0  # s = z / z at the selected unit
        expected = torch.where(xc >= 0, 1.0, -1.0) * F.conv_transpose1d(c, conv.weight, padding=1)
        ours = explain(selector, xc, "lrpsign_z", target_class=position)
        assert rel_error(ours, expected) < 1e-6
        assert z.shape == (1, 2, 9)


def test_sign_epsilon_stabilises_the_sign_layers_denominator() -> None:
    """``sign_epsilon=e``: R_in = sign(x) * W[k] z / (z + e sign(z)) on one layer (a constant e;
    with ``_std_x`` e times the std of each sample's x), and only for the lrpsign_ prefix."""
    torch.manual_seed(0)
    linear = nn.Linear(6, 3).eval()
    x = torch.tensor([[1.5, -2.0, 0.0, 0.3, -0.1, 4.0], [0.2, 0.1, -0.4, 0.0, 0.3, -0.2]])
    z = linear(x).detach()
    sign = torch.where(x >= 0, 1.0, -1.0)
    std = x.std(dim=1, unbiased=False, keepdim=True)
    for k in range(3):
        zk = z[:, k : k + 1]
        for method, epsilon in (("lrpsign_z", 0.7), ("lrpsign_epsilon_0_1_std_x", 0.7 * std)):
            expected = sign * linear.weight[k].detach() * zk / (zk + epsilon * torch.sign(zk))
            ours = explain(linear, x, method, target_class=k, sign_epsilon=0.7)
            assert rel_error(ours, expected) < 1e-6, method
    for method in ("lrp_z", "lrpz_epsilon_0_1", "w2lrp_z"):
        with pytest.raises(MethodParameterError, match="sign_epsilon .* only applies to the lrpsign_"):
            explain(linear, x, method, target_class=0, sign_epsilon=0.1)
    with pytest.raises(MethodParameterError, match="'sign_epsilon' of 'lrpsign_z' must be >= 0.0, got -1"):
        explain(linear, x, "lrpsign_z", target_class=0, sign_epsilon=-1.0)


@settings(max_examples=20, deadline=None)
@given(shift=st.floats(-3.0, 3.0), seed=st.integers(0, 2**16))
def test_sign_mu_is_invariant_to_an_input_shift_that_the_first_bias_undoes(shift: float, seed: int) -> None:
    """Input invariance (Kindermans et al. 2019): f(x + c) = g(x) where f's first layer has bias
    b - W c. SIGN with mu = c explains f at x + c exactly as SIGN with mu = 0 explains g at x (the
    z-rule denominator and sign_mu see the same values); the input-multiplied z-rule does not."""
    generator = torch.Generator().manual_seed(seed)
    g = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 10, 3)).double().eval()
    with torch.no_grad():
        for parameter in g.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    f = copy.deepcopy(g)
    with torch.no_grad():
        f[0].bias -= shift * f[0].weight.sum(dim=(1, 2))
    x = torch.randn(3, 2, 12, generator=generator, dtype=torch.float64)
    x = torch.where(x.abs() < 1e-3, torch.full_like(x, 1e-3), x)  # no value rounds across mu
    torch.testing.assert_close(f(x + shift), g(x))
    target = [0, 1, 2]
    ours = explain(f, x + shift, "lrpsign_epsilon_0_5", target_class=target, mu=shift)
    assert rel_error(ours, explain(g, x, "lrpsign_epsilon_0_5", target_class=target)) < 1e-6
    if abs(shift) > 0.5:
        assert (
            rel_error(explain(f, x + shift, "lrp_z", target_class=target), explain(g, x, "lrp_z", target))
            > 1e-2
        )


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_sign_equals_sign_x_times_lrpz_over_x_and_mu_zero_is_sign(arch: str) -> None:
    model, x = build(arch)
    target = TARGETS[arch]
    sign = explain(model, x, "lrpsign_epsilon_0_5", target_class=target)
    zfirst = explain(model, x, "lrpz_epsilon_0_5", target_class=target)
    xn = x.numpy()
    nonzero = xn != 0
    expected = np.where(xn >= 0, 1.0, -1.0) * zfirst / np.where(nonzero, xn, 1.0)
    scale = np.abs(sign).max()
    np.testing.assert_allclose(sign[nonzero] / scale, expected[nonzero] / scale, atol=1e-4)
    np.testing.assert_array_equal(explain(model, x, "lrpsign_epsilon_0_5_mu_0", target_class=target), sign)
    # where x is negative, the SIGN map has the opposite sign of (lrpz / x)
    ratio = zfirst / np.where(nonzero, xn, 1.0)
    negative = (xn < 0) & (np.abs(ratio) > 1e-6 * scale)
    assert np.all(np.sign(sign[negative]) == -np.sign(ratio[negative]))


def test_functional_mean_pooling_equals_the_pooling_module() -> None:
    class MeanPooled(ResNet1D):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.stem_relu(self.stem_bn(self.stem(x)))
            return self.fc(self.block2(self.block1(x)).mean(dim=-1))

    model, x = build("resnet")
    twin = MeanPooled()
    twin.load_state_dict(model.state_dict())
    twin.eval()
    for method in ("lrp_epsilon_0_1", "lrpsign_z", "lrp_alpha_2_beta_1"):
        assert (
            rel_error(explain(twin, x, method, target_class=2), explain(model, x, method, target_class=2))
            < 1e-5
        )


def test_lrp_on_a_resnet_leaves_the_model_bitwise_unchanged_also_on_error() -> None:
    model, x = build("resnet")
    model.block1.conv1.bias = None  # the merge adds a bias temporarily
    model.train()
    before = snapshot(model)
    explain(model, x, "lrpsign_epsilon_0_25_std_x", target_class=0)
    assert_unchanged(model, before)
    with pytest.raises(Exception, match="out of range"):
        explain(model, x, "lrp_epsilon_0_1", target_class=7)
    assert_unchanged(model, before)


# ----------------------------------------------------------------- unsupported models
class _Normalised(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(self.fc1(x))[:, -1])


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.query = nn.Conv1d(2, 4, 1)
        self.key = nn.Conv1d(2, 4, 1)
        self.fc = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = torch.softmax(self.query(x).transpose(1, 2) @ self.key(x), dim=-1)
        return self.fc(scores.flatten(1))


class _Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3, padding=1)
        self.gate = nn.Conv1d(2, 4, 3, padding=1)
        self.fc = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc((self.conv(x) * torch.sigmoid(self.gate(x))).flatten(1))


class _PreActivation(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(2)
        self.conv = nn.Conv1d(2, 4, 3, padding=1)
        self.fc = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(torch.relu(self.bn(x))).flatten(1))


class _NormAfterSum(nn.Module):
    """A BatchNorm fed by a residual sum (pre-activation style), not by a Conv/Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv1d(2, 2, 3, padding=1)
        self.bn = nn.BatchNorm1d(2)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(x + self.stem(x))).flatten(1))


class _SharedConvOutput(nn.Module):
    """The conv output feeds a BatchNorm and, unnormalised, a skip connection."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm1d(4)
        self.skip = nn.Identity()
        self.fc = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.conv(x)
        return self.fc((torch.relu(self.bn(z)) + self.skip(z)).flatten(1))


@pytest.mark.parametrize(
    ("model", "x", "match"),
    [
        (
            _Normalised(),
            torch.randn(2, 5, 4),
            r"no rule for these modules: 'norm' \(LayerNorm\).*attention='cp'",
        ),
        (_Attention(), torch.randn(2, 2, 4), "multiplies two input-dependent tensors"),
        (_Gated(), torch.randn(2, 2, 4), "multiplies two input-dependent tensors"),
        (
            nn.Sequential(
                nn.Conv1d(2, 4, 3),
                nn.BatchNorm1d(4, track_running_stats=False),
                nn.Flatten(),
                nn.Linear(8, 2),
            ),
            torch.randn(2, 2, 4),
            "BatchNorm '1' has no running statistics",
        ),
    ],
)
def test_modules_without_lrp_rule_raise_clear_errors(model: nn.Module, x: torch.Tensor, match: str) -> None:
    model.eval()
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match=match):
        explain(model, x, "lrp_epsilon_0_1", target_class=0)
    assert_unchanged(model, before)
    explain(model, x, "gradient", target_class=0)  # gradient-type methods still work


def _linear_batch_norms(model: nn.Module) -> nn.Module:
    """No biases, BatchNorms with mean 0 and beta 0: every layer linear, so lrp_z conserves."""
    with torch.no_grad():
        for module in model.modules():
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.running_mean.zero_()
                module.running_var.uniform_(0.3, 3.0)
                module.weight.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize(
    ("factory", "why"),
    [
        (_PreActivation, "'bn' cannot be merged: it normalises the model's input"),
        (_NormAfterSum, "'bn' cannot be merged: it is fed by an operation that is not a module"),
        (_SharedConvOutput, "'bn' cannot be merged: the output of 'conv' also feeds another operation"),
    ],
)
def test_a_batch_norm_that_cannot_be_merged_takes_the_z_rule_or_passes_relevance_on(
    factory: type[nn.Module], why: str
) -> None:
    """By default a z-rule layer of its own, with a warning (each model's one BatchNorm, so the
    maps equal ``batchnorm='innvestigate'``'s up to its stabiliser on (x - mean) y, which the
    default does not add); with ``batchnorm='pass'`` relevance passes
    through unchanged (zennit's Pass): with bias-free layers the z-rule then conserves the logit
    although the BatchNorm shifts, where the z-rule on it gives the shift its share."""
    torch.manual_seed(0)
    model = randomize_batch_norm(factory(), 2)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv1d, nn.Linear)):
                module.bias.zero_()
    model.eval()
    x = torch.randn(3, 2, 4)
    before = snapshot(model)
    with pytest.warns(UserWarning, match=f"{why}.*It stays a layer of its own with the z-rule.*'pass'"):
        relevance = explain(model, x, "lrp_z", target_class=1)
    innvestigate = explain(model, x, "lrp_z", target_class=1, batchnorm="innvestigate")
    assert rel_error(relevance, innvestigate) < 1e-3  # measured: 1.4e-7 to 6.2e-5 (that stabiliser)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asked for: no warning
        passed = explain(model, x, "lrp_z", target_class=1, batchnorm="pass")
    assert_unchanged(model, before)
    with torch.no_grad():
        logit = model(x)[:, 1]
    np.testing.assert_allclose(passed.sum(axis=(1, 2)), logit.numpy(), rtol=1e-4, atol=1e-6)
    assert not np.allclose(relevance.sum(axis=(1, 2)), logit.numpy(), rtol=1e-2)


def _fold_batch_norms(model: nn.Module, pairs: list[tuple[str, str]]) -> nn.Module:
    """A copy of ``model`` with each (Conv, BatchNorm after it) of ``pairs`` folded by hand into
    the Conv and the BatchNorm replaced by ``nn.Identity``."""
    folded = copy.deepcopy(model)
    with torch.no_grad():
        for conv_name, norm_name in pairs:
            conv, norm = folded.get_submodule(conv_name), folded.get_submodule(norm_name)
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            conv.bias.copy_((conv.bias - norm.running_mean) * scale + norm.bias)
            conv.weight.mul_(scale.view(-1, 1, 1))
            parent, _, attribute = norm_name.rpartition(".")
            setattr(folded.get_submodule(parent) if parent else folded, attribute, nn.Identity())
    return folded.eval()


@pytest.mark.parametrize(
    "method", ["lrp_epsilon_0_1", "lrpsign_epsilon_0_1", "lrp_alpha_1_beta_0", "lrp_z", "flatlrp_zplus"]
)
def test_a_pre_activation_resnet_merges_what_it_can_and_gives_the_rest_the_z_rule(method: str) -> None:
    """Hannun-style pre-activation 1D ResNet: the stem's and each block's second BatchNorm are
    merged, the others (after the stem's ReLU, after residual sums, the final one) are z-rule
    layers. Equal to the model with the mergeable ones folded by hand (and to
    ``batchnorm='innvestigate'`` on it up to that mode's stabiliser); and stable: a batch equals
    its samples one by one in float32. Measured on 10 such models x these 5 methods: batch vs
    one by one at most 2.7e-6 of the largest value (1.9e-5 with ``batchnorm='innvestigate'``),
    the largest value at most 43x the median non-zero magnitude (44x). With
    ``batchnorm='pass'`` the residual sums below these BatchNorms are split by values near 0
    (relevance passed on is not proportional to them): 3.4e-3, and single values up to 19000x
    the median magnitude."""
    torch.manual_seed(1)
    model = randomize_batch_norm(PreActivationResNet1D(), 5).eval()
    folded = _fold_batch_norms(
        model, [("stem", "stem_bn"), ("blocks.0.conv1", "blocks.0.bn2"), ("blocks.1.conv1", "blocks.1.bn2")]
    )
    x = torch.randn(6, 2, 64)
    torch.testing.assert_close(model(x), folded(x), rtol=1e-5, atol=1e-5)
    before = snapshot(model)
    with pytest.warns(UserWarning, match=r"'blocks.0.bn1' cannot be merged.*'blocks.1.bn1'.*'bn'.*z-rule"):
        ours = explain(model, x, method, target_class=[0, 3, 1, 2, 0, 1])
    assert_unchanged(model, before)
    # computed in float64 (in float32 the z-rule's near-zero denominators round apart by 1e-5)
    with pytest.warns(UserWarning, match="cannot be merged"):
        ours64 = explain(copy.deepcopy(model).double(), x.double(), method, target_class=[0, 3, 1, 2, 0, 1])
    with pytest.warns(UserWarning, match="cannot be merged"):  # those not folded by hand
        expected = explain(folded.double(), x.double(), method, target_class=[0, 3, 1, 2, 0, 1])
    assert rel_error(ours64, expected) < 1e-5
    original = explain(
        folded.double(), x.double(), method, target_class=[0, 3, 1, 2, 0, 1], batchnorm="innvestigate"
    )
    assert rel_error(ours64, original) < 1e-2  # measured 5.7e-5 (flatlrp_zplus) to 2.1e-3 (lrp_z)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = np.stack(
            [explain(model, x[i], method, target_class=t) for i, t in enumerate([0, 3, 1, 2, 0, 1])]
        )
    np.testing.assert_allclose(single / np.abs(ours).max(), ours / np.abs(ours).max(), atol=1e-4)


@pytest.mark.parametrize(
    ("method", "rule"),
    [
        ("lrp_epsilon_0_1", Epsilon(0.1)),
        ("lrp_alpha_2_beta_1", AlphaBeta(2.0, 1.0)),
        ("lrp_zplus", ZPlus()),
        ("lrp_z", Epsilon(0.0)),
        ("lrp_sequential_composite_b", None),
    ],
)
def test_batchnorm_pass_agrees_with_zennits_composites_on_a_pre_activation_resnet(
    method: str, rule: object
) -> None:
    """zennit's composites merge the BatchNorms that follow a Conv (its canonizer) and give every
    other one ``Pass``, as the activations (one of them, the stem's ReLU, feeds a BatchNorm, so
    relevance reaches its zeros and passes through): ``batchnorm='pass'`` explains the
    Hannun-style net the same way, the two pre-activation BatchNorms after residual sums, the one
    after the stem's ReLU and the final one. ``lrp_sequential_composite_b`` against zennit's own
    ``EpsilonAlpha2Beta1`` (whose layer map gives BatchNorm ``Pass``). In float64: relevance
    passed on by a BatchNorm is not proportional to the residual sum below it, so the sum's split
    divides by values near 0 and float32 rounding differs by up to 6e-5 (2e-8 in float64)."""
    torch.manual_seed(0)
    model = randomize_batch_norm(PreActivationResNet1D(), 4)
    twin = PreActivationResNet1D(sum_module=True)
    twin.load_state_dict(model.state_dict())
    for module in [*model.modules(), *twin.modules()]:
        if isinstance(module, nn.BatchNorm1d):
            module.eps = 1e-12  # zennit 0.5's merge keeps eps in the emptied BatchNorm
    model.eval().double()
    twin.eval().double()
    x = torch.randn(3, 2, 64, dtype=torch.float64)
    canonizers = [SequentialMergeBatchNorm()]
    composite = (
        EpsilonAlpha2Beta1(epsilon=0.1, canonizers=canonizers)
        if rule is None
        else LayerMapComposite([(BatchNorm, Pass()), *_base_map(rule)], canonizers=canonizers)
    )
    expected = _zennit(twin, composite, x, [0, 3, 1])
    before = snapshot(model)
    ours = explain(model, x, method, target_class=[0, 3, 1], batchnorm="pass")
    assert_unchanged(model, before)
    assert rel_error(ours, expected) < 1e-6


@pytest.mark.parametrize("factory", [_PreActivation, _NormAfterSum, _SharedConvOutput])
def test_batchnorm_innvestigate_explains_batch_norms_that_cannot_be_merged(factory: type[nn.Module]) -> None:
    # built here, after the seed: built at collection, the weights depended on which tests were
    # collected before (a near-zero logit then failed the tolerance in one order)
    torch.manual_seed(0)
    model = _linear_batch_norms(factory())
    x = torch.randn(3, 2, 4)
    before = snapshot(model)
    relevance = explain(model, x, "lrp_z", target_class=1, batchnorm="innvestigate")
    assert_unchanged(model, before)
    with torch.no_grad():
        logit = model(x)[:, 1]
    # conserved up to the stabilisers (the BatchNorm rule's 1e-7 on (x - mean) y, the sum's 1e-6)
    np.testing.assert_allclose(relevance.sum(axis=(1, 2)), logit.numpy(), rtol=2e-3, atol=1e-5)
    assert np.abs(explain(model, x, "lrp_epsilon_0_1", target_class=1, batchnorm="innvestigate")).sum() > 0


@pytest.mark.parametrize("factory", [_PreActivation, _NormAfterSum, _SharedConvOutput])
def test_an_unmerged_batch_norm_takes_the_exact_z_rule(
    factory: type[nn.Module], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every layer linear (no biases, BatchNorms without shift) lrp_z is Gradient x Input
    exactly, an unmerged BatchNorm included (float64, the sums' stabiliser made negligible).
    iNNvestigate's stabiliser (1e-7 on (x - mean) y, a quantity of the squared activation scale)
    is only under ``batchnorm='innvestigate'``: it moved the default's maps by 3.5e-3 on a
    Conv-ReLU-BatchNorm net and 1.3e-2 on torchvision's DenseNet121 before."""
    torch.manual_seed(0)
    model = _linear_batch_norms(factory()).double()
    x = torch.randn(3, 2, 4, dtype=torch.float64) * 0.01  # small activations: squared, 1e-7 shows
    monkeypatch.setattr(lrp_graph, "STABILIZER", 1e-300)
    with pytest.warns(UserWarning, match="cannot be merged"):
        ours = explain(model, x, "lrp_z", target_class=1)
    expected = explain(model, x, "gradient_x_input", target_class=1)
    assert rel_error(ours, expected) < 1e-6
    original = explain(model, x, "lrp_z", target_class=1, batchnorm="innvestigate")
    assert rel_error(original, expected) > 1e-4  # iNNvestigate's stabiliser, kept where asked for


def test_batchnorm_innvestigate_is_the_z_rule_with_the_originals_stabiliser() -> None:
    """R_in = x (y - beta) R / ((x - mean) y + 1e-7 sign), by hand on Linear -> BatchNorm -> Linear.

    (The stabiliser's own effect is below this test's float32 tolerance; the original package's
    maps on a BatchNorm CNN, ``test_original_package``, check it: 3e-6 with it, 4e-4 without.)
    """
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).eval()
    with torch.no_grad():
        norm = model[1]
        norm.running_mean.normal_(0, 0.5)
        norm.running_var.uniform_(0.3, 3.0)
        norm.weight.uniform_(0.5, 2.0)
        norm.bias.normal_(0, 0.1)
    x = torch.randn(3, 5, dtype=torch.float64)
    model = model.double()
    with torch.no_grad():
        h = model[0](x)
        y = norm(h)
        r_y = y * model[2].weight[0]  # the z-rule from R = z at target 0: a w R / z
        d = (h - norm.running_mean) * y
        r_h = h * (y - norm.bias) * r_y / (d + torch.where(d >= 0, 1e-7, -1e-7))
        expected = x * ((r_h / h) @ model[0].weight)
    ours = explain(model, x, "lrp_z", target_class=0, batchnorm="innvestigate")
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-6, atol=1e-9)  # float32 result
    merged = explain(model, x, "lrp_epsilon_1", target_class=0)
    assert not np.allclose(
        merged, explain(model, x, "lrp_epsilon_1", target_class=0, batchnorm="innvestigate")
    )


def test_batchnorm_on_the_input_takes_lrp_but_not_an_input_layer_rule() -> None:
    model = _PreActivation().eval()
    x = torch.randn(2, 2, 4)
    before = snapshot(model)
    assert np.isfinite(explain(model, x, "lrp_epsilon_0_1", target_class=0, batchnorm="innvestigate")).all()
    for mode in ("merge", "innvestigate"):
        with pytest.raises(
            UnsupportedModelError, match="BatchNorm 'bn' normalises the model's input.*lrpsign_.*'pass'"
        ):
            explain(model, x, "lrpsign_epsilon_0_1", target_class=0, batchnorm=mode)
    with pytest.warns(UserWarning, match="takes the sign of that input"):
        explain(model, x, "lrpsign_epsilon_0_1", target_class=0, batchnorm="pass")
    assert_unchanged(model, before)
    with pytest.raises(MethodParameterError, match="batchnorm.*must be one of"):
        explain(model, x, "lrp_z", target_class=0, batchnorm="fold")


@settings(max_examples=15, deadline=None)
@given(
    channels=st.integers(1, 3),
    width=st.integers(2, 6),
    kernel=st.sampled_from([1, 3, 5]),
    pool=st.sampled_from(["max", "avg", "none"]),
    batch_norm=st.booleans(),
    method=st.sampled_from(
        [
            "lrp_z",
            "lrp_epsilon_0_1",
            "lrpsign_epsilon_0_25_std_x",
            "lrp_alpha_2_beta_1",
            "flatlrp_zplus",
            "zblrp_epsilon_1",
        ]
    ),
    seed=st.integers(0, 10_000),
)
def test_lrp_properties_on_random_conv_nets(
    channels: int, width: int, kernel: int, pool: str, batch_norm: bool, method: str, seed: int
) -> None:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Conv1d(channels, width, kernel, padding=kernel // 2)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(width))
    layers.append(nn.ReLU())
    layers.append({"max": nn.MaxPool1d(2), "avg": nn.AvgPool1d(2), "none": nn.Identity()}[pool])
    length = 16 if pool == "none" else 8
    layers += [nn.Flatten(), nn.Linear(width * length, 3)]
    # in double precision: in float32 the z-box rule's denominators can cancel to a few digits,
    # and a batched and a single convolution round differently (measured: 3e-3 on one sample)
    model = randomize_batch_norm(nn.Sequential(*layers), seed).eval().double()
    x = torch.randn(3, channels, 16, dtype=torch.float64)
    relevance = explain(model, x, method, target_class=[0, 1, 2])
    assert relevance.shape == x.shape and np.isfinite(relevance).all()
    single = np.stack([explain(model, x[i], method, target_class=i) for i in range(3)])
    scale = np.abs(relevance).max() + 1e-12
    np.testing.assert_allclose(single / scale, relevance / scale, atol=1e-5)


class _InceptionBlock(nn.Module):
    """InceptionTime's module: a bottleneck, three convs and a max-pool branch's conv joined over
    the channels, then one BatchNorm (``folded``: the BatchNorm folded into the four convs)."""

    def __init__(self, folded: bool = False, pooled: bool = False) -> None:
        super().__init__()
        self.bottleneck = nn.Conv1d(3, 4, 1, bias=False)
        self.convs = nn.ModuleList([nn.Conv1d(4, 4, k, padding=k // 2, bias=folded) for k in (3, 5, 9)])
        self.pool_conv = nn.Conv1d(3, 4, 1, bias=folded)
        self.pooled = pooled  # the pooling branch joins without its conv (not mergeable)
        self.norm = nn.Identity() if folded else nn.BatchNorm1d(15 if pooled else 16)
        self.head = nn.Linear(15 if pooled else 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bottleneck(x)
        pooled = F.max_pool1d(x, 3, 1, 1)
        branches = [conv(b) for conv in self.convs]
        branches.append(pooled if self.pooled else self.pool_conv(pooled))
        h = torch.relu(self.norm(torch.cat(branches, dim=1)))
        return self.head(h.mean(dim=-1))


@pytest.mark.parametrize(
    "method", ["lrp_epsilon_0_1", "lrpsign_z", "lrp_alpha_1_beta_0", "flatlrp_epsilon_0_1"]
)
def test_a_batch_norm_after_a_concatenation_of_convs_is_merged_into_each_of_them(method: str) -> None:
    """InceptionTime (a BatchNorm over the channels its parallel convs join): merged into each
    conv for its own channels, so the maps equal those of the model folded by hand (before:
    an error asking for batchnorm='innvestigate')."""
    torch.manual_seed(0)
    model = randomize_batch_norm(_InceptionBlock(), 3).eval()
    folded = _InceptionBlock(folded=True).eval()
    norm = model.norm
    with torch.no_grad():
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        shift = norm.bias - norm.running_mean * scale
        folded.bottleneck.weight.copy_(model.bottleneck.weight)
        folded.head.load_state_dict(model.head.state_dict())
        for i, (source, target) in enumerate(
            zip([*model.convs, model.pool_conv], [*folded.convs, folded.pool_conv], strict=True)
        ):
            part = slice(4 * i, 4 * i + 4)
            target.weight.copy_(source.weight * scale[part].view(-1, 1, 1))
            target.bias.copy_(shift[part])
    x = torch.randn(3, 3, 30)
    torch.testing.assert_close(model(x), folded(x), rtol=1e-5, atol=1e-6)
    before = snapshot(model)
    ours = explain(model, x, method, target_class=[0, 1, 2])
    assert_unchanged(model, before)
    assert rel_error(ours, explain(folded, x, method, target_class=[0, 1, 2])) < 1e-5
    joined_with_pooling = randomize_batch_norm(_InceptionBlock(pooled=True), 3).eval()
    with pytest.warns(UserWarning, match="'norm' cannot be merged.*not a module.*z-rule"):
        assert np.isfinite(explain(joined_with_pooling, x, method, target_class=0)).all()


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize(
    "method", ["lrp_z", "lrp_epsilon_0_5", "lrpsign_epsilon_0_5_std_x", "lrp_alpha_2_beta_1"]
)
def test_merged_batch_norm_equals_a_model_with_the_batch_norm_folded_by_hand(
    affine: bool, method: str
) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(2, 6, 5, padding=2, bias=False),
        nn.BatchNorm1d(6, affine=affine),
        nn.ReLU(),
        nn.Conv1d(6, 4, 3, padding=1),
        nn.BatchNorm1d(4, affine=affine),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 16, 3),
    )
    model = randomize_batch_norm(model, 5).eval() if affine else model.eval()
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
    folded = nn.Sequential(
        nn.Conv1d(2, 6, 5, padding=2),
        nn.ReLU(),
        nn.Conv1d(6, 4, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 16, 3),
    ).eval()
    with torch.no_grad():
        for source, target, norm in ((model[0], folded[0], model[1]), (model[3], folded[2], model[4])):
            scale = 1 / torch.sqrt(norm.running_var + norm.eps)
            shift = -norm.running_mean * scale
            if affine:
                scale, shift = scale * norm.weight, shift * norm.weight + norm.bias
            bias = source.bias if source.bias is not None else torch.zeros_like(scale)
            target.weight.copy_(source.weight * scale[:, None, None])
            target.bias.copy_(bias * scale + shift)
        folded[5].load_state_dict(model[7].state_dict())
    x = torch.randn(3, 2, 16)
    before = snapshot(model)
    torch.testing.assert_close(model(x), folded(x), rtol=1e-5, atol=1e-6)
    ours = explain(model, x, method, target_class=[0, 1, 2])
    assert_unchanged(model, before)
    reference = explain(folded, x, method, target_class=[0, 1, 2])
    assert rel_error(ours, reference) < 1e-5


def _transposed(name: str) -> tuple[nn.Module, torch.Tensor]:
    """Models with transposed convolutions: an encoder-decoder whose ConvTranspose1d feeds a
    BatchNorm, and a 2D model that upsamples its input by a ConvTranspose2d (the input layer)."""
    torch.manual_seed(12)
    if name == "decoder1d":
        model = nn.Sequential(
            nn.Conv1d(2, 8, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.ConvTranspose1d(8, 6, 4, stride=2, padding=1),
            nn.BatchNorm1d(6),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(6 * 16, 3),
        )
        return randomize_batch_norm(model, 3).eval(), torch.randn(3, 2, 16)
    model = nn.Sequential(
        nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(6),
        nn.Flatten(),
        nn.Linear(16, 3),
    )
    return model.eval(), torch.randn(3, 3, 6, 6)


@pytest.mark.parametrize("name", ["decoder1d", "upsampler2d"])
@pytest.mark.parametrize("method", list(COMPOSITES))
def test_transposed_convolutions_agree_with_zennit(name: str, method: str) -> None:
    model, x = _transposed(name)
    reference_model, canonizers = _reference_model("sequential", model)
    expected = _zennit(reference_model, COMPOSITES[method](canonizers, x), x, [0, 2, 1])
    extra = {"low": -3.0, "high": 3.0} if method.startswith("zblrp") else {}
    before = snapshot(model)
    ours = explain(model, x, method, target_class=[0, 2, 1], **extra)
    assert_unchanged(model, before)
    assert rel_error(ours, expected) < 1e-4


def test_sign_on_a_transposed_input_layer_is_sign_x_times_lrpz_over_x() -> None:
    model, x = _transposed("upsampler2d")
    sign = explain(model, x, "lrpsign_epsilon_0_5", target_class=[0, 2, 1])
    zfirst = explain(model, x, "lrpz_epsilon_0_5", target_class=[0, 2, 1])
    xn = x.numpy()
    expected = np.where(xn >= 0, 1.0, -1.0) * zfirst / xn
    np.testing.assert_allclose(sign / np.abs(sign).max(), expected / np.abs(sign).max(), atol=1e-4)
    assert np.abs(sign - zfirst).max() > 0.1 * np.abs(sign).max()  # the input-layer rules differ


@pytest.mark.parametrize("method", ["lrp_z", "lrp_epsilon_0_5", "lrpsign_epsilon_0_5", "lrp_alpha_2_beta_1"])
def test_a_batch_norm_after_a_grouped_transposed_conv_is_merged_per_output_channel(method: str) -> None:
    """The transposed weight is (in, out / groups, k): each output channel's scale must reach its
    own column in its group (zennit's merge does not handle groups)."""
    torch.manual_seed(13)
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.ConvTranspose1d(4, 6, 4, stride=2, padding=1, groups=2, bias=False),
        nn.BatchNorm1d(6),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 16, 3),
    )
    model = randomize_batch_norm(model, 7).eval()
    folded = copy.deepcopy(model)
    norm = model[3]
    with torch.no_grad():
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        transposed = nn.ConvTranspose1d(4, 6, 4, stride=2, padding=1, groups=2)
        weight = model[2].weight.view(2, 2, 3, 4) * scale.view(2, 1, 3, 1)  # (groups, in/g, out/g, k)
        transposed.weight.copy_(weight.view(4, 3, 4))
        transposed.bias.copy_(norm.bias - norm.running_mean * scale)
    folded[2], folded[3] = transposed, nn.Identity()
    x = torch.randn(3, 2, 8)
    torch.testing.assert_close(model(x), folded(x), rtol=1e-5, atol=1e-6)
    before = snapshot(model)
    ours = explain(model, x, method, target_class=[0, 1, 2])
    assert_unchanged(model, before)
    assert rel_error(ours, explain(folded.eval(), x, method, target_class=[0, 1, 2])) < 1e-5


class _TwoLeadsOneConv(nn.Module):
    """Each lead goes through the same conv (``tied``) or through two convs with equal weights."""

    def __init__(self, tied: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.conv_b = self.conv if tied else copy.deepcopy(self.conv)
        self.act = nn.ELU()
        self.act_b = self.act if tied else nn.ELU()
        self.fc = nn.Linear(2 * 4 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act(self.conv(x[:, :1]))
        b = self.act_b(self.conv_b(x[:, 1:]))
        return self.fc(torch.cat([a, b], 1).flatten(1))


@pytest.mark.parametrize(
    "method",
    [
        "lrp_z",
        "lrp_epsilon_0_5",
        "lrp_epsilon_0_25_std_x",
        "lrp_alpha_1_beta_0",
        "lrp_alpha_2_beta_1",
        "lrp_zplus",
        "flatlrp_z",
        "w2lrp_epsilon_0_5",
        "zblrp_z",
        "lrpsign_alpha_1_beta_0",
    ],
)
def test_a_module_called_twice_is_explained_like_two_modules_with_its_weights(method: str) -> None:
    tied, untied = _TwoLeadsOneConv(tied=True).eval(), _TwoLeadsOneConv(tied=False).eval()
    x = torch.randn(4, 2, 8)
    torch.testing.assert_close(tied(x), untied(x))
    ours = explain(tied, x, method, target_class=[0, 1, 2, 0])
    reference = explain(untied, x, method, target_class=[0, 1, 2, 0])
    assert rel_error(ours, reference) < 1e-6


def test_a_module_called_twice_under_a_raw_zennit_rule_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every built-in rule works per call; a zennit hook registered as it is keeps one state per
    module, and a module called twice is then an error, not a wrong map."""
    from signxai.methods import lrp

    _, summary = lrp.INPUT_RULES["flatlrp"]
    monkeypatch.setitem(lrp.INPUT_RULES, "flatlrp", (lambda p, x: Flat(), summary))
    model = _TwoLeadsOneConv(tied=True).eval()
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match="'conv' is called 2 times.*RelayedRule"):
        explain(model, torch.randn(2, 2, 8), "flatlrp_z", target_class=0)
    assert_unchanged(model, before)


def test_activations_pass_relevance_as_zennits_pass_rule_also_in_place() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv1d(2, 6, 3, padding=1),
        nn.ELU(inplace=True),
        nn.Conv1d(6, 4, 3, padding=1),
        nn.Tanh(),
        nn.Conv1d(4, 4, 3, padding=1),
        nn.RReLU(),  # in eval mode a leaky ReLU (before, a module without a rule)
        nn.Flatten(),
        nn.Linear(4 * 10, 8),
        nn.LeakyReLU(0.1, inplace=True),
        nn.Linear(8, 3),
    ).eval()
    x = torch.randn(3, 2, 10)
    composite = LayerMapComposite(_base_map(Epsilon(0.1)))
    expected = _zennit(model, composite, x, [0, 2, 1])
    ours = explain(model, x, "lrp_epsilon_0_1", target_class=[0, 2, 1])
    assert rel_error(ours, expected) < 1e-5


class _TokenLinear(nn.Module):
    """A Linear on (batch, time, features) and a conv with reflect padding (no direct input slot)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.conv = nn.Conv1d(2, 4, 3, padding=1, padding_mode="reflect")
        self.mix = nn.Linear(4, 5)
        self.fc = nn.Linear(5 * 9, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x)).transpose(1, 2)
        return self.fc(torch.relu(self.mix(h)).flatten(1))


@pytest.mark.parametrize("method", ["lrp_epsilon_0_1", "lrp_z"])
def test_layers_whose_node_does_not_take_the_input_agree_with_zennit(method: str) -> None:
    model = _TokenLinear().eval()
    x = torch.randn(3, 2, 9)
    rule = Epsilon(0.1) if method.endswith("0_1") else Epsilon(1e-7)
    expected = _zennit(model, LayerMapComposite(_base_map(rule)), x, [2, 0, 1])
    ours = explain(model, x, method, target_class=[2, 0, 1])
    assert rel_error(ours, expected) < 1e-4


@pytest.mark.parametrize(
    ("method", "rule"),
    [
        ("lrp_epsilon_0_1", Epsilon(0.1)),
        ("lrp_alpha_1_beta_0", AlphaBeta(1.0, 0.0)),
        ("lrp_zplus", ZPlus()),
        ("lrp_gamma_0_25", Gamma(0.25)),
    ],
)
def test_lrp_agrees_with_zennit_on_torchvision_resnet18(method: str, rule: object) -> None:
    """In-place ``out += identity`` and ReLU(inplace=True), downsampling shortcuts, 20 BatchNorms.

    zennit 0.5's BatchNorm merge leaves ``eps`` in the emptied BatchNorm (running_var 1, so it
    still divides by sqrt(1 + eps)); with the default eps 1e-5 its maps drift from the exact merged
    model by about 1e-4 to 1e-3 over 20 BatchNorms. A negligible eps makes both exact.
    """
    torchvision = pytest.importorskip("torchvision")
    from zennit.torchvision import ResNetCanonizer

    torch.manual_seed(0)
    model = randomize_batch_norm(torchvision.models.resnet18(num_classes=5)).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = 1e-12
    x = torch.randn(2, 3, 32, 32)
    before = snapshot(model)
    composite = LayerMapComposite(_base_map(rule), canonizers=[ResNetCanonizer()])
    expected = _zennit(copy.deepcopy(model), composite, x, [1, 3])
    ours = explain(model, x, method, target_class=[1, 3])
    assert rel_error(ours, expected) < 1e-5
    assert_unchanged(model, before)


def _linear_unit_scale(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """``_linear_batch_norms`` with ReLU6 made ReLU (every layer linear, so lrp_z must be
    Gradient x Input), and each Conv/Linear scaled so its output has unit std on ``x`` (deep
    nets with zero biases otherwise shrink their logits to 1e-10)."""
    model = _linear_batch_norms(model)
    with torch.no_grad():
        for module in model.modules():
            for name, child in module.named_children():
                if isinstance(child, nn.ReLU6):
                    setattr(module, name, nn.ReLU())
        seen: list[float] = []
        for layer in [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]:
            seen.clear()
            handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(float(out.std())))
            model(x)
            handle.remove()
            layer.weight /= seen[0]
    return model


@pytest.mark.filterwarnings("ignore:LRP. BatchNorm .* cannot be merged")  # DenseNet's, by design
@pytest.mark.parametrize("name", ["densenet121", "googlenet", "mobilenet_v2", "shufflenet_v2_x0_5"])
def test_lrp_z_ig_and_deeplift_are_gradient_x_input_on_linear_torchvision_models(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DenseNet's pre-activation BatchNorms (not mergeable) and concatenations, GoogLeNet's
    inception branches and ceil-mode pooling, MobileNetV2's depthwise convs and residual sums,
    ShuffleNetV2's channel split and shuffle: with every layer linear, the z-rule passes exactly
    Gradient x Input (float64; the sums' 1e-6 stabiliser made negligible), as do IG and DeepLIFT,
    and lrpsign_z is Gradient x sign. Measured: 0 after the cast to float32 on all four (and on
    VGG11-BN, ResNet18, SqueezeNet, RegNet; DenseNet121 was 1.3e-2 off with iNNvestigate's
    stabiliser on its unmerged BatchNorms)."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    options = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    model = getattr(torchvision.models, name)(num_classes=4, **options).eval().double()
    if name == "googlenet":
        model.transform_input = False
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    model = _linear_unit_scale(model, x)
    monkeypatch.setattr(lrp_graph, "STABILIZER", 1e-300)
    before = snapshot(model)
    ours = explain(model, x, "lrp_z", target_class=[1, 2])
    assert_unchanged(model, before)
    expected = explain(model, x, "gradient_x_input", target_class=[1, 2])
    assert rel_error(ours, expected) < 1e-6
    # the same model is positively homogeneous: the gradient is constant along the path from 0,
    # so IG and DeepLIFT (zero baseline) are Gradient x Input too, and SIGN's z-rule sign(x) * grad
    for method in ("integrated_gradients", "deeplift"):
        assert rel_error(explain(model, x, method, target_class=[1, 2]), expected) < 1e-6, method
    signed = explain(model, x, "gradient_x_sign", target_class=[1, 2])
    assert rel_error(explain(model, x, "lrpsign_z", target_class=[1, 2]), signed) < 1e-6


@pytest.mark.parametrize("activation", [nn.ReLU, nn.Tanh, nn.Identity])
@pytest.mark.parametrize(
    ("method", "rule"),
    [
        ("lrp_alpha_1_beta_0", AlphaBeta(1.0, 0.0)),
        ("lrp_alpha_2_beta_1", AlphaBeta(2.0, 1.0)),
        ("lrp_zplus", ZPlus()),
        ("lrp_gamma_0_25", Gamma(0.25)),
        ("lrp_gamma_3", Gamma(3.0)),
    ],
)
def test_alpha_beta_leaves_out_only_terms_that_are_zero(method: str, rule: object, activation: type) -> None:
    """Our alpha-beta and gamma rules run a layer only for the terms that contribute (no a- terms
    after a ReLU, no negative share with beta = 0, no branch for an output sign that no output
    has): zennit's four-term rules, after ReLUs (non-negative layer inputs), tanh and no activation
    (mixed signs), with biases and a bias-free layer."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(2, 6, 5, padding=2),
        activation(),
        nn.Conv1d(6, 6, 3, padding=1, bias=False),
        activation(),
        nn.Flatten(),
        nn.Linear(6 * 30, 4),
    ).eval()
    x = torch.randn(3, 2, 30)
    expected = _zennit(model, LayerMapComposite(_base_map(rule)), x, [2, 0, 1])
    assert rel_error(explain(model, x, method, target_class=[2, 0, 1]), expected) < 1e-5


class _FlatByView(nn.Module):
    """Conv-ReLU-Conv-ReLU-Linear, flattened by ``view`` (captum's LRP rejects an ``nn.Flatten``)."""

    def __init__(self, bias: bool) -> None:
        super().__init__()
        self.conv1, self.relu1 = nn.Conv1d(2, 6, 5, padding=2, bias=bias), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv1d(6, 6, 3, padding=1, bias=bias), nn.ReLU()
        self.fc = nn.Linear(6 * 30, 4, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu2(self.conv2(self.relu1(self.conv1(x)))).view(len(x), -1))


def test_gamma_is_captums_gamma_rule_where_the_first_definition_applies() -> None:
    """captum's ``GammaRule`` is the gamma rule as first defined (W + gamma W+ on every layer, the
    bias unchanged); ours is zennit's generalisation, the same for inputs >= 0, positive
    outputs and no bias (a ReLU's zero output passes no relevance either way)."""
    from captum.attr import LRP
    from captum.attr._utils.lrp_rules import GammaRule

    torch.manual_seed(0)
    model = _FlatByView(bias=False).eval()
    for parameter in model.parameters():
        parameter.data.mul_(3)
    x = torch.rand(3, 2, 30) * 2
    target = model(x).argmax(1)
    assert bool((model(x)[torch.arange(3), target] > 0).all())
    ours = explain(model, x, "lrp_gamma_0_25", target_class=target.tolist())
    for layer in (model.conv1, model.conv2, model.fc):
        layer.rule = GammaRule(gamma=0.25)  # type: ignore[assignment]
    expected = LRP(model).attribute(x.clone(), target=target)
    assert rel_error(ours, expected) < 1e-5
    assert rel_error(explain(model, x, "lrp_gamma_1", target_class=target.tolist()), expected) > 0.01


class _PooledByView(nn.Module):
    """Conv-ReLU-MaxPool-Conv-ReLU-AvgPool-Linear-ReLU-Linear in 1D (leads as channels) or 2D
    (leads as rows), flattened by ``view``: the layers captum's LRP takes."""

    def __init__(self, two_d: bool, bias: bool = True) -> None:
        super().__init__()
        conv, max_pool, avg_pool = (
            (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d) if two_d else (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d)
        )
        # (input channels, kernel, padding) of the first conv, the max pooling's kernel, the
        # second conv's kernel and stride: along time as in 1D, and 3 leads wide in 2D
        first, pooled, second, stride = (
            ((1, (3, 7), (1, 3)), (1, 2), (3, 5), (1, 2)) if two_d else ((12, 7, 3), 2, 5, 2)
        )
        self.features = nn.Sequential(
            conv(first[0], 8, first[1], padding=first[2], bias=bias),
            nn.ReLU(),
            max_pool(pooled),
            conv(8, 16, second, stride=stride, bias=bias),
            nn.ReLU(),
            avg_pool(2),
        )
        self.head = nn.Sequential(nn.Linear(16 * 25 if two_d else 16 * 5, 32, bias=bias), nn.ReLU())
        self.out = nn.Linear(32, 4, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.head(self.features(x).view(len(x), -1)))


def _captum_lrp(
    model: nn.Module, x: torch.Tensor, target: list[int], rule: Callable[[], object]
) -> torch.Tensor:
    """captum's LRP with ``rule`` on every Conv/Linear and LRP-0 on the pooling layers (as zennit's
    composites and signxai pool), the model left without ``rule`` attributes."""
    from captum.attr import LRP
    from captum.attr._utils.lrp_rules import EpsilonRule

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    pooling = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
    pools = [m for m in model.modules() if isinstance(m, pooling)]
    for layer in layers:
        layer.rule = rule()  # type: ignore[assignment]
    for pool in pools:
        pool.rule = EpsilonRule(epsilon=1e-9)  # type: ignore[assignment]
    try:
        return LRP(model).attribute(x.clone(), target=target).detach()
    finally:  # captum removes them itself when it succeeds
        for module in layers + pools:
            if hasattr(module, "rule"):
                del module.rule


@pytest.mark.parametrize("two_d", [False, True])
def test_epsilon_is_captums_epsilon_rule(two_d: bool) -> None:
    """captum's ``LRP`` with ``EpsilonRule`` (a third implementation beside zennit and the original
    package), on a 12-lead 1D CNN and its 2D twin with biases, max and average pooling."""
    from captum.attr._utils.lrp_rules import EpsilonRule

    for seed in range(3):
        torch.manual_seed(seed)
        model = _PooledByView(two_d).double().eval()
        x = torch.randn(3, *((1, 12, 50) if two_d else (12, 50)), dtype=torch.float64)
        for epsilon, method in ((1.0, "lrp_epsilon_1"), (0.1, "lrp_epsilon_0_1")):
            expected = _captum_lrp(model, x, [0, 1, 2], lambda e=epsilon: EpsilonRule(epsilon=e))
            # the pooling layers' stabilisers differ (1e-6 here, zennit's, against 1e-9)
            assert rel_error(explain(model, x, method, target_class=[0, 1, 2]), expected) < 1e-4
        # the comparison sees a tenth of the epsilon (against captum's epsilon 0.1)
        assert rel_error(explain(model, x, "lrp_epsilon_0_01", target_class=[0, 1, 2]), expected) > 0.01


def test_alpha_1_beta_0_is_captums_rule_where_inputs_are_not_negative_and_there_is_no_bias() -> None:
    """captum's ``Alpha1_Beta0_Rule`` keeps the positive weights (captum issue 1234): (x w)+ for
    inputs >= 0, so it is alpha1-beta0 on bias-free nets with a non-negative input, not otherwise."""
    from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule

    torch.manual_seed(0)
    model = _PooledByView(two_d=False, bias=False).double().eval()
    with torch.no_grad():  # larger activations: the stabilisers (1e-6 here, 1e-9 in captum) negligible
        for parameter in model.parameters():
            parameter.mul_(10.0)
    x = torch.randn(3, 12, 50, dtype=torch.float64)
    ours = explain(model, x.abs(), "lrp_alpha_1_beta_0", target_class=[0, 1, 2])
    assert rel_error(ours, _captum_lrp(model, x.abs(), [0, 1, 2], Alpha1_Beta0_Rule)) < 1e-5
    ours = explain(model, x, "lrp_alpha_1_beta_0", target_class=[0, 1, 2])
    assert rel_error(ours, _captum_lrp(model, x, [0, 1, 2], Alpha1_Beta0_Rule)) > 0.1


def test_gamma_conserves_on_bias_free_nets_and_gamma_zero_is_the_z_rule() -> None:
    torch.manual_seed(1)
    model = _FlatByView(bias=False).eval()
    x = torch.randn(4, 2, 30)  # both signs on the input layer: the generalised rule's a- terms
    for method in ("lrp_gamma_0_25", "lrp_gamma_4"):
        assert_conserves(model, x, 2, rtol=1e-4, atol=1e-6, method=method)
    biased = _FlatByView(bias=True).eval()
    assert (
        rel_error(
            explain(biased, x, "lrp_gamma_0", target_class=1), explain(biased, x, "lrp_z", target_class=1)
        )
        < 1e-4
    )
    # a large gamma approaches z+ (alpha1-beta0) where every layer input is >= 0
    positive = torch.rand(4, 2, 30)
    assert (
        rel_error(
            explain(model, positive, "lrp_gamma_1000", target_class=1),
            explain(model, positive, "lrp_zplus", target_class=1),
        )
        < 1e-2
    )


@pytest.mark.parametrize(
    ("method", "params", "match"),
    [
        ("lrp_gamma", {}, "needs gamma="),
        ("lrp_gamma", {"gamma": -0.5}, "gamma"),
        ("lrp_epsilon_0_1", {"gamma": 0.25}, "only applies to the gamma rule"),
        ("lrp_gamma_0_25", {"gamma": 0.5}, "gamma"),
    ],
)
def test_gamma_parameter_errors(method: str, params: dict, match: str) -> None:
    model, x = build("ecg")
    with pytest.raises(MethodParameterError, match=match):
        explain(model, x, method, target_class=1, **params)


@pytest.mark.parametrize("method", ["lrp_alpha_1_beta_0", "lrpsign_sequential_composite_a"])
def test_alpha_beta_bias_both_only_changes_layers_with_a_bias(method: str) -> None:
    """Bias-free, 'both' and 'split' differ only by the stabiliser (test_original_package.py
    checks 'both' against the original package itself, with biases)."""
    model = _bias_free_ecg()
    x = torch.randn(2, 1, 400)
    unbiased = rel_error(
        explain(model, x, method, target_class=1, alpha_beta_bias="both"),
        explain(model, x, method, target_class=1),
    )
    assert unbiased < 1e-4  # zennit's 1e-6 stabiliser against none, on relevances of about 1e-6
    biased, xb = build("ecg")
    with_bias = rel_error(
        explain(biased, xb, method, target_class=1, alpha_beta_bias="both"),
        explain(biased, xb, method, target_class=1),
    )
    assert with_bias > 100 * max(unbiased, 1e-6)


def test_alpha_beta_bias_both_is_the_whole_bias_in_each_denominator() -> None:
    """One Linear layer by hand: positive part W+ a+ + W- a- + b, negative W+ a- + W- a+ + b."""
    torch.manual_seed(0)
    layer = nn.Linear(5, 2)  # two outputs: target 0 is the first logit, not -z
    a = torch.randn(1, 5)
    w, b = layer.weight.detach()[0], layer.bias.detach()[0]
    wp, wn, ap, an = w.clamp(min=0), w.clamp(max=0), a[0].clamp(min=0), a[0].clamp(max=0)
    z = (w * a[0]).sum() + b
    positive = (wp * ap).sum() + (wn * an).sum() + b
    negative = (wp * an).sum() + (wn * ap).sum() + b
    alpha, beta = 2.0, 1.0
    expected = z * (alpha * (wp * ap + wn * an) / positive - beta * (wp * an + wn * ap) / negative)
    ours = explain(
        nn.Sequential(layer).eval(), a, "lrp_alpha_2_beta_1", target_class=0, alpha_beta_bias="both"
    )
    np.testing.assert_allclose(ours[0], expected.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("method", "value", "match"),
    [
        ("lrp_epsilon_0_1", "both", "only applies to rules with alpha-beta layers"),
        ("lrp_alpha_1_beta_0", "all", "must be one of"),
    ],
)
def test_alpha_beta_bias_errors(method: str, value: str, match: str) -> None:
    model, x = build("ecg")
    with pytest.raises(MethodParameterError, match=match):
        explain(model, x, method, target_class=1, alpha_beta_bias=value)


class _TwoScales(nn.Module):
    """Two convs read the input (kernel 3 and 5, as inception-style ECG nets do), concatenated."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(6)
        self.narrow = nn.Conv1d(2, 3, 3, padding=1)
        self.wide = nn.Conv1d(2, 3, 5, padding=2)
        self.fc = nn.Linear(6 * 8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(torch.cat([self.narrow(x), self.wide(x)], 1)).flatten(1))

    def as_one_conv(self) -> nn.Module:
        """The same function with one conv: the narrow kernel zero-padded to 5 taps."""
        conv = nn.Conv1d(2, 6, 5, padding=2)
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[:3, :, 1:4] = self.narrow.weight
            conv.weight[3:] = self.wide.weight
            conv.bias.copy_(torch.cat([self.narrow.bias, self.wide.bias]))
        return nn.Sequential(conv, nn.ReLU(), nn.Flatten(), self.fc)


@pytest.mark.parametrize(
    "method", ["lrpsign_epsilon_0_1", "lrpz_epsilon_0_1", "zblrp_epsilon_0_1", "lrpsign_alpha_1_beta_0"]
)
def test_every_layer_that_reads_the_input_gets_the_input_layer_rule(method: str) -> None:
    """Two parallel first convs explain like the one conv that computes both (iNNvestigate too).

    Before, only the first in execution order got the input-layer rule, the other the layer rule.
    """
    model = _TwoScales().eval()
    x = torch.randn(3, 2, 8)
    torch.testing.assert_close(model(x), model.as_one_conv().eval()(x))
    ours = explain(model, x, method, target_class=[0, 1, 0])
    assert rel_error(ours, explain(model.as_one_conv().eval(), x, method, target_class=[0, 1, 0])) < 1e-5


class _NormalisesItsInput(nn.Module):
    """A model that takes raw ADC units (as MIT-BIH's, mV * 200 + 1024) and normalises in forward."""

    def __init__(self, inner: nn.Module, *, pad: bool = False) -> None:
        super().__init__()
        self.inner = inner
        self.pad = pad
        self.register_buffer("offset", torch.tensor(1024.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:  # keeps x's values: no normalisation
            return self.inner(F.pad(x, (1, 1)).flatten(1).unflatten(1, (1, -1))[..., 1:-1])
        return self.inner((x - self.offset) / 200.0)


def _normalised_pair() -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Conv1d(1, 4, 5, padding=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 24, 3)).eval()
    normalised = torch.randn(3, 1, 24)
    return inner, _NormalisesItsInput(inner).eval(), normalised, normalised * 200.0 + 1024.0


@pytest.mark.parametrize(
    "method",
    [
        "lrp_epsilon_0_1",
        "lrpz_epsilon_0_1",
        "w2lrp_z",
        "flatlrp_z",
        "zblrp_epsilon_0_1",
        "lrpsign_epsilon_0_1",
    ],
)
def test_input_layer_rules_act_on_the_first_layers_input_where_the_model_normalises_x(method: str) -> None:
    """Relevance passes through x -> (x - m) / s unchanged, and the input-layer rule acts on what
    the first layer reads: the maps equal the inner model's on the normalised signal. Before,
    z-beta's default bounds were x's minimum and maximum (about 800-1250 here), outside the box of
    the first layer's input (a map 2.5 times its own size off)."""
    inner, model, normalised, raw = _normalised_pair()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = explain(model, raw, method, target_class=[0, 1, 2])
    assert rel_error(ours, explain(inner, normalised, method, target_class=[0, 1, 2])) < 1e-4


def test_z_beta_bounds_follow_a_first_layer_called_on_each_lead() -> None:
    """A shared encoder called on (B * leads, 1, T) rows: the default bounds are each row's own
    minimum and maximum. Before, the bounds were x's per sample, (B,), and zennit failed to
    broadcast them to the layer's B * leads rows (a RuntimeError, 'Invalid shape!')."""

    class PerLead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Sequential(nn.Conv1d(1, 3, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1))
            self.head = nn.Linear(4 * 3, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            batch, leads, length = x.shape
            return self.head(self.encoder(x.reshape(batch * leads, 1, length)).reshape(batch, leads * 3))

    torch.manual_seed(0)
    model = PerLead().double().eval()
    x = torch.randn(3, 4, 20, dtype=torch.float64)
    ours = explain(model, x, "zblrp_epsilon_0_1", target_class=[0, 1, 0])
    # by hand: the z-beta rule at the encoder's conv, rows bounded by their own extremes
    rows = x.reshape(12, 1, 20).requires_grad_(True)
    low = rows.detach().amin(dim=(1, 2), keepdim=True).expand_as(rows)
    high = rows.detach().amax(dim=(1, 2), keepdim=True).expand_as(rows)
    conv = model.encoder[0]
    z = conv(rows)
    assert len(z) == 12
    # the bias cancels: b - max(b, 0) - min(b, 0) = 0 (zennit's ZBox clamps it with the weights)
    denominator = (
        F.conv1d(rows, conv.weight, padding=2)
        - F.conv1d(low, conv.weight.clamp(min=0), padding=2)
        - F.conv1d(high, conv.weight.clamp(max=0), padding=2)
    )
    upper = explain(_FromConvOutput(model), z.detach().reshape(3, 12, 20), "lrp_epsilon_0_1", [0, 1, 0])
    relevance_z = torch.from_numpy(upper).reshape(12, 3, 20)
    s = relevance_z / (denominator + 1e-6 * torch.where(denominator >= 0, 1.0, -1.0))
    s = s.detach()
    expected = (
        rows.detach() * F.conv_transpose1d(s, conv.weight, padding=2)
        - low * F.conv_transpose1d(s, conv.weight.clamp(min=0), padding=2)
        - high * F.conv_transpose1d(s, conv.weight.clamp(max=0), padding=2)
    )
    assert rel_error(ours, expected.reshape(3, 4, 20)) < 1e-6


@pytest.mark.parametrize(
    ("low", "match"),
    [
        ("a", "low must be a number, an array or a tensor, got str"),
        (float("nan"), "low has 1 non-finite values"),
        (
            np.full(5, -3.0),
            r"low of shape \(5,\) does not fit the first layer's input, of shape \(3, 2, 16\)",
        ),
    ],
)
def test_z_beta_bounds_that_do_not_fit_are_named(low: object, match: str) -> None:
    """Before: a TypeError from torch, zennit's 'Invalid shape!' RuntimeError, or a NaN map
    reported as the model's overflow."""
    model = nn.Sequential(nn.Conv1d(2, 3, 5, padding=2), nn.ReLU(), nn.Flatten(), nn.Linear(48, 2)).eval()
    x = torch.randn(3, 2, 16)
    before = snapshot(model)
    with pytest.raises(MethodParameterError, match=match):
        explain(model, x, "zblrp_epsilon_0_1", target_class=0, low=low, high=3.0)
    assert_unchanged(model, before)
    bound = float(x.abs().max()) + 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a box around x: nothing to say
        per_sample = explain(
            model, x, "zblrp_epsilon_0_1", target_class=0, low=np.full(3, -bound), high=bound
        )
    np.testing.assert_allclose(
        per_sample, explain(model, x, "zblrp_epsilon_0_1", target_class=0, low=-bound, high=bound)
    )


def test_z_beta_bounds_that_the_input_leaves_are_said() -> None:
    """Before, bounds that do not hold the input (low above some of x) gave a map without a word;
    zennit takes them too (conservation holds), so it is a warning, and the map is zennit's."""
    model = nn.Sequential(nn.Conv1d(2, 3, 5, padding=2), nn.ReLU(), nn.Flatten(), nn.Linear(48, 2)).eval()
    x = torch.linspace(-1.0, 1.0, 96).reshape(3, 2, 16)
    with pytest.warns(
        UserWarning, match=r"low does not bound .* 24 of its 96 values lie below it \(its minimum is -1\)"
    ):
        explain(model, x, "zblrp_epsilon_0_1", target_class=0, low=-0.5, high=1.0)
    with pytest.warns(UserWarning, match="high does not bound .* lie above it"):
        explain(model, x, "zblrp_epsilon_0_1", target_class=0, high=0.0)  # low: x's own minimum


class _FromConvOutput(nn.Module):
    """``PerLead`` from its encoder conv's output on, that output's rows (sample, lead) put back
    together per sample: the relevance that reaches that conv."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.model.encoder[2](self.model.encoder[1](z.reshape(-1, 3, z.shape[-1])))
        return self.model.head(h.reshape(len(z), -1))


def test_rules_that_read_the_first_layers_input_say_when_it_is_not_x() -> None:
    """SIGN's sign and z-beta's given bounds are read in the units of the first layer's input: a
    warning names the layer; none where the rule does not read them or the model keeps x's values
    (zero padding, reshapes, crops) or merges a BatchNorm on x into the first layer."""
    _, model, _, raw = _normalised_pair()
    with pytest.warns(UserWarning, match=r"first layer 'inner.0' from x .*sign_mu\(a\) with mu=0.5"):
        explain(model, raw, "lrpsign_epsilon_0_1_mu_0_5", target_class=0)
    with pytest.warns(UserWarning, match=r"'inner.0' .*zblrp_ input-layer rule takes low= and high="):
        explain(model, raw, "zblrp_z", target_class=0, low=-3.0, high=3.0)
    kept = _NormalisesItsInput(_normalised_pair()[0], pad=True).eval()
    merged = nn.Sequential(nn.BatchNorm1d(1), nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(44, 2))
    randomize_batch_norm(merged)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explain(model, raw, "zblrp_z", target_class=0)
        explain(model, raw, "lrp_epsilon_0_1", target_class=0)
        explain(kept, raw, "lrpsign_epsilon_0_1", target_class=0)
        explain(merged.eval(), torch.randn(2, 1, 24), "lrpsign_epsilon_0_1", target_class=0)


def test_a_call_on_a_constant_does_not_make_a_layer_an_input_layer() -> None:
    """A recurrent cell written by hand starts from a zero state: its hidden-to-hidden layer is
    called on that constant, then on states computed from x. Before, that first call counted as
    reading the input, and every input-layer rule was refused ('called both on the input and on
    a later layer's output'); now only the input-to-hidden layer is an input layer."""

    class Cell(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ih, self.hh, self.out = nn.Linear(3, 5), nn.Linear(5, 5), nn.Linear(5, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.zeros(x.shape[0], 5, dtype=x.dtype)
            for t in range(x.shape[-1]):
                h = torch.tanh(self.ih(x[:, :, t]) + self.hh(h))
            return self.out(h)

    torch.manual_seed(0)
    model = Cell().double().eval()
    x = torch.randn(2, 3, 9, dtype=torch.float64)
    sign = explain(model, x, "lrpsign_epsilon_0_5", target_class=[0, 1])
    zfirst = explain(model, x, "lrpz_epsilon_0_5", target_class=[0, 1])
    xn = x.numpy()
    assert rel_error(sign, np.where(xn >= 0, 1.0, -1.0) * zfirst / xn) < 1e-6
    assert rel_error(zfirst, explain(model, x, "lrp_epsilon_0_5", target_class=[0, 1])) > 1e-2


def test_a_layer_called_on_the_input_and_on_a_hidden_layer_refuses_an_input_layer_rule() -> None:
    class Reused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(2, 2, 3, padding=1)
            self.fc = nn.Linear(16, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.conv(torch.relu(self.conv(x))).flatten(1))

    model = Reused().eval()
    x = torch.randn(2, 2, 8)
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match="'conv' is called both on the input and on a later"):
        explain(model, x, "lrpsign_epsilon_0_1", target_class=0)
    assert_unchanged(model, before)
    assert np.isfinite(explain(model, x, "lrp_epsilon_0_1", target_class=0)).all()


class _PadsItself(nn.Conv1d):
    """A user's Conv1d subclass whose forward pads causally first (its autograd node never sees x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (2, 0)))


@pytest.mark.parametrize("method", ["lrp_epsilon_0_1", "lrp_z", "lrpsign_epsilon_0_1"])
def test_convs_with_padding_same_and_even_kernels_agree_with_zennit(method: str) -> None:
    """torch pads such a conv's input on one side before convolving (an internal error before)."""
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv1d(2, 4, 4, padding="same"),
        nn.ReLU(),
        nn.Conv1d(4, 4, 3, padding="same", dilation=3),
        nn.ReLU(),
        nn.Conv1d(4, 4, 2, padding="same", dilation=2),  # 2 * (2 - 1) even: symmetric
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 12, 3),
    ).eval()
    x = torch.randn(3, 2, 12)
    rule = Epsilon(0.1) if "0_1" in method else Epsilon(1e-7)
    if method.startswith("lrpsign"):
        composite = SpecialFirstLayerMapComposite(_base_map(rule), [(Convolution, Epsilon(1e-7))])
        expected = torch.sign(x) + (x == 0) * 1.0
        expected = expected * _zennit(model, composite, x, [2, 0, 1]) / x
    else:
        expected = _zennit(model, LayerMapComposite(_base_map(rule)), x, [2, 0, 1])
    assert rel_error(explain(model, x, method, target_class=[2, 0, 1]), expected) < 1e-4


def test_a_conv_subclass_with_its_own_forward_is_explained_like_pad_then_conv() -> None:
    torch.manual_seed(7)
    own = nn.Sequential(_PadsItself(2, 4, 3), nn.ReLU(), _PadsItself(4, 4, 3), nn.Flatten(), nn.Linear(32, 2))
    explicit = nn.Sequential(
        nn.ZeroPad1d((2, 0)),
        nn.Conv1d(2, 4, 3),
        nn.ReLU(),
        nn.ZeroPad1d((2, 0)),
        nn.Conv1d(4, 4, 3),
        nn.Flatten(),
        own[4],
    )
    explicit[1].load_state_dict(own[0].state_dict())
    explicit[4].load_state_dict(own[2].state_dict())
    x = torch.randn(3, 2, 8)
    torch.testing.assert_close(own(x), explicit(x))
    for method in ("lrp_epsilon_0_1", "lrp_z", "lrpsign_epsilon_0_1"):
        assert (
            rel_error(
                explain(own.eval(), x, method, target_class=1),
                explain(explicit.eval(), x, method, target_class=1),
            )
            < 1e-5
        )


@pytest.mark.parametrize(
    "pad", [nn.ReflectionPad1d(2), nn.ReplicationPad1d(2), nn.ConstantPad1d(2, 0.0), nn.CircularPad1d(2)]
)
def test_padding_modules_pass_relevance_back_to_the_padded_samples(pad: nn.Module) -> None:
    """Copies of samples (reflect, replicate, circular) give their relevance back to the sample."""
    torch.manual_seed(8)
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1, bias=False),
        nn.ReLU(),
        pad,
        nn.Conv1d(4, 4, 5, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32, 2, bias=False),
    ).eval()
    assert_conserves(model, torch.randn(3, 2, 8), 1, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("shape", "modules"),
    [
        ((2, 4, 8, 8), [nn.PixelShuffle(2)]),
        ((2, 4, 8, 8), [nn.PixelUnshuffle(2)]),
        ((2, 4, 8, 8), [nn.ChannelShuffle(2)]),
        ((2, 4, 8, 8), [nn.Unfold(3)]),
        ((2, 4, 8, 8), [nn.Unfold(2, stride=1), nn.Fold((8, 8), 2, stride=1)]),
        ((2, 4, 6, 6, 6), [nn.ReflectionPad3d(1), nn.MaxPool3d(2)]),
        ((2, 4, 6, 6, 6), [nn.CircularPad3d(1), nn.AdaptiveMaxPool3d(2), nn.Dropout3d()]),
        ((2, 4, 6, 6, 6), [nn.ReplicationPad3d(1), nn.ZeroPad3d(1), nn.FeatureAlphaDropout()]),
    ],
)
def test_modules_that_move_samples_pass_relevance_and_conserve_it(
    shape: tuple[int, ...], modules: list[nn.Module]
) -> None:
    """Shuffles, patch (un)folding, 3D paddings and pools: relevance flows back to the samples moved.

    On a bias-free ReLU net the z-rule is Gradient x Input and conserves the logit.
    """
    torch.manual_seed(9)
    conv = nn.Conv2d if len(shape) == 4 else nn.Conv3d
    body = nn.Sequential(conv(4, 4, 1, bias=False), nn.ReLU(), *modules).eval()
    x = torch.randn(*shape)
    width = body(x).flatten(1).shape[1]
    model = nn.Sequential(body, nn.Flatten(), nn.Linear(width, 3, bias=False)).eval()
    relevance = assert_conserves(model, x, 2, rtol=1e-4, atol=1e-6)
    reference = explain(model, x, "gradient_x_input", target_class=2)
    np.testing.assert_allclose(relevance, reference, rtol=1e-3, atol=1e-4 * np.abs(reference).max())


class _UnpoolNet(nn.Module):
    """A SegNet-style 1D encoder-decoder: max pooling with indices, max unpooling at them."""

    def __init__(self) -> None:
        super().__init__()
        self.encode = nn.Conv1d(2, 4, 3, padding=1, bias=False)
        self.pool = nn.MaxPool1d(2, return_indices=True)
        self.unpool = nn.MaxUnpool1d(2)
        self.decode = nn.Conv1d(4, 4, 3, padding=1, bias=False)
        self.head = nn.Linear(4 * 16, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled, indices = self.pool(torch.relu(self.encode(x)))
        return self.head(torch.relu(self.decode(self.unpool(pooled, indices))).flatten(1))


def test_max_unpooling_puts_relevance_back_where_the_pooling_found_it() -> None:
    """MaxUnpool was refused as a module without a rule; it only moves samples back."""
    torch.manual_seed(10)
    model, x = _UnpoolNet().eval(), torch.randn(3, 2, 16)
    relevance = assert_conserves(model, x, 1, rtol=1e-4, atol=1e-6)
    reference = explain(model, x, "gradient_x_input", target_class=1)
    np.testing.assert_allclose(relevance, reference, rtol=1e-3, atol=1e-4 * np.abs(reference).max())


def test_a_softmax_output_explained_as_it_is_is_an_error_that_says_so() -> None:
    """LRP refused the kept Softmax as any module without a rule; the message now names the cause."""
    model, x = build("ecg_beat")
    with pytest.raises(UnsupportedModelError, match=r"\(Softmax\).*kept because explain_output='activation'"):
        explain(model, x, "lrp_epsilon_0_1", explain_output="activation")
    explain(ECGModel(num_classes=1, length=140).eval(), x, "lrp_epsilon_0_1", explain_output="activation")


class _RibeiroBlock(nn.Module):
    """The residual unit of Ribeiro et al. 2020 (12-lead ECG): its BatchNorm follows the sum."""

    def __init__(self, n_in: int, n_out: int, down: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(n_in, n_out, 17, padding=8, bias=False)
        self.bn1 = nn.BatchNorm1d(n_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv1d(n_out, n_out, 17, stride=down, padding=8, bias=False)
        self.skip = nn.Sequential(nn.MaxPool1d(down, down), nn.Conv1d(n_in, n_out, 1, bias=False))
        self.bn2 = nn.BatchNorm1d(n_out)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.skip(y)
        x = self.conv2(self.relu1(self.bn1(self.conv1(x)))) + y
        return self.relu2(self.bn2(x)), x  # the un-normalised sum is the next skip


class _Ribeiro(nn.Module):
    """A small instance of the ECG ResNet of Ribeiro et al., Nat. Commun. 2020."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(12, 16, 17, padding=8, bias=False)
        self.bn = nn.BatchNorm1d(16)
        self.relu = nn.ReLU()
        self.blocks = nn.ModuleList([_RibeiroBlock(16, 24, 4), _RibeiroBlock(24, 32, 4)])
        self.fc = nn.Linear(32 * 16, 6, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = y = self.relu(self.bn(self.conv(x)))
        for block in self.blocks:
            x, y = block(x, y)
        return self.fc(x.flatten(1))


def test_the_ribeiro_2020_ecg_resnet_is_explained_by_default_and_with_batchnorm_innvestigate() -> None:
    """Its BatchNorms after the residual sums are z-rule layers (a warning names them); with
    ``batchnorm='innvestigate'`` every BatchNorm is, with ``'pass'`` they pass relevance on."""
    torch.manual_seed(9)
    model = _linear_batch_norms(_Ribeiro())
    x = torch.randn(2, 12, 256)
    before = snapshot(model)
    with torch.no_grad():
        logits = model(x)[[0, 1], [1, 4]].numpy()
    with pytest.warns(UserWarning, match="'blocks.0.bn2' cannot be merged.*'blocks.1.bn2'.*z-rule"):
        default = explain(model, x, "lrp_z", target_class=[1, 4])
    relevance = explain(model, x, "lrp_z", target_class=[1, 4], batchnorm="innvestigate")
    passed = explain(model, x, "lrp_z", target_class=[1, 4], batchnorm="pass")
    assert_unchanged(model, before)
    # no biases, BatchNorms without mean and shift: every rule conserves (up to the stabilisers)
    for maps in (default, relevance, passed):
        np.testing.assert_allclose(maps.reshape(2, -1).sum(1), logits, rtol=2e-3, atol=1e-5)
    signed = explain(model, x, "lrpsign_epsilon_0_1", target_class=1, batchnorm="innvestigate")
    assert signed.shape == x.shape and np.isfinite(signed).all()


class _Chomp1d(nn.Module):
    """The TCN's (Bai et al. 2018) causal crop: a parameter-free module of the user's."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, : -self.size].contiguous()


class _TemporalBlock(nn.Module):
    def __init__(self, n_in: int, n_out: int, dilation: int, chomp_module: bool) -> None:
        super().__init__()
        pad = 2 * dilation
        self.conv1 = nn.utils.parametrizations.weight_norm(
            nn.Conv1d(n_in, n_out, 3, padding=pad, dilation=dilation, bias=False)
        )
        self.conv2 = nn.utils.parametrizations.weight_norm(
            nn.Conv1d(n_out, n_out, 3, padding=pad, dilation=dilation, bias=False)
        )
        self.pad, self.chomp_module = pad, chomp_module
        self.chomp = _Chomp1d(pad)
        self.downsample = nn.Conv1d(n_in, n_out, 1, bias=False) if n_in != n_out else None

    def _crop(self, h: torch.Tensor) -> torch.Tensor:
        return self.chomp(h) if self.chomp_module else h[:, :, : -self.pad]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self._crop(self.conv2(torch.relu(self._crop(self.conv1(x))))))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class _TCN(nn.Module):
    def __init__(self, chomp_module: bool) -> None:
        super().__init__()
        widths = [2, 8, 8, 8]
        self.blocks = nn.Sequential(
            *(_TemporalBlock(widths[i], widths[i + 1], 2**i, chomp_module) for i in range(3))
        )
        self.linear = nn.Linear(8, 4, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.blocks(x)[:, :, -1])


def test_a_temporal_convolutional_network_conserves_and_its_chomp_module_is_its_slice() -> None:
    """Bai et al.'s TCN (weight-normalised dilated causal convs, Chomp1d, residual sums): before,
    LRP refused the Chomp1d modules (no rule) and the weight-normalised convs."""
    torch.manual_seed(0)
    model, sliced = _TCN(chomp_module=True).eval(), _TCN(chomp_module=False).eval()
    sliced.load_state_dict(model.state_dict())
    x = torch.randn(3, 2, 48)
    target = [0, 3, 1]
    logits = model(x).detach()[torch.arange(3), torch.tensor(target)].numpy()
    relevance = explain(model, x, "lrp_z", target_class=target)
    np.testing.assert_allclose(relevance.reshape(3, -1).sum(1), logits, rtol=1e-4)
    for method in ("lrp_epsilon_0_1", "lrpsign_epsilon_0_1_std_x", "lrp_alpha_1_beta_0"):
        assert (
            rel_error(
                explain(model, x, method, target_class=target),
                explain(sliced, x, method, target_class=target),
            )
            < 1e-6
        )


def test_modules_the_forward_pass_does_not_use_need_no_rule() -> None:
    """An unused head and an empty ``nn.Sequential`` (torchvision's ShuffleNetV2 has one per
    block) raised "no rule" errors before."""

    class _WithUnused(nn.Module):
        def __init__(self, extras: bool) -> None:
            super().__init__()
            self.conv = nn.Conv1d(2, 4, 3)
            self.fc = nn.Linear(4 * 6, 2)
            if extras:
                self.unused = nn.LSTM(4, 4)  # a head left over from another experiment
                self.norm = nn.LayerNorm(4)
                self.shortcut = nn.Sequential()  # the identity

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.conv(x))
            if hasattr(self, "shortcut"):
                h = self.shortcut(h)
            return self.fc(h.flatten(1))

    torch.manual_seed(0)
    model, plain = _WithUnused(True).eval(), _WithUnused(False).eval()
    plain.load_state_dict(model.state_dict(), strict=False)
    x = torch.randn(3, 2, 8)
    assert_same_maps(model, plain, x, ("lrp_epsilon_0_1", "lrpsign_z", "lrp_alpha_2_beta_1"), 1, rtol=1e-6)


def test_a_module_without_a_rule_called_with_keywords_is_still_refused() -> None:
    """The probe decides by the module's output, so a keyword call (no positional input for the
    hooks to see) is caught; an nn.Embedding of positions, whose output is constant, needs none."""

    class _Keywords(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(2, 4, 3, padding=1)
            self.shuffle: nn.Module = nn.Softmax2d()  # a torch module LRP has no rule for
            self.positions = nn.Embedding(8, 8)
            self.fc = nn.Linear(32, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.conv(x) + self.positions(torch.arange(8))[:4]
            return self.fc(self.shuffle(input=h[..., None]).flatten(1))

    model = _Keywords().eval()
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match=r"no rule for these modules: 'shuffle' \(Softmax2d\)"):
        explain(model, torch.randn(2, 2, 8), "lrp_epsilon_0_1", target_class=0)
    assert_unchanged(model, before)
    model.shuffle = nn.Identity()  # the positional lookup alone needs no rule
    assert np.isfinite(explain(model, torch.randn(2, 2, 8), "lrp_epsilon_0_1", target_class=0)).all()


class _HeadNorms(nn.Module):
    """xresnet1d's classifier head: BatchNorms after pooling and after a ReLU, each feeding a
    Linear through dropout (no Conv/Linear feeds them); ``folded`` has them folded by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(2, 8, 5, padding=2), nn.ReLU(), nn.Conv1d(8, 8, 5, padding=2), nn.ReLU()
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.BatchNorm1d(8),
            nn.Dropout(0.3),
            nn.Linear(8, 16),
            nn.ReLU(),
            nn.BatchNorm1d(16),
            nn.Dropout(0.3),
            nn.Linear(16, 3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.body(x)))

    def folded(self) -> nn.Module:
        folded = copy.deepcopy(self)
        for norm_at, linear_at in ((1, 3), (5, 7)):
            folded.head[linear_at] = _fold_into_next(folded.head[norm_at], folded.head[linear_at])
            folded.head[norm_at] = nn.Identity()
        return folded


def _fold_into_next(norm: nn.Module, layer: nn.Module) -> nn.Module:
    """``layer(norm(x))`` as one layer of the same kind, written out for a Linear or an unpadded,
    ungrouped Conv."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    shift = norm.bias - norm.running_mean * scale
    folded = copy.deepcopy(layer)
    if folded.bias is None:
        folded.bias = nn.Parameter(torch.zeros(layer.weight.shape[0]))
    with torch.no_grad():
        view = (1, -1, *([1] * (layer.weight.ndim - 2)))
        folded.bias += (layer.weight * shift.view(view)).flatten(1).sum(1)
        folded.weight *= scale.view(view)
    return folded


@pytest.mark.parametrize(
    "method",
    [
        "lrp_epsilon_0_1",
        "lrpsign_epsilon_0_5",
        "lrp_alpha_1_beta_0",
        "lrp_alpha_2_beta_1",
        "lrp_zplus",
        "w2lrp_z",
    ],
)
def test_a_batchnorm_no_layer_feeds_is_merged_into_the_layer_it_feeds(method: str) -> None:
    """Equal to the head folded by hand, under every rule; the model given back unchanged."""
    torch.manual_seed(6)
    model = randomize_batch_norm(_HeadNorms()).eval()
    x = torch.randn(3, 2, 32)
    folded = model.folded().eval()
    torch.testing.assert_close(model(x), folded(x))
    before = snapshot(model)
    ours = explain(model, x, method, target_class=[0, 1, 2])
    expected = explain(folded, x, method, target_class=[0, 1, 2])
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    assert_unchanged(model, before)


@pytest.mark.parametrize("first", ["linear", "conv"])
@pytest.mark.parametrize(
    "method", ["lrp_epsilon_0_1", "flatlrp_epsilon_0_1", "lrpsign_z", "w2lrp_alpha_1_beta_0"]
)
def test_a_batchnorm_on_the_input_is_merged_into_an_unpadded_first_layer(first: str, method: str) -> None:
    """The first layer then reads x itself, so input-layer rules apply to x (they were errors)."""
    torch.manual_seed(7)
    if first == "linear":
        model = nn.Sequential(nn.BatchNorm1d(12), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 2))
        x = torch.randn(4, 12)
    else:
        model = nn.Sequential(
            nn.BatchNorm1d(2), nn.Conv1d(2, 4, 5), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 12, 2)
        )
        x = torch.randn(4, 2, 16)
    model = randomize_batch_norm(model).eval()
    folded = nn.Sequential(_fold_into_next(model[0], model[1]), *model[2:]).eval()
    torch.testing.assert_close(model(x), folded(x))
    ours = explain(model, x, method, target_class=1)
    np.testing.assert_allclose(ours, explain(folded, x, method, target_class=1), rtol=1e-5, atol=1e-7)


def test_batchnorm_pass_does_not_merge_from_the_input_side() -> None:
    """``'pass'`` merges only a BatchNorm that a Conv/Linear feeds, as zennit's canonizers: one on
    the input before an unpadded Conv passes relevance unchanged, the input-layer rules act on the
    normalised signal and SIGN says so (under 'merge' it is merged: no warning). The random CNNs
    above cover BatchNorms in the head."""
    torch.manual_seed(8)
    model = randomize_batch_norm(
        nn.Sequential(nn.BatchNorm1d(2), nn.Conv1d(2, 4, 5), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 12, 2))
    ).eval()
    x = torch.randn(4, 2, 16)
    before = snapshot(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # merged under 'merge': the first layer reads x
        explain(model, x, "lrpsign_epsilon_0_1", target_class=1)
    with pytest.warns(UserWarning, match="first layer '1'.*takes the sign of that input"):
        explain(model, x, "lrpsign_epsilon_0_1", target_class=1, batchnorm="pass")
    normalised = model[0](x).detach()
    for method in ("lrpsign_epsilon_0_1", "flatlrp_z", "lrp_epsilon_0_1"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = explain(model, x, method, target_class=1, batchnorm="pass")
            expected = explain(model[1:], normalised, method, target_class=1)
        assert rel_error(ours, expected) < 1e-6, method
    assert_unchanged(model, before)


def test_a_batchnorm_before_a_padded_conv_or_feeding_two_layers_is_not_merged() -> None:
    """Merging them would change the function (the padding, the second layer): they pass
    relevance on, and an input-layer rule on the normalised input is refused unless relevance
    passes them unchanged (``batchnorm='pass'``)."""
    padded = nn.Sequential(
        nn.BatchNorm1d(2), nn.Conv1d(2, 4, 5, padding=2), nn.Flatten(), nn.Linear(64, 2)
    ).eval()
    x = torch.randn(2, 2, 16)
    with pytest.warns(UserWarning, match="'0' cannot be merged: it normalises the model's input"):
        explain(padded, x, "lrp_epsilon_0_1", target_class=0)
    for mode in ("merge", "innvestigate"):
        with pytest.raises(UnsupportedModelError, match="'0' normalises the model's input.*zblrp_"):
            explain(padded, x, "zblrp_epsilon_0_1", target_class=0, batchnorm=mode)
    # under 'pass' relevance passes it unchanged, as through a normalisation written in forward:
    # the input-layer rules act on the normalised signal (SIGN says so in a warning)
    randomize_batch_norm(padded)
    rest = padded[1:]
    for method in ("zblrp_epsilon_0_1", "lrpsign_epsilon_0_1", "flatlrp_z"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = explain(padded, x, method, target_class=[0, 1], batchnorm="pass")
        expected = explain(rest, padded[0](x).detach(), method, target_class=[0, 1], batchnorm="pass")
        assert rel_error(ours, expected) < 1e-6

    class _TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool, self.norm = nn.AdaptiveAvgPool1d(1), nn.BatchNorm1d(2)
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.norm(self.pool(x).flatten(1))
            return self.a(h) + self.b(h)

    with pytest.warns(UserWarning, match="'norm' cannot be merged"):
        explain(_TwoHeads().eval(), torch.randn(2, 2, 16), "lrp_epsilon_0_1", target_class=0)


@pytest.mark.parametrize("bias", [True, False])
def test_a_linear_between_two_batchnorms_takes_both_merges_and_gets_its_tensors_back(bias: bool) -> None:
    """An input BatchNorm merged from the input side and the one after merged from the output
    side into the same Linear (bias-free too): equal to folding both by hand."""
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.BatchNorm1d(10), nn.Linear(10, 8, bias=bias), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)
    )
    model = randomize_batch_norm(model).eval()
    first = _fold_into_next(model[0], model[1])
    norm = model[2]
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    with torch.no_grad():
        first.weight *= scale[:, None]
        first.bias.copy_((first.bias - norm.running_mean) * scale + norm.bias)
    folded = nn.Sequential(first, nn.ReLU(), model[4]).eval()
    x = torch.randn(4, 10)
    torch.testing.assert_close(model(x), folded(x))
    before = snapshot(model)
    for method in ("lrp_epsilon_0_1", "flatlrp_z", "lrp_alpha_1_beta_0"):
        ours = explain(model, x, method, target_class=2)
        np.testing.assert_allclose(ours, explain(folded, x, method, target_class=2), rtol=1e-5, atol=1e-7)
    assert_unchanged(model, before)
    assert (model[1].bias is None) == (not bias)


class _StandardisedConv(nn.Conv1d):
    """Weight standardisation (as in NFNets / BiT): the forward computes the weight it uses."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        w = (w - w.mean(dim=(1, 2), keepdim=True)) / (w.std(dim=(1, 2), keepdim=True) + 1e-5)
        return F.conv1d(x, w, self.bias, self.stride, self.padding)


class _MaskedLinear(nn.Linear):
    """A pruning mask applied in the forward."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__(n_in, n_out)
        self.register_buffer("mask", (torch.rand(n_out, n_in) > 0.3).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class _ScaledInputConv(nn.Conv1d):
    """A forward of its own that rescales the input and uses the weight as it is."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(2.0 * x)


def _net(conv: type[nn.Module], linear: type[nn.Module] = nn.Linear) -> nn.Sequential:
    return nn.Sequential(
        conv(2, 4, 5, padding=2), nn.ReLU(), conv(4, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), linear(64, 3)
    ).eval()


def test_layers_that_compute_their_weight_refuse_the_rules_that_change_parameters() -> None:
    """A Conv/Linear subclass whose forward standardises or masks its weight: the rules that act
    on the layer's output (z, epsilon, SIGN) give the maps of the model with the computed weights
    as plain parameters; those that change the parameters (alpha-beta, z+, gamma, w-square, flat,
    z-beta) would change them before the forward's computation (measured: off by 3e2 to 3e6 of
    the map's scale) and are refused, naming the layer and the rule. A forward of its own that
    uses the weight as it is (here: rescaling the input) keeps every rule."""
    torch.manual_seed(0)
    model = _net(_StandardisedConv, _MaskedLinear)
    plain = _net(nn.Conv1d)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if k != "5.mask"})
    with torch.no_grad():
        for i in (0, 2):
            w = model[i].weight
            plain[i].weight.copy_(
                (w - w.mean(dim=(1, 2), keepdim=True)) / (w.std(dim=(1, 2), keepdim=True) + 1e-5)
            )
        plain[5].weight.mul_(model[5].mask)
    x = torch.randn(3, 2, 16)
    torch.testing.assert_close(model(x), plain(x))
    before = snapshot(model)
    for method in ("lrp_z", "lrp_epsilon_0_1", "lrpsign_epsilon_0_25_std_x", "lrpz_epsilon_0_5"):
        assert (
            rel_error(explain(model, x, method, target_class=1), explain(plain, x, method, target_class=1))
            < 1e-5
        )
    for method, rule in [
        ("lrp_alpha_1_beta_0", "alpha-beta"),
        ("lrp_zplus", "alpha-beta"),
        ("lrp_gamma_0_25", "gamma"),
        ("lrp_sequential_composite_a", "alpha-beta"),
        ("w2lrp_epsilon_0_1", "w-square"),
        ("flatlrp_epsilon_0_1", "flat"),
        ("zblrp_epsilon_0_1", "z-beta"),
    ]:
        with pytest.raises(
            UnsupportedModelError,
            match=f"layer '0' \\(_StandardisedConv\\) computes the weight.*the {rule} rule",
        ):
            explain(model, x, method, target_class=1)
    masked_head = nn.Sequential(
        nn.Conv1d(2, 4, 5, padding=2), nn.ReLU(), nn.Flatten(), _MaskedLinear(64, 3)
    ).eval()
    with pytest.raises(UnsupportedModelError, match="layer '3' \\(_MaskedLinear\\)"):
        explain(masked_head, x, "lrp_alpha_2_beta_1", target_class=1)
    assert_unchanged(model, before)
    scaled = _net(_ScaledInputConv)
    doubled = _net(nn.Conv1d)
    doubled.load_state_dict(scaled.state_dict())
    with torch.no_grad():
        for i in (0, 2):
            doubled[i].weight.mul_(2.0)
    for method in ("lrp_alpha_1_beta_0", "lrp_alpha_2_beta_1", "flatlrp_zplus", "lrp_epsilon_0_1"):
        assert (
            rel_error(explain(scaled, x, method, target_class=2), explain(doubled, x, method, target_class=2))
            < 1e-5
        )


class _LinearOverTime(nn.Module):
    """A Linear over the last axis of (B, C, T), then a BatchNorm over the C channels (axis 1)."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.mix = nn.Linear(steps, steps, bias=False)
        self.norm = nn.BatchNorm1d(6)
        self.fc = nn.Linear(6 * steps, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.norm(self.mix(x))).flatten(1))


@pytest.mark.parametrize("steps", [10, 6])
def test_a_batch_norm_over_another_axis_than_the_linear_before_it_is_not_merged(steps: int) -> None:
    """The Linear's features are the last axis, the BatchNorm's channels axis 1: merging scaled
    the Linear's outputs by the wrong BatchNorm entries (with 6 steps: silently, a map of another
    function; with 10: a shape error). It stays a z-rule layer: relevance conserved."""
    torch.manual_seed(0)
    model = _linear_batch_norms(_LinearOverTime(steps))
    x = torch.randn(3, 6, steps)
    with pytest.warns(UserWarning, match="'norm' cannot be merged: 'mix' \\(Linear\\) acts on the last axis"):
        relevance = explain(model, x, "lrp_z", target_class=1)
    with torch.no_grad():
        logit = model(x)[:, 1].numpy()
    np.testing.assert_allclose(relevance.reshape(3, -1).sum(1), logit, rtol=2e-3, atol=1e-6)


class _TransposedNorm(nn.BatchNorm1d):
    """A BatchNorm over the last axis of (B, T, C): a forward of its own around torch's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class _TokenNet(nn.Module):
    """(B, T, 2) in; a BatchNorm over the features of each step, as a subclass or written out."""

    def __init__(self, subclass: bool) -> None:
        super().__init__()
        self.subclass = subclass
        self.embed = nn.Linear(2, 6)
        self.norm = _TransposedNorm(6) if subclass else nn.BatchNorm1d(6)
        self.fc = nn.Linear(60, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.embed(x))
        h = self.norm(h) if self.subclass else self.norm(h.transpose(1, 2)).transpose(1, 2)
        return self.fc(h.flatten(1))


def test_a_batch_norm_subclass_with_its_own_forward_takes_the_z_rule_through_it() -> None:
    """Its channels may lie on another axis than 1 (here it transposes around torch's forward):
    never merged, the z-rule through its forward (iNNvestigate's form needs the channel axis; it
    failed with a shape error). Equal to the same BatchNorm written out in the parent's forward
    under ``batchnorm='innvestigate'`` (up to iNNvestigate's stabiliser), in every mode but 'pass',
    where relevance passes through both alike."""
    torch.manual_seed(2)
    model = randomize_batch_norm(_TokenNet(subclass=True), 1).eval()
    written = _TokenNet(subclass=False).eval()
    written.load_state_dict(model.state_dict())
    x = torch.randn(3, 10, 2)
    torch.testing.assert_close(model(x), written(x))
    before = snapshot(model)
    for method in ("lrp_z", "lrp_epsilon_0_1", "lrp_alpha_1_beta_0"):
        expected = explain(written, x, method, target_class=2, batchnorm="innvestigate")
        with pytest.warns(
            UserWarning, match="'norm' cannot be merged: it is a _TransposedNorm with a forward"
        ):
            ours = explain(model, x, method, target_class=2)
        # 1.4e-4 apart: the stabilisers differ (iNNvestigate's 1e-7 on (x - mean) y, the
        # z-rule's on exact zeros of y)
        assert rel_error(ours, expected) < 1e-3
        assert rel_error(explain(model, x, method, target_class=2, batchnorm="innvestigate"), expected) < 1e-3
        passed = explain(model, x, method, target_class=2, batchnorm="pass")
        assert rel_error(passed, explain(written, x, method, target_class=2, batchnorm="pass")) < 1e-5
    assert_unchanged(model, before)


class _FixedStatisticsNorm(nn.Module):
    """Conv -> a normalisation by running statistics -> ReLU -> head: an nn.BatchNorm1d
    ('module'), the same BatchNorm's tensors given to F.batch_norm in forward ('function'), or an
    nn.InstanceNorm1d that tracks running statistics (in eval mode the same affine map)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv1d(2, 6, 3, padding=1)
        self.norm = nn.BatchNorm1d(6)
        if kind == "instance_norm":
            self.norm = nn.InstanceNorm1d(6, affine=True, track_running_stats=True)
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        if self.kind == "function":
            n = self.norm
            h = F.batch_norm(h, n.running_mean, n.running_var, n.weight, n.bias, training=False)
        else:
            h = self.norm(h)
        return self.fc(torch.relu(h).mean(-1))


@pytest.mark.parametrize("kind", ["function", "instance_norm"])
def test_a_normalisation_by_running_statistics_outside_a_batch_norm_module_takes_the_z_rule(
    kind: str,
) -> None:
    """Before, F.batch_norm in forward (and nn.InstanceNorm1d with running statistics) let LRP's
    gradient through: relevance scaled by the normalisation's slope (lrp_z maps 138 % off here),
    and the InstanceNorm was a module without a rule. Now the z-rule of an unmerged
    BatchNorm: equal to the same BatchNorm module under batchnorm='innvestigate' (up to
    iNNvestigate's stabiliser). DeepLIFT takes it as the affine map it is (exactly equal)."""
    torch.manual_seed(3)
    written = randomize_batch_norm(_FixedStatisticsNorm("module"), 2).eval()
    model = _FixedStatisticsNorm(kind).eval()
    model.load_state_dict(written.state_dict(), strict=False)
    if kind == "instance_norm":
        for name in ("running_mean", "running_var", "weight", "bias"):
            getattr(model.norm, name).data.copy_(getattr(written.norm, name))
    x = torch.randn(3, 2, 12)
    torch.testing.assert_close(model(x), written(x))
    before = snapshot(model)
    for method in ("lrp_z", "lrp_epsilon_0_1", "lrp_alpha_1_beta_0", "lrpsign_epsilon_0_25_std_x"):
        expected = explain(written, x, method, target_class=[0, 1, 2], batchnorm="innvestigate")
        ours = explain(model, x, method, target_class=[0, 1, 2])
        assert rel_error(ours, expected) < 1e-3, method
    assert_unchanged(model, before)
    np.testing.assert_array_equal(explain(model, x, "deeplift"), explain(written, x, "deeplift"))


def test_a_batch_norm_by_the_batchs_statistics_is_an_lrp_error() -> None:
    with pytest.raises(
        UnsupportedModelError, match=r"statistics of the batch \(F.batch_norm with training=True\)"
    ):
        explain(BatchStatistics().eval(), torch.randn(2, 1, 20), "lrp_epsilon_0_1")


class _SharedNorm(nn.Module):
    """One BatchNorm or one Conv called more than once (weight sharing across leads or views)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.a = nn.Conv1d(1, 4, 3, padding=1, bias=False)
        self.b = nn.Conv1d(1, 4, 5, padding=2, bias=False)
        self.norm = nn.BatchNorm1d(4)
        self.fc = nn.Linear(64, 2, bias=False)
        if kind == "tied":  # two convs, one weight (the BatchNorm after one of them)
            self.b = nn.Conv1d(1, 4, 3, padding=1, bias=False)
            self.b.weight = self.a.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "tied":
            h = torch.relu(self.norm(self.a(x))) + torch.relu(self.b(-x))
        elif self.kind == "after_two_convs":  # one BatchNorm after two different convs
            h = torch.relu(self.norm(self.a(x))) + torch.relu(self.norm(self.b(x)))
        elif self.kind == "after_one_of_two_calls":  # the conv twice, the BatchNorm after one call
            h = torch.relu(self.norm(self.a(x))) + torch.relu(self.a(-x))
        elif self.kind == "one_call_also_skips":  # both calls normalised, the first also skips
            z = self.a(x)
            h = torch.relu(self.norm(z)) + z + torch.relu(self.norm(self.a(-x)))
        else:  # siamese: the conv and its BatchNorm on two views, nothing else
            h = torch.relu(self.norm(self.a(x))) + torch.relu(self.norm(self.a(-x)))
        return self.fc(h.flatten(1))


class _TwoHeadsOneNorm(nn.Module):
    """One head BatchNorm (after pooling) called on two views, each feeding its own Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(1, 4, 3, padding=1, bias=False)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.norm = nn.BatchNorm1d(4)
        self.first, self.second = nn.Linear(4, 2, bias=False), nn.Linear(4, 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        one = self.norm(self.pool(torch.relu(self.a(x))).flatten(1))
        two = self.norm(self.pool(torch.relu(self.a(-x))).flatten(1))
        return self.first(one) + self.second(two)


class _ConcatenationWithASharedConv(nn.Module):
    """A BatchNorm over two convs joined over channels, one of which is called again elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(1, 2, 3, padding=1, bias=False)
        self.b = nn.Conv1d(1, 2, 5, padding=2, bias=False)
        self.norm = nn.BatchNorm1d(4)
        self.fc, self.other = nn.Linear(64, 2, bias=False), nn.Linear(32, 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        joined = torch.relu(self.norm(torch.cat([self.a(x), self.b(x)], 1)))
        return self.fc(joined.flatten(1)) + self.other(torch.relu(self.a(-x)).flatten(1))


@pytest.mark.parametrize(
    ("factory", "why"),
    [
        (lambda: _SharedNorm("after_two_convs"), "called more than once, after different layers"),
        (
            lambda: _SharedNorm("after_one_of_two_calls"),
            "'a' is called 2 times and the BatchNorm follows only 1",
        ),
        (lambda: _SharedNorm("one_call_also_skips"), "the output of 'a' also feeds another operation"),
        (lambda: _SharedNorm("tied"), "'a' shares its weight with another layer"),
        (_TwoHeadsOneNorm, "'norm' cannot be merged: it is fed by an operation that is not a module"),
        (_ConcatenationWithASharedConv, "'norm' cannot be merged: it normalises a concatenation"),
        (lambda: _SharedNorm("siamese"), None),
    ],
    ids=[
        "after_two_convs",
        "after_one_of_two_calls",
        "one_call_also_skips",
        "tied",
        "two_heads",
        "concatenation",
        "siamese",
    ],
)
def test_a_batch_norm_or_conv_called_more_than_once_is_merged_only_where_every_call_allows(
    factory: Callable[[], nn.Module], why: str | None
) -> None:
    """A merge makes the BatchNorm the identity for every call and rewrites the layer's weight
    for every call (and for a layer tied to it): the first six were merged silently before (maps
    of another function: relevance off the logit by 10-90 %); now they are z-rule layers. The
    siamese conv + BatchNorm, the same pair on two views, is still merged. Bias-free layers and
    BatchNorms without shift: the z-rule conserves the logit either way."""
    torch.manual_seed(0)
    model = randomize_batch_norm(factory(), 1, zero_shift=True).eval()
    x = torch.randn(3, 1, 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        relevance = explain(model, x, "lrp_z", target_class=1)
    messages = [str(w.message) for w in caught if "cannot be merged" in str(w.message)]
    if why is None:
        assert not messages
    else:
        assert len(messages) == 1 and why in messages[0]
    with torch.no_grad():
        logit = model(x)[:, 1].numpy()
    # up to the stabilisers (the z-rule's on the BatchNorm, the sum's 1e-6)
    np.testing.assert_allclose(relevance.reshape(3, -1).sum(1), logit, rtol=2e-3, atol=1e-5)


# ----------------------------------------------------------------- target 0 of one output: -z
class _FullyConvolutional(nn.Module):
    """One output from a last Conv (one channel) and global average pooling: no Linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 8, 7, padding=3), nn.BatchNorm1d(8), nn.ReLU(), nn.Conv1d(8, 1, 5, padding=2)
        )
        self.pool = nn.AdaptiveAvgPool1d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


def _single_output(arch: str) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(3)
    if arch == "ecg":
        model: nn.Module = ECGModel()
        x = torch.randn(4, 1, 2000)
    elif arch == "resnet":
        model = ResNet1D(classes=1)
        x = torch.randn(4, 12, 500)
    else:
        model = _FullyConvolutional()
        x = torch.randn(4, 1, 300)
    randomize_batch_norm(model, 3)
    model.eval()
    layer = _output_layer(model)
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda module, args, out: seen.append(out.detach()))
    with torch.no_grad():
        model(x)
        middle = seen[0].flatten(1).mean(1).sort().values[1:3].mean()
        layer.bias -= middle  # z of both signs in the batch, none zero
    handle.remove()
    return model, x


def _output_layer(model: nn.Module) -> nn.Module:
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d))][-1]


def _negated_twin(model: nn.Module) -> nn.Module:
    """A copy whose output is -z: its last Linear/Conv negated (weight and bias)."""
    twin = copy.deepcopy(model)
    layer = _output_layer(twin)
    with torch.no_grad():
        layer.weight.neg_()
        layer.bias.neg_()
    return twin


def _two_logit_twin(model: nn.Module) -> nn.Module:
    """A copy with logits (-z, z): the output layer's rows (-W, W), biases (-b, b)."""
    twin = copy.deepcopy(model)
    layer = _output_layer(twin)
    with torch.no_grad():
        layer.weight.data = torch.cat([-layer.weight, layer.weight])
        layer.bias.data = torch.cat([-layer.bias, layer.bias])
    layer.out_features = layer.out_channels = 2  # type: ignore[assignment]  # for the repr only
    return twin


@pytest.mark.parametrize("arch", ["ecg", "fully_convolutional"])
@pytest.mark.parametrize("method", [m for m in COMPOSITES if re.search("alpha|zplus|composite", m)])
def test_target_0_of_a_single_output_model_is_zennits_map_of_the_negated_model(
    arch: str, method: str
) -> None:
    """Target 0 explains -z (METHODS.md): the alpha-beta and z+ rules on the output layer are not
    symmetric in its sign, so -z is explained through the negated layer, not as minus the map of
    z (which gave the shipped binary model all-zero alpha1-beta0 maps for 197 of 200 normal test
    beats: no positive contribution to z). Checked against zennit on a copy negated by hand."""
    model, x = _single_output(arch)
    reference, canonizers = _reference_model(arch, model)
    with torch.no_grad():
        z = reference(x)[:, 0]
    assert (z > 0).any() and (z < 0).any()  # both signs: the two rules' cases
    targets = [0, 1, 0, 1]
    of_z = _zennit(reference, COMPOSITES[method](canonizers, x), x, [0] * 4)
    of_minus_z = _zennit(_negated_twin(reference), COMPOSITES[method](canonizers, x), x, [0] * 4)
    expected = torch.stack([of_minus_z[i] if t == 0 else of_z[i] for i, t in enumerate(targets)])
    before = snapshot(model)
    ours = explain(model, x, method, target_class=targets)
    assert_unchanged(model, before)  # the negated layer is restored
    assert rel_error(ours, expected) < 1e-4
    minus_of_z = rel_error(ours[[0, 2]], -of_z[[0, 2]])
    if "composite" in method and arch == "ecg":  # epsilon on the Linear output layer: symmetric
        assert minus_of_z < 1e-4
    else:  # alpha-beta on the output layer (the composites' on a Conv)
        assert minus_of_z > 0.1


LRP_NAMES = [m for m in list_methods() if re.match(r"(lrp|lrpsign|lrpz|w2lrp|flatlrp|zblrp)_", m)]


@pytest.mark.parametrize("arch", ["ecg", "resnet", "fully_convolutional"])
def test_every_lrp_method_explains_target_0_as_class_0_of_the_two_logit_twin(arch: str) -> None:
    """A single-output model's target 0 and 1 give the maps of classes 0 and 1 of the model with
    logits (-z, z), for every LRP method, one sample or the batch, and the model is left as it was."""
    model, x = _single_output(arch)
    twin = _two_logit_twin(model)
    before = snapshot(model)
    for method in LRP_NAMES:
        for targets in ([0, 0, 0, 0], [1, 0, 0, 1]):
            ours = explain(model, x, method, target_class=targets)
            assert rel_error(ours, explain(twin, x, method, target_class=targets)) < 1e-5, method
        alone = explain(model, x[1], method, target_class=0)
        assert rel_error(alone, ours[1]) < 1e-4, method
    assert_unchanged(model, before)


class _RectifiedOutput(nn.Module):
    """One output through a ReLU after the last Linear: -z is no network of these layers."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 1), nn.Softplus())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_target_0_is_an_error_for_asymmetric_rules_where_negating_the_last_layer_does_not_negate_z() -> None:
    model = _RectifiedOutput().eval()
    x = torch.randn(3, 6)
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match=r"alpha-beta rule.*'net\.2'.*does not negate"):
        explain(model, x, "lrp_alpha_1_beta_0", target_class=0)
    assert_unchanged(model, before)
    # the sign-symmetric rules explain -z as minus the map of z; target 1 needs no negation
    np.testing.assert_allclose(
        explain(model, x, "lrp_epsilon_0_1", target_class=0),
        -explain(model, x, "lrp_epsilon_0_1", target_class=1),
    )
    assert np.isfinite(explain(model, x, "lrp_alpha_1_beta_0", target_class=1)).all()
    # a kept sigmoid: -sigmoid(z) is no network of these layers either (sigmoid(-z) = 1 - sigmoid(z))
    binary = ECGModel().eval()
    with pytest.raises(UnsupportedModelError, match="explain_output='activation'"):
        explain(binary, torch.randn(2, 1, 2000), "lrp_zplus", target_class=0, explain_output="activation")
