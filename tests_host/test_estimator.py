"""Latency estimates and memory fit against the reference lesson's ESP32 figures."""
from __future__ import annotations

import dataclasses

import pytest

from targets.cost.estimator import estimate_latency, fits
from targets.tflm.analysis import analyze_model
from targets.cost.registry import load_targets
from tests_host import tiny_models

# Reference lesson: the gesture CNN measured on an ESP32 @240 MHz.
ESP32_MEASURED_US = {"float32": 3000.0, "int8": 800.0}


@pytest.fixture(scope="module")
def targets():
    return load_targets()


@pytest.fixture(scope="module")
def analyses():
    return {kind: analyze_model(tiny_models.gesture_cnn(kind), name=f"gesture-{kind}") for kind in ("float32", "int8")}


@pytest.mark.parametrize("kind", ["float32", "int8"])
def test_esp32_estimate_reproduces_the_reference_lesson(kind, analyses, targets):
    estimate = estimate_latency(analyses[kind], targets["esp32"])
    measured = ESP32_MEASURED_US[kind]
    assert abs(estimate.total_us - measured) / measured < 0.25, f"{kind}: estimate {estimate.total_us:.0f} us vs measured {measured:.0f} us"
    assert estimate.label == "estimate" and estimate.calibrated is False and estimate.target == "esp32"


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
           if info.macs else info.elements * coefficients[("int8", "per_element")].value)
        for info in analysis.op_infos
    )
    assert estimate_latency(analysis, esp32).total_us == pytest.approx(cycles / 240)
    doubled = dataclasses.replace(esp32, clock_mhz=480)
    assert estimate_latency(analysis, doubled).total_us == pytest.approx(cycles / 480)


def test_target_ordering_follows_the_hardware(analyses, targets):
    us = {name: {kind: estimate_latency(analyses[kind], t).total_us for kind in analyses} for name, t in targets.items()}
    assert us["esp32s3"]["int8"] < us["esp32"]["int8"]  # PIE SIMD in esp-nn
    assert us["esp32c3"]["float32"] > 5 * us["esp32"]["float32"]  # soft-float on RISC-V without FPU
    for name in targets:
        assert us[name]["int8"] < us[name]["float32"]


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
