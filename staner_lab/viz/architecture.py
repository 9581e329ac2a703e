"""Block diagrams of STANER (Figs. 1-4 of the paper and the LSTM cell), shapes read off the model.

Every arrow carries the symbol and the shape of the tensor it stands for, taken from
:func:`staner_lab.explain.shapes.traced_shapes` (a forward pass of the model built from the
config), so a diagram changes with the config and cannot drift from the code:

- :func:`staner_diagram`: Fig. 1, the whole network (either branch may be missing: ablations);
- :func:`sgaer_diagram`: Fig. 2, SGAER (VGG blocks, attention, end convolution, Eq. 1-4);
- :func:`attention_diagram`: Fig. 3, the attention module (spatial or channel reading of Eq. 1);
- :func:`clstm_diagram`: Fig. 4, TLER: a C-LSTM block per region, concatenation, end convolution;
- :func:`lstm_cell_diagram`: one LSTM step, Eq. 5-10;
- :func:`symbol_table` (rows symbol, code, shape, meaning) and :func:`symbol_table_markdown` /
  :func:`symbol_table_html` to show it.

Hovering over a box or a label shows the code that holds it. Each shape label is an annotation
named ``"shape:<symbol>"`` (the tests read them back).
"""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass

import plotly.graph_objects as go

from staner_lab.config import REGIONS, StanerConfig
from staner_lab.explain.shapes import REGION_LETTERS, TensorShape, traced_shapes
from staner_lab.viz._style import FONT_SIZE, REGION_COLOURS, figure

__all__ = ["attention_diagram", "clstm_diagram", "lstm_cell_diagram", "sgaer_diagram", "staner_diagram",
           "symbol_table", "symbol_table_html", "symbol_table_markdown"]

_UNIT = 55  # pixels per diagram unit
_MIN_WIDTH = 12.0  # units
_LABEL_SIZE = FONT_SIZE - 3
_STEP = 0.36  # units between stacked labels
_FILLS = {"op": "#E8F1FA", "io": "#FFFFFF", "sgaer": "#D6E6F5", "tler": "#FBE8C8", "fuse": "#E6E6E6",
          "eq": "#DFF2EA"}


@dataclass(frozen=True)
class _Box:
    key: str
    label: str  # HTML (plotly's subset: <b>, <sub>, <br>)
    x: float
    y: float
    w: float = 3.4
    h: float = 0.95
    kind: str = "op"
    hover: str = ""
    fill: str | None = None


@dataclass(frozen=True)
class _Arrow:
    start: str
    end: str
    symbols: tuple[str, ...] = ()
    via: tuple[tuple[float, float], ...] = ()
    show_symbol: bool = True
    side: str = "auto"  # where the labels go: "auto", "above", "below", "left", "right"


def _sym_html(symbol: str) -> str:
    """"F_G" -> "F<sub>G</sub>", "h_{t-1}" -> "h<sub>t-1</sub>"."""
    s = html.escape(symbol)
    s = re.sub(r"_\{([^}]*)\}", r"<sub>\1</sub>", s)
    return re.sub(r"_([A-Za-z0-9]+)", r"<sub>\1</sub>", s)


def _port(box: _Box, toward: tuple[float, float]) -> tuple[float, float]:
    """The point on ``box``'s edge where a straight line toward ``toward`` leaves it."""
    dx, dy = toward[0] - box.x, toward[1] - box.y
    if abs(dx) * box.h >= abs(dy) * box.w:  # leaves through the left or right side
        y = min(max(toward[1], box.y - box.h / 2), box.y + box.h / 2)
        return (box.x + (box.w / 2 if dx > 0 else -box.w / 2), y if abs(dy) < box.h / 2 else box.y)
    x = min(max(toward[0], box.x - box.w / 2), box.x + box.w / 2)
    return (x if abs(dx) < box.w / 2 else box.x, box.y + (box.h / 2 if dy > 0 else -box.h / 2))


def _labels(a: _Arrow, pts: list[tuple[float, float]], shapes: dict[str, TensorShape]) -> list[dict]:
    """One annotation per symbol of ``a``, stacked beside the longest segment of its path."""
    (px, py), (qx, qy) = max(itertools.pairwise(pts), key=lambda s: abs(s[1][0] - s[0][0]) + abs(s[1][1] - s[0][1]))
    mx, my = (px + qx) / 2, (py + qy) / 2
    side = a.side if a.side != "auto" else ("above" if abs(qx - px) >= abs(qy - py) else "right")
    n = len(a.symbols)
    out = []
    for k, symbol in enumerate(a.symbols):
        entry = shapes[symbol]
        text = (f"<b>{_sym_html(symbol)}</b> " if a.show_symbol else "") + entry.shape_text
        label = {"text": text, "name": f"shape:{symbol}", "hovertext": html.escape(entry.code),
                 "showarrow": False, "font": {"size": _LABEL_SIZE}, "bgcolor": "rgba(255,255,255,0.85)",
                 "xref": "x", "yref": "y"}
        if side == "above":  # the first symbol on top
            label.update(x=mx, y=my + 0.08 + (n - 1 - k) * _STEP, xanchor="center", yanchor="bottom")
        elif side == "below":
            label.update(x=mx, y=my - 0.08 - k * _STEP, xanchor="center", yanchor="top")
        else:
            sign = 1 if side == "right" else -1
            label.update(x=mx + sign * 0.12, y=my + ((n - 1) / 2 - k) * _STEP, yanchor="middle",
                         xanchor="left" if sign > 0 else "right")
        out.append(label)
    return out


def _draw(title: str, boxes: list[_Box], arrows: list[_Arrow], shapes: dict[str, TensorShape],
          note: str = "") -> go.Figure:
    by_key = {b.key: b for b in boxes}
    notes: list[dict] = []
    lines: list[dict] = []
    for a in arrows:
        src, dst = by_key[a.start], by_key[a.end]
        start = _port(src, a.via[0] if a.via else (dst.x, dst.y))
        pts = [start, *a.via, _port(dst, a.via[-1] if a.via else start)]
        for p, q in itertools.pairwise(pts[:-1]):
            lines.append({"type": "line", "x0": p[0], "y0": p[1], "x1": q[0], "y1": q[1],
                          "line": {"color": "#444444", "width": 2}})
        (x0, y0), (x1, y1) = pts[-2], pts[-1]
        notes.append({"x": x1, "y": y1, "ax": x0, "ay": y0, "xref": "x", "yref": "y", "axref": "x",
                      "ayref": "y", "text": "", "showarrow": True, "arrowhead": 2, "arrowsize": 1.2,
                      "arrowwidth": 2, "arrowcolor": "#444444"})
        notes += _labels(a, pts, shapes)
    rects = [{"type": "rect", "x0": b.x - b.w / 2, "x1": b.x + b.w / 2, "y0": b.y - b.h / 2, "y1": b.y + b.h / 2,
              "line": {"color": "#1A1A1A" if b.kind != "io" else "#888888", "width": 1.5,
                       "dash": "dot" if b.kind == "io" else "solid"},
              "fillcolor": b.fill or _FILLS[b.kind], "layer": "below"} for b in boxes]
    notes += [{"x": b.x, "y": b.y, "xref": "x", "yref": "y", "text": b.label, "showarrow": False,
               "font": {"size": FONT_SIZE - 2}} for b in boxes]
    hover = go.Scatter(x=[b.x for b in boxes], y=[b.y for b in boxes], mode="markers",
                       marker={"size": 30, "opacity": 0}, hovertext=[b.hover or b.label for b in boxes],
                       hoverinfo="text", showlegend=False)
    xs = [b.x - b.w / 2 for b in boxes] + [b.x + b.w / 2 for b in boxes]
    ys = [b.y - b.h / 2 for b in boxes] + [b.y + b.h / 2 for b in boxes]
    xs += [p[0] for a in arrows for p in a.via]
    ys += [p[1] for a in arrows for p in a.via]
    for label in notes:
        if label.get("name", "").startswith("shape:"):  # room for labels that stick out
            up = {"bottom": 0.35, "top": -0.35}.get(label.get("yanchor"), 0.0)
            ys.append(label["y"] + up)
            xs.append(label["x"] + (2.6 if label.get("xanchor") == "left" else 0.0))
    x0, x1, y0, y1 = min(xs) - 0.4, max(xs) + 0.4, min(ys) - 0.3, max(ys) + 0.3
    x1 = max(x1, x0 + _MIN_WIDTH)  # room for the title and the note
    if note:
        notes.append({"x": x0, "y": y0, "xref": "x", "yref": "y", "text": note, "showarrow": False,
                      "xanchor": "left", "yanchor": "top", "align": "left",
                      "font": {"size": _LABEL_SIZE, "color": "#444444"}})
        y0 -= 0.2 + 0.45 * (note.count("<br>") + 1)
    layout = {
        "shapes": rects + lines, "annotations": notes, "showlegend": False, "hovermode": "closest",
        "xaxis": {"visible": False, "range": [x0, x1], "fixedrange": True},
        "yaxis": {"visible": False, "range": [y0, y1], "fixedrange": True, "scaleanchor": "x"},
        "width": int((x1 - x0) * _UNIT) + 20, "height": int((y1 - y0) * _UNIT) + 90,
        "margin": {"l": 10, "r": 10, "t": 70, "b": 10},
    }
    return figure([hover], layout, title=title)


def _shapes(config: StanerConfig, part: str, region: str = "mouth") -> dict[str, TensorShape]:
    return {s.symbol: s for s in traced_shapes(config, part, region)}


def _name(config: StanerConfig) -> str:
    return f"preset {config.preset!r}, variant {config.variant}"


def _column(x: float, y0: float, pitch: float, n: int) -> list[tuple[float, float]]:
    """``n`` box centres going down from (x, y0)."""
    return [(x, y0 - k * pitch) for k in range(n)]


def staner_diagram(config: StanerConfig) -> go.Figure:
    """Fig. 1: SGAER on the peak face, TLER on the region sequences, decision fusion (Eq. 14)."""
    s = _shapes(config, "staner")
    both = config.sgaer is not None and config.tler is not None
    xs, xt = (0.0, 7.0) if both else (0.0, 0.0)
    boxes, arrows = [], []
    last = -7.2
    if config.sgaer is not None:
        att = config.sgaer.attention.kind
        ys = [0.0, -1.8, -3.6, -5.4, -7.2]
        boxes += [_Box("Ip", "peak face", xs, ys[0], kind="io", hover="peak"),
                  _Box("fe", "VGG-16<br>conv1_1 … conv4_3", xs, ys[1], kind="sgaer", hover="model.sgaer.frontend"),
                  _Box("att", "attention (Eq. 1–2)" if att != "none" else "no attention:<br>F = U (C1)", xs, ys[2],
                       kind="sgaer", hover="model.sgaer.attention"),
                  _Box("endG", "end conv, mean", xs, ys[3], kind="sgaer", hover="model.sgaer.end_conv"),
                  _Box("smG", "linear, softmax<br>(Eq. 3)", xs, ys[4], kind="sgaer", hover="model.sgaer.classifier")]
        arrows += [_Arrow("Ip", "fe", ("I_p",)), _Arrow("fe", "att", ("U",)), _Arrow("att", "endG", ("F",)),
                   _Arrow("endG", "smG", ("F_G",)),
                   _Arrow("smG", "fuse", ("P_G",), via=((xs, last - 2.0),) if both else ())]
    if config.tler is not None:
        letters = [REGION_LETTERS[r] for r in REGIONS]
        ys = [0.0, -2.2, -4.4, -5.8, -7.2]
        boxes += [_Box("Ir", "region crops:<br>eyes, nose, mouth", xt, ys[0], kind="io", hover="regions"),
                  _Box("clstm", "C-LSTM × 3<br>(Eq. 5–10)", xt, ys[1], kind="tler", hover="model.tler.clstm"),
                  _Box("cat", "concatenate (Eq. 11)", xt, ys[2], h=0.7, kind="tler",
                       hover="functional.concatenate_regions"),
                  _Box("endL", "causal end conv,<br>last step", xt, ys[3], h=0.85, kind="tler",
                       hover="model.tler.end_conv"),
                  _Box("smL", "linear, softmax<br>(Eq. 12)", xt, ys[4], kind="tler", hover="model.tler.classifier")]
        arrows += [_Arrow("Ir", "clstm", tuple(f"I_{lt}" for lt in letters)),
                   _Arrow("clstm", "cat", tuple(f"F_{lt}" for lt in letters)),
                   _Arrow("cat", "endL", ("F'",)), _Arrow("endL", "smL", ("F_L",)),
                   _Arrow("smL", "fuse", ("P_L",), via=((xt, last - 2.0),) if both else (), side="above")]
    xf = (xs + xt) / 2
    yf = last - 2.0 if both else last - 1.9
    only = "G" if config.tler is None else "L"
    fuse = (f"P = α P<sub>G</sub> + (1 − α) P<sub>L</sub><br>α = {config.alpha:g} (Eq. 14)" if both
            else f"one branch:<br>P = P<sub>{only}</sub>")
    loss = "Loss = Loss_G + Loss_T (Eq. 15)" if both else f"Loss = Loss_{'G (Eq. 4)' if only == 'G' else 'T (Eq. 13)'}"
    boxes += [_Box("fuse", fuse, xf, yf, w=3.4, h=1.1, kind="fuse", hover="STANER.fuse, functional.fuse_probabilities"),
              _Box("out", "O = argmax P", xf, yf - 2.0, kind="io", hover="out.prediction")]
    arrows.append(_Arrow("fuse", "out", ("P",)))
    return _draw(f"STANER (Fig. 1)<br><sup>{_name(config)}</sup>", boxes, arrows, s,
                 note=f"B = batch size, T = frames; {loss}.<br>"
                      "Hover a box or a label for the code that holds it.")


def sgaer_diagram(config: StanerConfig) -> go.Figure:
    """Fig. 2: the VGG-16 front end block by block, attention (Eq. 1-2), end convolution, Eq. 3-4.

    Left column: the front end and the attention module, going down; right column: the end
    convolution, the classifier, softmax and loss, going up.
    """
    s = _shapes(config, "sgaer")
    sg = config.sgaer
    has_att = sg.attention.kind != "none"
    residual = getattr(sg.attention, "residual", 1.0)
    fe = "model.sgaer.frontend"
    left = _column(0.0, 0.0, 1.8, 7 if has_att else 5)
    blocks = ["conv1_1, conv1_2,<br>max-pool", "conv2_1, conv2_2,<br>max-pool", "conv3_1 … conv3_3,<br>max-pool",
              "conv4_1 … conv4_3"]
    boxes = [_Box("Ip", "peak face", *left[0], kind="io", hover="peak")]
    boxes += [_Box(f"b{k}", label, *left[k], kind="sgaer", hover=fe) for k, label in enumerate(blocks, 1)]
    arrows = [_Arrow("Ip", "b1", ("I_p",)), _Arrow("b1", "b2", ("pool 1",), show_symbol=False),
              _Arrow("b2", "b3", ("pool 2",), show_symbol=False), _Arrow("b3", "b4", ("pool 3",), show_symbol=False)]
    if has_att:
        ymid = (left[4][1] + left[5][1]) / 2
        boxes += [_Box("att", f"attention module, {sg.attention.kind}<br>(Fig. 3, Eq. 1)", *left[5], w=3.9,
                       kind="sgaer", hover="model.sgaer.attention"),
                  _Box("mul", f"F = ({residual:g} + M) ⊗ U<br>(Eq. 2)", *left[6], kind="eq",
                       hover="functional.apply_attention")]
        arrows += [_Arrow("b4", "att", ("U",)), _Arrow("att", "mul", ("M",)),
                   _Arrow("b4", "mul", via=((-1.0, ymid), (-2.0, ymid), (-2.0, left[6][1]))),
                   _Arrow("mul", "end", ("F",))]
    else:
        arrows.append(_Arrow("b4", "end", ("U",)))
    right = [(7.4, left[-1][1] + k * 1.8) for k in range(5)]
    bn = " + BN" if sg.end_norm == "conv" else ""
    boxes += [_Box("end", f"end conv: 3×3 conv{bn},<br>pool, 3×3 conv{bn}, mean", *right[0], w=3.9,
                   kind="sgaer", hover="model.sgaer.end_conv"),
              _Box("lin", f"dropout {sg.dropout:g}, linear", *right[1], h=0.7, kind="sgaer",
                   hover="model.sgaer.classifier"),
              _Box("sm", "softmax (Eq. 3)", *right[2], h=0.7, kind="eq", hover="functional.softmax"),
              _Box("ce", "cross-entropy<br>with y (Eq. 4)", *right[3], kind="eq",
                   hover="functional.cross_entropy_from_logits"),
              _Box("loss", "Loss<sub>G</sub>", *right[4], w=1.6, kind="io")]
    arrows += [_Arrow("end", "lin", ("F_G",)), _Arrow("lin", "sm", ("x",)), _Arrow("sm", "ce", ("P_G",)),
               _Arrow("ce", "loss", ("Loss_G",))]
    return _draw(f"SGAER (Fig. 2)<br><sup>{_name(config)}</sup>", boxes, arrows, s,
                 note="Shapes without a symbol: the front end after each max-pool.<br>B = batch size.")


def attention_diagram(config: StanerConfig) -> go.Figure:
    """Fig. 3: the attention module as configured (``config.sgaer.attention``), Eq. 1-2."""
    s = _shapes(config, "attention")
    att = config.sgaer.attention
    normalise = getattr(att, "normalise", "sigmoid")
    residual = getattr(att, "residual", 1.0)
    C, hid = s["U"].shape[1], att.hidden_channels
    a = "model.sgaer.attention.scores"
    squash = "sigmoid σ (Eq. 1)" if normalise == "sigmoid" else "H·W · softmax<br>over positions"
    if att.kind == "spatial":
        col = _column(0.0, 0.0, 1.8, 6)
        boxes = [_Box("U", "U", *col[0], w=1.4, kind="io", hover="it.sgaer.U"),
                 _Box("c3", f"3×3 conv, {C} → {hid}" + (", batch norm" if getattr(att, "batch_norm", False) else ""),
                      *col[1], h=0.7, w=4.0, hover=f"{a}.conv3x3"),
                 _Box("c1", f"ReLU, 1×1 conv, {hid} → 1", *col[2], w=4.0, h=0.7, hover=f"{a}.conv1x1")]
        arrows = [_Arrow("U", "c3", ("U",)), _Arrow("c3", "c1", ("conv3x3(U)",), show_symbol=False),
                  _Arrow("c1", "sig", ("Conv[w; U]",), show_symbol=False)]
    else:
        col = _column(0.0, 0.0, 1.8, 7)
        boxes = [_Box("U", "U", *col[0], w=1.4, kind="io", hover="it.sgaer.U"),
                 _Box("pool", "global average pool", *col[1], h=0.7, hover=f"{a}.pool"),
                 _Box("c3", f"1×1 conv, {C} → {hid}, ReLU", *col[2], w=4.0, h=0.7, hover=f"{a}.conv_down"),
                 _Box("c1", f"1×1 conv, {hid} → {C}", *col[3], h=0.7, hover=f"{a}.conv_up")]
        arrows = [_Arrow("U", "pool", ("U",)), _Arrow("pool", "c3", ("AvgPool(U)",), show_symbol=False),
                  _Arrow("c3", "c1", ("conv_down",), show_symbol=False),
                  _Arrow("c1", "sig", ("Conv[w; AvgPool(U)]",), show_symbol=False)]
    boxes += [_Box("sig", squash, *col[-3], h=0.7 if normalise == "sigmoid" else 0.95,
                   hover="functional.attention_map"),
              _Box("mul", f"F = ({residual:g} + M) ⊗ U<br>(Eq. 2)", *col[-2], kind="eq",
                   hover="functional.apply_attention"),
              _Box("F", "F", *col[-1], w=1.4, kind="io", hover="it.sgaer.F")]
    arrows += [_Arrow("sig", "mul", ("M",)), _Arrow("mul", "F", ("F",)),
               _Arrow("U", "mul", via=((-2.2, 0.0), (-2.2, col[-2][1])))]
    w = ", ".join(f"{_sym_html(k)} {s[k].shape_text}" for k in s if k.startswith("w_"))
    return _draw(f"attention module (Fig. 3), {att.kind}<br><sup>{_name(config)}</sup>", boxes, arrows, s,
                 note=f"Weights: {w}.<br>Shapes without a symbol: inside the module.")


def clstm_diagram(config: StanerConfig) -> go.Figure:
    """Fig. 4: TLER. Per region a C-LSTM block (CNN stages on every frame, flatten, LSTM over time),
    then the concatenation F' (Eq. 11), the causal end convolution, F_L and P_L (Eq. 12)."""
    s = _shapes(config, "clstm")
    cl, tl = config.tler.clstm, config.tler
    n = len(cl.cnn_channels)
    pitch = 1.6
    xs = {r: 6.4 * k for k, r in enumerate(REGIONS)}
    xm = xs[REGIONS[len(REGIONS) // 2]]
    bn = "BN, " if cl.batch_norm else ""
    boxes, arrows = [], []
    for r, x in xs.items():
        lt = REGION_LETTERS[r]
        c = f'model.tler.clstm["{r}"]'
        col = _column(x, 0.0, pitch, n + 3)
        boxes.append(_Box(f"I{lt}", f"{r}, T frames", *col[0], h=0.7, kind="io", fill=REGION_COLOURS[r] + "55",
                          hover=f'regions["{r}"]'))
        prev = f"I{lt}"
        for k in range(1, n + 1):
            boxes.append(_Box(f"s{k}{lt}", f"3×3 conv {cl.cnn_channels[k - 1]},<br>{bn}ReLU, pool", *col[k],
                              kind="tler", hover=f"{c}.cnn.layers"))
            arrows.append(_Arrow(prev, f"s{k}{lt}", (f"I_{lt}",) if k == 1 else (f"stage {k - 1} ({lt})",),
                                 show_symbol=k == 1))
            prev = f"s{k}{lt}"
        boxes += [_Box(f"flat{lt}", "flatten each frame", *col[n + 1], h=0.7, kind="tler", hover=f"{c}.frame_features"),
                  _Box(f"lstm{lt}", f"LSTM, N = {cl.hidden_size}<br>(Eq. 5–10)", *col[n + 2], kind="tler",
                       hover=f"{c}.lstm")]
        arrows += [_Arrow(prev, f"flat{lt}", (f"stage {n} ({lt})",), show_symbol=False),
                   _Arrow(f"flat{lt}", f"lstm{lt}", (f"x_{lt}",))]
    ycat = -(n + 2) * pitch - 2.2
    for r, x in xs.items():
        lt = REGION_LETTERS[r]
        arrows.append(_Arrow(f"lstm{lt}", "cat", (f"F_{lt}",), via=((x, ycat),) if x != xm else ()))
    head = _column(xm, ycat, pitch, 6)
    boxes += [_Box("cat", "concatenate (Eq. 11)", *head[0], h=0.7, kind="eq", hover="functional.concatenate_regions"),
              _Box("end", f"causal conv over time,<br>k = {tl.end_kernel}, ReLU", *head[1], w=3.7, kind="tler",
                   hover="model.tler.end_conv"),
              _Box("last", "last step, t = T", *head[2], h=0.7, kind="tler", hover="model.tler.head"),
              _Box("lin", f"dropout {tl.dropout:g}, linear", *head[3], h=0.7, kind="tler",
                   hover="model.tler.classifier"),
              _Box("sm", "softmax (Eq. 12)", *head[4], h=0.7, kind="eq", hover="functional.softmax"),
              _Box("PL", "P<sub>L</sub>", *head[5], w=1.4, h=0.7, kind="io", hover="it.tler.P_L")]
    arrows += [_Arrow("cat", "end", ("F'",)), _Arrow("end", "last", ("conv(F')",), show_symbol=False),
               _Arrow("last", "lin", ("F_L",)), _Arrow("lin", "sm", ("x",)), _Arrow("sm", "PL", ("P_L",))]
    return _draw(f"TLER: a C-LSTM block per region (Fig. 4)<br><sup>{_name(config)}</sup>", boxes, arrows, s,
                 note="Shapes without a symbol: after each CNN stage, all B·T frames at once, and the end "
                      "convolution at every step.<br>x<sub>r</sub>: the LSTM inputs x<sub>1</sub> … x<sub>T</sub> "
                      "of region r. B = batch size, T = frames.")


def lstm_cell_diagram(config: StanerConfig, region: str = "mouth") -> go.Figure:
    """One LSTM step of a region's C-LSTM (Eq. 5-10) with the shapes of that region."""
    s = _shapes(config, "lstm_cell", region)
    W, R, b = (s[k].shape_text for k in ("W", "R", "b"))
    c = f'model.tler.clstm["{region}"]'
    xin, xl, xg, xe, xo = -4.0, 0.8, 5.8, 10.8, 15.2
    gates = {"f": ("σ: f<sub>t</sub> (Eq. 5)", 4.2, "forget_gate"), "i": ("σ: i<sub>t</sub> (Eq. 6)", 2.8, "input_gate"),
             "g": ("tanh: g<sub>t</sub> (Eq. 7)", 1.4, "candidate_cell"),
             "o": ("σ: o<sub>t</sub> (Eq. 9)", 0.0, "output_gate")}
    boxes = [_Box("x", "x<sub>t</sub>", xin, 0.6, w=1.2, kind="io", hover=s["x_t"].code),
             _Box("h", "h<sub>t−1</sub>", xin, 2.6, w=1.2, kind="io", hover=s["h_{t-1}"].code),
             _Box("c", "c<sub>t−1</sub>", xin, 5.8, w=1.2, kind="io", hover=s["c_{t-1}"].code),
             _Box("lin", f"W x<sub>t</sub> + R h<sub>t−1</sub> + b<br><br>W {W}<br>R {R}<br>b {b}", xl, 2.1, w=3.4,
                  h=4.8, hover=f"{c}.lstm_weights()")]
    boxes += [_Box(k, label, xg, y, w=2.6, h=0.8, kind="eq", hover=f"functional.{fn}")
              for k, (label, y, fn) in gates.items()]
    boxes += [_Box("ct", "c<sub>t</sub> = f<sub>t</sub> ⊗ c<sub>t−1</sub><br>+ i<sub>t</sub> ⊗ g<sub>t</sub><br>(Eq. 8)",
                   xe, 2.9, w=2.8, h=3.4, kind="eq", hover="functional.cell_state"),
              _Box("ht", "h<sub>t</sub> = o<sub>t</sub> ⊗ tanh(c<sub>t</sub>)<br>(Eq. 10)", xe, -0.2, w=2.8, h=1.0,
                   kind="eq", hover="functional.hidden_state"),
              _Box("hout", "h<sub>t</sub>: to step t+1<br>and F<sub>r</sub>", xo, -0.2, w=2.4, kind="io"),
              _Box("cout", "c<sub>t</sub>: to step t+1", xo, 2.9, w=2.4, h=0.7, kind="io")]
    arrows = [_Arrow("x", "lin", ("x_t",)), _Arrow("h", "lin", ("h_{t-1}",)),
              _Arrow("c", "ct", ("c_{t-1}",), via=((xe, 5.8),))]
    arrows += [_Arrow("lin", k) for k in gates]
    arrows += [_Arrow("f", "ct", ("f_t",)), _Arrow("i", "ct", ("i_t",)), _Arrow("g", "ct", ("g_t",)),
               _Arrow("o", "ht", ("o_t",)), _Arrow("ct", "ht", ("c_t",)), _Arrow("ht", "hout", ("h_t",)),
               _Arrow("ct", "cout")]
    return _draw(f"LSTM cell, one step (Eq. 5–10), {region}<br><sup>{_name(config)}</sup>", boxes, arrows, s,
                 note="W, R and b stack the four gates in nn.LSTM's row order i, f, g, o; W<sub>f</sub> is rows "
                      "N … 2N − 1 of W.<br>B = batch size.")


# --- symbol tables ---------------------------------------------------------------------------------

def symbol_table(config: StanerConfig, part: str, region: str = "mouth") -> list[tuple[str, str, str, str]]:
    """Rows (symbol, code, shape, meaning) of ``part`` ("inputs", "staner", "sgaer", "attention",
    "lstm_cell", "clstm", "fusion", "interpretability"); the shapes are those of a forward pass.

    ``code`` is evaluated with ``model``, ``peak``, ``regions``, ``it`` (forward_intermediates),
    ``out`` (forward), ``y``, ``t`` and ``Fn`` bound; a module stands for its output.
    """
    return [(s.symbol, s.code, s.shape_text, s.meaning) for s in traced_shapes(config, part, region)]


def _latex(symbol: str) -> str:
    """Paper symbols in LaTeX ($F_G$, $h_{t-1}$); names that are not symbols as code."""
    if re.fullmatch(r"[A-Za-z]+(_(\{[^}]+\}|[A-Za-z0-9]+))?'?", symbol):
        return f"${symbol}$"
    return f"`{symbol}`"


def symbol_table_markdown(config: StanerConfig, part: str, region: str = "mouth") -> str:
    """The table as Markdown (for ``IPython.display.Markdown`` or a document)."""
    lines = ["| symbol | code | shape | what it is |", "| --- | --- | --- | --- |"]
    for symbol, code, shape, meaning in symbol_table(config, part, region):
        lines.append(f"| {_latex(symbol)} | `{code}` | {shape} | {meaning} |")
    return "\n".join(lines)


def symbol_table_html(config: StanerConfig, part: str, region: str = "mouth") -> str:
    """The table as an HTML ``<table>`` (for the app or ``IPython.display.HTML``)."""
    rows = "".join(f"<tr><td>{_sym_html(sym)}</td><td><code>{html.escape(code)}</code></td>"
                   f"<td>{html.escape(shape)}</td><td>{html.escape(meaning)}</td></tr>"
                   for sym, code, shape, meaning in symbol_table(config, part, region))
    return ("<table><thead><tr><th>symbol</th><th>code</th><th>shape</th><th>what it is</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")
