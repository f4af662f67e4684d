"""Cost of LRP with ``attention='cp'`` and ``'attnlrp'`` on an ECG transformer, as ratios to one
forward+backward.

Run: ``python benchmarks/transformer.py [--repeats N] [--batch 16] [--threads 2]``. The model: a
Conv1d patch embedding (12 leads, 2000 samples, patches of 20: 100 tokens of 64 features), four
pre-norm ``nn.TransformerEncoderLayer`` (4 heads, feed-forward 128), mean over tokens, a Linear
head. The floor is ``torch.autograd.grad(model(x).sum(), x)``; each method's median time is
divided by the median of floor runs interleaved with it (as ``benchmarks/bench.py`` does). Not a
test: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import _ratio
from signxai import explain


class ECGTransformer(nn.Module):
    """Patch embedding, four pre-norm encoder layers, mean over tokens, Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv1d(12, 64, 20, stride=20)
        layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.1, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)
        self.head = nn.Linear(64, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x).transpose(1, 2)).mean(1))


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ECGTransformer().eval()
    x = torch.randn(args.batch, 12, 2000)

    def floor() -> object:
        leaf = x.detach().requires_grad_(True)
        return torch.autograd.grad(model(leaf).sum(), leaf)

    print(f"| method (batch {args.batch}, {args.threads} threads) | attention | x forward+backward |")
    print("|---|---|---:|")
    cases = [("gradient", None)] + [
        (method, mode)
        for mode in ("cp", "attnlrp")
        for method in ("lrp_epsilon_0_1", "lrpsign_epsilon_0_1", "lrp_alpha_1_beta_0")
    ]
    for method, mode in cases:
        extra = {} if mode is None else {"attention": mode}

        def run(method: str = method, extra: dict = extra) -> object:
            return explain(model, x, method, target_class=1, **extra)

        print(f"| `{method}` | {mode or '-'} | {_ratio(run, floor, args.repeats):.2f} |", flush=True)


if __name__ == "__main__":
    main()
