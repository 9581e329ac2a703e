"""Attributions for STANER: which pixels of the peak face, which region and which frame drove P.

Five modules, one concern each:

- :mod:`staner_lab.explain.wrappers`: forward wrappers and baselines. :func:`forward_fn` returns
  the probabilities (B, K) of one branch (fused P, Eq. 14; P_G, Eq. 3; P_L, Eq. 12) as a function
  of tensors only, the form captum takes; :func:`make_baseline` builds the reference inputs
  (``"black"``, ``"neutral"``, ``"blur"``); :func:`attribution_context` and the target helpers
  are the plumbing shared by every method.
- :mod:`staner_lab.explain.peak`: peak-face methods (:func:`peak_attribution`): Integrated
  Gradients, Saliency, Grad-CAM on a named layer, Occlusion -> a (B, S, S) map.
- :mod:`staner_lab.explain.regions`: TLER methods: Integrated Gradients summed per region and
  per frame (:func:`region_attribution`, (B, 3, T)), region ablation (:func:`region_ablation`,
  each region's share of the drop) and, over a whole data set, TLER's per-class recall with regions
  stilled (:func:`region_motion`).
- :mod:`staner_lab.explain.agreement`: comparison with attention and ground truth: Spearman rank
  correlation between the learned attention M and a map (:func:`attention_agreement`), the
  pointing game and the attribution mass inside the synthetic data's AU masks, after
  :func:`align_mask` has warped them into the aligned peak-face frame.
- :mod:`staner_lab.explain.shapes`: the tensor shapes of a configuration, traced through a real
  forward pass (:func:`~staner_lab.explain.shapes.traced_shapes`), for the architecture diagrams
  and the notebooks' symbol tables.

Adding an attribution method: a peak-face method is one more branch of ``peak_attribution`` in
``peak.py`` (and its name in ``PEAK_METHODS``, which the app's method picker lists); a method over
the region sequences goes in ``regions.py`` next to ``region_attribution``. Build it from
``wrappers.py``: ``forward_fn`` for the probabilities, ``attribution_context`` around the
computation, ``target_classes`` / ``select_target`` for the target.

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

from staner_lab.explain.agreement import (
    align_mask,
    attention_agreement,
    load_au_masks,
    mass_inside,
    pointing_chance,
    pointing_game,
    union_mask,
    upsampled_attention,
)
from staner_lab.explain.peak import (
    PEAK_METHODS,
    PeakAttribution,
    capture_activation,
    peak_attribution,
    resolve_layer,
)
from staner_lab.explain.regions import (
    MOTION_CASES,
    RegionAblation,
    RegionAttribution,
    RegionMotion,
    region_ablation,
    region_attribution,
    region_motion,
    still_regions,
)
from staner_lab.explain.wrappers import (
    BASELINES,
    attribution_context,
    flatten_inputs,
    forward_fn,
    gaussian_blur,
    make_baseline,
    unflatten_regions,
)

__all__ = [
    "BASELINES",
    "MOTION_CASES",
    "PEAK_METHODS",
    "PeakAttribution",
    "RegionAblation",
    "RegionAttribution",
    "RegionMotion",
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
    "pointing_chance",
    "pointing_game",
    "region_ablation",
    "region_attribution",
    "region_motion",
    "resolve_layer",
    "still_regions",
    "unflatten_regions",
    "union_mask",
    "upsampled_attention",
]
