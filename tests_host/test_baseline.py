"""Baseline (format 2) and comparison: keys, same-bytes exactness, paired accuracy on the
variant's own samples, tolerances, board settings, atomic and refusing writes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reports.baseline import ANY_TARGET, BaselineError, load_baseline, write_baseline, write_obtained
from reports.compare import ToleranceError, compare, format_comparison_table, judge, parse_tolerance, parse_tolerances
from reports.stats import mcnemar_p
from vocabulary.records import ResultRecord, encode_correct

META = {"versions": {"tensorflow": "2.21.0", "tflite-micro": "0.dev1"}}
N = 150
PROVENANCE = {"dataset_fingerprint": "data-a", "test_split": "split-a", "architecture": "reference_cnn",
              "build_key": "key-1"}


def correct(wrong: list[int], n: int = N) -> str:
    flags = np.ones(n, dtype=bool)
    flags[wrong] = False
    return encode_correct(flags)


def rec(variant="ptq_int8", target="esp32", source="host-tflm", wrong=(1, 2, 3, 4, 5, 6), sha="aa",
        provenance=None, **kw) -> ResultRecord:
    base = dict(accuracy=round(100 * (N - len(wrong)) / N, 3), accuracy_drop_pp=1.0, model_bytes=20000,
                gzip_bytes=15000, arena_bytes=8000, macs=300000, latency_est_us=800.0, test_samples=N,
                correct_bitmap=correct(list(wrong)), model_sha256=sha,
                provenance=dict(PROVENANCE if provenance is None else provenance))
    base.update(kw)
    return ResultRecord(variant=variant, target=target, source=source, **base)


def baseline_of(tmp_path: Path, records, meta=META):
    path = tmp_path / "baseline.json"
    write_baseline(path, records, meta, reason="first run", complete=True)
    return load_baseline(path)


def rows(record, baseline, scope="all"):
    return {r.metric: r for r in judge(record, baseline, parse_tolerances(), scope)}


# --- tolerance tokens ----------------------------------------------------------------------

def test_tolerance_tokens_parse_and_print_back():
    t = parse_tolerance("latency_us:+5%")
    assert (t.metric, t.direction, t.amount, t.percent) == ("latency_us", 1, 5.0, True)
    assert t.allowed(1000.0) == pytest.approx(50.0)
    assert str(parse_tolerance(" arena_bytes : +0 ")) == "arena_bytes:+0"
    merged = parse_tolerances("arena_bytes:+64, latency_us:+10%")
    assert str(merged["arena_bytes"]) == "arena_bytes:+64" and str(merged["latency_us"]) == "latency_us:+10%"
    assert str(merged["accuracy_drop_pp"]) == "accuracy_drop_pp:+0.5"  # default kept


@pytest.mark.parametrize("token, fragment", [
    ("arena_bytes+0", "expected metric:+N"),
    ("arena_bytes:5", "expected metric:+N"),
    ("latency_ms:+5%", "unknown metric 'latency_ms'"),
])
def test_bad_tolerance_token_is_a_clear_error(token, fragment):
    with pytest.raises(ToleranceError) as err:
        parse_tolerance(token)
    assert fragment in str(err.value)


# --- keys: what an entry means --------------------------------------------------------------

def test_target_independent_figures_are_stored_once_and_latency_per_target(tmp_path):
    baseline = baseline_of(tmp_path, [rec(target="esp32"), rec(target="esp32s3", latency_est_us=400.0)])
    keys = sorted(k[5] for k in baseline.entries)
    assert keys == [ANY_TARGET, "esp32", "esp32s3"]
    shared = baseline.entries[("data-a", "split-a", "reference_cnn", "ptq_int8", "host-tflm", ANY_TARGET)]
    assert set(shared["metrics"]) == {"accuracy", "accuracy_drop_pp", "model_bytes", "gzip_bytes", "arena_bytes",
                                      "macs"}
    assert shared["correct_bitmap"] and shared["test_samples"] == N and shared["model_sha256"] == "aa"
    by_target = rows(rec(target="esp32s3", latency_est_us=400.0), baseline, "target")
    assert set(by_target) == {"latency_est_us"} and by_target["latency_est_us"].status == "ok"
    assert "accuracy" in rows(rec(), baseline, "variant") and "latency_est_us" not in rows(rec(), baseline, "variant")


def test_another_dataset_is_never_compared_with_ours(tmp_path):
    baseline = baseline_of(tmp_path, [rec()])
    theirs = rec(accuracy=50.0, arena_bytes=99999, provenance={**PROVENANCE, "dataset_fingerprint": "data-b"})
    judged = rows(theirs, baseline)
    assert {r.status for r in judged.values()} == {"new"}
    assert judged["accuracy"].note == "no baseline yet (new dataset or architecture)"
    comparison = compare([theirs], baseline)
    assert not comparison.regressions and "no baseline yet" in comparison.headline()
    # and ours, absent from that run, is not reported missing
    assert not [r for r in comparison.rows if r.status == "missing"]


def test_old_format_is_refused_with_the_command_that_rewrites_it(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"meta": {"format": 1}, "results": []}))
    with pytest.raises(BaselineError) as err:
        load_baseline(path)
    assert "format 1" in str(err.value) and "--update-baseline --baseline-reason" in str(err.value)


def test_corrupt_baseline_is_a_clear_error(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text("{ not json")
    with pytest.raises(BaselineError, match="not valid JSON"):
        load_baseline(path)


# --- same bytes: exact ------------------------------------------------------------------------

def test_same_bytes_with_another_figure_is_a_harness_change(tmp_path):
    baseline = baseline_of(tmp_path, [rec()])
    judged = rows(rec(arena_bytes=8004), baseline)
    assert judged["arena_bytes"].status == "changed" and judged["arena_bytes"].fails
    assert "runtime or harness change" in judged["arena_bytes"].note
    assert rows(rec(arena_bytes=7996), baseline)["arena_bytes"].status == "changed"  # smaller too
    assert all(r.status == "ok" for r in rows(rec(), baseline).values())


# --- retrained: paired on the variant's own samples ------------------------------------------

def test_retrained_wobble_of_a_few_samples_is_not_significant(tmp_path):
    baseline = baseline_of(tmp_path, [rec(wrong=(1, 2, 3))])
    retrained = rec(wrong=(2, 3, 7, 8, 9), sha="bb", gzip_bytes=15100, accuracy_drop_pp=2.0)
    judged = rows(retrained, baseline)
    assert judged["accuracy"].status == "ok" and "not significant" in judged["accuracy"].note
    assert "lost 3, gained 1" in judged["accuracy"].note
    assert judged["accuracy_drop_pp"].status == "ok"  # the drop moved, this variant's own samples did not
    assert judged["gzip_bytes"].status == "ok"  # within gzip's tolerance


def test_retrained_real_drop_is_a_regression_with_counts_and_p_value(tmp_path):
    baseline = baseline_of(tmp_path, [rec(wrong=(1,))])
    worse = rec(wrong=(1,) + tuple(range(20, 30)), sha="bb")
    judged = rows(worse, baseline)["accuracy"]
    assert judged.status == "regressed" and "lost 10, gained 0" in judged.note
    assert f"p={mcnemar_p(10, 0):.3g}" in judged.note


def test_significance_is_shared_among_the_variants_of_a_run(tmp_path):
    baseline = baseline_of(tmp_path, [rec(wrong=(1,))])
    worse = rec(wrong=(1,) + tuple(range(20, 27)), sha="bb")  # lost 7: p = 0.0156
    assert rows(worse, baseline)["accuracy"].status == "regressed"
    shared = {r.metric: r for r in judge(worse, baseline, parse_tolerances(), family=8)}["accuracy"]
    assert shared.status == "ok" and "threshold 0.00625" in shared.note


def test_graph_figures_keep_their_zero_tolerance_when_retrained(tmp_path):
    baseline = baseline_of(tmp_path, [rec()])
    judged = rows(rec(sha="bb", arena_bytes=8001, macs=300000), baseline)
    assert judged["arena_bytes"].status == "regressed" and judged["macs"].status == "ok"


def test_recipe_change_and_same_inputs_are_told_apart(tmp_path):
    baseline = baseline_of(tmp_path, [rec()])
    same_inputs = rows(rec(sha="bb", gzip_bytes=15010), baseline)["gzip_bytes"]
    assert "same inputs" in same_inputs.note
    other = rows(rec(sha="bb", gzip_bytes=15010, provenance={**PROVENANCE, "build_key": "key-2"}), baseline)
    assert "other inputs" in other["gzip_bytes"].note


def test_unpaired_accuracy_falls_back_to_the_tolerance(tmp_path):
    baseline = baseline_of(tmp_path, [rec(wrong=(1,))])
    unpaired = rec(wrong=(1, 2, 3), sha="bb", correct_bitmap=None)
    judged = rows(unpaired, baseline)["accuracy"]
    assert judged.status == "regressed" and "unpaired (per-sample correctness missing)" in judged.note


def test_mcnemar_exact_values():
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(6, 0) == pytest.approx(2 * 0.5 ** 6)
    assert mcnemar_p(5, 0) > 0.05 > mcnemar_p(6, 0)  # on 150 samples: 6 net losses, 4 pp, is the least detected


# --- chip figures and board settings -------------------------------------------------------

def test_chip_figures_under_other_board_settings_are_not_compared(tmp_path):
    board = {"platform": "ESP-IDF v5.3", "engine": "tflm", "esp_nn": True, "clock_mhz": 240}
    baseline = baseline_of(tmp_path, [rec(source="hil", latency_us=700.0, extra={"board": board})])
    slower = rec(source="hil", latency_us=1400.0, extra={"board": {**board, "clock_mhz": 160}})
    judged = rows(slower, baseline)["latency_us"]
    assert judged.status == "not comparable" and "clock_mhz 240 -> 160" in judged.note and not judged.fails
    same = rows(rec(source="hil", latency_us=1400.0, extra={"board": board}), baseline)["latency_us"]
    assert same.status == "regressed"


def test_chip_figures_from_another_tflm_or_esp_nn_version_are_not_compared(tmp_path):
    board = {"platform": "ESP-IDF v5.3", "engine": "tflm", "esp_nn": True, "tflm_version": "1.4.0",
             "esp_nn_version": "1.2.3", "clock_mhz": 240}
    baseline = baseline_of(tmp_path, [rec(source="hil", latency_us=700.0, extra={"board": board})])
    for key, other in (("tflm_version", "1.3.8"), ("esp_nn_version", "1.1.2")):
        judged = rows(rec(source="hil", latency_us=1400.0, extra={"board": {**board, key: other}}),
                      baseline)["latency_us"]
        assert judged.status == "not comparable" and f"{key} {board[key]} -> {other}" in judged.note
    assert rows(rec(source="hil", latency_us=1400.0, extra={"board": board}), baseline)["latency_us"].status \
        == "regressed"


def test_the_firmware_binary_arena_is_not_compared_with_the_python_virtual_boards(tmp_path):
    python_board = {"platform": "host", "engine": "virtual", "esp_nn": False, "clock_mhz": None}
    baseline = baseline_of(tmp_path, [rec(source="virtual", arena_bytes=5360, extra={"board": python_board})])
    binary = rec(source="virtual", arena_bytes=5040, extra={"board": {**python_board, "engine": "tflm"}})
    judged = rows(binary, baseline)
    assert judged["arena_bytes"].status == "not comparable" and "engine virtual -> tflm" in judged["arena_bytes"].note
    assert judged["accuracy"].status == "ok"  # the outputs are bit-exact: still compared exactly


# --- the run as a whole ------------------------------------------------------------------

def test_missing_items_of_our_context_are_reported(tmp_path):
    baseline = baseline_of(tmp_path, [rec(), rec(variant="qat_int8")])
    comparison = compare([rec()], baseline)
    missing = [r for r in comparison.rows if r.status == "missing"]
    assert {r.variant for r in missing} == {"qat_int8"}


def test_comparison_table_groups_by_variant_old_to_new(tmp_path):
    baseline = baseline_of(tmp_path, [rec(), rec(variant="qat_int8")])
    comparison = compare([rec(arena_bytes=9000, sha="bb"), rec(variant="qat_int8")], baseline, current_meta=META)
    table = format_comparison_table(comparison)
    assert "REGRESSED" in table and "8,000 -> 9,000" in table and "all targets" in table
    assert "like-for-like: yes" in table


# --- writes ----------------------------------------------------------------------------------

def test_incomplete_run_and_empty_reason_are_refused(tmp_path):
    with pytest.raises(BaselineError, match="incomplete"):
        write_baseline(tmp_path / "b.json", [rec()], META, "why", complete=False)
    with pytest.raises(BaselineError, match="reason"):
        write_baseline(tmp_path / "b.json", [rec()], META, "  ", complete=True)


def test_write_keeps_other_contexts_and_sources_and_replaces_ours(tmp_path):
    other = rec(provenance={**PROVENANCE, "dataset_fingerprint": "data-b"})
    virtual = rec(source="virtual")
    baseline_of(tmp_path, [rec(), rec(variant="qat_int8"), other, virtual])
    path = tmp_path / "baseline.json"
    write_baseline(path, [rec(arena_bytes=7000)], META, "smaller arena", complete=True)
    entries = load_baseline(path).entries
    variants = {(k[0], k[3], k[4]) for k in entries}
    assert ("data-a", "qat_int8", "host-tflm") not in variants  # replaced as a whole
    assert ("data-b", "ptq_int8", "host-tflm") in variants and ("data-a", "ptq_int8", "virtual") in variants
    assert (path.stat().st_mode & 0o777) == 0o644


def test_failed_write_leaves_the_old_baseline_intact(tmp_path, monkeypatch):
    baseline_of(tmp_path, [rec()])
    path = tmp_path / "baseline.json"
    before = path.read_text()

    def explode(*_args, **_kw):
        raise OSError("disk full")

    monkeypatch.setattr("reports.baseline.os.replace", explode)
    with pytest.raises(OSError):
        write_baseline(path, [rec(arena_bytes=1)], META, "x", complete=True)
    assert path.read_text() == before and not list(tmp_path.glob("*.tmp"))


def test_obtained_file_beside_the_baseline(tmp_path):
    path = write_obtained(tmp_path / "baseline.json", [rec()], META)
    assert path.name == "baseline.obtained.json" and json.loads(path.read_text())["meta"]["obtained"]
