"""The harness on purpose-built broken modules: hangs, leaks, spins, crashes and escapes.

Each module defines run(items, producer_delay=0, consumer_delay=0) and is run through the ex03
scenario ``run_items``; the autouse fixture in conftest.py proves that no process outlives a test.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from grader.checking.diagnose import RUNNABLE_SHARE, SPIN_BLOCKS_ALLOWED, SPIN_POLLS, Roles, python_settings
from grader.checking.driver import HELPER_KIND, registry_line
from grader.checking.exercise import KIT_ROOT
from grader.checking.harness import (BUSY_FRACTION, OVERTIME, _driver_libraries, _Tracked, compile_kit, run_check,
                                     signal_deaths)
from grader.checking.kit import crash_stack
from grader.checking.scenarios.ex05_joinable import _bounded_join

METHODS = multiprocessing.get_all_start_methods()
POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals and sessions")
WAIT = 10.0  # seconds: a bounded wait for another process's step, waited out only when it fails


def check(tmp_path, source, *, method="spawn", budget=2.0, scenario="ex03_sentinel:run_items",
          params=None):
    module = tmp_path / "sentinel.py"
    module.write_text(textwrap.dedent(source), encoding="utf-8")
    return run_check(module_file=module, module="sentinel", scenario=f"grader.checking.scenarios.{scenario}",
                     params=params or {"items": [1, 2, 3]}, start_method=method, budget=budget,
                     action="run(items)")


HEADER = """
import multiprocessing, os, queue, signal, sys, time
"""


@pytest.mark.parametrize("method", METHODS)
def test_a_deadlock_is_reported_early_with_the_line_it_waits_on(tmp_path, method):
    started = time.monotonic()
    out = check(tmp_path, HEADER + """
def run(items, producer_delay=0, consumer_delay=0):
    q = multiprocessing.Queue()
    return q.get()
""", method=method, budget=5.0)
    took = time.monotonic() - started
    assert out.status == "hang" and out.deadlock
    assert out.elapsed < 3.0, f"the deadlock was seen after {out.elapsed:.1f} s"
    assert took < out.elapsed + 1.5, f"the report took {took - out.elapsed:.1f} s more"
    (main,) = out.stuck
    assert (main.role, main.call, main.line) == ("main", "q.get()", 6)
    assert "for an item that never arrives" in out.hints[0]



def test_a_main_thread_joining_a_thread_that_sleeps_is_not_deadlocked(tmp_path):
    """The deadlock watch looks at every thread of the student's code, not only the main one."""
    out = check(tmp_path, HEADER + """
import threading

def nap(results):
    for item in (1, 2, 3):
        time.sleep(0.4)
        results.append(item)

def run(items, producer_delay=0, consumer_delay=0):
    got = []
    t = threading.Thread(target=nap, args=(got,))
    t.start()
    t.join()
    return got
""", method="fork", budget=5.0)
    assert out.status == "returned" and not out.deadlock, (out.status, out.stuck)


def test_a_library_thread_that_waits_with_a_timeout_is_not_deadlocked(tmp_path):
    """A thread that runs no line of the student's file still wakes by itself when it waits with
    a timeout (threading.Timer): the main thread's join() ends then."""
    out = check(tmp_path, HEADER + """
import threading

def run(items, producer_delay=0, consumer_delay=0):
    got = []
    timer = threading.Timer(1.5, got.extend, args=(items,))
    timer.start()
    timer.join()
    return got
""", method="fork", budget=5.0)
    assert out.status == "returned" and not out.deadlock, (out.status, out.stuck)


class _Throttle(threading.Thread):
    """Plays a scheduler that starves one process: it lets the process whose pid appears in
    `pid_file` run RUN seconds in every STOPPED + RUN, until `done` is set."""

    RUN, STOPPED = 0.002, 0.1

    def __init__(self, pid_file):
        super().__init__(daemon=True)
        self.pid_file = pid_file
        self.done = threading.Event()
        self.cycles = 0

    def run(self):
        while not self.done.is_set() and not self.pid_file.exists():
            self.done.wait(0.01)
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return
        try:
            while not self.done.is_set():
                os.kill(pid, signal.SIGSTOP)
                self.done.wait(self.STOPPED)
                os.kill(pid, signal.SIGCONT)
                self.cycles += 1
                self.done.wait(self.RUN)
        except ProcessLookupError:
            pass
        finally:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


@POSIX_ONLY
@pytest.mark.parametrize("method", METHODS)
def test_a_starved_pipeline_that_still_moves_is_not_deadlocked(tmp_path, method):
    """On a loaded machine a right pipeline can use almost no CPU for a while and be found twice at
    the same lines (a consumer in q.get(), an exiting producer flushing its queue, the parent in
    join()), while its items still move through the pipe: that is no deadlock."""
    pid_file = tmp_path / "consumer.pid"
    throttle = _Throttle(pid_file)
    throttle.start()
    try:
        out = check(tmp_path, HEADER + f"""
def produce(q, count):
    for i in range(count):
        q.put(str(i % 10) * 500_000)

def consume(q, results):
    for item in iter(q.get, None):
        results.put(len(item))

def run(items, producer_delay=0, consumer_delay=0):
    q, results = multiprocessing.Queue(), multiprocessing.Queue()
    producer = multiprocessing.Process(target=produce, args=(q, 40))
    consumer = multiprocessing.Process(target=consume, args=(q, results))
    producer.start()
    consumer.start()
    with open({str(pid_file)!r} + ".tmp", "w") as f:
        f.write(str(consumer.pid))
    os.replace({str(pid_file)!r} + ".tmp", {str(pid_file)!r})
    producer.join()
    q.put(None)
    got = [results.get() for _ in range(40)]
    consumer.join()
    return got
""", method=method, budget=30.0)
    finally:
        throttle.done.set()
        throttle.join(timeout=5)
    assert out.status == "returned" and not out.deadlock, (out.status, out.elapsed, out.stuck)
    assert throttle.cycles > 0, "the consumer was never stopped"


# The Linux system call that ends one thread, not the whole process (ending a process's main
# thread first leaves a zombie that is still ending, as a busy machine can show one for a while).
THREAD_EXIT = {"x86_64": 60, "aarch64": 93}.get(os.uname().machine if hasattr(os, "uname") else "")


@pytest.mark.skipif(not sys.platform.startswith("linux") or THREAD_EXIT is None,
                    reason="ends a thread alone with a Linux system call")
@pytest.mark.parametrize("method", METHODS)
def test_a_producer_whose_main_thread_ended_first_is_no_deadlock(tmp_path, method):
    """A producer whose main thread has ended while another thread of it still sleeps: a zombie
    the parent's join() waits for. The parent in join() and the consumer in q.get() wait, but the
    producer has not ended yet, and ends on its own."""
    out = check(tmp_path, HEADER + f"""
import ctypes, threading

def produce(q, items):
    for item in items:
        q.put(item)
    q.close()
    q.join_thread()  # flushed: the rest of the producer's life is its ending
    threading.Thread(target=time.sleep, args=(1.5,)).start()
    ctypes.CDLL(None).syscall({THREAD_EXIT}, 0)

def consume(q, results):
    for item in iter(q.get, None):
        results.put(item)

def run(items, producer_delay=0, consumer_delay=0):
    q, results = multiprocessing.Queue(), multiprocessing.Queue()
    producer = multiprocessing.Process(target=produce, args=(q, items))
    consumer = multiprocessing.Process(target=consume, args=(q, results))
    producer.start()
    consumer.start()
    producer.join()
    q.put(None)
    got = [results.get() for _ in items]
    consumer.join()
    return got
""", method=method, budget=10.0)
    assert out.status == "returned" and not out.deadlock, (out.status, out.elapsed, out.stuck)
    assert out.value["value"] == [1, 2, 3]


def test_only_the_checks_whose_drivers_import_pika_get_a_server_of_drivers_that_loaded_it():
    """A fork server of drivers that loaded pika makes every fork of a check dearer: the checks of
    the RabbitMQ exercise get one, the others a lean one."""
    assert _driver_libraries("grader.checking.scenarios.ex07_rabbitmq:run_work_queue") == (
        "pika.adapters.blocking_connection",)
    assert _driver_libraries("grader.checking.scenarios.ex03_sentinel:run_items") == ()
    assert _driver_libraries("grader.checking.scenarios.no_such_module:run") == ()


@pytest.mark.parametrize("method", [m for m in METHODS if m != "fork"])
def test_children_under_spawn_and_forkserver_hold_nothing_of_the_students_main(tmp_path, method):
    """Each child imports the student's module itself, so its top-level code runs there, and sees
    nothing the main process did before it started the child; on Linux the kit forks the resource
    tracker and the fork server from its own processes before the student's code runs
    (grader.checking.infrastructure), and names them as multiprocessing's, not the student's."""
    out = check(tmp_path, HEADER + """
PID_AT_IMPORT = os.getpid()
STATE = ["imported"]

def report(results):
    results.put((PID_AT_IMPORT == os.getpid(), STATE))

def run(items, producer_delay=0, consumer_delay=0):
    STATE.append("run")
    results = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=report, args=(results,)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [results.get() for _ in procs]
    for p in procs:
        p.join()
    return got
""", method=method, budget=10.0)
    assert out.value["value"] == [(True, ["imported"])] * 2, (out.status, out.error)
    assert out.stderr == "" and out.flags == [] and out.leaked == [], (out.stderr, out.flags, out.leaked)
    helpers = sorted(e["role"] for e in out.registry if e["kind"] == "helper")
    if sys.platform.startswith("linux"):
        assert helpers == (["forkserver", "resource_tracker"] if method == "forkserver" else ["resource_tracker"])


def test_a_helper_the_kit_forked_is_multiprocessings_unless_the_student_started_that_process(tmp_path):
    """A helper forked by the kit has its parent's command line: its registry entry names it as
    multiprocessing's, even once its parent has ended, but never a process that the registry also
    gives as started by the student's code."""
    registry = tmp_path / "registry"
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    helper = {"kind": HELPER_KIND, "pid": child.pid, "role": "resource_tracker", "name": "resource_tracker",
              "daemon": True, "parent": os.getppid()}
    started = {**helper, "kind": "process", "role": "consumer", "name": "Process-1", "parent": os.getpid()}
    try:
        proc = psutil.Process(child.pid)
        for entries, expected in [([helper], True), ([helper, started], False), ([], False)]:
            registry.write_text("".join(map(registry_line, entries)))
            assert Roles(os.getpid(), registry).is_infrastructure(proc) is expected, entries
    finally:
        child.stdin.close()
        child.wait(WAIT)


@POSIX_ONLY
@pytest.mark.parametrize("change, expected", [
    (None, True),
    ("program", False),  # a line of its own after multiprocessing's
    ("no -S", False),  # site processing could run a .pth file or sitecustomize first
    ("shadow", False),  # a multiprocessing package in its folder comes first on its path
    ("PYTHONPATH", False),  # ...and so does one on a path of its own
])
def test_only_multiprocessings_own_helper_program_counts_as_its_helper(tmp_path, change, expected):
    """A process counts as multiprocessing's resource tracker by its command line only if nothing
    but multiprocessing's code can run in it (Roles.looks_infrastructure)."""
    program = "from multiprocessing.resource_tracker import main;main(%d)"
    env = dict(os.environ)
    if change == "program":
        program += "\nprint(end='')"
    if change == "shadow":
        (tmp_path / "multiprocessing").mkdir()
    if change == "PYTHONPATH":
        env["PYTHONPATH"] = str(tmp_path)
    flags = [] if change == "no -S" else ["-S"]
    read, write = os.pipe()
    tracker = subprocess.Popen([sys.executable, *flags, "-c", program % read], pass_fds=[read], cwd=tmp_path,
                               env=env)
    os.close(read)
    try:
        roles = Roles(os.getpid(), tmp_path / "registry", python_settings(os.environ))
        assert roles.looks_infrastructure(psutil.Process(tracker.pid)) is expected
    finally:
        os.close(write)  # the tracker ends at the end of its pipe
        tracker.wait(WAIT)


@pytest.mark.skipif("forkserver" not in METHODS, reason="needs the forkserver start method")
def test_a_fork_server_multiprocessing_starts_for_the_students_code_is_not_its_leak(tmp_path):
    """Under spawn, the student's code asks for a forkserver context: multiprocessing starts a fork
    server as a new interpreter, with its own program (Roles.looks_infrastructure)."""
    out = check(tmp_path, HEADER + """
def work(q):
    q.put(os.getpid())

def run(items, producer_delay=0, consumer_delay=0):
    ctx = multiprocessing.get_context("forkserver")
    q = ctx.Queue()
    p = ctx.Process(target=work, args=(q,))
    p.start()
    q.get(timeout=20)
    p.join()
    return list(items)
""", method="spawn", budget=10.0)
    assert out.status == "returned" and out.value["value"] == [1, 2, 3], (out.status, out.error)
    assert out.leaked == [] and out.flags == [], (out.leaked, out.flags)


def test_a_helpers_program_is_read_exactly_never_run():
    from grader.checking.diagnose import _helper_program

    forkserver = "from multiprocessing.forkserver import main; main(%d, %d, %r, **%r)" % (
        5, 6, ["__main__"], {"sys_path": ["/x", "/y"], "main_path": "/x/run.py"})
    assert _helper_program(forkserver) == "forkserver"
    assert _helper_program("from multiprocessing.resource_tracker import main;main(7)") == "resource_tracker"
    for program in ["from multiprocessing.resource_tracker import main;main(open('/etc/passwd'))",
                    "from multiprocessing.resource_tracker import main as m;m(7)",
                    "from multiprocessing.resource_tracker import main;main(7);main(8)",
                    "from .resource_tracker import main;main(7)",
                    "import os; os.system('x')", "main(", "x" * 10_000]:
        assert _helper_program(program) is None, program


@POSIX_ONLY
def test_a_process_is_looked_at_until_it_is_reaped_and_no_longer():
    """The watch stops asking for a process that has been reaped; an ended one its parent has not
    reaped yet (a zombie, maybe still ending) is still asked for."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    tracked = _Tracked(psutil.Process(child.pid), time.monotonic())
    tracked.sample(time.monotonic(), ready=True)
    child.stdin.close()
    deadline = time.monotonic() + WAIT
    while tracked.proc.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    tracked.sample(time.monotonic(), ready=True)
    assert not tracked.gone
    child.wait(WAIT)
    tracked.sample(time.monotonic(), ready=True)
    assert tracked.gone


@pytest.mark.parametrize("method", METHODS)
def test_a_check_whose_items_still_move_when_its_budget_runs_out_gets_overtime(tmp_path, method):
    """Its work is delays: it uses almost no CPU and is rarely runnable, as a right program starved
    of start-up time on a busy machine is when its budget runs out. Its puts and gets show that it
    moves all the same, so it may finish (up to OVERTIME budgets more).

    Its delays (1.2 s) outlast its budget (1 s) on any machine, and leave most of the overtime
    (3 s in all) to the start of its interpreters on a loaded one."""
    out = check(tmp_path, HEADER + """
def produce(q, items):
    for item in items:
        time.sleep(0.05)
        q.put(item)
    q.put(None)

def run(items, producer_delay=0, consumer_delay=0):
    q = multiprocessing.Queue()
    p = multiprocessing.Process(target=produce, args=(q, list(range(24))))
    p.start()
    got = list(iter(q.get, None))
    p.join()
    return got
""", method=method, budget=1.0)
    assert out.status == "returned" and out.value["value"] == list(range(24)), (out.status, out.elapsed, out.stuck)
    assert out.elapsed > 1.0


CONSUMER = HEADER + """
def consumer(q, results, delay):
    while True:
        item = q.get()
        time.sleep(delay)
        results.put(item)
        {done}
"""


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("marks_done", [True, False], ids=["task-done", "no-task-done"])
def test_a_scenario_waits_past_its_deadline_while_the_work_moves_and_no_longer(tmp_path, method, marks_done):
    """ex05's consumer_acks waits for q.join() as long as the check has time. The consumer's delays
    (1.2 s) outlast the budget (1 s): a consumer that still puts results gets the wait the harness's
    overtime allows, and its q.join() returns. One that never marks its items done is judged once
    its results stop coming, not at the end of the overtime: every result in, q.join() never
    returned."""
    items = list(range(24))
    out = check(tmp_path, CONSUMER.format(done="q.task_done()" if marks_done else "pass"), method=method,
                budget=1.0, scenario="ex05_joinable:consumer_acks",
                params={"items": items, "delay": 0.05, "n_consumers": 1})
    assert out.status == "returned", (out.status, out.elapsed, out.stuck)
    seen = out.value
    assert seen["got"] == items and seen["joined"] is marks_done and not seen["slow"] and not seen["late"]
    if not marks_done:
        assert out.elapsed < 1.0 * (1 + OVERTIME), out.elapsed


def _started_its_host(folder: Path) -> list[int]:
    """Pids of the drivers of checks whose folder is in `folder` that have started a host (the
    processes of a check work in its folder)."""
    found = []
    for proc in psutil.process_iter(["pid", "ppid", "cwd"]):
        cwd = proc.info["cwd"] or ""
        if Path(cwd).parent == folder and Path(cwd).name.startswith("baozi-check-"):
            try:
                parent = psutil.Process(proc.info["ppid"])
                if parent.cwd() == cwd:
                    found.append(parent.pid)
            except psutil.Error:
                continue
    return found


@POSIX_ONLY
def test_a_scenario_whose_host_has_replied_waits_for_a_starved_driver(tmp_path, monkeypatch):
    """The host that ran run() has replied; the driver, which reads the reply and answers, is kept
    from the CPU past the budget (stopped here, as a busy machine would starve it). The program was
    right, so the check must wait for the kit's own last steps, not call it a hang."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the check's folder goes
    gate = tmp_path / "gate"
    source = (KIT_ROOT / "solutions" / "ex03_sentinel" / "sentinel.py").read_text(encoding="utf-8")
    source = source.replace("\ndef run(", f"""
import os as _os, time as _time

def run(*args, **kwargs):  # a right run(), once the driver is stopped
    while not _os.path.exists({str(gate)!r}):
        _time.sleep(0.01)
    return _right_run(*args, **kwargs)

def _right_run(""", 1)
    budget, result = 1.0, {}
    runner = threading.Thread(target=lambda: result.update(out=check(tmp_path, source, method="fork",
                                                                      budget=budget, params={"items": [1, 2, 3]})))
    started = time.monotonic()
    runner.start()
    driver = None
    while driver is None and runner.is_alive():  # the driver, once it has started its host
        driver = next(iter(_started_its_host(tmp_path)), None)
        runner.join(0.005)
    assert driver is not None, "no driver with a host was seen"
    os.kill(driver, signal.SIGSTOP)
    gate.touch()
    try:
        while runner.is_alive() and not list(tmp_path.glob("baozi-check-*/registry.jsonl.replied.*")):
            runner.join(0.005)
        runner.join(budget + 1.5 - (time.monotonic() - started))  # well past the budget and the grace
    finally:
        try:
            os.kill(driver, signal.SIGCONT)
        except ProcessLookupError:
            pass  # the check has ended it
    runner.join(30)
    out = result["out"]
    assert out.status == "returned", (out.status, out.elapsed)
    assert out.elapsed > budget


FOREVER = HEADER + """
import threading

def put_all(q, items):
    threading.Event().wait()

def drain(q, n, timeout=None):
    threading.Event().wait()
"""


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scenario, params", [
    ("put_all_waits", {"items": [1, 2, 3], "consumer_delay": 0.05}),  # the kit's consumer in q.get()
    ("late_items", {"items": [1, 2], "gap": 0.3, "call": "drain", "timeout": 3.0}),  # its producer
], ids=["kit-consumer-waits", "kit-producer-waits"])
def test_a_kit_helper_waiting_for_the_student_does_not_hide_a_deadlock(tmp_path, method, scenario, params):
    """The kit's helper waits for the student's next put or get (driver.awaiting_student), which never
    comes: the check is deadlocked, and said to be long before its budget."""
    out = check(tmp_path, FOREVER, method=method, budget=5.0, scenario=f"ex01_queue_basics:{scenario}",
                params=params)
    assert out.status == "hang" and out.deadlock, (out.status, out.elapsed)
    assert out.elapsed < 3.0, out.elapsed


@pytest.mark.parametrize("method", METHODS)
def test_a_student_blocked_on_a_full_queue_beside_a_sleeping_kit_consumer_is_no_deadlock(tmp_path, method):
    """put_all() waits in q.put() without a timeout while the kit's consumer sleeps between its gets:
    the consumer will make room, so the watch must not call it a deadlock."""
    out = check(tmp_path, HEADER + """
def put_all(q, items):
    for item in items:
        q.put(item)
    return len(items)
""", method=method, budget=6.0, scenario="ex01_queue_basics:put_all_waits",
                params={"items": list(range(6)), "consumer_delay": 0.6})
    assert out.status == "returned", (out.status, out.elapsed, out.stuck)
    assert out.value["got"] == list(range(6))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("body, stored", [
    ("try:\n            q.put_nowait(item)\n        except queue.Full:\n            continue", [0, 1, 3, 5]),
    ("if q.full():\n            continue\n        q.put_nowait(item)", [0, 1, 3, 5]),
    ("while True:\n            try:\n                q.put(item, timeout=0.001)\n                break\n"
     "            except queue.Full:\n                pass", [0, 1, 2, 3, 4, 5]),
    ("while q.full():\n            time.sleep(0.001)\n        q.put_nowait(item)", [0, 1, 2, 3, 4, 5]),
    ("q.put(item)", [0, 1, 2, 3, 4, 5]),
], ids=["put_nowait-skips", "full-skips", "short-timeout-retries", "full-polls", "put-waits"])
def test_what_put_all_stores_on_a_full_queue_follows_from_its_calls(tmp_path, method, body, stored):
    """The kit's consumer takes an item only when the queue is full and the student's code waits or
    asks (RoomQueue): a put that cannot wait is refused on a full queue, and room is made after it.
    So the items stored are the same on any machine, at any load, and the check ends when put_all()
    returns, long before its deadline."""
    budget = 30.0
    out = check(tmp_path, HEADER + f"""
def put_all(q, items):
    stored = []
    for item in items:
        {body}
        stored.append(item)
    return stored
""", method=method, budget=budget, scenario="ex01_queue_basics:put_all_waits",
                params={"items": list(range(6)), "consumer_delay": 0.02})
    assert out.status == "returned", (out.status, out.elapsed, out.stuck)
    assert out.value["count"] == stored and out.value["got"] == stored, out.value
    assert out.elapsed < budget / 2, out.elapsed


def test_a_wait_for_the_brokers_messages_counts_only_while_the_kit_waits_on_queues(tmp_path):
    """While the kit waits for the student through RabbitMQ, a worker in channel.start_consuming() may
    just be waiting for the broker to deliver: that is no place of a deadlock. A threading wait is."""
    from grader.checking.harness import _place

    module = tmp_path / "work_queue.py"
    module.write_text("import threading\n\ndef worker(channel):\n    channel.start_consuming()\n"
                      "\ndef stuck():\n    threading.Event().wait()\n", encoding="utf-8")

    def dump(line: int, func: str, inner: str) -> str:
        return (f"Current thread 0x00007f0000000001 (most recent call first):\n"
                f'  File "/usr/lib/python3/site-packages/lib.py", line 10 in {inner}\n'
                f'  File "{module}", line {line} in {func}\n')

    consuming, waiting = dump(4, "worker", "start_consuming"), dump(7, "stuck", "wait")
    assert _place(consuming, str(module), broker_awaited=False) is not None
    assert _place(consuming, str(module), broker_awaited=True) is None
    assert _place(waiting, str(module), broker_awaited=True) is not None


@pytest.mark.parametrize("body", [
    "    while True:\n        time.sleep(0.05)\n",  # sleeping: it may still do something
    "    q = multiprocessing.Queue()\n    while True:\n        try:\n            q.get(timeout=0.05)\n"
    "        except queue.Empty:\n            pass\n",  # waits with a timeout: it wakes up
    "    q = multiprocessing.Queue()\n    for item in iter(q.get, None):\n        pass\n",
], ids=["sleeps", "timed-get", "iter-get"])
def test_only_a_wait_without_timeout_ends_a_hang_before_its_budget(tmp_path, body):
    out = check(tmp_path, HEADER + "\ndef run(items, producer_delay=0, consumer_delay=0):\n" + body,
                method="fork", budget=1.5)
    assert out.status == "hang"
    if "iter(" in body:
        assert out.deadlock and out.elapsed < 1.5
    else:
        assert not out.deadlock and out.elapsed >= 1.5


@pytest.mark.parametrize("method", METHODS)
def test_stuck_consumers_are_named_and_counted(tmp_path, method):
    out = check(tmp_path, HEADER + """
def consumer(q):
    while True:
        item = q.get()

def run(items, producer_delay=0, consumer_delay=0):
    q = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=consumer, args=(q,)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
""", method=method)
    assert out.status == "hang"
    roles = {r.role: r for r in out.stuck}
    assert set(roles) == {"main", "consumer-1", "consumer-2"}
    assert roles["main"].call == "w.join()" and roles["main"].waits_for == "join"
    assert roles["consumer-2"].call == "q.get()" and roles["consumer-2"].line == 6
    assert "All 2 consumers are still blocked in q.get()" in out.hints[0]


def test_joining_before_draining_big_results_is_explained(tmp_path):
    out = check(tmp_path, HEADER + """
def consumer(results):
    results.put("x" * 1_000_000)

def run(items, producer_delay=0, consumer_delay=0):
    results = multiprocessing.Queue()
    c = multiprocessing.Process(target=consumer, args=(results,))
    c.start()
    c.join()
    return [results.get()]
""", method="fork")
    assert out.status == "hang"
    consumer = next(r for r in out.stuck if r.kind == "consumer")
    assert consumer.state == "exiting"
    assert any("cannot exit" in hint for hint in out.hints)


@pytest.mark.parametrize("method", METHODS)
def test_a_process_left_running_is_a_leak(tmp_path, method):
    out = check(tmp_path, HEADER + """
def consumer(q):
    while True:
        q.get()

def run(items, producer_delay=0, consumer_delay=0):
    q = multiprocessing.Queue()
    c = multiprocessing.Process(target=consumer, args=(q,))
    c.start()
    run.keep = q
    return list(items)
""", method=method)
    assert out.status == "returned" and out.value["value"] == [1, 2, 3]
    (leak,) = out.leaked
    assert (leak.role, leak.call) == ("consumer-1", "q.get()")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("disguise", ["registry", "command-line"])
def test_a_leak_disguised_as_multiprocessings_helper_is_still_a_leak(tmp_path, method, disguise):
    """The student's code cannot have one of its processes taken for multiprocessing's resource
    tracker: not by writing it in the registry as a helper the kit forked (only the observer's
    answer says which those are), nor by starting it with a tracker's command line (its program
    is not exactly multiprocessing's)."""
    out = check(tmp_path, HEADER + """
import subprocess

def run(items, producer_delay=0, consumer_delay=0):
    if DISGUISE == "registry":
        run.keep = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
        with open(os.environ["BAOZI_REGISTRY"], "a") as registry:
            registry.write(f"helper\\t{run.keep.pid}\\tresource_tracker\\tresource_tracker\\tTrue\\t{os.getpid()}\\n")
    else:
        program = "from multiprocessing.resource_tracker import main;main(0)\\nimport sys; sys.stdin.read()"
        run.keep = subprocess.Popen([sys.executable, "-S", "-c", program], stdin=subprocess.PIPE)
    return list(items)
""".replace("DISGUISE", repr(disguise)), method=method, budget=6.0)
    assert out.status == "returned" and out.value["value"] == [1, 2, 3], (out.status, out.error)
    assert len(out.leaked) == 1, out.leaked


def test_a_process_spinning_on_empty_is_caught_by_its_empty_answers(tmp_path):
    """Caught by its run of empty answers, whatever share of a CPU the other tests leave it."""
    out = check(tmp_path, HEADER + """
def consumer(q, until):
    while time.monotonic() < until:
        if not q.empty():
            q.get()

def run(items, producer_delay=0, consumer_delay=0):
    q = multiprocessing.Queue()
    c = multiprocessing.Process(target=consumer, args=(q, time.monotonic() + 0.9))
    c.start()
    c.join()
    return list(items)
""", method="fork", budget=3.0)
    assert out.status == "returned"
    assert [r.role for r in out.busy] == ["consumer-1"], out.busy
    assert out.busy[0].polls >= SPIN_POLLS, out.busy


def test_a_blocked_process_is_not_spinning(tmp_path):
    out = check(tmp_path, HEADER + """
def consumer(q):
    q.get()

def run(items, producer_delay=0, consumer_delay=0):
    q = multiprocessing.Queue()
    c = multiprocessing.Process(target=consumer, args=(q,))
    c.start()
    try:
        c.join(0.9)  # the consumer sleeps in get() meanwhile
    finally:
        q.put(1)
        c.join()
    return list(items)
""", method="fork", budget=3.0)
    assert out.status == "returned" and out.busy == []


@pytest.mark.parametrize("method", METHODS)
def test_the_kit_writes_nothing_into_a_right_checks_output(tmp_path, method):
    """A report quotes the check's stderr as the student's: the kit's own start-up (the driver's
    fork server, a spawn child's start) must leave nothing there."""
    out = check(tmp_path, HEADER + """
def consumer(q, results):
    results.put(q.get())

def run(items, producer_delay=0, consumer_delay=0):
    q, results = multiprocessing.Queue(), multiprocessing.Queue()
    c = multiprocessing.Process(target=consumer, args=(q, results))
    c.start()
    q.put(list(items))
    got = results.get()
    c.join()
    return got
""", method=method, budget=5.0)
    assert out.status == "returned" and out.value["value"] == [1, 2, 3]
    assert out.stderr == "" and out.stdout == "", (out.stdout, out.stderr)


@pytest.mark.skipif("forkserver" not in METHODS, reason="needs the forkserver start method")
def test_a_checks_temporary_files_go_with_its_folder(tmp_path):
    """multiprocessing's temporary folder (a fork server's socket) is made in the check's folder,
    which goes with the check: the kit's processes end with os._exit, which skips its removal."""
    out = check(tmp_path, HEADER + """
import multiprocessing.util

def consumer(q):
    q.put(q.get())

def run(items, producer_delay=0, consumer_delay=0):
    q = multiprocessing.Queue()
    c = multiprocessing.Process(target=consumer, args=(q,))  # starts the fork server
    c.start()
    q.put(1)
    c.join()
    return [multiprocessing.util.get_temp_dir()]
""", method="forkserver")
    assert out.status == "returned", out.error
    (folder,) = out.value["value"]
    assert Path(folder).parent.name.startswith("baozi-check-"), folder
    assert not Path(folder).exists(), f"{folder} outlived its check"


PINNING = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="pins processes to a CPU (Linux)")


# What a process of the check runs first to be starved: it moves to the crowded CPU and, where the
# kernel shares a CPU between sessions first (autogroups: the check's driver has a session of its
# own, and so has each hog), lowers its session's weight, so that it gets about a twentieth of that
# CPU, and a sixth where sessions do not count.
STARVE = """
    os.sched_setaffinity(0, {{{cpu}}})
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write("7")
    except OSError:
        pass
"""


@pytest.fixture
def crowded_cpu():
    """Five spinning interpreters pinned to one CPU, each in a session of its own, as on a machine
    where every core is busy (whatever the load average says yet)."""
    cpu = min(os.sched_getaffinity(0))
    hogs = [subprocess.Popen([sys.executable, "-c", f"import os\nos.sched_setaffinity(0, {{{cpu}}})\n"
                                                    "while 1: pass"], start_new_session=True)
            for _ in range(5)]
    try:
        yield cpu
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@PINNING
def test_a_spinning_process_starved_of_cpu_is_still_caught(tmp_path, crowded_cpu):
    """It spins without a queue call to count, and gets a small share of its CPU: it is runnable
    at every look all the same, and never gives its CPU up."""
    out = check(tmp_path, HEADER + f"""
def consumer(q, until):{STARVE.format(cpu=crowded_cpu)}
    while time.monotonic() < until:
        pass

def run(items, producer_delay=0, consumer_delay=0):
    q = multiprocessing.Queue()
    c = multiprocessing.Process(target=consumer, args=(q, time.monotonic() + 1.5))
    c.start()
    c.join()
    return list(items)
""", method="fork", budget=5.0)
    assert out.status == "returned"
    assert [r.role for r in out.busy] == ["consumer-1"], out.busy
    assert out.busy[0].runnable >= RUNNABLE_SHARE and out.busy[0].cpu < BUSY_FRACTION, out.busy
    assert out.busy[0].blocked[0] <= SPIN_BLOCKS_ALLOWED, out.busy


@PINNING
def test_a_waiting_process_starved_of_cpu_is_not_spinning(tmp_path, crowded_cpu):
    """A producer that sleeps between its puts and a consumer blocked in get(), both on a crowded
    CPU: each may wait for the CPU at most looks, but gives it up by itself once it has it."""
    out = check(tmp_path, HEADER + f"""
def producer(q):{STARVE.format(cpu=crowded_cpu)}
    for i in range(30):
        time.sleep(0.04)
        q.put(i)
    q.put(None)

def consumer(q, results):{STARVE.format(cpu=crowded_cpu)}
    results.put(sum(iter(q.get, None)))

def run(items, producer_delay=0, consumer_delay=0):
    q, results = multiprocessing.Queue(), multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q,))
    c = multiprocessing.Process(target=consumer, args=(q, results))
    p.start()
    c.start()
    total = results.get()
    p.join()
    c.join()
    return list(items) if total == 435 else []
""", method="fork", budget=8.0)
    assert out.status == "returned" and out.value["value"] == [1, 2, 3]
    assert out.busy == [], out.busy


@POSIX_ONLY
def test_exiting_without_an_answer_is_a_crash(tmp_path):
    out = check(tmp_path, HEADER + """
def run(items, producer_delay=0, consumer_delay=0):
    print("bye")
    os._exit(3)
""")
    assert out.status == "crashed" and out.error["returncode"] == 3
    assert "bye" in out.stdout


@POSIX_ONLY
@pytest.mark.parametrize("always", [False, True])
def test_a_driver_killed_by_a_signal_is_run_once_more(tmp_path, always):
    """A crash by a signal that does not come back is taken as the kit's (the rerun counts, and the
    instructor is told); one that comes back is the student's, shown with where it happened."""
    marker = tmp_path / "crashed-once"
    out = check(tmp_path, HEADER + f"""
if {always!r} or not os.path.exists({str(marker)!r}):
    open({str(marker)!r}, "w").close()
    os.kill(os.getpid(), signal.SIGSEGV)

def run(items, producer_delay=0, consumer_delay=0):
    return list(items)
""", method="fork")
    if always:
        assert out.status == "crashed" and out.error["returncode"] == -signal.SIGSEGV
        assert crash_stack(out).splitlines()[1] == "    sentinel.py:6 in <module>"
    else:
        assert out.status == "returned", (out.status, out.error)
        assert out.flags == [f"kit fault: in the first run the process running the check died by signal "
                             f"{int(signal.SIGSEGV)}; the rerun was clean and was taken"]


@POSIX_ONLY
@pytest.mark.parametrize("forged", ["pickle", "garbage"])
def test_an_answer_forged_on_the_drivers_channel_is_refused_and_never_run(tmp_path, forged):
    """At import, the module writes an answer of its own to every pipe it can write to (the
    driver's answer channel among them): a pickle whose loading would create a file, or garbage."""
    marker = tmp_path / "unpickled"
    out = check(tmp_path, HEADER + f"""
import pickle, stat, struct

class Payload:
    def __reduce__(self):
        return (open, ({str(marker)!r}, "w"))

data = pickle.dumps({{"status": "returned", "value": Payload()}}) if {forged!r} == "pickle" else b"\\x80junk"
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, struct.pack("!Q", len(data)) + data)
    except OSError:
        pass

def run(items, producer_delay=0, consumer_delay=0):
    raise NotImplementedError
""")
    assert out.status == "bad_answer", (out.status, out.error)
    assert "not JSON" in out.error["message"]
    assert not marker.exists(), "the forged pickle was loaded"


@POSIX_ONLY
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_child_that_kills_its_parent_is_contained(tmp_path, method):
    out = check(tmp_path, HEADER + """
def assassin():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(60)

def run(items, producer_delay=0, consumer_delay=0):
    p = multiprocessing.Process(target=assassin)
    p.start()
    p.join()
""", method=method)
    assert out.status == "crashed"


@POSIX_ONLY
def test_a_process_in_a_session_of_its_own_is_still_ended(tmp_path):
    out = check(tmp_path, HEADER + """
def runaway(q):
    os.setsid()
    q.put(os.getpid())
    time.sleep(60)

def run(items, producer_delay=0, consumer_delay=0):
    q = multiprocessing.Queue()
    multiprocessing.Process(target=runaway, args=(q,)).start()
    q.get(timeout=30)
    return list(items)
""", method="fork")
    assert out.status == "returned"
    assert [r.role for r in out.leaked] == ["runaway-1"]


def test_starting_processes_at_import_is_refused(tmp_path):
    out = check(tmp_path, HEADER + """
def work():
    pass

p = multiprocessing.Process(target=work)
p.start()
p.join()

def run(items, producer_delay=0, consumer_delay=0):
    return list(items)
""", method="fork")
    assert out.status == "started_at_import" and "work" in out.error["message"]


def test_a_syntax_error_names_its_line(tmp_path):
    out = check(tmp_path, HEADER + """
def run(items, producer_delay=0, consumer_delay=0)
    return items
""")
    assert out.status == "import_error"
    assert out.error["type"] == "SyntaxError" and out.error["line"] == 4


def test_a_missing_function_is_named(tmp_path):
    out = check(tmp_path, HEADER + "def runn(items):\n    return items\n")
    assert out.status == "missing_function" and out.error["message"] == "run"


def test_an_exception_names_the_students_line(tmp_path):
    out = check(tmp_path, HEADER + """
def run(items, producer_delay=0, consumer_delay=0):
    return items[10]
""")
    assert out.status == "raised"
    assert out.error["type"] == "IndexError" and out.error["line"] == 5
    assert out.error["function"] == "run"


@pytest.mark.skipif(sys.version_info < (3, 12) or "fork" not in METHODS,
                    reason="Python 3.12+ warns when a process with threads forks")
def test_forking_with_a_feeder_thread_running_is_noted(tmp_path):
    out = check(tmp_path, HEADER + """
def nothing():
    pass

def run(items, producer_delay=0, consumer_delay=0):
    q = multiprocessing.Queue()
    q.put(1)  # starts the queue's feeder thread
    p = multiprocessing.Process(target=nothing)
    p.start()
    p.join()
    return list(items)
""", method="fork")
    assert out.status == "returned"
    assert out.notes == ["fork-with-threads"]


@POSIX_ONLY
@pytest.mark.parametrize("method", METHODS)
def test_a_process_asked_for_its_stack_while_it_exits_is_not_killed(tmp_path, method):
    """faulthandler gives SIGUSR1 back at interpreter shutdown: it must be ignored by then, not
    deadly, or the deadlock watch would kill right answers that are just finishing."""
    script = tmp_path / "exiting.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing as mp, os, signal, sys, time
        from grader.checking.driver import arm_stack_dump

        def child():
            arm_stack_dump()
            time.sleep(0.1)

        if __name__ == "__main__":
            mp.set_start_method(sys.argv[1])
            arm_stack_dump()
            codes = []
            for _ in range(8):
                p = mp.Process(target=child)
                p.start()
                ready = os.path.join(os.environ["BAOZI_DUMP_DIR"], f"{p.pid}.txt")
                while p.is_alive() and not os.path.exists(ready):  # as the harness does
                    time.sleep(0.001)
                while p.is_alive():
                    try:
                        os.kill(p.pid, signal.SIGUSR1)
                    except ProcessLookupError:
                        break
                    time.sleep(0.002)
                p.join()
                codes.append(p.exitcode)
            print(codes)
    """), encoding="utf-8")
    env = {**os.environ, "BAOZI_DUMP_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(script), method], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.strip() == str([0] * 8), done.stdout + done.stderr



@POSIX_ONLY
def test_asking_a_busy_process_for_its_stack_never_crashes_it(tmp_path):
    """A queue's feeder thread runs while the stack is taken: the dump must not read its frames
    while it changes them (faulthandler's dump did, and killed right code with signal 11)."""
    script = tmp_path / "busy.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing as mp, os, signal, sys, time
        from grader.checking.driver import arm_stack_dump

        def shuffle_items():
            arm_stack_dump()
            q = mp.Queue()
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                for i in range(100):
                    q.put(i)
                for i in range(100):
                    q.get()

        if __name__ == "__main__":
            p = mp.get_context("fork").Process(target=shuffle_items)
            p.start()
            dump = os.path.join(os.environ["BAOZI_DUMP_DIR"], f"{p.pid}.txt")
            while p.is_alive() and not os.path.exists(dump):  # as the harness does
                time.sleep(0.001)
            asked = 0
            while p.is_alive():
                try:
                    os.kill(p.pid, signal.SIGUSR1)
                except ProcessLookupError:
                    break
                asked += 1
                time.sleep(0.002)
            p.join()
            with open(dump, encoding="utf-8") as f:
                text = f.read()
            print(p.exitcode, asked > 100, "in shuffle_items" in text, "_feed" in text)
    """), encoding="utf-8")
    env = {**os.environ, "BAOZI_DUMP_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                          timeout=120)
    # exit 0; signalled often; the main thread's and the feeder thread's stacks both written
    assert done.stdout.split() == ["0", "True", "True", "True"], done.stdout + done.stderr



CRASHING_CHILD = HEADER + """
def crash():
{body}

def run(items, producer_delay=0, consumer_delay=0):
    p = multiprocessing.Process(target=crash)
    p.start()
    p.join()
    return list(items)
"""


@POSIX_ONLY
def test_a_process_that_crashes_in_every_run_is_the_students_crash_with_its_stack(tmp_path):
    out = check(tmp_path, CRASHING_CHILD.format(body="    import ctypes\n    ctypes.string_at(0)"),
                method="fork", budget=5.0)
    assert signal_deaths(out) == ["crash-1 died by signal 11"]
    assert out.status == "returned"  # the check judges it: not the kit's fault
    assert not [flag for flag in out.flags if flag.startswith("kit fault")]
    innermost = crash_stack(out).splitlines()[1:3]
    assert innermost[0].endswith(" in string_at") and innermost[1] == "    sentinel.py:6 in crash"


@POSIX_ONLY
def test_a_crash_the_rerun_does_not_repeat_is_a_kit_fault_and_the_rerun_counts(tmp_path):
    mark = tmp_path / "crashed-once"
    body = f"    if not os.path.exists({str(mark)!r}):\n        open({str(mark)!r}, 'w').close()\n" \
           "        import ctypes\n        ctypes.string_at(0)"
    out = check(tmp_path, CRASHING_CHILD.format(body=body), method="fork", budget=5.0)
    assert mark.exists() and signal_deaths(out) == [] and out.status == "returned"
    assert out.flags == ["kit fault: in the first run crash-1 died by signal 11; the rerun was clean "
                         "and was taken"]


@POSIX_ONLY
def test_a_crash_inside_the_kits_code_twice_is_unreliable_not_the_students(tmp_path):
    # SIGSEGV lands in the main thread while it sleeps in the kit's counting wrapper of time.sleep
    body = ("    import threading\n"
            "    main = threading.main_thread().ident\n"
            "    threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGSEGV)).start()\n"
            "    time.sleep(5)")
    out = check(tmp_path, CRASHING_CHILD.format(body=body), method="fork", budget=8.0)
    assert out.status == "unreliable" and out.error == {"message": "crash-1 died by signal 11"}
    assert out.flags == ["kit fault: crash-1 died by signal 11, in two runs, inside the kit's own code"]
    assert "in _counted_sleep" in out.fatal[0]  # the student is shown only their own frames
    assert crash_stack(out).splitlines()[1] == "    sentinel.py:8 in crash"



POLLING_CONSUMER = HEADER + """
def consumer(q, results, asked):
    polls = 0
    while True:
        try:
            item = {poll}
        except queue.Empty:
            polls += 1
            if polls == {polls}:
                asked.set()  # the items come once it has asked this often: however it was scheduled
            {pause}
            continue
        if item is None:
            return
        results.put(item)

def run(items, producer_delay=0, consumer_delay=0):
    q, results, asked = multiprocessing.Queue(), multiprocessing.Queue(), multiprocessing.Event()
    c = multiprocessing.Process(target=consumer, args=(q, results, asked))
    c.start()
    asked.wait({wait})  # the consumer waits for the first item
    for item in items:
        q.put(item)
    q.put(None)
    got = [results.get() for _ in items]
    c.join()
    return got
"""


@pytest.mark.parametrize("poll, pause, spins", [
    ("q.get_nowait()", "pass", True),
    ("q.get(block=False)", "pass", True),
    ("q.get(timeout=0)", "pass", True),
    ("q.get_nowait()", "time.sleep(0.01)", False),  # polls, but sleeps between: not a spin
    ("q.get(timeout=0.05)", "pass", False),  # waits, with a timeout
    ("q.get()", "pass", False),
], ids=["get_nowait", "block-false", "timeout-0", "sleeps", "timeout", "blocking"])
def test_a_spinning_consumer_is_told_by_its_calls_not_its_cpu_share(tmp_path, poll, pause, spins):
    # A spinner gets its items only after twice the polls that make a spin, however slowly a busy
    # machine runs it (a bounded wait); the others, which cannot spin, after 0.3 s.
    polls, wait = (2 * SPIN_POLLS, 60.0) if spins else (-1, 0.3)
    out = check(tmp_path, POLLING_CONSUMER.format(poll=poll, pause=pause, polls=polls, wait=wait), method="fork",
                budget=5.0)
    assert out.status == "returned" and out.value["value"] == [1, 2, 3]
    polled = {r.role: r.polls for r in out.busy if r.polls}
    if spins:
        assert polled.get("consumer-1", 0) >= SPIN_POLLS, out.busy
    else:
        assert polled == {}, out.busy




@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_spinner_is_caught_however_fast_its_items_come(tmp_path, method):
    """A consumer that spins on q.empty() while its producer may still put is answered "nothing"
    for SPIN_POLLS polls in a row, once: caught however few polls the machine lets it make between
    two items (here the items come every millisecond, too fast for such a run of its own)."""
    items = list(range(300))
    out = check(tmp_path, HEADER + """
def producer(q, items):
    for item in items:
        q.put(item)
        time.sleep(0.001)

def consumer(q, results):
    while True:
        while q.empty():
            pass
        item = q.get()
        if item is None:
            return
        results.put(item)

def run(items, producer_delay=0, consumer_delay=0):
    q, results = multiprocessing.Queue(), multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q, items))
    c = multiprocessing.Process(target=consumer, args=(q, results))
    p.start()
    c.start()
    p.join()
    q.put(None)
    got = [results.get() for _ in items]
    c.join()
    return got
""", method=method, budget=5.0, params={"items": items})
    assert out.status == "returned" and out.value["value"] == items
    assert {r.role: r.polls for r in out.busy if r.polls}.get("consumer-1", 0) >= SPIN_POLLS, out.busy


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_producer_joined_after_its_consumer_started_may_still_put_when_the_consumer_asks(tmp_path, method):
    """The consumer was started before run() joined the producer, so nothing orders the producer's
    end before the consumer's first question, however early the producer ended in this run: the
    consumer's first timed get is answered late every time (here the producer has surely ended
    before the consumer even starts, and run() has joined it before the consumer asks)."""
    out = check(tmp_path, HEADER + """
def producer(q, items):
    for item in items:
        q.put(item)

def consumer(q, results):
    time.sleep(0.3)
    while True:
        try:
            item = q.get(timeout=0.5)
        except queue.Empty:
            return
        if item is None:
            return
        results.put(item)

def run(items, producer_delay=0, consumer_delay=0):
    q, results = multiprocessing.Queue(), multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q, items))
    c = multiprocessing.Process(target=consumer, args=(q, results))
    p.start()
    time.sleep(0.3)  # the producer has ended by now (unseen: run() has not looked)
    c.start()
    p.join()
    q.put(None)
    c.join()
    got = []
    while not results.empty():
        got.append(results.get())
    return got
""", method=method, budget=5.0)
    assert out.status == "returned", (out.status, out.error)
    assert out.value["late"] and out.value["late"][0]["call"] == "get(timeout=0.5)", out.value["late"]


RUN_BATCHES_ONE_CONSUMER = """
def consumer(q, results):
    while True:
        item = q.get()
        if item is None:
            return
        results.put(item)

def run(batches, n_consumers, producer_delay=0, consumer_delay=0):
    q, results = multiprocessing.Queue(), multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, batch)) for batch in batches]
    c = multiprocessing.Process(target=consumer, args=(q, results))
    for p in producers:
        p.start()
    c.start()
    for p in producers:
        p.join()
    q.put(None)
    got = [results.get() for batch in batches for _ in batch]
    c.join()
    return got
"""


@POSIX_ONLY
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_the_producers_of_a_queue_put_in_turns(tmp_path, method):
    """Each producer's items reach the queue together, as if each ran alone, in the order run()
    started the producers: a producer's own None then lands before the next producer's items in
    every run (one consumer keeps the order of the queue here). Without turns, producers that
    sleep between their puts interleave."""
    batches = [[f"{name}{i}" for i in range(6)] for name in "abc"]
    out = check(tmp_path, HEADER + """
def producer(q, items):
    for item in items:
        q.put(item)
        time.sleep(0.01)
""" + RUN_BATCHES_ONE_CONSUMER, method=method, budget=5.0, scenario="ex04_many:run_batches",
                params={"batches": batches, "n_consumers": 1})
    assert out.status == "returned", (out.status, out.error)
    got = out.value["value"]
    assert sorted(got) == sorted(sum(batches, [])), got
    runs = [item[0] for i, item in enumerate(got) if i == 0 or got[i - 1][0] != item[0]]
    assert runs == ["a", "b", "c"], f"the producers did not put in turns, in the order they were started: {got}"


@POSIX_ONLY
def test_a_producer_that_stalls_in_its_turn_lets_the_next_one_put(tmp_path):
    """A producer that waits, in its turn, for something only a later producer does (an event here)
    gives the turn up after TURN_STALL: taking turns never deadlocks a program of its own."""
    from grader.checking.driver import TURN_STALL

    out = check(tmp_path, HEADER + """
started = multiprocessing.Event()

def producer(q, items):
    q.put(items[0])
    if items[0] == "first":
        started.wait()
    else:
        started.set()

def run(batches, n_consumers, producer_delay=0, consumer_delay=0):
    q = multiprocessing.Queue()
    first = multiprocessing.Process(target=producer, args=(q, batches[0]))
    first.start()
    assert q.get() == "first"
    second = multiprocessing.Process(target=producer, args=(q, batches[1]))
    second.start()
    got = [q.get()]
    first.join()
    second.join()
    return got
""", method="fork", budget=10.0, scenario="ex04_many:run_batches",
                params={"batches": [["first"], ["second"]], "n_consumers": 1})
    assert out.status == "returned" and out.value["value"] == ["second"], (out.status, out.error)
    assert out.elapsed >= TURN_STALL


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_role_comes_from_the_function_a_target_runs_not_its_wrapper(tmp_path, method):
    out = check(tmp_path, HEADER + """
import functools

def take_items(q, results):
    for item in iter(q.get, None):
        results.put(item)

consumer = take_items  # the exercise's name for it

class Shop:
    def __init__(self, items):
        self.items = items

    def producer(self, q):
        for item in self.items:
            q.put(item)

def run(items, producer_delay=0, consumer_delay=0):
    q, results = multiprocessing.Queue(), multiprocessing.Queue()
    p = multiprocessing.Process(target=functools.partial(Shop(items).producer, q))
    c = multiprocessing.Process(target=functools.partial(consumer, q), args=(results,))
    p.start(); c.start()
    p.join(); q.put(None)
    got = [results.get() for _ in items]
    c.join()
    return got
""", method=method, budget=5.0)
    assert out.status == "returned" and out.value["value"] == [1, 2, 3], (out.status, out.error)
    assert sorted(e["role"] for e in out.registry if e["kind"] == "process") == ["consumer", "producer"]


JOINABLE = HEADER + """
def consumer(q, results):
    while True:
        item = q.get()
        results.put(item)
        {task_done}

def run(batches, n_consumers, producer_delay=0, consumer_delay=0):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=consumer, args=(q, results), daemon={daemon})
               for _ in range(n_consumers)]
    for w in workers:
        w.start()
    for batch in batches:
        for item in batch:
            q.put(item)
    q.join()
    return [results.get() for batch in batches for _ in batch]
"""


LATE_TASK_DONE = HEADER + """
import select


def consumer(q, results, delay):
    while True:
        item = q.get()
        results.put(item)
        select.select([], [], [], 1.0)  # kept off the CPU past the deadline, in no call the kit tallies
        q.task_done()
"""


@pytest.mark.parametrize("marks_done", [True, False], ids=["task-done", "no-task-done"])
def test_a_consumer_late_to_mark_its_item_done_is_waited_for_and_not_blamed(tmp_path, marks_done):
    """A right consumer that a busy machine keeps from its task_done() past the check's deadline
    (0.8 s of 1 s), after its result is out: the scenario waits while it may still mark the item
    done, and its join returns late ("slow", no mistake). One that never marks it done waits in
    get() again at once: its join is missing, and says so without waiting."""
    source = LATE_TASK_DONE if marks_done else LATE_TASK_DONE.replace("q.task_done()", "pass")
    out = check(tmp_path, source, method="fork", budget=1.0, scenario="ex05_joinable:consumer_acks",
                params={"items": [1], "delay": 0.0, "n_consumers": 1})
    assert out.status == "returned", (out.status, out.elapsed, out.stuck)
    seen = out.value
    assert seen["got"] == [1] and not seen["joined"]
    assert (seen["slow"], seen["waiting"]) == ((True, False) if marks_done else (False, True)), seen


def _take_and_mark_done(q, go, done):
    q.get()
    go.wait(WAIT)
    q.task_done()
    done.set()


def test_a_bounded_join_lets_a_consumer_mark_its_item_done_while_it_asks_for_time():
    """The scenario's join asks Context.remaining whether the consumers still move; a consumer in
    task_done() meanwhile must not wait for the queue's lock, or it would look idle. The forced
    schedule: the consumer marks its item done exactly while the join asks for time."""
    ctx = multiprocessing.get_context("spawn")
    q, go, done = ctx.JoinableQueue(), ctx.Event(), ctx.Event()
    consumer = ctx.Process(target=_take_and_mark_done, args=(q, go, done))
    consumer.start()
    asked = []

    def left() -> float:
        go.set()
        asked.append(done.wait(WAIT))  # would wait out WAIT if the join held the queue's lock
        return 1.0

    try:
        q.put("item")
        assert _bounded_join(q, [consumer], left)
        assert asked and asked[0], "task_done() waited for the lock the join held while it asked"
    finally:
        consumer.join(WAIT)
        if consumer.is_alive():
            consumer.kill()
            consumer.join()


def check_joinable(tmp_path, *, task_done: bool, daemon: bool, method: str):
    module = tmp_path / "joinable.py"
    source = JOINABLE.format(task_done="q.task_done()" if task_done else "pass", daemon=daemon)
    module.write_text(textwrap.dedent(source), encoding="utf-8")
    return run_check(module_file=module, module="joinable",
                     scenario="grader.checking.scenarios.ex05_joinable:run_joinable",
                     params={"batches": [[1, 2, 3]], "n_consumers": 2, "at_exit": True},
                     start_method=method, budget=5.0, action="run(batches, 2)")


@POSIX_ONLY
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_queue_join_that_no_task_done_ends_is_a_deadlock_naming_task_done(tmp_path, method):
    out = check_joinable(tmp_path, task_done=False, daemon=True, method=method)
    assert out.status == "hang" and out.deadlock and out.elapsed < 4.0
    main = next(r for r in out.stuck if r.kind == "main")
    assert (main.call, main.waits_for) == ("q.join()", "join")
    assert "never marked done with q.task_done()" in out.hints[0]


@POSIX_ONLY
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_the_exit_handler_joining_a_non_daemon_consumer_is_a_deadlock(tmp_path, method):
    out = check_joinable(tmp_path, task_done=True, daemon=False, method=method)
    assert out.status == "hang" and out.deadlock and out.elapsed < 4.0
    main = next(r for r in out.stuck if r.kind == "main")
    assert main.state == "exit-join"
    # Under spawn a consumer that got no item may still be starting when the program ends: the
    # exit handler's finalizers unlink the queue's semaphores first, and that child dies.
    stuck = sorted(r.role for r in out.stuck if r is not main)
    assert stuck and set(stuck) <= {"consumer-1", "consumer-2"}
    assert f"{', '.join(stuck)} {'are not daemons' if len(stuck) > 1 else 'is not a daemon'}" in out.hints[0]


def test_daemon_consumers_are_ended_by_the_exit_handler(tmp_path):
    out = check_joinable(tmp_path, task_done=True, daemon=True, method="fork")
    assert out.status == "returned" and out.leaked == []
    assert sorted(out.value["value"]) == [1, 2, 3] and out.value["after_exit"] == []


SLEEPERS = HEADER + """
from time import sleep  # bound at import: the counted sleep all the same


def producer(q, items, delay=0.0):
    for item in items:
        time.sleep(delay)
        q.put(item)


def consumer(q, results, delay=0.0):
    for item in iter(q.get, None):
        sleep(delay)
        results.put(item)


def run(items, producer_delay=0, consumer_delay=0):
    q, results = multiprocessing.Queue(), multiprocessing.Queue()
    procs = [multiprocessing.Process(target=producer, args=(q, items, producer_delay)),
             multiprocessing.Process(target=consumer, args=(q, results, {consumer}))]
    for p in procs:
        p.start()
    procs[0].join()
    q.put(None)
    out = [results.get() for _ in items]
    procs[1].join()
    return out
"""


@pytest.mark.parametrize("method", METHODS)
def test_the_students_sleeps_and_puts_are_tallied_in_every_process(tmp_path, method):
    """Each time.sleep of the student's module, in the children of every start method, whether
    called as time.sleep or as an imported sleep, and each put on a multiprocessing queue; the
    kit's own sleeps and puts do not count."""
    out = check(tmp_path, SLEEPERS.format(consumer="consumer_delay"), method=method, budget=10.0,
                params={"items": [1, 2, 3, 4], "producer_delay": 0.01, "consumer_delay": 0.02})
    assert out.status == "returned" and out.value["value"] == [1, 2, 3, 4]
    assert out.value["slept"] == {"calls": 8, "seconds": pytest.approx(0.12)}
    # each process's puts, spread by its sleeps (the kit's own puts and the None from run() aside:
    # run() is the student's, so main's one put counts, with a span of 0)
    spans = {s["role"]: s for s in out.value["put_spans"]}
    assert set(spans) == {"producer", "consumer", "main"}
    assert spans["producer"]["puts"] == spans["consumer"]["puts"] == 4 and spans["main"]["puts"] == 1
    assert spans["producer"]["span"] >= 3 * 0.01 and spans["consumer"]["span"] >= 3 * 0.02
    assert spans["producer"]["own"] >= 3 * 0.01 and spans["consumer"]["own"] >= 3 * 0.02


LATE_CONSUMER = HEADER + """
import select


def producer(q, items, delay=0.0):
    for item in items:
        q.put(item)


def consumer(q, results, delay=0.0):
    for item in iter(q.get, None):
        select.select([], [], [], 0.05)  # kept off the CPU, as a loaded machine would keep it
        results.put(item)


def run(items, producer_delay=0, consumer_delay=0):
    q, results = multiprocessing.Queue(1), multiprocessing.Queue()
    procs = [multiprocessing.Process(target=producer, args=(q, items, producer_delay)),
             multiprocessing.Process(target=consumer, args=(q, results, consumer_delay))]
    for p in procs:
        p.start()
    procs[0].join()
    q.put(None)
    out = [results.get() for _ in items]
    procs[1].join()
    return out
"""


@pytest.mark.parametrize("method", METHODS)
def test_a_producers_waits_for_room_are_not_its_own_time(tmp_path, method):
    """A producer that never sleeps, on a queue of one beside a consumer that is slow in no way
    the kit tallies: its puts spread over the consumer's time, all of it spent waiting in put()."""
    out = check(tmp_path, LATE_CONSUMER, method=method, budget=10.0,
                params={"items": [1, 2, 3, 4, 5, 6], "producer_delay": 0.03})
    assert out.status == "returned" and out.value["value"] == [1, 2, 3, 4, 5, 6]
    producer = next(s for s in out.value["put_spans"] if s["role"] == "producer")
    assert producer["puts"] == 6 and producer["span"] >= 4 * 0.05
    assert producer["own"] < 0.5 * producer["span"]


def test_a_delay_not_passed_on_shows_as_sleeps_of_nothing(tmp_path):
    out = check(tmp_path, SLEEPERS.format(consumer="0.0"), method="fork", budget=10.0,
                params={"items": [1, 2, 3], "producer_delay": 0.0, "consumer_delay": 0.05})
    assert out.status == "returned"
    assert out.value["slept"] == {"calls": 6, "seconds": 0.0}


def test_the_students_module_runs_in_a_host_never_in_the_process_that_answers(tmp_path):
    """The driver's observer holds the answer channel and never imports the student's module: the
    module runs in a host, a child of the observer, which the registry names as "main"."""
    where = tmp_path / "imported.txt"
    out = check(tmp_path, HEADER + f"""
with open({str(where)!r}, "a") as log:
    log.write(f"{{os.getpid()}} {{os.getppid()}}\\n")

def run(items, producer_delay=0, consumer_delay=0):
    return list(items)
""")
    assert out.status == "returned", (out.status, out.error)
    hosts = [e for e in out.registry if e["kind"] == "host"]
    imports = [tuple(map(int, line.split())) for line in where.read_text().splitlines()]
    assert [pid for pid, _ in imports] == [h["pid"] for h in hosts], (imports, hosts)
    assert all(parent == hosts[0]["parent"] for _, parent in imports)


@POSIX_ONLY
def test_a_process_started_behind_multiprocessings_back_is_flagged(tmp_path):
    """os.fork() leaves no record: the harness sees a process the answer does not name, and flags
    the run for the instructor (only: a harness starved of the CPU must not fail right code)."""
    out = check(tmp_path, HEADER + """
def run(items, producer_delay=0, consumer_delay=0):
    pid = os.fork()
    if pid == 0:
        time.sleep(0.3)
        os._exit(0)
    os.waitpid(pid, 0)
    return list(items)
""")
    assert out.status == "returned", (out.status, out.error)
    assert any("does not name" in flag for flag in out.flags), out.flags


def test_an_observation_that_names_processes_nobody_started_is_inconsistent(tmp_path):
    """A module that replaces the kit's observation of run() with a perfect one, at import."""
    out = check(tmp_path, HEADER + """
import sys

def _perfect(ctx, *args, **kwargs):
    return {"value": [1, 2, 3], "processes": ["producer", "consumer"], "exitcodes": {}}

for name, module in list(sys.modules.items()):
    if name.startswith("grader.checking.scenarios") and hasattr(module, "_call_run"):
        module._call_run = _perfect

def run(items, producer_delay=0, consumer_delay=0):
    raise NotImplementedError
""")
    assert out.status == "inconsistent", (out.status, out.error)


def test_counts_of_calls_above_the_kits_records_are_inconsistent(tmp_path):
    """A module that makes the kit's counts of puts and gets in its own process say what it likes,
    beside processes that do nothing: the harness reads the kit's records after the answer."""
    out = check(tmp_path, HEADER + """
for module in list(sys.modules.values()):
    if hasattr(getattr(module, "Context", None), "put_spans"):  # the driver, run as __main__ too
        module.Context.put_spans = lambda ctx: [{"role": "producer", "puts": 6, "span": 0.0}]
        module.Context.gets = lambda ctx: {"consumer": 4, "main": 3}

def producer(q, items):
    pass

def consumer(q, results):
    pass

def run(items, producer_delay=0, consumer_delay=0):
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=producer, args=(q, items)),
             multiprocessing.Process(target=consumer, args=(q, q))]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return list(items)
""")
    assert out.status == "inconsistent", (out.status, out.error)
    assert "puts: 6 claimed, 0 recorded" in out.error["message"], out.error


@POSIX_ONLY
def test_a_second_reply_on_the_kits_channel_is_flagged(tmp_path):
    """A host's kit code replies once: a module that writes replies of its own on every pipe it
    holds (two at once, so that the second waits behind the first) is flagged for the instructor."""
    out = check(tmp_path, HEADER + """
import stat
import struct
from grader.checking import wire

def run(items, producer_delay=0, consumer_delay=0):
    frame = wire.encode({"status": "returned", "value": {"value": list(items)}})
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, 2 * (struct.pack("!i", len(frame)) + frame))
        except OSError:
            pass
    return list(items)
""")
    assert any("more after its reply" in flag for flag in out.flags), (out.status, out.flags)


def test_an_answer_on_its_way_is_seen_coming_before_it_has_all_come():
    """Once the driver has begun to answer, the student's part is over: the watch waits for the
    rest however slowly this process, busy with other checks, reads it (up to the overtime)."""
    from grader.checking import wire
    from grader.checking.harness import _Answer

    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as stream:
        answer = _Answer(stream, threading.Event())
        answer.start()
        try:
            frame = wire.encode({"status": "returned", "value": [1, 2, 3]})
            os.write(write_end, struct.pack("!Q", len(frame)))
            assert answer.coming.wait(timeout=30) and not answer.done.is_set()
            os.write(write_end, frame)
        finally:
            os.close(write_end)
        assert answer.done.wait(timeout=30) and not answer.problem


def test_the_kit_is_compiled_for_the_checks_but_never_its_hidden_checks(tmp_path):
    shutil.copytree(KIT_ROOT / "grader", tmp_path / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    compile_kit(tmp_path)
    made = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.pyc")}
    tag = sys.implementation.cache_tag
    assert {f"grader/checking/__pycache__/driver.{tag}.pyc",
            f"grader/checking/scenarios/__pycache__/common.{tag}.pyc"} <= made, sorted(made)
    assert not [name for name in made if "/hidden/" in name], "byte-code of the hidden checks was made"


def test_checks_started_together_compile_the_kit_once(tmp_path, monkeypatch):
    """The grader's runner starts several checks at once, each in a thread that calls compile_kit."""
    from grader.checking import harness

    calls, start = [], threading.Barrier(8)

    def compile_dir(*args, **kwargs):  # as slow as a real one: the other threads arrive meanwhile
        calls.append(args)
        threading.Event().wait(0.3)

    monkeypatch.setattr(harness.compileall, "compile_dir", compile_dir)

    def compile_together():
        start.wait(timeout=30)
        compile_kit(tmp_path)

    threads = [threading.Thread(target=compile_together) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(calls) == 1, f"compiled {len(calls)} times"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork server needs fork")
def test_a_forked_driver_runs_in_the_checks_folder_session_and_environment(tmp_path):
    facts = tmp_path / "facts.txt"
    out = check(tmp_path, HEADER + f"""
import json

def run(items, producer_delay=0, consumer_delay=0):
    driver = os.getppid()  # the student's main process is a child of the driver
    with open({str(facts)!r}, "w") as f:
        json.dump([os.getcwd(), os.environ.get("BAOZI_DUMP_DIR"), os.getsid(driver) == driver], f)
    return list(items)
""", method="fork")
    assert out.status == "returned", (out.status, out.error)
    cwd, dump_dir, session_of_its_own = json.loads(facts.read_text())
    assert dump_dir and Path(dump_dir).parent == Path(cwd), (cwd, dump_dir)
    assert session_of_its_own
    from grader.checking import zygote
    assert zygote._servers and all(server.alive for server in zygote._servers.values())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork server needs fork")
def test_a_harness_killed_during_a_check_leaves_none_of_its_processes_behind(tmp_path):
    """The harness ends a check's processes itself; one killed mid-check cannot, and its fork server
    then ends the sessions of the drivers it still runs: the student's processes go too."""
    pids = tmp_path / "pids.txt"
    module = tmp_path / "sentinel.py"
    module.write_text(textwrap.dedent(HEADER + f"""
def forever():
    time.sleep(3600)

def run(items, producer_delay=0, consumer_delay=0):
    p = multiprocessing.Process(target=forever)
    p.start()
    with open({str(pids)!r}, "w") as f:
        f.write(f"{{os.getpid()}} {{p.pid}}")
    p.join()
"""), encoding="utf-8")
    # The check's folder, which a killed harness cannot remove: a short one of the test's own.
    own_tmp = Path(tempfile.mkdtemp(prefix="baozi-test-"))
    harness = subprocess.Popen([sys.executable, "-c", f"""
from grader.checking.harness import run_check
run_check(module_file={str(module)!r}, module="sentinel", scenario="grader.checking.scenarios.ex03_sentinel:run_items",
          params={{"items": [1]}}, start_method="spawn", budget=60.0, action="run(items)")
"""], cwd=KIT_ROOT, env={**os.environ, "TMPDIR": str(own_tmp)})
    try:
        try:
            start = time.monotonic()
            while not (pids.exists() and len(pids.read_text().split()) == 2):
                assert time.monotonic() - start < 60 and harness.poll() is None, "the check never started"
                time.sleep(0.05)
            left = [psutil.Process(int(pid)) for pid in pids.read_text().split()]
        finally:
            harness.kill()
            harness.wait()
        gone, alive = psutil.wait_procs(left, timeout=30)
        assert not alive, f"still running after their harness was killed: {alive}"
        assert any(p.name.startswith("baozi-check-") for p in own_tmp.iterdir())  # the check ran there
    finally:
        shutil.rmtree(own_tmp, ignore_errors=True)


def test_checks_get_the_same_verdicts_from_a_driver_started_without_the_fork_server(tmp_path, monkeypatch):
    from grader.checking import zygote
    monkeypatch.setattr(zygote, "start_driver", lambda *args, **kwargs: None)
    out = check(tmp_path, HEADER + """
def run(items, producer_delay=0, consumer_delay=0):
    q = multiprocessing.Queue()
    return q.get()
""", method="spawn", budget=5.0)
    assert out.status == "hang" and out.deadlock
    out = check(tmp_path, HEADER + "\ndef run(items, producer_delay=0, consumer_delay=0):\n    return list(items)\n",
                method="spawn")
    assert out.status == "returned"


@POSIX_ONLY
def test_a_producer_waits_for_its_consumer_as_long_as_the_machine_holds_the_consumer_up(tmp_path, monkeypatch):
    """How long a consumer takes to reach its first queue call is the machine's doing: a producer
    that ends first waits for a reader still starting up past any fixed bound (START_MAX, shortened
    here), and for one that began its target past HOLD_MAX while it only waits for a CPU (stopped,
    here, as a starved process is runnable). It stops waiting for a reader that sleeps elsewhere,
    that used the CPU for something else, or that died starting up (a zombie not yet joined)."""
    from grader.checking import driver

    registry, dumps = tmp_path / "registry", tmp_path / "dumps"
    dumps.mkdir()
    monkeypatch.setattr(driver, "_registry", driver._Registry(str(registry)))
    monkeypatch.setenv(driver.DUMP_DIR_ENV, str(dumps))
    monkeypatch.setattr(driver, "START_MAX", 0.1)
    monkeypatch.setattr(driver, "HOLD_MAX", 0.1)
    began = "import os, signal, sys, time; open(os.path.join(sys.argv[2], f'{os.getpid()}.running'), 'w').close()"
    calls = "open(f'{sys.argv[1]}.used.{os.getpid()}', 'w').close(); time.sleep(30)"

    def wait_for(reader_code: str, until=None) -> subprocess.Popen:
        reader = subprocess.Popen([sys.executable, "-c", reader_code, str(registry), str(dumps)])
        try:
            start = time.monotonic()
            while until and not until(reader):
                assert time.monotonic() - start < 30, "the reader never got there"
                time.sleep(0.01)
            driver._await_first_call(reader.pid, time.monotonic())
            return reader
        finally:
            reader.kill()
            reader.wait()

    def used(reader) -> bool:
        return (tmp_path / f"registry.used.{reader.pid}").exists()

    def running(reader) -> bool:
        return (dumps / f"{reader.pid}.running").exists()

    slow_start = wait_for(f"import os, sys, time; time.sleep(1.0); {calls}")
    assert used(slow_start)

    # Stopped after it began, as a starved reader is held up: waited for until it goes on.
    reader = subprocess.Popen([sys.executable, "-c", f"{began}; os.kill(os.getpid(), signal.SIGSTOP); {calls}",
                               str(registry), str(dumps)])
    try:
        process, start = psutil.Process(reader.pid), time.monotonic()
        while process.status() != psutil.STATUS_STOPPED:
            assert time.monotonic() - start < 30, "the reader never stopped"
            time.sleep(0.01)
        waiting = threading.Thread(target=driver._await_first_call, args=(reader.pid, time.monotonic()))
        waiting.start()
        waiting.join(timeout=5 * driver.HOLD_MAX)
        assert waiting.is_alive(), "the producer stopped waiting for a reader that the machine holds up"
        os.kill(reader.pid, signal.SIGCONT)
        waiting.join(timeout=30)
        assert not waiting.is_alive() and used(reader)
    finally:
        reader.kill()
        reader.wait()

    asleep = wait_for(f"{began}; time.sleep(30)", until=running)
    assert not used(asleep)
    busy = wait_for(f"{began}\nwhile True: pass", until=running)
    assert not used(busy)
    wait_for("raise SystemExit(1)", until=lambda reader: driver._Reader(reader.pid).ended())


@POSIX_ONLY
def test_a_producer_does_not_wait_for_a_holder_whose_target_has_returned(tmp_path, monkeypatch):
    """A producer that had nothing to put returns at once, and stays a zombie until its starter
    joins it, which may be after the other producers have ended: as it ends, it says that it makes
    no queue call any more (driver._leave), and they do not wait for one. The holder here is
    stopped once it has said so: nothing else would end the wait (a stopped process is waited for,
    as a starved one is)."""
    from grader.checking import driver

    registry, dumps = tmp_path / "registry", tmp_path / "dumps"
    dumps.mkdir()
    monkeypatch.setattr(driver, "_registry", driver._Registry(str(registry)))
    monkeypatch.setenv(driver.DUMP_DIR_ENV, str(dumps))
    code = ("import os, signal, sys; sys.path.insert(0, sys.argv[3]); from grader.checking import driver; "
            "open(os.path.join(sys.argv[2], f'{os.getpid()}.running'), 'w').close(); "
            "driver._install_registry(sys.argv[1]); driver._leave(); os.kill(os.getpid(), signal.SIGSTOP)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(registry), str(dumps), str(KIT_ROOT)])
    waiting = threading.Thread(target=driver._await_first_call, args=(holder.pid, time.monotonic()))
    try:
        process, start = psutil.Process(holder.pid), time.monotonic()
        while process.status() != psutil.STATUS_STOPPED:
            assert holder.poll() is None and time.monotonic() - start < 30, "the holder never stopped"
            time.sleep(0.01)
        waiting.start()
        waiting.join(timeout=10 * driver.HOLD_MAX)
        assert not waiting.is_alive(), "the producer waited for a holder that had said it was leaving"
    finally:
        holder.kill()
        holder.wait()
        if waiting.ident is not None:
            waiting.join(timeout=30)


def test_the_environment_is_copied_whole_while_another_thread_changes_it(monkeypatch):
    """Checks run ahead in threads while pytest sets and deletes PYTEST_CURRENT_TEST for each test."""
    from grader.checking.harness import _environment

    monkeypatch.setenv("BAOZI_TOGGLED", "1")
    stop = threading.Event()

    def toggle():
        while not stop.is_set():
            os.environ["BAOZI_TOGGLED"] = "1"
            del os.environ["BAOZI_TOGGLED"]

    toggler = threading.Thread(target=toggle)
    toggler.start()
    try:
        copies = [_environment() for _ in range(20_000)]
    finally:
        stop.set()
        toggler.join()
    assert all("PATH" in copy for copy in copies)
