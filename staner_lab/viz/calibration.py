"""Reliability diagrams: is a branch right as often as it is sure? (one panel per branch)

A calibrated branch's bars reach the diagonal; bars below it are over-confident answers, the kind
that outvote a better branch in Eq. 14. Built from :class:`staner_lab.metrics.Reliability`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from staner_lab.metrics import Reliability
from staner_lab.viz._style import style

__all__ = ["reliability_figure", "save_reliability_png"]

_BAR, _GAP = "#0072B2", "#D55E00"  # colour-blind safe blue (accuracy) and vermilion (gap to confidence)


def _bins(r: Reliability) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    centres = (r.edges[:-1] + r.edges[1:]) / 2
    return centres, np.nan_to_num(r.accuracy), np.nan_to_num(r.confidence)


def reliability_figure(reliabilities: Mapping[str, Reliability], title: str = "Reliability") -> go.Figure:
    """One panel per branch (e.g. {"STANER": ..., "SGAER": ..., "TLER": ...}): accuracy of the answers in
    each confidence bin, the gap to their mean confidence, the diagonal, and ECE in the panel's title."""
    names = list(reliabilities)
    fig = make_subplots(rows=1, cols=len(names), shared_yaxes=True,
                        subplot_titles=[f"{n}: ECE {reliabilities[n].ece:.3f}" for n in names])
    for k, name in enumerate(names, start=1):
        r = reliabilities[name]
        centres, acc, conf = _bins(r)
        width = float(r.edges[1] - r.edges[0])
        text = [f"{int(c)}" if c else "" for c in r.count]
        fig.add_trace(go.Bar(x=centres, y=acc, width=width, marker_color=_BAR, name="accuracy", text=text,
                             textposition="outside", showlegend=k == 1,
                             hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{text} answers"),
                      row=1, col=k)
        fig.add_trace(go.Bar(x=centres, y=conf - acc, base=acc, width=width, marker_color=_GAP, opacity=0.35,
                             name="gap to confidence", showlegend=k == 1, hoverinfo="skip"), row=1, col=k)
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": "grey"},
                                 name="calibrated", showlegend=k == 1), row=1, col=k)
        fig.update_xaxes(title_text="confidence (top probability)", range=[0, 1], row=1, col=k)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.12], row=1, col=1)
    fig.update_layout(barmode="overlay", legend={"orientation": "h", "y": -0.25})
    return style(fig, title, 460)


def save_reliability_png(reliabilities: Mapping[str, Reliability], path: str | Path,
                         title: str = "Reliability") -> Path:
    """The same diagram as a static PNG (matplotlib), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from staner_lab.atomic import atomic_write

    names = list(reliabilities)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.4), dpi=100, sharey=True, squeeze=False)
    for ax, name in zip(axes[0], names):
        r = reliabilities[name]
        centres, acc, conf = _bins(r)
        width = float(r.edges[1] - r.edges[0])
        ax.bar(centres, acc, width=width, color=_BAR, edgecolor="white", label="accuracy")
        ax.bar(centres, conf - acc, bottom=acc, width=width, color=_GAP, alpha=0.35, label="gap to confidence")
        ax.plot([0, 1], [0, 1], "--", color="grey", label="calibrated")
        for x, a, c in zip(centres, acc, r.count):
            if c:
                ax.text(x, a + 0.02, str(int(c)), ha="center", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.08)
        ax.set_title(f"{name}: ECE {r.ece:.3f}", fontsize=12)
        ax.set_xlabel("confidence (top probability)", fontsize=11)
    axes[0][0].set_ylabel("accuracy", fontsize=11)
    axes[0][0].legend(loc="upper left", fontsize=9)
    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path) as f:
        fig.savefig(f, format="png")
    plt.close(fig)
    return path

