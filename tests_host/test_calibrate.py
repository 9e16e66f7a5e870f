"""tinyml_harness.calibrate on synthetic measured profiles: known coefficients must come back,
be written to a copy of targets.toml (marked calibrated, comments kept), and shrink the
estimate's error. Virtual-board records must never be fitted."""
from __future__ import annotations

import io
import shutil

import numpy as np
import pytest

from vocabulary.records import ResultRecord
from reports.results_store import ResultsStore
from tinyml_harness.calibrate import calibrate
from targets.cost.registry import DEFAULT_TARGETS_FILE, load_targets

TRUTH = {"per_op_overhead_cycles": 1500.0, "int8.conv": 1.25, "int8.fully_connected": 0.9,
         "int8.per_element": 3.0}
KIND = {"CONV_2D": "conv", "FULLY_CONNECTED": "fully_connected"}


def synthetic_profile(rng: np.random.Generator, scale: int) -> list[dict]:
    """A CNN-shaped op list whose 'measured' cycles follow TRUTH, with 1 % noise."""
    ops = [("CONV_2D", 2000 * scale, 800), ("MAX_POOL_2D", 0, 700 + 50 * scale),
           ("CONV_2D", 9000 * scale, 700), ("RESHAPE", 0, 320 + 10 * scale),
           ("FULLY_CONNECTED", 3000 * scale, 320), ("SOFTMAX", 0, 3 + scale)]
    profile = []
    for i, (op, macs, elements) in enumerate(ops):
        key = f"int8.{KIND[op]}" if op in KIND else "int8.per_element"
        work = macs if op in KIND else elements
        cycles = (TRUTH["per_op_overhead_cycles"] + TRUTH[key] * work) * rng.normal(1.0, 0.01)
        profile.append({"index": i, "op": op, "us": cycles / 240, "cycles": int(cycles),
                        "macs": macs, "elements": elements, "dtype": "int8"})
    return profile


@pytest.fixture
def results(tmp_path):
    rng = np.random.default_rng(0)
    store = ResultsStore(tmp_path / "latest")
    store.start_run(archive=False)
    for n, scale in enumerate((1, 2, 3, 5, 8)):
        store.append(ResultRecord(variant=f"synthetic_{n}", target="esp32s3", source="hil",
                                  extra={"profile": synthetic_profile(rng, scale)}))
    # Emulated figures must be ignored, even with a profile that would drag the fit.
    store.append(ResultRecord(variant="synthetic_0", target="esp32s3", source="virtual",
                              extra={"profile": [dict(p, cycles=10**7) for p in synthetic_profile(rng, 1)]}))
    return store.jsonl_path


@pytest.fixture
def targets_file(tmp_path):
    path = tmp_path / "targets.toml"
    shutil.copy(DEFAULT_TARGETS_FILE, path)
    return path


def test_fit_recovers_known_coefficients_and_writes_them(results, targets_file):
    before_text = targets_file.read_text()
    out = io.StringIO()
    fits = calibrate(results, targets_file, out=out)
    assert set(fits) == {"esp32s3"}
    for key, true in TRUTH.items():
        assert fits["esp32s3"].coefficients[key] == pytest.approx(true, rel=0.05), key
    cost = load_targets(targets_file)["esp32s3"].cost
    assert cost.per_op_overhead_cycles.value == pytest.approx(1500, rel=0.05)
    assert cost.per_op_overhead_cycles.calibrated
    assert "bench calibration" in cost.coefficient("int8", "conv").source
    # Untouched: coefficients the data does not constrain, other targets, the comments.
    original = load_targets(DEFAULT_TARGETS_FILE)
    assert cost.coefficient("float32", "conv") == original["esp32s3"].cost.coefficient("float32", "conv")
    assert load_targets(targets_file)["esp32"] == original["esp32"]
    assert before_text.splitlines()[0] == targets_file.read_text().splitlines()[0]
    assert "skipped synthetic_0/esp32s3 (virtual): not measured on a chip" in out.getvalue()


def test_error_shrinks_after_calibration(results, targets_file):
    out = io.StringIO()
    calibrate(results, targets_file, write=False, out=out)
    rows = [line.split() for line in out.getvalue().splitlines() if line.strip().startswith("synthetic_")]
    assert len(rows) == 5
    for variant, measured, before, err_before, after, err_after in rows:
        assert abs(float(err_after)) <= 2.0, (variant, err_after)
        assert abs(float(err_after)) < abs(float(err_before)), variant
    assert targets_file.read_text() == DEFAULT_TARGETS_FILE.read_text()  # dry run writes nothing


def test_only_virtual_records_is_a_clear_refusal(tmp_path, targets_file):
    store = ResultsStore(tmp_path / "v")
    store.start_run(archive=False)
    store.append(ResultRecord(variant="ptq_int8", target="esp32s3", source="virtual",
                              extra={"profile": synthetic_profile(np.random.default_rng(1), 1)}))
    with pytest.raises(SystemExit, match="measured on a chip"):
        calibrate(store.jsonl_path, targets_file, out=io.StringIO())
