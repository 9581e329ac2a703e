"""The dependency rule of staner_lab/__init__.py, checked on every import statement of the package.

Every ``import`` and ``from ... import`` is read with ``ast`` (function-level imports included),
relative imports are resolved, and each edge between our modules must be allowed by LAYERS.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "staner_lab"

PAPER = {"paper"}
# group -> the groups it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "paper": set(),
    "base": PAPER,
    "models": PAPER,
    "data": PAPER | {"base"},
    "explain": PAPER | {"base", "models", "data"},
    "viz": PAPER | {"base", "data", "explain"},
    "training": PAPER | {"base", "models", "data", "viz"},
    "live": PAPER | {"base", "models", "data", "training"},
}
LIBRARY = set(ALLOWED)
FRONT_ENDS = {"app", "teaching", "data.cli", "training.cli", "live.cli", "teaching.cli", "streamlit_app"}
# A package's cli module is a front end that may also use its own package.
ALLOWED.update({
    "app": LIBRARY,
    "teaching": LIBRARY,
    "data.cli": ALLOWED["data"] | {"data"},
    "training.cli": ALLOWED["training"] | {"training"},
    "live.cli": ALLOWED["live"] | {"live"},
    "teaching.cli": LIBRARY | {"teaching"},
    "streamlit_app": LIBRARY | {"app"},
    "cli": {"data.cli", "training.cli", "live.cli", "teaching.cli"},
})
PAPER_MODULES = {"functional", "config", "outputs", "metrics"}
BASE_MODULES = {"", "atomic", "device"}  # "" is staner_lab/__init__.py (__version__)


def group(module: str) -> str:
    """The layer of a dotted module name under staner_lab ("staner_lab.data.cache" -> "data")."""
    if module == "streamlit_app":
        return "streamlit_app"
    parts = module.split(".")[1:]
    if not parts or parts[0] in BASE_MODULES:
        return "base"
    if parts[0] in PAPER_MODULES:
        return "paper"
    if parts[0] == "cli":
        return "cli"
    if parts[-1] == "cli":
        return f"{parts[0]}.cli"
    return parts[0]


def module_name(path: Path) -> str:
    if path == ROOT / "streamlit_app.py":
        return "streamlit_app"
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts[:-1]) if rel.name == "__init__" else list(rel.parts)
    return ".".join(parts)


def is_module(dotted: str) -> bool:
    """True when ``dotted`` names a module or package of ours."""
    parts = dotted.split(".")
    if parts[0] != "staner_lab":
        return False
    where = ROOT.joinpath(*parts)
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import in ``path``, relative ones resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # "from staner_lab import viz" imports the module staner_lab.viz, not just the package
            found += [(node.lineno, f"{target}.{a.name}") for a in node.names if is_module(f"{target}.{a.name}")]
    return found


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py")) + [ROOT / "streamlit_app.py"]


def edges() -> list[tuple[str, int, str, str, str]]:
    """(file, line, imported module, importer group, imported group) for every import of ours."""
    out = []
    for path in sources():
        src = group(module_name(path)) if path.name != "streamlit_app.py" else "streamlit_app"
        for line, target in imports(path):
            if target == "staner_lab" or target.startswith("staner_lab."):
                out.append((str(path.relative_to(ROOT)), line, target, src, group(target)))
    return out


def test_every_import_of_ours_follows_the_dependency_rule():
    bad = [f"{f}:{line} ({src}) imports {target} ({dst})" for f, line, target, src, dst in edges()
           if dst != src and dst not in ALLOWED[src] and not (src in LIBRARY and dst == "base" and src != "paper")]
    assert not bad, "imports that break the rule of staner_lab/__init__.py:\n" + "\n".join(bad)


def test_the_paper_layer_imports_nothing_of_ours():
    bad = [f"{f}:{line} imports {target}" for f, line, target, src, _ in edges() if src == "paper"]
    assert not bad, "\n".join(bad)


def front_end(g: str) -> str:
    """The front end a group belongs to: a package's cli module belongs to its package's front end
    (teaching.cli -> teaching), streamlit_app.py to the app."""
    return {"streamlit_app": "app", "teaching.cli": "teaching"}.get(g, g)


def test_no_front_end_imports_another():
    bad = [f"{f}:{line} ({src}) imports {target}" for f, line, target, src, dst in edges()
           if src in FRONT_ENDS and dst in FRONT_ENDS and front_end(dst) != front_end(src)]
    assert not bad, "\n".join(bad)


def test_only_the_app_imports_streamlit():
    bad = []
    for path in sources():
        src = group(module_name(path))
        for line, target in imports(path):
            if target.split(".")[0] == "streamlit" and src not in {"app", "streamlit_app"}:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("source, expected", [
    ("from staner_lab.training.loop import fit\n", "staner_lab.training.loop"),
    ("from . import cache\n", "staner_lab.data.cache"),
    ("from .. import functional as Fn\n", "staner_lab.functional"),
    ("def f():\n    from staner_lab import viz\n", "staner_lab.viz"),
])
def test_the_import_reader_sees_every_form(tmp_path, monkeypatch, source, expected):
    # the reader itself must not miss lazy, relative or package-level imports
    fake = PACKAGE / "data" / "_layout_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source if self == fake else Path.read_text(self))
    assert expected in [t for _, t in imports(fake)]


def test_the_rule_catches_a_violation():
    # a data module importing training must be refused by the same predicate the rule test uses
    assert "training" not in ALLOWED["data"] and group("staner_lab.training.loop") == "training"
    assert group("staner_lab.data.cli") == "data.cli" and group("staner_lab.cli") == "cli"
    assert group("staner_lab.metrics") == "paper" and group("staner_lab") == "base"


def test_no_import_cycle():
    """No module imports, directly or through others, one that imports it back (also through
    imports inside functions): each can be read and tested from the bottom up."""
    import graphlib

    graph = {}
    for path in sources():
        name = module_name(path)
        graph[name] = {t for _, t in imports(path) if is_module(t) and t != name and t != "staner_lab"}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
