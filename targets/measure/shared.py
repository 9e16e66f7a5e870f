"""What host runs and board cycles share when they become result records.

The conditions a figure was obtained under (source, emulated or measured, where the arena
figure comes from), the artifact's own figures, correctness against the float32
reference, and the latency estimate with its label. targets.measure.host and
targets.measure.board_records build their records from these, so one definition serves both.
"""
from __future__ import annotations

import gzip
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from targets.cost.estimator import LatencyEstimate
from vocabulary.metrics import ACCURACY, LATENCY_EST_US
from vocabulary.records import ResultRecord, encode_correct
from vocabulary.sources import EMULATED_SOURCES, HIL, HOST_TFLM, SOURCE_BY_NAME, SOURCES, VIRTUAL

#: What latency_est_us is, in every record that carries one (the gate quotes it).
LATENCY_LABEL = "estimate (host cost model, not measured)"


@dataclass(frozen=True)
class Conditions:
    """How one run's figures were obtained; every record of that run carries these labels."""

    source: str  # one of vocabulary.sources.SOURCES
    timings: str  # what the run's timings are: "measured on chip" or "emulated (...)"; kept in extra["timing"]
    arena: str  # arena_source; "{host}" stands for the host evaluation's own arena_source
    label: str = ""  # how summary.md introduces these figures; "" means the source's own label

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; known: {', '.join(SOURCES)}")

    @property
    def emulated(self) -> bool:
        return self.source in EMULATED_SOURCES

    @property
    def measures_latency(self) -> bool:
        """Only a chip measures latency; everywhere else a timing is the estimate, or the host's clock."""
        return not self.emulated

    def arena_source(self, host_arena_source: str | None) -> str:
        return self.arena.format(host=host_arena_source)

    @property
    def report_label(self) -> str:
        return self.label or SOURCE_BY_NAME[self.source].label


HOST = Conditions(HOST_TFLM, "none: latency estimated from the host cost model", "{host}")
CHIP = Conditions(HIL, "measured on chip", "chip (arena_used_bytes)")
VIRTUAL_ENGINES = {
    "python": Conditions(VIRTUAL, "emulated (virtual board: host TFLM + latency estimate)", "virtual board: {host}",
                         label="virtual board (emulated: host TFLM behind the serial protocol); "
                               "latency estimated, not measured"),
    # The firmware binary measures a plain MicroInterpreter, not the wheel's recording one
    # (docs/ARCHITECTURE.md, "arena bytes"). The `virtual` baseline holds the wheel's figure, so the gate reports the
    # difference as "changed" until the two get keys of their own.
    "fw-tflm": Conditions(VIRTUAL, "emulated (firmware binary on the host: TFLM reference kernels, host clock)",
                          "firmware binary on the host: plain MicroInterpreter (x86_64, reference kernels)",
                          label="virtual board (emulated: the firmware binary built for the host, TFLM reference "
                                "kernels; its timings are the host's clock); latency estimated, not measured"),
}


def report_label(record: ResultRecord) -> str:
    """How a report introduces this record's figures: the label of the conditions it was obtained under
    (a board record keeps their timings label in extra["timing"]), else its source's."""
    timings = (record.extra.get("timing") or {}).get("label")
    for conditions in (HOST, CHIP, *VIRTUAL_ENGINES.values()):
        if conditions.source == record.source and conditions.timings == timings:
            return conditions.report_label
    known = SOURCE_BY_NAME.get(record.source)
    return known.label if known else record.source


def board_conditions(virtual: bool, engine: str | None = None) -> Conditions:
    """A real chip, or the virtual board served by `engine` (python / fw-tflm)."""
    if not virtual:
        return CHIP
    if engine not in VIRTUAL_ENGINES:
        raise ValueError(f"unknown virtual-board engine {engine!r}; known: {', '.join(VIRTUAL_ENGINES)}")
    return VIRTUAL_ENGINES[engine]


@dataclass(frozen=True)
class ArtifactFigures:
    model_bytes: int
    gzip_bytes: int
    sha256: str


def artifact_figures(data: bytes) -> ArtifactFigures:
    """Size, gzip size (level 9, no timestamp: the same bytes give the same figure) and hash."""
    return ArtifactFigures(len(data), len(gzip.compress(data, compresslevel=9, mtime=0)),
                           hashlib.sha256(data).hexdigest())


def estimate_extra(estimate: LatencyEstimate, per_config: Sequence[LatencyEstimate] = ()) -> dict:
    """The estimate's label, breakdown and expected error (docs/LATENCY.md), stored beside
    latency_est_us; the estimates of the target's firmware configs; its notes (work the cost
    model has no rate for) when there are any."""
    from targets.cost.published_fit import expected_error

    extra = {"latency_est_label": LATENCY_LABEL, "latency_est_calibrated": estimate.calibrated,
             "latency_est_config": estimate.config,
             "latency_est_expected_error": expected_error(estimate.target, estimate.config,
                                                          estimate.dtypes).describe(),
             "estimate_per_op_us": [[op.index, op.op, round(op.us, 2)] for op in estimate.per_op]}
    if per_config:
        extra["latency_est_us_by_config"] = {e.config: LATENCY_EST_US.figure(e.total_us) for e in per_config}
    if estimate.notes:
        extra["estimate_notes"] = list(estimate.notes)
    return extra


def expected_error_pct(estimate: LatencyEstimate) -> float | None:
    """The estimate's expected error in percent (worst held-out published figure), None if unvalidated."""
    from targets.cost.published_fit import expected_error

    pct = expected_error(estimate.target, estimate.config, estimate.dtypes).held_out_pct
    return None if pct is None else round(pct, 1)


#: Decimal places of every accuracy figure in a record (accuracy, drops, per class), host and board alike:
#: the same accuracy is the same number in results.csv whichever path measured it (vocabulary.metrics).
ACCURACY_DECIMALS = ACCURACY.decimals


def accuracy_figure(percent: float) -> float:
    """An accuracy (or a difference of two, in percentage points) in the form records keep."""
    return ACCURACY.figure(percent)


def set_accuracy(record: ResultRecord, accuracy: float, reference_accuracy: float | None) -> None:
    """accuracy and, against the float32 reference, accuracy_drop_pp; the drop is computed
    before rounding, so it is the difference of the exact accuracies."""
    record.accuracy = accuracy_figure(accuracy)
    if reference_accuracy is not None:
        record.accuracy_drop_pp = accuracy_figure(reference_accuracy - accuracy)


def per_class_accuracy(correct: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> dict[str, float]:
    """Top-1 accuracy per class (percent): one class collapsing must not hide in the mean."""
    y = np.asarray(labels)
    return {name: accuracy_figure(correct[y == i].mean() * 100.0)
            for i, name in enumerate(class_names) if np.any(y == i)}


def set_correctness(record: ResultRecord, correct: np.ndarray, labels: np.ndarray,
                    class_names: Sequence[str], reference_correct: np.ndarray | None) -> None:
    """Per-sample and per-class correctness; with the float32 reference's correctness on the
    same samples, the flips and the worst class drop as well."""
    correct = np.asarray(correct, dtype=bool)
    record.correct_bitmap = encode_correct(correct)
    record.per_class_accuracy = per_class_accuracy(correct, labels, class_names)
    if reference_correct is None or len(reference_correct) != len(correct):
        return
    before_right = np.asarray(reference_correct, dtype=bool)
    record.flipped_samples = [int(i) for i in np.flatnonzero(correct != before_right)]
    record.extra["flips_to_wrong"] = int(np.sum(before_right & ~correct))
    record.extra["flips_to_right"] = int(np.sum(~before_right & correct))
    before = per_class_accuracy(before_right, labels, class_names)
    drops = {c: accuracy_figure(before[c] - record.per_class_accuracy[c]) for c in before}
    worst = max(drops, key=drops.__getitem__)
    record.max_class_drop_pp = drops[worst]
    record.extra["worst_class"] = worst
