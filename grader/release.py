"""``python -m grader release OUT``: the bundle students get.

It holds the exercises (lessons, stubs, visible tests, metadata) and the harness, and installs with
``pip install -e OUT``. It holds no solutions, no hidden checks, no golden submissions, and its
``exercise.toml`` files lose their ``[hidden_points]`` (the grader's business).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from grader.checking.exercise import EXERCISES_DIR, KIT_ROOT, all_exercises

GRADER_LEFT_OUT = ("hidden", "__pycache__")
STUDENT_README = """# baozi-kit: exercises

```bash
python -m pip install -e . && python -m pytest exercises/      # set up, then run every check (they fail until you solve them)
python -m pytest exercises/ex01_queue_basics                    # one exercise
```

Work through the exercises in order; each folder holds the lesson (`README.md`), the module you
edit (look for `# TODO:`) and its visible checks.

{table}

Useful options: `--start-method fork|spawn|forkserver` (one start method only; by default every
check runs under your platform's default and under spawn), `--seed N` (other generated items),
`--impl DIR` (test modules laid out like `exercises/` somewhere else), `--budget-scale 2` (a slow
machine). A failing check says what it expected, what happened and what to look at; a hanging one is
stopped within a few seconds and tells you which process waits where.
"""


def _strip_hidden_points(text: str) -> str:
    """exercise.toml without its [hidden_points] table (and the comment line above it)."""
    return re.sub(r"(?:#[^\n]*\n)?\[hidden_points\]\n(?:[^\[\n][^\n]*\n|\n)*", "", text)


def _student_pyproject(text: str) -> str:
    """The kit's pyproject.toml with pytest set up for the exercises instead of the kit's own suite
    (whose options need its dev tools)."""
    section = re.search(r"(?:#[^\n]*\n)*\[tool\.pytest\.ini_options\]\n(?:[^\[][^\n]*\n|\n)*", text)
    assert section, "pyproject.toml has no [tool.pytest.ini_options]"
    return text[:section.start()] + '[tool.pytest.ini_options]\ntestpaths = ["exercises"]\n' + text[section.end():]


def build(out: Path) -> Path:
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} exists and is not empty: choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    exercises = all_exercises()
    shutil.copytree(EXERCISES_DIR, out / "exercises", ignore=shutil.ignore_patterns("__pycache__"))
    for exercise in exercises:
        toml = out / "exercises" / exercise.name / "exercise.toml"
        toml.write_text(_strip_hidden_points(toml.read_text(encoding="utf-8")), encoding="utf-8")
    shutil.copytree(KIT_ROOT / "grader", out / "grader", ignore=shutil.ignore_patterns(*GRADER_LEFT_OUT))
    (out / "pyproject.toml").write_text(_student_pyproject((KIT_ROOT / "pyproject.toml").read_text(encoding="utf-8")),
                                        encoding="utf-8")
    table = "\n".join(f"- `exercises/{e.name}`: {e.title}" for e in exercises)
    (out / "README.md").write_text(STUDENT_README.format(table=table), encoding="utf-8")
    return out


def main(args) -> int:
    path = build(args.out)
    print(f"student bundle written to {path}: install it with "
          f"`python -m pip install -e {path}`", file=sys.stderr)
    return 0
