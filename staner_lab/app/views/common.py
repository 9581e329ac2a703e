"""Pieces every view uses: a figure drawn as built, and the notes shown when a view has nothing to
draw (no model, no input, a still photo)."""

from __future__ import annotations

import streamlit as st

from staner_lab.app import cached, decision
from staner_lab.app.views.context import ViewContext
from staner_lab.explain import inspection


def chart(fig, key: str) -> None:
    """A staner_lab.viz figure as built (its projector template; Streamlit's theme would shrink fonts)."""
    st.plotly_chart(fig, theme=None, key=key, config={"displaylogo": False})


def analysis_of(ctx: ViewContext) -> inspection.Analysis:
    """The model's outputs on the input (cached by checkpoint and sample content)."""
    return cached.analysis(cached.ckpt_key(ctx.ckpt), decision.sample_digest(ctx.view.sample), ctx.model,
                           ctx.view.sample)


def no_input_note(ctx: ViewContext) -> bool:
    """True (and says why) when there is no sequence to show: none chosen, or the chosen one failed."""
    if ctx.view is not None:
        return False
    if ctx.input_error:
        st.info("The chosen input cannot be used (the message above says why), so there is nothing to show here. "
                "Fix it, or choose another input in the sidebar.")
    else:
        st.info("Choose an input in the sidebar: a shipped sample, an upload (a video or frames of one face), "
                "or webcam snapshots.")
    return True


def needs_model_and_input(ctx: ViewContext) -> bool:
    """True when the view can draw; otherwise says which of model and input is missing."""
    if ctx.model is None:
        st.warning("No model loaded (the message above says why): this view needs one. Pick a checkpoint in the "
                   "sidebar.")
        return False
    return not no_input_note(ctx)


def motion_note(ctx: ViewContext) -> None:
    """A single still photo carries no motion for TLER to read; say so where it matters."""
    if ctx.view is not None and len(ctx.view.frames) == 1:
        st.warning(f"A single still photo carries no motion: TLER reads the same frame {len(ctx.view.indices)} "
                   "times, so its vote P_L comes from the face's appearance only, not from how it moved. Upload a "
                   "video or several frames (neutral face first, peak last), or take several webcam snapshots.")
