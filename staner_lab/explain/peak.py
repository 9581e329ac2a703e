"""Peak-face attributions: which pixels of I_p raised the target probability.

:func:`peak_attribution` runs Integrated Gradients, Saliency, Grad-CAM on a named layer
(:func:`resolve_layer`, hooked by :func:`capture_activation`) or Occlusion and returns a
:class:`PeakAttribution` with a (B, S, S) map.

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
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as TF

from staner_lab.config import REGIONS
from staner_lab.explain.wrappers import (
    attribution_context,
    baseline_tensor,
    flatten_inputs,
    forward_fn,
    select_target,
    target_classes,
    to_numpy,
)
from staner_lab.models.staner import STANER

__all__ = ["PEAK_METHODS", "PeakAttribution", "capture_activation", "peak_attribution", "resolve_layer"]

PeakMethod = Literal["integrated_gradients", "saliency", "grad_cam", "occlusion"]

#: The peak-face methods of :func:`peak_attribution`.
PEAK_METHODS: tuple[str, ...] = ("integrated_gradients", "saliency", "grad_cam", "occlusion")


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
        y = select_target(f(x, *extra), target)  # (B,)
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


def _captum(method: str, f: Callable, x: Tensor, extra: tuple, tgt: Tensor, baseline: str | Tensor, n_steps: int,
            internal_batch_size: int | None, window: int | None, stride: int | None) -> tuple[Tensor, np.ndarray | None]:
    """(attribution (B, 1, S, S), IG's convergence delta or None) of a captum method."""
    from captum.attr import IntegratedGradients, Occlusion, Saliency

    extra_args = extra or None
    if method == "saliency":
        return Saliency(f).attribute(x, target=tgt, abs=True, additional_forward_args=extra_args).detach(), None
    base = baseline_tensor(x, baseline)
    if method == "integrated_gradients":
        raw, d = IntegratedGradients(f).attribute(
            x, baselines=base, target=tgt, additional_forward_args=extra_args, n_steps=n_steps,
            internal_batch_size=internal_batch_size, return_convergence_delta=True)
        return raw.detach(), to_numpy(d)
    S = x.shape[-1]
    win = window or max(1, S // 8)
    step = stride or max(1, win // 2)
    raw = Occlusion(f).attribute(x, sliding_window_shapes=(1, win, win), strides=(1, step, step), baselines=base,
                                 target=tgt, additional_forward_args=extra_args, perturbations_per_eval=16)
    return raw.detach(), None


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

    y = P[target] of ``branch``; the methods and their formulas are in the module docstring.

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
        tgt = target_classes(f, (x, *extra), target, B, x.device)
        if method == "grad_cam":
            raw = _grad_cam(f, model, x, extra, tgt, layer)
            cam = TF.interpolate(raw, size=(S, S), mode="bilinear", align_corners=False)
            attr_map = (cam.clamp(min=0) if relu else cam)[:, 0]
        else:
            if method != "saliency":
                base_name = baseline if isinstance(baseline, str) else "tensor"
            raw, delta = _captum(method, f, x, extra, tgt, baseline, n_steps, internal_batch_size, window, stride)
            attr_map = raw[:, 0]  # (B, S, S)
    return PeakAttribution(map=to_numpy(attr_map), method=method, branch=branch, target=to_numpy(tgt),
                           raw=raw, layer=layer if method == "grad_cam" else None, baseline=base_name,
                           delta=delta)
