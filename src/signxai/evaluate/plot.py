"""Figures for the evaluation: deletion curves of several methods, the comparison table."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from signxai.checks import check_choice, check_text
from signxai.errors import InputError
from signxai.evaluate.deletion import DeletionCurve


def plot_deletion_curves(curves: dict[str, Any], order: str = "morf", title: str = "") -> Figure:
    """Mean explained output against the fraction of removed windows, one line per method.

    Parameters
    ----------
    curves
        Each method's curves by order, as ``compare_methods`` returns them
        (``{'gradient': {'morf': DeletionCurve, 'lerf': DeletionCurve}, ...}``).
    order
        Which curves to draw: ``'morf'`` or ``'lerf'``.
    title
        The axes' title.

    Returns
    -------
    matplotlib.figure.Figure
        One line per method, the explained output's mean over the samples.
    """
    check_choice(order, "order", ("morf", "lerf"))
    check_text(title, "title")
    wrong = [
        name
        for name, by_order in (curves.items() if isinstance(curves, dict) else [])
        if not (isinstance(by_order, dict) and isinstance(by_order.get(order), DeletionCurve))
    ]
    if not isinstance(curves, dict) or not curves or wrong:
        given = f"no {order!r} DeletionCurve for {wrong}" if wrong else repr(curves)
        raise InputError(
            f"curves must map methods to {{order: DeletionCurve}} (from compare_methods); {given}"
        )
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, by_order in curves.items():
        curve = by_order[order]
        ax.plot(
            curve.fractions,
            curve.scores.mean(axis=0),
            label=f"{name} (AOPC {curve.aopc:.2f})",
            ls="--" if name == "random" else "-",
        )
    units = {curve.unit for by_order in curves.values() for curve in by_order.values()}
    names = {"samples": "time windows", "bins": "frequency bins", "cells": "time-frequency cells"}
    removed = names[units.pop()] if len(units) == 1 else "units"
    ax.set_xlabel(f"fraction of {removed} removed")
    ax.set_ylabel("explained output (mean)")
    ax.set_title(title or f"{order.upper()} deletion")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_comparison(
    table: pd.DataFrame,
    columns: tuple[str, ...] = ("aopc_morf", "aopc_lerf", "randomized_similarity", "seconds"),
) -> Figure:
    """The comparison table as a heat-map figure (each column scaled on its own).

    Parameters
    ----------
    table
        ``compare_methods``' table (one row per method).
    columns
        The table's columns to draw, those it has.

    Returns
    -------
    matplotlib.figure.Figure
        The heat map, each cell labelled with its value.
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table must be the DataFrame compare_methods returns, got {type(table).__name__}")
    if isinstance(columns, str) or not any(c in table for c in columns):
        raise InputError(f"table has none of the columns {columns!r}; it has {list(table.columns)}")
    shown = table[[c for c in columns if c in table]].astype(float)
    scaled = (shown - shown.min()) / (shown.max() - shown.min()).replace(0, 1)
    fig, ax = plt.subplots(figsize=(1.6 * len(shown.columns) + 2, 0.45 * len(shown) + 1))
    ax.imshow(scaled.fillna(0).to_numpy(), cmap="viridis", aspect="auto")
    for (i, j), value in np.ndenumerate(shown.to_numpy()):
        ax.text(
            j,
            i,
            "-" if np.isnan(value) else f"{value:.3g}",
            ha="center",
            va="center",
            color="white",
            fontsize=8,
        )
    ax.set_xticks(range(len(shown.columns)), shown.columns, fontsize=8)
    ax.set_yticks(range(len(shown)), shown.index, fontsize=8)
    fig.tight_layout()
    return fig
