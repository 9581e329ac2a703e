"""``staner-lab prepare``: read a dataset, preprocess every sequence once into the cache, summarise.

Wired into the top-level parser with ``add_prepare_parser(subparsers)``; running it again is cheap
(every sequence is a cache hit) and shows what a training run will see.

    staner-lab prepare --data ~/datasets/CK+ --preset paper
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..config import PRESETS, PreprocessConfig, preset
from .cache import CACHE_ENV, SampleCache
from .dataset import prepare_records
from .readers import LAYOUTS, ReadReport, read_dataset
from .records import Sample, SequenceRecord

__all__ = ["add_prepare_parser", "run_prepare", "source_frame_count", "summarize"]


def add_prepare_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``prepare`` on a sub-parser collection; returns the new parser."""
    p = subparsers.add_parser(
        "prepare",
        help="read a dataset and preprocess it once into the cache; print a summary",
        description="Read a dataset folder (CK+, Oulu-CASIA or class folders), preprocess every sequence "
        "once into the cache and print what was found: sequences, subjects, frames, classes, skipped items.",
    )
    p.add_argument("--data", required=True, type=Path, metavar="DIR", help="dataset folder")
    p.add_argument(
        "--layout", choices=("auto", *LAYOUTS), default="auto", help="dataset layout (default: auto-detect)"
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"cache folder (default: ${CACHE_ENV} or ~/.cache/staner-lab)",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="classroom",
        help="model preset whose input sizes to prepare (default: classroom)",
    )
    p.add_argument(
        "--on-error",
        choices=("skip", "fail"),
        default="skip",
        help="skip bad items and list them (default), or stop at the first",
    )
    p.add_argument(
        "--whole-frame-face",
        action="store_true",
        help="frames are already cropped to the face: take the whole frame as the face box",
    )
    p.add_argument(
        "--oulu-subset",
        action="append",
        default=None,
        metavar="LIGHT/ILLUMINATION",
        help="Oulu-CASIA subset to read, e.g. VL/Strong (the default); repeat for several",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run_prepare)
    return p


def run_prepare(args: argparse.Namespace) -> int:
    """The ``prepare`` command; DataError (a ValueError) reaches the top-level error printer."""
    inputs = preset(args.preset).inputs
    prep = PreprocessConfig(whole_frame_face=args.whole_frame_face)
    reader_options = {"subsets": tuple(args.oulu_subset)} if args.oulu_subset else {}
    records, class_names, report = read_dataset(args.data, args.layout, args.on_error, **reader_options)
    cache = SampleCache(args.cache)
    samples = prepare_records(
        records,
        inputs,
        prep,
        cache=cache,
        on_error=args.on_error,
        report=report,
        progress=not args.no_progress,
    )
    print(summarize(records, samples, class_names, report, cache))
    return 0


def source_frame_count(record: SequenceRecord) -> int:
    """Frames on disk: the image files, or the video's frame count from its header."""
    if record.video_path is None:
        return len(record.frame_paths)
    import cv2

    capture = cv2.VideoCapture(str(record.video_path))
    try:
        return max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
    finally:
        capture.release()


def summarize(
    records: Sequence[SequenceRecord],
    samples: Sequence[Sample],
    class_names: Sequence[str],
    report: ReadReport,
    cache: SampleCache | None = None,
) -> str:
    """The text ``prepare`` prints: counts of what was read and prepared, and what was skipped."""
    prepared = {s.sequence_id for s in samples}
    used = [r for r in records if r.sequence_id in prepared]
    per_class = Counter(r.label for r in used)
    width = max(len(c) for c in class_names)
    lines = [
        f"dataset:    {report.root} (layout {report.layout})",
        f"sequences:  {len(used)} prepared of {len(records)} read",
        f"subjects:   {len({r.subject for r in used})}",
        f"frames:     {sum(source_frame_count(r) for r in used)} on disk",
        "classes:",
        *(f"  {i}  {name:<{width}}  {per_class.get(i, 0)}" for i, name in enumerate(class_names)),
        f"faces not found: {sum(s.kind == 'FaceNotFoundError' for s in report.skipped)} sequence(s)",
        report.summary(),
    ]
    if cache is not None:
        lines.append(
            f"cache:      {cache.directory}: {cache.hits} hits, {cache.misses} misses, "
            f"{cache.rebuilt} rebuilt"
        )
    return "\n".join(lines)
