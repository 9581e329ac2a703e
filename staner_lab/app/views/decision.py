"""The Decision tab: Eq. 14 with an α slider on the cached P_G and P_L, and for the user's own frames
the decision after every frame (the streaming recogniser)."""

from __future__ import annotations

import time

import streamlit as st

from staner_lab import viz
from staner_lab.app import cached
from staner_lab.app import decision as votes
from staner_lab.app.views.common import analysis_of, chart, motion_note, needs_model_and_input
from staner_lab.app.views.context import ViewContext
from staner_lab.explain import inspection


def render(ctx: ViewContext) -> None:
    if not needs_model_and_input(ctx):
        return
    motion_note(ctx)
    st.latex(r"P = \alpha\,P_G + (1-\alpha)\,P_L, \qquad O = \arg\max_C P(C) \quad\text{(Eq. 14)}")
    analysis = analysis_of(ctx)
    _fusion(analysis, ctx.view.true_label)
    if ctx.source.is_media:
        _stream(ctx)


@st.fragment
def _fusion(analysis: inspection.Analysis, true_label: str | None) -> None:
    """Only this part reruns when α moves: Eq. 14 on the cached P_G and P_L, no model run."""
    t0 = time.perf_counter()
    both = analysis.P_G is not None and analysis.P_L is not None
    alpha = st.slider("α, the weight of SGAER (peak face) in Eq. 14", 0.0, 1.0, float(analysis.alpha), 0.05,
                      key="alpha", disabled=not both)
    if not both:
        st.info("This model has one branch only (an ablation variant): α has no effect.")
        alpha = analysis.alpha
    P = inspection.fuse(analysis, alpha)
    st.subheader(f"Fused decision: {votes.describe_decision(analysis.class_names, P, alpha)}")
    chart(viz.probability_figure(analysis.class_names, P, alpha, analysis.P_G, analysis.P_L, true_label),
          key="decision_chart")
    st.caption(f"Recomputed from the cached P_G and P_L in {1000 * (time.perf_counter() - t0):.0f} ms on the server "
               "(no model run).")


def _stream(ctx: ViewContext) -> None:
    """Live recognition (staner_lab.live.recognizer): the decision after every frame, LSTM state carried."""
    with st.expander("Frame by frame: the streaming recogniser (as in `staner-lab live`)"):
        frames = ctx.view.frames
        try:
            trace = cached.stream(cached.ckpt_key(ctx.ckpt), votes.frames_digest(frames), ctx.source.prep.to_json(),
                                  ctx.model, frames)
        except ValueError as exc:
            st.error(f"Streaming is not possible on this input: {exc}")
            return
        chart(viz.stream_figure(trace.class_names, trace.P, trace.resets), key="stream_chart")
        st.caption("Each frame costs one CNN pass per region and one LSTM step; SGAER re-runs on the peak so far.")
