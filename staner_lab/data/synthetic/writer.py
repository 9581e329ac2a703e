"""Writing rendered sequences in the original CK+ folder layout, byte-stable (:func:`write_ckplus`).

PNG frames, CK+-formatted landmark and emotion files, the peak-frame AU masks (.npz with fixed zip
timestamps) and a README.txt that records the command regenerating the folder. The CK+ reader of
this package reads a written tree unchanged.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from staner_lab.atomic import atomic_write_bytes
from staner_lab.config import CK_PLUS_CLASSES
from staner_lab.data.synthetic.realism import Realism
from staner_lab.data.synthetic.sequence import SyntheticSequence

__all__ = ["LAYOUT_FOLDERS", "README_MARK", "write_ckplus"]


# Folder names of the CK+ original layout.
_IMAGES, _EMOTION, _LANDMARKS, _GROUND_TRUTH = "cohn-kanade-images", "Emotion", "Landmarks", "GroundTruth"
#: The folders :func:`write_ckplus` writes (besides README.txt).
LAYOUT_FOLDERS = (_IMAGES, _EMOTION, _LANDMARKS, _GROUND_TRUTH)
#: First words of the README.txt of every written data set: marks a folder as a synthetic data set.
README_MARK = "Synthetic facial-expression sequences in the CK+ layout, written by staner_lab"


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed .npz (readable by ``np.load``) with fixed zip timestamps, so bytes are stable."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(arrays):
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, arr.getvalue())
    return buf.getvalue()


def _png_bytes(img: np.ndarray) -> bytes:
    params = [cv2.IMWRITE_PNG_COMPRESSION, 9, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_FILTERED]
    ok, buf = cv2.imencode(".png", img, params)
    if not ok:
        raise RuntimeError("cv2.imencode failed to encode a PNG")
    return buf.tobytes()


def _ck_float(v: float) -> str:
    """One value as CK+ (MATLAB ``save -ascii``) writes it: ``   2.3700000e+02``."""
    return f"{v:16.7e}"


def write_ckplus(
    sequences: Iterable[SyntheticSequence],
    out_dir: str | os.PathLike[str],
    command: str | None = None,
    realism: Realism | None = None,
) -> Path:
    """Write sequences in the original CK+ layout (plus the AU masks) under ``out_dir``.

    Layout (``S001/001`` = subject / sequence; frame numbers are 8-digit and 1-based)::

        cohn-kanade-images/S001/001/S001_001_00000001.png
        Emotion/S001/001/S001_001_000000NN_emotion.txt       (NN = last frame; CK+ code 1..7)
        Landmarks/S001/001/S001_001_00000001_landmarks.txt   (68 lines "   x   y")
        GroundTruth/S001/001/au_masks.npz                     (peak frame, one bool array per AU)
        README.txt

    Every file is written to a temporary name and renamed, so no half-written file remains.

    Args:
        sequences: rendered sequences (labels index :data:`~staner_lab.config.CK_PLUS_CLASSES`).
        out_dir: the data set folder (created if missing).
        command: the command that regenerates the folder, recorded in README.txt.
        realism: the realism factors the sequences were rendered with, listed in README.txt when on.

    Returns:
        ``out_dir`` as a Path.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    n_frames: set[int] = set()
    sizes: set[tuple[int, int]] = set()
    for seq in sequences:
        subj, num = seq.sequence_id.split("/")
        stem = f"{subj}_{num}"
        for t, frame in enumerate(seq.frames, start=1):
            atomic_write_bytes(root / _IMAGES / subj / num / f"{stem}_{t:08d}.png", _png_bytes(frame))
            text = "".join(
                f"{_ck_float(x)}{_ck_float(y)}\n" for x, y in seq.landmarks[t - 1].astype(np.float64)
            )
            atomic_write_bytes(
                root / _LANDMARKS / subj / num / f"{stem}_{t:08d}_landmarks.txt", text.encode()
            )
        last = len(seq.frames)
        code = CK_PLUS_CLASSES.index(seq.label_name) + 1
        atomic_write_bytes(
            root / _EMOTION / subj / num / f"{stem}_{last:08d}_emotion.txt",
            f"{_ck_float(float(code))}\n".encode(),
        )
        atomic_write_bytes(root / _GROUND_TRUTH / subj / num / "au_masks.npz", _npz_bytes(seq.au_masks))
        counts[seq.label_name] = counts.get(seq.label_name, 0) + 1
        n_frames.add(last)
        sizes.add(seq.frames.shape[1:])
    codes = ", ".join(f"{i + 1} {name}" for i, name in enumerate(CK_PLUS_CLASSES))
    per_class = ", ".join(f"{name} {counts[name]}" for name in CK_PLUS_CLASSES if name in counts)
    harder = ""
    if realism is not None and realism.on:
        harder = (
            "\nHarder than the plain generator (staner_lab/data/synthetic/realism.py, Realism):\n"
            f"  {realism.describe()}.\n"
            "  Landmarks follow the head pose in every frame; the AU masks follow the peak frame's pose.\n"
        )
        if realism.identity > 0:
            harder += ("  Identity on: a subject's resting expression (one AU) may be in every frame, the first\n"
                       "  included, so the first frame is the subject's own neutral; the masks cover the\n"
                       "  expression AUs only (staner_lab/data/synthetic/style.py).\n")
    readme = f"""{README_MARK}.

These faces are procedurally drawn (staner_lab/data/synthetic/); they are not photographs of people.
Each sequence goes from a neutral face (first frame) to an expression peak (last frame), driven by
FACS action units (anger AU4+5+7+23, contempt unilateral AU14, disgust AU9+15+16,
fear AU1+2+4+5+20+26, happy AU6+12, sadness AU1+4+15, surprise AU1+2+5+26).

Sequences: {sum(counts.values())} ({per_class}); frames per sequence: {sorted(n_frames)};
frame size (h, w): {sorted(sizes)}.
{harder}
Layout (the original CK+ layout, plus GroundTruth/):
  cohn-kanade-images/S001/001/S001_001_00000001.png      grayscale frames, 1-based 8-digit numbers
  Emotion/S001/001/S001_001_000000NN_emotion.txt         label of the sequence (NN = last frame)
                                                          CK+ codes: {codes}
  Landmarks/S001/001/S001_001_00000001_landmarks.txt     68 points "x y" per frame (dlib/iBUG order)
  GroundTruth/S001/001/au_masks.npz                      peak frame: one (H, W) bool mask per active AU
                                                          (np.load(path)["AU12"]) for pointing-game scores

Regenerate (byte-identical):
  {command if command else "(not recorded: written by write_ckplus without a command)"}
"""
    atomic_write_bytes(root / "README.txt", readme.encode())
    return root
