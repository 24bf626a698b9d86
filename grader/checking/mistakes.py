"""The words of the kit, in each language: the mistakes it recognises (stable keys), and every
text it says (the likely causes of a hang, the reports of the checks, the hints, feedback.md, the
student's screens).

The code that judges a run decides *which* mistake a failure shows (``kit.fail(..., mistake=KEY)``,
``diagnose.causes``) and which text says it; the words live in the catalogue,
``catalogue/<lang>.toml``, one file per language with the same tables (TOML: the standard library
reads it, and a translator edits one short table at a time). A check passes words rather than code
as ``Words(name, ...)``, said in each language when its report is written. A key travels with a
failed check's result out of the sandbox into ``results.json`` (its ``tags``) and ``summary.md``:
that crossing is untrusted data, so a reader keeps only keys the catalogue knows (``known``).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import string
import sys
from pathlib import Path
from typing import Callable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CATALOGUE = Path(__file__).with_name("catalogue")
LANGUAGES = ("en", "zh_CN")
DEFAULT_LANGUAGE = "en"
PER_CHECK = 2  # keys a failed check carries at most (the contract's "Mistake keys")
KEY_PATTERN = re.compile(r"(any|ex\d\d)\.[a-z0-9]+(-[a-z0-9]+)*")


@functools.lru_cache(maxsize=None)
def catalogue(language: str = DEFAULT_LANGUAGE) -> dict[str, dict]:
    """Every key of `language`'s catalogue, with its texts."""
    if language not in LANGUAGES:
        raise ValueError(f"no catalogue for {language!r} (there are: {', '.join(LANGUAGES)})")
    with open(CATALOGUE / f"{language}.toml", "rb") as handle:
        return tomllib.load(handle)


@functools.lru_cache(maxsize=None)
def keys() -> frozenset[str]:
    return frozenset(key for key in catalogue(DEFAULT_LANGUAGE) if KEY_PATTERN.fullmatch(key))


def entry(section: str, name: str, language: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    """The table `name` of the catalogue's table `section`, in `language` (in English when that
    language lacks it). A name no language has is the kit's own bug: KeyError, where it was said."""
    found = _lookup(section, name, language)
    if found is None:
        raise KeyError(f"no [{section}.{name}] in {CATALOGUE / (DEFAULT_LANGUAGE + '.toml')}")
    return found


def find(section: str, name: str, language: str = DEFAULT_LANGUAGE) -> str | None:
    """The text `name` of table `section` in `language` (else in English), or None when the
    catalogue has none: for words an exercise may also give itself (its hints)."""
    found = _lookup(section, name, language)
    return found["text"] if found else None


def _lookup(section: str, name: str, language: str) -> dict | None:
    return _find(catalogue(language), section, name) or _find(catalogue(DEFAULT_LANGUAGE), section, name)


def _find(table: dict, section: str, name: str) -> dict | None:
    """The table ``[section.name]``; a dotted name is a table within tables (``check.ex04.x``)."""
    for part in (section, *name.split(".")):
        table = table.get(part) if isinstance(table, dict) else None
    return table if isinstance(table, dict) and "text" in table else None


def say(section: str, name: str, language: str = DEFAULT_LANGUAGE, /, **params) -> str:
    """The text `name` of the catalogue's table `section` ("cause", "report", "check", "words") in
    `language`, its placeholders filled from `params` (a param may be Words, said in the same
    language)."""
    return say_field(section, name, "text", language, **params)


def say_field(section: str, name: str, field: str, language: str = DEFAULT_LANGUAGE, /, **params) -> str:
    """The text `field` of the table `name` (a check's "expected", "got", "look_at"), filled in."""
    values = {key: said(value, language) for key, value in params.items()}
    template = entry(section, name, language)[field]
    return _joined_closely(template, values) if language == "zh_CN" else template.format(**values)


CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")  # Chinese characters and punctuation


def _joined_closely(template: str, values: dict) -> str:
    """`template` filled in, without the space the template put between a placeholder and Chinese
    text when the words filled in are Chinese too ("{what} 没有" with what = "结果队列"). Only the
    seams are touched: a space inside a value (a student's output) stays."""
    formatter = string.Formatter()
    out = ""
    for literal, field, spec, conversion in formatter.parse(template):
        if literal.startswith(" ") and out[-1:] and CJK.match(out[-1]) and CJK.match(literal.lstrip(" ")[:1] or " "):
            literal = literal.lstrip(" ")
        out += literal
        if field is None:
            continue
        value = formatter.format_field(formatter.convert_field(values[field], conversion), spec or "")
        if out.endswith(" ") and CJK.match(out.rstrip(" ")[-1:] or " ") and CJK.match(value[:1] or " "):
            out = out.rstrip(" ")
        out += value
    return out


def said(value, language: str):
    """`value` said in `language` when it is words not said yet (Words, Joined, Later), else as it is."""
    return value.say(language) if isinstance(value, (Words, Joined, Later)) else value


@dataclasses.dataclass(frozen=True, init=False)
class Words:
    """Words of the catalogue, said later in the language of the report they go into: the text
    `name` of the table `section` (``words`` unless told), with `params`. A check passes them where
    a report takes words rather than code: ``what=Words("ex05.what-consumers-put")``."""

    name: str
    params: dict
    section: str = "words"

    def __init__(self, name: str, /, *, section: str = "words", **params):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "section", section)
        entry(section, name)  # a name the catalogue lacks fails where it was written

    def say(self, language: str = DEFAULT_LANGUAGE) -> str:
        return say(self.section, self.name, language, **self.params)


@dataclasses.dataclass(frozen=True)
class Joined:
    """Several Words (or plain texts) said one after the other, with the language's comma
    (``report.list-comma``: ", " in English, "，" in Chinese) or semicolon (``list-semicolon``)."""

    parts: tuple
    separator: str = "list-comma"

    def say(self, language: str = DEFAULT_LANGUAGE) -> str:
        return say("report", self.separator, language).join(said(part, language) for part in self.parts)


@dataclasses.dataclass(frozen=True)
class Later:
    """Words the kit puts together itself for each language (a list of likely causes, what a process
    printed): `make(language)` says them."""

    make: Callable[[str], str]

    def say(self, language: str = DEFAULT_LANGUAGE) -> str:
        return self.make(language)


def title(key: str, language: str = DEFAULT_LANGUAGE) -> str:
    return _key_entry(key, language).get("title", key)


def explanation(key: str, language: str = DEFAULT_LANGUAGE) -> str:
    """What goes wrong when a program makes the mistake `key`, and why."""
    return _key_entry(key, language).get("explain", "")


def hints(key: str, language: str = DEFAULT_LANGUAGE) -> list[str]:
    """The steps towards fixing the mistake `key`: the idea, then where to look."""
    return list(_key_entry(key, language).get("hints", []))


def _key_entry(key: str, language: str) -> dict:
    return catalogue(language).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or {}


def known(values, limit: int = PER_CHECK) -> tuple[str, ...]:
    """The keys among `values` (untrusted: anything) that the catalogue knows, each once, in order,
    at most `limit` of them."""
    if not isinstance(values, (list, tuple)):
        return ()
    every = keys()
    return first([value for value in values if isinstance(value, str) and value in every], limit)


def first(found, limit: int = PER_CHECK) -> tuple[str, ...]:
    """The first `limit` distinct keys of `found`, in order (the most telling comes first)."""
    return tuple(dict.fromkeys(found))[:limit]


def of(mistake) -> tuple[str, ...]:
    """A `mistake=` argument (None, a key, or several) as keys; a key the catalogue lacks is the
    kit's own bug, and fails loudly where it was written."""
    found = () if mistake is None else (mistake,) if isinstance(mistake, str) else tuple(mistake)
    unknown = [key for key in found if key not in keys()]
    if unknown:
        raise ValueError(f"mistake keys not in {CATALOGUE / (DEFAULT_LANGUAGE + '.toml')}: {unknown}")
    return found
