"""Fault recovery of targets.board.recovering_client.Board, on the virtual board through a real pty.

Each test injects one fault (targets.virtual.faults.FaultPlan) and asserts that the final
results equal those of a fault-free run: nothing lost, nothing duplicated. The failures
that must not be recovered (a persistent hang, a model too large, a vanished port) must
say clearly what happened. These run in plain `pytest` on any machine.
"""
from __future__ import annotations

import numpy as np
import pytest

from targets.board.errors import BoardTimeout, BoardUnresponsive, ModelRejected, PortGone
from targets.board.links import SerialLink
from targets.board.protocol import ProtocolClient
from targets.board.recovering_client import Board, run_cycle
from targets.virtual.pty_server import PtyServerProcess
from tests_host import tiny_models

SAMPLES = 24
TARGET = "esp32s3"


class CountingLink:
    """A SerialLink that counts the infer lines sent per sample index."""

    def __init__(self, port: str) -> None:
        self.inner = SerialLink(port)
        self.infer_sent: dict[int, int] = {}

    def write(self, data: bytes) -> None:
        if data.startswith(b"infer "):
            idx = int(data.split(b" ")[1])
            self.infer_sent[idx] = self.infer_sent.get(idx, 0) + 1
        self.inner.write(data)

    def readline(self, timeout: float) -> bytes | None:
        return self.inner.readline(timeout)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def model() -> bytes:
    return tiny_models.gesture_cnn("int8")


@pytest.fixture(scope="module")
def samples() -> list[bytes]:
    rng = np.random.default_rng(3)
    return [rng.integers(-128, 128, 150, dtype=np.int8).tobytes() for _ in range(SAMPLES)]


def cycle(model: bytes, samples: list[bytes], faults: list[str], tmp_path, *,
          timeout_scale: float = 1.0, **board_opts):
    """One full cycle on a fresh virtual board with `faults`; returns (result, board, link).
    Hang tests shorten the timeouts (they must expire); the others keep the client's own,
    so a loaded CI machine does not turn a slow reply into a spurious recovery."""
    with PtyServerProcess(TARGET, faults=faults, log_path=tmp_path / "vb.log", **board_opts) as vb:
        link = CountingLink(vb.port)
        try:
            board = Board(ProtocolClient(link, timeout_scale=timeout_scale), name=f"virtual {TARGET}",
                          hard_reset=vb.hard_reset, probe_timeout=1.0, banner_timeout=5.0)
            board.connect()
            result = run_cycle(board, model, name="gesture_cnn_int8", samples=samples,
                               runs=20, warmup=2)
            return result, board, link
        finally:
            link.close()


@pytest.fixture(scope="module")
def clean(model, samples, tmp_path_factory):
    result, board, link = cycle(model, samples, [], tmp_path_factory.mktemp("clean"))
    assert board.events == []
    assert all(n == 1 for n in link.infer_sent.values()) and len(link.infer_sent) == SAMPLES
    return result


def assert_same_results(result, clean) -> None:
    assert result.evaluation.outputs == clean.evaluation.outputs  # every sample, bit for bit
    assert result.evaluation.cycles == clean.evaluation.cycles
    assert result.upload.arena_used_bytes == clean.upload.arena_used_bytes
    assert result.upload.model_bytes == clean.upload.model_bytes
    assert result.timing == clean.timing
    assert result.profile == clean.profile


def assert_resumed_at(link: CountingLink, first_unanswered: int) -> None:
    """Samples before the fault were sent once; the stream resumed at the first sample
    without a reply (lines pipelined behind it were sent again); every sample was sent."""
    assert sorted(link.infer_sent) == list(range(SAMPLES))
    resent = sorted(i for i, count in link.infer_sent.items() if count > 1)
    assert resent and resent[0] == first_unanswered
    assert resent == list(range(first_unanswered, resent[-1] + 1))
    assert max(link.infer_sent.values()) == 2


def test_boot_noise_and_garbage_between_replies_change_nothing(model, samples, clean, tmp_path):
    result, board, _ = cycle(model, samples, ["noise"], tmp_path)
    assert_same_results(result, clean)
    assert board.events == []  # noise is skipped, not recovered from
    log = (tmp_path / "vb.log").read_bytes()
    assert b"Traceback" not in log


def test_corrupted_chunk_is_retransmitted(model, samples, clean, tmp_path):
    result, board, _ = cycle(model, samples, ["corrupt-chunk@3"], tmp_path)
    assert_same_results(result, clean)
    assert [(e.kind, e.detail.split(":")[0]) for e in board.events] == [("transport", "E_CRC")]


def test_dropped_chunk_is_resent(model, samples, clean, tmp_path):
    result, board, _ = cycle(model, samples, ["drop-chunk@2"], tmp_path)
    assert_same_results(result, clean)
    # The client resends from the device's expected seq inside one upload: no Board event.
    assert board.events == []


def test_reset_mid_upload_uploads_again(model, samples, clean, tmp_path):
    result, board, _ = cycle(model, samples, ["reset-upload@4"], tmp_path)
    assert_same_results(result, clean)
    kinds = [e.kind for e in board.events]
    assert kinds[0] == "reset" and board.events[0].during.startswith("upload"), [e.__dict__ for e in board.events]
    # The rest of a chunk line in flight at the reset may reach the fresh board as a garbled
    # line (E_PARSE); the client treats it as transport noise. Never a second reset.
    assert set(kinds[1:]) <= {"transport"}, [e.__dict__ for e in board.events]


def test_reset_mid_evaluation_resumes_from_last_acknowledged_sample(model, samples, clean, tmp_path):
    result, board, link = cycle(model, samples, ["reset-eval@10"], tmp_path)
    assert_same_results(result, clean)
    assert [e.kind for e in board.events] == ["reset"]
    assert_resumed_at(link, 9)


def test_hang_gets_one_hardware_reset_and_resumes(model, samples, clean, tmp_path):
    result, board, link = cycle(model, samples, ["hang-eval@6"], tmp_path, timeout_scale=0.4)
    assert_same_results(result, clean)
    assert [e.kind for e in board.events] == ["hang"]
    assert_resumed_at(link, 5)


def test_persistent_hang_fails_with_the_last_lines_the_board_printed(model, samples, tmp_path):
    with pytest.raises(BoardUnresponsive) as info:
        cycle(model, samples, ["hang-forever@6"], tmp_path, timeout_scale=0.4)
    message = str(info.value)
    assert "after one hardware reset and retry" in message
    assert "inference stalled" in message  # the board's own last words are shown
    assert "@@TMH" in message and '"cmd":"boot"' in message  # ...and its banner after the reset


def test_model_larger_than_the_board_accepts_fails_for_that_model_only(model, samples, tmp_path):
    large = tiny_models.gesture_cnn("float32")
    limit = len(model) + 1  # the int8 model fits, the float32 one does not
    assert len(large) > limit
    with PtyServerProcess(TARGET, max_model_bytes=limit, log_path=tmp_path / "vb.log") as vb:
        link = SerialLink(vb.port)
        try:
            board = Board(ProtocolClient(link), name="virtual esp32s3", hard_reset=vb.hard_reset)
            board.connect()
            with pytest.raises(ModelRejected) as info:
                board.load(large, name="gesture_cnn_float32")
            assert info.value.code == "E_TOO_LARGE"
            assert "gesture_cnn_float32" in str(info.value) and str(len(large)) in str(info.value)
            # The board is fine: the next model loads and runs.
            report = board.load(model, name="gesture_cnn_int8")
            assert report.model_bytes == len(model)
            out = board.evaluate(samples[:3])
            assert [len(o) for o in out.outputs] == [report.output.nbytes] * 3
            assert board.events == []
        finally:
            link.close()


def test_port_disappearing_is_a_clear_error(model, samples, tmp_path):
    with pytest.raises(PortGone) as info:
        cycle(model, samples, ["vanish-eval@5"], tmp_path)
    message = str(info.value)
    assert "serial port lost during evaluation of gesture_cnn_int8" in message


# espressif/esp-idf#13940: a USB-Serial-JTAG console that receives bytes before its driver is
# installed stops receiving for good (ESP-IDF v5.1.0-5.1.4, 5.2.0-5.2.2, 5.3.0).
def test_a_board_deaf_until_its_banner_runs_a_clean_cycle(model, samples, clean, tmp_path):
    """Board.connect writes nothing until the boot has printed its banner."""
    result, board, _ = cycle(model, samples, ["deaf-before-banner"], tmp_path)
    assert_same_results(result, clean)
    assert board.events == []


def test_a_line_sent_before_the_banner_deafens_the_board_until_a_hardware_reset(tmp_path):
    """What the harness did before: `identify` at once after the reset, while the chip boots."""
    with PtyServerProcess(TARGET, faults=["deaf-before-banner"], log_path=tmp_path / "vb.log") as vb:
        link = SerialLink(vb.port)
        try:
            client = ProtocolClient(link)
            link.write(b"identify\n")  # during the boot
            assert client.wait_banner(5.0)["cmd"] == "boot"  # the banner still comes...
            with pytest.raises(BoardTimeout):
                client.identify()  # ...but the board hears nothing any more
            vb.hard_reset()
            client.banner = None
            board = Board(client, name=f"virtual {TARGET}", hard_reset=vb.hard_reset)
            assert board.connect()["ok"]  # after the reset, connect waits for the banner
        finally:
            link.close()
