"""The C-LSTM block of TLER: a small CNN per frame, flattened to a vector x_t, then an LSTM.

The LSTM has one set of parameters (a ``torch.nn.LSTM``) and two ways to run it:

- fused: ``torch.nn.LSTM`` itself, fast, for training;
- explicit: Eq. 5-10 step by step through :func:`staner_lab.functional.lstm_step`, recording
  every gate, for inspection and for streaming one frame at a time.

``tests/models/test_lstm.py`` proves that both give the same outputs and gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from staner_lab import functional as Fn
from staner_lab.config import CLSTMConfig
from staner_lab.outputs import RegionIntermediates

__all__ = ["CLSTM", "LSTMState", "RegionCNN"]

LSTMState = tuple[Tensor, Tensor]  # (h, c), each (B, N)


class RegionCNN(nn.Module):
    """Shallow per-frame features: (3x3 conv -> [batch norm] -> ReLU -> 2x2 max-pool) per entry of
    ``config.cnn_channels``, after an input normalisation (``config.input_norm``). With
    ``config.difference_input`` a second channel holds the normalised frame minus the normalised
    reference frame (the sequence's first).

    Shapes: (B, 1, h, w) [and a normalised reference (B, 1, h, w)] -> (B, D) with
    D = channels[-1] * (h / 2^n) * (w / 2^n).
    """

    def __init__(self, config: CLSTMConfig, size: tuple[int, int]) -> None:
        super().__init__()
        channels, batch_norm, difference_input = config.cnn_channels, config.batch_norm, config.difference_input
        layers: list[nn.Module] = []
        in_ch = 2 if difference_input else 1
        h, w = size
        for c in channels:
            layers.append(nn.Conv2d(in_ch, c, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c))
            layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            in_ch, h, w = c, h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(f"region size {size} is too small for {len(channels)} pooling stages")
        self.input_norm = config.input_norm
        self.difference_input = difference_input
        self.layers = nn.Sequential(*layers)
        self.out_shape = (in_ch, h, w)
        self.out_dim = in_ch * h * w
        if config.he_init:
            for m in self.layers:
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                    nn.init.zeros_(m.bias)

    def normalise(self, x: Tensor) -> Tensor:
        """(B, 1, h, w) in [0, 1] -> the CNN's input."""
        if self.input_norm == "frame":
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            std = x.std(dim=(1, 2, 3), keepdim=True)
            return (x - mean) / (std + 0.02)  # + 0.02: a flat crop stays flat instead of blowing up noise
        return x

    def forward(self, x: Tensor, reference_z: Tensor | None = None) -> Tensor:
        """``reference_z``: the reference frame of each row, already normalised (with ``difference_input``)."""
        z = self.normalise(x)
        if self.difference_input:
            if reference_z is None:
                raise ValueError("this region CNN reads the change since a reference frame: pass reference_z")
            z = torch.cat([z, z - reference_z], dim=1)
        return self.layers(z).flatten(1)  # (B, D)


class CLSTM(nn.Module):
    """One region's C-LSTM. Input (B, T, 1, h, w); output F_r = h_1..h_T (B, T, N)."""

    def __init__(self, config: CLSTMConfig, size: tuple[int, int]) -> None:
        super().__init__()
        self.config = config
        self.size = tuple(size)
        self.cnn = RegionCNN(config, self.size)
        self.lstm = nn.LSTM(self.cnn.out_dim, config.hidden_size, batch_first=True)
        if config.forget_bias:
            N = config.hidden_size
            with torch.no_grad():  # rows [i; f; g; o]; Eq. 5 sees b_ih + b_hh, so set one of them
                self.lstm.bias_ih_l0[N:2 * N].fill_(config.forget_bias)
                self.lstm.bias_hh_l0[N:2 * N].zero_()

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size

    def frame_features(self, seq: Tensor, reference: Tensor | None = None) -> Tensor:
        """(B, T, 1, h, w) -> x (B, T, D): the CNN on every frame.

        ``reference`` (B, 1, h, w): the frame the change is measured from with
        ``difference_input`` (default: the sequence's first, ``seq[:, 0]``; a stream passes its own).

        In training, a frame equal to the one before it in its sequence (the held first frame of a
        short sequence, InputConfig.short_sequences) goes through the CNN once and its features are
        repeated: half the CNN's work for 4 frames in T = 8, and batch norm counts each distinct
        frame once instead of the held one T - n + 1 times. Outside training every frame runs.
        """
        B, T = seq.shape[:2]
        ref = None
        if self.config.difference_input:  # normalised once per sequence, not once per frame
            ref = self.cnn.normalise(seq[:, 0] if reference is None else reference)
            ref = ref[:, None].expand(B, T, *seq.shape[2:])
        if self.training and T > 1:
            distinct = torch.ones(B, T, dtype=torch.bool, device=seq.device)
            distinct[:, 1:] = (seq[:, 1:] != seq[:, :-1]).flatten(2).any(dim=2)
            which = torch.cumsum(distinct.reshape(-1), 0) - 1  # row of each frame's features
            x = self.cnn(seq[distinct], None if ref is None else ref[distinct])
            return x[which].reshape(B, T, -1)
        frames = seq.reshape(B * T, *seq.shape[2:])
        return self.cnn(frames, None if ref is None else ref.reshape(B * T, *seq.shape[2:])).reshape(B, T, -1)

    def lstm_weights(self) -> tuple[Tensor, Tensor, Tensor]:
        """(W (4N, D), R (4N, N), b (4N,)) in nn.LSTM's [i; f; g; o] row order."""
        lstm = self.lstm
        return lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0

    def step(self, x_t: Tensor, state: LSTMState | None = None) -> Fn.LSTMStep:
        """One explicit LSTM step (Eq. 5-10) on features x_t (B, D); used by streaming."""
        if state is None:
            zeros = x_t.new_zeros(x_t.shape[0], self.hidden_size)
            state = (zeros, zeros)
        W, R, b = self.lstm_weights()
        return Fn.lstm_step(x_t, state[0], state[1], W, R, b)

    def run_explicit(self, x: Tensor) -> Fn.LSTMStep:
        """Eq. 5-10 over all steps; every field of the result is stacked to (B, T, N)."""
        W, R, b = self.lstm_weights()
        h = c = x.new_zeros(x.shape[0], self.hidden_size)
        steps = []
        for t in range(x.shape[1]):
            s = Fn.lstm_step(x[:, t], h, c, W, R, b)
            h, c = s.h, s.c
            steps.append(s)
        return Fn.LSTMStep(*(torch.stack(field, dim=1) for field in zip(*steps)))

    def forward(self, seq: Tensor) -> Tensor:
        x = self.frame_features(seq)
        if self.config.lstm_path == "fused":
            return self.lstm(x)[0]  # (B, T, N)
        return self.run_explicit(x).h

    def forward_intermediates(self, seq: Tensor) -> RegionIntermediates:
        x = self.frame_features(seq)
        s = self.run_explicit(x)
        return RegionIntermediates(features=x, f=s.f, i=s.i, g=s.g, o=s.o, c=s.c, h=s.h)
