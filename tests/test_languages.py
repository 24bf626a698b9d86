"""Choosing the language of the kit's words, and a report in Chinese that is Chinese throughout:
the kit's own words are, while code names, process roles and the student's items stay as they are."""

from __future__ import annotations

import re
import shutil

import pytest

from grader.checking import settings
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
