"""Benchmark of live recognition (staner_lab.live.recognizer) on the CPU; prints one JSON object.

A real 640x480 video is written first (scikit-image's astronaut portrait in a 640x480 canvas,
drifting and turning slightly, encoded with cv2.VideoWriter as MPEG-4 part 2), then decoded with
cv2.VideoCapture frame by frame, as ``staner-lab live --video`` does.

- ``end_to_end_fps``: decode + face tracking/landmarks + both branches + fusion, per frame, with the
  defaults of ``staner-lab live`` (one torch thread, peak "displacement", peak_every 1), median of
  ``--repeat`` runs; ``breakdown_ms_per_frame`` splits it (decode, landmarks, TLER, SGAER amortised,
  rest); ``model_ms_per_frame`` is the model alone (one CNN pass + one LSTM step per region, end
  convolution, classifier, plus SGAER amortised over the frames where the peak changed), and
  ``sgaer_ms_per_run`` / ``tler_ms_per_frame`` its parts; ``update_ms_p50_p90`` and
  ``model_ms_p50_p90`` are per-frame latency percentiles (StreamingRecognizer.update; the model part).
- ``landmarks_ms_tracking`` vs ``landmarks_ms_detect_every_frame``: FaceTracker.update with tracking
  (HOG detector on the first frame only) and with detection on every frame.
- variants: ``end_to_end_fps_detect_every_frame``, ``end_to_end_fps_sgaer_every_frame`` (peak "last"),
  ``end_to_end_fps_2_threads`` (on ``--short`` frames; with other processes on the cores, 2 threads can
  be catastrophically slow).

Usage::

    python benchmarks/bench_stream.py [--frames 300] [--short 60] [--repeat 3] [--checkpoint CKPT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or platform.machine()


def write_video(path: Path, n: int) -> Path:
    """n 640x480 BGR frames of the astronaut's face drifting 1 px/frame and turning +-3 degrees."""
    from skimage import data

    bgr = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
    for i in range(n):
        wave = np.sin(2 * np.pi * i / 90)
        m = cv2.getRotationMatrix2D((222.0, 130.0), 3.0 * wave, 1.0 + 0.03 * wave)
        m[0, 2] += 320 - 222 + 20 * wave
        m[1, 2] += 240 - 130 + 10 * np.cos(2 * np.pi * i / 90)
        writer.write(cv2.warpAffine(bgr, m, (640, 480), borderMode=cv2.BORDER_REPLICATE))
    writer.release()
    return path


class Timer:
    """Wraps a callable and sums its wall time."""

    def __init__(self, fn):
        self.fn, self.total, self.calls = fn, 0.0, 0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.total += time.perf_counter() - t0
            self.calls += 1


def decode_fps(path: Path, limit: int | None = None) -> float:
    from staner_lab.live.video import VideoSource

    n, t0 = 0, time.perf_counter()
    with VideoSource(path) as src:
        for _ in src:
            n += 1
            if limit and n >= limit:
                break
    return n / (time.perf_counter() - t0)


def end_to_end(model, path: Path, threads: int, limit: int | None = None, **kwargs) -> dict[str, float]:
    """Decode + StreamingRecognizer.update on every frame; the timers split the time."""
    from staner_lab.config import PreprocessConfig
    from staner_lab.live.recognizer import StreamingRecognizer
    from staner_lab.live.video import VideoSource

    torch.set_num_threads(threads)
    prep = PreprocessConfig(landmarks="dlib", track=kwargs.pop("track", True))
    rec = StreamingRecognizer(model, prep, **kwargs)  # loads dlib's models before the clock starts
    rec._tracker.update = track_t = Timer(rec._tracker.update)
    rec._tler_step = tler_t = Timer(rec._tler_step)
    rec._sgaer_step = sgaer_t = Timer(rec._sgaer_step)
    n = sgaer_runs = 0
    decode = 0.0
    update_ms: list[float] = []
    model_ms: list[float] = []
    t0 = time.perf_counter()
    with VideoSource(path) as src:
        frames = iter(src)
        while True:
            td = time.perf_counter()
            frame = next(frames, None)
            decode += time.perf_counter() - td
            if frame is None:
                break
            model_before = tler_t.total + sgaer_t.total
            tu = time.perf_counter()
            r = rec.update(frame)
            update_ms.append(1000.0 * (time.perf_counter() - tu))
            model_ms.append(1000.0 * (tler_t.total + sgaer_t.total - model_before))
            assert r.face_found, f"lost the face at frame {n}"
            n += 1
            sgaer_runs += r.sgaer_ran
            if limit and n >= limit:
                break
    total = time.perf_counter() - t0
    ms = 1000.0 / n
    return {
        "frames": n, "fps": n / total, "ms_per_frame": total * ms,
        "decode_ms": decode * ms, "landmarks_ms": track_t.total * ms, "tler_ms": tler_t.total * ms,
        "sgaer_ms_amortised": sgaer_t.total * ms, "sgaer_runs": sgaer_runs,
        "sgaer_ms_per_run": 1000.0 * sgaer_t.total / max(sgaer_runs, 1),
        "rest_ms": (total - decode - track_t.total - tler_t.total - sgaer_t.total) * ms,
        "update_ms_p50": float(np.percentile(update_ms, 50)), "update_ms_p90": float(np.percentile(update_ms, 90)),
        "model_ms_p50": float(np.percentile(model_ms, 50)), "model_ms_p90": float(np.percentile(model_ms, 90)),
    }


def landmarks_ms(path: Path, track: bool, limit: int) -> float:
    from staner_lab.data.dlib_landmarks import DlibBackend
    from staner_lab.data.faces import to_gray
    from staner_lab.live.video import VideoSource

    with VideoSource(path) as src:
        gray = [to_gray(f) for _, f in zip(range(limit), src)]
    tracker = DlibBackend(track=track).tracker()
    t0 = time.perf_counter()
    for g in gray:
        tracker.update(g)
    return 1000.0 * (time.perf_counter() - t0) / len(gray)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames of the video (default 300 = 10 s)")
    parser.add_argument("--short", type=int, default=60, help="frames for the slow variants (default 60)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the main measurement (median)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped classroom model")
    args = parser.parse_args()

    from staner_lab.config import preset
    from staner_lab.data.shipped import DATA_SAMPLES
    from staner_lab.models.staner import STANER
    from staner_lab.training.checkpoint import load_model

    default_threads = torch.get_num_threads()
    ckpt = args.checkpoint or DATA_SAMPLES / "classroom.pt"
    if ckpt.is_file():
        model, model_name = load_model(ckpt), str(ckpt)
    else:
        torch.manual_seed(0)
        model, model_name = STANER(preset("classroom")).eval(), "random classroom STANER (no checkpoint)"
    result: dict[str, object] = {
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "torch_threads_default": default_threads, "opencv": cv2.__version__,
                    "load_average_before": [round(x, 2) for x in os.getloadavg()]},
        "model": model_name, "preset": model.config.preset,
    }
    with tempfile.TemporaryDirectory() as tmp:
        video = write_video(Path(tmp) / "astronaut_640x480.mp4", args.frames)
        result["video"] = {"size": "640x480", "frames": args.frames, "codec": "mp4v (MPEG-4 part 2)",
                           "bytes": video.stat().st_size}
        end_to_end(model, video, 1, limit=10)  # warm up: dlib models, torch kernels
        result["decode_fps"] = round(statistics.median(decode_fps(video) for _ in range(args.repeat)), 1)
        runs = [end_to_end(model, video, 1) for _ in range(args.repeat)]
        best = sorted(runs, key=lambda r: r["fps"])[len(runs) // 2]  # the median run
        result["end_to_end_fps"] = round(best["fps"], 1)
        result["end_to_end_fps_runs"] = [round(r["fps"], 1) for r in runs]
        result["breakdown_ms_per_frame"] = {k: round(best[k], 2) for k in
                                            ("decode_ms", "landmarks_ms", "tler_ms", "sgaer_ms_amortised", "rest_ms")}
        result["sgaer_runs"] = f"{best['sgaer_runs']} of {best['frames']} frames"
        result["update_ms_p50_p90"] = [round(best["update_ms_p50"], 2), round(best["update_ms_p90"], 2)]
        result["model_ms_per_frame"] = round(best["tler_ms"] + best["sgaer_ms_amortised"], 2)
        result["model_ms_p50_p90"] = [round(best["model_ms_p50"], 2), round(best["model_ms_p90"], 2)]
        result["tler_ms_per_frame"] = round(best["tler_ms"], 2)
        result["sgaer_ms_per_run"] = round(best["sgaer_ms_per_run"], 2)
        result["landmarks_ms_tracking"] = round(landmarks_ms(video, True, args.short), 2)
        result["landmarks_ms_detect_every_frame"] = round(landmarks_ms(video, False, args.short), 2)
        result["tracking_speedup"] = round(result["landmarks_ms_detect_every_frame"]
                                           / result["landmarks_ms_tracking"], 1)
        variants = {
            "end_to_end_fps_detect_every_frame": {"threads": 1, "track": False},
            "end_to_end_fps_sgaer_every_frame": {"threads": 1, "peak": "last"},
            "end_to_end_fps_2_threads": {"threads": 2},
        }
        for name, kw in variants.items():
            threads = kw.pop("threads")
            result[name] = round(end_to_end(model, video, threads, limit=args.short, **kw)["fps"], 1)
    torch.set_num_threads(default_threads)
    result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["target_fps"] = 30
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
