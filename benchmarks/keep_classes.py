"""Copy a CK+-layout data set keeping unequal numbers of sequences per class, in the proportions of
CK+ (327 labelled sequences: anger 45, contempt 18, disgust 59, fear 25, happy 69, sadness 28,
surprise 83), so that class balance can be measured on synthetic data. Prints what it kept.

    python benchmarks/keep_classes.py runs/hard_i06_40 runs/hard_i06_40_ckp

The most frequent class keeps every sequence; the others keep round(n * count / largest) of theirs,
which ones drawn with ``--seed`` (whole sequences: frames, landmarks, label and AU masks).
"""

from __future__ import annotations

import argparse
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np

from staner_lab.config import CK_PLUS_CLASSES

CKPLUS_COUNTS = {"anger": 45, "contempt": 18, "disgust": 59, "fear": 25, "happy": 69, "sadness": 28, "surprise": 83}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.dst.exists():
        raise SystemExit(f"{args.dst} exists; choose a new folder")
    by_class: dict[str, list[Path]] = defaultdict(list)
    for label_file in sorted((args.src / "Emotion").glob("*/*/*_emotion.txt")):
        code = int(float(label_file.read_text().split()[0]))
        by_class[CK_PLUS_CLASSES[code - 1]].append(label_file.parent.relative_to(args.src / "Emotion"))
    largest = max(CKPLUS_COUNTS.values())
    rng = np.random.default_rng(args.seed)
    kept = {}
    for name, seqs in sorted(by_class.items()):
        n = max(1, round(len(seqs) * CKPLUS_COUNTS[name] / largest))
        chosen = sorted(rng.choice(len(seqs), size=n, replace=False))
        kept[name] = n
        for i in chosen:
            for root in ("cohn-kanade-images", "Landmarks", "Emotion", "GroundTruth"):
                if (args.src / root / seqs[i]).exists():
                    shutil.copytree(args.src / root / seqs[i], args.dst / root / seqs[i])
    print(f"{args.dst}: {sum(kept.values())} sequences, {kept}")


if __name__ == "__main__":
    main()
