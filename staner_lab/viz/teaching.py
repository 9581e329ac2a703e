"""Figures the notebooks need beyond the app's views, and the widget helper that every notebook uses.

Builders return a ``plotly.graph_objects.Figure`` and never show it (same look as the rest of
:mod:`staner_lab.viz`: projector fonts, colour-blind-safe maps):

- :func:`tour_figure`: one screen with the face, the landmarks, the attention map, the region
  sequences, the LSTM gates over time and the decision (notebook 00);
- :func:`region_explorer_figure`: one frame's landmarks and region boxes at any margin, and the crop
  of one region (notebook 01);
- :func:`feature_grid_figure`, :func:`feature_map_figure`, :func:`softmax_figure` (notebook 02);
- :func:`gate_curves_figure`, :func:`lstm_step_figure` (notebook 03);
- :func:`time_features_figure` (F' and the end convolution over time, notebook 04);
- :func:`alpha_sweep_figure` (notebook 05), :func:`split_comparison_figure` (notebook 06);
- :func:`mask_overlay_figure`, :func:`pointing_game_figure` (notebook 07).

:func:`show_interactive` shows a figure at its default settings (a static fallback for viewers
without widgets) and then ipywidgets controls that redraw it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._style import BRANCH_COLOURS, FONT_SIZE, REGION_COLOURS, gray_image, style

__all__ = [
    "alpha_sweep_figure",
    "dropdown",
    "feature_grid_figure",
    "feature_map_figure",
    "fusion_confusion_figure",
    "gate_curves_figure",
    "lstm_step_figure",
    "mask_overlay_figure",
    "pointing_game_figure",
    "region_explorer_figure",
    "show_interactive",
    "slider",
    "softmax_figure",
    "split_comparison_figure",
    "time_features_figure",
    "tour_figure",
]

_QUANTITIES = {"f": "forget gate f_t (Eq. 5)", "i": "input gate i_t (Eq. 6)", "g": "candidate g_t (Eq. 7)",
               "c": "cell state c_t (Eq. 8)", "o": "output gate o_t (Eq. 9)", "h": "hidden state h_t (Eq. 10)"}
_DASHES = {"eyes": "solid", "nose": "dash", "mouth": "dot"}


def _np(x: Any) -> np.ndarray:
    """Tensor or array -> float64 numpy."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _image_axes(fig: go.Figure, row: int | None = None, col: int | None = None) -> None:
    kw = {} if row is None else {"row": row, "col": col}
    fig.update_xaxes(visible=False, **kw)
    fig.update_yaxes(visible=False, **kw)


def _grid_over(img_shape: tuple[int, int], grid: np.ndarray, **heatmap) -> go.Heatmap:
    """A (h, w) grid stretched over an image of ``img_shape`` (each cell covers S/h x S/w pixels)."""
    H, W = img_shape
    h, w = grid.shape
    dx, dy = W / w, H / h
    return go.Heatmap(z=grid, x0=dx / 2 - 0.5, dx=dx, y0=dy / 2 - 0.5, dy=dy, **heatmap)


# --- notebook 00: the tour --------------------------------------------------------------------------


def _region_mosaic(regions: Mapping[str, np.ndarray], gap: int = 2) -> tuple[np.ndarray, list[float]]:
    """{region: (T, h, w)} -> one gray image, a row per region and a column per step; row centres."""
    names = list(regions)
    T = len(next(iter(regions.values())))
    Hm = max(regions[r].shape[1] for r in names)
    Wm = max(regions[r].shape[2] for r in names)
    out = np.ones((len(names) * (Hm + gap) - gap, T * (Wm + gap) - gap), np.float32)
    centres = []
    for k, r in enumerate(names):
        seq = np.asarray(regions[r], np.float32)
        h, w = seq.shape[1:]
        y0 = k * (Hm + gap) + (Hm - h) // 2
        centres.append(k * (Hm + gap) + Hm / 2)
        for t in range(T):
            x0 = t * (Wm + gap) + (Wm - w) // 2
            out[y0:y0 + h, x0:x0 + w] = seq[t]
    return out, centres


def tour_figure(view: Any, analysis: Any, alpha: float | None = None) -> go.Figure:
    """Everything STANER does to one sequence, on one screen.

    Args:
        view: a :class:`staner_lab.app_support.SequenceView` (frames, landmarks, boxes, peak,
            indices, sample).
        analysis: a :class:`staner_lab.app_support.Analysis` of ``view.sample`` (P_G, P_L, P, M, lstm).
        alpha: fusion weight of Eq. 14 for the bars; None = the model's own.

    Panels: the peak frame with its 68 landmarks and region boxes (Algorithm 1); the aligned face
    I_p with the attention map M (Eq. 1); P_G, P_L and the fused P (Eq. 3, 12, 14); the region
    sequences I_e, I_n, I_m that TLER reads; per region over time, the forget gate f_t (Eq. 5, mean
    over units) and the size of the hidden state h_t (Eq. 10, root mean square over units).
    """
    from ..data.regions import REGION_LANDMARKS

    a = analysis.alpha if alpha is None else float(alpha)
    names = list(analysis.class_names)
    P = analysis.P
    if analysis.P_G is not None and analysis.P_L is not None:
        P = a * analysis.P_G + (1 - a) * analysis.P_L
    k = int(np.argmax(P))
    T = len(view.indices)
    m_title = "face I_p and attention M (Eq. 1)"
    if analysis.attention == "spatial" and analysis.M is not None:
        m_title = f"face I_p, M from {float(np.min(analysis.M)):.2f} (dark) to {float(np.max(analysis.M)):.2f}"
    fig = make_subplots(
        rows=2, cols=4, specs=[[{}, {}, {"colspan": 2}, None], [{"colspan": 2}, None, {}, {}]],
        column_widths=[0.24, 0.24, 0.26, 0.26], row_heights=[0.56, 0.44], horizontal_spacing=0.07,
        vertical_spacing=0.13,
        subplot_titles=[f"frame {view.peak + 1} (peak): 68 landmarks", m_title,
                        f"P_G, P_L and P at α = {a:.2f} (Eq. 14)",
                        f"regions I_e, I_n, I_m, t = 1 ... {T}", "forget gate f_t (mean)",
                        "hidden state h_t (RMS)"])
    # 1. peak frame, landmarks, boxes
    frame = view.frames[view.peak]
    fig.add_trace(gray_image(frame, "peak frame"), row=1, col=1)
    lm = np.asarray(view.landmarks[view.peak], float)
    for region, idx in REGION_LANDMARKS.items():
        colour = REGION_COLOURS[region]
        fig.add_trace(go.Scatter(x=lm[list(idx), 0], y=lm[list(idx), 1], mode="markers", name=region,
                                 legendgroup=region, marker={"size": 5, "color": colour,
                                                             "line": {"width": 1, "color": "#000000"}},
                                 hoverinfo="skip"), row=1, col=1)
        x0, y0, x1, y1 = view.boxes[region]
        fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, line={"color": colour, "width": 3}, row=1, col=1)
    _image_axes(fig, 1, 1)
    # 2. face and M
    face = np.asarray(view.sample.peak)
    fig.add_trace(gray_image(face, "peak face"), row=1, col=2)
    if analysis.attention == "spatial" and analysis.M is not None:
        M = np.asarray(analysis.M, float)  # colours stretched over M's own range (given in the panel title)
        fig.add_trace(_grid_over(face.shape, M, colorscale="Cividis", zmin=float(M.min()), zmax=float(M.max()),
                                 opacity=0.5, showscale=False, hovertemplate="M = %{z:.2f}<extra></extra>"),
                      row=1, col=2)
    _image_axes(fig, 1, 2)
    # 3. probabilities
    for key, values, label in (("P_G", analysis.P_G, "P_G (SGAER)"), ("P_L", analysis.P_L, "P_L (TLER)"),
                               ("P", P, "P (fused)")):
        if values is None:
            continue
        fig.add_trace(go.Bar(y=names, x=np.asarray(values, float), orientation="h", name=label,
                             marker_color=BRANCH_COLOURS[key], marker_pattern_shape="/" if key == "P_L" else "",
                             hovertemplate=f"{key}(%{{y}}) = %{{x:.3f}}<extra></extra>"), row=1, col=3)
    fig.update_xaxes(range=[0, 1.0], title_text="probability", row=1, col=3)
    fig.update_yaxes(autorange="reversed", row=1, col=3)
    # 4. region mosaic
    mosaic, centres = _region_mosaic(view.sample.regions)
    fig.add_trace(gray_image(mosaic, "regions"), row=2, col=1)
    fig.update_xaxes(visible=False, row=2, col=1)
    fig.update_yaxes(tickvals=centres, ticktext=list(view.sample.regions), showgrid=False, zeroline=False,
                     row=2, col=1)
    # 5-6. the forget gate and the size of the hidden state over time
    for col, key in ((3, "f"), (4, "h")):
        for region, q in analysis.lstm.items():
            v = np.asarray(q[key], float)  # (T, N)
            y = v.mean(axis=1) if key == "f" else np.sqrt((v**2).mean(axis=1))
            fig.add_trace(go.Scatter(x=list(range(1, T + 1)), y=y, mode="lines+markers", name=region,
                                     legendgroup=region, showlegend=False,
                                     line={"color": REGION_COLOURS.get(region), "width": 3,
                                           "dash": _DASHES.get(region, "solid")}),
                          row=2, col=col)
        fig.update_yaxes(range=[0, 1], row=2, col=col)
        fig.update_xaxes(title_text="t", dtick=1, row=2, col=col)
    true = getattr(view, "true_label", None)
    title = f"STANER on {view.sample.sequence_id}: O = {names[k]} (P = {float(P[k]):.2f})"
    title += f", true class: {true}" if true else ""
    fig = style(fig, title, height=860)
    fig.update_layout(legend={"orientation": "h", "y": -0.06, "yanchor": "top"}, barmode="group", width=1300)
    fig.update_annotations(font_size=FONT_SIZE - 2)
    return fig


# --- notebook 01: regions ---------------------------------------------------------------------------


def region_explorer_figure(frames: np.ndarray, landmarks: np.ndarray, region_sizes: Mapping[str, tuple[int, int]],
                           frame: int = -1, margin: float = 0.15, region: str = "mouth") -> go.Figure:
    """One frame with its landmarks and the region boxes at ``margin``, and the crop of ``region``.

    The boxes are :func:`staner_lab.data.regions.sequence_region_boxes` over the whole sequence (one
    box per region, so the crop does not jitter) and the crop is
    :func:`staner_lab.data.regions.crop_regions` of that frame, at the model's (h, w).

    Args:
        frames: (N, H, W) uint8 frames.
        landmarks: (N, 68, 2) landmarks of every frame.
        region_sizes: {region: (h, w)}, e.g. ``config.inputs.region_sizes``.
        frame: which frame to show (negative counts from the end).
        margin: ``PreprocessConfig.region_margin``.
        region: the region whose crop is shown.
    """
    from ..data.regions import REGION_LANDMARKS, crop_regions, sequence_region_boxes

    frames = np.asarray(frames)
    n = len(frames)
    i = frame % n
    boxes = sequence_region_boxes(landmarks, region_sizes, margin, image_shape=frames.shape[1:])
    crop = crop_regions(frames[i:i + 1], {region: boxes[region]}, {region: region_sizes[region]})[region][0]
    h, w = region_sizes[region]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.05,
                        subplot_titles=[f"frame {i + 1} of {n}, margin {margin:.2f}",
                                        f"{region} crop, resized to {h} x {w}"])
    fig.add_trace(gray_image(frames[i], f"frame {i + 1}"), row=1, col=1)
    lm = np.asarray(landmarks[i], float)
    for r, idx in REGION_LANDMARKS.items():
        colour = REGION_COLOURS[r]
        fig.add_trace(go.Scatter(x=lm[list(idx), 0], y=lm[list(idx), 1], mode="markers", name=r,
                                 marker={"size": 6, "color": colour, "line": {"width": 1, "color": "#000000"}},
                                 hovertemplate=f"{r}<br>x=%{{x:.1f}} y=%{{y:.1f}}<extra></extra>"), row=1, col=1)
        x0, y0, x1, y1 = boxes[r]
        fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, row=1, col=1,
                      line={"color": colour, "width": 5 if r == region else 2, "dash": "solid" if r == region else "dot"})
    fig.add_trace(gray_image(crop, f"{region} crop"), row=1, col=2)
    _image_axes(fig)
    fig = style(fig, "Algorithm 1, step 5: regions from landmarks", height=520)
    fig.update_layout(legend={"orientation": "h", "y": -0.02, "yanchor": "top"})
    return fig


# --- notebook 02: SGAER ------------------------------------------------------------------------------


def feature_grid_figure(U: Any, channels: Sequence[int] | None = None, n: int = 8, cols: int = 4,
                        title: str = "Front-end features U (some channels)") -> go.Figure:
    """A grid of channels of U (C, h, w); by default the ``n`` channels with the largest mean.

    All panels share one colour scale, so brighter means a larger activation in every panel.
    """
    U = _np(U)
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
    face = _np(face)
    face = face.reshape(face.shape[-2:])
    U = _np(U)
    if U.ndim == 4:
        U = U[0]
    grid = U[channel]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=["peak face I_p",
                                        f"U, channel {channel} of {len(U)} ({grid.shape[0]} x {grid.shape[1]})"])
    fig.add_trace(gray_image(face, "face"), row=1, col=1)
    fig.add_trace(gray_image(face, "face"), row=1, col=2)
    fig.add_trace(_grid_over(face.shape, grid, colorscale="Viridis", opacity=0.75,
                             colorbar={"title": {"text": "U"}, "tickfont": {"size": FONT_SIZE}},
                             hovertemplate="%{z:.3f}<extra></extra>"), row=1, col=2)
    _image_axes(fig)
    return style(fig, f"Front-end feature map U[{channel}]", height=460)


def softmax_figure(logits: Any, P: Any, class_names: Sequence[str], title: str = "Eq. 3: scores x and P = S(x)",
                   true_label: str | None = None) -> go.Figure:
    """Bars of the classifier scores x (logits) beside the softmax probabilities P."""
    x, p = _np(logits).reshape(-1), _np(P).reshape(-1)
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
            v = _np(values[q])  # (T, N)
            steps = list(range(1, len(v) + 1))
            lo, hi = np.percentile(v, 10, axis=1), np.percentile(v, 90, axis=1)
            colour = REGION_COLOURS.get(region, "#333333")
            fig.add_trace(go.Scatter(x=steps + steps[::-1], y=np.r_[hi, lo[::-1]], fill="toself", fillcolor=colour,
                                     opacity=0.15, line={"width": 0}, hoverinfo="skip", showlegend=False),
                          row=r, col=c)
            fig.add_trace(go.Scatter(x=steps, y=v.mean(axis=1), mode="lines+markers", name=region, legendgroup=region,
                                     showlegend=k == 0, line={"color": colour, "width": 3,
                                                              "dash": _DASHES.get(region, "solid")},
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
    T = _np(q["f"]).shape[0]
    t = min(max(int(t), 1), T)
    keys = ["f", "i", "g", "o", "c", "h"]
    Z = np.stack([_np(q[k])[t - 1, :units] for k in keys])
    lim = float(max(np.abs(Z).max(), 1.0))
    fig = go.Figure(go.Heatmap(z=Z, y=[_QUANTITIES[k].split(" (")[0] for k in keys], colorscale="RdBu",
                               reversescale=True, zmid=0.0, zmin=-lim, zmax=lim, text=np.round(Z, 2),
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
    Z = _np(Z)
    T, D = Z.shape
    lim = float(np.abs(Z).max()) or 1.0
    signed = bool(Z.min() < 0)
    fig = go.Figure(go.Heatmap(z=Z.T, x=list(range(1, T + 1)), colorscale="RdBu" if signed else "Viridis",
                               reversescale=signed, zmid=0.0 if signed else None, zmin=-lim if signed else 0.0,
                               zmax=lim, colorbar={"tickfont": {"size": FONT_SIZE}},
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


# --- notebook 05: alpha ----------------------------------------------------------------------------


def alpha_sweep_figure(alphas: Any, accuracy: Any, other: Mapping[str, Any] | None = None,
                       marks: Mapping[str, float] | None = None, label: str = "validation",
                       title: str = "Accuracy of the fused decision (Eq. 14) against α") -> go.Figure:
    """Accuracy against α (0 = TLER only, 1 = SGAER only), with optional other curves and marked α values.

    Args:
        alphas, accuracy: (A,) the sweep (``staner_lab.teaching.alpha_sweep``).
        other: more curves {name: (A,) accuracies}, e.g. {"test": ...}, drawn dashed.
        marks: {label: alpha} vertical lines, e.g. {"paper: α = 0.5": 0.5}.
    """
    a = _np(alphas)
    fig = go.Figure(go.Scatter(x=a, y=_np(accuracy), mode="lines", name=label, line={"color": "#0072B2", "width": 4},
                               hovertemplate="α=%{x:.2f}: %{y:.3f}<extra></extra>"))
    for k, (name, acc) in enumerate((other or {}).items()):
        fig.add_trace(go.Scatter(x=a, y=_np(acc), mode="lines", name=name,
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

    from .. import functional as Fn
    from ..metrics import accuracy_from_confusion, confusion_matrix
    from .confusion import confusion_figure

    P = Fn.fuse_probabilities(torch.as_tensor(_np(P_G)), torch.as_tensor(_np(P_L)), float(alpha))
    cm = confusion_matrix(_np(labels).astype(int), Fn.decision(P).numpy(), len(class_names))
    acc = accuracy_from_confusion(cm)
    return confusion_figure(cm, class_names, title=title or f"α = {alpha:.2f}: accuracy {acc:.1%} ({int(np.trace(cm))}"
                                                            f" of {int(cm.sum())})")


# --- notebook 06: splits ----------------------------------------------------------------------------


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
        accs = _np(results[name])
        fig.add_trace(go.Bar(x=[name], y=[100 * accs.mean()], marker_color=colours[k % 4], opacity=0.55,
                             text=[f"{100 * accs.mean():.1f}%"], textposition="outside", showlegend=False,
                             error_y={"type": "data", "array": [100 * accs.std()], "thickness": 2}))
        fig.add_trace(go.Scatter(x=[name] * len(accs), y=100 * accs, mode="markers", showlegend=False,
                                 marker={"size": 12, "color": colours[k % 4], "line": {"width": 1, "color": "#000"}},
                                 hovertemplate="fold accuracy %{y:.1f}%<extra></extra>"))
    fig.update_yaxes(title_text="accuracy (%)", range=[0, 110])
    return style(fig, title, height=460)


# --- notebook 07: ground truth ----------------------------------------------------------------------


def mask_overlay_figure(face: Any, mask: np.ndarray, attribution: Any | None = None,
                        title: str = "Ground-truth action-unit mask on the aligned face") -> go.Figure:
    """The face with an AU mask shaded; with ``attribution``, a cross at its maximum (the pointing game)."""
    face = _np(face)
    face = face.reshape(face.shape[-2:])
    m = np.asarray(mask, bool)
    fig = go.Figure(gray_image(face, "face"))
    fig.add_trace(go.Heatmap(z=np.where(m, 1.0, np.nan), colorscale=[[0, "#E69F00"], [1, "#E69F00"]], opacity=0.45,
                             showscale=False, hoverinfo="skip"))
    if attribution is not None:
        a = _np(attribution).reshape(face.shape)
        y, x = np.unravel_index(int(np.argmax(a)), a.shape)
        hit = bool(m[y, x])
        fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers", name="maximum",
                                 marker={"symbol": "x", "size": 22, "color": "#009E73" if hit else "#D55E00",
                                         "line": {"width": 2, "color": "#000000"}}))
        title += f": the maximum is {'inside (hit)' if hit else 'outside (miss)'}"
    fig.update_xaxes(visible=False, range=[-0.5, face.shape[1] - 0.5])
    fig.update_yaxes(visible=False, range=[face.shape[0] - 0.5, -0.5], scaleanchor="x")
    return style(fig, title, height=520)


def pointing_game_figure(scores: Mapping[str, float], chance: float | None = None, n: int | None = None,
                         title: str = "Pointing game: how often the maximum lies in an AU mask") -> go.Figure:
    """Hit rate per map (bars) and the hit rate of a map whose maximum falls at random (dashed line).

    Args:
        scores: {method: hit rate in [0, 1]}.
        chance: the expected hit rate of a random point (the mean mask area fraction).
        n: number of faces, for the title.
    """
    names = list(scores)
    v = np.array([float(scores[k]) for k in names])
    fig = go.Figure(go.Bar(x=names, y=v, marker_color="#0072B2", text=[f"{x:.0%}" for x in v], textposition="outside"))
    if chance is not None:
        fig.add_hline(y=float(chance), line={"color": "#D55E00", "width": 3, "dash": "dash"},
                      annotation_text=f"random point: {chance:.0%}", annotation_position="top right",
                      annotation_font_size=FONT_SIZE - 2)
    fig.update_yaxes(title_text="hit rate", range=[0, 1.15], tickformat=".0%")
    return style(fig, title + (f" ({n} faces)" if n else ""), height=460)


# --- widgets -------------------------------------------------------------------------------------------


def slider(value: float, lo: float, hi: float, step: float | None = None, description: str = ""):
    """An ipywidgets slider that redraws on release (``IntSlider`` when all arguments are ints)."""
    import ipywidgets as widgets

    layout = widgets.Layout(width="480px")
    style_ = {"description_width": "initial"}
    if all(isinstance(v, int) for v in (value, lo, hi)) and (step is None or isinstance(step, int)):
        return widgets.IntSlider(value=value, min=lo, max=hi, step=step or 1, description=description,
                                 continuous_update=False, layout=layout, style=style_)
    return widgets.FloatSlider(value=value, min=lo, max=hi, step=step or (hi - lo) / 20, description=description,
                               continuous_update=False, layout=layout, style=style_)


def dropdown(options: Sequence[Any], value: Any = None, description: str = ""):
    """An ipywidgets dropdown (``options`` may be values or (label, value) pairs)."""
    import ipywidgets as widgets

    opts = list(options)
    first = opts[0][1] if isinstance(opts[0], tuple) else opts[0]
    return widgets.Dropdown(options=opts, value=first if value is None else value, description=description,
                            style={"description_width": "initial"})


def show_interactive(build: Callable[..., go.Figure], **controls: Any) -> None:
    """Show ``build(**defaults)`` as a static figure, then controls that redraw it.

    The static figure is the fallback for viewers without widgets (a rendered notebook, VS Code
    without widget support); in JupyterLab the controls below it redraw a live copy.

    Args:
        build: keyword arguments -> figure.
        **controls: ipywidgets controls (see :func:`slider`, :func:`dropdown`), named like ``build``'s
            arguments; their current values are the defaults.
    """
    import ipywidgets as widgets
    from IPython.display import Markdown, display

    defaults = {k: getattr(c, "value", c) for k, c in controls.items()}
    shown = ", ".join(f"{k} = {v:.2f}" if isinstance(v, float) else f"{k} = {v}" for k, v in defaults.items())
    display(Markdown(f"*Static view ({shown}). The controls below redraw it in JupyterLab; other viewers show "
                     "only this figure.*"))
    build(**defaults).show()
    widgets.interact(lambda **kw: build(**kw).show(), **controls)
