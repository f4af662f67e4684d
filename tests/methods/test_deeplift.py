"""DeepLIFT (Rescale) and DeepLIFT SHAP: against captum where captum is right, against the chain
of multipliers computed layer by layer by hand where it is not (a ReLU next to a max pooling,
captum issue 1104), summation-to-delta, batch = per sample, functional and in-place forms, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import DeepLift, DeepLiftShap
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from models import (
    ARCHITECTURES,
    SELF_GATED,
    BatchStatistics,
    SelfGated,
    assert_unchanged,
    build,
    captum_targets,
    logit_model,
    random_sequential,
    rel_error,
    snapshot,
)
from signxai import UnsupportedModelError, explain
from signxai.ecg.models import ECGModel

ACTIVATIONS = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.ELU, nn.LeakyReLU, nn.Softplus, nn.GELU)


def _separated(dims: int) -> nn.Module:
    """A CNN with max pooling and activations of several kinds, no two of them adjacent."""
    conv, pool = (nn.Conv1d, nn.MaxPool1d) if dims == 1 else (nn.Conv2d, nn.MaxPool2d)
    size = 16 if dims == 1 else 32
    return nn.Sequential(
        conv(2, 6, 3, padding=1),
        pool(2),
        conv(6, 8, 3, padding=1),
        nn.ELU(),
        conv(8, 4, 3, padding=1),
        pool(2),
        nn.Flatten(),
        nn.Linear(size, 16),
        nn.Tanh(),
        nn.Linear(16, 12),
        nn.Softplus(),
        nn.Linear(12, 8),
        nn.LeakyReLU(0.1),
        nn.Linear(8, 3),
    )


def _captum_case(name: str) -> tuple[nn.Module, torch.Tensor]:
    if name == "resnet":
        return build("resnet")
    torch.manual_seed(4)
    dims = 1 if name == "cnn1d" else 2
    x = torch.randn(3, 2, 16) if dims == 1 else torch.randn(3, 2, 16, 8)
    return _separated(dims).eval(), x


@pytest.mark.filterwarnings("ignore:Setting forward, backward hooks")
@pytest.mark.parametrize("name", ["resnet", "cnn1d", "cnn2d"])
def test_equals_captum_where_no_two_nonlinear_modules_meet(name: str) -> None:
    """captum's DeepLift and DeepLiftShap, on models where its module hooks are right."""
    model, x = _captum_case(name)
    index, target = captum_targets(model, x)
    baseline = 0.3 * torch.randn(*x.shape[1:])
    before = snapshot(model)
    ours = explain(model, x, "deeplift", target_class=target, baseline=baseline)
    assert_unchanged(model, before)
    theirs = DeepLift(logit_model(model)).attribute(x, baseline.expand_as(x), target=index)
    assert rel_error(ours, theirs) < 1e-5
    references = 0.5 * torch.randn(5, *x.shape[1:])
    ours = explain(model, x, "deeplift_shap", target_class=target, baselines=references, batch_size=4)
    theirs = DeepLiftShap(logit_model(model)).attribute(x, references, target=index)
    assert rel_error(ours, theirs) < 1e-5


def _max_pool_by_hand(
    layer: nn.Module, a: torch.Tensor, r: torch.Tensor, m: torch.Tensor, eps: float
) -> torch.Tensor:
    """DeepLIFT's max pooling rule window by window (kernel = stride, no padding, partial end
    windows where ceil_mode): max(y, y0) - y0 to the input's maximum, y - max(y, y0) to the
    reference's, divided by the input's difference there."""
    k, spatial = layer.kernel_size, a.shape[2:]
    k = (k,) * len(spatial) if isinstance(k, int) else tuple(k)
    counts = [-(-n // s) if layer.ceil_mode else n // s for n, s in zip(spatial, k, strict=True)]
    share = torch.zeros_like(a)
    plain = torch.zeros_like(a)
    for window in np.ndindex(*counts):
        ranges = [slice(i * s, min((i + 1) * s, n)) for i, s, n in zip(window, k, spatial, strict=True)]
        cut = (slice(None), slice(None), *ranges)
        wa, wr = a[cut].flatten(2), r[cut].flatten(2)
        ia, ir = wa.argmax(-1, keepdim=True), wr.argmax(-1, keepdim=True)
        ya, yr = wa.gather(-1, ia), wr.gather(-1, ir)
        top = torch.maximum(ya, yr)
        g = m[(slice(None), slice(None), *window)].unsqueeze(-1)
        part = torch.zeros_like(wa).scatter_add(-1, ia, g * (top - yr)).scatter_add(-1, ir, g * (ya - top))
        share[cut] = part.reshape(share[cut].shape)
        plain[cut] = torch.zeros_like(wa).scatter_add(-1, ia, g).reshape(plain[cut].shape)
    dx = a - r
    small = dx.abs() < eps
    return torch.where(small, plain, share / torch.where(small, torch.ones_like(dx), dx))


def _multipliers_by_hand(
    layers: list[nn.Module], x: torch.Tensor, baseline: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """The chain of DeepLIFT multipliers through a list of layers, one layer at a time."""
    eps = 1e-10
    pairs = [(x, baseline)]
    with torch.no_grad():
        for layer in layers:
            a, r = pairs[-1]
            pairs.append((layer(a), layer(r)))
    m = weights
    for layer, (a, r), (ya, yr) in reversed(list(zip(layers, pairs[:-1], pairs[1:], strict=True))):
        if isinstance(layer, ACTIVATIONS):
            leaf = a.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(layer(leaf), leaf, m)
            dx = a - r
            ratio = (ya - yr) / torch.where(dx.abs() < eps, torch.ones_like(dx), dx)
            m = torch.where(dx.abs() < eps, grad, m * ratio)
        elif isinstance(layer, (nn.MaxPool1d, nn.MaxPool2d)):
            m = _max_pool_by_hand(layer, a, r, m, eps)
        else:  # linear: the multiplier is the gradient
            leaf = a.clone().requires_grad_(True)
            (m,) = torch.autograd.grad(layer(leaf), leaf, m)
    return m


@pytest.mark.parametrize("name", ["ecg", "ecg_beat", "cnn2d"])
def test_equals_the_chain_of_multipliers_by_hand(name: str) -> None:
    """The tutorial's model (ReLU then MaxPool in every block, also with partial windows) and a
    2D CNN: the multipliers computed layer by layer, max pooling window by window."""
    model, x = build(name)
    if isinstance(model, ECGModel):
        layers = [*model.features, nn.Flatten(), *list(model.fc)[:-1]]
    else:
        layers = [*model.features, *model.classifier]
    baseline = 0.5 * torch.randn_like(x)
    with torch.no_grad():
        outputs = logit_model(model)(x)
    target = [1] * len(x) if outputs.shape[1] == 1 else [2, 0, 1]
    weights = torch.zeros_like(outputs)
    weights[range(len(x)), [0] * len(x) if outputs.shape[1] == 1 else target] = 1.0
    by_hand = (x - baseline) * _multipliers_by_hand(layers, x, baseline, weights)
    ours, delta = explain(
        model, x, "deeplift", target_class=target, baseline=baseline, return_convergence_delta=True
    )
    assert rel_error(ours, by_hand) < 1e-5
    assert np.abs(delta).max() < 1e-4


@settings(max_examples=12, deadline=None)
@given(
    name=st.sampled_from(ARCHITECTURES),
    seed=st.integers(0, 10_000),
    scale=st.floats(0.0, 2.0),
    target=st.integers(0, 2),
)
def test_attributions_sum_to_the_change_of_the_logit(name: str, seed: int, scale: float, target: int) -> None:
    """Summation-to-delta: sum(R) = z(x) - z(x0), for any input and reference."""
    model, x = build(name, seed=seed % 3)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(x.shape, generator=generator)
    baseline = scale * torch.randn(x.shape, generator=generator)
    if isinstance(model, ECGModel) and model.config["num_classes"] == 1:
        target = target % 2  # 0 or 1: the logit's negative or the logit
    attribution, delta = explain(
        model, x, "deeplift", target_class=target, baseline=baseline, return_convergence_delta=True
    )
    with torch.no_grad():
        logits = logit_model(model)(torch.cat([x, baseline]))
    column = 0 if logits.shape[1] == 1 else target
    sign = -1.0 if logits.shape[1] == 1 and target == 0 else 1.0
    change = sign * (logits[: len(x), column] - logits[len(x) :, column])
    np.testing.assert_allclose(attribution.reshape(len(x), -1).sum(1), change.numpy(), atol=1e-4, rtol=1e-4)
    assert np.abs(delta).max() < 1e-4 * max(1.0, float(change.abs().max()))


@pytest.mark.parametrize("seed", range(16))
def test_random_cnns_sum_to_the_change_and_equal_captum_without_max_pooling(seed: int) -> None:
    """Random Sequential CNNs (strides, dilations, groups, BatchNorms anywhere, ReLU/LeakyReLU/
    ELU, average and max pooling): the attributions sum to the change of the logit from the zero
    reference; where no max pooling follows an activation, they equal captum's."""
    model, x, layers = random_sequential(seed)
    with torch.no_grad():
        target = model(x).argmax(1)
        change = (model(x) - model(torch.zeros_like(x))).gather(1, target[:, None])[:, 0]
    ours = explain(model, x, "deeplift", target.tolist())
    np.testing.assert_allclose(
        ours.reshape(3, -1).sum(1, dtype=np.float64), change.numpy(), rtol=1e-4, atol=1e-6, err_msg=layers
    )
    if not any(word in layers.split() for word in ("max", "gmp")):
        expected = DeepLift(model).attribute(x, target=target)
        assert rel_error(torch.as_tensor(ours, dtype=torch.float64), expected) < 1e-6, layers


def test_batch_equals_per_sample() -> None:
    model, x = build("ecg")
    baseline = torch.randn_like(x)
    batch = explain(model, x, "deeplift", target_class=[1, 1, 0], baseline=baseline)
    for i, target in enumerate([1, 1, 0]):
        one = explain(model, x[i : i + 1], "deeplift", target_class=target, baseline=baseline[i : i + 1])
        np.testing.assert_allclose(batch[i : i + 1], one, rtol=1e-5, atol=1e-7)


class _Functional(nn.Module):
    """A conv net written with functional activations, in-place ReLUs, max pooling with indices
    and a global max over time; ``modules=True`` the same net with modules."""

    def __init__(self, modules: bool) -> None:
        super().__init__()
        self.modules_ = modules
        self.conv1 = nn.Conv1d(2, 6, 5, padding=2)
        self.conv2 = nn.Conv1d(6, 8, 3, padding=1)
        self.conv3 = nn.Conv1d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 3)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool1d(2)
        self.tanh = nn.Tanh()
        self.global_pool = nn.AdaptiveMaxPool1d(1)
        self.elu = nn.ELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x)
        if self.modules_:
            h = self.pool(self.relu(h))
            h = self.tanh(self.conv2(h))
            h = self.global_pool(self.elu(self.conv3(h))).flatten(1)
        else:
            h.relu_()
            h, _ = F.max_pool1d(h, 2, return_indices=True)
            h = torch.tanh(self.conv2(h))
            h = F.elu(self.conv3(h)).amax(dim=-1)
        return self.head(h)


def test_functional_and_in_place_forms_equal_the_modules() -> None:
    torch.manual_seed(5)
    modular = _Functional(modules=True).eval()
    functional = _Functional(modules=False).eval()
    functional.load_state_dict(modular.state_dict())
    x, baseline = torch.randn(4, 2, 24), torch.randn(4, 2, 24)
    expected, delta = explain(
        modular, x, "deeplift", target_class=2, baseline=baseline, return_convergence_delta=True
    )
    assert np.abs(delta).max() < 1e-5
    ours = explain(functional, x, "deeplift", target_class=2, baseline=baseline)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-7)
    # the rule differs from the gradient (which x * grad would give) and from captum's hooks,
    # which see no functional activation
    gradient = explain(functional, x - baseline, "gradient", target_class=2)
    assert rel_error(ours, gradient * (x - baseline).numpy()) > 0.05


class _Reduced(nn.Module):
    """A conv layer, its channels reduced over time in one of several ways, a linear head: maxima
    and minima in every spelling, and selections by masks or indices from the signal itself."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5, padding=2)
        self.head = nn.Linear(4, 2)
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        pooled = {
            "min": lambda: h.min(dim=2).values,
            "neg_max": lambda: -torch.max(-h, 2, keepdim=True)[0].squeeze(2),
            "amin": lambda: torch.amin(h, dim=-1),
            "pool": lambda: -F.adaptive_max_pool1d(-h, 1).squeeze(2),
            "where": lambda: torch.where(h > 0, h, 0.1 * h).mean(-1),  # a leaky ReLU by hand
            "argmax": lambda: h.gather(-1, h.argmax(-1, keepdim=True)).squeeze(-1),  # at the peak
            "mask": lambda: (h * (x > 0).float()).mean(-1),
            # constants that only take the signal's shape: no selection
            "shape": lambda: (
                torch.maximum(h, torch.zeros_like(h)).mean(-1) + torch.zeros(1).expand_as(h).mean(-1)
            ),
        }[self.kind]()
        return self.head(pooled)


def test_minimum_over_time_is_the_negated_maximum_in_every_spelling() -> None:
    torch.manual_seed(6)
    reference = _Reduced("pool").eval()
    x, baseline = torch.randn(3, 1, 30), torch.randn(3, 1, 30)
    expected = explain(reference, x, "deeplift", target_class=1, baseline=baseline)
    for kind in ("min", "neg_max", "amin"):
        model = _Reduced(kind).eval()
        model.load_state_dict(reference.state_dict())
        ours, delta = explain(
            model, x, "deeplift", target_class=1, baseline=baseline, return_convergence_delta=True
        )
        np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-7)
        assert np.abs(delta).max() < 1e-5


class _Unpooled(nn.Module):
    """An encoder-decoder: max pooling with indices, then max unpooling to the input's length."""

    def __init__(self) -> None:
        super().__init__()
        self.encode = nn.Conv1d(1, 4, 5, padding=2)
        self.pool = nn.MaxPool1d(2, return_indices=True)
        self.unpool = nn.MaxUnpool1d(2)
        self.head = nn.Linear(4 * 20, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled, index = self.pool(torch.relu(self.encode(x)))
        return self.head(torch.tanh(self.unpool(pooled, index)).flatten(1))


@pytest.mark.parametrize("kind", ["where", "argmax", "mask"])
def test_selections_by_masks_or_indices_from_the_signal_are_errors(kind: str) -> None:
    """captum passes their gradient: a piecewise map the reference would take elsewhere, and the
    attributions would not add up to the change of the logit."""
    with pytest.raises(UnsupportedModelError, match="mask or indices computed from the input"):
        explain(_Reduced(kind).eval(), torch.randn(2, 1, 20), "deeplift")
    _, delta = explain(
        _Reduced("shape").eval(), torch.randn(2, 1, 20), "deeplift", return_convergence_delta=True
    )
    assert np.abs(delta).max() < 1e-5


def test_unpooling_to_the_maxima_of_the_input_is_an_error() -> None:
    """Unpooling puts each value where the input's maximum was, and the reference's maximum may be
    elsewhere: not linear in the difference (passing its gradient broke summation-to-delta by
    0.016 here), so the pooling indices are followed and their use is an error."""
    torch.manual_seed(10)
    model = _Unpooled().eval()
    with pytest.raises(UnsupportedModelError, match="max_unpool1d .* indices computed from the input"):
        explain(model, torch.randn(3, 1, 20), "deeplift", target_class=1)


def test_deeplift_shap_is_the_mean_over_baselines_in_any_chunking() -> None:
    model, x = build("ecg_beat")
    references = torch.randn(3, *x.shape[1:])
    ours = explain(model, x, "deeplift_shap", target_class=[0, 4, 2], baselines=references, batch_size=2)
    each = [explain(model, x, "deeplift", target_class=[0, 4, 2], baseline=references[k]) for k in range(3)]
    np.testing.assert_allclose(ours, np.mean(each, axis=0), rtol=1e-5, atol=1e-7)
    many = explain(model, x, "deeplift_shap", target_class=[0, 4, 2], baselines=references, batch_size=100)
    np.testing.assert_allclose(ours, many, rtol=1e-5, atol=1e-7)


def test_the_reference_itself_gets_no_attribution_and_the_binary_target_flips_sign() -> None:
    model, x = build("ecg_beat")
    assert np.abs(explain(model, x, "deeplift", baseline=x)).max() == 0.0
    binary = ECGModel(num_classes=1, length=140).eval()
    up = explain(binary, x, "deeplift", target_class=1)
    np.testing.assert_allclose(explain(binary, x, "deeplift", target_class=0), -up, rtol=1e-6)


class _Clipped(nn.Module):
    """ReLU written as a maximum with a constant tensor, in both argument orders."""

    def __init__(self, spelling: str) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.head = nn.Linear(4 * 20, 2)
        self.spelling = spelling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        zero = torch.zeros(())
        if self.spelling == "maximum":
            h = torch.maximum(h, zero)
        elif self.spelling == "max_first_constant":
            h = torch.max(zero.expand_as(h), h)
        else:
            h = F.relu(h)
        return self.head(h.flatten(1))


def test_a_maximum_with_a_constant_is_an_activation() -> None:
    torch.manual_seed(8)
    reference = _Clipped("relu").eval()
    x, baseline = torch.randn(3, 1, 20), torch.randn(3, 1, 20)
    expected = explain(reference, x, "deeplift", target_class=0, baseline=baseline)
    for spelling in ("maximum", "max_first_constant"):
        model = _Clipped(spelling).eval()
        model.load_state_dict(reference.state_dict())
        ours = explain(model, x, "deeplift", target_class=0, baseline=baseline)
        np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-8)


def test_a_softmax_output_explained_as_it_is_is_an_error_that_says_so() -> None:
    model, x = build("ecg_beat")
    with pytest.raises(UnsupportedModelError, match="explain_output='activation'"):
        explain(model, x, "deeplift", explain_output="activation")
    explain(ECGModel(num_classes=1, length=140).eval(), x, "deeplift", explain_output="activation")


class _Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.gate = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x))
        h = h * torch.sigmoid(self.gate(h.mean(-1)))[..., None]  # squeeze-and-excitation
        return self.head(h.mean(-1))


class _Divided(nn.Module):
    """``h / sum |h|``: a quotient of two input-dependent tensors (no rule); ``c / h`` and
    ``rsqrt`` are functions of one tensor (the Rescale rule)."""

    def __init__(self, by_itself: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.by_itself = by_itself

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        if self.by_itself:
            return (h / h.abs().sum(-1, keepdim=True)).mean(-1)
        return (1.0 / (1.0 + h.abs())).mean(-1) + torch.rsqrt(2.0 + h.sin()).mean(-1)


def test_a_constant_divided_by_the_signal_is_an_elementwise_function() -> None:
    torch.manual_seed(9)
    model = _Divided(by_itself=False).eval()
    x, baseline = torch.randn(3, 1, 20), torch.randn(3, 1, 20)
    ours, delta = explain(
        model, x, "deeplift", target_class=2, baseline=baseline, return_convergence_delta=True
    )
    assert np.abs(delta).max() < 1e-5
    assert np.abs(ours).max() > 0


class _InnerSoftmax(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.softmax(self.conv(x).mean(-1), dim=-1))


class _Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, 4, batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x.transpose(1, 2))[0][:, -1])


class _Transformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv1d(1, 8, 5, padding=2)
        self.encoder = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x).transpose(1, 2)).mean(1))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (_Gated(), "mul of 2 input-dependent tensors"),
        (_Divided(), "div of 2 input-dependent tensors"),
        (_InnerSoftmax(), "softmax"),
        (_Recurrent(), "lstm"),
        (_Transformer(), "input-dependent"),
        (nn.Sequential(nn.Conv1d(1, 4, 3), nn.LayerNorm(18), nn.Flatten(), nn.Linear(72, 2)), "layer_norm"),
    ],
    ids=["gate", "division", "softmax", "lstm", "transformer", "layer_norm"],
)
def test_models_without_a_rule_are_errors_that_leave_them_unchanged(model: nn.Module, message: str) -> None:
    model.train()  # an error must restore train mode too
    x = torch.randn(2, 1, 20)
    before = snapshot(model)
    with pytest.raises(UnsupportedModelError, match=message):
        explain(model, x, "deeplift")
    assert_unchanged(model, before)


def test_scripted_models_are_errors() -> None:
    model, x = build("ecg_beat")
    scripted = torch.jit.script(logit_model(model))
    with pytest.raises(UnsupportedModelError, match="deeplift needs module hooks"):
        explain(scripted, x, "deeplift")
    with pytest.raises(UnsupportedModelError, match="deeplift_shap needs module hooks"):
        explain(scripted, x, "deeplift_shap")


def test_batch_norm_in_training_mode_is_an_error() -> None:
    with pytest.raises(UnsupportedModelError, match="training mode"):
        explain(BatchStatistics().eval(), torch.randn(2, 1, 20), "deeplift")


@pytest.mark.parametrize("form", list(SELF_GATED))
def test_an_activation_written_as_a_product_takes_the_rescale_rule_of_its_module(form: str) -> None:
    """``h * sigmoid(h)`` and friends: the Rescale rule from ``h``, as for ``nn.SiLU``. Where the
    reference leaves ``h`` unchanged (a kernel-1 conv of unchanged samples) the multiplier is the
    derivative, through the product's own operations; that path runs here, though it cannot show
    in the map (a unit whose value does not change passes no attribution)."""
    written, module = SELF_GATED[form]
    torch.manual_seed(3)
    reference = SelfGated(module).eval()
    reference.conv1 = nn.Conv1d(2, 4, 1)
    model = SelfGated(module, written).eval()
    model.conv1 = nn.Conv1d(2, 4, 1)
    model.load_state_dict(reference.state_dict())
    x = torch.randn(3, 2, 32)
    baseline = x.clone()
    baseline[..., ::2] = 0.0  # every other sample unchanged: x - x0 = 0 there
    ours, delta = explain(
        model, x, "deeplift", target_class=[0, 1, 2], baseline=baseline, return_convergence_delta=True
    )
    expected = explain(reference, x, "deeplift", target_class=[0, 1, 2], baseline=baseline)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    assert np.abs(delta).max() < 1e-4


class _FoldedLeads(nn.Module):
    """One encoder for every lead: the leads folded into the batch, (B, 3, T) -> (3B, 1, T)."""

    def __init__(self, chunk: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5, padding=2)
        self.relu = nn.ReLU()  # a module: captum's DeepLift gives only modules its rule
        self.head = nn.Linear(3 * 4, 2)
        self.chunk = chunk

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.shape[0]
        h = self.relu(self.conv(x.reshape(rows * 3, 1, -1))).mean(dim=-1)
        return self.head(h.reshape(rows, 12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.chunk is None:
            return self.encode(x)
        return torch.cat([self.encode(part) for part in x.split(self.chunk)])


def test_rows_folded_into_the_batch_pair_and_a_batch_run_in_parts_is_refused() -> None:
    """Folding the leads into the batch keeps each row's reference in the other half (captum's
    DeepLift agrees); running the batch in parts would pair rows with other rows' references."""
    torch.manual_seed(0)
    model = _FoldedLeads().eval()
    x, reference = torch.randn(4, 3, 30), 0.1 * torch.randn(1, 3, 30)
    ours = explain(model, x, "deeplift", target_class=1, baseline=reference)
    expected = DeepLift(model).attribute(x, baselines=reference.expand_as(x), target=1)
    np.testing.assert_allclose(ours, expected.detach().numpy(), rtol=1e-4, atol=1e-6)
    model.chunk = 3
    with pytest.raises(
        UnsupportedModelError, match="applies a nonlinearity to 9 rows, not a multiple of the 8 rows"
    ):
        explain(model, x, "deeplift", target_class=1)
    assert np.isfinite(explain(model, x, "integrated_gradients", target_class=1)).all()
