"""The ``kit`` object the visible tests use: run a scenario against the student's module and turn
what happened into a failure that teaches (what was expected, what happened, what to look at).
"""

from __future__ import annotations

import math
import re
import shlex
import warnings
from pathlib import Path

import pytest

from grader.checking import amqp, mistakes, payloads
from grader.checking.diagnose import Cause, causes, parse_dump, render_processes
from grader.checking.exercise import Exercise
from grader.checking.harness import Isolation, Outcome, Status, load_factor, run_check
from grader.checking.roles import PRODUCER, PUBLISHER, plays

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


# Mistakes that more than one exercise can make, each exercise with its own key (see Kit._by_exercise).
SENTINEL_TOO_EARLY = {"ex03": "ex03.sentinel-before-producer-ended", "ex07": "ex07.stop-before-publishers-ended",
                      "any": "ex04.sentinels-before-every-producer-ended"}
SENTINEL_FORWARDED = {"ex07": "ex07.stop-forwarded", "any": "ex03.sentinel-forwarded"}
CONSUMER_GIVES_UP = {"ex02": "ex02.consumer-gives-up", "any": "any.empty-taken-for-end"}


class ForkWithThreadsNote(UserWarning):
    """The student's code forked while its process had threads (Python 3.12+ warns about it)."""


FORK_WITH_THREADS = (
    "{action}: your code started a process with fork while its own process had other threads "
    "running (a Queue that has been put to runs a feeder thread). Python 3.12+ warns about this: a "
    "lock held by another thread at the moment of the fork stays locked forever in the child. "
    "Start your processes before you put anything, or use spawn or forkserver.")


class Kit:
    def __init__(self, *, exercise: Exercise, impl_root: Path, start_method: str, seed: int,
                 scale: float, rerun: str, isolation: Isolation | None = None,
                 require_broker: bool = False, language: str = mistakes.DEFAULT_LANGUAGE):
        self.exercise = exercise
        self.language = language  # of the kit's own words in a report (grader.checking.mistakes)
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
        self._crash_stack = ""  # where a process of the last run crashed, for any failure after it

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
    @staticmethod
    def pipeline_work(batches: list[list], takers: int, put_delay: float, take_delay: float) -> float:
        """Seconds a run of many producers and `takers` consumers (or workers) asks for: every
        batch's puts, one producer after the other (the producers of a multiprocessing queue take
        turns: grader.checking.driver._take_turn), then each taker's share of the items, rounded up
        (the `work` of ``run``)."""
        total = sum(len(batch) for batch in batches)
        return total * put_delay + math.ceil(total / max(1, takers)) * take_delay

    def broker_url(self) -> str:
        """The RabbitMQ URL the check uses; without a broker the check is skipped, with the way to
        start one (or fails, when a broker is required: --require-broker, and always in grading)."""
        address = amqp.url()
        problem = amqp.unreachable_once(address)
        if problem:
            message = amqp.how_to_start(address, problem)
            if self.require_broker:
                self.fail(f"NO BROKER: {message}")
            pytest.skip(message)
        return address

    def queue_name(self, label: str = "work") -> str:
        """A queue of this check's own, deleted after the check's run."""
        name = amqp.unique_name(f"{self.exercise.name.split('_')[0]}.{label}")
        self._queues.append(name)
        return name

    # -- running --------------------------------------------------------------------------------
    def run(self, scenario: str, *, action: str, work: float = 0.0, processes: int = 0,
            **params) -> Outcome:
        """Run ``grader.checking.scenarios.<exercise>:<scenario>`` and fail unless it returned cleanly.

        `work` is the time the check asks for (items times delays) and `processes` how many
        processes it starts; the budget grows with both.
        """
        budget = self.exercise.budget.seconds(
            work=work, processes=processes, start_method=self.start_method,
            scale=self.scale * load_factor())
        try:
            outcome = run_check(
                module_file=self.module_file, module=self.exercise.module,
                scenario=f"grader.checking.scenarios.{self.exercise.name}:{scenario}", params=params,
                start_method=self.start_method, budget=budget, action=action, isolation=self.isolation)
        finally:
            if self._queues:  # every process of the check has ended: nothing uses them any more
                amqp.delete_queues(amqp.url(), self._queues)
                self._queues.clear()
        self.flags += outcome.flags
        self._crash_stack = crash_stack(outcome, self.language)
        if "fork-with-threads" in outcome.notes:
            note = ForkWithThreadsNote(FORK_WITH_THREADS.format(action=outcome.action))
            if self.held_warnings is None:
                warnings.warn(note, stacklevel=2)
            else:  # run ahead of its test, in another thread: the test gives it to pytest
                self.held_warnings.append(note)
        problem = explain(outcome, self.exercise, self.language)
        if problem:
            prefix = mistakes.say("report", "likely", self.language)
            likely = [line.removeprefix(prefix) for line in problem.splitlines() if line.startswith(prefix)]
            self.fail(problem, cause=cause_of(outcome), advice=(likely or problem.splitlines())[0],
                      mistake=mistakes_of(outcome, self.exercise))
        return outcome

    # -- verdicts -------------------------------------------------------------------------------
    def _by_exercise(self, table: dict[str, str]) -> str:
        """The key a mistake has in this exercise (`table`: by exercise number, "any" otherwise)."""
        return table.get(self.exercise.name[:4], table["any"])

    def fail(self, text: str, *, expected: str | None = None, got: str | None = None,
             look_at: str | None = None, cause: str | None = None, advice: str | None = None,
             mistake: str | tuple[str, ...] | None = None):
        """Fail the check with a report that teaches. Two failures share a cause when their first
        line and what to look at are the same (what was expected and got may differ with the
        check's items); `cause` and `advice` override that (see CheckFailed). `mistake` is the key
        (or keys) of the mistake the failure shows, when it can tell one (grader.checking.mistakes)."""
        keys = mistakes.of(mistake)
        headline = text.split("\n", 1)[0]
        if cause is None:
            cause = "\x1f".join(("fail", headline, look_at or ""))
        advice = advice or look_at or headline
        lines = [text]
        for label, value in (("expected", expected), ("got", got), ("look-at", look_at or None)):
            if value is not None:
                lines.append("  " + mistakes.say("report", label, self.language) + value)
        if self._crash_stack and self._crash_stack not in text:
            lines.append(self._crash_stack)
        lines.append(mistakes.say("report", "rerun", self.language, start_method=self.start_method,
                                  seed=self.seed, command=self.rerun))
        raise CheckFailed("\n".join(lines), cause=cause, advice=advice, mistakes=keys)

    def expect_items(self, got, expected: list, *, what: str, ordered: bool, look_at: str,
                     mistake: str | None = None, order_mistake: str | None = None) -> None:
        """`got` holds exactly the `expected` items (as a multiset), in order if `ordered`.
        `mistake` is what a wrong set of items shows, `order_mistake` what a wrong order shows."""
        if not isinstance(got, list):
            self.fail(f"{what} should be a list of items.", expected=f"a list of {len(expected)} items",
                      got=f"{type(got).__name__}: {payloads.short(got, 80)}", look_at=look_at, mistake=mistake)
        missing, doubled, unknown = payloads.compare(expected, got)
        if missing or doubled or unknown:
            self.fail(f"{what} did not deliver every item exactly once.",
                      expected=f"{len(expected)} items", got=multiset_story(len(got), missing, doubled, unknown),
                      look_at=look_at, mistake=mistake)
        if ordered and [payloads.key(x) for x in got] != [payloads.key(x) for x in expected]:
            first = next(i for i, (a, b) in enumerate(zip(got, expected)) if payloads.key(a) != payloads.key(b))
            self.fail(f"{what} has every item, but not in the order they were produced.",
                      expected=f"item {first} = {payloads.short(expected[first])}",
                      got=f"item {first} = {payloads.short(got[first])}", look_at=look_at,
                      mistake=order_mistake)

    def expect_clean_shutdown(self, seen: dict, *, what: str) -> None:
        """Every process the call started was joined and ended on its own, with exit code 0."""
        if seen["unjoined"]:
            names = ", ".join(seen["unjoined"])
            self.fail(f"{what} returned without joining {names}.",
                      expected="every process joined before returning",
                      got=f"{names} never waited for" + (" and still running" if seen["running"] else ""),
                      look_at="join every process you start: a process you do not join may still "
                              "be running when your function returns", mistake="any.process-left-running")
        bad = {name: code for name, code in seen["exitcodes"].items() if code != 0}
        if bad:
            name, code = next(iter(bad.items()))
            how = (f"was killed by signal {-code}" if code < 0 else f"exited with code {code}")
            self.fail(f"{name} {how} instead of returning normally.",
                      expected="every producer and consumer ends by returning (exit code 0)",
                      got=", ".join(f"{n}: exit code {c}" for n, c in bad.items()),
                      look_at="stop consumers with a sentinel, not terminate() or kill(); "
                              "an exit code of 1 means the process raised (see its traceback)",
                      mistake="ex03.terminate-instead-of-sentinel" if code < 0 else None)

    def expect_processes(self, seen: dict, *, at_least: int, what: str) -> None:
        """The work went through processes: the call started at least `at_least` of them (the kit
        saw each one: grader.checking.harness checks the account against the process tree)."""
        started = seen.get("processes") or []
        if len(started) < at_least:
            self.fail(f"{what} returned a list, but started {len(started)} process(es) to make it: the "
                      "items must go from a producer process, through the queue, to a consumer process.",
                      expected=f"at least {at_least} processes started (producers and consumers)",
                      got=f"{', '.join(started) or 'no process'}; it returned {payloads.short(seen.get('value'), 80)}",
                      look_at="start the producer and the consumer with multiprocessing.Process, "
                              "and collect what the consumer puts on the results queue",
                      mistake="any.result-not-through-queues")
        self._expect_items_through_queues(seen, what=what)

    def _expect_items_through_queues(self, seen: dict, *, what: str) -> None:
        """Each value the call returned went through queues: counted from the calls the student's
        code made (put_spans, gets), the processes it started put at least as many values on
        queues and took at least as many from them, and the call took at least as many itself.
        Processes that run but do no work, beside a call that returns the list it was given, fail."""
        value = seen.get("value")
        count = len(value) if isinstance(value, list) else 0
        _, put, taken, collected = _queue_calls(seen)
        if min(put, taken, collected) >= count:
            return
        self.fail(f"{what} returned {count} values, but they did not all go through queues between "
                  f"processes.",
                  expected=f"at least {count} puts and {count} gets by the processes {what} started "
                           f"(the producer puts each item, the consumer takes it and puts its result), "
                           f"and {count} results taken by {what} itself",
                  got=f"its processes put {put} values on queues and took {taken}; {what} took {collected}",
                  look_at="the consumer takes each item with q.get() and puts it on results; run() takes "
                          "one result per item with results.get() and returns those, not the list it "
                          "was given", mistake="any.result-not-through-queues")

    def expect_no_crash(self, outcome: Outcome, exitcodes: dict, *, what: str) -> None:
        """No process of the check ended by raising (an exit code above 0); if one did, say why
        from what it printed on stderr."""
        crashed = {name: code for name, code in exitcodes.items() if code is not None and code > 0}
        if not crashed:
            return
        names = ", ".join(crashed)
        stub = re.search(r'line \d+, in (\w+)\n.*\n\s*NotImplementedError: (.*)', outcome.stderr)
        if stub:  # a stub function run in a process of its own
            hint = self.exercise.hints.get(stub[1])
            self.fail(f"NOT WRITTEN YET: {stub[1]}() still raises NotImplementedError ({stub[2]}). "
                      f"Replace the TODOs in {Path(outcome.module_file).name}."
                      + (f"\n  hint: {hint}" if hint else ""), cause=not_written(stub[1]))
        found = _stderr_causes(outcome, self.exercise)
        because = "".join("\n  " + cause.text(self.language) for cause in found)
        self.fail(f"{names} raised an exception and ended {what}.{because}{_with_output(outcome, language=self.language)}",
                  expected="every process ends by returning, or (a daemon) when the program ends",
                  got=", ".join(f"{n}: exit code {c}" for n, c in crashed.items()),
                  look_at="the traceback above: an exit code of 1 means the process raised",
                  mistake=mistakes.first(c.mistake for c in found if c.mistake))

    def expect_sentinels_after_producers(self, seen: dict, *, what: str, sentinel: str = "the sentinel None",
                                         look_at: str = "join every producer first, then put None") -> None:
        """Each sentinel was sent once every producer was known to have ended (joined). Judged by
        the order of the calls, not by luck: such a sentinel loses items only when it overtakes one."""
        for unjoined in seen.get("sentinels") or []:
            producers = [name for name in unjoined if plays(name, PRODUCER, PUBLISHER)]
            if producers:
                self.fail(f"{what} sent {sentinel} before {', '.join(producers)} had been joined.",
                          expected=f"{sentinel} sent after p.join() has returned for every producer",
                          got=f"{sentinel} sent while nothing had waited for {', '.join(producers)} to end",
                          look_at=f"{look_at}: an item a producer has not sent yet, or that is still on "
                                  "its way to the queue, comes after it, and the consumer stops before "
                                  "that item (whether it does in one run is luck)",
                          mistake=self._by_exercise(SENTINEL_TOO_EARLY))

    def expect_results_awaited(self, seen: dict, expected: list, *, what: str,
                               look_at: str | None = None) -> None:
        """Items are missing after the code asked a queue that a running process held whether it
        was empty: run() about its consumers' results, or a consumer about its producer's items.
        The kit answers such a question (every other empty(), qsize() or get_nowait(), and the first
        short timed get() of each process) as the slowest schedule would: nothing there yet
        (driver._answer_late). So this mistake loses items in every run, not only when the other
        side happens to be slow; here it is named. `seen` holds the answers ("late")
        and what came out ("value", or "got"); `look_at` replaces the advice to `what`."""
        late, got = seen.get("late") or [], seen.get("value", seen.get("got"))
        if not late or not isinstance(got, list):
            return
        missing, _, _ = payloads.compare(expected, got)
        if not missing:
            return
        # A consumer that took "nothing there" for the end lost the items before run() could.
        first = next((answer for answer in late if answer.get("by", "run()") != "run()"), late[0])
        call, asker = first["call"], first.get("by", "run()")
        timed = call.startswith("get(timeout=")
        running = ", ".join(first["running"]) or "another process"
        if asker != "run()":
            self.fail(f"{asker} stopped taking items while {running} could still put some.",
                      expected=f"{len(expected)} items, each taken by a consumer that waits in q.get() "
                               f"for the next one",
                      got=f"{len(got)} of {len(expected)} items; {asker} asked {call} of a queue that "
                          f"{running} still held, and took 'nothing there' for the end",
                      look_at=("a get() that times out means 'nothing yet' while a producer still runs, "
                               "not 'all done': stop at the sentinel only, and go back to waiting after "
                               "queue.Empty (whether the producer was slower than the timeout in one run "
                               "is luck)") if timed else
                              ("an empty queue means 'nothing yet' while a producer still runs: block in "
                               "q.get() instead of asking q.empty() or q.qsize() (whether the items were "
                               "there in one run is luck)"),
                      mistake=self._by_exercise(CONSUMER_GIVES_UP))
        self.fail(f"{what} stopped taking results while {running} could still put some.",
                  expected=f"{len(expected)} items: every result, counted one by one with get(), or "
                           f"taken once no consumer can put more (joined, or after q.join() for daemons)",
                  got=f"{len(got)} of {len(expected)} items; it asked {call} of a queue that {running} "
                      f"still held, and took 'nothing there' for the end",
                  look_at=look_at or "an empty queue, or a get() that times out, means 'nothing yet' "
                                     "while a consumer still runs: join the consumers before you trust "
                                     "empty() or qsize(), or take exactly one result per item with "
                                     "results.get() (whether the items were there in one run is luck)",
                  mistake="any.empty-taken-for-end")

    def expect_every_result_taken(self, seen: dict, *, what: str, results: str = "results") -> None:
        """`what` took every value the other processes put on queues (counted from the calls:
        "put_spans", "gets"). With two or more of them putting, their values arrive in any order,
        so a value left unread (a forwarded STOP, a second result) could have arrived before an
        item and been taken in its place: the mistake loses an item only in some runs, and is
        named here in every run."""
        putters, put, _, taken = _queue_calls(seen)
        if putters < 2 or put <= taken:
            return
        self.fail(f"{what} returned while {put - taken} value(s) put on {results} were still unread.",
                  expected=f"one value per item put on {results}, and {what} taking every one",
                  got=f"the other processes put {put} values and {what} took {taken}: values of several "
                      f"processes arrive in any order, so in another run an extra one comes before the "
                      f"last item and is taken in its place",
                  look_at=f"put exactly one result per item on {results}: take the STOP without "
                          f"forwarding it", mistake=self._by_exercise(SENTINEL_FORWARDED))

    def expect_task_done_after_the_work(self, seen: dict) -> None:
        """Each consumer marked each item it took done once, after its result was out. Judged by
        the order and count of the calls: an item marked done too early is lost only if the
        program ends before its result is put, and one marked twice breaks q.join() only when the
        count happens to reach zero at the wrong moment; both are luck."""
        marks = seen.get("early_task_done") or {}
        extra = {name: n[1] for name, n in marks.items() if n[1]}
        if extra:
            self.fail(f"{', '.join(extra)} called q.task_done() more often than it took items.",
                      expected="exactly one q.task_done() per item taken",
                      got=", ".join(f"{name}: {n} call(s) too many" for name, n in extra.items()),
                      look_at="Call it exactly once per item taken, after its work: not also in a "
                              "finally block or a second branch", mistake="ex05.task-done-twice")
        early = {name: n[0] for name, n in marks.items() if n[0]}
        if early:
            self.fail(f"{', '.join(early)} marked items done before putting their results.",
                      expected="results.put(item), then q.task_done()",
                      got=", ".join(f"{name}: {n} item(s) marked done first" for name, n in early.items()),
                      look_at="q.task_done() must be the last thing done with an item. The program ends "
                              "right after q.join() and kills its daemon consumers: an item marked "
                              "done too early can be lost", mistake="ex05.task-done-before-work")

    def expect_overlap(self, seen: dict, *, what: str) -> None:
        """The consumers ran while the producers were still producing."""
        if seen.get("overlap") is False:
            self.fail(f"{what} started the consumers only after the producers had finished.",
                      expected="producers and consumers running at the same time",
                      got="first every item was produced, then the consumers started",
                      look_at="start every process first, then join: the point of the queue is that "
                              "both sides work at once (and a bounded queue would deadlock)",
                      mistake="any.consumers-started-late")

    def expect_took_at_least(self, seen: dict, seconds: float, *, what: str, why: str,
                             delay: float = 0.0, by: str | None = None) -> None:
        """The call lasted as long as its delays demand: `seconds`, for the items of the busiest
        process of kind `by` ("producer" or "consumer"), each `delay` apart.

        Under heavy load, starting the processes alone can last as long as the delays, so the
        length of the call cannot show a delay that was ignored. Two tallies the driver keeps of the
        student's code (grader.checking.driver.watch_student) can, since neither grows with the load:
        - the seconds asked of time.sleep, in every process: code that sleeps must ask for at least
          `seconds` (a delay not passed on sleeps 0 s);
        - when the processes of kind `by` put on multiprocessing queues, how far apart their first
          and last puts were: items `delay` apart spread over `seconds - delay` at least.
        Code that does neither is judged by the length of the call alone.
        """
        look_at = "pass producer_delay and consumer_delay on to the processes, and sleep that long for every item"
        if seen["seconds"] < 0.9 * seconds:
            self.fail(f"{what} finished too fast for the delays it was given.",
                      expected=f"at least {seconds:.2f} s ({why})",
                      got=f"{seen['seconds']:.2f} s", look_at=look_at, mistake="any.delay-ignored")
        slept = seen.get("slept") or {}
        if slept.get("calls") and slept["seconds"] < 0.9 * seconds:
            self.fail(f"{what} slept too little for the delays it was given.",
                      expected=f"at least {seconds:.2f} s of time.sleep in all ({why})",
                      got=f"{slept['calls']} calls of time.sleep, {slept['seconds']:.2f} s in all",
                      look_at=look_at, mistake="any.delay-ignored")
        spans = [s for s in seen.get("put_spans", [])
                 if by and s["puts"] >= 2 and plays(s["role"], by)]
        if delay and spans:
            widest = max(spans, key=lambda s: s["span"])
            if widest["span"] < 0.9 * (seconds - delay):
                self.fail(f"{what}: the {by}s put their items too close together for the delays "
                          f"they were given.",
                          expected=f"the puts of one {by} spread over at least {seconds - delay:.2f} s ({why})",
                          got=f"at most {widest['span']:.3f} s between the first and the last put "
                              f"of one {by} ({widest['puts']} puts)",
                          look_at=look_at, mistake="any.delay-ignored")

    def expect_no_spin(self, outcome: Outcome, *, while_: str) -> None:
        """No student process kept a CPU busy while it should have been waiting."""
        spinning = [r for r in outcome.busy if r.kind != "main" or not outcome.registry]
        if spinning:
            names = ", ".join(_spin_witness(r) for r in spinning)
            self.fail(f"{names} kept a CPU busy {while_}.",
                      expected="a waiting process sleeps in q.get() and uses almost no CPU",
                      got="a loop that keeps asking (q.empty(), get_nowait(), get(timeout=0)) and spins",
                      look_at="take items with a blocking q.get(); it returns as soon as one arrives",
                      mistake="any.busy-wait")


def _queue_calls(seen: dict) -> tuple[int, int, int, int]:
    """From an observation's counts of the student's queue calls ("put_spans", "gets"): how many of
    the processes it started put, how many values they put, how many they took, and how many the
    call itself ("main") took."""
    putters = [span for span in seen.get("put_spans") or [] if span["role"] != "main"]
    gets = seen.get("gets") or {}
    return (len(putters), sum(span["puts"] for span in putters),
            sum(n for role, n in gets.items() if role != "main"), gets.get("main", 0))


def _spin_witness(report) -> str:
    if report.polls:
        return f"{report.role} (asked an empty queue {report.polls}+ times in a row)"
    if report.runnable is not None and report.blocked is not None:
        return (f"{report.role} (running or waiting for a CPU at {report.runnable:.0%} of the kit's "
                f"looks, and gave the CPU up to wait only {report.blocked[0]} times)")
    return f"{report.role} ({report.cpu:.0%} of a CPU)"


def multiset_story(count: int, missing: list, doubled: list, unknown: list) -> str:
    parts = [f"{count} items"]
    if missing:
        parts.append(f"{len(missing)} never consumed, e.g. {', '.join(payloads.short(x) for x in missing[:3])}")
    if doubled:
        parts.append(f"{len(doubled)} consumed twice, e.g. {', '.join(payloads.short(x) for x in doubled[:3])}")
    if unknown:
        parts.append(f"{len(unknown)} that were never produced, e.g. "
                     f"{', '.join(payloads.short(x) for x in unknown[:3])}")
    return "; ".join(parts)


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
    found = []
    message = (outcome.error or {}).get("message") or ""
    pickling = any(word in text for word in PICKLE_WORDS) or any(word in message for word in PICKLE_WORDS)
    if "SharedConnectionError" in text or "SharedConnectionError" in (outcome.error or {}).get("type", "") or (
            pickling and exercise is not None and exercise.needs_broker
            and any(word in text + message for word in ("epoll", "socket", "select", "pika"))):
        return [Cause("shared-connection", {}, "ex07.shared-connection")]
    if "PRECONDITION_FAILED" in text + message and "inequivalent arg" in text + message:
        found.append(Cause("queue-declared-differently", {}, "ex07.queue-not-durable"))
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
    shared = any(cause.mistake == "ex07.shared-connection" for cause in from_output)
    return from_output + seen if shared else seen + from_output  # the traceback names the cause: it goes first


def mistakes_of(outcome: Outcome, exercise: Exercise) -> tuple[str, ...]:
    """The keys of the mistakes an outcome that `explain` tells of shows, most telling first."""
    status = outcome.status
    found: list[str] = []
    if status == Status.STARTED_AT_IMPORT:
        found.append("any.no-main-guard")
    elif status == Status.RAISED:
        if "task_done() called too many times" in (outcome.error or {}).get("message", ""):
            found.append("ex05.task-done-twice")
        found += [c.mistake for c in _stderr_causes(outcome, exercise) if c.mistake]
    elif status == Status.HANG or (status == Status.RETURNED and outcome.leaked):
        found += [c.mistake for c in _likely_causes(outcome, exercise) if c.mistake]
        if status != Status.HANG:
            found.append("any.process-left-running")
    return mistakes.first(found)


def explain(outcome: Outcome, exercise: Exercise, language: str = mistakes.DEFAULT_LANGUAGE) -> str | None:
    """Why a check cannot go on, in words a student can act on (in `language`); None when it can."""
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
            hint = exercise.hints.get(error.get("function") or "")
            hint = f"\n  {say('hint')}{hint}" if hint else ""
            return say("not-written", action=outcome.action, message=error["message"] or say("the-stub"),
                       file=file) + hint
        text = say("raised", action=outcome.action, error=_error_line(outcome))
        if "can only join a started process" in error["message"]:
            text += "\n  " + say("join-unstarted")
        elif error["type"] in ("BlockingIOError", "MemoryError") or "can't start new thread" in error["message"]:
            text += "\n  " + say("resource-limit")
        for cause in _stderr_causes(outcome, exercise):
            text += "\n  " + cause.text(language)
        return text + _with_output(outcome, error.get("traceback", ""), language)
    if status == Status.HANG:
        timing = {"action": outcome.action, "start_method": outcome.start_method,
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
        lines += [say("likely") + cause.text(language) for cause in _likely_causes(outcome, exercise)]
        return "\n".join(lines) + _with_output(outcome, language=language)
    if status == Status.CRASHED:
        code = error.get("returncode")
        ran = any(e["kind"] == "phase" for e in outcome.registry)
        stack = crash_stack(outcome, language)
        return (say("crash-running" if ran else "crash-importing", action=outcome.action, file=file, code=code)
                + (f"\n{stack}" if stack else "") + _with_output(outcome, language=language))
    if status == Status.UNRELIABLE:
        return say("unreliable", message=error["message"])
    if status == Status.INTERNAL_ERROR:
        return f"{say('internal-error', file=file)}\n{_error_line(outcome)}"
    if status == Status.BAD_ANSWER:
        return say("bad-answer", message=error["message"])
    if status == Status.INCONSISTENT:
        return say("inconsistent", action=outcome.action, message=error["message"])
    if outcome.leaked:
        lines = [say("leak", action=outcome.action, count=len(outcome.leaked)), _render(outcome, language)]
        lines += [say("likely") + cause.text(language) for cause in _likely_causes(outcome, exercise)]
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
