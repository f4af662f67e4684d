"""Cross-check ``deeplift`` and ``deeplift_shap`` against tangermeme's and captum's DeepLIFT.

tangermeme (Schreiber, ``tangermeme==1.6.0``) implements DeepLIFT SHAP in PyTorch with module
hooks (the Rescale rule at activations, captum's max pooling rule with the shares of
overlapping windows added). captum 0.9.0's ``DeepLift`` is the reference most users know; where a
ReLU and a max pooling module meet (every block of the tutorial's ECG model), its hooks read a
stale output gradient (captum issue 1104, fixed on its main branch after 0.9.0, PR 1843) and its
attributions no longer sum to the change of the logit; this script shows both.

tangermeme is not a dependency (it pulls in genomics packages): install it next to signxai with
``pip install --no-deps tangermeme==1.6.0 && pip install numba``. Run
``python scripts/deeplift_reference.py``; it prints, per model, the relative L2 difference from
each reference and the largest convergence delta |sum(R) - (z(x) - z(x0))| of each. tangermeme
takes sequences (batch, channels, length) only; 2D models are checked in the tests (by hand).
"""

from __future__ import annotations

import warnings

import torch
from captum.attr import DeepLift
from tangermeme.deep_lift_shap import deep_lift_shap
from torch import nn

from signxai import explain
from signxai.ecg.models import ECGModel


def _cases() -> dict[str, tuple[nn.Module, torch.Tensor]]:
    torch.manual_seed(0)
    overlapping = nn.Sequential(
        nn.Conv1d(2, 8, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool1d(4, 2, padding=1),  # windows overlap
        nn.Conv1d(8, 8, 3, padding=1),
        nn.MaxPool1d(2),
        nn.ELU(),
        nn.Flatten(),
        nn.Linear(8 * 50, 3),
    )
    ecg = ECGModel(num_classes=5, length=2000, ceil_mode=False)
    ecg.fc[-1] = nn.Identity()  # captum and tangermeme explain outputs: give them the logits
    beat = ECGModel(num_classes=5, length=140)
    beat.fc[-1] = nn.Identity()
    cases = {
        "ECGModel 2000 samples (tutorial)": (ecg, torch.randn(4, 1, 2000)),
        "ECGModel 140 samples (partial windows)": (beat, torch.randn(4, 1, 140)),
        "1D, overlapping max pooling": (overlapping, torch.randn(4, 2, 200)),
    }
    for model, _ in cases.values():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_var.uniform_(0.5, 1.5)
                module.running_mean.normal_(0, 0.1)
        model.eval()
    return cases


def _delta(model: nn.Module, x: torch.Tensor, base: torch.Tensor, r: torch.Tensor, target: int) -> float:
    with torch.no_grad():
        change = model(x)[:, target] - model(base)[:, target]
    return float((r.flatten(1).sum(1) - change).abs().max())


def main() -> None:
    warnings.filterwarnings("ignore")
    target = 2
    print("| model | vs tangermeme | vs captum 0.9.0 | delta signxai | delta tangermeme | delta captum |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (model, x) in _cases().items():
        base = 0.3 * torch.randn(x.shape[1:])
        bases = base.expand_as(x)
        ours = torch.as_tensor(explain(model, x, "deeplift", target_class=target, baseline=base))
        raw = deep_lift_shap(
            model,
            x,
            target=target,
            references=lambda batch, n=1, bases=bases, **kwargs: bases[: len(batch), None],
            n_shuffles=1,
            raw_outputs=True,
            only_warn=True,
            warning_threshold=1e9,
        )
        tanger = (x - bases) * raw.reshape(x.shape)
        captum = DeepLift(model).attribute(x, bases, target=target)

        def rel(a: torch.Tensor, b: torch.Tensor) -> float:
            return float((a - b).norm() / b.norm())

        deltas = [_delta(model, x, bases, r, target) for r in (ours, tanger, captum)]
        print(
            f"| {name} | {rel(ours, tanger):.1e} | {rel(ours, captum):.2f} | "
            + " | ".join(f"{d:.1e}" for d in deltas)
            + " |"
        )


if __name__ == "__main__":
    main()
