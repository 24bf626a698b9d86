"""Choosing the language of the kit's words, and a report in Chinese that is Chinese throughout:
the kit's own words are, while code names, process roles and the student's items stay as they are."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from grader.checking import mistakes, settings
from grader.checking.exercise import EXERCISES_DIR

CASES = EXERCISES_DIR.parent / "tests" / "cases"


@pytest.fixture
def no_language(monkeypatch):
    for name in (settings.LANG_ENV, "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_option_then_the_variable_then_the_locale_then_english(no_language):
    assert settings.language("zh_CN") == "zh_CN" and settings.language("zh-cn") == "zh_CN"
    no_language.setenv(settings.LANG_ENV, "en")
    no_language.setenv("LANG", "zh_CN.UTF-8")
    assert settings.language() == "en" and settings.language("zh_CN") == "zh_CN"
    no_language.delenv(settings.LANG_ENV)
    assert settings.language() == "zh_CN"
    no_language.setenv("LC_ALL", "C.UTF-8")  # LC_ALL first, as the C library reads it
    assert settings.language() == "en"
    no_language.setenv("LC_ALL", "zh_TW.UTF-8")
    assert settings.language() == "zh_CN"  # the kit's only Chinese, better than English to that reader


def test_a_language_the_kit_lacks_is_an_error_that_names_the_choices(no_language):
    with pytest.raises(ValueError, match="en and zh_CN"):
        settings.language("fr")
    no_language.setenv(settings.LANG_ENV, "klingon")
    with pytest.raises(ValueError, match=settings.LANG_ENV):
        settings.language()


def test_pytest_refuses_an_unknown_language(pytester):
    shutil.copytree(EXERCISES_DIR / "ex03_sentinel", pytester.path / "exercises" / "ex03_sentinel")
    result = pytester.runpytest("exercises", "--lang", "fr", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--lang 'fr'*en and zh_CN*"])


# Words a Chinese report may hold in Latin letters: names of code, of the kit's start methods, of
# processes, and of the tools the lessons name.
ALLOWED = {"pid", "CPU", "None", "spawn", "fork", "forkserver", "main", "producer", "consumer", "worker",
           "publisher", "STOP", "RabbitMQ", "Python", "Queue", "JoinableQueue", "traceback", "stderr",
           "stdout", "NotImplementedError", "TODO", "baozi", "kit"}


def _english_words(line: str) -> list[str]:
    """The words of `line` that are neither Chinese nor code."""
    line = re.sub(r"`[^`]*`", " ", line)                      # quoted source
    line = line.split("只重跑这一项：")[0]                      # the rerun command
    tokens = re.findall(r"[^\s，。：；？！（）、“”]+", line)
    words = [t for t in tokens if not re.search(r"[\u4e00-\u9fff]", t)]
    code = re.compile(r"[()\[\].=_/:\d]|^-|-\d|^[A-Za-z]+-\d+$")  # calls, paths, file:line, consumer-2
    return [w for w in words if re.fullmatch(r"[A-Za-z]+", w) and not code.search(w) and w not in ALLOWED]


def test_a_report_in_chinese_is_chinese_throughout(pytester):
    """The contract's example: exercise 4 with one sentinel for three consumers, --lang zh_CN."""
    shutil.copytree(EXERCISES_DIR / "ex04_many", pytester.path / "exercises" / "ex04_many")
    shutil.copytree(CASES / "ex04_many" / "one_sentinel", pytester.path / "mine" / "ex04_many")
    result = pytester.runpytest("exercises", "--impl", "mine", "--lang", "zh_CN", "--start-method", "spawn",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(failed=9)
    text = result.stdout.str()
    assert "卡住了" in text and "可能的原因：" in text and "每个消费者放一个 None" in text
    assert "baozi-kit：各个练习的进度" in text
    start, end = text.index("= FAILURES ="), text.rindex("short test summary info")
    report = [line for line in text[start:end].splitlines()
              if line.strip() and not line.startswith(("_", "="))]  # pytest's own rules and titles
    english = {line: words for line in report if (words := _english_words(line))}
    assert not english, "English in a Chinese report:\n" + "\n".join(f"{w}: {line}" for line, w in english.items())


def test_a_course_chooses_its_languages_never_the_machine(no_language):
    no_language.setenv(settings.LANG_ENV, "zh_CN")
    no_language.setenv("LANG", "zh_CN.UTF-8")
    assert settings.course_languages(None) == ("en",)  # the grading machine's settings are not the course's
    assert settings.course_languages("zh-CN, en") == ("zh_CN", "en")
    for wrong in ("fr", "en,en", "zh_CN,klingon"):
        with pytest.raises(ValueError):
            settings.course_languages(wrong)


@pytest.mark.parametrize("command", [["grade", "nothing"], ["batch", "nothing", "--out", "x"],
                                     ["gradescope", "x.zip"], ["nbgrader", "export", "course"]])
def test_every_instructor_command_takes_the_course_languages(command, capsys):
    from grader.__main__ import build_parser

    parser = build_parser()
    assert parser.parse_args([*command, "--lang", "zh_CN,en"]).lang == ("zh_CN", "en")
    assert parser.parse_args(command).lang == ("en",)
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args([*command, "--lang", "fr"])
    assert stopped.value.code == 2 and "en and zh_CN" in capsys.readouterr().err


def test_a_report_in_two_languages_says_each_in_turn_and_feedback_md_too(tmp_path):
    """What `grade --lang zh_CN,en` writes: each check's report in Chinese, then in English, and
    feedback.md's own words in both; test names and keys as in English."""
    from grader.checking.exercise import find
    from grader.grading import report
    from grader.grading.checklist import Plan, checks_for, run_one

    exercise = find("ex04_many")
    shutil.copytree(CASES / "ex04_many" / "single_producer", tmp_path / "ex04_many")
    check = next(c for c in checks_for(exercise) if c.name == "test_one_producer_process_per_batch")
    result = run_one(check, "spawn", impl_root=tmp_path, seed=1, scale=1.0, language=("zh_CN", "en"))
    chinese = result.message.index("run() 必须为每批数据启动一个生产者进程")
    english = result.message.index("run() must start one producer process per batch")
    assert chinese < english and "应该是：" in result.message and "expected: " in result.message
    assert result.mistakes == ("ex04.single-producer",) and "只重跑这一项" in result.message

    plan = Plan(visible=("spawn",), hidden=("spawn",))
    tests = report.score_checks([check], plan, [result], "not reported")
    assert tests[0]["name"] == "ex04_many: one producer process per batch"
    assert tests[0]["tags"] == ["ex04_many", "ex04.single-producer"]
    feedback = report.feedback_md("alice", tests, [exercise], [], {}, ("zh_CN", "en"))
    assert feedback.startswith("# 给 alice 的反馈 · Feedback for alice")
    assert "**得分：0 / 1 · Score: 0 / 1**" in feedback
    assert "run() 必须为每批数据启动" in feedback and "run() must start one producer process" in feedback
    # before the reports, what the checks show the student did, in both languages
    assert feedback.index("**出了什么问题 · What went wrong**") < feedback.index("```text")
    assert mistakes.explanation("ex04.single-producer", "zh_CN") in feedback
    assert mistakes.explanation("ex04.single-producer", "en") in feedback


def test_an_nbgrader_course_in_chinese_and_english(tmp_path):
    from grader.checking.exercise import find
    from grader.integrations import nbgrader_export

    written = nbgrader_export.export(tmp_path / "course", [find("ex07_rabbitmq")], languages=("zh_CN", "en"))
    cells = {cell["metadata"]["nbgrader"]["grade_id"]: "".join(cell["source"])
             for cell in json.loads(written[0].read_text(encoding="utf-8"))["cells"]}
    folder = find("ex07_rabbitmq").folder
    chinese, english = ((folder / name).read_text(encoding="utf-8").strip()
                        for name in ("README.zh-CN.md", "README.md"))
    assert cells["lesson"] == f"{chinese}\n\n---\n\n{english}"  # the course's first language first
    assert "这个笔记本怎么用" in cells["how-it-works"] and "How this notebook works" in cells["how-it-works"]
    assert "消息代理" in cells["broker"] and "## 检查（" in cells["checks"]
    visible = next(text for name, text in cells.items() if name.startswith("test_"))
    assert 'lang="zh_CN,en")' in visible and " 分)" in visible
