"""The virtual board's protocol state machine, without I/O: host lines in, bytes out.

What firmware/core/device.cc does, in Python, speaking the same words (targets.board.protocol_words:
command table, error codes, reply fields): the tests hold the two to the same replies.
Emulated, and it says so: the banner's engine is "virtual"; outputs and arena_used_bytes come
from host TFLite Micro (targets.virtual.host_engine); ``us``/``cycles`` are the target's latency
*estimate*, not a measurement; free_heap is the target's SRAM (targets.toml) minus the firmware
overhead, the arena and the model buffer, and max_model_bytes is what that heap can hold.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import zlib
from collections.abc import Callable
from typing import Any

from targets.board.protocol_words import (
    BOOT_BANNER,
    CMD,
    COMMAND_ARGS,
    COMMANDS,
    ERR,
    PROTOCOL_VERSION,
    REPLY_PREFIX,
    STAGED_INPUT,
    TIME_MAX_RUNS,
    TIME_MAX_WARMUP,
    TIMING_STATS,
    TIMING_UNITS,
    UNKNOWN_COMMAND,
)
from targets.virtual.faults import BootRace, Dropped, FaultPlan, Hang, Restart, Vanish
from targets.virtual.host_engine import EngineError, LoadedModel

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
_PRINTABLE = re.compile(rb"^[\x20-\x7e]*$")


class _Reply(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body


def _err(cmd: str, code: str, msg: str, **fields: Any) -> dict[str, Any]:
    return {"ok": False, "cmd": cmd, "code": code, "msg": msg, **fields}


class VirtualDevice:
    """The protocol state machine: firmware/core/device.cc's `tmh::Device`, in Python.
    `emit` receives every byte the board prints (replies, boot logs, noise); faults surface
    as the exceptions of targets.virtual.faults."""

    def __init__(self, target: str, engine: Any, emit: Callable[[bytes], None], *,
                 faults: FaultPlan | None = None, line_max: int = DEFAULT_LINE_MAX,
                 chunk_max: int = DEFAULT_CHUNK_MAX, max_model_bytes: int | None = None,
                 ) -> None:
        self.target, self.engine, self.emit = target, engine, emit
        self.faults = faults or FaultPlan()
        self.boot_race = BootRace(self.faults)
        self.line_max, self.chunk_max = line_max, chunk_max
        self.max_model_bytes = self.heap_total() if max_model_bytes is None else max_model_bytes
        self.min_free_heap = self.heap_total()
        self.counts: dict[str, int] = {}
        self.hung = False
        self.hang_after_boot = False
        self.lines_seen = 0
        self._corrupt_chunk = False
        # The vocabulary's command table; a command without its cmd_ method fails here.
        self.handlers: dict[str, Callable[[list[str]], dict[str, Any]]] = {
            name: getattr(self, "cmd_" + name) for name in COMMANDS}
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
        self.boot_race.boot(self._reply(self._banner(BOOT_BANNER)), self.emit)

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

        return {"ok": True, "cmd": cmd, "proto": PROTOCOL_VERSION, "fw": FW_VERSION,
                "target": self.target, "platform": "virtual (host TFLM, estimated timings)",
                "clock_mhz": self.engine.clock_mhz, "console": "pty",
                "arena_capacity": self.engine.arena_capacity,
                "max_model_bytes": self.max_model_bytes, "line_max": self.line_max,
                "chunk_max": self.chunk_max, "input_chunk_max": self.chunk_max,
                "free_heap": self.free_heap(),
                "min_free_heap": self.min_free_heap,
                "nonce": self.nonce, "engine": "virtual", "esp_nn": False,
                # no esp-tflite-micro, no esp-nn: the tflite-micro wheel (its version is in the run's meta)
                "tflm_version": None, "esp_nn_version": None,
                "ops": registered_ops(self.engine.ops_file), "model_loaded": self.model is not None,
                "model_bytes": self.model_bytes}

    @staticmethod
    def _reply(body: dict[str, Any]) -> bytes:
        return REPLY_PREFIX.encode() + json.dumps(body, separators=(",", ":")).encode() + b"\n"

    # -- faults
    def arm(self, plan: FaultPlan) -> None:
        """Arm faults now: each N counts from the current count of its command."""
        self.faults.noise, self.faults.deaf_before_banner = plan.noise, plan.deaf_before_banner
        for kind, n in plan.at.items():
            self.faults.at[kind] = self.counts.get(FaultPlan.COUNTS[kind], 0) + n

    def _strike(self, cmd: str) -> None:
        """Faults that strike a line as it arrives, before the board reads its arguments."""
        self._corrupt_chunk = False
        if cmd not in self.faults.counted():
            return
        nth = self.counts[cmd] = self.counts.get(cmd, 0) + 1
        for kind in self.faults.striking(cmd, nth):
            if kind == "drop-chunk":
                raise Dropped()
            if kind in ("reset-upload", "reset-eval"):
                raise Restart()
            if kind == "vanish-eval":
                raise Vanish()
            if kind in ("hang-eval", "hang-forever"):
                self.hang_after_boot = kind == "hang-forever"
                self.emit(f"E ({nth}) tmh: inference stalled (virtual fault hang at {cmd} #{nth})\r\n"
                          .encode())
                raise Hang()
            if kind == "corrupt-chunk":
                self._corrupt_chunk = True

    # -- input
    def hardware_reset(self) -> None:
        self.boot_race.hardware_reset()
        self.boot()

    def handle_line(self, raw: bytes) -> None:
        """One host line (without its newline). Emits the reply, or raises Restart/Hang/Vanish/Dropped."""
        if self.hung or self.boot_race.swallows():
            return
        self.lines_seen += 1
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if len(raw) + 1 > self.line_max:
            self.emit(self._reply(_err(UNKNOWN_COMMAND, ERR.E_LINE,
                                       f"line longer than {self.line_max} bytes", line_max=self.line_max)))
            return
        if self.faults.noise and self.lines_seen % 3 == 0:
            self.emit(NOISE_LINES[self.lines_seen % len(NOISE_LINES)].replace(
                b"%d", str(1000 + self.lines_seen).encode()))
        if not _PRINTABLE.match(line):
            self.emit(self._reply(_err(UNKNOWN_COMMAND, ERR.E_PARSE, "non-printable bytes in the line")))
            return
        words = line.decode("ascii").split(" ")
        cmd, args = words[0], words[1:]
        handler = self.handlers.get(cmd)
        if handler is None:
            self.emit(self._reply(_err(UNKNOWN_COMMAND, ERR.E_PARSE, f"unknown command {cmd!r}")))
            return
        self._strike(cmd)
        try:
            if len(args) != COMMANDS[cmd]:
                names = " ".join(f"<{a}>" for a in COMMAND_ARGS[cmd])
                raise _Reply(_err(cmd, ERR.E_PARSE, f"{cmd} takes {COMMANDS[cmd]} argument(s) "
                                  f"({names or 'none'}), got {len(args)}"))
            body = handler(args)
        except _Reply as reply:
            body = reply.body
        body = {"ok": body.pop("ok", True), "cmd": cmd, **body}
        self.emit(self._reply(body))
        if cmd == CMD.reset and body["ok"]:
            raise Restart()

    def _int(self, cmd: str, text: str, lo: int = 0, hi: int = 2**31, **fields: Any) -> int:
        if not re.fullmatch(r"[0-9]+", text) or int(text) >= 2**32:
            raise _Reply(_err(cmd, ERR.E_PARSE, f"not a decimal number: {text!r}", **fields))
        value = int(text)
        if not lo <= value <= hi:
            raise _Reply(_err(cmd, ERR.E_RANGE, f"{value} not in {lo}..{hi}", **fields))
        return value

    def _b64(self, cmd: str, text: str, **fields: Any) -> bytes:
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            data = None
        # RFC 4648, padding mandatory, canonical (unused bits zero): what re-encodes the same.
        if data is None or base64.b64encode(data).decode("ascii") != text:
            raise _Reply(_err(cmd, ERR.E_BASE64, "payload is not valid base64", **fields))
        return data

    # -- commands (one per vocabulary command; the argument count is checked before)
    def cmd_identify(self, args: list[str]) -> dict[str, Any]:
        body = self._banner(CMD.identify)
        del body["cmd"]
        return body

    def cmd_reset(self, args: list[str]) -> dict[str, Any]:
        return {}

    def cmd_upload_begin(self, args: list[str]) -> dict[str, Any]:
        self._int(CMD.upload_begin, args[0], 0, 2**32)  # E_PARSE before anything changes
        if not re.fullmatch(r"[0-9a-fA-F]{8}", args[1]):
            raise _Reply(_err(CMD.upload_begin, ERR.E_PARSE, "crc32 must be 8 hex digits"))
        self.model, self.model_bytes, self.upload = None, 0, None
        self.staged = bytearray()
        size = self._int(CMD.upload_begin, args[0], 1, 2**32)
        if size > self.max_model_bytes:
            raise _Reply(_err(CMD.upload_begin, ERR.E_TOO_LARGE,
                              f"model of {size} B above max_model_bytes {self.max_model_bytes}",
                              max_model_bytes=self.max_model_bytes))
        self.upload = {"size": size, "crc": int(args[1], 16), "data": bytearray(), "seq": 0}
        return {"size": size, "chunk_max": self.chunk_max}

    def cmd_upload_chunk(self, args: list[str]) -> dict[str, Any]:
        cmd = CMD.upload_chunk
        seq = self._int(cmd, args[0], 0, 2**32)
        data = self._b64(cmd, args[1], seq=seq)
        if self._corrupt_chunk and data:
            data = bytes([data[0] ^ 0x01]) + data[1:]
        up = self.upload
        if up is None:
            raise _Reply(_err(cmd, ERR.E_STATE, "upload_chunk without upload_begin", seq=seq))
        if seq != up["seq"]:
            raise _Reply(_err(cmd, ERR.E_SEQ, f"expected seq {up['seq']}, got {seq}",
                              seq=seq, expected=up["seq"]))
        if len(data) > self.chunk_max or len(up["data"]) + len(data) > up["size"]:
            raise _Reply(_err(cmd, ERR.E_TOO_LARGE, "chunk above chunk_max or beyond size", seq=seq))
        up["data"] += data
        up["seq"] += 1
        return {"seq": seq, "received": len(up["data"])}

    def cmd_upload_end(self, args: list[str]) -> dict[str, Any]:
        cmd = CMD.upload_end
        up = self.upload
        if up is None:
            raise _Reply(_err(cmd, ERR.E_STATE, "upload_end without upload_begin"))
        data = bytes(up["data"])
        if len(data) != up["size"]:  # the upload stays open: the host sends what is missing
            raise _Reply(_err(cmd, ERR.E_SIZE, f"received {len(data)} of {up['size']} bytes",
                              received=len(data), expected=up["seq"]))
        self.upload = None
        if zlib.crc32(data) != up["crc"]:
            raise _Reply(_err(cmd, ERR.E_CRC, "crc32 of received bytes differs"))
        try:
            model = self.engine.load(data)
        except EngineError as exc:
            raise _Reply(_err(cmd, exc.code, exc.msg, **exc.fields)) from None
        self.model, self.model_bytes, self.input = model, len(data), None
        return {"model_bytes": len(data), "arena_used_bytes": model.arena_used_bytes,
                "free_heap": self.free_heap(), "input": model.input.to_wire(),
                "output": model.output.to_wire()}

    def _need_model(self, cmd: str) -> LoadedModel:
        if self.model is None:
            raise _Reply(_err(cmd, ERR.E_STATE, "no model loaded"))
        return self.model

    def _check_input(self, cmd: str, data: bytes) -> None:
        expected = self._need_model(cmd).input.nbytes
        if len(data) != expected:
            raise _Reply(_err(cmd, ERR.E_INPUT, f"input of {len(data)} B, tensor takes {expected} B",
                              bytes=len(data), expected=expected))

    def _timing(self) -> dict[str, Any]:
        assert self.model is not None, "_timing() follows a _run() of a loaded model"
        us = self.model.est_total_us
        return {"us": round(us, 3), "cycles": int(round(us * self.engine.clock_mhz))}

    def _run(self, cmd: str, data: bytes) -> str:
        try:
            return base64.b64encode(self._need_model(cmd).invoke(data)).decode()
        except EngineError as exc:
            raise _Reply(_err(cmd, exc.code, exc.msg)) from None

    def cmd_set_input(self, args: list[str]) -> dict[str, Any]:
        data = self._b64(CMD.set_input, args[0])
        self._check_input(CMD.set_input, data)
        self.input = data
        self.staged = bytearray()
        return {"bytes": len(data)}

    def cmd_input_chunk(self, args: list[str]) -> dict[str, Any]:
        """Part of an input too large for one line, written at `offset` (PROTOCOL.md);
        checks in the firmware core's order, so both answer a bad chunk alike."""
        cmd = CMD.input_chunk
        offset = self._int(cmd, args[0], 0, 2**32)
        if self.model is None:
            raise _Reply(_err(cmd, ERR.E_STATE, "no model loaded", offset=offset))
        data = self._b64(cmd, args[1], offset=offset)
        if len(data) > self.chunk_max:
            raise _Reply(_err(cmd, ERR.E_TOO_LARGE, f"chunk above input_chunk_max {self.chunk_max}",
                              offset=offset))
        if offset not in (0, len(self.staged)):
            raise _Reply(_err(cmd, ERR.E_SEQ, f"expected offset {len(self.staged)}",
                              offset=offset, expected=len(self.staged)))
        want = self.model.input.nbytes
        if offset + len(data) > want:
            raise _Reply(_err(cmd, ERR.E_INPUT, f"chunk ends at byte {offset + len(data)}, "
                              f"tensor takes {want}", offset=offset, bytes=offset + len(data),
                              expected=want))
        self.staged = bytearray(self.staged[:offset]) + data
        if len(self.staged) == want:
            self.input = bytes(self.staged)
        return {"offset": offset, "received": len(self.staged)}

    def cmd_invoke(self, args: list[str]) -> dict[str, Any]:
        self._need_model(CMD.invoke)
        if self.input is None:
            raise _Reply(_err(CMD.invoke, ERR.E_STATE, "invoke before set_input"))
        return {"output": self._run(CMD.invoke, self.input), **self._timing()}

    def cmd_infer(self, args: list[str]) -> dict[str, Any]:
        cmd = CMD.infer
        idx = self._int(cmd, args[0], 0, 2**32)
        if args[1] == STAGED_INPUT:
            want = self._need_model(cmd).input.nbytes
            if len(self.staged) != want:
                raise _Reply(_err(cmd, ERR.E_INPUT, f"input_chunk staged {len(self.staged)} of {want} bytes",
                                  bytes=len(self.staged), expected=want))
            data = bytes(self.staged)
            self.staged = bytearray()  # each staged input runs once
        else:
            data = self._b64(cmd, args[1])
            self._check_input(cmd, data)
            self.staged = bytearray()
        self.input = data
        return {"idx": idx, "output": self._run(cmd, data), **self._timing()}

    def cmd_time(self, args: list[str]) -> dict[str, Any]:
        cmd = CMD.time
        # As the core: both numbers parse, then both ranges, then the state.
        runs, warmup = self._int(cmd, args[0], 0, 2**32), self._int(cmd, args[1], 0, 2**32)
        if not (1 <= runs <= TIME_MAX_RUNS and warmup <= TIME_MAX_WARMUP):
            raise _Reply(_err(cmd, ERR.E_RANGE, f"runs must be 1..{TIME_MAX_RUNS} and warmup "
                              f"0..{TIME_MAX_WARMUP}"))
        model = self._need_model(cmd)
        data = self.input if self.input is not None else bytes(model.input.nbytes)
        self._run(cmd, data)  # one real invoke, so a broken model fails here too
        t = self._timing()
        # The estimate is deterministic: every run takes the same emulated time (std 0).
        body: dict[str, Any] = {"runs": runs, "warmup": warmup}
        for unit in TIMING_UNITS:
            for stat in TIMING_STATS:
                body[f"{stat}_{unit}"] = 0.0 if stat == "std" else t[unit]
        return body

    def cmd_profile(self, args: list[str]) -> dict[str, Any]:
        model = self._need_model(CMD.profile)
        mhz = self.engine.clock_mhz
        return {"ops": [{"index": i, "op": op, "us": round(us, 3), "cycles": int(round(us * mhz))}
                        for i, op, us in model.est_per_op]}
