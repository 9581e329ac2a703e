"""How much can fusion give on a run? Reads the per-sequence P_G and P_L of every fold of a STANER
(or C4) run (``predictions.csv``, written by ``staner-lab cv`` / ``ablate``) and prints, as JSON, the
test accuracy of each branch alone, of Eq. 14 at fixed α, and of the product rule (P ∝ P_G · P_L).

    python benchmarks/fusion_rules.py runs/fusion/i03_select_pb/STANER

The fixed-α rows use no label of the test fold, so each is an honest accuracy of *that* rule; the row
"best α on the test folds" is not (it picks α after seeing the test labels) and is printed only as the
ceiling of Eq. 14 on this data: when it is not above the better branch, no choice of α can make
fusion earn its place, whatever selection picks.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

ALPHAS = [round(a, 2) for a in np.linspace(0, 1, 21)]


def read_fold(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with path.open() as f:
        rows = list(csv.DictReader(f))
    names = [k[2:] for k in rows[0] if k.startswith("P_")]
    if not any(k.startswith("G_P_") for k in rows[0]) or not any(k.startswith("L_P_") for k in rows[0]):
        raise SystemExit(f"{path}: no G_P_ / L_P_ columns; fusion rules need a run with both branches")
    index = {n: i for i, n in enumerate(names)}
    y = np.array([index[r["label"]] for r in rows])
    G = np.array([[float(r[f"G_P_{n}"]) for n in names] for r in rows])
    L = np.array([[float(r[f"L_P_{n}"]) for n in names] for r in rows])
    return y, G, L


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="a run folder (fold_*/ or seed_*/fold_*/ inside)")
    args = p.parse_args()
    files = sorted(args.run.glob("fold_*/predictions.csv")) + sorted(args.run.glob("seed_*/fold_*/predictions.csv"))
    if not files:
        raise SystemExit(f"{args.run}: no fold_*/predictions.csv")
    folds = [read_fold(f) for f in files]

    def acc(rule) -> list[float]:
        return [float((rule(G, L).argmax(1) == y).mean()) for y, G, L in folds]

    def summary(accs: list[float]) -> dict:
        return {"mean": round(float(np.mean(accs)), 4), "std": round(float(np.std(accs)), 4),
                "folds": [round(a, 4) for a in accs]}

    by_alpha = {a: acc(lambda G, L, a=a: a * G + (1 - a) * L) for a in ALPHAS}
    best = max(ALPHAS, key=lambda a: (np.mean(by_alpha[a]), -abs(a - 0.5)))
    out = {
        "run": str(args.run), "folds": len(files),
        "P_G alone": summary(acc(lambda G, L: G)),
        "P_L alone": summary(acc(lambda G, L: L)),
        "alpha 0.5 (the paper)": summary(by_alpha[0.5]),
        "product rule": summary(acc(lambda G, L: np.log(np.clip(G, 1e-12, None)) + np.log(np.clip(L, 1e-12, None)))),
        "best alpha on the test folds (a ceiling, not a result)": {"alpha": best, **summary(by_alpha[best])},
        "accuracy by alpha": {str(a): round(float(np.mean(v)), 4) for a, v in by_alpha.items()},
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
