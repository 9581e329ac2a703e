"""The grading sandbox on its own: a student's code, started the way nbgrader starts a kernel, cannot
see the rest of the course folder or other processes, cannot undo its confinement, and keeps what it
writes in its own folder. The same code run unconfined reads everything (the test can fail)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from staner_lab.teaching.sandbox import SandboxedKernelManager, course_root

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux namespaces")

SNOOP = """
import glob, json, os, subprocess, sys
course = sys.argv[1]
found = {}
for rel in ("submitted/alice/A/A.ipynb", "gradebook.db", "autograded/alice/A/A.ipynb"):
    try:
        with open(os.path.join(course, rel)) as f:
            found[rel] = f.read()
    except OSError as e:
        found[rel] = type(e).__name__
cwds = []
for link in glob.glob("/proc/[0-9]*/cwd"):
    try:
        cwds.append(os.readlink(link))
    except OSError:
        pass
umount = subprocess.run(["umount", "-l", course], capture_output=True).returncode
with open("written.txt", "w") as f:
    f.write("mine")
others = [c for c in cwds if c.startswith(course) and c != os.getcwd()]  # other processes in the course
print(json.dumps({"found": found, "course_cwds": len(others),
                  "pid": os.getpid(), "umount": umount, "listing": sorted(os.listdir(course))}))
"""


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "course"
    for student in ("alice", "mallory"):
        (root / "submitted" / student / "A").mkdir(parents=True)
        (root / "autograded" / student / "A").mkdir(parents=True)
    (root / "submitted" / "alice" / "A" / "A.ipynb").write_text("ALICE'S ANSWERS")
    (root / "autograded" / "alice" / "A" / "A.ipynb").write_text("ALICE GRADED")
    (root / "gradebook.db").write_text("GRADES")
    return root


def run(course: Path, student: str, confined: bool, where: str = "autograded") -> dict:
    workdir = course / where / student / "A"
    prefix = [sys.executable, "-m", "staner_lab.teaching.sandbox", "--"] if confined else []
    # the course folder is the working folder of this test's process too, as it is the grader's
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", SNOOP, str(course)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_unconfined_student_code_reads_the_whole_course(course, monkeypatch):
    monkeypatch.chdir(course)
    seen = run(course, "mallory", confined=False)
    assert seen["found"]["submitted/alice/A/A.ipynb"] == "ALICE'S ANSWERS"
    assert seen["found"]["gradebook.db"] == "GRADES"
    assert seen["course_cwds"] >= 1  # this test's process, whose working folder is the course


@pytest.mark.parametrize("where", ["autograded", "submitted"])
def test_confined_student_code_sees_only_its_own_folder(course, monkeypatch, where):
    monkeypatch.chdir(course)
    seen = run(course, "mallory", confined=True, where=where)
    assert set(seen["found"].values()) == {"FileNotFoundError"}, seen["found"]
    assert seen["listing"] == [where]  # only the path down to its own folder
    assert seen["course_cwds"] == 0 and seen["pid"] == 1  # a private /proc: no other process
    assert seen["umount"] != 0  # no capabilities: the tmpfs over the course stays
    assert (course / where / "mallory" / "A" / "written.txt").read_text() == "mine"
    # and the files are still there for the grader
    assert (course / "submitted" / "alice" / "A" / "A.ipynb").read_text() == "ALICE'S ANSWERS"


def test_outside_a_submission_folder_the_command_runs_as_usual(tmp_path):
    assert course_root(tmp_path / "source" / "A") is None
    assert course_root(tmp_path / "autograded" / "bob" / "A") == tmp_path
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "staner_lab.teaching.sandbox",
            "--",
            sys.executable,
            "-c",
            "import os; print(os.getpid() != 1)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip() == "True"


def test_the_kernel_manager_starts_kernels_through_the_sandbox():
    km = SandboxedKernelManager(kernel_name="python3")
    km.connection_file = "/tmp/kernel-test.json"
    km._launch_args = {}
    cmd = km.format_kernel_cmd()
    assert cmd[:4] == [sys.executable, "-m", "staner_lab.teaching.sandbox", "--"]
    assert "ipykernel_launcher" in " ".join(cmd[4:]) and "/tmp/kernel-test.json" in cmd


def test_bad_usage_is_explained():
    proc = subprocess.run(
        [sys.executable, "-m", "staner_lab.teaching.sandbox", "python"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0 and "usage: python -m staner_lab.teaching.sandbox -- COMMAND" in proc.stderr


def test_where_namespaces_are_refused_grading_fails_closed_with_the_fix(course, monkeypatch, capsys):
    import ctypes
    import errno

    from staner_lab.teaching import sandbox

    class NoNamespaces:  # what libc answers in a container that forbids unshare
        def unshare(self, flags):
            ctypes.set_errno(errno.EPERM)
            return -1

    monkeypatch.setattr(sandbox, "_libc", NoNamespaces)
    monkeypatch.setattr(sandbox.os, "execvp", lambda *a: pytest.fail("the command ran unconfined"))
    monkeypatch.chdir(course / "autograded" / "mallory" / "A")
    with pytest.raises(SystemExit) as stop:
        sandbox.main(["--", "python", "-c", "pass"])
    assert stop.value.code == 70
    err = capsys.readouterr().err
    assert "unshare (new user namespace) failed: Operation not permitted" in err
    assert "remove the kernel_manager_class line from nbgrader_config.py" in err
