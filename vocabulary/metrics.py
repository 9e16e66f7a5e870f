"""The metrics of a result record: one row each, and every group the gate uses derived from the rows.

A row says what a figure is (unit, label), the form records keep it in (decimals) and people
read it in (display), where it is the same for every target, whether emulated sources can
measure it at all, whether a fixed artifact reproduces it exactly, and how the gate judges it
(default baseline tolerance, budget key). reports.baseline, reports.budgets, reports.compare
and the gate read their groups from here, so adding a metric is one `_row(...)` (and its
ResultRecord field). Definitions of the figures: docs/ARCHITECTURE.md.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vocabulary.sources import EMULATED_SOURCES, HOST_TFLM

BUDGET_KINDS = ("max", "min", "require")


@dataclass(frozen=True)
class Metric:
    name: str  # the ResultRecord field, results.csv column and baseline key
    unit: str
    label: str
    decimals: int | None = None  # records round to this many places; None: kept as measured (counts)
    display: str = ".2f"  # format of a non-integer figure in messages and tables
    target_independent_on: tuple[str, ...] = ()  # sources that measure it once for every target
    chip_only: bool = False  # emulated sources cannot measure it: None there is expected
    board_settings: bool = False  # a board's figure: compared only under the same board settings
    device: bool = False  # a figure of the model on the device: a non-deployable variant has none
    deterministic: bool = False  # the same artifact bytes give the same figure on an emulated source
    accuracy: bool = False  # judged on paired samples; needs labelled data; budgeted once per variant
    tolerance: str | None = None  # default baseline tolerance ("+0", "-0.5", "+8%"); None: not in the baseline
    budget: str | None = None  # its budgets.toml key: "max_...", "min_..." or "require_..."
    reported: bool = True  # sent to the JUnit XML and --metric-path by each gate item

    def figure(self, value: float) -> float:
        """`value` in the form records keep: rounded to `decimals` (a count stays as measured)."""
        return value if self.decimals is None else round(float(value), self.decimals)

    def format(self, value: Any) -> str:
        """The figure as people read it: 9,216 (bytes), 812 (us), 1.25 (pp); integers with separators."""
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, float):
            return format(value, self.display)
        return f"{value:,}" if isinstance(value, int) else str(value)

    @property
    def budget_kind(self) -> str | None:
        return None if self.budget is None else self.budget.split("_", 1)[0]


_TABLE: list[Metric] = []


def _row(*args: Any, **kwargs: Any) -> Metric:
    """One metric of the table, in table order; the named constant lets call sites say ACCURACY.name."""
    metric = Metric(*args, **kwargs)
    _TABLE.append(metric)
    return metric


_HOST = (HOST_TFLM,)  # host TFLM runs one 64-bit build whatever the target
ACCURACY = _row("accuracy", "%", "top-1 accuracy on the test split", decimals=3, target_independent_on=_HOST,
                deterministic=True, accuracy=True, tolerance="-0.5", budget="min_accuracy")
ACCURACY_DROP_PP = _row("accuracy_drop_pp", "pp", "float32 accuracy minus this variant's", decimals=3,
                        target_independent_on=_HOST, accuracy=True, tolerance="+0.5", budget="max_accuracy_drop_pp")
MAX_CLASS_DROP_PP = _row("max_class_drop_pp", "pp", "largest per-class drop below float32", decimals=3,
                         target_independent_on=_HOST, accuracy=True, tolerance="+2", budget="max_class_drop_pp")
MODEL_BYTES = _row("model_bytes", "B", ".tflite size", display=",.0f", target_independent_on=_HOST,
                   deterministic=True, tolerance="+0", budget="max_model_bytes")
GZIP_BYTES = _row("gzip_bytes", "B", "gzip -9 size (download size)", display=",.0f", target_independent_on=_HOST,
                  deterministic=True, tolerance="+8%")
ARENA_BYTES = _row("arena_bytes", "B", "tensor arena as TFLM reports it (see arena_source)", display=",.0f",
                   target_independent_on=_HOST, board_settings=True, device=True, deterministic=True,
                   tolerance="+0", budget="max_arena_bytes")
CHIP_ARENA_BYTES = _row("chip_arena_bytes", "B", "arena the target's firmware will report (host records)",
                        display=",.0f", device=True, reported=False)
MACS = _row("macs", "MACs", "multiply-accumulates per inference", display=",.0f", target_independent_on=_HOST,
            deterministic=True, tolerance="+0")
LATENCY_EST_US = _row("latency_est_us", "us", "latency estimate from the target's cost model", decimals=1,
                      display=",.0f", device=True, deterministic=True, tolerance="+5%", budget="max_latency_est_us")
LATENCY_US = _row("latency_us", "us", "latency measured on the chip (median)", display=",.0f", chip_only=True,
                  board_settings=True, device=True, tolerance="+5%", budget="max_latency_us")
MAX_LSB_DIFF = _row("max_lsb_diff", "LSB", "largest output difference from the reference kernels")
FLASH_BYTES = _row("flash_bytes", "B", "firmware image with the model", display=",.0f", chip_only=True,
                   board_settings=True, device=True, tolerance="+2%", budget="max_flash_bytes")
FITS = _row("fits", "", "arena + model + firmware within the target's memory", device=True, reported=False,
            budget="require_fits")

#: Every metric, in the order messages list them.
METRIC_TABLE: tuple[Metric, ...] = tuple(_TABLE)
METRIC_BY_NAME = {m.name: m for m in METRIC_TABLE}


# ---------------------------------------------------------------- groups, derived from the rows
def names(rows: Iterable[Metric]) -> tuple[str, ...]:
    return tuple(m.name for m in rows)


def reported_metrics(table: Sequence[Metric] = METRIC_TABLE) -> tuple[str, ...]:
    return names(m for m in table if m.reported)


def baseline_metrics(table: Sequence[Metric] = METRIC_TABLE) -> tuple[str, ...]:
    return names(m for m in table if m.tolerance is not None)


def default_tolerance_tokens(table: Sequence[Metric] = METRIC_TABLE) -> tuple[str, ...]:
    return tuple(f"{m.name}:{m.tolerance}" for m in table if m.tolerance is not None)


def target_independent(table: Sequence[Metric] = METRIC_TABLE) -> dict[str, tuple[str, ...]]:
    """source -> the baseline figures it measures once per variant."""
    sources = dict.fromkeys(s for m in table for s in m.target_independent_on)
    return {s: names(m for m in table if s in m.target_independent_on and m.tolerance is not None) for s in sources}


def unmeasurable(table: Sequence[Metric] = METRIC_TABLE) -> dict[str, frozenset[str]]:
    """source -> the metrics it cannot measure at all (emulated sources: the chip-only ones)."""
    return {source: frozenset(names(m for m in table if m.chip_only)) for source in EMULATED_SOURCES}


def budget_keys(kind: str, table: Sequence[Metric] = METRIC_TABLE) -> dict[str, str]:
    """budget key -> metric, for the keys of one kind (max, min or require)."""
    if kind not in BUDGET_KINDS:
        raise ValueError(f"unknown budget kind {kind!r}; known: {', '.join(BUDGET_KINDS)}")
    return {m.budget: m.name for m in table if m.budget is not None and m.budget_kind == kind}


def variant_budget_keys(table: Sequence[Metric] = METRIC_TABLE) -> frozenset[str]:
    """Budget keys judged once per variant: those on accuracy figures."""
    return frozenset(m.budget for m in table if m.accuracy and m.budget is not None)


def size_budget_keys(table: Sequence[Metric] = METRIC_TABLE) -> dict[str, frozenset[str]]:
    """source -> budget keys on its other target-independent figures (judged at the tightest target)."""
    return {source: frozenset(m.budget for m in table if source in m.target_independent_on and not m.accuracy
                              and m.budget is not None)
            for source in target_independent(table)}


REPORTED_METRICS = reported_metrics()
BASELINE_METRICS = baseline_metrics()
ACCURACY_METRICS = names(m for m in METRIC_TABLE if m.accuracy)
DETERMINISTIC_METRICS = names(m for m in METRIC_TABLE if m.deterministic)
BOARD_SETTINGS_METRICS = names(m for m in METRIC_TABLE if m.board_settings)
DEVICE_METRICS = frozenset(names(m for m in METRIC_TABLE if m.device))


def format_metric(metric: str, value: Any) -> str:
    """A figure as people read it ("n/a" when not measured); a name outside the table as a plain number."""
    if value is None:
        return "n/a"
    row = METRIC_BY_NAME.get(metric)
    return row.format(value) if row else Metric(metric, "", "").format(value)


def as_recorded(metric: str, value: Any) -> Any:
    """`value` in the form records keep it (a baseline written before a rounding rule compares equal)."""
    row = METRIC_BY_NAME.get(metric)
    return row.figure(value) if row is not None and isinstance(value, (int, float)) else value
