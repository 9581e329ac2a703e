"""The exercise checks: correct answers pass, typical wrong answers fail with the hint that names them."""

import numpy as np
import pytest
import torch

from staner_lab import functional as Fn
from staner_lab.data.regions import FLIP_PERMUTATION
from staner_lab.teaching import exercises as ex


def _run(check, *args):
    """Run a check; return (result, printed line)."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ok = check(*args)
    return ok, buf.getvalue().strip()


def _expect(check, answer, *keywords, extra=()):
    ok, out = _run(check, answer, *extra)
    assert not ok, out
    assert out.startswith(ex.WRONG), out
    for k in keywords:
        assert k.lower() in out.lower(), (k, out)
    return out


def _stub(*args):
    raise NotImplementedError


# --- Eq. 2 --------------------------------------------------------------------------------------------


def test_eq2_correct_and_not_done():
    ok, out = _run(ex.check_eq2, lambda U, M: (1 + M) * U)
    assert ok and out.startswith(ex.OK)
    assert _run(ex.check_eq2, lambda U, M: U + M * U)[0]
    ok, out = _run(ex.check_eq2, _stub)
    assert not ok and out.startswith(ex.NOT_DONE)
    ok, out = _run(ex.check_eq2, ...)
    assert not ok and out.startswith(ex.NOT_DONE)


@pytest.mark.parametrize("answer, keyword", [
    (lambda U, M: M * U, '"1 +"'),
    (lambda U, M: U + M, "multiplication"),
    (lambda U, M: (1 - M) * U, "(1 - M)"),
    (lambda U, M: 1 + M * U, "parentheses"),
    (lambda U, M: (1 + M) * U.sum(1, keepdim=True), "shape"),
    (lambda U, M: (1 + torch.sigmoid(M)) * U, "sigmoid again"),
])
def test_eq2_typical_mistakes(answer, keyword):
    _expect(ex.check_eq2, answer, keyword)


def test_eq2_in_place_and_errors():
    def in_place(U, M):
        U.mul_(1 + M)
        return U

    _expect(ex.check_eq2, in_place, "in place")
    _expect(ex.check_eq2, lambda U, M: (1 + M[:, :, 0]) * U, "raised")  # does not broadcast
    assert _run(ex.check_eq2, lambda U, M: ((1 + M) * U).numpy())[0]  # a numpy array with the right values
    _expect(ex.check_eq2, lambda U, M: ((1 + M) * U).tolist(), "torch.Tensor")


def test_global_pool():
    assert _run(ex.check_global_pool, lambda U: U.mean(dim=(2, 3), keepdim=True))[0]
    _expect(ex.check_global_pool, lambda U: U.mean(dim=1, keepdim=True), "over the channels")
    _expect(ex.check_global_pool, lambda U: U.mean(dim=(2, 3)), "keepdim")
    _expect(ex.check_global_pool, lambda U: U.amax(dim=(2, 3), keepdim=True), "maximum")
    _expect(ex.check_global_pool, lambda U: U.sum(dim=(2, 3), keepdim=True), "summed")


def test_softmax():
    assert _run(ex.check_softmax, lambda x: torch.softmax(x, dim=-1))[0]
    _expect(ex.check_softmax, lambda x: x.exp() / x.exp().sum(-1, keepdim=True), "overflow")
    _expect(ex.check_softmax, lambda x: torch.softmax(x, dim=0), "batch axis")
    _expect(ex.check_softmax, lambda x: torch.log_softmax(x, dim=-1), "log-softmax")
    _expect(ex.check_softmax, lambda x: x.exp() / x.exp().sum(-1), "raised")


def test_cross_entropy():
    def right(P, y):
        return -P.gather(1, y[:, None]).log().mean()

    assert _run(ex.check_cross_entropy, right)[0]
    _expect(ex.check_cross_entropy, lambda P, y: -P.gather(1, y[:, None])[:, 0].log(), "mean")
    _expect(ex.check_cross_entropy, lambda P, y: P.gather(1, y[:, None]).log().mean(), "sign")
    _expect(ex.check_cross_entropy, lambda P, y: -P.gather(1, y[:, None]).log10().mean(), "log10")
    _expect(ex.check_cross_entropy, lambda P, y: -P.gather(1, y[:, None]).log().sum(), "summed")
    _expect(ex.check_cross_entropy, lambda P, y: -P[:, y].log().mean(0), "gather")


# --- Eq. 5-10 -----------------------------------------------------------------------------------------


def _step(order=("i", "f", "g", "o"), recurrent="R", g_act=torch.tanh, h_tanh=True, swap_out=False):
    def fn(x, h, c, W, R, b):
        N = h.shape[1]
        blocks = {name: slice(k * N, (k + 1) * N) for k, name in enumerate(order)}

        def pre(name):
            s = blocks[name]
            rec = W[s] if recurrent == "W" else R[s]
            return x @ W[s].T + (0 if recurrent == "none" else h @ rec.T) + b[s]

        i, f, o = (torch.sigmoid(pre(n)) for n in ("i", "f", "o"))
        g = g_act(pre("g"))
        c_new = f * c + i * g
        h_new = o * (torch.tanh(c_new) if h_tanh else c_new)
        return (c_new, h_new) if swap_out else (h_new, c_new)

    return fn


def test_lstm_step_correct_forms():
    assert _run(ex.check_lstm_step, _step())[0]
    assert _run(ex.check_lstm_step, Fn.lstm_step)[0]  # an LSTMStep (fields h and c) is accepted

    def via_torch(x, h, c, W, R, b):
        lstm = torch.nn.LSTMCell(W.shape[1], h.shape[1]).to(x.dtype)
        with torch.no_grad():
            lstm.weight_ih.copy_(W)
            lstm.weight_hh.copy_(R)
            lstm.bias_ih.copy_(b)
            lstm.bias_hh.zero_()
        return lstm(x, (h, c))

    assert _run(ex.check_lstm_step, via_torch)[0]


@pytest.mark.parametrize("answer, keywords", [
    (_step(order=("f", "i", "g", "o")), ["wrong rows", "paper's equation order", "[i; f; g; o]"]),
    (_step(order=("i", "f", "o", "g")), ["wrong rows"]),
    (_step(recurrent="none"), ["recurrent term is missing"]),
    (_step(recurrent="W"), ["W for h_{t-1}", "R (weight_hh)"]),
    (_step(g_act=torch.sigmoid), ["tanh"]),
    (_step(h_tanh=False), ["Eq. 10"]),
    (_step(swap_out=True), ["(c, h)"]),
])
def test_lstm_step_typical_mistakes(answer, keywords):
    _expect(ex.check_lstm_step, answer, *keywords)


def test_lstm_step_missing_input_gate_and_not_done():
    def no_i(x, h, c, W, R, b):
        s = Fn.lstm_step(x, h, c, W, R, b)
        c_new = s.f * c + s.g
        return s.o * torch.tanh(c_new), c_new

    _expect(ex.check_lstm_step, no_i, "input gate")
    ok, out = _run(ex.check_lstm_step, _stub)
    assert not ok and out.startswith(ex.NOT_DONE)


# --- Eq. 11, 14, 16 -------------------------------------------------------------------------------


def test_eq11():
    assert _run(ex.check_eq11, lambda e, n, m: torch.cat([e, n, m], dim=-1))[0]
    _expect(ex.check_eq11, lambda e, n, m: torch.cat([e, n, m], dim=1), "along time")
    _expect(ex.check_eq11, lambda e, n, m: torch.stack([e, n, m], dim=2), "stacked")
    _expect(ex.check_eq11, lambda e, n, m: torch.cat([m, n, e], dim=-1), "the order", "F_m : F_n : F_e")
    _expect(ex.check_eq11, lambda e, n, m: torch.cat([e[:, -1], n[:, -1], m[:, -1]], dim=-1), "h_T")


def test_eq14():
    assert _run(ex.check_eq14, lambda G, L, a: a * G + (1 - a) * L)[0]
    _expect(ex.check_eq14, lambda G, L, a: a * L + (1 - a) * G, "wrong branch")
    _expect(ex.check_eq14, lambda G, L, a: a * G + L, "(1 - alpha)")
    _expect(ex.check_eq14, lambda G, L, a: (a * G + (1 - a) * L).argmax(-1), "decision")
    _expect(ex.check_eq14, lambda G, L, a: 0.5 * G + 0.5 * L, "ignores alpha")


def test_best_alpha():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=60)
    P_G = rng.dirichlet(np.ones(4), size=60)
    P_L = rng.dirichlet(np.ones(4), size=60)
    P_G[np.arange(30), labels[:30]] += 2.0  # SGAER right on the first half
    P_G /= P_G.sum(1, keepdims=True)
    from staner_lab.training.fusion import alpha_sweep

    a, acc = alpha_sweep(P_G, P_L, labels)
    best = float(a[int(acc.argmax())])
    assert _run(ex.check_best_alpha, best, P_G, P_L, labels)[0]
    worst = float(a[int(acc.argmin())])
    _expect(ex.check_best_alpha, worst, "some alpha reaches", extra=(P_G, P_L, labels))
    _expect(ex.check_best_alpha, 50, "percentage", extra=(P_G, P_L, labels))
    _expect(ex.check_best_alpha, "high", "number", extra=(P_G, P_L, labels))
    ok, out = _run(ex.check_best_alpha, ..., P_G, P_L, labels)
    assert not ok and out.startswith(ex.NOT_DONE)


def test_accuracy():
    assert _run(ex.check_accuracy, lambda cm: np.trace(cm) / cm.sum())[0]

    def binary_mean(cm):
        total = cm.sum()
        tp = np.diag(cm)
        fp, fn = cm.sum(0) - tp, cm.sum(1) - tp
        return float(((tp + (total - tp - fp - fn)) / total).mean())

    _expect(ex.check_accuracy, binary_mean, "each class against the rest", "flatters")
    _expect(ex.check_accuracy, lambda cm: 100 * np.trace(cm) / cm.sum(), "percentage")
    _expect(ex.check_accuracy, lambda cm: np.trace(cm) / len(cm), "number of classes")

    def balanced(cm):
        rows = cm.sum(1)
        return float(np.nanmean(np.where(rows > 0, np.diag(cm) / np.maximum(rows, 1), np.nan)))

    _expect(ex.check_accuracy, balanced, "balanced accuracy")


# --- flips and the pointing game ------------------------------------------------------------------------


def test_flip_landmarks():
    def right(lm, width):
        out = lm.copy()
        out[:, 0] = width - 1 - lm[:, 0]
        return out[FLIP_PERMUTATION]

    assert _run(ex.check_flip_landmarks, right)[0]

    def no_perm(lm, width):
        out = lm.copy()
        out[:, 0] = width - 1 - lm[:, 0]
        return out

    _expect(ex.check_flip_landmarks, no_perm, "FLIP_PERMUTATION")

    def off_by_one(lm, width):
        out = lm.copy()
        out[:, 0] = width - lm[:, 0]
        return out[FLIP_PERMUTATION]

    _expect(ex.check_flip_landmarks, off_by_one, "off by one")


def test_pointing_game():
    def right(a, m):
        y, x = np.unravel_index(np.argmax(a), a.shape)
        return bool(m[y, x])

    def swapped(a, m):
        y, x = np.unravel_index(np.argmax(a), a.shape)
        return bool(m[x, y])

    def absolute(a, m):
        y, x = np.unravel_index(np.argmax(np.abs(a)), a.shape)
        return bool(m[y, x])

    assert _run(ex.check_pointing_game, right)[0]
    _expect(ex.check_pointing_game, swapped, "swapped")
    _expect(ex.check_pointing_game, absolute, "|value|")
    _expect(ex.check_pointing_game, lambda a, m: bool((a[m] > 0).any()), "single maximum")
    _expect(ex.check_pointing_game, lambda a, m: 1, "True or False")


# --- graded core work: modules, sequences, training, attributions ------------------------------------


def test_lstm_step_tanh_on_the_gates_is_named():
    def tanh_gates(x, h, c, W, R, b):
        N = h.shape[1]
        pre = x @ W.T + h @ R.T + b
        i, f, g, o = (pre[:, k * N:(k + 1) * N] for k in range(4))
        c_new = torch.tanh(f) * c + torch.tanh(i) * torch.tanh(g)
        return torch.tanh(o) * torch.tanh(c_new), c_new

    _expect(ex.check_lstm_step, tanh_gates, "tanh to the gates", "sigmoid")


def _sequence(mode="right", gate=torch.sigmoid, time_major=False, final="hc"):
    def fn(x, W, R, b, h0, c0):
        N = h0.shape[1]
        h, c = (torch.zeros_like(h0), torch.zeros_like(c0)) if mode == "zeros" else (h0, c0)
        hs = []
        for t in range(x.shape[1]):
            pre = x[:, t] @ W.T + (h0 if mode == "reset" else h) @ R.T + b
            i, f, g, o = (pre[:, k * N:(k + 1) * N] for k in range(4))
            c_prev = c0 if mode in ("reset", "reset_c") else c
            c = gate(f) * c_prev + gate(i) * torch.tanh(g)
            h_new = gate(o) * torch.tanh(c)
            hs.append(h if mode == "shifted" else h_new)
            h = h_new
        H = torch.stack(hs, dim=0 if time_major else 1)
        return H, ((c, h) if final == "ch" else (h, c))

    return fn


def test_lstm_sequence_correct_forms():
    assert _run(ex.check_lstm_sequence, _sequence())[0]

    def via_step(x, W, R, b, h0, c0):
        h, c, hs = h0, c0, []
        for t in range(x.shape[1]):
            s = Fn.lstm_step(x[:, t], h, c, W, R, b)
            h, c = s.h, s.c
            hs.append(h)
        return torch.stack(hs, 1), (h, c)

    assert _run(ex.check_lstm_sequence, via_step)[0]
    ok, out = _run(ex.check_lstm_sequence, _stub)
    assert not ok and out.startswith(ex.NOT_DONE)


@pytest.mark.parametrize("answer, keywords", [
    (_sequence("reset"), ["every step from (h_0, c_0)", "carry"]),
    (_sequence("reset_c"), ["c_t is not"]),
    (_sequence("zeros"), ["ignored h0 and c0"]),
    (_sequence("shifted"), ["shifted by one step"]),
    (_sequence(gate=torch.tanh), ["tanh to the gates"]),
    (_sequence(time_major=True), ["time-major", "batch_first"]),
    (_sequence(final="ch"), ["(c_T, h_T)"]),
])
def test_lstm_sequence_typical_mistakes(answer, keywords):
    _expect(ex.check_lstm_sequence, answer, *keywords)


def _attention_cls(padding=1, relu=True, sigmoid=True, plus=True, names=("conv3x3", "conv1x1"), order="MF",
                   norm="before_relu"):
    class MyAttention(torch.nn.Module):
        def __init__(self, channels, hidden):
            super().__init__()
            setattr(self, names[0], torch.nn.Conv2d(channels, hidden, 3, padding=padding))
            self.norm = torch.nn.BatchNorm2d(hidden)
            setattr(self, names[1], torch.nn.Conv2d(hidden, 1, 1))

        def forward(self, U):
            z = getattr(self, names[0])(U)
            z = self.norm(z) if norm == "before_relu" else z
            z = torch.relu(z) if relu else z
            z = self.norm(z) if norm == "after_relu" else z
            z = self.norm(z) * 0 + z if norm == "skipped" else z  # keeps the layer, ignores it
            z = getattr(self, names[1])(z)
            M = torch.sigmoid(z) if sigmoid else z
            F = (1 + M) * U if plus else M * U
            return (M, F) if order == "MF" else (F, M)

    return MyAttention


@pytest.fixture(scope="module")
def trained_attention():
    from staner_lab.data.shipped import shipped_checkpoint
    from staner_lab.training.checkpoint import load_model

    return load_model(shipped_checkpoint()).sgaer.attention


def test_attention_module_correct(trained_attention):
    ok, out = _run(ex.check_attention_module, _attention_cls(), trained_attention)
    assert ok and out.startswith(ex.OK), out

    class Stub(torch.nn.Module):
        def __init__(self, channels, hidden):
            super().__init__()
            raise NotImplementedError

    ok, out = _run(ex.check_attention_module, Stub, trained_attention)
    assert not ok and out.startswith(ex.NOT_DONE)


@pytest.mark.parametrize("kwargs, keywords", [
    ({"padding": 0}, ["padding=1"]),
    ({"relu": False}, ["ReLU between the two convolutions"]),
    ({"sigmoid": False}, ["raw score", "sigmoid"]),
    ({"plus": False}, ['"1 +"']),
    ({"names": ("conv_a", "conv_b")}, ["conv3x3.weight", "self.conv3x3"]),
    ({"order": "FM"}, ["(F, M)"]),
    ({"norm": "skipped"}, ["batch norm after the 3x3 convolution is missing"]),
    ({"norm": "after_relu"}, ["batch norm comes before the ReLU"]),
])
def test_attention_module_typical_mistakes(trained_attention, kwargs, keywords):
    _expect(ex.check_attention_module, _attention_cls(**kwargs), *keywords, extra=(trained_attention,))


def test_attention_module_must_be_a_module(trained_attention):
    _expect(ex.check_attention_module, lambda c, h: (lambda U: (U, U)), "nn.Module", extra=(trained_attention,))


def _ce(z, y):
    return torch.nn.functional.cross_entropy(z, y)


def test_eq15():
    assert _run(ex.check_eq15, lambda zG, zL, y: _ce(zG, y) + _ce(zL, y))[0]
    naive = lambda zG, zL, y: -(torch.softmax(zG, -1).gather(1, y[:, None]).log().mean()
                                + torch.softmax(zL, -1).gather(1, y[:, None]).log().mean())
    _expect(ex.check_eq15, naive, "log-softmax", "ln 0")
    _expect(ex.check_eq15, lambda zG, zL, y: (_ce(zG, y) + _ce(zL, y)) / 2, "averaged")
    _expect(ex.check_eq15, lambda zG, zL, y: _ce(zG, y), "only Loss_G")
    _expect(ex.check_eq15, lambda zG, zL, y: _ce(torch.softmax(zG, -1), y) + _ce(torch.softmax(zL, -1), y),
            "softmax twice")
    fused = lambda zG, zL, y: -(0.5 * torch.softmax(zG, -1) + 0.5 * torch.softmax(zL, -1)).gather(
        1, y[:, None]).log().mean()
    _expect(ex.check_eq15, fused, "fused P")


def _train_step(zero_grad="first", backward=True, step=True, loss="eq15", report="before"):
    from staner_lab import functional as F_

    def fn(model, optimizer, peak, regions, y):
        if zero_grad == "first":
            optimizer.zero_grad()
        out = model(peak, regions)
        value = {"eq15": lambda: model.loss(out, y), "fused": lambda: F_.cross_entropy(out.P, y),
                 "G": lambda: F_.cross_entropy_from_logits(out.logits_G, y)}[loss]()
        if backward:
            value.backward()
        if zero_grad == "middle":
            optimizer.zero_grad()
        if step:
            optimizer.step()
        if report == "after":
            with torch.no_grad():
                return model.loss(model(peak, regions), y).item()
        return value.item()

    return fn


def test_train_step_correct_and_not_done():
    ok, out = _run(ex.check_train_step, _train_step())
    assert ok and out.startswith(ex.OK), out
    ok, out = _run(ex.check_train_step, _stub)
    assert not ok and out.startswith(ex.NOT_DONE)


@pytest.mark.parametrize("kwargs, keywords", [
    ({"zero_grad": "never"}, ["zero_grad()", "added"]),
    ({"step": False}, ["optimizer.step()"]),
    ({"backward": False}, ["loss.backward()"]),
    ({"zero_grad": "middle"}, ["between backward and step"]),
    ({"loss": "fused"}, ["fused P", "Eq. 15"]),
    ({"loss": "G"}, ["TLER branch did not move", "Loss_T"]),
    ({"report": "after"}, ["before the update"]),
])
def test_train_step_typical_mistakes(kwargs, keywords):
    _expect(ex.check_train_step, _train_step(**kwargs), *keywords)


def _ig(rule="mid", factor="diff", reduce="mean", start="baseline"):
    def fn(f, x, baseline, steps):
        alphas = {"mid": (torch.arange(steps, dtype=x.dtype) + 0.5) / steps,
                  "right": torch.arange(1, steps + 1, dtype=x.dtype) / steps,
                  "left": torch.arange(steps, dtype=x.dtype) / steps,
                  "at_x": torch.ones(1, dtype=x.dtype)}[rule]
        s = baseline if start == "baseline" else torch.zeros_like(x)
        path = (s + alphas.view(-1, *[1] * (x.dim() - 1)) * (x - s)).detach().requires_grad_(True)
        f(path).sum().backward()
        grad = path.grad.mean(0, keepdim=True) if reduce == "mean" else path.grad.sum(0, keepdim=True)
        return {"diff": x - baseline, "x": x, "none": torch.ones_like(x), "neg": baseline - x}[factor] * grad

    return fn


def test_integrated_gradients_correct_rules():
    for rule in ("mid", "left", "right"):
        ok, out = _run(ex.check_integrated_gradients, _ig(rule))
        assert ok and "completeness" in out, out
    ok, out = _run(ex.check_integrated_gradients, _stub)
    assert not ok and out.startswith(ex.NOT_DONE)


@pytest.mark.parametrize("kwargs, keywords", [
    ({"factor": "none"}, ["multiply it by (x - x')"]),
    ({"factor": "x"}, ["multiplied by x", "(x - x')"]),
    ({"reduce": "sum"}, ["summed", "average"]),
    ({"factor": "neg"}, ["sign"]),
    ({"rule": "at_x"}, ["gradient at x only"]),
    ({"start": "zero"}, ["starts at 0", "baseline"]),
])
def test_integrated_gradients_typical_mistakes(kwargs, keywords):
    _expect(ex.check_integrated_gradients, _ig(**kwargs), *keywords)


@pytest.fixture(scope="module")
def c2_c3_data():
    from staner_lab.config import preset
    from staner_lab.data.shipped import load_shipped_samples
    from staner_lab.teaching.notebook import subset_subjects
    from staner_lab.training.fold import holdout_split

    samples, class_names = load_shipped_samples(preset("classroom").inputs)
    samples = subset_subjects(samples, 4)
    train_idx, test_idx = holdout_split(samples, 0.25, seed=0)
    return preset("classroom", class_names), [samples[i] for i in train_idx], [samples[i] for i in test_idx]


def _variant_trainer(cfg, tmp_path, swap=False, full=False, score="held_out"):
    from staner_lab.config import ablation_config
    from staner_lab.data.dataset import StanerDataset
    from staner_lab.models import STANER
    from staner_lab.teaching.notebook import predictions, short_schedule
    from staner_lab.training.loop import fit

    def fn(variant, train, held_out, epochs):
        torch.manual_seed(0)
        v = {"C2": "C3", "C3": "C2"}[variant] if swap else variant
        model = STANER(cfg if full else ablation_config(cfg, v))
        result = fit(model, StanerDataset(train), None, short_schedule(epochs), tmp_path / f"{variant}-{swap}-{full}-{score}",
                     progress=False)
        return result.model, predictions(result.model, held_out if score == "held_out" else train).accuracy

    return fn


def test_c2_c3(c2_c3_data, tmp_path):
    cfg, train, held_out = c2_c3_data
    ok, out = _run(ex.check_c2_c3, _variant_trainer(cfg, tmp_path), train, held_out)
    assert ok and out.startswith(ex.OK), out
    _expect(ex.check_c2_c3, _variant_trainer(cfg, tmp_path, swap=True), "swapped", "TLER alone",
            extra=(train, held_out))
    _expect(ex.check_c2_c3, _variant_trainer(cfg, tmp_path, full=True), "full STANER", "ablation_config",
            extra=(train, held_out))
    _expect(ex.check_c2_c3, _variant_trainer(cfg, tmp_path, score="train"), "training people",
            extra=(train, held_out))
    ok, out = _run(ex.check_c2_c3, _stub, train, held_out)
    assert not ok and out.startswith(ex.NOT_DONE)

    def untrained(variant, train_, held_out_, epochs):
        from staner_lab.config import ablation_config
        from staner_lab.models import STANER
        from staner_lab.teaching.notebook import predictions

        model = STANER(ablation_config(cfg, variant))
        return model, predictions(model, held_out_).accuracy

    _expect(ex.check_c2_c3, untrained, "never seen a training batch", "fit", extra=(train, held_out))


def test_no_hint_points_at_a_flat_index():
    import inspect

    from staner_lab.teaching.exercises import checking, fusion, interpretability, sgaer, tler, training

    for module in (checking, fusion, interpretability, sgaer, tler, training):
        assert "flat index" not in inspect.getsource(module), module.__name__
