"""targets.measure.board_records without a board: a hand-built cycle becomes the record the gate judges.

Six samples, three classes, int8 logits. The board's outputs equal host TFLM's except on
sample 4, where they are 2 LSB off and change the prediction: every figure must come from
the board's outputs, every label from the run's conditions.
"""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from targets.board.replies import CycleResult, EvalReport, OpProfile, RecoveryEvent, TimingReport, UploadReport
from targets.cost.estimator import estimate_latency
from targets.cost.registry import load_targets
from targets.measure.board_records import (
    UNLABELLED_SAMPLES,
    BoardRun,
    FirmwareFigures,
    board_record,
    rejected_record,
    tensor_mismatches,
    unlabelled_inputs,
)
from targets.measure.shared import (
    ACCURACY_DECIMALS,
    CHIP,
    HOST,
    LATENCY_LABEL,
    VIRTUAL_ENGINES,
    accuracy_figure,
    artifact_figures,
    board_conditions,
    set_accuracy,
)
from targets.tflm.analysis import ModelAnalysis, OpInfo
from targets.tflm.evaluate import HostEvaluation
from vocabulary.metrics import LATENCY_EST_US
from vocabulary.records import ResultRecord
from vocabulary.tensors import TensorSpec

MODEL = b"TFL3" + bytes(range(256)) * 4
CLASSES = ("wave", "punch", "flex")
LABELS = np.array([0, 0, 1, 1, 2, 2])
IN = TensorSpec("int8", (1, 4), 0.05, -3, 4)
OUT = TensorSpec("int8", (1, 3), 1 / 256, -128, 3)
# Host TFLM logits: argmax 0, 0, 1, 1, 2, 2 (all right).
HOST_RAW = np.array([[90, 10, 0], [80, 0, 5], [0, 70, 1], [2, 60, 3], [0, 1, 2], [5, 0, 40]], dtype=np.int8)
BOARD_RAW = HOST_RAW.copy()
BOARD_RAW[4] = [0, 3, 2]  # 2 LSB off, and now argmax 1: wrong
# The float32 reference: wrong on sample 1, right on the others.
REFERENCE_PREDICTIONS = np.array([0, 2, 1, 1, 2, 2])
OP_INFOS = [OpInfo(0, "CONV_2D", 1200, "int8", 400), OpInfo(1, "MAX_POOL_2D", 0, "int8", 300),
            OpInfo(2, "FULLY_CONNECTED", 96, "int8", 32)]


def analysis() -> ModelAnalysis:
    return ModelAnalysis(ops=["CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED"], op_infos=OP_INFOS,
                         macs=1296, param_bytes=500, peak_activation_bytes=400, input=IN, output=OUT,
                         deployable=True, notes=[], name="ptq_int8", model_bytes=len(MODEL))


def evaluation(predictions: np.ndarray, raw: np.ndarray | None) -> HostEvaluation:
    accuracy = float((predictions == LABELS).mean() * 100)
    return HostEvaluation("ptq_int8", accuracy, predictions, 5000, "host-tflm-python (x86_64)", 0, None, None,
                          analysis(), IN, OUT, 0.1, "tflm", raw_outputs=raw)


def tensor(details: TensorSpec, **changes) -> TensorSpec:
    return dataclasses.replace(details, **changes)


def cycle(outputs: np.ndarray = BOARD_RAW) -> CycleResult:
    upload = UploadReport(len(MODEL), 0x1234, 4680, 200_000, tensor(IN), tensor(OUT), 0.25)
    timing = TimingReport(100, 10, 812.0, 800.0, 830.0, 5.0, 810.5, 194_880.0, 192_000.0, 199_200.0,
                        1200.0, 194_520.0)
    profile = [OpProfile(0, "CONV_2D", 600.0, 144_000), OpProfile(1, "MAX_POOL_2D", 90.0, 21_600),
               OpProfile(2, "FULLY_CONNECTED", 100.0, 24_000), OpProfile(9, "DEQUANTIZE", 5.0, 1200)]
    evaluation_report = EvalReport([row.tobytes() for row in outputs], [800.0] * 6, [192_000] * 6, 1.5)
    return CycleResult(upload, timing, profile, evaluation_report, 2.0)


def run(conditions=CHIP, **changes) -> BoardRun:
    target = load_targets()["esp32"]
    values = dict(
        variant="ptq_int8", target="esp32", conditions=conditions, model=MODEL, cycle=cycle(),
        host=evaluation(LABELS.copy(), HOST_RAW), reference=evaluation(REFERENCE_PREDICTIONS, None),
        labels=LABELS, class_names=CLASSES, estimate=estimate_latency(analysis(), target),
        firmware=FirmwareFigures(812_000, 61_000, "esp-idf-size app.map"),
        provenance={"test_split": "seed7"},
        banner={"fw": "1.2", "clock_mhz": 240, "target": "esp32", "tflm_version": "1.4.0", "esp_nn_version": "1.2.3"},
        min_free_heap=150_000, recoveries=[RecoveryEvent("reset", "eval", "nonce changed")])
    return BoardRun(**{**values, **changes})


def test_figures_come_from_the_boards_outputs_not_the_hosts():
    record = board_record(run())
    assert record.accuracy == 83.333  # 5 of 6; host TFLM says 100 %
    assert record.accuracy_drop_pp == 0.0  # the reference: 5 of 6 too
    assert record.max_lsb_diff == 2 and record.extra["lsb_diff_per_sample"] == [0, 0, 0, 0, 2, 0]
    assert record.test_samples == 6 and record.extra["eval_samples"] == 6
    # Flips against the float32 reference: sample 1 (wrong -> right), sample 4 (right -> wrong).
    assert record.flipped_samples == [1, 4]
    assert (record.extra["flips_to_wrong"], record.extra["flips_to_right"]) == (1, 1)
    assert record.per_class_accuracy == {"wave": 100.0, "punch": 100.0, "flex": 50.0}
    assert (record.max_class_drop_pp, record.extra["worst_class"]) == (50.0, "flex")


def test_a_model_without_labelled_data_gets_every_board_figure_but_accuracy():
    """A --model of another input shape: inputs without labels; outputs still compared."""
    record = board_record(run(labels=None))
    assert (record.accuracy, record.accuracy_drop_pp, record.test_samples) == (None, None, None)
    assert record.correct_bitmap is None and not record.per_class_accuracy and not record.flipped_samples
    assert record.extra["no_labelled_data"] is True
    assert record.extra["notes"] == ["accuracy n/a: no labelled data for this input shape (4,); board outputs "
                                     "compared with host TFLM on 6 seeded random inputs"]
    assert record.max_lsb_diff == 2 and record.extra["eval_samples"] == 6
    assert (record.arena_bytes, record.latency_us, record.macs) == (4680, 810.5, 1296)


def test_unlabelled_inputs_have_the_models_input_shape_and_are_seeded():
    x = unlabelled_inputs(TensorSpec("int8", (1, 50, 12), 0.05, -3, 600))
    assert x.shape == (UNLABELLED_SAMPLES, 50, 12) and x.dtype == np.float32
    assert -1.0 <= x.min() < x.max() <= 1.0
    assert np.array_equal(x, unlabelled_inputs(TensorSpec("int8", (1, 50, 12), 0.05, -3, 600)))


def test_a_chip_record_carries_measured_latency_and_the_chips_figures():
    record = board_record(run())
    assert (record.source, record.latency_us, record.extra["emulated"]) == ("hil", 810.5, False)
    assert record.extra["timing"]["label"] == "measured on chip" and record.extra["timing"]["median_us"] == 810.5
    assert (record.arena_bytes, record.arena_source) == (4680, "chip (arena_used_bytes)")
    assert record.extra["arena_gap_bytes"] == 4680 - 5000
    assert record.flash_bytes == 812_000 and record.extra["firmware_static_ram_bytes"] == 61_000
    assert (record.extra["free_heap"], record.extra["min_free_heap"]) == (200_000, 150_000)
    assert record.extra["recoveries"] == [{"kind": "reset", "during": "eval", "detail": "nonce changed"}]
    assert record.extra["board"] == {"fw": "1.2", "platform": None, "engine": None, "esp_nn": None,
                                     "tflm_version": "1.4.0", "esp_nn_version": "1.2.3",
                                     "clock_mhz": 240, "nonce": None}
    assert record.provenance == {"test_split": "seed7"} and record.fits is True and record.error is None


@pytest.mark.parametrize("engine", sorted(VIRTUAL_ENGINES))
def test_a_virtual_board_never_reports_a_measured_latency(engine):
    conditions = board_conditions(True, engine)
    record = board_record(run(conditions, firmware=FirmwareFigures(None, None, "n/a (virtual)")))
    assert record.source == "virtual" and record.latency_us is None and record.extra["emulated"] is True
    assert record.extra["timing"]["label"].startswith("emulated (")
    assert record.latency_est_us == round(run().estimate.total_us, 1)  # the form every record keeps it in
    assert record.extra["firmware_image_bytes"] == "n/a (virtual)" and record.flash_bytes is None
    if engine == "python":
        assert record.arena_source == "virtual board: host-tflm-python (x86_64)"
    else:
        assert "plain MicroInterpreter" in record.arena_source


def test_the_estimate_is_labelled_and_the_artifact_figures_are_the_hosts():
    record = board_record(run())
    estimate = run().estimate
    assert record.latency_est_us == pytest.approx(estimate.total_us, abs=0.05)  # to the record's 1 decimal
    assert record.extra["latency_est_label"] == LATENCY_LABEL and "not measured" in LATENCY_LABEL
    assert record.extra["latency_est_calibrated"] is estimate.calibrated
    assert [row[:2] for row in record.extra["estimate_per_op_us"]] == [[0, "CONV_2D"], [1, "MAX_POOL_2D"],
                                                                       [2, "FULLY_CONNECTED"]]
    figures = artifact_figures(MODEL)
    assert (record.model_bytes, record.gzip_bytes, record.model_sha256) == (
        len(MODEL), figures.gzip_bytes, hashlib.sha256(MODEL).hexdigest())
    assert 0 < record.gzip_bytes < len(MODEL)
    assert (record.macs, record.ops) == (1296, ["CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED"])


def test_profile_rows_carry_the_work_calibration_fits_to():
    profile = board_record(run()).extra["profile"]
    assert [(p["index"], p["cycles"], p["macs"], p["elements"], p["dtype"]) for p in profile] == [
        (0, 144_000, 1200, 400, "int8"), (1, 21_600, 0, 300, "int8"), (2, 24_000, 96, 32, "int8"),
        (9, 1200, None, None, None)]  # an op the host analysis does not know: no invented work


def test_a_bit_exact_board_lists_no_per_sample_differences():
    record = board_record(run(cycle=cycle(HOST_RAW)))
    assert record.max_lsb_diff == 0 and record.extra["lsb_diff_per_sample"] == []
    assert record.accuracy == 100.0 and record.flipped_samples == [1]


def test_tensor_mismatches_name_the_side_and_both_descriptions():
    assert tensor_mismatches(tensor(IN), tensor(OUT), IN, OUT) == []
    problems = tensor_mismatches(tensor(IN, zero_point=0), tensor(OUT, scale=0.5), IN, OUT)
    assert [p.split(":")[0] for p in problems] == ["input tensor", "output tensor"]
    assert "-3" in problems[0] and "0.5" in problems[1]
    assert tensor_mismatches(tensor(IN, shape=(1, 5)), tensor(OUT, dtype="uint8"), IN, OUT) != []


def test_a_rejected_model_is_a_record_that_does_not_fit():
    estimate = run().estimate
    record = rejected_record("big", "esp32", CHIP, MODEL, evaluation(LABELS, HOST_RAW), estimate,
                             "model_too_large: 1.2 MB > 512 KB")
    assert (record.fits, record.error, record.model_bytes) == (False, "model_too_large: 1.2 MB > 512 KB", len(MODEL))
    assert record.accuracy is None and record.latency_us is None
    assert record.extra["latency_est_label"] == LATENCY_LABEL


def test_unknown_engine_or_source_is_refused():
    with pytest.raises(ValueError, match="unknown virtual-board engine 'qemu'"):
        board_conditions(True, "qemu")
    assert board_conditions(False, "qemu") is CHIP
    from targets.measure.shared import Conditions

    with pytest.raises(ValueError, match="unknown source"):
        Conditions("simulator", "x", "y")


def test_a_board_record_is_what_calibrate_fits_to():
    """The profile rows a chip record carries are the rows calibrate reads: same ops, cycles, work."""
    from tinyml_harness.calibrate import measured_models

    full = cycle()
    full.profile.pop()  # only the model's own ops: an unknown op makes calibrate skip the record
    record = board_record(run(cycle=full))
    models, notes = measured_models([record])
    assert notes == [] and len(models) == 1
    assert models[0].ops == OP_INFOS and models[0].cycles == [144_000.0, 21_600.0, 24_000.0]
    virtual = board_record(run(board_conditions(True, "python"), cycle=full))
    assert measured_models([virtual]) == ([], ["skipped ptq_int8/esp32 (virtual): not measured on a chip"])


def test_board_accuracy_takes_the_same_form_as_the_hosts():
    """5 of 6 right: 83.333 in a board record, as in a host record, not 83.33333333333333."""
    record = board_record(run())
    host = ResultRecord(variant="ptq_int8", target="esp32", source=HOST.source)
    set_accuracy(host, 100 * 5 / 6, 100 * 5 / 6)
    assert (record.accuracy, record.accuracy_drop_pp) == (host.accuracy, host.accuracy_drop_pp) == (83.333, 0.0)
    assert accuracy_figure(100 * 2 / 3) == 66.667 and ACCURACY_DECIMALS == 3


def test_board_latency_estimate_takes_the_same_form_as_the_hosts():
    """One rounding rule (vocabulary.metrics): 1 decimal in a board record as in a host record."""
    estimate = run().estimate.total_us
    assert estimate != round(estimate, 1)  # the case is not trivially rounded already
    assert board_record(run()).latency_est_us == LATENCY_EST_US.figure(estimate) == round(estimate, 1)
    rejected = rejected_record("ptq_int8", "esp32", CHIP, b"model", run().host, run().estimate, "too large")
    assert rejected.latency_est_us == round(estimate, 1)
