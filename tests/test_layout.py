"""The shape of the kit's package: four layers with one import direction, and names that cannot be
confused (what the plugin costs an unrelated project: tests/test_plugin.py).

    grader/checking/      runs a check and explains it (runs on the student's machine too)
    grader/student/       the student's loop: watch, status and the progress they keep
    grader/grading/       grades submissions: the plan, the sandbox, the runner, the files
    grader/distributed/   grading on RabbitMQ workers
    grader/integrations/  nbgrader, Jupyter, Gradescope
    grader/*.py           the commands on top (python -m grader ...)

Read from the source with ``ast``: an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
import itertools
import textwrap
from pathlib import Path

from grader.checking.exercise import KIT_ROOT

PACKAGE = KIT_ROOT / "grader"
# What each layer may import besides itself. The commands on top may import every layer.
MAY_IMPORT = {
    "checking": set(),
    "student": {"checking"},
    "grading": {"checking"},
    "distributed": {"checking", "grading"},
    "integrations": {"checking", "grading"},
}
COMMANDS = {"__init__", "__main__", "check", "release"}


def imports_of(path: Path, package: Path) -> set[str]:
    """The modules of the ``grader`` package that the module at `path` imports (absolute names,
    with ``from grader.x import y`` counted as both ``grader.x`` and ``grader.x.y``)."""
    here = list(path.relative_to(package.parent).with_suffix("").parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = here[:len(here) - node.level]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == package.name or name.startswith(package.name + ".")}


def layer_of(module: str) -> str:
    """The layer a ``grader...`` module name belongs to: a layer's name, or "commands"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in MAY_IMPORT else "commands"


def wrong_imports(package: Path) -> list[str]:
    """Every import that goes against the direction, as "importer -> imported"."""
    wrong = []
    for path in sorted(package.rglob("*.py")):
        importer = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        own = layer_of(importer)
        if own == "commands":
            continue
        for name in sorted(imports_of(path, package)):
            target = layer_of(name)
            if name == package.name:
                continue  # the package itself (its __init__ is empty)
            if target != own and target not in MAY_IMPORT[own]:
                wrong.append(f"{importer} -> {name}")
    return wrong


def test_each_layer_imports_only_the_layers_below_it():
    assert wrong_imports(PACKAGE) == []


def test_the_direction_check_finds_an_import_against_it(tmp_path):
    """The check above can fail: a made-up package whose checking layer reaches up into grading,
    at the top and inside a function, and whose grading layer imports a command."""
    package = tmp_path / "grader"
    for folder in ("checking", "grading"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "check.py").write_text("from grader.grading import runner\n")
    (package / "grading" / "runner.py").write_text("from grader.checking import harness\nfrom grader import check\n")
    (package / "checking" / "harness.py").write_text(textwrap.dedent("""\
        from grader.grading import runner

        def later():
            from ..grading.runner import run
        """))
    assert wrong_imports(package) == ["grader.checking.harness -> grader.grading",
                                      "grader.checking.harness -> grader.grading.runner",
                                      "grader.checking.harness -> grader.grading.runner.run",
                                      "grader.grading.runner -> grader.check"]


def test_only_the_commands_sit_at_the_top_of_the_package():
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert top == COMMANDS
    assert {path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name != "__pycache__"} == set(MAY_IMPORT)


def one_edit_apart(a: str, b: str) -> bool:
    """Whether `b` is `a` with one letter added, removed or changed."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def test_no_two_modules_are_a_letter_apart():
    names = sorted({path.stem for path in PACKAGE.rglob("*.py")} - {"__init__", "__main__"})
    close = [(a, b) for a, b in itertools.combinations(names, 2) if one_edit_apart(a, b)]
    assert close == []
    assert one_edit_apart("check", "checks") and one_edit_apart("grade", "grader")
