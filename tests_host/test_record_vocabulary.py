"""The record vocabulary lives in one place: vocabulary/sources.py and vocabulary/metrics.py.

Like the protocol's words (test_fw_protocol_vocabulary.py), a source or metric name is
spelled once. The metric table is checked for sense (every row a ResultRecord field, every
tolerance parses, the groups agree with one another), the modules' groups for being derived
from it, and every harness module is scanned for a quoted source or metric name used as one.
"""
from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from reports import baseline, budgets, compare
from targets.measure.shared import CHIP, HOST, VIRTUAL_ENGINES, Conditions
from tinyml_harness import gate
from vocabulary import metrics
from vocabulary.metrics import METRIC_TABLE, Metric
from vocabulary.records import BUILD_LIBRARIES, LIBRARY_NAMES, ResultRecord
from vocabulary.sources import EMULATED_SOURCES, SOURCE_PREFERENCE, SOURCE_TABLE, SOURCES, VIRTUAL

REPO_ROOT = Path(__file__).resolve().parents[1]
HARNESS_PACKAGES = ("tinyml_harness", "model_builders", "targets", "reports", "benchmarks")
FIELDS = {f.name: f for f in dataclasses.fields(ResultRecord)}


# ------------------------------------------------------------------ the tables make sense
@pytest.mark.parametrize("row", METRIC_TABLE, ids=lambda m: m.name)
def test_every_metric_is_a_record_field_with_a_tolerance_and_budget_that_parse(row: Metric):
    assert row.name in FIELDS, f"{row.name}: no ResultRecord field of that name"
    if row.tolerance is not None:
        tolerance = compare.parse_tolerance(f"{row.name}:{row.tolerance}")
        assert tolerance.direction == (-1 if row.name == metrics.ACCURACY.name else +1), row
    if row.budget is not None:
        assert row.budget_kind in metrics.BUDGET_KINDS and row.budget in budgets.KNOWN_KEYS
        assert (row.budget_kind == "require") == ("bool" in str(FIELDS[row.name].type)), row
    assert row.unit and row.label or row.budget_kind == "require"


def test_the_groups_agree_with_one_another():
    by_name = metrics.METRIC_BY_NAME
    assert len(by_name) == len(METRIC_TABLE)
    for row in METRIC_TABLE:
        assert set(row.target_independent_on) <= set(SOURCES), row
        if row.chip_only:  # not measurable off the chip: neither reproducible on the host nor shared by targets
            assert row.device and not row.deterministic and not row.target_independent_on, row
        if row.board_settings or row.deterministic:
            assert row.tolerance is not None, f"{row.name}: judged against the baseline, so it needs a tolerance"
        if row.accuracy:
            assert row.decimals is not None and row.target_independent_on, row
    # every budget key judges a metric the record has, and no two metrics share a key
    keys = [row.budget for row in METRIC_TABLE if row.budget]
    assert len(keys) == len(set(keys)) == len(budgets.KNOWN_KEYS)


def test_every_group_in_the_modules_is_derived_from_the_table():
    assert baseline.BASELINE_METRICS == metrics.baseline_metrics()
    assert baseline.TARGET_INDEPENDENT == metrics.target_independent()
    assert gate.METRICS == metrics.reported_metrics()
    assert compare.DEFAULT_TOLERANCE_TOKENS == metrics.default_tolerance_tokens()
    assert set(compare.parse_tolerances()) == set(baseline.BASELINE_METRICS)
    assert budgets.LIMIT_KEYS == {**{k: (m, "max") for k, m in metrics.budget_keys("max").items()},
                                  **{k: (m, "min") for k, m in metrics.budget_keys("min").items()}}
    assert budgets.REQUIRE_KEYS == metrics.budget_keys("require")
    assert budgets.UNMEASURABLE == metrics.unmeasurable() and set(budgets.UNMEASURABLE) == set(EMULATED_SOURCES)
    assert budgets.VARIANT_KEYS == metrics.variant_budget_keys()
    assert budgets.SIZE_KEYS == metrics.size_budget_keys()


def test_adding_a_metric_is_one_row():
    """A hypothetical peak-heap figure: one row puts it in every group it belongs to."""
    row = Metric("peak_heap_bytes", "B", "heap high-water mark during invoke", display=",.0f", chip_only=True,
                 board_settings=True, device=True, tolerance="+5%", budget="max_peak_heap_bytes")
    table = (*METRIC_TABLE, row)
    assert metrics.baseline_metrics(table)[-1] == "peak_heap_bytes"
    assert metrics.default_tolerance_tokens(table)[-1] == "peak_heap_bytes:+5%"
    assert metrics.reported_metrics(table)[-1] == "peak_heap_bytes"
    assert metrics.budget_keys("max", table)["max_peak_heap_bytes"] == "peak_heap_bytes"
    assert all("peak_heap_bytes" in unmeasurable for unmeasurable in metrics.unmeasurable(table).values())
    assert "peak_heap_bytes" not in metrics.target_independent(table)[SOURCES[0]]
    assert row.format(123456.0) == "123,456" and metrics.format_metric("peak_heap_bytes", None) == "n/a"


def test_one_rounding_rule_and_one_display_per_metric():
    assert metrics.ACCURACY.figure(100 * 2 / 3) == 66.667
    assert metrics.LATENCY_EST_US.figure(403.401885) == 403.4
    assert metrics.ARENA_BYTES.figure(9216) == 9216  # counts are kept as measured
    assert metrics.as_recorded(metrics.LATENCY_EST_US.name, 39441.868405416666) == 39441.9
    # as people read them: floats in the row's format, integers with separators, whatever the row
    assert [metrics.format_metric(m, v) for m, v in [("accuracy", 96.6667), ("accuracy", 80), ("arena_bytes", 9216),
                                                    ("latency_us", 812.4), ("max_lsb_diff", 2), ("fits", True),
                                                    ("not_a_metric", 1.234)]] == \
        ["96.67", "80", "9,216", "812", "2", "True", "1.23"]


def test_a_fixed_artifact_keeps_comparing_equal_across_the_rounding_rule():
    """A baseline written before board records rounded latency_est_us still matches the same bytes."""
    record = ResultRecord("ptq_int8", "esp32", "virtual", latency_est_us=39441.9, model_sha256="aa")
    entry = {"metrics": {"latency_est_us": 39441.868405416666}, "model_sha256": "aa"}
    tolerances = compare.parse_tolerances()
    status = compare._judge_figure("latency_est_us", 39441.868405416666, 39441.9, tolerances["latency_est_us"],
                                   record, entry, 0.05)
    assert status == ("ok", "")
    moved = compare._judge_figure("latency_est_us", 39441.868405416666, 39442.0, tolerances["latency_est_us"],
                                  record, entry, 0.05)
    assert moved[0] == "changed"


def test_sources_and_libraries_are_one_table_each():
    assert SOURCES == tuple(s.name for s in SOURCE_TABLE) and len(set(SOURCES)) == 3
    assert SOURCE_PREFERENCE[0] not in EMULATED_SOURCES  # a chip's figure is trusted first
    assert len({s.preference for s in SOURCE_TABLE}) == len(SOURCE_TABLE)
    labels = {c.report_label for c in (HOST, CHIP, *VIRTUAL_ENGINES.values())}
    assert len(labels) == 2 + len(VIRTUAL_ENGINES), "each virtual-board engine is introduced in its own words"
    with pytest.raises(ValueError, match="unknown source"):
        Conditions("qemu", "emulated", "{host}")
    assert "tflite-micro" in LIBRARY_NAMES and "tflite-micro" not in BUILD_LIBRARIES  # runs, never builds
    assert set(BUILD_LIBRARIES) < set(LIBRARY_NAMES) == set(baseline.DEFAULT_LIBRARIES)


# ------------------------------------------------------------------ nothing else spells the words
WORDS = frozenset(SOURCES) | frozenset(metrics.METRIC_BY_NAME)
# A quoted word is a source or metric *used as one* (not a Keras metric, a protocol reply key or a
# registry field that happens to share the spelling) where it is compared, names a record attribute
# (getattr), is passed as source= / metric=, sits with other words of the vocabulary in one literal
# (a group or a table), is a source keying a table, or is a tolerance token ("gzip_bytes:+8%"). A
# source name with no other meaning in the library is refused anywhere: host-tflm, and hil (the gate
# marker of that spelling is vocabulary.sources.HIL_MARKER). Not caught: a lone "virtual" passed
# positionally, a word the banner's engine field and the --virtual option also use.
_ATTRIBUTE_CALLS = {"getattr", "setattr", "hasattr", "delattr"}
_KEYWORDS = {"source", "metric"}
_ANYWHERE = frozenset(SOURCES) - {VIRTUAL}
_TOKEN = re.compile(rf"({'|'.join(sorted(metrics.METRIC_BY_NAME))}):[+-]\d+(\.\d+)?%?")


def _word(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if node.value in WORDS:
            return node.value
        token = _TOKEN.fullmatch(node.value)
        return token.group(1) if token else None
    return None


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def spelled_words(source: str) -> list[tuple[int, str]]:
    """(line, word) for each quoted source or metric name used as one in `source` (Python text)."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    hits: dict[int, tuple[int, str]] = {}

    def flag(node: ast.AST | None, sources_only: bool = False) -> None:
        word = _word(node)
        if word is not None and id(node) not in docstrings and (word in SOURCES or not sources_only):
            hits[id(node)] = (node.lineno, word)  # type: ignore[union-attr]

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                for part in side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]:
                    flag(part)
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in _ATTRIBUTE_CALLS and len(node.args) > 1:
                flag(node.args[1])
            for keyword in node.keywords:
                if keyword.arg in _KEYWORDS:
                    flag(keyword.value)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
            members = node.keys if isinstance(node, ast.Dict) else node.elts
            if sum(_word(m) is not None for m in members) >= 2:
                for member in members:
                    flag(member)
            if isinstance(node, ast.Dict):
                for key in node.keys:
                    flag(key, sources_only=True)
        elif isinstance(node, ast.Subscript):
            flag(node.slice, sources_only=True)
        elif isinstance(node, ast.Constant) and (node.value in _ANYWHERE or _TOKEN.fullmatch(str(node.value))):
            flag(node)
    return sorted(hits.values())


def offenders(root: Path) -> dict[str, list[tuple[int, str]]]:
    found = {}
    for package in HARNESS_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            hits = spelled_words(path.read_text())
            if hits:
                found[str(path.relative_to(root))] = hits
    return found


def test_the_scan_finds_the_uses_it_means_and_only_those():
    flagged = spelled_words('''
"""Docstring: records from "hil" and "virtual" sources carry accuracy."""
if record.source == "hil": pass
if record.source in ("hil", "virtual"): pass
value = getattr(record, "latency_est_us")
ResultRecord("v", "t", source="virtual")
GROUP = ("accuracy", "arena_bytes")
LABELS = {"virtual": "a board"}
TOLERANCE = per_source["host-tflm"]
HOST = Conditions("host-tflm", "estimated", "{host}")
DEFAULT = "gzip_bytes:+8%"
CHIP = Conditions("hil", "measured on chip", "chip")
''')
    assert flagged == [(3, "hil"), (4, "hil"), (4, "virtual"), (5, "latency_est_us"), (6, "virtual"),
                       (7, "accuracy"), (7, "arena_bytes"), (8, "virtual"), (9, "host-tflm"), (10, "host-tflm"),
                       (11, "gzip_bytes"), (12, "hil")]
    assert spelled_words('''
model.compile(loss="categorical_crossentropy", metrics=["accuracy"])  # Keras's metric
size = reply["model_bytes"]  # a protocol reply's key
macs = profile.get("macs")
banner = {"engine": "virtual", "esp_nn": False}
marker = item.get_closest_marker(HIL_MARKER)
value = record.accuracy
Option("--virtual", "virtual", kind="flag")
''') == []


def test_no_harness_module_spells_a_source_or_metric_name():
    """Sources: vocabulary.sources (HOST_TFLM, VIRTUAL, HIL; the gate markers too); metrics:
    vocabulary.metrics (ACCURACY.name, ... and the groups derived from the table)."""
    assert offenders(REPO_ROOT) == {}
