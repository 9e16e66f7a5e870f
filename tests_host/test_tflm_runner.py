"""Host TFLite Micro runner: outputs, arena figure, and crash isolation per model."""
from __future__ import annotations

import numpy as np
import pytest

from targets.tflm.runner import (
    DEFAULT_ARENA_SIZE,
    TflmError,
    TflmWorker,
    dequantize_output,
    quantize_input,
    run_tflm,
)
from tests_host import tiny_models
from vocabulary.tensors import TensorSpec


def _int8_inputs(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (count, *tiny_models.GESTURE_SHAPE), dtype=np.int8)


def test_int8_model_runs_with_arena_from_tflm_and_its_source():
    run = run_tflm(tiny_models.gesture_cnn("int8"), _int8_inputs(4), name="gesture-int8")
    assert run.outputs.shape == (4, 3) and run.outputs.dtype == np.int8
    assert run.input == TensorSpec("int8", (1, 50, 3), run.input.scale, run.input.zero_point, 150)
    assert run.input.scale > 0 and run.output.dtype == "int8"
    assert run.arena_bytes > 0
    assert "host-tflm-python" in run.arena_source and "x86_64" in run.arena_source


def test_arena_figure_is_stable_across_two_calls():
    model = tiny_models.gesture_cnn("int8")
    first = run_tflm(model, _int8_inputs(1), name="a").arena_bytes
    second = run_tflm(model, _int8_inputs(3, seed=1), name="b").arena_bytes
    assert first == second > 0


def test_float_model_needs_a_larger_arena_than_int8():
    int8 = run_tflm(tiny_models.gesture_cnn("int8"), _int8_inputs(1), name="int8").arena_bytes
    x = np.random.default_rng(0).random((1, 50, 3), dtype=np.float32)
    float32 = run_tflm(tiny_models.gesture_cnn("float32"), x, name="float32")
    assert float32.outputs.dtype == np.float32
    np.testing.assert_allclose(float32.outputs.sum(axis=1), 1.0, rtol=1e-5)  # softmax
    assert float32.arena_bytes > int8


def test_worker_batch_equals_sample_by_sample_runs():
    inputs = _int8_inputs(100)
    with TflmWorker(tiny_models.gesture_cnn("int8"), name="gesture-int8") as worker:
        batch = worker.invoke(inputs)
        singles = np.concatenate([worker.invoke(inputs[i : i + 1]) for i in (0, 57, 99)])
    assert batch.shape == (100, 3)
    np.testing.assert_array_equal(singles, batch[[0, 57, 99]])
    assert len({tuple(row) for row in batch}) > 1  # outputs depend on the input


def test_native_crash_fails_that_model_only():
    broken = tiny_models.with_bad_tensor_index(tiny_models.gesture_cnn("int8"))
    with pytest.raises(TflmError, match=r"corrupt-variant: TFLM worker crashed with SIG\w+ while loading") as info:
        run_tflm(broken, _int8_inputs(1), name="corrupt-variant")
    assert "corrupt-variant" in str(info.value)
    # this process is alive and the next model runs normally
    assert run_tflm(tiny_models.gesture_cnn("int8"), _int8_inputs(1), name="next").outputs.shape == (1, 3)


def test_truncated_model_fails_alone():
    with pytest.raises(TflmError, match="half-model: TFLM failed while loading the model"):
        run_tflm(tiny_models.truncated(tiny_models.gesture_cnn("int8")), _int8_inputs(1), name="half-model")


def test_random_bytes_fail_alone():
    with pytest.raises(TflmError, match="noise:"):
        run_tflm(tiny_models.random_bytes(), _int8_inputs(1), name="noise")


def test_arena_too_small_is_a_clean_error_with_tflm_text():
    with pytest.raises(TflmError, match=r"tight-arena: .*(allocate|Failed)") as info:
        run_tflm(tiny_models.gesture_cnn("int8"), _int8_inputs(1), name="tight-arena", arena_size=1024)
    assert "TFLM said" in str(info.value)


def test_dynamic_range_model_is_refused_by_tflm():
    x = np.zeros((1, 50, 3), np.float32)
    with pytest.raises(TflmError, match="(?i)hybrid"):
        run_tflm(tiny_models.gesture_cnn("dynamic"), x, name="dynamic-range")


def test_inputs_of_wrong_dtype_or_shape_are_refused_before_running():
    with TflmWorker(tiny_models.gesture_cnn("int8"), name="gesture-int8") as worker:
        with pytest.raises(ValueError, match=r"gesture-int8: inputs are float32 \(2, 50, 3\)"):
            worker.invoke(np.zeros((2, 50, 3), np.float32))
        with pytest.raises(ValueError, match=r"expects int8 \(N, 50, 3\)"):
            worker.invoke(np.zeros((2, 40, 3), np.int8))
        assert worker.invoke(np.zeros((1, 50, 3), np.int8)).shape == (1, 3)  # still usable


def test_timeout_becomes_an_error_naming_the_model():
    with TflmWorker(tiny_models.gesture_cnn("int8"), name="slow-one") as worker:
        with pytest.raises(TflmError, match=r"slow-one: TFLM timed out"):
            worker.invoke(_int8_inputs(3000), timeout=0.001)
        with pytest.raises(TflmError, match="slow-one"):  # the worker was killed: later calls say so
            worker.invoke(_int8_inputs(1))


def test_quantize_input_rounds_half_away_from_zero_and_clips():
    details = TensorSpec("int8", (1, 4), scale=0.5, zero_point=-10, nbytes=4)
    x = np.array([[0.25, -0.25, 0.75, 0.2]], np.float32)  # /0.5 -> 0.5, -0.5, 1.5, 0.4
    np.testing.assert_array_equal(quantize_input(x, details), [[-9, -11, -8, -10]])
    np.testing.assert_array_equal(quantize_input(np.array([[1e3, -1e3, 0, 0]]), details), [[127, -128, -10, -10]])
    assert quantize_input(x, TensorSpec("float32", (1, 4), 0.0, 0, 16)).dtype == np.float32


def test_dequantize_output_uses_scale_and_zero_point():
    details = TensorSpec("int8", (1, 3), scale=1 / 256, zero_point=-128, nbytes=3)
    np.testing.assert_allclose(dequantize_output(np.array([[-128, 0, 127]], np.int8), details), [[0.0, 0.5, 255 / 256]])


# ------------------------------------------------------------------ big models (issue 20, item 5)
BIG_SHAPE = (640, 640, 3)  # the int8 input alone is 1,228,800 B: more than DEFAULT_ARENA_SIZE


def test_a_model_bigger_than_the_default_arena_is_measured_with_a_larger_one():
    big = tiny_models.image_cnn(BIG_SHAPE)
    x = np.random.default_rng(0).integers(-128, 128, (2, *BIG_SHAPE), dtype=np.int8)
    with TflmWorker(big, name="big-image") as worker:
        assert worker.arena_size > DEFAULT_ARENA_SIZE
        assert worker.arena_bytes > DEFAULT_ARENA_SIZE
        outputs = worker.invoke(x)
    # The figure is TFLM's used bytes, not the room it was given: the same in a larger arena.
    roomy = run_tflm(big, x, name="big-image", arena_size=4 * worker.arena_size)
    assert roomy.arena_bytes == worker.arena_bytes
    np.testing.assert_array_equal(roomy.outputs, outputs)


def test_an_explicit_arena_is_a_limit_and_is_never_grown():
    expected = rf"big-image: TFLM failed while loading the model \(arena {DEFAULT_ARENA_SIZE:,} B\)"
    with pytest.raises(TflmError, match=expected):
        TflmWorker(tiny_models.image_cnn(BIG_SHAPE), name="big-image", arena_size=DEFAULT_ARENA_SIZE)


def test_a_worker_that_dies_says_at_which_stage_and_with_which_arena():
    with TflmWorker(tiny_models.gesture_cnn("int8"), name="killed") as worker:
        worker._live().kill()
        with pytest.raises(TflmError, match=rf"killed: TFLM worker crashed with SIGKILL while invoking "
                                            rf"\(arena {DEFAULT_ARENA_SIZE:,} B\)"):
            worker.invoke(_int8_inputs(1))
