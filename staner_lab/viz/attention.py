"""The attention map M of SGAER (Eq. 1) over the peak face (attributions: ``viz.explain``)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from staner_lab.viz._style import figure, gray_image

__all__ = ["attention_figure", "channel_attention_figure"]


def _over_face(peak: np.ndarray, grid: np.ndarray, title: str, **heatmap) -> go.Figure:
    """The face as an image and ``grid`` (h, w) stretched over it as a heatmap (no resampling)."""
    S_h, S_w = peak.shape
    h, w = grid.shape
    dx, dy = S_w / w, S_h / h
    traces = [gray_image(peak, "peak face"),
              go.Heatmap(z=grid, x0=dx / 2 - 0.5, dx=dx, y0=dy / 2 - 0.5, dy=dy, **heatmap)]
    layout = {"xaxis": {"visible": False, "range": [-0.5, S_w - 0.5]},
              "yaxis": {"visible": False, "range": [S_h - 0.5, -0.5], "scaleanchor": "x"}}
    return figure(traces, layout, title, height=540)


def attention_figure(peak: np.ndarray, M: np.ndarray, opacity: float = 0.5, smooth: bool = False,
                     title: str = "Attention map M over the peak face", own_range: bool = False) -> go.Figure:
    """M (h, w) in [0, 1] (cividis) over the aligned peak face (S, S) with adjustable opacity.

    Each cell of M covers S/w x S/h face pixels; ``smooth`` interpolates between cells; ``own_range``
    stretches the colours over M's min ... max instead of 0 ... 1 (a narrow range then shows its contrast).
    """
    M = np.asarray(M, dtype=float)
    zmin, zmax = (M.min(), M.max()) if own_range else (0.0, 1.0)
    scale = f", colours over {zmin:.2f}–{zmax:.2f}" if own_range else ""
    return _over_face(np.asarray(peak), M, f"{title}<br><sup>M ranges {M.min():.2f}–{M.max():.2f}{scale}</sup>",
                      colorscale="Cividis", zmin=float(zmin), zmax=float(zmax), opacity=float(opacity),
                      zsmooth="best" if smooth else False, colorbar={"title": {"text": "M"}},
                      hovertemplate="M = %{z:.2f}<extra></extra>")


def channel_attention_figure(M: np.ndarray, title: str = "Channel attention gate M") -> go.Figure:
    """The literal Eq. 1 reading: one weight per channel, shown sorted."""
    M = np.asarray(M, dtype=float).reshape(-1)
    order = np.argsort(M)[::-1]
    layout = {"xaxis": {"title": {"text": "channel (sorted by weight)"}, "type": "category",
                        "showticklabels": len(M) <= 32},
              "yaxis": {"title": {"text": "M"}, "range": [0, 1]}}
    return figure([go.Bar(x=[str(c) for c in order], y=M[order], marker_color="#0072B2")], layout, title, 440)
