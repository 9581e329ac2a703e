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
