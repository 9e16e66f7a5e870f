"""The Board a HIL test talks to: the recovering client of one board, one object with the
same methods whatever carries the bytes (real serial port, pytest-embedded DUT, the virtual
board's pty).

It owns the recovery policy, so tests never retry by hand:
- a reset (fresh boot banner, or E_STATE "no model") -> upload the model again, resume;
- a transport error (E_CRC, E_SEQ, E_BASE64, E_LINE, E_PARSE, E_SIZE: bytes damaged on
  the wire) -> retransmit;
- a timeout -> probe with `identify`; a board that answers lost a line (retransmit);
  one that does not is hung: hardware reset (DTR/RTS), wait for the banner, one retry;
  a second hang fails with the last lines the board printed;
- a port that disappears -> PortGone at once, naming the port;
- a model the board refuses (E_TOO_LARGE, E_MODEL, E_OP, E_ALLOC) -> ModelRejected for
  that model only, never retried.
Every recovery is recorded in `events`, so a report shows each rerun.
Evaluation streams keep outputs by sample index: after a recovery the stream resumes
from the first index without an acknowledged reply, so nothing is lost or duplicated.
"""
from __future__ import annotations

import base64
import collections
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from targets.board.errors import (
    BoardError,
    BoardResetError,
    BoardTimeout,
    BoardUnresponsive,
    ModelRejected,
    PortGone,
    ProtocolError,
)

# The evaluation stream pipelines lines, so it uses the client's reply reader and timing
# (ProtocolClient.next_reply, invoke_timeout) besides its one-command-one-reply methods.
from targets.board.line_codec import encode_command
from targets.board.protocol import BOOT_QUIET_S, ProtocolClient
from targets.board.protocol_words import CMD, ERR, UNKNOWN_COMMAND
from targets.board.replies import CycleResult, EvalReport, OpProfile, RecoveryEvent, TimingReport, UploadReport

try:  # tcdrain on a pty whose other end closed raises termios.error, not an OSError
    import termios

    PORT_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, termios.error)
except ImportError:  # Windows
    PORT_ERRORS = (OSError, EOFError)

#: bytes damaged on the wire: retransmit
TRANSPORT_CODES = frozenset({ERR.E_CRC, ERR.E_SEQ, ERR.E_BASE64, ERR.E_LINE, ERR.E_PARSE, ERR.E_SIZE})
#: the board refuses this model: never retried
REJECT_CODES = frozenset({ERR.E_TOO_LARGE, ERR.E_MODEL, ERR.E_OP, ERR.E_ALLOC})


@dataclass
class Board:
    """A board behind a ProtocolClient. `hard_reset` toggles EN (DTR/RTS) on a real board
    or signals the virtual one; None means this link cannot reset the board."""

    client: ProtocolClient
    name: str
    hard_reset: Callable[[], None] | None = None
    max_recoveries: int = 4
    banner_timeout: float = 10.0
    probe_timeout: float = 2.0
    boot_quiet: float = BOOT_QUIET_S  # see ProtocolClient.settle
    log_hint: str = ""  # where the full serial log lives, quoted in failures
    eval_window_bytes: int | None = None  # None: the board's line_max; 0: stop-and-wait
    upload_window: int = 2  # chunk lines in flight during an upload
    events: list[RecoveryEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.banner: dict[str, Any] = {}
        self._model: bytes | None = None
        self._model_name = ""
        self._upload: UploadReport | None = None

    # ---------------------------------------------------------------- public API
    def connect(self, attempts: int = 3) -> dict[str, Any]:
        """Identify the board. Flashing or opening a port often resets a real board, so a
        boot log (with its rst:0x line) and banner may arrive first: that is expected, not an
        event. Nothing is written before that boot has printed its banner (or the line stayed
        quiet: ProtocolClient.settle), since input sent while a chip boots can be lost."""
        if self.client.banner is None:
            self._guard("connect", lambda: self.client.settle(self.boot_quiet, self.banner_timeout))
        for attempt in range(attempts):
            try:
                self.banner = self._guard("identify", lambda: dict(self.client.identify()))
                return self.banner
            except BoardResetError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def load(self, model: bytes, *, name: str) -> UploadReport:
        """Upload and verify a model; ModelRejected if the board refuses it."""
        self._model, self._model_name = bytes(model), name
        self._upload = None
        return self._recovering(f"upload of {name}", self._do_upload, reload=False)

    def time_invokes(self, runs: int = 100, warmup: int = 10) -> TimingReport:
        """The board times `runs` invokes of the loaded model after `warmup` untimed ones."""
        def go() -> TimingReport:
            return TimingReport.from_reply(self.client.time_invokes(runs, warmup))
        return self._recovering(f"timing of {self._model_name}", go)

    def profile(self) -> list[OpProfile]:
        def go() -> list[OpProfile]:
            return OpProfile.list_from_reply(self.client.profile())
        return self._recovering(f"profile of {self._model_name}", go)

    def evaluate(self, samples: Sequence[bytes],
                 on_progress: Callable[[int, int], None] | None = None) -> EvalReport:
        """Stream every sample through `infer`; resume after a reset from the first sample
        without an acknowledged reply. Lines are pipelined up to `eval_window_bytes` in
        flight (default: the board's line_max, which its receive buffer holds on top of the
        line being processed), since a reply round trip through pytest-embedded costs ~50 ms."""
        started = time.monotonic()
        n = len(samples)
        outputs: list[bytes | None] = [None] * n
        us: list[float] = [0.0] * n
        cycles: list[int] = [0] * n
        state = {"next": 0}

        def accept(idx: int, reply: dict[str, Any]) -> None:
            if outputs[idx] is not None:
                raise BoardError(f"{self.name}: sample {idx} answered twice")
            outputs[idx] = _output_bytes(reply)
            us[idx], cycles[idx] = float(reply["us"]), int(reply["cycles"])
            state["next"] = idx + 1
            if on_progress:
                on_progress(idx + 1, n)

        def stream() -> None:
            budget = self.eval_window_bytes
            if budget is None:
                budget = int(self.banner.get("line_max", 0) or 0)
            pending: collections.deque[tuple[int, int]] = collections.deque()
            in_flight = 0
            next_send = state["next"]
            line_max = int((self.client.banner or self.banner).get("line_max", 0) or 0)
            while state["next"] < n:
                while next_send < n:
                    line = encode_command(CMD.infer, next_send, samples[next_send])
                    if line_max and len(line) > line_max:
                        # Too large for one line: input_chunk lines, then `infer idx -`,
                        # once every reply in flight is in (chunks are stop-and-wait).
                        if pending:
                            break
                        accept(next_send, self.client.infer(next_send, samples[next_send]))
                        next_send += 1
                        continue
                    if pending and in_flight + len(line) > budget:
                        break
                    self.client.link.write(line)
                    pending.append((next_send, len(line)))
                    in_flight += len(line)
                    next_send += 1
                if not pending:
                    continue
                reply = self.client.next_reply(CMD.infer, self._reply_timeout(in_flight))
                if reply.get("cmd") not in (CMD.infer, UNKNOWN_COMMAND):
                    continue  # a late reply to a command that timed out earlier
                if not reply.get("ok", False):
                    raise ProtocolError(reply, CMD.infer)
                got = int(reply.get("idx", -1))
                expected, size = pending[0]
                if got < expected:
                    continue  # a late reply to a line resent after a timeout
                if got != expected:
                    raise BoardError(f"{self.name}: infer reply for idx {got} while waiting for {expected}")
                pending.popleft()
                in_flight -= size
                accept(got, reply)

        self._recovering(f"evaluation of {self._model_name}", stream)
        missing = [i for i, o in enumerate(outputs) if o is None]
        if missing:
            raise BoardError(f"{self.name}: evaluation ended without samples {missing[:10]}")
        return EvalReport(outputs=outputs, us=us, cycles=cycles,  # type: ignore[arg-type]
                          seconds=time.monotonic() - started)

    def _reply_timeout(self, in_flight_bytes: int) -> float:
        """What the client would allow one infer, plus the link time of the lines ahead."""
        client = self.client
        return client.invoke_timeout(1) + client.link_seconds(in_flight_bytes)

    # ---------------------------------------------------------------- recovery
    def _do_upload(self) -> UploadReport:
        assert self._model is not None
        started = time.monotonic()
        try:
            # Two chunks in flight: the firmware's receive buffer holds two full lines.
            reply = self.client.upload(self._model, window=self.upload_window)
        except ProtocolError as exc:
            code = _code(exc)
            if code in REJECT_CODES:
                raise ModelRejected(
                    f"{self.name} refused model {self._model_name} ({len(self._model)} B): "
                    f"{code}: {_msg(exc)}", code) from None
            raise
        report = UploadReport.from_reply(reply, crc32=zlib.crc32(self._model),
                                         seconds=time.monotonic() - started)
        if report.model_bytes != len(self._model):
            raise BoardError(f"{self.name}: board holds {report.model_bytes} B of model "
                             f"{self._model_name}, sent {len(self._model)} B")
        if self._upload is not None and report.arena_used_bytes != self._upload.arena_used_bytes:
            raise BoardError(f"{self.name}: arena_used_bytes changed across a re-upload of "
                             f"{self._model_name}: {self._upload.arena_used_bytes} -> "
                             f"{report.arena_used_bytes}")
        self._upload = report
        return report

    def _recovering(self, during: str, action: Callable[[], Any], *, reload: bool = True) -> Any:
        recoveries = 0
        hung_once = False
        must_reload = False
        while True:
            try:
                if must_reload:
                    self._guard(during, self._do_upload)
                    must_reload = False
                return self._guard(during, action)
            except BoardResetError as exc:
                banner = getattr(exc, "banner", None)
                if isinstance(banner, dict):
                    self.banner = dict(banner)
                self._note("reset", during, f"boot banner nonce {_nonce(exc)}")
                must_reload = reload and self._model is not None
            except ProtocolError as exc:
                code = _code(exc)
                if code == ERR.E_STATE and self._model is not None:
                    self._note("reset", during, f"E_STATE ({_msg(exc)}): board lost its model")
                    must_reload = reload
                elif code in TRANSPORT_CODES:
                    self._note("transport", during, f"{code}: {_msg(exc)}")
                else:
                    raise BoardError(f"{self.name}: {during} failed: {code}: {_msg(exc)}") from None
            except BoardTimeout as exc:
                state = self._probe()
                if state != "dead":
                    self._note("lost-line" if state == "alive" else "reset", during,
                               f"timed out; identify answered, board {state}")
                    must_reload = must_reload or (reload and state == "restarted"
                                                  and self._model is not None)
                else:
                    if hung_once or self.hard_reset is None:
                        how = ("after one hardware reset and retry" if hung_once
                               else "and this link cannot reset the board")
                        raise BoardUnresponsive(
                            f"{self.name}: no reply during {during} {how}.\n"
                            f"Last lines the board printed:\n{_last_lines(exc)}"
                            + (f"\nFull serial log: {self.log_hint}" if self.log_hint else "")
                        ) from None
                    hung_once = True
                    self._note("hang", during, "no reply, identify unanswered: hardware reset")
                    self._reset_hardware(during)
                    must_reload = reload and self._model is not None
            recoveries += 1
            if recoveries > self.max_recoveries:
                raise BoardError(f"{self.name}: {during} needed more than {self.max_recoveries} "
                                 f"recoveries: {[e.kind for e in self.events[-recoveries:]]}")

    def _guard(self, during: str, action: Callable[[], Any]) -> Any:
        """Turn OS-level port failures into PortGone; everything else passes through."""
        try:
            return action()
        except (BoardResetError, BoardTimeout, ProtocolError, BoardError):
            raise
        except PORT_ERRORS as exc:  # serial.SerialException is an IOError
            raise PortGone(f"{self.name}: serial port lost during {during}: "
                           f"{type(exc).__name__}: {exc}"
                           + (f"\nFull serial log: {self.log_hint}" if self.log_hint else "")) from None

    def _probe(self) -> str:
        """After a timeout: "dead" (hung), "alive" (a line was lost), or "restarted"."""
        try:
            body = self._guard("probe", lambda: self.client.request(CMD.identify, timeout=self.probe_timeout))
        except (BoardTimeout, ProtocolError):
            return "dead"
        except BoardResetError as exc:
            banner = getattr(exc, "banner", None)
            if isinstance(banner, dict):
                self.banner = dict(banner)
            return "restarted"
        nonce = body.get("nonce") if isinstance(body, dict) else None
        if nonce and self.banner.get("nonce") and nonce != self.banner.get("nonce"):
            self.banner = dict(body)
            return "restarted"
        return "alive"

    def _reset_hardware(self, during: str) -> None:
        assert self.hard_reset is not None
        self.hard_reset()
        try:
            banner = self._guard(during, lambda: self.client.wait_banner(self.banner_timeout))
        except BoardTimeout as exc:
            raise BoardUnresponsive(
                f"{self.name}: no boot banner within {self.banner_timeout:.0f} s of a hardware "
                f"reset during {during}.\nLast lines the board printed:\n{_last_lines(exc)}"
                + (f"\nFull serial log: {self.log_hint}" if self.log_hint else "")) from None
        if banner:
            self.banner = dict(banner)

    def _note(self, kind: str, during: str, detail: str) -> None:
        self.events.append(RecoveryEvent(kind, during, detail))


def _output_bytes(reply: dict[str, Any]) -> bytes:
    out = reply.get("output_bytes")
    if out is None:
        out = base64.b64decode(reply["output"])
    return bytes(out)


def _code(exc: ProtocolError) -> str:
    return str(getattr(exc, "code", "") or "")


def _msg(exc: ProtocolError) -> str:
    return str(getattr(exc, "msg", "") or exc)


def _nonce(exc: BoardResetError) -> str:
    banner = getattr(exc, "banner", None) or {}
    return str(banner.get("nonce", "?")) if isinstance(banner, dict) else "?"


def _last_lines(exc: BoardTimeout) -> str:
    lines = getattr(exc, "last_lines", None) or []
    text = [ln.decode("utf-8", "replace") if isinstance(ln, bytes) else str(ln) for ln in lines]
    return "\n".join("  | " + ln.rstrip() for ln in text[-20:]) or "  (nothing)"


def run_cycle(board: Board, model: bytes, *, name: str, samples: Sequence[bytes],
              runs: int = 100, warmup: int = 10) -> CycleResult:
    """The per-variant HIL cycle, in the order a bench runs it. `time` runs on the input left
    by the last sample of the previous model, or zeros (the firmware's choice); the
    evaluation stream comes last so a reset there re-uploads a verified model."""
    started = time.monotonic()
    upload = board.load(model, name=name)
    timing = board.time_invokes(runs, warmup)
    profile = board.profile()
    evaluation = board.evaluate(samples)
    return CycleResult(upload, timing, profile, evaluation, time.monotonic() - started)
