"""One sequence, face to decision: the tour (notebook 00) and the region explorer (notebook 01).

- :func:`tour_figure`: the face, the landmarks, the attention map, the region sequences, the LSTM
  gates over time and the decision, on one screen;
- :func:`region_explorer_figure`: one frame's landmarks and region boxes at any margin, and the crop
  of one region.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from staner_lab.viz._panels import REGION_DASHES, grid_over, image_axes
from staner_lab.viz._style import BRANCH_COLOURS, FONT_SIZE, REGION_COLOURS, gray_image, style

__all__ = ["region_explorer_figure", "tour_figure"]


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
        view: a :class:`staner_lab.explain.inspection.SequenceView` (frames, landmarks, boxes, peak,
            indices, sample).
        analysis: a :class:`staner_lab.explain.inspection.Analysis` of ``view.sample`` (P_G, P_L, P, M, lstm).
        alpha: fusion weight of Eq. 14 for the bars; None = the model's own.

    Panels: the peak frame with its 68 landmarks and region boxes (Algorithm 1); the aligned face
    I_p with the attention map M (Eq. 1); P_G, P_L and the fused P (Eq. 3, 12, 14); the region
    sequences I_e, I_n, I_m that TLER reads; per region over time, the forget gate f_t (Eq. 5, mean
    over units) and the size of the hidden state h_t (Eq. 10, root mean square over units).
    """
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
    _peak_frame_panel(fig, view)
    _face_panel(fig, view, analysis)
    _probability_panel(fig, analysis, P, names)
    _region_panels(fig, view, analysis, T)
    true = getattr(view, "true_label", None)
    title = f"STANER on {view.sample.sequence_id}: O = {names[k]} (P = {float(P[k]):.2f})"
    title += f", true class: {true}" if true else ""
    fig = style(fig, title, height=860)
    fig.update_layout(legend={"orientation": "h", "y": -0.06, "yanchor": "top"}, barmode="group", width=1300)
    fig.update_annotations(font_size=FONT_SIZE - 2)
    return fig


def _peak_frame_panel(fig: go.Figure, view: Any) -> None:
    """1. the peak frame with its 68 landmarks and region boxes."""
    from staner_lab.data.regions import REGION_LANDMARKS

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
    image_axes(fig, 1, 1)


def _face_panel(fig: go.Figure, view: Any, analysis: Any) -> None:
    """2. the aligned face I_p under M."""
    face = np.asarray(view.sample.peak)
    fig.add_trace(gray_image(face, "peak face"), row=1, col=2)
    if analysis.attention == "spatial" and analysis.M is not None:
        M = np.asarray(analysis.M, float)  # colours stretched over M's own range (given in the panel title)
        fig.add_trace(grid_over(face.shape, M, colorscale="Cividis", zmin=float(M.min()), zmax=float(M.max()),
                                 opacity=0.5, showscale=False, hovertemplate="M = %{z:.2f}<extra></extra>"),
                      row=1, col=2)
    image_axes(fig, 1, 2)


def _probability_panel(fig: go.Figure, analysis: Any, P: np.ndarray, names: list[str]) -> None:
    """3. P_G, P_L and the fused P."""
    for key, values, label in (("P_G", analysis.P_G, "P_G (SGAER)"), ("P_L", analysis.P_L, "P_L (TLER)"),
                               ("P", P, "P (fused)")):
        if values is None:
            continue
        fig.add_trace(go.Bar(y=names, x=np.asarray(values, float), orientation="h", name=label,
                             marker_color=BRANCH_COLOURS[key], marker_pattern_shape="/" if key == "P_L" else "",
                             hovertemplate=f"{key}(%{{y}}) = %{{x:.3f}}<extra></extra>"), row=1, col=3)
    fig.update_xaxes(range=[0, 1.0], title_text="probability", row=1, col=3)
    fig.update_yaxes(autorange="reversed", row=1, col=3)


def _region_panels(fig: go.Figure, view: Any, analysis: Any, T: int) -> None:
    """4. the region sequences; 5-6. the forget gate and the size of the hidden state over time."""
    mosaic, centres = _region_mosaic(view.sample.regions)
    fig.add_trace(gray_image(mosaic, "regions"), row=2, col=1)
    fig.update_xaxes(visible=False, row=2, col=1)
    fig.update_yaxes(tickvals=centres, ticktext=list(view.sample.regions), showgrid=False, zeroline=False,
                     row=2, col=1)
    for col, key in ((3, "f"), (4, "h")):
        for region, q in analysis.lstm.items():
            v = np.asarray(q[key], float)  # (T, N)
            y = v.mean(axis=1) if key == "f" else np.sqrt((v**2).mean(axis=1))
            fig.add_trace(go.Scatter(x=list(range(1, T + 1)), y=y, mode="lines+markers", name=region,
                                     legendgroup=region, showlegend=False,
                                     line={"color": REGION_COLOURS.get(region), "width": 3,
                                           "dash": REGION_DASHES.get(region, "solid")}),
                          row=2, col=col)
        fig.update_yaxes(range=[0, 1], row=2, col=col)
        fig.update_xaxes(title_text="t", dtick=1, row=2, col=col)


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
    from staner_lab.data.regions import REGION_LANDMARKS, crop_regions, sequence_region_boxes

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
    image_axes(fig)
    fig = style(fig, "Algorithm 1, step 5: regions from landmarks", height=520)
    fig.update_layout(legend={"orientation": "h", "y": -0.02, "yanchor": "top"})
    return fig
