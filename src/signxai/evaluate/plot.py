"""Figures for the evaluation: deletion curves of several methods, the comparison table."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def plot_deletion_curves(curves: dict[str, Any], order: str = "morf", title: str = "") -> Figure:
    """Mean explained output against the fraction of removed windows, one line per method."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, by_order in curves.items():
        curve = by_order[order]
        ax.plot(
            curve.fractions,
            curve.scores.mean(axis=0),
            label=f"{name} (AOPC {curve.aopc:.2f})",
            ls="--" if name == "random" else "-",
        )
    ax.set_xlabel("fraction of time windows removed")
    ax.set_ylabel("explained output (mean)")
    ax.set_title(title or f"{order.upper()} deletion")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_comparison(
    table: pd.DataFrame,
    columns: tuple[str, ...] = ("aopc_morf", "aopc_lerf", "randomized_similarity", "seconds"),
) -> Figure:
    """The comparison table as a heat-map figure (each column scaled on its own)."""
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
