"""The answer report: how a model reads a data set, branch by branch, and how far its confidence holds.

The same report for a checkpoint on a data folder (``staner-lab evaluate --checkpoint CKPT --data DIR``)
and for a cross-validation run, pooled over its folds and seeds from each fold's ``predictions.csv``
(``staner-lab evaluate --run RUN``; ``cv`` writes it at the end). For each of the fused decision P
(Eq. 14), SGAER's P_G and TLER's P_L: accuracy, per-class recall, negative log-likelihood, expected
calibration error and the mean confidence when wrong, the numbers that say whether one branch can
outvote a better one; and a reliability diagram (``reliability.png``).

Files written by :func:`write_report` into a folder::

    report.json        the figures below, per branch
    reliability.png    one reliability diagram per branch
    confusion.html / .png   the fused decision's confusion matrix
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from staner_lab.atomic import atomic_write_text
from staner_lab.metrics import (
    accuracy_from_confusion,
    confidence_report,
    confusion_matrix,
    per_class_recall,
    reliability,
)

__all__ = ["BRANCH_NAMES", "Answers", "answer_report", "answers_from_predictions", "answers_from_run",
           "branch_rows", "format_report", "read_predictions", "reliabilities", "write_report"]

#: Keys of :attr:`Answers.P` and what each is called in tables and figures.
BRANCH_NAMES = {"P": "STANER", "P_G": "SGAER", "P_L": "TLER"}


@dataclass(frozen=True)
class Answers:
    """A model's probabilities on a data set.

    Attributes:
        labels: (N,) true classes.
        P: {"P": fused (N, K), "P_G": SGAER's, "P_L": TLER's}; a branch the model lacks is absent.
        class_names: the K class names.
    """

    labels: np.ndarray
    P: dict[str, np.ndarray]
    class_names: tuple[str, ...]


def answers_from_predictions(pred: Any, class_names: Sequence[str]) -> Answers:
    """From :class:`staner_lab.training.loop.Predictions`."""
    P = {"P": pred.P, "P_G": pred.P_G, "P_L": pred.P_L}
    return Answers(np.asarray(pred.labels, int), {k: np.asarray(v) for k, v in P.items() if v is not None},
                   tuple(class_names))


def read_predictions(path: Path) -> tuple[list[str], dict[str, list[list[float]]], list[str]]:
    """(class names, {"P" | "P_G" | "P_L": rows of probabilities}, true labels) of one predictions.csv."""
    with path.open(newline="") as f:
        reader = csv.reader(f)
        head = next(reader, None)
        if head is None or head[:4] != ["sequence_id", "subject", "label", "predicted"]:
            raise ValueError(f"{path} is not a predictions.csv written by staner-lab (its header is {head})")
        classes = [h[2:] for h in head[4:] if h.startswith("P_")]
        K = len(classes)
        # blocks of K columns: P, then G_P (SGAER) and L_P (TLER) for the branches the model has
        keys = ["P"] + [k for prefix, k in (("G_", "P_G"), ("L_", "P_L")) if prefix + head[4] in head]
        if len(head) != 4 + K * len(keys):
            raise ValueError(f"{path}: {len(head)} columns do not make {len(keys)} blocks of {K} probabilities")
        labels, P = [], {k: [] for k in keys}
        for line, row in enumerate(reader, start=2):
            try:
                values = [float(v) for v in row[4:]]
                if len(values) != K * len(keys) or row[2] not in classes:
                    raise ValueError
            except (ValueError, IndexError):
                raise ValueError(f"{path}, line {line}: not a row of staner-lab predictions: {row[:6]}") from None
            labels.append(row[2])
            for j, key in enumerate(keys):
                P[key].append(values[j * K:(j + 1) * K])
    return classes, P, labels


def answers_from_run(run: str | Path) -> Answers:
    """Every test answer of a ``cv`` run folder (``fold_K/`` or ``seed_S/fold_K/``), or of one variant's
    folder of an ``ablate`` run, pooled: each test sequence once per seed; for a ``train`` run, its
    held-out subjects' answers (``predictions.csv``).

    Raises:
        FileNotFoundError: the folder holds no fold's predictions.csv (names the folder and the fix).
        ValueError: the folds disagree on the classes, or a file is not staner-lab's.
    """
    run = Path(run)
    files = sorted(run.glob("fold_*/predictions.csv")) + sorted(run.glob("seed_*/fold_*/predictions.csv"))
    if not files and (run / "predictions.csv").is_file():
        files = [run / "predictions.csv"]
    if not files:
        raise FileNotFoundError(f"{run} holds no fold_K/predictions.csv: give the folder of a cv run (or one "
                                "variant's folder of an ablate run, or a train run), or a finished fold")
    classes, labels, P = None, [], {}
    for path in files:
        c, p, y = read_predictions(path)
        if classes is None:
            classes = c
        elif c != classes:
            raise ValueError(f"{path} has classes {c}, but {files[0]} has {classes}")
        labels += y
        for k, v in p.items():
            P.setdefault(k, []).extend(v)
    index = {name: i for i, name in enumerate(classes)}
    return Answers(np.array([index[y] for y in labels]), {k: np.array(v) for k, v in P.items()}, tuple(classes))


def _clean(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def answer_report(answers: Answers) -> dict[str, Any]:
    """The figures of :mod:`staner_lab.training.report` as a JSON-ready dict."""
    K, y = len(answers.class_names), answers.labels
    branches, matrices = {}, {}
    for key, P in answers.P.items():
        matrices[key] = cm = confusion_matrix(y, P.argmax(axis=1), K)
        branches[key] = {"name": BRANCH_NAMES[key],
                         **{k: _clean(v) for k, v in confidence_report(P, y).items()},
                         "per_class_recall": dict(zip(answers.class_names, map(_clean, per_class_recall(cm))))}
    fused = matrices["P"]  # the decision's own figures, also at the top level
    return {"sequences": len(y), "class_names": list(answers.class_names),
            "class_counts": dict(zip(answers.class_names, np.bincount(y, minlength=K).tolist())),
            "accuracy": accuracy_from_confusion(fused), "per_class_recall": branches["P"]["per_class_recall"],
            "confusion_matrix": fused.tolist(), "branches": branches}


def branch_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per branch for a table on screen: accuracy, NLL, ECE, confidence, confidence when wrong,
    then each class's recall (percentages rounded to 0.1)."""
    def pct(x: float | None) -> float | None:
        return None if x is None else round(100 * x, 1)

    rows = []
    for key in ("P", "P_G", "P_L"):
        if key in report["branches"]:
            b = report["branches"][key]
            rows.append({"branch": b["name"], "accuracy (%)": pct(b["accuracy"]), "NLL": round(b["nll"], 3),
                         "ECE": round(b["ece"], 3), "confidence": round(b["confidence"], 3),
                         "confidence when wrong": None if b["confidence_when_wrong"] is None
                         else round(b["confidence_when_wrong"], 3),
                         **{f"recall {c} (%)": pct(r) for c, r in b["per_class_recall"].items()}})
    return rows


def _pct(x: float | None) -> str:
    return "  -  " if x is None else f"{100 * x:5.1f}"


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table: a row per branch, then per-class recall of each branch."""
    b = report["branches"]
    lines = [f"{report['sequences']} sequences; accuracy {100 * report['accuracy']:.2f} %", "",
             f"{'branch':<8} {'acc %':>6} {'NLL':>7} {'ECE':>6} {'conf':>6} {'conf when wrong':>16}"]
    for key in ("P", "P_G", "P_L"):
        if key in b:
            r = b[key]
            wrong = "-" if r["confidence_when_wrong"] is None else f"{r['confidence_when_wrong']:.3f}"
            lines.append(f"{r['name']:<8} {_pct(r['accuracy']):>6} {r['nll']:7.3f} {r['ece']:6.3f} "
                         f"{r['confidence']:6.3f} {wrong:>16}")
    names = report["class_names"]
    width = max(8, *(len(n) for n in names)) + 1
    lines += ["", "recall %".ljust(width) + "".join(f"{b[k]['name']:>8}" for k in ("P", "P_G", "P_L") if k in b)
              + "   sequences"]
    for c in names:
        lines.append(c.ljust(width) + "".join(f"{_pct(b[k]['per_class_recall'][c]):>8}"
                                              for k in ("P", "P_G", "P_L") if k in b)
                     + f"   {report['class_counts'][c]:>9}")
    return "\n".join(lines)


def reliabilities(answers: Answers) -> dict[str, Any]:
    """{branch name: :class:`staner_lab.metrics.Reliability`} for the reliability diagram."""
    return {BRANCH_NAMES[k]: reliability(P, answers.labels) for k, P in answers.P.items()}


def write_report(out: str | Path, answers: Answers, title: str, extra: dict[str, Any] | None = None,
                 confusion: bool = True) -> dict[str, Any]:
    """report.json (with ``extra`` merged in: what was evaluated), reliability.png and, with
    ``confusion``, the confusion figures into ``out`` (created); returns the report."""
    from staner_lab.viz import save_confusion_figures
    from staner_lab.viz.calibration import save_reliability_png

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = {**(extra or {}), **answer_report(answers)}
    atomic_write_text(out / "report.json", json.dumps(report, indent=1))
    save_reliability_png(reliabilities(answers), out / "reliability.png", title=f"Reliability: {title}")
    if confusion:
        save_confusion_figures(np.array(report["confusion_matrix"]), answers.class_names, out / "confusion",
                               title=f"Confusion: {title}")
    return report
