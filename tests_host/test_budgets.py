"""budgets.toml: precedence, wildcards, clear errors, and violation messages."""
from __future__ import annotations

from pathlib import Path

import pytest

from reports.budgets import BudgetError, Violation, check_budgets, load_budgets
from vocabulary.records import ResultRecord

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ["float32", "ptq_int8", "ptq_int8_per_tensor", "qat_int8", "pruned50_int8",
            "pruned70_int8", "pruned90_int8", "dynamic_range"]
TARGETS = ["esp32", "esp32s3", "esp32c3", "esp32c6", "esp32p4", "stm32f4"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "budgets.toml"
    path.write_text(text)
    return path


PRECEDENCE = """
[defaults]
max_arena_bytes = 16000
max_latency_est_us = 9000
min_accuracy = 80.0

[budget."*".esp32]
max_latency_est_us = 5000

[budget."*int8*"."esp32*"]
max_latency_est_us = 2000

[budget."pruned*_int8"."*"]
max_arena_bytes = 12000

[budget.pruned70_int8."*"]
max_arena_bytes = 10000

[budget.pruned70_int8.esp32c3]
max_arena_bytes = 9000

[budget.float32."*"]
min_accuracy = 90.0

[budget."*".esp32c3]
min_accuracy = 70.0
"""


def test_most_specific_table_wins_key_by_key(tmp_path):
    budgets = load_budgets(write(tmp_path, PRECEDENCE), VARIANTS, TARGETS)
    # exact x exact (4) beats exact x * (2) beats glob x * (1) beats defaults
    assert budgets.for_item("pruned70_int8", "esp32c3")["max_arena_bytes"] == 9000
    assert budgets.for_item("pruned70_int8", "esp32")["max_arena_bytes"] == 10000
    assert budgets.for_item("pruned50_int8", "esp32")["max_arena_bytes"] == 12000
    assert budgets.for_item("ptq_int8", "esp32")["max_arena_bytes"] == 16000
    # glob x glob (1+1) ties with * x exact (0+2): the more specific variant part wins
    assert budgets.for_item("ptq_int8", "esp32")["max_latency_est_us"] == 2000
    assert budgets.for_item("float32", "esp32")["max_latency_est_us"] == 5000
    assert budgets.for_item("ptq_int8", "esp32s3")["max_latency_est_us"] == 2000
    assert budgets.for_item("float32", "esp32s3")["max_latency_est_us"] == 9000
    # keys a table does not set fall through to less specific tables
    assert budgets.for_item("pruned70_int8", "esp32c3")["max_latency_est_us"] == 2000
    explain = budgets.explain("pruned70_int8", "esp32c3")
    assert explain["max_arena_bytes"] == 'budget."pruned70_int8"."esp32c3"'
    assert explain["max_latency_est_us"] == 'budget."*int8*"."esp32*"'


def test_equal_totals_the_variant_table_wins(tmp_path):
    budgets = load_budgets(write(tmp_path, PRECEDENCE), VARIANTS, TARGETS)
    # float32."*" (2+0) against "*".esp32c3 (0+2): the variant table wins
    assert budgets.for_item("float32", "esp32c3")["min_accuracy"] == 90.0
    assert budgets.for_item("ptq_int8", "esp32c3")["min_accuracy"] == 70.0
    assert budgets.for_item("ptq_int8", "esp32")["min_accuracy"] == 80.0


def test_two_equally_specific_globs_disagreeing_is_an_error(tmp_path):
    path = write(tmp_path, """
[budget."pruned*"."*"]
max_arena_bytes = 1000
[budget."*_int8"."*"]
max_arena_bytes = 2000
""")
    with pytest.raises(BudgetError) as err:
        load_budgets(path, VARIANTS, TARGETS)
    message = str(err.value)
    assert str(path) in message and "max_arena_bytes" in message
    assert 'budget."pruned*"."*"' in message and 'budget."*_int8"."*"' in message


@pytest.mark.parametrize("text, fragments", [
    ('[budget.float16."*"]\nmax_arena_bytes = 1\n',
     ['budget."float16"', "unknown variant name 'float16'", "ptq_int8"]),
    ('[budget."prunned*"."*"]\nmax_arena_bytes = 1\n',
     ['budget."prunned*"', "unknown variant pattern 'prunned*'", "matches no known variant"]),
    ('[budget.ptq_int8.esp8266]\nmax_arena_bytes = 1\n',
     ['budget."ptq_int8"."esp8266"', "unknown target name 'esp8266'", "esp32c3"]),
    ('[budget.ptq_int8."esp31*"]\nmax_arena_bytes = 1\n',
     ["unknown target pattern 'esp31*'", "matches no known target"]),
    ('[defaults]\nmax_arena_kb = 8\n',
     ["[defaults]", "unknown key 'max_arena_kb'", "max_arena_bytes"]),
    ('[budget.ptq_int8.esp32]\nmax_latency = 8\n',
     ['budget."ptq_int8"."esp32"', "unknown key 'max_latency'"]),
    ('[defaults]\nrequire_fits = "yes"\n', ["require_fits must be true or false"]),
    ('[defaults]\nmax_model_bytes = -1\n', ["max_model_bytes must be a number >= 0"]),
    ('[budgets.ptq_int8.esp32]\nmax_model_bytes = 1\n', ["unknown top-level table"]),
    ('[defaults\n', ["not valid TOML"]),
])
def test_bad_budgets_name_file_table_and_key(tmp_path, text, fragments):
    path = write(tmp_path, text)
    with pytest.raises(BudgetError) as err:
        load_budgets(path, VARIANTS, TARGETS)
    message = str(err.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_budgets_file_is_a_clear_error(tmp_path):
    with pytest.raises(BudgetError, match="budgets file not found"):
        load_budgets(tmp_path / "nope.toml", VARIANTS, TARGETS)


def rec(**kw) -> ResultRecord:
    base = dict(variant="ptq_int8", target="esp32", source="host-tflm", accuracy=95.0,
                accuracy_drop_pp=0.8, model_bytes=20000, gzip_bytes=15000, arena_bytes=8000,
                macs=300000, latency_est_us=800.0, fits=True)
    base.update(kw)
    return ResultRecord(**base)


def test_violation_message_shows_figure_budget_and_baseline():
    found = check_budgets(rec(arena_bytes=9216), {"max_arena_bytes": 8192},
                          baseline={"arena_bytes": 8000})
    assert found == [Violation("arena_bytes", 9216, 8192, "max",
                               "arena_bytes 9,216 > budget 8,192 (baseline 8,000)")]
    no_baseline = check_budgets(rec(arena_bytes=9216), {"max_arena_bytes": 8192})
    assert no_baseline[0].message == "arena_bytes 9,216 > budget 8,192 (no baseline)"


def test_min_budget_and_drop_budget():
    found = check_budgets(rec(accuracy=84.5, accuracy_drop_pp=2.75),
                          {"min_accuracy": 85.0, "max_accuracy_drop_pp": 2.0},
                          baseline={"accuracy": 95.0, "accuracy_drop_pp": 0.5})
    messages = {v.metric: v for v in found}
    assert messages["accuracy"].kind == "min"
    assert messages["accuracy"].message == "accuracy 84.50 < budget 85.00 (baseline 95.00)"
    assert messages["accuracy_drop_pp"].message == \
        "accuracy_drop_pp 2.75 > budget 2.00 (baseline 0.50)"


def test_limits_exactly_met_pass():
    budget = {"max_arena_bytes": 8000, "min_accuracy": 95.0, "max_latency_est_us": 800}
    assert check_budgets(rec(), budget) == []


def test_unmeasurable_metric_on_host_is_skipped_but_missing_figure_is_reported():
    budget = {"max_latency_us": 1000, "max_flash_bytes": 10**6, "max_arena_bytes": 8192}
    assert check_budgets(rec(latency_us=None, flash_bytes=None), budget) == []
    missing = check_budgets(rec(arena_bytes=None), budget)
    assert [(v.metric, v.measured) for v in missing] == [("arena_bytes", False)]
    assert missing[0].message == "arena_bytes not measured (budget 8,192, no baseline)"
    # a virtual board's wall-clock is not a chip latency: the chip budget does not apply
    assert check_budgets(rec(source="virtual", latency_us=5000.0), budget) == []
    on_chip = check_budgets(rec(source="hil", latency_us=None, flash_bytes=400000), budget)
    assert [v.metric for v in on_chip] == ["latency_us"]
    assert "latency_us not measured" in on_chip[0].message
    slow_chip = check_budgets(rec(source="hil", latency_us=1500.0, flash_bytes=400000), budget)
    assert [v.message for v in slow_chip] == ["latency_us 1,500 > budget 1,000 (no baseline)"]


def test_require_fits_and_failed_items():
    assert check_budgets(rec(fits=False), {"require_fits": True})[0].message == \
        "fits is False (require_fits = true)"
    assert "not measured" in check_budgets(rec(fits=None), {"require_fits": True})[0].message
    assert check_budgets(rec(fits=False), {"require_fits": False}) == []
    undeployable = rec(variant="dynamic_range", deployable=False, arena_bytes=None,
                       latency_est_us=None, fits=None, accuracy_drop_pp=1.5)
    found = check_budgets(undeployable, {"require_fits": True, "max_arena_bytes": 1,
                                         "max_latency_est_us": 1, "max_accuracy_drop_pp": 1.0})
    assert [v.metric for v in found] == ["accuracy_drop_pp"]
    failed = check_budgets(rec(error="arena too small: 4096 B"), {"max_arena_bytes": 1})
    assert len(failed) == 1 and "arena too small" in failed[0].message


def test_default_budgets_pass_a_healthy_run_and_catch_a_regression():
    budgets = load_budgets(REPO / "budgets.toml", VARIANTS, TARGETS)
    # The estimates budgets.toml's latency keys were set from (docs/LATENCY.md, 2026-12-03).
    float_latency = {"esp32": 39440.0, "esp32s3": 41230.0, "esp32c3": 56670.0,
                     "esp32c6": 56670.0, "esp32p4": 6260.0, "stm32f4": 2620.0}
    int8_latency = {"esp32": 4640.0, "esp32s3": 2390.0, "esp32c3": 4780.0,
                    "esp32c6": 4780.0, "esp32p4": 1000.0, "stm32f4": 770.0}
    drops = {"float32": 0.0, "ptq_int8": 0.9, "ptq_int8_per_tensor": 2.2, "qat_int8": 0.4,
             "pruned50_int8": 1.0, "pruned70_int8": 1.8, "pruned90_int8": 6.0,
             "dynamic_range": 0.1}
    for target in TARGETS:
        for variant in VARIANTS:
            is_float = variant in ("float32", "dynamic_range")
            record = rec(variant=variant, target=target, accuracy=95.0 - drops[variant],
                         accuracy_drop_pp=drops[variant], max_class_drop_pp=2 * drops[variant],
                         model_bytes=54356 if variant == "float32" else 20752,
                         arena_bytes=None if variant == "dynamic_range" else 9424 if is_float else 5312,
                         deployable=variant != "dynamic_range",
                         latency_est_us=(float_latency if is_float else int8_latency)[target])
            budget = budgets.for_item(variant, target)
            assert check_budgets(record, budget) == [], (variant, target)
    # A real regression: the int8 arena triples, the estimate doubles past its ceiling.
    bad = rec(arena_bytes=24000, latency_est_us=9300.0, max_class_drop_pp=2.0)
    found = {v.metric for v in check_budgets(bad, budgets.for_item("ptq_int8", "esp32"))}
    assert found == {"arena_bytes", "latency_est_us"}
