"""``python -m grader nbgrader export COURSE_DIR``: the kit as a ready nbgrader course.

It writes ``COURSE_DIR/nbgrader_config.py`` and ``COURSE_DIR/source/<assignment>/<exercise>.ipynb``
for every exercise (``grader.checking.exercise.all_exercises()``, so a new exercise appears by itself):

1. the lesson (the exercise's README.md), as markdown;
2. the student's code: one ``%%writefile <module>.py`` cell, so the worker functions live in a module
   that child processes can import under every start method. The source notebook holds the stub
   with the reference solution of each function between ``### BEGIN SOLUTION`` and
   ``### END SOLUTION``; ``nbgrader generate_assignment`` strips those regions, which leaves the
   stub's docstrings and TODOs and a ``raise NotImplementedError()`` in every function;
3. one autograded test cell per check, worth its points from ``exercise.toml``: the visible checks in
   the open, the hidden ones between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``. Each calls
   ``grader.integrations.notebook.check``, which runs the module in fresh processes within the check's
   time budget, so a hang ends inside its cell with the kit's report.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import sys
import textwrap
from pathlib import Path

from grader.checking import mistakes
from grader.checking.exercise import Exercise, SOLUTIONS_DIR, all_exercises
from grader.grading.checklist import Check, checks_for

DEFAULT_ASSIGNMENT = "baozi"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"  # what nbgrader leaves of a solution
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CELL_TIMEOUT = 300  # nbgrader's cell timeout: a last resort, every check ends itself far sooner

CONFIG = f'''\
"""nbgrader configuration of the baozi-kit course (written by `python -m grader nbgrader export`)."""

c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.course_id = "baozi"

# Every check ends itself within its own time budget, a hang too (with the kit's HANG report of
# which process waits where), so this cell timeout is only a last resort.
c.Execute.timeout = {CELL_TIMEOUT}

# What generate_assignment leaves of each solution region. Inside a function it keeps the module
# importable, and the kit reports "NOT WRITTEN YET" for the function.
c.ClearSolutions.code_stub = {{"python": {CODE_STUB!r}}}
'''


class ExportError(ValueError):
    """The course cannot be written as asked (a folder in the way, an exercise that cannot merge)."""


# --------------------------------------------------------------------------- the student's module


def _is_not_implemented(node: ast.stmt) -> bool:
    if not isinstance(node, ast.Raise) or node.exc is None:
        return False
    target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return isinstance(target, ast.Name) and target.id == "NotImplementedError"


def _docstring_end(node: ast.FunctionDef) -> int | None:
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first.end_lineno
    return None


def _body(node: ast.FunctionDef, lines: list[str]) -> list[str]:
    """The function's body without its docstring, comments included, dedented."""
    start = _docstring_end(node)
    if start is None:
        start = node.body[0].lineno - 1
        while start > node.lineno and lines[start - 1].strip().startswith("#"):
            start -= 1  # comments above the first statement belong to the body
    body = lines[start:node.end_lineno]
    while body and not body[0].strip():
        body.pop(0)
    return textwrap.dedent("\n".join(body)).splitlines()


def _region(lines: list[str], indent: str) -> list[str]:
    return [indent + BEGIN, *[(indent + line) if line.strip() else "" for line in lines], indent + END]


def _is_main_block(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":``: the solution's demo, not needed by any check."""
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def _name(node: ast.stmt) -> str | None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def merge(stub: str, solution: str) -> str:
    """The stub, with each function's reference body in a solution region where the stub raises
    NotImplementedError.

    Stripping the regions gives back the stub's shape: its docstrings, its TODOs, and a raise in
    every function. What the solution has at top level and the stub has not goes along too:
    imports in the open (they give nothing away), anything else (a helper, a constant) in a region
    of its own, guarded so that the stripped module still imports. The solution's
    ``if __name__ == "__main__":`` demo is left out.
    """
    stub_tree, solution_tree = ast.parse(stub), ast.parse(solution)
    stub_lines, solution_lines = stub.splitlines(), solution.splitlines()
    solved = {n.name: n for n in solution_tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    edits: list[tuple[int, int, list[str]]] = []  # (first line, last line, replacement), 1-based
    for node in stub_tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name not in solved:
            continue
        raises = [s for s in node.body if _is_not_implemented(s)]
        body = _body(solved[node.name], solution_lines)
        if raises:
            first, last = raises[0].lineno, raises[-1].end_lineno
        elif ast.dump(node) != ast.dump(solved[node.name]):  # no raise to replace: the whole body
            first, last = (_docstring_end(node) or node.body[0].lineno - 1) + 1, node.end_lineno
        else:
            continue
        indent = re.match(r"\s*", stub_lines[(raises or node.body)[0].lineno - 1]).group(0)
        edits.append((first, last, _region(body, indent)))

    stub_imports = {ast.unparse(n) for n in stub_tree.body if isinstance(n, (ast.Import, ast.ImportFrom))}
    stub_names = {_name(n) for n in stub_tree.body} - {None}
    imports, extras = [], []
    for node in solution_tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if ast.unparse(node) not in stub_imports:
                imports.append(ast.unparse(node))
        elif _is_main_block(node) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            continue
        elif _name(node) not in stub_names:
            extras += solution_lines[node.lineno - 1:node.end_lineno] + [""]

    first_def = next((min([n.lineno, *(d.lineno for d in n.decorator_list)]) for n in stub_tree.body
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))),
                     len(stub_lines) + 1)
    block = []
    if extras:
        block += ["try:  # the reference solution's helpers; in your copy this block is yours to fill",
                  *_region(extras, "    "), "except NotImplementedError:", "    pass", "", ""]
    if imports:
        block = [*imports, "", "", *block] if not extras else [*imports, "", *block]
    if block:
        edits.append((first_def, first_def - 1, block))  # an insertion before the first def

    lines = list(stub_lines)
    for first, last, replacement in sorted(edits, reverse=True):
        lines[first - 1:last] = replacement
    return "\n".join(lines).rstrip() + "\n"


def strip_solutions(source: str, stub: str = CODE_STUB) -> str:
    """What ``nbgrader generate_assignment`` leaves of `source`: each region becomes the code stub,
    indented like its BEGIN line (a copy of nbgrader's rule, to check the merge before writing)."""
    out, inside = [], False
    for line in source.splitlines():
        if BEGIN.lstrip("# ") in line:
            inside = True
            indent = re.match(r"\s*", line).group(0)
            out += [indent + s for s in stub.splitlines()]
        elif END.lstrip("# ") in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out) + "\n"


def student_module(exercise: Exercise) -> str:
    """The module of the source notebook: the stub merged with the reference solution."""
    try:
        stub = (exercise.folder / f"{exercise.module}.py").read_text(encoding="utf-8")
        solution = (SOLUTIONS_DIR / exercise.name / f"{exercise.module}.py").read_text(encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"{exercise.name}: the stub or the reference solution is missing ({exc})") from None
    merged = merge(stub, solution)
    for what, text in (("the merged module", merged), ("the module once stripped", strip_solutions(merged))):
        try:
            compile(text, f"{exercise.module}.py", "exec")
        except SyntaxError as exc:
            raise ExportError(f"{exercise.name}: {what} does not compile ({exc}); "
                              f"check that the stub and the solution have the same functions") from None
    return merged


# --------------------------------------------------------------------------- the notebook


def _cell(kind: str, cell_id: str, source: str, **nbgrader) -> dict:
    cell = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": source}
    if nbgrader:
        cell["metadata"]["nbgrader"] = {"grade": False, "solution": False, "locked": False,
                                        "task": False, "schema_version": 3, "grade_id": cell_id,
                                        **nbgrader}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _points(count: int, language: str = "en") -> str:
    return mistakes.say("notebook", "point" if count == 1 else "points", language, count=count)


def _said(name: str, languages: tuple[str, ...], **params) -> str:
    """The notebook's words `name` in each of `languages`, the first first, a rule between them."""
    return "\n\n---\n\n".join(mistakes.say("notebook", name, language, **params) for language in languages)


def _check_source(check: Check, languages: tuple[str, ...] = ("en",)) -> str:
    lang = "" if languages == ("en",) else f', lang="{",".join(languages)}"'
    call = f'from grader.integrations.notebook import check\ncheck("{check.exercise.name}", "{check.name}"{lang})'
    points = _points(check.points, languages[0])
    if not check.hidden:
        return f"# {check.title} ({points})\n{call}"
    hidden = mistakes.say("notebook", "hidden-check", languages[0], points=points)
    return f"# {hidden}\n### BEGIN HIDDEN TESTS\n{call}\n### END HIDDEN TESTS"


def _lesson(exercise: Exercise, languages: tuple[str, ...]) -> str:
    """The exercise's lesson in each of `languages` (README.md, README.zh-CN.md), the first first."""
    files = {"en": "README.md", "zh_CN": "README.zh-CN.md"}
    return "\n\n---\n\n".join((exercise.folder / files[language]).read_text(encoding="utf-8").strip()
                                for language in languages)


def notebook(exercise: Exercise, languages: tuple[str, ...] = ("en",)) -> dict:
    """The source notebook of one exercise (nbformat 4.5, nbgrader metadata); its lesson and the
    checks' reports in `languages`."""
    cells = [_cell("markdown", "lesson", _lesson(exercise, languages), locked=True),
             _cell("markdown", "how-it-works", _said("how-it-works", languages, module=exercise.module), locked=True)]
    if exercise.needs_broker:  # services = ["rabbitmq"] in its exercise.toml
        cells.append(_cell("markdown", "broker", _said("broker-note", languages), locked=True))
    cells.append(_cell("code", f"{exercise.module}_py",
                       f"%%writefile {exercise.module}.py\n{student_module(exercise)}", solution=True))
    checks = checks_for(exercise)
    total = sum(c.points for c in checks)
    checks_text = "\n\n".join(mistakes.say("notebook", "checks", language, points=_points(total, language))
                              for language in languages)
    cells.append(_cell("markdown", "checks", checks_text, locked=True))
    for found in checks:
        cells.append(_cell("code", found.name, _check_source(found, languages), grade=True, locked=True,
                           points=found.points))
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "language_info": {"name": "python"}}}


# --------------------------------------------------------------------------- the course


def select(names: list[str] | None) -> list[Exercise]:
    """Every exercise, or the named ones (in kit order); an unknown name is an error."""
    exercises = all_exercises()
    if not names:
        return exercises
    known = {e.name for e in exercises}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ExportError(f"no such exercise: {', '.join(unknown)} (the kit has {', '.join(sorted(known))})")
    return [e for e in exercises if e.name in names]


def export(course: Path, exercises: list[Exercise], *, assignment: str = DEFAULT_ASSIGNMENT,
           force: bool = False, languages: tuple[str, ...] = ("en",)) -> list[Path]:
    """Write the course; return the notebooks written. An existing nbgrader_config.py is kept."""
    if not re.fullmatch(r"[\w.-]+", assignment):
        raise ExportError(f"{assignment!r} is not a usable assignment name (letters, digits, . _ -)")
    folder = course / "source" / assignment
    if folder.exists() and any(folder.iterdir()):
        if not force:
            raise ExportError(f"{folder} exists and is not empty: use --force to replace it")
        shutil.rmtree(folder)
    notebooks = {e.name: notebook(e, languages) for e in exercises}  # every merge checked before writing
    folder.mkdir(parents=True, exist_ok=True)
    config = course / "nbgrader_config.py"
    if not config.exists():
        config.write_text(CONFIG, encoding="utf-8")
    written = []
    for name, content in notebooks.items():
        path = folder / f"{name}.ipynb"
        path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def main(args) -> int:
    names = [n.strip() for n in args.exercises.split(",") if n.strip()] if args.exercises else None
    try:
        written = export(args.course, select(names), assignment=args.assignment, force=args.force,
                         languages=args.lang)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} notebooks to {args.course / 'source' / args.assignment}; next:\n"
          f"  cd {args.course} && nbgrader generate_assignment {args.assignment}", file=sys.stderr)
    return 0
