"""summary.md, recommendations, plots, build_report and `python -m reports` end to end,
all on synthetic result records (no TensorFlow)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reports.baseline import load_baseline, write_baseline
from reports.budgets import Violation
from reports.compare import compare
from reports.plots import make_plots
from reports.report import build_report
from reports.results_store import ResultsStore
from reports.summary import build_summary, recommend, write_github_summary
from vocabulary.records import ResultRecord

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPARSITY = {"pruned50_int8": 0.5, "pruned70_int8": 0.7, "pruned90_int8": 0.9}


def gesture_run(targets=("esp32", "esp32c3"), drops=None, fits=None, source="host-tflm",
                variants=None) -> list[ResultRecord]:
    """A plausible run of the gesture CNN variants; figures scale with the variant."""
    drops = {"float32": 0.0, "dynamic_range": 0.2, "ptq_int8": 0.8,
             "ptq_int8_per_tensor": 2.4, "qat_int8": 0.3, "pruned50_int8": 0.9,
             "pruned70_int8": 1.6, "pruned90_int8": 5.5, **(drops or {})}
    fits = fits or {}
    records = []
    for target in targets:
        for variant in variants or drops:
            is_float = variant in ("float32", "dynamic_range")
            model = 61000 if variant == "float32" else 17800
            sparsity = SPARSITY.get(variant, 0.0)
            records.append(ResultRecord(
                variant=variant, target=target, source=source,
                accuracy=96.0 - drops[variant], accuracy_drop_pp=drops[variant],
                max_class_drop_pp=2 * drops[variant],
                model_bytes=model, gzip_bytes=int(model * (0.85 - 0.6 * sparsity)),
                arena_bytes=None if variant == "dynamic_range" else 12000 if is_float else 4800,
                deployable=variant != "dynamic_range", macs=310000,
                latency_est_us=(3000.0 if is_float else 800.0) * (12 if target == "esp32c3"
                                                                 and is_float else 1),
                ops=["CONV_2D", "FULLY_CONNECTED", "SOFTMAX"], fits=fits.get(variant, True),
                test_samples=300, extra={"sparsity": sparsity} if variant in SPARSITY else {}))
    return records


# --- recommendation rules -------------------------------------------------------------------

def test_recommends_ptq_when_its_drop_is_under_two_points():
    rec = recommend(gesture_run(), "esp32")
    assert rec.choice == "ptq_int8" and "drop 0.80 pp < 2 pp" in rec.reason
    # most pruned variant under 2 pp: pruned70 (pruned90 drops 5.5 pp)
    assert rec.download_choice == "pruned70_int8"
    assert "sparsity 70 %" in rec.download_reason and "for ptq_int8" in rec.download_reason


def test_recommends_qat_when_ptq_drops_two_points_or_more():
    rec = recommend(gesture_run(drops={"ptq_int8": 2.0}), "esp32")
    assert rec.choice == "qat_int8"
    assert "ptq_int8 drop 2.00 pp >= 2 pp" in rec.reason


def test_a_variant_that_does_not_fit_is_never_recommended():
    records = gesture_run(fits={"ptq_int8": False, "pruned70_int8": False})
    rec = recommend(records, "esp32")
    assert rec.choice == "qat_int8" and "ptq_int8 does not fit" in rec.reason
    assert rec.download_choice == "pruned50_int8"
    nothing = recommend(gesture_run(fits={v: False for v in (
        "float32", "ptq_int8", "qat_int8", "pruned50_int8", "pruned70_int8")}), "esp32")
    assert nothing.choice is None and nothing.reason.startswith("none")
    assert nothing.download_choice is None


def test_a_variant_breaking_its_budget_is_not_recommended():
    violation = Violation("arena_bytes", 9000, 8192, "max", "arena_bytes 9,000 > budget 8,192")
    rec = recommend(gesture_run(), "esp32",
                    {("ptq_int8", "esp32", "host-tflm"): [violation]})
    assert rec.choice == "qat_int8" and "breaks its budgets" in rec.reason


# --- summary.md -------------------------------------------------------------------------------

def test_summary_has_one_table_per_source_with_targets_as_columns():
    text = build_summary(gesture_run())
    assert text.count("host TFLM; latency estimated, not measured") == 1
    assert "## host-tflm (emulated)\n" in text and "## esp32\n" not in text
    assert "| esp32 est. us | esp32c3 est. us |" in text
    assert "| ptq_int8 | 17.4 KiB | 14.8 KiB | 4.7 KiB | 95.20 | +0.80 | +1.60 | 800 | 800 | - | ok |" in text
    assert "| float32 | 59.6 KiB | 50.6 KiB | 11.7 KiB | 96.00 | +0.00 | +0.00 | 3,000 | 36,000 |" in text
    assert "- **esp32, esp32c3:** PTQ int8 (ptq_int8)" in text  # one line for targets that agree
    assert text.splitlines()[2].startswith("**PASS")


def test_each_estimate_carries_its_expected_error_and_its_esp_nn_off_figure():
    records = gesture_run(targets=("esp32", "esp32c6"), variants=["ptq_int8"])
    records[0].latency_est_error_pct = 22.0
    records[0].extra.update(latency_est_us_by_config={"default": 800.0, "esp_nn_off": 6800.0},
                            latency_est_expected_error="within 22 % ...")
    records[1].extra.update(latency_est_expected_error="not validated: ...")
    text = build_summary(records)
    assert "| 800 (±22 %); esp_nn_off 6,800 | 800 (not validated) |" in text
    assert "± its expected error" in text and "docs/LATENCY.md" in text


def test_regressions_come_first_and_read_in_ten_seconds(tmp_path):
    old = gesture_run(targets=("esp32",))
    write_baseline(tmp_path / "b.json", old, {}, "first", complete=True)
    new = gesture_run(targets=("esp32",))
    new[2].arena_bytes = 5200  # ptq_int8 grew
    comparison = compare(new, load_baseline(tmp_path / "b.json"))
    violation = Violation("arena_bytes", 5200, 5000, "max",
                          "arena_bytes 5,200 > budget 5,000 (baseline 4,800)")
    text = build_summary(new, comparison, {new[2].key: [violation]})
    head = "\n".join(text.splitlines()[:8])
    assert "FAIL: 1 budget violation(s), 1 regression(s)" in head
    assert "## Regressions and budget violations" in head
    assert "- **ptq_int8**" in head
    assert "budget: ptq_int8 on esp32 (host-tflm): arena_bytes 5,200 > budget 5,000 (baseline 4,800)" \
        in head
    assert "regressed: ptq_int8 on all targets (host-tflm): arena_bytes 4,800 -> 5,200" in text
    assert "## Baseline comparison" in text and "REGRESSED" in text


def test_measured_and_estimated_latency_side_by_side():
    records = gesture_run(targets=("esp32",))
    chip = gesture_run(targets=("esp32",), source="hil", variants=["ptq_int8"])[0]
    chip.latency_us, chip.latency_est_us, chip.arena_bytes = 760.0, 800.0, 5400
    chip.extra["host_arena_bytes"] = 4800
    text = build_summary(records + [chip])
    assert "## hil\n" in text and "| esp32 us |" in text
    # the estimate is 5.3 % high; the chip's arena against the host build's (4,800 B)
    assert "| 760 (est. 800 (+5.3%)); arena vs host +600 B (+12.5%) |" in text
    assert "- measured on the chip" in text


def test_each_virtual_board_is_introduced_by_its_own_conditions():
    """The fw-tflm engine is the firmware binary on the host, timed by the host clock: its section
    must not call it host TFLM behind the protocol (the Python engine's words)."""
    from targets.measure.shared import VIRTUAL_ENGINES

    def section(engine: str) -> str:
        records = gesture_run(targets=("esp32",), source="virtual", variants=["ptq_int8"])
        records[0].extra["timing"] = {"label": VIRTUAL_ENGINES[engine].timings}
        text = build_summary(records)
        return text[text.index("## virtual"):text.index("| variant")]

    python, firmware = section("python"), section("fw-tflm")
    assert "- virtual board (emulated: host TFLM behind the serial protocol); latency estimated, not measured" \
        in python
    assert "host TFLM behind" not in firmware and "firmware binary built for the host" in firmware
    assert "host's clock); latency estimated, not measured" in firmware
    # records without their conditions (written before they were kept) get the source's own words
    older = build_summary(gesture_run(targets=("esp32",), source="virtual", variants=["ptq_int8"]))
    assert "- virtual board (emulated); latency estimated, not measured" in older


def test_github_step_summary_is_appended_when_set(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert write_github_summary("# one") is False
    target = tmp_path / "step_summary.md"
    target.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    assert write_github_summary("# report") is True
    assert target.read_text() == "earlier step\n# report\n\n"


# --- plots ------------------------------------------------------------------------------------

def test_plots_are_non_empty_pngs(tmp_path):
    result = make_plots(gesture_run(), tmp_path)
    assert [p.name for p in result.paths] == [
        "sparsity_sweep.png", "accuracy_vs_size.png", "per_channel_vs_per_tensor.png"]
    assert result.notes == []
    for path in result.paths:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_plots_with_missing_variants_are_skipped_with_a_note(tmp_path):
    result = make_plots(gesture_run(variants=["float32", "ptq_int8"]), tmp_path)
    assert [p.name for p in result.paths] == ["accuracy_vs_size.png"]
    assert any("sparsity_sweep.png: skipped" in n for n in result.notes)
    assert any("per_channel_vs_per_tensor.png: skipped" in n for n in result.notes)
    empty = make_plots([], tmp_path / "empty")
    assert empty.paths == [] and len(empty.notes) == 3


# --- build_report and the command line ----------------------------------------------------------

def test_build_report_gates_with_budgets_and_baseline(tmp_path):
    budgets = tmp_path / "budgets.toml"
    budgets.write_text("[defaults]\nmax_arena_bytes = 10000\n")
    baseline = tmp_path / "baseline.json"
    records = gesture_run()
    paths = build_report(records, tmp_path / "latest", baseline, budgets,
                         github_summary=False)
    assert paths.comparison.baseline_missing
    # float32 (12,000 B arena) breaks the 10,000 B ceiling: once, since the host arena is the
    # same for every target; dynamic_range has no arena (not deployable on TFLM)
    assert sorted(paths.violations) == [("float32", "*", "host-tflm")]
    summary = paths.summary.read_text()
    assert "FAIL: 1 budget violation(s), 0 regression(s)" in summary
    assert "Baseline missing" in summary
    assert paths.csv.exists() and len(paths.plots) == 3


def test_bad_budgets_file_becomes_a_note_not_a_lost_report(tmp_path):
    budgets = tmp_path / "budgets.toml"
    budgets.write_text("[defaults]\nmax_arena_kb = 8\n")
    paths = build_report(gesture_run(), tmp_path, None, budgets, github_summary=False)
    assert any("unknown key 'max_arena_kb'" in n for n in paths.notes)
    assert "NOT FULLY CHECKED" in paths.summary.read_text()


def test_python_m_reports_rebuilds_from_jsonl(tmp_path):
    latest = tmp_path / "latest"
    store = ResultsStore(latest)
    store.start_run(meta={"versions": {"tensorflow": "2.21.0"},
                          "dataset_fingerprint": "sha256:new"})
    for record in gesture_run():
        store.append(record)
    with open(store.jsonl_path, "a") as fh:
        fh.write('{"variant": "qat_int8", "tar')  # an interrupted run
    baseline = tmp_path / "baseline.json"
    write_baseline(baseline, gesture_run(), {"versions": {"tensorflow": "2.21.0"},
                                             "dataset_fingerprint": "sha256:old"},
                   "first", complete=True)
    done = subprocess.run(
        [sys.executable, "-m", "reports", "--dir", str(latest), "--baseline", str(baseline),
         "--budgets", str(REPO / "budgets.toml")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"read 16 record(s) from {latest / 'results.jsonl'}" in done.stdout
    for name in ("results.csv", "summary.md", "sparsity_sweep.png", "accuracy_vs_size.png",
                 "per_channel_vs_per_tensor.png"):
        assert str(latest / name) in done.stdout
        assert (latest / name).stat().st_size > 0
    assert "ok" in done.stdout and "regressed" not in done.stdout
    assert "skipped a truncated line" in done.stderr
    # the default budgets pass this healthy synthetic run
    assert "budget violations: 0" in done.stdout


def test_python_m_reports_says_when_there_is_nothing_to_read(tmp_path):
    done = subprocess.run([sys.executable, "-m", "reports", "--dir", str(tmp_path / "none")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "results.jsonl does not exist" in done.stderr
