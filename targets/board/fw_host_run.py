"""Running a fw_host build (targets/board/fw_host.py builds it) with a ProtocolClient on its
pipes: the tests drive the firmware core through it, and the chip arena
(targets/board/chip_arena.py) loads models into the 32-bit builds through it.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from targets.board.fw_host import ensure_fw_host
from targets.board.links import SubprocessLink
from targets.board.protocol import ProtocolClient


@dataclass
class FwHostOptions:
    """fw_host's command line (see firmware/host/main.cc)."""

    arena: int | None = None
    max_model: int | None = None
    line_max: int | None = None
    chunk_max: int | None = None
    target: str | None = None
    seed: int | None = None
    embed: Path | None = None
    reset_after_lines: int | None = None
    panic_after_lines: int | None = None
    noise: bool = False
    alloc_limit: int | None = None  # the heap serves at most this many bytes at once

    def argv(self) -> list[str]:
        out: list[str] = []
        for name in ("arena", "max_model", "line_max", "chunk_max", "target", "seed", "embed",
                     "reset_after_lines", "panic_after_lines", "alloc_limit"):
            value = getattr(self, name)
            if value is not None:
                out += ["--" + name.replace("_", "-"), str(value)]
        if self.noise:
            out.append("--noise")
        return out


class FwHostProcess:
    """A running fw_host with a ProtocolClient on its pipes; waits for the boot banner.

        with FwHostProcess(FwHostOptions(arena=4096)) as fw:
            fw.client.upload(fake_model(...))
    """

    def __init__(self, options: FwHostOptions | None = None, *, sanitize: bool = False,
                 timeout_scale: float = 1.0, log: list[str] | None = None,
                 banner_timeout: float = 10.0, binary: Path | None = None) -> None:
        """`binary`: another build of fw_host (e.g. ensure_fw_tflm's); default the fake engine's."""
        self.options = options or FwHostOptions()
        self.binary = binary or ensure_fw_host(sanitize=sanitize)
        self.log: list[str] = log if log is not None else []
        self.link = SubprocessLink([str(self.binary), *self.options.argv()],
                                   stderr=subprocess.PIPE if sanitize else subprocess.DEVNULL)
        self.client = ProtocolClient(self.link, log=self.log, timeout_scale=timeout_scale)
        try:
            self.banner = self.client.wait_banner(banner_timeout)
        except BaseException:
            self.close()
            raise

    def close(self) -> int | None:
        """Ends the process (stdin EOF); its exit code (sanitizer reports make it non-zero)."""
        return self.link.close()

    def stderr_text(self) -> str:
        """The process's stderr after close() (sanitizer builds only)."""
        err = self.link.proc.stderr
        return err.read().decode("utf-8", "replace") if err and not err.closed else ""

    def __enter__(self) -> FwHostProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
