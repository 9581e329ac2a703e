"""Everything ``streamlit_app.py`` needs that is not layout or plotting, testable without Streamlit.

- Uploads and webcam snapshots -> frames: decoded from bytes by content (``cv2.imdecode``; a video
  through a temporary file whose suffix comes from the file's magic bytes), never by file name,
  with size, frame-count and resolution limits.
- Frames or a shipped record -> a :class:`SequenceView`: the source frames, the 68 landmarks of
  every frame, the region boxes, the peak and the sampled frames, and the model-ready ``Sample``
  (the same steps as ``preprocess_sequence``, keeping what it computes on the way).
- A model and a Sample -> an :class:`Analysis`: numpy copies of P_G, P_L, P, M and every LSTM gate
  and state, small enough for ``st.cache_data``; :func:`fuse` re-applies Eq. 14 at another alpha.
- Paths typed by the user: a checkpoint or a run folder is accepted only inside the allowed roots
  (``runs/``, ``data_samples/`` and the folders named in ``$STANER_APP_ALLOW`` or ``--allow``).
- Run folders (``results.json``, ``metrics.csv``, ``table1.csv``) -> a checked :class:`RunFolder`.
- Classroom training in a background thread (:class:`TrainingJob`), stoppable through ``fit``'s
  ``on_epoch`` callback, written to ``runs/app-<timestamp>/``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch

from . import functional as Fn
from .config import REGIONS, InputConfig, PreprocessConfig, preset, train_preset
from .data.faces import LandmarkBackend
from .data.readers import natural_key
from .data.records import Sample, SequenceRecord
from .data.regions import Box
from .models.staner import STANER
from .samples import DATA_SAMPLES

__all__ = [
    "ALLOW_ENV",
    "MAX_FRAMES",
    "MAX_SIDE",
    "MAX_UPLOAD_MB",
    "RUNS_ENV",
    "Analysis",
    "ClassroomResult",
    "Explanation",
    "InputError",
    "PathError",
    "RunFolder",
    "RunFolderError",
    "SequenceView",
    "TrainingJob",
    "TrainingStopped",
    "allowed_roots",
    "analyse",
    "branch_votes",
    "decode_image",
    "decode_upload",
    "decode_video",
    "describe_decision",
    "display_path",
    "explain_available",
    "explain_peak",
    "frames_from_uploads",
    "fuse",
    "inspect_frames",
    "inspect_record",
    "list_checkpoints",
    "list_run_dirs",
    "misclassified",
    "peak_methods",
    "read_run_folder",
    "runs_root",
    "sample_batch",
    "sample_digest",
    "shipped_records",
    "sniff_kind",
    "train_classroom",
    "validate_checkpoint_path",
    "validate_run_dir",
]

REPO_ROOT = DATA_SAMPLES.parent
#: Extra folders the app may read checkpoints and run folders from (``os.pathsep``-separated).
ALLOW_ENV = "STANER_APP_ALLOW"
#: Where classroom training writes ``app-<timestamp>/`` (default: the repository's ``runs/``).
RUNS_ENV = "STANER_APP_RUNS"

#: Upload limit per file and in total, in MiB; ``.streamlit/config.toml`` sets the same
#: ``server.maxUploadSize`` so the browser refuses bigger files before they are sent.
MAX_UPLOAD_MB = 50
#: Longest side of a decoded frame; bigger frames are downscaled (dlib and the display need no more).
MAX_SIDE = 480
#: Frames kept from a video or a set of images (uniformly subsampled above this; T is 8 or 16).
MAX_FRAMES = 90
#: Frames read from a video before giving up ("trim the video to the expression").
MAX_VIDEO_FRAMES = 3000


class InputError(ValueError):
    """An upload or a webcam snapshot cannot be used; the message says which file and what to do."""


class PathError(ValueError):
    """A typed path is outside the allowed folders, missing, or of the wrong kind."""


class RunFolderError(ValueError):
    """A run folder's results cannot be shown (unreadable, inconsistent, or another class list)."""


class TrainingStopped(Exception):
    """Raised from ``fit``'s ``on_epoch`` callback when the user presses Stop."""


# ---------------------------------------------------------------------------------------------
# Uploads: bytes -> grayscale frames, by content
# ---------------------------------------------------------------------------------------------

_IMAGE_MAGIC: tuple[tuple[bytes, int], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0), (b"\xff\xd8\xff", 0), (b"BM", 0), (b"II*\x00", 0), (b"MM\x00*", 0),
    (b"P5", 0), (b"P6", 0), (b"P2", 0), (b"P3", 0),
)


def sniff_kind(data: bytes) -> tuple[Literal["image", "video"], str] | None:
    """Guess what ``data`` holds from its first bytes (never from a file name).

    Returns:
        ("image", ".png"/".jpg"/...) or ("video", ".mp4"/".avi"/".mkv"), or None when neither.
    """
    head = bytes(data[:64])
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image", ".webp"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video", ".avi"
    if head[4:8] == b"ftyp":  # ISO base media: mp4, mov, m4v, 3gp
        return "video", ".mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return "video", ".mkv"
    for magic, offset in _IMAGE_MAGIC:
        if head[offset:offset + len(magic)] == magic:
            ext = {b"\x89P": ".png", b"\xff\xd8": ".jpg", b"BM": ".bmp", b"II": ".tif", b"MM": ".tif"}
            return "image", ext.get(magic[:2], ".pgm")
    return None


def _fit_side(frame: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return frame
    return cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _limit(max_mb: float | None) -> float:
    return MAX_UPLOAD_MB if max_mb is None else max_mb


def _check_size(data: bytes, name: str, max_mb: float | None) -> None:
    max_mb = _limit(max_mb)
    if len(data) == 0:
        raise InputError(f"{name}: the file is empty")
    if len(data) > max_mb * 2**20:
        raise InputError(f"{name}: {len(data) / 2**20:.1f} MB is over the {max_mb:g} MB upload limit; "
                         "trim or compress it (a few seconds of video around the expression are enough)")


def decode_image(data: bytes, name: str = "image", max_mb: float | None = None) -> np.ndarray:
    """Decode image bytes (PNG, JPEG, BMP, TIFF, WebP, PGM) to a grayscale (H, W) uint8 frame.

    The long side is reduced to ``MAX_SIDE`` pixels. ``name`` is used in messages only; ``max_mb``
    defaults to ``MAX_UPLOAD_MB``.

    Raises:
        InputError: empty, too big, or not a decodable image.
    """
    _check_size(data, name, max_mb)
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None or img.size == 0:
        raise InputError(f"{name}: not an image OpenCV can decode (PNG, JPEG, BMP, TIFF, WebP); "
                         "is it a different kind of file, or corrupt?")
    return np.ascontiguousarray(_fit_side(img))


def decode_video(data: bytes, name: str = "video", max_mb: float | None = None,
                 max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Decode video bytes to grayscale frames (N, H, W) uint8, at most ``max_frames`` of them.

    The bytes go to a private temporary file whose suffix comes from :func:`sniff_kind` (the
    upload's own name is never used on disk). Longer videos are subsampled uniformly; the long
    side of each frame is reduced to ``MAX_SIDE``.

    Raises:
        InputError: empty, too big, not a video, no decodable frame, or over ``MAX_VIDEO_FRAMES``.
    """
    _check_size(data, name, max_mb)
    kind = sniff_kind(data)
    if kind is None or kind[0] != "video":
        raise InputError(f"{name}: not a video (MP4, MOV, AVI, MKV/WebM) by its content")
    fd, tmp = tempfile.mkstemp(prefix="staner-upload-", suffix=kind[1])
    frames: list[np.ndarray] = []
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        cap = cv2.VideoCapture(tmp)
        try:
            if not cap.isOpened():
                raise InputError(f"{name}: OpenCV cannot open this video (corrupt, or a codec it lacks); "
                                 "convert it to H.264 MP4 or upload the frames as images")
            hint = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            stride = max(1, math.ceil(hint / max_frames)) if hint > 0 else 1
            read = 0
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                if read >= MAX_VIDEO_FRAMES:
                    raise InputError(f"{name}: longer than {MAX_VIDEO_FRAMES} frames; trim it to the "
                                     "expression (neutral face to peak)")
                if read % stride == 0:
                    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
                    gray = _fit_side(gray)
                    if frames and gray.shape != frames[0].shape:
                        raise InputError(f"{name}: frame {read} changes the frame size")
                    frames.append(gray)
                read += 1
        finally:
            cap.release()
    finally:
        Path(tmp).unlink(missing_ok=True)
    if not frames:
        raise InputError(f"{name}: the video has no decodable frame (empty, or a codec OpenCV lacks)")
    arr = np.stack(frames)
    if len(arr) > max_frames:
        arr = arr[np.linspace(0, len(arr) - 1, max_frames).round().astype(int)]
    return arr


def decode_upload(data: bytes, name: str = "upload", max_mb: float | None = None) -> np.ndarray:
    """One uploaded file, image or video by content, as frames (N, H, W) uint8."""
    _check_size(data, name, max_mb)
    kind = sniff_kind(data)
    if kind is None:
        raise InputError(f"{name}: neither an image (PNG, JPEG, BMP, TIFF, WebP) nor a video "
                         "(MP4, MOV, AVI, MKV) by its content; upload frames or a video of one face")
    if kind[0] == "video":
        return decode_video(data, name, max_mb)
    return decode_image(data, name, max_mb)[None]


def frames_from_uploads(files: Sequence[tuple[str, bytes]], max_mb: float | None = None,
                        sort: bool = True) -> tuple[np.ndarray, list[str]]:
    """Uploaded files (or webcam snapshots) -> one grayscale sequence (N, H, W) uint8 and names.

    Either one video, or one or more images (ordered by natural sort of their names when ``sort``,
    else in the given order, e.g. snapshot order). Images must share one size.

    Raises:
        InputError: no file, over the total size limit, a file that does not decode, a video
            among several files, or images of different sizes.
    """
    if not files:
        raise InputError("no file: upload a video, or the frames of one sequence as images")
    max_mb = _limit(max_mb)
    total = sum(len(b) for _, b in files)
    if total > max_mb * 2**20:
        raise InputError(f"{len(files)} files, {total / 2**20:.1f} MB in all, are over the {max_mb:g} MB "
                         "upload limit; send fewer or smaller frames")
    items = sorted(files, key=lambda f: natural_key(f[0])) if sort else list(files)
    decoded = [(name, decode_upload(data, name, max_mb)) for name, data in items]
    if len(decoded) > 1 and any(len(f) > 1 for _, f in decoded):
        raise InputError("upload either one video or a set of images, not a video together with other files")
    if len(decoded) == 1 and len(decoded[0][1]) > 1:
        name, frames = decoded[0]
        return frames, [f"{name}[frame {i}]" for i in range(len(frames))]
    first_name, first = decoded[0]
    for name, f in decoded[1:]:
        if f.shape[1:] != first.shape[1:]:
            raise InputError(f"{name} is {f.shape[2]}x{f.shape[1]} pixels but {first_name} is "
                             f"{first.shape[2]}x{first.shape[1]}; all frames of a sequence must have one size")
    names = [n for n, _ in decoded]
    frames = np.concatenate([f for _, f in decoded])
    if len(frames) > MAX_FRAMES:
        keep = np.linspace(0, len(frames) - 1, MAX_FRAMES).round().astype(int)
        frames, names = frames[keep], [names[i] for i in keep]
    return frames, names


# ---------------------------------------------------------------------------------------------
# Sequences: frames -> landmarks, boxes, peak, samples (Algorithm 1 with its intermediates kept)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SequenceView:
    """One sequence as the model sees it, with what preprocessing found on the way.

    Attributes:
        frames: (N, H, W) uint8 source frames.
        landmarks: (N, 68, 2) float32 landmarks of every frame (source pixels).
        boxes: {region: (x0, y0, x1, y1)}, one box per region for the whole sequence.
        peak: index of the peak frame.
        indices: (T,) frames sampled for TLER (first frame to peak).
        sample: the model-ready Sample (peak face, region sequences).
        source: where it came from, for captions.
        true_label: the class name when known (shipped data), else None.
    """

    frames: np.ndarray
    landmarks: np.ndarray
    boxes: dict[str, Box]
    peak: int
    indices: np.ndarray
    sample: Sample
    source: str
    true_label: str | None = None


def inspect_frames(frames: np.ndarray, names: Sequence[str], inputs: InputConfig, prep: PreprocessConfig,
                   backend: LandmarkBackend | None = None, sequence_id: str = "upload",
                   label: int = -1, subject: str = "?", source: str = "upload",
                   true_label: str | None = None) -> SequenceView:
    """Algorithm 1, steps 2-5, on frames already in memory (``preprocess_sequence`` after its step 1).

    Args:
        frames: (N, H, W) uint8 grayscale.
        names: one name per frame, for error messages.
        inputs, prep: as for ``preprocess_sequence``.
        backend: landmark backend; None = dlib with ``prep``'s options.

    Raises:
        FaceNotFoundError: (a ValueError) no face in a frame; its message names the frame.
    """
    from .data.preprocess import dlib_backend, process_frames

    done = process_frames(frames, list(names), inputs, prep, backend or dlib_backend(prep), label=label,
                          subject=subject, sequence_id=sequence_id)
    return SequenceView(frames=frames, landmarks=done.landmarks, boxes=done.boxes, peak=done.peak,
                        indices=done.indices, sample=done.sample, source=source, true_label=true_label)


def inspect_record(record: SequenceRecord, inputs: InputConfig, prep: PreprocessConfig | None = None,
                   class_names: Sequence[str] | None = None) -> SequenceView:
    """A :class:`SequenceView` of a record on disk (its landmark files when it has them, else dlib)."""
    from .data.preprocess import backend_for, load_frames

    prep = prep or PreprocessConfig()
    frames, names = load_frames(record)
    backend = backend_for(record, prep)
    true = class_names[record.label] if class_names is not None and record.label >= 0 else None
    return inspect_frames(frames, names, inputs, prep, backend, record.sequence_id, record.label, record.subject,
                          source=f"shipped sequence {record.sequence_id}", true_label=true)


def shipped_records() -> tuple[list[SequenceRecord], tuple[str, ...]]:
    """The shipped synthetic sequences (records with given landmarks) and their class names."""
    from .data.readers import read_dataset
    from .samples import shipped_data_dir

    records, class_names, _ = read_dataset(shipped_data_dir(), "ckplus", "fail")
    return records, class_names


def frames_view(frames: np.ndarray, names: Sequence[str], inputs: InputConfig, prep: PreprocessConfig,
                source: str) -> SequenceView:
    """A view of uploaded frames with dlib landmarks (or the whole frame as the face box)."""
    if prep.landmarks == "given":
        raise InputError("uploads have no landmark files; use landmarks='dlib'")
    return inspect_frames(frames, names, inputs, prep, sequence_id=source, source=source)


def sample_digest(sample: Sample) -> str:
    """A short content hash of a Sample's arrays (a cache key)."""
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(sample.peak).tobytes())
    for r in sorted(sample.regions):
        h.update(r.encode())
        h.update(np.ascontiguousarray(sample.regions[r]).tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Model outputs as numpy
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Analysis:
    """What the model computes for one sequence, as numpy (batch item 0).

    Attributes:
        class_names: the model's classes.
        alpha: the model's own fusion weight.
        P_G, P_L: (K,) branch probabilities, or None for a missing branch.
        P: (K,) fused at ``alpha``.
        M: (h, w) spatial attention map, (C,) channel gate, or None without attention.
        attention: "spatial", "channel" or "none".
        lstm: {region: {"f", "i", "g", "o", "c", "h": (T, N)}}; empty without TLER.
    """

    class_names: tuple[str, ...]
    alpha: float
    P_G: np.ndarray | None
    P_L: np.ndarray | None
    P: np.ndarray
    M: np.ndarray | None
    attention: str
    lstm: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def sample_batch(sample: Sample, device: torch.device | str = "cpu") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One Sample as a batch of one: peak (1, 1, S, S), regions {r: (1, T, 1, h, w)}."""
    from .data.dataset import collate, to_item

    batch = collate([to_item(dataclasses.replace(sample, label=max(sample.label, 0)), 0)])
    return batch["peak"].to(device), {r: x.to(device) for r, x in batch["regions"].items()}


@torch.no_grad()
def analyse(model: STANER, sample: Sample) -> Analysis:
    """Run ``forward_intermediates`` on one Sample and keep what the app shows."""
    model.eval()
    device = next(model.parameters()).device
    peak, regions = sample_batch(sample, device)
    it = model.forward_intermediates(peak, regions)

    def np1(t: torch.Tensor | None) -> np.ndarray | None:
        return None if t is None else t[0].detach().float().cpu().numpy()

    M = np1(it.M)  # (1, h, w) spatial map or (C, 1, 1) channel gate
    attention = "none"
    if M is not None:
        attention = "channel" if M.shape[1:] == (1, 1) else "spatial"
        M = M.reshape(-1) if attention == "channel" else M[0]  # (C,) or (h, w)
    lstm = {}
    if it.tler is not None:
        for r in REGIONS:
            ri = it.tler.regions[r]
            lstm[r] = {k: np1(getattr(ri, k)) for k in ("f", "i", "g", "o", "c", "h")}
    return Analysis(class_names=tuple(model.config.class_names), alpha=float(it.alpha), P_G=np1(it.P_G),
                    P_L=np1(it.P_L), P=np1(it.P), M=M, attention=attention, lstm=lstm)


def fuse(analysis: Analysis, alpha: float) -> np.ndarray:
    """Eq. 14 at another ``alpha`` from the cached branch probabilities (no model run)."""
    if analysis.P_G is None or analysis.P_L is None:
        return analysis.P
    P = Fn.fuse_probabilities(torch.from_numpy(analysis.P_G), torch.from_numpy(analysis.P_L), float(alpha))
    return P.numpy()


def branch_votes(model: STANER, samples: Sequence[Sample], batch_size: int = 35) -> dict[str, dict[str, Any]]:
    """Each sequence's SGAER and TLER votes and how far apart the two branches are.

    Returns:
        {sequence_id: {"G": class or None, "L": class or None, "gap": total variation distance
        0.5 * sum |P_G - P_L| in [0, 1] (0 with one branch)}}. Sequences with a large gap are the ones
        where moving α can change the decision.
    """
    from .data.dataset import StanerDataset, make_loader
    from .train import predict

    pred = predict(model, make_loader(StanerDataset(list(samples)), batch_size), next(model.parameters()).device,
                   amp=False)
    names = model.config.class_names
    out = {}
    for row, i in enumerate(pred.indices):
        g = None if pred.P_G is None else pred.P_G[row]
        l_ = None if pred.P_L is None else pred.P_L[row]
        gap = 0.0 if g is None or l_ is None else float(0.5 * np.abs(g - l_).sum())
        out[samples[int(i)].sequence_id] = {"G": None if g is None else names[int(g.argmax())],
                                            "L": None if l_ is None else names[int(l_.argmax())], "gap": gap}
    return out


def describe_decision(class_names: Sequence[str], P: np.ndarray, alpha: float) -> str:
    """One sentence for the fused decision, e.g. ``"α = 0.50 → happy (P = 0.62)"``."""
    k = int(np.argmax(P))
    return f"α = {alpha:.2f} → {class_names[k]} (P = {float(P[k]):.2f})"


def explain_available() -> bool:
    """Whether ``staner_lab.explain`` (captum attributions) can be imported."""
    try:
        from . import explain  # noqa: F401
    except ImportError:
        return False
    return True


def peak_methods() -> tuple[str, ...]:
    """The peak-face attribution methods that ``staner_lab.explain`` offers (empty without it)."""
    try:
        from .explain import PEAK_METHODS
    except ImportError:
        return ()
    return tuple(PEAK_METHODS)


@dataclass(frozen=True)
class Explanation:
    """A peak-face attribution beside the attention map.

    Attributes:
        map: (S, S) attribution of the target class's P_G to the peak face's pixels.
        signed: True when the map has both signs (diverging colour map).
        method: the captum method.
        target: the explained class.
        agreement: Spearman rank correlation between the upsampled M and |map| (NaN where either
            is constant; None without a spatial attention map).
    """

    map: np.ndarray
    signed: bool
    method: str
    target: str
    agreement: float | None


def explain_peak(model: STANER, sample: Sample, method: str, target: int | None = None) -> Explanation:
    """Attribute SGAER's probability of ``target`` (default: the fused decision) to the peak face,
    and rank-correlate it with the attention map M (``staner_lab.explain``).

    Raises:
        ImportError: ``staner_lab.explain`` (or captum) is not available.
        ValueError: the model has no SGAER branch, or an unknown method.
    """
    from . import explain

    peak, regions = sample_batch(sample, next(model.parameters()).device)
    if target is None:
        with torch.no_grad():
            target = int(model(peak, regions).P.argmax(dim=-1)[0])
    result = explain.peak_attribution(model, peak, regions, method=method, target=target, branch="sgaer")
    amap = np.asarray(result.map[0], dtype=np.float32)
    agreement = None
    if model.sgaer is not None and model.sgaer.attention is not None and model.sgaer.attention.kind == "spatial":
        agreement = float(explain.attention_agreement(explain.upsampled_attention(model, peak), result.map)[0])
    signed = bool(getattr(result, "signed", method in ("integrated_gradients", "occlusion")))
    return Explanation(map=amap, signed=signed, method=method, target=model.config.class_names[target],
                       agreement=agreement)


# ---------------------------------------------------------------------------------------------
# Paths the user types: only inside allowed folders
# ---------------------------------------------------------------------------------------------


def runs_root() -> Path:
    """Where run folders live: ``$STANER_APP_RUNS`` or the repository's ``runs/``."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser().resolve() if env else (REPO_ROOT / "runs").resolve()


def allowed_roots(extra: Iterable[str | os.PathLike[str]] = ()) -> tuple[Path, ...]:
    """The folders the app may read: the repository's runs/ and data_samples/, ``$STANER_APP_RUNS``
    (where classroom training writes), ``$STANER_APP_ALLOW`` and ``extra``."""
    roots = [runs_root(), (REPO_ROOT / "runs").resolve(), DATA_SAMPLES.resolve()]
    env = os.environ.get(ALLOW_ENV, "")
    for item in [*(p for p in env.split(os.pathsep) if p.strip()), *extra]:
        roots.append(Path(item).expanduser().resolve())
    out: list[Path] = []
    for r in roots:
        if r not in out:
            out.append(r)
    return tuple(out)


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as shown to the user: relative to the repository when inside it."""
    path = Path(path)
    try:
        return path.resolve().relative_to(REPO_ROOT.resolve()).as_posix()
    except ValueError:
        return str(path)


_display = display_path


def _inside(text: str | os.PathLike[str], roots: Sequence[Path], what: str) -> Path:
    raw = os.fspath(text).strip()
    if not raw:
        raise PathError(f"type the path of a {what}")
    if "\x00" in raw or len(raw) > 4096:
        raise PathError(f"not a valid path for a {what}")
    p = Path(raw).expanduser()
    if not p.is_absolute():
        p = REPO_ROOT / p
    resolved = p.resolve(strict=False)  # follows symlinks: a link out of the roots is refused
    if not any(resolved.is_relative_to(r) for r in roots):
        shown = ", ".join(_display(r) + "/" for r in roots)
        raise PathError(f"{raw}: the app reads {what}s only inside {shown}. To allow another folder, start it "
                        f"with {ALLOW_ENV}=/that/folder (or: streamlit run streamlit_app.py -- --allow /that/folder)")
    return resolved


def validate_checkpoint_path(text: str | os.PathLike[str], roots: Sequence[Path]) -> Path:
    """Accept a typed checkpoint path only if it is a ``.pt`` file inside one of ``roots``.

    Relative paths are taken from the repository root. Symlinks are resolved before the check.

    Raises:
        PathError: outside the roots, not ``.pt``, or not an existing file.
    """
    path = _inside(text, roots, "checkpoint")
    if path.suffix != ".pt":
        raise PathError(f"{_display(path)}: a checkpoint is a .pt file (model.pt or last.pt of a run folder)")
    if not path.is_file():
        raise PathError(f"{_display(path)}: no such checkpoint file")
    return path


def validate_run_dir(text: str | os.PathLike[str], roots: Sequence[Path]) -> Path:
    """Accept a typed run folder only inside ``roots`` and only if it holds results."""
    path = _inside(text, roots, "run folder")
    if not path.is_dir():
        raise PathError(f"{_display(path)}: no such folder")
    if not any((path / n).is_file() for n in ("results.json", "table1.csv", "metrics.csv")):
        raise PathError(f"{_display(path)}: no results.json, metrics.csv or table1.csv; is it the folder given "
                        "as --out to staner-lab train, cv or ablate?")
    return path


#: Folders of data sets (CK+, Oulu-CASIA, synthetic), never walked when looking for runs.
_DATA_FOLDERS = frozenset({"cohn-kanade-images", "Landmarks", "Emotion", "GroundTruth", "FACS", "VL", "NI"})


def _walk(root: Path, max_depth: int) -> Iterable[tuple[Path, list[str], list[str]]]:
    base = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        p = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _DATA_FOLDERS)
        if len(p.parts) - base >= max_depth:
            dirnames[:] = []
        yield p, dirnames, filenames


def list_checkpoints(roots: Sequence[Path], max_depth: int = 3, limit: int = 200) -> list[Path]:
    """``.pt`` files under ``roots`` (newest first), skipping hidden and temporary files."""
    found: list[Path] = []
    for root in roots:
        if not root.is_dir():
            continue
        for p, _, files in _walk(root, max_depth):
            found += [p / f for f in files if f.endswith(".pt") and not f.startswith(".")]
    found = sorted(set(found), key=lambda p: (-p.stat().st_mtime, str(p)))
    return found[:limit]


def list_run_dirs(roots: Sequence[Path], max_depth: int = 2, limit: int = 200) -> list[Path]:
    """Folders under ``roots`` holding results.json, metrics.csv or table1.csv (newest first)."""
    found: list[Path] = []
    for root in roots:
        if not root.is_dir():
            continue
        for p, _, files in _walk(root, max_depth):
            if {"results.json", "table1.csv", "metrics.csv"} & set(files):
                found.append(p)
    found = sorted(set(found), key=lambda p: (-p.stat().st_mtime, str(p)))
    return found[:limit]


# ---------------------------------------------------------------------------------------------
# Run folders
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFolder:
    """The results of ``staner-lab train``, ``cv`` or ``ablate`` (or classroom training), checked.

    Attributes:
        path: the folder.
        class_names: from results.json, or None without one.
        confusion: (K, K) summed confusion matrix, or None.
        folds: per-fold (K, K) matrices (empty for a single training run).
        fold_accuracies: per-fold accuracy.
        recall: (K,) per-class recall (NaN where a class has no test sequence), or None.
        accuracy: mean accuracy over folds (or held-out accuracy), and its std (None for one run).
        variant: the model variant.
        metrics: rows of metrics.csv (numbers; "fold" present for cross-validation).
        table1: rows of table1.csv (method, accuracy_mean, accuracy_std, folds, fold_k ...), or None.
    """

    path: Path
    class_names: tuple[str, ...] | None = None
    confusion: np.ndarray | None = None
    folds: tuple[np.ndarray, ...] = ()
    fold_accuracies: tuple[float, ...] = ()
    recall: np.ndarray | None = None
    accuracy: float | None = None
    accuracy_std: float | None = None
    variant: str | None = None
    metrics: tuple[dict[str, float], ...] = ()
    table1: tuple[dict[str, Any], ...] | None = None


def _matrix(value: Any, K: int, where: str) -> np.ndarray:
    try:
        cm = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise RunFolderError(f"{where}: the confusion matrix is not a table of numbers") from exc
    if cm.shape != (K, K):
        raise RunFolderError(f"{where}: the confusion matrix is {'x'.join(map(str, cm.shape))} but class_names lists "
                             f"{K} classes; the file was edited or belongs to another run")
    if (cm < 0).any() or not np.all(np.isfinite(cm)) or not np.allclose(cm, np.round(cm)):
        raise RunFolderError(f"{where}: the confusion matrix must hold non-negative whole counts")
    return cm.round().astype(np.int64)


def _read_csv_numbers(path: Path) -> tuple[dict[str, float], ...]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RunFolderError(f"{_display(path)} cannot be read ({exc})") from exc
    out = []
    for i, row in enumerate(rows):
        try:
            out.append({k: float(v) if v not in ("", None) else float("nan") for k, v in row.items() if k})
        except ValueError as exc:
            raise RunFolderError(f"{_display(path)}, row {i + 2}: not a number ({exc})") from exc
    return tuple(out)


def read_run_folder(path: str | os.PathLike[str], expect_classes: Sequence[str] | None = None) -> RunFolder:
    """Read and check a run folder.

    Args:
        path: a folder already validated with :func:`validate_run_dir`.
        expect_classes: the selected model's class names; results for another class list are refused
            (the matrices would be labelled with the wrong classes).

    Raises:
        RunFolderError: unreadable JSON/CSV, matrices that do not fit the class list, or results for
            another class list than ``expect_classes``.
    """
    path = Path(path)
    res_path = path / "results.json"
    kwargs: dict[str, Any] = {}
    if res_path.is_file():
        where = _display(res_path)
        try:
            res = json.loads(res_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunFolderError(f"{where} is not readable JSON ({exc}); was the run interrupted while writing?") from exc
        if not isinstance(res, dict):
            raise RunFolderError(f"{where}: expected a JSON object, got {type(res).__name__}")
        names = res.get("class_names")
        if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) for n in names)):
            raise RunFolderError(f"{where}: no class_names list; is it a staner-lab results.json?")
        if expect_classes is not None and tuple(names) != tuple(expect_classes):
            raise RunFolderError(
                f"{where} was written for {len(names)} classes {names}, but the selected checkpoint predicts "
                f"{len(expect_classes)} classes {list(expect_classes)}. Pick the checkpoint of this run folder "
                "(its model.pt or fold_K/last.pt) or a run folder trained on the same classes.")
        K = len(names)
        folds = res.get("folds") or []
        if not isinstance(folds, list):
            raise RunFolderError(f"{where}: 'folds' must be a list")
        fold_cms = tuple(_matrix(f.get("confusion_matrix") if isinstance(f, dict) else None, K, f"{where}, fold {k}")
                         for k, f in enumerate(folds))
        cm = res.get("confusion_matrix")
        summed = _matrix(cm, K, where) if cm is not None else (np.sum(fold_cms, axis=0) if fold_cms else None)
        if summed is not None and fold_cms and not np.array_equal(summed, np.sum(fold_cms, axis=0)):
            raise RunFolderError(f"{where}: the summed confusion matrix is not the sum of the folds' matrices")
        recall = None
        if summed is not None:
            from .metrics import per_class_recall

            recall = per_class_recall(summed)
        acc = res.get("accuracy_mean", res.get("held_out_accuracy"))
        kwargs.update(
            class_names=tuple(names), confusion=summed, folds=fold_cms,
            fold_accuracies=tuple(float(f.get("accuracy", float("nan"))) for f in folds),
            recall=recall, accuracy=None if acc is None else float(acc),
            accuracy_std=None if res.get("accuracy_std") is None else float(res["accuracy_std"]),
            variant=res.get("variant"))
    if (path / "metrics.csv").is_file():
        kwargs["metrics"] = _read_csv_numbers(path / "metrics.csv")
    if (path / "table1.csv").is_file():
        try:
            with (path / "table1.csv").open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            kwargs["table1"] = tuple({"method": r["method"], "accuracy_mean": float(r["accuracy_mean"]),
                                      "accuracy_std": float(r["accuracy_std"]), "folds": int(float(r["folds"]))}
                                     for r in rows)
        except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError) as exc:
            raise RunFolderError(f"{_display(path / 'table1.csv')} is not a staner-lab ablation table ({exc})") from exc
    if not kwargs:
        raise RunFolderError(f"{_display(path)}: no results.json, metrics.csv or table1.csv")
    return RunFolder(path=path, **kwargs)


def misclassified(run: RunFolder, limit: int = 500) -> list[dict[str, str]]:
    """Test sequences whose prediction was wrong, from ``predictions.csv`` (and ``fold_K/``).

    Returns rows {"fold", "sequence_id", "subject", "true", "predicted", "P"} (P of the predicted class).
    """
    files = sorted(run.path.glob("fold_*/predictions.csv"), key=lambda p: natural_key(p.parent.name))
    if (run.path / "predictions.csv").is_file():
        files.insert(0, run.path / "predictions.csv")
    rows: list[dict[str, str]] = []
    for f in files:
        fold = f.parent.name.removeprefix("fold_") if f.parent != run.path else "-"
        try:
            with f.open(newline="", encoding="utf-8") as fh:
                for r in csv.DictReader(fh):
                    if r.get("label") != r.get("predicted"):
                        rows.append({"fold": fold, "sequence_id": r.get("sequence_id", "?"),
                                     "subject": r.get("subject", "?"), "true": r.get("label", "?"),
                                     "predicted": r.get("predicted", "?"),
                                     "P": r.get(f"P_{r.get('predicted')}", "")})
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise RunFolderError(f"{_display(f)} cannot be read ({exc})") from exc
        if len(rows) >= limit:
            break
    return rows[:limit]


# ---------------------------------------------------------------------------------------------
# Classroom training
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassroomResult:
    """A finished (or stopped) classroom run: ``checkpoint`` is ``run_dir/model.pt``."""

    run_dir: Path
    checkpoint: Path
    history: list[dict[str, float]]
    stopped: bool
    accuracy: float | None


def new_run_dir(root: Path | None = None) -> Path:
    """A fresh ``runs/app-<timestamp>`` folder (a suffix keeps two runs in one second apart)."""
    root = root or runs_root()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(100):
        p = root / (f"app-{stamp}" + (f"-{n}" if n else ""))
        try:
            p.mkdir(parents=True, exist_ok=False)
            return p
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a new run folder under {root}")


def train_classroom(samples: Sequence[Sample], class_names: Sequence[str], run_dir: str | os.PathLike[str],
                    epochs: int = 10, seed: int = 0, val_fraction: float = 0.2,
                    on_epoch: Callable[[dict[str, float]], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> ClassroomResult:
    """Train the classroom preset on ``samples`` with some subjects held out; write a run folder.

    Writes ``last.pt`` and ``metrics.csv`` (by ``fit``) and, at the end or when stopped after at
    least one epoch, ``model.pt``, ``predictions.csv`` and ``results.json`` with the held-out
    confusion matrix (the format of ``staner-lab train``).

    Args:
        samples, class_names: the data (e.g. ``load_shipped_samples``).
        run_dir: the run folder (created).
        epochs: epochs to train; the learning rate drops tenfold after two thirds of them.
        on_epoch: called with each epoch's metrics row.
        should_stop: polled after each epoch; True stops training (``fit``'s on_epoch raises).
    """
    from .checkpoint import load_checkpoint, save_checkpoint
    from .data.dataset import StanerDataset, make_loader
    from .experiments import holdout_split, versions, write_predictions
    from .metrics import accuracy_from_confusion, confusion_matrix, per_class_recall
    from .train import atomic_write_text, fit, predict

    run_dir = Path(run_dir)
    config = preset("classroom", tuple(class_names))
    base = train_preset("classroom")
    cfg = dataclasses.replace(base, epochs=int(epochs), seed=seed, lr_drop_epoch=max(1, (2 * int(epochs)) // 3)
                              if epochs <= base.lr_drop_epoch else base.lr_drop_epoch)
    train_idx, val_idx = holdout_split(samples, val_fraction, seed)
    train_set = StanerDataset([samples[i] for i in train_idx], flip=cfg.flip, seed=seed)
    val_samples = [samples[i] for i in val_idx]
    val_set = StanerDataset(val_samples)
    torch.manual_seed(seed)
    model = STANER(config)
    history: list[dict[str, float]] = []

    def callback(row: dict[str, float]) -> None:
        history.append(dict(row))
        if on_epoch is not None:
            on_epoch(dict(row))
        if should_stop is not None and should_stop() and len(history) < cfg.epochs:
            raise TrainingStopped

    stopped = False
    try:
        fit(model, train_set, val_set, cfg, run_dir, device="cpu", amp=False, progress=False, on_epoch=callback)
    except TrainingStopped:
        stopped = True
    final = load_checkpoint(run_dir / "last.pt")
    model.load_state_dict(final["model"])
    checkpoint = save_checkpoint(run_dir / "model.pt", model, {k: final["extra"][k] for k in ("epoch", "history",
                                                                                         "train_config")})
    pred = predict(model, make_loader(val_set, cfg.batch_size), torch.device("cpu"), amp=False)
    write_predictions(run_dir / "predictions.csv", pred, val_samples, config.class_names)
    cm = confusion_matrix(pred.labels, pred.predicted, config.num_classes)
    acc = accuracy_from_confusion(cm) if len(val_idx) else None
    recall = per_class_recall(cm)
    summary = {"variant": config.variant, "data": "data_samples/synthetic_ckplus (classroom training in the app)",
               "class_names": list(config.class_names), "held_out_accuracy": acc, "held_out_size": len(val_idx),
               "held_out_subjects": sorted({s.subject for s in val_samples}), "train_size": len(train_idx),
               "confusion_matrix": cm.tolist(),
               "per_class_recall": {c: (None if np.isnan(r) else float(r)) for c, r in zip(config.class_names, recall)},
               "epochs_done": len(history), "stopped": stopped, "config": config.to_dict(),
               "train_config": cfg.to_dict(), "seed": seed, "versions": versions(), "device": "cpu"}
    atomic_write_text(run_dir / "results.json", json.dumps(summary, indent=1))
    return ClassroomResult(run_dir=run_dir, checkpoint=checkpoint, history=history, stopped=stopped, accuracy=acc)


class TrainingJob:
    """Classroom training in a background thread, so the page stays live and Stop can be pressed.

    The page polls :attr:`history` and :attr:`status`; :meth:`stop` asks ``fit``'s on_epoch callback
    to raise :class:`TrainingStopped` after the current epoch.

    >>> job = TrainingJob.start(samples, class_names, epochs=3)  # doctest: +SKIP
    >>> job.stop(); job.wait(60); job.status  # doctest: +SKIP
    'stopped'
    """

    def __init__(self, run_dir: Path, epochs: int) -> None:
        self.run_dir = run_dir
        self.epochs = epochs
        self.history: list[dict[str, float]] = []
        self.status: Literal["running", "done", "stopped", "failed"] = "running"
        self.error: str | None = None
        self.result: ClassroomResult | None = None
        self.started = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def start(cls, samples: Sequence[Sample], class_names: Sequence[str], epochs: int = 10, seed: int = 0,
              root: Path | None = None) -> TrainingJob:
        job = cls(new_run_dir(root), int(epochs))
        job._thread = threading.Thread(target=job._work, args=(list(samples), tuple(class_names), seed),
                                       name=f"staner-train-{job.run_dir.name}", daemon=True)
        job._thread.start()
        return job

    def _work(self, samples: list[Sample], class_names: tuple[str, ...], seed: int) -> None:
        try:
            self.result = train_classroom(samples, class_names, self.run_dir, self.epochs, seed,
                                          on_epoch=self.history.append, should_stop=self._stop.is_set)
            self.status = "stopped" if self.result.stopped else "done"
        except Exception as exc:  # noqa: BLE001 - a thread must report every failure to the page
            self.error = f"{type(exc).__name__}: {exc}"
            self.status = "failed"

    def stop(self) -> None:
        """Ask training to stop after the current epoch (the weights of the last epoch are kept)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() and self.status == "running"

    @property
    def running(self) -> bool:
        return self.status == "running"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread ends; True if it did."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running


# --- streaming (staner_lab.stream) for uploads and webcam snapshots ---------------------------------


@dataclass(frozen=True)
class StreamTrace:
    """The streaming recogniser's decision after every frame of a sequence.

    Attributes:
        P: (N, K) fused probabilities after frame t (NaN rows where no face was found).
        resets: (N,) True where the recogniser started a new sequence (first frame, face lost).
        class_names: K class names.
    """

    P: np.ndarray
    resets: np.ndarray
    class_names: tuple[str, ...]


def stream_trace(model: STANER, frames: np.ndarray, prep: PreprocessConfig) -> StreamTrace:
    """Feed (N, H, W) uint8 gray frames one at a time to :class:`staner_lab.stream.StreamingRecognizer`
    (carrying each region's LSTM state) and collect the fused decision after every frame."""
    from .stream import StreamingRecognizer, recognize_frames

    recognizer = StreamingRecognizer(model, prep)
    K = model.config.num_classes
    P, resets = [], []
    for _, result in recognize_frames(recognizer, list(frames), "this sequence", color="bgr"):
        P.append(np.asarray(result.P, dtype=np.float32) if result.P is not None else np.full(K, np.nan, np.float32))
        resets.append(bool(result.reset))
    return StreamTrace(P=np.stack(P), resets=np.array(resets), class_names=tuple(model.config.class_names))
