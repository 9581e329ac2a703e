"""Evaluation summaries: per-class recall and the ablation table (Table 1) with its spread."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from staner_lab.viz._style import FONT_SIZE, figure, style
from staner_lab.viz.confusion import confusion_figure

__all__ = ["ablation_figure", "confusion_pair", "recall_figure"]


def confusion_pair(cm: np.ndarray, class_names: Sequence[str], title: str = "") -> tuple[go.Figure, go.Figure]:
    """The same (K, K) confusion matrix twice: counts, and normalised by row (recall on the diagonal).

    Sized for a projector: cell text at the figure's font size (the normalised matrix shows only the
    fraction; the counts are beside it), axis titles set apart from the class names, whole counts on
    the colour bar.
    """
    cm = np.asarray(cm)
    counts = confusion_figure(cm, class_names, normalise=False, title=f"Counts{title}")
    rows = confusion_figure(cm, class_names, normalise=True, title=f"Normalised by row{title}")
    total = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, total, out=np.zeros(cm.shape), where=total > 0)
    rows.update_traces(text=[["0" if v == 0 else f"{v:.2f}" for v in row] for row in frac])
    counts.update_traces(colorbar={"dtick": max(1, int(np.ceil(cm.max() / 5)))})
    for fig in (counts, rows):
        style(fig)
        fig.update_traces(textfont={"size": FONT_SIZE})
        fig.update_xaxes(title={"standoff": 24}, tickangle=-45)
        fig.update_yaxes(title={"standoff": 24})
        fig.update_layout(width=None, height=620, margin={"l": 10, "r": 10, "t": 80, "b": 10})
    return counts, rows


def recall_figure(class_names: Sequence[str], recall: np.ndarray, title: str = "Per-class recall") -> go.Figure:
    """Bars of each class's recall (NaN, for a class with no test sequence, is shown as 'no data')."""
    r = np.asarray(recall, float)
    bar = go.Bar(x=list(class_names), y=np.nan_to_num(r, nan=0.0), marker_color="#0072B2", cliponaxis=False,
                 text=["no data" if np.isnan(v) else f"{v:.2f}" for v in r], textposition="outside")
    return figure([bar], {"yaxis": {"title": {"text": "recall"}, "range": [0, 1.15], "dtick": 0.2}}, title, 460)


def ablation_figure(rows: Sequence[Mapping[str, float]], title: str = "Ablation (Table 1)") -> go.Figure:
    """Mean accuracy of each variant (C1-C4, STANER) with ± one standard deviation over folds."""
    methods = [str(r["method"]) for r in rows]
    mean = np.array([float(r["accuracy_mean"]) for r in rows])
    std = np.array([float(r["accuracy_std"]) for r in rows])
    colours = ["#E69F00" if m == "STANER" else "#56B4E9" for m in methods]
    bar = go.Bar(x=methods, y=100 * mean, error_y={"type": "data", "array": 100 * std, "thickness": 3},
                 marker_color=colours, text=[f"{100 * m:.1f}%" for m in mean], textposition="inside")
    return figure([bar], {"yaxis": {"title": {"text": "accuracy (%)"}, "range": [0, 105]}}, title, 460)
