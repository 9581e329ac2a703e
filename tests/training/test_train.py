"""Training, resume, cross-validation and ablation through the CLI on tiny synthetic data."""

import csv
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from staner_lab.cli import main
from staner_lab.config import CK_PLUS_CLASSES, REGIONS, TrainConfig, preset
from staner_lab.data.dataset import StanerDataset
from staner_lab.data.readers import read_ckplus
from staner_lab.data.records import Sample
from staner_lab.data.shipped import shipped_checkpoint
from staner_lab.data.synthetic import generate_dataset, write_ckplus
from staner_lab.models import STANER
from staner_lab.training.checkpoint import load_checkpoint
from staner_lab.training.fold import holdout_split
from staner_lab.training.loop import fit, lr_at

CLASSES = ("anger", "happy", "surprise")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """4 subjects x 3 emotions, 3 frames of 64x64, in the CK+ layout; a private cache folder."""
    root = tmp_path_factory.mktemp("tiny")
    write_ckplus(generate_dataset(4, seed=3, frames=3, size=64, emotions=CLASSES, noise=0.3), root / "data")
    return root


def _common(tiny, out, *extra):
    return ["--data", str(tiny / "data"), "--cache", str(tiny / "cache"), "--out", str(out), "--epochs", "2",
            "--batch-size", "4", "--no-progress", *extra]


def test_lr_schedule_is_the_papers():
    cfg = TrainConfig()
    assert lr_at(0, cfg) == lr_at(99, cfg) == 1e-4
    assert lr_at(100, cfg) == lr_at(149, cfg) == 1e-5


@pytest.mark.slow
def test_train_two_epochs_end_to_end(tiny, tmp_path, capsys):
    assert main(["train", *_common(tiny, tmp_path / "run")]) == 0
    run = tmp_path / "run"
    assert (run / "model.pt").is_file() and (run / "last.pt").is_file()
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert all(np.isfinite(float(r["train_loss"])) for r in rows)
    res = json.loads((run / "results.json").read_text())
    assert res["class_names"] == list(CK_PLUS_CLASSES)  # the CK+ reader keeps CK+'s seven codes
    # held-out accuracy recomputed from the run's written predictions and confusion matrix
    preds = list(csv.DictReader((run / "predictions.csv").open()))
    assert res["held_out_size"] > 0 and len(preds) == res["held_out_size"]
    assert res["held_out_accuracy"] == pytest.approx(np.mean([p["label"] == p["predicted"] for p in preds]))
    cm = np.array(res["confusion_matrix"])
    assert cm.sum() == res["held_out_size"]
    assert res["held_out_accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    names = list(CK_PLUS_CLASSES)
    recount = np.zeros_like(cm)
    for p in preds:
        recount[names.index(p["label"]), names.index(p["predicted"])] += 1
    assert recount.tolist() == cm.tolist()
    # subject-independence: the held-out subjects are the predictions' subjects, none of them trained on
    images = tiny / "data" / "cohn-kanade-images"
    all_subjects = {d.name for d in images.iterdir() if d.is_dir()}
    held_out = set(res["held_out_subjects"])
    assert {p["subject"] for p in preds} == held_out and held_out < all_subjects
    train_subjects = all_subjects - held_out
    assert res["train_size"] == sum(1 for s in train_subjects for d in (images / s).iterdir() if d.is_dir())
    assert res["train_size"] + res["held_out_size"] == 12
    records, _ = read_ckplus(tiny / "data")
    train_idx, val_idx = holdout_split(records, 0.2, 0)  # the CLI's defaults: --val-fraction 0.2, --seed 0
    assert {records[i].subject for i in val_idx} == held_out
    assert {records[i].subject for i in train_idx} == train_subjects
    assert train_subjects.isdisjoint(held_out)
    assert "held-out" in capsys.readouterr().out
    # predict and evaluate with the trained checkpoint
    seq = next((tiny / "data" / "cohn-kanade-images").glob("S*/*"))
    assert main(["predict", "--checkpoint", str(run / "model.pt"), str(seq)]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert set(pred["P"]) == set(CK_PLUS_CLASSES)
    assert abs(sum(pred["P"].values()) - 1) < 1e-4 and pred["P_G"] and pred["P_L"]
    a = pred["alpha"]
    for c in CK_PLUS_CLASSES:  # Eq. 14: the fused P from the two branches' (6-decimal) probabilities
        assert pred["P"][c] == pytest.approx(a * pred["P_G"][c] + (1 - a) * pred["P_L"][c], abs=2e-6)
    assert pred["predicted"] == max(pred["P"], key=pred["P"].get)
    assert pred["landmarks"] == "given"
    assert main(["evaluate", "--checkpoint", str(run / "model.pt"), "--data", str(tiny / "data"),
                 "--cache", str(tiny / "cache"), "--no-progress", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["sequences"] == 12 and np.array(ev["confusion_matrix"]).sum() == 12
    assert set(ev["branches"]) == {"P_G", "P_L", "P"}
    assert ev["branches"]["P"]["accuracy"] == pytest.approx(ev["accuracy"])
    for branch in ev["branches"].values():
        assert 0 <= branch["ece"] <= 1 and set(branch["per_class_recall"]) == set(CK_PLUS_CLASSES)


@pytest.mark.slow
def test_existing_results_are_not_overwritten(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *_common(tiny, run)]) == 0
    before = (run / "model.pt").read_bytes()
    assert main(["train", *_common(tiny, run)]) == 2
    assert "already holds results" in capsys.readouterr().err
    assert (run / "model.pt").read_bytes() == before
    assert main(["train", *_common(tiny, run, "--overwrite", "--seed", "1")]) == 0
    assert (run / "model.pt").read_bytes() != before


def _samples(n_subjects=3, T=8):
    rng = np.random.default_rng(0)
    cfg = preset("classroom", class_names=CLASSES)
    out = []
    for s in range(n_subjects):
        for label in range(3):
            regions = {r: rng.random((T, *cfg.inputs.region_sizes[r]), dtype=np.float32) for r in cfg.inputs.region_sizes}
            out.append(Sample(peak=rng.random((64, 64), dtype=np.float32), regions=regions,
                              landmarks=rng.random((T, 68, 2), dtype=np.float32) * 60, label=label,
                              subject=f"S{s}", sequence_id=f"S{s}/{label}"))
    return cfg, out


@pytest.mark.slow
def test_interrupted_and_resumed_training_equals_uninterrupted(tmp_path):
    cfg, samples = _samples()
    tc = TrainConfig(epochs=4, batch_size=4, lr=1e-3, lr_drop_epoch=2, lr_after=1e-4, seed=5)

    def run(folder, stop_after=None):
        torch.manual_seed(0)
        model = STANER(cfg)

        def stop(row):
            if stop_after is not None and row["epoch"] == stop_after:
                raise KeyboardInterrupt

        try:
            fit(model, StanerDataset(samples, flip=True, seed=tc.seed), None, tc, folder, progress=False, on_epoch=stop)
        except KeyboardInterrupt:
            return None
        return model

    straight = run(tmp_path / "a")
    assert run(tmp_path / "b", stop_after=1) is None
    assert load_checkpoint(tmp_path / "b" / "last.pt")["extra"]["epoch"] == 1
    torch.manual_seed(123)  # a different global RNG state must not matter
    resumed_model = STANER(cfg)
    fit(resumed_model, StanerDataset(samples, flip=True, seed=tc.seed), None, tc, tmp_path / "b", resume=True,
        progress=False)
    for (name, a), b in zip(straight.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name
    rows = list(csv.DictReader((tmp_path / "b" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]


@pytest.mark.slow
def test_killed_cli_run_resumes_to_the_same_weights(tiny, tmp_path):
    args = ["--data", str(tiny / "data"), "--cache", str(tiny / "cache"), "--epochs", "8", "--batch-size", "4",
            "--no-progress", "--val-fraction", "0"]
    cmd = [sys.executable, "-m", "staner_lab.cli", "train", *args]
    subprocess.run(cmd + ["--out", str(tmp_path / "straight")], check=True, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        metrics = killed / "metrics.csv"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:  # header + 2 epochs
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = load_checkpoint(killed / "last.pt")["extra"]["epoch"]
    assert done < 7, "the run finished before it could be killed"
    assert not (killed / "model.pt").exists()
    subprocess.run(cmd + ["--out", str(killed), "--resume"], check=True, capture_output=True)
    a = load_checkpoint(tmp_path / "straight" / "model.pt")["model"]
    b = load_checkpoint(killed / "model.pt")["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_cv_results_schema_and_recomputed_accuracy(tiny, tmp_path):
    run = tmp_path / "cv"
    assert main(["cv", *_common(tiny, run, "--folds", "2")]) == 0
    res = json.loads((run / "results.json").read_text())
    for key in ("folds", "accuracy_mean", "accuracy_std", "per_class_recall", "confusion_matrix", "class_names",
                "config", "seed", "versions", "wall_time_s", "train_config"):
        assert key in res, key
    assert len(res["folds"]) == 2 and all({"accuracy", "test_size"} <= set(f) for f in res["folds"])
    assert set(res["per_class_recall"]) == set(res["class_names"])
    assert np.array(res["confusion_matrix"]).sum() == 12
    assert (run / "confusion.html").stat().st_size > 1000 and (run / "confusion.png").stat().st_size > 1000
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert {r["fold"] for r in rows} == {"0", "1"}
    # accuracy recomputed from the saved predictions equals the reported figure
    all_subjects = {f"S{i:03d}" for i in range(1, 5)}
    accs = []
    for k, fold in enumerate(res["folds"]):
        preds = list(csv.DictReader((run / f"fold_{k}" / "predictions.csv").open()))
        assert len(preds) == fold["test_size"]
        acc = np.mean([p["label"] == p["predicted"] for p in preds])
        assert acc == pytest.approx(fold["accuracy"])
        accs.append(acc)
        # subject-independence: test subjects are exactly the predictions' subjects, disjoint from train
        test_subjects = {p["subject"] for p in preds}
        assert test_subjects == set(fold["test_subjects"])
        assert fold["train_size"] == 3 * len(all_subjects - test_subjects)
    assert np.mean(accs) == pytest.approx(res["accuracy_mean"])
    assert set(res["folds"][0]["test_subjects"]).isdisjoint(res["folds"][1]["test_subjects"])


@pytest.mark.slow
def test_ablate_writes_table_with_all_five_rows(tiny, tmp_path, capsys):
    run = tmp_path / "ab"
    assert main(["ablate", *_common(tiny, run, "--folds", "2", "--epochs", "1")]) == 0
    table = (run / "table1.md").read_text().splitlines()
    assert [line.split("|")[1].strip() for line in table[2:]] == ["C1", "C2", "C3", "C4", "STANER"]
    assert all("±" in line for line in table[2:])
    rows = list(csv.DictReader((run / "table1.csv").open()))
    assert [r["method"] for r in rows] == ["C1", "C2", "C3", "C4", "STANER"]
    # every variant used the same folds
    subjects = {v: [f["test_subjects"] for f in json.loads((run / v / "results.json").read_text())["folds"]]
                for v in ("C1", "STANER")}
    assert subjects["C1"] == subjects["STANER"]


def test_bad_inputs_give_clear_errors(tiny, tmp_path, capsys):
    assert main(["cv", *_common(tiny, tmp_path / "x", "--folds", "9")]) == 2
    assert "more folds than subjects" in capsys.readouterr().err
    one = tmp_path / "one"
    write_ckplus(generate_dataset(2, seed=1, frames=2, size=64, emotions=("happy",), noise=0.3), one)
    assert main(["train", "--data", str(one), "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "y"),
                 "--no-progress"]) == 2
    assert "class" in capsys.readouterr().err
    # a checkpoint trained on other classes
    run = tmp_path / "run"
    assert main(["train", *_common(tiny, run)]) == 0
    other = tmp_path / "other"  # class folders: calm / excited, frames of synthetic faces
    import cv2

    for seq, name in zip(generate_dataset(2, seed=1, frames=2, size=64, emotions=("happy", "sadness"), noise=0.3),
                         ["calm", "excited"] * 2):
        folder = other / name / seq.sequence_id.replace("/", "_")
        folder.mkdir(parents=True)
        for t, frame in enumerate(seq.frames):
            cv2.imwrite(str(folder / f"{t:03d}.png"), frame)
    assert main(["evaluate", "--checkpoint", str(run / "model.pt"), "--data", str(other),
                 "--cache", str(tmp_path / "c"), "--no-progress"]) == 2
    assert "trained on classes" in capsys.readouterr().err
    assert main(["predict", "--checkpoint", str(tmp_path / "missing.pt"), str(other)]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.slow
def test_cv_over_seeds_layout_resume_and_refusals(tiny, tmp_path, capsys):
    run = tmp_path / "cv"
    assert main(["cv", *_common(tiny, run, "--folds", "2", "--epochs", "1", "--seeds", "0", "1")]) == 0
    assert "over 2 seeds x 2 folds" in capsys.readouterr().out
    assert not list(run.glob("fold_*")) and {p.name for p in run.glob("seed_*")} == {"seed_0", "seed_1"}
    res = json.loads((run / "results.json").read_text())
    assert [(f["seed"], f["fold"]) for f in res["folds"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    accs = []
    for s in (0, 1):
        one = json.loads((run / f"seed_{s}" / "results.json").read_text())  # a complete one-seed run folder
        assert one["seed"] == one["train_config"]["seed"] == s and one["seeds"] == [s]
        assert (run / f"seed_{s}" / "fold_1" / "last.pt").is_file()
        accs += [f["accuracy"] for f in one["folds"]]
        assert [f["test_subjects"] for f in one["folds"]] == [f["test_subjects"] for f in res["folds"] if f["seed"] == s]
    assert res["accuracy_mean"] == pytest.approx(np.mean(accs)) and res["accuracy_std"] == pytest.approx(np.std(accs))
    assert np.array(res["confusion_matrix"]).sum() == 2 * 12  # every sequence tested once per seed
    assert {r["seed"] for r in csv.DictReader((run / "metrics.csv").open())} == {"0", "1"}
    # resume: finished folds of every seed are reused, a new seed is added in its own folder
    done = (run / "seed_1" / "fold_0" / "result.json").stat().st_mtime_ns
    assert main(["cv", *_common(tiny, run, "--folds", "2", "--epochs", "1", "--seeds", "0", "1", "2", "--resume")]) == 0
    assert (run / "seed_1" / "fold_0" / "result.json").stat().st_mtime_ns == done
    assert json.loads((run / "results.json").read_text())["seeds"] == [0, 1, 2]
    # a one-seed resume of a several-seed run (and the other way round) is refused, nothing is touched
    assert main(["cv", *_common(tiny, run, "--folds", "2", "--epochs", "1", "--resume")]) == 2
    assert "several seeds" in capsys.readouterr().err
    assert main(["cv", *_common(tiny, run, "--folds", "2", "--epochs", "1")]) == 2  # no --resume, no --overwrite
    assert "already holds results" in capsys.readouterr().err
    assert main(["cv", *_common(tiny, run, "--folds", "2", "--seeds", "1", "1")]) == 2
    assert "twice" in capsys.readouterr().err


@pytest.mark.slow
def test_face_size_option_reaches_the_trained_model_and_bad_sizes_are_refused(tiny, tmp_path, capsys):
    from staner_lab.training.checkpoint import load_model

    assert main(["train", *_common(tiny, tmp_path / "run", "--set", "inputs.face_size=96")]) == 0
    model = load_model(tmp_path / "run" / "model.pt")
    assert model.config.inputs.face_size == 96
    peak, _ = model.example_inputs(batch_size=1)
    assert peak.shape[-1] == 96 and model.sgaer.forward_intermediates(peak).M.shape[-1] == 12
    assert main(["train", *_common(tiny, tmp_path / "bad", "--set", "inputs.face_size=100")]) == 2
    assert "--set inputs.face_size=100: inputs.face_size 100: SGAER's front end halves the face three times; give " \
           "a multiple of 8" in capsys.readouterr().err


@pytest.mark.slow
def test_difference_input_is_the_default_and_the_option_turns_it_off(tiny, tmp_path):
    from staner_lab.training.checkpoint import load_model

    assert preset("classroom").tler.clstm.difference_input and preset("paper").tler.clstm.difference_input
    assert main(["train", *_common(tiny, tmp_path / "run", "--set", "tler.clstm.difference_input=false")]) == 0
    model = load_model(tmp_path / "run" / "model.pt")
    assert not any(model.tler.clstm[r].config.difference_input for r in REGIONS)
    assert all(model.tler.clstm[r].cnn.layers[0].in_channels == 1 for r in REGIONS)
    assert load_model(shipped_checkpoint()).config.tler.clstm.difference_input  # trained with it


@pytest.mark.slow
def test_end_norm_option_reaches_the_trained_model(tiny, tmp_path):
    from staner_lab.training.checkpoint import load_model

    assert main(["train", *_common(tiny, tmp_path / "run", "--set", "sgaer.end_norm=none")]) == 0
    model = load_model(tmp_path / "run" / "model.pt")
    assert model.config.sgaer.end_norm == "none"
    assert isinstance(model.sgaer.end_conv.bn1, torch.nn.Identity)
    # the default fuses better (docs/model.md); the shipped checkpoint keeps "none" for its map
    assert preset("classroom").sgaer.end_norm == "conv" and preset("paper").sgaer.end_norm == "conv"
    assert load_model(shipped_checkpoint()).config.sgaer.end_norm == "none"


@pytest.mark.slow
def test_label_smoothing_trains_towards_softened_targets_and_is_checked(tiny, tmp_path, capsys):
    from staner_lab.training.loop import _smoothed

    y = torch.tensor([0, 2])
    assert torch.equal(_smoothed(y, 3, 0.0), y)  # the paper's one-hot loss, untouched
    torch.testing.assert_close(_smoothed(y, 3, 0.3), torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]]))
    # same seed, same data: only the targets differ, so the first epoch's loss differs
    losses = {}
    for eps in ("0", "0.2"):
        run = tmp_path / f"ls{eps}"
        assert main(["train", *_common(tiny, run, "--set", f"train.label_smoothing={eps}")]) == 0
        losses[eps] = [float(r["train_loss"]) for r in csv.DictReader((run / "metrics.csv").open())]
        assert load_checkpoint(run / "model.pt")["extra"]["train_config"]
    assert losses["0"][0] != losses["0.2"][0]
    assert json.loads((tmp_path / "ls0.2" / "results.json").read_text())["train_config"]["label_smoothing"] == 0.2
    assert main(["train", *_common(tiny, tmp_path / "bad", "--set", "train.label_smoothing=1")]) == 2
    assert "TrainConfig.label_smoothing (--set train.label_smoothing) must be in [0, 1), got 1.0" in capsys.readouterr().err


@pytest.mark.slow
def test_init_starts_from_a_checkpoint_of_the_same_model_only(tiny, tmp_path, capsys):
    from staner_lab.training.fold import seeded_model

    first = tmp_path / "first"
    assert main(["train", *_common(tiny, first)]) == 0
    cfg = load_checkpoint(first / "model.pt")["config"]
    started = seeded_model(cfg, TrainConfig(seed=5, init=str(first / "model.pt")))
    saved = load_checkpoint(first / "model.pt")["model"]
    assert all(torch.equal(v, saved[k]) for k, v in started.state_dict().items())
    assert main(["train", *_common(tiny, tmp_path / "second", "--init", str(first / "model.pt"))]) == 0
    # a model of another architecture, or another variant, is refused before training, naming the fix
    assert main(["train", *_common(tiny, tmp_path / "c1", "--init", str(first / "model.pt"), "--variant", "C1")]) == 2
    err = capsys.readouterr().err
    assert "is not this classroom C1 model" in err and "same --preset, --variant" in err
    assert main(["cv", *_common(tiny, tmp_path / "x", "--init", str(tmp_path / "none.pt"), "--folds", "2")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
