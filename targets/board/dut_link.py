"""A protocol Link over pytest-embedded's `dut`: the HIL suite talks to boards only through
pytest-embedded (its serial port handling, flashing, logs), never by opening a port itself.

Reading goes through `dut.expect` with a regex that matches protocol replies and the
panic/reset markers of the failure vocabulary; everything else the board prints (boot
logs, ESP-IDF log lines, garbage) is skipped here but stays in the DUT's log file, which
pytest-embedded keeps per test.
"""
from __future__ import annotations

import re
from typing import Any

import pexpect

from targets.board.protocol_words import PANIC_MARKERS, REPLY_PREFIX

# A reply line, or a line carrying a panic/reset marker (the protocol vocabulary's words).
LINE_PATTERN = re.compile(
    rb"(" + re.escape(REPLY_PREFIX.encode()) + rb"[^\r\n]*|[^\r\n]*(?:"
    + b"|".join(re.escape(m.encode()) for m in PANIC_MARKERS) + rb")[^\r\n]*)\r?\n")


class DutLink:
    """`write(bytes)` / `readline(timeout) -> bytes | None` over a pytest-embedded Dut."""

    def __init__(self, dut: Any) -> None:
        self.dut = dut

    @property
    def logfile(self) -> str:
        return str(getattr(self.dut, "logfile", ""))

    def write(self, data: bytes) -> None:
        self.dut.write(bytes(data))  # bytes pass unchanged: no newline added for bytes

    def readline(self, timeout: float) -> bytes | None:
        """The next reply or marker line (with its newline), or None after `timeout` s."""
        try:
            match = self.dut.expect(LINE_PATTERN, timeout=max(timeout, 0.0))
        except pexpect.TIMEOUT:
            self._check_port()
            return None
        except pexpect.EOF:
            raise OSError(f"the DUT's output stream ended (log: {self.logfile})") from None
        return match.group(1) + b"\n"

    def _check_port(self) -> None:
        """pytest-embedded's reader thread exits when the port vanishes; say so instead of
        letting the host wait for replies that cannot come."""
        serial = getattr(self.dut, "serial", None)
        if serial is None:
            return
        proc = getattr(serial, "proc", None)
        thread = getattr(serial, "_redirect_thread", None)  # pytest-embedded internals
        if proc is not None and not getattr(proc, "is_open", True):
            raise OSError(f"serial port {getattr(serial, 'port', '?')} is closed")
        if thread is not None and not thread.is_alive():
            raise OSError(f"serial port {getattr(serial, 'port', '?')} disappeared "
                          f"(pytest-embedded's reader stopped; log: {self.logfile})")

    def close(self) -> None:
        """The DUT belongs to pytest-embedded, which closes it."""
