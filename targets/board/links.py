"""Transports for the protocol client: raw bytes out, one raw line in (noise included).
SerialLink is a serial port (pyserial), SubprocessLink a process on stdin/stdout (fw_host);
targets.board.dut_link.DutLink is pytest-embedded's dut."""
from __future__ import annotations

import collections
import os
import queue
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol


class Link(Protocol):
    """A transport: raw bytes out, one raw line in (noise included)."""

    def write(self, data: bytes) -> None: ...

    def readline(self, timeout: float) -> bytes | None: ...  # None on timeout


class _LineSplitter:
    """Turns a byte stream into lines; a partial line waits for its newline."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        lines: list[bytes] = []
        while True:
            at = self._buf.find(b"\n")
            if at < 0:
                return lines
            lines.append(bytes(self._buf[:at + 1]))
            del self._buf[:at + 1]


class SubprocessLink:
    """A Link to a process speaking the protocol on stdin/stdout (fw_host, the virtual
    board's engine). EOFError once the process has exited and its output is drained."""

    def __init__(self, argv: Sequence[str], *, cwd: str | os.PathLike[str] | None = None,
                 env: dict[str, str] | None = None, stderr: Any = subprocess.DEVNULL) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=stderr, cwd=cwd, env=env, bufsize=0)
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._eof = False
        self._reader = threading.Thread(target=self._pump, name=f"link:{self.argv[0]}", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        splitter = _LineSplitter()
        fd = self.proc.stdout.fileno()
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            for line in splitter.feed(data):
                self._lines.put(line)
        self._lines.put(None)

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def readline(self, timeout: float) -> bytes | None:
        if self._eof:
            raise EOFError(f"{self.argv[0]} exited with code {self.proc.poll()}")
        try:
            line = self._lines.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        if line is None:
            self._eof = True
            raise EOFError(f"{self.argv[0]} exited with code {self.proc.wait()}")
        return line

    def close(self, timeout: float = 5.0) -> int | None:
        """Closes stdin (the process exits on EOF), waits, kills if it must."""
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=timeout)
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> SubprocessLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialLink:
    """A Link over a serial port (pyserial); the port stays open until close()."""

    def __init__(self, port: str, baud: int = 115200, *, exclusive: bool = True) -> None:
        import serial  # pyserial; imported here so hosts without ports need not load it

        self.port = port
        self.baud = baud
        # DTR/RTS drive EN and GPIO0 on most devkits: keep them released, or opening the
        # port would hold the chip in reset (what idf.py monitor does too).
        self.serial = serial.Serial()
        self.serial.port = port
        self.serial.baudrate = baud
        self.serial.timeout = 0.05
        self.serial.dtr = False
        self.serial.rts = False
        self.serial.exclusive = exclusive
        self.serial.open()
        self._splitter = _LineSplitter()
        self._ready: collections.deque[bytes] = collections.deque()

    def write(self, data: bytes) -> None:
        self.serial.write(data)
        self.serial.flush()

    def readline(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while not self._ready:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.serial.timeout = min(remaining, 0.1)
            data = self.serial.read(max(1, self.serial.in_waiting))
            if data:
                self._ready.extend(self._splitter.feed(data))
        return self._ready.popleft()

    def close(self) -> None:
        self.serial.close()

    def __enter__(self) -> SerialLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
