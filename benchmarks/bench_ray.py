"""Scaling of the grid on Ray, on this machine: the same small ablation grid (variants x seeds x folds,
classroom preset, random data) run by the local executor, then on a local Ray instance with 1 and
with 2 workers (num_cpus = workers; 1 CPU and 1 torch thread per run). Prints JSON: each wall time
(Ray's start not included, given apart), the time spent inside the runs, the speed-up of 2 workers
over 1, Ray's overhead per task with 1 worker (its wall time outside the runs minus the local
executor's, which writes the same files, over the tasks: worker processes, imports, moving the data,
scheduling) and the scheduler's round trip for an empty task.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_ray.py [--variants C1 STANER] [--seeds 0 1] [--folds 2]
       [--epochs 2] [--subjects 6] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import torch

from staner_lab.config import TrainConfig, preset
from staner_lab.data.records import Sample
from staner_lab.training.executors import RayExecutor, start_local_ray
from staner_lab.training.protocol import RunOptions, ablate


def random_samples(n_subjects: int) -> list[Sample]:
    rng = np.random.default_rng(0)
    inp = preset("classroom").inputs
    return [Sample(peak=rng.random((inp.face_size, inp.face_size), dtype=np.float32),
                   regions={r: rng.random((inp.frames, *hw), dtype=np.float32) for r, hw in inp.region_sizes.items()},
                   landmarks=np.zeros((inp.frames, 68, 2), np.float32), label=label, subject=f"S{s}",
                   sequence_id=f"S{s}/{label}") for s in range(n_subjects) for label in range(3)]


def in_task_seconds(run: Path) -> float:
    return sum(json.loads(p.read_text()).get("seconds", 0.0) for p in run.rglob("fold_*/result.json"))


@ray.remote(num_cpus=1)
def _noop() -> None:
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=["C1", "STANER"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--folds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--subjects", type=int, default=6)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    torch.set_num_threads(1)
    classes = ("a", "b", "c")
    cfg = preset("classroom", class_names=classes)
    tc = TrainConfig(epochs=args.epochs, batch_size=8, lr=1e-3, lr_drop_epoch=args.epochs, lr_after=1e-4)
    samples = random_samples(args.subjects)
    tasks = len(args.variants) * len(args.seeds) * args.folds
    out = {"cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2), "ray": ray.__version__,
           "grid": f"{len(args.variants)} variants x {len(args.seeds)} seeds x {args.folds} folds = {tasks} runs, "
                   f"{args.epochs} epochs, {len(samples)} sequences", "results": []}
    kw = {"variants": args.variants, "seeds": args.seeds, "options": RunOptions(progress=False), "data": "random"}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ablate(samples, classes, cfg, tc, args.folds, Path(tmp) / "local", **kw)
        local = time.perf_counter() - t0
        local_in = in_task_seconds(Path(tmp) / "local")
        out["results"].append({"executor": "local", "wall_s": round(local, 2), "in_task_s": round(local_in, 2)})
        for workers in args.workers:
            t0 = time.perf_counter()
            start_local_ray(num_cpus=workers, log_to_driver=False)
            start = time.perf_counter() - t0
            try:
                run = Path(tmp) / f"ray{workers}"
                t0 = time.perf_counter()
                ablate(samples, classes, cfg, tc, args.folds, run, executor=RayExecutor(cpus_per_run=1), **kw)
                wall = time.perf_counter() - t0
                ray.get([_noop.remote() for _ in range(20)])  # warm
                trips = []
                for _ in range(50):
                    t0 = time.perf_counter()
                    ray.get(_noop.remote())
                    trips.append(time.perf_counter() - t0)
            finally:
                ray.shutdown()
            tables_equal = (run / "table1.csv").read_text() == (Path(tmp) / "local" / "table1.csv").read_text()
            out["results"].append({"executor": "ray", "workers": workers, "ray_start_s": round(start, 2),
                                   "wall_s": round(wall, 2), "in_task_s": round(in_task_seconds(run), 2),
                                   **({"overhead_per_task_s": round(((wall - in_task_seconds(run))
                                                                      - (local - local_in)) / tasks, 3)}
                                      if workers == 1 else {}),
                                   "empty_task_round_trip_ms": round(1000 * statistics.median(trips), 2),
                                   "table1_equals_local": tables_equal})
    walls = {r["workers"]: r["wall_s"] for r in out["results"] if r["executor"] == "ray"}
    if 1 in walls and 2 in walls:
        out["speedup_2_over_1_workers"] = round(walls[1] / walls[2], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
