"""Who runs the grid of ``cv`` / ``ablate``: every (variant, seed, fold) is one :class:`FoldRun`.

- :class:`LocalExecutor` (the default): one run after another in this process.
- :class:`ProcessExecutor`: the runs side by side on this machine, one spawned process per run, each
  with its own torch threads (no Ray needed): one training keeps about one core busy on a small model, so two
  one-thread runs on a 2-core laptop finish the grid sooner than one two-thread run at a time.
- :class:`RayExecutor`: one Ray task per run, with ``cpus_per_run`` / ``gpus_per_run`` resources, on a
  local Ray instance or an existing cluster (``address``). Ray is optional (``pip install -e .[cluster]``).

Each is an :class:`Executor`: it returns the fold results in the order of the runs, and
:mod:`staner_lab.training.protocol` writes the same files from them (results.json, metrics.csv,
confusion, table1), so they are interchangeable. A run itself is :func:`staner_lab.training.fold.run_attempt`.

Nothing is lost when a worker dies: a run writes ``fold_K/last.pt`` after every epoch into the run
folder (which must be shared by every node), and a task always resumes from it, so Ray's retry of a
failed task (``max_retries``; a killed worker or a lost node) continues where the run stopped, to the
same weights. ``fold_K/attempts.json`` lists every attempt (process, host, first epoch it trained).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any, Protocol

import torch

from staner_lab.data.records import Sample
from staner_lab.device import resolve_device
from staner_lab.training.fold import FoldRun, RunOptions, run_attempt

__all__ = ["Executor", "LocalExecutor", "ProcessExecutor", "RayExecutor", "import_ray", "start_local_ray"]


class Executor(Protocol):
    """Who runs the grid: the fold results in the order of ``runs`` (each also in its fold's result.json)."""

    name: str

    def run(self, runs: Sequence[FoldRun], samples: Sequence[Sample], options: RunOptions) -> list[dict[str, Any]]:
        ...


def _unfinished(runs: Sequence[FoldRun], resume: bool, progress: bool) -> tuple[list[dict[str, Any] | None], list[int]]:
    """(results, todo) of an executor that runs side by side: with ``resume`` the results of the runs
    already finished (None for the others), and the indices of the runs still to do."""
    results: list[dict[str, Any] | None] = [run.finished() if resume else None for run in runs]
    todo = [i for i, r in enumerate(results) if r is None]
    if progress and len(todo) < len(runs):
        print(f"--resume: {len(runs) - len(todo)} of {len(runs)} runs already finished, skipped")
    return results, todo


def _epochs_logged(run: FoldRun) -> int:
    """Epochs a run has finished, read from the fold's metrics.csv (one row per epoch)."""
    if (run.fold_dir / "result.json").is_file():
        return run.train_cfg.epochs
    try:
        with (run.fold_dir / "metrics.csv").open() as f:
            return max(0, sum(1 for _ in f) - 1)
    except OSError:
        return 0


class _GridProgress:
    """One progress bar over the epochs of the runs that train in other processes: each run writes its
    fold's metrics.csv after every epoch, and the bar counts the rows of the running ones (no channel a
    dead process could block). Disabled, it prints and reads nothing."""

    def __init__(self, runs: Sequence[FoldRun], processes: int, threads: int, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.enabled = enabled
        # epochs done per run (a resumed run starts from its last epoch); only running runs are re-read
        self.epochs = {r.fold_dir: _epochs_logged(r) for r in runs} if enabled else {}
        self.bar = tqdm(total=sum(r.train_cfg.epochs for r in runs), initial=sum(self.epochs.values()),
                        unit="epoch", disable=not enabled,
                        desc=f"{len(runs)} runs, {min(processes, len(runs))} at a time")
        self.write(f"processes: {len(runs)} runs, {min(processes, len(runs))} at a time, {threads} torch "
                   "thread(s) each")

    def write(self, line: str) -> None:
        if self.enabled:
            self.bar.write(line)

    def update(self, running: Sequence[FoldRun], ended: Sequence[FoldRun] = ()) -> None:
        """Re-read the running runs and those that just ``ended``; redraw when a count moved."""
        if not self.enabled:
            return
        before = sum(self.epochs.values())
        for r in (*running, *ended):
            self.epochs[r.fold_dir] = _epochs_logged(r)
        if sum(self.epochs.values()) != before:
            self.bar.n = sum(self.epochs.values())
            self.bar.set_postfix_str(", ".join(f"{r.label} epoch {self.epochs[r.fold_dir]}/{r.train_cfg.epochs}"
                                               for r in running), refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


class LocalExecutor:
    """The runs one after another in this process (the default)."""

    name = "local"

    def run(self, runs: Sequence[FoldRun], samples: Sequence[Sample], options: RunOptions) -> list[dict[str, Any]]:
        results = []
        for run in runs:
            if options.progress:
                print(f"{run.label}: {len(run.train_idx)} train, {len(run.test_idx)} test sequences")
            results.append(run_attempt(run, samples, options))
        return results


def _end_with_parent(parent: int, every: float = 0.5) -> None:
    """End this process as soon as ``parent`` is gone: a ``cv`` that is killed (SIGTERM, or SIGKILL,
    which runs no cleanup) leaves no run training on in the background. What was written stays, so
    ``--resume`` continues from the last epoch."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _process_main(run: FoldRun, samples: Sequence[Sample], threads: int, options: RunOptions, errors,
                  parent: int | None = None) -> None:
    """The body of one run's process: its result is the fold's result.json; a failure goes to ``errors``;
    it ends with ``parent`` (the executor's process) when given."""
    if parent is not None:
        _end_with_parent(parent)
    torch.set_num_threads(threads)
    try:
        run_attempt(run, samples, dataclasses.replace(options, progress=False))
    except BaseException as exc:
        errors.send(f"{type(exc).__name__}: {str(exc)[-300:]}")
        raise


def _received(receive) -> str | None:
    """The run's error message, if its process sent one (a pipe at its end without one: None)."""
    try:
        return receive.recv() if receive.poll() else None
    except EOFError:
        return None
    finally:
        receive.close()


def _exit_reason(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


@dataclasses.dataclass
class ProcessExecutor:
    """The runs side by side on this machine: one spawned process per run (not forked: a forked torch
    can hang in its thread pool), at most ``processes`` at a time, ``threads`` torch threads each.

    A process per run, not a pool of workers: a run that fails or whose process is killed (the OOM
    killer) affects no other run, and nothing is shared that a dead process could leave locked. Each
    run's result is its fold's result.json. The failed runs are named at the end; like every executor,
    a run writes ``last.pt`` after every epoch, so ``--resume`` continues each from its last epoch.
    """

    processes: int = 2
    threads: int = 1
    name: str = dataclasses.field(default="processes", init=False)

    def __post_init__(self) -> None:
        if self.processes < 1 or self.threads < 1:
            raise ValueError(f"executor.processes and --cpus-per-run (threads) must be at least 1, not "
                             f"{self.processes} and {self.threads}")

    def run(self, runs: Sequence[FoldRun], samples: Sequence[Sample], options: RunOptions) -> list[dict[str, Any]]:
        results, todo = _unfinished(runs, options.resume, options.progress)
        if not todo:
            return results  # type: ignore[return-value]
        ctx = multiprocessing.get_context("spawn")
        data = list(samples)
        waiting, running, failed = list(todo), {}, []
        bar = _GridProgress([runs[i] for i in todo], self.processes, self.threads, options.progress)
        try:
            while waiting or running:
                while waiting and len(running) < self.processes:
                    i = waiting.pop(0)
                    receive, send = ctx.Pipe(duplex=False)  # one pipe per run: no lock a killed process holds
                    process = ctx.Process(target=_process_main, name=f"staner-run-{i}",
                                          args=(runs[i], data, self.threads, options, send, os.getpid()))
                    process.start()
                    send.close()
                    running[i] = (process, receive)
                # wake on a run's end, or every second to count the epochs of the running ones
                ended = multiprocessing.connection.wait([p.sentinel for p, _ in running.values()],
                                                        timeout=1.0 if options.progress else None)
                just_ended = [i for i, (p, _) in running.items() if p.sentinel in ended]
                for i in just_ended:
                    process, receive = running.pop(i)
                    process.join()
                    error = _received(receive)
                    results[i] = runs[i].finished() if process.exitcode == 0 else None
                    if results[i] is None:
                        failed.append(f"{runs[i].label} in {runs[i].fold_dir}: "
                                      f"{error or _exit_reason(process)}")
                        bar.write(f"{runs[i].label}: failed")
                    else:
                        bar.write(f"{runs[i].label}: accuracy "  # type: ignore[index]
                                  f"{results[i]['accuracy']:.4f}")
                bar.update([runs[i] for i in running], [runs[i] for i in just_ended])
        finally:  # Ctrl-C or an error here: no run keeps training in the background
            for process, _ in running.values():
                process.terminate()
                process.join()
            bar.close()
        if failed:
            raise RuntimeError(f"{len(failed)} run(s) failed (the finished runs are kept: fix the cause and rerun "
                               "with --resume; each run continues from its last epoch):\n  " + "\n  ".join(failed))
        return results  # type: ignore[return-value]


def _ray_task(samples: Sequence[Sample], run: FoldRun, options: RunOptions, threads: int,
              gpus: float) -> dict[str, Any]:
    """The body of one Ray task: always resumes, so a retry continues from the last checkpoint."""
    torch.set_num_threads(threads)  # the task's CPUs; also makes CPU results equal to a 1-thread local run
    # the samples' arrays are read-only views of Ray's shared object store; the loader only reads them
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    device = "cpu" if options.device == "auto" and not gpus else str(resolve_device(options.device))  # no card: CPU
    return run_attempt(run, samples, dataclasses.replace(options, device=device, resume=True, progress=False))


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError("--executor ray needs Ray, an optional extra: pip install -e '.[cluster]' "
                           "(or pip install ray)") from exc
    return ray


def start_local_ray(tries: int = 3, **kwargs) -> None:
    """``ray.init`` of a local instance without the dashboard; tried again when it times out (Ray
    gives its raylet a fixed 30 s to register, which a loaded machine can miss)."""
    ray = import_ray()
    for attempt in range(tries):
        try:
            ray.init(include_dashboard=False, **kwargs)
            return
        except Exception as exc:
            if "timed out during startup" not in str(exc) or attempt == tries - 1:
                raise
            ray.shutdown()


@dataclasses.dataclass
class RayExecutor:
    """One Ray task per run.

    Args:
        address: an existing cluster ("auto", "HOST:PORT", "ray://HOST:10001"); None starts a local Ray
            instance on this machine for the call (unless Ray is already initialised in this process).
        gpus_per_run: GPUs each task reserves (fractions share a card); None: 1 when the cluster has
            GPUs and the device is not "cpu", else 0.
        cpus_per_run: CPUs each task reserves; also its number of torch threads.
        max_retries: how often a task that failed or lost its worker or node is run again (from its
            last checkpoint).
        num_cpus, num_gpus: resources of a local instance (None: what Ray detects).
    """

    address: str | None = None
    gpus_per_run: float | None = None
    cpus_per_run: float = 1
    max_retries: int = 3
    num_cpus: int | None = None
    num_gpus: int | None = None
    name: str = dataclasses.field(default="ray", init=False)

    def _connect(self, ray) -> bool:
        """Connect or start Ray; True when this call started it (and so shuts it down)."""
        if ray.is_initialized():
            return False
        if self.address:
            ray.init(address=self.address)
        else:
            start_local_ray(num_cpus=self.num_cpus, num_gpus=self.num_gpus)
        return True

    def _gpus(self, ray, device: str) -> float:
        if device == "cuda" and self.gpus_per_run == 0:
            raise ValueError("--device cuda with --set executor.gpus_per_run=0: every run needs a share of a card "
                             "(e.g. --set executor.gpus_per_run=0.5), or use --device cpu")
        have = ray.cluster_resources().get("GPU", 0)
        if device != "cpu" and self.gpus_per_run is None:
            if device == "cuda" and not have:
                raise RuntimeError("--device cuda, but the Ray cluster has no GPU: start it on GPU nodes, "
                                   "or use --device cpu")
            return 1.0 if have else 0.0
        gpus = float(self.gpus_per_run or 0)
        if gpus > have:
            raise RuntimeError(f"--set executor.gpus_per_run={gpus:g}, but the Ray cluster has {have:g} GPU(s)")
        return gpus

    def run(self, runs: Sequence[FoldRun], samples: Sequence[Sample], options: RunOptions) -> list[dict[str, Any]]:
        ray = import_ray()
        if self.cpus_per_run <= 0:
            raise ValueError(f"--cpus-per-run must be above 0, not {self.cpus_per_run:g}")
        results, todo = _unfinished(runs, options.resume, options.progress)
        if not todo:
            return results  # type: ignore[return-value]
        started = self._connect(ray)
        try:
            gpus = self._gpus(ray, options.device)
            task = ray.remote(_ray_task).options(num_cpus=self.cpus_per_run, num_gpus=gpus,
                                                 max_retries=self.max_retries, retry_exceptions=True)
            data = ray.put(list(samples))
            threads = max(1, int(self.cpus_per_run))
            pending = {task.remote(data, runs[i], options, threads, gpus): i for i in todo}
            if options.progress:
                print(f"ray: {len(pending)} runs submitted ({self.cpus_per_run:g} CPU, "
                      f"{gpus:g} GPU each; cluster {ray.cluster_resources()})")
            failed = []
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(ref)
                try:
                    results[i] = ray.get(ref)
                except ray.exceptions.RayError as exc:  # after max_retries; the other runs go on
                    failed.append(f"{runs[i].label} in {runs[i].fold_dir}: {type(exc).__name__}: {str(exc)[-300:]}")
                    continue
                if options.progress:
                    print(f"{runs[i].label}: accuracy {results[i]['accuracy']:.4f} "  # type: ignore[index]
                          f"({len(todo) - len(pending)}/{len(todo)} runs done)")
        finally:
            if started:
                ray.shutdown()
        if failed:
            raise RuntimeError(f"{len(failed)} run(s) failed after {self.max_retries} retries (the finished runs "
                               "are kept: fix the cause and rerun with --resume):\n  " + "\n  ".join(failed))
        return results  # type: ignore[return-value]
