"""A byte relay that lets sandboxed code reach the RabbitMQ broker, and nothing else.

The grader's bubblewrap sandbox has a network namespace of its own: no interface but its own
loopback, so nothing inside can reach the machine's network. Exercise 7 needs the broker, so two
relays carry that one connection across, through a Unix socket in the submission's folder (the one
thing both sides see):

    student code -> 127.0.0.1:PORT (inside) -> broker.sock -> grader (outside) -> broker host:port

The inside relay runs in ``grader.grading.runner`` (which runs no student code); the outside one in the
grading process. Each connection gets two pump threads; a cap on connections at once and on bytes
in all keeps a flood from reaching the broker.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SOCKET_ENV = "BAOZI_BROKER_SOCKET"  # where the inside relay finds the outside one
MAX_CONNECTIONS = 64  # at once, per submission: a check opens a handful
MAX_BYTES = 256 * 1024**2  # in all, both ways, per submission
CHUNK = 64 * 1024


class Relay:
    """Accepts on `listener` and joins each connection to a new one made by `connect`."""

    def __init__(self, listener: socket.socket, connect, *, max_connections: int = MAX_CONNECTIONS,
                 max_bytes: int = MAX_BYTES, name: str = "relay"):
        self.listener = listener
        self.connect = connect
        self.max_connections = max_connections
        self.budget = max_bytes
        self.name = name
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        self.refused = 0  # connections turned away (too many at once, or the target did not answer)
        self._thread = threading.Thread(target=self._accept, daemon=True, name=name)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            with self._lock:
                full = len(self._open) >= 2 * self.max_connections or self.budget <= 0
            if full:
                self.refused += 1
                client.close()
                continue
            try:
                upstream = self.connect()
            except OSError:
                self.refused += 1
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True,
                                 name=f"{self.name}-pump").start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    break
                with self._lock:
                    self.budget -= len(data)
                    over = self.budget < 0
                if over:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(source, target)

    def _drop(self, *socks: socket.socket) -> None:
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
            with self._lock:
                self._open.discard(sock)

    def close(self) -> None:
        self._closed.set()
        try:
            # Closing alone does not wake the thread blocked in accept() (Linux): it waited out the
            # join's timeout, two seconds added to every submission graded with the relay.
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.listener.close()
        except OSError:
            pass
        with self._lock:
            socks = list(self._open)
        self._drop(*socks)
        self._thread.join(timeout=2.0)


def outside(path: Path, broker_url: str) -> Relay:
    """Listen on the Unix socket `path` (root only) and relay to the broker of `broker_url`."""
    parts = urlsplit(broker_url)
    address = (parts.hostname or "localhost", parts.port or 5672)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    path.chmod(0o600)  # only the runner (root in the sandbox) connects; student code goes through it
    listener.listen(16)
    return Relay(listener, lambda: socket.create_connection(address, timeout=10), name="broker-relay-out")


def inside(path: str) -> tuple[Relay, int]:
    """Listen on 127.0.0.1 (an ephemeral port) inside the sandbox and relay to the Unix socket."""

    def connect() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        return sock

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return Relay(listener, connect, name="broker-relay-in"), listener.getsockname()[1]


def url_via(broker_url: str, port: int) -> str:
    """`broker_url` with its host and port replaced by 127.0.0.1:`port` (credentials and vhost kept)."""
    parts = urlsplit(broker_url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
