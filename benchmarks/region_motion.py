"""Which region's motion does TLER read each class from, on a whole data folder?

Prints TLER's accuracy, per-class recall and how often it names each class: as recorded, with one
region stilled (its sequence replaced by frame 0 repeated, the "neutral" baseline of region
ablation: the region keeps its appearance and never moves), and with only one region left moving
(``staner_lab.explain.region_motion``). For a checkpoint, on every sequence of the folder; for a
``cv`` run, each fold's model on its own test sequences, pooled (the protocol's test answers).

    python benchmarks/region_motion.py --checkpoint data_samples/classroom.pt --data ../shared/data/ckplus48n-dev
    python benchmarks/region_motion.py --run runs/dev_base/seed_0 --data ../shared/data/ckplus48n-dev

A class whose recall falls to 0 when a region is stilled is read from that region alone; one whose
recall rises is misled by that region on this data (it moves as another class moved in training).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from staner_lab.config import PreprocessConfig
from staner_lab.data.dataset import load_samples
from staner_lab.explain.regions import RegionMotion, region_motion
from staner_lab.training.checkpoint import load_model


def fold_models(run: Path) -> list[tuple[Path, Path]]:
    """(weights, predictions.csv) of every fold of a cv run: best.pt where the run selected an epoch."""
    folds = sorted(run.glob("fold_*")) + sorted(run.glob("seed_*/fold_*"))
    pairs = [(f / "best.pt" if (f / "best.pt").is_file() else f / "last.pt", f / "predictions.csv") for f in folds]
    missing = [str(w) for w, _ in pairs if not w.is_file()] + [str(c) for _, c in pairs if not c.is_file()]
    if not pairs or missing:
        raise SystemExit(f"{run}: not a finished cv run (no fold_*/ or seed_*/fold_*/ with last.pt and "
                         f"predictions.csv{'; missing ' + ', '.join(missing[:3]) if missing else ''})")
    return pairs


def motion_of_run(run: Path, data: Path, cache: Path | None) -> RegionMotion:
    """Each fold's model on its own test sequences (the ids in its predictions.csv), pooled."""
    parts, by_id = [], None
    for weights, answers in fold_models(run):
        model = load_model(weights)
        if by_id is None:
            samples = load(model, data, cache)
            by_id = {s.sequence_id: s for s in samples}
        with answers.open(newline="") as f:
            ids = [row["sequence_id"] for row in csv.DictReader(f)]
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise SystemExit(f"{answers} names sequences {unknown[:3]} that {data} does not hold; pass the "
                             "--data the run was trained on")
        parts.append(region_motion(model, [by_id[i] for i in ids]))
    return RegionMotion(parts[0].cases, np.concatenate([m.named for m in parts], axis=1),
                        np.concatenate([m.labels for m in parts]), parts[0].class_names)


def load(model, data: Path, cache: Path | None):
    """The folder's samples at the model's input sizes, after checking it has the model's classes."""
    if model.tler is None:
        raise SystemExit(f"a {model.config.variant} model has no TLER branch")
    samples, names, _ = load_samples(data, model.config.inputs, PreprocessConfig(), cache_dir=cache, progress=False)
    if tuple(names) != tuple(model.config.class_names):
        raise SystemExit(f"the model was trained on classes {list(model.config.class_names)} but {data} has "
                         f"{list(names)}")
    return samples


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", type=Path, help="a trained model: read every sequence of --data")
    what.add_argument("--run", type=Path, help="a cv run folder: each fold's model on its own test sequences")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--cache", type=Path, default=None, help="preprocessing cache (default: staner-lab's)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.run is not None:
        motion = motion_of_run(args.run, args.data, args.cache)
    else:
        model = load_model(args.checkpoint)
        motion = region_motion(model, load(model, args.data, args.cache))
    names = motion.class_names
    print(f"TLER on {motion.named.shape[1]} sequences of {args.data.name}; recall % per class, then how many "
          "sequences it names each class")
    print(f"{'':18s} {'acc %':>6s}  " + " ".join(f"{n[:8]:>8s}" for n in names) + "   named: "
          + " ".join(f"{n[:4]:>4s}" for n in names))
    for case, acc, recall, counts in zip(motion.cases, motion.accuracy(), motion.recall(), motion.counts()):
        print(f"{case:18s} {100 * acc:6.1f}  " + " ".join(f"{100 * r:8.1f}" for r in recall)
              + "   named: " + " ".join(f"{c:4d}" for c in counts))


if __name__ == "__main__":
    main()
