"""Figures for :mod:`staner_lab.explain`: attribution heatmaps on the face, attention M beside an
attribution, TLER's region x frame map and the region-ablation shares.

Builders take arrays or the result dataclasses of ``staner_lab.explain`` (one example is drawn,
``index``) and return a ``plotly.graph_objects.Figure``. Magnitudes use Cividis; signed maps use the
diverging RdBu (reversed) centred on 0 (red = raises the target probability, blue = lowers it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from staner_lab.config import REGIONS
from staner_lab.explain.agreement import attention_agreement
from staner_lab.explain.peak import PeakAttribution
from staner_lab.explain.regions import RegionAblation, RegionAttribution, RegionMotion
from staner_lab.viz._style import FONT_SIZE, REGION_COLOURS, gray_image, signed_colours, style

__all__ = [
    "attention_vs_attribution_figure",
    "attribution_overlay_figure",
    "region_frame_figure",
    "region_share_figure",
]

_METHOD_NAMES = {"integrated_gradients": "Integrated Gradients", "saliency": "Saliency",
                 "grad_cam": "Grad-CAM", "occlusion": "Occlusion"}


def _image(x: Any, index: int) -> np.ndarray:
    """(S, S), (1, S, S), (B, S, S) or (B, 1, S, S), array or tensor -> (S, S) float numpy."""
    a = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 4:
        a = a[index, 0]  # (B, 1, S, S)
    elif a.ndim == 3:
        a = a[index if a.shape[0] > 1 else 0]  # (B, S, S) or (1, S, S)
    if a.ndim != 2:
        raise ValueError(f"expected an image (S, S), (1, S, S), (B, S, S) or (B, 1, S, S); got {a.shape}")
    return a


def _map(attribution: PeakAttribution | Any, index: int, signed: bool | None) -> tuple[np.ndarray, bool, str]:
    if isinstance(attribution, PeakAttribution):
        name = _METHOD_NAMES.get(attribution.method, attribution.method)
        if attribution.layer:
            name += f" ({attribution.layer})"
        return _image(attribution.map, index), attribution.signed if signed is None else signed, name
    a = _image(attribution, index)
    return a, bool(a.min() < 0) if signed is None else signed, "attribution"


def _heat(z: np.ndarray, signed: bool, opacity: float, colorbar: dict) -> go.Heatmap:
    """A heatmap whose pixel centres sit on integer coordinates, like ``gray_image``."""
    colorbar = {"tickfont": {"size": FONT_SIZE}, **colorbar}
    if signed:
        return go.Heatmap(z=z, **signed_colours(z), opacity=opacity, colorbar=colorbar,
                          hovertemplate="%{z:.3g}<extra></extra>")
    return go.Heatmap(z=z, colorscale="Cividis", opacity=opacity, colorbar=colorbar,
                      hovertemplate="%{z:.3g}<extra></extra>")


def _face_axes(fig: go.Figure, n: int, side: tuple[int, int]) -> None:
    h, w = side
    for i in range(1, n + 1):
        suffix = "" if i == 1 else str(i)
        fig.update_layout({f"yaxis{suffix}": {"range": [h - 0.5, -0.5], "scaleanchor": f"x{suffix}",
                                              "visible": False},
                           f"xaxis{suffix}": {"range": [-0.5, w - 0.5], "visible": False}})


def attribution_overlay_figure(face: Any, attribution: PeakAttribution | Any, index: int = 0,
                               title: str | None = None, opacity: float = 0.55,
                               signed: bool | None = None) -> go.Figure:
    """An attribution map over the grayscale peak face.

    Args:
        face: the peak face (S, S), (1, S, S) or a batch (B, 1, S, S) (array or tensor).
        attribution: a :class:`PeakAttribution` or a map (S, S) / (B, S, S).
        index: which example of a batch.
        title: figure title (default: the method's name).
        opacity: of the attribution layer.
        signed: diverging colours; default from the method (IG, Occlusion) or the map's sign.
    """
    img = _image(face, index)
    z, signed, name = _map(attribution, index, signed)
    fig = go.Figure([gray_image(img, "peak face"), _heat(z, signed, opacity, {"title": {"text": "attr."}})])
    _face_axes(fig, 1, img.shape)
    return style(fig, title or name, height=560)


def attention_vs_attribution_figure(face: Any, attention: Any, attribution: PeakAttribution | Any,
                                    index: int = 0, rho: float | None = None, opacity: float = 0.55,
                                    absolute: bool = True) -> go.Figure:
    """The learned attention M (upsampled) and an attribution, side by side on the face.

    The title carries Spearman's rho between M and the attribution (|attribution| when
    ``absolute``, as in :func:`staner_lab.explain.agreement.attention_agreement`), computed here unless given.

    Args:
        face: peak face, see :func:`attribution_overlay_figure`.
        attention: (S, S) or (B, S, S) from ``staner_lab.explain.agreement.upsampled_attention``.
        attribution: a :class:`PeakAttribution` or a map of the same size.
        index: which example.
        rho: the rank correlation, if already computed.
    """
    img = _image(face, index)
    M = _image(attention, index)
    z, signed, name = _map(attribution, index, None)
    if rho is None:
        rho = float(attention_agreement(M, z, absolute=absolute)[0])
    fig = make_subplots(rows=1, cols=2, subplot_titles=("attention M (Eq. 1)", name), horizontal_spacing=0.12)
    for col, (zz, sg, cb) in enumerate([(M, False, {"x": 0.44, "len": 0.9, "title": {"text": "M"}}),
                                        (z, signed, {"x": 1.0, "len": 0.9, "title": {"text": "attr."}})],
                                       start=1):
        fig.add_trace(gray_image(img, "peak face"), row=1, col=col)
        fig.add_trace(_heat(zz, sg, opacity, cb), row=1, col=col)
    _face_axes(fig, 2, img.shape)
    return style(fig, f"Attention M vs {name}: Spearman \u03c1 = {rho:.2f}", height=560)


def region_frame_figure(attribution: RegionAttribution | Any, index: int = 0, title: str | None = None,
                        regions: Sequence[str] = REGIONS) -> go.Figure:
    """TLER's "which region, which moment": IG summed per region and frame, (3, T) heatmap.

    Args:
        attribution: a :class:`RegionAttribution` or an array (3, T) / (B, 3, T).
        index: which example.
        title: default names the baseline.
    """
    if isinstance(attribution, RegionAttribution):
        z = np.asarray(attribution.map[index], dtype=np.float64)
        title = title or f"TLER Integrated Gradients per region and frame (baseline: {attribution.baseline})"
    else:
        z = np.asarray(attribution, dtype=np.float64)
        z = z[index] if z.ndim == 3 else z
    fig = go.Figure(go.Heatmap(z=z, x=list(range(z.shape[1])), y=list(regions), **signed_colours(z),
                               colorbar={"title": {"text": "attr."}, "tickfont": {"size": FONT_SIZE}},
                               hovertemplate="%{y}, frame %{x}: %{z:.3g}<extra></extra>"))
    fig.update_xaxes(title_text="frame t", dtick=1)
    fig.update_yaxes(autorange="reversed")
    return style(fig, title or "Attribution per region and frame", height=420)


def region_share_figure(ablation: RegionAblation | Any, index: int = 0, title: str | None = None,
                        regions: Sequence[str] = REGIONS) -> go.Figure:
    """Bar chart of each region's share of the probability drop under ablation (hover: the drop).

    Args:
        ablation: a :class:`RegionAblation`, or shares (3,) / (B, 3).
        index: which example.
    """
    if isinstance(ablation, RegionAblation):
        share = np.asarray(ablation.share[index], dtype=np.float64)
        drop = np.asarray(ablation.drop[index], dtype=np.float64)
        text = [f"{s:.0%}<br>(drop {d:+.3f})" for s, d in zip(share, drop)]
    else:
        share = np.asarray(ablation, dtype=np.float64)
        share = share[index] if share.ndim == 2 else share
        text = [f"{s:.0%}" for s in share]
    fig = go.Figure(go.Bar(x=list(regions), y=share, text=text, textposition="outside",
                           marker_color=[REGION_COLOURS.get(r, "#999999") for r in regions]))
    fig.update_yaxes(title_text="share of the drop", range=[0, 1.2])
    return style(fig, title or "Share of the probability drop when a region is ablated", height=480)


def region_motion_figure(motion: RegionMotion, title: str | None = None) -> go.Figure:
    """Heatmap of TLER's per-class recall (%) in each case of :func:`~staner_lab.explain.region_motion`:
    a row per case (as recorded, each region stilled, each region alone), a column per class; the
    cell text is the recall, the hover adds how many sequences of that class there are."""
    recall = 100 * motion.recall()
    total = np.bincount(motion.labels, minlength=len(motion.class_names))
    text = [["–" if np.isnan(r) else f"{r:.0f}" for r in row] for row in recall]
    hover = [[f"{case}<br>{name}: {t}<br>{n} sequences" for name, t, n in zip(motion.class_names, row, total)]
             for case, row in zip(motion.cases, text)]
    fig = go.Figure(go.Heatmap(z=recall, x=list(motion.class_names), y=list(motion.cases), zmin=0, zmax=100,
                               colorscale="Viridis", text=text, texttemplate="%{text}", hovertext=hover,
                               hoverinfo="text", colorbar={"title": "recall %"}))
    fig.update_yaxes(autorange="reversed")
    recorded = 100 * motion.accuracy()[0]
    return style(fig, title or f"TLER's recall with regions stilled (as recorded: {recorded:.0f} % right)", height=420)
