"""The explicit Eq. 5-10 cell equals torch.nn.LSTM for the same weights: outputs and gradients."""

import torch

from staner_lab.config import CLSTMConfig
from staner_lab.models.clstm import CLSTM


def _pair(seed=0):
    torch.manual_seed(seed)
    block = CLSTM(CLSTMConfig(cnn_channels=(4, 8), hidden_size=16), size=(12, 20)).double()
    x = torch.randn(3, 7, block.cnn.out_dim, dtype=torch.double, generator=torch.Generator().manual_seed(1))
    return block, x


def test_explicit_cell_equals_nn_lstm_outputs():
    block, x = _pair()
    fused, (h_n, c_n) = block.lstm(x)
    explicit = block.run_explicit(x)
    torch.testing.assert_close(explicit.h, fused, rtol=0, atol=1e-12)
    torch.testing.assert_close(explicit.h[:, -1], h_n[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(explicit.c[:, -1], c_n[0], rtol=0, atol=1e-12)


def test_explicit_cell_equals_nn_lstm_gradients():
    block, x = _pair()
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    weights = torch.randn(3, 7, 16, dtype=torch.double)
    (block.lstm(x1)[0] * weights).sum().backward()
    g_fused = {n: p.grad.clone() for n, p in block.lstm.named_parameters()}
    block.zero_grad()
    (block.run_explicit(x2).h * weights).sum().backward()
    for n, p in block.lstm.named_parameters():
        torch.testing.assert_close(p.grad, g_fused[n], rtol=0, atol=1e-10, msg=n)
    torch.testing.assert_close(x2.grad, x1.grad, rtol=0, atol=1e-10)


def test_config_path_switch_gives_same_block_output():
    block, _ = _pair()
    seq = torch.rand(2, 5, 1, 12, 20, dtype=torch.double)
    fused = block(seq)
    explicit = CLSTM(CLSTMConfig(cnn_channels=(4, 8), hidden_size=16, lstm_path="explicit"), (12, 20)).double()
    explicit.load_state_dict(block.state_dict())
    torch.testing.assert_close(explicit(seq), fused, rtol=0, atol=1e-12)


def test_step_by_step_matches_sequence():
    block, x = _pair()
    full = block.run_explicit(x)
    state = None
    for t in range(x.shape[1]):
        s = block.step(x[:, t], state)
        state = (s.h, s.c)
        torch.testing.assert_close(s.h, full.h[:, t])
    for gate in ("f", "i", "g", "o"):
        v = getattr(full, gate)
        lo, hi = (-1, 1) if gate == "g" else (0, 1)
        assert v.min() >= lo and v.max() <= hi
