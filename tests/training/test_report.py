"""The answer report: calibration figures by hand, reports of a cv run and of a checkpoint, bad files."""

import csv
import json

import cv2
import numpy as np
import pytest

from staner_lab.cli import main
from staner_lab.data.synthetic import generate_dataset, write_ckplus
from staner_lab.metrics import confidence_report, reliability
from staner_lab.training.report import answers_from_run, format_report


def test_reliability_bins_and_ece_by_hand():
    P = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.55, 0.45]])
    y = np.array([0, 1, 1, 0])  # right, wrong, right, right
    r = reliability(P, y, bins=5)
    assert r.count.tolist() == [0, 0, 2, 1, 1]  # 0.55 and 0.6 in (0.4, 0.6], 0.8 in (0.6, 0.8], 0.9 in (0.8, 1]
    assert r.confidence[2] == pytest.approx(0.575) and r.accuracy[2] == pytest.approx(0.5)
    assert r.ece == pytest.approx((2 * 0.075 + 1 * 0.2 + 1 * 0.1) / 4)
    assert confidence_report(P, y)["ece"] == pytest.approx(reliability(P, y).ece)
    sure = np.eye(3)[[0, 1, 2, 0]]
    assert reliability(sure, np.array([0, 1, 2, 0])).ece == 0  # always sure, always right
    assert reliability(sure, np.array([1, 2, 0, 1])).ece == 1  # always sure, always wrong
    with pytest.raises(ValueError, match="shape"):
        reliability(P, y[:3])


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    """A 2-fold cv run and a C2 (TLER only) run on 4 subjects x 3 emotions."""
    root = tmp_path_factory.mktemp("report")
    write_ckplus(generate_dataset(4, seed=3, frames=3, size=64, emotions=("anger", "happy", "surprise"), noise=0.3),
                 root / "data")
    common = ["--data", str(root / "data"), "--cache", str(root / "cache"), "--epochs", "1", "--batch-size", "4",
              "--folds", "2", "--no-progress", "--executor", "local"]
    assert main(["cv", *common, "--out", str(root / "cv")]) == 0
    assert main(["cv", *common, "--out", str(root / "c2"), "--variant", "C2"]) == 0
    return root


def _rows(run):
    return [r for f in sorted(run.glob("fold_*/predictions.csv")) for r in csv.DictReader(f.open())]


@pytest.mark.slow
def test_cv_writes_the_report_of_its_pooled_test_answers(cv_run):
    run = cv_run / "cv"
    report = json.loads((run / "report.json").read_text())
    rows = _rows(run)
    assert report["sequences"] == len(rows) == 12
    # the fused accuracy and each branch's, recomputed from the written predictions
    for key, prefix in (("P", "P_"), ("P_G", "G_P_"), ("P_L", "L_P_")):
        right = [max(report["class_names"], key=lambda c: float(r[prefix + c])) == r["label"] for r in rows]
        assert report["branches"][key]["accuracy"] == pytest.approx(np.mean(right))
    results = json.loads((run / "results.json").read_text())
    assert report["accuracy"] == pytest.approx(results["pooled_accuracy"])
    assert report["confusion_matrix"] == results["confusion_matrix"]
    png = cv2.imread(str(run / "reliability.png"))
    assert png is not None and png.shape[1] > 3 * png.shape[0] / 2  # three panels side by side


def test_report_of_a_run_with_one_branch(cv_run, capsys):
    answers = answers_from_run(cv_run / "c2")
    assert set(answers.P) == {"P", "P_L"}
    np.testing.assert_allclose(answers.P["P"], answers.P["P_L"], atol=1e-6)  # C2's decision is TLER's
    assert main(["evaluate", "--run", str(cv_run / "c2")]) == 0
    table = capsys.readouterr().out
    assert "TLER" in table and "SGAER" not in table and "recall %" in table


def test_evaluate_a_run_into_a_folder(cv_run, tmp_path, capsys):
    assert main(["evaluate", "--run", str(cv_run / "cv"), "--out", str(tmp_path / "rep"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "rep" / "report.json").read_text())
    assert printed["run"] == str(cv_run / "cv")
    for name in ("reliability.png", "confusion.png", "confusion.html"):
        assert (tmp_path / "rep" / name).stat().st_size > 1000
    assert "STANER" in format_report(printed)


def test_bad_run_folders_are_named(cv_run, tmp_path, capsys):
    assert main(["evaluate", "--run", str(tmp_path)]) == 2
    assert "holds no fold_K/predictions.csv" in capsys.readouterr().err
    bad = tmp_path / "bad" / "fold_0"
    bad.mkdir(parents=True)
    rows = (cv_run / "cv" / "fold_0" / "predictions.csv").read_text().splitlines()
    (bad / "predictions.csv").write_text("\n".join(rows[:2] + ["x,y,happy,happy,0.5,oops"]) + "\n")
    assert main(["evaluate", "--run", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "predictions.csv, line 3" in err
    assert main(["evaluate", "--run", str(cv_run / "cv"), "--data", str(tmp_path)]) == 2
    assert "--data only goes with --checkpoint" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(tmp_path / "m.pt")]) == 2
    assert "needs --data" in capsys.readouterr().err


def test_through_a_camera_changes_the_pixels_not_the_people():
    from staner_lab.config import preset
    from staner_lab.data.shipped import load_shipped_samples
    from staner_lab.teaching.notebook import through_a_camera

    samples = load_shipped_samples(preset("classroom").inputs)[0][:7]
    shifted = through_a_camera(samples, noise=0.02)
    for a, b in zip(samples, shifted):
        assert (a.label, a.subject, a.sequence_id) == (b.label, b.subject, b.sequence_id)
        np.testing.assert_array_equal(a.landmarks, b.landmarks)
        assert b.peak.shape == a.peak.shape and 0 <= b.peak.min() and b.peak.max() <= 1
        assert b.peak.std() < a.peak.std()  # less contrast, blurred
        for region, seq in a.regions.items():
            assert b.regions[region].shape == seq.shape and not np.allclose(b.regions[region], seq)
    again = through_a_camera(samples, noise=0.02)
    np.testing.assert_array_equal(again[3].peak, shifted[3].peak)  # the noise comes from the seed
