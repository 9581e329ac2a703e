"""staner_lab.app.paths: typed checkpoint and run-folder paths accepted only inside the allowed
folders (symlinks resolved first), and the listings of checkpoints and run folders."""

from __future__ import annotations

import pytest

from staner_lab.app import paths
from staner_lab.data.shipped import DATA_SAMPLES


@pytest.fixture
def roots(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv(paths.ALLOW_ENV, str(tmp_path / "allowed"))
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "allowed").mkdir()
    (tmp_path / "outside").mkdir()
    return paths.allowed_roots()


def test_allowed_roots(roots, tmp_path):
    assert roots[0] == (tmp_path / "runs").resolve()
    assert DATA_SAMPLES.resolve() in roots and (tmp_path / "allowed").resolve() in roots
    assert (tmp_path / "extra").resolve() in paths.allowed_roots([tmp_path / "extra"])


def test_validate_checkpoint_path(roots, tmp_path):
    good = tmp_path / "runs" / "r1" / "model.pt"
    good.write_bytes(b"x")
    assert paths.validate_checkpoint_path(str(good), roots) == good.resolve()
    outside = tmp_path / "outside" / "model.pt"
    outside.write_bytes(b"x")
    (tmp_path / "allowed" / "link.pt").symlink_to(outside)
    for bad, match in [(str(outside), "only inside"),
                       (str(tmp_path / "runs" / ".." / "outside" / "model.pt"), "only inside"),
                       (str(tmp_path / "allowed" / "link.pt"), "only inside"),  # a symlink out of the roots
                       ("/etc/passwd", "only inside"),
                       (str(tmp_path / "runs" / "r1" / "notes.txt"), r"\.pt file"),
                       (str(tmp_path / "runs" / "r1" / "missing.pt"), "no such checkpoint"),
                       ("", "type the path"), ("bad\x00path.pt", "not a valid path")]:
        with pytest.raises(paths.PathError, match=match):
            paths.validate_checkpoint_path(bad, roots)
    assert paths.validate_checkpoint_path("data_samples/classroom.pt", roots).name == "classroom.pt" or \
        not (DATA_SAMPLES / "classroom.pt").is_file()  # relative paths start at the repository


def test_validate_run_dir_and_listings(roots, tmp_path):
    run = tmp_path / "runs" / "r1"
    with pytest.raises(paths.PathError, match="no results.json"):
        paths.validate_run_dir(str(run), roots)
    (run / "results.json").write_text("{}")
    (run / "fold_0").mkdir()
    (run / "fold_0" / "last.pt").write_bytes(b"x")
    (run / ".tmp.pt").write_bytes(b"x")
    assert paths.validate_run_dir(str(run), roots) == run.resolve()
    with pytest.raises(paths.PathError, match="only inside"):
        paths.validate_run_dir(str(tmp_path / "outside"), roots)
    assert run / "fold_0" / "last.pt" in paths.list_checkpoints(roots)
    assert all(not p.name.startswith(".") for p in paths.list_checkpoints(roots))
    assert run in paths.list_run_dirs(roots)


def test_the_app_and_readme_say_the_same_about_the_shipped_model():
    from pathlib import Path

    from staner_lab.data.shipped import DATA_SAMPLES, SHIPPED_MODEL_NOTE

    readme = (Path(DATA_SAMPLES).parent / "README.md").read_text()
    assert SHIPPED_MODEL_NOTE in readme.replace("\n", " ")
