"""Host client of the firmware's serial protocol (firmware/PROTOCOL.md): ProtocolClient, on
the line codec (targets.board.line_codec). Its words (commands, codes, markers) come from
targets.board.protocol_words.

One client for every board kind: the real chip over pyserial, the firmware core's host
build (fw_host) over pipes, the virtual board over a pty, pytest-embedded's dut. They
differ only in the `Link` (targets.board.links: write bytes, read one raw line). The client watches every read
for what a board does when it goes wrong: a boot banner with a new nonce (it restarted),
panic markers in its log, silence (timeouts scaled to the work asked for).
"""
from __future__ import annotations

import base64
import collections
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from targets.board.errors import BoardPanicError, BoardResetError, BoardTimeout, InputTooLarge, ProtocolError
from targets.board.line_codec import chunk_payload_max, encode_command, parse_reply_line
from targets.board.links import Link
from targets.board.protocol_words import BOOT_BANNER, CMD, ERR, PANIC_MARKERS, STAGED_INPUT, UNKNOWN_COMMAND

# Wait for the banner that follows a panic before reporting it (the chip reboots itself).
PANIC_BANNER_WAIT_S = 5.0
# A command the device answers without doing heavy work: this long, plus link time.
BASE_TIMEOUT_S = 2.0
# Assumed invoke time until the client has measured one (time/profile timeouts).
DEFAULT_INVOKE_S = 0.2
# Kept for failure messages.
LAST_LINES = 40
# Silence that means a board booted earlier and is idle (a booting chip logs rst:0x at once).
BOOT_QUIET_S = 2.0


# ------------------------------------------------------------------ client
class ProtocolClient:
    """Speaks the protocol over a Link. Not thread-safe: one client per board."""

    def __init__(self, link: Link, *, log: list[str] | None = None, timeout_scale: float = 1.0,
                 baud: int | None = None) -> None:
        self.link = link
        self.log = log if log is not None else []
        self.timeout_scale = timeout_scale
        self.baud = baud
        self.banner: dict[str, Any] | None = None
        self._recent: collections.deque[str] = collections.deque(maxlen=LAST_LINES)
        self._invoke_s: float | None = None

    # ------------------------------------------------------------ timing
    def link_seconds(self, nbytes: int) -> float:
        """Time to move nbytes at the link's baud rate (0 when unknown: pipes, USB)."""
        return nbytes * 10.0 / self.baud if self.baud else 0.0

    def _timeout(self, seconds: float) -> float:
        return seconds * self.timeout_scale

    # ------------------------------------------------------------ reading
    def _readline(self, deadline: float) -> str | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        raw = self.link.readline(remaining)
        if raw is None:
            return None
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        self.log.append(text)
        self._recent.append(text)
        return text

    def next_reply(self, what: str, timeout: float, *, watch: bool = True) -> dict[str, Any]:
        """The next prefixed line. With `watch`, a new banner raises BoardResetError and a
        panic marker BoardPanicError; without it (waiting for a boot) both pass."""
        deadline = time.monotonic() + timeout
        while True:
            text = self._readline(deadline)
            if text is None:
                raise BoardTimeout(what, timeout, list(self._recent))
            body = parse_reply_line(text.encode("utf-8"))
            if body is None:
                marker = next((m for m in PANIC_MARKERS if m in text), None) if watch else None
                if marker:
                    self._on_panic(marker)
                continue
            if body.get("cmd") == BOOT_BANNER:
                if not watch:
                    return body
                old = self.banner.get("nonce") if self.banner else None
                if body.get("nonce") != old:
                    self.banner = body
                    raise BoardResetError(body)
                continue  # the same boot's banner seen twice: not news
            return body

    def _on_panic(self, marker: str) -> None:
        banner = None
        try:
            banner = self.next_reply("boot banner after a panic",
                                      self._timeout(PANIC_BANNER_WAIT_S), watch=False)
            while banner.get("cmd") != BOOT_BANNER:
                banner = self.next_reply("boot banner after a panic",
                                          self._timeout(PANIC_BANNER_WAIT_S), watch=False)
        except BoardTimeout:
            banner = None
        if banner is not None:
            self.banner = banner
        raise BoardPanicError(marker, list(self._recent), banner)

    # ------------------------------------------------------------ commands
    def wait_banner(self, timeout: float = 10.0) -> dict[str, Any]:
        """Waits for a boot banner (any nonce); boot logs and reset markers pass."""
        return self._await_banner("boot banner", timeout)

    def settle(self, quiet: float = BOOT_QUIET_S, timeout: float = 10.0) -> dict[str, Any] | None:
        """Before the first write after a possible reset (flash, port open): input sent while
        a chip boots is lost; a USB-Serial-JTAG console on ESP-IDF v5.1.0-5.1.4, 5.2.0-5.2.2,
        5.3.0 then stops receiving for good (esp-idf#13940). The banner as soon as it comes;
        None after `quiet` s without a line (booted earlier, idle); after a boot log line, the
        banner is awaited for `timeout` s (scaled)."""
        deadline = time.monotonic() + self._timeout(timeout)
        booting = False
        while True:
            text = self._readline(deadline if booting else min(deadline, time.monotonic() + quiet))
            if text is None and booting:
                raise BoardTimeout("boot banner (after a boot log)", self._timeout(timeout), list(self._recent))
            if text is None:
                return None
            body = parse_reply_line(text.encode("utf-8"))
            if body is not None and body.get("cmd") == BOOT_BANNER:
                self.banner = body
                return body
            booting = booting or body is None  # a log line: booting; a stale reply: up

    def _await_banner(self, what: str, timeout: float) -> dict[str, Any]:
        t = self._timeout(timeout)
        deadline = time.monotonic() + t
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BoardTimeout(what, t, list(self._recent))
            body = self.next_reply(what, remaining, watch=False)
            if body.get("cmd") == BOOT_BANNER:
                self.banner = body
                return body
            if body.get("cmd") == CMD.reset and not body.get("ok", False):
                raise ProtocolError(body, CMD.reset)

    def request(self, line: str, *, timeout: float) -> dict[str, Any]:
        """Sends one command line, returns its reply (ok=true). `timeout` is scaled by
        timeout_scale. Replies to other commands (late answers to a timed-out request)
        are skipped; ok=false raises ProtocolError."""
        data = line.rstrip("\n").encode("ascii") + b"\n"
        return self._send(data, timeout)

    def _send(self, data: bytes, timeout: float) -> dict[str, Any]:
        cmd = data.split(b" ", 1)[0].strip().decode("ascii", "replace")
        t = self._timeout(timeout) + self.link_seconds(len(data))
        self.link.write(data)
        deadline = time.monotonic() + t
        while True:
            try:
                body = self.next_reply(cmd, max(deadline - time.monotonic(), 0.0))
            except BoardTimeout as exc:
                raise BoardTimeout(cmd, t, exc.last_lines) from None
            if body.get("cmd") not in (cmd, UNKNOWN_COMMAND):
                continue  # a stale reply (the request it answers timed out)
            if not body.get("ok", False):
                raise ProtocolError(body, cmd)
            return body

    def _command(self, cmd: str, *args: int | str | bytes, timeout: float = BASE_TIMEOUT_S) -> dict[str, Any]:
        data = encode_command(cmd, *args)
        line_max = int(self.banner.get("line_max", 0)) if self.banner else 0
        if line_max and len(data) > line_max:
            raise ValueError(f"{cmd}: line of {len(data)} bytes exceeds the board's line_max "
                             f"{line_max} (payload too large for one line)")
        return self._send(data, timeout)

    def identify(self) -> dict[str, Any]:
        """The banner fields, now. Records them as the current banner."""
        body = self._command(CMD.identify)
        self.banner = {**body, "cmd": BOOT_BANNER}
        return body

    def upload(self, model: bytes, *, on_progress: Callable[[int, int], None] | None = None,
               window: int = 1, max_retries: int = 8) -> dict[str, Any]:
        """begin / chunks / end; returns the upload_end reply (arena_used_bytes, tensors).

        `window` chunks may be in flight (1 = stop-and-wait, safe on any UART). A chunk
        answered E_SEQ makes the client resume from the device's `expected`; a chunk whose
        reply never comes is resent; a corrupted one (E_BASE64/E_PARSE) is resent.
        """
        if self.banner is None:
            self.identify()
        assert self.banner is not None
        size = len(model)
        chunk = chunk_payload_max(int(self.banner.get("chunk_max", 2048)),
                                  int(self.banner.get("line_max", 4096)))
        self._command(CMD.upload_begin, size, f"{zlib.crc32(model):08x}")
        chunks = [model[i:i + chunk] for i in range(0, size, chunk)]
        self._send_chunks(chunks, size, on_progress, max(1, window), max_retries)
        # upload_end runs the verifier and AllocateTensors: a second or so on a chip.
        return self._command(CMD.upload_end, timeout=BASE_TIMEOUT_S + 8.0 + size / 20_000)

    def _send_chunks(self, chunks: Sequence[bytes], size: int,
                     on_progress: Callable[[int, int], None] | None, window: int,
                     max_retries: int) -> None:
        expected = 0                 # the device's next seq, as far as replies tell
        next_seq = 0                 # next chunk to send
        in_flight: collections.deque[tuple[int, int]] = collections.deque()  # (seq, generation)
        generation = 0               # bumps at every rewind; replies of older ones are stale
        retries = 0
        done = 0
        line_bytes = max((len(c) + 2) // 3 * 4 + 24 for c in chunks)
        per_reply = self._timeout(BASE_TIMEOUT_S) + self.link_seconds(line_bytes * window)
        while expected < len(chunks):
            while next_seq < len(chunks) and len(in_flight) < window:
                self.link.write(encode_command(CMD.upload_chunk, next_seq, chunks[next_seq]))
                in_flight.append((next_seq, generation))
                next_seq += 1
            try:
                body = self.next_reply(CMD.upload_chunk, per_reply)
            except BoardTimeout:
                retries += 1
                if retries > max_retries:
                    raise
                generation += 1
                in_flight.clear()
                next_seq = expected  # lost lines or replies: resend from the last known point
                continue
            if body.get("cmd") not in (CMD.upload_chunk, UNKNOWN_COMMAND):
                continue
            seq = body.get("seq")
            # Match the reply to what was sent; lines that got no reply were lost.
            gen = -1  # matches nothing sent since the last timeout: a late, stale reply
            while in_flight:
                s, g = in_flight.popleft()
                if seq is None or s == seq:
                    gen = g
                    break
            if body.get("ok"):
                if seq is None:
                    raise TypeError(f"{CMD.upload_chunk}: an ok reply without a seq: {body}")
                expected = max(expected, int(seq) + 1)
                received = int(body.get("received", 0))
                if received > done:
                    done = received
                    if on_progress:
                        on_progress(done, size)
                continue
            code = body.get("code")
            if code == ERR.E_SEQ and "expected" in body:
                if gen != generation:
                    continue  # sent before the last rewind: already handled
                retries += 1
                if retries > max_retries:
                    raise ProtocolError(body, CMD.upload_chunk)
                expected = int(body["expected"])
                if next_seq != expected:
                    generation += 1
                    next_seq = expected
                continue
            if code in (ERR.E_BASE64, ERR.E_PARSE, ERR.E_LINE) and gen == generation:
                retries += 1  # the line was damaged on the way: send it again
                if retries > max_retries:
                    raise ProtocolError(body, CMD.upload_chunk)
                generation += 1
                next_seq = expected
                continue
            if gen != generation:
                continue
            raise ProtocolError(body, CMD.upload_chunk)

    def _too_long(self, line: bytes) -> bool:
        line_max = int(self.banner.get("line_max", 0)) if self.banner else 0
        return bool(line_max) and len(line) > line_max

    def stage_input(self, data: bytes, purpose: str = CMD.infer) -> dict[str, Any]:
        """Writes an input too large for one line into the input tensor with `input_chunk`
        lines (stop-and-wait; each reply checked). Raises InputTooLarge, before sending
        anything, when the firmware does not take input chunks."""
        if self.banner is None:
            self.identify()
        assert self.banner is not None
        line_max = int(self.banner.get("line_max", 0) or 0)
        chunk_max = int(self.banner.get("input_chunk_max", 0) or 0)
        if not chunk_max:
            need = len(encode_command(purpose, 0, data))
            raise InputTooLarge(
                f"input of {len(data)} B needs a {need}-byte `{purpose}` line, above the board's "
                f"line_max {line_max} B, and its firmware takes no input_chunk: raise "
                f"CONFIG_TMH_LINE_MAX (menuconfig: TinyML HIL firmware > Longest host line) to at "
                f"least {need}, or flash firmware that speaks input_chunk (PROTOCOL.md)")
        size = chunk_payload_max(chunk_max, line_max)
        reply: dict[str, Any] = {}
        for offset in range(0, len(data), size):
            reply = self._command(CMD.input_chunk, offset, data[offset:offset + size],
                                  timeout=BASE_TIMEOUT_S + self.link_seconds(4 * size // 3 + 32))
        return reply

    def set_input(self, data: bytes) -> dict[str, Any]:
        if self._too_long(encode_command(CMD.set_input, data)):
            reply = self.stage_input(data, CMD.set_input)
            return {**reply, "bytes": reply.get("received", len(data))}
        return self._command(CMD.set_input, data)

    def _timed(self, body: dict[str, Any]) -> dict[str, Any]:
        body["output_bytes"] = base64.b64decode(body.get("output", ""))
        if "us" in body:
            self._invoke_s = max(float(body["us"]) / 1e6, 1e-6)
        return body

    def invoke_timeout(self, runs: int) -> float:
        """Seconds to wait for a reply to `runs` invokes (scaled, with the link margin)."""
        return self._timeout(self._invoke_timeout(runs))

    def _invoke_timeout(self, runs: int) -> float:
        per_run = 2 * self._invoke_s if self._invoke_s is not None else DEFAULT_INVOKE_S
        return BASE_TIMEOUT_S + runs * per_run

    def invoke(self) -> dict[str, Any]:
        """Runs one inference; the output tensor's bytes are in reply["output_bytes"]."""
        return self._timed(self._command(CMD.invoke, timeout=self._invoke_timeout(1)))

    def infer(self, idx: int, data: bytes) -> dict[str, Any]:
        """set_input + invoke in one line; reply["idx"] echoes idx. An input too large for
        one line goes first in input_chunk lines, then `infer <idx> -` runs it."""
        if self._too_long(encode_command(CMD.infer, idx, data)):
            self.stage_input(data, CMD.infer)
            return self._timed(self._command(CMD.infer, idx, STAGED_INPUT, timeout=self._invoke_timeout(1)))
        return self._timed(self._command(CMD.infer, idx, data, timeout=self._invoke_timeout(1)))

    def time_invokes(self, runs: int, warmup: int, *, timeout: float | None = None) -> dict[str, Any]:
        """`time <runs> <warmup>`: the device times `runs` invokes after `warmup` untimed
        ones; the reply carries the vocabulary's TIMING_FIELDS."""
        t = timeout if timeout is not None else self._invoke_timeout(runs + warmup)
        return self._command(CMD.time, runs, warmup, timeout=t)

    def profile(self) -> dict[str, Any]:
        return self._command(CMD.profile, timeout=self._invoke_timeout(2))

    def reset(self, banner_timeout: float = 10.0) -> dict[str, Any]:
        """Restarts the board; returns the new banner."""
        self.link.write(encode_command(CMD.reset))
        return self._await_banner("reset (boot banner)", banner_timeout)
