"""Each exercise's lesson in both languages, kept whole: README.md and README.zh-CN.md link to each
other and have the same structure (headings, code, links), and the Chinese one says each term of
the glossary with the glossary's word.

Markdown is read with markdown-it-py's parser (CommonMark), so a heading inside a code block or a
link in a heading counts the way a reader sees it."""

from __future__ import annotations

import io
import re
import sys
import tokenize

import pytest
from markdown_it import MarkdownIt

from grader.checking.exercise import all_exercises
from grader.checking.mistakes import CATALOGUE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENGLISH, CHINESE = "README.md", "README.zh-CN.md"
# The third line of each lesson: the switch to the other language.
SWITCH = {ENGLISH: "English · [中文](README.zh-CN.md)", CHINESE: "[English](README.md) · 中文"}
CJK = re.compile(r"[\u4e00-\u9fff]")
GLOSSARY = tomllib.loads((CATALOGUE / "glossary.toml").read_text(encoding="utf-8"))
EXERCISES = all_exercises()
PARSER = MarkdownIt("commonmark")


def _tokens(text: str):
    """Every token of the document, inline children included, in reading order."""
    for token in PARSER.parse(text):
        yield token
        yield from token.children or ()


def _headings(text: str) -> list[str]:
    return [token.tag for token in PARSER.parse(text) if token.type == "heading_open"]


def _heading_texts(text: str) -> list[str]:
    tokens = PARSER.parse(text)
    return [tokens[i + 1].content for i, token in enumerate(tokens) if token.type == "heading_open"]


def _code(text: str) -> list[tuple[str, str]]:
    """(info string, code) of each fenced block; in Python the comments are the lesson's words and
    may be translated, so they are left out."""
    blocks = []
    for token in PARSER.parse(text):
        if token.type in ("fence", "code_block"):
            code = token.content
            if token.info.strip() == "python":
                code = _without_comments(code)
            blocks.append((token.info.strip(), code))
    return blocks


def _without_comments(code: str) -> str:
    kept = [(kind, value) for kind, value, *_ in tokenize.generate_tokens(io.StringIO(code).readline)
            if kind != tokenize.COMMENT]
    return tokenize.untokenize(kept)


def _links(text: str, language_file: str) -> list[str]:
    """The link targets, the switch to the other language left out, and a link to another lesson
    taken as a link to that lesson in general (each language links to its own)."""
    targets = []
    for token in _tokens(text):
        if token.type == "link_open":
            target = token.attrs["href"]
            if target in (ENGLISH, CHINESE):
                continue
            targets.append(re.sub(rf"/{re.escape(language_file)}$", "/<lesson>", target))
    return targets


def _prose(text: str) -> str:
    """The words of the document outside code: what a translator wrote."""
    words = []
    for token in _tokens(text):
        if token.type == "text":
            words.append(token.content)
    return "\n".join(words)


@pytest.fixture(params=EXERCISES, ids=lambda exercise: exercise.name)
def lessons(request):
    folder = request.param.folder
    english, chinese = folder / ENGLISH, folder / CHINESE
    assert chinese.is_file(), f"{folder.name} has no Chinese lesson: write {chinese.name} beside {ENGLISH}"
    return english.read_text(encoding="utf-8"), chinese.read_text(encoding="utf-8")


def test_each_lesson_links_to_the_other_language(lessons):
    for name, text in zip((ENGLISH, CHINESE), lessons):
        lines = text.splitlines()
        assert lines[0].startswith("# ") and lines[1] == "", f"{name}: line 1 is the title, line 2 empty"
        assert lines[2] == SWITCH[name], f"{name}: line 3 should be {SWITCH[name]!r}, not {lines[2]!r}"


def test_both_lessons_have_the_same_headings(lessons):
    english, chinese = lessons
    assert _headings(english) == _headings(chinese), "the headings differ in number or level"


def test_a_heading_reads_the_same_in_every_chinese_lesson():
    """ "Your task" is 你的任务 in every lesson: a student finds the same part by the same name."""
    chinese_of: dict[str, set[str]] = {}
    for exercise in EXERCISES:
        pairs = zip(_heading_texts((exercise.folder / ENGLISH).read_text(encoding="utf-8")),
                    _heading_texts((exercise.folder / CHINESE).read_text(encoding="utf-8")))
        for english, chinese in pairs:
            chinese_of.setdefault(english, set()).add(chinese)
    assert not {english: zh for english, zh in chinese_of.items() if len(zh) > 1}


def test_both_lessons_show_the_same_code(lessons):
    english, chinese = lessons
    for number, (en, zh) in enumerate(zip(_code(english), _code(chinese), strict=False), start=1):
        assert en == zh, f"code block {number} differs (only Python comments may be translated)"
    assert len(_code(english)) == len(_code(chinese)), "the lessons have a different number of code blocks"


def test_both_lessons_link_to_the_same_places(lessons):
    english, chinese = lessons
    assert _links(english, ENGLISH) == _links(chinese, CHINESE)


def test_the_chinese_lesson_is_written_in_chinese(lessons):
    _, chinese = lessons
    paragraphs = [token for token in PARSER.parse(chinese) if token.type == "inline"]
    # A paragraph may be all code names ("`q.put(x)`"), never English sentences: any run of five
    # English words in a row is a sentence left untranslated.
    for paragraph in paragraphs:
        plain = re.sub(r"`[^`]*`", "", paragraph.content)
        plain = re.sub(r"\[[^\]]*\]\([^)]*\)", "", plain)
        assert not re.search(r"(\b[A-Za-z]{2,}\b[ ,]+){5}", plain), (
            f"an English sentence in the Chinese lesson: {paragraph.content[:80]!r}")


@pytest.mark.parametrize("term", sorted(GLOSSARY))
def test_the_chinese_lessons_use_the_glossary(term):
    entry = GLOSSARY[term]
    for exercise in EXERCISES:
        chinese = (exercise.folder / CHINESE).read_text(encoding="utf-8")
        english = (exercise.folder / ENGLISH).read_text(encoding="utf-8")
        prose = _prose(chinese)
        for variant in entry["avoid"]:
            assert variant not in prose, (f"{exercise.name}/{CHINESE} says {variant!r} for "
                                          f"{entry['en']!r}: the glossary's word is {entry['zh']!r}")
        if re.search(rf"\b{re.escape(entry['en'])}", _prose(english), re.IGNORECASE):
            assert entry["zh"] in prose, (f"{exercise.name}: the English lesson speaks of "
                                          f"{entry['en']!r}, the Chinese one never says {entry['zh']!r}")


def test_the_chinese_catalogue_uses_the_glossary():
    text = (CATALOGUE / "zh_CN.toml").read_text(encoding="utf-8")
    for entry in GLOSSARY.values():
        for variant in entry["avoid"]:
            assert variant not in text, f"zh_CN.toml says {variant!r}: the glossary's word is {entry['zh']!r}"
