"""The LSTM tab: each region's C-LSTM states and gates over time, and the training health of TLER."""

from __future__ import annotations

import streamlit as st

from staner_lab import viz
from staner_lab.app import cached
from staner_lab.app.views.common import analysis_of, chart, motion_note, needs_model_and_input
from staner_lab.app.views.context import ViewContext
from staner_lab.training import health


def render(ctx: ViewContext) -> None:
    if not needs_model_and_input(ctx):
        return
    motion_note(ctx)
    _panel(ctx)
    if ctx.model.tler is not None:
        _health(ctx)


@st.fragment
def _panel(ctx: ViewContext) -> None:
    analysis = analysis_of(ctx)
    if not analysis.lstm:
        st.info("This model has no TLER branch (ablation C1 or C3): no LSTM to show.")
        return
    region = st.radio("Region", list(analysis.lstm), key="lstm_region", horizontal=True)
    g = analysis.lstm[region]
    chart(viz.states_figure(g["h"], g["c"], region), key="states_chart")
    chart(viz.gates_figure(g["f"], g["i"], g["o"], region), key="gates_chart")
    gate = st.radio("Mean gate of every region", ["f", "i", "o"], key="lstm_gate", horizontal=True,
                    format_func={"f": "forget f", "i": "input i", "o": "output o"}.get)
    chart(viz.gate_means_figure(analysis.lstm, gate), key="gate_means_chart")


def _health(ctx: ViewContext) -> None:
    box = st.expander("Training health: is every region alive? (staner-lab health)", key="health_open",
                      on_change="rerun")
    if not box.open:  # measured on every shipped sequence: only when asked for
        return
    with box:
        report, n = cached.shipped_health(cached.ckpt_key(ctx.ckpt), ctx.model.config.inputs.to_json(), ctx.model)
        st.caption(f"On the {n} shipped sequences. Input drive = how much the frame features move the gates "
                   "(std of W x_t); near 0, the gates sit at sigmoid(bias) at every step and the region is dead. "
                   "Spread over t = how much the mean gate moves from frame to frame.")
        st.dataframe(health.region_rows(report), hide_index=True)
        if report.sgaer is not None and report.sgaer.M_min is not None:
            st.write(f"Attention M spans {report.sgaer.M_min:.2f}–{report.sgaer.M_max:.2f} "
                     f"(spread over positions {report.sgaer.M_spatial_std:.3f}). Made flat (each face's M "
                     f"replaced by its mean), it moves P_G by {report.sgaer.flat_M_shift:.3f} on average "
                     "(total variation, 0–1): near 0, the decision does not use where M points.")
        dead = health.dead_regions(report)
        (st.warning if dead else st.success)(
            f"Dead: {', '.join(dead)}" if dead else "Every region passes a signal to its LSTM.")
