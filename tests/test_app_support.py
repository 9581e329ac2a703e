"""staner_lab.app_support: uploads decoded by content, path checks, run folders, sequence views,
model outputs as numpy, classroom training; and the figure builders of the app's views."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from staner_lab import app_support as app
from staner_lab import viz
from staner_lab.config import PreprocessConfig, ablation_config, preset
from staner_lab.data.faces import FaceNotFoundError
from staner_lab.data.preprocess import load_frames, preprocess_sequence
from staner_lab.models.staner import STANER

INPUTS = preset("classroom").inputs


@pytest.fixture(scope="module")
def shipped():
    records, class_names = app.shipped_records()
    return records, class_names


@pytest.fixture(scope="module")
def face_frames(shipped) -> np.ndarray:
    frames, _ = load_frames(shipped[0][0])
    return frames  # (5, 96, 96) uint8, a synthetic face from neutral to peak


def png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def avi(frames: np.ndarray, path: Path) -> bytes:
    h, w = frames.shape[1:]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    assert writer.isOpened(), "OpenCV cannot write MJPG/AVI here"
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path.read_bytes()


# --- uploads ---------------------------------------------------------------------------------


def test_sniff_kind_reads_content_not_names(face_frames, tmp_path):
    assert app.sniff_kind(png(face_frames[0])) == ("image", ".png")
    assert app.sniff_kind(cv2.imencode(".jpg", face_frames[0])[1].tobytes()) == ("image", ".jpg")
    assert app.sniff_kind(avi(face_frames, tmp_path / "v.avi")) == ("video", ".avi")
    assert app.sniff_kind(b"\x00\x00\x00\x18ftypmp42") == ("video", ".mp4")
    assert app.sniff_kind(b"just some text") is None


def test_decode_image_gray_and_downscaled(face_frames):
    big = cv2.resize(face_frames[0], (1200, 1200))
    out = app.decode_image(png(big), "big.png")
    assert out.dtype == np.uint8 and out.ndim == 2 and max(out.shape) == app.MAX_SIDE
    colour = cv2.cvtColor(face_frames[0], cv2.COLOR_GRAY2BGR)
    assert app.decode_image(png(colour)).shape == (96, 96)


@pytest.mark.parametrize("data, match", [
    (b"", "empty"),
    (b"hello, I am a text file", "neither an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "not an image OpenCV can decode"),  # a PNG header, then junk
])
def test_decode_upload_rejects_non_media(data, match):
    with pytest.raises(app.InputError, match=match):
        app.decode_upload(data, "photo.png")  # the name lies; the content decides


def test_size_limit_checked_in_code(face_frames):
    data = png(face_frames[0])
    with pytest.raises(app.InputError, match="over the .* upload limit"):
        app.decode_upload(data, "f.png", max_mb=len(data) / 2**20 / 2)
    with pytest.raises(app.InputError, match="in all, are over"):
        app.frames_from_uploads([("a.png", data), ("b.png", data)], max_mb=1.5 * len(data) / 2**20)


def test_video_round_trip_and_corrupt_video(face_frames, tmp_path):
    frames = app.decode_video(avi(face_frames, tmp_path / "v.avi"), "clip.mp4")
    assert frames.shape == (5, 96, 96) and frames.dtype == np.uint8
    assert np.abs(frames.astype(int) - face_frames.astype(int)).mean() < 8  # MJPG is lossy
    with pytest.raises(app.InputError, match="video"):
        app.decode_video(b"RIFF\x00\x00\x00\x00AVI " + b"\x00" * 100, "broken.avi")


def test_frames_from_uploads_orders_and_checks_sizes(face_frames, tmp_path):
    files = [("frame_10.png", png(face_frames[4])), ("frame_2.png", png(face_frames[1])),
             ("frame_1.png", png(face_frames[0]))]
    frames, names = app.frames_from_uploads(files)
    assert names == ["frame_1.png", "frame_2.png", "frame_10.png"]  # natural order
    assert np.array_equal(frames[2], face_frames[4])
    frames, names = app.frames_from_uploads(files, sort=False)  # webcam snapshots: as taken
    assert names[0] == "frame_10.png"
    small = png(cv2.resize(face_frames[0], (50, 50)))
    with pytest.raises(app.InputError, match="one size"):
        app.frames_from_uploads([("a.png", png(face_frames[0])), ("b.png", small)])
    video = avi(face_frames, tmp_path / "v.avi")
    with pytest.raises(app.InputError, match="not a video together"):
        app.frames_from_uploads([("a.png", png(face_frames[0])), ("v.avi", video)])
    with pytest.raises(app.InputError, match="no file"):
        app.frames_from_uploads([])


# --- sequences and model outputs ---------------------------------------------------------------


def test_inspect_record_matches_preprocess_sequence(shipped):
    record = shipped[0][3]
    view = app.inspect_record(record, INPUTS, PreprocessConfig(), class_names=shipped[1])
    ref = preprocess_sequence(record, INPUTS, PreprocessConfig())
    assert np.array_equal(view.sample.peak, ref.peak)
    for r in ref.regions:
        assert np.array_equal(view.sample.regions[r], ref.regions[r])
    assert np.array_equal(view.sample.landmarks, ref.landmarks)
    assert view.frames.shape[0] == view.landmarks.shape[0] == 5
    assert view.peak == 4 and len(view.indices) == INPUTS.frames
    assert view.true_label == shipped[1][record.label]


def test_frames_view_finds_the_face_and_reports_no_face(face_frames):
    view = app.frames_view(face_frames, [f"f{k}" for k in range(5)], INPUTS, PreprocessConfig(landmarks="dlib"),
                           "upload")
    assert view.landmarks.shape == (5, 68, 2) and view.sample.peak.shape == (64, 64)
    blank = np.full((3, 96, 96), 128, np.uint8)
    with pytest.raises(FaceNotFoundError, match="no face found in frame 0"):
        app.frames_view(blank, ["a", "b", "c"], INPUTS, PreprocessConfig(landmarks="dlib"), "upload")
    whole = app.frames_view(blank, ["a", "b", "c"], INPUTS, PreprocessConfig(whole_frame_face=True), "upload")
    assert whole.sample.peak.shape == (64, 64)


@pytest.fixture(scope="module")
def sample(shipped):
    return app.inspect_record(shipped[0][0], INPUTS).sample


def test_analyse_and_fuse(sample):
    torch.manual_seed(0)
    model = STANER(preset("classroom")).eval()
    a = app.analyse(model, sample)
    K = model.config.num_classes
    assert a.P_G.shape == a.P_L.shape == a.P.shape == (K,)
    assert a.attention == "spatial" and a.M.shape == (8, 8) and 0 <= a.M.min() <= a.M.max() <= 1
    assert set(a.lstm) == {"eyes", "nose", "mouth"}
    assert a.lstm["mouth"]["h"].shape == (INPUTS.frames, 64)
    for alpha in (0.0, 0.3, 1.0):
        P = app.fuse(a, alpha)
        np.testing.assert_allclose(P, alpha * a.P_G + (1 - alpha) * a.P_L, rtol=1e-6)
        np.testing.assert_allclose(P.sum(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(app.fuse(a, a.alpha), a.P, rtol=1e-5, atol=1e-7)
    assert app.describe_decision(model.config.class_names, np.eye(K)[2], 0.25) == \
        f"α = 0.25 → {model.config.class_names[2]} (P = 1.00)"
    c1 = app.analyse(STANER(ablation_config(preset("classroom"), "C1")).eval(), sample)
    assert c1.attention == "none" and c1.M is None and c1.lstm == {} and c1.P_L is None
    np.testing.assert_array_equal(app.fuse(c1, 0.2), c1.P)  # one branch: alpha has no effect


def test_explain_peak(sample):
    torch.manual_seed(0)
    model = STANER(preset("classroom")).eval()
    ex = app.explain_peak(model, sample, "saliency")
    assert ex.map.shape == (64, 64) and not ex.signed
    assert ex.agreement is None or -1.0 <= ex.agreement <= 1.0
    assert "integrated_gradients" in app.peak_methods()


# --- paths ------------------------------------------------------------------------------------


@pytest.fixture
def roots(tmp_path, monkeypatch):
    monkeypatch.setenv(app.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv(app.ALLOW_ENV, str(tmp_path / "allowed"))
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "allowed").mkdir()
    (tmp_path / "outside").mkdir()
    return app.allowed_roots()


def test_allowed_roots(roots, tmp_path):
    assert roots[0] == (tmp_path / "runs").resolve()
    assert app.DATA_SAMPLES.resolve() in roots and (tmp_path / "allowed").resolve() in roots
    assert (tmp_path / "extra").resolve() in app.allowed_roots([tmp_path / "extra"])


def test_validate_checkpoint_path(roots, tmp_path):
    good = tmp_path / "runs" / "r1" / "model.pt"
    good.write_bytes(b"x")
    assert app.validate_checkpoint_path(str(good), roots) == good.resolve()
    outside = tmp_path / "outside" / "model.pt"
    outside.write_bytes(b"x")
    (tmp_path / "allowed" / "link.pt").symlink_to(outside)
    for bad, match in [(str(outside), "only inside"),
                       (str(tmp_path / "runs" / ".." / "outside" / "model.pt"), "only inside"),
                       (str(tmp_path / "allowed" / "link.pt"), "only inside"),  # a symlink out of the roots
                       ("/etc/passwd", "only inside"),
                       (str(tmp_path / "runs" / "r1" / "notes.txt"), r"\.pt file"),
                       (str(tmp_path / "runs" / "r1" / "missing.pt"), "no such checkpoint"),
                       ("", "type the path"), ("bad\x00path.pt", "not a valid path")]:
        with pytest.raises(app.PathError, match=match):
            app.validate_checkpoint_path(bad, roots)
    assert app.validate_checkpoint_path("data_samples/classroom.pt", roots).name == "classroom.pt" or \
        not (app.DATA_SAMPLES / "classroom.pt").is_file()  # relative paths start at the repository


def test_validate_run_dir_and_listings(roots, tmp_path):
    run = tmp_path / "runs" / "r1"
    with pytest.raises(app.PathError, match="no results.json"):
        app.validate_run_dir(str(run), roots)
    (run / "results.json").write_text("{}")
    (run / "fold_0").mkdir()
    (run / "fold_0" / "last.pt").write_bytes(b"x")
    (run / ".tmp.pt").write_bytes(b"x")
    assert app.validate_run_dir(str(run), roots) == run.resolve()
    with pytest.raises(app.PathError, match="only inside"):
        app.validate_run_dir(str(tmp_path / "outside"), roots)
    assert run / "fold_0" / "last.pt" in app.list_checkpoints(roots)
    assert all(not p.name.startswith(".") for p in app.list_checkpoints(roots))
    assert run in app.list_run_dirs(roots)


# --- run folders ------------------------------------------------------------------------------


def write_cv_run(folder: Path, class_names=("a", "b", "c")) -> Path:
    K = len(class_names)
    f0 = np.eye(K, dtype=int) * 2
    f1 = np.eye(K, dtype=int)
    f1[0, 1] = 1
    folder.mkdir(parents=True, exist_ok=True)
    res = {"variant": "STANER", "class_names": list(class_names), "accuracy_mean": 0.9, "accuracy_std": 0.05,
           "folds": [{"fold": 0, "accuracy": 1.0, "confusion_matrix": f0.tolist()},
                     {"fold": 1, "accuracy": 0.75, "confusion_matrix": f1.tolist()}],
           "confusion_matrix": (f0 + f1).tolist()}
    (folder / "results.json").write_text(json.dumps(res))
    (folder / "metrics.csv").write_text("fold,epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds\n"
                                        "0,0,0.001,2.0,0.3,2.1,0.2,1.0\n0,1,0.001,1.0,0.6,1.2,0.5,1.0\n"
                                        "1,0,0.001,2.2,0.2,2.0,0.3,1.0\n1,1,0.001,1.1,0.7,1.0,0.6,1.0\n")
    (folder / "fold_1").mkdir(exist_ok=True)
    (folder / "fold_1" / "predictions.csv").write_text(
        "sequence_id,subject,label,predicted,P_a,P_b,P_c\nS1/001,S1,a,b,0.2,0.7,0.1\nS1/002,S1,b,b,0.1,0.8,0.1\n")
    return folder


def test_read_run_folder(tmp_path):
    run = app.read_run_folder(write_cv_run(tmp_path / "cv"), expect_classes=("a", "b", "c"))
    assert run.class_names == ("a", "b", "c") and len(run.folds) == 2
    assert run.confusion.sum() == 10 and run.fold_accuracies == (1.0, 0.75)
    np.testing.assert_allclose(run.recall, [3 / 4, 1, 1])
    assert len(run.metrics) == 4 and run.metrics[0]["fold"] == 0
    wrong = app.misclassified(run)
    assert wrong == [{"fold": "1", "sequence_id": "S1/001", "subject": "S1", "true": "a", "predicted": "b",
                      "P": "0.7"}]


def test_read_run_folder_refuses_bad_results(tmp_path):
    folder = write_cv_run(tmp_path / "cv")
    with pytest.raises(app.RunFolderError, match=r"written for 3 classes .* predicts 7 classes"):
        app.read_run_folder(folder, expect_classes=preset("classroom").class_names)
    res = json.loads((folder / "results.json").read_text())
    res["folds"][1]["confusion_matrix"] = [[1, 0], [0, 1]]
    (folder / "results.json").write_text(json.dumps(res))
    with pytest.raises(app.RunFolderError, match="fold 1: the confusion matrix is 2x2 but class_names lists 3"):
        app.read_run_folder(folder)
    (folder / "results.json").write_text('{"class_names": ["a", "b"], "confusion')
    with pytest.raises(app.RunFolderError, match="not readable JSON"):
        app.read_run_folder(folder)
    (folder / "results.json").write_text('{"accuracy": 1}')
    with pytest.raises(app.RunFolderError, match="no class_names"):
        app.read_run_folder(folder)


def test_read_ablation_table(tmp_path):
    (tmp_path / "table1.csv").write_text("method,accuracy_mean,accuracy_std,folds,fold_0,fold_1\n"
                                         "C1,0.500000,0.100000,2,0.4,0.6\nSTANER,0.900000,0.050000,2,0.85,0.95\n")
    run = app.read_run_folder(tmp_path)
    assert [r["method"] for r in run.table1] == ["C1", "STANER"] and run.confusion is None
    (tmp_path / "table1.csv").write_text("name,score\nx,1\n")
    with pytest.raises(app.RunFolderError, match="not a staner-lab ablation table"):
        app.read_run_folder(tmp_path)


# --- classroom training -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data(shipped):
    """Four subjects of the shipped data (28 sequences): enough for a hold-out split, quick to train."""
    records, class_names = shipped
    keep = [r for r in records if r.subject in {"S001", "S002", "S003", "S004"}]
    return [preprocess_sequence(r, INPUTS, PreprocessConfig()) for r in keep], class_names


def test_train_classroom_stops_from_on_epoch(tiny_data, tmp_path):
    samples, class_names = tiny_data
    seen = []
    res = app.train_classroom(samples, class_names, tmp_path / "run", epochs=5, on_epoch=seen.append,
                              should_stop=lambda: len(seen) >= 1)
    assert res.stopped and len(res.history) == len(seen) == 1
    assert res.checkpoint == tmp_path / "run" / "model.pt" and res.checkpoint.is_file()
    run = app.read_run_folder(tmp_path / "run", expect_classes=class_names)
    assert run.confusion.sum() > 0 and run.metrics[0]["epoch"] == 0
    from staner_lab.checkpoint import load_model

    assert load_model(res.checkpoint).config.class_names == tuple(class_names)


def test_training_job_runs_in_background(tiny_data, tmp_path):
    samples, class_names = tiny_data
    job = app.TrainingJob.start(samples, class_names, epochs=1, root=tmp_path)
    assert job.run_dir.parent == tmp_path and job.run_dir.name.startswith("app-")
    assert job.wait(120) and job.status == "done", job.error
    assert len(job.history) == 1 and job.result.checkpoint.is_file()


# --- figures of the views ---------------------------------------------------------------------


def test_view_figures(shipped, sample):
    view = app.inspect_record(shipped[0][0], INPUTS)
    fig = viz.frames_figure(view.frames, view.landmarks, view.boxes, view.indices, view.peak)
    assert [t.name for t in fig.data] == ["frames", "jaw", "eyes", "nose", "mouth"]
    assert sum(len(t.x) for t in fig.data[1:]) == 68 * 5  # every landmark of the 5 frames shown
    assert len(fig.layout.shapes) == 3 * 5
    assert fig.layout.template.layout.font.size >= 18  # projector
    strip = viz.filmstrip_figure(sample.regions, view.indices)
    assert "t=8" in " ".join(a.text for a in strip.layout.annotations)
    torch.manual_seed(0)
    a = app.analyse(STANER(preset("classroom")).eval(), sample)
    att = viz.attention_figure(sample.peak, a.M, opacity=0.3)
    assert att.data[1].opacity == 0.3 and att.data[1].colorscale[0][1] != att.data[1].colorscale[-1][1]
    states = viz.states_figure(a.lstm["eyes"]["h"], a.lstm["eyes"]["c"], "eyes")
    assert states.layout.coloraxis.cmid == 0 and states.layout.coloraxis.cmin == -1  # signed: RdBu at 0
    gates = viz.gates_figure(a.lstm["eyes"]["f"], a.lstm["eyes"]["i"], a.lstm["eyes"]["o"], "eyes")
    assert len(gates.data) == 3 and gates.layout.coloraxis.cmax == 1
    assert len(viz.gate_means_figure(a.lstm, "o").data) == 3
    P = app.fuse(a, 0.7)
    bars = viz.probability_figure(a.class_names, P, 0.7, a.P_G, a.P_L, true_label=a.class_names[0])
    assert [t.name.split(":")[0] for t in bars.data] == ["P_G", "P_L", "P"]
    assert "α = 0.70" in bars.data[2].name
    curves = viz.training_curves_figure([{"epoch": 0, "train_loss": 2, "train_acc": 0.2, "val_loss": float("nan"),
                                          "val_acc": float("nan")}])
    assert [t.name for t in curves.data] == ["train", "train"]  # no held-out curve without data
    counts, rows = viz.confusion_pair(np.eye(3, dtype=int), ["a", "b", "c"])
    assert counts.data[0].zmax == 1 and rows.layout.template.layout.font.size >= 18
    assert viz.recall_figure(["a", "b"], np.array([0.5, np.nan])).data[0].text[1] == "no data"


def test_stream_trace_follows_the_streaming_recognizer(face_frames):
    from staner_lab.checkpoint import load_model
    from staner_lab.samples import shipped_checkpoint
    from staner_lab.stream import StreamingRecognizer

    model = load_model(shipped_checkpoint())
    trace = app.stream_trace(model, face_frames, PreprocessConfig(landmarks="dlib"))
    assert trace.P.shape == (5, model.config.num_classes) and trace.resets[0]
    np.testing.assert_allclose(trace.P.sum(axis=1), 1, atol=1e-5)
    rec = StreamingRecognizer(model, PreprocessConfig(landmarks="dlib"))
    last = [rec.update(f) for f in face_frames][-1]
    np.testing.assert_allclose(trace.P[-1], last.P, atol=1e-6)
    with pytest.raises(ValueError, match="no face found"):
        app.stream_trace(model, np.full((3, 96, 96), 128, np.uint8), PreprocessConfig(landmarks="dlib"))
    fig = viz.stream_figure(trace.class_names, trace.P, trace.resets)
    assert len(fig.data) == model.config.num_classes
