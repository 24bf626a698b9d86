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
from grader.grading.checklist import Check

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


SECTIONS = {"cause", "report", "process", "summary"}  # the tables of the kit's words besides the keys


@pytest.mark.parametrize("language", mistakes.LANGUAGES)
def test_each_language_has_every_key_with_a_title(language):
    entries = mistakes.catalogue(language)
    assert set(entries) - SECTIONS == mistakes.keys(), f"{language}: keys differ from en.toml"
    for key, entry in entries.items():
        if key in SECTIONS:
            continue
        assert mistakes.KEY_PATTERN.fullmatch(key), f"{language}: {key!r} is not a key"
        assert set(entry) == {"title"}, f"{language}: {key} has {sorted(entry)}"
        title = entry["title"]
        assert title.strip() and "\n" not in title, f"{language}: {key} needs a one-line title"
        assert bool(CJK.search(title)) == (language == "zh_CN"), f"{language}: {key}: {title!r}"


def _key_literals(path: Path):
    """Every string constant of `path` written like a mistake key."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and mistakes.KEY_PATTERN.fullmatch(node.value):
            yield node.lineno, node.value


def test_every_key_the_code_names_is_in_the_catalogue():
    sources = [*sorted((KIT_ROOT / "grader").rglob("*.py")), *sorted((KIT_ROOT / "exercises").glob("*/test_*.py"))]
    unknown = [f"{path.relative_to(KIT_ROOT)}:{line}: {key}" for path in sources
               for line, key in _key_literals(path) if key not in mistakes.keys()]
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
    plan = {False: ("fork", "spawn"), True: ("spawn",)}
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


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_both_languages_say_the_same_things_with_the_same_placeholders(section):
    english, chinese = mistakes.catalogue("en")[section], mistakes.catalogue("zh_CN")[section]
    assert set(english) == set(chinese), f"[{section}] only in one language: {set(english) ^ set(chinese)}"
    for name, entry in english.items():
        theirs = chinese[name]["text"]
        assert _placeholders(entry["text"]) == _placeholders(theirs), f"[{section}] {name}"
        assert CJK.search(theirs) or not re.search(r"[A-Za-z]{3}", theirs.format(**{
            key: "" for key in _placeholders(theirs)})) or name in ("stderr", "stdout", "traceback"), name
        sample = {key: 0.5 if spec else "x" for key, spec in _placeholders(entry["text"]).items()}
        assert entry["text"].format(**sample) and theirs.format(**sample)  # a bad format spec fails here


def _said(path: Path):
    """(section or None, name) of each text the code asks the catalogue for by a literal name:
    Cause("name", ...), mistakes.say("section", "name", ...), and the modules' one-section helpers
    say("name", ...) and _say("name", ...)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        literals = [a.value for a in node.args[:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if function == "Cause" and literals:
            yield "cause", literals[0]
        elif function == "say" and isinstance(node.func, ast.Attribute) and len(literals) == 2:
            yield literals[0], literals[1]
        elif function in ("say", "_say") and isinstance(node.func, ast.Name) and literals:
            yield None, literals[0]


def test_every_text_the_code_asks_for_is_in_the_catalogue():
    english = mistakes.catalogue("en")
    asked = [(path, section, name) for path in sorted((KIT_ROOT / "grader" / "checking").rglob("*.py"))
             for section, name in _said(path)]
    assert len(asked) > 60  # the scan finds them
    missing = [f"{path.name}: [{section or '?'}] {name}" for path, section, name in asked
               if not (name in english.get(section, {}) if section
                       else any(name in english[s] for s in SECTIONS))]
    assert not missing, "texts missing from grader/checking/catalogue/en.toml:\n" + "\n".join(missing)
