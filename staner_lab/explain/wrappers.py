"""Forward wrappers, baselines and the shared plumbing of every attribution method.

captum calls ``f(*inputs, *additional_forward_args)`` with tensors only, so the regions dict is
flattened to ``(peak, eyes, nose, mouth)`` (``REGIONS`` order) and :func:`forward_fn` returns the
probabilities (B, K) of one branch: the fused P (Eq. 14), P_G (SGAER, Eq. 3) or P_L (TLER, Eq. 12).
:func:`make_baseline` builds the reference inputs: ``"black"`` (zeros), ``"neutral"`` (frame 0 of a
region sequence repeated over T) and ``"blur"`` (a Gaussian blur of the input).
:func:`attribution_context` (eval mode, gradients on) and the target helpers are shared by
:mod:`staner_lab.explain.peak` and :mod:`staner_lab.explain.regions`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as TF

from staner_lab import functional as Fn
from staner_lab.config import REGIONS
from staner_lab.models.staner import STANER

__all__ = [
    "BASELINES",
    "BaselineKind",
    "Branch",
    "attribution_context",
    "baseline_tensor",
    "flatten_inputs",
    "forward_fn",
    "gaussian_blur",
    "make_baseline",
    "select_target",
    "target_classes",
    "to_numpy",
    "unflatten_regions",
]

Branch = Literal["fused", "sgaer", "tler"]
BaselineKind = Literal["black", "neutral", "blur"]

#: Named baselines of :func:`make_baseline`.
BASELINES: tuple[str, ...] = ("black", "neutral", "blur")


def flatten_inputs(peak: Tensor | None, regions: Mapping[str, Tensor] | None) -> tuple[Tensor | None, ...]:
    """(peak, regions dict) -> (peak, eyes, nose, mouth), the tuple captum can take."""
    regions = regions or {}
    return (peak, *(regions.get(r) for r in REGIONS))


def unflatten_regions(*sequences: Tensor) -> dict[str, Tensor]:
    """(eyes, nose, mouth) in ``REGIONS`` order -> the regions dict of ``STANER.forward``."""
    if len(sequences) != len(REGIONS):
        raise ValueError(f"expected {len(REGIONS)} region sequences {REGIONS}, got {len(sequences)}")
    return dict(zip(REGIONS, sequences))


def _require_branch(model: STANER, branch: str) -> None:
    if branch not in ("fused", "sgaer", "tler"):
        raise ValueError(f"unknown branch {branch!r}; choose 'fused', 'sgaer' or 'tler'")
    if branch == "sgaer" and model.sgaer is None:
        raise ValueError(f"branch 'sgaer' needs an SGAER branch; this {model.config.variant} model has none")
    if branch == "tler" and model.tler is None:
        raise ValueError(f"branch 'tler' needs a TLER branch; this {model.config.variant} model has none")


def forward_fn(model: STANER, branch: Branch = "fused", alpha: float | None = None,
               regions_first: bool = False) -> Callable[..., Tensor]:
    """A captum-ready forward function returning the probabilities (B, K) of one branch.

    - ``"fused"``: P of Eq. 14 through ``STANER.forward`` (P_G or P_L alone for ablation models).
    - ``"sgaer"``: P_G = softmax(SGAER(peak)), Eq. 3; the region arguments are ignored (may be None).
    - ``"tler"``: P_L = softmax(TLER(regions)), Eq. 12; the peak argument is ignored (may be None).

    The branch wrappers call ``model.sgaer`` / ``model.tler`` directly so one branch does not pay
    for the other; they cast logits to float32 before the softmax exactly as ``STANER.forward``
    does, so P_G and P_L equal the fields of ``StanerOutput``.

    Args:
        model: a STANER (or ablation variant).
        branch: which probabilities to return.
        alpha: fusion weight for ``"fused"``; None uses ``model.config.alpha``.
        regions_first: argument order. False: ``f(peak, eyes, nose, mouth)`` (attribute to the
            peak, pass the regions as ``additional_forward_args``). True: ``f(eyes, nose, mouth,
            peak)`` (attribute to the regions, pass the peak as ``additional_forward_args``).

    Returns:
        A function of four tensors -> (B, K) probabilities (rows sum to 1).
    """
    _require_branch(model, branch)

    def probs(peak: Tensor | None, eyes: Tensor | None, nose: Tensor | None, mouth: Tensor | None) -> Tensor:
        if branch == "sgaer":
            return Fn.softmax(model.sgaer(peak).float())  # Eq. 3
        regions = unflatten_regions(eyes, nose, mouth)
        if branch == "tler":
            return Fn.softmax(model.tler(regions).float())  # Eq. 12
        return model(peak, regions, alpha).P  # Eq. 14

    if regions_first:
        return lambda eyes, nose, mouth, peak=None: probs(peak, eyes, nose, mouth)
    return lambda peak, eyes=None, nose=None, mouth=None: probs(peak, eyes, nose, mouth)


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur over the last two axes (replicate padding); any leading shape.

    Args:
        x: (..., h, w).
        sigma: standard deviation in pixels (0 returns a copy).

    Returns:
        (..., h, w), same dtype and device.
    """
    if sigma <= 0:
        return x.clone()
    h, w = x.shape[-2:]
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    flat = x.reshape(-1, 1, h, w)  # (N, 1, h, w)
    flat = TF.pad(flat, (radius, radius, radius, radius), mode="replicate")
    flat = TF.conv2d(flat, kernel.view(1, 1, 1, -1))  # along w
    flat = TF.conv2d(flat, kernel.view(1, 1, -1, 1))  # along h
    return flat.reshape(x.shape)


def make_baseline(x: Tensor, kind: BaselineKind = "black", sigma: float | None = None) -> Tensor:
    """The reference input that an attribution compares ``x`` with.

    - ``"black"``: zeros, a black face (captum's default baseline).
    - ``"neutral"``: for a region sequence (B, T, 1, h, w), frame 0 repeated over T. CK+-style
      sequences start neutral, so this removes the *motion* and keeps the person's appearance:
      attributions then answer "which change from the first frame mattered". Frame 0 itself gets
      exactly zero attribution under this baseline. Not defined for a single peak face.
    - ``"blur"``: ``gaussian_blur(x, sigma)``, default sigma = (short side) / 10 pixels: removes the
      fine detail that carries the expression (wrinkles, mouth corners), keeps the face's layout.

    Args:
        x: peak (B, 1, S, S) or a region sequence (B, T, 1, h, w).
        kind: one of ``BASELINES``.
        sigma: blur width in pixels for ``"blur"``.

    Returns:
        A tensor of x's shape, dtype and device (no gradient history).
    """
    x = x.detach()
    if kind == "black":
        return torch.zeros_like(x)
    if kind == "neutral":
        if x.dim() != 5:
            raise ValueError(f"baseline 'neutral' repeats frame 0 of a region sequence (B, T, 1, h, w); got "
                             f"shape {tuple(x.shape)}. For the peak face use 'black' or 'blur'.")
        return x[:, :1].expand_as(x).clone()  # (B, T, 1, h, w)
    if kind == "blur":
        return gaussian_blur(x, min(x.shape[-2:]) / 10 if sigma is None else sigma)
    raise ValueError(f"unknown baseline {kind!r}; choose one of {BASELINES} or pass a tensor")


def baseline_tensor(x: Tensor, baseline: str | Tensor) -> Tensor:
    """A baseline name of ``BASELINES`` or a tensor of x's shape -> the baseline tensor for ``x``."""
    if isinstance(baseline, Tensor):
        if baseline.shape != x.shape:
            raise ValueError(f"baseline shape {tuple(baseline.shape)} != input shape {tuple(x.shape)}")
        return baseline.detach().to(x)
    return make_baseline(x, baseline)  # type: ignore[arg-type]


@contextlib.contextmanager
def attribution_context(model: nn.Module) -> Iterator[None]:
    """Eval mode, gradients on, and cuDNN off on CUDA, for the duration of a ``with`` block.

    cuDNN's RNN backward refuses to run in eval mode ("cudnn RNN backward can only be called in
    training mode"), and training mode would switch dropout on; so on CUDA cuDNN is disabled
    instead (the LSTM then runs PyTorch's native kernels). Each module's ``training`` flag is
    restored on exit, even on error.
    """
    modes = [(m, m.training) for m in model.modules()]
    on_cuda = any(p.is_cuda for p in model.parameters())
    model.eval()
    try:
        with torch.enable_grad(), (torch.backends.cudnn.flags(enabled=False) if on_cuda
                                   else contextlib.nullcontext()):
            yield
    finally:
        for m, mode in modes:
            m.training = mode


def target_classes(f: Callable[..., Tensor], args: tuple, target: int | Sequence[int] | Tensor | None,
                   batch: int, device: torch.device) -> Tensor:
    """(B,) int64 target classes; None = the class the branch predicts."""
    if target is None:
        with torch.no_grad():
            return f(*args).argmax(dim=-1)
    t = torch.as_tensor(target, dtype=torch.int64, device=device).reshape(-1)
    return t.expand(batch).clone() if t.numel() == 1 else t


def select_target(p: Tensor, target: Tensor) -> Tensor:
    """(B, K), (B,) -> (B,) the target probability of each example."""
    return p.gather(1, target[:, None])[:, 0]


def to_numpy(t: Tensor) -> np.ndarray:
    """A tensor -> a detached numpy array on the CPU."""
    return t.detach().cpu().numpy()
