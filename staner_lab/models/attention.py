"""The attention module of SGAER (Fig. 3, Eq. 1-2).

Eq. 1 reads M = sigma{Conv[w; AvgPool(U)]} and calls AvgPool "global average pooling", but Fig. 3
draws a 3x3 convolution followed by a 1x1 convolution "that integrates multi-channel information
into a single channel": a spatial map. Both readings are here (``AttentionConfig.kind``):

- ``SpatialAttentionScores`` (default): 3x3 conv (-> batch norm) -> ReLU -> 1x1 conv to one channel;
  M (B, 1, H, W).
- ``ChannelAttentionScores``: global average pool -> 1x1 conv -> ReLU -> 1x1 conv; M (B, C, 1, 1).

Either way the sigmoid (Eq. 1) and F = (1 + M) (x) U (Eq. 2) come from ``staner_lab.functional``.
"""

from __future__ import annotations

from torch import Tensor, nn

from staner_lab import functional as Fn
from staner_lab.config import AttentionConfig

__all__ = ["AttentionModule", "ChannelAttentionScores", "SpatialAttentionScores"]


class SpatialAttentionScores(nn.Module):
    """Fig. 3: (B, C, H, W) -> scores (B, 1, H, W), before the sigmoid."""

    def __init__(self, channels: int, config: AttentionConfig) -> None:
        super().__init__()
        hidden = config.hidden_channels
        self.conv3x3 = nn.Conv2d(channels, hidden, kernel_size=3, padding=1)  # wider receptive field
        self.norm = nn.BatchNorm2d(hidden) if config.batch_norm else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.conv1x1 = nn.Conv2d(hidden, 1, kernel_size=1)  # channels -> one map
        if config.he_init:  # as the front end: activations keep their scale, so scores spread over positions
            nn.init.kaiming_normal_(self.conv3x3.weight, mode="fan_in", nonlinearity="relu")
            nn.init.kaiming_normal_(self.conv1x1.weight, mode="fan_in", nonlinearity="linear")
            nn.init.zeros_(self.conv3x3.bias)
            nn.init.zeros_(self.conv1x1.bias)

    def forward(self, U: Tensor) -> Tensor:
        return self.conv1x1(self.relu(self.norm(self.conv3x3(U))))


class ChannelAttentionScores(nn.Module):
    """Eq. 1 literally: global average pool, then convolutions; (B, C, H, W) -> (B, C, 1, 1)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv_down = nn.Conv2d(channels, hidden, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)
        self.conv_up = nn.Conv2d(hidden, channels, kernel_size=1)

    def forward(self, U: Tensor) -> Tensor:
        return self.conv_up(self.relu(self.conv_down(self.pool(U))))


class AttentionModule(nn.Module):
    """M = sigma(scores(U)) (Eq. 1); F = (1 + M) (x) U (Eq. 2).

    >>> import torch
    >>> att = AttentionModule(8, AttentionConfig(hidden_channels=4))
    >>> M, F = att(torch.ones(2, 8, 5, 5))
    >>> M.shape, F.shape
    (torch.Size([2, 1, 5, 5]), torch.Size([2, 8, 5, 5]))
    """

    def __init__(self, channels: int, config: AttentionConfig) -> None:
        super().__init__()
        self.kind = config.kind
        self.normalise, self.residual = config.normalise, config.residual
        if config.normalise == "softmax" and config.kind != "spatial":
            raise ValueError("AttentionConfig.normalise='softmax' makes positions compete; it needs kind "
                             f"'spatial', got {config.kind!r}")
        if config.kind == "spatial":
            self.scores = SpatialAttentionScores(channels, config)
        elif config.kind == "channel":
            self.scores = ChannelAttentionScores(channels, config.hidden_channels)
        else:
            raise ValueError(f"AttentionModule needs kind 'spatial' or 'channel', got {config.kind!r}")

    def forward(self, U: Tensor) -> tuple[Tensor, Tensor]:
        scores = self.scores(U)
        M = Fn.attention_map(scores) if self.normalise == "sigmoid" else Fn.spatial_softmax_map(scores)  # Eq. 1
        return M, self.attend(U, M)

    def attend(self, U: Tensor, M: Tensor) -> Tensor:
        """F from U and M: Eq. 2, or with another residual than 1 (AttentionConfig.residual; not the paper)."""
        return Fn.apply_attention(U, M) if self.residual == 1 else Fn.residual_attention(U, M, self.residual)
