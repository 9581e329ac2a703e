"""Shapes, invariants, ablation variants, gradients and determinism of the STANER models."""

import dataclasses

import pytest
import torch

from staner_lab import functional as Fn
from staner_lab.config import REGIONS, VARIANTS, AttentionConfig, ablation_config, preset
from staner_lab.models import STANER, VGGFrontEnd
from staner_lab.models.attention import AttentionModule
from staner_lab.models.vgg import CONV_NAMES


def _model(name="classroom", variant="STANER", seed=0, **replace):
    torch.manual_seed(seed)
    cfg = ablation_config(preset(name), variant)
    if replace:
        cfg = dataclasses.replace(cfg, **replace)
    return STANER(cfg)


@pytest.mark.parametrize("name", ["classroom", "paper"])
def test_every_intermediate_has_the_documented_shape(name):
    model = _model(name).eval()
    cfg = model.config
    B, T, K = 2, cfg.inputs.frames, cfg.num_classes
    peak, regions = model.example_inputs(B)
    with torch.no_grad():
        it = model.forward_intermediates(peak, regions)
    C = model.sgaer.frontend.out_channels
    side = cfg.inputs.face_size // 8
    assert C == round(512 * cfg.sgaer.frontend.width)
    assert it.U.shape == (B, C, side, side)
    assert it.M.shape == (B, 1, side, side)
    assert it.F.shape == it.U.shape
    assert it.F_G.shape == (B, cfg.sgaer.end_channels)
    assert it.P_G.shape == it.P_L.shape == it.P.shape == (B, K)
    N = cfg.tler.clstm.hidden_size
    for r in REGIONS:
        ri = it.tler.regions[r]
        assert ri.features.shape == (B, T, model.tler.clstm[r].cnn.out_dim)
        for gate in (ri.f, ri.i, ri.g, ri.o, ri.c, ri.h):
            assert gate.shape == (B, T, N)
    assert it.F_prime.shape == (B, T, 3 * N)
    assert it.F_L.shape == (B, cfg.tler.end_channels)


def test_paper_frontend_is_vgg16_conv1_1_to_conv4_3():
    fe = VGGFrontEnd(preset("paper").sgaer.frontend)
    convs = [m for m in fe.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 10 and len(CONV_NAMES) == 10
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512]
    # torchvision's vgg16().features indices of the ten convolutions
    assert list(fe.conv_index.values()) == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21]
    assert fe.conv_index["conv4_3"] == 21


def test_M_in_unit_interval_and_F_equals_one_plus_M_times_U():
    model = _model().eval()
    peak, regions = model.example_inputs(3)
    it = model.forward_intermediates(peak, regions)
    assert it.M.min() >= 0 and it.M.max() <= 1
    # M is sigma of the attention module's scores on U (Eq. 1), not some other map in [0, 1]
    scores = model.sgaer.attention.scores(it.U)
    torch.testing.assert_close(it.M, torch.sigmoid(scores))
    assert not torch.allclose(scores, it.M)  # so the sigmoid was really applied
    torch.testing.assert_close(it.F, (1 + it.M) * it.U)


def test_channel_attention_reading_gives_a_per_channel_gate():
    base = preset("classroom")
    cfg = dataclasses.replace(base, sgaer=dataclasses.replace(
        base.sgaer, attention=AttentionConfig(kind="channel", hidden_channels=8)))
    model = STANER(cfg).eval()
    it = model.forward_intermediates(*model.example_inputs(2))
    assert it.M.shape == (2, model.sgaer.frontend.out_channels, 1, 1)
    torch.testing.assert_close(it.F, (1 + it.M) * it.U)


def test_attention_options_softmax_and_residual_reach_the_model():
    base = preset("classroom")
    att = dataclasses.replace(base.sgaer.attention, normalise="softmax", residual=0.0)
    model = STANER(dataclasses.replace(base, sgaer=dataclasses.replace(base.sgaer, attention=att))).eval()
    it = model.forward_intermediates(*model.example_inputs(2))
    torch.testing.assert_close(it.M, Fn.spatial_softmax_map(model.sgaer.attention.scores(it.U)))
    torch.testing.assert_close(it.M.mean(dim=(1, 2, 3)), torch.ones(2))
    torch.testing.assert_close(it.F, it.M * it.U)
    with pytest.raises(ValueError, match="softmax.*spatial"):
        AttentionModule(8, AttentionConfig(kind="channel", hidden_channels=4, normalise="softmax"))


def test_forward_equals_forward_intermediates_and_probabilities_sum_to_one():
    model = _model().eval()
    peak, regions = model.example_inputs(4)
    with torch.no_grad():
        out = model(peak, regions)
        it = model.forward_intermediates(peak, regions)
    torch.testing.assert_close(out.P, it.P, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.P_G, it.P_G, atol=1e-6, rtol=0)
    for P in (out.P, out.P_G, out.P_L):
        torch.testing.assert_close(P.sum(-1), torch.ones(4))
        assert torch.isfinite(P).all()


def test_fused_probabilities_move_with_alpha():
    model = _model().eval()
    peak, regions = model.example_inputs(2)
    with torch.no_grad():
        out = {a: model(peak, regions, alpha=a) for a in (0.0, 0.3, 1.0)}
    torch.testing.assert_close(out[0.0].P, out[0.0].P_L)
    torch.testing.assert_close(out[1.0].P, out[1.0].P_G)
    torch.testing.assert_close(out[0.3].P, 0.3 * out[0.3].P_G + 0.7 * out[0.3].P_L)
    assert not torch.allclose(out[0.0].P, out[1.0].P)


def test_joint_loss_sends_gradient_to_every_parameter_of_both_branches():
    model = _model().train()
    peak, regions = model.example_inputs(4)
    out = model(peak, regions)
    loss = model.loss(out, torch.tensor([0, 1, 2, 3]))
    expected = (torch.nn.functional.cross_entropy(out.logits_G, torch.tensor([0, 1, 2, 3]))
                + torch.nn.functional.cross_entropy(out.logits_L, torch.tensor([0, 1, 2, 3])))
    torch.testing.assert_close(loss, expected)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_ablation_variant_builds_runs_and_lacks_what_it_should(variant):
    model = _model(variant=variant).eval()
    peak, regions = model.example_inputs(2)
    out = model(peak, regions)
    it = model.forward_intermediates(peak, regions)
    has_sgaer = variant in ("C1", "C3", "C4", "STANER")
    has_tler = variant in ("C2", "C4", "STANER")
    has_attention = variant in ("C3", "STANER")
    assert (model.sgaer is not None) == has_sgaer and (out.P_G is not None) == has_sgaer
    assert (model.tler is not None) == has_tler and (out.P_L is not None) == has_tler
    if has_sgaer:
        assert (model.sgaer.attention is not None) == has_attention
        assert (it.M is not None) == has_attention
        if not has_attention:
            assert it.F is it.U
    assert not any("attention" in n for n, _ in model.named_parameters()) or has_attention
    torch.testing.assert_close(out.P.sum(-1), torch.ones(2))
    model.loss(out, torch.tensor([1, 2])).backward()


def test_single_branch_variants_ignore_the_missing_input():
    c2 = _model(variant="C2").eval()
    _, regions = c2.example_inputs(1)
    assert c2(None, regions).P.shape == (1, 7)
    c3 = _model(variant="C3").eval()
    peak, _ = c3.example_inputs(1)
    assert c3(peak, None).P.shape == (1, 7)


@pytest.mark.parametrize("variant", ["C1", "C2", "C3"])
def test_single_branch_P_is_that_branch_and_the_absent_branch_contributes_nothing(variant):
    model = _model(variant=variant).eval()
    sgaer_only = variant in ("C1", "C3")
    peak, regions = model.example_inputs(3, generator=torch.Generator().manual_seed(1))
    other_peak, other_regions = model.example_inputs(3, generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([0, 3, 6])
    with torch.no_grad():
        out = model(peak, regions)
        it = model.forward_intermediates(peak, regions)
        # the branch's probabilities computed independently from its own logits
        branch_logits = model.sgaer(peak) if sgaer_only else model.tler(regions)
        # the absent input: None, or different random data; any alpha
        if sgaer_only:
            variants = [model(peak, None), model(peak, other_regions), model(peak, regions, alpha=0.0),
                        model(peak, regions, alpha=0.3)]
        else:
            variants = [model(None, regions), model(other_peak, regions), model(peak, regions, alpha=1.0),
                        model(peak, regions, alpha=0.3)]
    P_branch = out.P_G if sgaer_only else out.P_L
    assert (out.P_L if sgaer_only else out.P_G) is None
    assert (out.logits_L if sgaer_only else out.logits_G) is None
    assert out.alpha == (1.0 if sgaer_only else 0.0)
    torch.testing.assert_close(out.P, P_branch, rtol=0, atol=0)
    torch.testing.assert_close(P_branch, torch.softmax(branch_logits.float(), -1))
    torch.testing.assert_close(it.P, it.P_G if sgaer_only else it.P_L, rtol=0, atol=0)
    torch.testing.assert_close(it.P, out.P, rtol=0, atol=1e-6)
    assert (it.tler is None) if sgaer_only else (it.sgaer is None)
    for v in variants:
        torch.testing.assert_close(v.P, out.P, rtol=0, atol=0)
    # the other inputs did change something a two-branch model would see
    assert not torch.equal(other_peak, peak) and not torch.equal(other_regions["eyes"], regions["eyes"])
    # the loss is the present branch's cross-entropy alone (Eq. 4 or Eq. 13, no second term)
    expected = torch.nn.functional.cross_entropy(out.logits_G if sgaer_only else out.logits_L, labels)
    torch.testing.assert_close(model.loss(out, labels), expected)
    prefix_absent = "tler." if sgaer_only else "sgaer."
    assert not any(n.startswith(prefix_absent) for n, _ in model.named_parameters())


def test_forward_registers_no_hooks():
    model = _model().eval()
    peak, regions = model.example_inputs(1)
    model.forward_intermediates(peak, regions)
    model(peak, regions)
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks


def test_one_frame_and_longer_sequences_are_valid():
    model = _model().eval()
    for T in (1, 20):
        peak, regions = model.example_inputs(2, frames=T)
        assert model.forward_intermediates(peak, regions).tler.regions["eyes"].h.shape[1] == T


def test_bad_input_shapes_name_the_input():
    model = _model().eval()
    peak, regions = model.example_inputs(1)
    with pytest.raises(ValueError, match="peak face: expected \\(B, 1, 64, 64\\)"):
        model(peak[..., :32], regions)
    bad = dict(regions, mouth=regions["mouth"][..., :10])
    with pytest.raises(ValueError, match="regions\\['mouth'\\]"):
        model(peak, bad)
    with pytest.raises(ValueError, match="expected keys"):
        model(peak, {"eyes": regions["eyes"]})


def test_seeded_runs_are_deterministic():
    def run():
        model = _model(seed=123).train()
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        peak, regions = model.example_inputs(4, generator=torch.Generator().manual_seed(5))
        torch.manual_seed(7)  # dropout
        for _ in range(2):
            loss = model.loss(model(peak, regions), torch.tensor([0, 1, 2, 3]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item(), [p.detach().clone() for p in model.parameters()]

    (l1, p1), (l2, p2) = run(), run()
    assert l1 == l2
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))


@pytest.mark.parametrize("start", ["C1", "C2", "C3"])
def test_ablation_config_takes_a_missing_branch_from_the_base_preset(start):
    # a classroom C2 turned into STANER must get the classroom SGAER, not the paper-sized one
    classroom = preset("classroom")
    single = ablation_config(classroom, start)
    full = ablation_config(single, "STANER")
    assert full.sgaer.frontend == classroom.sgaer.frontend
    assert full.sgaer.end_channels == classroom.sgaer.end_channels
    assert full.tler == classroom.tler
    assert full.sgaer.attention.kind == "spatial"
    n_params = sum(p.numel() for p in STANER(full).parameters())
    assert n_params == sum(p.numel() for p in STANER(ablation_config(classroom, "STANER")).parameters())


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_forward_refuses_alpha_outside_0_1(alpha):
    model = STANER(preset("classroom")).eval()
    peak, regions = model.example_inputs(batch_size=2)
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        model(peak, regions, alpha=alpha)
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        model.forward_intermediates(peak, regions, alpha=alpha)


def test_loss_is_summed_in_float32_under_low_precision_logits():
    torch.manual_seed(0)
    logits = torch.randn(64, 7) * 4
    y = torch.randint(0, 7, (64,))
    exact = Fn.cross_entropy_from_logits(logits.double(), y)
    low = Fn.cross_entropy_from_logits(logits.bfloat16(), y)
    assert low.dtype == torch.float32
    # the only error left is the bf16 rounding of the logits themselves, not of the sum
    ref = torch.nn.functional.cross_entropy(logits.bfloat16().float(), y)
    assert torch.allclose(low, ref, rtol=1e-6, atol=1e-6)
    assert abs(float(low) - float(exact)) < 0.05


def test_each_branch_starts_from_the_same_weights_in_staner_and_in_its_ablations():
    # Paired ablations: with one seed, STANER's TLER is C2's at initialisation, its SGAER is C3's,
    # and C1 shares C3's front end; a different seed gives different weights.
    base = preset("classroom")

    def build(variant, seed=0):
        torch.manual_seed(seed)
        return STANER(ablation_config(base, variant))

    staner, c2, c3, c1 = build("STANER"), build("C2"), build("C3"), build("C1")
    for a, b in ((staner.tler, c2.tler), (staner.sgaer, c3.sgaer)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    front_c1, front_c3 = c1.sgaer.frontend.state_dict(), c3.sgaer.frontend.state_dict()
    assert all(torch.equal(front_c1[k], front_c3[k]) for k in front_c1)
    other = build("STANER", seed=1).tler.state_dict()
    assert not all(torch.equal(other[k], staner.tler.state_dict()[k]) for k in other)
