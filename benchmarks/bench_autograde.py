"""How long ``nbgrader autograde`` takes for a class, on this machine, in fast mode (STANER_FAST=1).

Simulates a class from the course's own notebooks: half the students hand in the solutions, half the
untouched release copy (every check runs either way; a wrong answer costs about as much as a right
one). Prints, per notebook, the wall time of ``nbgrader autograde`` for the whole class and per student.

    python benchmarks/bench_autograde.py --notebooks 02 03 05 --students 40
    python benchmarks/bench_autograde.py --notebooks 02 --students 10 --unconfined   # without the sandbox

Each kernel runs in the grading sandbox of the shipped nbgrader_config.py
(staner_lab/teaching/sandbox.py); ``--unconfined`` starts kernels the plain way, to measure what the
sandbox costs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--notebooks", nargs="+", default=["02", "03", "05"], help="notebook numbers")
    p.add_argument("--students", type=int, default=40)
    p.add_argument("--unconfined", action="store_true", help="start kernels without the grading sandbox")
    args = p.parse_args()
    sources = {s.name[:2]: s.name for s in (ROOT / "notebooks" / "nbgrader" / "source").iterdir()}
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        shutil.copytree(ROOT / "notebooks" / "nbgrader", course, dirs_exist_ok=True)
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "STANER_FAST": "1",
               "OMP_NUM_THREADS": "1", "STANER_NOTEBOOK_RUNS": str(course / "runs")}

        def nbgrader(*a: str) -> None:
            subprocess.run([str(BIN / "nbgrader"), *a], cwd=course, env=env, check=True, capture_output=True)

        for number in args.notebooks:
            name = sources[number]
            nbgrader("generate_assignment", name, "--force")
            for k in range(args.students):
                kind = "source" if k % 2 == 0 else "release"
                folder = course / "submitted" / f"student{k:03d}" / name
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copy(course / kind / name / f"{name}.ipynb", folder / f"{name}.ipynb")
            plain = ["--ExecutePreprocessor.kernel_manager_class=jupyter_client.manager.AsyncKernelManager"]
            t0 = time.perf_counter()
            nbgrader("autograde", name, "--force", *(plain if args.unconfined else []))
            seconds = time.perf_counter() - t0
            how = "unconfined" if args.unconfined else "sandboxed"
            print(f"{name}: {args.students} students autograded ({how}) in {seconds / 60:.1f} min "
                  f"({seconds / args.students:.1f} s each)", flush=True)


if __name__ == "__main__":
    main()
