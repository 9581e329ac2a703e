"""Predict on one input: a video file, a folder of frames, or a CK+ sequence folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from staner_lab.config import PreprocessConfig
from staner_lab.data.dataset import collate, to_item
from staner_lab.data.readers import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, DataError, natural_key
from staner_lab.data.records import Sample, SequenceRecord
from staner_lab.models.staner import STANER

__all__ = ["predict_input", "predict_sample", "record_from_input"]


def record_from_input(path: str | Path) -> SequenceRecord:
    """A SequenceRecord (label unknown: -1) for a video file or a folder of frames.

    A CK+ sequence folder ``.../cohn-kanade-images/S005/001`` picks up its landmark files from the
    sibling ``Landmarks/S005/001`` when every frame has one.
    """
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise DataError(f"input not found: {path}")
    if path.is_file():
        if path.suffix.lower() not in VIDEO_EXTENSIONS:
            raise DataError(f"{path}: not a video ({', '.join(sorted(VIDEO_EXTENSIONS))}) or a folder of frames")
        return SequenceRecord(sequence_id=path.stem, subject="?", label=-1, label_name="?", video_path=path)
    frames = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
                    key=lambda p: natural_key(p.name))
    if not frames:
        raise DataError(f"{path}: no image frames ({', '.join(sorted(IMAGE_EXTENSIONS))}) in this folder")
    landmarks: tuple[Path, ...] = ()
    if path.parent.parent.name == "cohn-kanade-images":
        lm_dir = path.parent.parent.parent / "Landmarks" / path.parent.name / path.name
        candidates = tuple(lm_dir / f"{f.stem}_landmarks.txt" for f in frames)
        if all(c.is_file() for c in candidates):
            landmarks = candidates
    return SequenceRecord(sequence_id=f"{path.parent.name}/{path.name}", subject=path.parent.name, label=-1,
                          label_name="?", frame_paths=tuple(frames), landmark_paths=landmarks)


@torch.no_grad()
def predict_sample(model: STANER, sample: Sample, alpha: float | None = None) -> dict[str, Any]:
    """Class probabilities of P_G, P_L and the fused P for one Sample, and the predicted class."""
    model.eval()
    batch = collate([to_item(Sample(sample.peak, sample.regions, sample.landmarks, 0, sample.subject,
                                    sample.sequence_id), 0)])
    device = next(model.parameters()).device
    out = model(batch["peak"].to(device), {r: x.to(device) for r, x in batch["regions"].items()}, alpha=alpha)
    names = model.config.class_names

    def probs(P):
        return None if P is None else {c: round(float(p), 6) for c, p in zip(names, P[0].cpu())}

    return {"sequence_id": sample.sequence_id, "predicted": names[int(out.prediction[0])],
            "alpha": out.alpha, "P": probs(out.P), "P_G": probs(out.P_G), "P_L": probs(out.P_L)}


def predict_input(model: STANER, path: str | Path, prep: PreprocessConfig | None = None,
                  alpha: float | None = None) -> dict[str, Any]:
    """Preprocess ``path`` (video, frames folder, CK+ sequence) and predict it."""
    from staner_lab.data.preprocess import preprocess_sequence

    record = record_from_input(path)
    sample = preprocess_sequence(record, model.config.inputs, prep or PreprocessConfig())
    result = predict_sample(model, sample, alpha)
    result["input"] = str(path)
    result["frames"] = len(record.frame_paths) if record.frame_paths else None
    result["landmarks"] = "given" if record.landmark_paths else "dlib"
    return result
