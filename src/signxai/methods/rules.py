"""LRP rules that zennit lacks, written on zennit's ``BasicHook``: z, epsilon-std_x and SIGN.

Each rule is a choice of gradient mapper (the stabilised denominator z') and reducer (what
multiplies the back-projected c = W^T (R / z')), like zennit's own ``Epsilon``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from zennit.core import BasicHook
from zennit.rules import NoMod

Z_FLOOR = 1e-7


def z_denominator(z: torch.Tensor) -> torch.Tensor:
    """z with exact zeros replaced by 1e-7 (the z-rule denominator)."""
    return torch.where(z == 0, torch.full_like(z, Z_FLOOR), z)


def epsilon_denominator(z: torch.Tensor, epsilon: torch.Tensor | float) -> torch.Tensor:
    """z + epsilon * sign(z), with sign(0) = +1."""
    return z + torch.where(z >= 0, 1.0, -1.0).to(z.dtype) * epsilon


def _input_times_gradient(inputs: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor]) -> Any:
    return inputs[0] * gradients[0]


class ZRule(BasicHook):
    """LRP-0: z' = z, R_in = a * W^T (R / z)."""

    def __init__(self) -> None:
        super().__init__(
            input_modifiers=[lambda input: input],
            param_modifiers=[NoMod()],
            output_modifiers=[lambda output: output],
            gradient_mapper=lambda out_grad, outputs: out_grad / z_denominator(outputs[0]),
            reducer=_input_times_gradient,
        )

    def copy(self) -> ZRule:
        """A fresh instance for another layer."""
        return ZRule()


class StdxEpsilon(BasicHook):
    """Epsilon rule whose epsilon is ``factor`` times the std (ddof 0) of this layer's input.

    The std is taken per sample over all non-batch axes of the layer's own input, so every layer
    (and every sample) gets its own epsilon; ``copy`` returns an instance with its own state.
    """

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.epsilon: torch.Tensor | None = None
        super().__init__(
            input_modifiers=[lambda input: input],
            param_modifiers=[NoMod()],
            output_modifiers=[lambda output: output],
            gradient_mapper=self._map,
            reducer=_input_times_gradient,
        )

    def forward(self, module: torch.nn.Module, input: Any, output: Any) -> None:
        """Store the input and its per-sample std for the backward pass."""
        super().forward(module, input, output)
        a = input[0].detach()
        std = a.flatten(1).std(dim=1, unbiased=False)
        self.epsilon = (self.factor * std).view(-1, *([1] * (output.ndim - 1)))

    def _map(self, out_grad: torch.Tensor, outputs: Sequence[torch.Tensor]) -> torch.Tensor:
        assert self.epsilon is not None
        return out_grad / epsilon_denominator(outputs[0], self.epsilon)

    def copy(self) -> StdxEpsilon:
        """A fresh instance with its own stored epsilon."""
        return StdxEpsilon(self.factor)


class SignRule(BasicHook):
    """SIGN input rule: z' = z (z-rule denominator), R_in = sign_mu(x) * W^T (R / z).

    sign_mu(x) is +1 where x >= mu and -1 elsewhere, so with mu = 0, sign(0) = +1
    (Gumpfer et al., "SIGNed explanations", Information Fusion 2023).
    """

    def __init__(self, mu: float = 0.0) -> None:
        self.mu = mu
        super().__init__(
            input_modifiers=[lambda input: input],
            param_modifiers=[NoMod()],
            output_modifiers=[lambda output: output],
            gradient_mapper=lambda out_grad, outputs: out_grad / z_denominator(outputs[0]),
            reducer=lambda inputs, gradients: (
                torch.where(inputs[0] >= mu, 1.0, -1.0).to(gradients[0].dtype) * gradients[0]
            ),
        )

    def copy(self) -> SignRule:
        """A fresh instance for another layer."""
        return SignRule(self.mu)
