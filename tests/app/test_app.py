"""streamlit_app.py through streamlit.testing.v1.AppTest: every view, the α slider, and each bad input
(a file that is neither image nor video, a video with no face, an upload over the size limit, a path
outside the allowed folders, a corrupt or foreign checkpoint, a results.json of another class list):
a clear st.error, and the app keeps running."""

from __future__ import annotations

import base64
import json
import re
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from staner_lab.app import decision, explanations, paths, uploads
from staner_lab.config import CK_PLUS_CLASSES, OULU_CASIA_CLASSES, PreprocessConfig, preset
from staner_lab.data.preprocess import load_frames, preprocess_sequence
from staner_lab.explain import inspection
from staner_lab.models.staner import STANER
from staner_lab.training.checkpoint import load_checkpoint, save_checkpoint

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
NO_MODEL = "No model loaded (the message above says why): this view needs one. Pick a checkpoint in the sidebar."


@pytest.fixture
def env(tmp_path, monkeypatch) -> Path:
    """Runs go to tmp_path/runs; tmp_path/allowed is an extra allowed folder (``$STANER_APP_ALLOW``)."""
    (tmp_path / "allowed").mkdir()
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv(paths.ALLOW_ENV, str(tmp_path / "allowed"))
    return tmp_path


def start() -> AppTest:
    return run(AppTest.from_file(APP, default_timeout=180))


def run(x) -> AppTest:
    """Run the page (``x``: the AppTest, or a widget just set) and check it raised nothing."""
    at = x.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_tab(at: AppTest, name: str) -> AppTest:
    """Switch to a tab (as a click does: the page reruns, and only the open tab's view runs)."""
    at.session_state["view"] = name
    return run(at)


def chart_keys(at: AppTest) -> list[str]:
    return [c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")]


def errors(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


def table_with(at: AppTest, column: str):
    """The one dataframe on the page that has ``column`` (the LSTM tab also shows a health table)."""
    tables = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(tables) == 1, [list(d.value.columns) for d in at.dataframe]
    return tables[0]


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown).replace("**", "")


@pytest.fixture(scope="module")
def face_frames() -> np.ndarray:
    records, _ = inspection.shipped_records()
    return load_frames(records[0])[0]  # (5, 96, 96) uint8: a synthetic face, neutral to peak


def avi(frames: np.ndarray, path: Path) -> bytes:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, frames.shape[1:][::-1])
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path.read_bytes()


# --- the default page: every model view -------------------------------------------------------


def test_default_page_shows_every_view(env):
    at = start()
    assert errors(at) == ""
    assert at.selectbox(key="ckpt").value == "data_samples/classroom.pt"
    assert "shipped sequence" in markdown(at) and "landmarks" not in errors(at)
    # Only the open tab runs: the first page is the Sequence view, nothing of the model views.
    assert chart_keys(at) == ["frames_chart", "filmstrip_chart"] and not at.metric
    open_tab(at, "Attention")
    assert chart_keys(at) == ["attention_chart", "attribution_chart"]
    assert at.slider(key="opacity").value == 0.5
    assert any("Agreement with M" in m.label for m in at.metric)  # staner_lab.explain is wired in
    for method in explanations.peak_methods()[:2]:
        run(at.selectbox(key="attr_method").set_value(method))
        assert errors(at) == ""
    open_tab(at, "LSTM")
    assert chart_keys(at) == ["states_chart", "gates_chart", "gate_means_chart"]
    run(at.radio(key="lstm_region").set_value("mouth"))
    run(at.radio(key="lstm_gate").set_value("i"))
    assert errors(at) == ""
    # The default sequence is the one where the two branches differ most, so α matters most there.
    from staner_lab.data.shipped import load_shipped_samples, shipped_checkpoint
    from staner_lab.training.checkpoint import load_model

    model = load_model(shipped_checkpoint())
    votes = decision.branch_votes(model, load_shipped_samples(model.config.inputs)[0])
    assert at.selectbox(key="sequence").value == max(votes, key=lambda k: votes[k]["gap"])
    open_tab(at, "Decision")
    assert chart_keys(at) == ["decision_chart"] and not at.warning and not at.info  # a model and an input
    open_tab(at, "Evaluation")
    assert at.info[0].value.startswith("The selected checkpoint has no results.json")  # Evaluation hint
    open_tab(at, "LSTM")
    assert not at.dataframe  # the health table is measured only when its expander is opened
    at.session_state["health_open"] = True
    run(at)
    # The training-health table of the LSTM tab agrees with staner_lab.training.health on the same data
    from staner_lab.data.dataset import batch_tensors
    from staner_lab.training import health

    report = health.health_report(model, *batch_tensors(load_shipped_samples(model.config.inputs)[0][:70]))
    table = table_with(at, "input drive")
    assert list(table["region"]) == ["eyes", "nose", "mouth"]
    assert list(table["verdict"]) == ["DEAD" if report.regions[r].dead else "alive" for r in table["region"]]
    assert [round(v, 4) for v in table["input drive"]] == [round(report.regions[r].input_drive, 4)
                                                           for r in table["region"]]
    # what SGAER's decision owes to where M points, as health measures it on the same sequences
    assert any(f"it moves P_G by {report.sgaer.flat_M_shift:.3f} on average" in m.value for m in at.markdown)
    dead = health.dead_regions(report)
    verdicts = [m.value for m in (*at.warning, *at.success)]
    assert (f"Dead: {', '.join(dead)}" if dead else "Every region passes a signal to its LSTM.") in verdicts


def decision_bars(at: AppTest) -> dict[str, np.ndarray]:
    """The Decision tab's bars as sent to the browser: {trace name: (K,) values}."""
    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("-decision_chart"))

    def values(x) -> np.ndarray:
        if isinstance(x, dict):  # plotly >= 6 sends numpy arrays as base64 typed arrays
            return np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"])).astype(float)
        return np.asarray(x, float)

    return {t["name"]: values(t["x"]) for t in json.loads(chart.proto.spec)["data"]}


def test_alpha_slider_recomputes_the_fused_decision(env):
    at = open_tab(start(), "Decision")
    # Eq. 14 computed here, independently of the app: the shipped model run on the sequence the page shows.
    from staner_lab.data.shipped import shipped_checkpoint
    from staner_lab.training.checkpoint import load_model

    model = load_model(shipped_checkpoint()).eval()
    records, _ = inspection.shipped_records()
    record = next(r for r in records if r.sequence_id == at.selectbox(key="sequence").value)
    s = preprocess_sequence(record, model.config.inputs, PreprocessConfig())
    with torch.no_grad():
        out = model(torch.from_numpy(s.peak)[None, None], {r: torch.from_numpy(x)[None, :, None]
                                                            for r, x in s.regions.items()})
    P_G, P_L = out.P_G[0].double().numpy(), out.P_L[0].double().numpy()
    names = model.config.class_names
    before = at.subheader[0].value
    timings = []
    for alpha in (0.0, 1.0, 0.25, 0.75, 0.5, 0.05):
        t0 = time.perf_counter()
        run(at.slider(key="alpha").set_value(alpha))
        timings.append(time.perf_counter() - t0)
        P = alpha * P_G + (1 - alpha) * P_L
        k = int(np.argmax(P))
        shown = re.fullmatch(r"Fused decision: α = (\d\.\d\d) → (.+) \(P = (\d\.\d\d)\)", at.subheader[0].value)
        assert shown is not None, at.subheader[0].value
        assert shown.group(1) == f"{alpha:.2f}" and shown.group(2) == names[k], (alpha, P, at.subheader[0].value)
        assert abs(float(shown.group(3)) - P[k]) <= 0.005 + 1e-6, (alpha, P[k], at.subheader[0].value)
        bars = decision_bars(at)  # the bars follow too: P_G and P_L as computed, P fused at this α
        np.testing.assert_allclose(bars["P_G: SGAER (peak face)"], P_G, atol=1e-5)
        np.testing.assert_allclose(bars["P_L: TLER (regions over time)"], P_L, atol=1e-5)
        np.testing.assert_allclose(bars[f"P: fused at α = {alpha:.2f}"], P, atol=1e-5)
    assert at.subheader[0].value != before
    assert "P = 0.00" not in at.subheader[0].value and model.config.num_classes == 7
    # A whole-script rerun (AppTest has no fragment reruns) with warm caches: an upper bound of what the
    # browser waits for; docs/app.md reports the fragment's own time, measured in the browser test.
    print(f"AppTest α rerun: median {1000 * statistics.median(timings):.0f} ms, max {1000 * max(timings):.0f} ms")
    assert statistics.median(timings) < 1.5


def test_missing_shipped_checkpoint_is_explained(env, monkeypatch):
    def missing():
        raise FileNotFoundError("data_samples/classroom.pt")

    monkeypatch.setattr("staner_lab.data.shipped.shipped_checkpoint", missing)
    at = start()
    assert "The shipped checkpoint data_samples/classroom.pt is missing" in errors(at)
    assert "shipped sequence" in markdown(at)  # the Sequence view still works
    for tab in ("Attention", "LSTM", "Decision"):
        open_tab(at, tab)
        assert [w.value for w in at.warning] == [NO_MODEL], tab
        assert not at.info  # the input is fine: no "choose an input"


# --- checkpoints ----------------------------------------------------------------------------------


def test_checkpoint_paths_are_checked(env):
    allowed = env / "allowed"
    (allowed / "corrupt.pt").write_bytes(b"\x80\x02 definitely not a zip archive")
    torch.save({"state_dict": {"w": torch.zeros(2)}}, allowed / "foreign.pt")
    torch.manual_seed(0)
    save_checkpoint(allowed / "fresh.pt", STANER(preset("classroom")))
    outside = env / "outside.pt"
    outside.write_bytes(b"x")
    at = open_tab(start(), "Decision")
    run(at.selectbox(key="ckpt").set_value("Type a path…"))
    cases = [(str(outside), "only inside"), ("/etc/passwd", "only inside"),
             ("runs/../../../../etc/hosts.pt", "only inside"),
             (str(allowed / "corrupt.pt"), "not a readable staner-lab checkpoint"),
             (str(allowed / "foreign.pt"), "is not a staner-lab checkpoint")]
    for text, match in cases:
        run(at.text_input(key="ckpt_typed").set_value(text))
        assert match in errors(at), (text, errors(at))
        assert [w.value for w in at.warning] == [NO_MODEL]  # still running, and the Decision tab says why
    run(at.text_input(key="ckpt_typed").set_value(str(allowed / "fresh.pt")))
    assert errors(at) == ""
    assert at.subheader[0].value.startswith("Fused decision")
    # Checkpoints found in the allowed folders are offered in the list.
    assert str((allowed / "fresh.pt").resolve()) in at.selectbox(key="ckpt").options


# --- uploads and webcam -------------------------------------------------------------------------


def test_upload_video_and_bad_uploads(env, face_frames, monkeypatch):
    at = start()
    run(at.radio(key="source").set_value("Upload"))
    assert any("Choose an input" in i.value for i in at.info)
    video = avi(face_frames, env / "clip.avi")
    run(at.file_uploader(key="uploads").set_value(("clip.avi", video, "video/x-msvideo")))
    assert errors(at) == "" and "upload — 5 frames of 96×96 px" in markdown(at) and not at.warning
    open_tab(at, "Decision")
    assert at.subheader[0].value.startswith("Fused decision") and not at.warning
    open_tab(at, "Sequence")

    bad = {
        "neither an image": ("face.png", b"this is a text file, not a picture", "image/png"),
        "no face found in frame 1 of 4 (empty.avi): dlib's detector finds frontal faces that are not too small. "
        "If the frames are already cropped to the face, tick 'Frames are already cropped to the face' in the sidebar":
            ("empty.avi", avi(np.full((4, 96, 96), 128, np.uint8), env / "e.avi"), "video/x-msvideo"),
        "not an image OpenCV can decode": ("cut.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png"),
    }
    for match, upload in bad.items():
        run(at.file_uploader(key="uploads").set_value(upload))
        assert match in errors(at), (match, errors(at))
        for tab in ("Sequence", "Decision"):  # the views say the chosen input failed, not "choose one"
            open_tab(at, tab)
            assert [i.value for i in at.info] == [("The chosen input cannot be used (the message above says why), "
                                                  "so there is nothing to show here. Fix it, or choose another "
                                                  "input in the sidebar.")], tab
            assert not at.warning  # the model is loaded: no "no model loaded"
        open_tab(at, "Sequence")

    # A single photo is a sequence without motion, and the page says so.
    run(at.file_uploader(key="uploads").set_value(("face.png", cv2.imencode(".png", face_frames[4])[1].tobytes(),
                                                   "image/png")))
    assert errors(at) == "" and "upload — 1 frame of 96×96 px" in markdown(at)
    assert [w.value for w in at.warning] == [("A single still photo carries no motion: TLER reads the same frame 8 "
                                             "times, so its vote P_L comes from the face's appearance only, not "
                                             "from how it moved. Upload a video or several frames (neutral face "
                                             "first, peak last), or take several webcam snapshots.")]

    monkeypatch.setattr(uploads, "MAX_UPLOAD_MB", len(video) / 2**20 / 2)  # server.maxUploadSize is the browser's
    run(at.file_uploader(key="uploads").set_value(("clip2.avi", video, "video/x-msvideo")))
    assert "upload limit" in errors(at)


def test_webcam_snapshots_make_a_sequence(env, face_frames):
    at = start()
    run(at.radio(key="source").set_value("Webcam"))
    for k in (0, 4):
        jpeg = cv2.imencode(".jpg", face_frames[k])[1].tobytes()
        run(at.camera_input(key="camera").set_value((f"shot{k}.jpg", jpeg, "image/jpeg")))
    assert errors(at) == "" and "webcam — 2 frames" in markdown(at)
    run(at.camera_input(key="camera").set_value(("shot.jpg", b"\xff\xd8\xff not really a jpeg", "image/jpeg")))
    assert "snapshot 3: not an image" in errors(at) and "webcam — 2 frames" in markdown(at)  # still usable
    run(at.button(key="snap_clear").click())
    assert at.session_state["snapshots"].shots == [] and any("Choose an input" in i.value for i in at.info)
    assert errors(at) == ""  # the refused snapshot's message went with the sequence


# --- evaluation ------------------------------------------------------------------------------------


def write_run(folder: Path, class_names) -> Path:
    K = len(class_names)
    folds = [np.eye(K, dtype=int) * 2, np.eye(K, dtype=int)]
    folds[1][0, 1] = 1
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({
        "variant": "STANER", "class_names": list(class_names), "accuracy_mean": 0.9, "accuracy_std": 0.05,
        "folds": [{"fold": k, "accuracy": 0.9, "confusion_matrix": f.tolist()} for k, f in enumerate(folds)],
        "confusion_matrix": sum(folds).tolist()}))
    (folder / "metrics.csv").write_text("fold,epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds\n"
                                        "0,0,0.001,2,0.3,2.1,0.2,1\n0,1,0.001,1,0.6,1.2,0.5,1\n")
    (folder / "fold_1").mkdir()
    c = class_names
    P = [0.3, 0.6] + [0.1 / (K - 2)] * (K - 2)  # the fused P only (a TLER-free, SGAER-free file is C-like)
    (folder / "fold_1" / "predictions.csv").write_text(
        "sequence_id,subject,label,predicted," + ",".join(f"P_{n}" for n in c)
        + f"\nS005/001,S005,{c[0]},{c[1]}," + ",".join(f"{v:.6f}" for v in P) + "\n")
    return folder


def test_evaluation_of_a_run_folder(env):
    runs = env / "runs"
    write_run(runs / "ck-cv", CK_PLUS_CLASSES)
    write_run(runs / "oulu-cv", OULU_CASIA_CLASSES)
    (runs / "ablation").mkdir()
    (runs / "ablation" / "table1.csv").write_text("method,accuracy_mean,accuracy_std,folds,fold_0,fold_1\n"
                                                  "C1,0.5,0.1,2,0.4,0.6\nSTANER,0.9,0.05,2,0.85,0.95\n")
    at = open_tab(start(), "Evaluation")
    options = at.selectbox(key="run").options
    ck = next(o for o in options if o.endswith("ck-cv"))
    run(at.selectbox(key="run").set_value(ck))
    assert errors(at) == ""
    assert any("accuracy 90.0% ± 5.0" in m for m in markdown(at).splitlines())
    assert at.radio(key="eval_fold").options == ["summed over folds", "fold 0", "fold 1"]
    run(at.radio(key="eval_fold").set_value(1))
    assert errors(at) == "" and at.dataframe[-1].value["sequence_id"].tolist() == ["S005/001"]
    # each branch's calibration from the test answers: one answer, wrong at confidence 0.6
    trust = table_with(at, "ECE")
    assert trust["branch"].tolist() == ["STANER"] and trust["accuracy (%)"].tolist() == [0.0]
    assert trust["confidence when wrong"].tolist() == [0.6] and trust["ECE"].tolist() == [0.6]
    assert any(h.value == "How far each branch can be trusted" for h in at.subheader)

    run(at.selectbox(key="run").set_value(next(o for o in options if o.endswith("oulu-cv"))))
    assert "was written for 6 classes" in errors(at) and "predicts 7 classes" in errors(at)
    run(at.selectbox(key="run").set_value(next(o for o in options if o.endswith("ablation"))))
    assert errors(at) == "" and table_with(at, "method")["method"].tolist() == ["C1", "STANER"]

    run(at.selectbox(key="run").set_value("Type a path…"))
    run(at.text_input(key="run_typed").set_value("/tmp"))
    assert "Run folder not used" in errors(at) and "only inside" in errors(at)


# --- classroom training ------------------------------------------------------------------------------


def wait_until(condition, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def test_classroom_training_trains_stops_and_is_selectable(env, monkeypatch):
    from staner_lab.data import shipped

    full = shipped.load_shipped_samples

    def three_subjects(inputs, **kwargs):  # 21 of the 70 sequences: the same flow, a quarter of the time
        samples, class_names = full(inputs, **kwargs)
        return [s for s in samples if s.subject in {"S001", "S002", "S003"}], class_names

    monkeypatch.setattr(shipped, "load_shipped_samples", three_subjects)
    at = open_tab(start(), "Classroom training")
    at.number_input(key="train_epochs").set_value(1)
    run(at.button(key="train_start").click())
    job = at.session_state["train_job"]
    assert job.running and any("training…" in p.text for p in at.get("progress"))  # the live panel
    assert job.wait(150), "training did not finish"  # the page polls; the test waits on the thread
    run(at)
    assert any("Finished after 1 epoch" in s.value for s in at.success), errors(at)
    assert job.run_dir.parent == env / "runs" / "sessions" / at.session_state["_staner_session_token"] / "runs"
    assert (job.run_dir / "model.pt").is_file()
    assert chart_keys(at) == ["live_curves"]  # the Classroom training tab alone
    run(at.button(key="train_use").click())
    assert at.selectbox(key="ckpt").value.endswith(f"{job.run_dir.name}/model.pt")
    open_tab(at, "Evaluation")
    assert errors(at) == "" and at.radio(key="eval_fold").options == ["held out"]  # its confusion matrix
    open_tab(at, "Classroom training")

    at.number_input(key="train_epochs").set_value(50)
    run(at.button(key="train_start").click())
    job = at.session_state["train_job"]
    wait_until(lambda: len(job.history) >= 1)
    run(at.button(key="train_stop").click())
    assert job.wait(120) and job.status == "stopped", job.error
    run(at)
    assert any("Stopped after" in s.value for s in at.success), errors(at)
    assert len(job.history) < 50 and job.result.checkpoint.is_file()


def test_classroom_training_on_the_class_recordings(env):
    from test_app_jobs import record_shipped

    at = open_tab(start(), "Classroom training")
    run(at.radio(key="train_data").set_value("the class's webcam recordings"))
    run(at.button(key="train_start").click())
    assert "Cannot train: no recordings yet" in errors(at) and "Live tab" in errors(at)
    record_shipped(env / "runs" / "recordings", {"S001": "ada", "S002": "bo", "S003": "cy"})
    at.number_input(key="train_epochs").set_value(1)
    run(at.button(key="train_start").click())
    job = at.session_state["train_job"]
    assert job.wait(150), "training did not finish"
    run(at)
    assert any("Finished after 1 epoch" in s.value for s in at.success), errors(at)
    payload = load_checkpoint(job.run_dir / "model.pt")
    assert list(payload["config"].class_names) == ["anger", "happy"]  # a model of the recorded classes


# --- server settings ------------------------------------------------------------------------------


def test_server_watches_no_files_and_sends_nothing():
    """.streamlit/config.toml (read by scripts/start and tests/app/test_app_browser.py's server): no file
    watcher (it walked .venv and overflowed inotify), no usage statistics; scripts/start overrides
    neither. That the page fetches nothing from the network is checked in Chromium."""
    import tomllib

    root = Path(APP).parent
    config = tomllib.loads((root / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
    assert config["browser"]["gatherUsageStats"] is False
    start_script = (root / "scripts" / "start").read_text()
    assert "streamlit run streamlit_app.py" in start_script and "fileWatcherType" not in start_script
