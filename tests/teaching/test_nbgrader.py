"""The notebooks as an nbgrader course, with the real tool: ``nbgrader generate_assignment``,
``autograde`` and ``generate_feedback`` on simulated submissions (fast mode).

- the release copy runs as Python, keeps each exercise's signature and holds no answer;
- the solutions autograde to full points on every autograded cell, an untouched release copy to 0;
- a typical mistake loses exactly its exercise's point and the feedback names the mistake with the
  hint the student sees in the notebook (the same checker);
- a submission that loops, raises or deletes a test cell gets a clear result, not a crashed grader;
- a student's code, run by the shipped configuration, cannot read another student's submission, the
  gradebook or the grader's folder (the sandbox; tests/teaching/test_sandbox.py shows the same code
  reads them all unconfined).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "notebooks" / "nbgrader"
BIN = Path(sys.executable).parent
# found, not imported: importing nbgrader here would put vendored packages on every test's path
if importlib.util.find_spec("nbgrader") is None:
    pytest.skip("nbgrader is the 'teaching' extra; scripts/setup installs it", allow_module_level=True)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of the shipped course folder and the environment an instructor runs nbgrader in."""
    base = tmp_path_factory.mktemp("course")
    shutil.copytree(COURSE, base, dirs_exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PLOTLY_RENDERER", "JUPYTER_PATH")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", STANER_FAST="1", OMP_NUM_THREADS="1",
               STANER_NOTEBOOK_RUNS=str(base / "notebook-runs"), STANER_CACHE=str(base / "cache"))
    return base, env


def nbgrader(course, *args: str) -> subprocess.CompletedProcess:
    base, env = course
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=base, env=env, capture_output=True, text=True,
                          timeout=1200, check=False)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stderr[-4000:]}"
    return proc


def cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def submit(course, assignment: str, student: str, nb) -> None:
    folder = course[0] / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{assignment}.ipynb")


def scores(course, assignment: str, student: str) -> dict[str, float | None]:
    """The autograded cells' scores from nbgrader's gradebook (read in a child process: importing
    nbgrader here would put its vendored packages on the path of the tests that follow)."""
    code = ("import json, sys\nfrom nbgrader.api import Gradebook\n"
            "with Gradebook(sys.argv[1]) as gb:\n"
            "    sub = gb.find_submission_notebook(sys.argv[2], sys.argv[2], sys.argv[3])\n"
            "    print(json.dumps({g.name: g.auto_score for g in sub.grades if g.name.endswith('-check')}))")
    out = subprocess.run([sys.executable, "-c", code, f"sqlite:///{course[0] / 'gradebook.db'}", assignment, student],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return json.loads(out)


# Typical mistakes and broken submissions: (assignment, student, what changes in the source notebook)
LOOP_LIMIT_S = 15
# A student's code that looks for another student's submission, the gradebook and the grader's folder
SNOOP = """import glob as _glob, json as _json, os as _os
_seen = {}
for _rel in ("submitted/solutions/02_sgaer_attention/02_sgaer_attention.ipynb", "gradebook.db"):
    try:
        with open(_os.path.join("COURSE", _rel), "rb") as _f:
            _seen[_rel] = len(_f.read())
    except OSError as _e:
        _seen[_rel] = type(_e).__name__
_cwds = [_os.readlink(_p) for _p in _glob.glob("/proc/[0-9]*/cwd") if _os.access(_p, _os.R_OK)]
_seen["grader_cwd_visible"] = "COURSE" in _cwds
print("SNOOP" + _json.dumps(_seen))"""


@pytest.fixture(scope="module")
def graded(course):
    """Both assignments generated once, every simulated submission autograded and given feedback once."""
    for assignment in ("02_sgaer_attention", "03_lstm_gates"):
        nbgrader(course, "generate_assignment", assignment, "--force")
    source = {a: nbformat.read(course[0] / "source" / a / f"{a}.ipynb", 4) for a in ("02_sgaer_attention", "03_lstm_gates")}
    release = nbformat.read(course[0] / "release" / "02_sgaer_attention" / "02_sgaer_attention.ipynb", 4)
    submit(course, "02_sgaer_attention", "solutions", source["02_sgaer_attention"])
    submit(course, "02_sgaer_attention", "untouched", release)
    mistake = copy.deepcopy(source["02_sgaer_attention"])  # exercise 2.2: the batch norm built but skipped
    answer = cell(mistake, "02-027-answer")
    assert "torch.relu(self.norm(self.conv3x3(U)))" in answer.source
    answer.source = answer.source.replace("torch.relu(self.norm(self.conv3x3(U)))", "torch.relu(self.conv3x3(U))")
    submit(course, "02_sgaer_attention", "no_batch_norm", mistake)
    snooper = copy.deepcopy(source["02_sgaer_attention"])  # full answers, and a look at the others' files
    answer = next(c for c in snooper.cells if c.metadata.get("nbgrader", {}).get("solution"))
    answer.source += "\n\n" + SNOOP.replace("COURSE", str(course[0]))
    submit(course, "02_sgaer_attention", "snooper", snooper)

    lstm = source["03_lstm_gates"]
    answer_id = next(c.metadata["nbgrader"]["grade_id"] for c in lstm.cells
                     if "def my_lstm_step" in c.source and c.metadata["nbgrader"]["solution"])
    check_id = next(c.metadata["nbgrader"]["grade_id"] for c in lstm.cells
                    if "check_lstm_step(my_lstm_step)" in c.source and c.metadata["nbgrader"]["grade"])
    changes = {"loops": ("    return h, c", "    while True:\n        pass"),
               "raises": ("    N = h_prev.shape[1]", "    raise RuntimeError('the student broke something')"),
               "tanh_gate": ("f = torch.sigmoid", "f = torch.tanh")}
    for student, (old, new) in changes.items():
        nb = copy.deepcopy(lstm)
        assert old in cell(nb, answer_id).source
        cell(nb, answer_id).source = cell(nb, answer_id).source.replace(old, new)
        submit(course, "03_lstm_gates", student, nb)
    deleted = copy.deepcopy(lstm)
    deleted.cells = [c for c in deleted.cells if c.metadata["nbgrader"]["grade_id"] != check_id]
    submit(course, "03_lstm_gates", "deleted", deleted)
    nbgrader(course, "autograde", "02_sgaer_attention", "--force")
    nbgrader(course, "autograde", "03_lstm_gates", "--force", f"--ExecutePreprocessor.timeout={LOOP_LIMIT_S}")
    for assignment in ("02_sgaer_attention", "03_lstm_gates"):
        nbgrader(course, "generate_feedback", assignment, "--force")
    return check_id


def feedback(course, student: str, assignment: str) -> str:
    return (course[0] / "feedback" / student / assignment / f"{assignment}.html").read_text()


def test_the_release_copy_runs_as_python_keeps_the_signatures_and_holds_no_answer(course, graded):
    import ast

    for name, signature, answer in (("02_sgaer_attention", "def my_attention(U, M):", "(1 + M) * U"),
                                    ("03_lstm_gates", "def my_lstm_step(x, h_prev, c_prev, W, R, b):",
                                     "f * c_prev + i * g")):
        release = nbformat.read(course[0] / "release" / name / f"{name}.ipynb", 4)
        code = [c.source for c in release.cells if c.cell_type == "code"]
        for source in code:
            ast.parse(source)
        text = "\n".join(code)
        assert signature in text and "raise NotImplementedError()" in text
        assert answer not in text and "BEGIN SOLUTION" not in text


def test_solutions_get_full_points_an_untouched_copy_none_and_a_typical_mistake_loses_its_point(course, graded):
    assignment = "02_sgaer_attention"
    full = scores(course, assignment, "solutions")
    assert full and all(v == 1.0 for v in full.values()), full
    assert all(v == 0.0 for v in scores(course, assignment, "untouched").values())
    lost = scores(course, assignment, "no_batch_norm")
    assert {k for k, v in lost.items() if v != 1.0} == {"02-029-check"}, lost  # the check of 2.2 only
    assert "the batch norm after the 3x3 convolution is missing" in feedback(course, "no_batch_norm", assignment)
    assert ("my_attention still raises NotImplementedError; replace the `raise` with your code"
            in feedback(course, "untouched", assignment))
    untouched = nbformat.read(course[0] / "autograded" / "untouched" / assignment / f"{assignment}.ipynb", 4)
    for check in (c for c in untouched.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").endswith("-check")):
        printed = "".join(o.get("text", "") + "".join(o.get("traceback", [])) for o in check.outputs)
        assert "not done yet" in printed and "replace the `raise` with your code" in printed, check.source
    tanh = scores(course, "03_lstm_gates", "tanh_gate")
    assert tanh[graded] == 0.0 and sum(v == 0.0 for v in tanh.values()) >= 1
    html = feedback(course, "tanh_gate", "03_lstm_gates")
    assert "not quite" in html and "tanh" in html


def test_a_students_code_cannot_read_another_students_files(course, graded):
    """The shipped nbgrader_config.py starts each kernel in the sandbox (staner_lab/teaching/sandbox.py)."""
    nb = nbformat.read(course[0] / "autograded" / "snooper" / "02_sgaer_attention" / "02_sgaer_attention.ipynb", 4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    seen = json.loads(printed.split("SNOOP", 1)[1].splitlines()[0])
    assert seen == {"submitted/solutions/02_sgaer_attention/02_sgaer_attention.ipynb": "FileNotFoundError",
                    "gradebook.db": "FileNotFoundError", "grader_cwd_visible": False}, seen
    assert all(v == 1.0 for v in scores(course, "02_sgaer_attention", "snooper").values())  # graded as usual
    # the files were there: the grader read them
    assert (course[0] / "submitted" / "solutions" / "02_sgaer_attention" / "02_sgaer_attention.ipynb").is_file()


def test_a_submission_that_loops_raises_or_deletes_a_test_cell_gets_a_clear_result(course, graded):
    assignment, check_id = "03_lstm_gates", graded
    for student in ("loops", "raises"):
        assert scores(course, assignment, student)[check_id] == 0.0, student
    assert "your function raised RuntimeError" in feedback(course, "raises", assignment)
    assert "CellTimeoutError" in feedback(course, "loops", assignment)
    assert scores(course, assignment, "deleted")[check_id] is None  # no points; flagged for the instructor
