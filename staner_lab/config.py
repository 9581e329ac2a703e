"""Configuration dataclasses, one per part of STANER, and the two presets.

Every config is a plain dataclass with a JSON round trip (``to_dict`` / ``from_dict`` /
``to_json`` / ``from_json``); the whole :class:`StanerConfig` is saved inside every checkpoint.

The paper leaves most sizes open (see ``docs/model.md``). The ``paper`` preset keeps the true
VGG-16 widths and 224x224 faces; the ``classroom`` preset is small enough to train on a laptop CPU.

>>> cfg = preset("classroom")
>>> StanerConfig.from_json(cfg.to_json()) == cfg
True
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CK_PLUS_CLASSES",
    "OULU_CASIA_CLASSES",
    "PRESETS",
    "REGIONS",
    "TRAIN_PRESETS",
    "VARIANTS",
    "AttentionConfig",
    "AugmentConfig",
    "CLSTMConfig",
    "FrontEndConfig",
    "InputConfig",
    "PreprocessConfig",
    "SGAERConfig",
    "StanerConfig",
    "TLERConfig",
    "TrainConfig",
    "ablation_config",
    "configs_with_settings",
    "parse_settings",
    "preset",
    "train_preset",
    "with_settings",
]

#: The three facial regions of TLER, in the order of Eq. 11: F' = [F_e : F_n : F_m].
REGIONS: tuple[str, ...] = ("eyes", "nose", "mouth")

#: CK+ label codes 1..7 in order.
CK_PLUS_CLASSES: tuple[str, ...] = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
OULU_CASIA_CLASSES: tuple[str, ...] = ("anger", "disgust", "fear", "happy", "sadness", "surprise")

#: The paper's ablation variants (Table 1).
VARIANTS: tuple[str, ...] = ("C1", "C2", "C3", "C4", "STANER")


class _JsonMixin:
    """JSON round trip for nested dataclasses (tuples come back as tuples, dicts of tuples too)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        return _build(cls, data, where=cls.__name__)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))


#: The sections of ``--set`` besides the model's own fields: TrainConfig, PreprocessConfig, RunOptions
#: (staner_lab.training.fold) and the chosen executor (staner_lab.training.executors).
SETTING_SECTIONS = ("train", "prep", "run", "executor")


def parse_settings(items: Sequence[str]) -> dict[str, dict[str, str]]:
    """``--set FIELD=VALUE`` items by section: {"model": {...}, "train": {...}, "prep": ..., "run": ...,
    "executor": ...}, each {field path within the section: text}. A path that does not start with a
    section name is a model field (``sgaer.dropout``, ``alpha``)."""
    out: dict[str, dict[str, str]] = {s: {} for s in ("model", *SETTING_SECTIONS)}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set {item}: give FIELD=VALUE, e.g. --set sgaer.dropout=0.4")
        head, dot, rest = key.partition(".")
        if head in SETTING_SECTIONS and dot:
            out[head][rest] = value.strip()
        else:
            out["model"][key] = value.strip()
    return out


def with_settings(config, settings: dict[str, str], prefix: str = "", where: str = ""):
    """A copy of a config dataclass with each dotted field path in ``settings`` set from its text
    (``--set sgaer.dropout=0.4``, ``--set tler.clstm.cnn_channels=[8,16,32]``): the text is read as
    JSON when it parses (numbers, true/false, null, lists), else as a string; the copy is rebuilt and
    checked like a config read from JSON, so a bad value names its field and what it allows.

    Works on any dataclass (TrainConfig, RunOptions, an executor); ``prefix`` is the section the paths
    were given under on the command line (``train.``) and ``where`` names it in messages.
    """
    if not settings:
        return config
    data = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init}
    data = {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in data.items()}
    for path, text in settings.items():
        keys, node = path.split("."), data
        for depth, key in enumerate(keys):
            here = ".".join([where] * bool(where) + keys[:depth]) or type(config).__name__
            if not isinstance(node, dict) or key not in node:
                known = sorted(node) if isinstance(node, dict) else []
                raise ValueError(f"--set {prefix}{path}: {here} has no field {key!r}"
                                 + (f" (its fields: {', '.join(known)})" if known else " (it is not set in this model)"))
            if depth < len(keys) - 1:
                node = node[key]
        try:
            node[keys[-1]] = json.loads(text)
        except json.JSONDecodeError:
            node[keys[-1]] = text
    try:
        return _build(type(config), data, where or type(config).__name__)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"--set {', '.join(f'{prefix}{k}={v}' for k, v in settings.items())}: {exc}") from None


def _build(tp: Any, value: Any, where: str) -> Any:
    """Rebuild ``value`` (parsed JSON) as type ``tp``; raise a ValueError naming the field."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"config field {where!r}: expected an object, got {value!r}")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp) if f.init}
        unknown = set(value) - names
        if unknown:
            raise ValueError(f"config {where!r}: unknown field(s) {sorted(unknown)}; known: {sorted(names)}")
        kwargs = {k: _build(hints[k], v, f"{where}.{k}") for k, v in value.items()}
        return tp(**kwargs)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        others = [a for a in args if a is not type(None)]
        if len(others) == 1:  # X | None: the error is X's
            return _build(others[0], value, where)
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _build(arg, value, where)
            except (ValueError, TypeError) as exc:
                errors.append(str(exc))
        raise ValueError(f"config field {where!r}: {value!r} matches none of {args}: {errors}")
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v, where) for v in value)
        return tuple(_build(a, v, where) for a, v in zip(args, value, strict=True))
    if origin is dict:
        key_t, val_t = typing.get_args(tp)
        return {_build(key_t, k, where): _build(val_t, v, f"{where}.{k}") for k, v in value.items()}
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ValueError(f"config field {where!r}: {value!r} is not one of {typing.get_args(tp)}")
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (bool, int, float, str) and (not isinstance(value, tp) or (tp is not bool and isinstance(value, bool))):
        raise ValueError(f"config field {where!r}: expected {tp.__name__}, got {value!r}")
    return value


def _check(config: Any, path: str, rules: list[tuple], flags: dict[str, str] | None = None) -> None:
    """Raise a ValueError naming the first field whose value is not allowed: its class and field,
    the option that sets it (``flags``, else ``--set`` with ``path``, where the class sits:
    "inputs.", "tler.clstm."), the range in words and the value given. ``rules``: (field, is the
    value allowed, the range in words); every Literal field is checked against its values too."""
    choices = _literal_choices(type(config))
    literal_rules = [(name, getattr(config, name) in values, f"one of {values}") for name, values in choices.items()]
    for name, ok, allowed in [*rules, *literal_rules]:
        if not ok:
            option = (flags or {}).get(name, f"--set {path}{name}")
            raise ValueError(f"{type(config).__name__}.{name} ({option}) must be {allowed}, got {getattr(config, name)!r}")


@functools.cache
def _literal_choices(cls: type) -> dict[str, tuple[Any, ...]]:
    """Field -> allowed values, for each field of ``cls`` typed as a Literal (checked by :func:`_check`)."""
    return {name: typing.get_args(tp) for name, tp in typing.get_type_hints(cls).items()
            if typing.get_origin(tp) is Literal}


@dataclass(frozen=True)
class InputConfig(_JsonMixin):
    """Sizes of the model inputs; the data pipeline produces exactly these."""

    face_size: int = 224  # peak face I_p is (1, face_size, face_size); VGG's native size
    frames: int = 16  # T, frames per region sequence (CK+ sequences have 10-60 frames)
    # (height, width) of each region crop; eyes include the brows, so they are wide.
    region_sizes: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {"eyes": (48, 128), "nose": (64, 64), "mouth": (48, 96)}
    )
    # A sequence shorter than T (data sets often keep only the last 3-4 frames): "stretch" repeats
    # every frame about T/n times ([0,0,1,1,2,2,3,3]); "hold_first" holds the first frame and plays
    # the real frames at their own pace at the end ([0,0,0,0,0,1,2,3]), so the last steps, which the
    # end convolution sees, are distinct frames. See docs/model.md ("Short sequences").
    short_sequences: Literal["stretch", "hold_first"] = "hold_first"
    # Undo head motion before the regions are cut: every frame is warped by the similarity that puts
    # its eye corners and nose bridge on the peak frame's (data/stabilise.py), so a drifting head no
    # longer moves the content of the fixed region boxes as much as a subtle expression does. False =
    # the paper's fixed box per region on the raw frames. Part of the model's config because a model
    # trained on stabilised crops expects them (the live recogniser reads it too). docs/model.md,
    # "Head motion" and "A recipe for real faces", has the measurements behind the default.
    stabilise: bool = True

    def __post_init__(self) -> None:
        _check(self, "inputs.", [
            ("frames", self.frames >= 1, "a whole number of at least 1"),
            ("region_sizes", all(h >= 1 and w >= 1 for h, w in self.region_sizes.values()),
             "(height, width) of at least 1 pixel for every region"),
        ])


@dataclass(frozen=True)
class FrontEndConfig(_JsonMixin):
    """VGG-16 conv1_1 ... conv4_3 ("the first 10 layers of VGG-16")."""

    width: float = 1.0  # channel multiplier: 1.0 = true VGG widths 64/128/256/512 (faces are grayscale)
    # How ImageNet RGB kernels of conv1_1 meet grayscale input: "sum" folds the three kernels
    # into one (same response as repeating the channel, 3x cheaper); "repeat" keeps 3 input
    # channels and repeats the gray image.
    grayscale: Literal["sum", "repeat"] = "sum"
    batch_norm: bool = False  # torchvision's plain vgg16 has none; True = vgg16_bn-style layers

    def __post_init__(self) -> None:
        _check(self, "sgaer.frontend.", [("width", 0 < self.width <= 4, "in (0, 4]")])


@dataclass(frozen=True)
class AttentionConfig(_JsonMixin):
    """Attention module of Fig. 3 / Eq. 1-2."""

    # "spatial": Fig. 3 read literally as a picture: 3x3 conv -> ReLU -> 1x1 conv to ONE channel
    #            -> sigmoid; M is (B, 1, H, W), one weight per position.
    # "channel": Eq. 1 read literally: global average pooling -> 1x1 convs -> sigmoid; M is
    #            (B, C, 1, 1), one weight per channel (a squeeze-and-excitation gate).
    # "none":    no attention (ablation C1): F = U.
    kind: Literal["spatial", "channel", "none"] = "spatial"
    hidden_channels: int = 128  # channels of the 3x3 conv ("spatial") or the bottleneck ("channel")
    # How the scores become M (docs/model.md, "Making attention localise"): "sigmoid" is Eq. 1,
    # each position in [0, 1] on its own; "softmax" makes the positions compete, M = H*W *
    # softmax(scores) over positions (mean 1), so raising one position lowers the others.
    normalise: Literal["sigmoid", "softmax"] = "sigmoid"
    # The "1 +" of Eq. 2, F = (residual + M) (x) U. 1 = the paper (attention can only amplify);
    # 0 = pure gating, F = M (x) U, where the loss depends on M everywhere.
    residual: float = 1.0
    # Batch norm after the 3x3 conv and He init of both convs ("spatial" only). Without them the
    # hidden ReLUs of the module die in training and M goes flat (docs/model.md, "Making attention
    # localise"); the paper gives neither.
    batch_norm: bool = True
    he_init: bool = True

    def __post_init__(self) -> None:
        _check(self, "sgaer.attention.", [("hidden_channels", self.hidden_channels >= 1, "at least 1"),
                                          ("residual", self.residual >= 0, "at least 0 (1 is Eq. 2)")])



@dataclass(frozen=True)
class SGAERConfig(_JsonMixin):
    frontend: FrontEndConfig = field(default_factory=FrontEndConfig)
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    end_channels: int = 256  # channels of the end convolution that turns F into F_G
    # Normalisation in the end convolution: "conv" = batch norm after each of its convs, "none" = none
    # ("pooled", one on the pooled F_G, measured worse on real faces and was retired: docs/training.md).
    # "conv" trains SGAER faster and leaves P_G less over-confident, so the fused P is more accurate;
    # "none" gives an attention map M that points at the action units more often (the shipped
    # checkpoint uses it). docs/model.md, "SGAER leaving the uniform prediction" and "Making attention
    # localise".
    end_norm: Literal["none", "conv"] = "conv"
    dropout: float = 0.5

    def __post_init__(self) -> None:
        _check(self, "sgaer.", [("end_channels", self.end_channels >= 1, "at least 1"),
                                ("dropout", 0 <= self.dropout < 1, "in [0, 1)")])



@dataclass(frozen=True)
class CLSTMConfig(_JsonMixin):
    """The C-LSTM block: a small CNN per frame, flattened, then an LSTM over time.

    The paper gives none of these; docs/model.md ("Both branches learning") records the
    measurements behind each default. Checkpoints written before a field existed load with the value
    they were trained with (``staner_lab.training.checkpoint.LEGACY_VALUES``).
    """

    cnn_channels: tuple[int, ...] = (32, 64, 128)  # one 3x3 conv (+ BN) + ReLU + 2x2 max-pool per entry
    hidden_size: int = 256  # LSTM width (h_t, c_t)
    # "fused" = torch.nn.LSTM (fast); "explicit" = Eq. 5-10 step by step. Same parameters.
    lstm_path: Literal["fused", "explicit"] = "fused"
    # How a region crop enters the CNN: "frame" standardises each frame to mean 0, std 1 (low
    # contrast crops and lighting changes no longer decide the feature scale; works frame by frame
    # for streaming); "none" = raw [0, 1] (constants as in the VGG front end, "fixed", measured worse on
    # real faces and was retired: docs/training.md).
    input_norm: Literal["none", "frame"] = "frame"
    # Batch norm after each conv: without it, a region whose crops vary little (the nose) gets
    # features near 0 and its gates sit at sigmoid(bias) at every step (a dead region).
    batch_norm: bool = True
    # He (fan-in) init of the convs, as in the VGG front end; False = PyTorch's default init.
    he_init: bool = True
    # Initial forget-gate bias (b_f of Eq. 5): 1.0 keeps c_{t-1} at the start of training so
    # gradients reach early frames (Jozefowicz et al. 2015); 0.0 = PyTorch's default.
    forget_bias: float = 1.0
    # A second input channel for the CNN: each (normalised) frame minus the sequence's first frame,
    # so the change since the start of the sequence, what TLER exists for, is an input rather than
    # something the CNN and the LSTM must learn to compute from absolute appearance. A stream uses
    # its first frame. False = the paper's CNN on the frame alone. docs/model.md, "Motion as an input".
    difference_input: bool = True

    def __post_init__(self) -> None:
        _check(self, "tler.clstm.", [
            ("cnn_channels", len(self.cnn_channels) >= 1 and min(self.cnn_channels) >= 1,
             "one or more channel counts, each at least 1"),
            ("hidden_size", self.hidden_size >= 1, "at least 1"),
        ])



@dataclass(frozen=True)
class TLERConfig(_JsonMixin):
    clstm: CLSTMConfig = field(default_factory=CLSTMConfig)
    end_channels: int = 256  # channels of the end convolution over F'
    # Kernel of the end convolution over time. It is causal (it sees h_{t-k+1..t}) so a stream
    # can compute it frame by frame; F_L is its output at the last frame.
    end_kernel: int = 3
    dropout: float = 0.5

    def __post_init__(self) -> None:
        _check(self, "tler.", [("end_channels", self.end_channels >= 1, "at least 1"),
                               ("end_kernel", self.end_kernel >= 1, "at least 1"),
                               ("dropout", 0 <= self.dropout < 1, "in [0, 1)")])


@dataclass(frozen=True)
class StanerConfig(_JsonMixin):
    """The whole model. ``variant`` selects the ablation of Table 1 (see :func:`ablation_config`)."""

    class_names: tuple[str, ...] = CK_PLUS_CLASSES
    inputs: InputConfig = field(default_factory=InputConfig)
    sgaer: SGAERConfig | None = field(default_factory=SGAERConfig)  # None: no SGAER branch
    tler: TLERConfig | None = field(default_factory=TLERConfig)  # None: no TLER branch
    alpha: float = 0.5  # Eq. 14: P = alpha * P_G + (1 - alpha) * P_L
    variant: str = "STANER"
    preset: str = "paper"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __post_init__(self) -> None:
        if self.sgaer is None and self.tler is None:
            raise ValueError("StanerConfig needs at least one branch: sgaer or tler")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"StanerConfig.alpha (--set alpha) must be in [0, 1], got {self.alpha}")
        if len(self.class_names) < 2:
            raise ValueError(f"need at least two classes, got {self.class_names}")
        missing = set(REGIONS) - set(self.inputs.region_sizes)
        if missing:
            raise ValueError(f"inputs.region_sizes lacks region(s) {sorted(missing)}")
        S = self.inputs.face_size
        if self.sgaer is not None and (S < 32 or S % 8):
            # 8 px is one cell of M: a multiple keeps every cell on whole pixels of the face
            raise ValueError(f"inputs.face_size {S}: SGAER's front end halves the face three times; give a "
                             "multiple of 8 of at least 32 (e.g. 64, 96, 128)")


@dataclass(frozen=True)
class AugmentConfig(_JsonMixin):
    """Augmentation on top of the flip (``staner_lab.data.augment``; docs/training.md).

    Drawn per item from (seed, epoch, index). Geometric: ONE similarity transform, its shift as a
    fraction of each image's size, applied about the centre of the peak face and of every frame of
    every region crop (the same for all T frames, so motion is kept) and to the landmarks.
    Photometric: one lighting per sample, the same on the peak face and on every frame.
    Both are off by default: the paper uses flips only, and old checkpoints must resume unchanged.
    """

    # Alignment and region boxes come from landmarks; on real faces dlib is off by a few % of the face
    # and faces keep some roll, so jitter of that size makes the model robust to it. Larger shifts
    # would push brows or lips out of the tight region crops (region_margin 0.15).
    geometric: bool = False
    shift: float = 0.06  # max |dx|, |dy|, fraction of the image width / height
    scale: float = 0.08  # scale factor drawn in [1 - scale, 1 + scale]
    rotation: float = 8.0  # max |angle| in degrees (residual head roll after eye alignment)
    # Real recordings differ in exposure, contrast, camera response, sensor noise and focus; the
    # ranges stay small so the expression (wrinkles, teeth, furrows) keeps its contrast.
    photometric: bool = False
    brightness: float = 0.1  # additive offset in [-brightness, brightness] (images are in [0, 1])
    contrast: float = 0.2  # gain about mid grey in [1 - contrast, 1 + contrast]
    gamma: float = 0.2  # exponent in [1 - gamma, 1 + gamma]
    noise: float = 0.02  # Gaussian noise, its std drawn in [0, noise], new noise in every frame
    blur: float = 0.8  # Gaussian blur, its sigma drawn in [0, blur] pixels of each image

    def __post_init__(self) -> None:
        limits = {"shift": 0.5, "scale": 0.99, "rotation": 180.0, "brightness": 1.0, "contrast": 0.99,
                  "gamma": 0.99, "noise": 1.0, "blur": 10.0}
        for name, top in limits.items():
            value = getattr(self, name)
            if not 0.0 <= value <= top:
                raise ValueError(f"AugmentConfig.{name} must lie in [0, {top}], got {value}")

    @property
    def enabled(self) -> bool:
        """Whether any family is on."""
        return self.geometric or self.photometric

    def with_families(self, families: Literal["none", "geometric", "photometric", "both"]) -> AugmentConfig:
        """A copy with the named families on and the others off (``--augment``'s choices), ranges kept."""
        if families not in ("none", "geometric", "photometric", "both"):
            raise ValueError(f"augmentation families must be none, geometric, photometric or both, got {families!r}")
        return dataclasses.replace(self, geometric=families in ("geometric", "both"),
                                   photometric=families in ("photometric", "both"))


@dataclass(frozen=True)
class TrainConfig(_JsonMixin):
    """Training hyper-parameters; defaults are the paper's (Section 4.2)."""

    epochs: int = 150
    batch_size: int = 64
    lr: float = 1e-4
    lr_drop_epoch: int = 100  # lr becomes lr_after from this epoch on
    lr_after: float = 1e-5
    weight_decay: float = 1e-4
    # "step": the paper's (lr, then lr_after from lr_drop_epoch); "cosine": from lr down to lr_after
    # along a half cosine over all epochs (no cliff for short classroom budgets).
    schedule: Literal["step", "cosine"] = "step"
    # Clip the gradient norm of all parameters to this (None: no clipping). An LSTM's gradient can
    # spike on an unlucky batch; 5.0 is far above the typical norm (see RUN/health.csv).
    grad_clip: float | None = 5.0
    # Model selection: hold out this fraction of the *training* subjects and keep the epoch with the
    # best accuracy on them (0 = keep the last epoch, as the paper). Never the test fold.
    select_fraction: float = 0.0
    # What the held-out training subjects select: "fused" = the one epoch with the best fused accuracy;
    # "per_branch" = each branch's weights from the epoch best for that branch alone (SGAER and TLER
    # share no parameters, and Eq. 15 is a sum of their two losses), then α on the same subjects
    # with select_alpha (docs/model.md, "Fusion weight").
    select: Literal["fused", "per_branch"] = "fused"
    # With select_fraction > 0 and both branches: choose the fusion weight α of Eq. 14 on those held-out
    # training subjects (grid 0, 0.05, ..., 1, by likelihood; ties -> nearest 0.5) instead of the
    # config's fixed α.
    select_alpha: bool = False
    flip: bool = True  # horizontal flip augmentation
    seed: int = 0
    # A local torchvision vgg16 state-dict file to start the front end from (paper preset only;
    # never downloaded). None = train from scratch.
    vgg_weights: str | None = None
    # A staner-lab checkpoint whose weights start the model instead of a random draw (e.g. one trained
    # on the synthetic lab, as pretraining). Its architecture and classes must be the model's.
    init: str | None = None
    # Off by default (the paper's recipe; old checkpoints without these fields load as these defaults).
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # Unequal classes (CK+: 18 contempt, 83 surprise). "sampler": every epoch draws about as many
    # sequences of each class (data.dataset.balanced_indices); "loss": inverse-frequency class weights
    # in the loss (data.dataset.class_weights); "none": as the data comes.
    class_balance: Literal["none", "sampler", "loss"] = "none"
    # Train towards (1 - eps) on the true class and eps / K on each class instead of one-hot targets:
    # a branch that has only seen drawn faces is then less sure of itself on a real one, so it cannot
    # outvote a better branch in Eq. 14 with 0.9 confidence (docs/training.md, "Real faces").
    label_smoothing: float = 0.0

    def with_epochs(self, epochs: int) -> TrainConfig:
        """This config for a run of ``epochs`` epochs. The learning-rate drop stays at its epoch when
        the run goes past it, else it moves to 2/3 of the run (the paper drops at 100 of 150)."""
        drop = self.lr_drop_epoch if epochs > self.lr_drop_epoch else max(1, (2 * epochs) // 3)
        return dataclasses.replace(self, epochs=epochs, lr_drop_epoch=drop)

    def __post_init__(self) -> None:
        _check(self, "train.", [
            ("epochs", self.epochs >= 1, "a whole number of at least 1"),
            ("batch_size", self.batch_size >= 1, "a whole number of at least 1"),
            ("lr", self.lr > 0, "above 0"),
            ("lr_after", self.lr_after > 0, "above 0"),
            ("lr_drop_epoch", self.lr_drop_epoch >= 0, "at least 0"),
            ("weight_decay", self.weight_decay >= 0, "at least 0"),
            ("grad_clip", self.grad_clip is None or self.grad_clip > 0, "above 0, or null for no clipping"),
            ("select_fraction", 0.0 <= self.select_fraction < 1.0, "in [0, 1)"),
            ("select_alpha", not self.select_alpha or self.select_fraction > 0,
             "false unless train.select_fraction is above 0 (α is chosen on those held-out training subjects)"),
            ("label_smoothing", 0.0 <= self.label_smoothing < 1.0, "in [0, 1)"),
        ], flags={"epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr"})


@dataclass(frozen=True)
class PreprocessConfig(_JsonMixin):
    """How raw frames become a Sample (Algorithm 1, steps 1-5). Part of the cache key."""

    # "dlib": HOG face detector + 68-point shape predictor; "given": landmark files shipped with
    # the data (CK+ Landmarks/ layout); "auto": given when the files exist, else dlib.
    landmarks: Literal["dlib", "given", "auto"] = "auto"
    track: bool = True  # detect once, then track the face box from frame to frame
    redetect_every: int = 0  # 0 = never re-detect while tracking succeeds
    whole_frame_face: bool = False  # for pre-cropped faces: the whole frame is the face box
    whole_frame_fallback: bool = False  # where detection finds no face, use the whole frame
    upscale_below: int = 160  # frames smaller than this (pixels, short side) are upscaled first
    region_margin: float = 0.15  # margin around each region's landmarks, fraction of box size
    peak: Literal["last", "displacement"] = "last"  # CK+/Oulu end at the peak -> last frame

    def __post_init__(self) -> None:
        _check(self, "prep.", [("redetect_every", self.redetect_every >= 0, "at least 0 (0: never)"),
                               ("upscale_below", self.upscale_below >= 0, "at least 0 pixels"),
                               ("region_margin", 0 <= self.region_margin <= 1, "in [0, 1]")])


def _classroom() -> StanerConfig:
    # Sized so one training step on a batch of 16 takes well under 0.5 s on a 2-core CPU
    # (benchmarks/bench_model.py measures it).
    return StanerConfig(
        inputs=InputConfig(
            face_size=64, frames=8, region_sizes={"eyes": (24, 64), "nose": (32, 32), "mouth": (24, 48)}
        ),
        sgaer=SGAERConfig(
            # Batch norm: trained from scratch, ten plain conv layers stay at the uniform prediction
            # on small data (measured: C1 at intensity 0.3 did not leave ln 7 in 40 epochs without it).
            frontend=FrontEndConfig(width=0.125, batch_norm=True),
            attention=AttentionConfig(hidden_channels=16),
            end_channels=64,
            dropout=0.3,
        ),
        tler=TLERConfig(
            clstm=CLSTMConfig(cnn_channels=(8, 16, 32), hidden_size=64), end_channels=64, dropout=0.3
        ),
        preset="classroom",
    )


PRESETS = {"paper": StanerConfig, "classroom": _classroom}

#: Training defaults per preset. "paper" is Section 4.2 as printed. "classroom" is a small network
#: trained from scratch on a few dozen sequences: at lr 1e-4 it needs hundreds of epochs to leave the
#: uniform prediction, at 1e-3 (batch 16) it learns the shipped data in about 60 epochs.
TRAIN_PRESETS = {
    "paper": TrainConfig,
    "classroom": lambda: TrainConfig(batch_size=16, lr=1e-3, lr_after=1e-4),
}


def train_preset(name: str) -> TrainConfig:
    """Training defaults for a model preset (see ``TRAIN_PRESETS``)."""
    if name not in TRAIN_PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(TRAIN_PRESETS)}")
    return TRAIN_PRESETS[name]()


def preset(name: str, class_names: tuple[str, ...] | None = None) -> StanerConfig:
    """Return the named preset ("paper" or "classroom"), optionally with other class names."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    cfg = PRESETS[name]()
    if class_names is not None:
        cfg = dataclasses.replace(cfg, class_names=tuple(class_names))
    return cfg


def configs_with_settings(
    items: Sequence[str], name: str = "classroom"
) -> tuple[StanerConfig, TrainConfig, PreprocessConfig]:
    """The preset's model, training and preprocessing configs with ``--set FIELD=VALUE`` items applied
    as ``staner-lab train --set`` applies them, for scripts that train without the command line.

    ``run.`` and ``executor.`` items are refused rather than dropped: such a script has neither.
    """
    settings = parse_settings(items)
    unused = [f"{section}.{path}={value}" for section in ("run", "executor") for path, value in settings[section].items()]
    if unused:
        raise ValueError(f"--set {', '.join(unused)}: this script has no run options or executor; "
                         "set model fields, train.… or prep.…")
    model = with_settings(preset(name), settings["model"])
    train = with_settings(train_preset(name), settings["train"], prefix="train.", where="train")
    prep = with_settings(PreprocessConfig(), settings["prep"], prefix="prep.", where="prep")
    return model, train, prep


def ablation_config(base: StanerConfig, variant: str) -> StanerConfig:
    """The paper's ablation variants (Table 1) as configurations of ``base``.

    - C1: SGAER without attention (VGG front end -> end conv), alone.
    - C2: TLER alone.
    - C3: SGAER (with attention) alone.
    - C4: C1 fused with C2.
    - STANER: SGAER fused with TLER.
    """
    # A branch the base lacks (a C2 turned into STANER) comes from the base's own preset, so a
    # classroom model never grows a paper-sized branch.
    full = PRESETS[base.preset]() if base.preset in PRESETS else StanerConfig()
    sgaer = base.sgaer or full.sgaer
    tler = base.tler or full.tler
    no_attention = dataclasses.replace(sgaer, attention=dataclasses.replace(sgaer.attention, kind="none"))
    with_attention = sgaer if sgaer.attention.kind != "none" else dataclasses.replace(
        sgaer, attention=dataclasses.replace(sgaer.attention, kind="spatial")
    )
    table = {
        "C1": (no_attention, None),
        "C2": (None, tler),
        "C3": (with_attention, None),
        "C4": (no_attention, tler),
        "STANER": (with_attention, tler),
    }
    if variant not in table:
        raise ValueError(f"unknown variant {variant!r}; choose one of {list(VARIANTS)}")
    s, t = table[variant]
    return dataclasses.replace(base, sgaer=s, tler=t, variant=variant)
