"""The C-LSTM of one region over time (Eq. 5-10): hidden and cell states, and the gates f, i, o."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from staner_lab.viz._style import REGION_COLOURS, axis, figure, grid

__all__ = ["gate_means_figure", "gates_figure", "states_figure"]


def _steps(T: int) -> list[int]:
    return list(range(1, T + 1))


def _time_axes(layout: dict, n: int) -> dict:
    for k in range(n):
        sfx = "" if k == 0 else str(k + 1)
        layout[f"xaxis{sfx}"].update(title={"text": "time step t"}, dtick=1)
        layout[f"yaxis{sfx}"].update(title={"text": "unit"} if k == 0 else None, showticklabels=k == 0)
    return layout


def states_figure(h: np.ndarray, c: np.ndarray, region: str = "") -> go.Figure:
    """Heatmaps of h_t (Eq. 10) and c_t (Eq. 9), units x time, on a diverging map centred on 0.

    h lies in [-1, 1] (fixed scale); c is unbounded (scale symmetric about 0 at its largest |c|).

    Args:
        h, c: (T, N) hidden and cell states of one region.
    """
    h, c = np.asarray(h, float), np.asarray(c, float)
    T = h.shape[0]
    c_lim = float(np.abs(c).max()) or 1.0
    bar = {"len": 0.9}
    layout = _time_axes(grid(2, gap=0.16, titles=["hidden state h_t", "cell state c_t"]), 2)
    layout.update(
        coloraxis={"colorscale": "RdBu", "reversescale": True, "cmin": -1.0, "cmax": 1.0, "cmid": 0.0,
                   "colorbar": {**bar, "x": 0.42, "title": {"text": "h"}}},
        coloraxis2={"colorscale": "RdBu", "reversescale": True, "cmin": -c_lim, "cmax": c_lim, "cmid": 0.0,
                    "colorbar": {**bar, "x": 1.0, "title": {"text": "c"}}})
    traces = [
        go.Heatmap(z=h.T, x=_steps(T), coloraxis="coloraxis", hovertemplate="t=%{x} unit %{y}<br>h=%{z:.3f}<extra></extra>",
                   **axis(0)),
        go.Heatmap(z=c.T, x=_steps(T), coloraxis="coloraxis2", hovertemplate="t=%{x} unit %{y}<br>c=%{z:.3f}<extra></extra>",
                   **axis(1)),
    ]
    return figure(traces, layout, f"{region}: LSTM states over time" if region else "LSTM states over time", 500)


def gates_figure(f: np.ndarray, i: np.ndarray, o: np.ndarray, region: str = "") -> go.Figure:
    """Heatmaps of the forget, input and output gates (Eq. 5, 6, 8), units x time, in [0, 1] (cividis)."""
    gates = {"forget f_t": f, "input i_t": i, "output o_t": o}
    T = np.asarray(f).shape[0]
    layout = _time_axes(grid(3, gap=0.03, titles=list(gates)), 3)
    layout["coloraxis"] = {"colorscale": "Cividis", "cmin": 0.0, "cmax": 1.0,
                           "colorbar": {"title": {"text": "gate"}}}
    traces = [go.Heatmap(z=np.asarray(g, float).T, x=_steps(T), coloraxis="coloraxis", **axis(k),
                         hovertemplate=f"{name}<br>t=%{{x}} unit %{{y}}<br>%{{z:.3f}}<extra></extra>")
              for k, (name, g) in enumerate(gates.items())]
    return figure(traces, layout, f"{region}: gate activations over time" if region else "Gate activations over time",
                  480)


def gate_means_figure(lstm: Mapping[str, Mapping[str, np.ndarray]], gate: str = "f") -> go.Figure:
    """Mean of one gate over units, per region, over time (one line per region)."""
    dashes = {"eyes": "solid", "nose": "dash", "mouth": "dot"}
    traces = []
    for region, gates in lstm.items():
        g = np.asarray(gates[gate], float)
        traces.append(go.Scatter(x=_steps(len(g)), y=g.mean(axis=1), mode="lines+markers", name=region,
                                 line={"color": REGION_COLOURS.get(region), "width": 4,
                                       "dash": dashes.get(region, "solid")}, marker={"size": 10}))
    names = {"f": "forget", "i": "input", "o": "output", "g": "candidate"}
    layout = {"xaxis": {"title": {"text": "time step t"}, "dtick": 1},
              "yaxis": {"title": {"text": f"mean {gate}_t over units"}, "range": [0, 1]}}
    return figure(traces, layout, f"Mean {names.get(gate, gate)} gate per region", 420)
