"""What moves in each class (:func:`staner_lab.data.face_motion.face_motion`) as a heatmap: one data
set's mean landmark motion per class and measure, or the difference between two (real minus drawn)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from staner_lab.data.face_motion import MEASURES, FaceMotion
from staner_lab.viz._style import signed_colours, style

__all__ = ["face_motion_figure"]


def face_motion_figure(motion: FaceMotion, against: FaceMotion | None = None, name: str = "these faces",
                       against_name: str = "those faces", title: str | None = None) -> go.Figure:
    """Heatmap of each class's mean measures (a row per class, a column per measure, in hundredths of
    the inter-ocular distance). With ``against``, the cells are ``motion`` minus ``against`` (both must
    have the same classes): red where ``motion``'s faces move more in the measure's direction,
    blue where less (``name`` and ``against_name`` label them); the hover gives both means and the
    number of sequences."""
    mean = 100 * motion.mean()
    if against is None:
        z, hover_extra = mean, [[""] * len(MEASURES) for _ in motion.class_names]
    else:
        if against.class_names != motion.class_names:
            raise ValueError(f"the two data sets have different classes: {list(motion.class_names)} and "
                             f"{list(against.class_names)}")
        other = 100 * against.mean()
        z = mean - other
        n = against.counts()
        hover_extra = [[f"<br>{against_name}: {o:+.1f} ({n[k]} sequences)" for o in row] for k, row in enumerate(other)]
    counts = motion.counts()
    text = [["–" if np.isnan(v) else f"{v:+.0f}" for v in row] for row in z]
    hover = [[f"{cls}, {m}<br>{name}: {v:+.1f} ({counts[k]} sequences){extra}"
              for m, v, extra in zip(MEASURES, mean[k], hover_extra[k])]
             for k, cls in enumerate(motion.class_names)]
    fig = go.Figure(go.Heatmap(z=z, x=list(MEASURES), y=list(motion.class_names), **signed_colours(z), text=text,
                               texttemplate="%{text}", hovertext=hover, hoverinfo="text",
                               colorbar={"title": "% of the<br>eye distance"}))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-30)
    default = (f"Landmark motion, first frame to last<br><sup>{name} minus {against_name}</sup>" if against is not None
               else f"Landmark motion, first frame to last<br><sup>{name}</sup>")
    return style(fig, title or default, height=440)
