"""Attributions against ground truth (notebook 07): an action-unit mask on the face, pointing-game scores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from staner_lab.viz._panels import as_array
from staner_lab.viz._style import FONT_SIZE, gray_image, style

__all__ = ["mask_overlay_figure", "pointing_game_figure"]


def mask_overlay_figure(face: Any, mask: np.ndarray, attribution: Any | None = None,
                        title: str = "Ground-truth action-unit mask on the aligned face") -> go.Figure:
    """The face with an AU mask shaded; with ``attribution``, a cross at its maximum (the pointing game)."""
    face = as_array(face)
    face = face.reshape(face.shape[-2:])
    m = np.asarray(mask, bool)
    fig = go.Figure(gray_image(face, "face"))
    fig.add_trace(go.Heatmap(z=np.where(m, 1.0, np.nan), colorscale=[[0, "#E69F00"], [1, "#E69F00"]], opacity=0.45,
                             showscale=False, hoverinfo="skip"))
    if attribution is not None:
        a = as_array(attribution).reshape(face.shape)
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
