"""What moves in each class, in one data folder or side by side in several (real against drawn).

For every sequence, the last frame's landmarks are put onto the first frame's by their rigid points
(so head motion drops out) and ten measures are read in inter-ocular distances
(``staner_lab.data.face_motion``): brow raises and gap, eye opening, nostril and upper-lip raise, lip
corners, mouth width and opening, chin. Prints each class's mean ± standard deviation per folder,
in hundredths of the eye distance; ``--png`` also saves the first folder minus the second as a heatmap.

    python benchmarks/face_motion.py --data ../shared/data/ckplus48n-dev --data data_samples/synthetic_ckplus
    python benchmarks/face_motion.py --data ../shared/data/ckplus48n-dev --data runs/lab80v --png out.png

Where two folders' means differ by more than their spread, one's faces make that class otherwise:
the lab's generator (``staner_lab/data/synthetic``) is a place to look.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from staner_lab.config import InputConfig, PreprocessConfig
from staner_lab.data.dataset import load_samples
from staner_lab.data.face_motion import MEASURES, FaceMotion, face_motion


def motion_of(data: Path, cache: Path | None) -> FaceMotion:
    samples, names, _ = load_samples(data, InputConfig(), PreprocessConfig(), cache_dir=cache, progress=False)
    return face_motion(samples, names)


def report(motions: list[FaceMotion], labels: list[str]) -> str:
    """Each class's mean ± standard deviation per folder, a row per measure (hundredths of the eye distance)."""
    names = motions[0].class_names
    width = max(18, *(len(s) for s in labels))
    lines = ["Landmark motion, first frame to last, in hundredths of the inter-ocular distance (mean ± sd)."]
    for k, name in enumerate(names):
        counts = ", ".join(f"{label}: {int(m.counts()[k])}" for m, label in zip(motions, labels))
        lines += ["", f"{name} ({counts})", f"  {'':18s}" + "".join(f"  {label:>{width}s}" for label in labels)]
        for j, measure in enumerate(MEASURES):
            cells = [f"{100 * m.mean()[k, j]:+6.1f} ± {100 * m.std()[k, j]:4.1f}" for m in motions]
            lines.append(f"  {measure:18s}" + "".join(f"  {c:>{width}s}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, action="append",
                   help="a data folder (CK+ layout or class folders); repeat to compare")
    p.add_argument("--cache", type=Path, default=None, help="preprocessing cache (default: staner-lab's)")
    p.add_argument("--png", type=Path, default=None,
                   help="save the first folder minus the second (or the first alone) as a heatmap")
    args = p.parse_args()

    motions = [motion_of(d, args.cache) for d in args.data]
    differ = [str(d) for d, m in zip(args.data, motions) if m.class_names != motions[0].class_names]
    if differ:
        raise SystemExit(f"{', '.join(differ)} have other classes than {args.data[0]} "
                         f"({list(motions[0].class_names)}); compare folders with the same classes")
    labels = [d.name for d in args.data]
    print(report(motions, labels))
    if args.png:
        from staner_lab.viz import face_motion_figure

        against = motions[1] if len(motions) > 1 else None
        face_motion_figure(motions[0], against, labels[0], labels[-1]).write_image(args.png, width=900)
        print(f"\nwrote {args.png}")


if __name__ == "__main__":
    main()
