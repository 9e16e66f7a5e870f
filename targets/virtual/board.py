"""The virtual board: the firmware's serial protocol served on a pseudo-terminal.

A host process that speaks firmware/PROTOCOL.md exactly, so the whole hardware path
(pytest-embedded serial DUT, protocol client, Board recovery) runs on any machine.
Emulated, and it says so: the banner's engine is "virtual"; outputs and arena_used_bytes
come from host TFLite Micro (targets.tflm.runner.TflmWorker); ``us``/``cycles`` are the
target's latency *estimate* (targets.cost.estimator), not a measurement; free_heap is the
target's SRAM (targets.toml) minus the firmware overhead, the arena and the model buffer,
and max_model_bytes is what that heap can hold: an emulation from the registry's figures.

Faults are injected by ``--fault`` so the host's recovery can be tested (see FaultPlan).
A hardware reset (what DTR/RTS does to a real board) is SIGUSR1 to this process.

    python -m targets.virtual.board --target esp32s3 [--fault reset-eval@40 ...]
"""
from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time
import tty
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from targets.virtual.engine import EngineError, LoadedModel, TflmEngine

PREFIX = b"@@TMH "
PROTO_VERSION = 1
FW_VERSION = "0.1.0-virtual"
DEFAULT_LINE_MAX = 4096
DEFAULT_CHUNK_MAX = 2048
DEFAULT_ARENA_CAPACITY = 128 * 1024

# What an ESP32-S3 prints at power-on before the application runs; a real host must skip it.
BOOT_LOG = (
    b"ESP-ROM:{target}-20210327\r\n"
    b"Build:Mar 27 2021\r\n"
    b"rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n"
    b"I (24) boot: ESP-IDF v5.3 2nd stage bootloader\r\n"
    b"I (25) boot: compile time Jan  1 2026 00:00:00\r\n"
    b"I (312) main_task: Calling app_main()\r\n"
)
NOISE_LINES = (
    b"\x1b[0;32mI (%d) tmh: heap check ok\x1b[0m\r\n",
    b"\xff\xfe\xa5garbage \x80\x81 on the line\r\n",
    b"W (%d) wifi: not started\r\n",
    b"\x00\x00\xc3\x28 undecodable\r\n",
)


# --------------------------------------------------------------------------- faults
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

    @classmethod
    def parse(cls, specs: list[str]) -> "FaultPlan":
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

    # The command whose count each fault kind follows.
    COUNTS = {"corrupt-chunk": "upload_chunk", "drop-chunk": "upload_chunk",
              "reset-upload": "upload_chunk", "reset-eval": "infer", "hang-eval": "infer",
              "hang-forever": "infer", "vanish-eval": "infer"}

    def to_args(self) -> list[str]:
        args = ["--fault", "noise"] if self.noise else []
        for kind, count in self.at.items():
            args += ["--fault", f"{kind}@{count}"]
        return args


# --------------------------------------------------------------------------- protocol
class Restart(Exception):
    """The emulated chip restarts now (reset command, injected reset)."""


class Hang(Exception):
    """The emulated chip stops answering until a hardware reset."""


class Vanish(Exception):
    """The emulated port disappears (USB unplugged)."""


_PRINTABLE = re.compile(rb"^[\x20-\x7e]*$")
STAGED_INPUT = "-"  # `infer <idx> -`: run on the input staged by input_chunk lines


class VirtualBoard:
    """The protocol state machine, without I/O: lines in, bytes out. `emit` receives every
    byte the board prints (replies, boot logs, noise)."""

    def __init__(self, target: str, engine: Any, emit: Callable[[bytes], None], *,
                 faults: FaultPlan | None = None, line_max: int = DEFAULT_LINE_MAX,
                 chunk_max: int = DEFAULT_CHUNK_MAX, max_model_bytes: int | None = None,
                 ) -> None:
        self.target, self.engine, self.emit = target, engine, emit
        self.faults = faults or FaultPlan()
        self.line_max, self.chunk_max = line_max, chunk_max
        self.max_model_bytes = self.heap_total() if max_model_bytes is None else max_model_bytes
        self.min_free_heap = self.heap_total()
        self.counts: dict[str, int] = {}
        self.hung = False
        self.hang_after_boot = False
        self.lines_seen = 0
        self.boot()

    # -- state
    def boot(self) -> None:
        self.nonce = secrets.token_hex(4)
        self.min_free_heap = self.heap_total()
        self.model: LoadedModel | None = None
        self.model_bytes = 0
        self.upload: dict[str, Any] | None = None
        self.input: bytes | None = None
        self.staged = bytearray()  # input_chunk bytes so far (offset order)
        self.hung = self.hang_after_boot
        self.emit(BOOT_LOG.replace(b"{target}", self.target.encode()))
        self.emit(self._reply(self._banner("boot")))

    def heap_total(self) -> int:
        profile = self.engine.profile
        return max(int(profile.sram_bytes) - int(profile.fw_ram_overhead_bytes)
                   - int(self.engine.arena_capacity), 0)

    def free_heap(self) -> int:
        buffered = self.model_bytes + (self.upload["size"] if self.upload else 0)
        free = max(self.heap_total() - buffered, 0)
        self.min_free_heap = min(self.min_free_heap, free)
        return free

    def _banner(self, cmd: str) -> dict[str, Any]:
        from targets.tflm.op_list import registered_ops

        return {"ok": True, "cmd": cmd, "proto": PROTO_VERSION, "fw": FW_VERSION,
                "target": self.target, "platform": "virtual (host TFLM, estimated timings)",
                "clock_mhz": self.engine.clock_mhz, "console": "pty",
                "arena_capacity": self.engine.arena_capacity,
                "max_model_bytes": self.max_model_bytes, "line_max": self.line_max,
                "chunk_max": self.chunk_max, "input_chunk_max": self.chunk_max,
                "free_heap": self.free_heap(),
                "min_free_heap": self.min_free_heap,
                "nonce": self.nonce, "engine": "virtual", "esp_nn": False,
                "ops": registered_ops(), "model_loaded": self.model is not None,
                "model_bytes": self.model_bytes}

    @staticmethod
    def _reply(body: dict[str, Any]) -> bytes:
        return PREFIX + json.dumps(body, separators=(",", ":")).encode() + b"\n"

    def _count(self, kind: str) -> int:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return self.counts[kind]

    def _fires(self, kind: str, nth: int) -> bool:
        return self.faults.at.get(kind) == nth

    def arm(self, plan: FaultPlan) -> None:
        """Arm faults now: each N counts from the current count of its command."""
        self.faults.noise = plan.noise
        for kind, n in plan.at.items():
            self.faults.at[kind] = self.counts.get(FaultPlan.COUNTS[kind], 0) + n

    # -- input
    def hardware_reset(self) -> None:
        self.boot()

    def handle_line(self, raw: bytes) -> None:
        """One host line (without its newline). Emits the reply, or raises Restart/Hang/Vanish."""
        if self.hung:
            return
        self.lines_seen += 1
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if len(raw) + 1 > self.line_max:
            self.emit(self._reply(_err("?", "E_LINE", f"line longer than {self.line_max} bytes",
                                       line_max=self.line_max)))
            return
        if self.faults.noise and self.lines_seen % 3 == 0:
            self.emit(NOISE_LINES[self.lines_seen % len(NOISE_LINES)].replace(
                b"%d", str(1000 + self.lines_seen).encode()))
        if not _PRINTABLE.match(line):
            self.emit(self._reply(_err("?", "E_PARSE", "non-printable bytes in the line")))
            return
        words = line.decode("ascii").split(" ")
        cmd, args = words[0], words[1:]
        handler = getattr(self, "cmd_" + cmd, None)
        if handler is None or not cmd:
            self.emit(self._reply(_err("?", "E_PARSE", f"unknown command {cmd!r}")))
            return
        try:
            body = handler(args)
        except _Reply as reply:
            body = reply.body
        body = {"ok": body.pop("ok", True), "cmd": cmd, **body}
        self.emit(self._reply(body))
        if cmd == "reset":
            raise Restart()

    def _args(self, cmd: str, args: list[str], n: int) -> None:
        if len(args) != n:
            raise _Reply(_err(cmd, "E_PARSE", f"{cmd} takes {n} argument(s), got {len(args)}"))

    def _int(self, cmd: str, text: str, lo: int, hi: int) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise _Reply(_err(cmd, "E_PARSE", f"not a number: {text!r}")) from None
        if not lo <= value <= hi:
            raise _Reply(_err(cmd, "E_RANGE", f"{value} not in {lo}..{hi}"))
        return value

    def _b64(self, cmd: str, text: str, **fields: Any) -> bytes:
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            data = None
        # RFC 4648, padding mandatory, canonical (unused bits zero): what re-encodes the same.
        if data is None or base64.b64encode(data).decode("ascii") != text:
            raise _Reply(_err(cmd, "E_BASE64", "payload is not valid base64", **fields))
        return data

    # -- commands
    def cmd_identify(self, args: list[str]) -> dict[str, Any]:
        self._args("identify", args, 0)
        body = self._banner("identify")
        del body["cmd"]
        return body

    def cmd_reset(self, args: list[str]) -> dict[str, Any]:
        self._args("reset", args, 0)
        return {}

    def cmd_upload_begin(self, args: list[str]) -> dict[str, Any]:
        self._args("upload_begin", args, 2)
        self._int("upload_begin", args[0], 0, 2**31)  # E_PARSE before anything changes
        if not re.fullmatch(r"[0-9a-fA-F]{8}", args[1]):
            raise _Reply(_err("upload_begin", "E_PARSE", "crc32 must be 8 hex digits"))
        self.model, self.model_bytes, self.upload = None, 0, None
        self.staged = bytearray()
        size = self._int("upload_begin", args[0], 1, 2**31)
        if size > self.max_model_bytes:
            raise _Reply(_err("upload_begin", "E_TOO_LARGE",
                              f"model of {size} B above max_model_bytes {self.max_model_bytes}",
                              max_model_bytes=self.max_model_bytes))
        self.upload = {"size": size, "crc": int(args[1], 16), "data": bytearray(), "seq": 0}
        return {"size": size, "chunk_max": self.chunk_max}

    def cmd_upload_chunk(self, args: list[str]) -> dict[str, Any]:
        nth = self._count("upload_chunk")
        if self._fires("drop-chunk", nth):
            raise _Dropped()
        if self._fires("reset-upload", nth):
            raise Restart()
        self._args("upload_chunk", args, 2)
        seq = self._int("upload_chunk", args[0], 0, 2**31)
        data = self._b64("upload_chunk", args[1], seq=seq)
        if self._fires("corrupt-chunk", nth) and data:
            data = bytes([data[0] ^ 0x01]) + data[1:]
        up = self.upload
        if up is None:
            raise _Reply(_err("upload_chunk", "E_STATE", "upload_chunk without upload_begin", seq=seq))
        if seq != up["seq"]:
            raise _Reply(_err("upload_chunk", "E_SEQ", f"expected seq {up['seq']}, got {seq}",
                              seq=seq, expected=up["seq"]))
        if len(data) > self.chunk_max or len(up["data"]) + len(data) > up["size"]:
            raise _Reply(_err("upload_chunk", "E_TOO_LARGE", "chunk above chunk_max or beyond size",
                              seq=seq))
        up["data"] += data
        up["seq"] += 1
        return {"seq": seq, "received": len(up["data"])}

    def cmd_upload_end(self, args: list[str]) -> dict[str, Any]:
        self._args("upload_end", args, 0)
        up = self.upload
        if up is None:
            raise _Reply(_err("upload_end", "E_STATE", "upload_end without upload_begin"))
        data = bytes(up["data"])
        if len(data) != up["size"]:  # the upload stays open: the host sends what is missing
            raise _Reply(_err("upload_end", "E_SIZE", f"received {len(data)} of {up['size']} bytes",
                              received=len(data), expected=up["seq"]))
        self.upload = None
        if zlib.crc32(data) != up["crc"]:
            raise _Reply(_err("upload_end", "E_CRC", "crc32 of received bytes differs"))
        try:
            model = self.engine.load(data)
        except EngineError as exc:
            raise _Reply(_err("upload_end", exc.code, exc.msg, **exc.fields)) from None
        self.model, self.model_bytes, self.input = model, len(data), None
        return {"model_bytes": len(data), "arena_used_bytes": model.arena_used_bytes,
                "free_heap": self.free_heap(), "input": model.input, "output": model.output}

    def _need_model(self, cmd: str) -> LoadedModel:
        if self.model is None:
            raise _Reply(_err(cmd, "E_STATE", "no model loaded"))
        return self.model

    def _check_input(self, cmd: str, data: bytes) -> None:
        expected = self._need_model(cmd).input["bytes"]
        if len(data) != expected:
            raise _Reply(_err(cmd, "E_INPUT", f"input of {len(data)} B, tensor takes {expected} B",
                              bytes=len(data), expected=expected))

    def _timing(self) -> dict[str, Any]:
        us = self.model.est_total_us
        return {"us": round(us, 3), "cycles": int(round(us * self.engine.clock_mhz))}

    def _run(self, cmd: str, data: bytes) -> str:
        try:
            return base64.b64encode(self.model.invoke(data)).decode()
        except EngineError as exc:
            raise _Reply(_err(cmd, exc.code, exc.msg)) from None

    def cmd_set_input(self, args: list[str]) -> dict[str, Any]:
        self._args("set_input", args, 1)
        data = self._b64("set_input", args[0])
        self._check_input("set_input", data)
        self.input = data
        self.staged = bytearray()
        return {"bytes": len(data)}

    def cmd_input_chunk(self, args: list[str]) -> dict[str, Any]:
        """Part of an input too large for one line, written at `offset` (PROTOCOL.md);
        checks in the firmware core's order, so both answer a bad chunk alike."""
        self._args("input_chunk", args, 2)
        if not (re.fullmatch(r"[0-9]+", args[0]) and int(args[0]) < 2**32):
            raise _Reply(_err("input_chunk", "E_PARSE", "offset is not a decimal number"))
        offset = int(args[0])
        if self.model is None:
            raise _Reply(_err("input_chunk", "E_STATE", "no model loaded", offset=offset))
        data = self._b64("input_chunk", args[1], offset=offset)
        if len(data) > self.chunk_max:
            raise _Reply(_err("input_chunk", "E_TOO_LARGE", f"chunk above input_chunk_max {self.chunk_max}",
                              offset=offset))
        if offset not in (0, len(self.staged)):
            raise _Reply(_err("input_chunk", "E_SEQ", f"expected offset {len(self.staged)}",
                              offset=offset, expected=len(self.staged)))
        want = self.model.input["bytes"]
        if offset + len(data) > want:
            raise _Reply(_err("input_chunk", "E_INPUT", f"chunk ends at byte {offset + len(data)}, "
                              f"tensor takes {want}", offset=offset, bytes=offset + len(data),
                              expected=want))
        self.staged = bytearray(self.staged[:offset]) + data
        if len(self.staged) == want:
            self.input = bytes(self.staged)
        return {"offset": offset, "received": len(self.staged)}

    def cmd_invoke(self, args: list[str]) -> dict[str, Any]:
        self._args("invoke", args, 0)
        self._need_model("invoke")
        if self.input is None:
            raise _Reply(_err("invoke", "E_STATE", "invoke before set_input"))
        return {"output": self._run("invoke", self.input), **self._timing()}

    def cmd_infer(self, args: list[str]) -> dict[str, Any]:
        nth = self._count("infer")
        if self._fires("reset-eval", nth):
            raise Restart()
        if self._fires("vanish-eval", nth):
            raise Vanish()
        if self._fires("hang-eval", nth) or self._fires("hang-forever", nth):
            self.hang_after_boot = self._fires("hang-forever", nth)
            self.emit(f"E ({nth}) tmh: inference stalled (virtual fault hang at infer #{nth})\r\n"
                      .encode())
            raise Hang()
        self._args("infer", args, 2)
        idx = self._int("infer", args[0], 0, 2**31)
        if args[1] == STAGED_INPUT:
            want = self._need_model("infer").input["bytes"]
            if len(self.staged) != want:
                raise _Reply(_err("infer", "E_INPUT", f"input_chunk staged {len(self.staged)} of {want} bytes",
                                  bytes=len(self.staged), expected=want))
            data = bytes(self.staged)
            self.staged = bytearray()  # each staged input runs once
        else:
            data = self._b64("infer", args[1])
            self._check_input("infer", data)
            self.staged = bytearray()
        self.input = data
        return {"idx": idx, "output": self._run("infer", data), **self._timing()}

    def cmd_bench(self, args: list[str]) -> dict[str, Any]:
        self._args("bench", args, 2)
        runs = self._int("bench", args[0], 1, 10000)
        warmup = self._int("bench", args[1], 0, 1000)
        model = self._need_model("bench")
        data = self.input if self.input is not None else bytes(model.input["bytes"])
        self._run("bench", data)  # one real invoke, so a broken model fails here too
        t = self._timing()
        # The estimate is deterministic: every run takes the same emulated time.
        return {"runs": runs, "warmup": warmup, "mean_us": t["us"], "min_us": t["us"],
                "max_us": t["us"], "std_us": 0.0, "median_us": t["us"],
                "mean_cycles": t["cycles"], "min_cycles": t["cycles"], "max_cycles": t["cycles"],
                "std_cycles": 0.0, "median_cycles": t["cycles"]}

    def cmd_profile(self, args: list[str]) -> dict[str, Any]:
        self._args("profile", args, 0)
        self._need_model("profile")
        mhz = self.engine.clock_mhz
        return {"ops": [{"index": i, "op": op, "us": round(us, 3), "cycles": int(round(us * mhz))}
                        for i, op, us in self.model.est_per_op]}


class _Reply(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body


class _Dropped(Exception):
    """The line never reached the board."""


def _err(cmd: str, code: str, msg: str, **fields: Any) -> dict[str, Any]:
    return {"ok": False, "cmd": cmd, "code": code, "msg": msg, **fields}


# --------------------------------------------------------------------------- pty server
def serve(board_factory: Callable[[Callable[[bytes], None]], VirtualBoard], master: int,
          reset_requested: Callable[[], bool],
          arm_requested: Callable[[], FaultPlan | None] = lambda: None) -> int:
    """Serve one board on the pty master until SIGTERM or a Vanish fault. Returns exit code."""

    def emit(data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(master, view)
            view = view[written:]

    board = board_factory(emit)
    buffer = b""
    parent = os.getppid()
    while True:
        if os.getppid() != parent:
            return 0  # whoever started us is gone (a killed pytest worker): do not linger
        if reset_requested():
            buffer = b""
            board.hardware_reset()
        plan = arm_requested()
        if plan is not None:
            board.arm(plan)
        ready, _, _ = select.select([master], [], [], 0.05)
        if not ready:
            continue
        try:
            buffer += os.read(master, 65536)
        except OSError:
            continue  # no process has the slave open (EIO); keep waiting
        while b"\n" in buffer:
            raw, buffer = buffer.split(b"\n", 1)
            try:
                board.handle_line(raw)
            except _Dropped:
                continue
            except Restart:
                buffer = b""
                board.boot()
            except Hang:
                board.hung = True
                buffer = b""
            except Vanish:
                os.close(master)
                return 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m targets.virtual.board", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="esp32s3")
    parser.add_argument("--fault", action="append", default=[], help="see FaultPlan; repeatable")
    parser.add_argument("--arena-capacity", type=int, default=DEFAULT_ARENA_CAPACITY)
    parser.add_argument("--max-model-bytes", type=int, default=None,
                        help="default: the emulated heap (SRAM - firmware overhead - arena)")
    parser.add_argument("--chunk-max", type=int, default=DEFAULT_CHUNK_MAX)
    parser.add_argument("--line-max", type=int, default=DEFAULT_LINE_MAX)
    parser.add_argument("--control", type=Path, default=None,
                        help="on SIGUSR2, arm the faults listed in this file (one per line) and "
                             "delete it")
    args = parser.parse_args(argv)
    try:
        faults = FaultPlan.parse(args.fault)
    except ValueError as exc:
        parser.error(str(exc))
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass as on a UART
    print(os.ttyname(slave), flush=True)

    reset_flag = [False]
    arm_flag = [False]
    signal.signal(signal.SIGUSR1, lambda *_: reset_flag.__setitem__(0, True))
    signal.signal(signal.SIGUSR2, lambda *_: arm_flag.__setitem__(0, True))

    def arm() -> FaultPlan | None:
        if not arm_flag[0] or args.control is None:
            return None
        arm_flag[0] = False
        try:
            specs = args.control.read_text().split()
            plan = FaultPlan.parse(specs)
        except (OSError, ValueError) as exc:
            print(f"virtual board: cannot arm faults from {args.control}: {exc}", file=sys.stderr)
            return None
        args.control.unlink()  # the acknowledgement the host waits for
        return plan
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def requested() -> bool:
        if reset_flag[0]:
            reset_flag[0] = False
            return True
        return False

    engine = TflmEngine(args.target, args.arena_capacity)
    try:
        return serve(lambda emit: VirtualBoard(args.target, engine, emit, faults=faults,
                                               line_max=args.line_max, chunk_max=args.chunk_max,
                                               max_model_bytes=args.max_model_bytes),
                     master, requested, arm)
    finally:
        engine.close()


# --------------------------------------------------------------------------- process handle
def end_process(proc: "subprocess.Popen | None", grace_s: float = 5.0) -> None:
    """Stop a board process: SIGTERM, then SIGKILL if it has not ended within grace_s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class VirtualBoardProcess:
    """A running virtual board, for tests and the HIL plugin: `.port` is the pty slave path,
    `.hard_reset()` does what DTR/RTS does to a real board, `.stop()` ends it."""

    def __init__(self, target: str, *, faults: FaultPlan | list[str] | None = None,
                 max_model_bytes: int | None = None, arena_capacity: int | None = None,
                 log_path: Path | None = None, start_timeout: float = 30.0) -> None:
        plan = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(list(faults or []))
        self.control = Path(tempfile.mkdtemp(prefix="vb-control-")) / "faults"
        cmd = [sys.executable, "-m", "targets.virtual.board", "--target", target, *plan.to_args(),
               "--control", str(self.control)]
        if max_model_bytes is not None:
            cmd += ["--max-model-bytes", str(max_model_bytes)]
        if arena_capacity is not None:
            cmd += ["--arena-capacity", str(arena_capacity)]
        self.target = target
        self.log_path = log_path
        stderr = open(log_path, "ab") if log_path else subprocess.DEVNULL
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, cwd=root, env=env)
        if log_path:
            stderr.close()
        deadline = time.monotonic() + start_timeout
        ready, _, _ = select.select([self.proc.stdout], [], [], start_timeout)
        line = self.proc.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("/dev/") or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"virtual board for {target} did not start (said {line!r}); "
                               f"command: {' '.join(cmd)}")
        self.port = line

    @property
    def pid(self) -> int:
        return self.proc.pid

    def hard_reset(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGUSR1)

    def arm(self, faults: list[str], timeout: float = 5.0) -> None:
        """Arm faults in the running board (counts start now); returns once it has."""
        FaultPlan.parse(faults)  # fail here, with the spec, rather than in the board
        self.control.write_text("\n".join(faults) + "\n")
        os.kill(self.proc.pid, signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while self.control.exists():
            if time.monotonic() > deadline or not self.alive():
                raise RuntimeError(f"virtual board {self.target} did not arm {faults} "
                                   f"(see {self.log_path})")
            time.sleep(0.01)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        end_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> "VirtualBoardProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
