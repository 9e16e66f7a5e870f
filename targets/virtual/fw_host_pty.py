"""The firmware's own binary as a virtual board: fw_host (built with the TFLM engine) served
on a pseudo-terminal, so `pytest -m hil --virtual --virtual-engine=fw-tflm` drives the
firmware's C++ (core, dispatch, main/tflm_engine.cc on TFLite Micro's reference kernels)
through pytest-embedded's serial DUT, exactly as it drives a board.

No byte-copying bridge: the binary's stdin and stdout *are* the pty master (fw_host's
StdioPort polls and reads stdin, writes stdout), and the host opens the slave path as it
opens /dev/ttyUSB0. This object keeps its own slave descriptor open, so the binary never
sees EOF between a test closing the port and the next opening it. A hardware reset (what
DTR/RTS does to a board) ends the process and starts a fresh one on the same pty: bytes in
flight are lost and a new boot banner with a new nonce follows, as on a chip.

Emulated, and the banner says so: platform "host (TFLM reference kernels)", timings from the
host's clock. Faults cannot be armed at run time (`arm` raises); the Python virtual board
(targets.virtual.pty_server) does that.
"""
from __future__ import annotations

import os
import subprocess
import termios
import time
import tty
from pathlib import Path

from targets.virtual.pty_server import end_process
from targets.virtual.state_machine import DEFAULT_ARENA_CAPACITY

#: What `--virtual-engine` accepts: the Python virtual board, or the firmware binary.
VIRTUAL_ENGINES = ("python", "fw-tflm")
TFLM_SOURCE_ENV = "TFLM_SOURCE_DIR"
NOT_BUILT_REASON = "TFLM_SOURCE_DIR not set: the firmware's TFLM engine was not built"


def tflm_source_dir() -> Path | None:
    """$TFLM_SOURCE_DIR (an esp-tflite-micro checkout), or None when unset or empty."""
    value = os.environ.get(TFLM_SOURCE_ENV, "").strip()
    return Path(value).expanduser().resolve() if value else None


class FwHostPtyProcess:
    """fw_host on a pty: `.port` is the slave path, `.hard_reset()` restarts the binary,
    `.stop()` ends it. Same surface as targets.virtual.pty_server.PtyServerProcess."""

    def __init__(self, binary: Path, target: str, *, arena: int = DEFAULT_ARENA_CAPACITY,
                 extra_args: list[str] | None = None, log_path: Path | None = None) -> None:
        self.binary, self.target, self.log_path = Path(binary), target, log_path
        # Same arena as the Python virtual board, so both engines accept the same models.
        self.argv = [str(self.binary), "--target", target, "--arena", str(arena), *(extra_args or [])]
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation: bytes pass as on a UART
        self.port = os.ttyname(self._slave)
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        log_file = open(self.log_path, "ab") if self.log_path else None
        try:
            # TFLM's DebugLog writes to stderr: it goes to the log, never into a reply line.
            self.proc = subprocess.Popen(self.argv, stdin=self.master, stdout=self.master,
                                         stderr=log_file if log_file is not None else subprocess.DEVNULL,
                                         close_fds=True)
        finally:
            if log_file is not None:
                log_file.close()

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else -1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _end_process(self) -> None:
        end_process(self.proc)

    def hard_reset(self) -> None:
        """The board restarts: the running binary ends, what the host sent meanwhile is
        dropped, a fresh binary prints its banner."""
        self._end_process()
        termios.tcflush(self.master, termios.TCIFLUSH)  # host bytes the old process never read
        time.sleep(0.01)
        self.restarts += 1
        self._start()

    def arm(self, faults: list[str], timeout: float = 5.0) -> None:
        raise NotImplementedError("faults cannot be armed in the firmware binary at run time; "
                                  "use the Python virtual board (--virtual-engine=python)")

    def stop(self) -> None:
        self._end_process()
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self.master = self._slave = -1

    def __enter__(self) -> FwHostPtyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
