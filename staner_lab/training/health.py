"""Training health: is every part of STANER alive, and is it learning?

A network can reach a good loss while one of its parts does nothing: a region's CNN whose ReLUs
are all off feeds its LSTM zeros, so the gates sit at sigmoid(bias) at every step and the region
drops out of F' (Eq. 11). These numbers make that visible, per branch and per region, on one batch:

- **feature scale**: the standard deviation of a part's output over the batch (U and F_G for
  SGAER; x_t, the CNN features, and h_t for each region; F_L for TLER). About zero = nothing passes.
- **dead units**: the fraction of non-negative units (after a ReLU) that are zero for every
  sample and every frame of the batch. Near 1 = the part is dead.
- **input drive**: how much the frame features move the LSTM's gates: the standard deviation over
  samples and frames of W x_t (the input term of Eq. 5-8), averaged over the 4N gate rows. A
  region whose drive is near zero has gates at sigmoid(bias) whatever the face does (its gates
  read 0.50 at every step): the region is dead even if a few of its CNN units still fire.
- **gate saturation**: the fraction of f, i, o values below 0.05 or above 0.95. Near 1 = the
  gates are stuck open or shut and gradients through them vanish.
- **gate spread over time**: how much the mean of each gate moves from frame to frame (std over
  t of the batch- and unit-averaged gate). Zero = the LSTM does the same thing at every step, i.e.
  it does not see the sequence change.
- **attention**: the range and spread of M (Eq. 1), and the fraction of the attention module's
  hidden units (after its ReLU) that are dead. A map near constant is a "flat wash"; with its hidden
  units dead, M is the same for every face and gets no gradient.
- **what the decision owes to M**: how far P_G moves (total variation, 0 … 1, mean over the batch)
  when each face's M is replaced by its own mean over positions, i.e. attention amplifies every
  position equally. About zero = the classifier does not use where M points, so M is no view into
  the decision, however it looks.
- **score spread**: how much SGAER's class scores (logits) differ between the faces of the batch
  (std over the batch, averaged over classes). About zero = the branch gives every face the same
  scores, i.e. it sits at one prediction whatever the face (early in training: the uniform one).
- **gradient norms**: the L2 norm of the gradient of the joint loss (Eq. 15) with respect to the
  parameters of each part. A branch with a tiny norm is not learning.

:func:`health_report` computes them; :func:`format_report` prints a table; ``staner-lab health``
runs them on a checkpoint or a run folder; :func:`staner_lab.training.loop.fit` logs them about ten
times per run to ``RUN/health.csv``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from staner_lab import functional as Fn
from staner_lab.config import REGIONS
from staner_lab.models.staner import STANER

__all__ = ["DEAD_FRACTION", "HealthReport", "RegionHealth", "SGAERHealth", "dead_regions", "flat_row",
           "format_report", "health_report", "region_rows"]

#: A part whose fraction of dead units reaches this, or whose features have a std below
#: ``MIN_SCALE``, is reported dead; so is a region whose input drive is below ``MIN_DRIVE`` (its
#: gates then move by less than about 0.25 * 0.1 = 0.025 whatever the input).
DEAD_FRACTION = 0.95
MIN_SCALE = 1e-4
MIN_DRIVE = 0.1
_SATURATED = 0.05  # a gate value below this or above 1 - this is saturated


@dataclass(frozen=True)
class RegionHealth:
    """One region's C-LSTM on a batch (see the module docstring for each number)."""

    region: str
    feature_scale: float  # std of x_t (B, T, D)
    dead_fraction: float  # CNN output units that are 0 for every sample and frame
    input_drive: float  # std over samples and frames of W x_t, mean over gate rows
    hidden_scale: float  # std of h_t
    gate_saturation: dict[str, float]  # f, i, o -> fraction outside [0.05, 0.95]
    gate_mean: dict[str, float]  # f, i, o -> mean value
    gate_spread: dict[str, float]  # f, i, o -> std over t of the mean gate
    grad_norm: float | None  # CNN + LSTM parameters of this region

    @property
    def dead(self) -> bool:
        return (self.dead_fraction >= DEAD_FRACTION or self.feature_scale < MIN_SCALE
                or self.input_drive < MIN_DRIVE)


@dataclass(frozen=True)
class SGAERHealth:
    """The spatial branch on a batch."""

    U_scale: float
    U_dead_fraction: float
    M_min: float | None  # None without attention
    M_max: float | None
    M_spatial_std: float | None  # std of M over positions, averaged over the batch
    attention_dead_fraction: float | None  # hidden units of the spatial attention module that never fire
    flat_M_shift: float | None  # total variation between P_G and P_G under each face's mean M
    F_G_scale: float
    F_G_dead_fraction: float
    logit_spread: float  # std over the batch of each class score, mean over classes
    grad_norm_frontend: float | None
    grad_norm_attention: float | None
    grad_norm_head: float | None

    @property
    def dead(self) -> bool:
        return self.U_dead_fraction >= DEAD_FRACTION or self.U_scale < MIN_SCALE


@dataclass(frozen=True)
class HealthReport:
    """Everything :func:`health_report` measured; ``None`` for a branch the variant lacks."""

    sgaer: SGAERHealth | None
    regions: dict[str, RegionHealth]
    F_L_scale: float | None
    F_L_dead_fraction: float | None
    grad_norm_tler_head: float | None
    loss: float
    batch_size: int

    def to_dict(self) -> dict:
        return asdict(self)


def _std(x: Tensor) -> float:
    return float(x.detach().float().std()) if x.numel() > 1 else 0.0


def _dead_fraction(x: Tensor, unit_dims: int = 1) -> float:
    """Fraction of units (the last ``unit_dims`` dims) that are <= 0 everywhere else."""
    x = x.detach().float()
    flat = x.reshape(-1, *x.shape[x.dim() - unit_dims:]).flatten(1)  # (samples, units)
    return float((flat.amax(dim=0) <= 0).float().mean())


def _input_drive(x: Tensor, W: Tensor) -> float:
    """Std over samples and frames of W x_t (B, T, 4N), averaged over the 4N rows."""
    drive = x.detach().float().flatten(0, 1) @ W.detach().float().T  # (B*T, 4N)
    return float(drive.std(dim=0).mean()) if drive.shape[0] > 1 else 0.0


def _grad_norm(params) -> float | None:
    grads = [p.grad.detach().float().norm() ** 2 for p in params if p.grad is not None]
    return math.sqrt(float(sum(grads))) if grads else None


def health_report(model: STANER, peak: Tensor | None, regions: dict[str, Tensor] | None,
                  labels: Tensor) -> HealthReport:
    """Measure ``model`` on one batch: activations in eval mode, gradients of Eq. 15.

    One pass: the loss is taken from ``forward_intermediates`` itself (the explicit LSTM has the
    fused one's parameters and gradients), so measuring costs one forward and one backward.
    The model's train/eval mode and its parameters' ``.grad`` are restored afterwards, so this can
    run in the middle of training.
    """
    was_training = model.training
    saved = {p: (None if p.grad is None else p.grad.clone()) for p in model.parameters()}
    try:
        model.eval()
        model.zero_grad(set_to_none=True)
        with torch.enable_grad():
            it = model.forward_intermediates(peak, regions)
            loss = model.loss(it.output(), labels)
            loss.backward()
        return _report(model, it, float(loss.detach()), int(labels.shape[0]))
    finally:
        for p, g in saved.items():
            p.grad = g
        model.train(was_training)


def _attention_dead_fraction(attention, U: Tensor) -> float | None:
    """Dead fraction of the spatial attention module's hidden channels on this batch (eval mode)."""
    scores = getattr(attention, "scores", None)
    if scores is None or not hasattr(scores, "conv3x3"):
        return None  # no attention, or the channel reading (a bottleneck on pooled U)
    with torch.no_grad():
        hidden = scores.relu(scores.norm(scores.conv3x3(U.detach())))
    return _dead_fraction(hidden.transpose(1, -1))  # units = channels


def _flat_attention_shift(sgaer, U: Tensor, M: Tensor | None, P_G: Tensor) -> float | None:
    """Mean total variation between P_G and P_G when each face's M is flat at its own mean (eval mode)."""
    if M is None:
        return None
    with torch.no_grad():
        P_flat = Fn.softmax(sgaer.logits_with_map(U.detach(), Fn.flat_attention_map(M.detach())).float())
    return float(0.5 * (P_G.detach().float() - P_flat).abs().sum(dim=1).mean())


def _report(model: STANER, it, loss: float, batch_size: int) -> HealthReport:
    sgaer = None
    if it.sgaer is not None:
        g, s = it.sgaer, model.sgaer
        M = None if g.M is None else g.M.detach()
        sgaer = SGAERHealth(
            U_scale=_std(g.U), U_dead_fraction=_dead_fraction(g.U.transpose(1, -1)),  # units = channels
            M_min=None if M is None else float(M.min()), M_max=None if M is None else float(M.max()),
            M_spatial_std=None if M is None else float(M.flatten(1).std(dim=1).mean()),
            attention_dead_fraction=_attention_dead_fraction(s.attention, g.U),
            flat_M_shift=_flat_attention_shift(s, g.U, M, g.P_G),
            F_G_scale=_std(g.F_G), F_G_dead_fraction=_dead_fraction(g.F_G),
            logit_spread=float(g.logits.detach().float().std(dim=0).mean()) if g.logits.shape[0] > 1 else 0.0,
            grad_norm_frontend=_grad_norm(s.frontend.parameters()),
            grad_norm_attention=_grad_norm(s.attention.parameters()) if s.attention is not None else None,
            grad_norm_head=_grad_norm(p for n, p in s.named_parameters()
                                      if not n.startswith(("frontend.", "attention."))),
        )
    regions: dict[str, RegionHealth] = {}
    F_L_scale = F_L_dead = tler_head = None
    if it.tler is not None:
        for r in REGIONS:
            ri = it.tler.regions[r]
            gates = {"f": ri.f.detach(), "i": ri.i.detach(), "o": ri.o.detach()}
            regions[r] = RegionHealth(
                region=r, feature_scale=_std(ri.features), dead_fraction=_dead_fraction(ri.features),
                input_drive=_input_drive(ri.features, model.tler.clstm[r].lstm_weights()[0]),
                hidden_scale=_std(ri.h),
                gate_saturation={k: float(((v < _SATURATED) | (v > 1 - _SATURATED)).float().mean())
                                 for k, v in gates.items()},
                gate_mean={k: float(v.mean()) for k, v in gates.items()},
                gate_spread={k: float(v.mean(dim=(0, 2)).std()) if v.shape[1] > 1 else 0.0
                             for k, v in gates.items()},
                grad_norm=_grad_norm(model.tler.clstm[r].parameters()),
            )
        F_L_scale, F_L_dead = _std(it.tler.F_L), _dead_fraction(it.tler.F_L)
        tler_head = _grad_norm(p for n, p in model.tler.named_parameters() if not n.startswith("clstm."))
    return HealthReport(sgaer=sgaer, regions=regions, F_L_scale=F_L_scale, F_L_dead_fraction=F_L_dead,
                        grad_norm_tler_head=tler_head, loss=loss, batch_size=batch_size)


def dead_regions(report: HealthReport) -> list[str]:
    """Names of the regions whose C-LSTM gets (almost) no signal."""
    return [r for r, h in report.regions.items() if h.dead]


def flat_row(report: HealthReport) -> dict[str, float]:
    """One flat row of the most telling numbers (for ``RUN/health.csv``); missing values are NaN."""
    nan = float("nan")
    row: dict[str, float] = {"loss": report.loss}
    s = report.sgaer
    row["sgaer_U_scale"] = s.U_scale if s else nan
    row["sgaer_U_dead"] = s.U_dead_fraction if s else nan
    row["sgaer_M_min"] = s.M_min if s and s.M_min is not None else nan
    row["sgaer_M_max"] = s.M_max if s and s.M_max is not None else nan
    row["sgaer_attention_dead"] = s.attention_dead_fraction if s and s.attention_dead_fraction is not None else nan
    row["sgaer_flat_M_shift"] = s.flat_M_shift if s and s.flat_M_shift is not None else nan
    row["sgaer_F_G_scale"] = s.F_G_scale if s else nan
    row["sgaer_logit_spread"] = s.logit_spread if s else nan
    row["sgaer_grad"] = (s.grad_norm_frontend or 0.0) if s else nan
    for r in REGIONS:
        h = report.regions.get(r)
        row[f"{r}_feature_scale"] = h.feature_scale if h else nan
        row[f"{r}_dead"] = h.dead_fraction if h else nan
        row[f"{r}_drive"] = h.input_drive if h else nan
        row[f"{r}_f_spread"] = h.gate_spread["f"] if h else nan
        row[f"{r}_saturation"] = (sum(h.gate_saturation.values()) / 3) if h else nan
        row[f"{r}_grad"] = (h.grad_norm or 0.0) if h else nan
    return row


def _trio(values: dict[str, float], pattern: str) -> str:
    return "/".join(pattern.format(values[k]) for k in "fio")


def region_rows(report: HealthReport) -> list[dict[str, object]]:
    """One row per region (for a table in the app or a notebook)."""
    return [{"region": r, "x_t scale": round(h.feature_scale, 4), "dead units": f"{h.dead_fraction:.0%}",
             "input drive": round(h.input_drive, 4), "gate mean f/i/o": _trio(h.gate_mean, "{:.2f}"),
             "saturated f/i/o": _trio(h.gate_saturation, "{:.0%}"),
             "spread over t f/i/o": _trio(h.gate_spread, "{:.3f}"),
             "gradient norm": None if h.grad_norm is None else round(h.grad_norm, 4),
             "verdict": "DEAD" if h.dead else "alive"} for r, h in report.regions.items()]


def _fmt(v: float | None, pattern: str = "{:.3g}") -> str:
    return "-" if v is None else pattern.format(v)


def format_report(report: HealthReport) -> str:
    """A plain-text table of the report, with DEAD marks and a one-line verdict."""
    lines = [f"training health on {report.batch_size} sequences: joint loss {report.loss:.3f}"]
    s = report.sgaer
    if s is not None:
        lines += ["", "SGAER (peak face)",
                  f"  U: scale {_fmt(s.U_scale)}, dead channels {s.U_dead_fraction:.0%}"
                  + ("   DEAD" if s.dead else ""),
                  "  M: " + ("no attention (C1/C4)" if s.M_min is None else
                             f"range {s.M_min:.2f}-{s.M_max:.2f}, spread over positions {s.M_spatial_std:.3f}"
                             + ("" if s.attention_dead_fraction is None else
                                f", dead hidden units {s.attention_dead_fraction:.0%}")
                             + ("" if s.flat_M_shift is None else
                                f"; P_G moves {s.flat_M_shift:.3f} when M is made flat")),
                  (f"  F_G: scale {_fmt(s.F_G_scale)}, dead units {s.F_G_dead_fraction:.0%}; "
                   f"class scores' spread over faces {_fmt(s.logit_spread)}"),
                  (f"  gradient norms: front end {_fmt(s.grad_norm_frontend)}, attention "
                   f"{_fmt(s.grad_norm_attention)}, head {_fmt(s.grad_norm_head)}")]
    if report.regions:
        lines += ["", "TLER (region sequences)",
                  (f"  {'region':<7}{'x_t scale':>10}{'dead':>7}{'drive':>8}{'h scale':>9}   {'gate mean f/i/o':<17}"
                   f"{'saturated f/i/o':<17}{'spread over t f/i/o':<21}{'grad':>8}")]
        for r, h in report.regions.items():
            lines.append(f"  {r:<7}{_fmt(h.feature_scale):>10}{h.dead_fraction:>7.0%}{_fmt(h.input_drive):>8}"
                         f"{_fmt(h.hidden_scale):>9}   "
                         f"{_trio(h.gate_mean, '{:.2f}'):<17}{_trio(h.gate_saturation, '{:.0%}'):<17}"
                         f"{_trio(h.gate_spread, '{:.3f}'):<21}{_fmt(h.grad_norm):>8}"
                         + ("   DEAD" if h.dead else ""))
        lines.append(f"  F_L: scale {_fmt(report.F_L_scale)}, dead units {report.F_L_dead_fraction:.0%}; "
                     f"head gradient norm {_fmt(report.grad_norm_tler_head)}")
    dead = dead_regions(report) + (["SGAER"] if s is not None and s.dead else [])
    lines += ["", "verdict: " + (f"dead: {', '.join(dead)}" if dead else "every part passes a signal")]
    return "\n".join(lines)
