"""The data commands: ``staner-lab synth`` (render a synthetic CK+ data set) and ``staner-lab prepare``
(read a dataset, preprocess every sequence once into the cache, summarise).

Wired into the top-level parser (``staner_lab.cli``) with ``add_synth_parser(subparsers)`` and
``add_prepare_parser(subparsers)``. Running ``prepare`` again is cheap (every sequence is a
cache hit) and shows what a training run will see.

    staner-lab synth --out data_samples/synthetic_ckplus --subjects 10 --seed 0 --frames 6
    staner-lab prepare --data ~/datasets/CK+ --preset paper
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from staner_lab.config import (
    CK_PLUS_CLASSES,
    PRESETS,
    PreprocessConfig,
    parse_settings,
    preset,
    with_settings,
)
from staner_lab.data.cache import CACHE_ENV, SampleCache
from staner_lab.data.dataset import prepare_records
from staner_lab.data.readers import LAYOUTS, ReadReport, read_dataset
from staner_lab.data.records import Sample, SequenceRecord
from staner_lab.data.synthetic.realism import Realism
from staner_lab.data.synthetic.sequence import generate_dataset
from staner_lab.data.synthetic.writer import LAYOUT_FOLDERS, README_MARK, write_ckplus

__all__ = [
    "add_prepare_parser",
    "add_synth_parser",
    "run_prepare",
    "run_synth",
    "source_frame_count",
    "summarize",
]


# --------------------------------------------------------------------------------------------------
# synth
# --------------------------------------------------------------------------------------------------


def _add_synth_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="folder to write the CK+-layout data set into")
    p.add_argument("--subjects", type=int, default=10, help="number of subjects (each shows all 7 emotions)")
    p.add_argument("--seed", type=int, default=0, help="data set seed; same seed, same bytes")
    p.add_argument("--intensity", type=float, default=1.0, help="AU amplitude scale in (0, 1]; 0.3 = subtle")
    p.add_argument("--frames", type=int, default=12, help="frames per sequence (neutral ... peak)")
    p.add_argument("--size", type=int, default=128, help="frame width and height in pixels")
    p.add_argument(
        "--noise",
        type=float,
        default=1.0,
        help="pixel-noise scale (1 = std 0.6-1.4 gray levels per subject; 0 = none)",
    )
    h = p.add_argument_group(
        "harder data (all off by default; see staner_lab/data/synthetic/realism.py)",
        "--realism sets --pose, --lighting, --blur, --jpeg and --onset at once (1 = comparable to CK+ / "
        "Oulu-CASIA); a factor given explicitly overrides it. --frames-range, --identity and --variants are "
        "separate.",
    )
    h.add_argument(
        "--realism", type=float, default=None, metavar="K", help="the five factors below at level K in [0, 1]"
    )
    h.add_argument(
        "--pose", type=float, default=None, metavar="K", help="head pose and drift scale (1: +-8 deg, ...)"
    )
    h.add_argument("--lighting", type=float, default=None, metavar="K", help="side light and gain scale")
    h.add_argument(
        "--blur", type=float, default=None, metavar="PX", help="largest defocus blur sigma, pixels"
    )
    h.add_argument("--jpeg", type=int, default=None, metavar="Q", help="lowest JPEG quality (qualities Q-95)")
    h.add_argument("--onset", type=float, default=None, metavar="K", help="neutral hold / apex plateau scale")
    h.add_argument(
        "--frames-range",
        type=int,
        nargs=2,
        default=None,
        metavar=("MIN", "MAX"),
        help="frames per sequence drawn in [MIN, MAX] (replaces --frames)",
    )
    h.add_argument(
        "--identity",
        type=float,
        default=None,
        metavar="K",
        help="subjects' own face shapes and ways of expressing, level K in [0, 1] (1: CK+-like; "
        "expressiveness, dropped and co-occurring AUs, resting expression); not set by --realism",
    )
    h.add_argument(
        "--variants",
        type=float,
        default=None,
        metavar="K",
        help="probability K in [0, 1] that a sequence shows another AU combination CK+'s criteria admit "
        "for its emotion (e.g. disgust as AU4+7+9 or AU4+7+10); not set by --realism",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier synthetic data set in --out (other folders are refused)",
    )


# identity and variants last: the command recorded for a set made without them reads as before
_REALISM_OPTIONS = ("pose", "lighting", "blur", "jpeg", "onset", "frames_range", "identity", "variants")


def _realism(args: argparse.Namespace) -> Realism:
    """The realism factors: ``--realism`` for all, then each factor given explicitly."""
    level = getattr(args, "realism", None)
    given = {k: getattr(args, k, None) for k in _REALISM_OPTIONS}
    given = {k: tuple(v) if k == "frames_range" else v for k, v in given.items() if v is not None}
    try:
        base = Realism.at(level, args.size) if level is not None else Realism()
        return dataclasses.replace(base, **given)
    except ValueError as e:
        raise SystemExit(f"staner-lab synth: {e}") from None


def _command_line(args: argparse.Namespace) -> str:
    parts = [
        "staner-lab",
        "synth",
        "--out",
        str(args.out),
        "--subjects",
        str(args.subjects),
        "--seed",
        str(args.seed),
    ]
    defaults = {"intensity": 1.0, "frames": 12, "size": 128, "noise": 1.0}
    for name, default in defaults.items():
        value = getattr(args, name)
        if value != default:
            parts += [f"--{name}", str(value)]
    for name in ("realism", *_REALISM_OPTIONS):
        value = getattr(args, name, None)
        if value is not None:
            parts += [f"--{name.replace('_', '-')}", *map(str, value if name == "frames_range" else [value])]
    return shlex.join(parts)


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty folder unless ``overwrite`` and it holds an earlier synthetic data set."""
    if out.exists() and not out.is_dir():
        raise SystemExit(f"staner-lab synth: --out {out} is a file; give a folder.")
    if not out.exists() or not any(out.iterdir()):
        return
    readme = out / "README.txt"
    ours = readme.is_file() and readme.read_text(errors="replace").startswith(README_MARK)
    if not overwrite:
        raise SystemExit(
            f"staner-lab synth: {out} is not empty. Choose an empty or new folder, or pass --overwrite to "
            "replace an earlier synthetic data set there."
        )
    if not ours:
        raise SystemExit(
            f"staner-lab synth: {out} is not empty and holds no synthetic data set (no README.txt written "
            "by staner-lab synth), so --overwrite will not touch it. Choose an empty or new folder."
        )
    for name in LAYOUT_FOLDERS:
        if (out / name).is_dir():
            shutil.rmtree(out / name)
    readme.unlink()


def run_synth(args: argparse.Namespace) -> int:
    """Write the data set described by parsed ``synth`` arguments and print a summary."""
    if not 0.0 < args.intensity <= 1.0:
        raise SystemExit(f"staner-lab synth: --intensity must lie in (0, 1], got {args.intensity}")
    if args.subjects < 1 or args.frames < 2 or args.size < 48 or args.noise < 0:
        raise SystemExit(
            "staner-lab synth: need --subjects >= 1, --frames >= 2, --size >= 48 and --noise >= 0"
        )
    realism = _realism(args)
    out = Path(args.out)
    _prepare_out(out, args.overwrite)
    seqs = generate_dataset(
        args.subjects,
        args.seed,
        frames=args.frames,
        size=args.size,
        intensity=args.intensity,
        noise=args.noise,
        realism=realism,
    )
    write_ckplus(seqs, out, command=_command_line(args), realism=realism)
    files = sum(1 for p in out.rglob("*") if p.is_file())
    lengths = sorted({len(q.frames) for q in seqs})
    frames = lengths[0] if len(lengths) == 1 else f"{lengths[0]}-{lengths[-1]}"
    harder = f"; harder: {realism.describe()}" if realism.on else ""
    nbytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(
        f"Wrote {len(seqs)} synthetic sequences ({args.subjects} subjects x {len(CK_PLUS_CLASSES)} "
        f"emotions, {frames} frames of {args.size}x{args.size} px, intensity {args.intensity:g}, "
        f"noise {args.noise:g}, seed {args.seed}{harder}) to {out} in the CK+ layout: {files} files, "
        f"{nbytes / 1e6:.2f} MB. Labels are in Emotion/, 68-point "
        f"landmarks in Landmarks/, peak-frame AU masks in GroundTruth/; README.txt records the command that "
        f"rebuilds it byte for byte."
    )
    return 0


def add_synth_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``synth`` on a ``staner-lab`` subcommand parser; its ``func`` is :func:`run_synth`."""
    p = subparsers.add_parser(
        "synth",
        help="render a synthetic CK+-layout expression data set",
        description="Render synthetic facial-expression sequences (FACS-driven, with landmarks and AU masks) "
        "and write them in the CK+ layout.",
    )
    _add_synth_arguments(p)
    p.set_defaults(func=run_synth)
    return p


# --------------------------------------------------------------------------------------------------
# prepare
# --------------------------------------------------------------------------------------------------


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
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        dest="settings",
        help="a setting as `staner-lab train --set` takes it; model inputs and prep. decide what is "
        "prepared (e.g. --set inputs.face_size=128 --set prep.landmarks=dlib); repeatable",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run_prepare)
    return p


def run_prepare(args: argparse.Namespace) -> int:
    """The ``prepare`` command; DataError (a ValueError) reaches the top-level error printer."""
    settings = parse_settings(args.settings)
    unused = [f"{section}.{path}" for section in ("train", "run", "executor") for path in settings[section]]
    if unused:
        raise ValueError(f"--set {', '.join(unused)}: prepare only preprocesses; set model inputs "
                         "(inputs.face_size=…) or prep.… here, and the rest where you train")
    inputs = with_settings(preset(args.preset), settings["model"]).inputs
    prep = with_settings(PreprocessConfig(whole_frame_face=args.whole_frame_face), settings["prep"],
                         prefix="prep.", where="prep")
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
