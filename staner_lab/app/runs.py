"""Run folders (``results.json``, ``metrics.csv``, ``table1.csv``, ``predictions.csv``) -> a checked
:class:`RunFolder` for the Evaluation view; what cannot be shown is a :class:`RunFolderError`.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from staner_lab.app.paths import display_path
from staner_lab.data.readers import natural_key

__all__ = ["RunFolder", "RunFolderError", "misclassified", "read_run_folder", "run_answers", "run_folder_of"]


class RunFolderError(ValueError):
    """A run folder's results cannot be shown (unreadable, inconsistent, or another class list)."""


@dataclass(frozen=True)
class RunFolder:
    """The results of ``staner-lab train``, ``cv`` or ``ablate`` (or classroom training), checked.

    Attributes:
        path: the folder.
        class_names: from results.json, or None without one.
        confusion: (K, K) summed confusion matrix, or None.
        folds: per-fold (K, K) matrices (empty for a single training run).
        fold_accuracies: per-fold accuracy.
        recall: (K,) per-class recall (NaN where a class has no test sequence), or None.
        accuracy: mean accuracy over folds (or held-out accuracy), and its std (None for one run).
        variant: the model variant.
        metrics: rows of metrics.csv (numbers; "fold" present for cross-validation).
        table1: rows of table1.csv (method, accuracy_mean, accuracy_std, folds, fold_k ...), or None.
        claims: the paper's claims tested in table1.csv (claim, difference, interval, pairs, verdict).
    """

    path: Path
    class_names: tuple[str, ...] | None = None
    confusion: np.ndarray | None = None
    folds: tuple[np.ndarray, ...] = ()
    fold_accuracies: tuple[float, ...] = ()
    recall: np.ndarray | None = None
    accuracy: float | None = None
    accuracy_std: float | None = None
    variant: str | None = None
    metrics: tuple[dict[str, float], ...] = ()
    table1: tuple[dict[str, Any], ...] | None = None
    claims: tuple[dict[str, Any], ...] = ()


def _matrix(value: Any, K: int, where: str) -> np.ndarray:
    try:
        cm = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise RunFolderError(f"{where}: the confusion matrix is not a table of numbers") from exc
    if cm.shape != (K, K):
        raise RunFolderError(f"{where}: the confusion matrix is {'x'.join(map(str, cm.shape))} but class_names lists "
                             f"{K} classes; the file was edited or belongs to another run")
    if (cm < 0).any() or not np.all(np.isfinite(cm)) or not np.allclose(cm, np.round(cm)):
        raise RunFolderError(f"{where}: the confusion matrix must hold non-negative whole counts")
    return cm.round().astype(np.int64)


def _read_csv_numbers(path: Path) -> tuple[dict[str, float], ...]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RunFolderError(f"{display_path(path)} cannot be read ({exc})") from exc
    out = []
    for i, row in enumerate(rows):
        try:
            out.append({k: float(v) if v not in ("", None) else float("nan") for k, v in row.items() if k})
        except ValueError as exc:
            raise RunFolderError(f"{display_path(path)}, row {i + 2}: not a number ({exc})") from exc
    return tuple(out)


def _claims(rows: list[dict[str, str]]) -> tuple[dict[str, Any], ...]:
    """The paper's claims tested in table1.csv (its "vs_<worse>_..." columns), one dict per claim."""
    out = []
    for r in rows:
        for key, claim in r.items():
            if not (key.startswith("vs_") and key.endswith("_claim")) or not claim:
                continue
            pre = key[: -len("claim")]
            out.append({"claim": claim, "difference (points)": round(100 * float(r[pre + "difference"]), 2),
                        "95 % interval": f"[{100 * float(r[pre + 'ci_low']):+.2f}, {100 * float(r[pre + 'ci_high']):+.2f}]",
                        "pairs where it holds": f"{r[pre + 'better']}/{r[pre + 'pairs']}", "verdict": r[pre + "verdict"]})
    return tuple(out)


def read_run_folder(path: str | os.PathLike[str], expect_classes: Sequence[str] | None = None) -> RunFolder:
    """Read and check a run folder.

    Args:
        path: a folder already validated with :func:`validate_run_dir`.
        expect_classes: the selected model's class names; results for another class list are refused
            (the matrices would be labelled with the wrong classes).

    Raises:
        RunFolderError: unreadable JSON/CSV, matrices that do not fit the class list, or results for
            another class list than ``expect_classes``.
    """
    path = Path(path)
    res_path = path / "results.json"
    kwargs: dict[str, Any] = {}
    if res_path.is_file():
        where = display_path(res_path)
        try:
            res = json.loads(res_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunFolderError(f"{where} is not readable JSON ({exc}); was the run interrupted while writing?") from exc
        if not isinstance(res, dict):
            raise RunFolderError(f"{where}: expected a JSON object, got {type(res).__name__}")
        names = res.get("class_names")
        if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) for n in names)):
            raise RunFolderError(f"{where}: no class_names list; is it a staner-lab results.json?")
        if expect_classes is not None and tuple(names) != tuple(expect_classes):
            raise RunFolderError(
                f"{where} was written for {len(names)} classes {names}, but the selected checkpoint predicts "
                f"{len(expect_classes)} classes {list(expect_classes)}. Pick the checkpoint of this run folder "
                "(its model.pt or fold_K/last.pt) or a run folder trained on the same classes.")
        K = len(names)
        folds = res.get("folds") or []
        if not isinstance(folds, list):
            raise RunFolderError(f"{where}: 'folds' must be a list")
        fold_cms = tuple(_matrix(f.get("confusion_matrix") if isinstance(f, dict) else None, K, f"{where}, fold {k}")
                         for k, f in enumerate(folds))
        cm = res.get("confusion_matrix")
        summed = _matrix(cm, K, where) if cm is not None else (np.sum(fold_cms, axis=0) if fold_cms else None)
        if summed is not None and fold_cms and not np.array_equal(summed, np.sum(fold_cms, axis=0)):
            raise RunFolderError(f"{where}: the summed confusion matrix is not the sum of the folds' matrices")
        recall = None
        if summed is not None:
            from staner_lab.metrics import per_class_recall

            recall = per_class_recall(summed)
        acc = res.get("accuracy_mean", res.get("held_out_accuracy"))
        kwargs.update(
            class_names=tuple(names), confusion=summed, folds=fold_cms,
            fold_accuracies=tuple(float(f.get("accuracy", float("nan"))) for f in folds),
            recall=recall, accuracy=None if acc is None else float(acc),
            accuracy_std=None if res.get("accuracy_std") is None else float(res["accuracy_std"]),
            variant=res.get("variant"))
    if (path / "metrics.csv").is_file():
        kwargs["metrics"] = _read_csv_numbers(path / "metrics.csv")
    if (path / "table1.csv").is_file():
        try:
            with (path / "table1.csv").open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            kwargs["table1"] = tuple({"method": r["method"], "accuracy_mean": float(r["accuracy_mean"]),
                                      "accuracy_std": float(r["accuracy_std"]), "folds": int(float(r["folds"]))}
                                     for r in rows)
            kwargs["claims"] = _claims(rows)
        except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError) as exc:
            raise RunFolderError(f"{display_path(path / 'table1.csv')} is not a staner-lab ablation table ({exc})") from exc
    if not kwargs:
        raise RunFolderError(f"{display_path(path)}: no results.json, metrics.csv or table1.csv")
    return RunFolder(path=path, **kwargs)


def run_folder_of(checkpoint: Path | None) -> Path | None:
    """The run folder a checkpoint was written into: its own folder (``RUN/model.pt``) or the one above
    (``RUN/fold_K/last.pt``), whichever holds results.json or table1.csv; None when neither does."""
    if checkpoint is None:
        return None
    for folder in (checkpoint.parent, checkpoint.parent.parent):
        if (folder / "results.json").is_file() or (folder / "table1.csv").is_file():
            return folder
    return None


def run_answers(run: RunFolder):
    """The test answers of a run folder for its calibration panel (:class:`staner_lab.training.report.Answers`),
    or None when it holds no predictions (an ablate folder: pick one variant's folder)."""
    from staner_lab.training.report import answers_from_run

    try:
        return answers_from_run(run.path)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise RunFolderError(f"{display_path(run.path)}: the test answers cannot be read ({exc})") from exc


def misclassified(run: RunFolder, limit: int = 500) -> list[dict[str, str]]:
    """Test sequences whose prediction was wrong, from ``predictions.csv`` (and ``fold_K/``, or
    ``seed_S/fold_K/`` for a run over several seeds).

    Returns rows {"fold", "sequence_id", "subject", "true", "predicted", "P"} (P of the predicted class),
    with "seed" in front for a run over several seeds.
    """
    files = sorted(run.path.glob("fold_*/predictions.csv"), key=lambda p: natural_key(p.parent.name))
    files += sorted(run.path.glob("seed_*/fold_*/predictions.csv"),
                    key=lambda p: (natural_key(p.parent.parent.name), natural_key(p.parent.name)))
    if (run.path / "predictions.csv").is_file():
        files.insert(0, run.path / "predictions.csv")
    rows: list[dict[str, str]] = []
    for f in files:
        fold = f.parent.name.removeprefix("fold_") if f.parent != run.path else "-"
        in_seed = f.parent != run.path and f.parent.parent != run.path  # RUN/seed_S/fold_K/predictions.csv
        seed = {"seed": f.parent.parent.name.removeprefix("seed_")} if in_seed else {}
        try:
            with f.open(newline="", encoding="utf-8") as fh:
                for r in csv.DictReader(fh):
                    if r.get("label") != r.get("predicted"):
                        rows.append({**seed, "fold": fold, "sequence_id": r.get("sequence_id", "?"),
                                     "subject": r.get("subject", "?"), "true": r.get("label", "?"),
                                     "predicted": r.get("predicted", "?"),
                                     "P": r.get(f"P_{r.get('predicted')}", "")})
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise RunFolderError(f"{display_path(f)} cannot be read ({exc})") from exc
        if len(rows) >= limit:
            break
    return rows[:limit]

