"""What preprocessing finds in a sequence: frames with the 68 landmarks and the region boxes, and
the per-region filmstrips I_e, I_n, I_m that TLER reads (Algorithm 1, steps 2-5).

Each figure is one image mosaic per row (frames side by side, separated by a white gap) with the
overlays shifted to their tile: a handful of traces instead of one subplot per frame, so the page
redraws fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import plotly.graph_objects as go

from staner_lab.data.regions import REGION_LANDMARKS
from staner_lab.viz._style import FONT_SIZE, REGION_COLOURS, figure, gray_image

__all__ = ["filmstrip_figure", "frames_figure", "mosaic", "pick_frames"]

GAP = 4  # pixels of white between tiles


def mosaic(tiles: Sequence[np.ndarray], gap: int = GAP) -> tuple[np.ndarray, list[int]]:
    """Tiles of one height side by side with a white gap -> (image, x offset of each tile).

    Tiles are uint8 or float in [0, 1] (floats are converted to uint8).
    """
    tiles = [t if t.dtype == np.uint8 else (np.clip(t, 0, 1) * 255 + 0.5).astype(np.uint8) for t in tiles]
    h = tiles[0].shape[0]
    offsets, x = [], 0
    for t in tiles:
        offsets.append(x)
        x += t.shape[1] + gap
    out = np.full((h, x - gap), 255, np.uint8)
    for t, x0 in zip(tiles, offsets):
        out[:, x0:x0 + t.shape[1]] = t
    return out, offsets


def pick_frames(indices: Sequence[int], peak: int | None = None, max_frames: int = 6) -> list[int]:
    """Distinct frame indices to show (in order), at most ``max_frames``, always with the peak."""
    uniq = sorted({int(i) for i in indices} | ({int(peak)} if peak is not None else set()))
    if len(uniq) <= max_frames:
        return uniq
    keep = np.linspace(0, len(uniq) - 1, max_frames).round().astype(int)
    out = sorted({uniq[k] for k in keep} | ({int(peak)} if peak is not None else set()))
    if len(out) > max_frames:  # the peak was added: drop the one next to it
        out.remove(out[-2] if out[-1] == peak else out[1])
    return out


def frames_figure(frames: np.ndarray, landmarks: np.ndarray, boxes: Mapping[str, Sequence[float]],
                  indices: Sequence[int], peak: int | None = None, max_frames: int = 6,
                  display_height: int = 240, title: str = "Frames, 68 landmarks and region boxes") -> go.Figure:
    """Source frames with their landmarks (coloured by region) and the sequence's region boxes.

    Args:
        frames: (N, H, W) uint8 source frames.
        landmarks: (N, 68, 2) landmarks (x, y) of every frame, in frame pixels.
        boxes: {region: (x0, y0, x1, y1)}, one box per region for the whole sequence.
        indices: frames to consider (e.g. those sampled for TLER); see :func:`pick_frames`.
        peak: the peak frame, marked in its label.
        display_height: frames are resized to this height for display (landmarks scaled alike).
    """
    show = pick_frames(indices, peak, max_frames)
    H, W = frames.shape[1:3]
    scale = display_height / H
    size = (max(1, round(W * scale)), display_height)
    tiles = [cv2.resize(frames[i], size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
             for i in show]
    image, offsets = mosaic(tiles)
    traces: list = [gray_image(image, "frames")]
    groups = {"jaw": [k for k in range(68) if not any(k in v for v in REGION_LANDMARKS.values())],
              **{r: list(v) for r, v in REGION_LANDMARKS.items()}}
    for name, idx in groups.items():
        pts = np.concatenate([np.asarray(landmarks[i], float)[idx] * scale + [x0, 0] for i, x0 in zip(show, offsets)])
        colour = REGION_COLOURS.get(name, "#FFFFFF")
        traces.append(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name=name, hoverinfo="skip",
                                 marker={"size": 7, "color": colour, "line": {"width": 1, "color": "#000000"}}))
    shapes, labels = [], []
    for i, x0 in zip(show, offsets):
        for region, colour in REGION_COLOURS.items():
            bx0, by0, bx1, by1 = (float(v) * scale for v in boxes[region])
            shapes.append({"type": "rect", "x0": bx0 + x0, "x1": bx1 + x0, "y0": by0, "y1": by1,
                           "line": {"color": colour, "width": 3}})
        labels.append({"x": x0 + size[0] / 2, "y": -4, "yanchor": "bottom", "showarrow": False,
                       "text": f"frame {i + 1}" + (" (peak)" if i == peak else ""), "font": {"size": FONT_SIZE}})
    layout = {"shapes": shapes, "annotations": labels,
              "legend": {"orientation": "h", "y": -0.02, "yanchor": "top", "x": 0},
              "xaxis": {"visible": False, "range": [-0.5, image.shape[1] - 0.5]},
              "yaxis": {"visible": False, "range": [image.shape[0] - 0.5, -40], "scaleanchor": "x"}}
    return figure(traces, layout, title, height=display_height + 190)


def filmstrip_figure(regions: Mapping[str, np.ndarray], indices: Sequence[int] | None = None,
                     tile_width: int = 120, title: str = "What TLER reads: region sequences over time") -> go.Figure:
    """One row per region (eyes, nose, mouth), time steps t = 1..T left to right.

    Args:
        regions: {region: (T, h, w)} crops in [0, 1] (a Sample's ``regions``).
        indices: (T,) source frame of each step, shown above the first row.
        tile_width: display width of every crop (aspect kept), so time steps line up in columns.
    """
    label_w, gap_y = 150, 12
    rows, y = [], 40
    for name, crops in regions.items():
        crops = np.asarray(crops)
        h = max(1, round(crops.shape[1] * tile_width / crops.shape[2]))
        image, offsets = mosaic([cv2.resize(c, (tile_width, h), interpolation=cv2.INTER_NEAREST) for c in crops])
        rows.append((name, image, y))
        y += h + gap_y
    width = label_w + max(r[1].shape[1] for r in rows)
    canvas = np.full((y, width), 255, np.uint8)
    notes = []
    for name, image, y0 in rows:
        canvas[y0:y0 + image.shape[0], label_w:label_w + image.shape[1]] = image
        notes.append({"x": label_w - 12, "y": y0 + image.shape[0] / 2, "xanchor": "right", "showarrow": False,
                      "text": f"<b>{name}</b>", "font": {"size": FONT_SIZE + 2, "color": REGION_COLOURS.get(name)}})
    for t, x0 in enumerate(offsets):
        text = f"t={t + 1}" + (f"<br>frame {int(indices[t]) + 1}" if indices is not None else "")
        notes.append({"x": label_w + x0 + tile_width / 2, "y": 36, "yanchor": "bottom", "showarrow": False,
                      "text": text, "font": {"size": FONT_SIZE - 2}})
    layout = {"annotations": notes, "xaxis": {"visible": False, "range": [-0.5, width - 0.5]},
              "yaxis": {"visible": False, "range": [y - 0.5, -0.5], "scaleanchor": "x"}}
    return figure([gray_image(canvas, "regions")], layout, title, height=y + 120)
