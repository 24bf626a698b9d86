"""A private RabbitMQ node for tests that must stop and restart a broker.

The machine's broker (localhost:5672) is shared: other test runs use it, so no test may stop it.
``PrivateBroker`` runs a node of its own from Debian's ``rabbitmq-server`` scripts, with everything
of its own under one folder:

- its own node name (``baozi-test-<random>@localhost``), AMQP port and distribution port (free ports
  picked in 20000-30000: below Linux's ephemeral range, where RabbitMQ's CLI tools take 35672-35682);
- its own data (``RABBITMQ_MNESIA_BASE``), logs, config file (no plugins, guest allowed), pid file,
  and ``HOME`` (so its Erlang cookie is its own, shared with the ``rabbitmqctl`` calls made here);
- started in a session of its own; ``stop()`` asks ``rabbitmqctl stop`` and then kills, by pid,
  whatever is still alive in that session (and only there). ``restart()`` keeps the data: durable
  queues and persistent messages survive, as after a real broker restart;
- watched by a ``Watchdog``: if the test run dies before ``close()`` (killed, or a crash that skips
  its finalisers), the node and its epmd die with it.

The node registers with the machine's epmd when one runs (it does while the system broker runs);
otherwise the helper runs an epmd of its own in the foreground and ends it in ``close()``.

Usage::

    with PrivateBroker(tmp_path / "broker") as broker:
        broker.url            # amqp://guest:guest@127.0.0.1:<port>/%2F
        broker.restart()

``PrivateBroker.unavailable()`` says why a private node cannot run here (None if it can).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil

RABBITMQ_BIN = Path(os.environ.get("BAOZI_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
START_TIMEOUT = 120.0  # seconds for a node to boot on a busy machine
STOP_TIMEOUT = 60.0
EPMD_PORT = 4369


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _free_ports() -> tuple[int, int]:
    for _ in range(200):
        port = random.randrange(20000, 29990, 2)
        if port != 25672 and _port_free(port) and _port_free(port + 1):
            return port, port + 1
    raise RuntimeError("no two free ports in 20000-30000")


WATCHDOG = """
import os, sys
import psutil
sessions, pids = set(), set()
for line in sys.stdin:
    kind, _, number = line.strip().partition(" ")
    if kind == "done":
        sessions.clear()
        pids.clear()
    elif kind in ("session", "pid") and number.isdigit():
        (sessions if kind == "session" else pids).add(int(number))
for proc in psutil.process_iter():
    try:
        if proc.pid != os.getpid() and (proc.pid in pids or os.getsid(proc.pid) in sessions):
            proc.kill()
    except (OSError, psutil.Error):
        pass
"""


class Watchdog:
    """A process that outlives the test run only long enough to end what the run left behind.

    It reads what to guard from a pipe whose writing end only this process holds ("session <sid>":
    every process of that session; "pid <pid>"; "done": nothing any more). The pipe reaches its
    end when this process ends, however it ends: the watchdog then kills, by pid, whatever it still
    guards, and exits. It runs in a session of its own, so that a Ctrl-C does not end it first."""

    def __init__(self):
        self._process = subprocess.Popen([sys.executable, "-c", WATCHDOG], stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, start_new_session=True, text=True)

    def guard(self, kind: str, number: int) -> None:
        self._say(f"{kind} {number}")

    def close(self) -> None:
        """Nothing is left to guard: the watchdog ends without killing anything."""
        self._say("done")
        self._process.stdin.close()
        self._process.wait(timeout=30)

    def _say(self, line: str) -> None:
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()


class PrivateBroker:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.node = f"baozi-test-{uuid.uuid4().hex[:8]}@localhost"
        self.port, self.dist_port = _free_ports()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"
        self._server: subprocess.Popen | None = None
        self._epmd: subprocess.Popen | None = None
        self._sessions: list[int] = []  # session ids of every node started (= the server's pid)
        self._watchdog: Watchdog | None = None
        for folder in ("home", "mnesia", "log"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users = none\n")
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("")

    @staticmethod
    def unavailable() -> str | None:
        for tool in ("rabbitmq-server", "rabbitmqctl"):
            if not (RABBITMQ_BIN / tool).is_file():
                return f"{RABBITMQ_BIN / tool} is missing (Debian: apt-get install rabbitmq-server)"
        if shutil.which("erl") is None:
            return "erl is not on PATH"
        return None

    def env(self) -> dict:
        env = dict(os.environ)
        env.update({
            "HOME": str(self.root / "home"),  # the node's and its CLI calls' Erlang cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),  # none
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.root / "node.pid"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.root / "plugins-expand"),
        })
        env.pop("RABBITMQ_NODE_PORT", None)  # the listener comes from the config file only
        if _listening(EPMD_PORT):
            env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-start_epmd false"  # never a daemon epmd
        return env

    def _ctl(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run([str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *args],
                              env=self.env(), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def start(self) -> None:
        if not _listening(EPMD_PORT) and self._epmd is None:
            epmd = shutil.which("epmd") or "epmd"
            self._epmd = subprocess.Popen([epmd, "-port", str(EPMD_PORT)], stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True)
            self._watched().guard("pid", self._epmd.pid)
            deadline = time.monotonic() + 10
            while not _listening(EPMD_PORT) and self._epmd.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)  # polling a condition, with a deadline
        (self.root / "node.pid").unlink(missing_ok=True)
        log = open(self.root / "server.out", "ab")
        self._server = subprocess.Popen([str(RABBITMQ_BIN / "rabbitmq-server")], env=self.env(),
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        self._sessions.append(self._server.pid)
        self._watched().guard("session", self._server.pid)
        # `rabbitmqctl wait PIDFILE` waits for the pid file, then for the node to be fully booted.
        done = self._ctl("wait", "--timeout", str(int(START_TIMEOUT)), str(self.root / "node.pid"),
                         timeout=START_TIMEOUT + 30)
        if done.returncode != 0:
            tail = (self.root / "server.out").read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"the private RabbitMQ node did not start: {done.stdout}{done.stderr}\n{tail}")

    def stop(self) -> None:
        """Stop the node (its data stays); whatever it left running is killed by pid."""
        if self._server is None:
            return
        if self._server.poll() is None:
            try:
                self._ctl("stop", str(self.root / "node.pid"), timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            try:
                self._server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._kill_sessions()
        self._server.wait(timeout=10)
        self._server = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def pids(self) -> list[int]:
        """Every process still alive that this helper started (the nodes' sessions, its epmd)."""
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getsid(proc.pid) in self._sessions and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc.pid)
            except (OSError, psutil.Error):
                continue
        if self._epmd is not None and self._epmd.poll() is None:
            found.append(self._epmd.pid)
        return found

    def _kill_sessions(self) -> None:
        for pid in self.pids():
            if self._epmd is not None and pid == self._epmd.pid:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        self.stop()
        if self._epmd is not None:
            self._epmd.kill()
            self._epmd.wait(timeout=10)
            self._epmd = None
        if self._watchdog is not None:
            self._watchdog.close()
            self._watchdog = None

    def _watched(self) -> Watchdog:
        if self._watchdog is None:
            self._watchdog = Watchdog()
        return self._watchdog

    def __enter__(self) -> "PrivateBroker":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
