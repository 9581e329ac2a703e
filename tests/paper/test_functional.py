"""Hand-computed values for the paper's equations (staner_lab.functional)."""

import math

import pytest
import torch

from staner_lab import functional as Fn


def test_eq1_attention_map_is_sigmoid_in_unit_interval():
    scores = torch.tensor([[[[0.0, math.log(3.0)], [-100.0, 100.0]]]])
    M = Fn.attention_map(scores)
    assert M.shape == (1, 1, 2, 2)
    # sigma(0) = 1/2, sigma(ln 3) = 3/4, saturation at the ends
    torch.testing.assert_close(M, torch.tensor([[[[0.5, 0.75], [0.0, 1.0]]]]), atol=1e-6, rtol=0)


def test_eq2_apply_attention_spatial_and_channel_broadcast():
    U = torch.arange(8.0).reshape(1, 2, 2, 2)  # channels [[0,1],[2,3]] and [[4,5],[6,7]]
    M_spatial = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]]])  # (1,1,2,2)
    F = Fn.apply_attention(U, M_spatial)
    expected = torch.tensor([[[[0.0, 1.5], [4.0, 3.75]], [[4.0, 7.5], [12.0, 8.75]]]])
    torch.testing.assert_close(F, expected)
    M_channel = torch.tensor([0.0, 1.0]).reshape(1, 2, 1, 1)
    torch.testing.assert_close(Fn.apply_attention(U, M_channel)[0, 1], 2 * U[0, 1])
    torch.testing.assert_close(Fn.apply_attention(U, M_channel)[0, 0], U[0, 0])


def test_spatial_softmax_map_has_mean_one_and_makes_positions_compete():
    scores = torch.tensor([[[[0.0, 0.0], [0.0, math.log(5.0)]]]])  # exp: 1, 1, 1, 5 -> softmax /8
    M = Fn.spatial_softmax_map(scores)
    torch.testing.assert_close(M, torch.tensor([[[[0.5, 0.5], [0.5, 2.5]]]]))
    raised = scores.clone()
    raised[..., 0, 0] = 3.0  # raising one position lowers every other one (sigmoid would not)
    assert (Fn.spatial_softmax_map(raised)[..., 1, 1] < M[..., 1, 1]).all()
    torch.testing.assert_close(Fn.spatial_softmax_map(torch.zeros(2, 1, 3, 4)), torch.ones(2, 1, 3, 4))


def test_eq2_residual_replaces_the_one():
    U, M = torch.full((1, 2, 1, 2), 2.0), torch.tensor([[[[0.0, 0.5]]]])
    torch.testing.assert_close(Fn.residual_attention(U, M, 0.0), torch.tensor([[[[0.0, 1.0]], [[0.0, 1.0]]]]))
    torch.testing.assert_close(Fn.apply_attention(U, M), Fn.residual_attention(U, M, 1.0))


def test_the_paper_and_the_kits_additions_are_apart():
    """Every public function of functional.py cites its equation, except the additions, which say
    "Not in the paper", come after every equation, and are listed in ADDITIONS."""
    import inspect

    functions = [(name, f) for name, f in inspect.getmembers(Fn, inspect.isfunction)
                 if f.__module__ == Fn.__name__ and not name.startswith("_")]
    additions = {name for name, f in functions if f.__doc__.startswith("Not in the paper")}
    assert additions == set(Fn.ADDITIONS)
    for name, f in functions:
        if name not in additions:
            assert "Eq." in f.__doc__, f"{name} cites no equation"
    first_line = {name: inspect.getsourcelines(f)[1] for name, f in functions}
    assert max(first_line[n] for n in first_line if n not in additions) < min(first_line[n] for n in additions)


def test_eq3_softmax_hand_values_and_overflow():
    x = torch.tensor([[0.0, math.log(2.0), math.log(5.0)]])  # exp -> 1, 2, 5; sum 8
    torch.testing.assert_close(Fn.softmax(x), torch.tensor([[1 / 8, 2 / 8, 5 / 8]]))
    big = torch.tensor([[1000.0, 1000.0]])
    torch.testing.assert_close(Fn.softmax(big), torch.tensor([[0.5, 0.5]]))
    torch.testing.assert_close(Fn.softmax(x), torch.softmax(x, -1))


def test_eq4_cross_entropy_hand_value_and_logit_form():
    P = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    y = torch.tensor([1, 0])
    expected = -(math.log(0.75) + math.log(0.5)) / 2
    assert Fn.cross_entropy(P, y).item() == pytest.approx(expected, rel=1e-6)
    one_hot = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert Fn.cross_entropy(P, one_hot).item() == pytest.approx(expected, rel=1e-6)
    logits = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 3, 6, 2, 2])
    torch.testing.assert_close(Fn.cross_entropy_from_logits(logits, labels),
                               torch.nn.functional.cross_entropy(logits, labels))
    torch.testing.assert_close(Fn.cross_entropy_from_logits(logits, labels),
                               Fn.cross_entropy(Fn.softmax(logits), labels))


def test_eq5_to_10_one_step_by_hand():
    # One unit (N = 1), one input (D = 1); rows [i, f, g, o]. Weights chosen so the
    # pre-activations are simple: x = 1, h_prev = 0, c_prev = 2.
    W = torch.tensor([[0.0], [math.log(3.0)], [0.0], [0.0]])  # i: 0, f: ln 3, g: 0, o: 0 (before bias)
    R = torch.zeros(4, 1)
    b = torch.tensor([0.0, 0.0, math.atanh(0.5), math.log(1 / 3)])  # g pre = atanh(.5); o pre = ln(1/3)
    s = Fn.lstm_step(torch.tensor([[1.0]]), torch.zeros(1, 1), torch.tensor([[2.0]]), W, R, b)
    assert s.i.item() == pytest.approx(0.5)  # sigma(0)
    assert s.f.item() == pytest.approx(0.75)  # sigma(ln 3)
    assert s.g.item() == pytest.approx(0.5)  # tanh(atanh .5)
    assert s.o.item() == pytest.approx(0.25)  # sigma(ln 1/3)
    assert s.c.item() == pytest.approx(0.75 * 2 + 0.5 * 0.5)  # Eq. 8 = 1.75
    assert s.h.item() == pytest.approx(0.25 * math.tanh(1.75))  # Eq. 10


def _lstm_step_by_hand(x, h_prev, c_prev, W, R, b):
    """Eq. 5-10 element by element in Python floats; rows of W, R, b in blocks [i; f; g; o]."""
    B, D = x.shape
    N = h_prev.shape[1]

    def pre(block, bi, n):  # W_* x_t + R_* h_{t-1} + b_*, one unit
        row = block * N + n
        return (sum(W[row, d].item() * x[bi, d].item() for d in range(D))
                + sum(R[row, m].item() * h_prev[bi, m].item() for m in range(N)) + b[row].item())

    def sig(v):
        return 1.0 / (1.0 + math.exp(-v))

    out = {k: torch.zeros(B, N, dtype=torch.double) for k in "figoch"}
    for bi in range(B):
        for n in range(N):
            i = sig(pre(0, bi, n))  # Eq. 6
            f = sig(pre(1, bi, n))  # Eq. 5
            g = math.tanh(pre(2, bi, n))  # Eq. 7
            o = sig(pre(3, bi, n))  # Eq. 9
            c = f * c_prev[bi, n].item() + i * g  # Eq. 8
            h = o * math.tanh(c)  # Eq. 10
            for k, v in zip("figoch", (f, i, g, o, c, h)):
                out[k][bi, n] = v
    return out


def test_eq5_to_10_random_weights_by_hand_and_against_lstm_cell():
    # Nonzero random W, R, b, h_prev, c_prev: an ignored recurrent term, a swapped gate row block or
    # mislabelled gate in the result would change the numbers below.
    gen = torch.Generator().manual_seed(0)
    B, D, N = 2, 3, 4
    x = torch.randn(B, D, dtype=torch.double, generator=gen)
    h_prev = torch.randn(B, N, dtype=torch.double, generator=gen)
    c_prev = torch.randn(B, N, dtype=torch.double, generator=gen)
    W = torch.randn(4 * N, D, dtype=torch.double, generator=gen)
    R = torch.randn(4 * N, N, dtype=torch.double, generator=gen)
    b_ih = torch.randn(4 * N, dtype=torch.double, generator=gen)
    b_hh = torch.randn(4 * N, dtype=torch.double, generator=gen)
    s = Fn.lstm_step(x, h_prev, c_prev, W, R, b_ih + b_hh)

    hand = _lstm_step_by_hand(x, h_prev, c_prev, W, R, b_ih + b_hh)
    for k in "figoch":
        torch.testing.assert_close(getattr(s, k), hand[k], rtol=0, atol=1e-12, msg=k)

    cell = torch.nn.LSTMCell(D, N).double()  # torch's row order is i, f, g, o as well
    with torch.no_grad():
        cell.weight_ih.copy_(W)
        cell.weight_hh.copy_(R)
        cell.bias_ih.copy_(b_ih)
        cell.bias_hh.copy_(b_hh)
        h_ref, c_ref = cell(x, (h_prev, c_prev))
    torch.testing.assert_close(s.h, h_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(s.c, c_ref, rtol=0, atol=1e-12)

    # the data are not degenerate: dropping R, or swapping the i and f rows, changes h and c
    no_R = Fn.lstm_step(x, h_prev, c_prev, W, torch.zeros_like(R), b_ih + b_hh)
    assert (no_R.h - h_ref).abs().max() > 1e-3 and (no_R.c - c_ref).abs().max() > 1e-3
    perm = torch.cat([torch.arange(N, 2 * N), torch.arange(0, N), torch.arange(2 * N, 4 * N)])
    swapped = Fn.lstm_step(x, h_prev, c_prev, W[perm], R[perm], (b_ih + b_hh)[perm])
    assert (swapped.c - c_ref).abs().max() > 1e-3
    for a, b in (("i", "f"), ("g", "o"), ("f", "o")):
        assert (hand[a] - hand[b]).abs().max() > 1e-3, (a, b)  # mislabelled gates would be caught


def test_eq11_concatenation_order_is_eyes_nose_mouth():
    e, n, m = torch.zeros(2, 3, 4), torch.ones(2, 3, 4), torch.full((2, 3, 4), 2.0)
    Fp = Fn.concatenate_regions([e, n, m])
    assert Fp.shape == (2, 3, 12)
    assert Fp[0, 0].tolist() == [0.0] * 4 + [1.0] * 4 + [2.0] * 4


def test_eq14_fusion_hand_value_and_decision():
    P_G = torch.tensor([[0.6, 0.4]])
    P_L = torch.tensor([[0.2, 0.8]])
    torch.testing.assert_close(Fn.fuse_probabilities(P_G, P_L, 0.5), torch.tensor([[0.4, 0.6]]))
    torch.testing.assert_close(Fn.fuse_probabilities(P_G, P_L, 0.75), torch.tensor([[0.5, 0.5]]))
    assert Fn.decision(Fn.fuse_probabilities(P_G, P_L, 1.0)).item() == 0
    assert Fn.decision(Fn.fuse_probabilities(P_G, P_L, 0.0)).item() == 1


def test_eq15_joint_loss_is_the_sum():
    assert Fn.joint_loss(torch.tensor(0.7), torch.tensor(1.2)).item() == pytest.approx(1.9)


def test_eq15_joint_loss_is_eq4_plus_eq13_on_logits_and_labels():
    """Loss = Loss_G (Eq. 4) + Loss_T (Eq. 13), each checked against torch's cross-entropy."""
    gen = torch.Generator().manual_seed(3)
    logits_G = torch.randn(6, 7, dtype=torch.double, generator=gen) * 3
    logits_L = torch.randn(6, 7, dtype=torch.double, generator=gen) * 3
    y = torch.tensor([0, 6, 3, 3, 1, 5])
    ref_G = torch.nn.functional.cross_entropy(logits_G, y)
    ref_T = torch.nn.functional.cross_entropy(logits_L, y)
    # by hand: -mean_b ln P(y_b), with P = softmax
    hand_G = -sum(math.log(torch.softmax(logits_G[b], 0)[y[b]].item()) for b in range(6)) / 6
    assert ref_G.item() == pytest.approx(hand_G, rel=1e-12)
    loss_G = Fn.cross_entropy(Fn.softmax(logits_G), y)  # Eq. 4 on P_G
    loss_T = Fn.cross_entropy(Fn.softmax(logits_L), y)  # Eq. 13 on P_L
    torch.testing.assert_close(loss_G, ref_G)
    torch.testing.assert_close(loss_T, ref_T)
    assert abs(ref_G.item() - ref_T.item()) > 0.1  # the two terms differ: a mean or a max would not pass
    torch.testing.assert_close(Fn.joint_loss(loss_G, loss_T), ref_G + ref_T)
    torch.testing.assert_close(
        Fn.joint_loss(Fn.cross_entropy_from_logits(logits_G, y), Fn.cross_entropy_from_logits(logits_L, y)),
        ref_G + ref_T)
    # unweighted: each branch receives exactly its own loss's gradient
    lg, ll = logits_G.clone().requires_grad_(True), logits_L.clone().requires_grad_(True)
    Fn.joint_loss(Fn.cross_entropy_from_logits(lg, y), Fn.cross_entropy_from_logits(ll, y)).backward()
    torch.testing.assert_close(lg.grad, (torch.softmax(logits_G, -1) - torch.nn.functional.one_hot(y, 7)) / 6)
    torch.testing.assert_close(ll.grad, (torch.softmax(logits_L, -1) - torch.nn.functional.one_hot(y, 7)) / 6)


def test_eq15_joint_loss_on_real_model_outputs():
    from staner_lab.config import preset
    from staner_lab.models import STANER

    torch.manual_seed(0)
    model = STANER(preset("classroom")).eval()
    with torch.no_grad():
        out = model(*model.example_inputs(4, generator=torch.Generator().manual_seed(1)))
    y = torch.tensor([0, 1, 2, 3])
    ref_G = torch.nn.functional.cross_entropy(out.logits_G.double(), y)
    ref_T = torch.nn.functional.cross_entropy(out.logits_L.double(), y)
    loss_G = Fn.cross_entropy(out.P_G.double(), y)  # Eq. 4 on the model's P_G
    loss_T = Fn.cross_entropy(out.P_L.double(), y)  # Eq. 13 on the model's P_L
    torch.testing.assert_close(loss_G, ref_G, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss_T, ref_T, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(Fn.joint_loss(loss_G, loss_T), ref_G + ref_T, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model.loss(out, y).double(), ref_G + ref_T, rtol=1e-5, atol=1e-6)


def test_eq16_accuracy_multiclass_and_binary_form():
    assert Fn.accuracy(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2])).item() == pytest.approx(0.75)
    assert Fn.binary_accuracy(3, 5, 1, 1) == pytest.approx(0.8)


def test_flat_attention_map_keeps_each_examples_mean_and_shape():
    for shape in ((3, 1, 4, 5), (3, 6, 1, 1)):  # spatial map, channel gate
        M = torch.rand(shape, generator=torch.Generator().manual_seed(0))
        flat = Fn.flat_attention_map(M)
        assert flat.shape == M.shape
        assert torch.allclose(flat.flatten(1).std(dim=1), torch.zeros(3))
        assert torch.allclose(flat.flatten(1).mean(dim=1), M.flatten(1).mean(dim=1))
