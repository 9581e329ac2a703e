"""The paper's protocol (Section 4): one training run, subject-independent k-fold cross-validation,
and the ablation table (Table 1). Every result is written atomically into a run folder (the
writers live in :mod:`staner_lab.training.results`):

    RUN/results.json            per-fold accuracy and size, mean +- std, recall, confusion, config ...
    RUN/metrics.csv             per-epoch metrics of every fold (column "fold")
    RUN/confusion.html / .png   the summed confusion matrix (interactive / static)
    RUN/report.json, reliability.png   per branch: accuracy, per-class recall, NLL, calibration
                                (staner_lab.training.report, over the pooled test answers)
    RUN/fold_K/last.pt          checkpoint (resumable), fold_K/predictions.csv, fold_K/result.json
    RUN/table1.md / table1.csv  (ablate) C1-C4 and STANER, mean +- std accuracy, the paper's claims tested

With several seeds (``seeds=[0, 1, 2]``) each seed reruns the whole k-fold protocol with its own
folds (``subject_kfold(samples, k, seed)``) and its own initialisation, shuffling and flips, in
``RUN/seed_S/`` (itself a complete single-seed run folder: results.json, metrics.csv, fold_K/); RUN/
then holds the results over all seeds x folds. With one seed the layout is the one above.

One run (a model trained on one fold) is :mod:`staner_lab.training.fold`; the grid of (variant, seed,
fold) runs goes to an executor (:mod:`staner_lab.training.executors`): one after another in this
process by default, side by side in processes, or one Ray task per run; the files are the same.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from staner_lab.atomic import atomic_write_text
from staner_lab.config import VARIANTS, StanerConfig, TrainConfig, ablation_config
from staner_lab.data.records import Sample
from staner_lab.data.splits import subject_kfold
from staner_lab.metrics import accuracy_from_confusion, mean_std, per_class_recall
from staner_lab.models.staner import STANER
from staner_lab.training.checkpoint import load_checkpoint, save_checkpoint
from staner_lab.training.executors import Executor, LocalExecutor
from staner_lab.training.fold import FoldRun, RunOptions, holdout_split, run_fold
from staner_lab.training.results import prepare_run_dir, versions, write_combined_metrics, write_table1

__all__ = ["RunOptions", "ablate", "cross_validate", "train_run"]


def _check_seeds(seeds: Sequence[int] | None, default: int) -> list[int]:
    seeds = [default] if seeds is None else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("--seeds needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds lists a seed twice: {seeds}")
    return seeds


def _check_layout(out: Path, nested: bool, resume: bool) -> None:
    """Refuse to resume a one-seed run with several seeds or the other way round (the folders differ)."""
    if not resume:
        return
    flat = sorted(p.name for p in out.glob("fold_*") if p.is_dir())
    seeded = sorted(p.name for p in out.glob("seed_*") if p.is_dir())
    if nested and flat:
        raise ValueError(f"{out} holds a one-seed run ({flat[0]}/ ...); --resume with several --seeds would "
                         "start it again in seed_S/ folders: resume it with its one seed, or choose another --out")
    if not nested and seeded:
        raise ValueError(f"{out} holds a run over several seeds ({', '.join(seeded)}); resume it with the same "
                         "--seeds, or choose another --out")


def _cv_summary(class_names: Sequence[str], config: StanerConfig, train_cfg: TrainConfig, folds: int,
                per_seed: Sequence[tuple[int, list[dict[str, Any]]]], data: str, device: str,
                wall_time_s: float, executor: str) -> dict[str, Any]:
    """results.json of a CV run over the seeds in ``per_seed`` ((seed, fold results) pairs)."""
    every = [(s, k, f) for s, fold_results in per_seed for k, f in enumerate(fold_results)]
    cm = np.sum([np.array(f["confusion_matrix"]) for _, _, f in every], axis=0)
    mean, std = mean_std([f["accuracy"] for _, _, f in every])
    recall = per_class_recall(cm)
    seeds = [s for s, _ in per_seed]
    per_seed_summary = []
    for s, fold_results in per_seed:
        accs = [f["accuracy"] for f in fold_results]
        s_mean, s_std = mean_std(accs)
        s_cm = np.sum([np.array(f["confusion_matrix"]) for f in fold_results], axis=0)
        per_seed_summary.append({"seed": s, "accuracy_mean": s_mean, "accuracy_std": s_std,
                                 "pooled_accuracy": accuracy_from_confusion(s_cm), "fold_accuracies": accs})
    return {
        "variant": config.variant,
        "data": data,
        "class_names": list(class_names),
        "folds": [{"fold": k, "seed": s, "accuracy": f["accuracy"], "test_size": f["test_size"],
                   "train_size": f["train_size"], "test_subjects": f["test_subjects"],
                   "confusion_matrix": f["confusion_matrix"],
                   "alpha": f.get("alpha")} for s, k, f in every],  # α of Eq. 14 used on the fold
        "accuracy_mean": mean,
        "accuracy_std": std,
        "pooled_accuracy": accuracy_from_confusion(cm),
        "per_class_recall": {c: (None if np.isnan(r) else float(r)) for c, r in zip(class_names, recall)},
        "confusion_matrix": cm.tolist(),
        "config": config.to_dict(),
        "train_config": dataclasses.replace(train_cfg, seed=seeds[0]).to_dict(),
        "seed": seeds[0],
        "seeds": seeds,
        "folds_per_seed": folds,
        "per_seed": per_seed_summary,
        "versions": versions(),
        "device": ", ".join(sorted({str(f.get("device", device)) for _, _, f in every})),
        "executor": executor,
        "wall_time_s": wall_time_s,
    }


def _write_cv(out: Path, results: dict[str, Any], per_seed: Sequence[tuple[int, list[dict[str, Any]]]],
              class_names: Sequence[str], figures: bool, title: str) -> None:
    atomic_write_text(out / "results.json", json.dumps(results, indent=1))
    every = [(s, k, f) for s, fold_results in per_seed for k, f in enumerate(fold_results)]
    write_combined_metrics(out, [f for _, _, f in every], [(s, k) for s, k, _ in every] if len(per_seed) > 1 else None)
    if figures:
        from staner_lab.training.report import answers_from_run, write_report
        from staner_lab.viz import save_confusion_figures

        save_confusion_figures(np.array(results["confusion_matrix"]), class_names, out / "confusion", title=title)
        # each branch's accuracy, recall and calibration over the pooled test answers
        write_report(out, answers_from_run(out), title, {"run": str(out)}, confusion=False)


def _fold_runs(samples: Sequence[Sample], config: StanerConfig, train_cfg: TrainConfig, folds: int, out: Path,
               seeds: Sequence[int]) -> list[FoldRun]:
    """The runs of one variant: seeds x folds, each seed with its own folds (``subject_kfold``)."""
    nested = len(seeds) > 1
    runs = []
    for seed in seeds:
        seed_dir = out / f"seed_{seed}" if nested else out
        for k, (train_idx, test_idx) in enumerate(subject_kfold(samples, folds, seed)):
            runs.append(FoldRun(config.variant, seed, k, folds, config, dataclasses.replace(train_cfg, seed=seed),
                                np.asarray(train_idx), np.asarray(test_idx), seed_dir / f"fold_{k}", nested))
    return runs


def _write_variant(out: Path, runs: Sequence[FoldRun], fold_results: Sequence[dict[str, Any]],
                   class_names: Sequence[str], config: StanerConfig, train_cfg: TrainConfig, folds: int,
                   seeds: Sequence[int], data: str, device: str, figures: bool, wall_time_s: float | None,
                   executor: str) -> dict[str, Any]:
    """results.json, metrics.csv and the confusion figures of one variant (and of each of its seeds)."""
    per_seed = [(s, [f for r, f in zip(runs, fold_results) if r.seed == s]) for s in seeds]
    seconds = (lambda fs: float(sum(f.get("seconds", 0.0) for f in fs)))  # time spent in the runs
    if len(seeds) > 1:
        for seed, fs in per_seed:
            one = _cv_summary(class_names, config, dataclasses.replace(train_cfg, seed=seed), folds, [(seed, fs)],
                              data, device, seconds(fs), executor)
            _write_cv(out / f"seed_{seed}", one, [(seed, fs)], class_names, figures,
                      f"{config.variant}, seed {seed}: summed over {folds} folds")
    results = _cv_summary(class_names, config, train_cfg, folds, per_seed, data, device,
                          seconds(fold_results) if wall_time_s is None else wall_time_s, executor)
    _write_cv(out, results, per_seed, class_names, figures,
              f"{config.variant}: summed over {folds} folds" if len(seeds) == 1
              else f"{config.variant}: summed over {len(seeds)} seeds x {folds} folds")
    return results


def cross_validate(samples: Sequence[Sample], class_names: Sequence[str], config: StanerConfig,
                   train_cfg: TrainConfig, folds: int, out: str | Path, options: RunOptions = RunOptions(), *,
                   data: str = "", figures: bool = True, seeds: Sequence[int] | None = None,
                   executor: Executor | None = None) -> dict[str, Any]:
    """Subject-independent k-fold CV; writes and returns the results dict (see module docstring).

    ``seeds`` (default: ``[train_cfg.seed]``) repeats the whole protocol once per seed, each with its
    own folds and initialisation; with two or more the folds go to ``RUN/seed_S/fold_K/`` and
    ``accuracy_mean`` / ``accuracy_std`` are over all seeds x folds (``per_seed`` has each seed's).
    ``options``: device, resume, progress ... (:class:`~staner_lab.training.fold.RunOptions`).
    ``executor``: who runs the seeds x folds (default :class:`~staner_lab.training.executors.LocalExecutor`;
    or a ``ProcessExecutor`` or ``RayExecutor``).
    """
    seeds = _check_seeds(seeds, train_cfg.seed)
    executor = executor or LocalExecutor()
    out = prepare_run_dir(out, options.overwrite, options.resume).resolve()
    _check_layout(out, len(seeds) > 1, options.resume)
    t0 = time.perf_counter()
    runs = _fold_runs(samples, config, train_cfg, folds, out, seeds)
    fold_results = executor.run(runs, samples, options)
    return _write_variant(out, runs, fold_results, class_names, config, train_cfg, folds, seeds, data,
                          options.device, figures, time.perf_counter() - t0, executor.name)


def train_run(samples: Sequence[Sample], class_names: Sequence[str], config: StanerConfig,
              train_cfg: TrainConfig, out: str | Path, options: RunOptions = RunOptions(), *,
              val_fraction: float = 0.2, data: str = "") -> dict[str, Any]:
    """Train one model with ``val_fraction`` of the subjects held out; ``RUN/model.pt`` at the end."""
    out = prepare_run_dir(out, options.overwrite, options.resume)
    train_idx, val_idx = holdout_split(samples, val_fraction, train_cfg.seed) if val_fraction > 0 else (
        np.arange(len(samples)), np.zeros(0, int))
    result = run_fold(FoldRun(config.variant, train_cfg.seed, 0, 1, config, train_cfg, train_idx, val_idx, out),
                      samples, options)
    # model.pt: the final weights without the optimizer state (a third of last.pt's size); with model
    # selection (train_cfg.select_fraction), the selected epoch's weights
    final = load_checkpoint(out / "last.pt")
    model = STANER(dataclasses.replace(final["config"], alpha=float(result.get("alpha", final["config"].alpha))))
    extra = {k: final["extra"][k] for k in ("epoch", "history", "train_config")}
    if result.get("best_epoch") is not None or result.get("best_epochs"):
        model.load_state_dict(load_checkpoint(out / "best.pt")["model"])
        extra["epoch"] = result["best_epoch"] if result.get("best_epoch") is not None else result["best_epochs"]
    else:
        model.load_state_dict(final["model"])
    save_checkpoint(out / "model.pt", model, extra)
    summary = {"variant": config.variant, "data": data, "class_names": list(class_names),
               "held_out_accuracy": result["accuracy"] if len(val_idx) else None,
               "held_out_size": len(val_idx), "held_out_subjects": result["test_subjects"],
               "train_size": len(train_idx), "confusion_matrix": result["confusion_matrix"],
               "config": config.to_dict(), "train_config": train_cfg.to_dict(), "seed": train_cfg.seed,
               "versions": versions(), "device": str(options.device)}
    atomic_write_text(out / "results.json", json.dumps(summary, indent=1))
    return summary


def ablate(samples: Sequence[Sample], class_names: Sequence[str], base: StanerConfig,
           train_cfg: TrainConfig, folds: int, out: str | Path, options: RunOptions = RunOptions(), *,
           variants: Sequence[str] = VARIANTS, data: str = "", seeds: Sequence[int] | None = None,
           executor: Executor | None = None) -> list[dict[str, Any]]:
    """Table 1: every variant on the same subject-independent folds; writes table1.md and .csv.

    With ``seeds`` each variant is a multi-seed cross-validation in ``RUN/<variant>/`` (folds in
    ``RUN/<variant>/seed_S/fold_K/``); for a seed, every variant gets the same folds, so the claims of
    the paper are tested on fold pairs (:func:`staner_lab.training.results.table1_claims`). Each row
    also carries ``claims``: those in which its variant is the better side. The whole grid of
    variants x seeds x folds goes to ``executor`` at once (default: one after another, here).
    """
    seeds = _check_seeds(seeds, train_cfg.seed)
    executor = executor or LocalExecutor()
    out = prepare_run_dir(out, options.overwrite, options.resume).resolve()
    plan = []
    for variant in variants:
        cfg = ablation_config(base, variant)
        vdir = prepare_run_dir(out / variant, options.overwrite, options.resume)
        _check_layout(vdir, len(seeds) > 1, options.resume)
        plan.append((cfg, vdir, _fold_runs(samples, cfg, train_cfg, folds, vdir, seeds)))
    every = [run for _, _, runs in plan for run in runs]
    fold_results = dict(zip(map(id, every), executor.run(every, samples, options)))
    rows = []
    for cfg, vdir, runs in plan:
        res = _write_variant(vdir, runs, [fold_results[id(r)] for r in runs], class_names, cfg, train_cfg, folds,
                             seeds, data, options.device, True, None, executor.name)
        rows.append({"method": cfg.variant, "accuracy_mean": res["accuracy_mean"], "accuracy_std": res["accuracy_std"],
                     "folds": folds, "seeds": list(seeds), "fold_accuracies": [f["accuracy"] for f in res["folds"]],
                     "pairs": [[f["seed"], f["fold"]] for f in res["folds"]],
                     "test_sizes": [f["test_size"] for f in res["folds"]],
                     "train_sizes": [f["train_size"] for f in res["folds"]]})
    claims = write_table1(out, rows, folds, Path(data).name or "data")
    for row in rows:
        row["claims"] = [c for c in claims if c["better"] == row["method"]]
    return rows
