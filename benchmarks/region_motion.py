"""Which region's motion does TLER read each class from, on a whole data folder?

For a checkpoint and a data folder, prints TLER's accuracy, per-class recall and how often it names
each class: as it is, with one region stilled (its sequence replaced by frame 0 repeated, the
"neutral" baseline of region ablation: the region keeps its appearance and never moves), and with
only one region left moving (``staner_lab.explain.region_motion``).

    python benchmarks/region_motion.py --checkpoint data_samples/classroom.pt --data ../shared/data/ckplus48n-dev

A class whose recall rises when a region is stilled is one that region misleads on this data (it
moves as another class moves where the model was trained).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from staner_lab.config import PreprocessConfig
from staner_lab.data.dataset import load_samples
from staner_lab.explain.regions import region_motion
from staner_lab.training.checkpoint import load_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--cache", type=Path, default=None, help="preprocessing cache (default: staner-lab's)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    if model.tler is None:
        raise SystemExit(f"{args.checkpoint}: a {model.config.variant} model has no TLER branch")
    samples, names, _ = load_samples(args.data, model.config.inputs, PreprocessConfig(), cache_dir=args.cache,
                                     progress=False)
    if tuple(names) != tuple(model.config.class_names):
        raise SystemExit(f"{args.checkpoint} was trained on classes {list(model.config.class_names)} but "
                         f"{args.data} has {list(names)}")
    motion = region_motion(model, samples)
    print(f"TLER on {len(samples)} sequences of {args.data.name}; recall % per class, then how many "
          "sequences it names each class")
    print(f"{'':18s} {'acc %':>6s}  " + " ".join(f"{n[:8]:>8s}" for n in names) + "   named: "
          + " ".join(f"{n[:4]:>4s}" for n in names))
    for case, acc, recall, counts in zip(motion.cases, motion.accuracy(), motion.recall(), motion.counts()):
        print(f"{case:18s} {100 * acc:6.1f}  " + " ".join(f"{100 * r:8.1f}" for r in recall)
              + "   named: " + " ".join(f"{c:4d}" for c in counts))

if __name__ == "__main__":
    main()
