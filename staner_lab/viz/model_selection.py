"""Choosing the model, for notebooks 05 and 06: the fusion weight α, and how the folds are drawn.

- :func:`alpha_sweep_figure`, :func:`fusion_confusion_figure` (Eq. 14 against α, notebook 05);
- :func:`split_comparison_figure` (cross-validated accuracy per way of splitting, notebook 06).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from staner_lab.viz._panels import as_array
from staner_lab.viz._style import FONT_SIZE, style

__all__ = ["alpha_sweep_figure", "fusion_confusion_figure", "split_comparison_figure"]


def alpha_sweep_figure(alphas: Any, accuracy: Any, other: Mapping[str, Any] | None = None,
                       marks: Mapping[str, float] | None = None, label: str = "validation",
                       title: str = "Accuracy of the fused decision (Eq. 14) against α") -> go.Figure:
    """Accuracy against α (0 = TLER only, 1 = SGAER only), with optional other curves and marked α values.

    Args:
        alphas, accuracy: (A,) the sweep (``staner_lab.training.fusion.alpha_sweep``).
        other: more curves {name: (A,) accuracies}, e.g. {"test": ...}, drawn dashed.
        marks: {label: alpha} vertical lines, e.g. {"paper: α = 0.5": 0.5}.
    """
    a = as_array(alphas)
    fig = go.Figure(go.Scatter(x=a, y=as_array(accuracy), mode="lines", name=label, line={"color": "#0072B2", "width": 4},
                               hovertemplate="α=%{x:.2f}: %{y:.3f}<extra></extra>"))
    for k, (name, acc) in enumerate((other or {}).items()):
        fig.add_trace(go.Scatter(x=a, y=as_array(acc), mode="lines", name=name,
                                 line={"color": ("#D55E00", "#009E73", "#CC79A7")[k % 3], "width": 3, "dash": "dash"},
                                 hovertemplate="α=%{x:.2f}: %{y:.3f}<extra></extra>"))
    for k, (name, value) in enumerate((marks or {}).items()):
        fig.add_vline(x=float(value), line={"color": ("#000000", "#E69F00", "#56B4E9")[k % 3], "width": 3,
                                            "dash": "dot"},
                      annotation_text=name, annotation_position="top left" if k % 2 else "top right",
                      annotation_font_size=FONT_SIZE - 2)
    fig.update_xaxes(title_text="α   (0: TLER only ... 1: SGAER only)", range=[0, 1], dtick=0.1)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.05])
    fig = style(fig, title, height=460)
    fig.update_layout(legend={"orientation": "h", "y": -0.2, "yanchor": "top"})
    return fig


def fusion_confusion_figure(P_G: Any, P_L: Any, labels: Any, class_names: Sequence[str], alpha: float = 0.5,
                            title: str | None = None) -> go.Figure:
    """The confusion matrix of the Eq. 14 decision argmax(alpha P_G + (1 - alpha) P_L), accuracy in the title."""
    import torch

    from staner_lab import functional as Fn
    from staner_lab.metrics import accuracy_from_confusion, confusion_matrix
    from staner_lab.viz.confusion import confusion_figure

    P = Fn.fuse_probabilities(torch.as_tensor(as_array(P_G)), torch.as_tensor(as_array(P_L)), float(alpha))
    cm = confusion_matrix(as_array(labels).astype(int), Fn.decision(P).numpy(), len(class_names))
    acc = accuracy_from_confusion(cm)
    return confusion_figure(cm, class_names, title=title or f"α = {alpha:.2f}: accuracy {acc:.1%} ({int(np.trace(cm))}"
                                                            f" of {int(cm.sum())})")


def split_comparison_figure(results: Mapping[str, Sequence[float]],
                            title: str = "Cross-validated accuracy: how the folds are drawn") -> go.Figure:
    """Mean accuracy per way of splitting (bars) with each fold's accuracy (dots).

    Args:
        results: {split name: fold accuracies}.
    """
    names = list(results)
    fig = go.Figure()
    colours = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")
    for k, name in enumerate(names):
        accs = as_array(results[name])
        fig.add_trace(go.Bar(x=[name], y=[100 * accs.mean()], marker_color=colours[k % 4], opacity=0.55,
                             text=[f"{100 * accs.mean():.1f}%"], textposition="outside", showlegend=False,
                             error_y={"type": "data", "array": [100 * accs.std()], "thickness": 2}))
        fig.add_trace(go.Scatter(x=[name] * len(accs), y=100 * accs, mode="markers", showlegend=False,
                                 marker={"size": 12, "color": colours[k % 4], "line": {"width": 1, "color": "#000"}},
                                 hovertemplate="fold accuracy %{y:.1f}%<extra></extra>"))
    fig.update_yaxes(title_text="accuracy (%)", range=[0, 110])
    return style(fig, title, height=460)
