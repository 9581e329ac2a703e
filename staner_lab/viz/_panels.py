"""Helpers shared by the notebook figures: arrays in, image panels without axes, a grid over an image."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

__all__ = ["REGION_DASHES", "as_array", "grid_over", "image_axes"]

#: Line dash per region, so that the regions differ without colour too.
REGION_DASHES = {"eyes": "solid", "nose": "dash", "mouth": "dot"}


def as_array(x: Any) -> np.ndarray:
    """Tensor or array -> float64 numpy."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def image_axes(fig: go.Figure, row: int | None = None, col: int | None = None) -> None:
    kw = {} if row is None else {"row": row, "col": col}
    fig.update_xaxes(visible=False, **kw)
    fig.update_yaxes(visible=False, **kw)


def grid_over(img_shape: tuple[int, int], grid: np.ndarray, **heatmap) -> go.Heatmap:
    """A (h, w) grid stretched over an image of ``img_shape`` (each cell covers S/h x S/w pixels)."""
    H, W = img_shape
    h, w = grid.shape
    dx, dy = W / w, H / h
    return go.Heatmap(z=grid, x0=dx / 2 - 0.5, dx=dx, y0=dy / 2 - 0.5, dy=dy, **heatmap)
