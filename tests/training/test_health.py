"""Training health (staner_lab/training/health.py), the loss and optimiser options around it, and
the legacy defaults that keep old checkpoints loading."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math

import numpy as np
import pytest
import torch

from staner_lab import functional as Fn
from staner_lab.cli import main
from staner_lab.config import (
    StanerConfig,
    TrainConfig,
    ablation_config,
    preset,
    train_preset,
)
from staner_lab.data.dataset import StanerDataset, batch_tensors, make_loader
from staner_lab.data.shipped import load_shipped_samples, shipped_checkpoint
from staner_lab.models import STANER
from staner_lab.training.checkpoint import (
    LEGACY_VALUES,
    load_checkpoint,
    load_model,
    read_train_config,
    upgrade_config,
)
from staner_lab.training.health import dead_regions, format_report, health_report
from staner_lab.training.loop import fit, lr_at, predict, train_one_epoch


@pytest.fixture(scope="module")
def shipped_samples():
    """The shipped sequences cut for the classroom preset (the shipped checkpoint uses larger faces)."""
    return load_shipped_samples(preset("classroom").inputs)[0]


@pytest.mark.slow
def test_a_region_whose_cnn_is_switched_off_is_reported_dead_and_the_others_are_not():
    torch.manual_seed(0)
    model = STANER(preset("classroom"))
    peak, regions = model.example_inputs(batch_size=16, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(16) % 7
    alive = health_report(model, peak, regions, labels)
    assert dead_regions(alive) == []
    with torch.no_grad():  # the last conv's bias far negative: every ReLU after it is off
        last_conv = [m for m in model.tler.clstm["nose"].cnn.layers if isinstance(m, torch.nn.Conv2d)][-1]
        last_conv.bias.fill_(-1e3)
    report = health_report(model, peak, regions, labels)
    assert dead_regions(report) == ["nose"]
    nose = report.regions["nose"]
    assert nose.dead_fraction == 1.0 and nose.input_drive == 0.0
    # with no input drive the gates move only through the recurrence from h_0 = 0: a fraction of the
    # spread the same region had alive, and less than any living region's
    assert max(nose.gate_spread.values()) < 0.5 * max(alive.regions["nose"].gate_spread.values())
    assert max(nose.gate_spread.values()) < min(max(report.regions[r].gate_spread.values()) for r in ("eyes", "mouth"))
    assert "DEAD" in format_report(report) and "dead: nose" in format_report(report)


def test_attention_hidden_units_switched_off_are_reported_dead_and_m_goes_flat():
    torch.manual_seed(0)
    model = STANER(preset("classroom"))
    peak, regions = model.example_inputs(batch_size=8, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(8) % 7
    alive = health_report(model, peak, regions, labels).sgaer
    assert alive.attention_dead_fraction < 0.5 and alive.M_spatial_std > 0
    with torch.no_grad():  # every hidden unit far below zero before its ReLU (after the batch norm, if any)
        scores = model.sgaer.attention.scores
        (scores.norm.bias if isinstance(scores.norm, torch.nn.BatchNorm2d) else scores.conv3x3.bias).fill_(-1e3)
    dead = health_report(model, peak, regions, labels).sgaer
    assert dead.attention_dead_fraction == 1.0
    assert dead.M_spatial_std == 0.0 and dead.M_min == dead.M_max  # every position: sigma(bias of conv1x1)
    model.loss(model(peak, regions), labels).backward()  # no gradient reaches the module's weights again
    assert scores.conv3x3.weight.grad.abs().max() == 0 and scores.conv1x1.weight.grad.abs().max() == 0
    assert "dead hidden units 100%" in format_report(health_report(model, peak, regions, labels))


def test_flat_m_shift_measures_what_sgaer_decision_owes_to_where_m_points():
    torch.manual_seed(0)
    model = STANER(preset("classroom")).eval()
    peak, regions = model.example_inputs(batch_size=8, generator=torch.Generator().manual_seed(3))
    labels = torch.arange(8) % 7
    with torch.no_grad():
        it = model.sgaer.forward_intermediates(peak)
        # the counterfactual path at the learned M is SGAER itself
        assert torch.allclose(model.sgaer.logits_with_map(it.U, it.M), it.logits, atol=1e-5)
        flat = it.M.mean(dim=(1, 2, 3), keepdim=True).expand_as(it.M)
        P_flat = torch.softmax(model.sgaer.logits_with_map(it.U, flat), dim=1)
    expect = float(0.5 * (it.P_G - P_flat).abs().sum(dim=1).mean())
    alive = health_report(model, peak, regions, labels).sgaer
    assert alive.flat_M_shift == pytest.approx(expect, rel=1e-4) and alive.flat_M_shift > 0
    assert "when M is made flat" in format_report(health_report(model, peak, regions, labels))
    with torch.no_grad():  # hidden units dead: M is already flat, so flattening it changes nothing
        scores = model.sgaer.attention.scores
        (scores.norm.bias if isinstance(scores.norm, torch.nn.BatchNorm2d) else scores.conv3x3.bias).fill_(-1e3)
    assert health_report(model, peak, regions, labels).sgaer.flat_M_shift == pytest.approx(0.0, abs=1e-6)
    c1 = STANER(ablation_config(preset("classroom"), "C1"))
    assert health_report(c1, peak, regions, labels).sgaer.flat_M_shift is None
    with pytest.raises(ValueError, match="no attention module"):
        c1.sgaer.logits_with_map(it.U, it.M)


def test_health_report_numbers_match_a_direct_computation():
    torch.manual_seed(0)
    model = STANER(preset("classroom"))
    peak, regions = model.example_inputs(batch_size=8, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(8) % 7
    report = health_report(model, peak, regions, labels)
    model.eval()
    with torch.no_grad():
        it = model.forward_intermediates(peak, regions)
    mouth = it.tler.regions["mouth"]
    assert report.regions["mouth"].feature_scale == pytest.approx(float(mouth.features.std()), rel=1e-5)
    W = model.tler.clstm["mouth"].lstm_weights()[0]
    drive = (mouth.features.flatten(0, 1) @ W.T).std(dim=0).mean()
    assert report.regions["mouth"].input_drive == pytest.approx(float(drive.detach()), rel=1e-5)
    assert report.sgaer.M_min == pytest.approx(float(it.M.min())) and report.sgaer.M_max == pytest.approx(float(it.M.max()))
    # gradient norms are those of Eq. 15 on this batch
    model.zero_grad()
    model.loss(model(peak, regions), labels).backward()
    expect = math.sqrt(sum(float(p.grad.norm() ** 2) for p in model.tler.clstm["eyes"].parameters()))
    assert report.regions["eyes"].grad_norm == pytest.approx(expect, rel=1e-4)


def test_health_report_leaves_mode_and_gradients_as_it_found_them():
    model = STANER(preset("classroom")).train()
    peak, regions = model.example_inputs(batch_size=4)
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    health_report(model, peak, regions, torch.zeros(4, dtype=torch.long))
    assert model.training
    assert all(torch.equal(p.grad, torch.full_like(p, 0.5)) for p in model.parameters())


def test_a_checkpoint_written_before_the_new_fields_loads_with_its_legacy_region_cnn(tmp_path, shipped_samples):
    # the first checkpoints (such as the first shipped classroom.pt) have no input_norm, batch_norm,
    # he_init, forget_bias or short_sequences in their config: they must load as they were trained
    samples = shipped_samples
    base = preset("classroom")
    legacy = dataclasses.replace(
        base, inputs=dataclasses.replace(base.inputs, **LEGACY_VALUES["inputs"]),
        sgaer=dataclasses.replace(base.sgaer, **LEGACY_VALUES["sgaer"]),
        tler=dataclasses.replace(base.tler, clstm=dataclasses.replace(base.tler.clstm, **LEGACY_VALUES["tler.clstm"])))
    torch.manual_seed(0)
    old_model = STANER(legacy).eval()
    payload = {"format": "staner-lab-checkpoint-1", "model": old_model.state_dict(), "extra": {}}
    config = json.loads(legacy.to_json())
    for key in LEGACY_VALUES["tler.clstm"]:
        del config["tler"]["clstm"][key]
    for key in LEGACY_VALUES["inputs"]:
        del config["inputs"][key]
    for key in LEGACY_VALUES["sgaer"]:
        del config["sgaer"][key]
    from staner_lab.training.checkpoint import FORMAT

    payload.update(format=FORMAT, config=json.dumps(config))
    torch.save(payload, tmp_path / "round1.pt")
    model = load_model(tmp_path / "round1.pt")
    clstm = model.config.tler.clstm
    assert (clstm.input_norm, clstm.batch_norm, clstm.he_init, clstm.forget_bias) == ("none", False, False, 0.0)
    assert clstm.difference_input is False and model.tler.clstm["nose"].cnn.layers[0].in_channels == 1
    assert model.config.inputs.short_sequences == "stretch"
    assert model.config.sgaer.end_norm == "none"
    peak, regions, _ = batch_tensors(samples[:8])
    with torch.no_grad():
        assert torch.equal(model(peak, regions).P, old_model(peak, regions).P)


@pytest.mark.slow
def test_the_end_batch_norm_lets_sgaer_leave_the_uniform_prediction_sooner(tmp_path, shipped_samples):
    # Without batch norm in SGAER's end convolution its class scores hardly differ between faces for
    # the first epochs and the training loss stays near ln 7 (docs/model.md, "SGAER leaving the uniform
    # prediction"); the same seed and data with it learn faster.
    samples = shipped_samples
    train = dataclasses.replace(train_preset("classroom"), epochs=6, lr_drop_epoch=6, seed=0)
    loss = {}
    for norm in ("none", "conv"):
        cfg = ablation_config(preset("classroom"), "C1")
        cfg = dataclasses.replace(cfg, sgaer=dataclasses.replace(cfg.sgaer, end_norm=norm))
        torch.manual_seed(0)
        result = fit(STANER(cfg), StanerDataset(samples, flip=True, seed=0), None, train, tmp_path / norm,
                     progress=False)
        loss[norm] = np.array([row["train_loss"] for row in result.history])
    # measured (seeds 0-2): lower at every epoch after the first, 0.7-1.3 lower summed over the six
    assert (loss["conv"][1:] < loss["none"][1:]).all(), loss
    assert loss["conv"].sum() < loss["none"].sum() - 0.4, loss


@pytest.mark.slow
def test_no_region_is_dead_after_a_short_training_on_synthetic_data(tmp_path, shipped_samples):
    samples = shipped_samples
    cfg = ablation_config(preset("classroom"), "C2")
    train = dataclasses.replace(train_preset("classroom"), epochs=6, lr_drop_epoch=5, seed=0)
    torch.manual_seed(0)
    result = fit(STANER(cfg), StanerDataset(samples, flip=True, seed=0), None, train, tmp_path, progress=False)
    report = health_report(result.model, *batch_tensors(samples[:70]))
    assert dead_regions(report) == [], format_report(report)
    for r, h in report.regions.items():
        assert h.input_drive > 0.1, (r, h)
        assert max(h.gate_spread.values()) > 1e-3, (r, h)  # the gates move with the sequence
    # fit logged the same measures every epoch
    with (tmp_path / "health.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(float(r["epoch"])) for r in rows] == list(range(6))
    assert all(float(rows[-1][f"{r}_drive"]) > 0.1 for r in ("eyes", "nose", "mouth"))


@pytest.mark.slow
def test_the_legacy_region_cnn_leaves_the_nose_dead_where_the_new_one_does_not(tmp_path, shipped_samples):
    # the measurement behind the defaults of CLSTMConfig, at a tiny budget: same data, seed, epochs
    samples = shipped_samples
    train = dataclasses.replace(train_preset("classroom"), epochs=6, lr_drop_epoch=5, seed=0)
    drives = {}
    for name, clstm in (("legacy", LEGACY_VALUES["tler.clstm"]), ("new", {})):
        base = preset("classroom")
        base = dataclasses.replace(base, tler=dataclasses.replace(
            base.tler, clstm=dataclasses.replace(base.tler.clstm, **clstm)))
        torch.manual_seed(0)
        model = fit(STANER(ablation_config(base, "C2")), StanerDataset(samples, flip=True, seed=0), None, train,
                    tmp_path / name, progress=False).model
        drives[name] = health_report(model, *batch_tensors(samples[:70])).regions["nose"].input_drive
    assert drives["new"] > 10 * drives["legacy"], drives


@pytest.mark.slow
def test_health_command_prints_a_table_and_json(capsys, tmp_path):
    assert main(["health", "--checkpoint", str(shipped_checkpoint())]) == 0
    out = capsys.readouterr().out
    assert "TLER (region sequences)" in out and "verdict:" in out
    assert main(["health", "--checkpoint", str(shipped_checkpoint()), "--json", "--batch", "8"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["batch_size"] == 8 and set(data["regions"]) == {"eyes", "nose", "mouth"}
    assert main(["health", "--run", str(tmp_path)]) == 2
    assert "holds no model.pt" in capsys.readouterr().err


def test_class_weighted_loss_equals_torch_weighted_cross_entropy():
    torch.manual_seed(0)
    logits, y = torch.randn(12, 7), torch.randint(0, 7, (12,))
    w = torch.rand(7) + 0.5
    ours = Fn.class_weighted_cross_entropy(logits, y, w)
    assert torch.allclose(ours, torch.nn.functional.cross_entropy(logits, y, weight=w), atol=1e-6)
    assert torch.allclose(Fn.class_weighted_cross_entropy(logits, y, torch.ones(7)),
                          Fn.cross_entropy_from_logits(logits, y), atol=1e-6)


def test_gradient_clipping_bounds_the_update():
    torch.manual_seed(0)
    cfg = ablation_config(preset("classroom"), "C2")
    samples = load_shipped_samples(cfg.inputs)[0][:16]
    steps = {}
    for clip in (None, 1e-3):
        torch.manual_seed(0)
        model = STANER(cfg)
        before = [p.detach().clone() for p in model.parameters()]
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
        train_one_epoch(model, make_loader(StanerDataset(samples), 16), opt, torch.device("cpu"), grad_clip=clip)
        steps[clip] = math.sqrt(sum(float((p - b).norm() ** 2) for p, b in zip(model.parameters(), before)))
    assert steps[1e-3] == pytest.approx(1e-3, rel=1e-3)  # one SGD step of lr 1 moves by the clipped norm
    assert steps[None] > 100 * steps[1e-3]


def test_cosine_schedule_runs_from_lr_to_lr_after():
    cfg = TrainConfig(epochs=11, lr=1e-3, lr_after=1e-5, schedule="cosine")
    values = [lr_at(e, cfg) for e in range(11)]
    assert values[0] == pytest.approx(1e-3) and values[-1] == pytest.approx(1e-5)
    assert values[5] == pytest.approx((1e-3 + 1e-5) / 2)
    assert all(a > b for a, b in itertools.pairwise(values))
    step = TrainConfig(epochs=11, lr=1e-3, lr_after=1e-5, lr_drop_epoch=4)
    assert [lr_at(e, step) for e in (3, 4)] == [1e-3, 1e-5]


def test_configs_written_before_a_field_existed_load_with_the_behaviour_they_were_trained_with():
    cfg = json.loads(preset("classroom").to_json())
    for key in LEGACY_VALUES["tler.clstm"]:
        del cfg["tler"]["clstm"][key]
    old = StanerConfig.from_dict(upgrade_config(cfg)).tler.clstm
    assert (old.input_norm, old.batch_norm, old.he_init, old.forget_bias) == ("none", False, False, 0.0)
    new = StanerConfig.from_json(preset("classroom").to_json()).tler.clstm
    assert (new.input_norm, new.batch_norm, new.he_init, new.forget_bias) == ("frame", True, True, 1.0)
    train = json.loads(TrainConfig().to_json())
    del train["grad_clip"]
    assert read_train_config(json.dumps(train)).grad_clip is None and TrainConfig().grad_clip == 5.0


def test_forget_bias_is_set_in_the_f_rows_only():
    model = STANER(preset("classroom"))
    lstm = model.tler.clstm["eyes"].lstm
    N = lstm.hidden_size
    b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach()
    assert torch.all(b[N:2 * N] == 1.0)
    assert not torch.all(b[:N] == 1.0) and not torch.all(b[3 * N:] == 1.0)


@pytest.mark.slow
def test_model_selection_uses_training_subjects_only_and_keeps_the_best_epoch(tmp_path, shipped_samples):
    from staner_lab.training.fold import FoldRun, RunOptions, run_fold

    samples = shipped_samples
    subjects = sorted({s.subject for s in samples})
    test_idx = [i for i, s in enumerate(samples) if s.subject in subjects[:2]]
    train_idx = [i for i, s in enumerate(samples) if s.subject not in subjects[:2]]
    cfg = ablation_config(preset("classroom"), "C2")
    train = dataclasses.replace(train_preset("classroom"), epochs=4, lr_drop_epoch=3, seed=0, select_fraction=0.25)
    res = run_fold(FoldRun(cfg.variant, 0, 0, 1, cfg, train, np.array(train_idx), np.array(test_idx), tmp_path), samples,
                   RunOptions(amp=False, progress=False))
    chosen = set(res["selection_subjects"])
    assert chosen and not chosen & set(subjects[:2])  # never the test fold
    assert chosen < {samples[i].subject for i in train_idx}
    history = res["history"]
    best = max(history, key=lambda r: (r["val_acc"], -r["val_loss"], -r["epoch"]))
    assert res["best_epoch"] == best["epoch"]
    assert load_checkpoint(tmp_path / "best.pt")["extra"]["epoch"] == best["epoch"]
    # the test fold was predicted by the selected weights
    best_model = STANER(cfg)
    best_model.load_state_dict(load_checkpoint(tmp_path / "best.pt")["model"])
    pred = predict(best_model.eval(), make_loader(StanerDataset([samples[i] for i in test_idx]), 32),
                   torch.device("cpu"), amp=False)
    assert pred.accuracy == pytest.approx(res["accuracy"])


@pytest.mark.slow
def test_per_branch_selection_keeps_each_branch_from_its_own_best_epoch(tmp_path, shipped_samples):
    samples = shipped_samples
    subjects = sorted({s.subject for s in samples})
    fit_set = StanerDataset([s for s in samples if s.subject not in subjects[:3]], flip=True, seed=0)
    val_set = StanerDataset([s for s in samples if s.subject in subjects[:3]])
    cfg = preset("classroom")
    train = dataclasses.replace(train_preset("classroom"), epochs=5, lr_drop_epoch=4, seed=0, select="per_branch")

    def trained(epochs, run_dir, select_best):
        torch.manual_seed(0)
        return fit(STANER(cfg), fit_set, val_set, dataclasses.replace(train, epochs=epochs), run_dir,
                   amp=False, progress=False, select_best=select_best)

    res = trained(5, tmp_path / "sel", True)
    epochs = res.best_epochs
    for b, key in (("G", "val_acc_G"), ("L", "val_acc_L")):  # each branch's best by its own accuracy, then NLL
        best = max(res.history, key=lambda r: (r[key], -r[f"val_nll_{b}"], -r["epoch"]))
        assert epochs[b] == best["epoch"]
    assert load_checkpoint(tmp_path / "sel" / "best.pt")["extra"]["epochs"] == epochs
    selected = res.model.state_dict()
    for b, prefix in (("G", "sgaer."), ("L", "tler.")):  # training is deterministic: rerun up to that epoch
        then = trained(epochs[b] + 1, tmp_path / f"upto_{b}", False).model.state_dict()
        for k, v in then.items():
            if k.startswith(prefix):
                assert torch.equal(selected[k], v), k


def test_choose_alpha_picks_the_best_weight_and_keeps_one_half_on_ties():
    from staner_lab.training.fusion import choose_alpha, fused_accuracy

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 60)
    P_L = np.eye(7)[labels] * 0.6 + 0.4 / 7  # the temporal branch is right every time
    P_G = rng.dirichlet(np.ones(7), 60)  # the spatial branch is noise
    a = choose_alpha(P_G, P_L, labels)
    assert fused_accuracy(P_G, P_L, labels, a) == 1.0 and fused_accuracy(P_G, P_L, labels, 0.5) < 1.0
    assert choose_alpha(P_L, P_L, labels) == 0.5  # both equal: every α ties, the paper's 0.5 stays


def test_choose_alpha_weighs_confidence_where_accuracy_ties():
    from staner_lab.training.fusion import choose_alpha, fused_accuracy, fused_nll

    labels = np.arange(70) % 7
    P_L = np.eye(7)[labels] * 0.6 + 0.4 / 7  # right every time
    P_G = np.full((70, 7), 1 / 7)  # says nothing: every α < 1 has the same accuracy
    assert {fused_accuracy(P_G, P_L, labels, a) for a in (0.0, 0.5, 0.9)} == {1.0}
    assert choose_alpha(P_G, P_L, labels) == 0.0  # but only α = 0 keeps the temporal branch's confidence
    assert fused_nll(P_G, P_L, labels, 0.0) < fused_nll(P_G, P_L, labels, 0.5)


def test_select_alpha_fuses_the_test_fold_with_the_alpha_chosen_on_training_subjects(tmp_path, shipped_samples):
    from staner_lab.training.fold import FoldRun, RunOptions, run_fold
    from staner_lab.training.fusion import choose_alpha

    samples = shipped_samples
    subjects = sorted({s.subject for s in samples})
    test_idx = [i for i, s in enumerate(samples) if s.subject in subjects[:2]]
    train_idx = [i for i, s in enumerate(samples) if s.subject not in subjects[:2]]
    cfg = preset("classroom")
    train = dataclasses.replace(train_preset("classroom"), epochs=2, lr_drop_epoch=1, seed=0, select_fraction=0.25,
                                select_alpha=True)
    res = run_fold(FoldRun(cfg.variant, 0, 0, 1, cfg, train, np.array(train_idx), np.array(test_idx), tmp_path), samples,
                   RunOptions(amp=False, progress=False))
    model = STANER(cfg)
    model.load_state_dict(load_checkpoint(tmp_path / "best.pt")["model"])
    chosen = [samples[i] for i in train_idx if samples[i].subject in set(res["selection_subjects"])]
    seen = predict(model.eval(), make_loader(StanerDataset(chosen), 32), torch.device("cpu"), amp=False)
    assert res["alpha"] == choose_alpha(seen.P_G, seen.P_L, seen.labels)
    with (tmp_path / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    names = cfg.class_names
    for row in rows:  # the written P is Eq. 14 at the chosen α
        P = np.array([float(row[f"P_{c}"]) for c in names])
        fused = res["alpha"] * np.array([float(row[f"G_P_{c}"]) for c in names]) + (1 - res["alpha"]) * np.array(
            [float(row[f"L_P_{c}"]) for c in names])
        assert np.allclose(P, fused, atol=2e-6)
    assert main(["train", "--data", "x", "--out", str(tmp_path / "r"), "--set", "train.select_alpha=true"]) == 2


def test_the_score_spread_shows_a_branch_that_gives_every_face_the_same_scores():
    model = load_model(shipped_checkpoint()).eval()
    samples, _ = load_shipped_samples(model.config.inputs)
    batch = batch_tensors(samples[:16])
    trained = health_report(model, *batch).sgaer.logit_spread
    assert trained > 1.0  # the shipped model tells the faces apart
    with torch.no_grad():
        model.sgaer.classifier.weight.zero_()  # every face now gets the classifier's bias as scores
    stuck = health_report(model, *batch)
    assert stuck.sgaer.logit_spread == 0.0
    assert "class scores' spread over faces 0" in format_report(stuck)
