"""STANER: SGAER on the peak face + TLER on the region sequences, decision fusion (Eq. 14) and the
joint loss (Eq. 15). Ablation variants C1-C4 are configurations (``config.ablation_config``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from staner_lab import functional as Fn
from staner_lab.config import REGIONS, StanerConfig
from staner_lab.models.sgaer import SGAER
from staner_lab.models.tler import TLER
from staner_lab.outputs import StanerIntermediates, StanerOutput

__all__ = ["STANER"]


class STANER(nn.Module):
    """The two-branch network.

    Args:
        config: the whole model; ``config.sgaer`` or ``config.tler`` may be None (ablations).

    Inputs (a batch from ``staner_lab.data``):
        peak: (B, 1, S, S) aligned grayscale peak face in [0, 1] (ignored without SGAER).
        regions: {"eyes", "nose", "mouth"} -> (B, T, 1, h, w) in [0, 1] (ignored without TLER).

    >>> from staner_lab.config import preset
    >>> model = STANER(preset("classroom")).eval()
    >>> peak, regions = model.example_inputs(batch_size=2)
    >>> model(peak, regions).P.shape
    torch.Size([2, 7])
    """

    def __init__(self, config: StanerConfig) -> None:
        super().__init__()
        self.config = config
        K = config.num_classes
        # Each branch is initialised from a random stream of its own, both streams drawn from the
        # global one: with the same torch.manual_seed, STANER's TLER starts with C2's weights and its
        # SGAER with C3's, so an ablation compares the branches, not two draws of their initial weights.
        sgaer_seed, tler_seed = torch.randint(0, 2**62, (2,)).tolist()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sgaer_seed)
            self.sgaer = SGAER(config.sgaer, K) if config.sgaer is not None else None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(tler_seed)
            self.tler = TLER(config.tler, config.inputs.region_sizes, K) if config.tler is not None else None

    # --- inputs ---------------------------------------------------------------------------------

    def example_inputs(self, batch_size: int = 1, frames: int | None = None,
                       generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Random inputs of the configured shapes (for demos, shape checks and benchmarks)."""
        inp = self.config.inputs
        T = frames or inp.frames
        device = next(self.parameters()).device
        peak = torch.rand(batch_size, 1, inp.face_size, inp.face_size, generator=generator).to(device)
        regions = {r: torch.rand(batch_size, T, 1, *inp.region_sizes[r], generator=generator).to(device)
                   for r in REGIONS}
        return peak, regions

    def check_inputs(self, peak: Tensor | None, regions: dict[str, Tensor] | None) -> None:
        """Raise a ValueError that names the input and the expected shape."""
        inp = self.config.inputs
        if self.sgaer is not None:
            S = inp.face_size
            if peak is None or peak.dim() != 4 or tuple(peak.shape[1:]) != (1, S, S):
                got = None if peak is None else tuple(peak.shape)
                raise ValueError(f"peak face: expected (B, 1, {S}, {S}) for preset "
                                 f"{self.config.preset!r}, got {got}")
        if self.tler is not None:
            if regions is None or set(regions) != set(REGIONS):
                raise ValueError(f"regions: expected keys {list(REGIONS)}, got {None if regions is None else list(regions)}")
            for r in REGIONS:
                h, w = inp.region_sizes[r]
                x = regions[r]
                if x.dim() != 5 or x.shape[2] != 1 or tuple(x.shape[3:]) != (h, w) or x.shape[1] < 1:
                    raise ValueError(f"regions[{r!r}]: expected (B, T, 1, {h}, {w}) with T >= 1, "
                                     f"got {tuple(x.shape)}")

    # --- forward --------------------------------------------------------------------------------

    def _alpha(self, alpha: float | None) -> float:
        if alpha is not None and not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1] (Eq. 14 weighs P_G by alpha and P_L by 1 - alpha), "
                             f"got {alpha}")
        if self.sgaer is None:
            return 0.0
        if self.tler is None:
            return 1.0
        return self.config.alpha if alpha is None else float(alpha)

    def forward(self, peak: Tensor | None, regions: dict[str, Tensor] | None,
                alpha: float | None = None) -> StanerOutput:
        """Logits and probabilities of both branches and the fused P (Eq. 14)."""
        self.check_inputs(peak, regions)
        a = self._alpha(alpha)
        logits_G = self.sgaer(peak) if self.sgaer is not None else None
        logits_L = self.tler(regions) if self.tler is not None else None
        P_G = Fn.softmax(logits_G.float()) if logits_G is not None else None  # Eq. 3
        P_L = Fn.softmax(logits_L.float()) if logits_L is not None else None  # Eq. 12
        return StanerOutput(logits_G=logits_G, P_G=P_G, logits_L=logits_L, P_L=P_L,
                            P=self.fuse(P_G, P_L, a), alpha=a)

    def forward_intermediates(self, peak: Tensor | None, regions: dict[str, Tensor] | None,
                              alpha: float | None = None) -> StanerIntermediates:
        """Every named quantity of the paper (U, M, F, F_G, P_G, gates, h_t, c_t, F', F_L, P_L, P).

        Uses the explicit LSTM path to record the gates; no hook is registered on any module.
        """
        self.check_inputs(peak, regions)
        a = self._alpha(alpha)
        g = self.sgaer.forward_intermediates(peak) if self.sgaer is not None else None
        t = self.tler.forward_intermediates(regions) if self.tler is not None else None
        P = self.fuse(g.P_G if g else None, t.P_L if t else None, a)
        return StanerIntermediates(sgaer=g, tler=t, P=P, alpha=a)

    @staticmethod
    def fuse(P_G: Tensor | None, P_L: Tensor | None, alpha: float) -> Tensor:
        """Eq. 14 inside the argmax; a missing branch leaves the other's probabilities."""
        if P_G is None:
            return P_L
        if P_L is None:
            return P_G
        return Fn.fuse_probabilities(P_G, P_L, alpha)

    def loss(self, output: StanerOutput, labels: Tensor, class_weights: Tensor | None = None) -> Tensor:
        """Eq. 15: Loss = Loss_G + Loss_T (Eq. 4 + Eq. 13); one term when a branch is missing.

        ``class_weights`` (K,): weigh each sample by its class (``TrainConfig.class_balance="loss"``).
        """
        def branch_loss(logits: Tensor) -> Tensor:  # Eq. 4 / 13, or class-weighted (not the paper)
            if class_weights is None:
                return Fn.cross_entropy_from_logits(logits, labels)
            return Fn.class_weighted_cross_entropy(logits, labels, class_weights)

        terms = [branch_loss(logits) for logits in (output.logits_G, output.logits_L) if logits is not None]
        return Fn.joint_loss(*terms) if len(terms) == 2 else terms[0]
