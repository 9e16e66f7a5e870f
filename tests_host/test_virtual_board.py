"""The virtual board speaks firmware/PROTOCOL.md: checked line by line against the spec and
against the firmware core itself (fw_host, the C++ core with its fake engine) on the same
conversation, and its figures against host TFLM and the latency estimate."""
from __future__ import annotations

import base64
import re
import zlib

import numpy as np
import pytest

from targets.board.line_codec import parse_reply_line
from targets.board.links import SerialLink
from targets.board.protocol import ProtocolClient
from targets.board.protocol_words import PROTOCOL_VERSION
from targets.virtual.faults import FaultPlan
from targets.virtual.pty_server import PtyServerProcess
from tests_host import tiny_models

TARGET = "esp32s3"


class Raw:
    """Sends raw lines, returns each prefixed reply as a dict (noise skipped)."""

    def __init__(self, link) -> None:
        self.link = link

    def __call__(self, line: bytes, timeout: float = 10.0) -> dict:
        self.link.write(line + b"\n")
        while True:
            raw = self.link.readline(timeout)
            assert raw is not None, f"no reply to {line[:60]!r}"
            body = parse_reply_line(raw)
            if body is not None and body.get("cmd") != "boot":
                return body


@pytest.fixture(scope="module")
def model() -> bytes:
    return tiny_models.gesture_cnn("int8")


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    with PtyServerProcess(TARGET, log_path=tmp_path_factory.mktemp("vb") / "vb.log") as vb:
        link = SerialLink(vb.port)
        yield vb, link, Raw(link)
        link.close()


def upload_lines(model: bytes, chunk: int = 2048) -> list[bytes]:
    lines = [f"upload_begin {len(model)} {zlib.crc32(model):08x}".encode()]
    for seq, at in enumerate(range(0, len(model), chunk)):
        lines.append(f"upload_chunk {seq} ".encode() + base64.b64encode(model[at:at + chunk]))
    return lines + [b"upload_end"]


def test_banner_fields_follow_the_spec(board):
    vb, link, raw = board
    body = raw(b"identify")
    for key in ("proto", "fw", "target", "clock_mhz", "arena_capacity", "max_model_bytes",
                "line_max", "chunk_max", "free_heap", "min_free_heap", "nonce", "engine",
                "esp_nn", "tflm_version", "esp_nn_version", "ops", "model_loaded", "model_bytes"):
        assert key in body, key
    assert body["ok"] is True and body["cmd"] == "identify" and body["proto"] == PROTOCOL_VERSION
    assert body["engine"] == "virtual" and body["target"] == TARGET
    assert re.fullmatch(r"[0-9a-f]{8}", body["nonce"]), body["nonce"]  # 4 random bytes, hex
    from targets.tflm.op_list import registered_ops

    assert body["ops"] == registered_ops()


# Lines that need no model: the virtual board and the firmware core must answer alike.
NO_MODEL_CONVERSATION = [
    b"", b"bogus", b"identify extra", b"upload_chunk 0 AAAA", b"upload_end", b"invoke",
    b"infer 0 AAAA", b"time 0 0", b"time 10 2", b"time x 1", b"time 0 x", b"bench 1 1", b"profile", b"set_input AAAA",
    b"upload_begin 0 00000000", b"upload_begin 12 nothex!", b"upload_begin 99999999 00000000",
    b"upload_begin 8 00000000", b"upload_chunk 1 AAAA", b"upload_chunk 0 A===",
    b"upload_chunk 0 QR==", b"upload_end", b"upload_chunk 0 AAAAAAAAAAA=", b"upload_end",
    b"caf\xc3\xa9", b"x" * 5000,
]


def _shape(reply: dict) -> tuple:
    return (reply.get("ok"), reply.get("cmd"), reply.get("code"),
            reply.get("expected"), reply.get("seq"))


def test_error_replies_match_the_firmware_core(board):
    from tests_host.fw_host_process import FwHostProcess

    _, _, raw = board
    with FwHostProcess() as fw:
        fw_raw = Raw(fw.link)
        for line in NO_MODEL_CONVERSATION:
            ours, core = raw(line), fw_raw(line)
            assert _shape(ours) == _shape(core), f"{line[:40]!r}: virtual {ours} vs core {core}"
            for key in core:  # every field the core sends, the virtual board sends too
                assert key in ours, f"{line[:40]!r}: virtual reply lacks {key!r}: {ours}"


def test_model_conversation_matches_the_firmware_core_and_host_tflm(board, model):
    from targets.cost.estimator import estimate_latency
    from targets.cost.registry import load_targets
    from targets.tflm.analysis import analyze_model
    from targets.tflm.runner import TflmWorker
    from tests_host.fw_host_process import FwHostProcess, fake_model

    _, _, raw = board
    with FwHostProcess() as fw:
        fw_raw = Raw(fw.link)
        fake = fake_model(n_in=150, n_out=3)
        ours_replies = [raw(line) for line in upload_lines(model)]
        core_replies = [fw_raw(line) for line in upload_lines(fake)]
        # begin, first chunk and end of each upload: three replies on both sides
        ours_ends = ours_replies[:2] + ours_replies[-1:]
        core_ends = core_replies[:2] + core_replies[-1:]
        for ours, core in zip(ours_ends, core_ends, strict=True):
            assert ours["ok"] and core["ok"] and ours["cmd"] == core["cmd"], (ours, core)
            assert set(core) <= set(ours), f"{ours['cmd']}: missing {set(core) - set(ours)}"
        sample = np.random.default_rng(0).integers(-128, 128, 150, dtype=np.int8).tobytes()
        b64 = base64.b64encode(sample)
        for line in (b"infer 7 " + b64, b"set_input " + b64, b"invoke", b"time 5 1", b"profile",
                     b"set_input AAAA", b"identify"):
            ours, core = raw(line), fw_raw(line)
            assert _shape(ours) == _shape(core), f"{line[:20]!r}: {ours} vs {core}"
            assert set(core) <= set(ours), f"{line[:20]!r}: missing {set(core) - set(ours)}"

    ours = raw(b"infer 3 " + b64)
    with TflmWorker(model, name="gesture_cnn_int8") as worker:
        expected = worker.invoke(np.frombuffer(sample, np.int8).reshape(1, 50, 3))
        arena = worker.arena_bytes
    assert ours["idx"] == 3
    assert base64.b64decode(ours["output"]) == expected.astype(np.int8).tobytes()  # bit-exact
    estimate = estimate_latency(analyze_model(model, name="m"), load_targets()[TARGET])
    assert ours["us"] == pytest.approx(estimate.total_us, abs=1e-3)
    assert ours["cycles"] == round(estimate.total_us * 240)
    profile = raw(b"profile")["ops"]
    assert [p["op"] for p in profile] == [o.op for o in estimate.per_op]
    assert sum(p["us"] for p in profile) == pytest.approx(estimate.total_us, abs=0.01)
    # upload_end reported TFLM's own arena figure (checked on a fresh upload)
    for line in upload_lines(model)[:-1]:
        raw(line)
    end = raw(b"upload_end")
    assert end["arena_used_bytes"] == arena and end["model_bytes"] == len(model)
    assert end["input"] == {"dtype": "int8", "shape": [1, 50, 3], "nbytes": 150,
                            "scale": end["input"]["scale"], "zero_point": end["input"]["zero_point"]}


def test_failed_uploads_leave_no_model_and_reset_forgets_it(board, model):
    vb, link, raw = board
    lines = upload_lines(model)
    bad_crc = lines[0].rsplit(b" ", 1)[0] + b" %08x" % (zlib.crc32(model) ^ 1)
    for line in [bad_crc, *lines[1:-1]]:
        assert raw(line)["ok"]
    assert raw(b"upload_end")["code"] == "E_CRC"
    assert raw(b"invoke")["code"] == "E_STATE"
    not_a_model = b"\x00" * 64
    for line in upload_lines(not_a_model)[:-1]:
        raw(line)
    assert raw(b"upload_end")["code"] == "E_MODEL"
    assert raw(b"identify")["model_loaded"] is False
    for line in upload_lines(model):
        assert raw(line)["ok"]
    nonce = raw(b"identify")["nonce"]
    client = ProtocolClient(link)
    banner = client.reset()
    assert banner["nonce"] != nonce and banner["model_loaded"] is False
    assert raw(b"time 3 0")["code"] == "E_STATE"


def test_op_the_firmware_lacks_is_named(board):
    _, _, raw = board
    gelu = tiny_models.gelu_dense("int8")
    for line in upload_lines(gelu)[:-1]:
        raw(line)
    reply = raw(b"upload_end")
    assert (reply["code"], reply["op"]) == ("E_OP", "GELU")


def test_fault_specs_are_checked():
    assert FaultPlan.parse(["noise", "reset-eval@3"]).at == {"reset-eval": 3}
    for bad in ("reset-eval", "reset-eval@0", "explode@2", "hang-eval@x"):
        with pytest.raises(ValueError, match="bad --fault"):
            FaultPlan.parse([bad])


def test_a_lean_op_list_is_what_the_virtual_board_registers(tmp_path):
    """--ops-file: the virtual board registers that list (banner) and refuses, with E_OP
    and the op's name, a model using an op outside it, as a lean firmware build does."""
    lean = tmp_path / "lean_ops.txt"
    lean.write_text("# lean\nCONV_2D\nRESHAPE\nSOFTMAX\n")  # no FULLY_CONNECTED
    model = tiny_models.gesture_cnn("int8")
    with PtyServerProcess(TARGET, ops_file=lean, log_path=tmp_path / "vb.log") as vb:
        link = SerialLink(vb.port)
        raw = Raw(link)
        try:
            assert raw(b"identify")["ops"] == ["CONV_2D", "RESHAPE", "SOFTMAX"]
            for line in upload_lines(model)[:-1]:
                raw(line)
            reply = raw(b"upload_end")
            assert (reply["ok"], reply["code"]) == (False, "E_OP")
            assert reply["op"] not in ("CONV_2D", "RESHAPE", "SOFTMAX")
        finally:
            link.close()


def test_a_target_of_the_users_registry_is_served_with_its_clock(tmp_path):
    """--targets-file reaches the virtual board: a target the repository adds (or a clock it
    overrides) is what the board reports and estimates with."""
    user = tmp_path / "targets.toml"
    user.write_text("[esp32s3]\nclock_mhz = 80\n")
    with PtyServerProcess(TARGET, targets_file=user, log_path=tmp_path / "vb.log") as vb:
        link = SerialLink(vb.port)
        try:
            assert Raw(link)(b"identify")["clock_mhz"] == 80
        finally:
            link.close()
