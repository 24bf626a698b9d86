"""Put the kit's grades into an nbgrader gradebook: ``python -m grader batch … --nbgrader-db PATH``.

The gradebook mirrors the exported course (``grader.integrations.nbgrader_export``): one notebook per
exercise, named after its folder, and one grade cell per check, named after its function (``test_*``
visible, ``check_*`` hidden), worth its points. If ``nbgrader generate_assignment`` already made them,
they are used as they are; if not, they are created, so a gradebook of its own works too. Each student's
score for a check becomes that cell's ``auto_score`` (the kit's share for a check run under several
start methods); a manual score an instructor gave is left alone, and wins, as nbgrader wants.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from grader.checking.exercise import Exercise, all_exercises
from grader.grading.checklist import checks_for

INSTALL = "it needs nbgrader: python -m pip install 'baozi-kit[nbgrader]'"


def db_url(path: Path | str) -> str:
    """An SQLAlchemy URL: a path becomes sqlite:///<absolute path>, a URL stays as it is."""
    text = str(path)
    return text if "://" in text else f"sqlite:///{Path(text).resolve()}"


def unusable(path: Path) -> str | None:
    """Why the gradebook cannot be written (checked before any grading), or None."""
    if importlib.util.find_spec("nbgrader") is None:
        return INSTALL
    if "://" not in str(path) and not Path(path).resolve().parent.is_dir():
        return f"{Path(path).parent} is not a folder"
    return None


def _ensure_structure(gb, assignment: str, exercises: list[Exercise]) -> None:
    from nbgrader.api import MissingEntry

    gb.update_or_create_assignment(assignment)
    for exercise in exercises:
        try:
            gb.find_notebook(exercise.name, assignment)
        except MissingEntry:
            gb.add_notebook(exercise.name, assignment)
        for check in checks_for(exercise):
            try:
                gb.find_grade_cell(check.name, exercise.name, assignment)
            except MissingEntry:
                gb.add_grade_cell(check.name, exercise.name, assignment, max_score=check.points,
                                  cell_type="code")


def _submission_grades(gb, assignment: str, student: str) -> dict[tuple[str, str], object]:
    """(notebook, grade cell) -> the student's Grade row, creating the rows a submission made
    before the structure grew lacks."""
    from nbgrader.api import Grade, SubmittedNotebook

    submission = gb.update_or_create_submission(assignment, student)
    have = {nb.notebook.name: nb for nb in submission.notebooks}
    for notebook in submission.assignment.notebooks:
        submitted = have.get(notebook.name) or SubmittedNotebook(notebook=notebook, assignment=submission)
        graded = {g.cell_id for g in submitted.grades}
        for cell in notebook.grade_cells:
            if cell.id not in graded:
                Grade(cell_id=cell.id, notebook=submitted)
    gb.db.commit()
    return {(nb.notebook.name, g.cell.name): g for nb in submission.notebooks for g in nb.grades}


def writer(path: Path, assignment: str) -> Callable[[list], None]:
    """What ``batch --nbgrader-db`` does once its submissions are graded: write their grades."""

    def write_graded(graded: list) -> None:
        write(path, assignment, graded, all_exercises())
        print(f"grades written to the nbgrader gradebook {path} (assignment {assignment})", file=sys.stderr)

    return write_graded


def write(path: Path, assignment: str, graded: list, exercises: list[Exercise]) -> int:
    """Write every graded submission's check scores; return how many grades were set."""
    from nbgrader.api import Gradebook

    checks = {(c.exercise.name, c.title): c for e in exercises for c in checks_for(e)}
    count = 0
    with warnings.catch_warnings(), Gradebook(db_url(path)) as gb:
        # nbgrader's own add_submission makes SQLAlchemy warn about its autoflush; nothing of ours
        warnings.filterwarnings("ignore", message=".*not in session.*")
        _ensure_structure(gb, assignment, exercises)
        for result in graded:
            gb.update_or_create_student(result.student)
            grades = _submission_grades(gb, assignment, result.student)
            for test in result.tests:
                check = checks.get((test["tags"][0], test["name"]))
                grade = grades.get((check.exercise.name, check.name)) if check else None
                if grade is None:
                    continue  # a check of another version of the kit: nothing to put it on
                grade.auto_score = float(test["score"])
                grade.needs_manual_grade = False
                count += 1
            gb.db.commit()
    return count
