"""The host client (targets/board/protocol.py) and the firmware's C++ core (fw_host) tested
against each other: every command, every error code, lost and damaged chunks, resets,
panics and log noise. fw_host is built on first use (cmake + a C++17 compiler)."""
from __future__ import annotations

import base64
import re
import zlib
from pathlib import Path

import pytest

from targets.board.errors import BoardPanicError, BoardResetError, BoardTimeout, ProtocolError
from targets.board.fw_host import ensure_fw_host
from targets.board.line_codec import encode_command, link_bytes_for_upload, parse_reply_line
from targets.board.links import SubprocessLink
from targets.board.protocol import ProtocolClient
from targets.board.protocol_words import PROTOCOL_VERSION, REPLY_PREFIX
from targets.tflm.op_list import registered_ops
from tests_host.fw_host_process import (
    FAKE_FLAG_INVOKE_FAILS,
    FAKE_FLOAT32,
    FwHostOptions,
    FwHostProcess,
    fake_model,
    fake_output,
    sanitizer_runtime_missing,
)


@pytest.fixture(scope="module", autouse=True)
def _built() -> Path:
    return ensure_fw_host()


def fw(**options) -> FwHostProcess:
    scale = options.pop("timeout_scale", 1.0)
    return FwHostProcess(FwHostOptions(**options), timeout_scale=scale)


def cycles_fit_in_micros(cycles: int, us: float, clock_mhz: int) -> bool:
    """fw_host's cycles are steady-clock nanoseconds (clock_mhz 1000) read inside the
    microsecond reads that bracket the same work, and micros() truncates: the cycle count
    can exceed the microseconds' worth by less than one microsecond."""
    return isinstance(cycles, int) and 0 <= cycles <= (us + 1) * clock_mhz


def raw_reply(client: ProtocolClient, line: bytes) -> dict:
    """Sends a raw line and returns the next reply, ok or not."""
    client.link.write(line)
    return client.next_reply("raw", 5.0)


def upload_raw(client: ProtocolClient, model: bytes, crc: int | None = None) -> dict:
    client.request(f"upload_begin {len(model)} {zlib.crc32(model) if crc is None else crc:08x}",
                   timeout=5)
    client.request(f"upload_chunk 0 {base64.b64encode(model).decode()}", timeout=5)
    return raw_reply(client, b"upload_end\n")


class LossyLink:
    """Wraps a Link and loses chosen traffic, as a bad cable would."""

    def __init__(self, inner, drop_chunk_once: int | None = None, drop_reply_once: int | None = None):
        self.inner = inner
        self.drop_chunk_once = drop_chunk_once
        self.drop_reply_once = drop_reply_once
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if self.drop_chunk_once is not None and data.startswith(f"upload_chunk {self.drop_chunk_once} ".encode()):
            self.drop_chunk_once = None
            return
        self.inner.write(data)

    def readline(self, timeout: float):
        line = self.inner.readline(timeout)
        if line and self.drop_reply_once is not None:
            body = parse_reply_line(line)
            if body and body.get("cmd") == "upload_chunk" and body.get("seq") == self.drop_reply_once:
                self.drop_reply_once = None
                return self.inner.readline(timeout)
        return line


# ------------------------------------------------------------------ banner and happy paths
def test_banner_advertises_fake_engine_and_the_registered_ops_file():
    with fw(seed=7) as board:
        b = board.banner
        assert b["cmd"] == "boot" and b["ok"] is True and b["proto"] == PROTOCOL_VERSION == 2
        assert b["engine"] == "fake" and b["esp_nn"] is False
        assert re.fullmatch(r"[0-9a-f]{8}", b["nonce"])
        # One source of truth: the generated op resolver lists exactly registered_ops.txt.
        assert b["ops"] == registered_ops()
        assert (b["line_max"], b["chunk_max"], b["arena_capacity"]) == (4096, 2048, 65536)
        ident = board.client.identify()
        assert ident["cmd"] == "identify" and ident["nonce"] == b["nonce"]
        assert ident["model_loaded"] is False


def test_int8_model_upload_describes_tensors_and_outputs_match_the_twin():
    model = fake_model(n_in=8, n_out=5, arena=3000)
    with fw() as board:
        end = board.client.upload(model)
        assert end["model_bytes"] == len(model) and end["arena_used_bytes"] == 3000
        assert end["input"] == {"dtype": "int8", "shape": [1, 8], "nbytes": 8,
                                "scale": 0.00390625, "zero_point": -128}
        assert end["output"]["shape"] == [1, 5] and end["output"]["nbytes"] == 5
        data = bytes([1, 2, 3, 250, 128, 127, 0, 77])
        assert board.client.set_input(data)["bytes"] == 8
        out = board.client.invoke()
        assert out["output_bytes"] == fake_output(model, data)
        assert isinstance(out["us"], int) and cycles_fit_in_micros(out["cycles"], out["us"], board.banner["clock_mhz"])
        inf = board.client.infer(41, data[::-1])
        assert inf["idx"] == 41 and inf["output_bytes"] == fake_output(model, data[::-1])
        assert board.client.identify()["model_bytes"] == len(model)


def test_float32_model_outputs_match_the_twin():
    import numpy as np

    model = fake_model(dtype=FAKE_FLOAT32, n_in=3, n_out=6)
    with fw() as board:
        end = board.client.upload(model)
        assert end["input"]["dtype"] == "float32" and end["input"]["nbytes"] == 12
        data = np.array([0.5, -1.25, 3.0], dtype="<f4").tobytes()
        out = board.client.infer(0, data)["output_bytes"]
        assert out == fake_output(model, data)
        assert np.frombuffer(out, "<f4").tolist() == [1.0, -1.5, 8.0, 4.0, 1.5, 11.0]


def test_timing_statistics_are_consistent_and_ranges_enforced():
    with fw() as board:
        c = board.client
        with pytest.raises(ProtocolError) as e:
            c.time_invokes(5, 0)
        assert e.value.code == "E_STATE"
        c.upload(fake_model())
        r = c.time_invokes(50, 5)
        assert (r["runs"], r["warmup"]) == (50, 5)
        for unit in ("us", "cycles"):
            assert r[f"min_{unit}"] <= r[f"median_{unit}"] <= r[f"max_{unit}"]
            assert r[f"min_{unit}"] <= r[f"mean_{unit}"] <= r[f"max_{unit}"]
            assert 0 <= r[f"std_{unit}"] <= r[f"max_{unit}"] - r[f"min_{unit}"]  # a spread within the range
        # Each run's cycles fit in its microseconds, so every order statistic and the mean do too.
        for stat in ("min", "median", "mean", "max"):
            assert cycles_fit_in_micros(round(r[f"{stat}_cycles"]), r[f"{stat}_us"], board.banner["clock_mhz"]), stat
        for runs, warmup in ((0, 0), (10001, 0), (1, 1001)):
            with pytest.raises(ProtocolError) as e:
                c.time_invokes(runs, warmup)
            assert e.value.code == "E_RANGE"


def test_profile_lists_the_models_ops_in_order():
    ops = ("CONV_2D", "RELU", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX")
    with fw() as board:
        board.client.upload(fake_model(ops=ops))
        prof = board.client.profile()["ops"]
        assert [p["op"] for p in prof] == list(ops)
        assert [p["index"] for p in prof] == list(range(len(ops)))
        mhz = board.banner["clock_mhz"]
        assert all(cycles_fit_in_micros(p["cycles"], p["us"], mhz) for p in prof), prof


def test_multi_chunk_upload_reports_progress_and_link_bytes_match_the_wire():
    model = fake_model(pad_to=10_000)
    with fw(chunk_max=1024) as board:
        link = LossyLink(board.link)
        client = ProtocolClient(link, timeout_scale=1.0)
        client.banner = board.banner
        progress: list[tuple[int, int]] = []
        end = client.upload(model, on_progress=lambda d, t: progress.append((d, t)))
        assert end["model_bytes"] == 10_000
        assert progress[-1] == (10_000, 10_000) and len(progress) == 10
        assert sum(len(w) for w in link.written) == link_bytes_for_upload(10_000, 1024)


# ------------------------------------------------------------------ lost and damaged chunks
def test_dropped_chunk_in_a_window_is_resent_from_the_devices_expected_seq():
    model = fake_model(pad_to=5000)
    with fw(chunk_max=512) as board:
        link = LossyLink(board.link, drop_chunk_once=2)
        client = ProtocolClient(link, log=board.log)
        client.banner = board.banner
        end = client.upload(model, window=4)
        assert end["model_bytes"] == 5000
        seqs = [int(w.split()[1]) for w in link.written if w.startswith(b"upload_chunk")]
        assert seqs.count(2) == 2, seqs  # sent, lost, resent after E_SEQ
        assert any('"code":"E_SEQ"' in ln and '"expected":2' in ln for ln in board.log)


def test_dropped_chunk_stop_and_wait_times_out_and_resends():
    model = fake_model(pad_to=3000)
    with fw(chunk_max=1024) as board:
        link = LossyLink(board.link, drop_chunk_once=1)
        client = ProtocolClient(link, timeout_scale=0.2)
        client.banner = board.banner
        assert client.upload(model)["model_bytes"] == 3000
        seqs = [int(w.split()[1]) for w in link.written if w.startswith(b"upload_chunk")]
        assert seqs == [0, 1, 1, 2]


def test_lost_reply_resend_is_answered_e_seq_and_the_client_moves_on():
    model = fake_model(pad_to=3000)
    with fw(chunk_max=1024) as board:
        link = LossyLink(board.link, drop_reply_once=1)
        client = ProtocolClient(link, log=board.log, timeout_scale=0.2)
        client.banner = board.banner
        assert client.upload(model)["model_bytes"] == 3000
        seqs = [int(w.split()[1]) for w in link.written if w.startswith(b"upload_chunk")]
        assert seqs == [0, 1, 1, 2]
        assert any('"code":"E_SEQ"' in ln and '"expected":2' in ln for ln in board.log)


def test_out_of_order_chunks_are_refused_and_the_upload_stays_open():
    model = fake_model(pad_to=100)
    a, b = base64.b64encode(model[:60]).decode(), base64.b64encode(model[60:]).decode()
    with fw() as board:
        c = board.client
        c.request(f"upload_begin 100 {zlib.crc32(model):08x}", timeout=5)
        r = raw_reply(c, f"upload_chunk 1 {b}\n".encode())
        assert (r["code"], r["expected"], r["seq"]) == ("E_SEQ", 0, 1)
        assert c.request(f"upload_chunk 0 {a}", timeout=5)["received"] == 60
        assert c.request(f"upload_chunk 1 {b}", timeout=5)["received"] == 100
        assert c.request("upload_end", timeout=5)["model_bytes"] == 100


def test_crc_mismatch_discards_the_upload_and_leaves_no_model():
    model = fake_model()
    with fw() as board:
        c = board.client
        c.upload(model)
        r = upload_raw(c, model, crc=zlib.crc32(model) ^ 1)
        assert r["code"] == "E_CRC"
        assert raw_reply(c, b"invoke\n")["code"] == "E_STATE"
        assert raw_reply(c, b"upload_end\n")["code"] == "E_STATE"  # discarded, not open
        assert c.upload(model)["model_bytes"] == len(model)


def test_oversize_model_is_refused_at_begin():
    with fw(max_model=4096) as board:
        with pytest.raises(ProtocolError) as e:
            board.client.upload(fake_model(pad_to=5000))
        assert e.value.code == "E_TOO_LARGE" and e.value.reply["max_model_bytes"] == 4096


# ------------------------------------------------------------------ every error code
def _good(c: ProtocolClient) -> None:
    c.upload(fake_model(n_in=4))


def _begun(c: ProtocolClient) -> None:
    c.request("upload_begin 10 00000000", timeout=5)


B64_4 = base64.b64encode(b"\1\2\3\4").decode()
ERROR_CASES = [
    # (id, setup, line, code, field that must be present)
    ("unknown", None, b"frobnicate\n", "E_PARSE", None),
    ("empty", None, b"\n", "E_PARSE", None),
    ("args", None, b"upload_begin 10\n", "E_PARSE", None),
    ("number", None, b"upload_begin ten 00000000\n", "E_PARSE", None),
    ("crc", None, b"upload_begin 10 xyz\n", "E_PARSE", None),
    ("spaces", None, b"time  1 1\n", "E_PARSE", None),
    ("bench-is-gone", None, b"bench 1 1\n", "E_PARSE", None),
    ("control", None, b"identify\x01\n", "E_PARSE", None),
    ("not-utf8", None, b"identify \xff\xfe\n", "E_PARSE", None),
    ("chunk-no-begin", None, f"upload_chunk 0 {B64_4}\n".encode(), "E_STATE", None),
    ("end-no-begin", None, b"upload_end\n", "E_STATE", None),
    ("invoke-no-model", None, b"invoke\n", "E_STATE", None),
    ("input-no-model", None, f"set_input {B64_4}\n".encode(), "E_STATE", None),
    ("profile-no-model", None, b"profile\n", "E_STATE", None),
    ("seq", _begun, f"upload_chunk 3 {B64_4}\n".encode(), "E_SEQ", "expected"),
    ("base64", _begun, b"upload_chunk 0 AB$=\n", "E_BASE64", None),
    ("base64-len", _begun, b"upload_chunk 0 ABC\n", "E_BASE64", None),
    ("begin-size", None, b"upload_begin 999999 00000000\n", "E_TOO_LARGE", "max_model_bytes"),
    ("past-size", _begun, f"upload_chunk 0 {base64.b64encode(bytes(11)).decode()}\n".encode(),
     "E_TOO_LARGE", None),
    ("size", _begun, b"upload_end\n", "E_SIZE", "received"),
    ("zero", None, b"upload_begin 0 00000000\n", "E_RANGE", None),
    ("time-range", _good, b"time 0 0\n", "E_RANGE", None),
    ("input", _good, f"set_input {base64.b64encode(bytes(5)).decode()}\n".encode(), "E_INPUT", "expected"),
    ("infer-input", _good, f"infer 3 {base64.b64encode(bytes(3)).decode()}\n".encode(), "E_INPUT", None),
    ("input-base64", _good, b"set_input ****\n", "E_BASE64", None),
]


@pytest.mark.parametrize("setup,line,code,field", [c[1:] for c in ERROR_CASES],
                         ids=[c[0] for c in ERROR_CASES])
def test_error_codes_and_a_fresh_upload_works_after_each(setup, line, code, field):
    with fw(max_model=65536) as board:
        c = board.client
        if setup:
            setup(c)
        r = raw_reply(c, line)
        assert r["ok"] is False and r["code"] == code, r
        assert r["msg"]
        if field:
            assert field in r
        # Invariant: errors never leave the device where a fresh upload_begin fails.
        assert c.upload(fake_model())["model_bytes"] == len(fake_model())


def test_chunk_above_chunk_max_is_too_large():
    with fw(chunk_max=16) as board:
        c = board.client
        c.request("upload_begin 100 00000000", timeout=5)
        r = raw_reply(c, f"upload_chunk 0 {base64.b64encode(bytes(17)).decode()}\n".encode())
        assert r["code"] == "E_TOO_LARGE"


@pytest.mark.parametrize("model,code,field", [
    (b"\x00" * 64, "E_MODEL", None),
    (fake_model()[:10], "E_MODEL", None),
    (fake_model(ops=("CONV_2D", "GELU")), "E_OP", "op"),
    (fake_model(arena=100_000), "E_ALLOC", "arena_capacity"),
], ids=["garbage", "truncated", "unregistered-op", "arena"])
def test_model_rejections_leave_no_model_loaded(model, code, field):
    with fw(arena=8192) as board:
        c = board.client
        c.upload(fake_model())
        with pytest.raises(ProtocolError) as e:
            c.upload(model)
        assert e.value.code == code
        if field == "op":
            assert e.value.reply["op"] == "GELU"  # a builtin TFLM has no kernel for
        if field == "arena_capacity":
            assert e.value.reply["arena_capacity"] == 8192
        assert raw_reply(c, b"invoke\n")["code"] == "E_STATE"
        assert c.identify()["model_loaded"] is False


def test_engine_invoke_failure_is_e_invoke():
    with fw() as board:
        board.client.upload(fake_model(flags=FAKE_FLAG_INVOKE_FAILS))
        for call in (board.client.invoke, board.client.profile, lambda: board.client.time_invokes(3, 0)):
            with pytest.raises(ProtocolError) as e:
                call()
            assert e.value.code == "E_INVOKE"


def test_line_longer_than_line_max_is_discarded_then_the_next_line_works():
    with fw(line_max=128) as board:
        c = board.client
        r = raw_reply(c, b"identify " + b"A" * 300 + b"\n")
        assert (r["code"], r["cmd"], r["line_max"]) == ("E_LINE", "?", 128)
        assert c.identify()["line_max"] == 128
        # Exactly line_max bytes including the newline still fits.
        r = raw_reply(c, b"x" * 127 + b"\n")
        assert r["code"] == "E_PARSE"
        # Too long for one line: the client sends it as input_chunk lines (PROTOCOL.md), which
        # the core answers (no model yet) instead of E_LINE.
        with pytest.raises(ProtocolError, match="E_STATE: no model loaded .*input_chunk"):
            c.set_input(bytes(200))


def test_every_host_line_gets_exactly_one_reply():
    lines = [b"identify\n", b"\n", b"bogus\n", b"upload_end\n", b"time 1 1\n", b"x" * 5000 + b"\n",
             b"\xc3\x28\n", b"upload_begin 5 0000000g\n", b"identify\r\n"]
    with fw() as board:
        board.link.write(b"".join(lines))
        replies = [board.client.next_reply("burst", 5.0) for _ in lines]
        assert [r["ok"] for r in replies] == [True, False, False, False, False, False, False, False, True]
        with pytest.raises(BoardTimeout):
            board.client.next_reply("nothing more", 0.3)


# ------------------------------------------------------------------ resets, panics, noise
def test_reset_returns_a_new_banner_and_the_model_is_gone():
    with fw() as board:
        c = board.client
        c.upload(fake_model())
        old = board.banner["nonce"]
        new = c.reset()
        assert new["cmd"] == "boot" and new["nonce"] != old and c.banner is new
        with pytest.raises(ProtocolError) as e:
            c.invoke()
        assert e.value.code == "E_STATE"


def test_reset_in_the_middle_of_an_upload_raises_board_reset_then_reupload_works():
    model = fake_model(pad_to=6000)
    # Line 1 upload_begin, 2-3 chunks, the 4th line is lost to a power-on reset.
    with fw(chunk_max=1024, reset_after_lines=4) as board:
        old = board.banner["nonce"]
        with pytest.raises(BoardResetError) as e:
            board.client.upload(model)
        assert e.value.banner["nonce"] != old
        assert board.client.banner["nonce"] == e.value.banner["nonce"]
        assert any("rst:0x1" in ln for ln in board.log)
        assert board.client.upload(model)["model_bytes"] == 6000


def test_panic_marker_raises_with_the_marker_and_the_last_lines():
    with fw(panic_after_lines=2) as board:
        board.client.identify()
        with pytest.raises(BoardPanicError) as e:
            board.client.identify()
        assert e.value.marker == "Guru Meditation"
        assert any("Guru Meditation" in ln for ln in e.value.last_lines)
        assert e.value.banner is not None and e.value.banner["nonce"] != board.banner["nonce"]
        assert isinstance(e.value, BoardResetError)
        assert "Guru Meditation" in str(e.value)


def test_noise_lines_and_undecodable_bytes_are_skipped_and_kept_in_the_log():
    model = fake_model(pad_to=3000)
    with fw(noise=True, chunk_max=1024) as board:
        c = board.client
        c.upload(model)
        data = bytes(range(8))
        assert c.infer(1, data)["output_bytes"] == fake_output(model, data)
        noise = [ln for ln in board.log if "log noise" in ln]
        assert len(noise) >= 6 and all("\ufffd" in ln for ln in noise)


def test_silent_device_times_out_with_the_last_lines():
    link = SubprocessLink(["cat"])  # echoes our lines: noise, never a reply
    try:
        c = ProtocolClient(link, timeout_scale=0.1)
        with pytest.raises(BoardTimeout) as e:
            c.request("identify", timeout=2)
        assert e.value.last_lines == ["identify"]
        assert "identify" in str(e.value)
    finally:
        link.close()


def test_embedded_model_is_loaded_at_boot(tmp_path):
    model = fake_model(n_in=4, n_out=4, arena=2048)
    path = tmp_path / "m.bin"
    path.write_bytes(model)
    with fw(embed=path) as board:
        emb = board.banner["embedded_model"]
        assert emb["ok"] is True and emb["arena_used_bytes"] == 2048
        assert board.banner["model_loaded"] is True
        assert board.client.infer(0, b"\1\2\3\4")["output_bytes"] == fake_output(model, b"\1\2\3\4")


def test_encode_and_parse_helpers():
    assert encode_command("infer", 3, b"\0\1") == b"infer 3 AAE=\n"
    with pytest.raises(ValueError):
        encode_command("upload_begin", "two words")
    assert parse_reply_line(b"I (12) x: hello\n") is None
    noisy = b"garbage" + REPLY_PREFIX.encode() + b'{"ok":true,"cmd":"x"}\r\n'
    assert parse_reply_line(noisy) == {"ok": True, "cmd": "x"}
    assert parse_reply_line(REPLY_PREFIX.encode() + b"{not json\n") is None
    assert link_bytes_for_upload(3, 2048) == (len("upload_begin 3 00000000\n") + len("upload_chunk 0 AAAA\n")
                                              + len("upload_end\n"))


# ------------------------------------------------------------------ the sanitizer build
def test_sanitizer_build_runs_the_conversation_cleanly():
    reason = sanitizer_runtime_missing()
    if reason:
        pytest.skip(f"ASan/UBSan runtime unavailable: {reason}")
    model = fake_model(pad_to=5000)
    board = FwHostProcess(FwHostOptions(chunk_max=512, line_max=1024), sanitize=True, timeout_scale=3.0)
    try:
        c = board.client
        for case_id, setup, line, code, _ in ERROR_CASES:
            if setup is None:  # the cases that need no model or upload first
                assert raw_reply(c, line)["code"] == code, case_id
        link = LossyLink(board.link, drop_chunk_once=3)
        lossy = ProtocolClient(link, timeout_scale=3.0)
        lossy.banner = board.banner
        assert lossy.upload(model, window=3)["model_bytes"] == 5000
        assert c.infer(0, bytes(8))["output_bytes"] == fake_output(model, bytes(8))
        assert c.time_invokes(20, 2)["runs"] == 20 and len(c.profile()["ops"]) == 3
        assert raw_reply(c, b"y" * 3000 + b"\n")["code"] == "E_LINE"
        c.reset()
        assert c.upload(fake_model(dtype=FAKE_FLOAT32))["input"]["dtype"] == "float32"
    finally:
        rc = board.close()
    err = board.stderr_text()
    assert rc == 0 and "Sanitizer" not in err and "runtime error" not in err, err[-3000:]


def test_serial_link_over_a_pty_talks_to_fw_host():
    """The pyserial path (SerialLink) end to end: fw_host behind a pseudo-terminal."""
    import os
    import pty
    import subprocess
    import threading
    import tty

    from targets.board.links import SerialLink

    master, slave = pty.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    proc = subprocess.Popen([str(ensure_fw_host())], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def device_to_pty() -> None:
        while data := os.read(proc.stdout.fileno(), 4096):
            os.write(master, data)

    def pty_to_device() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            proc.stdin.write(data)
            proc.stdin.flush()

    threading.Thread(target=device_to_pty, daemon=True).start()
    threading.Thread(target=pty_to_device, daemon=True).start()
    link = SerialLink(os.ttyname(slave), 115200)
    try:
        c = ProtocolClient(link, baud=115200)
        model = fake_model(pad_to=5000)
        try:  # the boot banner, unless fw_host printed it before the port was opened (and flushed)
            assert c.wait_banner(timeout=2)["engine"] == "fake"
        except BoardTimeout:
            pass
        assert c.identify()["engine"] == "fake"
        assert c.upload(model)["model_bytes"] == 5000
        assert c.infer(2, bytes(8))["output_bytes"] == fake_output(model, bytes(8))
    finally:
        link.close()
        proc.kill()
        proc.wait()
        os.close(master)
        os.close(slave)
