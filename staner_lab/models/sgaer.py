"""SGAER: front end -> attention -> end convolution -> classifier (Fig. 2, Eq. 1-4)."""

from __future__ import annotations

from torch import Tensor, nn

from staner_lab import functional as Fn
from staner_lab.config import SGAERConfig
from staner_lab.models.attention import AttentionModule
from staner_lab.models.vgg import VGGFrontEnd
from staner_lab.outputs import SGAERIntermediates

__all__ = ["SGAER", "EndConv2d"]


class EndConv2d(nn.Module):
    """SGAER's end convolution (size not given in the paper): two 3x3 convs with a pool between,
    then global average pooling to a vector. (B, C, H, W) -> F_G (B, E).

    ``config.end_norm`` (docs/model.md, "SGAER leaving the uniform prediction"): "conv" puts a batch norm after
    each conv, "none" has none (the earlier branch, whose class scores stay alike for all faces for
    several epochs at the start of training)."""

    def __init__(self, in_channels: int, config: SGAERConfig) -> None:
        super().__init__()
        out_channels, norm = config.end_channels, config.end_norm  # values checked by SGAERConfig
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(out_channels) if norm == "conv" else nn.Identity()
        self.bn2 = nn.BatchNorm2d(out_channels) if norm == "conv" else nn.Identity()
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU(inplace=True)
        for conv in (self.conv1, self.conv2):  # He init, as in the front end (see VGGFrontEnd)
            nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    def forward(self, F: Tensor) -> Tensor:
        x = self.pool(self.relu(self.bn1(self.conv1(F))))  # (B, E, H/2, W/2)
        x = self.relu(self.bn2(self.conv2(x)))
        return x.mean(dim=(2, 3))  # (B, E)


class SGAER(nn.Module):
    """Spatial-global attention branch on the peak face I_p.

    Args:
        config: front end, attention (kind "none" gives ablation C1) and end-conv sizes.
        num_classes: K.

    Shapes:
        peak (B, 1, S, S) -> logits (B, K).
    """

    def __init__(self, config: SGAERConfig, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.frontend = VGGFrontEnd(config.frontend)
        C = self.frontend.out_channels
        self.attention = AttentionModule(C, config.attention) if config.attention.kind != "none" else None
        self.end_conv = EndConv2d(C, config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.end_channels, num_classes)

    def forward(self, peak: Tensor) -> Tensor:
        U = self.frontend(peak)
        F = self.attention(U)[1] if self.attention is not None else U
        return self._scores(F)

    def _scores(self, F: Tensor) -> Tensor:
        """End convolution, dropout, classifier: attended features F -> class scores (B, K)."""
        return self.classifier(self.dropout(self.end_conv(F)))

    def logits_with_map(self, U: Tensor, M: Tensor) -> Tensor:
        """The class scores SGAER gives front-end features U under an attention map M of your choice
        (Eq. 2, end convolution, classifier): a counterfactual, e.g. a flat M, or one that points
        elsewhere. U (B, C, h, w); M shaped as the module's (B, 1, h, w), or (B, C, 1, 1) for the
        channel reading. -> (B, K)."""
        if self.attention is None:
            raise ValueError("this SGAER has no attention module (ablation C1/C4): there is no M to replace")
        return self._scores(self.attention.attend(U, M))

    def forward_intermediates(self, peak: Tensor) -> SGAERIntermediates:
        U = self.frontend(peak)  # (B, C, S/8, S/8)
        M, F = self.attention(U) if self.attention is not None else (None, U)  # Eq. 1-2
        F_G = self.end_conv(F)  # (B, E)
        logits = self.classifier(self.dropout(F_G))  # (B, K)
        return SGAERIntermediates(U=U, M=M, F=F, F_G=F_G, logits=logits, P_G=Fn.softmax(logits.float()))

