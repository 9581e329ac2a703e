"""The Sequence tab: the frames with landmarks and region boxes, and the region filmstrip TLER reads."""

from __future__ import annotations

import streamlit as st

from staner_lab import viz
from staner_lab.app.views.common import chart, motion_note, no_input_note
from staner_lab.app.views.context import ViewContext


def render(ctx: ViewContext) -> None:
    if no_input_note(ctx):
        return
    motion_note(ctx)
    view = ctx.view
    N, H, W = view.frames.shape
    T = len(view.indices)
    st.markdown(f"**{view.source}** — {N} frame{'s' if N > 1 else ''} of {W}×{H} px; peak = frame {view.peak + 1}; "
                f"TLER reads T = {T} frames from the first to the peak"
                + (f"; true class **{view.true_label}**" if view.true_label else ""))
    chart(viz.frames_figure(view.frames, view.landmarks, view.boxes, view.indices, view.peak), key="frames_chart")
    chart(viz.filmstrip_figure(view.sample.regions, view.indices), key="filmstrip_chart")
