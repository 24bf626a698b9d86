"""Lay out one submission: find each exercise's module in whatever the student handed in.

Accepted: a folder laid out like ``exercises/``, a flat folder of module files, a ``.zip`` of either
(with or without one top folder), and nbgrader's ``submitted/<student>/<assignment>/`` tree. A
notebook's ``%%writefile <module>.py`` cells count as that module beside the notebook (what running
the notebook would write; it wins over a stale copy of the file). Only the
``<module>.py`` files are taken, copied into a fresh folder laid out like ``exercises/``; everything
else (a ``conftest.py`` above all) is ignored. Nothing is followed through a link, nothing is
extracted from an archive but those module files, and every file is size-capped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from grader.checking.exercise import Exercise

MAX_MODULE_BYTES = 1_000_000
MAX_ARCHIVE_MEMBERS = 5_000
MAX_NOTEBOOK_BYTES = 5_000_000
WRITEFILE = re.compile(r"%%writefile\s+(-a\s+|--append\s+)?([\w.-]+\.py)\s*")
SEARCH_DEPTH = 4


@dataclasses.dataclass
class Layout:
    student: str
    source: Path
    impl_root: Path  # <impl_root>/<exercise>/<module>.py for each module found
    found: dict[str, str]  # exercise -> where it came from (relative path in the submission)
    problems: dict[str, str]  # exercise -> why its module is missing or refused
    ignored: list[str]  # files present but not graded (e.g. conftest.py)
    digest: str  # sha256 of what is graded: the same digest means the same grade


def student_id(path: Path) -> str:
    """The student's id from a folder or archive name, safe as a folder name."""
    name = path.name[:-4] if path.suffix.lower() == ".zip" else path.name
    cleaned = re.sub(r"[^\w.@+-]", "_", name).strip("._") or "student"
    return cleaned[:100]


def discover(root: Path) -> list[Path]:
    """The submissions in a batch folder: one folder or .zip per student (nbgrader: submitted/*)."""
    nbgrader = root / "submitted"
    base = nbgrader if nbgrader.is_dir() else root
    found = []
    for entry in sorted(base.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir() or (entry.is_file() and entry.suffix.lower() == ".zip"):
            found.append(entry)
    return found


class _Source:
    """Read-only view of a submission: relative POSIX paths -> (size, reader)."""

    def __init__(self, path: Path):
        self.path = path
        self.files: dict[str, tuple[int, object]] = {}
        self.problem: str | None = None
        if path.is_dir():
            self._walk(path)
        else:
            self._archive(path)
        self._notebooks()

    def _walk(self, root: Path) -> None:
        stack = [(root, 0)]
        while stack:
            folder, depth = stack.pop()
            try:
                entries = list(folder.iterdir())
            except OSError:
                continue
            for entry in entries:
                if entry.is_symlink():
                    self.files[entry.relative_to(root).as_posix()] = (-1, None)  # never followed
                elif entry.is_dir() and depth < SEARCH_DEPTH and entry.name not in ("__pycache__", ".git"):
                    stack.append((entry, depth + 1))
                elif entry.is_file():
                    self.files[entry.relative_to(root).as_posix()] = (
                        entry.stat().st_size, lambda e=entry: e.read_bytes())

    def _archive(self, path: Path) -> None:
        try:
            archive = zipfile.ZipFile(path)
            members = archive.infolist()
        except (OSError, zipfile.BadZipFile) as exc:
            self.problem = f"{path.name} is not a readable zip file ({exc})"
            return
        if len(members) > MAX_ARCHIVE_MEMBERS:
            self.problem = f"{path.name} holds {len(members)} files; at most {MAX_ARCHIVE_MEMBERS} are read"
            return
        for info in members:
            name = PurePosixPath(info.filename)
            if info.is_dir() or name.is_absolute() or ".." in name.parts:
                continue
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            self.files[name.as_posix()] = (-1 if is_link else info.file_size,
                                           None if is_link else (lambda i=info: archive.read(i)))


    def _notebooks(self) -> None:
        """Add the modules the notebooks' ``%%writefile`` cells write, in cell order (as running
        them would); an unreadable notebook is skipped like any other file that is not a module."""
        for path, (size, read) in list(self.files.items()):
            if not path.endswith(".ipynb") or read is None or size > MAX_NOTEBOOK_BYTES:
                continue
            try:
                cells = json.loads(read())["cells"]
                written: dict[str, bytes] = {}
                for cell in cells:
                    source = cell.get("source", "") if cell.get("cell_type") == "code" else ""
                    source = "".join(source) if isinstance(source, list) else str(source)
                    first, _, body = source.partition("\n")
                    match = WRITEFILE.fullmatch(first.strip())
                    if match:
                        name, data = match.group(2), body.encode("utf-8")
                        written[name] = written.get(name, b"") + data if match.group(1) else data
            except Exception:  # not JSON, not a notebook, a corrupt member
                continue
            folder = PurePosixPath(path).parent
            for name, data in written.items():
                self.files[(folder / name).as_posix()] = (len(data), lambda d=data: d)


def _candidates(files: dict, exercise: Exercise) -> list[str]:
    """Paths that may hold the exercise's module, best first."""
    wanted = f"{exercise.module}.py"
    matches = [p for p in files if PurePosixPath(p).name == wanted]

    def rank(path: str):
        parts = PurePosixPath(path).parts
        in_folder = len(parts) >= 2 and parts[-2] == exercise.name
        return (not in_folder, len(parts), path)

    return sorted(matches, key=rank)


def lay_out(source_path: Path, exercises: list[Exercise], dest: Path) -> Layout:
    """Copy each exercise's module from `source_path` into `dest/<exercise>/<module>.py`."""
    source = _Source(source_path)
    layout = Layout(student=student_id(source_path), source=source_path, impl_root=dest,
                    found={}, problems={}, ignored=[], digest="")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    digest = hashlib.sha256()
    used = set()
    for exercise in exercises:
        if source.problem:
            layout.problems[exercise.name] = source.problem
            continue
        candidates = _candidates(source.files, exercise)
        if not candidates:
            layout.problems[exercise.name] = f"no {exercise.module}.py in the submission"
            continue
        path = candidates[0]
        size, read = source.files[path]
        used.add(path)
        if read is None:
            layout.problems[exercise.name] = f"{path} is a link; links are not followed"
            continue
        if size > MAX_MODULE_BYTES:
            layout.problems[exercise.name] = f"{path} is {size} bytes; at most {MAX_MODULE_BYTES} are graded"
            continue
        try:
            data = read()[: MAX_MODULE_BYTES + 1]
        except Exception as exc:  # a corrupt archive member, an unreadable file: this module only
            layout.problems[exercise.name] = f"{path} could not be read ({type(exc).__name__}: {exc})"
            continue
        target = dest / exercise.name / f"{exercise.module}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o644)
        target.parent.chmod(0o755)
        layout.found[exercise.name] = path
        digest.update(f"{exercise.name}\0{len(data)}\0".encode() + data)
    dest.chmod(0o755)
    layout.ignored = sorted(p for p in source.files if p not in used and p.endswith(".py"))[:50]
    layout.digest = digest.hexdigest()
    return layout
