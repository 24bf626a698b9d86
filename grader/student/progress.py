"""Where a student stands, kept between runs of ``watch`` and read by ``status``.

The state lives beside the student's own copy of the modules (the folder ``--impl`` names, else the
``exercises/`` folder they edit), in ``.baozi/``: never in a file the kit's repository tracks. It is a
small JSON file, rewritten whole (a temporary file renamed over it) after every run; one that cannot
be read is set aside and the student starts over, with a note.

``.baozi/`` also keeps what ``x`` (reset) needs: a copy of each stub as it was the first time ``watch``
saw it unwritten (when the student edits the kit's own ``exercises/`` folder), and a backup of every
module before a reset replaced it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

from grader.checking import mistakes
from grader.checking.exercise import Exercise

STATE_DIR = ".baozi"
STATE_FILE = "progress.json"
VERSION = 1
MAX_STATE_BYTES = 200_000
STUB_MARK = "NotImplementedError"  # a module that still raises it has not been written yet

@dataclasses.dataclass
class ExerciseState:
    ran: bool = False  # its checks ran at least once
    done: bool = False  # every visible check passed, the last time they ran
    passed: int = 0
    checks: int = 0
    points: float = 0.0
    of_points: float = 0.0


@dataclasses.dataclass
class Progress:
    path: Path
    current: str | None = None
    exercises: dict[str, ExerciseState] = dataclasses.field(default_factory=dict)
    hints: dict[str, int] = dataclasses.field(default_factory=dict)  # exercise -> hint levels shown
    notes: list[mistakes.Words] = dataclasses.field(default_factory=list)  # for the screen, not saved

    @classmethod
    def load(cls, workspace: Path) -> Progress:
        path = workspace / STATE_DIR / STATE_FILE
        progress = cls(path)
        if not path.exists():
            return progress
        try:
            data = _read(path)
            progress.current = data.get("current") if isinstance(data.get("current"), str) else None
            for name, fields in dict(data.get("exercises", {})).items():
                known = {f.name for f in dataclasses.fields(ExerciseState)}
                progress.exercises[str(name)] = ExerciseState(**{k: v for k, v in dict(fields).items() if k in known})
            progress.hints = {str(k): int(v) for k, v in dict(data.get("hints", {})).items()}
        except (OSError, ValueError, TypeError) as error:
            aside = path.with_name(f"{STATE_FILE}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                os.replace(path, aside)
            except OSError:
                pass
            fresh = cls(path)
            fresh.notes.append(mistakes.Words("progress-unreadable", section="screen", path=path, error=error,
                                              aside=aside.name))
            return fresh
        return progress

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": VERSION, "current": self.current, "hints": self.hints,
                "exercises": {name: dataclasses.asdict(state) for name, state in self.exercises.items()}}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(temporary, self.path)

    def record(self, exercise: str, *, passed: int, checks: int, points: float, of_points: float,
               done: bool) -> None:
        self.exercises[exercise] = ExerciseState(True, done, passed, checks, points, of_points)

    def state_of(self, exercise: str) -> ExerciseState:
        return self.exercises.get(exercise, ExerciseState())

    def first_not_done(self, exercises: list[Exercise]) -> str:
        """The exercise to work on: the first one not done (the last one when all are)."""
        for exercise in exercises:
            if not self.state_of(exercise.name).done:
                return exercise.name
        return exercises[-1].name

    def rows(self, exercises: list[Exercise], language: str = mistakes.DEFAULT_LANGUAGE) -> list[tuple[str, ...]]:
        """The status table's rows, one per exercise, in order, in `language`."""
        rows = []
        for number, exercise in enumerate(exercises, 1):
            state = self.state_of(exercise.name)
            if state.done:
                word = "done"
            elif exercise.name == self.current:
                word = "current"
            else:
                word = "started" if state.ran else "new"
            points = sum(exercise.points.values())
            rows.append((str(number), exercise.name, exercise.title_in(language), say(f"progress-{word}", language),
                         f"{state.passed}/{state.checks or len(exercise.points)}" if state.ran else "-",
                         f"{state.points:g}/{points:g}" if state.ran else f"-/{points:g}"))
        return rows


def say(key: str, language: str, /, **params) -> str:
    """The words `key` of the student's screens (the catalogue's ``[screen]``) in `language`."""
    return mistakes.say("screen", key, language, **params)


def render_table(progress: Progress, exercises: list[Exercise], language: str = mistakes.DEFAULT_LANGUAGE):
    """The status table, as a rich renderable, in `language`."""
    from rich.table import Table
    from rich.text import Text

    styles = {say("progress-done", language): "green", say("progress-current", language): "bold cyan"}
    table = Table(title=say("progress-title", language), title_justify="left")
    for column in ("#", *(say(f"progress-column-{name}", language)
                          for name in ("exercise", "title", "state", "passed", "points"))):
        table.add_column(column, overflow="fold")
    for row in progress.rows(exercises, language):
        table.add_row(*(Text(cell) for cell in row), style=styles.get(row[3], ""))
    return table


def _read(path: Path) -> dict:
    with open(path, "rb") as file:
        raw = file.read(MAX_STATE_BYTES + 1)
    if len(raw) > MAX_STATE_BYTES:
        raise ValueError("too big")
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError("not a progress file of this kit")
    return data


# -- the stubs and backups for a reset -----------------------------------------------------------

def remember_stub(workspace: Path, module_file: Path, exercise: str) -> None:
    """Keep a copy of `module_file` while it is still a stub, the first time it is seen so."""
    copy = workspace / STATE_DIR / "stubs" / exercise / module_file.name
    if copy.exists() or not module_file.is_file():
        return
    try:
        text = module_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    if STUB_MARK in text:
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(text, encoding="utf-8")


def stub_source(workspace: Path, kit_exercises: Path, exercise: Exercise) -> Path | None:
    """The stub a reset restores: the kit's own when the student works elsewhere, else the copy
    kept the first time it was seen unwritten; None if there is none."""
    kit_stub = kit_exercises / exercise.name / f"{exercise.module}.py"
    if workspace.resolve() != kit_exercises.resolve() and kit_stub.is_file():
        return kit_stub
    kept = workspace / STATE_DIR / "stubs" / exercise.name / f"{exercise.module}.py"
    return kept if kept.is_file() else None


def reset(module_file: Path, stub: Path, workspace: Path, exercise: str) -> Path | None:
    """Back the module up (if there is one), then put the stub in its place. The backup's path."""
    backup = None
    if module_file.exists():
        backup = workspace / STATE_DIR / "backups" / exercise / f"{module_file.stem}-{time.strftime('%Y%m%d-%H%M%S')}.py"
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(module_file, backup)
    module_file.parent.mkdir(parents=True, exist_ok=True)
    temporary = module_file.with_suffix(".baozi-reset")
    shutil.copyfile(stub, temporary)
    os.replace(temporary, module_file)
    return backup
