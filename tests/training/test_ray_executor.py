"""The grid on Ray (a real local Ray instance): the same files as the local executor, bit for bit on
the CPU, and a killed worker's run retried from its last checkpoint to the same weights."""

import json
import os
import sys

import pytest
import ray
from grid_helpers import (
    CLASSES,
    files_of,
    kill_after_first_checkpoint,
    same_weights,
    tiny_samples,
    tiny_train_cfg,
    without_timing,
)

from staner_lab.cli import main
from staner_lab.config import preset
from staner_lab.data.synthetic import generate_dataset, write_ckplus
from staner_lab.training.executors import RayExecutor, start_local_ray
from staner_lab.training.protocol import RunOptions, ablate, cross_validate


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with 2 CPUs for the module (starting one takes 10-20 s here), shut down after."""
    start_local_ray(num_cpus=2, object_store_memory=100 * 2**20, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_grid_writes_the_local_executors_files(local_ray, one_thread, tmp_path):
    """ablate over 2 variants x 2 seeds x 2 folds: 8 Ray tasks; same files, tables, intervals, weights."""
    samples, cfg = tiny_samples(), preset("classroom", class_names=CLASSES)
    kw = {"variants": ["C1", "C3"], "options": RunOptions(progress=False), "seeds": [0, 1], "data": "tiny"}
    local, remote = tmp_path / "local", tmp_path / "ray"
    ablate(samples, CLASSES, cfg, tiny_train_cfg(1), 2, local, **kw)
    ablate(samples, CLASSES, cfg, tiny_train_cfg(1), 2, remote, executor=RayExecutor(cpus_per_run=1), **kw)
    assert files_of(local) == files_of(remote)
    assert (local / "table1.md").read_text() == (remote / "table1.md").read_text()
    assert (local / "table1.csv").read_text() == (remote / "table1.csv").read_text()  # accuracies and intervals
    for variant in ("C1", "C3"):
        for sub in ("", "seed_0", "seed_1"):
            a, b = (json.loads((run / variant / sub / "results.json").read_text()) for run in (local, remote))
            assert b["executor"] == "ray" and a["executor"] == "local"
            assert without_timing(a) == without_timing(b)  # folds, accuracies, confusion, per seed, config
        for seed in (0, 1):
            for fold in (0, 1):
                d = f"{variant}/seed_{seed}/fold_{fold}"
                assert same_weights(local / d / "last.pt", remote / d / "last.pt"), d
                assert (local / d / "predictions.csv").read_text() == (remote / d / "predictions.csv").read_text()
                pids = {a["pid"] for a in json.loads((remote / d / "attempts.json").read_text())}
                assert os.getpid() not in pids  # the run happened in a Ray worker


def test_killed_worker_is_retried_and_resumes_to_the_same_weights(local_ray, one_thread, tmp_path):
    samples, cfg = tiny_samples(), preset("classroom", class_names=CLASSES)
    epochs = 4
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    cross_validate(samples, CLASSES, cfg, tiny_train_cfg(epochs), 2, straight, RunOptions(progress=False), figures=False)

    fold = killed / "fold_0"
    killer, hit = kill_after_first_checkpoint(fold)  # the Ray worker process running fold 0
    res = cross_validate(samples, CLASSES, cfg, tiny_train_cfg(epochs), 2, killed, RunOptions(progress=False), figures=False,
                         executor=RayExecutor(cpus_per_run=1, max_retries=2))
    killer.join()
    assert "pid" in hit, "fold 0 never wrote a checkpoint"
    assert hit["pid"] != os.getpid()
    attempts = json.loads((fold / "attempts.json").read_text())
    assert len(attempts) == 2, attempts  # killed once, retried once
    assert attempts[1]["pid"] != hit["pid"]
    assert 1 <= attempts[1]["start_epoch"] < epochs, "the retry did not resume mid-run from the checkpoint"
    for k in (0, 1):
        assert same_weights(straight / f"fold_{k}" / "last.pt", killed / f"fold_{k}" / "last.pt"), k
    first = json.loads((straight / "results.json").read_text())
    assert res["folds"] == first["folds"] and res["accuracy_mean"] == first["accuracy_mean"]
    # --resume on the driver: every run finished, no task is started, nothing rewritten
    stamps = {p: p.stat().st_mtime_ns for p in killed.rglob("fold_*/*")}
    again = cross_validate(samples, CLASSES, cfg, tiny_train_cfg(epochs), 2, killed, RunOptions(progress=False, resume=True), figures=False,
                           executor=RayExecutor(cpus_per_run=1))
    assert again["folds"] == res["folds"]
    assert stamps == {p: p.stat().st_mtime_ns for p in killed.rglob("fold_*/*")}


def test_cli_cv_on_ray(local_ray, tmp_path, capsys):
    """staner-lab cv --executor ray end to end: data read by the driver, runs in Ray workers."""
    write_ckplus(generate_dataset(3, seed=3, frames=3, size=64, emotions=CLASSES, noise=0.3), tmp_path / "data")
    run = tmp_path / "run"
    assert main(["cv", "--data", str(tmp_path / "data"), "--cache", str(tmp_path / "cache"), "--out", str(run),
                 "--folds", "2", "--epochs", "1", "--batch-size", "4", "--executor", "ray", "--cpus-per-run", "1",
                 "--device", "auto"]) == 0
    out = capsys.readouterr().out
    assert "ray: 2 runs submitted (1 CPU, 0 GPU each" in out and "2-fold subject-independent accuracy" in out
    res = json.loads((run / "results.json").read_text())
    assert res["executor"] == "ray" and res["device"] == "cpu" and len(res["folds"]) == 2
    assert (run / "confusion.png").is_file() and (run / "fold_1" / "last.pt").is_file()


def test_executor_options_are_checked(tmp_path, capsys, monkeypatch):
    args = ["cv", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--no-progress"]
    assert main([*args, "--executor", "local", "--set", "executor.address=auto"]) == 2
    assert "--set executor.address: --executor local has no settings" in capsys.readouterr().err
    assert main([*args, "--executor", "ray", "--device", "cuda:1"]) == 2
    assert "use auto, cpu or cuda" in capsys.readouterr().err
    with pytest.raises(ValueError, match="cpus-per-run"):
        RayExecutor(cpus_per_run=0).run([object()], [], RunOptions(progress=False))
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed: a clear error, before any data is read
    assert main([*args, "--executor", "ray"]) == 2
    assert "pip install -e '.[cluster]'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="executor.gpus_per_run=0"):
        RayExecutor(gpus_per_run=0)._gpus(ray, "cuda")
