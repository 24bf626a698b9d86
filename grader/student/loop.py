"""``python -m grader watch``, the student's loop: the exercises one at a time, rerun on every save.

It starts at the first exercise not yet done (``progress``), runs its visible checks (a child pytest:
``runs``) whenever its module is saved, and shows on a cleared screen: a progress bar over the
exercises, the checks of the current one, one report per cause of failure (the other checks it
explains named under it) and the keys: ``h`` one more hint level (the idea, where to look, the shape
of the code), ``l`` the list of exercises, ``r`` rerun, ``x`` reset the module from its stub (after
a yes), ``n`` the next exercise once this one passes, ``q`` quit.

A save is seen through the platform's file events (watchdog: inotify, FSEvents, ReadDirectoryChangesW),
whether the editor writes the file in place or renames a new file over it; where file events do not
work (some network folders, WSL on a Windows drive, containers) a poll of the file's time and size
does, forced with ``--poll``. One main thread owns the screen and the state; the keys, the file
events and the run of the checks each talk to it through one queue.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

from grader.checking import mistakes
from grader.checking.exercise import EXERCISES_DIR, Exercise, all_exercises
from grader.student import progress as progress_mod
from grader.student.keys import KeyReader
from grader.student.runs import Result, run_exercise

SETTLE = 0.25  # seconds without another save before a run: an editor's save is often two writes
POLL_INTERVAL = 0.5  # seconds between two looks at the module in polling mode
REPORT_LINES = 24  # lines of one report on the screen (the report of a flooding program is long)
CAUSES_SHOWN = 3  # causes of failure with their report on one screen; the others are counted
STOP_WAIT = 30.0  # seconds a stopped run of the checks gets to end its processes
POLL_ENV = "BAOZI_WATCH_POLL"


@dataclasses.dataclass
class Options:
    exercises_dir: Path
    impl: Path | None = None
    start_method: str | None = None
    poll: bool = False
    language: str = mistakes.DEFAULT_LANGUAGE  # of the screen, the hints and the reports (settings.language)


class Watch:
    def __init__(self, options: Options, console=None):
        from rich.console import Console

        self.options = options
        self.console = console or Console(highlight=False)
        self.exercises = all_exercises(options.exercises_dir)
        self.workspace = (options.impl or options.exercises_dir).resolve()
        self.progress = progress_mod.Progress.load(self.workspace)
        self.events: queue.Queue = queue.Queue()
        self.result: Result | None = None
        self.running: subprocess.Popen | None = None
        self.run_thread: threading.Thread | None = None
        self.rerun_pending = False
        self.mode = "main"  # "main", "list" or "confirm"
        self.observer = None
        self.polling_note = ""
        if self.progress.current not in {e.name for e in self.exercises}:
            self.progress.current = self.progress.first_not_done(self.exercises)
        # e.g. a progress file that could not be read
        self.message = "\n".join(note.say(options.language) for note in self.progress.notes)

    def _say(self, key: str, /, **params) -> str:
        """The screen's words `key` in the student's language (the catalogue's ``[screen]``)."""
        return progress_mod.say(key, self.options.language, **params)

    # -- the exercise ------------------------------------------------------------------------------
    @property
    def exercise(self) -> Exercise:
        return next(e for e in self.exercises if e.name == self.progress.current)

    def module_file(self, exercise: Exercise | None = None) -> Path:
        exercise = exercise or self.exercise
        return exercise.module_file(self.workspace)

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> int:
        try:
            with KeyReader(lambda key: self.events.put(("key", key))):
                self._watch_module()
                self._start_run()
                self._loop()
        except KeyboardInterrupt:
            pass
        finally:
            self._stop_run()
            if self.observer is not None:
                self.observer.stop()
            self.progress.save()
        self.console.print(self._say("watch-bye", path=self.progress.path))
        return 0

    def _loop(self) -> None:
        save_due = None
        while True:
            timeout = 0.5 if save_due is None else max(0.0, save_due - time.monotonic())
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                if save_due is not None and time.monotonic() >= save_due:
                    save_due = None
                    self._start_run()
                continue
            kind = event[0]
            if kind == "saved":
                save_due = time.monotonic() + SETTLE
            elif kind == "ran":
                self._ran(event[1])
            elif kind == "key":
                if self._key(event[1]) == "quit":
                    return

    def _key(self, key: str) -> str | None:
        self.message = ""  # a message stays on the screen until the next key
        if self.mode == "list":
            self.mode = "main"
        elif self.mode == "confirm":
            self.mode = "main"
            if key.lower() == "y":
                self._reset()
            else:
                self.message = self._say("watch-reset-cancelled")
        elif key == "q":
            return "quit"
        elif key == "h":
            shown = self.progress.hints.get(self.exercise.name, 0)
            self.progress.hints[self.exercise.name] = min(shown + 1, len(self._hints()) + 1)
            self.progress.save()
        elif key == "l":
            self.mode = "list"
        elif key == "r":
            self._start_run()
        elif key == "x":
            self.mode = "confirm"
        elif key == "n":
            self._next()
        self._draw()
        return None

    def _next(self) -> None:
        if self.result is None or not self.result.passed:
            self.message = self._say("watch-not-yet")
            return
        names = [e.name for e in self.exercises]
        later = [n for n in names[names.index(self.exercise.name) + 1:] if not self.progress.state_of(n).done]
        if not later:
            later = [n for n in names if not self.progress.state_of(n).done] or [names[-1]]
        self.progress.current = later[0]
        self.progress.save()
        self.result = None
        self._watch_module()
        self._start_run()

    def _reset(self) -> None:
        module = self.module_file()
        stub = progress_mod.stub_source(self.workspace, self.options.exercises_dir, self.exercise)
        if stub is None:
            self.message = self._say("watch-reset-none", module=module)
            return
        backup = progress_mod.reset(module, stub, self.workspace, self.exercise.name)
        self.message = self._say("watch-reset-done", module=module.name, backup=backup)
        # the file events of the write start the run

    # -- running the checks ------------------------------------------------------------------------
    def _start_run(self) -> None:
        if self.run_thread is not None and self.run_thread.is_alive():
            self.rerun_pending = True
            self._draw()
            return
        exercise = self.exercise
        progress_mod.remember_stub(self.workspace, self.module_file(exercise), exercise.name)
        self.rerun_pending = False
        self.running = None

        def work() -> None:
            result = run_exercise(self.options.exercises_dir / exercise.name, impl=self.options.impl,
                                  start_method=self.options.start_method, started=self._started,
                                  language=self.options.language)
            self.events.put(("ran", result))

        self.run_thread = threading.Thread(target=work, name="baozi-run", daemon=True)
        self.run_thread.start()
        self._draw()

    def _started(self, popen: subprocess.Popen) -> None:
        self.running = popen

    def _ran(self, result: Result) -> None:
        self.running = None
        if result.exercise != self.exercise.name:  # a run of the exercise before `n`
            self._start_run()
            return
        self.result = result
        passed_checks = sum(1 for o in result.checks.values() if o == "passed")
        points, of_points = result.points
        self.progress.record(result.exercise, passed=passed_checks, checks=len(result.checks), points=points,
                             of_points=of_points, done=result.passed)
        self.progress.save()
        if self.rerun_pending:
            self._start_run()
        self._draw()

    def _stop_run(self) -> None:
        popen = self.running
        if popen is None or popen.poll() is not None:
            return
        try:
            if os.name == "nt":
                popen.terminate()
            else:  # as Ctrl-C would: pytest ends the checks it runs, and they end their processes
                popen.send_signal(signal.SIGINT)
            popen.wait(timeout=STOP_WAIT)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            popen.kill()
            popen.wait()

    # -- the file events ---------------------------------------------------------------------------
    def _watch_module(self) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        module = self.module_file().resolve()
        events = self.events

        class Saved(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.event_type not in ("modified", "created", "moved", "closed"):
                    return
                paths = [event.src_path, getattr(event, "dest_path", "") or ""]
                if any(path and Path(os.fsdecode(path)).resolve() == module for path in paths):
                    events.put(("saved", module))

        if self.observer is not None:
            self.observer.stop()
            self.observer.join()
        module.parent.mkdir(parents=True, exist_ok=True)
        poll = self.options.poll or os.environ.get(POLL_ENV) == "1"
        observer = PollingObserver(timeout=POLL_INTERVAL) if poll else Observer()
        observer.schedule(Saved(), str(module.parent), recursive=False)
        try:
            observer.start()
        except OSError:  # no file events here (an inotify limit, an unusual file system)
            observer = PollingObserver(timeout=POLL_INTERVAL)
            observer.schedule(Saved(), str(module.parent), recursive=False)
            observer.start()
            poll = True
        self.observer = observer
        self.polling_note = (self._say("watch-polling", module=module.name, interval=POLL_INTERVAL)
                             if poll else "")

    # -- the screen --------------------------------------------------------------------------------
    def _hints(self) -> list[tuple[str, str]]:
        """The hint levels, one more per press of h: when the checks show a mistake the kit knows,
        what went wrong and its own two steps; else the exercise's idea and where to look. Then the
        shape of the code."""
        exercise, language = self.exercise, self.options.language
        key = self._mistake()
        if key:
            levels = [("mistake", f"{mistakes.title(key, language)}\n{mistakes.explanation(key, language)}"),
                      *zip(("idea", "where"), mistakes.hints(key, language))]
        else:
            levels = list(exercise.levels(language).items())
        shape = "\n".join(f"{function}(): {exercise.hint(function, language)}"
                          for function in exercise.functions if exercise.hint(function, language))
        return levels + ([("shape", shape)] if shape else [])

    def _mistake(self) -> str | None:
        """The mistake the first failing cause of the last run shows, when the kit knows one."""
        if self.result is None or self.result.passed or self.result.problem:
            return None
        return next((report.mistakes[0] for report, _ in self.result.causes() if report.mistakes), None)

    def _draw(self) -> None:
        self.console.clear()
        if self.mode == "list":
            self.console.print(progress_mod.render_table(self.progress, self.exercises, self.options.language))
            self.console.print(self._say("watch-list-back"), style="dim")
            return
        for part in self._screen():
            self.console.print(part)

    def _screen(self) -> list:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        exercise, names = self.exercise, [e.name for e in self.exercises]
        done = sum(1 for n in names if self.progress.state_of(n).done)
        top = Table.grid(expand=True)
        top.add_column(ratio=3)
        top.add_column(ratio=2)
        top.add_column(justify="right")
        header = self._say("watch-header", number=names.index(exercise.name) + 1, count=len(names),
                           name=exercise.name, title=exercise.title_in(self.options.language))
        top.add_row(Text(header, style="bold"),
                    ProgressBar(total=len(names), completed=done), Text(f"{done}/{len(names)}"))
        parts: list = [top, Text(self._say("watch-module", module=self.module_file()), style="dim")]
        if self.polling_note:
            parts.append(Text(self.polling_note, style="dim"))
        parts.append(Text(""))
        result = self.result
        if self.run_thread is not None and self.run_thread.is_alive():
            parts.append(Text(self._say("watch-queued" if self.rerun_pending else "watch-running"), style="yellow"))
        if result is not None:
            parts += self._results(result)
        parts += self._hint_lines()
        if self.mode == "confirm":
            parts.append(Text(self._say("watch-confirm-reset", module=self.module_file().name), style="bold yellow"))
        if self.message:
            parts.append(Text(self.message, style="cyan"))
        passed = result is not None and result.passed
        parts.append(Text(""))
        parts.append(Text(self._say("watch-keys", next=self._say("watch-key-next") if passed else ""), style="dim"))
        return parts

    def _results(self, result: Result) -> list:
        from rich.text import Text

        parts: list = []
        if result.problem:
            parts.append(Text(self._say("watch-no-checks"), style="red"))
            parts.append(Text(_cut(result.problem, REPORT_LINES, "", self.options.language)))
            return parts
        marks = {"passed": ("✓", "green"), "failed": ("✗", "red"), "skipped": ("-", "yellow")}
        line = Text()
        for check, outcome in result.checks.items():
            mark, style = marks[outcome]
            line.append(f"{mark} {check}\n", style=style)
        parts.append(line)
        for reason in result.skip_reasons():
            parts.append(Text(self._say("watch-skipped", reason=reason), style="yellow"))
        if result.passed:
            last = all(self.progress.state_of(e.name).done for e in self.exercises)
            parts.append(Text(self._say("watch-all-done" if last else "watch-passed"), style="bold green"))
            return parts
        failed = sum(1 for o in result.checks.values() if o == "failed")
        if failed:
            parts.append(Text(self._say("watch-failing", failed=failed, count=len(result.checks)), style="red"))
        causes = result.causes()
        for report, others in causes[:CAUSES_SHOWN]:
            parts.append(Text(f"── {report.run}", style="bold red"))
            parts.append(Text(_cut(report.message, REPORT_LINES, self.exercise.name, self.options.language)))
            if others:
                parts.append(Text(self._say("watch-also", checks=", ".join(others)), style="dim"))
        if len(causes) > CAUSES_SHOWN:
            parts.append(Text(self._say("watch-more-causes", more=len(causes) - CAUSES_SHOWN,
                                        folder=f"exercises/{self.exercise.name}"), style="dim"))
        return parts

    def _hint_lines(self) -> list:
        from rich.text import Text

        shown = self.progress.hints.get(self.exercise.name, 0)
        hints = self._hints()
        parts: list = []
        for level, (what, text) in enumerate(hints[:shown], 1):
            heading = self._say("watch-hint", level=level, levels=len(hints), what=self._say(f"watch-hint-{what}"))
            parts.append(Text(heading, style="bold magenta"))
            parts.append(Text(text))
        if shown > len(hints):
            parts.append(Text(self._say("watch-no-more-hints"), style="magenta"))
        return parts


def _cut(text: str, lines: int, folder: str, language: str) -> str:
    kept = text.strip().splitlines()
    if len(kept) <= lines:
        return "\n".join(kept)
    note = progress_mod.say("watch-cut", language, more=len(kept) - lines, folder=f"exercises/{folder}")
    return "\n".join(kept[:lines] + [note])


def main(args) -> int:
    options = Options(exercises_dir=find_exercises(), impl=args.impl.resolve() if args.impl else None,
                      start_method=args.start_method, poll=args.poll, language=args.lang)
    return Watch(options).run()


def find_exercises() -> Path:
    """The exercises the student works on: ./exercises when there is one (a checkout, or the copy
    ``grader init`` wrote), else the kit's own."""
    here = Path.cwd() / "exercises"
    return here if here.is_dir() and any(here.glob("*/exercise.toml")) else EXERCISES_DIR
