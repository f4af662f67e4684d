"""The torch module types LRP knows, by how relevance passes them.

Layers with weights (Linear, Conv, transposed Conv) get a rule; activations, max pooling,
dropout, reshapes, paddings and modules that only move samples pass relevance on; average
pooling redistributes it; BatchNorms are merged or become layers of their own; attention and
layer/group normalisation are explained only when ``attention=`` says how. A parameter-free
module type of the user's can be added with :func:`register_passive`.
"""

from __future__ import annotations

from torch import nn

ACTIVATIONS = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.ReLU6,
    nn.Hardtanh,
    nn.PReLU,
    nn.RReLU,  # in eval mode a leaky ReLU with the mean slope
    nn.SELU,
    nn.CELU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.LogSigmoid,
    nn.Softsign,
    nn.Threshold,
    nn.Softshrink,
    nn.Hardshrink,
    nn.Tanhshrink,
)
PASSIVE = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    # rearrangements: every output is one input sample, moved (relevance flows back to it)
    nn.PixelShuffle,
    nn.PixelUnshuffle,
    nn.ChannelShuffle,
    nn.Unfold,
    # max unpooling puts each pooled sample back where the pooling found it (zeros elsewhere)
    nn.MaxUnpool1d,
    nn.MaxUnpool2d,
    nn.MaxUnpool3d,
    nn.Fold,  # sums overlapping patches: F.fold, which the graph mode explains like a sum pooling
    nn.ZeroPad1d,
    nn.ZeroPad2d,
    nn.ZeroPad3d,
    # the other paddings copy input samples (their relevance flows back to the copied sample) or
    # add constants (whose relevance is absorbed, like a bias's)
    nn.ConstantPad1d,
    nn.ConstantPad2d,
    nn.ConstantPad3d,
    nn.ReflectionPad1d,
    nn.ReflectionPad2d,
    nn.ReflectionPad3d,
    nn.ReplicationPad1d,
    nn.ReplicationPad2d,
    nn.ReplicationPad3d,
    nn.CircularPad1d,
    nn.CircularPad2d,
    nn.CircularPad3d,
    nn.Upsample,  # F.interpolate inside, which the graph mode explains by the z-rule
    nn.GLU,  # F.glu inside: the graph mode holds its gate (gates='signal') or raises
)
#: Transposed convolutions (decoders, U-Nets): linear maps like a Conv, with the weight laid out
#: ``(in, out / groups, *kernel)``.
CONV_TRANSPOSES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, *CONV_TRANSPOSES)
#: Modules that only hold others (an empty one is the identity).
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
WEIGHTED = (nn.Linear, *CONVOLUTIONS)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
AVERAGE_POOLS = (
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
)


_EXTRA_PASSIVE: list[type[nn.Module]] = []


def register_passive(module_type: type[nn.Module]) -> None:
    """Let LRP pass through a parameter-free module type whose operations it handles.

    For modules that only rearrange or combine tensors (reshapes, sums, concatenation): the
    graph mode and autograd take care of them, so they need no rule of their own.
    """
    _EXTRA_PASSIVE.append(module_type)


def passive_types() -> tuple[type[nn.Module], ...]:
    """:data:`PASSIVE` and the module types added by :func:`register_passive`."""
    return (*PASSIVE, *_EXTRA_PASSIVE)


#: Modules that ``attention='cp'`` or ``'attnlrp'`` explains.
HELD_MODULES = (nn.MultiheadAttention, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)
#: Explained by the graph mode in every mode: with running statistics an affine map (the z-rule),
#: by each sample's own statistics held under ``attention='cp'``/``'attnlrp'`` (else an error).
INSTANCE_NORMS = (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
