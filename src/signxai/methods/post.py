"""Post-multiplier suffixes of gradient-type methods: ``_x_input``, ``_x_sign``, ``_x_sign_mu_<m>``."""

from __future__ import annotations

import torch

from signxai.methods.registry import Post, register_post


def sign_mu(x: torch.Tensor, mu: float = 0.0) -> torch.Tensor:
    """+1 where ``x >= mu`` and -1 elsewhere (so sign(0) = +1 for ``mu = 0``)."""
    return torch.where(x >= mu, 1.0, -1.0).to(x.dtype)


register_post(Post("input", lambda relevance, x, mu: relevance * x, "multiplied by the input x"))
register_post(
    Post("sign", lambda relevance, x, mu: relevance * sign_mu(x), "multiplied by sign(x), sign(0) = +1")
)
register_post(
    Post(
        "sign_mu",
        lambda relevance, x, mu: relevance * sign_mu(x, mu),
        "multiplied by sign_mu(x) = +1 where x >= <mu> else -1",
    )
)
