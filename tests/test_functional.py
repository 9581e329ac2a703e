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


def test_eq16_accuracy_multiclass_and_binary_form():
    assert Fn.accuracy(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2])).item() == pytest.approx(0.75)
    assert Fn.binary_accuracy(3, 5, 1, 1) == pytest.approx(0.8)
