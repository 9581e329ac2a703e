"""The Attention tab: SGAER's map M over the peak face, beside a captum attribution and their agreement."""

from __future__ import annotations

import math

import streamlit as st

from staner_lab import viz
from staner_lab.app import cached, decision, explanations
from staner_lab.app.views.common import analysis_of, chart, needs_model_and_input
from staner_lab.app.views.context import ViewContext


def render(ctx: ViewContext) -> None:
    if needs_model_and_input(ctx):
        _panel(ctx)


@st.fragment
def _panel(ctx: ViewContext) -> None:
    view, model = ctx.view, ctx.model
    key = cached.ckpt_key(ctx.ckpt)
    analysis = analysis_of(ctx)
    if analysis.attention == "none":
        st.info(f"This {model.config.variant} model has no attention module (ablation C1, C2 or C4): no M to show.")
        return
    if analysis.attention == "channel":
        chart(viz.channel_attention_figure(analysis.M), key="channel_chart")
        return
    left, right = st.columns(2)
    with left:
        opacity = st.slider("Opacity of M", 0.0, 1.0, 0.5, 0.05, key="opacity")
        chart(viz.attention_figure(view.sample.peak, analysis.M, opacity), key="attention_chart")
        st.caption("Eq. 1–2: M = σ(Conv(U)) weights each position of the front-end features, F = (1 + M) ⊗ U.")
    with right:
        methods = explanations.peak_methods()
        if not methods:
            st.info("Attributions need staner_lab.explain (captum), which this installation lacks.")
            return
        method = st.selectbox("Attribution method (captum)", methods, key="attr_method",
                              format_func=lambda m: m.replace("_", " "))
        try:
            ex = cached.explanation(key, decision.sample_digest(view.sample), method, model, view.sample)
        except (ValueError, RuntimeError) as exc:
            st.error(f"Attribution failed: {exc}")
            return
        chart(viz.attribution_overlay_figure(view.sample.peak, ex.map, signed=ex.signed,
                                             title=f"{method.replace('_', ' ').capitalize()}, P_G({ex.target})"),
              key="attribution_chart")
        rho = "n/a (a map is constant)" if ex.agreement is None or math.isnan(ex.agreement) else f"{ex.agreement:+.2f}"
        st.metric("Agreement with M (Spearman ρ of M and |attribution|)", rho)
