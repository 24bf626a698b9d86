"""The byte relay that carries exercise 7's broker connection into the sandbox (grader.grading.relay)."""

from __future__ import annotations

import socket
import threading

import pytest

from grader.grading import relay

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="the relay listens on a Unix socket")


@pytest.fixture
def echo():
    """A TCP server on 127.0.0.1 that sends back what it gets, one connection at a time."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join(timeout=10)


def test_bytes_go_both_ways_through_both_relays_and_close_ends_their_threads(tmp_path, echo):
    out = relay.outside(tmp_path / "broker.sock", f"amqp://guest:guest@127.0.0.1:{echo}/%2F")
    into, port = relay.inside(str(tmp_path / "broker.sock"))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall("包子 🥟".encode())
            got = b""
            while len(got) < len("包子 🥟".encode()):
                got += client.recv(4096)
        assert got.decode() == "包子 🥟"
    finally:
        into.close()
        out.close()
    # close() wakes the thread that waits in accept(); it ended, it did not outlive its join
    assert not into._thread.is_alive() and not out._thread.is_alive()
