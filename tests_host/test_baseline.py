"""Baseline: tolerance tokens, regression/improvement detection, like-for-like, McNemar,
atomic and refusing writes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from reports.baseline import (BaselineError, compare, format_comparison_table,
                              load_baseline, parse_tolerance, parse_tolerances,
                              write_baseline, write_obtained)
from reports.records import ResultRecord
from reports.stats import mcnemar_p

META = {"versions": {"tensorflow": "2.21.0", "tflite-micro": "0.dev1"},
        "dataset_fingerprint": "sha256:abc"}


def rec(variant="ptq_int8", target="esp32", source="host-tflm", **kw) -> ResultRecord:
    base = dict(accuracy=94.0, accuracy_drop_pp=1.0, model_bytes=20000, gzip_bytes=15000,
                arena_bytes=8000, macs=300000, latency_est_us=800.0)
    base.update(kw)
    return ResultRecord(variant=variant, target=target, source=source, **base)


def baseline_of(tmp_path: Path, records, meta=META):
    path = tmp_path / "baseline.json"
    write_baseline(path, records, meta, reason="first run", complete=True)
    return load_baseline(path)


def rows_by_metric(comparison, variant="ptq_int8"):
    return {r.metric: r for r in comparison.rows if r.variant == variant}


# --- tolerance tokens ----------------------------------------------------------------------

def test_tolerance_tokens_parse_and_print_back():
    t = parse_tolerance("latency_us:+5%")
    assert (t.metric, t.direction, t.amount, t.percent) == ("latency_us", 1, 5.0, True)
    assert t.allowed(1000.0) == pytest.approx(50.0)
    t = parse_tolerance("accuracy:-0.5")
    assert (t.direction, t.amount, t.percent, t.allowed(90.0)) == (-1, 0.5, False, 0.5)
    assert str(parse_tolerance(" arena_bytes : +0 ")) == "arena_bytes:+0"
    merged = parse_tolerances("arena_bytes:+64, latency_us:+10%")
    assert str(merged["arena_bytes"]) == "arena_bytes:+64"
    assert str(merged["latency_us"]) == "latency_us:+10%"
    assert str(merged["accuracy_drop_pp"]) == "accuracy_drop_pp:+0.5"  # default kept


@pytest.mark.parametrize("token, fragment", [
    ("arena_bytes+0", "expected metric:+N"),
    ("arena_bytes:5", "expected metric:+N"),
    ("arena_bytes:+5%%", "expected metric:+N"),
    ("latency_ms:+5%", "unknown metric 'latency_ms'"),
])
def test_bad_tolerance_token_is_a_clear_error(token, fragment):
    with pytest.raises(BaselineError) as err:
        parse_tolerance(token)
    assert repr(token) in str(err.value) and fragment in str(err.value)


# --- regressions and improvements ---------------------------------------------------------

def test_one_byte_more_arena_is_a_regression_and_less_an_improvement(tmp_path):
    base = baseline_of(tmp_path, [rec(), rec(variant="qat_int8")])
    comparison = compare([rec(arena_bytes=8001), rec(variant="qat_int8", arena_bytes=7900)],
                         base, current_meta=META)
    assert rows_by_metric(comparison)["arena_bytes"].status == "regressed"
    assert rows_by_metric(comparison)["arena_bytes"].delta == 1
    assert rows_by_metric(comparison, "qat_int8")["arena_bytes"].status == "improved"
    assert rows_by_metric(comparison)["model_bytes"].status == "ok"
    assert [r.metric for r in comparison.regressions] == ["arena_bytes"]


def test_percent_tolerance_on_latency(tmp_path):
    base = baseline_of(tmp_path, [rec(latency_est_us=1000.0)])
    assert rows_by_metric(compare([rec(latency_est_us=1049.0)], base))[
        "latency_est_us"].status == "ok"
    assert rows_by_metric(compare([rec(latency_est_us=1051.0)], base))[
        "latency_est_us"].status == "regressed"
    # a move inside the tolerance band is not called an improvement (noise)...
    assert rows_by_metric(compare([rec(latency_est_us=980.0)], base))[
        "latency_est_us"].status == "ok"
    # ...a move beyond it is
    assert rows_by_metric(compare([rec(latency_est_us=900.0)], base))[
        "latency_est_us"].status == "improved"


def test_new_and_missing_items(tmp_path):
    base = baseline_of(tmp_path, [rec(), rec(variant="qat_int8")])
    comparison = compare([rec(), rec(variant="pruned50_int8"), rec(arena_bytes=None,
                                                                   target="esp32c3")], base)
    statuses = {(r.variant, r.target, r.metric): r.status for r in comparison.rows}
    assert statuses[("pruned50_int8", "esp32", "arena_bytes")] == "new"
    assert statuses[("qat_int8", "esp32", "arena_bytes")] == "missing"
    assert statuses[("ptq_int8", "esp32c3", "model_bytes")] == "new"
    assert ("ptq_int8", "esp32c3", "arena_bytes") not in statuses  # None on both sides
    assert comparison.counts()["regressed"] == 0


def test_other_sources_in_the_baseline_are_out_of_scope_not_missing(tmp_path):
    base = baseline_of(tmp_path, [rec(), rec(source="hil", latency_us=790.0)])
    host_only = compare([rec()], base)
    assert {r.source for r in host_only.rows} == {"host-tflm"}
    assert host_only.counts()["missing"] == 0
    everything = compare([rec()], base, only_sources_in_run=False)
    assert {r.status for r in everything.rows if r.source == "hil"} == {"missing"}


def test_missing_baseline_makes_everything_new_and_says_so(tmp_path):
    comparison = compare([rec(), rec(variant="qat_int8")], load_baseline(tmp_path / "no.json"))
    assert comparison.baseline_missing
    assert {r.status for r in comparison.rows} == {"new"}
    assert len(comparison.rows) == 2 * 7  # seven non-None metrics per record
    assert "baseline missing" in format_comparison_table(comparison)


def test_like_for_like_names_what_differs(tmp_path):
    base = baseline_of(tmp_path, [rec()])
    newer = {"versions": {"tensorflow": "2.22.0", "tflite-micro": "0.dev1"},
             "dataset_fingerprint": "sha256:def"}
    comparison = compare([rec()], base, current_meta=newer)
    assert comparison.like_for_like is False
    assert comparison.like_for_like_notes == [
        "tensorflow 2.21.0 -> 2.22.0", "dataset fingerprint sha256:abc -> sha256:def"]
    text = format_comparison_table(comparison)
    assert "NOT like-for-like: tensorflow 2.21.0 -> 2.22.0" in text
    same = compare([rec()], base, current_meta=META)
    assert same.like_for_like is True
    assert compare([rec()], base).like_for_like is None


def test_comparison_table_lists_only_changed_rows_old_to_new(tmp_path):
    base = baseline_of(tmp_path, [rec(arena_bytes=8000)])
    comparison = compare([rec(arena_bytes=9216)], base, current_meta=META)
    text = format_comparison_table(comparison)
    lines = text.splitlines()
    assert any("REGRESSED" in line and "arena_bytes" in line and "8,000 -> 9,216" in line
               and "+1,216 (+15.2%)" in line and "arena_bytes:+0" in line for line in lines)
    assert "model_bytes" not in text  # unchanged rows hidden by default
    assert "model_bytes" in format_comparison_table(comparison, only_changed=False)


# --- accuracy as a statistic --------------------------------------------------------------

def test_mcnemar_exact_values():
    assert mcnemar_p(0, 10) == pytest.approx(2 / 1024)  # ~0.002
    assert mcnemar_p(5, 5) == 1.0
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_p(9, 1) == mcnemar_p(1, 9)
    assert mcnemar_p(6, 0) == pytest.approx(0.03125)
    with pytest.raises(ValueError):
        mcnemar_p(-1, 3)


def paired_run(ptq_accuracy: float, flips: list[int], n: int = 200) -> list[ResultRecord]:
    return [rec(variant="float32", accuracy=95.0, accuracy_drop_pp=0.0, test_samples=n),
            rec(accuracy=ptq_accuracy, accuracy_drop_pp=95.0 - ptq_accuracy,
                flipped_samples=flips, test_samples=n)]


def test_accuracy_drop_beyond_tolerance_but_not_significant_is_ok(tmp_path):
    # baseline: 6 samples flipped vs float32 (all lost). Now 13 other samples are lost and
    # 10 of the old ones come back... net 3 samples (1.5 pp) down, but b=13, c=10: noise.
    base = baseline_of(tmp_path, paired_run(92.0, list(range(10))))
    now = paired_run(90.5, list(range(100, 113)), n=200)
    comparison = compare(now, base, parse_tolerances("accuracy:-1"))
    row = rows_by_metric(comparison)["accuracy"]
    assert row.status == "ok"
    assert "not significant" in row.note and "lost 13, gained 10" in row.note


def test_significant_accuracy_drop_is_a_regression(tmp_path):
    base = baseline_of(tmp_path, paired_run(92.0, list(range(6))))
    now = paired_run(89.0, list(range(12)))  # 6 more samples lost, none gained: p=0.031
    comparison = compare(now, base, parse_tolerances("accuracy:-2"))
    row = rows_by_metric(comparison)["accuracy"]
    assert row.status == "regressed"
    assert "significant" in row.note and "p=0.0312" in row.note
    assert rows_by_metric(comparison)["accuracy_drop_pp"].status == "regressed"


def test_drop_beyond_hard_ceiling_regresses_even_if_not_significant(tmp_path):
    base = baseline_of(tmp_path, paired_run(92.0, list(range(10))))
    now = paired_run(90.5, list(range(100, 113)))  # 1.5 pp > 2 x 0.5 pp, p ~0.68
    row = rows_by_metric(compare(now, base))["accuracy"]
    assert row.status == "regressed" and "hard ceiling 1" in row.note


def test_without_paired_samples_the_tolerance_alone_decides(tmp_path):
    base = baseline_of(tmp_path, [rec(accuracy=92.0)])
    row = rows_by_metric(compare([rec(accuracy=91.2)], base))["accuracy"]
    assert row.status == "regressed" and "unpaired" in row.note
    # flips that cannot produce the accuracies are not trusted
    base = baseline_of(tmp_path, paired_run(92.0, list(range(6))))
    row = rows_by_metric(compare(paired_run(90.0, list(range(6))), base))["accuracy"]
    assert row.status == "regressed" and "inconsistent" in row.note


# --- writing ------------------------------------------------------------------------------

def test_incomplete_run_and_empty_reason_are_refused(tmp_path):
    path = tmp_path / "baseline.json"
    with pytest.raises(BaselineError, match="refusing to write baseline .* incomplete"):
        write_baseline(path, [rec()], META, reason="x", complete=False)
    with pytest.raises(BaselineError, match="give a reason"):
        write_baseline(path, [rec()], META, reason="  ", complete=True)
    assert not path.exists()


def test_write_is_atomic_merges_other_sources_and_records_meta(tmp_path):
    path = tmp_path / "baseline.json"
    write_baseline(path, [rec(source="hil", latency_us=790.0)], META, "bench run",
                   complete=True)
    write_baseline(path, [rec(arena_bytes=8100), rec(variant="qat_int8", error="boom")],
                   META, "arena grew with the new kernels", complete=True)
    data = json.loads(path.read_text())
    assert data["meta"]["reason"] == "arena grew with the new kernels"
    assert data["meta"]["versions"] == META["versions"]
    assert data["meta"]["dataset_fingerprint"] == "sha256:abc"
    assert data["meta"]["not_measured"] == ["qat_int8/esp32/host-tflm"]
    assert "created" in data["meta"] and "git_commit" in data["meta"]
    loaded = load_baseline(path)
    assert set(loaded.entries) == {("ptq_int8", "esp32", "hil"),
                                   ("ptq_int8", "esp32", "host-tflm")}
    assert loaded.entries[("ptq_int8", "esp32", "host-tflm")]["arena_bytes"] == 8100
    assert loaded.entries[("ptq_int8", "esp32", "hil")]["latency_us"] == 790.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json"]  # no temp left


def test_failed_write_leaves_the_old_baseline_intact(tmp_path, monkeypatch):
    path = tmp_path / "baseline.json"
    write_baseline(path, [rec()], META, "first", complete=True)
    before = path.read_text()

    def explode(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr("reports.baseline.os.replace", explode)
    with pytest.raises(OSError, match="disk full"):
        write_baseline(path, [rec(arena_bytes=1)], META, "second", complete=True)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json"]


def test_obtained_file_beside_the_baseline(tmp_path):
    obtained = write_obtained(tmp_path / "baseline.json", [rec(arena_bytes=9000)], META)
    assert obtained.name == "baseline.obtained.json"
    assert json.loads(obtained.read_text())["results"][0]["arena_bytes"] == 9000


def test_corrupt_baseline_is_a_clear_error(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text("{not json")
    with pytest.raises(BaselineError, match="baseline.json: not valid JSON"):
        load_baseline(path)
