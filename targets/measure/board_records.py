"""A board cycle turned into one result record per (variant, target), beside the host run.

targets.board.recovering_client.run_cycle gives what the board reported (upload, `time`, per-op
profile, outputs of the streamed test split); the same model on host TFLite Micro, over
the same samples, gives the reference outputs, the analysis and the latency estimate.
Source "hil" on a real chip, "virtual" on the virtual board: a virtual board's timings
are the estimate echoed back (or the host's clock), never a measured latency.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from targets.board.replies import CycleResult, RecoveryEvent
from targets.cost.estimator import LatencyEstimate, estimate_latency
from targets.cost.registry import TargetProfile
from targets.measure.shared import (
    Conditions,
    artifact_figures,
    estimate_extra,
    expected_error_pct,
    set_accuracy,
    set_correctness,
)
from targets.tflm.evaluate import HostEvaluation, evaluate_on_host
from targets.tflm.runner import dequantize_output, quantize_input
from vocabulary.metrics import LATENCY_EST_US
from vocabulary.records import ResultRecord
from vocabulary.tensors import TensorSpec

BANNER_KEYS = ("fw", "platform", "engine", "esp_nn", "tflm_version", "esp_nn_version", "clock_mhz", "nonce")


@dataclass(frozen=True)
class FirmwareFigures:
    """Image size and static RAM of the flashed firmware (None, with `note` saying why)."""

    image_bytes: int | None
    static_ram_bytes: int | None
    note: str


@dataclass(frozen=True)
class HostSide:
    """What the board's figures are checked against, computed before the cycle."""

    evaluation: HostEvaluation  # the same model on host TFLM, same samples
    samples: list[bytes]  # the test split in the model's own input quantization
    estimate: LatencyEstimate  # the target's cost model


#: Inputs streamed through a model that has no labelled data of its input shape: enough to
#: compare the board's outputs with host TFLM's, not to measure an accuracy.
UNLABELLED_SAMPLES = 8
NO_LABELLED_DATA = "accuracy n/a: no labelled data for this input shape"


def unlabelled_inputs(model_input: TensorSpec, count: int = UNLABELLED_SAMPLES, seed: int = 0) -> np.ndarray:
    """Seeded uniform inputs in [-1, 1] of the model's own input shape (batch 1 dropped): the
    board and host TFLM each run them, so their outputs can be compared."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(count, *model_input.shape[1:])).astype(np.float32)


def host_side(variant: str, model: bytes, x: np.ndarray, y: np.ndarray, target: TargetProfile) -> HostSide:
    evaluation = evaluate_on_host(variant, model, x, y, reference=False)
    inputs = quantize_input(x, evaluation.input)  # the model's own input scale / zero point
    return HostSide(evaluation, [inputs[i].tobytes() for i in range(len(inputs))],
                    estimate_latency(evaluation.analysis, target))


@dataclass
class BoardRun:
    """One variant's cycle on one board, and what it is judged against.

    `host` is the same model on host TFLM over the same samples; `reference` the float32
    parent on host TFLM over the same samples (accuracy drop, flips)."""

    variant: str
    target: str
    conditions: Conditions
    model: bytes
    cycle: CycleResult
    host: HostEvaluation
    reference: HostEvaluation
    labels: np.ndarray | None  # None: inputs without labels (unlabelled_inputs), no accuracy
    class_names: Sequence[str]
    estimate: LatencyEstimate
    firmware: FirmwareFigures
    provenance: dict[str, Any] = field(default_factory=dict)
    banner: dict[str, Any] = field(default_factory=dict)
    min_free_heap: int | None = None  # heap low-water mark after the whole cycle
    recoveries: Sequence[RecoveryEvent] = ()


def tensor_mismatches(upload_input: TensorSpec, upload_output: TensorSpec,
                      host_input: TensorSpec, host_output: TensorSpec) -> list[str]:
    """The board's tensors must be the model's: same type, shape, size and quantization."""
    problems = []
    for side, board_t, host_t in (("input", upload_input, host_input), ("output", upload_output, host_output)):
        same = (board_t.dtype, board_t.shape, board_t.nbytes, board_t.zero_point) == \
            (host_t.dtype, host_t.shape, host_t.nbytes, host_t.zero_point)
        if not same or not np.isclose(board_t.scale, host_t.scale):
            problems.append(f"{side} tensor: board {board_t.to_wire()}, host {host_t.to_wire()}")
    return problems


def rejected_record(variant: str, target: str, conditions: Conditions, model: bytes, host: HostEvaluation,
                    estimate: LatencyEstimate, error: str) -> ResultRecord:
    """The board refused the model (too large for its buffers or arena): it does not fit."""
    return ResultRecord(variant=variant, target=target, source=conditions.source, deployable=True,
                        model_bytes=len(model), fits=False, error=error,
                        latency_est_us=LATENCY_EST_US.figure(estimate.total_us), ops=list(host.analysis.ops),
                        latency_est_error_pct=expected_error_pct(estimate), extra=estimate_extra(estimate))


def board_record(run: BoardRun) -> ResultRecord:
    """The record of one cycle: accuracy and bit-exactness from the board's own outputs,
    arena and heap from its upload report, latency from its `time` reply (on a chip only)."""
    cycle, host, conditions = run.cycle, run.host, run.conditions
    samples = len(cycle.evaluation.outputs)
    out_dtype = np.dtype(host.output.dtype)
    board_out = np.stack([np.frombuffer(o, dtype=out_dtype) for o in cycle.evaluation.outputs])
    host_out = np.asarray(host.raw_outputs).reshape(samples, -1)
    diff = np.abs(board_out.astype(np.float64) - host_out.astype(np.float64)).max(axis=1)
    max_lsb_diff = int(diff.max()) if out_dtype.kind in "iu" else None
    figures = artifact_figures(run.model)
    arena = cycle.upload.arena_used_bytes
    record = ResultRecord(
        variant=run.variant, target=run.target, source=conditions.source,
        model_bytes=figures.model_bytes, gzip_bytes=figures.gzip_bytes, model_sha256=figures.sha256,
        arena_bytes=arena, arena_source=conditions.arena_source(host.arena_source),
        macs=host.analysis.macs, ops=list(host.analysis.ops), deployable=True, fits=True,
        latency_us=cycle.timing.median_us if conditions.measures_latency else None,
        latency_est_us=LATENCY_EST_US.figure(run.estimate.total_us),
        latency_est_error_pct=expected_error_pct(run.estimate),
        max_lsb_diff=max_lsb_diff, provenance=dict(run.provenance),
        flash_bytes=run.firmware.image_bytes,  # the model lives in RAM: flash holds the image
        extra=estimate_extra(run.estimate))
    if run.labels is None:  # the host gate's words for the same case (targets.measure.host)
        record.extra.update(no_labelled_data=True, notes=[
            f"{NO_LABELLED_DATA} {tuple(host.input.shape[1:])}; board outputs compared with host TFLM on "
            f"{samples} seeded random inputs"])
    else:
        labels = np.asarray(run.labels)
        scores = dequantize_output(board_out.reshape(host_out.shape), host.output)
        correct = np.asarray(scores).reshape(samples, -1).argmax(axis=1) == labels
        set_accuracy(record, float(correct.mean() * 100.0), run.reference.accuracy)
        record.test_samples = samples
        set_correctness(record, correct, labels, run.class_names, run.reference.predictions == labels)
    record.extra.update(_board_extra(run, diff if max_lsb_diff else None))
    return record


def _board_extra(run: BoardRun, lsb_diff: np.ndarray | None) -> dict[str, Any]:
    cycle, host, firmware = run.cycle, run.host, run.firmware
    op_infos = {info.index: info for info in host.analysis.op_infos}
    return {
        "timing": {**cycle.timing.__dict__, "label": run.conditions.timings},
        "profile": [{"index": p.index, "op": p.op, "us": p.us, "cycles": p.cycles,
                     "macs": op_infos[p.index].macs if p.index in op_infos else None,
                     "elements": op_infos[p.index].elements if p.index in op_infos else None,
                     "dtype": op_infos[p.index].dtype if p.index in op_infos else None}
                    for p in cycle.profile],
        "free_heap": cycle.upload.free_heap,
        "min_free_heap": run.min_free_heap,
        "host_arena_bytes": host.arena_bytes, "host_arena_source": host.arena_source,
        "arena_gap_bytes": cycle.upload.arena_used_bytes - (host.arena_bytes or 0),
        "firmware_image_bytes": firmware.image_bytes if firmware.image_bytes is not None else firmware.note,
        "firmware_static_ram_bytes": (firmware.static_ram_bytes
                                      if firmware.static_ram_bytes is not None else firmware.note),
        "eval_samples": len(cycle.evaluation.outputs), "eval_seconds": round(cycle.evaluation.seconds, 3),
        "upload_seconds": round(cycle.upload.seconds, 3), "cycle_seconds": round(cycle.seconds, 3),
        "lsb_diff_per_sample": [int(d) for d in lsb_diff] if lsb_diff is not None else [],
        "recoveries": [event.__dict__ for event in run.recoveries],
        "board": {k: run.banner.get(k) for k in BANNER_KEYS},
        "emulated": run.conditions.emulated,
    }
