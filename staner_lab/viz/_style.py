"""Shared look of the figures: projector-sized fonts, colour-blind-safe colours, images as PNG.

Every builder passes its layout through :func:`figure` (or :func:`style`), which sets the
:data:`TEMPLATE`: large fonts on every axis, tick and legend, white background, Okabe-Ito colours.
The template travels inside the figure, so the figure looks the same in a notebook and in
Streamlit (show it there with ``theme=None``; Streamlit's own theme shrinks the fonts).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import plotly.graph_objects as go

from staner_lab.viz.confusion import FONT_SIZE

__all__ = ["BRANCH_COLOURS", "FONT_SIZE", "OKABE_ITO", "REGION_COLOURS", "TEMPLATE", "axis", "figure",
           "gray_image", "grid", "png_uri", "signed_colours", "style"]

#: Okabe-Ito colours (distinguishable with every common colour-vision deficiency).
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"]
REGION_COLOURS = {"eyes": "#E69F00", "nose": "#56B4E9", "mouth": "#009E73"}
BRANCH_COLOURS = {"P_G": "#0072B2", "P_L": "#E69F00", "P": "#000000"}

_AXIS = {"gridcolor": "#DDDDDD", "linecolor": "#444444", "zerolinecolor": "#BBBBBB", "ticks": "outside",
         "tickfont": {"size": FONT_SIZE}, "title": {"font": {"size": FONT_SIZE}}, "automargin": True}

#: Projector defaults, applied to every figure of ``staner_lab.viz``.
TEMPLATE = go.layout.Template(layout={
    "font": {"size": FONT_SIZE, "color": "#1A1A1A"},
    "title": {"font": {"size": FONT_SIZE + 4}, "x": 0.01, "xanchor": "left"},
    "paper_bgcolor": "white", "plot_bgcolor": "white", "colorway": OKABE_ITO,
    "xaxis": _AXIS, "yaxis": _AXIS,
    "legend": {"font": {"size": FONT_SIZE}},
    "hoverlabel": {"font": {"size": FONT_SIZE}},
    "margin": {"l": 10, "r": 10, "t": 80, "b": 10},
})


def png_uri(image: np.ndarray) -> str:
    """(H, W) gray or (H, W, 3) RGB image, uint8 or float in [0, 1] -> ``data:image/png;base64,...``.

    Plotly draws a PNG-backed ``go.Image`` far faster (and sends far fewer bytes) than a heatmap of
    every pixel.
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise ValueError(f"cannot encode an image of shape {img.shape} as PNG")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def gray_image(image: np.ndarray, name: str = "", **kwargs: Any) -> go.Image:
    """A grayscale image as a plotly trace; pixel (x, y) centres at integer coordinates."""
    return go.Image(source=png_uri(image), name=name, hoverinfo="skip", **kwargs)


def _base(title: str | None, height: int | None) -> dict[str, Any]:
    layout: dict[str, Any] = {"template": TEMPLATE}
    if title is not None:
        layout["title"] = {"text": title}
    if height is not None:
        layout["height"] = height
    return layout


def figure(data: Sequence[Any], layout: dict[str, Any] | None = None, title: str | None = None,
           height: int | None = None) -> go.Figure:
    """A figure with :data:`TEMPLATE`, built in one step (cheaper than building, then updating)."""
    return go.Figure(list(data), {**_base(title, height), **(layout or {})})


def style(fig: go.Figure, title: str | None = None, height: int | None = None) -> go.Figure:
    """Apply :data:`TEMPLATE` (and a title, a height) to a figure built elsewhere (``make_subplots``)."""
    fig.update_layout(_base(title, height))
    return fig


def grid(n: int, gap: float = 0.06, titles: list[str] | None = None) -> dict:
    """Layout of ``n`` side-by-side axes (xaxis, xaxis2, ...), cheaper than ``make_subplots``.

    Trace k (0-based) goes on the axes named by :func:`axis`.
    """
    width = (1.0 - gap * (n - 1)) / n
    layout: dict = {}
    notes = []
    for k in range(n):
        sfx = "" if k == 0 else str(k + 1)
        x0 = k * (width + gap)
        layout[f"xaxis{sfx}"] = {"domain": [x0, x0 + width], "anchor": f"y{sfx}"}
        layout[f"yaxis{sfx}"] = {"anchor": f"x{sfx}"}
        if titles:
            notes.append({"text": titles[k], "x": x0 + width / 2, "y": 1.0, "xref": "paper", "yref": "paper",
                          "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": FONT_SIZE}})
    layout["annotations"] = notes
    return layout


def axis(k: int) -> dict:
    """Trace keyword arguments that put a trace on the k-th (0-based) axes of :func:`grid`."""
    sfx = "" if k == 0 else str(k + 1)
    return {"xaxis": f"x{sfx}", "yaxis": f"y{sfx}"}


def signed_colours(z: Any, at_least: float = 0.0) -> dict[str, Any]:
    """Heatmap colours for signed values: diverging RdBu, reversed (red = positive), centred on 0 and
    symmetric about it out to the largest |z| (at least ``at_least``; 1 when z is all 0 or NaN)."""
    lim = max(float(np.nanmax(np.abs(np.asarray(z, float)), initial=0.0)), at_least) or 1.0
    return {"colorscale": "RdBu", "reversescale": True, "zmid": 0.0, "zmin": -lim, "zmax": lim}
