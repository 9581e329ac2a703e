"""TLER: one C-LSTM per region -> F' (Eq. 11) -> end convolution -> classifier (Fig. 4, Eq. 12-13)."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as TF

from staner_lab import functional as Fn
from staner_lab.config import REGIONS, TLERConfig
from staner_lab.models.clstm import CLSTM
from staner_lab.outputs import TLERIntermediates

__all__ = ["TLER", "CausalEndConv1d"]


class CausalEndConv1d(nn.Module):
    """TLER's end convolution over time (size not given in the paper).

    A 1-D convolution over F' (B, T, 3N) that only looks back (left padding k-1), so the output at
    step t depends on h_{t-k+1..t}: a stream can compute it frame by frame. ReLU after.
    Shapes: (B, T, 3N) -> (B, T, E).
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(in_features, out_features, kernel_size)

    def forward(self, F_prime: Tensor) -> Tensor:
        x = F_prime.transpose(1, 2)  # (B, 3N, T)
        x = TF.pad(x, (self.kernel_size - 1, 0), mode="replicate")  # causal: repeat the first step
        return TF.relu(self.conv(x)).transpose(1, 2)  # (B, T, E)


class TLER(nn.Module):
    """Temporal-local branch on the eyes, nose and mouth sequences.

    Args:
        config: C-LSTM and end-conv sizes.
        region_sizes: (h, w) per region.
        num_classes: K.

    Shapes:
        regions {"eyes", "nose", "mouth"}: (B, T, 1, h, w) each -> logits (B, K).
    """

    def __init__(self, config: TLERConfig, region_sizes: dict[str, tuple[int, int]], num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.clstm = nn.ModuleDict({r: CLSTM(config.clstm, region_sizes[r]) for r in REGIONS})
        self.end_conv = CausalEndConv1d(len(REGIONS) * config.clstm.hidden_size, config.end_channels,
                                        config.end_kernel)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.end_channels, num_classes)

    def head(self, F_prime: Tensor) -> tuple[Tensor, Tensor]:
        """F' (B, T, 3N) -> (F_L (B, E) at the last step, logits (B, K))."""
        F_L = self.end_conv(F_prime)[:, -1]
        return F_L, self.classifier(self.dropout(F_L))

    def forward(self, regions: dict[str, Tensor]) -> Tensor:
        F_prime = Fn.concatenate_regions([self.clstm[r](regions[r]) for r in REGIONS])  # Eq. 11
        return self.head(F_prime)[1]

    def forward_intermediates(self, regions: dict[str, Tensor]) -> TLERIntermediates:
        per_region = {r: self.clstm[r].forward_intermediates(regions[r]) for r in REGIONS}
        F_prime = Fn.concatenate_regions([per_region[r].h for r in REGIONS])  # (B, T, 3N), Eq. 11
        F_L, logits = self.head(F_prime)
        return TLERIntermediates(regions=per_region, F_prime=F_prime, F_L=F_L, logits=logits,
                                 P_L=Fn.softmax(logits.float()))
