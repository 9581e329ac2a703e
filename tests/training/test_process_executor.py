"""The grid in worker processes on this machine (``--executor processes``): real spawned processes,
the same files as the local executor bit for bit, a failed run that leaves the others finished and
resumes, and the command line."""

import json
import os

import pytest
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
from staner_lab.training.executors import ProcessExecutor
from staner_lab.training.protocol import RunOptions, ablate, cross_validate


def test_processes_write_the_local_executors_files(one_thread, tmp_path):
    """ablate over 2 variants x 2 folds in 2 worker processes: same files, tables, weights, predictions."""
    samples, cfg = tiny_samples(), preset("classroom", class_names=CLASSES)
    kw = {"variants": ["C1", "C3"], "options": RunOptions(progress=False), "data": "tiny"}
    local, pool = tmp_path / "local", tmp_path / "processes"
    ablate(samples, CLASSES, cfg, tiny_train_cfg(2), 2, local, **kw)
    ablate(samples, CLASSES, cfg, tiny_train_cfg(2), 2, pool, executor=ProcessExecutor(processes=2, threads=1), **kw)
    assert files_of(local) == files_of(pool)
    assert (local / "table1.csv").read_text() == (pool / "table1.csv").read_text()
    for variant in ("C1", "C3"):
        a, b = (json.loads((run / variant / "results.json").read_text()) for run in (local, pool))
        assert (a["executor"], b["executor"]) == ("local", "processes")
        assert without_timing(a) == without_timing(b)
        for fold in (0, 1):
            d = f"{variant}/fold_{fold}"
            assert same_weights(local / d / "last.pt", pool / d / "last.pt"), d
            assert (local / d / "predictions.csv").read_text() == (pool / d / "predictions.csv").read_text()
    # each run was one attempt, in a process of its own
    pids = {json.loads((pool / v / f"fold_{k}" / "attempts.json").read_text())[0]["pid"]
            for v in ("C1", "C3") for k in (0, 1)}
    assert len(pids) == 4 and os.getpid() not in pids


def test_a_failed_run_leaves_the_others_finished_and_resume_completes_it(one_thread, tmp_path):
    samples, cfg = tiny_samples(), preset("classroom", class_names=CLASSES)
    run = tmp_path / "cv"
    (run / "fold_2").parent.mkdir(parents=True)
    (run / "fold_2").write_text("not a folder")  # fold 3's folder cannot be made: that run fails
    executor = ProcessExecutor(processes=2, threads=1)
    with pytest.raises(RuntimeError) as err:
        cross_validate(samples, CLASSES, cfg, tiny_train_cfg(1), 3, run, RunOptions(progress=False, resume=True), executor=executor)
    message = str(err.value)
    assert message.startswith("1 run(s) failed") and "fold 3/3" in message and "FileExistsError" in message
    assert "rerun with --resume" in message
    done = {k: (run / f"fold_{k}" / "result.json").is_file() for k in (0, 1)}
    assert done == {0: True, 1: True}  # the other runs finished and are kept
    kept = {k: (run / f"fold_{k}" / "result.json").stat().st_mtime_ns for k in (0, 1)}

    (run / "fold_2").unlink()  # the cause fixed; --resume runs only the missing fold
    res = cross_validate(samples, CLASSES, cfg, tiny_train_cfg(1), 3, run, RunOptions(progress=False, resume=True), executor=executor)
    assert len(res["folds"]) == 3 and res["executor"] == "processes"
    assert {k: (run / f"fold_{k}" / "result.json").stat().st_mtime_ns for k in (0, 1)} == kept


def test_cv_with_executor_processes_on_the_command_line(tmp_path, capsys):
    write_ckplus(generate_dataset(4, seed=3, frames=3, size=64, emotions=CLASSES, noise=0.3), tmp_path / "data")
    args = ["cv", "--data", str(tmp_path / "data"), "--cache", str(tmp_path / "cache"), "--folds", "2",
            "--epochs", "1", "--batch-size", "4", "--out", str(tmp_path / "run")]
    assert main([*args, "--executor", "processes", "--set", "executor.processes=2", "--cpus-per-run", "1"]) == 0
    out = capsys.readouterr().out
    assert "processes: 2 runs, 2 at a time, 1 torch thread(s) each" in out
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["executor"] == "processes" and len(res["folds"]) == 2

    bad = [*args[:-1], str(tmp_path / "bad")]
    assert main([*bad, "--executor", "local", "--set", "executor.processes=2"]) == 2
    assert "--set executor.processes: --executor local has no settings" in capsys.readouterr().err
    assert main([*bad, "--executor", "processes", "--set", "executor.address=auto"]) == 2
    assert ("--set executor.address: executor has no field 'address' (its fields: processes, threads)"
            in capsys.readouterr().err)
    assert main([*bad, "--executor", "processes", "--cpus-per-run", "0.5"]) == 2
    assert "give a whole number of threads" in capsys.readouterr().err
    assert main([*bad, "--executor", "processes", "--set", "executor.processes=0"]) == 2
    assert "executor.processes and --cpus-per-run (threads) must be at least 1, not 0 and 1" in capsys.readouterr().err
    assert main([*bad, "--executor", "processes", "--set", "executor.processes=two"]) == 2
    assert "config field 'executor.processes': expected int, got 'two'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="executor.processes and --cpus-per-run"):
        ProcessExecutor(processes=2, threads=0)


def test_a_killed_worker_fails_its_runs_clearly_and_resume_continues_to_the_same_weights(one_thread, tmp_path):
    """SIGKILL (the OOM killer on a laptop) of the process training fold 1 after its first epoch: the
    other run finishes, the call names the lost one; --resume continues it from its checkpoint."""
    samples, cfg = tiny_samples(), preset("classroom", class_names=CLASSES)
    epochs = 4
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    cross_validate(samples, CLASSES, cfg, tiny_train_cfg(epochs), 2, straight, RunOptions(progress=False), figures=False)
    fold = killed / "fold_0"
    killer, hit = kill_after_first_checkpoint(fold)
    executor = ProcessExecutor(processes=2, threads=1)
    with pytest.raises(RuntimeError, match=r"failed .* rerun with --resume") as err:
        cross_validate(samples, CLASSES, cfg, tiny_train_cfg(epochs), 2, killed, RunOptions(progress=False), figures=False,
                       executor=executor)
    killer.join()
    assert "pid" in hit and hit["pid"] != os.getpid(), "fold 0 never wrote a checkpoint"
    assert str(err.value).startswith("1 run(s) failed") and "fold 1/2" in str(err.value)
    assert "killed by SIGKILL" in str(err.value)
    assert (killed / "fold_1" / "result.json").is_file() and not (fold / "result.json").is_file()

    res = cross_validate(samples, CLASSES, cfg, tiny_train_cfg(epochs), 2, killed, RunOptions(progress=False, resume=True), figures=False,
                         executor=executor)
    attempts = json.loads((fold / "attempts.json").read_text())
    assert len(attempts) == 2 and 1 <= attempts[1]["start_epoch"] < epochs, attempts  # resumed mid-run
    for k in (0, 1):
        assert same_weights(straight / f"fold_{k}" / "last.pt", killed / f"fold_{k}" / "last.pt"), k
    assert res["folds"] == json.loads((straight / "results.json").read_text())["folds"]


def test_cv_runs_side_by_side_by_default_and_shows_each_epoch(tmp_path, capsys):
    """No --executor: on a CPU with two or more cores the folds train in processes (one thread each),
    with one bar over every run's epochs and a line per finished run; one core: one after another."""
    write_ckplus(generate_dataset(4, seed=3, frames=3, size=64, emotions=CLASSES, noise=0.3), tmp_path / "data")
    assert main(["cv", "--data", str(tmp_path / "data"), "--cache", str(tmp_path / "cache"), "--folds", "2",
                 "--epochs", "3", "--batch-size", "4", "--out", str(tmp_path / "run"), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    if len(os.sched_getaffinity(0)) >= 2:
        assert res["executor"] == "processes"
        assert "processes: 2 runs, 2 at a time, 1 torch thread(s) each" in captured.out
        for fold in (1, 2):
            assert f"[STANER] fold {fold}/2: accuracy" in captured.out
        assert "6/6" in captured.err  # the bar reached every epoch of both runs
    else:
        assert res["executor"] == "local"


def test_a_killed_cv_leaves_no_run_training_in_the_background(tmp_path):
    """SIGKILL of `staner-lab cv` (no cleanup runs in it): each run's process notices its parent is gone
    and ends within seconds; the checkpoint it wrote stays for --resume."""
    import signal
    import subprocess
    import sys
    import time

    write_ckplus(generate_dataset(4, seed=3, frames=3, size=64, emotions=CLASSES, noise=0.3), tmp_path / "data")
    run = tmp_path / "run"
    cv = subprocess.Popen([sys.executable, "-m", "staner_lab.cli", "cv", "--data", str(tmp_path / "data"),
                           "--cache", str(tmp_path / "cache"), "--folds", "2", "--epochs", "500", "--batch-size", "4",
                           "--out", str(run), "--no-progress", "--executor", "processes", "--set", "executor.processes=2"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not all((run / f"fold_{k}" / "last.pt").is_file() for k in (0, 1)):
            assert time.monotonic() < deadline and cv.poll() is None, "the runs never wrote a checkpoint"
            time.sleep(0.2)
        pids = [json.loads((run / f"fold_{k}" / "attempts.json").read_text())[0]["pid"] for k in (0, 1)]
        assert cv.pid not in pids and os.getpid() not in pids
    finally:
        cv.send_signal(signal.SIGKILL)
        cv.wait()

    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split()[2] != "Z"  # a zombie has ended
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 15
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in pids if alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, f"run processes {left} kept training after their cv was killed"
    assert all((run / f"fold_{k}" / "last.pt").is_file() for k in (0, 1))
