"""Fold-paired comparison of cv runs on the same data and seeds: is an option better, per branch?

    python benchmarks/compare_runs.py runs/dev_base runs/dev_aug [runs/dev_other ...]

For the fused decision (STANER), SGAER's P_G and TLER's P_L, each run's accuracy on every (seed,
fold) is read from its fold's predictions.csv; the runs are paired on (seed, fold) (the same seed
gives the same subject-independent folds on the same data) and the mean difference gets the
corrected repeated-CV 95 % interval of Nadeau & Bengio (``staner_lab.metrics.paired_interval`` with
the folds' test/train ratio), as for Table 1. A pair missing from either run is left out and named.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from staner_lab.metrics import mean_std, paired_interval
from staner_lab.training.report import BRANCH_NAMES, read_predictions


def fold_scores(run: Path) -> tuple[dict[str, dict[tuple[int, int], float]], float]:
    """({branch key: {(seed, fold): accuracy}}, mean test/train size ratio) of a cv run folder."""
    files = sorted(run.glob("fold_*/predictions.csv")) + sorted(run.glob("seed_*/fold_*/predictions.csv"))
    if not files:
        raise SystemExit(f"{run} holds no fold_K/predictions.csv: give the folder of a finished cv run")
    scores: dict[str, dict[tuple[int, int], float]] = {}
    ratios = []
    for path in files:
        seed_dir = path.parent.parent
        if re.fullmatch(r"seed_\d+", seed_dir.name):
            seed = int(seed_dir.name.removeprefix("seed_"))
        else:  # a one-seed run: its seed is in results.json
            results = run / "results.json"
            seed = json.loads(results.read_text())["seeds"][0] if results.is_file() else 0
        fold = int(path.parent.name.removeprefix("fold_"))
        classes, P, labels = read_predictions(path)
        y = np.array([classes.index(c) for c in labels])
        for key, probs in P.items():
            scores.setdefault(key, {})[(seed, fold)] = float((np.argmax(probs, axis=1) == y).mean())
        result = path.parent / "result.json"
        if result.is_file():
            r = json.loads(result.read_text())
            ratios.append(r["test_size"] / r["train_size"])
    return scores, float(np.mean(ratios)) if ratios else 1 / 9


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", type=Path, help="the reference cv run")
    ap.add_argument("others", type=Path, nargs="+", help="cv runs on the same data and seeds")
    args = ap.parse_args(argv)
    base, ratio = fold_scores(args.base)
    print(f"base: {args.base}")
    print(f"{'run':<28} {'branch':<7} {'base %':>14} {'run %':>14} {'difference [95 % CI]':>26} {'better/worse':>13}")
    for other_dir in args.others:
        other, _ = fold_scores(other_dir)
        for key in ("P", "P_G", "P_L"):
            if key not in base or key not in other:
                continue
            pairs = sorted(set(base[key]) & set(other[key]))
            missing = sorted(set(base[key]) ^ set(other[key]))
            a = [base[key][p] for p in pairs]
            b = [other[key][p] for p in pairs]
            iv = paired_interval([y - x for x, y in zip(a, b)], test_train_ratio=ratio)
            (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
            print(f"{other_dir.name:<28} {BRANCH_NAMES[key]:<7} {100 * ma:6.2f} ± {100 * sa:5.2f} "
                  f"{100 * mb:6.2f} ± {100 * sb:5.2f} {100 * iv.mean:+7.2f} [{100 * iv.low:+6.2f}, {100 * iv.high:+6.2f}]"
                  f" {iv.better:>6}/{iv.worse:<6}" + (f"  ({len(missing)} unpaired: {missing[:3]})" if missing else ""))
    print(f"(mean ± std over {len(pairs)} (seed, fold) pairs; interval corrected for CV with test/train {ratio:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
