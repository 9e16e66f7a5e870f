"""Host client of the firmware's serial protocol (firmware/PROTOCOL.md).

One client for every board kind: the real chip over pyserial, the firmware core's host
build (fw_host) over pipes, the virtual board over a pty, pytest-embedded's dut. They
differ only in the `Link` (write bytes, read one raw line). The client watches every read
for what a board does when it goes wrong: a boot banner with a new nonce (it restarted),
panic markers in its log, silence (timeouts scaled to the work asked for).
"""
from __future__ import annotations

import base64
import collections
import json
import os
import queue
import subprocess
import threading
import time
import zlib
from typing import Any, Callable, Protocol, Sequence

PREFIX = "@@TMH "
STAGED_INPUT = "-"  # `infer <idx> -`: run on the input staged by input_chunk lines
PROTO_VERSION = 1
# Printed by ESP-IDF / the ROM when a chip panics or resets; never part of a healthy run.
PANIC_MARKERS = ("Guru Meditation", "rst:0x", "abort()", "Brownout", "Task watchdog")
# Wait for the banner that follows a panic before reporting it (the chip reboots itself).
PANIC_BANNER_WAIT_S = 5.0
# A command the device answers without doing heavy work: this long, plus link time.
BASE_TIMEOUT_S = 2.0
# Assumed invoke time until the client has measured one (bench/profile timeouts).
DEFAULT_INVOKE_S = 0.2
# Kept for failure messages.
LAST_LINES = 40


class ProtocolError(Exception):
    """The device answered ok=false. `code` is one of PROTOCOL.md's error codes."""

    def __init__(self, reply: dict[str, Any], command: str = "") -> None:
        self.reply = reply
        self.code = str(reply.get("code", "E_?"))
        self.msg = str(reply.get("msg", ""))
        self.command = command
        super().__init__(f"{self.code}: {self.msg} (reply to {command or reply.get('cmd', '?')!r}: "
                         f"{json.dumps(reply)[:300]})")


class BoardResetError(Exception):
    """A boot banner with a new nonce arrived mid-command: the board restarted and lost
    any uploaded model. `banner` is the new banner (None if a panic was seen and no
    banner followed in time)."""

    def __init__(self, banner: dict[str, Any] | None, message: str = "") -> None:
        self.banner = banner
        nonce = banner.get("nonce") if banner else None
        super().__init__(message or f"board restarted (new boot banner, nonce {nonce})")


class BoardPanicError(BoardResetError):
    """A panic or reset marker appeared in the board's log during a command. A reset
    error too: whoever recovers from resets recovers from this."""

    def __init__(self, marker: str, last_lines: list[str], banner: dict[str, Any] | None) -> None:
        self.marker = marker
        self.last_lines = list(last_lines)
        shown = "\n".join("  | " + ln for ln in self.last_lines[-20:])
        after = (f"rebooted (nonce {banner.get('nonce')})" if banner
                 else "no boot banner followed")
        super().__init__(banner, f"board log shows {marker!r}; {after}. Last lines:\n{shown}")


class InputTooLarge(ValueError):
    """An input this board cannot take, found before anything was sent. The message names
    the limit and the firmware's Kconfig option that raises it."""


class BoardTimeout(Exception):
    """No reply in time. `last_lines` are the last lines the board printed."""

    def __init__(self, what: str, timeout: float, last_lines: list[str]) -> None:
        self.what = what
        self.timeout = timeout
        self.last_lines = list(last_lines)
        shown = "\n".join("  | " + ln for ln in self.last_lines[-20:]) or "  (nothing)"
        super().__init__(f"no reply to {what!r} within {timeout:.1f} s. Last lines seen:\n{shown}")


class Link(Protocol):
    """A transport: raw bytes out, one raw line in (noise included)."""

    def write(self, data: bytes) -> None: ...

    def readline(self, timeout: float) -> bytes | None: ...  # None on timeout


# ------------------------------------------------------------------ line encoding
def encode_command(cmd: str, *args: int | str | bytes) -> bytes:
    """One command line. bytes arguments are sent base64-encoded; ints in decimal."""
    words = [cmd]
    for arg in args:
        if isinstance(arg, (bytes, bytearray, memoryview)):
            words.append(base64.b64encode(bytes(arg)).decode("ascii"))
        elif isinstance(arg, bool):
            raise TypeError(f"{cmd}: boolean argument {arg!r} has no protocol spelling")
        elif isinstance(arg, int):
            words.append(str(arg))
        else:
            words.append(str(arg))
    for w in words:
        if not w or " " in w or not w.isascii() or not w.isprintable():
            raise ValueError(f"{cmd}: argument {w!r} is empty or not one printable ASCII word")
    return (" ".join(words) + "\n").encode("ascii")


def parse_reply_line(line: bytes) -> dict[str, Any] | None:
    """The JSON body of a prefixed reply, or None for noise (no prefix, or a prefix
    followed by something that is not a JSON object). The prefix may follow log text on
    the same line (a log line the chip did not finish)."""
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    at = text.find(PREFIX)
    if at < 0:
        return None
    try:
        body = json.loads(text[at + len(PREFIX):])
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def chunk_payload_max(chunk_max: int, line_max: int) -> int:
    """Largest chunk (decoded bytes) that fits both chunk_max and one line."""
    overhead = len("upload_chunk ") + 10 + 1 + 1  # seq up to 10 digits, space, newline
    fits_line = (line_max - overhead) // 4 * 3
    n = min(chunk_max, fits_line)
    if n < 1:
        raise ValueError(f"line_max {line_max} leaves no room for an upload chunk")
    return n


def link_bytes_for_upload(model_size: int, chunk_max: int) -> int:
    """Bytes the host sends for a whole upload (begin, chunks, end), to compute the link
    time at a baud rate (10 bits per byte on a UART). Replies go the other way."""
    total = len(f"upload_begin {model_size} 00000000\n") + len("upload_end\n")
    full, rest = divmod(model_size, chunk_max)
    sizes = [chunk_max] * full + ([rest] if rest else [])
    for seq, n in enumerate(sizes):
        total += len(f"upload_chunk {seq} ") + 4 * ((n + 2) // 3) + 1
    return total


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
            if body.get("cmd") == "boot":
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
            while banner.get("cmd") != "boot":
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

    def _await_banner(self, what: str, timeout: float) -> dict[str, Any]:
        t = self._timeout(timeout)
        deadline = time.monotonic() + t
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BoardTimeout(what, t, list(self._recent))
            body = self.next_reply(what, remaining, watch=False)
            if body.get("cmd") == "boot":
                self.banner = body
                return body
            if body.get("cmd") == "reset" and not body.get("ok", False):
                raise ProtocolError(body, "reset")

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
            if body.get("cmd") not in (cmd, "?"):
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
        body = self._command("identify")
        self.banner = {**body, "cmd": "boot"}
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
        self._command("upload_begin", size, f"{zlib.crc32(model):08x}")
        chunks = [model[i:i + chunk] for i in range(0, size, chunk)]
        self._send_chunks(chunks, size, on_progress, max(1, window), max_retries)
        # upload_end runs the verifier and AllocateTensors: a second or so on a chip.
        return self._command("upload_end", timeout=BASE_TIMEOUT_S + 8.0 + size / 20_000)

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
                self.link.write(encode_command("upload_chunk", next_seq, chunks[next_seq]))
                in_flight.append((next_seq, generation))
                next_seq += 1
            try:
                body = self.next_reply("upload_chunk", per_reply)
            except BoardTimeout:
                retries += 1
                if retries > max_retries:
                    raise
                generation += 1
                in_flight.clear()
                next_seq = expected  # lost lines or replies: resend from the last known point
                continue
            if body.get("cmd") not in ("upload_chunk", "?"):
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
                expected = max(expected, int(seq) + 1)
                received = int(body.get("received", 0))
                if received > done:
                    done = received
                    if on_progress:
                        on_progress(done, size)
                continue
            code = body.get("code")
            if code == "E_SEQ" and "expected" in body:
                if gen != generation:
                    continue  # sent before the last rewind: already handled
                retries += 1
                if retries > max_retries:
                    raise ProtocolError(body, "upload_chunk")
                expected = int(body["expected"])
                if next_seq != expected:
                    generation += 1
                    next_seq = expected
                continue
            if code in ("E_BASE64", "E_PARSE", "E_LINE") and gen == generation:
                retries += 1  # the line was damaged on the way: send it again
                if retries > max_retries:
                    raise ProtocolError(body, "upload_chunk")
                generation += 1
                next_seq = expected
                continue
            if gen != generation:
                continue
            raise ProtocolError(body, "upload_chunk")

    def _too_long(self, line: bytes) -> bool:
        line_max = int(self.banner.get("line_max", 0)) if self.banner else 0
        return bool(line_max) and len(line) > line_max

    def stage_input(self, data: bytes, purpose: str = "infer") -> dict[str, Any]:
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
            reply = self._command("input_chunk", offset, data[offset:offset + size],
                                  timeout=BASE_TIMEOUT_S + self.link_seconds(4 * size // 3 + 32))
        return reply

    def set_input(self, data: bytes) -> dict[str, Any]:
        if self._too_long(encode_command("set_input", data)):
            reply = self.stage_input(data, "set_input")
            return {**reply, "bytes": reply.get("received", len(data))}
        return self._command("set_input", data)

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
        return self._timed(self._command("invoke", timeout=self._invoke_timeout(1)))

    def infer(self, idx: int, data: bytes) -> dict[str, Any]:
        """set_input + invoke in one line; reply["idx"] echoes idx. An input too large for
        one line goes first in input_chunk lines, then `infer <idx> -` runs it."""
        if self._too_long(encode_command("infer", idx, data)):
            self.stage_input(data, "infer")
            return self._timed(self._command("infer", idx, STAGED_INPUT, timeout=self._invoke_timeout(1)))
        return self._timed(self._command("infer", idx, data, timeout=self._invoke_timeout(1)))

    def bench(self, runs: int, warmup: int, *, timeout: float | None = None) -> dict[str, Any]:
        t = timeout if timeout is not None else self._invoke_timeout(runs + warmup)
        return self._command("bench", runs, warmup, timeout=t)

    def profile(self) -> dict[str, Any]:
        return self._command("profile", timeout=self._invoke_timeout(2))

    def reset(self, banner_timeout: float = 10.0) -> dict[str, Any]:
        """Restarts the board; returns the new banner."""
        self.link.write(encode_command("reset"))
        return self._await_banner("reset (boot banner)", banner_timeout)


# ------------------------------------------------------------------ links
class _LineSplitter:
    """Turns a byte stream into lines; a partial line waits for its newline."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        lines = []
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

    def __enter__(self) -> "SubprocessLink":
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

    def __enter__(self) -> "SerialLink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
