"""What students get, in two forms:

- ``python -m grader release OUT``: the bundle, built from the kit's source folder. It holds the
  exercises (lessons, stubs, visible tests, metadata) and the harness, and installs with
  ``pip install -e OUT``.
- ``python -m grader init DIR``: a student's copy of the exercises alone, for a kit that is already
  installed (``pip install .``, the way ``rustlings init`` works): the installed kit's pytest plugin
  runs its checks.

Neither holds solutions, hidden checks (which carry their own points) or golden submissions.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from grader.checking.exercise import (BUNDLED, EXERCISES_DIR, PACKAGE_DIR, SOURCE_ROOT, Exercise,
                                     all_exercises)

GRADER_LEFT_OUT = ("hidden", "__pycache__", *BUNDLED)
# The first line of each README's commands: the bundle is installed first, a copy made by init is not.
BUNDLE_SETUP = ("python -m pip install -e . && python -m pytest exercises/      "
                "# set up, then run every check (they fail until you solve them)")
INIT_SETUP = ("python -m pytest exercises/                                   "
              "# run every check (they fail until you solve them)")
STUDENT_README = """# baozi-kit: exercises

```bash
{setup}
python -m pytest exercises/ex01_queue_basics                    # one exercise
```

Work through the exercises in order; each folder holds the lesson (`README.md`; 中文课文
`README.zh-CN.md`), the module you edit (look for `# TODO:`) and its visible checks.

{table}

Useful options: `--start-method fork|spawn|forkserver` (one start method only; by default every
check runs under your platform's default and under spawn), `--seed N` (other generated items),
`--impl DIR` (test modules laid out like `exercises/` somewhere else), `--budget-scale 2` (a slow
machine). A failing check says what it expected, what happened and what to look at; a hanging one is
stopped within a few seconds and tells you which process waits where.
"""


def _student_pyproject(text: str) -> str:
    """The kit's pyproject.toml with pytest set up for the exercises instead of the kit's own suite
    (whose options need its dev tools)."""
    section = re.search(r"(?:#[^\n]*\n)*\[tool\.pytest\.ini_options\]\n(?:[^\[][^\n]*\n|\n)*", text)
    assert section, "pyproject.toml has no [tool.pytest.ini_options]"
    return text[:section.start()] + '[tool.pytest.ini_options]\ntestpaths = ["exercises"]\n' + text[section.end():]


def _new_folder(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SystemExit(f"{out} exists and is not empty: choose a new folder")
    out.mkdir(parents=True, exist_ok=True)


def _write_exercises(out: Path) -> list[Exercise]:
    """The exercises as students get them, in ``out/exercises`` (the caller writes the README)."""
    exercises = all_exercises()
    # .baozi: a student's progress and backups (grader.student.progress), never part of a copy
    shutil.copytree(EXERCISES_DIR, out / "exercises", ignore=shutil.ignore_patterns("__pycache__", ".baozi"))
    return exercises


def _readme(exercises: list[Exercise], setup: str) -> str:
    table = "\n".join(f"- `exercises/{e.name}`: {e.title}" for e in exercises)
    return STUDENT_README.format(setup=setup, table=table)


def build(out: Path) -> Path:
    """The student bundle in `out`, a new folder."""
    if SOURCE_ROOT is None:
        raise SystemExit("release builds the bundle from the kit's source folder, and this kit is an "
                         "installed copy: run it from a checkout, or write a student's copy of the "
                         "exercises with `python -m grader init DIR`")
    _new_folder(out)
    exercises = _write_exercises(out)
    shutil.copytree(PACKAGE_DIR, out / "grader", ignore=shutil.ignore_patterns(*GRADER_LEFT_OUT))
    pyproject = (SOURCE_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (out / "pyproject.toml").write_text(_student_pyproject(pyproject), encoding="utf-8")
    shutil.copy2(SOURCE_ROOT / "setup.py", out / "setup.py")
    (out / "README.md").write_text(_readme(exercises, BUNDLE_SETUP), encoding="utf-8")
    return out


def init(out: Path) -> Path:
    """A student's copy of the exercises in `out`, a new folder, for the kit installed here."""
    _new_folder(out)
    exercises = _write_exercises(out)
    (out / "README.md").write_text(_readme(exercises, INIT_SETUP), encoding="utf-8")
    return out


def main(args) -> int:
    path = build(args.out)
    print(f"student bundle written to {path}: install it with "
          f"`python -m pip install -e {path}`", file=sys.stderr)
    return 0


def init_main(args) -> int:
    path = init(args.dir)
    print(f"the exercises are in {path / 'exercises'}: start with\n"
          f"  cd {path}\n  python -m pytest exercises/ex01_queue_basics", file=sys.stderr)
    return 0
