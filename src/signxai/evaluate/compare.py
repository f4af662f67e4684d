"""``compare_methods``: run several methods once and measure them side by side."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from signxai.checks import check_flag, check_names, check_whole
from signxai.errors import InputError, MethodParameterError, SignXAIError
from signxai.evaluate.deletion import deletion_curve, random_relevance
from signxai.evaluate.frequency import explainer, map_shape, spectral_deletion_curve
from signxai.evaluate.localisation import as_array, relevance_mass_accuracy, relevance_rank_accuracy
from signxai.evaluate.randomization import model_randomization
from signxai.timing import warm_up_autograd

RANDOM = "random"


def _check_methods(methods: Sequence[str], params: dict[str, Any], include_random: bool) -> None:
    """At least one method, each named once; ``params`` only for methods being compared."""
    check_names(methods, "methods", "method names", MethodParameterError)
    if include_random and RANDOM in methods:
        raise MethodParameterError(f"methods lists {RANDOM} (added by include_random=True) more than once")
    loose = {name: value for name, value in params.items() if not isinstance(value, dict)}
    if loose:
        raise MethodParameterError(f"params must map each method to a dict of its parameters, got {loose!r}")
    stray = [name for name in params if name not in methods]
    if stray:
        raise MethodParameterError(
            f"params has entries for {stray}, which are not in methods {list(methods)}"
        )


@torch.inference_mode(False)  # called under inference mode: gradients and model copies need it off
def compare_methods(
    model: nn.Module,
    x: Any,
    methods: Sequence[str],
    target_class: Any = None,
    window: int = 10,
    infill: str = "zero",
    randomization: bool = True,
    include_random: bool = True,
    seed: int = 0,
    params: dict[str, dict[str, Any]] | None = None,
    forward_args: Sequence[Any] | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    domain: str = "time",
    bins: int = 5,
    mask: Any = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Explain ``x`` with every method and measure each: AOPC, randomization, runtime, agreement.

    Parameters
    ----------
    methods
        Method names; ``'random'`` (a random map) is added as a baseline unless
        ``include_random=False``.
    window, infill
        Deletion settings in time (see :func:`signxai.evaluate.deletion_curve`).
    randomization
        Also run the cascading randomization check (the similarity after all layers).
    params
        Extra keyword parameters per method name.
    forward_args, forward_kwargs
        The model's further inputs, as for ``explain``: every explanation, deletion curve and
        randomization step runs the model with them.
    domain
        ``'time'`` (``explain``, deletion of time windows) or ``'frequency'``: every method
        explains per frequency bin (:func:`signxai.explain_spectrum`; the random map too), the
        deletion curves remove ``bins`` bins per step
        (:func:`signxai.evaluate.spectral_deletion_curve`), the randomization check and the
        correlations compare maps per bin. ``window`` and ``infill`` are for time only.
    bins
        Frequency bins removed per deletion step (``domain='frequency'`` only).
    mask
        A ground truth, if known: boolean (or 0/1), shaped like the maps (like ``x`` in time) or
        broadcasting to them (a ``(B, 1, T)`` time mask for every lead). Adds the columns
        ``mass_accuracy`` and ``rank_accuracy``
        (:func:`signxai.evaluate.relevance_mass_accuracy`, mean over the maps that have positive
        relevance; :func:`signxai.evaluate.relevance_rank_accuracy`, mean).

    Returns
    -------
    (pandas.DataFrame, dict)
        One row per method: ``aopc_morf``, ``aopc_lerf``, ``randomized_similarity``,
        ``seconds`` (with ``mask`` also ``mass_accuracy`` and ``rank_accuracy``) and
        ``corr_<other method>`` (mean Pearson correlation of the maps); and the
        deletion curves by method (``{'morf': DeletionCurve, 'lerf': DeletionCurve}``).
    """
    include_random = check_flag(include_random, "include_random", MethodParameterError)
    randomization = check_flag(randomization, "randomization", MethodParameterError)
    if params is not None and not isinstance(params, dict):
        raise MethodParameterError(f"params must be a dict of method name -> parameters, got {params!r}")
    params = params or {}
    _check_methods(methods, params, include_random)
    explain_in = explainer(domain)
    check_whole(bins, "bins", at_least=1, unit="of bins", error=MethodParameterError)
    if domain == "frequency" and infill != "zero":
        raise MethodParameterError(
            f"infill={infill!r} fills time windows; domain='frequency' removes bins (band stops)"
        )
    truth = None if mask is None else as_array(mask, "mask")
    if truth is not None:  # checked before any method runs; each map's own check comes with it
        shape = map_shape(np.shape(x), domain)
        try:
            np.broadcast_shapes(truth.shape, shape)
        except ValueError:
            raise InputError(
                f"mask must be shaped like the maps, {tuple(shape)}, or broadcast to them; got {truth.shape}"
            ) from None
    further: dict[str, Any] = {"forward_args": forward_args, "forward_kwargs": forward_kwargs}
    names = list(methods) + ([RANDOM] if include_random else [])
    maps: dict[str, np.ndarray] = {}
    rows: dict[str, dict[str, Any]] = {}
    curves: dict[str, Any] = {}
    warm_up_autograd()  # torch's first gradient imports modules: not the first method's time
    for name in names:
        start = time.perf_counter()
        if name == RANDOM:
            relevance = random_relevance(np.zeros(map_shape(np.shape(x), domain)), seed)
        else:
            try:
                relevance = np.asarray(
                    explain_in(model, x, name, target_class=target_class, **further, **params.get(name, {}))
                )
            except SignXAIError as error:  # the same error, saying which of the methods raised it
                raise type(error)(f"compare_methods, method {name!r}: {error}") from error
        seconds = time.perf_counter() - start
        maps[name] = relevance
        morf, lerf = (
            deletion_curve(
                model,
                x,
                relevance,
                target_class,
                window=window,
                order=order,
                infill=infill,
                seed=seed,
                **further,
            )
            if domain == "time"
            else spectral_deletion_curve(model, x, relevance, target_class, bins=bins, order=order, **further)
            for order in ("morf", "lerf")
        )
        curves[name] = {"morf": morf, "lerf": lerf}
        row: dict[str, Any] = {"aopc_morf": morf.aopc, "aopc_lerf": lerf.aopc, "seconds": seconds}
        if truth is not None:
            one = len(relevance) != len(morf.scores)  # x was one sample: its map has no batch axis
            maps_, truth_ = (relevance[None], truth[None]) if one else (relevance, truth)
            mass = relevance_mass_accuracy(maps_, truth_)
            row["mass_accuracy"] = float(np.nanmean(mass)) if not np.isnan(mass).all() else np.nan
            row["rank_accuracy"] = float(relevance_rank_accuracy(maps_, truth_).mean())
        if randomization and name != RANDOM:
            steps = model_randomization(
                model, x, name, target_class, seed=seed, domain=domain, **further, **params.get(name, {})
            )
            row["randomized_similarity"] = float(steps.similarity.iloc[-1])
        else:
            row["randomized_similarity"] = np.nan
        rows[name] = row
    for a in names:
        for b in names:
            pairs = [
                np.corrcoef(u.ravel(), v.ravel())[0, 1]
                for u, v in zip(maps[a], maps[b], strict=True)
                if u.std() > 0 and v.std() > 0
            ]
            rows[a][f"corr_{b}"] = float(np.mean(pairs)) if pairs else np.nan
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    return table, curves
