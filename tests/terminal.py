"""The real program in a real pseudo-terminal, read through a terminal emulator (pyte).

What a user sees is what the program wrote to its terminal, after the emulator has drawn it: so a key is
"done" when its effect is on the emulated screen, not when the app's message queue says so. Used by the
pty tests and by the real-terminal benchmarks (`bench/replay.py`, `bench/ui_flood.py`).

A reader thread drains the pty as fast as the program writes and stamps each chunk with its arrival
time; the emulator parses the chunks afterwards. Latencies are measured to the arrival of the chunk that
made the change visible, so they don't include pyte's own parsing (pure Python, ~100 ms for a full
160×45 frame, where a real terminal takes well under a millisecond).
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import pyte

KEYS = {
    "left": "\x1b[D",
    "right": "\x1b[C",
    "up": "\x1b[A",
    "down": "\x1b[B",
    "home": "\x1b[H",
    "end": "\x1b[F",
    "escape": "\x1b",
    "enter": "\r",
    "space": " ",
    "tab": "\t",
}
SYNC_END = b"\x1b[?2026l"  # Textual wraps each frame in a synchronized update: this ends one


class Terminal:
    """`intern-tui …` (or any argv) running on a pty of `cols` × `rows`."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cols: int = 160,
        rows: int = 45,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ):
        self.cols, self.rows = cols, rows
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {
            **os.environ,
            **(env or {}),
            "TERM": "xterm-256color",
            "COLUMNS": str(cols),
            "LINES": str(rows),
        }
        full_env.pop("TEXTUAL", None)  # no devtools
        self.proc = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.fd = master
        self.frames = 0  # synchronized-update frames received
        self.bytes = 0
        self._chunks: deque[tuple[float, bytes]] = deque()
        self._arrived = threading.Event()
        self._closed = False
        self.last_change = time.perf_counter()  # arrival time of the last chunk fed to the emulator
        self._reader = threading.Thread(target=self._read, name="pty-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except OSError:  # the program exited and the pty closed
                data = b""
            if not data:
                self._closed = True
                self._arrived.set()
                return
            self._chunks.append((time.perf_counter(), data))
            self._arrived.set()

    # -- reading ----------------------------------------------------------------------------------------

    def _feed_one(self) -> bool:
        try:
            stamp, data = self._chunks.popleft()
        except IndexError:
            return False
        self.bytes += len(data)
        self.frames += data.count(SYNC_END)
        self.stream.feed(data)
        self.last_change = stamp
        return True

    def pump(self, timeout: float) -> bool:
        """Feed whatever the program writes within `timeout` s to the emulator; True if anything came."""
        self._wait_output(max(0.0, timeout))
        got = False
        while self._feed_one():
            got = True
        return got

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> float:
        """Feed the emulator until `predicate(screen text)` holds; returns the seconds from the call to the
        arrival of the output that made it hold. AssertionError (with the screen) on timeout."""
        start = time.perf_counter()
        deadline = start + timeout
        if predicate(self.text()):
            return 0.0
        while True:
            while self._feed_one():  # chunk by chunk: the first one that makes it true is the answer
                if predicate(self.text()):
                    return max(0.0, self.last_change - start)
            if time.perf_counter() > deadline:
                raise AssertionError(f"timed out after {timeout:g} s; the screen shows:\n{self.text()}")
            if self._closed and not self._chunks:
                self.proc.wait(5)
                raise AssertionError(
                    f"the program exited ({self.proc.returncode}); last screen:\n{self.text()}"
                )
            self._wait_output(0.05)

    def _wait_output(self, timeout: float) -> None:
        if not self._chunks:
            self._arrived.clear()
            if not self._chunks and not self._closed:
                self._arrived.wait(timeout)

    def wait_for_text(self, needle: str, timeout: float = 30.0) -> float:
        return self.wait_for(lambda screen: needle in screen, timeout)

    def settle(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Feed the emulator until the program has written nothing for `quiet` seconds."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.pump(quiet)
            if not self._chunks and time.perf_counter() - self.last_change >= quiet:
                return

    # -- writing ----------------------------------------------------------------------------------------

    def press(self, key: str) -> None:
        os.write(self.fd, KEYS.get(key, key).encode())

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def key_to_screen(self, key: str, predicate: Callable[[str], bool], timeout: float = 10.0) -> float:
        """Press `key` and return the seconds until `predicate(screen)` holds: key to visible change."""
        self.press(key)
        return self.wait_for(predicate, timeout)

    # -- lifetime ---------------------------------------------------------------------------------------

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for the program to exit (the reader keeps draining its output meanwhile)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.pump(0.1)
            raise AssertionError(
                f"still running after {timeout:g} s; the screen shows:\n{self.text()}"
            ) from None

    def close(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        try:
            os.close(self.fd)
        except OSError:
            pass
        return self.proc.returncode

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def intern_tui(*args: str) -> list[str]:
    """argv that runs this checkout's intern-tui with this Python."""
    return [sys.executable, "-m", "intern_tui", *args]
