"""The ``kit`` object the visible tests use: run a scenario against the student's module and turn
what happened into a failure that teaches (what was expected, what happened, what to look at).
"""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from grader.checking import amqp, mistakes, payloads
from grader.checking.diagnose import Cause, causes, parse_dump, render_processes, rules_of
from grader.checking.exercise import Exercise
from grader.checking.harness import Isolation, Outcome, Status, load_factor, read_observation, run_check
from grader.checking.mistakes import Joined, Later, Words
from grader.checking.roles import PRODUCER, PUBLISHER, plays
from grader.checking.scenarios.common import NotAList, RunSeen, Scenario, TreeSeen

if TYPE_CHECKING:
    from grader.checking.scenarios.ex02_producer_consumer import DeliverSeen
    from grader.checking.scenarios.ex05_joinable import JoinableRunSeen

PICKLE_WORDS = ("pickle", "Can't get attribute", "local object")


class CheckFailed(pytest.fail.Exception):
    """A check's failure, with what caused it: the plugin prints the report of a cause once per
    exercise, and names the other checks it explains (grader.checking.summary).

    `cause` is a key equal for two failures of the same kind, in the same process, at the same
    line; `advice` is the one thing to do about it, for the summary; `mistakes` the keys of the
    mistakes it shows (grader.checking.mistakes), for results.json and the class summary."""

    __module__ = "builtins"  # pytest's short summary reads "CheckFailed: <headline>", as "Failed: ..."

    def __init__(self, msg: str, *, cause: str, advice: str, mistakes: tuple[str, ...] = ()):
        super().__init__(msg, pytrace=False)
        self.baozi_cause = cause
        self.baozi_advice = advice
        self.baozi_mistakes = mistakes


class ForkWithThreadsNote(UserWarning):
    """The student's code forked while its process had threads (Python 3.12+ warns about it)."""


class Kit:
    def __init__(self, *, exercise: Exercise, impl_root: Path, start_method: str, seed: int,
                 scale: float, rerun: str | Words, isolation: Isolation | None = None,
                 require_broker: bool = False, language: str | tuple[str, ...] = mistakes.DEFAULT_LANGUAGE):
        self.exercise = exercise
        # The languages of the kit's own words in a report (grader.checking.mistakes): a report is
        # said in each, one after the other; the first is the one of the summary's advice.
        self.languages = (language,) if isinstance(language, str) else tuple(language)
        self.language = self.languages[0]
        self.require_broker = require_broker
        self._queues: list[str] = []  # made on the broker by this check; deleted after each run
        self.isolation = isolation
        self.impl_root = impl_root
        self.start_method = start_method
        self.seed = seed
        self.scale = scale
        self.rerun = rerun
        self.flags: list[str] = []  # what its runs showed for the instructor (Outcome.flags)
        self.held_warnings: list[Warning] | None = None  # a list: warnings wait there (run ahead)
        self._last_outcome: Outcome | None = None  # where a process crashed, for any failure after it

    # -- inputs ---------------------------------------------------------------------------------
    @property
    def module_file(self) -> Path:
        return self.exercise.module_file(self.impl_root)

    def items(self, count: int, *, salt: str = "", **options) -> list:
        return payloads.items(self.seed, count, salt=f"{self.exercise.name}:{salt}", **options)

    def batches(self, sizes: list[int]) -> list[list]:
        return payloads.batches(self.seed, sizes, salt=self.exercise.name)

    def texts(self, count: int, *, salt: str = "") -> list[str]:
        return payloads.texts(self.seed, count, salt=f"{self.exercise.name}:{salt}")

    def text_batches(self, sizes: list[int]) -> list[list[str]]:
        return payloads.text_batches(self.seed, sizes, salt=self.exercise.name)

    # -- the broker (exercise 7) ----------------------------------------------------------------
    def broker_url(self) -> str:
        """The RabbitMQ URL the check uses; without a broker the check is skipped, with the way to
        start one (or fails, when a broker is required: --require-broker, and always in grading)."""
        address = amqp.url()
        problem = amqp.unreachable_once(address)
        if problem:
            message = amqp.how_to_start(address, problem, self.language)
            if self.require_broker:
                self._fail({language: f"NO BROKER: {amqp.how_to_start(address, problem, language)}"
                            for language in self.languages}, cause="no-broker", advice=message)
            pytest.skip(message)
        return address

    def queue_name(self, label: str = "work") -> str:
        """A queue of this check's own, deleted after the check's run."""
        name = amqp.unique_name(f"{self.exercise.name.split('_')[0]}.{label}")
        self._queues.append(name)
        return name

    # -- running --------------------------------------------------------------------------------
    def run(self, scenario: Scenario, *, action: str | Words | None = None, **params) -> Outcome:
        """Run a scenario of this exercise's (``grader.checking.scenarios.<exercise>``) with
        `params` and fail unless it returned cleanly.

        The scenario's declaration gives what a report calls the run, the time it asks for (items
        times delays) and how many processes it starts, from `params`; the budget grows with the
        last two. `action` says the run in the check's own words instead.
        """
        if isinstance(scenario, str):
            raise TypeError(f"kit.run({scenario!r}, ...): pass the scenario's declaration "
                            "(a grader.checking.scenarios.common.Scenario), not its name")
        planned_action, work, processes = scenario.plan(params)
        action = planned_action if action is None else action
        budget = self.exercise.budget.seconds(
            work=work, processes=processes, start_method=self.start_method,
            scale=self.scale * load_factor())
        try:
            outcome = run_check(
                module_file=self.module_file, module=self.exercise.module,
                scenario=f"grader.checking.scenarios.{self.exercise.name}:{scenario.name}", params=params,
                start_method=self.start_method, budget=budget, isolation=self.isolation,
                action=mistakes.said(action, mistakes.DEFAULT_LANGUAGE))
        finally:
            if self._queues:  # every process of the check has ended: nothing uses them any more
                amqp.delete_queues(amqp.url(), self._queues)
                self._queues.clear()
        read_observation(outcome, scenario.seen)
        self.flags += outcome.flags
        self._last_outcome = outcome
        if "fork-with-threads" in outcome.notes:
            note = ForkWithThreadsNote(mistakes.say("report", "fork-with-threads", self.language,
                                                    action=mistakes.said(action, self.language)))
            if self.held_warnings is None:
                warnings.warn(note, stacklevel=2)
            else:  # run ahead of its test, in another thread: the test gives it to pytest
                self.held_warnings.append(note)
        # Why it hung or leaked, found once: every language says the same causes.
        found = _likely_causes(outcome, self.exercise) if outcome.status == Status.HANG or outcome.leaked else []
        problems = {language: explain(outcome, self.exercise, language, mistakes.said(action, language), found)
                    for language in self.languages}
        problem = problems[self.language]
        if problem:
            prefix = mistakes.say("report", "likely", self.language)
            likely = [line.removeprefix(prefix) for line in problem.splitlines() if line.startswith(prefix)]
            self._fail(problems, cause=cause_of(outcome), advice=(likely or problem.splitlines())[0],
                       mistake=mistakes_of(outcome, self.exercise, found))
        return outcome

    # -- verdicts -------------------------------------------------------------------------------
    def _key(self, rule: str, default: str) -> str:
        """The key the mistake `rule` finds has in this exercise (its Diagnosis), else `default`."""
        return rules_of(self.exercise.name).key(rule, default)

    def fail(self, name: str, /, *, look_at: str | Words | None = None,
             mistake: str | tuple[str, ...] | None = None, cause: str | None = None, advice: str | None = None,
             **params):
        """Fail the check with the catalogue's report ``check.<name>``: its first line, then what was
        expected, what came, and what to look at (grader.checking.mistakes), filled from `params` (a
        param may be Words) and said in each language of the kit. `look_at` (a name of the
        catalogue's ``words``, or Words) replaces the report's own advice.

        Two failures share a cause when their first line and what to look at are the same, in
        English (what was expected and got may differ with the check's items); `cause` and `advice`
        override that (see CheckFailed). `mistake` is the key (or keys) of the mistake the failure
        shows, when it can tell one."""
        report = mistakes.entry("check", name)
        if isinstance(look_at, str):
            look_at = Words(look_at)

        def said_in(language: str) -> tuple[list[str], str]:
            """The report's lines in `language`, and what it says to look at."""
            if look_at is not None:
                advice_text = look_at.say(language)
            elif "look_at" in report:
                advice_text = mistakes.say_field("check", name, "look_at", language, **params)
            else:
                advice_text = ""
            lines = [mistakes.say("check", name, language, **params)]
            lines += [_labelled(field, mistakes.say_field("check", name, field, language, **params), language)
                      for field in ("expected", "got") if field in report]
            if advice_text:
                lines.append(_labelled("look-at", advice_text, language))
            return lines, advice_text

        languages = dict.fromkeys((mistakes.DEFAULT_LANGUAGE, *self.languages))  # English: for the cause
        said = {language: said_in(language) for language in languages}
        english, english_advice = said[mistakes.DEFAULT_LANGUAGE]
        if cause is None:
            cause = "\x1f".join(("fail", english[0], english_advice))
        own, own_advice = said[self.language]
        self._fail({language: "\n".join(said[language][0]) for language in self.languages},
                   cause=cause, advice=advice or own_advice or own[0], mistake=mistake)

    def _fail(self, texts: dict[str, str], *, cause: str, advice: str, mistake=None):
        """Fail the check with `texts` (its report, by language), followed in each by where a process
        crashed and the command that runs the check again. More than one language: one after the
        other, the first the kit's own."""
        keys = mistakes.of(mistake)
        reports = []
        for language in self.languages:
            lines = [texts[language]]
            stack = crash_stack(self._last_outcome, language) if self._last_outcome is not None else ""
            if stack and stack not in texts[language]:
                lines.append(stack)
            lines.append(mistakes.say("report", "rerun", language, start_method=self.start_method,
                                      seed=self.seed, command=self.rerun))
            reports.append("\n".join(lines))
        raise CheckFailed("\n\n".join(reports), cause=cause, advice=advice, mistakes=keys)

    def expect_items(self, got, expected: list, *, what, ordered: bool, look_at: str | Words,
                     mistake: str | None = None, order_mistake: str | None = None) -> None:
        """`got` holds exactly the `expected` items (as a multiset), in order if `ordered`.
        `mistake` is what a wrong set of items shows, `order_mistake` what a wrong order shows."""
        if isinstance(got, NotAList):  # what the student's function returned
            self.fail("not-a-list", what=what, count=len(expected), type=got.kind.removeprefix("builtins."),
                      value=got.shown, look_at=look_at, mistake="any.no-list-returned")
        if not isinstance(got, list):
            self.fail("not-a-list", what=what, count=len(expected), type=type(got).__name__,
                      value=payloads.short(got, 80), look_at=look_at, mistake=mistake)
        missing, doubled, unknown = payloads.compare(expected, got)
        if missing or doubled or unknown:
            self.fail("items-not-once", what=what, count=len(expected),
                      story=multiset_story(len(got), missing, doubled, unknown), look_at=look_at, mistake=mistake)
        if ordered and [payloads.key(x) for x in got] != [payloads.key(x) for x in expected]:
            first = next(i for i, (a, b) in enumerate(zip(got, expected)) if payloads.key(a) != payloads.key(b))
            self.fail("items-out-of-order", what=what, index=first, expected=payloads.short(expected[first]),
                      got=payloads.short(got[first]), look_at=look_at, mistake=order_mistake)

    def expect_clean_shutdown(self, seen: TreeSeen, *, what) -> None:
        """Every process the call started was joined and ended on its own, with exit code 0."""
        if seen.unjoined:
            self.fail("not-joined", what=what, names=", ".join(seen.unjoined),
                      running=Words("still-running") if seen.running else "",
                      mistake="any.process-left-running")
        bad = {name: code for name, code in (seen.exitcodes or {}).items() if code != 0}
        if bad:
            name, code = next(iter(bad.items()))
            how = Words("killed-by-signal", signal=-code) if code < 0 else Words("exited-with-code", code=code)
            self.fail("bad-exit-code", name=name, how=how, codes=_exit_codes(bad),
                      mistake="ex03.terminate-instead-of-sentinel" if code < 0 else None)

    def expect_processes(self, seen: RunSeen, *, at_least: int, what) -> None:
        """The work went through processes: the call started at least `at_least` of them (the kit
        saw each one: grader.checking.harness checks the account against the process tree)."""
        started = seen.processes or []
        if len(started) < at_least:
            self.fail("too-few-processes", what=what, count=len(started), at_least=at_least,
                      started=", ".join(started) or Words("no-process"),
                      value=payloads.short(seen.value, 80), mistake="any.result-not-through-queues")
        self._expect_items_through_queues(seen, what=what)

    def _expect_items_through_queues(self, seen: RunSeen, *, what) -> None:
        """Each value the call returned went through queues: counted from the calls the student's
        code made (put_spans, gets), the processes it started put at least as many values on
        queues and took at least as many from them, and the call took at least as many itself.
        Processes that run but do no work, beside a call that returns the list it was given, fail."""
        value = seen.value
        count = len(value) if isinstance(value, list) else 0
        _, put, taken, collected = _queue_calls(seen)
        if min(put, taken, collected) >= count:
            return
        self.fail("not-through-queues", what=what, count=count, put=put, taken=taken, collected=collected,
                  mistake="any.result-not-through-queues")

    def expect_no_crash(self, outcome: Outcome, exitcodes: dict, *, what) -> None:
        """No process of the check ended by raising (an exit code above 0); if one did, say why
        from what it printed on stderr. `what` (Words) says when: "during run()"."""
        crashed = {name: code for name, code in exitcodes.items() if code is not None and code > 0}
        if not crashed:
            return
        stub = re.search(r'line \d+, in (\w+)\n.*\n\s*NotImplementedError: (.*)', outcome.stderr)
        if stub:  # a stub function run in a process of its own
            file = Path(outcome.module_file).name

            def written(language: str) -> str:
                text = mistakes.say("check", "stub-in-process", language, function=stub[1], message=stub[2],
                                    file=file)
                hint = self.exercise.hint(stub[1], language)
                return text + (f"\n  {mistakes.say('report', 'hint', language)}{hint}" if hint else "")

            self._fail({language: written(language) for language in self.languages},
                       cause=not_written(stub[1]), advice=written(self.language).split("\n")[0])
        found = _stderr_causes(outcome, self.exercise)
        self.fail("process-raised", names=", ".join(crashed), what=what, codes=_exit_codes(crashed),
                  because=Later(lambda language: "".join("\n  " + cause.text(language) for cause in found)),
                  output=Later(lambda language: _with_output(outcome, language=language)),
                  mistake=mistakes.first(c.mistake for c in found if c.mistake))

    def expect_sentinels_after_producers(self, seen: RunSeen, *, what, sentinel: Words | None = None,
                                         look_at: str = "join-producers-then-none") -> None:
        """Each sentinel was sent once every producer was known to have ended (joined). Judged by
        the order of the calls, not by luck: such a sentinel loses items only when it overtakes one.
        `sentinel` names it (Words: "the sentinel None"), `look_at` (a name of the catalogue's
        words) says what to do first."""
        for unjoined in seen.sentinels or []:
            producers = [name for name in unjoined if plays(name, PRODUCER, PUBLISHER)]
            if producers:
                self.fail("sentinel-before-join", what=what, sentinel=sentinel or Words("the-sentinel-none"),
                          producers=", ".join(producers), first=Words(look_at),
                          mistake=self._key("sentinel-before-join", "ex04.sentinels-before-every-producer-ended"))

    def expect_results_awaited(self, seen: RunSeen | DeliverSeen, expected: list, *, what,
                               look_at: str | Words | None = None) -> None:
        """Items are missing after the code asked a queue that a running process held whether it
        was empty: run() about its consumers' results, or a consumer about its producer's items.
        The kit answers such a question (every other empty(), qsize() or get_nowait(), and the first
        short timed get() of each process) as the slowest schedule would: nothing there yet
        (driver._answer_late). So this mistake loses items in every run, not only when the other
        side happens to be slow; here it is named. `seen` holds the answers (`late`)
        and what came out (run()'s `value`, or start()'s results, `got`); `look_at` replaces the
        advice to `what`."""
        late = seen.late or []
        got = seen.value if isinstance(seen, RunSeen) else seen.got
        if not late or not isinstance(got, list):
            return
        missing, _, _ = payloads.compare(expected, got)
        if not missing:
            return
        # A consumer that took "nothing there" for the end lost the items before run() could.
        first = next((answer for answer in late if answer.get("by", "run()") != "run()"), late[0])
        call, asker = first["call"], first.get("by", "run()")
        running = ", ".join(first["running"]) or Words("another-process")
        if asker != "run()":
            timed = call.startswith("get(timeout=")
            self.fail("consumer-gave-up", asker=asker, running=running, count=len(expected), taken=len(got),
                      call=call, look_at="timed-get-is-not-the-end" if timed else "empty-is-not-the-end",
                      mistake=self._key("consumer-gave-up", "any.empty-taken-for-end"))
        self.fail("run-gave-up", what=what, running=running, count=len(expected), taken=len(got), call=call,
                  look_at=look_at, mistake="any.empty-taken-for-end")

    def expect_every_result_taken(self, seen: RunSeen, *, what, results: str = "results") -> None:
        """`what` took every value the other processes put on queues (counted from the calls:
        "put_spans", "gets"). With two or more of them putting, their values arrive in any order,
        so a value left unread (a forwarded STOP, a second result) could have arrived before an
        item and been taken in its place: the mistake loses an item only in some runs, and is
        named here in every run."""
        putters, put, _, taken = _queue_calls(seen)
        if putters < 2 or put <= taken:
            return
        self.fail("results-unread", what=what, left=put - taken, results=results, put=put, taken=taken,
                  mistake=self._key("results-unread", "ex03.sentinel-forwarded"))

    def expect_task_done_after_the_work(self, seen: JoinableRunSeen) -> None:
        """Each consumer marked each item it took done once, after its result was out. Judged by
        the order and count of the calls: an item marked done too early is lost only if the
        program ends before its result is put, and one marked twice breaks q.join() only when the
        count happens to reach zero at the wrong moment; both are luck."""
        marks = seen.early_task_done or {}
        extra = {name: n[1] for name, n in marks.items() if n[1]}
        if extra:
            self.fail("task-done-too-often", names=", ".join(extra),
                      counts=Joined(tuple(Words("calls-too-many", name=name, count=n) for name, n in extra.items())),
                      mistake="ex05.task-done-twice")
        early = {name: n[0] for name, n in marks.items() if n[0]}
        if early:
            self.fail("task-done-early", names=", ".join(early),
                      counts=Joined(tuple(Words("marked-done-first", name=name, count=n)
                                          for name, n in early.items())),
                      mistake="ex05.task-done-before-work")

    def expect_overlap(self, seen: RunSeen, *, what) -> None:
        """The consumers ran while the producers were still producing."""
        if seen.overlap is False:
            self.fail("consumers-started-late", what=what, mistake="any.consumers-started-late")

    def expect_took_at_least(self, seen: RunSeen | DeliverSeen, seconds: float, *, what, why: Words,
                             delay: float = 0.0, by: str | None = None) -> None:
        """The call lasted as long as its delays demand: `seconds`, for the items of the busiest
        process of kind `by` ("producer" or "consumer"), each `delay` apart; `why` says how the
        check counted them.

        Under heavy load, starting the processes alone can last as long as the delays, so the
        length of the call cannot show a delay that was ignored. Two tallies the driver keeps of the
        student's code (grader.checking.driver.watch_student) can, since neither grows with the load:
        - the seconds asked of time.sleep, in every process: code that sleeps must ask for at least
          `seconds` (a delay not passed on sleeps 0 s);
        - when the processes of kind `by` put on multiprocessing queues, how far apart their first
          and last puts were, less the time they waited in puts and gets (for room, or for an item:
          the other side's time, which grows with the load): n puts `delay` apart spread over
          (n - 1) * `delay` at least, and `seconds - delay` once all the items are put. A put is
          counted once it has returned, and the item may be taken before that (a Manager's queue
          holds it as soon as it is sent): the tally can lack the last put when the call returns.
        Code that does neither is judged by the length of the call alone.
        """
        if seen.seconds < 0.9 * seconds:
            self.fail("too-fast", what=what, seconds=seconds, why=why, took=seen.seconds,
                      mistake="any.delay-ignored")
        slept = seen.slept or {}
        if slept.get("calls") and slept["seconds"] < 0.9 * seconds:
            self.fail("slept-too-little", what=what, seconds=seconds, why=why, calls=slept["calls"],
                      slept=slept["seconds"], mistake="any.delay-ignored")
        spans = [s for s in seen.put_spans or []
                 if by and s["puts"] >= 2 and plays(s["role"], by)]
        if delay and spans:
            def needed(span: dict) -> float:
                return min(seconds - delay, (span["puts"] - 1) * delay)

            closest = max(spans, key=lambda span: _own_span(span) - 0.9 * needed(span))
            if _own_span(closest) < 0.9 * needed(closest):
                self.fail("puts-too-close", what=what, by=by, seconds=needed(closest), why=why,
                          span=_own_span(closest), puts=closest["puts"], mistake="any.delay-ignored")

    def expect_no_spin(self, outcome: Outcome, *, while_: Words) -> None:
        """No student process kept a CPU busy while it should have been waiting (`while_`: Words)."""
        spinning = [r for r in outcome.busy if r.kind != "main" or not outcome.registry]
        if spinning:
            self.fail("spins", names=Joined(tuple(_spin_witness(r) for r in spinning)), while_=while_,
                      mistake="any.busy-wait")


def _labelled(label: str, text: str, language: str) -> str:
    """A line under a report's first: "  expected: ..." (`label` is a text of the catalogue's report)."""
    return "  " + mistakes.say("report", label, language) + text


def _exit_codes(codes: dict[str, int]) -> Joined:
    return Joined(tuple(Words("exit-code-of", name=name, code=code) for name, code in codes.items()))


def _own_span(span: dict) -> float:
    """The seconds between a process's first and last put that it spent outside its queue calls."""
    own = span.get("own", span.get("span"))
    return float(own) if isinstance(own, (int, float)) and not isinstance(own, bool) else 0.0


def _queue_calls(seen: RunSeen) -> tuple[int, int, int, int]:
    """From an observation's counts of the student's queue calls (`put_spans`, `gets`): how many of
    the processes it started put, how many values they put, how many they took, and how many the
    call itself ("main") took."""
    putters = [span for span in seen.put_spans or [] if span["role"] != "main"]
    gets = seen.gets or {}
    return (len(putters), sum(span["puts"] for span in putters),
            sum(n for role, n in gets.items() if role != "main"), gets.get("main", 0))


def _spin_witness(report) -> Words:
    if report.polls:
        return Words("spin-polls", role=report.role, polls=report.polls)
    if report.runnable is not None and report.blocked is not None:
        return Words("spin-runnable", role=report.role, runnable=report.runnable, blocked=report.blocked[0])
    return Words("spin-cpu", role=report.role, cpu=report.cpu)


def multiset_story(count: int, missing: list, doubled: list, unknown: list) -> Joined:
    def examples(values: list) -> str:
        return ", ".join(payloads.short(x) for x in values[:3])

    parts = [Words("items", count=count)]
    if missing:
        parts.append(Words("never-consumed", count=len(missing), examples=examples(missing)))
    if doubled:
        parts.append(Words("consumed-twice", count=len(doubled), examples=examples(doubled)))
    if unknown:
        parts.append(Words("never-produced", count=len(unknown), examples=examples(unknown)))
    return Joined(tuple(parts), separator="list-semicolon")


def _error_line(outcome: Outcome) -> str:
    error = outcome.error or {}
    where = f" at {Path(outcome.module_file).name}:{error['line']}" if error.get("line") else ""
    source = f"\n    {error['source']}" if error.get("source") else ""
    return f"{error.get('type', 'Error')}: {error.get('message', '')}{where}{source}"


def _output(outcome: Outcome, language: str = mistakes.DEFAULT_LANGUAGE) -> str:
    parts = []
    if outcome.stderr.strip():
        parts.append(mistakes.say("report", "stderr", language) + "\n" + _indent(outcome.stderr))
    if outcome.stdout.strip():
        parts.append(mistakes.say("report", "stdout", language) + "\n" + _indent(outcome.stdout))
    return "\n".join(parts)


def _indent(text: str, width: int = 25) -> str:
    lines = text.rstrip().splitlines()[-width:]
    return "\n".join("    | " + line for line in lines)


def _stderr_causes(outcome: Outcome, exercise: Exercise | None = None) -> list[Cause]:
    """Causes read from what the student's processes printed on stderr, each with its mistake."""
    text = outcome.stderr
    message = (outcome.error or {}).get("message") or ""
    pickling = any(word in text for word in PICKLE_WORDS) or any(word in message for word in PICKLE_WORDS)
    own = rules_of(exercise.name).from_output if exercise is not None else None
    found, whole = own(text + message, (outcome.error or {}).get("type", ""), pickling) if own else ([], False)
    found = [Cause(*cause, decisive=whole) for cause in found]
    if whole:
        return found
    if pickling:
        # A child that could not unpickle its target also fails to open the queues sent with it:
        # the FileNotFoundError that follows is a consequence, not a second cause.
        return [Cause("not-picklable", {"start_method": outcome.start_method}, "any.not-picklable-under-spawn")]
    if "FileNotFoundError" in text and ("synchronize" in text or "rebuild" in text or "semaphore" in text):
        found.append(Cause("queue-collected", {"start_method": outcome.start_method}, "any.shared-queue-collected"))
    if "task_done() called too many times" in text:
        found.append(Cause("task-done-too-often", {}, "ex05.task-done-twice"))
    if "Traceback" in text and not found:
        found.append(Cause("raised"))
    return found


def _likely_causes(outcome: Outcome, exercise: Exercise) -> list[Cause]:
    """Why a run hung or left processes behind, most likely first: what the processes printed and
    what the kit saw of them."""
    from_output = _stderr_causes(outcome, exercise)
    seen = causes(outcome, exercise.name)
    if outcome.status != Status.HANG:
        return seen
    decisive = any(cause.decisive for cause in from_output)
    return from_output + seen if decisive else seen + from_output  # the traceback names the cause: it goes first


def mistakes_of(outcome: Outcome, exercise: Exercise, likely: list[Cause]) -> tuple[str, ...]:
    """The keys of the mistakes an outcome that `explain` tells of shows, most telling first;
    `likely` are its likely causes (_likely_causes)."""
    status = outcome.status
    found: list[str] = []
    if status == Status.STARTED_AT_IMPORT:
        found.append("any.no-main-guard")
    elif status == Status.RAISED:
        if "task_done() called too many times" in (outcome.error or {}).get("message", ""):
            found.append("ex05.task-done-twice")
        found += [c.mistake for c in _stderr_causes(outcome, exercise) if c.mistake]
    elif status == Status.HANG or (status == Status.RETURNED and outcome.leaked):
        found += [c.mistake for c in likely if c.mistake]
        if status != Status.HANG:
            found.append("any.process-left-running")
    return mistakes.first(found)


def explain(outcome: Outcome, exercise: Exercise, language: str, action: str | None,
            likely: list[Cause]) -> str | None:
    """Why a check cannot go on, in words a student can act on (in `language`); None when it can.
    `action` says what the check ran in that language (the outcome's own label otherwise), `likely`
    its likely causes when it hung or leaked (_likely_causes)."""
    action = action or outcome.action
    def say(name: str, **params) -> str:
        return mistakes.say("report", name, language, **params)

    file = Path(outcome.module_file).name
    status = outcome.status
    error = outcome.error or {}
    if status == Status.MISSING_FILE:
        return say("missing-file", module_file=outcome.module_file, exercise=exercise.name, module=exercise.module)
    if status == Status.IMPORT_ERROR:
        return f"{say('import-error', file=file)}\n  {_error_line(outcome)}"
    if status == Status.MISSING_FUNCTION:
        return say("missing-function", module=exercise.module, name=error["message"],
                   functions=", ".join(exercise.functions))
    if status == Status.STARTED_AT_IMPORT:
        return say("started-at-import", file=file, message=error["message"])
    if status == Status.RAISED:
        if error["type"] == "NotImplementedError":
            hint = exercise.hint(error.get("function") or "", language)
            hint = f"\n  {say('hint')}{hint}" if hint else ""
            return say("not-written", action=action, message=error["message"] or say("the-stub"),
                       file=file) + hint
        text = say("raised", action=action, error=_error_line(outcome))
        if "can only join a started process" in error["message"]:
            text += "\n  " + say("join-unstarted")
        elif error["type"] in ("BlockingIOError", "MemoryError") or "can't start new thread" in error["message"]:
            text += "\n  " + say("resource-limit")
        for cause in _stderr_causes(outcome, exercise):
            text += "\n  " + cause.text(language, action)
        return text + _with_output(outcome, error.get("traceback", ""), language)
    if status == Status.HANG:
        timing = {"action": action, "start_method": outcome.start_method,
                  "elapsed": outcome.elapsed, "budget": outcome.budget}
        if outcome.deadlock:
            lines = [say("deadlock", **timing)]
        elif outcome.elapsed > outcome.budget + 0.5:
            lines = [say("hang-busy", more=outcome.elapsed - outcome.budget, **timing)]
        else:
            lines = [say("hang", **timing)]
        if outcome.stuck:
            lines.append(say("still-running"))
            lines.append(_render(outcome, language))
        ended = _ended(outcome)
        if ended:
            lines.append("  " + say("already-ended", names=ended))
        lines += [say("likely") + cause.text(language, action) for cause in likely]
        return "\n".join(lines) + _with_output(outcome, language=language)
    if status == Status.CRASHED:
        code = error.get("returncode")
        ran = any(e["kind"] == "phase" for e in outcome.registry)
        stack = crash_stack(outcome, language)
        return (say("crash-running" if ran else "crash-importing", action=action, file=file, code=code)
                + (f"\n{stack}" if stack else "") + _with_output(outcome, language=language))
    if status == Status.UNRELIABLE:
        return say("unreliable", message=error["message"])
    if status == Status.INTERNAL_ERROR:
        return f"{say('internal-error', file=file)}\n{_error_line(outcome)}"
    if status == Status.BAD_ANSWER:
        return say("bad-answer", message=error["message"])
    if status == Status.INCONSISTENT:
        return say("inconsistent", action=action, message=error["message"])
    if outcome.leaked:
        lines = [say("leak", action=action, count=len(outcome.leaked)), _render(outcome, language)]
        lines += [say("likely") + cause.text(language, action) for cause in likely]
        lines.append(say("leak-advice"))
        return "\n".join(lines) + _with_output(outcome, language=language)
    return None


def cause_of(outcome: Outcome) -> str:
    """A key equal for the outcomes `explain` tells of that have the same cause: the same status,
    and the same processes (by kind) stuck or left at the same lines of the student's code, or the
    same exception from the same function. Nothing that varies with the check's items or timing."""
    parts = [outcome.status.value]
    error = outcome.error or {}
    if outcome.status == Status.RAISED and error.get("type") == "NotImplementedError":
        return not_written(error.get("function") or "")
    if outcome.status == Status.RAISED:
        parts += [error.get("type", ""), str(error.get("function") or ""), str(error.get("line") or "")]
    elif outcome.status == Status.CRASHED:
        parts.append(str(error.get("returncode")))
    elif outcome.status == Status.HANG or outcome.leaked:
        procs = outcome.stuck if outcome.status == Status.HANG else outcome.leaked
        parts.append("LEAK" if outcome.status != Status.HANG else "")
        parts += sorted({f"{r.kind}:{r.state}:{r.line}:{r.call}" for r in procs})
    return "\x1f".join(parts)


def not_written(function: str) -> str:
    """The cause of every failure of a stub function not written yet, wherever it was called."""
    return f"not-written\x1f{function}"


def crash_stack(outcome: Outcome, language: str = mistakes.DEFAULT_LANGUAGE, depth: int = 8) -> str:
    """Where the first process of the run that died of a fault was, innermost frame first."""
    for text in outcome.fatal:
        threads = parse_dump(text)
        if threads and threads[0]:
            frames = [f"    {Path(f.file).name}:{f.line} in {f.func}" for f in threads[0][:depth]]
            return mistakes.say("report", "crashed-at", language) + "\n" + "\n".join(frames)
    return ""


def _render(outcome: Outcome, language: str) -> str:
    return render_processes(outcome.stuck or outcome.leaked, outcome.module_file, language)


def _ended(outcome: Outcome) -> str:
    alive = {r.pid for r in outcome.stuck}
    names = []
    counts: dict[str, int] = {}
    for entry in outcome.registry:
        if entry["kind"] != "process":
            continue
        counts[entry["role"]] = counts.get(entry["role"], 0) + 1
        if entry["pid"] not in alive:
            names.append(f"{entry['role']}-{counts[entry['role']]}")
    return ", ".join(names)


def _with_output(outcome: Outcome, traceback_text: str = "", language: str = mistakes.DEFAULT_LANGUAGE) -> str:
    extra = _output(outcome, language)
    if traceback_text and "NotImplementedError" not in traceback_text:
        extra = (mistakes.say("report", "traceback", language) + "\n" + _indent(traceback_text, 12)
                 + ("\n" + extra if extra else ""))
    return ("\n" + extra) if extra else ""


def rerun_command(nodeid: str, *, impl: str | None, start_method: str, seed: int) -> str:
    parts = ["python", "-m", "pytest", nodeid]
    if impl:
        parts += ["--impl", impl]
    parts += ["--start-method", start_method, "--seed", str(seed)]
    return " ".join(shlex.quote(p) for p in parts)
