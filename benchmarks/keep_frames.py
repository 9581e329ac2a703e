"""Copy a CK+-layout data set keeping only some frames of each sequence, as data sets in circulation
do (the last three frames, or the neutral first frame and the last three). Prints what it wrote.

    python benchmarks/keep_frames.py runs/synth_i10 runs/synth_i10_last3 --last 3
    python benchmarks/keep_frames.py runs/synth_i10 runs/synth_i10_n3 --last 3 --first
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--last", type=int, required=True, help="keep the last N frames")
    p.add_argument("--first", action="store_true", help="also keep the first (neutral) frame")
    args = p.parse_args()
    if args.dst.exists():
        raise SystemExit(f"{args.dst} exists; choose a new folder")
    images = args.src / "cohn-kanade-images"
    kept = sequences = 0
    for seq in sorted(d for d in images.glob("*/*") if d.is_dir()):
        frames = sorted(seq.glob("*.png"))
        keep = frames[-args.last:]
        if args.first and frames[0] not in keep:
            keep = [frames[0], *keep]
        rel = seq.relative_to(images)
        for f in keep:
            for root, name in (("cohn-kanade-images", f.name), ("Landmarks", f.stem + "_landmarks.txt")):
                src = args.src / root / rel / name
                if src.exists():
                    (args.dst / root / rel).mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, args.dst / root / rel / name)
        kept += len(keep)
        sequences += 1
    for extra in ("Emotion", "GroundTruth"):
        if (args.src / extra).exists():
            shutil.copytree(args.src / extra, args.dst / extra)
    print(f"{args.dst}: {sequences} sequences, {kept} frames")


if __name__ == "__main__":
    main()
