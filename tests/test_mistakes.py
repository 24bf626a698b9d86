"""The catalogue of mistakes: both languages whole, every key the code names in it, and the keys
carried from a failed check to results.json and summary.md."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from grader.checking import mistakes
from grader.checking.exercise import KIT_ROOT, all_exercises, find
from grader.checking.results import CheckResult, Verdict
from grader.grading import report
from grader.grading.checklist import Check, Plan

# The contract's minimum ("Mistake keys" in the kit's contract): renaming one of them is a contract change.
CONTRACT_KEYS = """
ex01.try-put-blocks ex01.maxsize-ignored ex01.not-fifo ex01.drain-gives-up-early
ex02.consumer-gives-up ex02.results-not-forwarded
any.threads-not-processes any.process-left-running any.busy-wait any.not-picklable-under-spawn
any.no-main-guard any.join-before-drain any.delay-ignored
ex03.no-sentinel ex03.sentinel-before-producer-ended ex03.falsy-item-taken-for-sentinel
ex03.sentinel-forwarded ex03.terminate-instead-of-sentinel
ex04.one-sentinel-for-many-consumers ex04.sentinel-per-producer ex04.sentinels-before-every-producer-ended
ex05.task-done-missing ex05.task-done-before-work ex05.task-done-twice ex05.no-queue-join
ex05.consumers-not-daemon
ex06.completion-order ex06.workers-never-stop ex06.pool-instead-of-processes
ex07.auto-ack ex07.no-prefetch ex07.queue-not-durable ex07.message-not-persistent
ex07.one-stop-for-many-workers ex07.stop-before-publishers-ended ex07.publisher-not-closed
""".split()

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_contract_keys_are_all_there():
    assert not set(CONTRACT_KEYS) - mistakes.keys()


# The tables of the kit's words besides the keys: the likely causes, the reports of a run and of each
# check, the process table, the terminal's summary, words the checks pass in, the hints, feedback.md,
# the student's screens and the exercises' titles.
SECTIONS = {"cause", "report", "process", "summary", "check", "words", "hint", "feedback", "screen", "title",
            "notebook"}


@pytest.mark.parametrize("language", mistakes.LANGUAGES)
def test_each_language_has_every_key_with_its_title_explanation_and_hints(language):
    entries = mistakes.catalogue(language)
    assert set(entries) - SECTIONS == mistakes.keys(), f"{language}: keys differ from en.toml"
    for key, entry in entries.items():
        if key in SECTIONS:
            continue
        assert mistakes.KEY_PATTERN.fullmatch(key), f"{language}: {key!r} is not a key"
        assert set(entry) == {"title", "explain", "hints"}, f"{language}: {key} has {sorted(entry)}"
        title = entry["title"]
        assert title.strip() and "\n" not in title, f"{language}: {key} needs a one-line title"
        hints = entry["hints"]
        assert isinstance(hints, list) and len(hints) == 2 and all(isinstance(h, str) and h.strip() for h in hints), (
            f"{language}: {key} needs two hints: the idea, then where to look")
        for text in (title, entry["explain"], *hints):
            assert bool(CJK.search(text)) == (language == "zh_CN"), f"{language}: {key}: {text!r}"
            assert "{" not in text and "}" not in text, f"{language}: {key}: not a template: {text!r}"
        assert mistakes.explanation(key, language) == entry["explain"] and mistakes.hints(key, language) == hints


def _key_literals(path: Path):
    """Every string constant of `path` written like a mistake key."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and mistakes.KEY_PATTERN.fullmatch(node.value):
            yield node.lineno, node.value


def _names_of_words() -> set[str]:
    """The names of the catalogue's texts that are written like keys ("ex04.count" in [words])."""
    english = mistakes.catalogue("en")
    return {".".join(name.split(".")[1:-1]) for section in ("check", "words", "hint")
            for name, _ in _texts(english.get(section, {}), (section,))}


def test_every_key_the_code_names_is_in_the_catalogue():
    sources = [*sorted((KIT_ROOT / "grader").rglob("*.py")), *sorted((KIT_ROOT / "exercises").glob("*/test_*.py"))]
    words = _names_of_words()
    unknown = [f"{path.relative_to(KIT_ROOT)}:{line}: {key}" for path in sources
               for line, key in _key_literals(path) if key not in mistakes.keys() and key not in words]
    assert not unknown, "keys missing from grader/checking/catalogue/en.toml:\n" + "\n".join(unknown)
    named = {key for path in sources for _, key in _key_literals(path)}
    assert len(named) > 40  # the scan finds the keys where the code names them


def test_a_key_not_in_the_catalogue_fails_where_it_is_written():
    with pytest.raises(ValueError, match="ex04.one-sentinel"):
        mistakes.of("ex04.one-sentinel")
    assert mistakes.of(None) == () and mistakes.of("any.busy-wait") == ("any.busy-wait",)


def test_a_record_keeps_only_known_keys_and_at_most_two():
    record = CheckResult("ex04_many", "test_x", "spawn", Verdict.FAILED, 1, message="m").to_record()
    record["mistakes"] = ["ex04.one-sentinel-for-many-consumers", "made.up-key", 7, "any.busy-wait",
                          "any.busy-wait", "any.process-left-running"]
    result = CheckResult.from_record(record)
    assert result.mistakes == ("ex04.one-sentinel-for-many-consumers", "any.busy-wait")
    record.update(verdict="passed")  # a passed check shows no mistake, whatever its record says
    assert CheckResult.from_record(record).mistakes == ()
    record.update(verdict="failed", mistakes="any.busy-wait")  # not a list
    assert CheckResult.from_record(record).mistakes == ()


def _check(name: str) -> Check:
    return Check(find("ex04_many"), name, func=lambda kit: None, points=2, hidden=False)


def test_results_json_tags_a_failed_check_with_its_mistakes_after_the_exercise():
    plan = Plan(visible=("fork", "spawn"), hidden=("spawn",))
    failed, passed = _check("test_one_sentinel_per_consumer"), _check("test_no_items_at_all")

    def result(check, method, verdict, keys=()):
        return CheckResult("ex04_many", check.name, method, verdict, 2, message="report", mistakes=keys)

    results = [result(failed, "fork", Verdict.FAILED, ("ex04.one-sentinel-for-many-consumers",)),
               result(failed, "spawn", Verdict.FAILED, ("ex04.one-sentinel-for-many-consumers", "any.busy-wait")),
               result(passed, "fork", Verdict.PASSED), result(passed, "spawn", Verdict.PASSED)]
    first, second = report.score_checks([failed, passed], plan, results, "unused")
    assert first["tags"] == ["ex04_many", "ex04.one-sentinel-for-many-consumers", "any.busy-wait"]
    assert second["tags"] == ["ex04_many"]


def test_summary_md_counts_each_mistake_once_per_student():
    def tests(*keys):
        return [{"name": "ex04_many: one sentinel per consumer", "score": 0, "max_score": 2, "status": "failed",
                 "output": "x", "visibility": "visible", "tags": ["ex04_many", *keys]},
                {"name": "ex04_many: no items at all", "score": 0, "max_score": 1, "status": "failed",
                 "output": "x", "visibility": "visible", "tags": ["ex04_many", *keys, "not.a-key"]}]

    results = {"wu": {"score": 0, "tests": tests("ex04.one-sentinel-for-many-consumers")},
               "li": {"score": 0, "tests": tests("ex04.one-sentinel-for-many-consumers", "any.busy-wait")},
               "an": {"score": 3, "tests": [dict(test, score=test["max_score"], status="passed", tags=["ex04_many"])
                                            for test in tests()]}}
    text = report.summary_md(results, all_exercises(), 3)
    section = text.split("## Mistakes in this class", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    assert rows == [
        f"| 2 | {mistakes.title('ex04.one-sentinel-for-many-consumers')} | `ex04.one-sentinel-for-many-consumers` | li |",
        f"| 1 | {mistakes.title('any.busy-wait')} | `any.busy-wait` | li |"]
    assert "not.a-key" not in text
    assert "## Mistakes in this class" not in report.summary_md({"an": results["an"]}, all_exercises(), 3)


def _placeholders(text: str) -> dict[str, str]:
    return {name: spec for _, name, spec, _ in string.Formatter().parse(text) if name}


def _texts(table: dict, path: tuple = ()):
    """(dotted name, text) of every text under `table`: "check.ex04.threads.got"."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _texts(value, (*path, key))
        elif isinstance(value, str):
            yield ".".join((*path, key)), value


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_both_languages_say_the_same_things_with_the_same_placeholders(section):
    english = dict(_texts(mistakes.catalogue("en").get(section, {}), (section,)))
    chinese = dict(_texts(mistakes.catalogue("zh_CN").get(section, {}), (section,)))
    assert set(english) == set(chinese), f"only in one language: {sorted(set(english) ^ set(chinese))}"
    for name, text in english.items():
        theirs = chinese[name]
        assert _placeholders(text) == _placeholders(theirs), name
        tokens = re.findall(r"[A-Za-z_][\w.()=\[\]'-]*", re.sub(r"\{[^{}]*\}", "", theirs))
        words = [token for token in tokens if re.fullmatch(r"[a-z]{3,}", token)]  # not code, not STOP
        assert CJK.search(theirs) or not words or name in (
            "report.stderr.text", "report.stdout.text", "report.traceback.text"), f"{name} is not Chinese: {theirs!r}"
        sample = {key: 0.5 for key in _placeholders(text)}
        assert text.format(**sample) and theirs.format(**sample)  # a bad format spec fails here


def _said(path: Path):
    """(section or None, name) of each text the code asks the catalogue for by a literal name:
    Cause("name", ...), mistakes.say("section", "name", ...), the modules' one-section helpers
    say("name", ...) and _say("name", ...), a check's report kit.fail("name", ...), and the words a
    check passes: Words("name", ...) and look_at="name"."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for keyword in node.keywords:
            value = keyword.value
            if keyword.arg == "look_at" and isinstance(value, ast.Constant) and isinstance(value.value, str):
                yield "words", value.value
        literals = [a.value for a in node.args[:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if not literals:
            continue
        if function == "Cause":
            yield "cause", literals[0]
        elif function == "Words":
            section = next((k.value.value for k in node.keywords if k.arg == "section"), "words")
            yield section, literals[0]
        elif function in ("fail", "_fail_report") and isinstance(node.func, ast.Attribute):
            yield "check", literals[0]
        elif function == "say" and isinstance(node.func, ast.Attribute) and len(literals) == 2:
            yield literals[0], literals[1]
        elif function in ("say", "_say") and isinstance(node.func, ast.Name):
            yield None, literals[0]


# Where the kit's checks speak: a text these files write must come from the catalogue.
SPEAKERS = [*sorted(path for path in (KIT_ROOT / "grader" / "checking").rglob("*.py") if path.name != "mistakes.py"),
            *sorted((KIT_ROOT / "exercises").glob("*/test_*.py")),
            *sorted((KIT_ROOT / "grader" / "grading" / "hidden").glob("ex*.py"))]


def test_every_text_the_code_asks_for_is_in_the_catalogue():
    english = mistakes.catalogue("en")
    asked = [(path, section, name) for path in SPEAKERS for section, name in _said(path)]
    assert len(asked) > 150  # the scan finds them
    missing = [f"{path.relative_to(KIT_ROOT)}: [{section or '?'}] {name}" for path, section, name in asked
               if not (mistakes._find(english, section, name) if section
                       else any(mistakes._find(english, s, name) for s in SECTIONS))]
    assert not missing, "texts missing from grader/checking/catalogue/en.toml:\n" + "\n".join(missing)


PROSE = re.compile(r"[A-Za-z][a-z']*,? [a-z']+,? [a-z']+ [a-z']+")  # four words of a sentence in a row


def _prose(path: Path):
    """The string constants of `path` that read as English sentences, outside docstrings, the words
    of Python's own output the kit looks for (``"..." in text``, ``re.search(...)``) and the kit's
    own errors (``raise ...``: for whoever set the kit up, not for the student)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            skip.add(id(node.left))  # Python's words, looked for in what a process printed
        function = node.func if isinstance(node, ast.Call) else None
        if isinstance(function, ast.Attribute) and getattr(function.value, "id", "") == "re":
            skip.update(id(arg) for arg in node.args[:1])  # a pattern of Python's output
        if isinstance(node, ast.Raise) and node.exc is not None:
            skip.update(id(part) for part in ast.walk(node.exc))  # the kit's own errors, for whoever set it up
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if PROSE.search(node.value):
                yield node.lineno, node.value


def test_no_check_writes_a_message_in_code():
    """The words of a report are the catalogue's, in every language: a sentence written in a
    check (or in the kit's checking code) would reach a Chinese student in English."""
    files = [*sorted((KIT_ROOT / "exercises").glob("*/test_*.py")),
             *sorted((KIT_ROOT / "grader" / "grading" / "hidden").glob("ex*.py")),
             KIT_ROOT / "grader" / "checking" / "kit.py", KIT_ROOT / "grader" / "checking" / "diagnose.py",
             *sorted((KIT_ROOT / "grader" / "student").glob("*.py")),
             KIT_ROOT / "grader" / "integrations" / "notebook.py"]
    found = [f"{path.relative_to(KIT_ROOT)}:{line}: {text[:70]!r}" for path in files for line, text in _prose(path)]
    assert not found, "messages written in code (move them to grader/checking/catalogue):\n" + "\n".join(found)


def test_the_scan_for_messages_in_code_finds_one(tmp_path):
    check = tmp_path / "test_x.py"
    check.write_text('''"""A docstring may say anything at all."""


def test_x(kit):
    if "can only join a started process" in kit.text:
        kit.fail("x-y", look_at="join every producer first, then put None")
''', encoding="utf-8")
    assert [line for line, _ in _prose(check)] == [6]


@pytest.mark.parametrize("language", mistakes.LANGUAGES)
def test_every_exercise_has_its_hints_in_each_language(language):
    for exercise in all_exercises():
        missing = [name for name in (*exercise.functions, "idea", "where")
                   if not mistakes.find("hint", f"{exercise.number}.{name}", language)
                   or not mistakes._find(mistakes.catalogue(language), "hint", f"{exercise.number}.{name}")]
        assert not missing, f"{language}: no [hint.{exercise.number}.*] for {missing}"
        assert list(exercise.levels(language)) == ["idea", "where"] and exercise.hint(exercise.functions[0], language)
