"""The tutorial's ECG architecture, parametrised, and the trained beat classifiers shipped with it.

The weights were trained by ``scripts/train_models.py`` (fixed seed, CPU) on the ECG5000 train
split; ``model_card.json`` next to them holds the data source, the recipe and the accuracy on the
official ECG5000 test split.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import numpy as np
import torch
from torch import nn

from signxai.checks import check_choice, check_flag, check_module, check_seed, check_whole
from signxai.errors import InputError
from signxai.model import evaluated, input_placement

#: Class names of the 5-class ECG5000 model (labels 1..5 of the UCR archive, here 0..4).
ECG5000_CLASSES = ("normal", "R-on-T PVC", "PVC", "SVEB", "unclassified")
BINARY_CLASSES = ("normal", "abnormal")
_POOLS = (2, 4, 2, 5)
_KERNELS = (5, 5, 3, 3)


class ECGModel(nn.Module):
    """Conv1d/BatchNorm/ReLU/MaxPool blocks and a three-layer classifier (the tutorial's model).

    Parameters
    ----------
    input_channels
        Number of leads.
    num_classes
        Outputs; 1 gives a single-output binary model with a final ``Sigmoid``, more a ``Softmax``.
    length
        Samples per input window (2000 in the tutorial, 140 for ECG5000 beats).
    ceil_mode
        Pool a last, partial window too (``MaxPool1d(ceil_mode=True)``), so that every input sample
        can reach the output. With ``False`` the samples left over by each pooling stage are
        dropped: at 140 samples the last 30 of every beat would never influence the model (and
        every gradient or LRP map is zero there). Both give the tutorial's model when ``length``
        is a multiple of 80, as 2000 is. The shipped beat models use ``False`` (see
        ``load_beat_model``).
    """

    def __init__(
        self,
        input_channels: int = 1,
        num_classes: int = 1,
        length: int = 2000,
        ceil_mode: bool = True,
    ) -> None:
        super().__init__()
        input_channels = check_whole(input_channels, "input_channels", at_least=1)
        num_classes = check_whole(num_classes, "num_classes", at_least=1)
        length = check_whole(length, "length", at_least=1, unit="of samples")
        ceil_mode = check_flag(ceil_mode, "ceil_mode")
        channels = (input_channels, 32, 64, 128, 256)
        layers: list[nn.Module] = []
        remaining = length
        for i, (kernel, pool) in enumerate(zip(_KERNELS, _POOLS, strict=True)):
            if remaining < pool:
                raise InputError(f"length {length} is too short for the four pooling stages {_POOLS}")
            layers += [
                nn.Conv1d(channels[i], channels[i + 1], kernel, stride=1, padding=kernel // 2),
                nn.BatchNorm1d(channels[i + 1]),
                nn.ReLU(),
                nn.MaxPool1d(pool, pool, ceil_mode=ceil_mode),
            ]
            remaining = -(-remaining // pool) if ceil_mode else remaining // pool
        self.features = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Linear(256 * remaining, 512),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(512, 128),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(128, num_classes),
            nn.Sigmoid() if num_classes == 1 else nn.Softmax(dim=1),
        )
        self.config = {
            "input_channels": input_channels,
            "num_classes": num_classes,
            "length": length,
            "ceil_mode": ceil_mode,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (sigmoid for one output, softmax otherwise)."""
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)

    def get_last_conv_layer(self) -> nn.Module:
        """The fourth Conv1d (``features.12``), Grad-CAM's default layer."""
        return self.features[12]


def model_card() -> dict[str, Any]:
    """The shipped models' card: data, training recipe and held-out accuracy."""
    text = resources.files("signxai.ecg.data").joinpath("model_card.json").read_text()
    return json.loads(text)


def load_beat_model(task: str = "binary") -> ECGModel:
    """Load a shipped ECG5000 beat classifier in eval mode.

    Parameters
    ----------
    task
        ``'binary'`` (normal vs abnormal, one sigmoid output: target 1 = abnormal) or
        ``'5class'`` (the five ECG5000 classes, :data:`ECG5000_CLASSES`).

    Returns
    -------
    ECGModel
        The trained model (140-sample beats, one lead), loaded with ``weights_only=True``. It has
        the tutorial's pooling (``ceil_mode=False``): samples 110-139 of a beat never reach its
        output, so gradient and LRP maps are zero there. A whole-beat variant was cross-validated and
        not shipped (lower binary score, worse on MIT-BIH 208; ``scripts/train_models.py``).
    """
    card = model_card()
    check_choice(task, "task", card["models"])
    entry = card["models"][task]
    model = ECGModel(**entry["config"])
    path = resources.files("signxai.ecg.data").joinpath(entry["weights"])
    with resources.as_file(path) as file:
        state = torch.load(file, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def samples_seen(
    model: nn.Module, length: int, channels: int = 1, trials: int = 8, seed: int = 0
) -> np.ndarray:
    """Which input samples can change the model's output at all.

    The gradient of a random weighting of the outputs with respect to ``trials`` random inputs
    (standard normal, seeded) is taken in eval mode; a sample counts as seen where any of them is
    non-zero. A sample
    no output depends on (e.g. dropped by pooling) gets zero relevance from every gradient and LRP
    method (Grad-CAM, upsampled from a feature map, may still spread relevance onto it).
    The model's mode, parameters and their ``.grad`` are left as they were.

    Parameters
    ----------
    model
        Any module taking ``(batch, channels, length)``.
    length, channels
        The input's shape without the batch axis.
    trials
        Random inputs in one batch.
    seed
        Seed of the random inputs.

    Returns
    -------
    numpy.ndarray
        Boolean ``(length,)``.
    """
    check_module(model)
    length = check_whole(length, "length", at_least=1, unit="of samples")
    channels = check_whole(channels, "channels", at_least=1)
    trials = check_whole(trials, "trials", at_least=1)
    generator = torch.Generator().manual_seed(check_seed(seed))
    x = torch.randn(trials, channels, length, generator=generator)
    device, dtype = input_placement(model)
    with evaluated(model):
        x = x.to(device=device, dtype=dtype).requires_grad_(True)
        output = model(x)
        # random output weights: a plain sum of softmax outputs is constant (gradient zero)
        weights = torch.randn(output.shape, generator=generator).to(output.device)
        (gradient,) = torch.autograd.grad((output * weights).sum(), x)
    return (gradient.abs().sum(dim=(0, 1)) > 0).cpu().numpy()
