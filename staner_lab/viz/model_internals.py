"""Inside the model (notebooks 02-04): SGAER's feature maps and softmax, LSTM gates, TLER features over time.

- :func:`feature_grid_figure`, :func:`feature_map_figure`, :func:`softmax_figure` (notebook 02);
- :func:`gate_curves_figure`, :func:`lstm_step_figure` (notebook 03);
- :func:`time_features_figure` (F' and the end convolution over time, notebook 04).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from staner_lab.viz._panels import REGION_DASHES, as_array, grid_over, image_axes
from staner_lab.viz._style import BRANCH_COLOURS, FONT_SIZE, REGION_COLOURS, gray_image, signed_colours, style

__all__ = ["feature_grid_figure", "feature_map_figure", "gate_curves_figure", "lstm_step_figure",
           "softmax_figure", "time_features_figure"]

_QUANTITIES = {"f": "forget gate f_t (Eq. 5)", "i": "input gate i_t (Eq. 6)", "g": "candidate g_t (Eq. 7)",
               "c": "cell state c_t (Eq. 8)", "o": "output gate o_t (Eq. 9)", "h": "hidden state h_t (Eq. 10)"}


# --- notebook 02: SGAER ------------------------------------------------------------------------------


def feature_grid_figure(U: Any, channels: Sequence[int] | None = None, n: int = 8, cols: int = 4,
                        title: str = "Front-end features U (some channels)") -> go.Figure:
    """A grid of channels of U (C, h, w); by default the ``n`` channels with the largest mean.

    All panels share one colour scale, so brighter means a larger activation in every panel.
    """
    U = as_array(U)
    if U.ndim == 4:
        U = U[0]
    if channels is None:
        channels = [int(c) for c in np.argsort(U.mean(axis=(1, 2)))[::-1][:n]]
    channels = list(channels)
    rows = int(np.ceil(len(channels) / cols))
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.02, vertical_spacing=0.08,
                        subplot_titles=[f"channel {c}" for c in channels])
    zmax = float(max(U[channels].max(), 1e-12))
    for k, c in enumerate(channels):
        fig.add_trace(go.Heatmap(z=U[c], coloraxis="coloraxis",
                                 hovertemplate=f"channel {c}<br>row %{{y}}, col %{{x}}: %{{z:.3f}}<extra></extra>"),
                      row=k // cols + 1, col=k % cols + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    for k in range(len(channels)):  # square cells: each y axis follows its own x axis
        fig.update_yaxes(scaleanchor=f"x{k + 1 if k else ''}", row=k // cols + 1, col=k % cols + 1)
    fig.update_layout(coloraxis={"colorscale": "Viridis", "cmin": 0.0, "cmax": zmax,
                                 "colorbar": {"title": {"text": "U"}, "tickfont": {"size": FONT_SIZE}}})
    fig = style(fig, title, height=260 * rows + 110)
    fig.update_annotations(font_size=FONT_SIZE - 4)
    return fig


def feature_map_figure(face: Any, U: Any, channel: int = 0) -> go.Figure:
    """The face beside one channel of U (C, h, w), the channel stretched over the face's grid."""
    face = as_array(face)
    face = face.reshape(face.shape[-2:])
    U = as_array(U)
    if U.ndim == 4:
        U = U[0]
    grid = U[channel]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=["peak face I_p",
                                        f"U, channel {channel} of {len(U)} ({grid.shape[0]} x {grid.shape[1]})"])
    fig.add_trace(gray_image(face, "face"), row=1, col=1)
    fig.add_trace(gray_image(face, "face"), row=1, col=2)
    fig.add_trace(grid_over(face.shape, grid, colorscale="Viridis", opacity=0.75,
                             colorbar={"title": {"text": "U"}, "tickfont": {"size": FONT_SIZE}},
                             hovertemplate="%{z:.3f}<extra></extra>"), row=1, col=2)
    image_axes(fig)
    return style(fig, f"Front-end feature map U[{channel}]", height=460)


def softmax_figure(logits: Any, P: Any, class_names: Sequence[str], title: str = "Eq. 3: scores x and P = S(x)",
                   true_label: str | None = None) -> go.Figure:
    """Bars of the classifier scores x (logits) beside the softmax probabilities P."""
    x, p = as_array(logits).reshape(-1), as_array(P).reshape(-1)
    names = [f"{n} ✓" if n == true_label else n for n in class_names]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["scores x (logits)", "P = softmax(x)"],
                        horizontal_spacing=0.16)
    fig.add_trace(go.Bar(y=names, x=x, orientation="h", marker_color="#56B4E9", text=[f"{v:.2f}" for v in x],
                         textposition="outside", showlegend=False), row=1, col=1)
    fig.add_trace(go.Bar(y=names, x=p, orientation="h", marker_color=BRANCH_COLOURS["P_G"],
                         text=[f"{v:.2f}" for v in p], textposition="outside", showlegend=False), row=1, col=2)
    span = float(np.abs(x).max()) or 1.0
    fig.update_xaxes(range=[min(0.0, float(x.min())) - 0.25 * span, max(0.0, float(x.max())) + 0.35 * span],
                     row=1, col=1)
    fig.update_xaxes(range=[0, 1.2], row=1, col=2)
    fig.update_yaxes(autorange="reversed")
    return style(fig, title, height=max(400, 60 * len(names) + 160))


# --- notebook 03: LSTM ------------------------------------------------------------------------------


def gate_curves_figure(lstm: Mapping[str, Mapping[str, Any]], t: int | None = None,
                       quantities: Sequence[str] = ("f", "i", "g", "o", "c", "h"),
                       title: str = "Eq. 5-10 over time: mean over the N units, per region") -> go.Figure:
    """One panel per quantity (f, i, g, o, c, h), one line per region: the mean over units, with the
    range between the 10th and 90th percentile of the units shaded.

    Args:
        lstm: {region: {"f", "i", "g", "o", "c", "h": (T, N)}} (``Analysis.lstm``, or the fields of
            ``RegionIntermediates`` for one example).
        t: a time step (1-based) to mark with a vertical line.
    """
    qs = list(quantities)
    cols = 3
    rows = int(np.ceil(len(qs) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[_QUANTITIES.get(q, q) for q in qs],
                        horizontal_spacing=0.07, vertical_spacing=0.16)
    for k, q in enumerate(qs):
        r, c = k // cols + 1, k % cols + 1
        for region, values in lstm.items():
            v = as_array(values[q])  # (T, N)
            steps = list(range(1, len(v) + 1))
            lo, hi = np.percentile(v, 10, axis=1), np.percentile(v, 90, axis=1)
            colour = REGION_COLOURS.get(region, "#333333")
            fig.add_trace(go.Scatter(x=steps + steps[::-1], y=np.r_[hi, lo[::-1]], fill="toself", fillcolor=colour,
                                     opacity=0.15, line={"width": 0}, hoverinfo="skip", showlegend=False),
                          row=r, col=c)
            fig.add_trace(go.Scatter(x=steps, y=v.mean(axis=1), mode="lines+markers", name=region, legendgroup=region,
                                     showlegend=k == 0, line={"color": colour, "width": 3,
                                                              "dash": REGION_DASHES.get(region, "solid")},
                                     hovertemplate=f"{region} {q}_t, t=%{{x}}: %{{y:.3f}}<extra></extra>"),
                          row=r, col=c)
        if q in ("f", "i", "o"):
            fig.update_yaxes(range=[0, 1], row=r, col=c)
        elif q in ("g", "h"):
            fig.update_yaxes(range=[-1, 1], row=r, col=c)
        fig.update_xaxes(dtick=1, row=r, col=c)
        if t is not None:
            fig.add_vline(x=t, line={"color": "#555555", "width": 2, "dash": "dash"}, row=r, col=c)
    fig.update_xaxes(title_text="t", row=rows)
    fig = style(fig, title + (f" (t = {t} marked)" if t is not None else ""), height=330 * rows + 150)
    fig.update_layout(legend={"orientation": "h", "y": -0.08, "yanchor": "top"})
    fig.update_annotations(font_size=FONT_SIZE - 3)
    return fig


def lstm_step_figure(lstm: Mapping[str, Mapping[str, Any]], region: str, t: int, units: int = 16) -> go.Figure:
    """The six quantities of Eq. 5-10 at one step ``t`` (1-based) for the first ``units`` units of a region.

    Rows f, i, g, o, c, h; columns units. Diverging colours centred on 0 (gates lie in [0, 1], g and
    h in [-1, 1], c is unbounded).
    """
    q = lstm[region]
    T = as_array(q["f"]).shape[0]
    t = min(max(int(t), 1), T)
    keys = ["f", "i", "g", "o", "c", "h"]
    Z = np.stack([as_array(q[k])[t - 1, :units] for k in keys])
    fig = go.Figure(go.Heatmap(z=Z, y=[_QUANTITIES[k].split(" (")[0] for k in keys],
                               **signed_colours(Z, at_least=1.0), text=np.round(Z, 2),
                               texttemplate="%{text}", textfont={"size": 11},
                               colorbar={"tickfont": {"size": FONT_SIZE}},
                               hovertemplate="%{y}, unit %{x}: %{z:.3f}<extra></extra>"))
    fig.update_xaxes(title_text="unit", dtick=1)
    fig.update_yaxes(autorange="reversed")
    return style(fig, f"{region}: Eq. 5-10 at t = {t} of {T} (first {Z.shape[1]} units)", height=460)


# --- notebook 04: TLER ----------------------------------------------------------------------------


def time_features_figure(Z: Any, title: str, boundaries: Sequence[int] = (), labels: Sequence[str] = (),
                         highlight_last: bool = False, feature: str = "feature") -> go.Figure:
    """A (T, D) array over time as a heatmap (time across, features down).

    Args:
        Z: (T, D), e.g. F' of one example (T, 3N) or the end convolution's output (T, E).
        boundaries: feature indices where a new block starts (e.g. N and 2N in F'), drawn as lines.
        labels: a name per block (e.g. eyes, nose, mouth), written at its middle.
        highlight_last: frame the last time step (F_L is the end convolution's output there).
    """
    Z = as_array(Z)
    T, D = Z.shape
    colours = (signed_colours(Z) if Z.min() < 0
               else {"colorscale": "Viridis", "zmin": 0.0, "zmax": float(np.abs(Z).max()) or 1.0})
    fig = go.Figure(go.Heatmap(z=Z.T, x=list(range(1, T + 1)), **colours, colorbar={"tickfont": {"size": FONT_SIZE}},
                               hovertemplate=f"t=%{{x}}, {feature} %{{y}}: %{{z:.3f}}<extra></extra>"))
    for b in boundaries:
        fig.add_hline(y=b - 0.5, line={"color": "#000000", "width": 3})
    if labels:
        edges = [0, *boundaries, D]
        centres = [(edges[k] + edges[k + 1]) / 2 - 0.5 for k in range(len(labels))]
        fig.update_yaxes(tickvals=centres, ticktext=list(labels))
    if highlight_last:
        fig.add_shape(type="rect", x0=T - 0.5, x1=T + 0.5, y0=-0.5, y1=D - 0.5, line={"color": "#D55E00", "width": 4})
    fig.update_xaxes(title_text="time step t", dtick=1)
    fig.update_yaxes(title_text=feature, autorange="reversed")
    return style(fig, title, height=520)
