"""``staner-lab live``: frame-by-frame recognition on a video file or a camera (GitHub issue 8).

Writes the video annotated with the face box, the region boxes and the per-frame probabilities
(bars + text) and/or a CSV of per-frame probabilities; for a camera without ``--out`` it shows a
window when a display exists. The logic lives in :mod:`staner_lab.live.recognizer`; this module is argparse
wiring, registered by ``staner_lab.cli.build_parser`` through :func:`add_live_parser`;
``staner-lab predict`` (one file, one prediction) lives here too, through :func:`add_predict_parser`.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import time
from pathlib import Path

__all__ = ["add_live_parser", "add_predict_parser", "display_available", "run_live"]

_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}


def display_available() -> bool:
    """True when OpenCV can open a window: a display exists and OpenCV was built with a GUI
    (``opencv-python-headless``, the default here, has none)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    import cv2

    try:
        cv2.namedWindow("staner-lab live", cv2.WINDOW_NORMAL)
        cv2.destroyWindow("staner-lab live")
    except cv2.error:
        return False
    return True


def _predict(args: argparse.Namespace) -> int:
    from staner_lab.config import PreprocessConfig
    from staner_lab.live.predict import predict_input
    from staner_lab.training.checkpoint import load_model

    model = load_model(args.checkpoint)
    prep = PreprocessConfig(whole_frame_face=args.whole_frame_face)
    print(json.dumps(predict_input(model, args.input, prep, args.alpha), indent=1))
    return 0


def add_predict_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``predict`` subcommand: P_G, P_L and the fused P for one video or folder of frames."""
    pr = subparsers.add_parser("predict", help="class probabilities (P_G, P_L, fused P) for one input")
    pr.add_argument("--checkpoint", required=True, type=Path)
    pr.add_argument("input", type=Path, help="a video, a folder of frames, or a CK+ sequence folder")
    pr.add_argument("--alpha", type=float, default=None, help="fusion weight (default: the model's)")
    pr.add_argument("--whole-frame-face", action="store_true", help="frames are already cropped faces")
    pr.set_defaults(func=_predict)
    return pr


def add_live_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``live`` subcommand to ``subparsers`` (``set_defaults(func=run_live)``)."""
    p = subparsers.add_parser(
        "live", help="recognise expressions frame by frame in a video file or from a camera",
        description="Track the face, carry each region's LSTM state from frame to frame and print/write "
                    "P_G, P_L and the fused P for every frame. See docs/live.md.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", type=Path, metavar="FILE", help="a video file (mp4, avi, ...)")
    src.add_argument("--camera", type=int, metavar="INDEX", help="a camera index (0 = the default camera)")
    p.add_argument("--out", type=Path, metavar="VIDEO", default=None,
                   help="write the annotated video here (.mp4 or .avi)")
    p.add_argument("--csv", type=Path, metavar="FILE", default=None, help="write per-frame probabilities here")
    p.add_argument("--checkpoint", type=Path, default=None, help="a checkpoint (default: the shipped one)")
    p.add_argument("--alpha", type=float, default=None, help="fusion weight of Eq. 14 (default: the model's)")
    p.add_argument("--peak", choices=("displacement", "last"), default="displacement",
                   help="peak frame for SGAER: the most displaced so far (default) or the newest")
    p.add_argument("--peak-every", type=int, default=1, metavar="N",
                   help="at most one SGAER run per N frames (default 1: P_G always on the current peak)")
    p.add_argument("--reset-after", type=int, default=60, metavar="N",
                   help="start a new sequence after N frames (default 60; 0 = never)")
    p.add_argument("--box-frames", type=int, default=5, metavar="N",
                   help="fit the region boxes on the first N frames of each sequence (default 5)")
    p.add_argument("--whole-frame-face", action="store_true", help="frames are already cropped faces")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N frames")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="torch CPU threads (default 1: fastest for one small frame, see docs/live.md)")
    p.add_argument("--show", action="store_true", help="also show a window (needs a display)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_live)
    return p


def _writer(path: Path, fps: float, size: tuple[int, int]):
    import cv2

    fourcc = _FOURCC.get(path.suffix.lower())
    if fourcc is None:
        raise ValueError(f"--out {path}: use a .mp4 or .avi file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise ValueError(f"cannot write video {path} ({fourcc} codec at {size[0]}x{size[1]})")
    return writer


def _show_window(args: argparse.Namespace) -> bool:
    """Check the numbers and file names of ``live``; whether to show the video in a window."""
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.out is not None and args.out.suffix.lower() not in _FOURCC:
        raise ValueError(f"--out {args.out}: use a .mp4 or .avi file name")
    show = args.show or (args.camera is not None and args.out is None)  # a camera without --out is for watching
    if show and not display_available():
        if args.show or (args.out is None and args.csv is None):
            raise ValueError("no display to show the video (no $DISPLAY, or OpenCV without GUI such as "
                             "opencv-python-headless): pass --out VIDEO and/or --csv FILE")
        show = False
    return show


class _LiveOutputs:
    """Where each recognised frame goes: a CSV row (--csv), an annotated video (--out), a window (--show)."""

    def __init__(self, args: argparse.Namespace, show: bool, fps: float) -> None:
        import cv2

        from staner_lab.live.annotate import annotate

        self.cv2, self.annotate = cv2, annotate  # imported once, not for every frame
        self.out, self.show, self.fps = args.out, show, fps
        self.writer = self.table = self.csv_file = None
        if args.csv is not None:
            args.csv.parent.mkdir(parents=True, exist_ok=True)
            self.csv_file = args.csv.open("w", newline="", encoding="utf-8")

    def write(self, frame, result, time_s: float) -> bool:
        """Send one frame on; False when the viewer pressed q or Esc."""
        if self.csv_file is not None:
            row = {"time_s": round(time_s, 4), **result.as_row()}
            if self.table is None:
                self.table = csv.DictWriter(self.csv_file, fieldnames=list(row))
                self.table.writeheader()
            self.table.writerow(row)
        if self.out is not None or self.show:
            self.annotate(frame, result)
        if self.out is not None:
            if self.writer is None:
                self.writer = _writer(self.out, self.fps, (frame.shape[1], frame.shape[0]))
            self.writer.write(frame)
        if self.show:
            self.cv2.imshow("staner-lab live", frame)
            return not (self.cv2.waitKey(1) & 0xFF in (27, ord("q")))
        return True

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
        if self.csv_file is not None:
            self.csv_file.close()
        if self.show:
            self.cv2.destroyAllWindows()


def run_live(args: argparse.Namespace) -> int:
    """The ``live`` command; see :func:`add_live_parser`."""
    import torch
    from tqdm import tqdm

    from staner_lab.config import PreprocessConfig
    from staner_lab.data.shipped import shipped_checkpoint
    from staner_lab.live.recognizer import StreamingRecognizer, recognize_frames
    from staner_lab.live.video import VideoSource
    from staner_lab.training.checkpoint import load_model

    show = _show_window(args)
    camera = args.camera is not None
    source = VideoSource(args.camera if camera else args.video)
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        model = load_model(args.checkpoint or shipped_checkpoint())
        prep = PreprocessConfig(landmarks="dlib", whole_frame_face=args.whole_frame_face)
        rec = StreamingRecognizer(model, prep, peak=args.peak, peak_every=args.peak_every,
                                  reset_after=args.reset_after, box_frames=args.box_frames, alpha=args.alpha)
        frames = iter(source)
        total = source.frame_count
        if args.max_frames:
            frames = itertools.islice(frames, args.max_frames)
            total = min(args.max_frames, total or args.max_frames)
        bar = tqdm(total=total, unit="frame", desc="live", dynamic_ncols=True, disable=args.no_progress or camera)
        n = with_face = sequences = 0
        start = time.perf_counter()
        stopped = ""
        outputs = _LiveOutputs(args, show, source.fps)
        try:
            for frame, result in recognize_frames(rec, frames, source.name):
                n += 1
                with_face += result.face_found
                sequences += result.reset
                clock = time.perf_counter() - start if camera else result.index / source.fps
                if not outputs.write(frame, result, clock):
                    stopped = " (stopped with q/Esc)"
                    break
                bar.update()
        except KeyboardInterrupt:
            stopped = " (interrupted)"
        finally:
            bar.close()
            outputs.close()
    finally:
        source.close()
    seconds = time.perf_counter() - start
    written = [str(p) for p in (args.out, args.csv) if p is not None]
    print(f"live: {n} frames of {source.name}{stopped}, {with_face} with a face, {sequences} sequence(s), "
          f"{n / max(seconds, 1e-9):.1f} frames/s" + (f" -> {', '.join(written)}" if written else ""))
    return 0
