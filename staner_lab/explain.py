"""Attributions for STANER: which pixels of the peak face, which region and which frame drove P.

Four parts, one section each:

1. **Forward wrappers and baselines.** captum calls ``f(*inputs, *additional_forward_args)`` with
   tensors only, so the regions dict is flattened to ``(peak, eyes, nose, mouth)`` (``REGIONS``
   order) and :func:`forward_fn` returns the probabilities (B, K) of one branch: the fused P
   (Eq. 14), P_G (SGAER, Eq. 3) or P_L (TLER, Eq. 12). :func:`make_baseline` builds the reference
   inputs: ``"black"`` (zeros), ``"neutral"`` (frame 0 of a region sequence repeated over T) and
   ``"blur"`` (a Gaussian blur of the input).
2. **Peak-face methods** (:func:`peak_attribution`): Integrated Gradients, Saliency, Grad-CAM on a
   named layer, Occlusion -> a (B, S, S) map.
3. **TLER methods**: Integrated Gradients summed per region and per frame (:func:`region_attribution`,
   (B, 3, T)) and region ablation (:func:`region_ablation`, each region's share of the drop).
4. **Comparison with attention and ground truth**: Spearman rank correlation between the learned
   attention M and a map (:func:`attention_agreement`), the pointing game and the attribution mass
   inside the synthetic data's AU masks, after :func:`align_mask` has warped them into the aligned
   peak-face frame.

Every function puts the model in eval mode for the call and restores each module's mode after it,
computes gradients with ``torch.autograd.grad`` (no parameter ``.grad`` is touched), and leaves no
hook behind. All target outputs are *probabilities*, not logits (see :func:`forward_fn`).

>>> from staner_lab.config import preset
>>> from staner_lab.models import STANER
>>> model = STANER(preset("classroom"))
>>> peak, regions = model.example_inputs(batch_size=2)
>>> peak_attribution(model, peak, regions, "saliency", branch="sgaer").map.shape
(2, 64, 64)
>>> region_attribution(model, peak, regions, n_steps=8).map.shape
(2, 3, 8)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as TF

from . import functional as Fn
from .config import REGIONS
from .data.align import alignment_matrix
from .models.staner import STANER

__all__ = [
    "BASELINES",
    "PEAK_METHODS",
    "PeakAttribution",
    "RegionAblation",
    "RegionAttribution",
    "align_mask",
    "attention_agreement",
    "attribution_context",
    "capture_activation",
    "flatten_inputs",
    "forward_fn",
    "gaussian_blur",
    "load_au_masks",
    "make_baseline",
    "mass_inside",
    "peak_attribution",
    "pointing_game",
    "rankdata",
    "region_ablation",
    "region_attribution",
    "resolve_layer",
    "spearman",
    "unflatten_regions",
    "union_mask",
    "upsampled_attention",
]

Branch = Literal["fused", "sgaer", "tler"]
PeakMethod = Literal["integrated_gradients", "saliency", "grad_cam", "occlusion"]
BaselineKind = Literal["black", "neutral", "blur"]

#: The peak-face methods of :func:`peak_attribution`.
PEAK_METHODS: tuple[str, ...] = ("integrated_gradients", "saliency", "grad_cam", "occlusion")
#: Named baselines of :func:`make_baseline`.
BASELINES: tuple[str, ...] = ("black", "neutral", "blur")


# --- 1. forward wrappers, baselines, context -------------------------------------------------------


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


def _baseline_tensor(x: Tensor, baseline: str | Tensor) -> Tensor:
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


def _targets(f: Callable[..., Tensor], args: tuple, target: int | Sequence[int] | Tensor | None,
             batch: int, device: torch.device) -> Tensor:
    """(B,) int64 target classes; None = the class the branch predicts."""
    if target is None:
        with torch.no_grad():
            return f(*args).argmax(dim=-1)
    t = torch.as_tensor(target, dtype=torch.int64, device=device).reshape(-1)
    return t.expand(batch).clone() if t.numel() == 1 else t


def _select(p: Tensor, target: Tensor) -> Tensor:
    """(B, K), (B,) -> (B,) the target probability of each example."""
    return p.gather(1, target[:, None])[:, 0]


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


# --- 2. peak-face methods ---------------------------------------------------------------------------


@contextlib.contextmanager
def capture_activation(module: nn.Module, output_index: int | None = None) -> Iterator[list[Tensor]]:
    """Record a module's output in every forward pass inside the ``with`` block.

    The forward hook appends the output (or ``output[output_index]`` for a module returning a
    tuple) to the yielded list and hands the rest of the network a *clone*, so that a following
    in-place op (``ReLU(inplace=True)``) cannot overwrite the recorded values (captum does the
    same). The hook is removed on exit, even when the block raises.

    >>> conv = nn.Conv2d(1, 2, 3)
    >>> with capture_activation(conv) as acts:
    ...     _ = conv(torch.zeros(1, 1, 5, 5))
    >>> acts[0].shape, len(conv._forward_hooks)
    (torch.Size([1, 2, 3, 3]), 0)
    """
    captured: list[Tensor] = []

    def hook(_module: nn.Module, _args: tuple, out):
        if output_index is None:
            captured.append(out)
            return out.clone()
        captured.append(out[output_index])
        parts = list(out)
        parts[output_index] = out[output_index].clone()
        return out._make(parts) if hasattr(out, "_make") else type(out)(parts)  # tuple or namedtuple

    handle = module.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def resolve_layer(model: STANER, layer: str) -> tuple[nn.Module, int | None]:
    """A Grad-CAM layer name -> (module, index into its tuple output or None).

    - ``"attention"``: the attention module's output F = (1 + M) (x) U (Eq. 2), (B, C, S/8, S/8).
    - ``"end_conv"``: SGAER's end convolution, its last conv ``sgaer.end_conv.conv2``, before its
      ReLU, (B, E, S/16, S/16) (the module's own output is the pooled vector F_G: no map).
    - any dotted module name of the model, e.g. ``"sgaer.frontend.features.21"`` (conv4_3 of the
      paper preset) or ``"sgaer.end_conv.conv1"``.
    """
    if layer == "attention":
        if model.sgaer is None or model.sgaer.attention is None:
            raise ValueError("layer 'attention' needs SGAER with an attention module; this model has none "
                             "(variant C1/C2/C4). Use 'end_conv' or a dotted module name.")
        return model.sgaer.attention, 1
    if layer == "end_conv":
        if model.sgaer is None:
            raise ValueError("layer 'end_conv' needs an SGAER branch; this model has none")
        return model.sgaer.end_conv.conv2, None
    try:
        return model.get_submodule(layer), None
    except AttributeError as exc:
        names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and n.startswith("sgaer")]
        raise ValueError(f"no layer {layer!r} in the model; use 'attention', 'end_conv' or a dotted name "
                         f"such as {names[-3:]}") from exc


@dataclass(frozen=True)
class PeakAttribution:
    """Result of :func:`peak_attribution`.

    Attributes:
        map: (B, S, S) float numpy map over the peak face. Signed for Integrated Gradients and
            Occlusion, non-negative for Saliency and (with ReLU) Grad-CAM.
        method: one of ``PEAK_METHODS``.
        branch: "fused" or "sgaer".
        target: (B,) int64 numpy, the class whose probability was explained.
        raw: captum's attribution tensor (detached, on the model's device): (B, 1, S, S) for the
            input methods; for Grad-CAM the signed CAM at the layer's resolution (B, 1, h, w),
            before ReLU and upsampling.
        layer: the Grad-CAM layer name, else None.
        baseline: the baseline name ("black", "blur", "tensor") of IG and Occlusion, else None.
        delta: (B,) numpy completeness error of IG, sum(attributions) - (f(x) - f(baseline)), else None.
    """

    map: np.ndarray
    method: str
    branch: str
    target: np.ndarray
    raw: Tensor
    layer: str | None = None
    baseline: str | None = None
    delta: np.ndarray | None = None

    @property
    def signed(self) -> bool:
        """True when the map can be negative (use a diverging colour map)."""
        return self.method in ("integrated_gradients", "occlusion")


def _grad_cam(f: Callable[..., Tensor], model: STANER, peak: Tensor, extra: tuple, target: Tensor,
              layer: str) -> Tensor:
    """Signed CAM (B, 1, h, w) at ``layer``: sum_c w_c A_c with w_c the spatial mean of dy/dA_c."""
    module, index = resolve_layer(model, layer)
    x = peak.detach().requires_grad_(True)  # so every activation downstream is in the graph
    with capture_activation(module, index) as acts:
        y = _select(f(x, *extra), target)  # (B,)
    if len(acts) != 1:
        raise ValueError(f"layer {layer!r} ran {len(acts)} times in one forward pass; Grad-CAM needs a "
                         "layer that runs once on the peak face (not one inside TLER or a shared ReLU)")
    A = acts[0]
    if A.dim() != 4 or A.shape[0] != peak.shape[0]:
        raise ValueError(f"layer {layer!r} gives {tuple(A.shape)}; Grad-CAM needs a (B, C, h, w) map of "
                         "the peak face (an SGAER conv layer)")
    (grad,) = torch.autograd.grad(y.sum(), A, allow_unused=True)
    if grad is None:
        raise ValueError(f"the {target.tolist()} probability does not depend on layer {layer!r}")
    weights = grad.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1): w_c, Grad-CAM's alpha_c
    return (weights * A).sum(dim=1, keepdim=True).detach()  # (B, 1, h, w)


def peak_attribution(
    model: STANER,
    peak: Tensor,
    regions: Mapping[str, Tensor] | None = None,
    method: PeakMethod = "integrated_gradients",
    target: int | Sequence[int] | Tensor | None = None,
    branch: Literal["fused", "sgaer"] = "fused",
    layer: str = "attention",
    baseline: str | Tensor = "blur",
    n_steps: int = 128,
    alpha: float | None = None,
    internal_batch_size: int | None = 64,
    window: int | None = None,
    stride: int | None = None,
    relu: bool = True,
) -> PeakAttribution:
    """Which pixels of the peak face I_p raised the target probability.

    y = P[target] of ``branch`` (a probability: Eq. 14 fuses probabilities, so the fused output
    has no logit; the papers below use pre-softmax scores, which saturate less). With the fused
    branch the regions are held fixed, so every map here is alpha times the SGAER map
    (the gradient of alpha P_G + (1 - alpha) P_L with respect to the peak is alpha dP_G).

    - ``"integrated_gradients"`` (Sundararajan et al. 2017, captum ``IntegratedGradients``)::

          IG(x) = (x - x') * integral_0^1 dy(x' + t (x - x'))/dx dt
                ~ (x - x') * sum_k w_k dy(x' + t_k (x - x'))/dx      (Gauss-Legendre, n_steps nodes)

      Completeness: sum IG = y(x) - y(x'); ``delta`` is the quadrature error. Baseline x' is
      ``baseline``: "blur" by default, "black" (captum's default) on request. Why blur: IG then
      asks which fine detail (wrinkles, mouth and eye shape) raised y, and the path stays near
      real faces. From black the path crosses many more ReLU kinks, so the quadrature error is
      several times larger (on the shipped checkpoint at 128 steps: median |delta| 0.004 with
      blur, 0.023 with black, in probability units; docs/interpretability.md). Any baseline
      that the model already scores like the face (y(x') ~ y(x)) leaves IG nothing to share.
    - ``"saliency"`` (Simonyan et al. 2014, captum ``Saliency``): |dy/dx|.
    - ``"grad_cam"`` (Selvaraju et al. 2017) on ``layer`` (see :func:`resolve_layer`), A (B, C, h, w)::

          w_c = mean_ij dy/dA_cij,   L = ReLU(sum_c w_c A_c)

      computed here with a hook in :func:`capture_activation` (removed after the call), then
      upsampled bilinearly to S x S. Departures from captum's ``LayerGradCam``: ReLU on by
      default (as in the paper; ``relu=False`` keeps the sign), bilinear rather than nearest
      upsampling.
    - ``"occlusion"`` (Zeiler & Fergus 2014, captum ``Occlusion``): a window x window patch is
      replaced by the baseline, slid with ``stride``; each pixel gets the mean drop
      y(x) - y(x with the patch replaced) over the windows that cover it. Defaults: window S/8,
      stride window/2. A "blur" baseline blurs the patch (the default), "black" blacks it out
      (captum's default).

    Args:
        model: a STANER with an SGAER branch (any device; any training mode, restored after).
        peak: (B, 1, S, S) in [0, 1].
        regions: {"eyes", "nose", "mouth"}: (B, T, 1, h, w); needed for ``branch="fused"`` when
            the model has TLER, ignored for "sgaer".
        method: one of ``PEAK_METHODS``.
        target: class index, one per example, or None for the class ``branch`` predicts.
        branch: "fused" (P) or "sgaer" (P_G).
        layer: Grad-CAM layer.
        baseline: "blur", "black" or a (B, 1, S, S) tensor (IG and Occlusion).
        n_steps: IG quadrature nodes. ReLU kinks make the error shrink slowly and unevenly,
            most from a black baseline: check ``delta`` against y(x) - y(x') (numbers in
            docs/interpretability.md).
        alpha: fusion weight; None = ``model.config.alpha``.
        internal_batch_size: IG examples per forward pass (memory bound).
        window, stride: Occlusion patch size and step, pixels.
        relu: Grad-CAM's final ReLU.

    Returns:
        :class:`PeakAttribution` with ``map`` (B, S, S).
    """
    if branch not in ("fused", "sgaer"):
        raise ValueError(f"peak attributions explain 'fused' or 'sgaer', got branch {branch!r}")
    if model.sgaer is None:
        raise ValueError(f"peak attributions need an SGAER branch; this {model.config.variant} model has none")
    if method not in PEAK_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {PEAK_METHODS}")
    from captum.attr import IntegratedGradients, Occlusion, Saliency

    B, S = peak.shape[0], peak.shape[-1]
    f = forward_fn(model, branch, alpha)
    extra = tuple(flatten_inputs(None, regions)[1:]) if branch == "fused" else ()
    if branch == "fused" and model.tler is not None and any(r is None for r in extra):
        raise ValueError(f"branch 'fused' needs the region sequences {REGIONS}; pass regions= or use "
                         "branch='sgaer'")
    delta = None
    base_name = None
    with attribution_context(model):
        x = peak.detach().requires_grad_(True)  # a new leaf: the caller's tensor is left alone
        tgt = _targets(f, (x, *extra), target, B, x.device)
        if method == "grad_cam":
            raw = _grad_cam(f, model, x, extra, tgt, layer)
            cam = TF.interpolate(raw, size=(S, S), mode="bilinear", align_corners=False)
            attr_map = (cam.clamp(min=0) if relu else cam)[:, 0]
        else:
            if method != "saliency":
                base = _baseline_tensor(x, baseline)
                base_name = baseline if isinstance(baseline, str) else "tensor"
            if method == "integrated_gradients":
                raw, d = IntegratedGradients(f).attribute(
                    x, baselines=base, target=tgt, additional_forward_args=extra or None, n_steps=n_steps,
                    internal_batch_size=internal_batch_size, return_convergence_delta=True)
                delta = _np(d)
            elif method == "saliency":
                raw = Saliency(f).attribute(x, target=tgt, abs=True, additional_forward_args=extra or None)
            else:
                win = window or max(1, S // 8)
                step = stride or max(1, win // 2)
                raw = Occlusion(f).attribute(
                    x, sliding_window_shapes=(1, win, win), strides=(1, step, step), baselines=base,
                    target=tgt, additional_forward_args=extra or None, perturbations_per_eval=16)
            raw = raw.detach()
            attr_map = raw[:, 0]  # (B, S, S)
    return PeakAttribution(map=_np(attr_map), method=method, branch=branch, target=_np(tgt), raw=raw,
                           layer=layer if method == "grad_cam" else None, baseline=base_name, delta=delta)


# --- 3. TLER methods ----------------------------------------------------------------------------


def _region_inputs(model: STANER, branch: str, peak: Tensor | None,
                   regions: Mapping[str, Tensor]) -> tuple[tuple[Tensor, ...], tuple]:
    if branch not in ("fused", "tler"):
        raise ValueError(f"region attributions explain 'fused' or 'tler', got branch {branch!r}")
    if model.tler is None:
        raise ValueError(f"region attributions need a TLER branch; this {model.config.variant} model has none")
    if set(regions) != set(REGIONS):
        raise ValueError(f"regions: expected keys {list(REGIONS)}, got {list(regions)}")
    if branch == "fused" and model.sgaer is not None and peak is None:
        raise ValueError("branch 'fused' needs the peak face; pass peak= or use branch='tler'")
    seqs = tuple(regions[r].detach().requires_grad_(True) for r in REGIONS)  # new leaves
    return seqs, ((peak.detach(),) if branch == "fused" and peak is not None else ())


@dataclass(frozen=True)
class RegionAttribution:
    """Result of :func:`region_attribution`.

    Attributes:
        map: (B, 3, T) float numpy, Integrated Gradients summed over each frame's pixels; rows in
            ``REGIONS`` order (eyes, nose, mouth). Signed: positive = that region's change at that
            frame raised the target probability.
        target: (B,) int64 numpy.
        branch: "fused" or "tler".
        baseline: baseline name ("neutral", "black", "blur" or "tensor").
        raw: {region: (B, T, 1, h, w)} attribution tensors (detached).
        delta: (B,) numpy completeness error, sum(map) - (f(x) - f(baseline)).
    """

    map: np.ndarray
    target: np.ndarray
    branch: str
    baseline: str
    raw: dict[str, Tensor]
    delta: np.ndarray

    @property
    def per_region(self) -> np.ndarray:
        """(B, 3): the map summed over frames."""
        return self.map.sum(axis=-1)


def region_attribution(
    model: STANER,
    peak: Tensor | None,
    regions: Mapping[str, Tensor],
    target: int | Sequence[int] | Tensor | None = None,
    branch: Literal["fused", "tler"] = "fused",
    baseline: str | Mapping[str, Tensor] = "neutral",
    n_steps: int = 128,
    alpha: float | None = None,
    internal_batch_size: int | None = 64,
) -> RegionAttribution:
    """Which region, at which moment, drove the decision: IG on the three region sequences.

    With IG_r (B, T, 1, h, w) the Integrated Gradients of the target probability with respect to
    region r's sequence (formula in :func:`peak_attribution`; all three regions move together
    along one straight path from their baselines)::

        map[b, r, t] = sum_{h, w} IG_r[b, t, 0, h, w]
        sum_{r, t} map[b, r, t] = y(x) - y(x') + delta[b]       (completeness)

    The default "neutral" baseline (frame 0 repeated) asks which *changes* since the first frame
    mattered; frame 0 then gets exactly 0. With the fused branch the peak face is held fixed and
    the map is (1 - alpha) times the TLER map.

    Args:
        model: a STANER with a TLER branch.
        peak: (B, 1, S, S); needed for "fused" when the model has SGAER, else may be None.
        regions: {"eyes", "nose", "mouth"}: (B, T, 1, h, w).
        target: class index, one per example, or None for the predicted class of ``branch``.
        branch: "fused" (P) or "tler" (P_L).
        baseline: a name of ``BASELINES`` applied to each region, or a dict of tensors.
        n_steps, alpha, internal_batch_size: see :func:`peak_attribution`.

    Returns:
        :class:`RegionAttribution` with ``map`` (B, 3, T).
    """
    from captum.attr import IntegratedGradients

    seqs, extra = _region_inputs(model, branch, peak, regions)
    f = forward_fn(model, branch, alpha, regions_first=True)
    if isinstance(baseline, str):
        bases, base_name = tuple(make_baseline(s, baseline) for s in seqs), baseline  # type: ignore[arg-type]
    else:
        bases, base_name = tuple(_baseline_tensor(s, baseline[r]) for s, r in zip(seqs, REGIONS)), "tensor"
    B = seqs[0].shape[0]
    with attribution_context(model):
        tgt = _targets(f, (*seqs, *extra), target, B, seqs[0].device)
        raw, d = IntegratedGradients(f).attribute(
            seqs, baselines=bases, target=tgt, additional_forward_args=extra or None, n_steps=n_steps,
            internal_batch_size=internal_batch_size, return_convergence_delta=True)
    per_frame = torch.stack([a.detach().sum(dim=(2, 3, 4)) for a in raw], dim=1)  # (B, 3, T)
    return RegionAttribution(map=_np(per_frame), target=_np(tgt), branch=branch, baseline=base_name,
                             raw={r: a.detach() for r, a in zip(REGIONS, raw)}, delta=_np(d))


@dataclass(frozen=True)
class RegionAblation:
    """Result of :func:`region_ablation`.

    Attributes:
        p: (B,) target probability with every input intact.
        drop: (B, 3) drop of the target probability when one region is replaced by its baseline,
            d_r = p - p(region r ablated); rows in ``REGIONS`` order; may be negative.
        share: (B, 3) share of the total drop, d_r+ / sum_r' d_r'+ with d+ = max(d, 0); rows sum
            to 1, or are all 0 when no region's ablation lowers the probability.
        joint_drop: (B,) drop when all three regions are ablated at once (sum(drop) differs from
            it by the regions' interaction).
        target: (B,) int64; branch: "fused" or "tler"; baseline: the baseline name.
    """

    p: np.ndarray
    drop: np.ndarray
    share: np.ndarray
    joint_drop: np.ndarray
    target: np.ndarray
    branch: str
    baseline: str


def region_ablation(
    model: STANER,
    peak: Tensor | None,
    regions: Mapping[str, Tensor],
    target: int | Sequence[int] | Tensor | None = None,
    branch: Literal["fused", "tler"] = "fused",
    baseline: BaselineKind = "neutral",
    alpha: float | None = None,
) -> RegionAblation:
    """Each region's share of the drop in the target probability when it is ablated.

    Region r is ablated by replacing its whole sequence by its baseline x'_r (default: frame 0
    repeated, i.e. "this region never moved"); the other regions and the peak are kept::

        d_r     = y(x) - y(x with x_r := x'_r)
        share_r = max(d_r, 0) / sum_r' max(d_r', 0)         (0 for all r when every d_r <= 0)

    Only drops count towards the share: a region whose removal *raises* the probability has
    share 0 (its signed effect stays in ``drop``). 4 forward passes, no gradients.

    Args: see :func:`region_attribution`.

    Returns:
        :class:`RegionAblation`.
    """
    seqs, extra = _region_inputs(model, branch, peak, regions)
    f = forward_fn(model, branch, alpha, regions_first=True)
    bases = tuple(make_baseline(s, baseline) for s in seqs)
    B = seqs[0].shape[0]
    with attribution_context(model), torch.no_grad():
        tgt = _targets(f, (*seqs, *extra), target, B, seqs[0].device)
        p = _select(f(*seqs, *extra), tgt)  # (B,)
        drops = []
        for i in range(len(REGIONS)):
            ablated = tuple(bases[j] if j == i else seqs[j] for j in range(len(REGIONS)))
            drops.append(p - _select(f(*ablated, *extra), tgt))
        joint = p - _select(f(*bases, *extra), tgt)
    drop = torch.stack(drops, dim=1).double()  # (B, 3)
    pos = drop.clamp(min=0)
    total = pos.sum(dim=1, keepdim=True)
    share = torch.where(total > 0, pos / total.clamp(min=torch.finfo(torch.float64).tiny), torch.zeros_like(pos))
    return RegionAblation(p=_np(p), drop=_np(drop), share=_np(share), joint_drop=_np(joint), target=_np(tgt),
                          branch=branch, baseline=baseline)


# --- 4. comparison with attention and with ground-truth masks -----------------------------------------


def rankdata(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n of the flattened array, ties get their average rank (scipy's "average").

    >>> rankdata(np.array([10, 30, 20, 20])).tolist()
    [1.0, 4.0, 2.5, 2.5]
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    if not np.all(np.isfinite(a)):
        raise ValueError("rankdata: the array holds NaN or inf")
    order = np.argsort(a, kind="mergesort")
    _, inverse, counts = np.unique(a[order], return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts  # 0-based position of each tie group's first member
    ranks = np.empty(a.size)
    ranks[order] = (first + (counts + 1) / 2.0)[inverse]
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation: Pearson correlation of the average ranks of a and b.

    rho = cov(rank a, rank b) / (std(rank a) std(rank b)); NaN when either array is constant.
    """
    ra, rb = rankdata(a), rankdata(b)
    if ra.size != rb.size:
        raise ValueError(f"spearman: sizes differ ({ra.size} vs {rb.size})")
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def upsampled_attention(model: STANER, peak: Tensor) -> np.ndarray:
    """The learned attention M (Eq. 1), (B, 1, S/8, S/8) upsampled bilinearly to (B, S, S) numpy.

    Raises a ValueError for the channel reading of Eq. 1 (M is (B, C, 1, 1), not a map) and for
    models without attention.
    """
    if model.sgaer is None or model.sgaer.attention is None:
        raise ValueError("this model has no attention module (variant C1/C2/C4), so there is no M")
    if model.sgaer.attention.kind != "spatial":
        raise ValueError("M is a per-channel gate with attention kind 'channel'; only the 'spatial' "
                         "reading gives a map to compare with attributions")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            M = model.sgaer.forward_intermediates(peak).M  # (B, 1, S/8, S/8)
    finally:
        for m, mode in modes:
            m.training = mode
    S = peak.shape[-1]
    return _np(TF.interpolate(M.float(), size=(S, S), mode="bilinear", align_corners=False)[:, 0])


def _block_mean(x: np.ndarray, pool: int) -> np.ndarray:
    """(B, H, W) -> (B, H/pool, W/pool) means of pool x pool blocks."""
    B, H, W = x.shape
    if H % pool or W % pool:
        raise ValueError(f"pool {pool} does not divide the map size {H}x{W}")
    return x.reshape(B, H // pool, pool, W // pool, pool).mean(axis=(2, 4))


def attention_agreement(attention: np.ndarray, attribution: np.ndarray, absolute: bool = True,
                        pool: int = 1) -> np.ndarray:
    """Spearman rho between the upsampled attention M and an attribution map, per example.

    rho = spearman(M_up, |A|) over the S x S pixels. M lives on an (S/8) x (S/8) grid, so ranks
    among the pixels of one cell come from the bilinear upsampling, and a pixel-level attribution
    (IG, Saliency) is noisy at that scale: ``pool=S/8`` first averages both maps over the cells of
    M's grid and compares the (S/8)^2 cell values, the agreement at M's own resolution.

    Args:
        attention: (B, S, S) from :func:`upsampled_attention` (or (S, S)).
        attribution: (B, S, S) map of the same size, e.g. ``PeakAttribution.map``.
        absolute: rank |attribution| (M weighs importance whatever the sign; IG and Occlusion maps
            are signed). False ranks the signed values.
        pool: block size of the average pooling before ranking (1 = none).

    Returns:
        (B,) float64 rho in [-1, 1] (NaN where a map is constant).
    """
    M = np.asarray(attention, dtype=np.float64)
    A = np.asarray(attribution, dtype=np.float64)
    M, A = (M[None], A[None]) if M.ndim == 2 else (M, A)
    if M.shape != A.shape:
        raise ValueError(f"attention {M.shape} and attribution {A.shape} must have the same shape")
    A = np.abs(A) if absolute else A
    if pool > 1:
        M, A = _block_mean(M, pool), _block_mean(A, pool)
    return np.array([spearman(m, a) for m, a in zip(M, A)])


def pointing_game(attribution: np.ndarray, mask: np.ndarray, tolerance: float = 0.0) -> bool:
    """Does the map's maximum point into the mask (Zhang et al. 2018, "Top-down neural attention")?

    Hit when the pixel of the largest value (the first in row-major order when tied) lies within
    ``tolerance`` pixels (Euclidean) of a mask pixel; tolerance 0 = inside the mask. A constant map
    points nowhere and is a miss. The signed value is used: for IG the maximum is the strongest
    evidence *for* the target.

    Args:
        attribution: (H, W) map.
        mask: (H, W) bool, e.g. the union of the aligned AU masks.
        tolerance: pixels (Zhang et al. use 15 px at 224 x 224).
    """
    a = np.asarray(attribution, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if a.shape != m.shape:
        raise ValueError(f"attribution {a.shape} and mask {m.shape} must have the same shape")
    if not m.any() or np.ptp(a) == 0:
        return False
    y, x = np.unravel_index(int(np.argmax(a)), a.shape)
    if tolerance <= 0:
        return bool(m[y, x])
    ys, xs = np.nonzero(m)
    return bool(np.min((ys - y) ** 2 + (xs - x) ** 2) <= tolerance**2)


def mass_inside(attribution: np.ndarray, mask: np.ndarray,
                part: Literal["positive", "absolute"] = "positive") -> float:
    """Fraction of the attribution mass that falls inside the mask.

        mass = sum_{mask} a+ / sum_all a+,   a+ = max(a, 0) ("positive") or |a| ("absolute")

    A uniform map scores the mask's area fraction, the chance level. NaN when the map has no
    mass.
    """
    a = np.asarray(attribution, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if a.shape != m.shape:
        raise ValueError(f"attribution {a.shape} and mask {m.shape} must have the same shape")
    w = np.clip(a, 0, None) if part == "positive" else np.abs(a)
    total = float(w.sum())
    return float(w[m].sum() / total) if total > 0 else float("nan")


def align_mask(mask: np.ndarray, peak_landmarks: np.ndarray, size: int) -> np.ndarray:
    """Warp a source-frame mask into the aligned peak-face frame of ``align_face``.

    Uses :func:`staner_lab.data.align.alignment_matrix` (the transform ``align_face`` applies),
    bilinear on the 0/1 mask, kept where >= 0.5; outside the frame is False. ``align_face`` may
    shrink a large frame with INTER_AREA first; the composite transform is the same similarity up
    to the rounding of the shrunk size (below a pixel).

    Args:
        mask: (H, W) bool in source-frame pixels (e.g. ``load_au_masks(...)["AU12"]``).
        peak_landmarks: (68, 2) landmarks (x, y) of the peak frame (``Sample.landmarks[-1]`` with
            the default peak "last").
        size: S, the aligned face side.

    Returns:
        (S, S) bool.
    """
    m = alignment_matrix(np.asarray(peak_landmarks, dtype=np.float64), size)
    warped = cv2.warpAffine(np.asarray(mask, dtype=np.float32), m, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return warped >= 0.5


def load_au_masks(data_root: str | Path, sequence_id: str) -> dict[str, np.ndarray]:
    """The ground-truth AU masks of a synthetic sequence's peak frame.

    Args:
        data_root: the data set folder, e.g. ``staner_lab.samples.shipped_data_dir()``.
        sequence_id: "S001/001".

    Returns:
        {"AU12": (H, W) bool, ...} in source-frame pixels, AUs in name order.
    """
    path = Path(data_root) / "GroundTruth" / sequence_id / "au_masks.npz"
    if not path.is_file():
        raise FileNotFoundError(f"no AU masks at {path}: only synthetic data sets written by "
                                "`staner-lab synth` have GroundTruth/<subject>/<sequence>/au_masks.npz")
    with np.load(path) as npz:
        return {k: npz[k].astype(bool) for k in sorted(npz.files)}


def union_mask(masks: Mapping[str, np.ndarray]) -> np.ndarray:
    """Pixel-wise OR of several masks of the same shape."""
    if not masks:
        raise ValueError("union_mask needs at least one mask")
    return np.logical_or.reduce([np.asarray(m, dtype=bool) for m in masks.values()])
