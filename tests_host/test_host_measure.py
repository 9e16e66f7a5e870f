"""Host measurements: per-model errors stay with their model; records carry what was measured."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from reports.budgets import check_budgets
from targets.cost.registry import load_targets
from targets.measure.host import HostMeasurements
from tests_host import tiny_models


@dataclass
class Model:
    name: str
    tflite_bytes: bytes


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.random((40, 50, 3), dtype=np.float32), rng.integers(0, 3, 40)


def test_float_model_where_int8_is_required_is_an_error_for_that_model(data):
    measurements = HostMeasurements(*data)
    measured = measurements.measure(Model("float_in_disguise", tiny_models.gesture_cnn("float32")), int8_required=True)
    assert measured.error and "float_in_disguise" in measured.error and "int8 model is required" in measured.error
    fine = measurements.measure(Model("int8", tiny_models.gesture_cnn("int8")), int8_required=True)
    assert fine.error is None and fine.evaluation is not None and fine.arena_bytes > 0


def test_external_model_with_another_input_shape_is_measured_without_accuracy(data):
    """Whether or not --dataset was given, a model whose input differs from the samples is
    sized, arena-measured and estimated; only accuracy is n/a (issue 21, item 5)."""
    x, y = data
    model = Model("mine", tiny_models.gesture_cnn("int8"))
    measurements = HostMeasurements(x[:, :20, :], y)
    measured = measurements.measure(model, is_external=True)
    assert measured.error is None and measured.evaluation is None  # sized and arena-measured, accuracy skipped
    assert measured.arena_bytes > 0 and measured.notes[0].startswith(
        "accuracy n/a (no labelled data for this input shape): model input (50, 3), dataset samples (20, 3)")
    record = measurements.record(measured, None, load_targets()["esp32"])
    assert record.extra["no_labelled_data"] and record.accuracy is None and record.error is None
    assert record.model_bytes > 0 and record.macs > 0 and record.ops and record.latency_est_us > 0
    assert check_budgets(record, {"min_accuracy": 85.0, "max_accuracy_drop_pp": 1.0}) == []  # n/a, not a failure


def test_op_the_firmware_lacks_is_a_problem_named_in_the_record(data):
    measurements = HostMeasurements(*data)
    measured = measurements.measure(Model("gelu_model", tiny_models.gelu_dense("int8")), is_external=True)
    record = measurements.record(measured, None, load_targets()["esp32"])
    assert any("GELU" in p for p in record.extra["problems"])


def test_record_has_drop_and_flips_versus_the_reference(data):
    x, y = data
    measurements = HostMeasurements(x, y)
    reference = measurements.measure(Model("float32", tiny_models.gesture_cnn("float32")))
    measured = measurements.measure(Model("int8", tiny_models.gesture_cnn("int8")))
    record = measurements.record(measured, reference, load_targets()["esp32s3"])
    assert record.target == "esp32s3" and record.source == "host-tflm"
    assert record.accuracy_drop_pp == pytest.approx(
        reference.evaluation.accuracy - measured.evaluation.accuracy, abs=1e-3)
    flips = np.flatnonzero((reference.evaluation.predictions == y) != (measured.evaluation.predictions == y))
    assert record.flipped_samples == flips.tolist() and record.test_samples == 40
    assert record.latency_est_us > 0 and "estimate" in record.extra["latency_est_label"]
    assert record.fits is True and record.macs == 53_632


def test_a_prefetched_measurement_is_the_one_measure_returns(data):
    """prefetch() measures on a background thread what measure() would measure itself; a
    model that cannot be measured keeps its error for measure(), and nothing is measured twice."""
    int8 = Model("int8", tiny_models.gesture_cnn("int8"))
    corrupt = Model("corrupt", b"TFL3" + bytes(60))
    direct = HostMeasurements(*data).measure(int8)
    measurements = HostMeasurements(*data)
    measurements.prefetch(int8)
    measurements.prefetch(corrupt)
    measurements.prefetch(int8)  # already under way: ignored
    measured = measurements.measure(int8)
    assert measured.error is None and measured.sha256 == direct.sha256
    assert measured.evaluation.accuracy == direct.evaluation.accuracy and measured.arena_bytes == direct.arena_bytes
    np.testing.assert_array_equal(measured.evaluation.predictions, direct.evaluation.predictions)
    failed = measurements.measure(corrupt)
    assert failed.error and "corrupt" in failed.error
    assert measurements.measure(int8) is measured and measurements.measure(corrupt) is failed
    measurements.close()
