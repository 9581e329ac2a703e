"""Architecture diagrams (staner_lab/viz/architecture.py) against an ordinary forward pass.

The diagrams take their shapes from a trace (staner_lab/explain/shapes.py; the paper preset on the
meta device, the classroom one on the CPU); here every shape on an arrow and every row of the
symbol tables is compared with the tensors of a real CPU forward pass, at a batch size the trace
never used, for both presets, and the meta trace of the classroom preset with its CPU trace.
"""

from __future__ import annotations

import dataclasses
import html
import re

import pytest
import torch

from staner_lab import functional as Fn
from staner_lab.config import ablation_config, preset
from staner_lab.explain.shapes import PARTS, traced_shapes
from staner_lab.models import STANER
from staner_lab.viz import architecture as A

BATCH = {"classroom": 4, "paper": 3}  # real passes; the trace uses 1 and 2
DIAGRAMS = {"staner": A.staner_diagram, "sgaer": A.sgaer_diagram, "attention": A.attention_diagram,
            "clstm": A.clstm_diagram, "lstm_cell": A.lstm_cell_diagram}


@dataclasses.dataclass
class Real:
    """A model built from a config, one real forward pass, and every module's output shape."""

    config: object
    ns: dict
    module_out: dict
    B: int


def real_pass(cfg, B: int) -> Real:
    torch.manual_seed(0)
    model = STANER(cfg).eval()
    module_out: dict[int, torch.Size] = {}

    def hook(module, _args, output):
        if isinstance(output, torch.Tensor):
            module_out.setdefault(id(module), output.shape)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    peak, regions = model.example_inputs(batch_size=B)
    with torch.no_grad():
        it = model.forward_intermediates(peak, regions)
        out = model(peak, regions)
    for h in handles:
        h.remove()
    ns = {"model": model, "peak": peak, "regions": regions, "it": it, "out": out,
          "y": torch.zeros(B, dtype=torch.long), "t": 1, "Fn": Fn}
    return Real(cfg, ns, module_out, B)


@pytest.fixture(scope="module", params=["classroom", "paper"])
def real(request) -> Real:
    return real_pass(preset(request.param), BATCH[request.param])


def real_shape(real: Real, code: str) -> tuple[int, ...]:
    value = eval(code, {"__builtins__": {}}, real.ns)  # the library's own expressions
    if isinstance(value, torch.nn.Module):
        assert any(value is m for m in real.ns["model"].modules()), f"{code} is not a module of the model"
        assert id(value) in real.module_out, f"{code} names a module the forward pass never ran"
        return tuple(real.module_out[id(value)])
    assert isinstance(value, torch.Tensor), f"{code} is a {type(value).__name__}, not a tensor"
    return tuple(value.shape)


def parse_shape(text: str, B: int, T: int) -> tuple[int, ...]:
    """'<b>U</b> (B, 64, 8, 8)' -> (B, 64, 8, 8) with B and B·T filled in."""
    m = re.search(r"\(([^()]*)\)(?: scalar)?$", text)
    assert m, f"no shape in label {text!r}"
    dims = [d.strip() for d in m.group(1).split(",") if d.strip()]
    return tuple(B if d == "B" else B * T if d == "B·T" else int(d) for d in dims)


def labels(fig) -> dict[str, tuple[str, str]]:
    """symbol -> (label text, code) of every shape label on the diagram's arrows."""
    found = {}
    for a in fig.layout.annotations:
        if a.name and a.name.startswith("shape:"):
            symbol = a.name.removeprefix("shape:")
            assert symbol not in found, f"two labels for {symbol}"
            found[symbol] = (a.text, html.unescape(a.hovertext))
    return found


#: Paper symbols and where the test itself finds them (not the library's code strings).
def anchors(ns: dict) -> dict[str, torch.Tensor]:
    it, out = ns["it"], ns["out"]
    r = it.tler.regions["mouth"]
    return {"I_p": ns["peak"], "I_e": ns["regions"]["eyes"], "I_m": ns["regions"]["mouth"], "U": it.sgaer.U,
            "M": it.sgaer.M, "F": it.sgaer.F, "F_G": it.sgaer.F_G, "P_G": out.P_G, "F_e": it.tler.regions["eyes"].h,
            "F_n": it.tler.regions["nose"].h, "F_m": r.h, "F'": it.tler.F_prime, "F_L": it.tler.F_L,
            "P_L": out.P_L, "P": out.P, "f_t": r.f[:, 0], "i_t": r.i[:, 0], "g_t": r.g[:, 0], "o_t": r.o[:, 0],
            "c_t": r.c[:, 0], "h_t": r.h[:, 0], "h_{t-1}": r.h[:, 0], "c_{t-1}": r.c[:, 0], "x_t": r.features[:, 0],
            "x_m": r.features}


@pytest.mark.parametrize("name", list(DIAGRAMS))
def test_every_arrow_shape_equals_a_real_forward_pass(real, name):
    fig = DIAGRAMS[name](real.config)
    found = labels(fig)
    assert len(found) >= 5, f"{name}: only {sorted(found)} labelled"
    T = real.config.inputs.frames
    for symbol, (text, code) in found.items():
        assert parse_shape(text, real.B, T) == real_shape(real, code), f"{name}: {symbol} via {code}"
    # the paper's symbols, found by the test on its own, carry the same shapes
    mine = anchors(real.ns)
    checked = [s for s in found if s in mine]
    assert len(checked) >= 3, f"{name}: too few paper symbols checked: {checked}"
    for symbol in checked:
        assert parse_shape(found[symbol][0], real.B, T) == tuple(mine[symbol].shape), f"{name}: {symbol}"


@pytest.mark.parametrize("part", list(PARTS))
def test_every_table_row_names_code_that_holds_that_shape(real, part):
    rows = A.symbol_table(real.config, part)
    assert rows, part
    T = real.config.inputs.frames
    for symbol, code, shape, meaning in rows:
        assert meaning, symbol
        assert parse_shape(shape, real.B, T) == real_shape(real, code), f"{part}: {symbol} = {code}"


def test_each_diagram_shows_the_symbols_of_its_figure():
    cfg = preset("classroom")
    want = {"staner": {"I_p", "U", "F", "F_G", "P_G", "I_e", "I_n", "I_m", "F_e", "F_n", "F_m", "F'", "F_L", "P_L", "P"},
            "sgaer": {"I_p", "U", "M", "F", "F_G", "x", "P_G", "Loss_G"},
            "attention": {"U", "M", "F"},
            "clstm": {"I_e", "I_n", "I_m", "x_e", "x_n", "x_m", "F_e", "F_n", "F_m", "F'", "F_L", "x", "P_L"},
            "lstm_cell": {"x_t", "h_{t-1}", "c_{t-1}", "f_t", "i_t", "g_t", "c_t", "o_t", "h_t"}}
    for name, symbols in want.items():
        missing = symbols - set(labels(DIAGRAMS[name](cfg)))
        assert not missing, f"{name} lacks {missing}"


def shape_texts(fig) -> dict[str, str]:
    return {s: re.sub(r"<[^>]+>", "", t) for s, (t, _) in labels(fig).items()}


def test_the_diagrams_follow_the_config():
    base = preset("classroom")
    for name, draw in DIAGRAMS.items():
        assert shape_texts(draw(base)) != shape_texts(draw(preset("paper"))), name
    wider = dataclasses.replace(base, tler=dataclasses.replace(
        base.tler, clstm=dataclasses.replace(base.tler.clstm, hidden_size=40, cnn_channels=(4, 6))))
    cell = shape_texts(A.lstm_cell_diagram(wider))
    assert cell["h_t"] == "ht (B, 40)"  # h<sub>t</sub>, tags stripped
    assert cell["x_t"] == "xt (B, 432)"  # 6 channels * (24/4) * (48/4)
    stages = [s for s in labels(A.clstm_diagram(wider)) if s.startswith("stage")]
    assert sorted(stages) == sorted(f"stage {k} ({lt})" for k in (1, 2) for lt in "enm")
    channel = dataclasses.replace(base, sgaer=dataclasses.replace(
        base.sgaer, attention=dataclasses.replace(base.sgaer.attention, kind="channel")))
    assert shape_texts(A.attention_diagram(channel))["M"] == "M (B, 64, 1, 1)"
    assert "AvgPool(U)" in labels(A.attention_diagram(channel))
    assert shape_texts(A.attention_diagram(base))["M"] == "M (B, 1, 8, 8)"


def test_ablations_drop_what_they_lack_and_say_why():
    base = preset("classroom")
    c1, c2 = ablation_config(base, "C1"), ablation_config(base, "C2")
    assert "M" not in labels(A.sgaer_diagram(c1)) and "U" in labels(A.sgaer_diagram(c1))
    assert not {"F_e", "P_L"} & set(labels(A.staner_diagram(c1)))
    assert not {"U", "P_G"} & set(labels(A.staner_diagram(c2)))
    with pytest.raises(ValueError, match="attention.kind"):
        A.attention_diagram(c1)
    with pytest.raises(ValueError, match="config.sgaer is None"):
        A.sgaer_diagram(c2)
    with pytest.raises(ValueError, match="config.tler is None"):
        A.lstm_cell_diagram(ablation_config(base, "C3"))
    with pytest.raises(ValueError, match="unknown part"):
        A.symbol_table(base, "vgg")


def test_tables_render_as_markdown_and_html():
    cfg = preset("classroom")
    rows = A.symbol_table(cfg, "lstm_cell", region="eyes")
    md = A.symbol_table_markdown(cfg, "lstm_cell", region="eyes").splitlines()
    assert md[0] == "| symbol | code | shape | what it is |" and len(md) == len(rows) + 2
    assert "| $h_{t-1}$ | `it.tler.regions[\"eyes\"].h[:, t - 1]` | (B, 64) |" in md[3]
    page = A.symbol_table_html(cfg, "attention")
    assert page.count("<tr>") == len(A.symbol_table(cfg, "attention")) + 1
    assert "F<sub>G</sub>" in A.symbol_table_html(cfg, "sgaer")


def test_the_paper_preset_has_the_true_vgg_widths():
    rows = {s.symbol: s for s in traced_shapes(preset("paper"), "sgaer")}
    assert rows["U"].shape == ("B", 512, 28, 28) and rows["pool 1"].shape == ("B", 64, 112, 112)


def test_meta_and_cpu_traces_agree_and_leave_the_random_state_alone():
    cfg = ablation_config(preset("classroom"), "STANER")
    torch.manual_seed(123)
    before = torch.get_rng_state()
    for part in PARTS:
        assert traced_shapes(cfg, part, device="meta") == traced_shapes(cfg, part, device="cpu"), part
    assert torch.equal(torch.get_rng_state(), before)


def test_each_shown_expression_is_the_python_that_reads_the_same_object():
    """The code a reader sees is real Python: evaluated here (only here, in the test) on the same
    names it is the object the path resolves to; a path into a field that does not exist fails when
    it is built, so renaming a field of staner_lab.outputs breaks shapes.py at import."""
    import torch

    from staner_lab.explain import shapes
    from staner_lab.models import STANER

    cfg = preset("classroom")
    model = STANER(cfg).eval()
    ns = shapes.code_namespace(model, 2, torch.Generator().manual_seed(0))
    for part in shapes.PARTS:
        for symbol, expr, _ in shapes._specs(cfg, model, part, "eyes"):
            shown = eval(expr.text, {"__builtins__": {}}, dict(ns))
            resolved = expr.resolve(ns)
            assert shown is resolved or (isinstance(shown, torch.Tensor) and torch.equal(shown, resolved)), \
                (part, symbol, expr.text)
    with pytest.raises(AttributeError, match="SGAERIntermediates has no field 'F_X'"):
        shapes.it.sgaer.F_X  # noqa: B018
    with pytest.raises(AttributeError, match="RegionIntermediates has no field 'gates'"):
        shapes.it.tler.regions["eyes"].gates  # noqa: B018
    with pytest.raises(AttributeError, match="has no 'softmax_of'"):
        shapes.fn.softmax_of  # noqa: B018
