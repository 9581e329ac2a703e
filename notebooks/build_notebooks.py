"""Build the notebooks from their single source, ``notebooks/source/NN_name.md``.

Each source is Markdown with fenced code blocks (as in d2l). Prose becomes Markdown cells (a line
``+++`` splits two Markdown cells), and a fence's info string says where a block goes:

=====================  ==============================  ======================================
fence                  student notebook                solutions notebook
=====================  ==============================  ======================================
```` ```python ````    code cell                       code cell
```` ```python student ````  code cell (the stub)       -
```` ```python solution ```` -                          code cell (the answer)
```` ```markdown student ```` Markdown cell (a prompt)  -
```` ```markdown solution ```` -                        Markdown cell (the answer)
=====================  ==============================  ======================================

Outputs: ``notebooks/NN_name.ipynb`` (what students get) and ``notebooks/solutions/NN_name.ipynb``,
both without outputs, and the same notebooks as an nbgrader course, ``notebooks/nbgrader/source/
NN_name/NN_name.ipynb`` (docs/teaching.md): a student block and its solution become one solution
cell, the solution's lines that differ from the stub between ``### BEGIN SOLUTION`` and ``### END
SOLUTION``; a cell that calls a ``check_...`` of ``staner_lab.teaching.exercises`` becomes a
locked, autograded test cell (one point) that runs the same check under ``graded()``, so a check
that does not pass prints its hint and loses the point; a Markdown answer becomes a manually graded
answer cell; every other cell is read-only. Run from the repository root::

    .venv/bin/python notebooks/build_notebooks.py            # write both sets
    .venv/bin/python notebooks/build_notebooks.py --check    # exit 1 if a committed notebook differs
    .venv/bin/python notebooks/build_notebooks.py --student-copy /tmp/staner-lab-students

``--student-copy DIR`` writes a copy of the repository without the solutions: no
``notebooks/solutions/``, no ``notebooks/source/``, no ``notebooks/build_notebooks.py`` and no tests
that hold answers (``tests/teaching/test_exercises.py``, ``tests/teaching/test_notebooks.py``).
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SOURCE = HERE / "source"
SOLUTIONS = HERE / "solutions"

#: Paths (relative to the repository root) that a student copy leaves out: they hold answers.
SOLUTION_PATHS = ("notebooks/solutions", "notebooks/source", "notebooks/build_notebooks.py", "notebooks/nbgrader",
                  "tests/teaching/test_exercises.py", "tests/teaching/test_notebooks.py")
_FENCE = re.compile(r"^```(\w+)?(?:\s+(student|solution))?\s*$")
_KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def parse(text: str, name: str) -> list[tuple[str, str, str]]:
    """Source text -> [(kind, audience, text)]: kind "markdown" or "code"; audience "both", "student"
    or "solution"."""
    cells: list[tuple[str, str, str]] = []
    prose: list[str] = []

    def flush() -> None:
        body = "\n".join(prose).strip("\n")
        if body.strip():
            cells.append(("markdown", "both", body))
        prose.clear()

    lines = text.splitlines()
    k = 0
    while k < len(lines):
        line = lines[k]
        m = _FENCE.match(line)
        if m and m.group(1) in ("python", "markdown"):
            flush()
            end = k + 1
            while end < len(lines) and lines[end].rstrip() != "```":
                end += 1
            if end == len(lines):
                raise ValueError(f"{name}:{k + 1}: unclosed ``` block")
            body = "\n".join(lines[k + 1:end]).strip("\n")
            kind = "code" if m.group(1) == "python" else "markdown"
            cells.append((kind, m.group(2) or "both", body))
            k = end + 1
            continue
        if line.strip() == "+++":
            flush()
        else:
            prose.append(line)
        k += 1
    flush()
    return cells


def build(source: Path, audience: str) -> nbformat.NotebookNode:
    """One notebook for ``audience`` ("student" or "solution") from a source file."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(_KERNEL), "language_info": {"name": "python"}}
    for k, (kind, who, body) in enumerate(parse(source.read_text(encoding="utf-8"), source.name)):
        if who not in ("both", audience):
            continue
        cell = nbformat.v4.new_code_cell(body) if kind == "code" else nbformat.v4.new_markdown_cell(body)
        cell.id = f"{source.stem[:40]}-{k:03d}"
        if who != "both":
            cell.metadata["tags"] = ["exercise" if who == "student" else "solution"]
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


_CHECK = re.compile(r"\bcheck_\w+\(")
NBGRADER = HERE / "nbgrader" / "source"


def _nbgrader(cell: nbformat.NotebookNode, grade_id: str, solution: bool = False, grade: bool = False,
              locked: bool = False, points: int | None = None) -> None:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta


def _solution_regions(stub: str, answer: str) -> str:
    """The answer with every run of lines that differs from the stub between nbgrader's markers (the
    lines both share, such as a ``def`` line and its docstring, stay for the student)."""
    a, b = stub.splitlines(), answer.splitlines()
    out: list[str] = []
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out += b[j1:j2]
        elif j2 > j1:  # the answer's own lines (a stub line alone is dropped: nbgrader writes its stub)
            indent = min(len(line) - len(line.lstrip()) for line in b[j1:j2] if line.strip())
            out += [" " * indent + "### BEGIN SOLUTION", *b[j1:j2], " " * indent + "### END SOLUTION"]
    return "\n".join(out)


def build_nbgrader(source: Path) -> nbformat.NotebookNode:
    """The nbgrader source notebook of one source file (see the module docstring)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(_KERNEL), "language_info": {"name": "python"}}
    cells = parse(source.read_text(encoding="utf-8"), source.name)
    stem, checks = source.stem, 0
    for k, (kind, who, body) in enumerate(cells):
        if who == "student" and kind == "code":
            continue  # goes into the solution cell that follows
        grade_id = f"{stem[:2]}-{k:03d}"
        if who == "solution" and kind == "code":
            stub = cells[k - 1][2] if k and cells[k - 1][:2] == ("code", "student") else ""
            cell = nbformat.v4.new_code_cell(_solution_regions(stub, body))
            _nbgrader(cell, f"{grade_id}-answer", solution=True)
        elif who == "solution":  # a written answer ("explain why"): graded by hand
            cell = nbformat.v4.new_markdown_cell(body)
            _nbgrader(cell, f"{grade_id}-written", solution=True, grade=True, points=1)
        elif kind == "code" and _CHECK.search(body):
            checks += 1
            graded = "\n".join("    " + line if line.strip() else line for line in body.splitlines())
            cell = nbformat.v4.new_code_cell("from staner_lab.teaching.exercises import graded\n\n"
                                             f"with graded():\n{graded}")
            _nbgrader(cell, f"{grade_id}-check", grade=True, locked=True, points=1)
        else:
            cell = nbformat.v4.new_code_cell(body) if kind == "code" else nbformat.v4.new_markdown_cell(body)
            _nbgrader(cell, grade_id, locked=True)
        cell.id = f"{stem[:40]}-{k:03d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb, version=4) + "\n"


def targets() -> dict[Path, str]:
    """Every notebook this script writes and its text."""
    out: dict[Path, str] = {}
    for source in sorted(SOURCE.glob("[0-9][0-9]_*.md")):
        out[HERE / f"{source.stem}.ipynb"] = render(build(source, "student"))
        out[SOLUTIONS / f"{source.stem}.ipynb"] = render(build(source, "solution"))
        out[NBGRADER / source.stem / f"{source.stem}.ipynb"] = render(build_nbgrader(source))
    return out


def _repository_files() -> list[Path]:
    """Files of the working tree that git would commit (tracked or not ignored); a walk without git."""
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                                cwd=ROOT, capture_output=True, check=True).stdout.decode()
        return [ROOT / p for p in listed.split("\0") if p and (ROOT / p).is_file()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "runs", "__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
                and not p.name.endswith(".egg-info")]


def student_copy(dest: Path) -> int:
    """Copy the repository to ``dest`` without the files that hold answers; returns the number of files."""
    dest = dest.resolve()
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit(f"{dest} is not empty; choose a new folder for the student copy")
    if dest.is_relative_to(ROOT):
        raise SystemExit(f"{dest} lies inside the repository; choose a folder outside it")
    n = 0
    for path in _repository_files():
        rel = path.relative_to(ROOT).as_posix()
        if any(rel == p or rel.startswith(p + "/") for p in SOLUTION_PATHS):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed notebooks; write nothing")
    parser.add_argument("--student-copy", type=Path, metavar="DIR",
                        help="copy the repository to DIR without solutions, sources and answer-bearing tests")
    args = parser.parse_args(argv)
    if args.student_copy:
        n = student_copy(args.student_copy)
        print(f"wrote {n} files to {args.student_copy} (no solutions); students run scripts/setup there")
        return 0
    stale = []
    for path, text in targets().items():
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.relative_to(ROOT).as_posix())
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run: .venv/bin/python notebooks/build_notebooks.py):\n  " + "\n  ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
