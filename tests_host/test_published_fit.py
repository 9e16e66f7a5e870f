"""The latency estimates against Espressif's published figures (docs/LATENCY.md).

Every published model-level figure must sit within 0.75x-1.33x of its estimate, and so must
each figure predicted by a fit that never saw it (leave-one-out): the second is what says the
estimator generalises. The committed op tables, coefficients and doc must be what the code
regenerates.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from targets.cost import espressif_figures as published
from targets.cost import latency_doc
from targets.cost.published_fit import (
    COPIED_FROM,
    FPU_TARGETS,
    RATE_TABLE,
    checks,
    coefficient_lines,
    expected_error,
    fit_all,
    float32_lines,
)
from targets.cost.published_models import load
from targets.cost.registry import load_targets

REPO = Path(__file__).resolve().parents[1]
WITHIN = (0.75, 1.33)


@pytest.fixture(scope="module")
def all_checks():
    return checks()


def test_every_published_model_figure_is_within_a_third_of_its_estimate(all_checks):
    assert len(all_checks) == len(published.MODEL_FIGURES) == 12
    for check in all_checks:
        assert WITHIN[0] <= check.ratio <= WITHIN[1], (check.figure.name, check.ratio)


def test_figures_held_out_of_the_fit_are_predicted_within_a_third(all_checks):
    held = [c for c in all_checks if c.held_out_ratio is not None]
    # ESP32-S3 and ESP32-P4 publish two models per config: each is predicted from the other
    assert sorted((c.figure.target, c.figure.config, c.figure.model) for c in held) == sorted(
        (f.target, f.config, f.model) for f in published.MODEL_FIGURES if f.target in ("esp32s3", "esp32p4"))
    for check in held:
        assert WITHIN[0] <= check.held_out_ratio <= WITHIN[1], (check.figure.name, check.held_out_ratio)
        assert check.held_out_ms != pytest.approx(check.figure.ms, rel=0.01)  # really not fitted to it


def test_expected_error_is_the_worst_held_out_figure_of_its_config(all_checks):
    for config in ("default", "esp_nn_off"):
        worst = max(abs(c.held_out_ratio - 1) for c in all_checks
                    if c.figure.config == config and c.held_out_ratio is not None)
        error = expected_error("esp32", config)
        assert error.held_out_pct == pytest.approx(100 * worst)
        assert f"within {100 * worst:.0f} %" in error.describe()
    assert expected_error("esp32c6").held_out_pct is None
    assert "not validated" in expected_error("stm32f4").describe()
    float_error = expected_error("esp32", dtypes=("float32", "int8"))  # no published float figure
    assert float_error.held_out_pct is None and "no float32 figure" in float_error.describe()


def test_registry_coefficients_are_the_fit_and_name_their_rows():
    """targets.toml's int8 and float32 lines are what `published_fit --write` writes now."""
    profiles = load_targets()
    fits = fit_all(profiles, load())
    assert set(fits) == {(t, c) for t in RATE_TABLE for c in ("default", "esp_nn_off")}
    for (target, config), fit in fits.items():
        lines = coefficient_lines(fit)
        for target_name in (target, *[t for t, lender in COPIED_FROM.items() if lender == target]):
            cost = profiles[target_name].cost_for(config)
            for key, expected in lines.items():
                kind = key.split(".")[1]
                assert cost.coefficient("int8", kind).value == pytest.approx(expected.value), (target_name, key)
        for row in published.KERNEL_ROWS:
            if any(row.quote() in c.source for c in lines.values()):
                assert row.chip in RATE_TABLE[target]
        assert all("python -m targets.cost.published_fit" in c.source for c in lines.values())
        if config == "esp_nn_off":
            for key, expected in float32_lines(fit, target in FPU_TARGETS).items():
                assert profiles[target].cost.coefficient("float32", key.split(".")[1]).value == \
                    pytest.approx(expected.value)


def test_each_figure_quotes_the_readme_row_it_came_from():
    readme_row = "| ESP32-P4  |   Person Detection      |     1395ms      |     73ms    |  360MHz   |"
    cells = " | ".join(cell.strip() for cell in readme_row.strip().strip("|").split("|"))
    figure = next(f for f in published.MODEL_FIGURES if f.target == "esp32p4" and f.model == "person_detection")
    assert f"'{cells}'" in figure.source
    for figure in published.MODEL_FIGURES:
        assert f"{figure.ms:g}ms" in figure.source and f"{figure.clock_mhz}MHz" in figure.source
        assert ("with ESP-NN" if figure.config == "default" else "without ESP-NN") in figure.source


def test_the_rebuilt_person_detection_model_has_the_published_layers():
    """MobileNet v1 alpha 0.25 on 96x96x1, counted by hand: the analysis of the op table agrees."""
    ops = load()["person_detection"].op_infos
    convs = [o for o in ops if o.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    side, channels, macs = 48, 8, 48 * 48 * 8 * 9  # first op: 3x3 stride 2, depth multiplier 8
    for filters, stride in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5,
                            (1024, 2), (1024, 1)]:
        side //= stride
        macs += side * side * channels * 9 + side * side * channels * (filters // 4)
        channels = filters // 4
    macs += 256 * 2  # the 1x1 classifier after the 3x3 average pool
    assert sum(o.macs for o in convs) == macs == 7_157_888
    assert [o.op for o in ops[-4:]] == ["AVERAGE_POOL_2D", "CONV_2D", "RESHAPE", "SOFTMAX"]
    assert len(ops) == 31


def test_latency_doc_is_what_the_code_renders():
    assert latency_doc.DOC_FILE.read_text() == latency_doc.render(), (
        "docs/LATENCY.md is stale: python -m targets.cost.published_fit --write")


def test_every_esp_target_has_an_estimate_per_firmware_config_with_or_without_esp_nn():
    firmware = REPO / "firmware"
    without = [p.name.split(".")[-1] for p in firmware.glob("sdkconfig.ci.*") if "CONFIG_TMH_ESP_NN=n" in p.read_text()]
    assert without == ["esp_nn_off"]
    for name, target in load_targets().items():
        if target.idf_target:
            assert set(target.configs) == {"default", *without}, name
            assert all((firmware / f"sdkconfig.ci.{c}").exists() for c in target.configs)


@pytest.mark.slow
def test_committed_op_tables_are_what_the_builders_make_now():
    """published_models.json is generated: rebuilding the Keras models (TensorFlow) must give it back."""
    proc = subprocess.run([sys.executable, "-m", "targets.cost.published_models", "--check"], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
