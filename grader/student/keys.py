"""One key at a time from the terminal, without Enter, on POSIX terminals and on Windows consoles.

A thread reads the keys and hands each to a callback; the terminal is put back as it was when the
reader closes (and on Ctrl-C, which still interrupts: only echo and line buffering are turned off).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Callable


class KeyReader:
    def __init__(self, on_key: Callable[[str], None]):
        self._on_key = on_key
        self._saved = None
        self._thread = threading.Thread(target=self._read, name="baozi-keys", daemon=True)

    def __enter__(self) -> KeyReader:
        if os.name != "nt" and sys.stdin.isatty():
            import termios
            import tty

            self._saved = termios.tcgetattr(sys.stdin.fileno())
            tty.setcbreak(sys.stdin.fileno())  # keys one by one, no echo; Ctrl-C still interrupts
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None

    def _read(self) -> None:
        while True:
            key = self._next()
            if key is None:
                return
            self._on_key(key)

    def _next(self) -> str | None:
        if os.name == "nt":
            import msvcrt

            key = msvcrt.getwch()
            if key in ("\x00", "\xe0"):  # a function or arrow key: its second half, then nothing
                msvcrt.getwch()
                return ""
            return key
        try:
            data = os.read(sys.stdin.fileno(), 1)
        except OSError:
            return None
        return data.decode("utf-8", "replace") if data else None
