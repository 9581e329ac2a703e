"""staner_lab.app.jobs: classroom training writes a run folder the app can read, stops from fit's
on_epoch callback, and runs in a background thread."""

from __future__ import annotations

import pytest

from staner_lab.app import jobs
from staner_lab.app.runs import read_run_folder
from staner_lab.config import PreprocessConfig, preset
from staner_lab.data.preprocess import preprocess_sequence
from staner_lab.explain.inspection import shipped_records

INPUTS = preset("classroom").inputs


@pytest.fixture(scope="module")
def tiny_data():
    """Four subjects of the shipped data (28 sequences): enough for a hold-out split, quick to train."""
    records, class_names = shipped_records()
    keep = [r for r in records if r.subject in {"S001", "S002", "S003", "S004"}]
    return [preprocess_sequence(r, INPUTS, PreprocessConfig()) for r in keep], class_names


def test_train_classroom_stops_from_on_epoch(tiny_data, tmp_path):
    samples, class_names = tiny_data
    seen = []
    res = jobs.train_classroom(samples, class_names, tmp_path / "run", epochs=5, on_epoch=seen.append,
                               should_stop=lambda: len(seen) >= 1)
    assert res.stopped and len(res.history) == len(seen) == 1
    assert res.checkpoint == tmp_path / "run" / "model.pt" and res.checkpoint.is_file()
    run = read_run_folder(tmp_path / "run", expect_classes=class_names)
    assert run.confusion.sum() > 0 and run.metrics[0]["epoch"] == 0
    from staner_lab.training.checkpoint import load_model

    assert load_model(res.checkpoint).config.class_names == tuple(class_names)


def test_training_job_runs_in_background(tiny_data, tmp_path):
    samples, class_names = tiny_data
    job = jobs.TrainingJob.start(samples, class_names, epochs=1, root=tmp_path)
    assert job.run_dir.parent == tmp_path and job.run_dir.name.startswith("app-")
    assert job.wait(120) and job.status == "done", job.error
    assert len(job.history) == 1 and job.result.checkpoint.is_file()


def record_shipped(root, wanted: dict[str, str]) -> None:
    """Save shipped synthetic sequences as Live-view recordings: {subject: student} x anger, happy."""
    import cv2

    from staner_lab.app.recording import save_recording
    from staner_lab.data.shipped import shipped_data_dir

    data = shipped_data_dir()
    codes = {"1": "anger", "5": "happy"}
    names = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
    for subject, student in wanted.items():
        for emotion in sorted((data / "Emotion" / subject).glob("*/*_emotion.txt")):
            label = codes.get(str(int(float(emotion.read_text().split()[0]))))
            if label:
                frames = sorted((data / "cohn-kanade-images" / subject / emotion.parent.name).glob("*.png"))
                save_recording([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in frames], label, names, student,
                               root=root)


def test_the_class_recordings_train_a_classroom_model(tmp_path):
    from staner_lab.app.recording import RecordingError, load_recordings

    inputs = preset("classroom").inputs
    with pytest.raises(RecordingError, match="record sequences in the Live tab"):
        load_recordings(inputs, root=tmp_path / "none")
    record_shipped(tmp_path / "one", {"S001": "ada"})
    with pytest.raises(RecordingError, match="two students"):
        load_recordings(inputs, root=tmp_path / "one", cache_dir=tmp_path / "cache")
    record_shipped(tmp_path / "rec", {"S001": "ada", "S002": "bo", "S003": "cy"})
    samples, class_names = load_recordings(inputs, root=tmp_path / "rec", cache_dir=tmp_path / "cache")
    assert list(class_names) == ["anger", "happy"]  # the recorded classes, dlib found every face
    assert len(samples) == 6 and {s.subject for s in samples} == {"ada", "bo", "cy"}
    res = jobs.train_classroom(samples, class_names, tmp_path / "run", epochs=1)
    run = read_run_folder(tmp_path / "run")
    assert list(run.class_names) == ["anger", "happy"] and (tmp_path / "run" / "model.pt").is_file()
    assert res is not None
