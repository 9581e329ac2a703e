"""The shape of every named tensor of STANER for a config, read off a forward pass.

Each :class:`TensorShape` names a symbol of the paper (``"U"``, ``"F_G"``, ``"h_{t-1}"``), the
Python expression that holds it in the library and its shape. The expressions are evaluated on
a model built from the config, after one forward pass, with these names bound::

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

import functools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from staner_lab import functional as Fn
from staner_lab.config import REGIONS, StanerConfig
from staner_lab.models import STANER

__all__ = ["META_ABOVE", "PARTS", "REGION_LETTERS", "TensorShape", "code_namespace", "format_shape", "traced_shapes"]

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


def code_namespace(model: STANER, batch_size: int, generator: torch.Generator | None = None) -> dict:
    """The names the ``code`` of every :class:`TensorShape` is evaluated with (see the module doc)."""
    peak, regions = model.example_inputs(batch_size=batch_size, generator=generator)
    device = peak.device
    with torch.no_grad():
        it = model.forward_intermediates(peak, regions)
        out = model(peak, regions)
    y = torch.zeros(batch_size, dtype=torch.long, device=device)
    return {"model": model, "peak": peak, "regions": regions, "it": it, "out": out, "y": y, "t": 1, "Fn": Fn}


def _specs(config: StanerConfig, model: STANER, part: str, region: str) -> list[tuple[str, str, str]]:
    """(symbol, code, meaning) of each tensor of ``part``; raises ValueError when the config lacks it."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; choose one of {list(PARTS)}")
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; choose one of {list(REGIONS)}")
    variant = f"variant {config.variant!r}"
    if part in ("sgaer", "attention", "interpretability") and config.sgaer is None:
        raise ValueError(f"part {part!r} needs SGAER, but this config has none ({variant}: config.sgaer is None)")
    if part in ("clstm", "lstm_cell") and config.tler is None:
        raise ValueError(f"part {part!r} needs TLER, but this config has none ({variant}: config.tler is None)")
    has_attention = config.sgaer is not None and config.sgaer.attention.kind != "none"
    if part == "attention" and not has_attention:
        raise ValueError(f"part 'attention' needs an attention module; config.sgaer.attention.kind is 'none' "
                         f"({variant}, the C1 ablation): F = U")
    both = config.sgaer is not None and config.tler is not None
    loss = ("Loss", "model.loss(out, y)", "Loss_G + Loss_T, Eq. 15" if both else "the one branch's loss (Eq. 4 or 13)")
    inputs = [("I_p", "peak", "aligned grayscale peak face, the input of SGAER")] + [
        (f"I_{REGION_LETTERS[r]}", f'regions["{r}"]', f"{r} crops of T frames, an input of TLER") for r in REGIONS]

    if part == "inputs":
        return inputs
    if part == "sgaer":
        fe = model.sgaer.frontend
        pools = [k for k, m in enumerate(fe.features) if isinstance(m, nn.MaxPool2d)]
        rows = [inputs[0]]
        rows += [(f"pool {n}", f"model.sgaer.frontend.features[{k}]", f"VGG block {n} after its 2x2 max-pool")
                 for n, k in enumerate(pools, 1)]
        rows.append(("U", "it.sgaer.U", "front-end features, conv4_3 (input of Eq. 1)"))
        if has_attention:
            rows.append(("M", "it.sgaer.M", "attention map, Eq. 1"))
            rows.append(("F", "it.sgaer.F", "attended features (1 + M) ⊗ U, Eq. 2"))
        else:
            rows.append(("F", "it.sgaer.F", "no attention (C1): F = U"))
        rows += [("F_G", "it.sgaer.F_G", "end convolution, pooled over positions"),
                 ("x", "it.sgaer.logits", "classifier outputs, the x of Eq. 3"),
                 ("P_G", "it.sgaer.P_G", "softmax(x), Eq. 3"),
                 ("Loss_G", "Fn.cross_entropy_from_logits(it.sgaer.logits, y)", "cross-entropy, Eq. 4 (batch mean)")]
        return rows
    if part == "attention":
        att = "model.sgaer.attention"
        rows = [("U", "it.sgaer.U", "front-end features, the input of the module")]
        if config.sgaer.attention.kind == "spatial":
            rows += [("w_3x3", f"{att}.scores.conv3x3.weight", "3x3 convolution: context around each position"),
                     ("conv3x3(U)", f"{att}.scores.conv3x3", "3x3 convolution of U (then batch norm, ReLU)"
                      if config.sgaer.attention.batch_norm else "3x3 convolution of U (then ReLU)"),
                     ("w_1x1", f"{att}.scores.conv1x1.weight", "1x1 convolution: all channels into one"),
                     ("Conv[w; U]", f"{att}.scores", "scores, the argument of the sigmoid in Eq. 1")]
        else:
            rows += [("AvgPool(U)", f"{att}.scores.pool", "global average pooling, Eq. 1"),
                     ("w_down", f"{att}.scores.conv_down.weight", "1x1 convolution C -> hidden"),
                     ("conv_down", f"{att}.scores.conv_down", "bottleneck (then ReLU)"),
                     ("w_up", f"{att}.scores.conv_up.weight", "1x1 convolution hidden -> C"),
                     ("Conv[w; AvgPool(U)]", f"{att}.scores", "scores, the argument of the sigmoid in Eq. 1")]
        rows += [("M", "it.sgaer.M", "attention map, Eq. 1"), ("F", "it.sgaer.F", "(1 + M) ⊗ U, Eq. 2")]
        return rows
    if part == "lstm_cell":
        ri, cl = f'it.tler.regions["{region}"]', f'model.tler.clstm["{region}"]'
        return [("x_t", f"{ri}.features[:, t]", f"{region} CNN features of frame t, the LSTM input"),
                ("h_{t-1}", f"{ri}.h[:, t - 1]", "hidden state of the step before"),
                ("c_{t-1}", f"{ri}.c[:, t - 1]", "cell state of the step before"),
                ("W", f"{cl}.lstm.weight_ih_l0", "input weights [W_i; W_f; W_g; W_o], rows i, f, g, o"),
                ("R", f"{cl}.lstm.weight_hh_l0", "recurrent weights (on h_{t-1}), same row order"),
                ("b", f"{cl}.lstm_weights()[2]", "biases b_ih + b_hh, same row order"),
                ("f_t", f"{ri}.f[:, t]", "forget gate, Eq. 5"),
                ("i_t", f"{ri}.i[:, t]", "input gate, Eq. 6"),
                ("g_t", f"{ri}.g[:, t]", "candidate cell, Eq. 7"),
                ("c_t", f"{ri}.c[:, t]", "cell state, Eq. 8"),
                ("o_t", f"{ri}.o[:, t]", "output gate, Eq. 9"),
                ("h_t", f"{ri}.h[:, t]", "hidden state, Eq. 10")]
    if part == "clstm":
        rows = []
        for r in REGIONS:
            lt = REGION_LETTERS[r]
            cnn = model.tler.clstm[r].cnn
            pools = [k for k, m in enumerate(cnn.layers) if isinstance(m, nn.MaxPool2d)]
            rows.append((f"I_{lt}", f'regions["{r}"]', f"{r} crops of T frames"))
            rows += [(f"stage {n} ({lt})", f'model.tler.clstm["{r}"].cnn.layers[{k}]',
                      f"{r} CNN stage {n} (conv, ReLU, 2x2 pool), every frame at once")
                     for n, k in enumerate(pools, 1)]
            rows.append((f"x_{lt}", f'it.tler.regions["{r}"].features', f"{r} features x_1 ... x_T, flattened"))
            rows.append((f"F_{lt}", f'it.tler.regions["{r}"].h', f"{r} LSTM outputs h_1 ... h_T"))
        rows += [("F'", "it.tler.F_prime", "[F_e : F_n : F_m], Eq. 11"),
                 ("conv(F')", "model.tler.end_conv", "causal end convolution over time, every step"),
                 ("F_L", "it.tler.F_L", "end convolution at the last step"),
                 ("x", "it.tler.logits", "classifier outputs, the x of Eq. 12"),
                 ("P_L", "it.tler.P_L", "softmax(x), Eq. 12"),
                 ("Loss_T", "Fn.cross_entropy_from_logits(it.tler.logits, y)", "cross-entropy, Eq. 13 (batch mean)")]
        return rows
    if part == "fusion":
        rows = []
        if config.sgaer is not None:
            rows.append(("P_G", "out.P_G", "SGAER probabilities, Eq. 3"))
        if config.tler is not None:
            rows.append(("P_L", "out.P_L", "TLER probabilities, Eq. 12"))
        rows += [("P", "out.P", "α P_G + (1 - α) P_L, inside the argmax of Eq. 14" if both
                  else "the one branch's probabilities"),
                 ("O", "out.prediction", "argmax P, Eq. 14"),
                 ("y", "y", "labels"), loss]
        return rows
    if part == "interpretability":
        fe = "model.sgaer.frontend"
        rows = [inputs[0], ("conv4_3", f'{fe}.features[{fe}.conv_index["conv4_3"]]',
                            "last front-end convolution, a Grad-CAM layer")]
        if has_attention:
            rows.append(("M", "it.sgaer.M", "the model's own attention, compared with attributions"))
        if config.tler is not None:
            rows += inputs[1:]
        return rows + [("P", "out.P", "the probabilities an attribution explains")]
    # "staner": the whole network
    rows = []
    if config.sgaer is not None:
        rows += [inputs[0], ("U", "it.sgaer.U", "front-end features")]
        if has_attention:
            rows.append(("M", "it.sgaer.M", "attention map, Eq. 1"))
        rows += [("F", "it.sgaer.F", "attended features, Eq. 2"), ("F_G", "it.sgaer.F_G", "end convolution"),
                 ("P_G", "it.sgaer.P_G", "Eq. 3")]
    if config.tler is not None:
        rows += inputs[1:]
        rows += [(f"F_{REGION_LETTERS[r]}", f'it.tler.regions["{r}"].h', f"{r} C-LSTM outputs") for r in REGIONS]
        rows += [("F'", "it.tler.F_prime", "Eq. 11"), ("F_L", "it.tler.F_L", "end convolution, last step"),
                 ("P_L", "it.tler.P_L", "Eq. 12")]
    return rows + [("P", "it.P", "fused probabilities, Eq. 14"), ("O", "out.prediction", "argmax P, Eq. 14"), loss]


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


def _shape_of(code: str, ns: dict, outputs: dict[int, torch.Size]) -> torch.Size:
    value = eval(code, {"__builtins__": {}}, ns)  # our own expressions, over the names bound above
    if isinstance(value, nn.Module):
        if id(value) not in outputs:
            raise ValueError(f"{code} names a module that the forward pass did not call with a tensor output")
        return outputs[id(value)]
    if not isinstance(value, Tensor):
        raise TypeError(f"{code} is a {type(value).__name__}, not a tensor or a module")
    return value.shape


@dataclass(frozen=True)
class _Traced:
    rows: dict[str, tuple[TensorShape, ...]]  # part -> its rows
    missing: dict[str, str]  # part the config lacks -> why


@functools.lru_cache(maxsize=16)
def _trace(config_json: str, region: str, device: str | None) -> _Traced:
    """Every part of the config, one trace per batch size."""
    config = StanerConfig.from_json(config_json)
    specs: dict[str, list[tuple[str, str, str]] | str] = {}
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
                traced.setdefault(part, []).append([_shape_of(code, ns, outputs) for _, code, _ in specs[part]])
    T = config.inputs.frames
    result = _Traced({}, {})
    for part, rows in specs.items():
        if isinstance(rows, str):
            result.missing[part] = rows
            continue
        shapes = []
        for (symbol, code, meaning), s1, s2 in zip(rows, *traced[part], strict=True):
            dims: list[int | str] = []
            for k, d2 in zip(s1, s2, strict=True):
                if k == d2:
                    dims.append(int(k))
                else:  # scales with the batch: d = B * k
                    dims.append("B" if k == 1 else "B·T" if k == T else f"B·{k}")
            shapes.append(TensorShape(symbol, code, tuple(dims), meaning))
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
