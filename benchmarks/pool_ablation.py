"""Pool ablation runs over seeds: mean ± std of every fold accuracy of every run, per variant.

Usage: python benchmarks/pool_ablation.py runs/subtle_seed0 runs/subtle_seed1 ...
Prints a Markdown table and the figures as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main(dirs: list[str]) -> None:
    pooled: dict[str, list[float]] = {}
    for d in dirs:
        for res in sorted(Path(d).glob("*/results.json")):
            r = json.loads(res.read_text())
            pooled.setdefault(r["variant"], []).extend(f["accuracy"] for f in r["folds"])
    order = [v for v in ("C1", "C2", "C3", "C4", "STANER") if v in pooled]
    print(f"| variant | accuracy, mean ± std over {len(dirs)} seed(s) × folds | n |")
    print("|---|---|---|")
    for v in order:
        a = np.array(pooled[v])
        print(f"| {v} | {100 * a.mean():.1f} % ± {100 * a.std():.1f} | {len(a)} |")
    print(json.dumps({v: {"mean": float(np.mean(pooled[v])), "std": float(np.std(pooled[v])),
                          "fold_accuracies": pooled[v]} for v in order}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
