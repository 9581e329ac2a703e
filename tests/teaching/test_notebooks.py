"""The notebooks: built from their single source, stored without outputs, solutions kept apart, and
every one (student copy and solutions) executes top to bottom on a CPU in fast mode (STANER_FAST=1)
with the plain commands an instructor uses: ``jupyter nbconvert --to notebook --execute`` (student
copies) and ``jupyter execute`` (solutions). The HTML export of each executed notebook shows every figure as an image.

The ``jupyter`` is this ``.venv``'s; it runs the notebooks' ``python3`` kernel with its own
interpreter, so no ``ipykernel install`` is needed in a fresh ``.venv`` made by ``scripts/setup``.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NB_DIR = ROOT / "notebooks"
STUDENT = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
SOLUTION = sorted((NB_DIR / "solutions").glob("[0-9][0-9]_*.ipynb"))
OK, WRONG, NOT_DONE = "✅ correct", "❌ not quite", "⏳ not done yet"
JUPYTER = Path(sys.executable).with_name("jupyter")
PLOTLY = "application/vnd.plotly.v1+json"
HANG_LIMIT_S = 600  # per notebook; in fast mode each takes seconds to a minute
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
        # signatures (def and class lines) and docstrings are the stub's too
        body = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.lstrip().startswith(("def ", "class ", '"""'))]
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
def headless(tmp_path_factory):
    """Environment of the headless runs: fast budgets, scratch folders for runs and caches, one thread.

    The commands are the plain ones an instructor types; the kernel is the notebooks' own
    ``python3``, which ``jupyter`` of this ``.venv`` starts with its own interpreter.
    """
    base = tmp_path_factory.mktemp("headless")
    env = {k: v for k, v in os.environ.items() if k not in ("PLOTLY_RENDERER", "JUPYTER_PATH")}
    env.update(STANER_FAST="1", STANER_NOTEBOOK_RUNS=str(base / "runs"), STANER_CACHE=str(base / "cache"),
               # One math thread: on a shared 2-core machine, OpenMP threads that spin while other processes
               # hold the cores slow training down many times over; one thread is predictable.
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return base, env


def _jupyter(args: list[str], env: dict[str, str], cwd: Path, limit: float = HANG_LIMIT_S):
    """``jupyter ARGS`` with a generous limit: a hang (e.g. on a widget comm) fails instead of blocking."""
    try:
        proc = subprocess.run([str(JUPYTER), *args], check=False, env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=limit)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        pytest.fail(f"jupyter {' '.join(args)} did not finish in {limit:.0f} s (hung?)\n{err[-3000:]}")
    assert proc.returncode == 0, f"jupyter {' '.join(args)} failed:\n{proc.stderr[-4000:]}"
    return proc


def _outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type == "error":
                parts.append(f"{out.ename}: {out.evalue}")
    return "\n".join(parts)


def _shows_a_figure(source: str) -> bool:
    """A top-level statement (not inside if/for/def) calls ``.show()`` or ``show_interactive(...)``."""
    for stmt in ast.parse(source).body:
        if isinstance(stmt, ast.Expr | ast.Assign):
            for node in ast.walk(stmt):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in (
                        "show", "show_interactive"):
                    return True
    return False


def _figure_cells(nb) -> list[int]:
    """Code cells that always show a figure (see :func:`_shows_a_figure`)."""
    return [k for k, c in enumerate(nb.cells) if c.cell_type == "code" and _shows_a_figure(c.source)]


def _figure_outputs(cell) -> list[dict]:
    return [o.data for o in cell.get("outputs", []) if o.output_type in ("display_data", "execute_result")
            and PLOTLY in o.data]


def _check_executed(nb, path: Path) -> None:
    """What an executed notebook must show: the exercise checks pass (solutions) or wait (student copy),
    every figure cell a figure with a static PNG, and the HTML export one ``<img>`` per PNG."""
    text = _outputs_text(nb)
    tagged = [c for c in nb.cells if set(c.metadata.get("tags", [])) & {"exercise", "solution"} and c.cell_type == "code"]
    assert WRONG not in text, text[-2000:]
    assert "Static figures are off" not in text, text[-2000:]
    if "solutions" in path.parts:
        assert NOT_DONE not in text, text[-2000:]
        assert text.count(OK) >= len(tagged), text[-2000:]
    else:
        assert OK not in text  # the stubs are not answers
        assert text.count(NOT_DONE) >= len(tagged), text[-2000:]

    figure_cells = _figure_cells(nb)
    assert figure_cells, f"{path.name}: no figure cell found; is the figure-cell pattern still right?"
    for k in figure_cells:
        assert _figure_outputs(nb.cells[k]), f"{path.name} cell {k} shows no figure:\n{nb.cells[k].source[:300]}"
    figures = [f for c in nb.cells for f in _figure_outputs(c)]
    no_png = [f[PLOTLY].get("layout", {}).get("title", {}).get("text", "?") for f in figures if "image/png" not in f]
    assert not no_png, f"{path.name}: figures without a static PNG: {no_png}"

    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(nb)
    pngs = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    images = len(re.findall(r'<img [^>]*src="data:image/png;base64,', html))
    assert images == pngs >= len(figures) >= len(figure_cells), (path.name, images, pngs, len(figures), len(figure_cells))


# Each stock command runs one of the two sets, so every notebook runs once: the student copies with
# nbconvert, as the hand-out command does (notebooks/README.md), and the solutions with
# ``jupyter execute``. The two sets differ only in the exercise cells. Each notebook's kernel uses one
# thread, so the solutions run in the background while the student copies run one by one: on two
# cores the module takes about half as long.
@pytest.fixture(scope="module")
def solutions_run(headless):
    """``jupyter execute`` on every solutions notebook, started in the background (own runs and cache
    folders, so that notebook 06's runs never meet the student copy's); yields (process, output folder,
    start time, log path) and kills the process if a test left it running."""
    base, env = headless
    out_dir, log = base / "execute", base / "execute.log"
    out_dir.mkdir()
    env = {**env, "STANER_NOTEBOOK_RUNS": str(base / "runs_solutions"), "STANER_CACHE": str(base / "cache_solutions")}
    with open(log, "w") as sink:
        proc = subprocess.Popen([str(JUPYTER), "execute", f"--output={out_dir}/{{notebook_name}}",
                                 *[str(p) for p in SOLUTION]], env=env, cwd=SOLUTION[0].parent,
                                stdout=sink, stderr=subprocess.STDOUT)
    yield proc, out_dir, time.perf_counter(), log
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("path", STUDENT, ids=lambda p: p.relative_to(NB_DIR).as_posix())
def test_student_notebook_executes_with_nbconvert_and_its_html_shows_every_figure(path, headless, solutions_run):
    """``jupyter nbconvert --to notebook --execute`` on one student notebook: every check waits
    (``⏳ not done yet``), every figure has its PNG in the HTML export."""
    base, env = headless
    out_dir = base / "nbconvert"
    start = time.perf_counter()
    _jupyter(["nbconvert", "--to", "notebook", "--execute", str(path), "--output-dir", str(out_dir)], env, path.parent)
    TIMINGS[f"nbconvert {path.relative_to(NB_DIR).as_posix()}"] = time.perf_counter() - start
    _check_executed(nbformat.read(out_dir / path.name, as_version=4), path)


@pytest.mark.timeout(len(SOLUTION) * HANG_LIMIT_S + 60)
def test_solution_notebooks_execute_with_jupyter_execute_and_their_html_shows_every_figure(solutions_run):
    """``jupyter execute`` on every solutions notebook, in one command (``--output`` keeps the results
    out of the repository): every check is ``✅ correct``, every figure has its PNG in the HTML export."""
    proc, out_dir, start, log = solutions_run
    limit = len(SOLUTION) * HANG_LIMIT_S
    try:
        proc.wait(timeout=max(1.0, limit - (time.perf_counter() - start)))
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"jupyter execute on the solutions did not finish in {limit} s (hung?)\n{log.read_text()[-3000:]}")
    assert proc.returncode == 0, f"jupyter execute on the solutions failed:\n{log.read_text()[-4000:]}"
    TIMINGS["jupyter execute: all solutions notebooks"] = time.perf_counter() - start
    for path in SOLUTION:
        _check_executed(nbformat.read(out_dir / path.name, as_version=4), path)


def test_the_real_faces_cell_of_notebook_06_reads_a_folder(tmp_path, capsys, monkeypatch):
    """Executed notebooks skip it (REAL_FACES = None): here it reads the shipped folder, with the names
    the cells above it define, as a user's CK+ would be read."""
    import plotly.io as pio

    from staner_lab import viz
    from staner_lab.data.shipped import load_shipped_samples, shipped_checkpoint, shipped_data_dir
    from staner_lab.teaching import notebook as nb
    from staner_lab.training.checkpoint import load_model
    from staner_lab.training.report import answer_report, answers_from_predictions, reliabilities

    monkeypatch.setattr(pio.renderers, "default", "json")  # .show() prints instead of opening a browser
    monkeypatch.setenv("STANER_CACHE", str(tmp_path))
    source = (NB_DIR / "source" / "06_training_and_evaluation.md").read_text()
    cells = re.findall(r"```python\n(.*?)```", source, re.DOTALL)
    motion_cell = next(c for c in cells if "region_motion(shipped" in c)
    face_cell = next(c for c in cells if "drawn_motion = face_motion(" in c)
    real_cell = next(c for c in cells if "REAL_FACES = None" in c)
    ns = {"viz": viz, "nb": nb, "shipped": load_model(shipped_checkpoint()), "answer_report": answer_report,
          "answers_from_predictions": answers_from_predictions, "reliabilities": reliabilities,
          "load_shipped_samples": load_shipped_samples}
    exec(motion_cell, ns)  # noqa: S102 (the notebook's own cells, as the kernel runs them)
    exec(face_cell, ns)  # noqa: S102
    capsys.readouterr()
    exec(real_cell.replace("REAL_FACES = None", f"REAL_FACES = Path({str(shipped_data_dir())!r})"), ns)  # noqa: S102
    out = capsys.readouterr().out
    assert "70 sequences; accuracy 100.00 %" in out
    assert "recall %" in out  # the per-class table of the report
    assert "The shipped model on your faces" in out  # the region-motion figure (printed as JSON here)
    assert "your faces minus the drawn faces" in out  # the landmark-motion comparison


def test_notebook_timings_report():
    """Print how long each notebook took (run with -s to see it); all of them well under 10 minutes."""
    if not TIMINGS:
        pytest.skip("no notebook was executed in this session")
    for name, seconds in sorted(TIMINGS.items()):
        print(f"{name:45s} {seconds:6.1f} s")
    total = sum(TIMINGS.values())
    print(f"{'total':45s} {total:6.1f} s")
    assert total < 900
