"""The shape of every named tensor of STANER for a config, read off a forward pass.

Each :class:`TensorShape` names a symbol of the paper (``"U"``, ``"F_G"``, ``"h_{t-1}"``), the
Python expression that holds it in the library and its shape. The expressions are paths
(:class:`Expr`, built from real attribute and index access, never evaluated from text) read on a
model built from the config, after one forward pass, with these names bound::

    model = STANER(config)
    peak, regions = model.example_inputs(batch_size=B)
    it = model.forward_intermediates(peak, regions)
    out = model(peak, regions)
    y = labels (B,); t = 1 (a time step); Fn = staner_lab.functional

An expression that names a module (``model.sgaer.attention.scores``) stands for that module's
output. A large model (the paper preset: 224x224 faces, full VGG-16 widths, 42 M parameters) runs
on PyTorch's ``meta`` device, tensors with shapes and no data: nothing is computed. A small one
(the classroom preset, 0.8 M) runs on the CPU, which is then faster than meta's Python kernels
(and their first use, which imports ``torch._dynamo``). The batch dimension is found by tracing
twice (B = 1 and B = 2) and written ``"B"``; the region CNN sees every frame at once, so its
batch is ``"B·T"``. The caller's random state is left as it was.

``staner_lab.viz.architecture`` draws these shapes on the arrows of Figs. 1-4; the tests check
them against an ordinary forward pass on the CPU.

>>> from staner_lab.config import preset
>>> [(s.symbol, s.shape) for s in traced_shapes(preset("classroom"), "sgaer") if s.symbol in ("U", "P_G")]
[('U', ('B', 64, 8, 8)), ('P_G', ('B', 7))]
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from staner_lab import functional as Fn
from staner_lab.config import REGIONS, StanerConfig
from staner_lab.models import STANER
from staner_lab.outputs import StanerIntermediates, StanerOutput

__all__ = ["META_ABOVE", "PARTS", "REGION_LETTERS", "Expr", "TensorShape", "code_namespace", "format_shape",
           "traced_shapes"]

#: What each part covers (the figure of the paper, the equations, the notebook).
PARTS: dict[str, str] = {
    "inputs": "model inputs, Algorithm 1 (notebook 01)",
    "staner": "the whole network, Fig. 1 (notebooks 00, 06)",
    "sgaer": "SGAER, Fig. 2, Eq. 1-4 (notebook 02)",
    "attention": "the attention module, Fig. 3, Eq. 1-2 (notebook 02)",
    "lstm_cell": "one LSTM step, Eq. 5-10 (notebook 03)",
    "clstm": "TLER: a C-LSTM block per region, Fig. 4, Eq. 11-13 (notebook 04)",
    "fusion": "decision fusion and the joint loss, Eq. 14-15 (notebook 05)",
    "interpretability": "what attributions are computed on and compared with (notebook 07)",
}
#: Models with more parameters than this are traced on the meta device, smaller ones on the CPU.
META_ABOVE = 5_000_000
#: The paper's subscript of each region: I_e, F_n, ...
REGION_LETTERS = {"eyes": "e", "nose": "n", "mouth": "m"}


@dataclass(frozen=True)
class TensorShape:
    """One named tensor: the paper's symbol, the code that holds it, its shape, what it is."""

    symbol: str
    code: str
    shape: tuple[int | str, ...]
    meaning: str

    @property
    def shape_text(self) -> str:
        return format_shape(self.shape)


def format_shape(shape: tuple[int | str, ...]) -> str:
    """("B", 64, 8, 8) -> "(B, 64, 8, 8)"; () -> "() scalar"."""
    if not shape:
        return "() scalar"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class Expr:
    """A path into the names of :func:`code_namespace`, written as the Python that reads it
    (``it.sgaer.F_G``, ``regions["eyes"]``, ``model.tler.clstm["mouth"].lstm_weights()[2]``): its
    :attr:`text` is what a reader sees, and :meth:`resolve` takes the same steps on the real objects
    (nothing is evaluated from text). A path into ``it``, ``out`` or ``Fn`` is checked against the
    fields of :mod:`staner_lab.outputs` and the functions of :mod:`staner_lab.functional` as it is
    built, so renaming one breaks this module at import; paths into ``model`` are checked by the
    forward pass of the tests.
    """

    def __init__(self, text: str, steps: tuple = (), kind: Any = None) -> None:
        self.text, self._steps, self._kind = text, steps, kind

    def __getattr__(self, name: str) -> Expr:
        if name.startswith("__"):
            raise AttributeError(name)
        return Expr(f"{self.text}.{name}", (*self._steps, ("attr", name)), _member(self._kind, name, self.text))

    def __getitem__(self, key: Any) -> Expr:
        keys = key if isinstance(key, tuple) else (key,)
        inner = ", ".join(_key_text(k) for k in keys)
        kind = _value_kind(self._kind) if typing.get_origin(self._kind) is dict else None
        return Expr(f"{self.text}[{inner}]", (*self._steps, ("item", key)), kind)

    def __call__(self, *args: Any) -> Expr:
        inner = ", ".join(_key_text(a) for a in args)
        return Expr(f"{self.text}({inner})", (*self._steps, ("call", args)))

    def __sub__(self, other: int) -> Expr:
        return Expr(f"{self.text} - {other}", (*self._steps, ("sub", other)))

    def resolve(self, ns: dict) -> Any:
        """The object this path names, read from the names of :func:`code_namespace`."""
        value = ns[self._steps[0][1]]
        for step, arg in self._steps[1:]:
            if step == "attr":
                value = getattr(value, arg)
            elif step == "item":
                value = value[_resolve(arg, ns)]
            elif step == "call":
                value = value(*(_resolve(a, ns) for a in arg))
            else:
                value = value - arg
        return value


def _root(name: str, kind: Any = None) -> Expr:
    return Expr(name, (("name", name),), kind)


def _member(kind: Any, name: str, where: str) -> Any:
    """The declared type of ``kind.name`` (None when unknown); AttributeError when ``kind`` has no such member."""
    if kind is None:
        return None
    if isinstance(kind, types.ModuleType):
        if not hasattr(kind, name):
            raise AttributeError(f"{where}.{name}: {kind.__name__} has no {name!r}")
        return None
    hints = typing.get_type_hints(kind) if dataclasses.is_dataclass(kind) else {}
    if name not in hints and not hasattr(kind, name):
        raise AttributeError(f"{where}.{name}: {kind.__name__} has no field {name!r} (its fields: {sorted(hints)})")
    found = hints.get(name)
    args = [a for a in typing.get_args(found) if a is not type(None)]
    if typing.get_origin(found) in (typing.Union, types.UnionType) and len(args) == 1:
        found = args[0]  # X | None
    return found if dataclasses.is_dataclass(found) or typing.get_origin(found) is dict else None


def _value_kind(kind: Any) -> Any:
    value = typing.get_args(kind)[1]
    return value if dataclasses.is_dataclass(value) else None


def _key_text(key: Any) -> str:
    if isinstance(key, Expr):
        return key.text
    if isinstance(key, slice) and key == slice(None):
        return ":"
    return f'"{key}"' if isinstance(key, str) else str(key)


def _resolve(value: Any, ns: dict) -> Any:
    if isinstance(value, Expr):
        return value.resolve(ns)
    if isinstance(value, tuple):
        return tuple(_resolve(v, ns) for v in value)
    return value


# The names bound by code_namespace, as paths
model, peak, regions, y, t = _root("model"), _root("peak"), _root("regions"), _root("y"), _root("t")
it, out, fn = _root("it", StanerIntermediates), _root("out", StanerOutput), _root("Fn", Fn)


def code_namespace(model: STANER, batch_size: int, generator: torch.Generator | None = None) -> dict:
    """The names every :class:`TensorShape`'s code reads (see the module doc)."""
    peak, regions = model.example_inputs(batch_size=batch_size, generator=generator)
    device = peak.device
    with torch.no_grad():
        it = model.forward_intermediates(peak, regions)
        out = model(peak, regions)
    y = torch.zeros(batch_size, dtype=torch.long, device=device)
    return {"model": model, "peak": peak, "regions": regions, "it": it, "out": out, "y": y, "t": 1, "Fn": Fn}


Row = tuple[str, Expr, str]  # (symbol, where it is, meaning)


def _inputs(config: StanerConfig, m: STANER, region: str) -> list[Row]:
    return [("I_p", peak, "aligned grayscale peak face, the input of SGAER")] + [
        (f"I_{REGION_LETTERS[r]}", regions[r], f"{r} crops of T frames, an input of TLER") for r in REGIONS]


def _loss(config: StanerConfig) -> Row:
    both = config.sgaer is not None and config.tler is not None
    return ("Loss", model.loss(out, y), "Loss_G + Loss_T, Eq. 15" if both else "the one branch's loss (Eq. 4 or 13)")


def _has_attention(config: StanerConfig) -> bool:
    return config.sgaer is not None and config.sgaer.attention.kind != "none"


def _sgaer(config: StanerConfig, m: STANER, region: str) -> list[Row]:
    pools = [k for k, layer in enumerate(m.sgaer.frontend.features) if isinstance(layer, nn.MaxPool2d)]
    rows = [_inputs(config, m, region)[0]]
    rows += [(f"pool {n}", model.sgaer.frontend.features[k], f"VGG block {n} after its 2x2 max-pool")
             for n, k in enumerate(pools, 1)]
    rows.append(("U", it.sgaer.U, "front-end features, conv4_3 (input of Eq. 1)"))
    if _has_attention(config):
        rows += [("M", it.sgaer.M, "attention map, Eq. 1"), ("F", it.sgaer.F, "attended features (1 + M) ⊗ U, Eq. 2")]
    else:
        rows.append(("F", it.sgaer.F, "no attention (C1): F = U"))
    return rows + [("F_G", it.sgaer.F_G, "end convolution, pooled over positions"),
                   ("x", it.sgaer.logits, "classifier outputs, the x of Eq. 3"),
                   ("P_G", it.sgaer.P_G, "softmax(x), Eq. 3"),
                   ("Loss_G", fn.cross_entropy_from_logits(it.sgaer.logits, y), "cross-entropy, Eq. 4 (batch mean)")]


def _attention(config: StanerConfig, m: STANER, region: str) -> list[Row]:
    scores = model.sgaer.attention.scores
    rows = [("U", it.sgaer.U, "front-end features, the input of the module")]
    if config.sgaer.attention.kind == "spatial":
        rows += [("w_3x3", scores.conv3x3.weight, "3x3 convolution: context around each position"),
                 ("conv3x3(U)", scores.conv3x3, "3x3 convolution of U (then batch norm, ReLU)"
                  if config.sgaer.attention.batch_norm else "3x3 convolution of U (then ReLU)"),
                 ("w_1x1", scores.conv1x1.weight, "1x1 convolution: all channels into one"),
                 ("Conv[w; U]", scores, "scores, the argument of the sigmoid in Eq. 1")]
    else:
        rows += [("AvgPool(U)", scores.pool, "global average pooling, Eq. 1"),
                 ("w_down", scores.conv_down.weight, "1x1 convolution C -> hidden"),
                 ("conv_down", scores.conv_down, "bottleneck (then ReLU)"),
                 ("w_up", scores.conv_up.weight, "1x1 convolution hidden -> C"),
                 ("Conv[w; AvgPool(U)]", scores, "scores, the argument of the sigmoid in Eq. 1")]
    return rows + [("M", it.sgaer.M, "attention map, Eq. 1"), ("F", it.sgaer.F, "(1 + M) ⊗ U, Eq. 2")]


def _lstm_cell(config: StanerConfig, m: STANER, region: str) -> list[Row]:
    ri, cl = it.tler.regions[region], model.tler.clstm[region]
    return [("x_t", ri.features[:, t], f"{region} CNN features of frame t, the LSTM input"),
            ("h_{t-1}", ri.h[:, t - 1], "hidden state of the step before"),
            ("c_{t-1}", ri.c[:, t - 1], "cell state of the step before"),
            ("W", cl.lstm.weight_ih_l0, "input weights [W_i; W_f; W_g; W_o], rows i, f, g, o"),
            ("R", cl.lstm.weight_hh_l0, "recurrent weights (on h_{t-1}), same row order"),
            ("b", cl.lstm_weights()[2], "biases b_ih + b_hh, same row order"),
            ("f_t", ri.f[:, t], "forget gate, Eq. 5"),
            ("i_t", ri.i[:, t], "input gate, Eq. 6"),
            ("g_t", ri.g[:, t], "candidate cell, Eq. 7"),
            ("c_t", ri.c[:, t], "cell state, Eq. 8"),
            ("o_t", ri.o[:, t], "output gate, Eq. 9"),
            ("h_t", ri.h[:, t], "hidden state, Eq. 10")]


def _clstm(config: StanerConfig, m: STANER, region: str) -> list[Row]:
    rows = []
    for r in REGIONS:
        lt = REGION_LETTERS[r]
        pools = [k for k, layer in enumerate(m.tler.clstm[r].cnn.layers) if isinstance(layer, nn.MaxPool2d)]
        rows.append((f"I_{lt}", regions[r], f"{r} crops of T frames"))
        rows += [(f"stage {n} ({lt})", model.tler.clstm[r].cnn.layers[k],
                  f"{r} CNN stage {n} (conv, ReLU, 2x2 pool), every frame at once") for n, k in enumerate(pools, 1)]
        rows.append((f"x_{lt}", it.tler.regions[r].features, f"{r} features x_1 ... x_T, flattened"))
        rows.append((f"F_{lt}", it.tler.regions[r].h, f"{r} LSTM outputs h_1 ... h_T"))
    return rows + [("F'", it.tler.F_prime, "[F_e : F_n : F_m], Eq. 11"),
                   ("conv(F')", model.tler.end_conv, "causal end convolution over time, every step"),
                   ("F_L", it.tler.F_L, "end convolution at the last step"),
                   ("x", it.tler.logits, "classifier outputs, the x of Eq. 12"),
                   ("P_L", it.tler.P_L, "softmax(x), Eq. 12"),
                   ("Loss_T", fn.cross_entropy_from_logits(it.tler.logits, y), "cross-entropy, Eq. 13 (batch mean)")]


def _fusion(config: StanerConfig, m: STANER, region: str) -> list[Row]:
    rows = []
    if config.sgaer is not None:
        rows.append(("P_G", out.P_G, "SGAER probabilities, Eq. 3"))
    if config.tler is not None:
        rows.append(("P_L", out.P_L, "TLER probabilities, Eq. 12"))
    both = config.sgaer is not None and config.tler is not None
    return rows + [("P", out.P, "α P_G + (1 - α) P_L, inside the argmax of Eq. 14" if both
                    else "the one branch's probabilities"),
                   ("O", out.prediction, "argmax P, Eq. 14"), ("y", y, "labels"), _loss(config)]


def _interpretability(config: StanerConfig, m: STANER, region: str) -> list[Row]:
    fe = model.sgaer.frontend
    inputs = _inputs(config, m, region)
    rows = [inputs[0], ("conv4_3", fe.features[fe.conv_index["conv4_3"]], "last front-end convolution, a Grad-CAM layer")]
    if _has_attention(config):
        rows.append(("M", it.sgaer.M, "the model's own attention, compared with attributions"))
    if config.tler is not None:
        rows += inputs[1:]
    return rows + [("P", out.P, "the probabilities an attribution explains")]


def _staner(config: StanerConfig, m: STANER, region: str) -> list[Row]:
    inputs, rows = _inputs(config, m, region), []
    if config.sgaer is not None:
        rows += [inputs[0], ("U", it.sgaer.U, "front-end features")]
        if _has_attention(config):
            rows.append(("M", it.sgaer.M, "attention map, Eq. 1"))
        rows += [("F", it.sgaer.F, "attended features, Eq. 2"), ("F_G", it.sgaer.F_G, "end convolution"),
                 ("P_G", it.sgaer.P_G, "Eq. 3")]
    if config.tler is not None:
        rows += inputs[1:]
        rows += [(f"F_{REGION_LETTERS[r]}", it.tler.regions[r].h, f"{r} C-LSTM outputs") for r in REGIONS]
        rows += [("F'", it.tler.F_prime, "Eq. 11"), ("F_L", it.tler.F_L, "end convolution, last step"),
                 ("P_L", it.tler.P_L, "Eq. 12")]
    return rows + [("P", it.P, "fused probabilities, Eq. 14"), ("O", out.prediction, "argmax P, Eq. 14"),
                   _loss(config)]


_ROWS = {"inputs": _inputs, "staner": _staner, "sgaer": _sgaer, "attention": _attention, "lstm_cell": _lstm_cell,
         "clstm": _clstm, "fusion": _fusion, "interpretability": _interpretability}


def _specs(config: StanerConfig, m: STANER, part: str, region: str) -> list[Row]:
    """(symbol, path, meaning) of each tensor of ``part``; raises ValueError when the config lacks it."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; choose one of {list(PARTS)}")
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; choose one of {list(REGIONS)}")
    variant = f"variant {config.variant!r}"
    if part in ("sgaer", "attention", "interpretability") and config.sgaer is None:
        raise ValueError(f"part {part!r} needs SGAER, but this config has none ({variant}: config.sgaer is None)")
    if part in ("clstm", "lstm_cell") and config.tler is None:
        raise ValueError(f"part {part!r} needs TLER, but this config has none ({variant}: config.tler is None)")
    if part == "attention" and not _has_attention(config):
        raise ValueError(f"part 'attention' needs an attention module; config.sgaer.attention.kind is 'none' "
                         f"({variant}, the C1 ablation): F = U")
    return _ROWS[part](config, m, region)


def _module_outputs(model: STANER, batch_size: int) -> tuple[dict, dict[int, torch.Size]]:
    """Run :func:`code_namespace` with a hook on every module; (namespace, id(module) -> first output shape)."""
    seen: dict[int, torch.Size] = {}

    def hook(module: nn.Module, _args, output) -> None:
        if isinstance(output, Tensor) and id(module) not in seen:
            seen[id(module)] = output.shape

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        ns = code_namespace(model, batch_size, torch.Generator().manual_seed(0))
    finally:
        for h in handles:
            h.remove()
    return ns, seen


def _shape_of(expr: Expr, ns: dict, outputs: dict[int, torch.Size]) -> torch.Size:
    value = expr.resolve(ns)
    if isinstance(value, nn.Module):
        if id(value) not in outputs:
            raise ValueError(f"{expr.text} names a module that the forward pass did not call with a tensor output")
        return outputs[id(value)]
    if not isinstance(value, Tensor):
        raise TypeError(f"{expr.text} is a {type(value).__name__}, not a tensor or a module")
    return value.shape


@dataclass(frozen=True)
class _Traced:
    rows: dict[str, tuple[TensorShape, ...]]  # part -> its rows
    missing: dict[str, str]  # part the config lacks -> why


@functools.lru_cache(maxsize=16)
def _trace(config_json: str, region: str, device: str | None) -> _Traced:
    """Every part of the config, one trace per batch size."""
    config = StanerConfig.from_json(config_json)
    specs: dict[str, list[Row] | str] = {}
    traced: dict[str, list[list[torch.Size]]] = {}
    with torch.random.fork_rng(devices=[]):  # parameter init must not move the caller's generator
        model = STANER(config).eval()  # on the CPU even for meta: meta init is slower (see above)
        if device is None:
            device = "meta" if sum(p.numel() for p in model.parameters()) > META_ABOVE else "cpu"
        model = model.to(device)
        for batch in (1, 2):
            ns, outputs = _module_outputs(model, batch)
            for part in PARTS:
                try:
                    specs[part] = _specs(config, model, part, region)
                except ValueError as exc:
                    specs[part] = str(exc)
                    continue
                traced.setdefault(part, []).append([_shape_of(expr, ns, outputs) for _, expr, _ in specs[part]])
    T = config.inputs.frames
    result = _Traced({}, {})
    for part, rows in specs.items():
        if isinstance(rows, str):
            result.missing[part] = rows
            continue
        shapes = []
        for (symbol, expr, meaning), s1, s2 in zip(rows, *traced[part], strict=True):
            dims: list[int | str] = []
            for k, d2 in zip(s1, s2, strict=True):
                if k == d2:
                    dims.append(int(k))
                else:  # scales with the batch: d = B * k
                    dims.append("B" if k == 1 else "B·T" if k == T else f"B·{k}")
            shapes.append(TensorShape(symbol, expr.text, tuple(dims), meaning))
        result.rows[part] = tuple(shapes)
    return result


def traced_shapes(config: StanerConfig, part: str, region: str = "mouth",
                  device: str | None = None) -> list[TensorShape]:
    """The named tensors of ``part`` (a key of :data:`PARTS`) with their shapes for ``config``.

    ``region`` chooses the region of ``"lstm_cell"`` (its x_t has that region's width D);
    ``device`` ("cpu" or "meta") where the forward pass runs, None: by size (:data:`META_ABOVE`).
    Raises ValueError when the config has no such part (an ablation without that branch).
    """
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; choose one of {list(PARTS)}")
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; choose one of {list(REGIONS)}")
    if device not in (None, "cpu", "meta"):
        raise ValueError(f"device must be 'cpu', 'meta' or None, got {device!r}")
    traced = _trace(config.to_json(), region, device)
    if part in traced.missing:
        raise ValueError(traced.missing[part])
    return list(traced.rows[part])
