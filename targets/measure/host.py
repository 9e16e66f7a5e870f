"""Host measurements per variant, turned into one result record per variant x target.

Each model is evaluated once on host TFLite Micro (accuracy, arena, bit-exactness,
analysis); the per-target part (latency estimate, fits check) is cheap and derived from
it. A model that cannot be measured (corrupt file, TFLM crash, shape mismatch) gets an
error for that model alone; the others are still measured.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from targets.cost.estimator import estimate_latency, fits
from targets.cost.registry import TargetProfile
from targets.measure.chip import chip_arena_figure
from targets.measure.shared import (
    HOST,
    artifact_figures,
    estimate_extra,
    expected_error_pct,
    set_accuracy,
    set_correctness,
)
from targets.tflm.analysis import ModelAnalysis, analyze_model, check_firmware_ops, require_int8
from targets.tflm.evaluate import HostEvaluation, evaluate_on_host
from targets.tflm.op_list import REGISTERED_OPS_FILE, registered_ops
from vocabulary.metrics import LATENCY_EST_US
from vocabulary.records import ResultRecord

SOURCE = HOST.source
NO_LABELLED_DATA = "accuracy n/a (no labelled data for this input shape)"


class Model(Protocol):
    # Read-only properties: a frozen dataclass (BuiltVariant) satisfies them; a settable
    # `name: str` member would not.
    @property
    def name(self) -> str: ...

    @property
    def tflite_bytes(self) -> bytes: ...


@dataclass
class Measured:
    """What one model gave on the host, or why it gave nothing."""

    name: str
    model_bytes: int
    gzip_bytes: int
    sha256: str = ""
    data: bytes = field(default=b"", repr=False)  # the model, for the per-target chip arena
    analysis: ModelAnalysis | None = None
    evaluation: HostEvaluation | None = None
    arena_bytes: int | None = None
    arena_source: str | None = None
    error: str | None = None
    problems: list[str] = field(default_factory=list)  # measured, but fails a harness rule (ops, int8)
    notes: list[str] = field(default_factory=list)


class HostMeasurements:
    """Evaluates each model once, on demand or ahead of time (prefetch), and caches the
    outcome (or its error)."""

    def __init__(self, x_test: np.ndarray, y_test: np.ndarray, *,
                 class_names: tuple[str, ...] | None = None, ops_file: Path | None = None,
                 cache_dir: Path | None = None):
        self.x_test, self.y_test = x_test, y_test
        self.cache_dir = cache_dir  # the artifact cache, where the reference outputs are kept
        # The op list the firmware under test is built with (--ops-file); default: the full list.
        self.ops_file = ops_file or REGISTERED_OPS_FILE
        labels = sorted({int(v) for v in np.asarray(y_test)})
        if class_names:
            self.class_names = tuple(class_names)
        else:
            self.class_names = tuple(str(i) for i in range(max(labels, default=-1) + 1))
        self._measured: dict[str, Measured] = {}
        self._pending: dict[str, Future[Measured]] = {}
        self._lock = threading.Lock()
        self._background: ThreadPoolExecutor | None = None

    def prefetch(self, model: Model, *, int8_required: bool = False) -> None:
        """Start measuring `model` now, on a background thread, so that measure() finds it
        done: the host gate calls this as each variant is built, so the evaluations overlap
        the builds still running (TFLM runs in a subprocess: the thread only waits on it).
        The figures are those measure() would compute; a failure is kept for measure()."""
        with self._lock:
            if model.name in self._measured or model.name in self._pending:
                return
            if self._background is None:  # one thread: evaluations in build order, float32 first
                self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tinyml-host-prefetch")
            self._pending[model.name] = self._background.submit(self._measure, model, int8_required, False)

    def measure(self, model: Model, *, int8_required: bool = False, is_external: bool = False) -> Measured:
        with self._lock:
            pending = self._pending.pop(model.name, None)
        if pending is not None:
            self._measured[model.name] = pending.result()  # _measure keeps every error in the Measured
        if model.name not in self._measured:
            self._measured[model.name] = self._measure(model, int8_required, is_external)
        return self._measured[model.name]

    def close(self) -> None:
        """Wait for prefetches still running and stop the background thread."""
        if self._background is not None:
            self._background.shutdown(wait=True, cancel_futures=True)
            self._background = None

    def _measure(self, model: Model, int8_required: bool, is_external: bool) -> Measured:
        try:
            data = model.tflite_bytes
        except OSError as exc:
            return Measured(model.name, 0, 0, error=f"{model.name}: cannot read the model ({exc})")
        figures = artifact_figures(data)
        measured = Measured(model.name, figures.model_bytes, figures.gzip_bytes, figures.sha256, data)
        try:
            measured.analysis = analyze_model(data, name=model.name)
            missing = check_firmware_ops(measured.analysis, self.ops_file)
            if missing:
                measured.problems.append(_missing_ops_problem(model.name, missing, self.ops_file))
            if int8_required:
                require_int8(measured.analysis, model.name)
            if is_external and not self._shape_matches(measured.analysis):
                # Everything but accuracy is still measured; budgets on accuracy are n/a.
                measured.notes.append(f"{NO_LABELLED_DATA}: model input {tuple(measured.analysis.input.shape[1:])}, "
                                      f"dataset samples {tuple(self.x_test.shape[1:])} "
                                      "(pass a --dataset with samples of the model's input shape)")
                measured.arena_bytes, measured.arena_source = _arena_only(data, model.name, measured.analysis)
                return measured
            measured.evaluation = evaluate_on_host(model.name, data, self.x_test, self.y_test,
                                                   cache_dir=self.cache_dir)
            measured.arena_bytes = measured.evaluation.arena_bytes
            measured.arena_source = measured.evaluation.arena_source
        except Exception as exc:  # noqa: BLE001 -- any failure is this model's alone, reported by name
            measured.error = str(exc) if model.name in str(exc) else f"{model.name}: {exc}"
        return measured

    def _shape_matches(self, analysis: ModelAnalysis) -> bool:
        return tuple(analysis.input.shape[1:]) == tuple(self.x_test.shape[1:])

    def record(self, measured: Measured, reference: Measured | None, target: TargetProfile, *,
               deployable: bool = True, extra: dict | None = None) -> ResultRecord:
        """One record for this model on this target; `reference` is the float32 measurement."""
        record = ResultRecord(variant=measured.name, target=target.name, source=SOURCE,
                              model_bytes=measured.model_bytes, gzip_bytes=measured.gzip_bytes,
                              model_sha256=measured.sha256 or None, error=measured.error, extra=dict(extra or {}))
        if measured.analysis is None:
            return record
        analysis = measured.analysis
        record.macs, record.ops = analysis.macs, list(analysis.ops)
        record.deployable = deployable and analysis.deployable
        record.arena_bytes, record.arena_source = measured.arena_bytes, measured.arena_source
        per_config = [estimate_latency(analysis, target, config) for config in target.configs]
        estimate = per_config[0]
        record.latency_est_us = LATENCY_EST_US.figure(estimate.total_us)
        record.latency_est_error_pct = expected_error_pct(estimate)
        record.extra.update({**estimate_extra(estimate, per_config), "param_bytes": analysis.param_bytes,
                             "peak_activation_bytes": analysis.peak_activation_bytes})
        if measured.problems:
            record.extra["problems"] = list(measured.problems)
        if measured.notes:
            record.extra["notes"] = list(measured.notes)
        if measured.evaluation is None and not measured.error:
            record.extra["no_labelled_data"] = True
        chip = chip_arena_figure(measured.data, measured.name, measured.arena_bytes if analysis.deployable else None,
                                 target)
        record.chip_arena_bytes, record.chip_arena_source = chip.arena_bytes, chip.source
        if chip.extra:
            record.extra["chip_arena"] = chip.extra
        if chip.notes:
            record.extra.setdefault("notes", []).extend(chip.notes)
        if chip.arena_bytes is not None:
            fit = fits(analysis, chip.arena_bytes, measured.model_bytes, target)
            record.fits = fit.fits
            record.extra["fits_detail"] = fit.explain()
        evaluation = measured.evaluation
        if evaluation is not None:
            record.test_samples = int(len(evaluation.predictions))
            record.max_lsb_diff = evaluation.max_lsb_diff
            record.extra["engine"] = evaluation.engine
            reference_eval = reference.evaluation if reference else None
            if reference_eval is not None and len(reference_eval.predictions) != len(evaluation.predictions):
                reference_eval = None  # not the same test samples: nothing to compare against
            set_accuracy(record, evaluation.accuracy, reference_eval.accuracy if reference_eval is not None else None)
            set_correctness(record, evaluation.predictions == self.y_test, self.y_test, self.class_names,
                            reference_eval.predictions == self.y_test if reference_eval is not None else None)
        return record


def _missing_ops_problem(name: str, missing: list[str], ops_file: Path) -> str:
    """Say which missing ops a build could add (in the full list) and which none can."""
    full = set(registered_ops(REGISTERED_OPS_FILE))
    addable = [op for op in missing if op in full]
    impossible = [op for op in missing if op not in full]
    text = f"{name} uses op(s) the firmware does not register ({ops_file.name}): {', '.join(missing)}"
    if addable:
        text += f"; {', '.join(addable)}: build with an op list that has them ({REGISTERED_OPS_FILE.name} has all)"
    if impossible:
        text += (f"; {', '.join(impossible)}: TFLite Micro cannot run "
                 "(no MicroMutableOpResolver method), change the model")
    return text


def _arena_only(data: bytes, name: str, analysis: ModelAnalysis) -> tuple[int | None, str]:
    """Arena for a model we cannot feed real data: allocate and run one zero input."""
    if not analysis.deployable:
        return None, "n/a: not runnable on TFLite Micro"
    from targets.tflm.runner import TflmWorker

    with TflmWorker(data, name=name) as worker:
        return worker.arena_bytes, worker.arena_source
