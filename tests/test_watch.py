"""``python -m grader watch`` and ``status`` as a student uses them: watch runs in a real terminal
(tmux: keys sent, the screen read back), on a copy of the first two exercises."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from grader.checking import mistakes
from grader.checking.exercise import EXERCISES_DIR, SOLUTIONS_DIR
from grader.student.progress import STATE_DIR, STATE_FILE

FIRST, SECOND = "ex01_queue_basics", "ex02_producer_consumer"
SCREEN_WAIT = 90.0  # seconds for the screen to show what a step waits for (a run of the checks)


@pytest.fixture
def copy(tmp_path) -> Path:
    """A student's copy of the kit with its first two exercises, the modules still stubs."""
    for name in (FIRST, SECOND):
        shutil.copytree(EXERCISES_DIR / name, tmp_path / "exercises" / name)
    return tmp_path


def _only_module(folder: Path) -> Path:
    (module,) = [p for p in folder.glob("*.py") if not p.name.startswith("test_")]
    return module


def _solution(name: str, module: Path) -> str:
    return (SOLUTIONS_DIR / name / module.name).read_text(encoding="utf-8")


class Terminal:
    """A tmux server of its own (its own socket), one window running a command."""

    def __init__(self, cwd: Path, command: list[str]):
        self.socket = f"baozi-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "xterm-256color"}
        shell_command = " ".join(_quote(part) for part in command)
        # remain-on-exit: the window stays, with what watch printed last, once it has ended
        self._tmux("new-session", "-d", "-x", "140", "-y", "60", "-s", "w", "-c", str(cwd), shell_command,
                   ";", "set-option", "-t", "w", "remain-on-exit", "on", env=env)

    def _tmux(self, *args: str, env=None) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30,
                              env=env)
        return done.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "w")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "w", *keys)

    def wait_for(self, *texts: str, gone: str | None = None) -> str:
        """The screen once it shows every one of `texts` (and no longer `gone`); fails after
        SCREEN_WAIT seconds with the screen as it was."""
        until = time.monotonic() + SCREEN_WAIT
        screen = ""
        while time.monotonic() < until:
            screen = self.screen()
            if all(text in screen for text in texts) and (gone is None or gone not in screen):
                return screen
            time.sleep(0.1)  # a look at the screen, not a wait for a process: the loop is bounded
        pytest.fail(f"the screen never showed {texts!r}:\n{screen}")

    def close(self) -> None:
        self._tmux("kill-server")


def _quote(part: str) -> str:
    return "'" + part.replace("'", "'\\''") + "'"


@pytest.fixture
def terminal(copy):
    if sys.platform == "win32" or shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing: .ci/run installs it (apt-get install tmux)")
        pytest.skip("needs tmux, to drive watch in a real terminal (apt-get install tmux)")
    opened = []

    def start(*extra: str) -> Terminal:
        term = Terminal(copy, [sys.executable, "-m", "grader", "watch", *extra])
        opened.append(term)
        return term

    yield start
    for term in opened:
        term.close()


def _progress(copy: Path) -> dict:
    return json.loads((copy / "exercises" / STATE_DIR / STATE_FILE).read_text(encoding="utf-8"))


def _say(key: str, /, **params) -> str:
    return mistakes.say("screen", key, "en", **params)


def _header(number: int, name: str) -> str:
    return f"exercise {number}/2: {name}"


def test_watch_goes_from_a_stub_to_the_next_exercise(copy, terminal):
    term = terminal()
    term.wait_for(_header(1, FIRST), "✗", "NOT WRITTEN YET")
    term.keys("h")
    term.wait_for("hint 1/3 (the idea)")
    term.keys("h")
    term.wait_for("hint 2/3 (where to look)")
    term.keys("n")
    term.wait_for(_say("watch-not-yet"))
    first = _only_module(copy / "exercises" / FIRST)
    first.write_text(_solution(FIRST, first), encoding="utf-8")  # saved in place
    term.wait_for(_say("watch-passed"), gone="✗")
    term.keys("n")
    term.wait_for(_header(2, SECOND), "NOT WRITTEN YET")
    second = _only_module(copy / "exercises" / SECOND)
    saved = second.with_name(second.name + ".swp")  # the way many editors save: a new file renamed over it
    saved.write_text(_solution(SECOND, second), encoding="utf-8")
    os.replace(saved, second)
    term.wait_for(_say("watch-all-done"), gone="✗")
    term.keys("q")
    term.wait_for("progress saved in")
    state = _progress(copy)
    assert state["current"] == SECOND and state["hints"] == {FIRST: 2}
    assert state["exercises"][FIRST]["done"] and state["exercises"][SECOND]["done"]


def test_watch_resumes_where_it_was_and_polls_when_asked(copy, terminal):
    first = _only_module(copy / "exercises" / FIRST)
    first.write_text(_solution(FIRST, first), encoding="utf-8")
    term = terminal()
    term.wait_for(_header(1, FIRST), _say("watch-passed"))
    term.keys("n")
    term.wait_for(_header(2, SECOND))
    term.keys("q")
    term.wait_for("progress saved in")
    term = terminal("--poll")  # a restart resumes at the second exercise, with file events off
    term.wait_for(_header(2, SECOND), "polling", "NOT WRITTEN YET")
    second = _only_module(copy / "exercises" / SECOND)
    second.write_text(_solution(SECOND, second), encoding="utf-8")
    term.wait_for(_say("watch-all-done"), gone="✗")
    term.keys("q")
    term.wait_for("progress saved in")


def test_reset_restores_the_stub_after_a_yes_and_keeps_a_backup(copy, terminal):
    first = _only_module(copy / "exercises" / FIRST)
    stub = first.read_text(encoding="utf-8")
    term = terminal()
    term.wait_for(_header(1, FIRST), "NOT WRITTEN YET")  # watch keeps the stub the first time it sees it
    mine = _solution(FIRST, first) + "\n# my version\n"
    first.write_text(mine, encoding="utf-8")
    term.wait_for(_say("watch-passed"))
    term.keys("x")
    term.wait_for("Replace")
    term.keys("n")  # no: nothing changes
    term.wait_for(_say("watch-reset-cancelled"))
    assert first.read_text(encoding="utf-8") == mine
    term.keys("x")
    term.wait_for("Replace")
    term.keys("y")
    term.wait_for("is the stub again", "NOT WRITTEN YET")
    assert first.read_text(encoding="utf-8") == stub
    (backup,) = (copy / "exercises" / STATE_DIR / "backups" / FIRST).iterdir()
    assert backup.read_text(encoding="utf-8") == mine
    term.keys("q")
    term.wait_for("progress saved in")


def _status(copy: Path, *extra: str) -> str:
    done = subprocess.run([sys.executable, "-m", "grader", "status", *extra], cwd=copy, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "160"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_status_reads_the_progress_and_check_reruns_it(copy):
    before = _status(copy)
    assert "current" in next(line for line in before.splitlines() if FIRST in line and line.startswith("│"))
    assert "not started" in next(line for line in before.splitlines() if SECOND in line and line.startswith("│"))
    first = _only_module(copy / "exercises" / FIRST)
    first.write_text(_solution(FIRST, first), encoding="utf-8")
    assert not (copy / "exercises" / STATE_DIR / STATE_FILE).exists()  # status alone writes nothing
    checked = _status(copy, "--check")
    row = next(line for line in checked.splitlines() if FIRST in line and line.startswith("│"))
    assert "done" in row, checked
    assert _progress(copy)["current"] == SECOND
    again = _status(copy)  # from the state, without running anything
    assert next(line for line in again.splitlines() if FIRST in line and line.startswith("│")) == row


def test_watch_and_status_speak_the_students_language(copy, terminal):
    """In Chinese, and with a mistake the kit knows: the first hint says what went wrong."""
    wrong = (EXERCISES_DIR.parent / "tests" / "cases" / FIRST / "maxsize_ignored" / "queue_basics.py")
    _only_module(copy / "exercises" / FIRST).write_text(wrong.read_text(encoding="utf-8"), encoding="utf-8")
    term = terminal("--lang", "zh_CN")
    term.wait_for(f"练习 1/2：{FIRST}", "✗", "h 提示")
    term.keys("h")
    term.wait_for("提示 1/4（出了什么问题）", "make_queue() 忽略了 maxsize")
    term.keys("h")
    term.wait_for("提示 2/4（思路）")
    term.keys("q")
    term.wait_for("进度已保存在")
    table = _status(copy, "--lang", "zh_CN")
    assert "当前" in next(line for line in table.splitlines() if FIRST in line and line.startswith("│"))
    assert "baozi-kit：你的进度" in table and "下一步：python -m grader watch" in table


def test_ctrl_c_leaves_watch_cleanly(copy, terminal):
    term = terminal()
    term.wait_for(_header(1, FIRST), "NOT WRITTEN YET")
    term.keys("h")
    term.wait_for("hint 1/3")
    term.keys("C-c")
    term.wait_for("progress saved in")
    assert _progress(copy)["hints"] == {FIRST: 1}


# -- the reports watch reads back from its child pytest ----------------------------------------------

def _record(**fields) -> dict:
    return {"exercise": "ex03_sentinel", "check": "test_a", "start_method": "spawn", "verdict": "failed",
            "points": 2, "cause": "c", "advice": "do it", "message": "HANG: ...", **fields}


def test_the_reports_are_read_as_plain_data_with_caps(tmp_path):
    from grader.checking.results import MESSAGE_CAP
    from grader.student import runs

    path = tmp_path / "reports.json"
    path.write_text(json.dumps([_record(), _record(verdict="exploded"), _record(message=None), "not a record",
                                _record(message="x" * 10**5, start_method="fork")]), encoding="utf-8")
    reports = runs.read_reports(path)
    assert [r.run for r in reports] == ["test_a[spawn]", "test_a[fork]"]
    assert len(reports[1].message) == MESSAGE_CAP
    path.write_text("[" + json.dumps(_record()) + "," + " " * runs.MAX_REPORT_BYTES + "]", encoding="utf-8")
    assert runs.read_reports(path) == []  # too big to be the plugin's
    path.write_text("{not json", encoding="utf-8")
    assert runs.read_reports(path) == [] and runs.read_reports(tmp_path / "missing.json") == []


def test_a_result_gives_each_cause_once_with_the_checks_it_explains():
    from grader.checking.results import CheckResult, Verdict
    from grader.student.runs import Result

    def report(check, method, outcome, cause=""):
        return CheckResult("ex03_sentinel", check, method, Verdict(outcome), 1.0, message=f"{check} {outcome}",
                           cause=cause)

    result = Result("ex03_sentinel", [report("test_a", "fork", "failed", "hang"), report("test_a", "spawn", "failed", "hang"),
                                      report("test_b", "fork", "failed", "hang"), report("test_c", "fork", "passed"),
                                      report("test_d", "fork", "failed")])
    assert [(r.run, others) for r, others in result.causes()] == [("test_a[fork]", ["test_b"]), ("test_d[fork]", [])]
    assert result.checks == {"test_a": "failed", "test_b": "failed", "test_c": "passed", "test_d": "failed"}
    assert result.points == (1.0, 4.0) and not result.passed


def test_a_progress_file_that_cannot_be_read_is_set_aside(tmp_path):
    from grader.student.progress import Progress

    state = tmp_path / STATE_DIR / STATE_FILE
    state.parent.mkdir()
    state.write_text("{ not json", encoding="utf-8")
    progress = Progress.load(tmp_path)
    assert progress.current is None and progress.exercises == {} and "set aside" in progress.notes[0].say()
    (aside,) = state.parent.glob(f"{STATE_FILE}.unreadable-*")
    assert aside.read_text(encoding="utf-8") == "{ not json" and not state.exists()
    progress.record(FIRST, passed=1, checks=2, points=1.0, of_points=3.0, done=False)
    progress.save()
    assert Progress.load(tmp_path).state_of(FIRST).passed == 1
