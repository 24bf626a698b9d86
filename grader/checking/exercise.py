"""One exercise's metadata, loaded from ``exercises/<exercise>/exercise.toml``.

Everything the kit knows about an exercise (title, module, points per check and time budget) lives
in that one file; the pytest plugin and the grader derive the rest from it. Its words, hints
included, are in the catalogue (grader.checking.mistakes), in each language; an exercise the
catalogue has no hints for yet may give English ones in its ``[hints]`` and ``[hint_levels]``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

from grader.checking import mistakes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # grader/ (this is grader/checking/exercise.py)
KIT_ROOT = PACKAGE_DIR.parent  # the folder grader/ is imported from
# A kit installed with ``pip install .`` carries its exercises and solutions inside grader/
# (setup.py); a checkout (or an editable install of one) keeps them beside it.
BUNDLED = ("exercises", "solutions")
_KIT_FILES = PACKAGE_DIR if (PACKAGE_DIR / "exercises").is_dir() else KIT_ROOT
EXERCISES_DIR = _KIT_FILES / "exercises"
SOLUTIONS_DIR = _KIT_FILES / "solutions"
# The checkout, where there is one: what release and the Gradescope build copy from.
SOURCE_ROOT = KIT_ROOT if _KIT_FILES == KIT_ROOT and (KIT_ROOT / "pyproject.toml").is_file() else None
METADATA_FILE = "exercise.toml"
HINT_LEVELS = ("idea", "where")  # [hint_levels], in the order a student gets them
SERVICES = ("rabbitmq",)  # what an exercise may need besides Python (``services = [...]``)


class MetadataError(ValueError):
    """An exercise.toml that does not match the schema."""


@dataclasses.dataclass(frozen=True)
class Budget:
    """How long one check may take: ``margin + per_process * processes + work * work_factor``.

    ``work`` is what the check asks for (items times delays); ``per_process`` pays for starting a
    process, which is slower under spawn and forkserver (a fresh interpreter) than under fork.
    """

    margin: float = 1.5
    per_process: float = 0.05
    per_process_spawn: float = 0.15
    work_factor: float = 1.5

    def seconds(self, *, work: float, processes: int, start_method: str, scale: float = 1.0) -> float:
        startup = self.per_process if start_method == "fork" else self.per_process_spawn
        return scale * (self.margin + startup * processes + self.work_factor * work)


def number_of(name: str) -> str:
    """An exercise's number from its folder's name: "ex04" for "ex04_many"."""
    return name.split("_", 1)[0]


@dataclasses.dataclass(frozen=True)
class Exercise:
    name: str  # folder name, e.g. "ex03_sentinel"
    title: str
    module: str  # module name, e.g. "sentinel"
    functions: tuple[str, ...]
    points: dict[str, int]  # visible test function name -> points (a hidden check carries its own)
    hints: dict[str, str]  # function name -> the one thing to look at (the shape of the code)
    budget: Budget
    services: tuple[str, ...] = ()  # e.g. ("rabbitmq",): the checks need a running broker
    # The hints before `hints`, one more each time a student asks (watch's h): "idea" (the
    # concept, no code), then "where" (where to look, the calls that matter).
    hint_levels: dict[str, str] = dataclasses.field(default_factory=dict)

    def title_in(self, language: str = mistakes.DEFAULT_LANGUAGE) -> str:
        """The exercise's title in `language`: the catalogue's ``[title.exNN]``, else its own."""
        return mistakes.find("title", self.number, language) or self.title

    def hint(self, function: str, language: str = mistakes.DEFAULT_LANGUAGE) -> str | None:
        """The one thing to look at in `function`, in `language`: the catalogue's
        ``[hint.exNN.<function>]``, else the exercise.toml's ``[hints]`` (an exercise the catalogue
        has no words for yet)."""
        return mistakes.find("hint", f"{self.number}.{function}", language) or self.hints.get(function)

    def levels(self, language: str = mistakes.DEFAULT_LANGUAGE) -> dict[str, str]:
        """The hints before the functions' ones, by level (HINT_LEVELS), in `language`: from the
        catalogue (``[hint.exNN.idea]``, ``[hint.exNN.where]``), else the exercise.toml's."""
        found = {level: mistakes.find("hint", f"{self.number}.{level}", language) for level in HINT_LEVELS}
        return {level: text for level, text in found.items() if text} or dict(self.hint_levels)

    @property
    def number(self) -> str:
        """"ex04": how the catalogue's keys and words name the exercise."""
        return number_of(self.name)

    @property
    def needs_broker(self) -> bool:
        return "rabbitmq" in self.services

    @property
    def folder(self) -> Path:
        return EXERCISES_DIR / self.name

    def module_file(self, impl_root: Path) -> Path:
        """Where this exercise's module lives in a tree laid out like ``exercises/``.

        A flat folder (``impl_root/<module>.py``) is accepted too.
        """
        nested = impl_root / self.name / f"{self.module}.py"
        flat = impl_root / f"{self.module}.py"
        return flat if not nested.exists() and flat.exists() else nested


def _take(table: dict, key: str, kind: type, where: str):
    value = table.pop(key)
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        raise MetadataError(f"{where}: '{key}' must be a {kind.__name__}, not {type(value).__name__}")
    return value


def _reject_unknown(table: dict, where: str) -> None:
    if table:
        raise MetadataError(f"{where}: unknown key(s) {', '.join(sorted(table))}")


def _points(table: dict, prefix: str, where: str) -> dict[str, int]:
    points = {}
    for check, value in table.items():
        if not check.startswith(prefix):
            raise MetadataError(f"{where}: '{check}' should start with '{prefix}'")
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise MetadataError(f"{where}: points for '{check}' must be a positive integer")
        points[check] = value
    return points


def load(folder: Path) -> Exercise:
    """Load and validate ``folder/exercise.toml``; unknown or missing keys are errors."""
    path = folder / METADATA_FILE
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MetadataError(f"{where}: {exc}") from exc
    try:
        # An exercise's title is in the catalogue ([title.exNN]); a new one may give it here.
        title = (_take(data, "title", str, where) if "title" in data
                 else mistakes.find("title", number_of(folder.name)))
        if title is None:
            raise KeyError("title")
        module = _take(data, "module", str, where)
        functions = tuple(_take(data, "functions", list, where))
        points_table = _take(data, "points", dict, where)
        hints = dict(_take(data, "hints", dict, where)) if "hints" in data else {}
        budget_table = dict(data.pop("budget", {}))
        services = tuple(data.pop("services", ()))
        levels_table = dict(data.pop("hint_levels", {}))
    except KeyError as exc:
        raise MetadataError(f"{where}: missing key {exc}") from None
    if "hidden_points" in data:
        raise MetadataError(f"{where}: a hidden check carries its own points, @points(N) above it in "
                            f"grader/grading/hidden/{folder.name}.py, not in [hidden_points]")
    _reject_unknown(data, where)

    unknown = [s for s in services if s not in SERVICES]
    if unknown:
        raise MetadataError(f"{where}: unknown service(s) {unknown}; known: {', '.join(SERVICES)}")
    points = _points(points_table, "test_", where)
    for function, hint in hints.items():
        if function not in functions or not isinstance(hint, str):
            raise MetadataError(f"{where}: [hints] '{function}' must name a function and be a string")
    hint_levels = {level: levels_table.pop(level) for level in HINT_LEVELS if level in levels_table}
    _reject_unknown(levels_table, f"{where} [hint_levels]")
    if not all(isinstance(text, str) and text.strip() for text in hint_levels.values()):
        raise MetadataError(f"{where}: [hint_levels] each level must be a non-empty string")
    budget_args = {}
    for field in dataclasses.fields(Budget):
        if field.name in budget_table:
            budget_args[field.name] = _take(budget_table, field.name, float, f"{where} [budget]")
    _reject_unknown(budget_table, f"{where} [budget]")
    return Exercise(
        name=folder.name,
        title=title,
        module=module,
        functions=functions,
        points=points,
        hints=hints,
        budget=Budget(**budget_args),
        services=services,
        hint_levels=hint_levels,
    )


def all_exercises(root: Path = EXERCISES_DIR) -> list[Exercise]:
    """Every exercise under ``root``, in folder order (ex01, ex02, ...)."""
    return [load(folder) for folder in sorted(root.iterdir()) if (folder / METADATA_FILE).is_file()]


def find(name: str, root: Path = EXERCISES_DIR) -> Exercise:
    return load(root / name)


# What decides a verdict: two machines with the same fingerprint grade alike, whether their kits
# are checkouts or installed copies.
FINGERPRINTED = {"grader": ("**/*.py",), "exercises": ("*/exercise.toml", "*/test_*.py")}


def kit_fingerprint(package: Path = PACKAGE_DIR, exercises: Path = EXERCISES_DIR) -> str:
    """A short digest of every file of the kit that decides a verdict (FINGERPRINTED): the grader
    package (without the exercises and solutions an installed copy carries) and the exercises."""
    digest = hashlib.sha256()
    named = {}
    for part, folder in (("grader", package), ("exercises", exercises)):
        for pattern in FINGERPRINTED[part]:
            for path in folder.glob(pattern):
                inside = path.relative_to(folder)
                if (path.is_file() and "__pycache__" not in inside.parts
                        and not (part == "grader" and inside.parts[0] in BUNDLED)):
                    named[f"{part}/{inside.as_posix()}"] = path
    for name in sorted(named):
        digest.update(name.encode() + b"\0" + named[name].read_bytes() + b"\0")
    return digest.hexdigest()[:16]

