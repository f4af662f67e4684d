"""Small models shared by the tests: the tutorial's ECGModel, a 12-lead 1D ResNet, a 2D CNN."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from zennit.layer import Sum

from signxai import explain
from signxai.ecg.models import ECGModel  # the tutorial's architecture, parametrised by length

__all__ = [
    "CNN2D",
    "Bound",
    "ECGModel",
    "PreActivationResNet1D",
    "ResNet1D",
    "WithMetadata",
    "build",
    "captum_targets",
    "logit_model",
    "random_residual",
    "random_sequential",
    "randomize_batch_norm",
    "rel_error",
    "snapshot",
]


class Block(nn.Module):
    """Residual block: conv-bn-relu-conv-bn, plus the (projected) input, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int, sum_module: bool, bias: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(cin, cout, 7, stride=stride, padding=3, bias=bias)
        self.bn1 = nn.BatchNorm1d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv1d(cout, cout, 7, padding=3, bias=bias)
        self.bn2 = nn.BatchNorm1d(cout)
        self.project = (
            nn.Conv1d(cin, cout, 1, stride=stride, bias=bias) if stride != 1 or cin != cout else None
        )
        self.relu2 = nn.ReLU()
        self.sum = Sum() if sum_module else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        identity = x if self.project is None else self.project(x)
        if self.sum is not None:
            out = self.sum(torch.stack([out, identity], dim=-1))
        else:
            out = out + identity
        return self.relu2(out)


class ResNet1D(nn.Module):
    """A 12-lead 1D ResNet-style net: stem, two residual blocks, global average pool, linear."""

    def __init__(
        self, leads: int = 12, classes: int = 5, sum_module: bool = False, bias: bool = True
    ) -> None:
        super().__init__()
        self.stem = nn.Conv1d(leads, 16, 15, stride=2, padding=7, bias=bias)
        self.stem_bn = nn.BatchNorm1d(16)
        self.stem_relu = nn.ReLU()
        self.block1 = Block(16, 16, 1, sum_module, bias)
        self.block2 = Block(16, 32, 2, sum_module, bias)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(32, classes, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_relu(self.stem_bn(self.stem(x)))
        x = self.block2(self.block1(x))
        return self.fc(self.pool(x).flatten(1))

    def batch_norm_names(self) -> list[tuple[list[str], str]]:
        """(linear names, batch norm name) pairs, for zennit's NamedMergeBatchNorm."""
        pairs = [(["stem"], "stem_bn")]
        for block in ("block1", "block2"):
            pairs += [([f"{block}.conv1"], f"{block}.bn1"), ([f"{block}.conv2"], f"{block}.bn2")]
        return pairs


class PreActivationBlock(nn.Module):
    """Hannun et al. (Nat. Med. 2019): BN-ReLU-conv-BN-ReLU-conv, plus the input."""

    def __init__(self, channels: int, sum_module: bool) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm1d(channels)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv1d(channels, channels, 9, padding=4)
        self.bn2 = nn.BatchNorm1d(channels)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv1d(channels, channels, 9, padding=4)
        self.sum = Sum() if sum_module else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu2(self.bn2(self.conv1(self.relu1(self.bn1(x))))))
        return self.sum(torch.stack([out, x], dim=-1)) if self.sum is not None else out + x


class PreActivationResNet1D(nn.Module):
    """A pre-activation 1D ResNet in the style of Hannun et al. 2019: a conv-BN-ReLU stem, two
    blocks whose first BatchNorm follows a ReLU or a residual sum (neither can be merged into a
    Conv), a final BN-ReLU, global average pooling and a linear layer. ``sum_module``: residual
    sums as zennit's ``Sum`` (for zennit's direct use); the modules are listed in call order, so
    zennit's ``SequentialMergeBatchNorm`` merges exactly the mergeable BatchNorms."""

    def __init__(self, leads: int = 2, classes: int = 4, sum_module: bool = False) -> None:
        super().__init__()
        self.stem = nn.Conv1d(leads, 8, 15, padding=7)
        self.stem_bn = nn.BatchNorm1d(8)
        self.stem_relu = nn.ReLU()
        self.blocks = nn.Sequential(PreActivationBlock(8, sum_module), PreActivationBlock(8, sum_module))
        self.bn = nn.BatchNorm1d(8)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem_relu(self.stem_bn(self.stem(x))))
        return self.fc(self.pool(self.relu(self.bn(x))).flatten(1))


class CNN2D(nn.Module):
    """A small 2D CNN with BatchNorm and average pooling."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class WithMetadata(nn.Module):
    """An ECG conv net whose head also reads per-patient metadata (age, sex) and a mask keyword.

    ``leads``, ``kernel`` and ``pool`` (``'mean'`` or ``'amax'`` over time) vary the conv part.
    """

    def __init__(self, leads: int = 2, kernel: int = 5, pool: str = "mean") -> None:
        super().__init__()
        self.conv = nn.Conv1d(leads, 4, kernel, padding=kernel // 2)
        self.meta = nn.Linear(2, 4)
        self.head = nn.Linear(8, 3)
        self.pool = pool

    def forward(
        self, x: torch.Tensor, metadata: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if mask is not None:
            x = x * mask
        h = getattr(torch.relu(self.conv(x)), self.pool)(-1)
        return self.head(torch.cat([h, torch.relu(self.meta(metadata))], dim=1))


class Bound(nn.Module):
    """A :class:`WithMetadata` with one sample's metadata and mask bound: the per-sample reference."""

    def __init__(self, model: nn.Module, metadata: torch.Tensor, mask: torch.Tensor) -> None:
        super().__init__()
        self.model, self.metadata, self.mask = model, metadata, mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.shape[0]
        return self.model(x, self.metadata.expand(rows, -1), mask=self.mask.expand(rows, -1, -1))


class FirstOutput(nn.Module):
    """The wrapper signxai's error for a tuple output advises, ``return self.model(x)[0]``: a
    multi-task model's logits, its other outputs computed and dropped."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[0]


def randomize_batch_norm(model: nn.Module, seed: int = 0, zero_shift: bool = False) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics and affine parameters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                module.weight.copy_(0.5 + torch.rand(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                if zero_shift:
                    module.bias.zero_()
                    module.running_mean.zero_()
                else:
                    module.bias.copy_(0.1 * torch.randn(n, generator=generator))
                    module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
    return model


def build(name: str, seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """A model in eval mode with random weights and a matching input batch of 3."""
    torch.manual_seed(seed)
    if name == "ecg":
        model: nn.Module = ECGModel()
        x = torch.randn(3, 1, 2000)
    elif name == "ecg_beat":  # pooling with partial windows (ceil_mode) at 140 samples
        model = ECGModel(num_classes=5, length=140)
        x = torch.randn(3, 1, 140)
    elif name == "resnet":
        model = ResNet1D()
        x = torch.randn(3, 12, 1000)
    elif name == "cnn2d":
        model = CNN2D()
        x = torch.randn(3, 3, 16, 16)
    else:
        raise KeyError(name)
    randomize_batch_norm(model, seed)
    return model.eval(), x


def _random_batch_norm(channels: int, generator: torch.Generator, dtype: torch.dtype) -> nn.BatchNorm1d:
    """A BatchNorm1d of ``dtype`` with random running statistics and affine parameters and
    ``eps`` 1e-12 (the values drawn in ``dtype``)."""
    module = nn.BatchNorm1d(channels, eps=1e-12, dtype=dtype)
    with torch.no_grad():
        module.running_mean.uniform_(-1, 1, generator=generator)
        module.running_var.uniform_(0.5, 2, generator=generator)
        module.weight.uniform_(0.5, 1.5, generator=generator)
        module.bias.uniform_(-0.5, 0.5, generator=generator)
    return module


def random_sequential(seed: int) -> tuple[nn.Sequential, torch.Tensor, str]:
    """A random 1D CNN as an ``nn.Sequential`` (float64, eval mode), its input batch of 3 and a
    short description of its layers.

    One to four blocks of Conv1d (kernel 1-7, stride 1-3, padding, dilation, groups, with or
    without bias), an optional BatchNorm after it, ReLU/LeakyReLU/ELU, an optional BatchNorm after
    the activation and an optional max or average pooling (padding, ``ceil_mode``,
    ``count_include_pad``); an optional BatchNorm on the input; a global average or max pooling or
    a flatten; optional BatchNorms in the head (after pooling, after a hidden Linear) and dropout.
    Every BatchNorm has random statistics, affine parameters and ``eps`` 1e-12 (zennit's merge
    keeps ``eps`` in the emptied BatchNorm).
    """
    torch.manual_seed(seed)  # the layers' own initialisation
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)

    def chance(p: float) -> bool:
        return bool(rng.random() < p)

    def pick(*options: Any) -> Any:
        return options[int(rng.integers(len(options)))]

    def norm(channels: int) -> nn.BatchNorm1d:
        return _random_batch_norm(channels, generator, torch.float64)

    channels, length = int(pick(1, 2, 3)), int(pick(37, 64, 100, 141))
    layers: list[nn.Module] = []
    words: list[str] = []

    def add(module: nn.Module, word: str) -> None:
        layers.append(module)
        words.append(word)

    def out_length() -> int:
        with torch.no_grad():
            return int(
                nn.Sequential(*layers)
                .double()(torch.zeros(1, channels, length, dtype=torch.float64))
                .shape[-1]
            )

    if chance(0.25):
        add(norm(channels), "bn-input")
    width, size = channels, length
    for _ in range(int(rng.integers(1, 5))):
        kernel, stride, dilation = int(pick(1, 3, 4, 5, 7)), int(pick(1, 1, 2, 3)), int(pick(1, 1, 2))
        padding = int(pick(0, kernel // 2, (kernel - 1) * dilation // 2))
        groups = int(pick(*[g for g in (1, 2, width) if width % g == 0]))
        out = max(groups, int(pick(4, 6, 8)) // groups * groups)
        if (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1 < 2:
            break
        bias = chance(0.8)
        add(
            nn.Conv1d(width, out, kernel, stride, padding, dilation, groups, bias=bias),
            f"conv{kernel}/{stride}",
        )
        width = out
        if chance(0.6):
            add(norm(width), "bn")
        add(pick(nn.ReLU(), nn.ReLU(), nn.LeakyReLU(0.1), nn.ELU()), "act")
        if chance(0.3):
            add(norm(width), "bn-after-act")
        size = out_length()
        if size >= 4 and chance(0.6):
            kernel = int(pick(2, 3))
            stride, padding, ceil = int(pick(1, 2, kernel)), int(pick(0, kernel // 2)), chance(0.5)
            if chance(0.5):
                add(nn.MaxPool1d(kernel, stride, padding, ceil_mode=ceil), "max")
            else:
                add(
                    nn.AvgPool1d(kernel, stride, padding, ceil_mode=ceil, count_include_pad=chance(0.5)),
                    "avg",
                )
            size = out_length()
    head = pick("gap", "gmp", "flatten")
    if head != "flatten":
        add(nn.AdaptiveAvgPool1d(1) if head == "gap" else nn.AdaptiveMaxPool1d(1), head)
    add(nn.Flatten(), "flatten")
    features = width * (size if head == "flatten" else 1)
    if chance(0.3):
        add(norm(features), "bn-head")
        if chance(0.5):
            add(nn.Dropout(0.2), "dropout")
    if chance(0.5):
        add(nn.Linear(features, 10), "linear")
        add(nn.ReLU(), "relu")
        features = 10
        if chance(0.4):
            add(norm(features), "bn-hidden")
    add(nn.Linear(features, 3), "linear")
    model = nn.Sequential(*layers).double().eval()
    x = torch.randn(3, channels, length, dtype=torch.float64, generator=generator)
    return model, x, " ".join(words)


class _RandomBlock(nn.Module):
    """A residual block (Conv-BN-act-Conv-BN plus a shortcut, then an activation), a
    pre-activation one (BN-act-Conv-BN-act-Conv plus a shortcut) or two branches joined by a
    concatenation over channels; the addition as zennit's ``Sum`` where ``sum_module``."""

    def __init__(
        self,
        width: int,
        out: int,
        choose: Callable[..., Any],
        norm: Callable[[int], nn.Module],
        sum_module: bool,
    ):
        super().__init__()
        kernel = int(choose(3, 5))
        self.kind = str(choose("residual", "concatenation", "pre-activation"))

        def act() -> nn.Module:
            return choose(nn.ReLU(), nn.LeakyReLU(0.1), nn.ELU())

        def conv(a: int, b: int, k: int = kernel) -> nn.Conv1d:
            return nn.Conv1d(a, b, k, padding=k // 2)

        if self.kind == "pre-activation":
            self.main = nn.Sequential(norm(width), act(), conv(width, out), norm(out), act(), conv(out, out))
        else:
            self.main = nn.Sequential(conv(width, out), norm(out), act(), conv(out, out), norm(out))
        projected = width != out or choose(True, False, False)
        self.shortcut = nn.Sequential(conv(width, out, 1), norm(out)) if projected else nn.Identity()
        self.branch = (
            nn.Sequential(conv(width, out, 1), norm(out), act()) if self.kind == "concatenation" else None
        )
        self.sum = Sum() if sum_module else None
        self.act = act()
        self.out = out * (2 if self.kind == "concatenation" else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch is not None:
            return self.act(torch.cat([self.main(x), self.branch(x)], 1))
        y, z = self.main(x), self.shortcut(x)
        y = self.sum(torch.stack([y, z], dim=-1)) if self.sum is not None else y + z
        return self.act(y) if self.kind == "residual" else y


class _RandomResidual(nn.Module):
    def __init__(self, seed: int, sum_module: bool) -> None:
        super().__init__()
        torch.manual_seed(seed)  # the layers' own initialisation
        rng = np.random.default_rng(seed)
        generator = torch.Generator().manual_seed(seed)

        def choose(*options: Any) -> Any:
            return options[int(rng.integers(len(options)))]

        def norm(channels: int) -> nn.Module:
            return _random_batch_norm(channels, generator, torch.float32)

        self.leads = int(choose(1, 2, 3))
        self.stem = nn.Sequential(nn.Conv1d(self.leads, 8, 7, padding=3), norm(8), nn.ReLU())
        blocks: list[nn.Module] = []
        width = 8
        for _ in range(int(rng.integers(1, 4))):
            block = _RandomBlock(width, int(choose(4, 8, 12)), choose, norm, sum_module)
            blocks.append(block)
            width = block.out
            if choose(True, False):
                blocks.append(choose(nn.AvgPool1d(2), nn.MaxPool1d(2)))
        self.blocks = nn.Sequential(*blocks)
        self.pool = choose(nn.AdaptiveAvgPool1d(1), nn.AdaptiveMaxPool1d(1))
        self.fc = nn.Linear(width, 3)
        self.kinds = " ".join(block.kind for block in blocks if isinstance(block, _RandomBlock))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))


def random_residual(seed: int) -> tuple[nn.Module, nn.Module, torch.Tensor, str]:
    """A random 1D CNN of one to three residual, pre-activation or concatenation blocks (float64,
    eval mode; additions in ``forward``), its twin for zennit (the same weights, the additions as
    zennit's ``Sum``), an input batch of 3 and the blocks' kinds. BatchNorms as in
    :func:`random_sequential`."""
    model = _RandomResidual(seed, sum_module=False).double().eval()
    twin = _RandomResidual(seed, sum_module=True).double().eval()
    twin.load_state_dict(model.state_dict())
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(3, model.leads, 64, dtype=torch.float64, generator=generator)
    return model, twin, x, model.kinds


ARCHITECTURES = ["ecg", "ecg_beat", "resnet", "cnn2d"]
CAM_LAYERS = {"ecg": "features.9", "ecg_beat": "features.9", "resnet": "block2.conv2", "cnn2d": "features.4"}


def logit_model(model: nn.Module) -> nn.Module:
    """The same model without its trailing activation, for captum (which explains outputs)."""
    import copy

    clone = copy.deepcopy(model)
    for container in clone.modules():
        if isinstance(container, nn.Sequential) and isinstance(container[-1], (nn.Sigmoid, nn.Softmax)):
            container[-1] = nn.Identity()
    return clone.eval()


def captum_targets(model: nn.Module, x: torch.Tensor) -> tuple[list[int], list[int]]:
    """(captum's output index, our target_class): for the single-output ECG model, target 1 = z."""
    with torch.no_grad():
        out = logit_model(model)(x)
    if out.shape[1] == 1:
        return [0] * len(x), [1] * len(x)
    return [1, 2, 0], [1, 2, 0]


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative L2 error of a against reference b."""
    a = (
        torch.tensor(np.array(a, dtype=np.float64))
        if not isinstance(a, torch.Tensor)
        else a.detach().double()
    )
    b = (
        torch.tensor(np.array(b, dtype=np.float64))
        if not isinstance(b, torch.Tensor)
        else b.detach().double()
    )
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


def assert_conserves(
    model: nn.Module, x: torch.Tensor, target: int, rtol: float, atol: float, method: str = "lrp_z"
) -> np.ndarray:
    """Explain ``x`` by ``method`` and assert that each sample's relevance sums to its logit
    ``target``; return the relevance."""
    relevance = explain(model, x, method, target_class=target)
    with torch.no_grad():
        logit = model(x)[:, target].numpy()
    np.testing.assert_allclose(relevance.reshape(len(x), -1).sum(1), logit, rtol=rtol, atol=atol)
    return relevance


def snapshot(model: nn.Module) -> dict[str, object]:
    """Everything about a model an explanation must leave as it was."""
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "hooks": [
            (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
            for m in model.modules()
        ],
        "parameters": [n for n, _ in model.named_parameters()],
        "attributes": [sorted(vars(m)) for m in model.modules()],
    }


def assert_same_maps(
    model: Any,
    reference: Any,
    x: Any,
    methods: Sequence[str],
    target_class: int,
    rtol: float,
    atol: float = 0.0,
) -> None:
    """Assert each method's map of ``model`` on ``x`` equals that of ``reference``."""
    for method in methods:
        np.testing.assert_allclose(
            explain(model, x, method, target_class=target_class),
            explain(reference, x, method, target_class=target_class),
            rtol=rtol,
            atol=atol,
            err_msg=method,
        )


def assert_unchanged(model: nn.Module, before: dict[str, object]) -> None:
    """Assert the model matches a snapshot bit for bit."""
    after = snapshot(model)
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["hooks"] == before["hooks"]
    assert after["parameters"] == before["parameters"]
    assert after["attributes"] == before["attributes"]  # e.g. no instance forward left behind
    state_before = before["state"]
    state_after = after["state"]
    assert isinstance(state_before, dict) and isinstance(state_after, dict)
    assert state_before.keys() == state_after.keys()
    for key, value in state_before.items():
        assert torch.equal(value, state_after[key]), key


#: Activations written as a product of the signal and a function of it, and the module that
#: computes the same function (the reference: LRP passes relevance through activations, DeepLIFT
#: rescales them).
SELF_GATED: dict[str, tuple[Callable[[nn.Module, torch.Tensor], torch.Tensor], type[nn.Module]]] = {
    "swish": (lambda m, h: h * torch.sigmoid(h), nn.SiLU),
    "swish, gate first": (lambda m, h: torch.sigmoid(h) * h, nn.SiLU),
    "swish, sigmoid module": (lambda m, h: h * m.sigmoid(h), nn.SiLU),
    "swish, scaled": (lambda m, h: (2 * h) * torch.sigmoid(h) / 2, nn.SiLU),
    "hard-swish": (lambda m, h: h * F.relu6(h + 3) / 6, nn.Hardswish),
    "hard-swish, hardsigmoid": (lambda m, h: h * F.hardsigmoid(h), nn.Hardswish),
    "mish": (lambda m, h: h * torch.tanh(F.softplus(h)), nn.Mish),
}


class BatchStatistics(nn.Module):
    """A conv, then ``F.batch_norm`` by the batch's own statistics (``training=True``): each
    sample's output depends on the others in the batch, which LRP and DeepLIFT refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(self.conv(x), None, None, training=True).mean(-1)


class SelfGated(nn.Module):
    """conv -> activation (the module, or written out as ``written``) -> conv -> ReLU -> linear."""

    def __init__(self, activation: type[nn.Module], written: Callable | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(2, 4, 5, padding=2)
        self.conv2 = nn.Conv1d(4, 4, 5, padding=2)
        self.fc = nn.Linear(4, 3)
        self.activation = activation()
        self.sigmoid = nn.Sigmoid()
        self.written = written

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x)
        h = self.written(self, h) if self.written is not None else self.activation(h)
        return self.fc(torch.relu(self.conv2(h)).mean(-1))


def reference_stft(signals: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """``torch.stft`` of ``signals`` ``(N, T)`` in float64 as explain_spectrogram's transform is
    defined (periodic Hann, ``center=True``, zero padding): complex ``(N, F, M)``."""
    hann = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    return torch.stft(
        signals.double(), n_fft, hop, window=hann, center=True, pad_mode="constant", return_complex=True
    )
