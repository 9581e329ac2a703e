"""Attributions (staner_lab.explain): shapes on every branch, IG completeness, hand-computed region
ablation and IG on a hand-built TLER, Grad-CAM against captum and against the hook-free path, no hook
left behind, no memory growth, pointing game / mass inside / Spearman on hand-made arrays, align_mask."""

import dataclasses
import gc
import math

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from staner_lab import explain as E
from staner_lab.config import REGIONS, InputConfig, ablation_config, preset
from staner_lab.data.align import EYE_X, EYE_Y, align_face
from staner_lab.models import STANER

# A classroom-width STANER on smaller inputs: the real architecture, fast on two CPU cores.
SMALL_INPUTS = InputConfig(face_size=32, frames=4, region_sizes={"eyes": (16, 32), "nose": (16, 16),
                                                                  "mouth": (16, 24)})
FAST = {"integrated_gradients": {"n_steps": 4}, "saliency": {}, "grad_cam": {},
        "occlusion": {"window": 16, "stride": 16}}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return STANER(dataclasses.replace(preset("classroom"), inputs=SMALL_INPUTS)).eval()


@pytest.fixture(scope="module")
def inputs(model):
    return model.example_inputs(batch_size=2, generator=torch.Generator().manual_seed(1))


def _target_prob(f, args, target):
    with torch.no_grad():
        return f(*args)[torch.arange(len(target)), torch.as_tensor(target)]


# --- shapes on every branch --------------------------------------------------------------------------


@pytest.mark.parametrize("branch", ["sgaer", "fused"])
@pytest.mark.parametrize("method", E.PEAK_METHODS)
def test_peak_methods_return_documented_shapes(model, inputs, method, branch):
    peak, regions = inputs
    r = E.peak_attribution(model, peak, regions, method, branch=branch, **FAST[method])
    B, S = peak.shape[0], peak.shape[-1]
    assert isinstance(r.map, np.ndarray) and r.map.shape == (B, S, S) and np.isfinite(r.map).all()
    assert r.target.shape == (B,) and r.method == method and r.branch == branch
    if method == "grad_cam":
        assert r.raw.shape == (B, 1, S // 8, S // 8) and r.layer == "attention" and (r.map >= 0).all()
    else:
        assert r.raw.shape == peak.shape
    if method == "saliency":
        assert (r.map >= 0).all()
    assert (r.delta is not None) == (method == "integrated_gradients")


def test_grad_cam_on_named_and_dotted_layers(model, inputs):
    peak, regions = inputs
    S = peak.shape[-1]
    for layer, side in [("end_conv", S // 16), ("sgaer.end_conv.conv1", S // 8), ("sgaer.frontend.features.0", S)]:
        r = E.peak_attribution(model, peak, regions, "grad_cam", branch="sgaer", layer=layer)
        assert r.raw.shape == (2, 1, side, side) and r.map.shape == (2, S, S) and r.layer == layer
    with pytest.raises(ValueError, match="no layer"):
        E.peak_attribution(model, peak, regions, "grad_cam", layer="sgaer.nope")
    with pytest.raises(ValueError, match="peak face"):
        E.peak_attribution(model, peak, regions, "grad_cam", layer="tler.clstm.eyes.cnn.layers.0")


@pytest.mark.parametrize("branch", ["tler", "fused"])
def test_region_methods_return_documented_shapes(model, inputs, branch):
    peak, regions = inputs
    B, T = peak.shape[0], regions["eyes"].shape[1]
    r = E.region_attribution(model, peak if branch == "fused" else None, regions, branch=branch, n_steps=4)
    assert r.map.shape == (B, 3, T) and r.per_region.shape == (B, 3) and r.delta.shape == (B,)
    assert {k: tuple(v.shape) for k, v in r.raw.items()} == {k: tuple(v.shape) for k, v in regions.items()}
    np.testing.assert_array_equal(r.map[:, :, 0], 0.0)  # neutral baseline: frame 0 is its own baseline
    a = E.region_ablation(model, peak, regions, branch=branch)
    assert a.drop.shape == a.share.shape == (B, 3) and a.p.shape == a.joint_drop.shape == (B,)
    assert np.all((a.share >= 0) & (a.share <= 1))
    assert np.all(np.isclose(a.share.sum(1), 1.0) | np.isclose(a.share.sum(1), 0.0))


def test_baselines():
    seq = torch.rand(2, 4, 1, 8, 12)
    neutral = E.make_baseline(seq, "neutral")
    assert torch.equal(neutral, seq[:, :1].expand_as(seq))
    assert torch.equal(E.make_baseline(seq, "black"), torch.zeros_like(seq))
    const = torch.full((1, 1, 16, 16), 0.3)
    assert torch.allclose(E.make_baseline(const, "blur"), const)  # blur keeps a constant image
    step = torch.zeros(1, 1, 16, 16)
    step[..., 8:] = 1.0
    blurred = E.make_baseline(step, "blur", sigma=2.0)
    assert 0 < blurred[0, 0, 0, 7] < 0.5 < blurred[0, 0, 0, 8] < 1  # edge softened, order kept
    assert torch.allclose(blurred.sum(), step.sum(), atol=1e-4)  # symmetric kernel preserves mass here
    with pytest.raises(ValueError, match="region sequence"):
        E.make_baseline(const, "neutral")


def test_forward_wrappers_match_staner_output(model, inputs):
    peak, regions = inputs
    with torch.no_grad():
        out = model(peak, regions)
        flat = E.flatten_inputs(peak, regions)
        assert torch.allclose(E.forward_fn(model, "fused")(*flat), out.P)
        assert torch.allclose(E.forward_fn(model, "sgaer")(peak), out.P_G)
        assert torch.allclose(E.forward_fn(model, "tler", regions_first=True)(*flat[1:]), out.P_L)
        assert torch.allclose(E.forward_fn(model, "fused", regions_first=True)(*flat[1:], peak), out.P)


# --- completeness and branch consistency ----------------------------------------------------------


# Completeness: sum(IG) = f(x) - f(x') up to the quadrature error of the Gauss-Legendre rule. The
# integrand of a ReLU / max-pool network has kinks, so the error shrinks slowly and unevenly; a float64
# copy does not help (the error is not rounding). Measured on this model (relative to |f(x) - f(x')|):
# blur baseline 0.05 % at 256 steps; black baseline 1.2 % at 1024 steps (4 % at 256, the path from
# black crosses many kinks); region sequences, neutral baseline, 0.7 % at 128 steps (there the float32
# softmax of STANER.forward limits differences of ~1e-4 to ~1e-3 relative). The targets are the
# classes with the largest |f(x) - f(x')|, so that the tolerance is not trivially larger than the gap.
IG_CASES = [("blur", 256, 0.01), ("black", 1024, 0.03)]


def _largest_gap(f, x, x_base):
    with torch.no_grad():
        gaps = f(*x) - f(*x_base)  # (B, K)
    target = gaps.abs().argmax(dim=1)
    return target, gaps.gather(1, target[:, None])[:, 0].numpy()


@pytest.mark.parametrize("baseline, n_steps, rel_tol", IG_CASES)
def test_integrated_gradients_completeness_on_the_peak(model, baseline, n_steps, rel_tol):
    peak, _ = model.example_inputs(batch_size=8, generator=torch.Generator().manual_seed(1))
    f = E.forward_fn(model, "sgaer")
    target, gap = _largest_gap(f, (peak,), (E.make_baseline(peak, baseline),))
    keep = np.argsort(-np.abs(gap))[:2]  # the two faces furthest from the baseline, for the same reason
    peak, target, gap = peak[keep], target[keep], gap[keep]
    assert np.all(np.abs(gap) > 0.02)
    r = E.peak_attribution(model, peak, None, "integrated_gradients", target=target, branch="sgaer",
                           baseline=baseline, n_steps=n_steps, internal_batch_size=256)
    total = r.raw.sum(dim=(1, 2, 3)).numpy()
    assert np.all(np.abs(total - gap) <= rel_tol * np.abs(gap)), (total, gap)
    np.testing.assert_allclose(r.delta, total - gap, atol=1e-6)  # captum's delta is that same error


def test_integrated_gradients_completeness_on_the_regions(model, inputs):
    _, regions = inputs
    f = E.forward_fn(model, "tler", regions_first=True)
    seqs = E.flatten_inputs(None, regions)[1:]
    target, gap = _largest_gap(f, seqs, tuple(E.make_baseline(s, "neutral") for s in seqs))
    # 512 steps: the per-frame standardisation of the region CNN (CLSTMConfig.input_norm="frame") bends
    # the path from the neutral baseline more than raw pixels did; at 128 steps the error was up to 3 %
    r = E.region_attribution(model, None, regions, target=target, branch="tler", n_steps=512)
    total = r.map.sum(axis=(1, 2))
    assert np.all(np.abs(total - gap) <= 0.02 * np.abs(gap) + 1e-7), (total, gap)


def test_fused_attributions_are_branch_attributions_times_the_fusion_weight(model, inputs):
    """dP/dpeak = alpha dP_G/dpeak and dP/dregions = (1 - alpha) dP_L/dregions (Eq. 14)."""
    peak, regions = inputs
    alpha = 0.3
    for method in ("integrated_gradients", "saliency", "grad_cam"):
        g = E.peak_attribution(model, peak, regions, method, target=[1, 4], branch="sgaer", **FAST[method])
        p = E.peak_attribution(model, peak, regions, method, target=[1, 4], branch="fused", alpha=alpha,
                               **FAST[method])
        np.testing.assert_allclose(p.map, alpha * g.map, rtol=1e-3, atol=1e-7)
    t = E.region_attribution(model, None, regions, target=[1, 4], branch="tler", n_steps=4)
    p = E.region_attribution(model, peak, regions, target=[1, 4], branch="fused", alpha=alpha, n_steps=4)
    np.testing.assert_allclose(p.map, (1 - alpha) * t.map, rtol=1e-3, atol=1e-8)


# --- Grad-CAM against references ------------------------------------------------------------------


def test_grad_cam_matches_captum_layer_grad_cam(model, inputs):
    from captum.attr import LayerGradCam

    peak, _ = inputs
    f = E.forward_fn(model, "sgaer")
    ours = E.peak_attribution(model, peak, None, "grad_cam", target=[0, 6], branch="sgaer", layer="end_conv")
    ref = LayerGradCam(f, model.sgaer.end_conv.conv2).attribute(peak.clone().requires_grad_(), target=[0, 6])
    torch.testing.assert_close(ours.raw, ref.detach(), rtol=1e-4, atol=1e-8)


def test_grad_cam_on_attention_equals_the_hook_free_intermediates_path(model, inputs):
    peak, _ = inputs
    target = torch.tensor([2, 3])
    ours = E.peak_attribution(model, peak, None, "grad_cam", target=target, branch="sgaer", relu=False)
    it = model.sgaer.forward_intermediates(peak)  # F from the ordinary forward path (Eq. 2)
    y = it.P_G.gather(1, target[:, None]).sum()
    (dF,) = torch.autograd.grad(y, it.F)
    cam = (dF.mean(dim=(2, 3), keepdim=True) * it.F).sum(1, keepdim=True)
    torch.testing.assert_close(ours.raw, cam.detach(), rtol=1e-4, atol=1e-8)
    up = torch.nn.functional.interpolate(cam, size=peak.shape[-2:], mode="bilinear", align_corners=False)
    np.testing.assert_allclose(ours.map, up[:, 0].detach().numpy(), rtol=1e-4, atol=1e-8)


# --- hand-built TLER: region ablation and IG with known answers -----------------------------------


class MeanTLER(nn.Module):
    """z = sum_r w_r mean(x_r); logits (z, 0), so P_L[0] = sigmoid(z)."""

    def __init__(self, weights):
        super().__init__()
        self.weights = weights

    def forward(self, regions):
        z = sum(w * regions[r].mean(dim=(1, 2, 3, 4)) for r, w in self.weights.items())
        return torch.stack([z, torch.zeros_like(z)], dim=1)


def _hand_built():
    """Frame 0 black, frames 1..3 at level v_r; mean(x_r) = 3 v_r / 4, so contribution c_r = w_r 3 v_r / 4.

    c = (ln 2, -ln 2, ln 1.5) for (eyes, nose, mouth): z = ln 1.5, p = 3/5. Neutral baseline
    (frame 0 repeated) = black, so ablating r removes c_r:
      eyes  -> z = ln 0.75, p = 3/7, drop = 3/5 - 3/7 = 6/35
      nose  -> z = ln 3,    p = 3/4, drop = 3/5 - 3/4 = -3/20  (its removal helps: share 0)
      mouth -> z = 0,       p = 1/2, drop = 1/10
      share = (6/35, 0, 1/10) / (6/35 + 1/10) = (12/19, 0, 7/19); all three: z = 0, drop 1/10.
    """
    cfg = dataclasses.replace(ablation_config(preset("classroom"), "C2"), inputs=SMALL_INPUTS,
                              class_names=("yes", "no"))
    model = STANER(cfg).eval()
    model.tler = MeanTLER({"eyes": 1.0, "nose": -1.0, "mouth": 1.0})
    contrib = {"eyes": math.log(2), "nose": -math.log(2), "mouth": math.log(1.5)}
    regions = {}
    for r in REGIONS:
        h, w = SMALL_INPUTS.region_sizes[r]
        seq = torch.zeros(1, 4, 1, h, w)
        seq[:, 1:] = abs(contrib[r]) * 4 / 3  # level v_r in [0, 1]
        regions[r] = seq
    return model, regions, contrib


@pytest.mark.parametrize("branch", ["tler", "fused"])
def test_region_ablation_gives_the_hand_computed_shares(branch):
    model, regions, _ = _hand_built()
    a = E.region_ablation(model, None, regions, target=0, branch=branch)
    np.testing.assert_allclose(a.p, [3 / 5], atol=1e-6)
    np.testing.assert_allclose(a.drop, [[6 / 35, -3 / 20, 1 / 10]], atol=1e-6)
    np.testing.assert_allclose(a.share, [[12 / 19, 0.0, 7 / 19]], atol=1e-6)
    np.testing.assert_allclose(a.joint_drop, [1 / 10], atol=1e-6)


def test_region_integrated_gradients_give_the_hand_computed_map():
    """For y = sigmoid(sum_i a_i x_i) IG_i = a_i (x_i - x'_i) (y - y') / (z - z'): here z' = 0,
    y - y' = 3/5 - 1/2 = 1/10, so region r gets c_r / ln 1.5 / 10, spread evenly over frames 1..3."""
    model, regions, contrib = _hand_built()
    r = E.region_attribution(model, None, regions, target=0, branch="tler", n_steps=32)
    expected = np.array([[0.0] + [contrib[k] / math.log(1.5) / 10 / 3] * 3 for k in REGIONS])
    np.testing.assert_allclose(r.map[0], expected, atol=1e-5)
    np.testing.assert_allclose(r.map.sum(), 0.1, atol=1e-5)


def test_share_is_zero_when_no_region_lowers_the_probability():
    model, regions, _ = _hand_built()
    a = E.region_ablation(model, None, regions, target=1, branch="tler")  # class "no" = 1 - sigmoid(z)
    assert a.drop[0, 1] > 0 and a.drop[0, 0] < 0  # removing the nose now lowers P("no")
    np.testing.assert_allclose(a.share.sum(), 1.0)
    flat = {r: torch.zeros_like(v) for r, v in regions.items()}  # nothing moves: every drop is 0
    np.testing.assert_array_equal(E.region_ablation(model, None, flat, target=0, branch="tler").share, 0.0)


# --- hooks, modes, memory -------------------------------------------------------------------------

_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
               "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs", "_state_dict_hooks")


def _hooks(model):
    on_modules = sum(len(getattr(m, d, {})) for m in model.modules() for d in _HOOK_DICTS)
    from torch.nn.modules import module as M

    on_all = sum(len(getattr(M, d)) for d in ("_global_forward_hooks", "_global_forward_pre_hooks",
                                               "_global_backward_hooks", "_global_backward_pre_hooks"))
    return on_modules + on_all


def _every_call(model, peak, regions):
    calls = [lambda m=m, b=b: E.peak_attribution(model, peak, regions, m, branch=b, **FAST[m])
             for m in E.PEAK_METHODS for b in ("sgaer", "fused")]
    calls += [lambda: E.peak_attribution(model, peak, regions, "grad_cam", layer="end_conv"),
              lambda: E.region_attribution(model, peak, regions, n_steps=4),
              lambda: E.region_attribution(model, None, regions, branch="tler", n_steps=4),
              lambda: E.region_ablation(model, peak, regions),
              lambda: E.region_ablation(model, None, regions, branch="tler")]
    return calls


def test_no_hook_remains_and_modes_and_grads_are_untouched(inputs):
    torch.manual_seed(0)
    model = STANER(dataclasses.replace(preset("classroom"), inputs=SMALL_INPUTS)).train()
    model.tler.dropout.eval()  # a mixed state must come back as it was
    before = {n: m.training for n, m in model.named_modules()}
    assert _hooks(model) == 0
    for call in _every_call(model, *inputs):
        call()
        assert _hooks(model) == 0
        assert {n: m.training for n, m in model.named_modules()} == before
    assert all(p.grad is None for p in model.parameters())  # autograd.grad only, no .backward()
    with pytest.raises(ValueError):  # an error inside the hook's block still removes the hook
        E.peak_attribution(model, *inputs, method="grad_cam", layer="tler.clstm.eyes.cnn.layers.0")
    assert _hooks(model) == 0


def _live_objects():
    gc.collect()
    objects = gc.get_objects()
    return sum(1 for o in objects if issubclass(type(o), torch.Tensor)), len(objects)


def test_repeated_calls_do_not_grow_memory(model, inputs):
    """20 calls (every method, both branches) after a warm-up: no live tensor and no Python object
    (hooks, closures, cached graphs) survives them, within a small tolerance for interpreter noise."""
    peak, regions = inputs
    calls = (_every_call(model, peak, regions) * 2)[:20]
    for call in calls[:7]:  # warm-up: captum's and torch's one-time caches
        call()
    tensors, objects = _live_objects()
    for call in calls:
        result = call()
    del result
    tensors_after, objects_after = _live_objects()
    assert tensors_after - tensors <= 2
    assert objects_after - objects <= 100, f"{objects_after - objects} more live Python objects after 20 calls"


# --- comparison: Spearman, pointing game, mass inside, masks ---------------------------------------


def test_rank_correlation_is_scipys_with_nan_for_a_constant_map():
    from scipy import stats

    rng = np.random.default_rng(0)
    M = np.kron(rng.normal(size=(2, 4, 4)), np.ones((1, 4, 4)))  # M's cells tie in blocks, as upsampled
    A = rng.normal(size=(2, 16, 16))
    rho = E.attention_agreement(M, A)
    for b in range(2):
        assert rho[b] == pytest.approx(stats.spearmanr(M[b].ravel(), np.abs(A[b]).ravel()).statistic, abs=1e-12)
    assert np.isnan(E.attention_agreement(np.ones((16, 16)), A[0])[0])  # a flat map ranks nothing


def test_attention_agreement_ranks_absolute_values():
    M = np.array([[[0.1, 0.2], [0.3, 0.4]]])
    assert E.attention_agreement(M, -2 * M)[0] == pytest.approx(1.0)
    assert E.attention_agreement(M, -2 * M, absolute=False)[0] == pytest.approx(-1.0)
    # pool=2 compares block means: M's blocks rank (1, 2; 3, 4), A's block means rank the same although
    # A disagrees with M inside every block
    M4 = np.kron(np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((2, 2)))[None] + np.array(
        [[0, 0.1, 0, 0.1], [0.2, 0.3, 0.2, 0.3], [0, 0.1, 0, 0.1], [0.2, 0.3, 0.2, 0.3]])
    A4 = np.kron(np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((2, 2))) * np.array(
        [[1.3, 1.2, 1.3, 1.2], [1.1, 1.0, 1.1, 1.0], [1.3, 1.2, 1.3, 1.2], [1.1, 1.0, 1.1, 1.0]])
    assert E.attention_agreement(M4, A4[None], pool=2)[0] == pytest.approx(1.0)
    assert E.attention_agreement(M4, A4[None])[0] < 0.95


def test_pointing_game_and_mass_inside_by_hand():
    a = np.array([[0.0, 1.0, 0.0, 0.0],
                  [0.0, 2.0, -3.0, 0.0],
                  [0.0, 0.0, 4.0, 0.0],
                  [0.0, 0.0, 0.0, 1.0]])
    mask = np.zeros((4, 4), bool)
    mask[:2, :2] = True  # holds 1 and 2 (and zeros)
    assert not E.pointing_game(a, mask)  # max 4 at (2, 2) is outside
    assert E.pointing_game(a, mask, tolerance=math.sqrt(2))  # (1, 1) is sqrt(2) away
    assert not E.pointing_game(a, mask, tolerance=1.0)
    mask2 = mask.copy()
    mask2[2, 2] = True
    assert E.pointing_game(a, mask2)
    # positive mass: inside 1 + 2 = 3, total 1 + 2 + 4 + 1 = 8; absolute: inside 3, total 11
    assert E.mass_inside(a, mask) == pytest.approx(3 / 8)
    assert E.mass_inside(a, mask, part="absolute") == pytest.approx(3 / 11)
    assert not E.pointing_game(np.zeros((4, 4)), mask)  # a constant map points nowhere
    assert math.isnan(E.mass_inside(-np.ones((4, 4)), mask))
    uniform = np.ones((4, 4))
    assert E.mass_inside(uniform, mask) == pytest.approx(mask.mean())  # chance level
    # the pointing game's chance: the share of pixels within the tolerance of the mask
    assert E.pointing_chance(mask) == pytest.approx(4 / 16)
    assert E.pointing_chance(mask, tolerance=1.0) == pytest.approx(8 / 16)  # + (0..1, 2) and (2, 0..1)
    assert E.pointing_chance(mask, tolerance=math.sqrt(2)) == pytest.approx(9 / 16)  # + (2, 2)
    hits = [E.pointing_game(np.eye(16)[k].reshape(4, 4), mask, tolerance=1.0) for k in range(16)]
    assert np.mean(hits) == pytest.approx(E.pointing_chance(mask, tolerance=1.0))  # every position, once


def _landmarks_with_eyes(left, right, radius=3.0):
    lm = np.zeros((68, 2))
    ang = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    ring = radius * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    lm[36:42] = np.asarray(left) + ring
    lm[42:48] = np.asarray(right) + ring
    lm[:36] = lm[48:] = (np.asarray(left) + np.asarray(right)) / 2  # unused by the alignment
    return lm


def test_align_mask_puts_eye_masks_on_the_aligned_eye_positions():
    left, right = (30.0, 44.0), (64.0, 36.0)  # tilted eyes in a 96 x 96 frame
    lm = _landmarks_with_eyes(left, right)
    mask = np.zeros((96, 96), np.uint8)
    for c in (left, right):
        cv2.circle(mask, (round(c[0]), round(c[1])), 5, 1, -1)
    S = 64
    aligned = E.align_mask(mask.astype(bool), lm, S)
    assert aligned.dtype == bool and aligned.shape == (S, S)
    n, labels = cv2.connectedComponents(aligned.astype(np.uint8))
    assert n == 3  # background + two eyes
    centres = sorted((np.argwhere(labels == k).mean(axis=0)[::-1] for k in (1, 2)), key=lambda c: c[0])
    for (x, y), tx in zip(centres, EYE_X):
        assert x == pytest.approx(tx * S, abs=0.75) and y == pytest.approx(EYE_Y * S, abs=0.75)
    # the same transform as align_face: warp the mask as an image and compare
    as_face = align_face(mask * 255, lm, S) >= 0.5
    assert (as_face != aligned).mean() < 0.002


def test_load_au_masks_of_the_shipped_data():
    from staner_lab.data.shipped import shipped_data_dir

    root = shipped_data_dir()
    masks = E.load_au_masks(root, "S001/002")  # its Emotion file says 5 = happy: AU6 + AU12
    assert sorted(masks) == ["AU12", "AU6"]
    assert all(m.dtype == bool and m.shape == (96, 96) and m.any() for m in masks.values())
    assert E.union_mask(masks).sum() >= max(m.sum() for m in masks.values())
    with pytest.raises(FileNotFoundError, match="GroundTruth"):
        E.load_au_masks(root, "S999/001")


# --- figures --------------------------------------------------------------------------------------


def test_figures_build(model, inputs):
    from staner_lab.viz import (
        attention_vs_attribution_figure,
        attribution_overlay_figure,
        region_frame_figure,
        region_share_figure,
    )

    peak, regions = inputs
    ig = E.peak_attribution(model, peak, regions, "integrated_gradients", branch="sgaer", n_steps=4)
    M = E.upsampled_attention(model, peak)
    assert M.shape == (2, 32, 32) and M.min() >= 0 and M.max() <= 1
    fig = attribution_overlay_figure(peak, ig, index=1)
    assert fig.data[1].zmid == 0 and fig.data[1].z.shape == (32, 32)  # signed: diverging, centred
    rho = float(E.attention_agreement(M, ig.map)[0])
    fig = attention_vs_attribution_figure(peak, M, ig)
    assert f"{rho:.2f}" in fig.layout.title.text and len(fig.data) == 4
    fig = region_frame_figure(E.region_attribution(model, peak, regions, n_steps=4))
    assert fig.data[0].z.shape == (3, 4)
    fig = region_share_figure(E.region_ablation(model, peak, regions))
    assert list(fig.data[0].x) == list(REGIONS)
