"""Training from small named functions: ``lr_at``, ``make_optimizer``, ``train_one_epoch``,
``predict``, ``fit``.

Reproducibility and resume: every random draw of epoch ``e`` (dropout, shuffling, flips) comes from
seeds derived from ``(TrainConfig.seed, e)``, and the optimizer state is saved with the weights at the
end of every epoch (atomically, ``RUN/last.pt``). So a run killed after epoch ``e`` and resumed
continues exactly where it stopped and ends with the same weights as an uninterrupted run (on the
same device; ``tests/training/test_train.py`` checks it bit for bit on the CPU).
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from staner_lab import functional as Fn
from staner_lab.atomic import atomic_write_text
from staner_lab.config import TrainConfig
from staner_lab.data.dataset import StanerDataset, class_weights, collate, make_loader
from staner_lab.device import autocast, prepare_model
from staner_lab.models.staner import STANER
from staner_lab.training.checkpoint import load_checkpoint, read_train_config, save_checkpoint
from staner_lab.training.health import flat_row, health_report

__all__ = [
    "METRIC_FIELDS",
    "FitResult",
    "Predictions",
    "atomic_write_text",
    "epoch_seed",
    "fit",
    "lr_at",
    "make_optimizer",
    "predict",
    "train_one_epoch",
]

METRIC_FIELDS = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of everything random in one epoch: a pure function of (seed, epoch)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def lr_at(epoch: int, cfg: TrainConfig) -> float:
    """The learning rate of ``epoch`` (0-based).

    "step" (the paper's): ``cfg.lr`` before ``cfg.lr_drop_epoch``, ``cfg.lr_after`` from it on.
    "cosine": from ``cfg.lr`` at epoch 0 down to ``cfg.lr_after`` at the last epoch along a half cosine.
    """
    if cfg.schedule == "cosine":
        progress = epoch / max(cfg.epochs - 1, 1)
        return cfg.lr_after + 0.5 * (cfg.lr - cfg.lr_after) * (1 + math.cos(math.pi * progress))
    return cfg.lr if epoch < cfg.lr_drop_epoch else cfg.lr_after


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam with weight decay (the paper names no optimizer; SGD with momentum at the preset's learning
    rate measured 29 points lower on real faces and was retired: docs/training.md)."""
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def _to_device(batch: dict[str, Any], device: torch.device) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    peak = batch["peak"].to(device, non_blocking=True)
    regions = {r: x.to(device, non_blocking=True) for r, x in batch["regions"].items()}
    return peak, regions, batch["label"].to(device, non_blocking=True)


def _smoothed(labels: torch.Tensor, num_classes: int, eps: float) -> torch.Tensor:
    """Class indices as they are (eps 0), or as smoothed target distributions (B, K)."""
    if not eps:
        return labels
    return torch.nn.functional.one_hot(labels.long(), num_classes).float() * (1 - eps) + eps / num_classes


def train_one_epoch(model: STANER, loader, optimizer: torch.optim.Optimizer, device: torch.device,
                    amp: bool = True, scaler: torch.amp.GradScaler | None = None,
                    progress: tqdm | None = None, grad_clip: float | None = None,
                    class_weights: torch.Tensor | None = None,
                    label_smoothing: float = 0.0) -> tuple[float, float]:
    """One pass over ``loader`` with the joint loss (Eq. 15). Returns (mean loss, accuracy).

    ``grad_clip``: clip the gradient norm over all parameters to this before each step (None: no
    clipping).
    ``class_weights``: (K,) per-class loss weights (None: the paper's unweighted loss).
    ``label_smoothing``: train each branch towards (1 - ε) on the true class and ε / K on every class
    (Szegedy et al. 2016) instead of the one-hot y of Eq. 4 / 13 (0: the paper's).
    """
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for batch in loader:
        peak, regions, labels = _to_device(batch, device)
        with autocast(device, amp):
            out = model(peak, regions)
            loss = model.loss(out, _smoothed(labels, model.config.num_classes, label_smoothing), class_weights)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(loss).backward()
            if grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
        n = labels.shape[0]
        total_loss += loss.item() * n
        correct += int((Fn.decision(out.P) == labels).sum())
        seen += n
        if progress is not None:
            progress.update(n)
            progress.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
    return total_loss / max(seen, 1), correct / max(seen, 1)


@dataclass(frozen=True)
class Predictions:
    """Per-sequence outputs on a dataset (numpy). ``P_G``/``P_L`` are None for a missing branch."""

    indices: np.ndarray  # (N,) dataset indices
    labels: np.ndarray  # (N,)
    P_G: np.ndarray | None  # (N, K)
    P_L: np.ndarray | None
    P: np.ndarray  # (N, K) fused at the model's alpha
    loss: float  # mean Eq. 15 loss

    @property
    def predicted(self) -> np.ndarray:
        return self.P.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        return float((self.predicted == self.labels).mean()) if len(self.labels) else float("nan")


@torch.no_grad()
def predict(model: STANER, loader, device: torch.device, amp: bool = True,
            alpha: float | None = None) -> Predictions:
    """Run the model in eval mode over ``loader`` and collect probabilities and the loss.

    ``alpha``: the fusion weight of Eq. 14 for P (default: the model's).
    """
    model.eval()
    idx, labels, pg, pl, p = [], [], [], [], []
    total_loss, seen = 0.0, 0
    for batch in loader:
        peak, regions, y = _to_device(batch, device)
        with autocast(device, amp):
            out = model(peak, regions, alpha=alpha)
            loss = model.loss(out, y)
        total_loss += loss.item() * y.shape[0]
        seen += y.shape[0]
        idx.append(batch["index"].numpy())
        labels.append(y.cpu().numpy())
        p.append(out.P.float().cpu().numpy())
        if out.P_G is not None:
            pg.append(out.P_G.float().cpu().numpy())
        if out.P_L is not None:
            pl.append(out.P_L.float().cpu().numpy())
    cat = (lambda xs: np.concatenate(xs) if xs else None)
    K = model.config.num_classes
    return Predictions(indices=cat(idx) if idx else np.zeros(0, int), labels=cat(labels) if labels else np.zeros(0, int),
                       P_G=cat(pg), P_L=cat(pl), P=cat(p) if p else np.zeros((0, K)),
                       loss=total_loss / max(seen, 1))


def _write_metrics(path: Path, history: list[dict[str, float]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, extrasaction="ignore")  # branch scores stay in last.pt
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(path, buf.getvalue())


def _best_epoch(history: list[dict[str, float]], branch: str = "") -> int | None:
    """The epoch with the highest val_acc, ties broken by the lowest val_loss, then the earliest;
    with ``branch`` "G" or "L", by that branch's own accuracy and negative log-likelihood."""
    acc, loss = ("val_acc", "val_loss") if not branch else (f"val_acc_{branch}", f"val_nll_{branch}")
    scored = [(row[acc], -row[loss], -row["epoch"]) for row in history if row.get(acc, math.nan) == row.get(acc)]
    return -int(max(scored)[2]) if scored else None


def _branch_scores(pred: Predictions) -> dict[str, float]:
    """Each branch's accuracy and mean -log P_y on a validation set (keys val_acc_G, val_nll_G, ...)."""
    scores = {}
    for key, P in (("G", pred.P_G), ("L", pred.P_L)):
        if P is not None and len(P):
            p_true = P[np.arange(len(P)), pred.labels]
            scores[f"val_acc_{key}"] = float((P.argmax(axis=1) == pred.labels).mean())
            scores[f"val_nll_{key}"] = float(-np.log(np.clip(p_true, 1e-12, None)).mean())
    return scores


_BRANCH_PREFIX = {"G": "sgaer.", "L": "tler."}


class _HealthLog:
    """health.csv: about ten rows per run, each measured on a fixed batch of training items (one pass
    costs about a sixth of an epoch of CK+ size); rows of earlier epochs are kept when resuming."""

    def __init__(self, path: Path, train_set: StanerDataset, epochs: int, start: int, size: int = 32) -> None:
        self.path, self.epochs = path, epochs
        self.every = max(1, epochs // 10)
        n = min(size, len(train_set))
        self.batch = collate([train_set[i] for i in range(n)]) if n else None
        self.rows: list[dict[str, float]] = []
        if start and path.exists():
            with path.open(newline="") as f:
                # a column added since the run started is empty in its earlier rows
                self.rows = [{k: float(v) if v else math.nan for k, v in row.items()} for row in csv.DictReader(f)
                             if int(float(row["epoch"])) < start]

    def log(self, model: STANER, device: torch.device, epoch: int) -> None:
        """Append this epoch's :func:`~staner_lab.training.health.flat_row` (atomic rewrite) when it is due."""
        if self.batch is None or not (epoch % self.every == 0 or epoch == self.epochs - 1):
            return
        peak, regions, labels = _to_device(self.batch, device)
        self.rows.append({"epoch": epoch, **flat_row(health_report(model, peak, regions, labels))})
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(self.rows[-1]))
        w.writeheader()
        w.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())


@dataclass(frozen=True)
class FitResult:
    model: STANER
    history: list[dict[str, float]]
    checkpoint: Path
    best_epoch: int | None = None  # with select_best: the epoch whose weights ``model`` holds
    best_epochs: dict[str, int] | None = None  # with per-branch selection: {"G": epoch, "L": epoch}


class _Selection:
    """Model selection on a validation set of training subjects: ``run_dir/best.pt`` holds the weights
    of the best epoch so far (val_acc, then the lowest val_loss), or with ``cfg.select == "per_branch"``
    each branch's weights from the epoch best for that branch."""

    def __init__(self, model: STANER, cfg: TrainConfig, run_dir: Path, start: int) -> None:
        self.path = run_dir / "best.pt"
        self.per_branch = cfg.select == "per_branch" and model.sgaer is not None and model.tler is not None
        resumed = self.per_branch and start and self.path.exists()
        self.best_state = load_checkpoint(self.path)["model"] if resumed else None

    def update(self, model: STANER, history: list[dict[str, float]]) -> None:
        epoch, row = history[-1]["epoch"], history[-1]
        if self.per_branch:
            improved = [b for b in _BRANCH_PREFIX if _best_epoch(history, b) == epoch]
            if improved:
                self.best_state = _merge_branches(self.best_state, model.state_dict(), improved)
                save_checkpoint(self.path, model, {"epochs": {b: _best_epoch(history, b) for b in _BRANCH_PREFIX}},
                                self.best_state)
        elif _best_epoch(history) == epoch:
            save_checkpoint(self.path, model, {"epoch": epoch, "val_acc": row["val_acc"], "val_loss": row["val_loss"]})

    def result(self, model: STANER, history: list[dict[str, float]], checkpoint: Path) -> FitResult:
        """``model`` with the selected weights loaded."""
        model.load_state_dict(load_checkpoint(self.path)["model"])
        if self.per_branch:
            return FitResult(model, history, checkpoint, best_epochs={b: _best_epoch(history, b) for b in _BRANCH_PREFIX})
        return FitResult(model, history, checkpoint, best_epoch=_best_epoch(history))


def _resume(ckpt_path: Path, model: STANER, optimizer: torch.optim.Optimizer, scaler, cfg: TrainConfig
            ) -> tuple[list[dict[str, float]], int]:
    """Load ``last.pt`` into the model, optimizer and scaler: (history so far, first epoch to train)."""
    if not ckpt_path.exists():
        return [], 0
    payload = load_checkpoint(ckpt_path)
    extra = payload["extra"]
    if read_train_config(extra["train_config"]) != cfg:
        raise ValueError(f"{ckpt_path} was written with another training config; "
                         "resume with the same options or start a new run folder")
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(extra["optimizer"])
    if "scaler" in extra:
        scaler.load_state_dict(extra["scaler"])
    return list(extra["history"]), int(extra["epoch"]) + 1


def _epoch(model: STANER, train_set: StanerDataset, val_set: StanerDataset | None, optimizer, scaler,
           cfg: TrainConfig, epoch: int, device: torch.device, amp: bool, bar, weights, num_workers: int
           ) -> dict[str, float]:
    """Train one epoch (every random draw seeded by ``(cfg.seed, epoch)``), then score ``val_set``."""
    t0 = time.perf_counter()
    seed = epoch_seed(cfg.seed, epoch)
    torch.manual_seed(seed)  # dropout
    for group in optimizer.param_groups:
        group["lr"] = lr_at(epoch, cfg)
    train_set.set_epoch(epoch)
    loader = make_loader(train_set, cfg.batch_size, shuffle=True, seed=seed, num_workers=num_workers)
    train_loss, train_acc = train_one_epoch(model, loader, optimizer, device, amp, scaler, bar, cfg.grad_clip,
                                            weights, cfg.label_smoothing)
    row = {"epoch": epoch, "lr": lr_at(epoch, cfg), "train_loss": train_loss, "train_acc": train_acc,
           "val_loss": float("nan"), "val_acc": float("nan")}
    if val_set is not None and len(val_set):
        pred = predict(model, make_loader(val_set, cfg.batch_size), device, amp)
        row.update(val_loss=pred.loss, val_acc=pred.accuracy, **_branch_scores(pred))
    row["seconds"] = time.perf_counter() - t0
    return row


def fit(model: STANER, train_set: StanerDataset, val_set: StanerDataset | None, cfg: TrainConfig,
        run_dir: str | Path, device: torch.device | str = "cpu", amp: bool = True, resume: bool = False,
        progress: bool = True, num_workers: int = 0,
        on_epoch: Callable[[dict[str, float]], None] | None = None, select_best: bool = False) -> FitResult:
    """Train ``model`` for ``cfg.epochs`` epochs, checkpointing ``run_dir/last.pt`` after each.

    Args:
        model: a freshly built STANER (its initial weights come from the caller's seed).
        train_set, val_set: datasets; ``val_set`` may be None or empty.
        cfg: hyper-parameters.
        run_dir: folder for ``last.pt``, ``metrics.csv`` and ``health.csv``.
        device: "cpu" or "cuda"; autocast and a GradScaler (fp16 only) on CUDA when ``amp``.
        resume: continue from ``run_dir/last.pt`` if it exists.
        progress: show a tqdm bar with live loss and accuracy.
        on_epoch: called with each epoch's metrics row (e.g. live plots; raise to stop).
        select_best: model selection on ``val_set`` (which must then be subjects of the training
            data, never the test fold): keep ``run_dir/best.pt`` of the epoch with the highest
            val_acc (then the lowest val_loss) and return the model with those weights.
    """
    run_dir, device = Path(run_dir), torch.device(device)
    if select_best and (val_set is None or not len(val_set)):
        raise ValueError("select_best needs a non-empty validation set of training subjects")
    prepare_model(model, device)  # on CUDA: channels_last weights for the convolutions
    optimizer = make_optimizer(model, cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and amp and not torch.cuda.is_bf16_supported())
    ckpt_path = run_dir / "last.pt"
    history, start = _resume(ckpt_path, model, optimizer, scaler, cfg) if resume else ([], 0)
    weights = (class_weights(train_set.labels, model.config.num_classes).to(device)
               if cfg.class_balance == "loss" else None)
    selection = _Selection(model, cfg, run_dir, start) if select_best else None
    health = _HealthLog(run_dir / "health.csv", train_set, cfg.epochs, start)
    bar = tqdm(total=len(train_set) * (cfg.epochs - start), disable=not progress, unit="seq",
               desc=f"train {run_dir.name}", leave=False)
    for epoch in range(start, cfg.epochs):
        row = _epoch(model, train_set, val_set, optimizer, scaler, cfg, epoch, device, amp, bar, weights, num_workers)
        history.append(row)
        extra = {"epoch": epoch, "optimizer": optimizer.state_dict(), "history": history,
                 "train_config": cfg.to_json()}
        if scaler.is_enabled():
            extra["scaler"] = scaler.state_dict()
        save_checkpoint(ckpt_path, model, extra)
        _write_metrics(run_dir / "metrics.csv", history)
        health.log(model, device, epoch)
        if selection is not None:
            selection.update(model, history)
        bar.set_description(f"train {run_dir.name} epoch {epoch + 1}/{cfg.epochs} val_acc {row['val_acc']:.3f}")
        if on_epoch is not None:
            on_epoch(row)
    bar.close()
    if selection is None:
        return FitResult(model=model, history=history, checkpoint=ckpt_path)
    return selection.result(model, history, ckpt_path)


def _merge_branches(best: dict | None, now: dict, branches: list[str]) -> dict:
    """``best`` with the entries of ``branches`` ("G": sgaer.*, "L": tler.*) taken from ``now``."""
    if best is None:
        return {k: v.detach().clone() for k, v in now.items()}
    prefixes = tuple(_BRANCH_PREFIX[b] for b in branches)
    return {k: (now[k].detach().clone() if k.startswith(prefixes) else v) for k, v in best.items()}
