"""Benchmark of Algorithm 1 steps 1-5 on the CPU; prints one JSON object.

- ``landmark_fps_tracking`` / ``landmark_fps_detect_every_frame``: frames per second of
  :class:`~staner_lab.data.dlib_landmarks.DlibBackend` on a 640x480 sequence built from scikit-image's
  astronaut portrait (shifted 2 px per frame), with tracking and with detection on every frame.
- ``preprocess_cold_s_per_frame``: :func:`~staner_lab.data.preprocess.preprocess_sequence` on the
  same frames written as PNG files, first call in the process (includes loading the 100 MB dlib
  shape predictor); ``preprocess_warm_s_per_frame``: the second call.

Usage::

    python benchmarks/bench_preprocess.py [--frames 60] [--preset classroom]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def make_frames(n: int, scale: float = 1.0) -> list[np.ndarray]:
    """n (480, 640) frames of the astronaut portrait scaled by ``scale`` (its face is ~90 px wide
    at 1.0), drifting 2 px right and 1 px down per frame."""
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    side = round(512 * scale)
    face = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    cx, cy = 222 * scale, 130 * scale  # face centre in the scaled portrait
    frames = []
    for i in range(n):
        m = np.float32([[1, 0, 320 - cx + 2 * i - n], [0, 1, 240 - cy + i - n // 2]])
        frames.append(cv2.warpAffine(face, m, (640, 480), borderMode=cv2.BORDER_REPLICATE))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--preset", default="classroom")
    parser.add_argument("--face-scale", type=float, default=1.0, help="1.0: face ~90 px wide")
    args = parser.parse_args()

    from staner_lab.config import PreprocessConfig, preset
    from staner_lab.data.dlib_landmarks import DlibBackend
    from staner_lab.data.preprocess import preprocess_sequence
    from staner_lab.data.records import SequenceRecord

    frames = make_frames(args.frames, args.face_scale)
    inputs = preset(args.preset).inputs
    result: dict[str, object] = {
        "frames": args.frames,
        "frame_size": [640, 480],
        "preset": args.preset,
        "face_width_px": round(90 * args.face_scale),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, f in enumerate(frames):
            paths.append(Path(tmp) / f"frame_{i:04d}.png")
            cv2.imwrite(str(paths[-1]), f)
        rec = SequenceRecord("bench/001", "bench", 0, "anger", frame_paths=tuple(paths))
        for key in ("cold", "warm"):  # cold: first call in this process, loads the dlib models
            t0 = time.perf_counter()
            preprocess_sequence(rec, inputs, PreprocessConfig(landmarks="dlib"))
            result[f"preprocess_{key}_s_per_frame"] = round((time.perf_counter() - t0) / args.frames, 5)

    for name, backend in (
        ("tracking", DlibBackend(track=True)),
        ("detect_every_frame", DlibBackend(track=False)),
    ):
        backend.detect(frames[:2])  # warm-up
        t0 = time.perf_counter()
        track = backend.detect(frames)
        dt = time.perf_counter() - t0
        result[f"landmark_fps_{name}"] = round(args.frames / dt, 1)
        result[f"detected_frames_{name}"] = track.detected_frames
    result["tracking_speedup"] = round(
        result["landmark_fps_tracking"] / result["landmark_fps_detect_every_frame"],
        2,  # type: ignore[operator]
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
