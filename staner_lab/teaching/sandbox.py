"""Confine a student's kernel while nbgrader autogrades it (Linux): other students' files stay unseen.

nbgrader runs each submission in its own kernel process with a time limit per cell, but that process
has the grading user's rights: it could open ``submitted/<another student>/...`` or the gradebook.
The shipped ``notebooks/nbgrader/nbgrader_config.py`` therefore starts every kernel through
:class:`SandboxedKernelManager`, which launches it as ``python -m staner_lab.teaching.sandbox --
<kernel command>``. Before the kernel starts, :func:`confine` puts it in new Linux namespaces
(user, mount, PID; no root needed) where

- the whole course folder (nbgrader grades in ``<course>/autograded/<student>/<assignment>``,
  and validates a collected one in ``<course>/submitted/<student>/<assignment>``) is an empty,
  private tmpfs, except the folder of the submission being run, bound back at its own path: other
  submissions, the autograded and feedback copies, the gradebook and the sources are not there;
- ``/proc`` shows only the kernel's own processes (a fresh PID namespace), so the grader's and the
  instructor's processes, whose working folders are in the course, cannot be read through
  ``/proc/<pid>/cwd``;
- the kernel runs without capabilities in a second, nested user namespace, where these mounts are
  locked: it cannot unmount the tmpfs to uncover what lies beneath.

What a kernel writes elsewhere in the course folder lands in its own tmpfs and is gone when it
stops, so one submission cannot leave files there for the next. A kernel started anywhere else (an
instructor running the source notebooks) starts as usual. Where the namespaces are not available
(not Linux, or a container that forbids them) the kernel does not start and the message says so:
grading fails closed. Remove the ``kernel_manager_class`` line from ``nbgrader_config.py`` to grade
trusted submissions unconfined (docs/teaching.md).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

__all__ = ["SandboxError", "SandboxedKernelManager", "confine", "course_root", "main"]

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_BIND, _MS_REC, _MS_PRIVATE = 2, 4, 8, 4096, 0x4000, 1 << 18
_PR_SET_PDEATHSIG = 1
_FIX = (
    "To grade trusted submissions without it, remove the kernel_manager_class line from "
    "nbgrader_config.py (docs/teaching.md, 'Safety')."
)


class SandboxError(RuntimeError):
    """The kernel cannot be confined here; the message says why and what to do."""


class SandboxedKernelManager(AsyncKernelManager):
    """The kernel manager nbclient uses (asynchronous), with every kernel started through :func:`main`."""

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return [
            sys.executable,
            "-m",
            "staner_lab.teaching.sandbox",
            "--",
            *super().format_kernel_cmd(extra_arguments),
        ]


def course_root(workdir: Path) -> Path | None:
    """The course folder of a folder that holds one student's submission, else None.

    nbgrader grades in ``<course>/autograded/<student>/<assignment>``; ``nbgrader validate`` of a
    collected submission runs in ``<course>/submitted/<student>/<assignment>``.
    """
    if workdir.parent.parent.name in ("autograded", "submitted"):
        return workdir.parent.parent.parent
    return None


def _libc() -> ctypes.CDLL:
    if not sys.platform.startswith("linux"):
        raise SandboxError(
            f"staner-lab sandbox: confining a kernel needs Linux namespaces ({sys.platform}). {_FIX}"
        )
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SandboxError(
            f"staner-lab sandbox: {what} failed: {os.strerror(err)}. Linux user namespaces "
            f"may be disabled here (a container, or kernel.unprivileged_userns_clone=0). {_FIX}"
        )


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _new_user_namespace(libc: ctypes.CDLL, flags: int, inside_uid: int, inside_gid: int) -> None:
    """Enter new namespaces; the caller's user becomes ``inside_uid``/``inside_gid`` there."""
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(_CLONE_NEWUSER | flags), "unshare (new user namespace)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{inside_uid} {uid} 1")
    _write("/proc/self/gid_map", f"{inside_gid} {gid} 1")


def _mount(
    libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int, what: str
) -> None:
    def encoded(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    _check(libc.mount(encoded(source), encoded(target), encoded(fstype), flags, None), what)


def confine(workdir: Path, hidden: Path) -> None:
    """Hide ``hidden`` (but ``workdir``) and other processes; return in the confined child.

    The calling process forks: the parent waits for the confined child (PID 1 of the new PID
    namespace) and exits with its status. The child returns from this function as a
    capability-less user in a nested user namespace.
    """
    libc = _libc()
    outside_uid = os.getuid()
    _new_user_namespace(libc, _CLONE_NEWNS | _CLONE_NEWPID, 0, 0)
    child = os.fork()
    if child:
        _wait_for(child)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # the kernel dies with the process jupyter started
    _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE, "making mounts private")
    keep = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)  # reachable after the course is hidden
    _mount(libc, "tmpfs", str(hidden), "tmpfs", _MS_NOSUID | _MS_NODEV, f"hiding {hidden}")
    workdir.mkdir(parents=True, exist_ok=True)
    _mount(libc, f"/proc/self/fd/{keep}", str(workdir), None, _MS_BIND | _MS_REC, f"binding {workdir}")
    os.close(keep)
    _mount(libc, "proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "mounting a private /proc")
    # a nested user namespace locks the mounts above and drops every capability at exec
    inside = outside_uid if outside_uid != 0 else 65534
    _new_user_namespace(libc, _CLONE_NEWNS, inside, inside)
    os.chdir(workdir)


def _wait_for(child: int) -> None:
    # Jupyter signals the kernel's whole process group (interrupt, terminate, kill), the child
    # included: this process only waits, and ignores the interrupt meant for the kernel.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _, status = os.waitpid(child, 0)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def main(argv: list[str] | None = None) -> None:
    """``python -m staner_lab.teaching.sandbox -- COMMAND...``: run COMMAND confined (see the module)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "--" or len(argv) < 2:
        raise SystemExit("usage: python -m staner_lab.teaching.sandbox -- COMMAND [ARGS...]")
    command = argv[1:]
    workdir = Path.cwd()
    course = course_root(workdir)
    if course is None:  # not a student's submission (an instructor validating the source): as usual
        os.execvp(command[0], command)
    try:
        confine(workdir, course)
    except SandboxError as e:
        print(e, file=sys.stderr, flush=True)
        raise SystemExit(70) from None
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
