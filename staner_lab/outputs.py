"""Frozen dataclasses returned by the models.

``forward`` returns a :class:`StanerOutput` (logits and probabilities only).
``forward_intermediates`` returns a :class:`StanerIntermediates` with every named quantity of the
paper, computed on the ordinary code path (no hooks). Branches missing from an ablation variant
are ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = [
    "RegionIntermediates",
    "SGAERIntermediates",
    "StanerIntermediates",
    "StanerOutput",
    "TLERIntermediates",
]


@dataclass(frozen=True)
class StanerOutput:
    """Result of ``STANER.forward``.

    Attributes:
        logits_G, P_G: (B, K) SGAER logits and Eq. 3 probabilities, or None without SGAER.
        logits_L, P_L: (B, K) TLER logits and Eq. 12 probabilities, or None without TLER.
        P: (B, K) fused probabilities, Eq. 14 inside the argmax (equal to the only branch's
            probabilities when one branch is missing).
        alpha: the fusion weight used.
    """

    logits_G: Tensor | None
    P_G: Tensor | None
    logits_L: Tensor | None
    P_L: Tensor | None
    P: Tensor
    alpha: float

    @property
    def prediction(self) -> Tensor:
        """O of Eq. 14: (B,) predicted class indices."""
        return self.P.argmax(dim=-1)


@dataclass(frozen=True)
class SGAERIntermediates:
    """SGAER on the peak face (Eq. 1-3).

    Attributes:
        U: (B, C, H, W) front-end (VGG conv1_1..conv4_3) features.
        M: (B, 1, H, W) spatial attention map, or (B, C, 1, 1) channel gate; None without attention.
        F: (B, C, H, W) attended features (1 + M) (x) U; equal to U without attention.
        F_G: (B, E) spatial appearance features after the end convolution and pooling.
        logits: (B, K) classifier outputs x.
        P_G: (B, K) softmax(x), Eq. 3.
    """

    U: Tensor
    M: Tensor | None
    F: Tensor
    F_G: Tensor
    logits: Tensor
    P_G: Tensor


@dataclass(frozen=True)
class RegionIntermediates:
    """One region's C-LSTM (Eq. 5-10), every time step.

    Attributes:
        features: (B, T, D) per-frame CNN features x_t (flattened feature maps).
        f, i, g, o: (B, T, N) forget gate, input gate, candidate cell, output gate.
        c, h: (B, T, N) cell state c_t and hidden state h_t.
    """

    features: Tensor
    f: Tensor
    i: Tensor
    g: Tensor
    o: Tensor
    c: Tensor
    h: Tensor


@dataclass(frozen=True)
class TLERIntermediates:
    """TLER on the region sequences (Eq. 11-12).

    Attributes:
        regions: {"eyes", "nose", "mouth"} -> RegionIntermediates; F_e, F_n, F_m are their ``h``.
        F_prime: (B, T, 3N) concatenation F' of Eq. 11.
        F_L: (B, E) high-level local feature after the end convolution (at the last time step).
        logits: (B, K); P_L: (B, K) softmax, Eq. 12.
    """

    regions: dict[str, RegionIntermediates]
    F_prime: Tensor
    F_L: Tensor
    logits: Tensor
    P_L: Tensor


@dataclass(frozen=True)
class StanerIntermediates:
    """Everything STANER computes for a batch; ``P`` is the fused Eq. 14 probability."""

    sgaer: SGAERIntermediates | None
    tler: TLERIntermediates | None
    P: Tensor
    alpha: float

    # Shortcuts named after the paper's symbols.
    @property
    def U(self) -> Tensor | None:
        return self.sgaer.U if self.sgaer else None

    @property
    def M(self) -> Tensor | None:
        return self.sgaer.M if self.sgaer else None

    @property
    def F(self) -> Tensor | None:
        return self.sgaer.F if self.sgaer else None

    @property
    def F_G(self) -> Tensor | None:
        return self.sgaer.F_G if self.sgaer else None

    @property
    def P_G(self) -> Tensor | None:
        return self.sgaer.P_G if self.sgaer else None

    @property
    def F_prime(self) -> Tensor | None:
        return self.tler.F_prime if self.tler else None

    @property
    def F_L(self) -> Tensor | None:
        return self.tler.F_L if self.tler else None

    @property
    def P_L(self) -> Tensor | None:
        return self.tler.P_L if self.tler else None

    @property
    def prediction(self) -> Tensor:
        return self.P.argmax(dim=-1)

    def output(self) -> StanerOutput:
        """The :class:`StanerOutput` that ``forward`` gives for the same inputs (for ``STANER.loss``)."""
        return StanerOutput(logits_G=self.sgaer.logits if self.sgaer else None, P_G=self.P_G,
                            logits_L=self.tler.logits if self.tler else None, P_L=self.P_L, P=self.P,
                            alpha=self.alpha)
