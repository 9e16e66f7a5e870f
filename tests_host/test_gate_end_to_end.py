"""The host gate as a user runs it (a nested pytest): bad inputs fail alone, the rest is
measured and reported; budgets, regressions and baseline updates gate the run."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reports.baseline import write_baseline
from tests_host import tiny_models
from vocabulary.records import ResultRecord

ROOT = Path(__file__).resolve().parent.parent
GATE = "tests_host/test_host_gate.py"


def run_gate(tmp_path: Path, *args: str, env: dict | None = None) -> tuple[int, dict[str, str], str]:
    """Run the gate on esp32 for float32 + ptq_int8 (plus args); return exit code, outcome per id, output."""
    command = [sys.executable, "-m", "pytest", GATE, "-m", "host", "-p", "no:cacheprovider", "-rA", "--target", "esp32",
               "--variants", "ptq_int8", "--report-dir", str(tmp_path / "report"),
               "--baseline", str(tmp_path / "baseline.json"), *args]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})
    outcomes = {m.group(2): m.group(1)
                for m in re.finditer(r"^(PASSED|FAILED|ERROR) \S+\[([^\]]+)\]", proc.stdout, re.M)}
    return proc.returncode, outcomes, proc.stdout + proc.stderr


def records(tmp_path: Path) -> dict[str, dict]:
    lines = (tmp_path / "report" / "results.jsonl").read_text().splitlines()
    return {f"{r['variant']}-{r['target']}": r for r in map(json.loads, filter(None, lines))}


@pytest.fixture(scope="module")
def warm(pytestconfig):
    """What the nested runs read (float32 and ptq_int8, `--variants ptq_int8`), built in this
    process first with this run's recipes, cache and reference outputs (as build_session
    builds them), so they find it in the cache; not the other six default variants, which
    the host gate builds when it runs. Not the tiny test recipes: the nested runs are the gate
    as a user runs it, default recipes against budgets.toml."""
    from model_builders.pipeline import build_variants
    from tinyml_harness.build_fixtures import REFERENCE_HOOK, build_config_from, build_jobs

    config = dataclasses.replace(build_config_from(pytestconfig), variants=["ptq_int8"])
    return build_variants(config, progress=lambda message: None, jobs=build_jobs(pytestconfig),
                          after_build=REFERENCE_HOOK).variants


def test_bad_models_fail_alone_and_everything_else_is_measured(tmp_path, warm):
    models = {"truncated": tiny_models.truncated(warm["ptq_int8"].tflite_bytes),
              "random": tiny_models.random_bytes(), "not_a_model": tiny_models.flatbuffer_not_a_model(),
              "mine": warm["ptq_int8"].tflite_bytes}
    args = []
    for name, data in models.items():
        (tmp_path / f"{name}.tflite").write_bytes(data)
        args += ["--model", str(tmp_path / f"{name}.tflite")]
    args += ["--metric-path", str(tmp_path / "metrics.txt"), "--junitxml", str(tmp_path / "junit.xml")]
    code, outcomes, output = run_gate(tmp_path, *args, env={"GITHUB_STEP_SUMMARY": str(tmp_path / "step.md")})
    assert code == 1, output[-3000:]
    per_target = {"float32-esp32": "PASSED", "ptq_int8-esp32": "PASSED", "mine-esp32": "PASSED",
                  "truncated-esp32": "FAILED", "random-esp32": "FAILED", "not_a_model-esp32": "FAILED"}
    once = {k.removesuffix("-esp32"): v for k, v in per_target.items()}  # test_variant[...]
    assert outcomes == {**per_target, **once}, output[-3000:]
    assert re.search(r"truncated on every target \(host-tflm\).*\n.*not measured: truncated", output)
    saved = records(tmp_path)
    assert set(saved) == set(per_target)  # the failures are recorded too, with their error
    assert all(saved[k]["error"] for k in ("truncated-esp32", "random-esp32", "not_a_model-esp32"))
    assert saved["mine-esp32"]["accuracy"] == saved["ptq_int8-esp32"]["accuracy"]  # same bytes, same figures
    assert saved["mine-esp32"]["arena_bytes"] == saved["ptq_int8-esp32"]["arena_bytes"] > 0
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "ptq_int8" in summary and "truncated" in summary
    assert (tmp_path / "step.md").read_text().strip() == summary.strip()
    arena = saved["ptq_int8-esp32"]["arena_bytes"]
    metrics = (tmp_path / "metrics.txt").read_text()
    # arena does not depend on the target on the host: judged and reported once per variant
    assert f'tinyml_arena_bytes{{target="*",variant="ptq_int8",source="host-tflm"}} {arena}' in metrics
    assert 'tinyml_latency_est_us{target="esp32",variant="ptq_int8",source="host-tflm"}' in metrics
    junit = (tmp_path / "junit.xml").read_text()
    assert f'<property name="arena_bytes" value="{arena}"' in junit


def test_budgets_file_with_unknown_names_fails_every_item_but_measures(tmp_path, warm):
    (tmp_path / "budgets.toml").write_text('[budget.ptq_int9."*"]\nmax_arena_bytes = 1\n'
                                           '[budget.float32.esp99]\nmax_arena_bytes = 1\n'
                                           '[defaults]\nmax_arena_kb = 1\n')
    code, outcomes, output = run_gate(tmp_path, "--budgets", str(tmp_path / "budgets.toml"))
    assert code == 1 and set(outcomes.values()) == {"FAILED"}
    assert "budgets not checked" in output and "budgets.toml" in output
    assert all(r["arena_bytes"] for r in records(tmp_path).values())


def test_a_worse_arena_than_the_baseline_is_a_regression_with_numbers(tmp_path, warm):
    code, _, output = run_gate(tmp_path, "--update-baseline", "--baseline-reason", "test")
    assert code == 1 and "baseline NOT updated" in output and "filtered" in output  # --variants: not complete
    measured = records(tmp_path)["ptq_int8-esp32"]
    old = {key: ResultRecord.from_dict(value) for key, value in records(tmp_path).items()}
    old["ptq_int8-esp32"].arena_bytes -= 64
    old["ptq_int8-esp32"].model_sha256 = "0" * 64  # another artifact: the arena's tolerance (+0) decides
    write_baseline(tmp_path / "baseline.json", old.values(), {}, "test", complete=True)
    (tmp_path / "tf_probe.py").write_text(
        "import sys\ndef pytest_sessionfinish(session):\n    print('TF_IMPORTED', 'tensorflow' in sys.modules)\n")
    code, outcomes, output = run_gate(tmp_path, "-p", "tf_probe", env={"PYTHONPATH": str(tmp_path)})
    assert "TF_IMPORTED False" in output  # warm: nothing built, reference outputs cached
    assert code == 1 and outcomes["ptq_int8"] == "FAILED" and outcomes["float32"] == "PASSED"
    assert outcomes["ptq_int8-esp32"] == "PASSED"  # latency on esp32 is unchanged
    old, new = measured["arena_bytes"] - 64, measured["arena_bytes"]
    assert f"regression: arena_bytes {old:,} -> {new:,}" in output, output[-3000:]
    assert (tmp_path / "baseline.obtained.json").exists()


def test_a_directory_dataset_goes_through_the_whole_gate(tmp_path, warm):
    """--dataset DIR: trained on the user's data, gated with the user's budgets. A model of
    another input shape (3 channels beside 2) gets every figure but accuracy, which is n/a,
    and passes unless a budget it can be judged on fails (issue 21, item 5)."""
    import numpy as np

    rng = np.random.default_rng(1)
    for label, name in enumerate(("still", "shake")):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(12):
            signal = rng.normal(0, 0.05, (20, 2)) + label * np.sin(np.linspace(0, 12, 20))[:, None]
            np.save(tmp_path / "data" / name / f"{i}.npy", signal.astype(np.float32))
    (tmp_path / "budgets.toml").write_text("[defaults]\nmin_accuracy = 50.0\n"
                                           '[budget.too_big."*"]\nmax_model_bytes = 100\n')
    for name in ("other_shape", "too_big"):
        (tmp_path / f"{name}.tflite").write_bytes(warm["ptq_int8"].tflite_bytes)  # 50x3 input
    timing_log = tmp_path / "timing.jsonl"
    code, outcomes, output = run_gate(tmp_path, "--dataset", str(tmp_path / "data"),
                                      "--budgets", str(tmp_path / "budgets.toml"),
                                      "--model", str(tmp_path / "other_shape.tflite"),
                                      "--model", str(tmp_path / "too_big.tflite"),
                                      env={"TINYML_CACHE_DIR": str(tmp_path / "cache"),
                                           "TINYML_TIMING_LOG": str(timing_log)})
    assert outcomes == {"float32-esp32": "PASSED", "ptq_int8-esp32": "PASSED", "other_shape-esp32": "PASSED",
                        "too_big-esp32": "PASSED", "float32": "PASSED", "ptq_int8": "PASSED",
                        "other_shape": "PASSED", "too_big": "FAILED"}, output[-3000:]
    assert re.search(r"too_big on every target \(host-tflm\): 1 problem\(s\)\n  - budget: model_bytes", output), \
        output[-3000:]  # model size is judged once per variant
    assert "accuracy" not in output[output.index("too_big on"):].split("\n  metric")[0]  # n/a, not judged
    saved = records(tmp_path)
    mine = saved["other_shape-esp32"]
    assert mine["error"] is None and mine["accuracy"] is None and mine["arena_bytes"] > 0
    assert mine["model_bytes"] > 0 and mine["macs"] > 0 and mine["ops"] and mine["latency_est_us"] > 0
    assert mine["extra"]["notes"][0].startswith("accuracy n/a (no labelled data for this input shape): "
                                                "model input (50, 3), dataset samples (20, 2)")
    saved = records(tmp_path)
    assert saved["ptq_int8-esp32"]["test_samples"] == 4  # 20 % of 12 per class, 2 classes
    assert saved["ptq_int8-esp32"]["macs"] > 0 and saved["ptq_int8-esp32"]["accuracy"] >= 50.0
    # a cold run: float32 was evaluated on TFLM while ptq_int8 was still being built
    phases = [json.loads(line) for line in timing_log.read_text().splitlines()]
    float32_tflm = next(p for p in phases if p["phase"] == "tflm" and p["variant"] == "float32")
    ptq_build = next(p for p in phases if p["phase"] == "build" and p["variant"] == "ptq_int8")
    assert float32_tflm["start"] < ptq_build["end"], phases


def test_a_variant_built_hook_sees_every_variant_and_its_failure_stops_nothing(tmp_path, warm):
    """pytest_tinyml_variant_built is called once per variant (cache hits too); one that
    raises is reported by variant and the run measures and gates everything as usual."""
    seen = tmp_path / "seen.txt"
    (tmp_path / "variant_listener.py").write_text(
        "def pytest_tinyml_variant_built(config, variant, data):\n"
        f"    with open({str(seen)!r}, 'a') as f:\n"
        "        f.write(f'{variant.name} {len(data.y_test)}\\n')\n"
        "    if variant.name == 'ptq_int8':\n"
        "        raise RuntimeError('listener bug')\n")
    python_path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    code, outcomes, output = run_gate(tmp_path, "-p", "variant_listener", env={"PYTHONPATH": python_path})
    assert code == 0 and set(outcomes.values()) == {"PASSED"} and len(outcomes) == 4, output[-3000:]
    names = [line.split()[0] for line in seen.read_text().splitlines()]
    assert names == ["float32", "ptq_int8"]
    assert "ptq_int8: a pytest_tinyml_variant_built hook raised RuntimeError: listener bug" in output
