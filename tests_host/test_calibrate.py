"""tinyml_harness.calibrate on synthetic measured profiles: known coefficients must come back,
be written to a copy of targets.toml (marked calibrated, comments kept), and shrink the
estimate's error. Virtual-board records must never be fitted."""
from __future__ import annotations

import io
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from reports.results_store import ResultsStore
from targets.cost.estimator import estimate_latency
from targets.cost.registry import DEFAULT_TARGETS_FILE, load_targets
from targets.tflm.analysis import OpInfo
from tinyml_harness.calibrate import calibrate
from vocabulary.records import ResultRecord

TRUTH = {"per_op_overhead_cycles": 1500.0, "int8.conv": 1.25, "int8.fully_connected": 0.9,
         "int8.per_element": 3.0}
KIND = {"CONV_2D": "conv", "FULLY_CONNECTED": "fully_connected"}


def synthetic_profile(rng: np.random.Generator, scale: int, truth: dict[str, float] = TRUTH,
                      noise: float = 0.01) -> list[dict]:
    """A CNN-shaped op list whose 'measured' cycles follow `truth`, with 1 % noise."""
    ops = [("CONV_2D", 2000 * scale, 800), ("MAX_POOL_2D", 0, 700 + 50 * scale),
           ("CONV_2D", 9000 * scale, 700), ("RESHAPE", 0, 320 + 10 * scale),
           ("FULLY_CONNECTED", 3000 * scale, 320), ("SOFTMAX", 0, 3 + scale)]
    profile = []
    for i, (op, macs, elements) in enumerate(ops):
        key = f"int8.{KIND[op]}" if op in KIND else "int8.per_element"
        work = macs if op in KIND else 0 if op == "RESHAPE" else elements  # a reshape: overhead only
        cycles = (truth["per_op_overhead_cycles"] + truth[key] * work) * rng.normal(1.0, noise)
        profile.append({"index": i, "op": op, "us": cycles / 240, "cycles": int(cycles),
                        "macs": macs, "elements": elements, "dtype": "int8"})
    return profile


def bench_results(path, target: str = "esp32s3", truth: dict[str, float] = TRUTH, seed: int = 0,
                  noise: float = 0.01) -> ResultsStore:
    """Five 'hil' records of one target, each a differently sized model measured per op."""
    rng = np.random.default_rng(seed)
    store = ResultsStore(path)
    store.start_run(archive=False)
    for n, scale in enumerate((1, 2, 3, 5, 8)):
        store.append(ResultRecord(variant=f"synthetic_{n}", target=target, source="hil",
                                  extra={"profile": synthetic_profile(rng, scale, truth, noise)}))
    return store


@pytest.fixture
def results(tmp_path):
    rng = np.random.default_rng(0)
    store = bench_results(tmp_path / "latest")
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
    for variant, _measured, _before, err_before, _after, err_after in rows:
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


def random_truth(rng: np.random.Generator) -> dict[str, float]:
    return {"per_op_overhead_cycles": float(rng.uniform(200, 5000)), "int8.conv": float(rng.uniform(0.2, 6)),
            "int8.fully_connected": float(rng.uniform(0.2, 6)), "int8.per_element": float(rng.uniform(0.5, 20))}


@pytest.mark.parametrize("seed,target", [(1, "esp32"), (2, "esp32c3"), (3, "esp32c6"), (4, "esp32s3")])
def test_any_cost_model_is_recovered_and_then_predicts_a_model_it_never_saw(tmp_path, targets_file, seed, target):
    """Not one lucky truth: random coefficients, targets of other clocks. Noise-free profiles
    give every coefficient back (cycles are stored as integers: within 1 %). With 1 % noise a
    small per-op overhead is not pinned by 30 ops, but what the estimate is for is: the
    dominant conv rate within 5 %, and the latency of a larger, unseen model within 3 %."""
    truth = random_truth(np.random.default_rng(seed))
    exact = calibrate(bench_results(tmp_path / "exact", target, truth, seed, noise=0.0).jsonl_path,
                      targets_file, write=False, out=io.StringIO())[target]
    for key, value in truth.items():
        assert exact.coefficients[key] == pytest.approx(value, rel=0.01), key
    noisy = calibrate(bench_results(tmp_path / "noisy", target, truth, seed).jsonl_path, targets_file,
                      out=io.StringIO())[target]
    assert noisy.coefficients["int8.conv"] == pytest.approx(truth["int8.conv"], rel=0.05)
    profile = load_targets(targets_file)[target]
    unseen = synthetic_profile(np.random.default_rng(99), 13, truth, noise=0.0)
    ops = [OpInfo(p["index"], p["op"], p["macs"], p["dtype"], p["elements"]) for p in unseen]
    estimate = estimate_latency(SimpleNamespace(op_infos=ops), profile)
    assert estimate.total_us == pytest.approx(sum(p["cycles"] for p in unseen) / profile.clock_mhz, rel=0.03)


def test_a_calibrated_estimate_says_so_and_an_unfitted_dtype_stays_an_estimate(results, targets_file):
    """calibrate -> registry -> estimator: int8 work the bench measured is calibrated; float32
    work (never measured) keeps the estimate label; the other targets keep theirs."""
    calibrate(results, targets_file, out=io.StringIO())
    profile = load_targets(targets_file)["esp32s3"]
    fitted = [OpInfo(0, "CONV_2D", 5000, "int8", 500), OpInfo(1, "SOFTMAX", 0, "int8", 4),
              OpInfo(2, "FULLY_CONNECTED", 300, "int8", 32)]
    assert estimate_latency(SimpleNamespace(op_infos=fitted), profile).calibrated is True
    as_float = [OpInfo(op.index, op.op, op.macs, "float32", op.elements) for op in fitted]
    assert estimate_latency(SimpleNamespace(op_infos=as_float), profile).calibrated is False
    depthwise = fitted + [OpInfo(3, "DEPTHWISE_CONV_2D", 900, "int8", 300)]  # no depthwise was measured
    assert estimate_latency(SimpleNamespace(op_infos=depthwise), profile).calibrated is False
    esp32 = load_targets(targets_file)["esp32"]
    assert estimate_latency(SimpleNamespace(op_infos=fitted), esp32).calibrated is False
    for key in TRUTH:  # what calibrate wrote names the bench run, never an estimate
        coefficient = (profile.cost.per_op_overhead_cycles if key == "per_op_overhead_cycles"
                       else profile.cost.coefficient(*key.split(".")))
        assert coefficient.calibrated and coefficient.source.startswith("bench calibration: NNLS over 30 measured ops")
