"""Faults the virtual board injects, so the host's recovery can be tested: the plan (which
fault strikes at which command) and the exceptions the board state machine raises to the pty
server when one strikes (restart, hang, vanish, a line lost on the wire)."""
from __future__ import annotations

from dataclasses import dataclass, field

from targets.board.vocabulary import CMD


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
    corrupt-chunk@N  the N-th upload_chunk arrives with one decoded byte flipped (E_CRC at end)
    drop-chunk@N     the N-th upload_chunk line is lost on the wire: no reply at all
    reset-upload@N   the board restarts on receiving the N-th upload_chunk (banner, model gone)
    reset-eval@N     the board restarts on receiving the N-th infer
    hang-eval@N      the N-th infer never answers, until a hardware reset
    hang-forever@N   like hang-eval, and after every reset the board hangs on its first command
    vanish-eval@N    the port disappears (pty closed, process exits) at the N-th infer
    """

    noise: bool = False
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
            if spec == "noise":
                plan.noise = True
                continue
            kind, sep, count = spec.partition("@")
            if kind not in cls.KINDS or not sep or not count.isdigit() or int(count) < 1:
                raise ValueError(
                    f"bad --fault {spec!r}: expected 'noise' or KIND@N (N >= 1), KIND one of {cls.KINDS}")
            plan.at[kind] = int(count)
        return plan

    def to_args(self) -> list[str]:
        args = ["--fault", "noise"] if self.noise else []
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
