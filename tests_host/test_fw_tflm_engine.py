"""The firmware's TFLite Micro engine on the host: fw_host built with FW_ENGINE=tflm
(main/tflm_engine.cc, the op resolver generated from registered_ops.txt, TFLM's reference
kernels, -fno-exceptions -fno-rtti) against the TFLite Micro sources in $TFLM_SOURCE_DIR.

What runs in CI without a board is then the firmware's own code: its outputs must equal
the tflite-micro wheel's byte for byte, its arena figure is set beside the wheel's (they are
different measurements, docs/ARCHITECTURE.md "arena bytes"), and a whole HIL cycle runs on it through
a pty, as pytest-embedded drives a board. CI has no TFLM sources: those tests skip, saying
so. The configure-time checks need no sources and run everywhere.
"""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from targets.board.errors import ModelRejected, ProtocolError
from targets.board.fw_host import HOST_SOURCE_DIR, ensure_fw_tflm
from targets.board.links import SerialLink
from targets.board.protocol import ProtocolClient
from targets.board.recovering_client import Board, run_cycle
from targets.tflm.analysis import analyze_model
from targets.tflm.op_list import registered_ops
from targets.tflm.runner import run_tflm
from targets.virtual.fw_host_pty import NOT_BUILT_REASON, FwHostPtyProcess, tflm_source_dir
from tests_host import tiny_models
from tests_host.fw_host_process import FwHostOptions, FwHostProcess

needs_cmake = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")


def _configure(tmp_path, *args: str) -> tuple[int, str]:
    """cmake's exit code and its stderr with whitespace folded (it wraps long messages)."""
    proc = subprocess.run(["cmake", "-S", str(HOST_SOURCE_DIR), "-B", str(tmp_path / "b"), *args],
                          capture_output=True, text=True)
    return proc.returncode, " ".join(proc.stderr.split())


# ------------------------------------------------------------------ configure (no sources needed)
@needs_cmake
def test_tflm_engine_without_source_dir_fails_at_configure_with_one_message(tmp_path):
    code, err = _configure(tmp_path, "-DFW_ENGINE=tflm")
    assert code != 0
    assert "FW_ENGINE=tflm needs -DTFLM_SOURCE_DIR=DIR" in err
    assert err.count("CMake Error") == 1


@needs_cmake
def test_tflm_source_dir_without_tflm_names_the_missing_file(tmp_path):
    empty = tmp_path / "not-tflm"
    empty.mkdir()
    code, err = _configure(tmp_path, "-DFW_ENGINE=tflm", f"-DTFLM_SOURCE_DIR={empty}")
    assert code != 0
    assert f"TFLM_SOURCE_DIR={empty} is not a TFLite Micro source tree" in err
    assert "tensorflow/lite/micro/micro_interpreter.h is missing" in err


@needs_cmake
def test_unknown_engine_is_refused(tmp_path):
    code, err = _configure(tmp_path, "-DFW_ENGINE=esp-nn")
    assert code != 0 and "FW_ENGINE=esp-nn: expected fake or tflm" in err


# ------------------------------------------------------------------ the engine (TFLM_SOURCE_DIR)
@pytest.fixture(scope="module")
def fw_tflm():
    source = tflm_source_dir()
    if source is None:
        pytest.skip(NOT_BUILT_REASON)
    return ensure_fw_tflm(source)


MODELS = {"gesture_cnn_int8": lambda: tiny_models.gesture_cnn("int8"),
          "tanh_dense_int8": lambda: tiny_models.tanh_dense("int8")}


def _inputs(model: bytes, count: int, seed: int = 11) -> np.ndarray:
    spec = analyze_model(model, name="m").input
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, (count, *spec.shape[1:]), dtype=np.int8)


@pytest.mark.parametrize("label", MODELS)
def test_outputs_equal_the_wheel_byte_for_byte_and_arena_is_reported(fw_tflm, label, record_property):
    model = MODELS[label]()
    inputs = _inputs(model, 16)
    # registered_ops.txt is whatever list the firmware ships; an op outside it must be
    # refused by the engine's own check, naming the op, as on the chip.
    missing = [i.op for i in analyze_model(model, name=label).op_infos if i.op not in registered_ops()]
    with FwHostProcess(FwHostOptions(target="esp32s3"), binary=fw_tflm, timeout_scale=4.0) as fw:
        assert (fw.banner["engine"], fw.banner["esp_nn"]) == ("tflm", False)
        assert fw.banner["ops"] == registered_ops()
        board = Board(fw.client, name="fw_host (tflm)")
        board.connect()
        if missing:
            with pytest.raises(ModelRejected) as refused:
                board.load(model, name=label)
            assert refused.value.code == "E_OP" and str(refused.value).endswith(f"E_OP: {missing[0]}")
            pytest.skip(f"{label} uses {', '.join(sorted(set(missing)))}, not in registered_ops.txt: "
                        "refused with E_OP as it should be; outputs not compared")
        up = board.load(model, name=label)
        report = board.evaluate([x.tobytes() for x in inputs])
    wheel = run_tflm(model, inputs, name=label)

    assert [bytes(o) for o in report.outputs] == [o.tobytes() for o in wheel.outputs]
    assert (up.input.shape, up.output.shape) == (tuple(wheel.input.shape), tuple(wheel.output.shape))
    assert (up.output.zero_point, up.output.scale) == (wheel.output.zero_point, pytest.approx(wheel.output.scale))
    # Two measurements of one model: a plain MicroInterpreter here; the wheel's recording
    # interpreter, built with compression, holds more (docs/ARCHITECTURE.md, "arena bytes").
    # Both recorded, neither assumed.
    record_property("fw_tflm_arena_bytes", up.arena_used_bytes)
    record_property("wheel_arena_bytes", wheel.arena_bytes)
    record_property("wheel_minus_fw_arena_bytes", wheel.arena_bytes - up.arena_used_bytes)
    print(f"{label}: arena fw_host(tflm) {up.arena_used_bytes} B, wheel {wheel.arena_bytes} B "
          f"({wheel.arena_source}), wheel - fw {wheel.arena_bytes - up.arena_used_bytes} B")
    assert 0 < up.arena_used_bytes < wheel.arena_bytes


def test_profile_names_every_op_of_the_model_in_order(fw_tflm):
    model = tiny_models.gesture_cnn("int8")
    with FwHostProcess(binary=fw_tflm, timeout_scale=4.0) as fw:
        board = Board(fw.client, name="fw_host (tflm)")
        board.connect()
        board.load(model, name="gesture")
        ops = board.profile()
    assert [p.op for p in ops] == [i.op for i in analyze_model(model, name="gesture").op_infos]
    assert all(p.cycles > 0 for p in ops)


def test_engine_refusals_carry_tflm_reasons(fw_tflm):
    model = tiny_models.gesture_cnn("int8")
    with FwHostProcess(FwHostOptions(arena=2048), binary=fw_tflm, timeout_scale=4.0) as fw:
        with pytest.raises(ProtocolError) as too_small:
            fw.client.upload(model)
        with pytest.raises(ProtocolError) as broken:
            fw.client.upload(tiny_models.truncated(model))
    assert (too_small.value.code, too_small.value.msg) == ("E_ALLOC", "AllocateTensors failed: arena too small")
    assert (broken.value.code, broken.value.msg) == ("E_MODEL", "flatbuffer verification failed")


# ------------------------------------------------------------------ a HIL cycle on a pty
def test_hil_cycle_on_the_binary_through_a_pty_recovers_from_resets(fw_tflm, tmp_path):
    """run_cycle (the HIL test's cycle) on the binary over a pty: a simulated reset in the
    evaluation stream and a hardware reset both end in the wheel's exact outputs."""
    model = tiny_models.gesture_cnn("int8")
    inputs = _inputs(model, 24, seed=3)
    samples = [x.tobytes() for x in inputs]
    expected = [o.tobytes() for o in run_tflm(model, inputs, name="gesture").outputs]
    with FwHostPtyProcess(fw_tflm, "esp32c3", extra_args=["--reset-after-lines", "20"],
                          log_path=tmp_path / "fw.log") as pty:
        link = SerialLink(pty.port)
        try:
            board = Board(ProtocolClient(link, timeout_scale=4.0), name="fw_host (tflm) pty",
                          hard_reset=pty.hard_reset)
            board.connect()
            assert board.banner["target"] == "esp32c3"
            cycle = run_cycle(board, model, name="gesture", samples=samples, runs=5, warmup=1)
            assert [bytes(o) for o in cycle.evaluation.outputs] == expected
            assert [e.kind for e in board.events] == ["reset"]
            assert [p.op for p in cycle.profile] == [i.op for i in analyze_model(model, name="g").op_infos]

            nonce = board.banner["nonce"]
            pty.hard_reset()  # DTR/RTS on a board: the model is gone, the board re-uploads
            again = board.evaluate(samples[:4])
            assert [bytes(o) for o in again.outputs] == expected[:4]
            assert board.banner["nonce"] != nonce and pty.restarts == 1
        finally:
            link.close()


def test_a_lean_op_list_builds_a_firmware_that_registers_only_it(tmp_path):
    """ensure_fw_tflm(ops_file=...) is the lean firmware: its own build directory, its
    resolver and banner from that list, and E_OP naming the op a model needs beyond it."""
    source = tflm_source_dir()
    if source is None:
        pytest.skip(NOT_BUILT_REASON)
    lean = tmp_path / "lean_ops.txt"
    lean.write_text("CONV_2D\nRESHAPE\nSOFTMAX\n")  # the gesture CNN also needs FULLY_CONNECTED, MAX_POOL_2D
    binary = ensure_fw_tflm(source, lean)
    assert binary != ensure_fw_tflm(source) and binary.parent.name.startswith("fw-tflm-")
    model = tiny_models.gesture_cnn("int8")
    needed = [i.op for i in analyze_model(model, name="gesture").op_infos]
    first_missing = next(op for op in needed if op not in ("CONV_2D", "RESHAPE", "SOFTMAX"))
    with FwHostProcess(binary=binary, timeout_scale=4.0) as fw:
        assert fw.banner["ops"] == ["CONV_2D", "RESHAPE", "SOFTMAX"]
        board = Board(fw.client, name="fw_host (tflm, lean)")
        board.connect()
        with pytest.raises(ModelRejected) as refused:
            board.load(model, name="gesture")
    assert refused.value.code == "E_OP" and str(refused.value).endswith(f"E_OP: {first_missing}")
