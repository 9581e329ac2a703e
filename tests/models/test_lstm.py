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
        for field in ("f", "i", "g", "o", "c", "h"):
            torch.testing.assert_close(getattr(s, field), getattr(full, field)[:, t], rtol=0, atol=0, msg=field)
    # the streamed state is nn.LSTM's state after the whole sequence
    _, (h_n, c_n) = block.lstm(x)
    torch.testing.assert_close(state[0], h_n[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(state[1], c_n[0], rtol=0, atol=1e-12)


def test_exposed_gates_match_gates_recomputed_from_x_h_and_the_weights():
    """f, i, g, o, c recomputed from x_t, h_{t-1} and nn.LSTM's own parameters (torch's documented
    formula, rows [i; f; g; o]) equal what the explicit path exposes, at every step."""
    block, x = _pair()
    full = block.run_explicit(x)
    lstm = block.lstm
    N = block.hidden_size
    B, T, _ = x.shape
    h_prev = torch.zeros(B, N, dtype=x.dtype)
    c_prev = torch.zeros(B, N, dtype=x.dtype)
    for t in range(T):
        pre = x[:, t] @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h_prev @ lstm.weight_hh_l0.T + lstm.bias_hh_l0
        i, f, g, o = (pre[:, k * N:(k + 1) * N] for k in range(4))
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c_prev + i * g
        h = o * torch.tanh(c)
        for name, value in (("i", i), ("f", f), ("g", g), ("o", o), ("c", c), ("h", h)):
            torch.testing.assert_close(getattr(full, name)[:, t], value, rtol=0, atol=1e-12,
                                       msg=f"{name} at t={t}")
        # the gates differ from one another, so a mislabelled gate could not pass the loop above
        assert (i - f).abs().max() > 1e-3 and (o - f).abs().max() > 1e-3 and (i - o).abs().max() > 1e-3
        h_prev, c_prev = h, c
    assert h_prev.abs().max() > 1e-3  # the recurrent term R h_{t-1} was exercised


def test_difference_input_reads_each_frame_against_the_first():
    """CLSTMConfig.difference_input: a second CNN channel holds frame t minus frame 0 (both normalised).
    Frame 0 then shapes the features of every later frame; without the option it shapes only its own."""
    torch.manual_seed(0)
    seq = torch.rand(2, 5, 1, 12, 20, dtype=torch.double)
    other_first = seq.clone()
    other_first[:, 0] = torch.rand(2, 1, 12, 20, dtype=torch.double)
    for difference in (False, True):
        block = CLSTM(CLSTMConfig(cnn_channels=(4, 8), hidden_size=16, difference_input=difference), (12, 20))
        block = block.double().eval()
        assert block.cnn.layers[0].in_channels == (2 if difference else 1)
        x, moved = block.frame_features(seq), block.frame_features(other_first)
        later_changed = (x[:, 1:] - moved[:, 1:]).abs().max().item()
        assert (later_changed > 1e-3) if difference else (later_changed == 0), (difference, later_changed)
        # the default reference is the sequence's first frame; a stream passes it explicitly
        torch.testing.assert_close(block.frame_features(seq[:, 3:], seq[:, 0]), x[:, 3:], rtol=0, atol=1e-12)


def test_training_runs_the_cnn_once_per_distinct_frame():
    """A short sequence's held first frame (InputConfig.short_sequences) goes through the region CNN once
    in training; its features are repeated, and batch norm sees each distinct frame once. In eval every
    frame runs, so inference and attributions are per frame."""
    torch.manual_seed(0)
    block = CLSTM(CLSTMConfig(cnn_channels=(4, 8), hidden_size=16, difference_input=False), (12, 20)).double()
    held = torch.rand(4, 1, 12, 20, dtype=torch.double)[[0, 0, 0, 1, 2, 3]]  # [0,0,0,1,2,3]: hold_first
    seq = torch.stack([held, torch.rand(6, 1, 12, 20, dtype=torch.double)])  # the second has no repeats
    seen = []
    block.cnn.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[0]))
    x = block.train().frame_features(seq)
    assert seen == [4 + 6]
    distinct = torch.cat([held[2:], seq[1]])
    block.cnn.train()
    torch.testing.assert_close(x, block.cnn(distinct)[[0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]].reshape(2, 6, -1))
    x.sum().backward()  # the gradient reaches the CNN through the repeated rows
    assert block.cnn.layers[0].weight.grad.abs().sum() > 0
    block.eval().frame_features(seq)
    assert seen[-1] == 12
