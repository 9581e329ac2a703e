"""``staner-lab train | cv | ablate | evaluate | health``: argparse wiring over :mod:`staner_lab.training.protocol`.

Registered by :func:`staner_lab.cli.build_parser` through :func:`add_training_parsers`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from staner_lab.config import (
    PRESETS,
    VARIANTS,
    PreprocessConfig,
    TrainConfig,
    ablation_config,
    parse_settings,
    train_preset,
    with_settings,
)

__all__ = ["add_training_parsers"]


def _add_data_args(p: argparse.ArgumentParser, data_required: bool = True) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", required=data_required, type=Path, metavar="DIR",
                   help="dataset folder: CK+, Oulu-CASIA, class folders, or the shipped data_samples/synthetic_ckplus")
    g.add_argument("--layout", choices=("auto", "ckplus", "oulu", "folders"), default="auto")
    g.add_argument("--cache", type=Path, default=None, metavar="DIR",
                   help="preprocessing cache (default: $STANER_CACHE or ~/.cache/staner-lab)")
    g.add_argument("--on-error", choices=("skip", "fail"), default="skip",
                   help="skip bad sequences and list them (default), or stop at the first")
    g.add_argument("--whole-frame-face", action="store_true",
                   help="frames are already cropped to the face: take the whole frame as the face box")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_train_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training (every default is the preset's: paper = Section 4.2 of the paper, "
                             "classroom = batch 16, lr 1e-3; docs/training.md)")
    g.add_argument("--preset", choices=sorted(PRESETS), default="classroom", help="model size (default classroom)")
    g.add_argument("--epochs", type=int, default=None, help="epochs (default 150; the lr drops tenfold at epoch "
                                                              "100, or at 2/3 of --epochs when fewer)")
    g.add_argument("--batch-size", type=int, default=None, help="batch size (paper 64, classroom 16)")
    g.add_argument("--lr", type=float, default=None, help="learning rate (paper 1e-4, classroom 1e-3)")
    g.add_argument("--augment", choices=("none", "geometric", "photometric", "both"), default=None,
                   help="augmentation on top of the flip: small shift/scale/rotation, lighting/noise/blur, "
                        "or both (default none; docs/training.md)")
    g.add_argument("--vgg-weights", type=Path, default=None, metavar="PTH",
                   help="start the VGG front end from a local torchvision vgg16 state dict (paper preset)")
    g.add_argument("--init", type=Path, default=None, metavar="CKPT",
                   help="start from this staner-lab checkpoint's weights (same preset, variant and architecture), "
                        "e.g. a model trained on the synthetic lab as pretraining for real faces")
    g.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="settings",
                   help="any other setting, by its dotted path (repeatable; docs/training.md lists them): model "
                        "fields as in the checkpoint's config (alpha=0.6, inputs.face_size=128, "
                        "sgaer.end_norm=none, tler.clstm.difference_input=false), training fields under train. "
                        "(train.label_smoothing=0.1, train.class_balance=sampler, train.select_fraction=0.2), "
                        "how runs are carried out under run. (run.amp=false, run.workers=2) and the executor's "
                        "under executor. (executor.processes=2, executor.address=auto) and preprocessing under prep. "
                        "(prep.upscale_below=96); checked like the options above")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    g.add_argument("--out", required=True, type=Path, metavar="RUN", help="run folder for checkpoints and results")
    g.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    g.add_argument("--overwrite", action="store_true", help="replace results already in --out")


def _train_config(args) -> TrainConfig:
    """The preset's training config with the options and ``--set train.*`` on top."""
    base = train_preset(args.preset)
    if args.augment is not None:
        base = dataclasses.replace(base, augment=base.augment.with_families(args.augment))
    epochs = base.epochs if args.epochs is None else args.epochs
    lr = base.lr if args.lr is None else args.lr
    batch = base.batch_size if args.batch_size is None else args.batch_size  # 0 is refused, not the default
    cfg = dataclasses.replace(base.with_epochs(epochs), batch_size=batch, lr=lr, lr_after=lr / 10, seed=args.seed,
                              vgg_weights=str(args.vgg_weights) if args.vgg_weights else None,
                              init=str(args.init) if args.init else None)
    return with_settings(cfg, _settings(args, "train"), prefix="train.", where="train")


def _load_data(args, config):
    from staner_lab.data.dataset import load_samples

    prep = with_settings(PreprocessConfig(whole_frame_face=args.whole_frame_face), _settings(args, "prep"),
                         prefix="prep.", where="prep")
    samples, class_names, report = load_samples(args.data, config.inputs, prep, layout=args.layout,
                                                cache_dir=args.cache, on_error=args.on_error,
                                                progress=not args.no_progress)
    if report.skipped:
        print(report.summary(10), file=sys.stderr)
    return samples, class_names


def _model_config(args, class_names=None, variant="STANER"):
    from staner_lab.config import preset

    cfg = with_settings(preset(args.preset, class_names), _settings(args, "model"))
    return ablation_config(cfg, variant)


def _settings(args, section: str) -> dict[str, str]:
    """``--set`` options of one section (config.parse_settings): "model", "train", "prep", "run" or "executor"."""
    return parse_settings(getattr(args, "settings", None) or [])[section]


def _device(args) -> str:
    from staner_lab.device import resolve_device

    return str(resolve_device(args.device))


def _add_executor_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("executor (docs/cluster.md)")
    g.add_argument("--executor", choices=("auto", "local", "processes", "ray"), default="auto",
                   help="auto (default): processes on a CPU with two or more cores, else local; local: the runs "
                        "one after another here; processes: side by side, one process per run on this machine "
                        "(--processes, --cpus-per-run); ray: one Ray task per (variant, seed, fold) run (needs "
                        "pip install -e '.[cluster]')")
    g.add_argument("--cpus-per-run", type=float, default=1, metavar="N",
                   help="with --executor ray or processes: CPUs each run reserves, also its torch threads "
                        "(default 1). The executor's other settings: --set executor.FIELD=VALUE (processes: "
                        "processes; ray: address, gpus_per_run, max_retries; docs/cluster.md)")


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _auto_executor(args) -> str:
    """``--executor auto``: on a CPU with two or more cores, several one-thread runs side by side finish
    the grid sooner than one run at a time with every thread (the classroom model's convolutions are too
    small to keep two threads busy: docs/training.md, "How long a run takes"); on a GPU, or for one
    run, one after another."""
    runs = args.folds * len(args.seeds or [args.seed]) * len(getattr(args, "variants", None) or [None])
    return "processes" if _device(args) == "cpu" and _cores() >= 2 and runs >= 2 else "local"


def _executor(args):
    """(executor, device), with ``--set executor.*`` checked against the chosen executor's fields; the
    Ray executor resolves the device "auto" on the node that runs each task."""
    if args.executor == "auto":
        args.executor = _auto_executor(args)
    settings = _settings(args, "executor")
    if args.executor == "local":
        if settings:
            raise ValueError(f"--set executor.{next(iter(settings))}: --executor local has no settings "
                             "(choose --executor processes or ray)")
        return None, _device(args)
    if args.executor == "processes":
        from staner_lab.training.executors import ProcessExecutor

        threads = int(args.cpus_per_run)
        if threads < 1 or threads != args.cpus_per_run:
            raise ValueError(f"--cpus-per-run {args.cpus_per_run:g}: with --executor processes give a whole "
                             "number of threads, at least 1")
        executor = ProcessExecutor(processes=max(1, _cores() // threads), threads=threads)
        return with_settings(executor, settings, prefix="executor.", where="executor"), _device(args)
    from staner_lab.training.executors import RayExecutor, import_ray

    import_ray()  # the clear error before any data is read
    if args.device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device {args.device}: with --executor ray use auto, cpu or cuda (Ray assigns the card)")
    return with_settings(RayExecutor(cpus_per_run=args.cpus_per_run), settings, prefix="executor.",
                         where="executor"), args.device


def _check_init(args, cfg) -> None:
    """--init's checkpoint must fit the model before any run starts."""
    if args.init is not None:
        from staner_lab.models import STANER
        from staner_lab.training.fold import start_from

        start_from(STANER(cfg), args.init)


def _run_options(args, device: str):
    from staner_lab.training.fold import RunOptions

    options = RunOptions(device=device, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    return with_settings(options, _settings(args, "run"), prefix="run.", where="run")


def _train(args) -> int:
    from staner_lab.training.protocol import train_run

    samples, class_names = _load_data(args, _model_config(args))
    cfg = _model_config(args, class_names, args.variant)
    _check_init(args, cfg)
    res = train_run(samples, class_names, cfg, _train_config(args), args.out, _run_options(args, _device(args)),
                    val_fraction=args.val_fraction, data=str(args.data))
    acc = res["held_out_accuracy"]
    print(f"trained {cfg.variant} ({cfg.preset}) -> {args.out / 'model.pt'}; "
          + (f"accuracy on {res['held_out_size']} held-out sequences ({len(res['held_out_subjects'])} subjects): "
             f"{100 * acc:.2f}%" if acc is not None else "no held-out subjects"))
    return 0


def _cv(args) -> int:
    from staner_lab.training.protocol import cross_validate
    from staner_lab.training.report import format_report

    executor, device = _executor(args)
    samples, class_names = _load_data(args, _model_config(args))
    cfg = _model_config(args, class_names, args.variant)
    _check_init(args, cfg)
    res = cross_validate(samples, class_names, cfg, _train_config(args), args.folds, args.out,
                         _run_options(args, device), data=str(args.data), seeds=args.seeds, executor=executor)
    over = f" over {len(res['seeds'])} seeds x {args.folds} folds" if len(res["seeds"]) > 1 else ""
    report = json.loads((args.out / "report.json").read_text())
    print(format_report(report) + "\n")
    print(f"{cfg.variant}: {args.folds}-fold subject-independent accuracy{over} "
          f"{100 * res['accuracy_mean']:.2f}% ± {100 * res['accuracy_std']:.2f} (mean ± std over folds) -> "
          f"{args.out / 'results.json'}, report.json, reliability.png")
    return 0


def _ablate(args) -> int:
    from staner_lab.training.protocol import ablate

    executor, device = _executor(args)
    samples, class_names = _load_data(args, _model_config(args))
    base = _model_config(args, class_names)
    for variant in args.variants:
        _check_init(args, ablation_config(base, variant))
    ablate(samples, class_names, base, _train_config(args), args.folds, args.out, _run_options(args, device),
           variants=args.variants, data=str(args.data), seeds=args.seeds, executor=executor)
    print((args.out / "table1.md").read_text())
    return 0


def _health_checkpoint(args) -> Path:
    if args.checkpoint is not None:
        return args.checkpoint
    for pattern in ("model.pt", "last.pt", "fold_0/last.pt", "seed_*/fold_0/last.pt"):
        found = sorted(args.run.glob(pattern))
        if found:
            return found[0]
    raise FileNotFoundError(f"{args.run} holds no model.pt, last.pt or fold_0/last.pt: is it a run folder "
                            "written by staner-lab train or cv?")


def _health(args) -> int:
    import csv

    from staner_lab.data.dataset import batch_tensors, load_samples
    from staner_lab.data.shipped import shipped_data_dir
    from staner_lab.training.checkpoint import load_model
    from staner_lab.training.health import format_report, health_report

    model = load_model(_health_checkpoint(args))
    data = args.data or shipped_data_dir()
    samples, class_names, _ = load_samples(data, model.config.inputs, PreprocessConfig(), progress=False)
    if tuple(class_names) != tuple(model.config.class_names):
        raise ValueError(f"the model was trained on classes {list(model.config.class_names)} but {data} has "
                         f"{list(class_names)}; pass --data with the same classes")
    report = health_report(model, *batch_tensors(samples[:args.batch]))
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
        return 0
    print(format_report(report))
    log = args.run / "health.csv" if args.run is not None else None
    if log is not None and log.is_file():
        with log.open(newline="") as f:
            rows = list(csv.DictReader(f))
        keys = [k for k in rows[0] if k.endswith(("_drive", "_f_spread")) or k in ("loss", "sgaer_M_max")]
        print(f"\nduring training ({log}):")
        for row in (rows[0], rows[len(rows) // 2], rows[-1]):
            print(f"  epoch {int(float(row['epoch'])):>3}: " + ", ".join(f"{k} {float(row[k]):.3g}" for k in keys))
    return 0


def _evaluate(args) -> int:
    from staner_lab.training.report import answer_report, answers_from_run, format_report, write_report

    if args.run is not None:
        if args.data is not None:
            raise ValueError("--run reports the test answers a cv run already holds; --data only goes with "
                             "--checkpoint")
        answers, what = answers_from_run(args.run), {"run": str(args.run)}
        title = args.run.name
    else:
        if args.data is None:
            raise ValueError("--checkpoint needs --data DIR: the sequences to evaluate it on")
        answers, what = _checkpoint_answers(args), {"checkpoint": str(args.checkpoint), "data": str(args.data)}
        title = f"{args.checkpoint.name} on {args.data.name}"
    report = write_report(args.out, answers, title, what) if args.out else {**what, **answer_report(answers)}
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    if args.out and not args.json:
        print(f"\nreport.json, reliability.png and confusion.png -> {args.out}")
    return 0


def _checkpoint_answers(args):
    from staner_lab.data.dataset import StanerDataset, make_loader
    from staner_lab.data.readers import read_dataset
    from staner_lab.training.checkpoint import load_model
    from staner_lab.training.loop import predict
    from staner_lab.training.report import answers_from_predictions

    model = load_model(args.checkpoint)
    class_names = read_dataset(args.data, args.layout, args.on_error)[1]
    if tuple(class_names) != tuple(model.config.class_names):
        raise ValueError(f"{args.checkpoint} was trained on classes {list(model.config.class_names)} but "
                         f"{args.data} has {list(class_names)}")
    samples, _ = _load_data(args, model.config)
    pred = predict(model, make_loader(StanerDataset(samples), 32), next(model.parameters()).device, amp=False)
    return answers_from_predictions(pred, class_names)


def _add_seeds_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", type=int, nargs="+", default=None, metavar="S",
                   help="repeat the whole k-fold protocol once per seed, each with its own folds and "
                        "initialisation (e.g. --seeds 0 1 2; results in RUN/seed_S/, mean ± std over all "
                        "seeds x folds); default: the one --seed")


def add_training_parsers(sub) -> None:
    """Add ``train``, ``cv``, ``ablate``, ``evaluate`` and ``health`` to the ``staner-lab`` subparsers."""
    train = sub.add_parser("train", help="train one model, holding out some subjects for validation",
                           description="Train STANER (or an ablation variant) on a dataset folder.")
    _add_data_args(train)
    _add_train_args(train)
    train.add_argument("--variant", choices=VARIANTS, default="STANER")
    train.add_argument("--val-fraction", type=float, default=0.2,
                       help="fraction of subjects held out for validation (default 0.2; 0 = none)")
    train.set_defaults(func=_train)

    cv = sub.add_parser("cv", help="subject-independent k-fold cross-validation (the paper's protocol)",
                        description="k-fold cross-validation with no subject in both train and test; writes "
                                    "RUN/results.json, metrics.csv and the confusion matrix (HTML, PNG).")
    _add_data_args(cv)
    _add_train_args(cv)
    cv.add_argument("--folds", type=int, default=10, help="number of folds (default 10)")
    cv.add_argument("--variant", choices=VARIANTS, default="STANER")
    _add_seeds_arg(cv)
    _add_executor_args(cv)
    cv.set_defaults(func=_cv)

    ab = sub.add_parser("ablate", help="Table 1: C1, C2, C3, C4 and STANER on the same folds",
                        description="Run the paper's ablation variants on the same subject-independent folds; "
                                    "writes RUN/table1.md and table1.csv (mean ± std accuracy, and each claim "
                                    "of the paper tested on fold pairs: C3 > C1, STANER > C2, STANER > C3, "
                                    "C4 > C1).")
    _add_data_args(ab)
    _add_train_args(ab)
    ab.add_argument("--folds", type=int, default=10, help="number of folds (default 10)")
    ab.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    _add_seeds_arg(ab)
    _add_executor_args(ab)
    ab.set_defaults(func=_ablate)

    ev = sub.add_parser("evaluate", help="how a checkpoint reads a dataset, or a cv run's test answers: per branch "
                                         "accuracy, per-class recall, NLL, calibration (ECE, reliability diagram)",
                        description="The answer report (staner_lab/training/report.py) of a checkpoint on a data "
                                    "folder (--checkpoint CKPT --data DIR) or of the pooled test answers of a cv "
                                    "run (--run RUN): for the fused P, SGAER's P_G and TLER's P_L, accuracy, "
                                    "per-class recall, NLL, expected calibration error and mean confidence when "
                                    "wrong. --out DIR also writes report.json, reliability.png and the confusion "
                                    "matrix (HTML, PNG).")
    what = ev.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", type=Path, help="a checkpoint (model.pt or last.pt); needs --data")
    what.add_argument("--run", type=Path, metavar="RUN", help="a cv run folder (or one variant's folder of ablate)")
    _add_data_args(ev, data_required=False)
    ev.add_argument("--out", type=Path, default=None, metavar="DIR",
                    help="also write report.json, reliability.png and confusion.html/.png into DIR")
    ev.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    ev.set_defaults(func=_evaluate)

    hp = sub.add_parser("health", help="training health of a checkpoint or run: dead regions, gates, attention, gradients",
                        description="Per branch and per region: feature scale, dead units, input drive, gate "
                                    "saturation and spread over time, the range of M and gradient norms, on up to "
                                    "--batch sequences (default: the shipped sample data). See "
                                    "staner_lab/training/health.py.")
    src = hp.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="a checkpoint (model.pt or last.pt)")
    src.add_argument("--run", type=Path, metavar="RUN", help="a run folder: its model.pt (or last.pt) and health.csv")
    hp.add_argument("--data", type=Path, default=None, metavar="DIR",
                    help="sequences to measure on (default: data_samples/synthetic_ckplus)")
    hp.add_argument("--batch", type=int, default=64, help="number of sequences (default 64)")
    hp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    hp.set_defaults(func=_health)
