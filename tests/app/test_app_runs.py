"""staner_lab.app.runs: run folders (results.json, metrics.csv, table1.csv, predictions.csv) read and
checked for the Evaluation view; inconsistent or foreign results are refused with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from staner_lab.app import runs
from staner_lab.config import preset


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
    run = runs.read_run_folder(write_cv_run(tmp_path / "cv"), expect_classes=("a", "b", "c"))
    assert run.class_names == ("a", "b", "c") and len(run.folds) == 2
    assert run.confusion.sum() == 10 and run.fold_accuracies == (1.0, 0.75)
    np.testing.assert_allclose(run.recall, [3 / 4, 1, 1])
    assert len(run.metrics) == 4 and run.metrics[0]["fold"] == 0
    wrong = runs.misclassified(run)
    assert wrong == [{"fold": "1", "sequence_id": "S1/001", "subject": "S1", "true": "a", "predicted": "b",
                      "P": "0.7"}]


def test_read_run_folder_refuses_bad_results(tmp_path):
    folder = write_cv_run(tmp_path / "cv")
    with pytest.raises(runs.RunFolderError, match=r"written for 3 classes .* predicts 7 classes"):
        runs.read_run_folder(folder, expect_classes=preset("classroom").class_names)
    res = json.loads((folder / "results.json").read_text())
    res["folds"][1]["confusion_matrix"] = [[1, 0], [0, 1]]
    (folder / "results.json").write_text(json.dumps(res))
    with pytest.raises(runs.RunFolderError, match="fold 1: the confusion matrix is 2x2 but class_names lists 3"):
        runs.read_run_folder(folder)
    (folder / "results.json").write_text('{"class_names": ["a", "b"], "confusion')
    with pytest.raises(runs.RunFolderError, match="not readable JSON"):
        runs.read_run_folder(folder)
    (folder / "results.json").write_text('{"accuracy": 1}')
    with pytest.raises(runs.RunFolderError, match="no class_names"):
        runs.read_run_folder(folder)


def test_read_ablation_table(tmp_path):
    (tmp_path / "table1.csv").write_text("method,accuracy_mean,accuracy_std,folds,fold_0,fold_1\n"
                                         "C1,0.500000,0.100000,2,0.4,0.6\nSTANER,0.900000,0.050000,2,0.85,0.95\n")
    run = runs.read_run_folder(tmp_path)
    assert [r["method"] for r in run.table1] == ["C1", "STANER"] and run.confusion is None
    (tmp_path / "table1.csv").write_text("name,score\nx,1\n")
    with pytest.raises(runs.RunFolderError, match="not a staner-lab ablation table"):
        runs.read_run_folder(tmp_path)


def test_claims_of_a_written_table1_are_read_back(tmp_path):
    from staner_lab.training.results import write_table1

    rows = [{"method": m, "accuracy_mean": float(np.mean(a)), "accuracy_std": float(np.std(a)), "folds": 3,
             "fold_accuracies": a, "pairs": [[0, k] for k in range(3)], "test_sizes": [10] * 3,
             "train_sizes": [20] * 3}
            for m, a in (("C1", [0.5, 0.6, 0.55]), ("C3", [0.7, 0.8, 0.75]))]
    claims = write_table1(tmp_path, rows, 3, "data")
    run = runs.read_run_folder(tmp_path)
    assert len(run.claims) == 1 and run.claims[0]["claim"] == "C3 > C1"
    c = claims[0]
    assert run.claims[0]["difference (points)"] == round(100 * c["mean"], 2) == 20.0
    assert run.claims[0]["95 % interval"] == f"[{100 * c['ci_low']:+.2f}, {100 * c['ci_high']:+.2f}]"
    assert run.claims[0]["pairs where it holds"] == "3/3" and run.claims[0]["verdict"] == c["verdict"]


def test_read_run_over_several_seeds(tmp_path):
    """``cv --seeds 0 1``: RUN/seed_S/ are one-seed run folders; RUN/results.json lists seeds x folds."""
    run = tmp_path / "cv"
    for s in (0, 1):
        write_cv_run(run / f"seed_{s}")
    one = json.loads((run / "seed_0" / "results.json").read_text())
    folds = [{**f, "seed": s} for s in (0, 1) for f in one["folds"]]
    res = {**one, "seeds": [0, 1], "folds": folds,
           "confusion_matrix": (2 * np.array(one["confusion_matrix"])).tolist()}
    (run / "results.json").write_text(json.dumps(res))
    top = runs.read_run_folder(run, expect_classes=("a", "b", "c"))
    assert len(top.folds) == 4 and top.fold_accuracies == (1.0, 0.75, 1.0, 0.75) and top.confusion.sum() == 20
    assert runs.misclassified(top) == [{"seed": s, "fold": "1", "sequence_id": "S1/001", "subject": "S1", "true": "a",
                                        "predicted": "b", "P": "0.7"} for s in ("0", "1")]
    seed1 = runs.read_run_folder(run / "seed_1")
    assert seed1.confusion.sum() == 10 and [w["fold"] for w in runs.misclassified(seed1)] == ["1"]


def test_run_folder_of_a_checkpoint(tmp_path):
    """The Evaluation view follows the selected checkpoint: RUN/model.pt and RUN/fold_K/last.pt -> RUN."""
    run = write_cv_run(tmp_path / "cv")
    assert runs.run_folder_of(run / "fold_1" / "last.pt") == run
    assert runs.run_folder_of(run / "model.pt") == run
    ablation = tmp_path / "table"
    (ablation / "C1" / "fold_0").mkdir(parents=True)
    (ablation / "table1.csv").write_text("method\n")
    assert runs.run_folder_of(ablation / "C1" / "model.pt") == ablation
    assert runs.run_folder_of(tmp_path / "loose" / "model.pt") is None  # no results beside it
    assert runs.run_folder_of(None) is None
