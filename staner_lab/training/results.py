"""Run-folder files of the protocol: refuse to overwrite, predictions, metrics, Table 1, versions.

    RUN/results.json            written by :mod:`staner_lab.training.protocol`
    RUN/metrics.csv             :func:`write_combined_metrics`
    RUN/fold_K/predictions.csv  :func:`write_predictions` (RUN/seed_S/fold_K/ with several seeds)
    RUN/table1.md / table1.csv  :func:`write_table1`, with the paper's claims tested (:func:`table1_claims`)
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
from staner_lab.metrics import claim_verdict, paired_differences, paired_interval
from staner_lab.training.loop import Predictions

__all__ = ["CLAIMS", "RESULT_FILES", "RunExistsError", "prepare_run_dir", "table1_claims", "versions",
           "write_combined_metrics", "write_predictions", "write_table1"]

#: The paper's claims (Section 4.3, Table 1) as (better, worse, what it would show).
CLAIMS = (("C3", "C1", "attention helps"),
          ("STANER", "C2", "fusion helps (over TLER alone)"),
          ("STANER", "C3", "fusion helps (over SGAER alone)"),
          ("C4", "C1", "fusion helps (without attention)"))

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
    ours = [n for n in existing if n in RESULT_FILES or n.startswith(("fold_", "seed_")) or n in VARIANTS]
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


def write_combined_metrics(out: Path, folds: list[dict[str, Any]],
                           keys: Sequence[tuple[int, int]] | None = None) -> None:
    """RUN/metrics.csv: the per-epoch history of every fold, one "fold" column in front; with ``keys``
    (the (seed, fold) of each entry of ``folds``, for several seeds) a "seed" column before it."""
    buf = io.StringIO()
    fields = (["seed"] if keys is not None else []) + ["fold"] + list(folds[0]["history"][0])
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for k, f in enumerate(folds):
        key = {"seed": keys[k][0], "fold": keys[k][1]} if keys is not None else {"fold": k}
        for row in f["history"]:
            w.writerow({**key, **row})
    atomic_write_text(out / "metrics.csv", buf.getvalue())


def _row_pairs(row: dict[str, Any]) -> list[tuple[Any, int]]:
    """The (seed, fold) of each entry of a Table 1 row's fold_accuracies (seed None if not given)."""
    if row.get("pairs") is not None:
        return [(p[0], int(p[1])) for p in row["pairs"]]
    return [(None, k) for k in range(len(row["fold_accuracies"]))]


def table1_claims(rows: Sequence[dict[str, Any]], level: float = 0.95) -> list[dict[str, Any]]:
    """Each claim of :data:`CLAIMS` whose two variants are among ``rows``, tested on paired folds.

    A pair is one seed and one fold with both variants trained and tested on it. The interval is the
    corrected resampled t interval of :func:`staner_lab.metrics.paired_interval` (Nadeau & Bengio
    2003, as the corrected repeated k-fold CV t-test of Bouckaert & Frank 2004), with the ratio of
    test to training sequences of the folds: folds overlap in training data, so the plain t interval
    would be too narrow. Verdict: "holds" (interval above 0), "reversed" (below 0), "not shown".

    Args:
        rows: per variant: ``method``, ``fold_accuracies`` and, as :func:`staner_lab.training.protocol.ablate`
            writes them, ``pairs`` ((seed, fold) of each accuracy), ``test_sizes``, ``train_sizes``.
    """
    by_method = {r["method"]: r for r in rows}
    out = []
    for better, worse, meaning in CLAIMS:
        if better not in by_method or worse not in by_method:
            continue
        a, b = by_method[better], by_method[worse]
        keys, diffs = paired_differences(dict(zip(_row_pairs(a), a["fold_accuracies"])),
                                         dict(zip(_row_pairs(b), b["fold_accuracies"])))
        if a.get("test_sizes") and a.get("train_sizes"):
            ratio = sum(a["test_sizes"]) / max(sum(a["train_sizes"]), 1)
        else:  # k folds: 1 / (k - 1) of the training size is tested
            ratio = 1.0 / max(int(a.get("folds", 2)) - 1, 1)
        iv = paired_interval(diffs, level, test_train_ratio=ratio)
        out.append({"claim": f"{better} > {worse}", "better": better, "worse": worse, "meaning": meaning,
                    "pairs": [list(k) for k in keys], "differences": diffs.tolist(), "mean": iv.mean,
                    "ci_low": iv.low, "ci_high": iv.high, "level": level, "n": iv.n, "better_pairs": iv.better,
                    "worse_pairs": iv.worse, "test_train_ratio": ratio, "verdict": claim_verdict(iv.low, iv.high),
                    "method": "paired t interval with the Nadeau-Bengio correction (1/n + n_test/n_train)"})
    return out


def _pair_column(key: tuple[Any, int], one_seed: bool) -> str:
    return f"fold_{key[1]}" if one_seed else f"seed_{key[0]}_fold_{key[1]}"


def write_table1(out: Path, rows: Sequence[dict[str, Any]], folds: int, name: str) -> list[dict[str, Any]]:
    """RUN/table1.md and table1.csv: mean ± std accuracy per variant over seeds × folds, and the claims.

    Each claim of :data:`CLAIMS` present (:func:`table1_claims`) sits in the row of its better
    variant, in a column "vs <worse variant>": the mean paired difference in points, its 95 %
    interval, the pairs (seed, fold) where the claim holds, and the verdict. table1.csv has the
    same columns in fractions, one column per (seed, fold) accuracy ("fold_K" with one seed,
    "seed_S_fold_K" with several), then "seeds", "n" and per claim "vs_<worse>_..." columns.

    Returns:
        the claims, as :func:`table1_claims` gives them.
    """
    claims = table1_claims(rows)
    baselines = [w for w in ("C1", "C2", "C3", "C4", "STANER") if any(c["worse"] == w for c in claims)]
    cell = {(c["better"], c["worse"]): c for c in claims}
    pair_keys = list(dict.fromkeys(k for r in rows for k in _row_pairs(r)))
    seeds = list(dict.fromkeys(k[0] for k in pair_keys))
    one_seed = len(seeds) <= 1
    over = f"{folds} folds" if one_seed else f"{len(seeds)} seeds × {folds} folds"

    md = [f"| Methods | {name}, {over} |" + "".join(
        f" vs {w}: paired difference (points) [95 % CI]; pairs better; verdict |" for w in baselines),
          "|---|---|" + "---|" * len(baselines)]
    for r in rows:
        line = f"| {r['method']} | {100 * r['accuracy_mean']:.2f}% ± {100 * r['accuracy_std']:.2f} |"
        for w in baselines:
            c = cell.get((r["method"], w))
            line += (f" {100 * c['mean']:+.2f} [{100 * c['ci_low']:+.2f}, {100 * c['ci_high']:+.2f}]; "
                     f"{c['better_pairs']}/{c['n']} pairs; {c['verdict']} |") if c else " |"
        md.append(line)
    atomic_write_text(out / "table1.md", "\n".join(md) + "\n")

    claim_fields = ["claim", "difference", "ci_low", "ci_high", "better", "pairs", "verdict"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["method", "accuracy_mean", "accuracy_std", "folds"] + [_pair_column(k, one_seed) for k in pair_keys]
               + ["seeds", "n"] + [f"vs_{b}_{f}" for b in baselines for f in claim_fields])
    for r in rows:
        acc = dict(zip(_row_pairs(r), r["fold_accuracies"]))
        line = [r["method"], f"{r['accuracy_mean']:.6f}", f"{r['accuracy_std']:.6f}", folds]
        line += [f"{acc[k]:.6f}" if k in acc else "" for k in pair_keys]
        line += [len({k[0] for k in acc}), len(acc)]
        for b in baselines:
            c = cell.get((r["method"], b))
            line += ([c["claim"], f"{c['mean']:.6f}", f"{c['ci_low']:.6f}", f"{c['ci_high']:.6f}", c["better_pairs"],
                      c["n"], c["verdict"]] if c else [""] * len(claim_fields))
        w.writerow(line)
    atomic_write_text(out / "table1.csv", buf.getvalue())
    return claims
