"""Faults the virtual board injects, so the host's recovery can be tested: the plan (which
fault strikes at which command) and the exceptions the board state machine raises to the pty
server when one strikes (restart, hang, vanish, a line lost on the wire)."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from targets.board.protocol_words import CMD


class Restart(Exception):
    """The emulated chip restarts now (reset command, injected reset)."""


class Hang(Exception):
    """The emulated chip stops answering until a hardware reset."""


class Vanish(Exception):
    """The emulated port disappears (USB unplugged)."""


class Dropped(Exception):
    """The line never reached the board."""


@dataclass
class FaultPlan:
    """Which faults to inject. Each ``kind@N`` fires once, at the N-th (1-based) command
    of its kind since the process started, so a recovering host always gets through.

    noise            boot-log noise and garbage lines (bad UTF-8 too) between replies
    deaf-before-banner  every boot prints its banner BOOT_RACE_S after its boot log, and
                     input that arrives in between freezes the board's input until a hardware
                     reset (USB-Serial-JTAG before its driver is installed: BootRace)
    corrupt-chunk@N  the N-th upload_chunk arrives with one decoded byte flipped (E_CRC at end)
    drop-chunk@N     the N-th upload_chunk line is lost on the wire: no reply at all
    reset-upload@N   the board restarts on receiving the N-th upload_chunk (banner, model gone)
    reset-eval@N     the board restarts on receiving the N-th infer
    hang-eval@N      the N-th infer never answers, until a hardware reset
    hang-forever@N   like hang-eval, and after every reset the board hangs on its first command
    vanish-eval@N    the port disappears (pty closed, process exits) at the N-th infer
    """

    noise: bool = False
    deaf_before_banner: bool = False
    at: dict[str, int] = field(default_factory=dict)

    KINDS = ("corrupt-chunk", "drop-chunk", "reset-upload", "reset-eval", "hang-eval",
             "hang-forever", "vanish-eval")

    # The command whose count each fault kind follows.
    COUNTS = {"corrupt-chunk": CMD.upload_chunk, "drop-chunk": CMD.upload_chunk,
              "reset-upload": CMD.upload_chunk, "reset-eval": CMD.infer, "hang-eval": CMD.infer,
              "hang-forever": CMD.infer, "vanish-eval": CMD.infer}
    # When several strike the same line, the first of these wins (a lost line does nothing).
    PRECEDENCE = ("drop-chunk", "reset-upload", "reset-eval", "vanish-eval", "hang-eval",
                  "hang-forever", "corrupt-chunk")

    @classmethod
    def parse(cls, specs: list[str]) -> FaultPlan:
        plan = cls()
        for spec in specs:
            if spec in ("noise", "deaf-before-banner"):
                setattr(plan, spec.replace("-", "_"), True)
                continue
            kind, sep, count = spec.partition("@")
            if kind not in cls.KINDS or not sep or not count.isdigit() or int(count) < 1:
                raise ValueError(
                    f"bad --fault {spec!r}: expected 'noise', 'deaf-before-banner' or KIND@N (N >= 1), "
                    f"KIND one of {cls.KINDS}")
            plan.at[kind] = int(count)
        return plan

    def to_args(self) -> list[str]:
        args = ["--fault", "noise"] if self.noise else []
        if self.deaf_before_banner:
            args += ["--fault", "deaf-before-banner"]
        for kind, count in self.at.items():
            args += ["--fault", f"{kind}@{count}"]
        return args

    def striking(self, command: str, nth: int) -> list[str]:
        """Fault kinds that strike the nth `command` line, in PRECEDENCE order."""
        return [kind for kind in self.PRECEDENCE
                if self.COUNTS[kind] == command and self.at.get(kind) == nth]

    def counted(self) -> frozenset[str]:
        """The commands whose lines are counted for faults."""
        return frozenset(self.COUNTS.values())


#: deaf-before-banner: from a boot's log to its banner (a chip's ROM, bootloader, app start).
BOOT_RACE_S = 0.5


class BootRace:
    """The deaf-before-banner fault, after espressif/esp-idf#13940: on ESP-IDF v5.1.0-5.1.4,
    5.2.0-5.2.2 and 5.3.0, bytes that reach the USB-Serial-JTAG port before
    usb_serial_jtag_driver_install() stop its RX for good (fixed in v5.1.5, v5.2.3, v5.3.1,
    v5.4). Here: the banner comes BOOT_RACE_S after the boot log; a line that arrives before
    it is lost, and so is every later one until a hardware reset. Without the fault, the banner
    is printed at once and nothing is lost."""

    def __init__(self, plan: FaultPlan, clock: Callable[[], float] = time.monotonic) -> None:
        self.plan, self.clock = plan, clock
        self.pending: bytes | None = None  # the banner, until it is due
        self.due = 0.0
        self.frozen = False

    def boot(self, banner: bytes, emit: Callable[[bytes], None]) -> None:
        if not self.plan.deaf_before_banner:
            emit(banner)
            return
        self.pending, self.due = banner, self.clock() + BOOT_RACE_S

    def tick(self, emit: Callable[[bytes], None]) -> None:
        """Prints the banner once it is due (the server calls this in its loop)."""
        if self.pending is not None and self.clock() >= self.due:
            banner, self.pending = self.pending, None
            emit(banner)

    def swallows(self) -> bool:
        """True when a line arriving now is lost (and, before the banner, freezes the input)."""
        if self.pending is not None:
            self.frozen = True
        return self.frozen

    def hardware_reset(self) -> None:
        self.frozen = False
