"""A whole class on one app server (docs/app.md, "Running the app for a class"): settings from the
environment, per-session folders (unguessable, invisible to other sessions, swept when idle), the
training queue (workers, place in the queue, cancel, nothing lost), the limits (uploads, disk,
attributions) with clear messages, and ten simulated students on a real server
(benchmarks/bench_class_load.py, Streamlit's websocket protocol)."""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
from pathlib import Path

import cv2
import pytest
from streamlit.testing.v1 import AppTest

from staner_lab.app import jobs, limits, paths, session, settings
from staner_lab.app.runs import read_run_folder
from staner_lab.config import PreprocessConfig, preset
from staner_lab.data.preprocess import load_frames, preprocess_sequence
from staner_lab.explain.inspection import shipped_records

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "streamlit_app.py")


@pytest.fixture
def env(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.delenv(paths.SESSIONS_ENV, raising=False)
    for var in settings.ENV:
        monkeypatch.delenv(var, raising=False)
    return tmp_path


# --- settings ------------------------------------------------------------------------------------


def test_settings_defaults_and_bad_values(env):
    s = settings.class_settings({})
    cores = len(os.sched_getaffinity(0))
    assert s.workers == s.captum == max(1, cores // 2)
    assert (s.upload_mb, s.idle_minutes, s.max_queued) == (50, 120, 60)
    assert settings.class_settings({"STANER_APP_WORKERS": "3", "STANER_UPLOAD_MB": "0.5"}).workers == 3
    with pytest.raises(settings.SettingError, match="STANER_APP_WORKERS='two' is not a number"):
        settings.class_settings({"STANER_APP_WORKERS": "two"})
    for bad in ("0", "inf", "nan"):
        with pytest.raises(settings.SettingError, match=f"STANER_APP_WORKERS='{bad}': give a number of at least 1"):
            settings.class_settings({"STANER_APP_WORKERS": bad})


# --- per-session folders -------------------------------------------------------------------------


def test_session_folders_are_random_and_separate(env):
    a, b = session.new_space(), session.new_space()
    assert a.root == b.root == env / "runs" / "sessions" and a.token != b.token
    assert len(a.token) == 32 and int(a.token, 16) >= 0
    assert a.dir("webcam") == a.path / "webcam" and a.dir("webcam").is_dir()
    with pytest.raises(ValueError, match="kind must be one of uploads, webcam, runs"):
        a.dir("../b")
    kept = session.save_upload(a, b"\x89PNG\r\n\x1a\nxyz", ".png")
    assert kept.parent == a.path / "uploads" and len(kept.stem) == 32  # named by content, never by the user


def test_other_sessions_are_neither_listed_nor_readable(env):
    a, b = session.new_space(), session.new_space()
    for space in (a, b):
        run = space.dir("runs") / "app-1"
        run.mkdir()
        (run / "model.pt").write_bytes(b"x")
        (run / "results.json").write_text("{}")
    roots_a = paths.allowed_roots([a.dir("runs")])
    listed = paths.list_checkpoints(roots_a)
    assert a.dir("runs") / "app-1" / "model.pt" in listed and not any(b.token in str(p) for p in listed)
    assert not any(b.token in str(p) for p in paths.list_run_dirs(roots_a))
    assert paths.validate_checkpoint_path(str(a.path / "runs/app-1/model.pt"), roots_a).is_file()
    with pytest.raises(paths.PathError, match="another session's folder"):
        paths.validate_checkpoint_path(str(b.path / "runs/app-1/model.pt"), roots_a)
    with pytest.raises(paths.PathError, match="another session's folder"):
        paths.validate_run_dir(str(b.path / "runs/app-1"), roots_a)
    # Without a session root (a single user, the CLI's listings), no session's folder is listed at all.
    assert not any("sessions" in p.parts for p in paths.list_checkpoints(paths.allowed_roots()))


def test_sweep_removes_idle_sessions_but_not_busy_ones(env):
    idle, busy, fresh = session.new_space(), session.new_space(), session.new_space()
    for s in (idle, busy, fresh):
        s.touch()
        s.dir("uploads")
    old = time.time() - 3600
    for s in (idle, busy):
        os.utime(s.path / session.SEEN, (old, old))
    (idle.root / "not-a-session").mkdir()
    removed = session.sweep(600, busy=[busy.dir("runs") / "app-1"])
    assert removed == [idle.token] and not idle.path.exists()
    assert busy.path.is_dir() and fresh.path.is_dir() and (idle.root / "not-a-session").is_dir()
    assert session.sweep(0.0, every=3600) == [] and fresh.path.is_dir()  # throttled: the page calls it each rerun


# --- the training queue --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data():
    records, class_names = shipped_records()
    keep = [r for r in records if r.subject in {"S001", "S002", "S003"}]
    return [preprocess_sequence(r, preset("classroom").inputs, PreprocessConfig()) for r in keep], class_names


def test_pool_queues_shows_places_cancels_and_keeps_results(env, tiny_data):
    samples, class_names = tiny_data
    root = session.new_space().dir("runs")
    pool = jobs.TrainingPool(workers=1, max_queued=2)
    first = pool.submit(samples, class_names, epochs=2, root=root)
    assert first.status == "running" and pool.position(first) is None  # a free worker: no queue
    second = pool.submit(samples, class_names, epochs=1, root=root)
    third = pool.submit(samples, class_names, epochs=1, root=root)
    assert (second.status, pool.position(second), pool.position(third)) == ("queued", 1, 2)
    with pytest.raises(jobs.QueueFull, match="2 trainings are already waiting .*STANER_APP_QUEUE"):
        pool.submit(samples, class_names, epochs=1, root=root)
    assert set(pool.active_dirs()) == {first.run_dir, second.run_dir, third.run_dir}
    second.stop()  # Cancel while queued
    assert second.status == "cancelled" and not second.running and not second.run_dir.exists()
    assert pool.position(third) == 1
    for job in (first, third):
        assert job.wait(180) and job.status == "done", job.error
        assert job.queue_wait is not None and job.queue_wait >= 0
    assert third.started >= first.ended and third.queue_wait > 0  # one worker: one after the other
    assert pool.active_dirs() == []
    # What a restarted server finds: every finished run, complete (results written atomically).
    for job in (first, third):
        assert job.run_dir in paths.list_run_dirs([root])
        run = read_run_folder(job.run_dir, expect_classes=class_names)
        assert run.confusion is not None and json.loads((job.run_dir / "results.json").read_text())["epochs_done"]
    assert not list(root.rglob(".*tmp*"))  # no temporary file left behind


# --- limits --------------------------------------------------------------------------------------


def test_upload_and_disk_limits_say_which_setting(env, monkeypatch):
    monkeypatch.setenv("STANER_UPLOAD_COUNT", "2")
    monkeypatch.setenv("STANER_UPLOAD_MB", "1")
    limits.check_uploads([("a.png", 10), ("b.png", 10)])
    with pytest.raises(limits.LimitReached, match=r"3 uploaded files are over this server's limit of 2 .*STANER_UPLOAD_COUNT"):
        limits.check_uploads([("a.png", 10)] * 3)
    with pytest.raises(limits.LimitReached, match=r"big.mp4: 2.0 MB is over .* 1 MB per file \(STANER_UPLOAD_MB\)"):
        limits.check_uploads([("big.mp4", 2 * 2**20)])
    space = session.new_space()
    png = cv2.imencode(".png", load_frames(shipped_records()[0][0])[0][0])[1].tobytes()
    limits.admit_uploads(space, [("face.png", png)])
    assert [p.suffix for p in (space.path / "uploads").iterdir()] == [".png"]
    monkeypatch.setenv("STANER_SESSIONS_DISK_MB", "1")
    with pytest.raises(limits.LimitReached, match=r"space for students' files is full .*STANER_SESSIONS_DISK_MB"):
        limits.check_disk(2 * 2**20, max_age=0)


def test_captum_slots_are_shared_by_the_server(env, monkeypatch):
    monkeypatch.setenv("STANER_APP_CAPTUM", "1")
    inside, release = threading.Event(), threading.Event()

    def hold():
        with limits.captum_slot():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    assert inside.wait(10)
    busy = r"1 attribution\(s\) are being computed .*STANER_APP_CAPTUM=1"
    with pytest.raises(limits.LimitReached, match=busy), limits.captum_slot(wait=0.2):
        pass
    release.set()
    t.join()
    with limits.captum_slot(wait=1):  # free again
        pass


# --- the page ------------------------------------------------------------------------------------


def test_page_keeps_each_students_upload_apart_and_says_when_a_limit_is_hit(env, monkeypatch):
    monkeypatch.setenv("STANER_UPLOAD_COUNT", "1")
    frames = load_frames(shipped_records()[0][0])[0]
    pngs = [cv2.imencode(".png", f)[1].tobytes() for f in frames[:2]]
    a, b = (AppTest.from_file(APP, default_timeout=180) for _ in range(2))
    for at in (a, b):
        at.run()
        assert not at.exception
        at.radio(key="source").set_value("Upload").run()
    a.checkbox(key="whole_frame").check().run()
    a.file_uploader(key="uploads").set_value(("face.png", pngs[0], "image/png")).run()
    assert not a.exception and not a.error, [e.value for e in a.error]
    tokens = [at.session_state[session._STATE_KEY] for at in (a, b)]
    root = env / "runs" / "sessions"
    assert len(list((root / tokens[0] / "uploads").iterdir())) == 1
    assert not (root / tokens[1] / "uploads").exists()  # the other student's folder holds nothing of it
    b.file_uploader(key="uploads").set_value([("f1.png", pngs[0], "image/png"), ("f2.png", pngs[1], "image/png")]).run()
    assert not b.exception
    assert any("2 uploaded files are over this server's limit of 1 per student (STANER_UPLOAD_COUNT)" in e.value
               for e in b.error), [e.value for e in b.error]


# --- ten students on a real server ----------------------------------------------------------------


def _bench():
    spec = importlib.util.spec_from_file_location("bench_class_load", REPO / "benchmarks" / "bench_class_load.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ten_students_at_once_on_one_server(tmp_path):
    """Ten simulated students (Streamlit's websocket protocol, a real server): each opens the page, picks
    a sample, moves α, uploads a face; four train (one worker, so they queue; the place shown while waiting
    is checked deterministically in the next test). No error, every student's figure arrives, the
    trainings finish, and no student sees another's checkpoints. Times are printed."""
    out = _bench().run_class(students=10, train_every=3, epochs=1, time_limit=150, stagger=0.2, workdir=tmp_path,
                             env={"STANER_APP_WORKERS": "1"})
    rows = out.pop("rows")
    print(json.dumps(out, indent=1))
    assert out["errors"] == [], out["errors"]
    assert out["first_figure_s"]["n"] == 10 and out["alpha_ms"]["n"] == 30
    assert out["train_s"]["n"] == out["trainings"] == 4 and out["isolation"]
    assert out["own_checkpoints_seen"] >= 4  # each trainer lists its own model (and no one else's)
    assert out["session_folders"] == 10
    trainers = [r["session_folder"] for r in rows if r["trained"]]
    assert len(set(trainers)) == 4
    # The server is stopped now: every finished run is complete on disk, for the next server to list.
    for folder in trainers:
        (run,) = Path(folder).glob("runs/app-*")
        assert read_run_folder(run).confusion is not None and (run / "model.pt").is_file()
    assert all(r["queue_wait_s"] >= 0 for r in rows if r["trained"])
    places = [r["places_seen"] for r in rows if r.get("places_seen")]  # whoever waited (timing-dependent)
    assert all(p == sorted(p, reverse=True) for p in places), places  # a place in the queue only moves up


def test_page_shows_the_place_in_the_queue_and_cancels(env):
    """Two students press Train on a one-worker server: the second sees its place and a Cancel button."""
    pages = [AppTest.from_file(APP, default_timeout=180) for _ in range(2)]
    for at in pages:
        at.run()
        at.session_state["view"] = "Classroom training"
        at.run()
        at.number_input(key="train_epochs").set_value(50)
    a, b = pages
    a.button(key="train_start").click().run()
    first = a.session_state["train_job"]
    try:
        b.button(key="train_start").click().run()
        second = b.session_state["train_job"]
        workers = settings.class_settings().workers
        if workers == 1:  # on a bigger machine both train at once; there is no queue to see
            assert second.status == "queued"
            assert any("waiting: place 1 in the queue, 1 training(s) at a time" in p.text for p in b.get("progress"))
            assert b.button(key="train_stop").label == "Cancel"
            b.button(key="train_stop").click().run()
            assert second.status == "cancelled" and not b.exception
            assert any("cancelled" in p.text for p in b.get("progress"))
            assert b.button(key="train_start").disabled is False  # may press Train again
        tokens = {at.session_state[session._STATE_KEY] for at in pages}
        assert len(tokens) == 2 and all(t in str(j.run_dir) for t, j in zip(
            [a.session_state[session._STATE_KEY], b.session_state[session._STATE_KEY]], [first, second]))
    finally:
        for at in pages:
            if "train_job" in at.session_state:
                at.session_state["train_job"].stop()
        assert first.wait(120)


def test_server_config_skips_the_full_gc_after_every_run():
    """Streamlit's default runner.postScriptGC runs gc.collect(2) after every script and fragment run: with
    torch loaded ~240 ms holding the GIL, after every α move of every student (docs/app.md)."""
    import tomllib

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
