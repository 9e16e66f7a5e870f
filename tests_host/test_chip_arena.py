"""The chip's arena measured on the host (issue 20): which kernels each (target, config)
builds, the fallback and its label without sources, the per-target budget, and, with
TFLM_SOURCE_DIR + ESP_NN_SOURCE_DIR set, the figures themselves on published architectures
with every build's outputs compared byte for byte with the reference kernels.

Run the measured part with -s to see the table (docs/CHIP_ARENA.md quotes it).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from reports.budgets import check_budgets
from reports.summary import _chip_arena_lines
from targets.board import chip_arena
from targets.board.chip_arena import (
    HOW_TO,
    UNAVAILABLE_LABEL,
    ChipSources,
    chip_arenas,
    chip_sources,
    kernel_configs,
    kernels_for,
    table,
)
from targets.board.fw_host import HOST_SOURCE_DIR
from targets.cost.registry import load_targets
from targets.measure.chip import chip_arena_figure
from targets.tflm.runner import run_tflm
from tests_host import reference_models, tiny_models
from vocabulary.records import ResultRecord

needs_cmake = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")


# ------------------------------------------------------------------ which build (no sources needed)
def test_the_firmware_configs_that_choose_kernels():
    assert kernel_configs() == {"default": True, "esp_nn_off": False}


def test_kernels_follow_how_esp_idf_builds_esp_nn(tmp_path):
    (tmp_path / "src" / "convolution").mkdir(parents=True)
    (tmp_path / "src" / "convolution" / "esp_nn_conv_esp32s3.c").write_text("")
    assert kernels_for("esp32s3", True, tmp_path) == "esp_nn_scratch_esp32s3"
    assert kernels_for("esp32", True, tmp_path) == "esp_nn_generic"
    assert kernels_for("esp32c3", True, tmp_path) == "esp_nn_generic"
    assert kernels_for("esp32s3", False, tmp_path) == "esp_nn_ansi"


def test_sources_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TFLM_SOURCE_DIR", str(tmp_path / "missing"))
    assert chip_sources() == (None, "TFLM_SOURCE_DIR not set and no firmware/managed_components/"
                                    "espressif__esp-tflite-micro")
    (tmp_path / "tflm").mkdir()
    (tmp_path / "nn").mkdir()
    monkeypatch.setenv("TFLM_SOURCE_DIR", str(tmp_path / "tflm"))
    monkeypatch.setenv("ESP_NN_SOURCE_DIR", str(tmp_path / "nn"))
    assert chip_sources() == (ChipSources(tmp_path / "tflm", tmp_path / "nn"), "")


def test_without_sources_the_64_bit_figure_stays_labelled_and_the_summary_says_how(monkeypatch, tmp_path):
    monkeypatch.setenv("TFLM_SOURCE_DIR", str(tmp_path / "none"))
    esp32 = load_targets()["esp32"]
    figure = chip_arena_figure(b"model", "m", 9216, esp32)
    assert (figure.arena_bytes, figure.source) == (9216, UNAVAILABLE_LABEL)
    assert figure.extra["available"] is False and "TFLM_SOURCE_DIR" in figure.extra["reason"]
    record = ResultRecord("ptq_int8", "esp32", "host-tflm", arena_bytes=9216, chip_arena_bytes=figure.arena_bytes,
                          chip_arena_source=figure.source, extra={"chip_arena": figure.extra})
    stm32 = next(t for t in load_targets().values() if not t.idf_target)
    other = chip_arena_figure(b"model", "m", 9216, stm32)
    no_firmware = ResultRecord("ptq_int8", stm32.name, "host-tflm", arena_bytes=9216, chip_arena_bytes=9216,
                               chip_arena_source=other.source, extra={"chip_arena": other.extra})
    lines = _chip_arena_lines([record, no_firmware])
    assert len(lines) == 1 and HOW_TO in lines[0] and UNAVAILABLE_LABEL in lines[0]
    assert stm32.name not in lines[0]  # no sources would give it a chip figure


def test_a_target_without_esp_idf_firmware_keeps_the_host_figure():
    stm32 = next(t for t in load_targets().values() if not t.idf_target)
    figure = chip_arena_figure(b"model", "m", 9216, stm32)
    assert (figure.arena_bytes, figure.source) == (9216, UNAVAILABLE_LABEL)
    assert "no ESP-IDF firmware" in figure.extra["reason"]


def test_max_arena_bytes_judges_the_targets_chip_figure():
    host = ResultRecord("ptq_int8", "esp32s3", "host-tflm", arena_bytes=80_000, chip_arena_bytes=120_000,
                        chip_arena_source="chip figure (esp32s3 default config): ...")
    [violation] = check_budgets(host, {"max_arena_bytes": 100_000})
    assert violation.metric == "chip_arena_bytes" and violation.value == 120_000
    # a record without a chip figure (a board's own) is judged on arena_bytes, as before
    assert check_budgets(ResultRecord("ptq_int8", "esp32s3", "hil", arena_bytes=80_000),
                         {"max_arena_bytes": 100_000}) == []


@needs_cmake
@pytest.mark.parametrize(("args", "message"), [
    (["-DFW_ARCH=arm"], "FW_ARCH=arm: expected native or m32"),
    (["-DFW_KERNELS=esp_nn"], "FW_KERNELS=esp_nn: expected reference, esp_nn_ansi"),
    (["-DFW_KERNELS=esp_nn_generic"], "FW_KERNELS=esp_nn_generic needs -DESP_NN_SOURCE_DIR=DIR"),
])
def test_configure_refuses_unknown_arch_and_kernels_with_one_message(tmp_path, args, message):
    proc = subprocess.run(["cmake", "-S", str(HOST_SOURCE_DIR), "-B", str(tmp_path / "b"), *args],
                          capture_output=True, text=True)
    err = " ".join(proc.stderr.split())
    assert proc.returncode != 0 and message in err and err.count("CMake Error") == 1


# ------------------------------------------------------------------ measured (TFLM + esp-nn sources)
@pytest.fixture(scope="module")
def sources() -> ChipSources:
    found, why = chip_sources()
    if found is None:
        pytest.skip(f"{why}: the chip arena is not measured here")
    return found


IDF_TARGETS = [t.name for t in load_targets().values() if t.idf_target]
MODELS = {"gesture_cnn": lambda: tiny_models.gesture_cnn("int8"),
          "image_cnn_96x96x1": lambda: tiny_models.image_cnn((96, 96, 1)),
          **reference_models.MODELS}


@pytest.mark.parametrize("label", MODELS)
def test_chip_arena_per_target_and_config_with_outputs_equal_to_the_reference_kernels(sources, label,
                                                                                       record_property):
    model = MODELS[label]()
    host = run_tflm(model, _zeros(model), name=label).arena_bytes
    rows, unavailable = [], []
    for target in IDF_TARGETS:
        for config, chip in chip_arenas(model, label, target, sources).items():
            rows.append((label, host, chip))
            record_property(f"{target}_{config}_arena_bytes", chip.arena_bytes)
            if chip.arena_bytes is None:
                unavailable.append(chip)
                continue
            assert chip.outputs_identical, f"{target} {config} ({chip.kernels}): outputs differ from the reference"
            # 32-bit pointers and bookkeeping: the reference-kernel build is below the 64-bit wheel's figure
            assert chip.reference_arena_bytes is not None and chip.reference_arena_bytes < host
    print(f"\n{table(rows)}")
    # A target may be unavailable (its scratch-size sources hold its assembly), never silently.
    assert all(chip.error and "does not build on the host" in chip.error for chip in unavailable)
    assert len(unavailable) < len(rows)


def test_the_figure_does_not_depend_on_the_room_given(sources):
    model = tiny_models.gesture_cnn("int8")
    binary = chip_arena._build(sources, "esp_nn_generic")
    assert not isinstance(binary, str), binary
    small, large = (chip_arena._run(binary, model, "g", arena=size) for size in (64 << 10, 8 << 20))
    assert small.arena_bytes == large.arena_bytes and small.outputs == large.outputs


def _zeros(model: bytes):
    import numpy as np

    from targets.tflm.analysis import analyze_model

    spec = analyze_model(model, name="m").input
    return np.zeros((1, *spec.shape[1:]), dtype=spec.dtype)


def test_a_host_record_carries_the_targets_chip_arena_and_fits_uses_it(sources):
    import numpy as np

    from targets.measure.host import HostMeasurements

    model = tiny_models.gesture_cnn("int8")
    x = np.random.default_rng(0).random((8, *tiny_models.GESTURE_SHAPE), dtype=np.float32)
    measurements = HostMeasurements(x, np.arange(8) % 3, dataset_is_explicit=False)
    measured = measurements.measure(_Named("gesture_int8", model))
    targets = load_targets()
    for target in ("esp32", "esp32s3"):
        record = measurements.record(measured, None, targets[target])
        chip = chip_arenas(model, "gesture_int8", target, sources)
        assert record.chip_arena_bytes == chip["default"].arena_bytes
        assert record.chip_arena_source.startswith(f"chip figure ({target} default config): fw_host 32-bit")
        assert record.arena_bytes == measured.arena_bytes  # the 64-bit figure stays what it is
        configs = record.extra["chip_arena"]["configs"]
        assert configs["esp_nn_off"]["arena_bytes"] == chip["esp_nn_off"].arena_bytes
        profile = targets[target]
        assert record.extra["fits_detail"].startswith(
            f"RAM {profile.fw_ram_overhead_bytes + record.chip_arena_bytes} /")


class _Named:
    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.tflite_bytes = name, data


def test_a_host_record_with_a_chip_figure_is_judged_on_arena_per_target():
    from reports.budgets import Budgets, Rule, split_budget

    budgets = Budgets(Path("budgets.toml"), [Rule("defaults", "*", "*", {"max_arena_bytes": 100_000,
                                                                  "max_model_bytes": 50_000})])
    chip = ResultRecord("ptq_int8", "esp32s3", "host-tflm", arena_bytes=80_000, chip_arena_bytes=120_000)
    assert split_budget(budgets, chip, "target") == {"max_arena_bytes": 100_000}
    assert split_budget(budgets, chip, "variant", ["esp32s3"]) == {"max_model_bytes": 50_000}
    older = ResultRecord("ptq_int8", "esp32s3", "host-tflm", arena_bytes=80_000)  # no chip figure: once per variant
    assert split_budget(budgets, older, "variant", ["esp32s3"]) == {"max_arena_bytes": 100_000,
                                                                    "max_model_bytes": 50_000}
