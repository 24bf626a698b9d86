"""A fork server of drivers: one interpreter that has imported ``grader.checking.driver`` forks a driver
for each check, instead of each check starting an interpreter and importing it again (POSIX). It also
imports what drivers import once they run (``PRELOAD``), so that no driver, host or fork child of a
check pays for it again.

The harness starts one server per process and set of interpreter settings (``Zygotes``) and talks to it
over a Unix socket pair: it sends a check's command line, folder, environment and user with the driver's
stdin, stdout and stderr attached, and gets the driver's pid back, then its exit status when it ends.
The server never runs a line of the student's code: its child closes everything but those three files,
takes the check's session, folder, environment and user, and only then runs ``grader.checking.driver``
as ``python -S -m grader.checking.driver`` would. Each message is one ``grader.checking.wire`` value, of
at most MAX_MESSAGE bytes, in one packet (SOCK_SEQPACKET).

Usable where ``fork`` is; the harness starts drivers with ``subprocess`` elsewhere, or when a server
cannot be had.
"""

from __future__ import annotations

import gc
import importlib
import os
import pkgutil
import runpy
import selectors
import signal
import socket
import subprocess
import sys
import threading
import warnings

from grader.checking import wire
from grader.checking.sitepaths import SITE_PATHS_ENV, site_paths

# What a driver imports as it runs a check, besides grader.checking.driver and the wire format (this
# module's own): its main's modules and every exercise's scenarios (grader.checking.scenarios.*). Not
# the libraries in site-packages (psutil, pika): every process of a check is forked from this server
# or from a fork of it, and a bigger server makes each of those forks dearer. Loading psutil and
# pika for every check cost a correct submission about 1 CPU-s more than it saved
# (bench/compare.py). The checks whose drivers import a library anyway get a server that has
# loaded it (start_driver).
PRELOAD = ("traceback", "grader.checking.plain", "grader.checking.infrastructure")
MAX_MESSAGE = 64 * 1024  # a request carries the check's environment; a bigger one is not forked
FDS = 3  # stdin, stdout, stderr of the driver
START_WAIT = 30.0  # seconds for the server to say a driver started


# -- the server ------------------------------------------------------------------------------------

def serve(sock: socket.socket, libraries: list[str] = ()) -> None:
    """Answer requests until the harness closes its end; reap every driver and say how it ended.
    `libraries`: what the drivers of this server import besides PRELOAD (start_driver)."""
    importlib.import_module("grader.checking.driver")  # what every driver needs, imported once here
    _preload(libraries)
    # Out of the collector's sight: a driver's collections then never walk (and so never copy) the
    # pages of what it shares with this server.
    gc.freeze()

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the loop through the pipe
    children: set[int] = set()
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj == wake_r:
                os.read(wake_r, 4096)
                continue
            try:
                data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, FDS)
            except OSError:
                data, fds = b"", []
            if not data:  # the harness has gone: whatever checks it left running, nobody will end
                _end_sessions(children)
                return
            _handle(wire.decode(data, MAX_MESSAGE), fds, sock, children, (wake_r, wake_w))
        _reap(sock, children)


def _preload(libraries: list[str]) -> None:
    """Import PRELOAD, every scenario module, then `libraries` (from site-packages: put back on the
    path first). The server runs none of their code but their imports: a scenario module only
    defines its scenarios."""
    scenarios = importlib.import_module("grader.checking.scenarios")
    names = [*PRELOAD, *(f"{scenarios.__name__}.{module.name}" for module in pkgutil.iter_modules(scenarios.__path__))]
    if libraries:
        names += ["grader.checking.sitepaths", *libraries]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _handle(message: dict, fds: list[int], sock, children: set[int], own_fds) -> None:
    if "kill" in message:  # only a child not yet reaped: its pid cannot have been reused
        if message["kill"] in children:
            os.kill(message["kill"], signal.SIGKILL)
        return
    pid = os.fork()
    if pid == 0:
        _become_driver(message, fds, sock, own_fds)
    for fd in fds:
        os.close(fd)
    children.add(pid)
    sock.send(wire.encode({"started": message["id"], "pid": pid}))


def _end_sessions(children: set[int]) -> None:
    """Kill every process of the sessions of the drivers not yet reaped (each driver leads its own:
    _become_driver). A harness ends its checks' processes itself; one that was killed cannot, and
    they would run on. Only unreaped drivers: their pids, and so their sessions' ids, are still
    this server's and cannot have been reused."""
    for pid in children:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def _reap(sock, children: set[int]) -> None:
    for pid in list(children):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done, status = pid, 0
        if done:
            children.discard(pid)
            sock.send(wire.encode({"ended": pid, "returncode": os.waitstatus_to_exitcode(status)}))


def _become_driver(message: dict, fds: list[int], sock, own_fds) -> None:
    """In the forked child: become ``python -S -m grader.checking.driver ARGS`` run in the check's folder,
    session, environment and user. Never returns."""
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sock.close()
        for fd in own_fds:
            os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(FDS, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024)
        os.setsid()
        os.chdir(message["cwd"])
        user = message.get("user")
        if user is not None:
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])
        os.environ.clear()
        os.environ.update(message["env"])
        # As `-m` does: the folder it was started in first on the path.
        sys.path[0] = message["cwd"]
        sys.argv = ["-m", *message["args"]]
        # The server imported grader.checking.driver on purpose (what a driver imports, it imports once);
        # runpy warns that it runs a module already imported, into the check's stderr, which the
        # student's reports quote. That one warning is expected here, and only it is silenced.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="'grader.checking.driver' found in sys.modules",
                                    category=RuntimeWarning)
            runpy.run_module("grader.checking.driver", run_name="__main__", alter_sys=True)
    except BaseException:  # noqa: BLE001 (the driver could not start: the harness sees exit 70)
        os._exit(70)
    os._exit(0)


# -- the harness's side ----------------------------------------------------------------------------

class Driver:
    """A driver forked by the server, used as the harness uses a ``subprocess.Popen``: pid, stdin,
    stdout, poll(), wait() and kill()."""

    def __init__(self, server: "Server", pid: int, stdin, stdout):
        self.server, self.pid, self.stdin, self.stdout = server, pid, stdin, stdout
        self.returncode: int | None = None
        self.ended = threading.Event()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self.ended.wait(timeout):
            raise subprocess.TimeoutExpired(f"driver {self.pid}", timeout)
        return self.returncode

    def kill(self) -> None:
        if not self.ended.is_set():
            self.server.send({"kill": self.pid})


class Server:
    """One fork server and the thread that reads what it says. If it dies, its drivers count as
    ended by SIGKILL (they were: psutil no longer sees them, or the harness kills them)."""

    def __init__(self, env: dict, libraries: tuple[str, ...] = ()):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        if libraries:  # they lie in site-packages, which -S leaves out (grader.checking.sitepaths)
            env = {**env, SITE_PATHS_ENV: os.pathsep.join(site_paths())}
        self.process = subprocess.Popen(
            [sys.executable, "-S", "-m", "grader.checking.zygote", str(theirs.fileno()), *libraries],
            pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            start_new_session=True)
        theirs.close()
        self.lock = threading.Lock()  # one request at a time: its reply names it
        self.drivers: dict[int, Driver] = {}
        self.starts: dict[int, list] = {}  # request id -> [Event, pid]
        self.early: dict[int, int] = {}  # pid -> exit status, for a driver that ended before start() returned
        self.abandoned: set[int] = set()  # requests answered too late: their drivers are killed
        self.next_id = 0
        self.alive = True
        threading.Thread(target=self._read, daemon=True, name="baozi-zygote").start()

    def send(self, message: dict, fds: list[int] = ()) -> None:
        socket.send_fds(self.sock, [wire.encode(message)], list(fds))

    def start(self, args: list[str], *, cwd, env: dict, user, stderr) -> Driver | None:
        """Fork a driver, or None (the request is too big, or the server is gone)."""
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        try:
            with self.lock:
                self.next_id += 1
                ident = self.next_id
                request = wire.encode({"id": ident, "args": args, "cwd": str(cwd), "env": env,
                                       "user": list(user) if user else None})
                if len(request) > MAX_MESSAGE or not self.alive:
                    return None
                waiting = self.starts[ident] = [threading.Event(), None]
                socket.send_fds(self.sock, [request], [stdin_r, stdout_w, stderr.fileno()])
            if not waiting[0].wait(START_WAIT):
                with self.lock:
                    if self.starts.pop(ident, None) is not None:
                        self.abandoned.add(ident)  # its driver is killed as soon as the server names it
            if waiting[1] is None:
                return None
            driver = Driver(self, waiting[1], os.fdopen(stdin_w, "wb"), os.fdopen(stdout_r, "rb"))
            stdin_w = stdout_r = None
            with self.lock:
                self.drivers[driver.pid] = driver
                ended = self.early.pop(driver.pid, None)
            if ended is not None:
                self._end(driver, ended)
            return driver
        except OSError:
            self.alive = False
            return None
        finally:
            for fd in (stdin_r, stdout_w, stdin_w, stdout_r):
                if fd is not None:
                    os.close(fd)

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(MAX_MESSAGE)
                message = wire.decode(data, MAX_MESSAGE) if data else None
            except (OSError, wire.WireError):
                message = None
            if not isinstance(message, dict):
                break
            with self.lock:
                if "started" in message:
                    waiting = self.starts.pop(message["started"], None)
                    if waiting is not None:
                        waiting[1] = message["pid"]
                        waiting[0].set()
                    elif message["started"] in self.abandoned:  # its check went on without it
                        self.abandoned.discard(message["started"])
                        self.send({"kill": message["pid"]})
                    continue
                driver = self.drivers.pop(message.get("ended"), None)
                if driver is None:
                    self.early[message["ended"]] = message["returncode"]
                    continue
            self._end(driver, message["returncode"])
        with self.lock:
            self.alive = False
            for waiting in self.starts.values():
                waiting[0].set()
            left, self.drivers = list(self.drivers.values()), {}
        for driver in left:
            self._end(driver, -signal.SIGKILL)

    @staticmethod
    def _end(driver: Driver, returncode: int) -> None:
        driver.returncode = returncode
        driver.ended.set()


_servers: dict[tuple, Server] = {}
_servers_lock = threading.Lock()


def start_driver(args: list[str], *, cwd, env: dict, user, stderr, libraries: tuple[str, ...] = ()) -> Driver | None:
    """A driver forked by this process's server for these interpreter settings and `libraries` (a
    check's scenario module says which it imports: DRIVER_LIBRARIES), started on first use; or None
    where none can be had: the caller starts one with subprocess instead. The checks that need no
    library get a server without them, as small as it can be: every fork of theirs copies it."""
    if not hasattr(os, "fork") or not hasattr(socket, "send_fds"):
        return None
    startup = {k: v for k, v in env.items() if k.startswith("PYTHON")}  # they shape the interpreter
    key = (sys.executable, tuple(sorted(startup.items())), tuple(libraries))
    with _servers_lock:
        server = _servers.get(key)
        if server is None or not server.alive:
            try:
                server = _servers[key] = Server({k: v for k, v in env.items() if not k.startswith("BAOZI_")},
                                                tuple(libraries))
            except OSError:
                return None
    return server.start(args, cwd=cwd, env=env, user=user, stderr=stderr)


def main() -> None:
    try:
        serve(socket.socket(fileno=int(sys.argv[1])), sys.argv[2:])
    except (OSError, wire.WireError):
        pass  # the harness went away, or spoke out of turn: nothing to serve


if __name__ == "__main__":
    main()
