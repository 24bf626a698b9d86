"""Where a submission's checks run: a bubblewrap sandbox on Linux, process sessions elsewhere.

The runner (``grader.grading.runner``) and everything the student's code starts run inside it:

- **bubblewrap** (Linux, Debian's ``bubblewrap``): a PID namespace of its own (nothing in it can see
  or signal the grader, and nothing outlives it), no network (the RabbitMQ broker of exercise 7 is
  reached through ``grader.grading.relay``, and nothing else), ``/tmp`` private, and a file system
  made of the system folders, the Python installation and, of the kit, only ``grader/`` and
  ``exercises/`` (``KIT_PARTS``), all read-only; an installed copy of the hidden checks or the
  solutions in site-packages is hidden behind an empty folder, and the hidden checks themselves are
  a copy only the runner can read when the grader runs as root.
- **session** (macOS, or Linux without bubblewrap): the runner gets a session of its own and every
  check its own session and resource limits; nothing hides the file system. ``batch`` and ``worker``
  refuse it unless the instructor asks for it (``--sandbox session``, see ``refusal``); ``grade`` of
  one submission says so once and goes on.

In both, when the grader runs as root, the student's code runs as an unprivileged user of its own
(one per check running at the same time), so it can neither signal the runner, nor write to its
output, nor touch another check, and the process limit counts that check's processes only.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import site
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from grader.checking.exercise import EXERCISES_DIR, PACKAGE_DIR, SOLUTIONS_DIR, SOURCE_ROOT

STUDENT_UID_BASE = 61000  # unprivileged uids for student code: UIDS_PER_SLOT per grading slot
UIDS_PER_SLOT = 64  # at most this many checks of one submission at once
LIMITS = {
    "AS": 2 * 1024**3,  # bytes of address space per process: a memory hog gets MemoryError
    "NPROC": 128,  # processes and threads of one check's user: a fork bomb stops there
    "CPU": 60,  # seconds of CPU per process
    "FSIZE": 16 * 1024**2,  # bytes per file written: an output flood stops there
    "NOFILE": 1024,
}
# What bubblewrap lets the runner keep (bwrap drops every capability otherwise): switching to the
# student's user, signalling and inspecting its processes, and cleaning up the files they wrote.
CAPABILITIES = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE",
                "CAP_FOWNER", "CAP_SYS_PTRACE")


@dataclasses.dataclass(frozen=True)
class Sandbox:
    kind: str  # "bubblewrap" or "session"
    description: str  # what protects the grader, for the one-time notice

    def student_uids(self, slot: int, count: int) -> range | None:
        """The users a grading slot gives its checks, one per check at a time (None: no switch)."""
        if not can_switch_user(self.kind):
            return None
        first = STUDENT_UID_BASE + slot * UIDS_PER_SLOT
        return range(first, first + min(count, UIDS_PER_SLOT))

    def wrap(self, argv: list[str], *, workdir: Path, hide: list[Path],
             private: dict[Path, Path] | None = None) -> list[str]:
        """`argv` inside the sandbox; `hide` become empty folders, and each `private` target is
        replaced by its source (a root-only copy: the runner reads it, student code cannot)."""
        if self.kind != "bubblewrap":
            return argv
        command = ["bwrap", "--die-with-parent", "--new-session",
                   "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                   "--dev", "/dev", "--proc", "/proc"]
        for folder in SYSTEM_DIRS:  # the system, read-only; nothing of /home, /root, /work, ...
            command += ["--ro-bind-try", folder, folder]
        command += ["--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm"]
        # Temporary files inside go to that private /tmp, whatever TMPDIR the grader was given: its
        # folder is not in the sandbox (a workdir below it is, under folders the checks cannot enter).
        command += ["--setenv", "TMPDIR", "/tmp"]
        if os.geteuid() == 0:
            for capability in CAPABILITIES:
                command += ["--cap-add", capability]
        else:
            command += ["--unshare-user"]
        made: set[Path] = set()
        needed = needed_paths()
        command += _mount_back(needed, made)
        if not any(path == workdir or path in workdir.parents for path in needed):
            command += _open_way(workdir, made)
        command += ["--bind", str(workdir), str(workdir)]
        for path in dict.fromkeys([*hide, *installed_secrets()]):
            if path.exists() and not _inside(workdir, path):
                # A file (a git worktree's .git) cannot take a tmpfs: /dev/null hides it (it reads
                # empty; a device node needs --dev-bind, --ro-bind mounts it nodev, unreadable).
                command += ["--tmpfs", str(path)] if path.is_dir() else ["--dev-bind", "/dev/null", str(path)]
        for source, target in (private or {}).items():
            command += ["--ro-bind", str(source), str(target)]
        return command + ["--chdir", str(workdir), "--", *argv]


# What of the kit's folder a check needs, by allowlist: the grader package and the exercises (the
# visible checks and each exercise.toml). Nothing else of it exists in the sandbox: no build/ or dist/
# folder, no egg-info, no solutions, tests or benchmarks, whatever else lies there.
KIT_PARTS = (PACKAGE_DIR, EXERCISES_DIR)
# The hidden checks of this kit, which the sandbox hides.
HIDDEN_DIR = PACKAGE_DIR / "grading" / "hidden"
# Installed copies of what student code must not read, looked for in every site-packages folder
# (grader/hidden: where a kit of an earlier layout kept them; grader/solutions: where an installed
# kit carries them).
INSTALLED_SECRETS = ("grader/grading/hidden", "grader/hidden", "grader/solutions", "solutions")


def needed_paths() -> list[Path]:
    """What the student's user must reach: the Python installation, its packages, and the kit's parts."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
             Path(os.path.realpath(sys.executable)).parent.parent, *KIT_PARTS}
    paths.update(Path(p) for p in site.getsitepackages())
    return sorted({Path(os.path.realpath(p)) for p in paths if os.path.exists(p)})


def installed_secrets() -> list[Path]:
    """Copies of the hidden checks or the solutions in the Python installation's packages (a
    ``pip install .`` of the kit puts them there), which the sandbox hides like the kit's own."""
    own = HIDDEN_DIR.resolve()
    found = []
    for packages in site.getsitepackages():
        for name in INSTALLED_SECRETS:
            path = Path(packages) / name
            if path.is_dir() and path.resolve() != own:
                found.append(path)
    return found


def _closed_ancestor(path: Path) -> Path | None:
    """The first folder on the way to `path` that other users may not enter (e.g. /root)."""
    for folder in [*reversed(path.parents), path]:
        try:
            mode = folder.stat().st_mode
        except OSError:
            return folder
        if not mode & stat.S_IXOTH:
            return folder
    return None


# What the sandbox shows of the machine: the system folders, read-only. The Python installation,
# its packages and the kit are mounted on top (needed_paths); nothing else of the machine (other
# copies of the kit, home folders, the submissions) exists inside.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


# Folders the sandbox makes itself, before anything is mounted: never made again on the way to a path.
OWN_DIRS = (Path("/"), Path("/tmp"), Path("/dev/shm"))


def _open_way(path: Path, made: set[Path]) -> list[str]:
    """bubblewrap arguments that create the folders on the way to `path` 0755 (bwrap would make
    them 0700), so that every user can reach it, whatever those folders are on the machine (/root
    is closed; a TMPDIR may be). `made` holds the folders already there, and grows."""
    args = []
    for folder in reversed(path.parents):
        if folder in OWN_DIRS or folder in made or any(
                folder == Path(s) or Path(s) in folder.parents for s in SYSTEM_DIRS):
            continue
        args += ["--perms", "0755", "--dir", str(folder)]
        made.add(folder)
    return args


def _mount_back(paths: list[Path], made: set[Path] | None = None) -> list[str]:
    """bubblewrap arguments that mount `paths` read-only at their own place, reachable by every
    user (/tmp is private in the sandbox: a kit installed below it is mounted back too)."""
    args, made = [], set() if made is None else made
    for path in paths:
        if any(other in path.parents for other in paths):
            continue  # inside another path mounted whole
        args += _open_way(path, made)
        args += ["--ro-bind", str(path), str(path)]
        made.add(path)
    return args


def can_switch_user(kind: str) -> bool:
    """As root, the student's code can run as a user of its own: in bubblewrap always (closed
    folders are reopened there), in plain sessions only if the Python installation is reachable."""
    if os.name != "posix" or os.geteuid() != 0:
        return False
    return kind == "bubblewrap" or all(_closed_ancestor(p) is None for p in _reached_in_session())


def _reached_in_session() -> list[Path]:
    """What a check's user must enter without a sandbox: Python, the kit, and the temporary folder
    that holds the submission's and the checks' folders."""
    return [*needed_paths(), Path(tempfile.gettempdir())]


def _inside(folder: Path, path: Path) -> bool:
    try:
        folder.resolve().relative_to(path.resolve())
        return True
    except ValueError:
        return False


def kit_secrets() -> list[Path]:
    """Parts of the kit a submission must not read: the solutions (inside grader/ in an installed
    kit) and, in a checkout, the golden submissions."""
    source = [SOURCE_ROOT / name for name in ("tests", "bench", ".git")] if SOURCE_ROOT else []
    return [SOLUTIONS_DIR, *source]


def _bubblewrap_works() -> str | None:
    """None if bubblewrap can build our sandbox here, else why not."""
    if not sys.platform.startswith("linux"):
        return "bubblewrap is Linux only"
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian: apt-get install bubblewrap)"
    probe = Sandbox("bubblewrap", "").wrap(["true"], workdir=Path("/tmp"), hide=[])
    try:
        result = subprocess.run(probe, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to start ({exc})"
    if result.returncode != 0:
        return f"bwrap cannot create namespaces here: {result.stderr.decode(errors='replace').strip()[:200]}"
    return None


def choose(kind: str = "auto") -> Sandbox:
    """The strongest sandbox this machine offers (or the one asked for)."""
    if kind in ("auto", "bubblewrap"):
        problem = _bubblewrap_works()
        if problem is None:
            return Sandbox("bubblewrap", "bubblewrap sandbox: own PID namespace, no network, a read-only "
                                         "file system of the system, Python and the kit only, solutions "
                                         f"hidden; {_user_note('bubblewrap')}.")
        if kind == "bubblewrap":
            raise RuntimeError(f"--sandbox bubblewrap: {problem}")
        reason = problem
    else:
        reason = "asked for"
    return Sandbox("session", f"NO SANDBOX ({reason}): checks run in process sessions with resource "
                              f"limits only; the network and the file system stay reachable; "
                              f"{_user_note('session')}.")


def refusal(asked: str, sandbox: Sandbox, command: str) -> str | None:
    """Why `command` (batch, worker: a whole class, unattended) will not grade in process sessions
    the instructor did not ask for with ``--sandbox session``; None when it may go on."""
    if sandbox.kind != "session" or asked == "session":
        return None
    return (f"{command} refuses to grade a class without a sandbox. {sandbox.description}\n"
            "Without one, a submission's code can read every file its user can read (other "
            "submissions, the kit's hidden checks and solutions among them), reach the network, and, "
            "where it runs as your user, change your files and signal your processes. Install "
            "bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and run the grader on Linux, or "
            "pass --sandbox session to grade like this all the same.")


def _user_note(kind: str) -> str:
    if can_switch_user(kind):
        return "each submission's code runs as a user of its own"
    if os.name == "posix" and os.geteuid() == 0:
        closed = next(filter(None, map(_closed_ancestor, _reached_in_session())))
        return (f"the student's code runs as root: {closed} (on the way to Python, the kit or the "
                f"temporary folder) is a folder other users cannot enter")
    return "the student's code runs as your user (run the grader as root to give it a user of its own)"
