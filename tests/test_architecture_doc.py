"""docs/architecture.md stays true: every module of the package is in its tree, every module the
tree lists exists, and every file and function the page names is there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "staner_lab"
DOC = (ROOT / "docs" / "architecture.md").read_text()


def tree() -> dict[str, set[str]]:
    """{folder under staner_lab ("" for the top): the module names the tree lists there}."""
    block = DOC[DOC.index("```\nstaner_lab/\n") + len("```\nstaner_lab/\n"):]
    block = block[:block.index("```")]
    listed: dict[str, set[str]] = {}
    folder = ""
    for line in block.splitlines():
        if not line.startswith("  "):
            continue  # streamlit_app.py, beside the package
        parts = re.split(r"\s{2,}", line.strip())
        head = parts[0].split()
        if head[0].endswith("/"):
            folder, names = head[0].rstrip("/"), head[1:] + (parts[1].split() if len(parts) > 1 else [])
        elif len(line) - len(line.lstrip()) > 2:
            names = line.split()  # a folder's second line
        else:
            folder, names = "", head  # top-level modules; a description follows
        listed.setdefault(folder, set()).update(names)
    return listed


def modules() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name != "__init__.py":
            rel = path.relative_to(PACKAGE)
            found.setdefault(rel.parent.as_posix().replace(".", ""), set()).add(path.stem)
    return found


def test_the_tree_lists_every_module_and_only_modules_that_exist():
    listed, found = tree(), modules()
    missing = {f: sorted(found[f] - listed.get(f, set())) for f in found if found[f] - listed.get(f, set())}
    assert not missing, f"modules not in docs/architecture.md's tree: {missing}"
    extra = {f: sorted(listed[f] - found.get(f, set())) for f in listed if listed[f] - found.get(f, set())}
    assert not extra, f"the tree names modules that do not exist: {extra}"


def defined_names(path: Path) -> set[str]:
    tree_ = ast.parse(path.read_text())
    names = set()
    for node in tree_.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def find_file(name: str) -> Path | None:
    for base in (PACKAGE, ROOT):
        if (base / name).exists():
            return base / name
    hits = sorted(PACKAGE.rglob(name))
    return hits[0] if hits else None


def test_every_file_and_function_the_page_names_exists():
    problems = []
    for name in re.findall(r"`([\w/.]+\.py)`", DOC):
        if find_file(name) is None:
            problems.append(f"no file {name}")
    for name in re.findall(r"`([\w/]+/)`", DOC):
        if not ((PACKAGE / name).is_dir() or (ROOT / name).is_dir()):
            problems.append(f"no folder {name}")
    # "`data/align.py` (`choose_peak`, `align_face`)": each name is defined in that file
    for path, inside in re.findall(r"`([\w/]+\.py)` \(([^)]*)\)", DOC):
        file = find_file(path)
        for name in re.findall(r"`(\w+)`", inside):
            if file is not None and name not in defined_names(file):
                problems.append(f"{path} defines no {name}")
    # "`functional.attention_map`", "`config.with_settings`": a top-level module's name
    for module, name in re.findall(r"`(\w+)\.(\w+)`", DOC):
        if name != "py" and (PACKAGE / f"{module}.py").is_file() and name not in defined_names(PACKAGE / f"{module}.py"):
            problems.append(f"{module}.py defines no {name}")
    assert not problems, "docs/architecture.md names what does not exist:\n" + "\n".join(problems)
