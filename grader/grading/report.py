"""Turn a submission's check results into its grade and files: Gradescope's ``results.json``, the
student's ``feedback.md``, a row of ``grades.csv``, and the class's ``summary.md``.

A check is worth its points; run under several start methods, it earns the share of them it passed.
Every exercise appears with its full max_score whatever happened to the submission: a check that
never reported (a missing module, a runner killed half-way) is a failed check with its reason.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable

from grader.checking import mistakes
from grader.checking.results import CheckResult
from grader.grading.checklist import Check, Plan

FEEDBACK_CAP = 20_000  # characters of feedback.md, per language
FAILURE_LINES = 12  # lines of one failure report quoted in feedback.md, per language


def atomic_write(path: Path, text: str) -> None:
    """Write `path` so that a reader (or a rerun after a crash) sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def score_checks(checks: list[Check], plan: Plan, results: list[CheckResult], missing_reason: str,
                 not_run: dict[str, str] | None = None) -> list[dict]:
    """One Gradescope test per check, scored from its results under every planned start method.

    `not_run` names the exercises that were not run at all, with the reason (a missing module).
    """
    not_run = not_run or {}
    by_key = defaultdict(dict)
    for result in results:
        by_key[(result.exercise, result.check)][result.start_method] = result
    tests = []
    for check in checks:
        runs = by_key.get((check.exercise.name, check.name), {})
        methods = plan.methods(check)
        outputs, passed, keys = [], 0, []
        for method in methods:
            run = runs.get(method)
            if check.exercise.name in not_run:
                outputs = [f"not run: {not_run[check.exercise.name]}"]
                break
            if run is None:
                outputs.append(f"[{method}] not run: {missing_reason}")
            elif run.passed:
                passed += 1
            else:
                outputs.append(f"[{method}] {run.message}")
                keys += run.mistakes
        score = round(check.points * passed / len(methods), 2)
        tests.append({
            "name": check.title,
            "score": score,
            "max_score": check.points,
            "status": "passed" if passed == len(methods) else "failed",
            "output": "\n\n".join(outputs),
            "visibility": "after_published" if check.hidden else "visible",
            # The exercise first, then what the failure shows (the contract's "Mistake keys").
            "tags": [check.exercise.name, *mistakes.first(keys)],
        })
    return tests


def results_json(tests: list[dict], *, seconds: float, summary: str) -> str:
    return json.dumps({
        "score": round(sum(t["score"] for t in tests), 2),
        "execution_time": round(seconds, 2),
        "output": summary,
        "output_format": "text",
        "visibility": "visible",
        "tests": tests,
    }, indent=2, ensure_ascii=False)


def exercise_scores(tests: list[dict], exercises) -> dict[str, tuple[float, int]]:
    totals = {e.name: [0.0, 0] for e in exercises}
    for test in tests:
        name = test["tags"][0]
        totals[name][0] += test["score"]
        totals[name][1] += test["max_score"]
    return {name: (round(score, 2), maximum) for name, (score, maximum) in totals.items()}


def _first_lines(text: str, count: int = FAILURE_LINES) -> str:
    lines = text.strip().splitlines()
    kept = lines[:count]
    if len(lines) > count:
        kept.append(f"… ({len(lines) - count} more lines)")
    return "\n".join(kept)


def failure_causes(checks: list[Check], results: list[CheckResult]) -> dict[str, str]:
    """Each failed check's cause (by its test name): the cause of its first failed run, "" when
    none is known. Two checks of an exercise with one cause get one report in feedback.md."""
    first: dict[tuple[str, str], str] = {}
    for result in results:
        key = (result.exercise, result.check)
        if not result.passed and result.cause and key not in first:
            first[key] = result.cause
    return {check.title: first.get((check.exercise.name, check.name), "") for check in checks}


def _say(name: str, languages: tuple[str, ...], **params) -> str:
    """The feedback's own words `name` in each of `languages`, one after the other."""
    return _in_each(languages, lambda language: mistakes.say("feedback", name, language, **params))


def _in_each(languages: tuple[str, ...], words: Callable[[str], str]) -> str:
    """`words(language)` for each of `languages`, on one line."""
    return " · ".join(words(language) for language in languages)


def feedback_md(student: str, tests: list[dict], exercises, layout_notes: list[str],
                causes: dict[str, str] | None = None, languages: tuple[str, ...] = ("en",)) -> str:
    """What failed, why, and what to look at, exercise by exercise: each cause of failure once (the
    first check it failed shows the report, the others name that check; `causes` by test name).
    The feedback's own words are in each of `languages` (the reports already are: the runner said
    them so); test names stay as they are in every language."""
    causes = causes or {}
    scores = exercise_scores(tests, exercises)
    total = sum(s for s, _ in scores.values())
    maximum = sum(m for _, m in scores.values())
    out = ["# " + _say("title", languages, student=student), "",
           "**" + _say("score", languages, score=f"{total:g}", maximum=maximum) + "**", ""]
    out += [f"- {note}" for note in layout_notes]
    if layout_notes:
        out.append("")
    # Each exercise gets its share of the cap, so that a long one never hides the next; each
    # language says the reports again, so the cap grows with them.
    share = FEEDBACK_CAP * len(languages) // max(1, len(exercises))
    for exercise in exercises:
        score, most = scores[exercise.name]
        failed = [t for t in tests if t["tags"][0] == exercise.name and t["status"] != "passed"]
        mark = "✅" if not failed else "❌"
        title = _in_each(languages, exercise.title_in)
        section = [f"## {mark} {exercise.name}: {title} ({score:g} / {most})", ""]
        if not failed:
            section += [_say("all-passed", languages), ""]
        section += _mistakes_shown(failed, languages)
        shown: dict[str, str] = {}  # cause -> the test whose report shows it
        for test in failed:
            section += [f"### {test['name']} ({test['score']:g} / {test['max_score']})", ""]
            cause = causes.get(test["name"], "")
            if cause and cause in shown:
                headline = (test["output"].strip().splitlines() or [""])[0]
                section += [_say("same-cause", languages, check=shown[cause]), "", "```text", headline, "```", ""]
                continue
            if cause:
                shown[cause] = test["name"]
            # each language's lines, and the blank line between two languages
            lines = FAILURE_LINES * len(languages) + len(languages) - 1
            section += ["```text", _first_lines(test["output"], lines), "```", ""]
        text = "\n".join(section)
        if len(text) > share:
            cut = text[:share].rsplit("\n### ", 1)[0]  # whole failures only
            left = sum(1 for t in failed if f"### {t['name']} " not in cut)
            text = cut.rstrip() + "\n\n" + _say("more", languages, left=left, exercise=exercise.name) + "\n"
        out.append(text)
    return "\n".join(out)


MISTAKES_SHOWN = 4  # mistakes explained at the top of an exercise's feedback, the most frequent first


def _mistakes_shown(failed: list[dict], languages: tuple[str, ...]) -> list[str]:
    """What the failed checks of an exercise show the student did, before the reports: each mistake
    once (the one most checks carry first), with what goes wrong and why."""
    counts = Counter(key for test in failed for key in test["tags"][1:])
    if not counts:
        return []
    lines = [f"**{_say('mistakes', languages)}**", ""]
    for key, _ in counts.most_common(MISTAKES_SHOWN):
        for language in languages:
            lines.append(mistakes.say("feedback", "mistake", language, key=key, title=mistakes.title(key, language),
                                      explanation=mistakes.explanation(key, language)))
    return lines + [""]


def grades_csv(rows: list[dict], exercises) -> str:
    buffer = io.StringIO()
    fields = ["student", *(e.name for e in exercises), "total", "max_score"]
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r["student"]):
        writer.writerow(row)
    return buffer.getvalue()


def _reason(output: str) -> str:
    """A failure's reason without its specifics (pids, numbers, paths), to count across the class."""
    for line in output.splitlines():
        line = re.sub(r"^\[\w+\]\s*", "", line.strip())
        if not line:
            continue
        if line.startswith("Likely cause:"):
            line = line[len("Likely cause:"):].strip()
        line = re.sub(r"\d+(\.\d+)?", "N", line)
        return line[:120]
    return "(no reason given)"


REVIEW_SHOWN = 3  # hits quoted per submission in summary.md (results.json has them all)


def _bar(fraction: float, width: int = 30) -> str:
    full = round(fraction * width)
    return "█" * full + "·" * (width - full)


def _mistakes_section(results: dict[str, dict], students: list[str]) -> list[str]:
    """The mistakes of the class, by key: how many students made each, and one of them."""
    made: dict[str, list[str]] = defaultdict(list)
    for student in students:
        keys = [key for test in results[student]["tests"] for key in mistakes.known(test["tags"][1:])]
        for key in dict.fromkeys(keys):
            made[key].append(student)
    if not made:
        return []
    out = ["", "## Mistakes in this class", "",
           "Each mistake the kit recognised, by how many students made it (its key is in the tags "
           "of results.json).", "", "| students | mistake | key | e.g. |", "|---:|---|---|---|"]
    for key, who in sorted(made.items(), key=lambda pair: (-len(pair[1]), pair[0])):
        out.append(f"| {len(who)} | {mistakes.title(key)} | `{key}` | {who[0]} |")
    return out


def summary_md(results: dict[str, dict], exercises, max_score: int) -> str:
    """The class at a glance: score distribution, failure rate per check, commonest reasons."""
    students = sorted(results)
    totals = [results[s]["score"] for s in students]
    out = ["# Class summary", "", f"{len(students)} submissions graded; maximum score {max_score}.", ""]
    if not students:
        return "\n".join(out)
    out += [f"Mean {sum(totals) / len(totals):.1f}, median {sorted(totals)[len(totals) // 2]:g}, "
            f"full marks: {sum(t >= max_score for t in totals)}.", "", "## Score distribution", "", "```text"]
    buckets = Counter(min(9, int(10 * t / max_score)) if max_score else 0 for t in totals)
    most = max(buckets.values())
    for bucket in range(10):
        low, high = bucket * 10, bucket * 10 + 10
        label = f"{low:>3}–{high:<3}%"
        out.append(f"{label} {_bar(buckets.get(bucket, 0) / most)} {buckets.get(bucket, 0)}")
    out += ["```", "", "## Failure rate of every check", "", "```text"]
    failures, reasons = Counter(), Counter()
    names = []
    for student in students:
        for test in results[student]["tests"]:
            if test["name"] not in names:
                names.append(test["name"])
            if test["status"] != "passed":
                failures[test["name"]] += 1
                reasons[(test["name"].split(":")[0], _reason(test["output"]))] += 1
    width = max(len(n) for n in names)
    for name in names:
        rate = failures[name] / len(students)
        out.append(f"{name:<{width}} {_bar(rate, 20)} {rate:4.0%}")
    out += ["```", "", "## Most common failure reasons", ""]
    for (exercise, reason), count in reasons.most_common(10):
        out.append(f"- {count}× {exercise}: {reason}")
    out += _mistakes_section(results, students)
    flagged = [s for s in students if results[s].get("review")]
    if flagged:
        out += ["", "## Submissions to review", "",
                "Code that reaches for what these exercises never need (the kit's files, the "
                "interpreter's frames or memory, sys.modules, raw file descriptors). No point was "
                "changed for it; the student was not told.", ""]
        for student in flagged:
            hits = results[student]["review"]
            more = f" (and {len(hits) - REVIEW_SHOWN} more)" if len(hits) > REVIEW_SHOWN else ""
            out.append(f"- {student}: " + "; ".join(hits[:REVIEW_SHOWN]) + more)
    return "\n".join(out) + "\n"
