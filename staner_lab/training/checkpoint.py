"""Checkpoints: the model's weights with its config inside, written atomically, read with
``weights_only=True`` (no arbitrary code runs when a file is loaded).

A checkpoint is a dict of tensors and plain values::

    {"format": "staner-lab/1", "config": <StanerConfig JSON>, "model": state_dict, "extra": {...}}

``extra`` carries what a trainer needs to resume (optimizer state, epoch, RNG states, metrics);
it must hold only tensors, numbers, strings, lists and dicts.

Old checkpoints keep predicting as they did: a config field added after a checkpoint was written is
missing from its config, and :func:`upgrade_config` (the one compatibility step, at load) gives it
the value that checkpoint was trained with (:data:`LEGACY_VALUES`), not today's default.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch

from staner_lab.atomic import atomic_write
from staner_lab.config import StanerConfig, TrainConfig
from staner_lab.models.staner import STANER

__all__ = ["LEGACY_VALUES", "RETIRED_FIELDS", "RETIRED_VALUES", "CheckpointError", "atomic_torch_save",
           "load_checkpoint", "load_model", "read_train_config", "save_checkpoint", "upgrade_config"]

FORMAT = "staner-lab/1"

#: Config fields added after the first checkpoints were written, by dotted path of their config
#: section (``train`` is the TrainConfig of a resumable last.pt), with the value those checkpoints
#: were trained with: the first region CNN (no input normalisation, batch norm, He init or forget
#: bias, no difference channel), attention without batch norm, no end batch norm, short sequences
#: stretched, no head-motion stabilisation, no gradient clipping.
LEGACY_VALUES: dict[str, dict[str, Any]] = {
    "inputs": {"short_sequences": "stretch", "stabilise": False},
    "sgaer": {"end_norm": "none"},
    "sgaer.attention": {"batch_norm": False, "he_init": False},
    "tler.clstm": {"input_norm": "none", "batch_norm": False, "he_init": False, "forget_bias": 0.0,
                   "difference_input": False},
    "train": {"grad_clip": None},
}


#: Config fields retired since checkpoints were written, with the one value the kit still builds: a
#: checkpoint that holds it loads without the field; one that holds another value is refused.
RETIRED_FIELDS: dict[str, dict[str, Any]] = {
    "sgaer.frontend": {"in_channels": 1},
    "tler.clstm": {"frame_input": True},
    "train": {"optimizer": "adam", "clip": "global"},
}


#: Values of a kept field that are no longer built (measured worse on real faces: docs/training.md).
RETIRED_VALUES: dict[str, dict[str, tuple[Any, ...]]] = {
    "sgaer": {"end_norm": ("pooled",)},
    "tler.clstm": {"input_norm": ("fixed",)},
}


def _nodes(data: dict[str, Any], table: dict[str, Any], section: str):
    """(path, the config dict at that path or None, the table's entry) for each path of ``table`` in
    ``section`` ("" for the model's config, "train" for a TrainConfig, whose paths start with it)."""
    for path, entry in table.items():
        keys = path.split(".")
        if (keys[0] == "train") != (section == "train"):
            continue
        node: Any = data
        for key in keys[1:] if section else keys:
            node = node.get(key) if isinstance(node, dict) else None
        yield path, node if isinstance(node, dict) else None, entry


def upgrade_config(data: dict[str, Any], section: str = "") -> dict[str, Any]:
    """A copy of a config read from an older checkpoint (parsed JSON) with each retired field removed
    (:data:`RETIRED_FIELDS`), a retired value refused (:data:`RETIRED_VALUES`) and each field it lacks
    set to the value it was trained with (:data:`LEGACY_VALUES`); ``section`` "" is a StanerConfig,
    "train" a TrainConfig."""
    data = copy.deepcopy(data)
    for path, node, fields in _nodes(data, RETIRED_FIELDS, section):
        for field, kept in fields.items():
            if node is not None and field in node and node.pop(field) != kept:
                raise ValueError(f"{path}.{field} is no longer an option (only {kept!r} is built); "
                                 "this checkpoint was trained with another value")
    for path, node, fields in _nodes(data, RETIRED_VALUES, section):
        for field, gone in fields.items():
            if node is not None and node.get(field) in gone:
                raise ValueError(f"{path}.{field}={node[field]!r} is no longer built (it measured worse on real "
                                 "faces, docs/training.md); retrain the model with today's options")
    for _, node, values in _nodes(data, LEGACY_VALUES, section):
        for field, value in values.items() if node is not None else ():
            node.setdefault(field, value)
    return data


def read_train_config(text: str) -> TrainConfig:
    """The TrainConfig saved in a checkpoint's ``extra["train_config"]`` (JSON), upgraded like the model's."""
    return TrainConfig.from_dict(upgrade_config(json.loads(text), "train"))


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
        payload["config"] = StanerConfig.from_dict(upgrade_config(json.loads(payload["config"])))
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
