"""Inputs larger than one host line (a 32x32x3 image is 3 KB, person detection's 96x96x1 is
9 KB; a 4096-byte line carries about 3 KB of base64): the client sends them in
`input_chunk` lines and runs `infer <idx> -`, identically against the firmware core (fw_host,
fake engine) and the virtual board (host TFLM). A board whose firmware takes no input
chunks gets nothing sent: one message names the limit and the Kconfig option."""
from __future__ import annotations

import numpy as np
import pytest

from targets.board.errors import InputTooLarge
from targets.board.line_codec import parse_reply_line
from targets.board.links import SerialLink
from targets.board.protocol import ProtocolClient
from targets.board.recovering_client import Board
from targets.tflm.runner import run_tflm
from targets.virtual.pty_server import PtyServerProcess
from tests_host import tiny_models
from tests_host.fw_host_process import FwHostOptions, FwHostProcess, fake_model, fake_output

SIZES = {"3KB-32x32x3": (32, 32, 3), "9KB-96x96x1": (96, 96, 1)}


class CountingLink:
    """Counts the lines written per command and the longest one."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.sent: dict[str, int] = {}
        self.longest = 0

    def write(self, data: bytes) -> None:
        for line in data.split(b"\n")[:-1] if data.endswith(b"\n") else [data]:
            cmd = line.split(b" ", 1)[0].decode()
            self.sent[cmd] = self.sent.get(cmd, 0) + 1
            self.longest = max(self.longest, len(line) + 1)
        self.inner.write(data)

    def readline(self, timeout: float):
        return self.inner.readline(timeout)


def samples(nbytes: int, count: int = 3, seed: int = 5) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, nbytes, dtype=np.int8).tobytes() for _ in range(count)]


@pytest.mark.parametrize("label", SIZES)
def test_large_inputs_through_the_firmware_core(label):
    nbytes = int(np.prod(SIZES[label]))
    model = fake_model(n_in=nbytes, n_out=8)
    with FwHostProcess(FwHostOptions(max_model=256 * 1024)) as fw:
        link = CountingLink(fw.client.link)
        fw.client.link = link
        board = Board(fw.client, name="fw_host")
        board.connect()
        board.load(model, name=label)
        data = samples(nbytes)
        report = board.evaluate(data)
        assert report.outputs == [fake_output(model, x) for x in data]
        line_max = int(fw.banner["line_max"])
        assert link.longest <= line_max
        per_sample = -(-nbytes // min(int(fw.banner["input_chunk_max"]), (line_max - 24) // 4 * 3))
        assert link.sent["input_chunk"] == per_sample * len(data)
        assert link.sent["infer"] == len(data)


@pytest.fixture(scope="module")
def virtual_board(tmp_path_factory):
    with PtyServerProcess("esp32s3", log_path=tmp_path_factory.mktemp("vb") / "vb.log") as vb:
        link = SerialLink(vb.port)
        yield link
        link.close()


@pytest.mark.parametrize("label", SIZES)
def test_large_inputs_through_the_virtual_board_match_host_tflm(virtual_board, label):
    model = tiny_models.image_cnn(SIZES[label])
    link = CountingLink(virtual_board)
    board = Board(ProtocolClient(link, timeout_scale=4.0), name="virtual esp32s3")
    board.connect()
    up = board.load(model, name=label)
    nbytes = int(np.prod(SIZES[label]))
    data = samples(nbytes)
    report = board.evaluate(data)
    expected = run_tflm(model, np.stack([np.frombuffer(x, np.int8).reshape(SIZES[label]) for x in data]),
                        name=label).outputs
    assert [bytes(o) for o in report.outputs] == [e.tobytes() for e in expected]
    assert link.longest <= int(board.banner["line_max"]) and link.sent["input_chunk"] >= 2 * len(data)
    assert up.model_bytes == len(model)


def test_firmware_without_input_chunk_is_refused_before_anything_is_sent():
    model = fake_model(n_in=3072, n_out=4)
    with FwHostProcess(FwHostOptions(max_model=64 * 1024)) as fw:
        fw.client.upload(model)
        fw.client.banner.pop("input_chunk_max")  # as an older firmware's banner
        link = CountingLink(fw.client.link)
        fw.client.link = link
        with pytest.raises(InputTooLarge) as info:
            fw.client.infer(0, bytes(3072))
        assert link.sent == {}
        msg = str(info.value)
        assert "input of 3072 B" in msg and f"line_max {fw.banner['line_max']} B" in msg
        assert "CONFIG_TMH_LINE_MAX" in msg


# --------------------------------------------------------------------------- conformance
CONVERSATION = [  # (line, code or "ok", fields that must match)
    (b"input_chunk 0 AAAA", "ok", {"offset": 0, "received": 3}),
    (b"input_chunk 7 AAAA", "E_SEQ", {"offset": 7, "expected": 3}),
    (b"input_chunk x AAAA", "E_PARSE", {}),
    (b"input_chunk 3 AA=A", "E_BASE64", {"offset": 3}),
    (b"infer 1 -", "E_INPUT", {"bytes": 3, "expected": 150}),
    (b"input_chunk 3 " + b"A" * 200, "E_INPUT", {"offset": 3, "bytes": 153, "expected": 150}),
    (b"input_chunk 0 " + b"A" * 200, "ok", {"offset": 0, "received": 150}),
    (b"infer 4 -", "ok", {"idx": 4}),
    (b"infer 5 -", "E_INPUT", {"bytes": 0, "expected": 150}),
]


def converse(link, lines) -> list[dict]:
    out = []
    for line, _, _ in lines:
        link.write(line + b"\n")
        while True:
            raw = link.readline(20.0)
            assert raw is not None, f"no reply to {line[:40]!r}"
            body = parse_reply_line(raw)
            if body is not None and body.get("cmd") != "boot":
                out.append(body)
                break
    return out


def check(replies: list[dict]) -> None:
    for (line, code, fields), body in zip(CONVERSATION, replies, strict=True):
        got = "ok" if body["ok"] else body["code"]
        assert got == code, (line[:40], body)
        assert {k: body.get(k) for k in fields} == fields, (line[:40], body)


def test_input_chunk_conversation_core_and_virtual_board_agree(virtual_board):
    with FwHostProcess() as fw:
        fw.client.upload(fake_model(n_in=150, n_out=3))
        check(converse(fw.client.link, CONVERSATION))
    client = ProtocolClient(virtual_board, timeout_scale=4.0)
    client.identify()
    client.upload(tiny_models.gesture_cnn("int8"))  # its input is 50x3 int8 = 150 bytes
    check(converse(virtual_board, CONVERSATION))
