"""Decision fusion (Eq. 14): the SGAER and TLER votes P_G, P_L and the fused P as bars."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from staner_lab.viz._style import BRANCH_COLOURS, FONT_SIZE, figure, style

__all__ = ["probability_figure"]


def probability_figure(class_names: Sequence[str], P: np.ndarray, alpha: float, P_G: np.ndarray | None = None,
                       P_L: np.ndarray | None = None, true_label: str | None = None) -> go.Figure:
    """Grouped horizontal bars per class: P_G (SGAER), P_L (TLER) and P = α P_G + (1 - α) P_L.

    The title names α and the decision O = argmax P; the true class, when known, is marked ✓.
    Values under 0.01 get no label, so the chart stays readable from the back of the room.
    """
    names = list(class_names)
    labels = [f"<b>{n} ✓</b>" if n == true_label else n for n in names]
    series = [("P_G", "P_G: SGAER (peak face)", P_G), ("P_L", "P_L: TLER (regions over time)", P_L),
              ("P", f"P: fused at α = {alpha:.2f}", P)]
    traces = []
    for key, name, values in series:
        if values is None:
            continue
        v = np.asarray(values, float)
        traces.append(go.Bar(y=labels, x=v, name=name, orientation="h", marker_color=BRANCH_COLOURS[key],
                             marker_pattern_shape="/" if key == "P_L" else "",
                             text=[f"{p:.2f}" if p >= 0.01 else "" for p in v], textposition="outside",
                             textfont={"size": FONT_SIZE - 2}, cliponaxis=False,
                             hovertemplate=f"{key}(%{{y}}) = %{{x:.3f}}<extra></extra>"))
    k = int(np.argmax(P))
    layout = {"barmode": "group", "bargap": 0.22, "bargroupgap": 0.0,
              "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
              "xaxis": {"title": {"text": "probability"}, "range": [0, 1.1], "dtick": 0.2},
              "yaxis": {"autorange": "reversed"}, "margin": {"t": 120},
              "annotations": [{"text": "✓ = the true class", "xref": "paper", "yref": "paper", "x": 1, "y": 0,
                               "xanchor": "right", "yanchor": "top", "yshift": -36, "showarrow": False}]
              if true_label in names else []}
    title = f"The two branches' votes and the fused P: O = {names[k]}"
    return figure(traces, layout, title, height=max(420, 52 * len(names) + 190))


def stream_figure(class_names: Sequence[str], P: np.ndarray, resets: np.ndarray | None = None) -> go.Figure:
    """The fused probability of every class after each frame of a stream (``StreamTrace``); dotted
    vertical lines where the recogniser reset (face lost)."""
    fig = go.Figure()
    t = np.arange(1, len(P) + 1)
    for k, name in enumerate(class_names):
        fig.add_trace(go.Scatter(x=t, y=P[:, k], mode="lines+markers", name=name))
    for i in np.flatnonzero(resets if resets is not None else [])[1:]:
        fig.add_vline(x=i + 1, line_dash="dot", line_color="gray")
    fig.update_layout(xaxis_title="frame", yaxis_title="P", yaxis_range=[0, 1])
    return style(fig, title="Streaming: the fused decision P after each frame")
