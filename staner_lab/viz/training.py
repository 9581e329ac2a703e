"""Training curves from ``metrics.csv`` rows (one run, or the mean over cross-validation folds)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from staner_lab.viz._style import axis, figure, grid

__all__ = ["training_curves_figure"]


def _by_epoch(rows: Sequence[Mapping[str, float]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``key`` per epoch over folds (NaN ignored); epochs counted from 1."""
    epochs = sorted({int(r["epoch"]) for r in rows})
    means = []
    for e in epochs:
        vals = np.array([r.get(key, np.nan) for r in rows if int(r["epoch"]) == e], float)
        means.append(np.nanmean(vals) if np.isfinite(vals).any() else np.nan)
    return np.array(epochs) + 1, np.array(means)


def training_curves_figure(rows: Sequence[Mapping[str, float]], title: str = "Training curves") -> go.Figure:
    """Loss and accuracy per epoch, train (solid) and held-out (dashed).

    Args:
        rows: metrics.csv rows (``epoch``, ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``,
            optional ``fold``); with several folds the curves are the mean over folds.
    """
    folds = {int(r["fold"]) for r in rows if "fold" in r and np.isfinite(r["fold"])}
    layout = grid(2, gap=0.1, titles=["loss (Eq. 15)", "accuracy"])
    traces = []
    for k, metric in enumerate(("loss", "acc")):
        for split, colour, dash in (("train", "#0072B2", "solid"), ("val", "#D55E00", "dash")):
            x, y = _by_epoch(rows, f"{split}_{metric}") if rows else (np.array([]), np.array([]))
            if not np.isfinite(y).any():
                continue
            traces.append(go.Scatter(x=x, y=y, mode="lines+markers", name="train" if split == "train" else "held-out",
                                     legendgroup=split, showlegend=k == 0, marker={"size": 8},
                                     line={"color": colour, "dash": dash, "width": 4}, **axis(k)))
    epochs = len({int(r["epoch"]) for r in rows})
    for sfx in ("", "2"):  # whole epochs only: at most about ten ticks, never 1.5
        layout[f"xaxis{sfx}"].update(title={"text": "epoch"}, tick0=1, dtick=max(1, math.ceil(epochs / 10)))
    layout["yaxis2"]["range"] = [0, 1.02]
    suffix = f" (mean over {len(folds)} folds)" if len(folds) > 1 else ""
    return figure(traces, layout, title + suffix, height=460)
