"""Checkpoints: the model's weights with its config inside, written atomically, read with
``weights_only=True`` (no arbitrary code runs when a file is loaded).

A checkpoint is a dict of tensors and plain values::

    {"format": "staner-lab/1", "config": <StanerConfig JSON>, "model": state_dict, "extra": {...}}

``extra`` carries what a trainer needs to resume (optimizer state, epoch, RNG states, metrics);
it must hold only tensors, numbers, strings, lists and dicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from staner_lab.atomic import atomic_write
from staner_lab.config import StanerConfig
from staner_lab.models.staner import STANER

__all__ = ["CheckpointError", "atomic_torch_save", "load_checkpoint", "load_model", "save_checkpoint"]

FORMAT = "staner-lab/1"


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, foreign, or does not fit what the caller expects."""


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` through :func:`staner_lab.atomic.atomic_write`: never half-written."""
    with atomic_write(path) as f:
        torch.save(obj, f)
    return Path(path)


def save_checkpoint(path: str | Path, model: STANER, extra: dict[str, Any] | None = None,
                    state: dict[str, Any] | None = None) -> Path:
    """Save ``model`` (weights + config) and ``extra`` atomically to ``path``; ``state``: other weights
    for the same model to save instead of its current ones (e.g. each branch's best epoch)."""
    state = {k: v.detach().cpu() for k, v in (model.state_dict() if state is None else state).items()}
    payload = {"format": FORMAT, "config": model.config.to_json(), "model": state, "extra": extra or {}}
    return atomic_torch_save(payload, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint dict with ``weights_only=True``; raise CheckpointError with the fix."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path} is not a readable staner-lab checkpoint ({type(exc).__name__}: {str(exc)[:200]}). "
            "It may be truncated or corrupt, or a pickle that needs code to load (refused for safety); "
            "retrain or copy the file again."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        kind = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not a staner-lab checkpoint (format {kind!r}, expected {FORMAT!r}). "
            "To start from ImageNet VGG-16 weights use staner_lab.models.load_vgg16_weights instead."
        )
    try:
        payload["config"] = StanerConfig.from_json(payload["config"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: its config cannot be read ({exc})") from exc
    return payload


def load_model(path: str | Path, expect: StanerConfig | None = None,
               map_location: str | torch.device = "cpu") -> STANER:
    """Build the model stored in a checkpoint and load its weights (eval mode).

    Args:
        path: the checkpoint file.
        expect: when given, the checkpoint's preset and class names must match it.
        map_location: device for the weights.
    """
    payload = load_checkpoint(path)
    config: StanerConfig = payload["config"]
    if expect is not None:
        if tuple(config.class_names) != tuple(expect.class_names):
            raise CheckpointError(f"{path} was trained on classes {list(config.class_names)}, "
                                  f"but this data has {list(expect.class_names)}")
        if config.inputs != expect.inputs:
            raise CheckpointError(f"{path} is a {config.preset!r} model with inputs {config.inputs}; "
                                  f"expected {expect.preset!r} inputs {expect.inputs}")
    model = STANER(config)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit its own config ({str(exc)[:300]})") from exc
    return model.to(map_location).eval()
