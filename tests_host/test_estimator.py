"""Latency estimate and memory fit: properties that hold for any valid cost model.

The shipped int8 coefficients are fitted to Espressif's published figures
(tests_host/test_published_fit.py checks that fit); the checks below hold for the shipped
registry and for random valid ones.
"""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from targets.cost.estimator import (
    COST_DTYPE,
    KIND_OF_OP,
    SHAPE_ONLY_OPS,
    cost_kind,
    cost_work,
    estimate_latency,
    fits,
)
from targets.cost.published_fit import expected_error
from targets.cost.registry import DTYPES, Coefficient, CostModel, TargetProfile, load_targets
from targets.tflm.analysis import MAC_OPS, OpInfo, analyze_model
from tests_host import tiny_models


@pytest.fixture(scope="module")
def targets():
    return load_targets()


@pytest.fixture(scope="module")
def analyses():
    return {kind: analyze_model(tiny_models.gesture_cnn(kind), name=f"gesture-{kind}") for kind in ("float32", "int8")}


def synthetic(*ops: OpInfo) -> SimpleNamespace:
    """What the estimator reads of an analysis: the op list."""
    return SimpleNamespace(op_infos=list(ops))


def random_profile(rng: np.random.Generator, base: TargetProfile) -> TargetProfile:
    """A valid registry entry with other coefficients and clock: the properties below must
    hold for any of them, not only for today's targets.toml."""
    table = {key: Coefficient(float(rng.uniform(0.01, 100)), "estimate: random", False)
             for key in base.cost.coefficients}
    overhead = Coefficient(float(rng.uniform(0, 5000)), "estimate: random", False)
    return dataclasses.replace(base, name=f"random-{base.name}", clock_mhz=float(rng.uniform(8, 600)),
                               cost=CostModel(overhead, table))


def profiles(targets) -> list[TargetProfile]:
    rng = np.random.default_rng(11)
    return list(targets.values()) + [random_profile(rng, t) for t in targets.values() for _ in range(3)]


RANDOM_OPS = [("CONV_2D", "int8"), ("DEPTHWISE_CONV_2D", "int8"), ("FULLY_CONNECTED", "float32"),
              ("TRANSPOSE_CONV", "float32"), ("MAX_POOL_2D", "int8"), ("SOFTMAX", "float32"), ("RESHAPE", "int8"),
              ("ADD", "int8")]


def random_model(rng: np.random.Generator, n: int = 6) -> list[OpInfo]:
    ops = []
    for i in range(n):
        op, dtype = RANDOM_OPS[rng.integers(len(RANDOM_OPS))]
        macs = int(rng.integers(1, 50_000)) if op in KIND_OF_OP else 0
        ops.append(OpInfo(i, op, macs, dtype, int(rng.integers(0, 5000))))
    return ops


def test_estimate_never_falls_when_an_op_does_more_work_and_rises_when_its_rate_is_positive(targets):
    """Monotone in MACs (MAC ops) and elements (the rest), per op, for any valid cost model."""
    rng = np.random.default_rng(3)
    for profile in profiles(targets):
        ops = random_model(rng)
        base = estimate_latency(synthetic(*ops), profile)
        for i, info in enumerate(ops):
            field = "macs" if info.macs else "elements"
            more = list(ops)
            more[i] = dataclasses.replace(info, **{field: getattr(info, field) + 1000})
            grown = estimate_latency(synthetic(*more), profile)
            rate = profile.cost.coefficient(COST_DTYPE[info.dtype], cost_kind(info)).value
            if info.op in SHAPE_ONLY_OPS:
                rate = 0.0  # a reshape is charged its overhead only, whatever its size
            assert grown.total_us >= base.total_us, (profile.name, info)
            assert grown.per_op[i].us - base.per_op[i].us == pytest.approx(1000 * rate / profile.clock_mhz)
            if rate > 0:
                assert grown.total_us > base.total_us, (profile.name, info)
            assert [a.us for j, a in enumerate(grown.per_op) if j != i] == [
                b.us for j, b in enumerate(base.per_op) if j != i]  # the other ops do not move


def test_estimate_scales_with_one_over_the_clock(targets, analyses):
    """Cycles are the cost model's; the clock only converts them: total_us x clock_mhz is fixed."""
    rng = np.random.default_rng(5)
    for profile in profiles(targets):
        for analysis in analyses.values():
            base = estimate_latency(analysis, profile)
            for factor in (0.5, 2.0, float(rng.uniform(1.1, 7))):
                faster = estimate_latency(analysis, dataclasses.replace(profile, clock_mhz=profile.clock_mhz * factor))
                assert faster.total_us == pytest.approx(base.total_us / factor)
                assert [op.us for op in faster.per_op] == pytest.approx([op.us / factor for op in base.per_op])


def test_every_op_is_charged_at_least_its_overhead_none_silently_zero(targets):
    """An op the model lacks a rate for still costs its overhead and appears in per_op."""
    strange = synthetic(OpInfo(0, "CUSTOM_OP", 0, "int8", 0), OpInfo(1, "GATHER", 0, "bool", 64),
                        OpInfo(2, "CONV_2D", 500, "int8", 100))
    for profile in profiles(targets):
        estimate = estimate_latency(strange, profile)
        assert [(op.index, op.op) for op in estimate.per_op] == [(0, "CUSTOM_OP"), (1, "GATHER"), (2, "CONV_2D")]
        floor = profile.cost.per_op_overhead_cycles.value / profile.clock_mhz
        assert all(op.us >= floor for op in estimate.per_op)
        assert estimate.per_op[0].us == pytest.approx(floor)


def test_work_the_cost_model_has_no_rate_for_is_reported(targets):
    """MACs of an op without a per-MAC rate, or a dtype without rates, are noted, not hidden."""
    esp32 = targets["esp32"]
    estimate = estimate_latency(synthetic(OpInfo(0, "BATCH_MATMUL", 4096, "int8", 256),
                                          OpInfo(1, "CONV_2D", 500, "int8", 100),
                                          OpInfo(2, "ADD", 0, "bool", 64)), esp32)
    assert any("BATCH_MATMUL" in n and "4096 MACs" in n for n in estimate.notes), estimate.notes
    assert any(n.startswith("bool ops charged at float32") for n in estimate.notes), estimate.notes
    assert not any("CONV_2D" in n for n in estimate.notes)
    clean = estimate_latency(synthetic(OpInfo(0, "CONV_2D", 500, "int8", 100)), esp32)
    assert clean.notes == ()


def test_every_op_the_analysis_counts_macs_for_has_a_per_mac_rate():
    """A MAC op added to the analysis without a cost kind would be charged per element."""
    assert set(MAC_OPS) <= set(KIND_OF_OP)
    assert {COST_DTYPE[d] for d in COST_DTYPE} <= set(DTYPES)


def test_estimate_is_calibrated_only_when_every_coefficient_it_used_was(targets):
    esp32 = targets["esp32"]
    model = synthetic(OpInfo(0, "CONV_2D", 500, "int8", 100), OpInfo(1, "SOFTMAX", 0, "int8", 10))

    def with_calibrated(profile, *keys):
        cost = profile.cost
        table = {k: (dataclasses.replace(c, calibrated=True, source="bench run") if k in keys else c)
                 for k, c in cost.coefficients.items()}
        overhead = cost.per_op_overhead_cycles
        if "overhead" in keys:
            overhead = dataclasses.replace(overhead, calibrated=True, source="bench run")
        return dataclasses.replace(profile, cost=CostModel(overhead, table))

    used = ("overhead", ("int8", "conv"), ("int8", "per_element"))
    assert estimate_latency(model, esp32).calibrated is False  # the shipped, uncalibrated file
    assert estimate_latency(model, with_calibrated(esp32, *used)).calibrated is True
    for missing in used:  # any one used coefficient still an estimate: the whole estimate is one
        assert estimate_latency(model, with_calibrated(esp32, *[k for k in used if k != missing])).calibrated is False
    unused_only = with_calibrated(esp32, ("float32", "conv"), ("int8", "depthwise_conv"))
    assert estimate_latency(model, unused_only).calibrated is False
    every = with_calibrated(esp32, "overhead", *esp32.cost.coefficients)
    assert estimate_latency(model, every).calibrated is True
    for estimate in (estimate_latency(model, esp32), estimate_latency(model, every)):
        assert estimate.label == "estimate" and estimate.target == "esp32"


def test_an_uncalibrated_estimate_is_labelled_an_estimate_in_the_record(targets, analyses):
    """What reaches results.jsonl and the gate's message: the label, the calibration flag, the notes."""
    from targets.measure.host import HostMeasurements, Measured

    x, y = np.zeros((4, 50, 3), np.float32), np.array([0, 1, 2, 0])
    measurements = HostMeasurements(x, y)
    measured = Measured("ptq_int8", 1000, 800, "ab" * 32, analysis=analyses["int8"], arena_bytes=6000,
                        arena_source="host")
    for target in targets.values():
        record = measurements.record(measured, None, target)
        estimate = estimate_latency(analyses["int8"], target)
        assert record.latency_us is None and record.latency_est_us == pytest.approx(estimate.total_us, abs=0.05)
        assert "estimate" in record.extra["latency_est_label"] and "not measured" in record.extra["latency_est_label"]
        assert record.extra["latency_est_calibrated"] is estimate.calibrated is False
        # every estimate says how far to trust it, and each firmware config gets its own
        by_config = record.extra["latency_est_us_by_config"]
        assert list(by_config) == list(target.configs) and by_config["default"] == record.latency_est_us
        if "esp_nn_off" in by_config:
            assert by_config["esp_nn_off"] > by_config["default"]
        error = expected_error(target.name, dtypes=("int8",))
        assert record.latency_est_error_pct == (None if error.held_out_pct is None else round(error.held_out_pct, 1))
        assert record.extra["latency_est_expected_error"] == error.describe()
    assert 0 < measurements.record(measured, None, targets["esp32"]).latency_est_error_pct < 50
    as_float = measurements.record(dataclasses.replace(measured, analysis=analyses["float32"]), None, targets["esp32"])
    assert as_float.latency_est_error_pct is None  # Espressif publishes no float32 figure
    assert "no float32 figure" in as_float.extra["latency_est_expected_error"]
    odd = dataclasses.replace(analyses["int8"], op_infos=[OpInfo(0, "BATCH_MATMUL", 4096, "int8", 256)])
    record = measurements.record(dataclasses.replace(measured, analysis=odd), None, targets["esp32"])
    assert any("BATCH_MATMUL" in n for n in record.extra["estimate_notes"])


def test_per_op_figures_add_up_and_follow_the_op_list(analyses, targets):
    estimate = estimate_latency(analyses["int8"], targets["esp32"])
    assert [(op.index, op.op) for op in estimate.per_op] == [(i.index, i.op) for i in analyses["int8"].op_infos]
    assert estimate.total_us == pytest.approx(sum(op.us for op in estimate.per_op))
    slowest = max(estimate.per_op, key=lambda op: op.us)
    assert slowest.op == "CONV_2D" and slowest.index == 7  # the 32-filter conv holds 60% of the MACs


def test_estimate_is_linear_in_the_coefficients(analyses, targets):
    esp32 = targets["esp32"]
    analysis = analyses["int8"]
    coefficients = esp32.cost.coefficients
    cycles = sum(
        esp32.cost.per_op_overhead_cycles.value
        + (info.macs * coefficients[("int8", {"CONV_2D": "conv", "FULLY_CONNECTED": "fully_connected"}[info.op])].value
           if info.macs else 0 if info.op in SHAPE_ONLY_OPS  # reshapes: the overhead only
           else info.elements * coefficients[("int8", "per_element")].value)
        for info in analysis.op_infos
    )
    assert estimate_latency(analysis, esp32).total_us == pytest.approx(cycles / 240)
    doubled = dataclasses.replace(esp32, clock_mhz=480)
    assert estimate_latency(analysis, doubled).total_us == pytest.approx(cycles / 480)


def test_target_ordering_follows_the_hardware(analyses, targets):
    us = {name: {kind: estimate_latency(analyses[kind], t).total_us for kind in analyses}
          for name, t in targets.items()}
    assert us["esp32s3"]["int8"] < us["esp32"]["int8"]  # PIE SIMD in esp-nn
    for name, target in targets.items():
        assert us[name]["int8"] < us[name]["float32"]
        if "esp_nn_off" in target.configs:  # esp-nn's kernels beat its ANSI C ones
            assert us[name]["int8"] < estimate_latency(analyses["int8"], target, "esp_nn_off").total_us
    for name in ("esp32c3", "esp32c6"):  # soft-float on RISC-V without FPU: above the reference int8 loops
        assert us[name]["float32"] > estimate_latency(analyses["int8"], targets[name], "esp_nn_off").total_us


def test_kinds_follow_esp_nns_kernels():
    """A 1x1 conv over a multiple of 8 channels takes esp-nn's vector path; others do not."""
    def conv(kernel, channels, op="CONV_2D"):
        return OpInfo(0, op, 1000, "int8", 100, kernel, channels)

    assert cost_kind(conv((1, 1), (16, 8))) == "conv_1x1"
    assert cost_kind(conv((1, 1), (12, 8))) == "conv"  # esp_nn_conv_s8_1x1, no SIMD
    assert cost_kind(conv((3, 3), (16, 16))) == "conv"
    assert cost_kind(conv((3, 3), (16, 16), "DEPTHWISE_CONV_2D")) == "depthwise_conv"
    assert cost_kind(OpInfo(0, "MUL", 0, "int8", 64)) == "elementwise"
    assert cost_kind(OpInfo(0, "HARD_SWISH", 0, "int8", 64)) == "per_element"
    assert cost_work(OpInfo(0, "RESHAPE", 0, "int8", 64)) == 0


def test_a_table_without_the_newer_kinds_charges_them_at_the_older_ones(tmp_path):
    """Targets files written before conv_1x1 / elementwise existed still load and estimate."""
    from targets.cost.registry import DEFAULT_TARGETS_FILE

    text = DEFAULT_TARGETS_FILE.read_text()
    older = "\n".join(line for line in text.splitlines() if not line.startswith(("conv_1x1 =", "elementwise =")))
    path = tmp_path / "targets.toml"
    path.write_text(older)
    cost = load_targets(path)["esp32"].cost
    assert cost.coefficient("int8", "conv_1x1") == cost.coefficient("int8", "conv")
    assert cost.coefficient("int8", "elementwise") == cost.coefficient("int8", "per_element")


def test_small_model_fits_and_the_numbers_add_up(analyses, targets):
    esp32 = targets["esp32"]
    model_bytes = len(tiny_models.gesture_cnn("int8"))
    result = fits(analyses["int8"], 6000, None, esp32)
    assert result.fits
    assert result.ram_needed == esp32.fw_ram_overhead_bytes + 6000
    assert result.flash_needed == esp32.fw_flash_overhead_bytes + model_bytes
    assert (result.ram_available, result.flash_available) == (esp32.sram_bytes, esp32.flash_bytes)
    in_ram = fits(None, 6000, model_bytes, esp32, model_in="ram")
    assert in_ram.ram_needed == esp32.fw_ram_overhead_bytes + 6000 + model_bytes
    assert in_ram.flash_needed == esp32.fw_flash_overhead_bytes


def test_arena_or_model_too_large_does_not_fit(targets):
    stm = targets["stm32f4"]
    too_much_ram = fits(None, stm.sram_bytes, 1000, stm)
    assert not too_much_ram.fits and too_much_ram.ram_needed > too_much_ram.ram_available
    too_big_model = fits(None, 1000, stm.flash_bytes, stm)
    assert not too_big_model.fits and too_big_model.flash_needed > too_big_model.flash_available
    with pytest.raises(ValueError, match="model_in"):
        fits(None, 1, 1, stm, model_in="psram")
