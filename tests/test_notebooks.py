"""The notebooks: built from their single source, stored without outputs, solutions kept apart, and
every one (student copy and solutions) executes top to bottom on a CPU in fast mode (STANER_FAST=1).

The kernel is this interpreter (a kernelspec written to a temporary JUPYTER_PATH), so the test needs
no ``ipykernel install`` and works in a fresh ``.venv`` made by ``scripts/setup``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
STUDENT = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
SOLUTION = sorted((NB_DIR / "solutions").glob("[0-9][0-9]_*.ipynb"))
OK, WRONG, NOT_DONE = "✅ correct", "❌ not quite", "⏳ not done yet"
TIMINGS: dict[str, float] = {}


def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", NB_DIR / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_eight_notebooks_in_both_sets():
    names = [p.name for p in STUDENT]
    assert names == [p.name for p in SOLUTION]
    assert [n[:2] for n in names] == [f"{k:02d}" for k in range(8)], names


def test_committed_notebooks_equal_the_generator_output():
    stale = [p.relative_to(ROOT).as_posix() for p, text in _builder().targets().items()
             if not p.is_file() or p.read_text(encoding="utf-8") != text]
    assert not stale, f"regenerate with: .venv/bin/python notebooks/build_notebooks.py ({stale})"


@pytest.mark.parametrize("path", STUDENT + SOLUTION, ids=lambda p: p.relative_to(NB_DIR).as_posix())
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (path.name, cell.source[:80])


@pytest.mark.parametrize("name", [p.name for p in STUDENT])
def test_student_copy_shows_no_solution(name):
    student = nbformat.read(NB_DIR / name, as_version=4)
    solution = nbformat.read(NB_DIR / "solutions" / name, as_version=4)
    student_text = "\n".join(c.source for c in student.cells)
    answers = [c for c in solution.cells if "solution" in c.metadata.get("tags", [])]
    exercises = [c for c in student.cells if "exercise" in c.metadata.get("tags", [])]
    assert len(answers) == len(exercises)
    for cell in answers:
        body = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.lstrip().startswith(("def ", '"""'))]
        assert not any(ln in student_text for ln in body if len(ln.strip()) > 12), (name, cell.source[:120])
    for cell in exercises:
        if cell.cell_type == "code":
            assert "NotImplementedError" in cell.source or re.search(r"=\s*\.\.\.", cell.source), cell.source


def test_student_copy_leaves_out_the_answers(tmp_path):
    builder = _builder()
    dest = tmp_path / "students"
    n = builder.student_copy(dest)
    assert n > 20
    assert (dest / "notebooks" / "02_sgaer_attention.ipynb").is_file()
    assert (dest / "staner_lab" / "teaching" / "exercises" / "__init__.py").is_file()
    for rel in builder.SOLUTION_PATHS:
        assert not (dest / rel).exists(), rel


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A kernelspec for this interpreter, fast budgets, and scratch folders for runs and caches."""
    base = tmp_path_factory.mktemp("nbkernel")
    spec = base / "jupyter" / "kernels" / "staner-lab-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "staner-lab tests", "language": "python"}))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(base / "jupyter"))
    mp.setenv("STANER_FAST", "1")
    mp.setenv("STANER_NOTEBOOK_RUNS", str(base / "runs"))
    mp.setenv("STANER_CACHE", str(base / "cache"))
    mp.setenv("MPLBACKEND", "Agg")
    # One math thread: on a shared 2-core machine, OpenMP threads that spin while other processes hold
    # the cores slow training down many times over; one thread is predictable.
    mp.setenv("OMP_NUM_THREADS", "1")
    mp.setenv("MKL_NUM_THREADS", "1")
    yield "staner-lab-test"
    mp.undo()


def _outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type == "error":
                parts.append(f"{out.ename}: {out.evalue}")
    return "\n".join(parts)


@pytest.mark.parametrize("path", STUDENT + SOLUTION, ids=lambda p: p.relative_to(NB_DIR).as_posix())
def test_notebook_executes(path, kernel_env):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, kernel_name=kernel_env, timeout=600, iopub_timeout=15,
                            resources={"metadata": {"path": str(path.parent)}})
    # No emulated Output widgets: nbclient's would send comm messages to the kernel on the shell channel
    # while it waits there for the execute reply, which sometimes blocks forever (jupyter/nbclient#312,
    # seen here after ipywidgets.interact). The widgets' displays then land in the cell's outputs.
    client.widget_registry = {}
    client.execute()
    TIMINGS[path.relative_to(NB_DIR).as_posix()] = time.perf_counter() - start
    text = _outputs_text(nb)
    tagged = [c for c in nb.cells if set(c.metadata.get("tags", [])) & {"exercise", "solution"} and c.cell_type == "code"]
    assert WRONG not in text, text[-2000:]
    if "solutions" in path.parts:
        assert NOT_DONE not in text, text[-2000:]
        assert text.count(OK) >= len(tagged), text[-2000:]
    else:
        assert OK not in text  # the stubs are not answers
        assert text.count(NOT_DONE) >= len(tagged), text[-2000:]


def test_notebook_timings_report():
    """Print how long each notebook took (run with -s to see it); all of them well under 10 minutes."""
    if not TIMINGS:
        pytest.skip("no notebook was executed in this session")
    for name, seconds in sorted(TIMINGS.items()):
        print(f"{name:45s} {seconds:6.1f} s")
    print(f"{'total':45s} {sum(TIMINGS.values()):6.1f} s")
    assert sum(TIMINGS.values()) < 600
