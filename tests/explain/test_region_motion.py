"""Region motion (staner_lab.explain.regions.region_motion): TLER on a whole data set with regions
stilled, and benchmarks/region_motion.py, which prints it for a checkpoint and a folder, or a cv run."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from staner_lab import viz
from staner_lab.cli import main
from staner_lab.config import REGIONS, ablation_config, preset
from staner_lab.data.dataset import StanerDataset, make_loader
from staner_lab.data.shipped import load_shipped_samples, shipped_checkpoint, shipped_data_dir
from staner_lab.data.synthetic.sequence import generate_dataset
from staner_lab.data.synthetic.writer import write_ckplus
from staner_lab.explain import MOTION_CASES, make_baseline, region_motion, still_regions
from staner_lab.models import STANER
from staner_lab.training.checkpoint import load_model
from staner_lab.training.loop import predict

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model():
    return load_model(shipped_checkpoint())


@pytest.fixture(scope="module")
def samples(model):
    return load_shipped_samples(model.config.inputs)[0]


@pytest.fixture(scope="module")
def motion(model, samples, one_thread):
    return region_motion(model, samples)


def test_a_stilled_region_is_the_neutral_baseline_of_region_ablation_and_the_others_stay(samples):
    s = samples[3]
    out = still_regions(s, {"eyes"})
    seq = torch.from_numpy(s.regions["eyes"])[None, :, None]  # (1, T, 1, h, w)
    np.testing.assert_array_equal(out.regions["eyes"], make_baseline(seq, "neutral")[0, :, 0].numpy())
    assert not np.array_equal(out.regions["eyes"], s.regions["eyes"])  # the eyes did move
    assert all(out.regions[r] is s.regions[r] for r in ("nose", "mouth"))
    assert out.peak is s.peak and out.label == s.label
    with pytest.raises(ValueError, match="no region"):
        still_regions(s, {"brows"})


def test_as_recorded_is_what_predict_answers_and_the_counts_and_recalls_add_up(model, samples, motion):
    pred = predict(model, make_loader(StanerDataset(samples), 32), torch.device("cpu"), amp=False)
    assert motion.cases == tuple(name for name, _ in MOTION_CASES)
    np.testing.assert_array_equal(motion.named[0], pred.P_L.argmax(axis=1))
    np.testing.assert_array_equal(motion.labels, pred.labels)
    assert motion.counts().sum(axis=1).tolist() == [len(samples)] * len(MOTION_CASES)
    per_class = np.bincount(motion.labels, minlength=len(motion.class_names))
    np.testing.assert_allclose((motion.recall() * per_class).sum(axis=1) / len(samples), motion.accuracy())


def test_the_shipped_model_reads_some_classes_from_one_region_and_no_region_reads_them_all(motion):
    """What notebook 06 teaches with it: stilling one region loses a whole class (sadness without the
    mouth), the nose and cheeks alone read every smile, and no region alone reads every class."""
    acc = dict(zip(motion.cases, motion.accuracy()))
    recall = dict(zip(motion.cases, motion.recall()))
    assert acc["as recorded"] == 1.0
    assert max(acc[f"only {r} moving"] for r in REGIONS) < 1.0
    happy, sadness = motion.class_names.index("happy"), motion.class_names.index("sadness")
    assert recall["mouth stilled"][sadness] == 0.0
    assert recall["only nose moving"][happy] == 1.0 > recall["nose stilled"][happy]  # the smile needs the nose


def test_the_benchmark_prints_region_motion_for_a_checkpoint_and_a_folder(motion, capsys, monkeypatch):
    bench = _bench()
    monkeypatch.setattr(sys, "argv", ["region_motion.py", "--checkpoint", str(shipped_checkpoint()),
                                      "--data", str(shipped_data_dir())])
    bench.main()
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [float(row[-16]) for row in rows] == pytest.approx(100 * motion.accuracy(), abs=0.05)
    assert [[int(c) for c in row[-7:]] for row in rows] == motion.counts().tolist()


def test_a_model_without_tler_is_refused_with_the_reason(samples):
    with pytest.raises(ValueError, match="reads TLER; this C1 model has none"):
        region_motion(STANER(ablation_config(preset("classroom"), "C1")), samples[:2])


def _bench():
    spec = importlib.util.spec_from_file_location("region_motion", REPO / "benchmarks" / "region_motion.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


@pytest.mark.slow
def test_the_benchmark_on_a_cv_run_reads_each_fold_model_on_its_own_test_sequences(tmp_path, capsys, monkeypatch):
    write_ckplus(generate_dataset(4, seed=3, frames=3, size=64, emotions=("anger", "happy", "surprise"), noise=0.3),
                 tmp_path / "data")
    assert main(["cv", "--data", str(tmp_path / "data"), "--cache", str(tmp_path / "cache"), "--epochs", "1",
                 "--batch-size", "4", "--folds", "2", "--no-progress", "--executor", "local",
                 "--out", str(tmp_path / "cv")]) == 0
    rows = [r for f in sorted((tmp_path / "cv").glob("fold_*/predictions.csv")) for r in csv.DictReader(f.open())]
    names = [k[4:] for k in rows[0] if k.startswith("L_P_")]
    tler = [int(np.argmax([float(r[f"L_P_{n}"]) for n in names])) for r in rows]  # the protocol's TLER answers
    bench = _bench()
    monkeypatch.setattr(sys, "argv", ["region_motion.py", "--run", str(tmp_path / "cv"),
                                      "--data", str(tmp_path / "data"), "--cache", str(tmp_path / "cache")])
    capsys.readouterr()
    bench.main()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"TLER on {len(rows)} sequences")
    recorded = out[2].split()
    assert recorded[:2] == ["as", "recorded"]
    assert [int(c) for c in recorded[-len(names):]] == np.bincount(tler, minlength=len(names)).tolist()
    with pytest.raises(SystemExit, match="not a finished cv run"):
        bench.motion_of_run(tmp_path / "data", tmp_path / "data", None)


def test_the_figure_shows_each_case_and_class_recall(motion):
    fig = viz.region_motion_figure(motion)
    heat = fig.data[0]
    np.testing.assert_allclose(np.asarray(heat.z, float), 100 * motion.recall())
    assert list(heat.y) == list(motion.cases) and list(heat.x) == list(motion.class_names)
    assert "10 sequences" in heat.hovertext[0][0]  # ten shipped people per class
    assert "as recorded: 100 % right" in fig.layout.title.text
