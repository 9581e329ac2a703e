"""Run-folder files of the protocol: refuse to overwrite, predictions, metrics, Table 1, versions.

    RUN/results.json            written by :mod:`staner_lab.training.protocol`
    RUN/metrics.csv             :func:`write_combined_metrics`
    RUN/fold_K/predictions.csv  :func:`write_predictions`
    RUN/table1.md / table1.csv  :func:`write_table1`
"""

from __future__ import annotations

import csv
import io
import platform
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from staner_lab import __version__
from staner_lab.atomic import atomic_write_text
from staner_lab.config import VARIANTS
from staner_lab.data.records import Sample
from staner_lab.training.loop import Predictions

__all__ = ["RESULT_FILES", "RunExistsError", "prepare_run_dir", "versions", "write_combined_metrics",
           "write_predictions", "write_table1"]

RESULT_FILES = ("results.json", "metrics.csv", "confusion.html", "confusion.png", "table1.md", "table1.csv",
                "model.pt")


class RunExistsError(ValueError):
    """The run folder already holds results."""


def versions() -> dict[str, str]:
    import numpy

    return {"staner_lab": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


def prepare_run_dir(out: str | Path, overwrite: bool, resume: bool) -> Path:
    """Create ``out``; refuse to touch earlier results unless ``overwrite`` (or ``resume``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunExistsError(f"--out {out} is a file, not a folder")
    existing = [p.name for p in out.glob("*")] if out.exists() else []
    ours = [n for n in existing if n in RESULT_FILES or n.startswith("fold_") or n in VARIANTS]
    if ours and not (overwrite or resume):
        raise RunExistsError(
            f"{out} already holds results ({', '.join(sorted(ours)[:5])}); pass --resume to continue "
            "that run, --overwrite to replace it, or choose another --out")
    if ours and overwrite and not resume:
        for name in ours:
            p = out / name
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_predictions(path: Path, pred: Predictions, samples: Sequence[Sample],
                      class_names: Sequence[str]) -> None:
    """One row per test sequence: ids, label, prediction and the three probability vectors."""
    buf = io.StringIO()
    w = csv.writer(buf)
    heads = [f"P_{c}" for c in class_names]
    w.writerow(["sequence_id", "subject", "label", "predicted"] + heads
               + (["G_" + h for h in heads] if pred.P_G is not None else [])
               + (["L_" + h for h in heads] if pred.P_L is not None else []))
    for row, i in enumerate(pred.indices):
        s = samples[int(i)]
        values = list(pred.P[row])
        values += list(pred.P_G[row]) if pred.P_G is not None else []
        values += list(pred.P_L[row]) if pred.P_L is not None else []
        w.writerow([s.sequence_id, s.subject, class_names[int(pred.labels[row])],
                    class_names[int(pred.predicted[row])]] + [f"{v:.6f}" for v in values])
    atomic_write_text(path, buf.getvalue())


def write_combined_metrics(out: Path, folds: list[dict[str, Any]]) -> None:
    """RUN/metrics.csv: the per-epoch history of every fold, one "fold" column in front."""
    buf = io.StringIO()
    fields = ["fold"] + list(folds[0]["history"][0])
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for k, f in enumerate(folds):
        for row in f["history"]:
            w.writerow({"fold": k, **row})
    atomic_write_text(out / "metrics.csv", buf.getvalue())



def write_table1(out: Path, rows: Sequence[dict[str, Any]], folds: int, name: str) -> None:
    """RUN/table1.md and table1.csv: mean ± std accuracy per variant, one column per fold (csv)."""
    md = [f"| Methods | {name} |", "|---|---|"]
    md += [f"| {r['method']} | {100 * r['accuracy_mean']:.2f}% ± {100 * r['accuracy_std']:.2f} |" for r in rows]
    atomic_write_text(out / "table1.md", "\n".join(md) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["method", "accuracy_mean", "accuracy_std", "folds"] + [f"fold_{k}" for k in range(folds)])
    for r in rows:
        w.writerow([r["method"], f"{r['accuracy_mean']:.6f}", f"{r['accuracy_std']:.6f}", folds]
                   + [f"{a:.6f}" for a in r["fold_accuracies"]])
    atomic_write_text(out / "table1.csv", buf.getvalue())
