"""Confusion matrices (Fig. 5): an interactive plotly heatmap and a static PNG for run folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

__all__ = ["FONT_SIZE", "confusion_figure", "save_confusion_figures"]

FONT_SIZE = 18


def _normalise_rows(cm: np.ndarray) -> np.ndarray:
    rows = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)


def confusion_figure(cm: np.ndarray, class_names: Sequence[str], normalise: bool = True,
                     title: str = "Confusion matrix") -> go.Figure:
    """Heatmap of a (K, K) confusion matrix (rows true, columns predicted); cells show counts and,
    when ``normalise``, the row fraction (recall on the diagonal)."""
    cm = np.asarray(cm)
    frac = _normalise_rows(cm)
    z = frac if normalise else cm
    text = [[f"{frac[i, j]:.2f}<br>({cm[i, j]})" if normalise else str(cm[i, j]) for j in range(len(cm))]
            for i in range(len(cm))]
    fig = go.Figure(go.Heatmap(z=z, x=list(class_names), y=list(class_names), text=text,
                               texttemplate="%{text}", colorscale="Cividis", zmin=0,
                               zmax=1 if normalise else max(int(cm.max()), 1),
                               colorbar={"title": "recall" if normalise else "count"}))
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", font={"size": FONT_SIZE},
                      yaxis={"autorange": "reversed"}, width=720, height=640)
    return fig


def save_confusion_figures(cm: np.ndarray, class_names: Sequence[str], stem: str | Path,
                           title: str = "Confusion matrix") -> tuple[Path, Path]:
    """Write ``stem.html`` (interactive, plotly.js inlined so it opens offline) and ``stem.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from staner_lab.atomic import atomic_write, atomic_write_text

    stem = Path(stem)
    html = stem.with_suffix(".html")
    atomic_write_text(html, confusion_figure(cm, class_names, title=title).to_html(include_plotlyjs=True))
    cm = np.asarray(cm)
    frac = _normalise_rows(cm)
    K = len(class_names)
    fig, ax = plt.subplots(figsize=(1.1 * K + 2, 1.0 * K + 1.5), dpi=100)
    ax.imshow(frac, cmap="cividis", vmin=0, vmax=1)
    ax.set_xticks(range(K), class_names, rotation=45, ha="right", fontsize=12)
    ax.set_yticks(range(K), class_names, fontsize=12)
    ax.set_xlabel("predicted", fontsize=13)
    ax.set_ylabel("true", fontsize=13)
    ax.set_title(title, fontsize=13)
    for i in range(K):
        for j in range(K):
            ax.text(j, i, f"{frac[i, j]:.2f}\n({cm[i, j]})", ha="center", va="center", fontsize=10,
                    color="black" if frac[i, j] > 0.5 else "white")
    fig.tight_layout()
    png = stem.with_suffix(".png")
    with atomic_write(png) as f:
        fig.savefig(f, format="png")
    plt.close(fig)
    return html, png
