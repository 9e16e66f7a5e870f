"""Target registry: the shipped file, selection rules, clear errors, coefficient writes."""
from __future__ import annotations

import math
import shutil

import pytest

from targets.cost.registry import (
    DEFAULT_TARGETS_FILE,
    DTYPES,
    ESTIMATE_SOURCES,
    KINDS,
    Coefficient,
    TargetRegistryError,
    UnknownTargetError,
    load_targets,
    select_targets,
    write_coefficients,
)

IDF_TARGETS = ["esp32", "esp32s3", "esp32c3", "esp32c6", "esp32p4"]


def test_shipped_registry_has_the_idf_targets_and_an_estimate_only_one():
    targets = load_targets()
    assert list(targets) == [*IDF_TARGETS, "stm32f4"]
    assert [t for t in targets.values() if t.idf_target] == [targets[name] for name in IDF_TARGETS]
    assert targets["stm32f4"].idf_target is False
    for target in targets.values():
        assert target.clock_mhz > 0 and target.sram_bytes > target.fw_ram_overhead_bytes > 0
        assert target.flash_bytes > target.fw_flash_overhead_bytes > 0
        assert "approximation" in target.memory_source


def all_coefficients(target):
    return [("per_op_overhead_cycles", target.cost.per_op_overhead_cycles)] + [
        (f"{d}.{k}", target.cost.coefficient(d, k)) for d in DTYPES for k in KINDS]


def assert_provenance(targets):
    """What any loadable registry holds: every coefficient a finite non-negative value and a
    source; a calibrated one's source names a bench run, never an estimate."""
    for target in targets.values():
        for key, coefficient in all_coefficients(target):
            assert coefficient.source.strip() and math.isfinite(coefficient.value) and coefficient.value >= 0, key
            if coefficient.calibrated:
                assert not coefficient.source.lower().startswith(ESTIMATE_SOURCES), (target.name, key)


def test_every_coefficient_carries_its_provenance_before_and_after_a_calibration(tmp_path):
    assert_provenance(load_targets())
    path = _copy_registry(tmp_path)
    write_coefficients(path, "esp32s3", {"int8.conv": 0.7, "per_op_overhead_cycles": 1650},
                       source="bench calibration: NNLS over 40 measured ops from results.jsonl")
    targets = load_targets(path)
    assert_provenance(targets)
    calibrated = {(t.name, key) for t in targets.values() for key, c in all_coefficients(t) if c.calibrated}
    assert calibrated == {("esp32s3", "int8.conv"), ("esp32s3", "per_op_overhead_cycles")}


def _with_esp32_int8_conv(tmp_path, inline: str):
    """A copy of the shipped registry whose esp32 int8 conv line is `conv = <inline>`."""
    text = DEFAULT_TARGETS_FILE.read_text()
    start = text.index("conv = ", text.index("[esp32.cost.int8]"))
    path = tmp_path / "edited.toml"
    path.write_text(text[:start] + f"conv = {inline}" + text[text.index("\n", start):])
    return path


@pytest.mark.parametrize("source", ["estimate: a guess", "Estimate from the datasheet", "fitted to the lesson"])
def test_a_calibrated_coefficient_whose_source_reads_as_an_estimate_is_refused(tmp_path, source):
    bad = _with_esp32_int8_conv(tmp_path, f'{{ value = 2.6, source = "{source}", calibrated = true }}')
    with pytest.raises(TargetRegistryError,
                       match=r"esp32.cost.int8.conv is marked calibrated but its source reads as an estimate"):
        load_targets(bad)
    path = _copy_registry(tmp_path)
    with pytest.raises(TargetRegistryError, match="marked calibrated"):
        write_coefficients(path, "esp32", {"int8.conv": Coefficient(2.0, source, True)})
    assert path.read_text() == DEFAULT_TARGETS_FILE.read_text()  # refused before the file was replaced
    write_coefficients(path, "esp32", {"int8.conv": Coefficient(2.0, source, False)})  # an estimate may say so
    assert load_targets(path)["esp32"].cost.coefficient("int8", "conv") == Coefficient(2.0, source, False)


@pytest.mark.parametrize("source", ['""', '"   "', "3"])
def test_a_coefficient_with_an_empty_source_is_refused(tmp_path, source):
    path = _with_esp32_int8_conv(tmp_path, f"{{ value = 2.6, source = {source} }}")
    with pytest.raises(TargetRegistryError, match=r"esp32.cost.int8.conv.source must say where the figure comes from"):
        load_targets(path)


def test_riscv_targets_without_fpu_charge_float_above_the_reference_int8_loops():
    targets = load_targets()
    for name in ("esp32c3", "esp32c6"):
        for kind in ("conv", "conv_1x1", "depthwise_conv", "fully_connected", "per_element"):
            reference = targets[name].cost_for("esp_nn_off").coefficient("int8", kind)
            float32 = targets[name].cost.coefficient("float32", kind)
            assert float32.value > reference.value > targets[name].cost.coefficient("int8", kind).value
            assert "soft-float" in float32.source


@pytest.mark.parametrize("option", [None, "auto", "all", " all "])
def test_auto_and_all_select_every_target(option):
    assert select_targets(option, IDF_TARGETS) == IDF_TARGETS


def test_one_name_or_a_comma_list_selects_those_in_given_order():
    assert select_targets("esp32s3", IDF_TARGETS) == ["esp32s3"]
    assert select_targets("esp32c3, esp32", IDF_TARGETS) == ["esp32c3", "esp32"]
    assert select_targets("esp32,esp32", IDF_TARGETS) == ["esp32"]


@pytest.mark.parametrize("option", ["esp8266", "esp32,esp32h2", "esp32,,esp32s3"])
def test_unknown_target_lists_known_ones(option):
    with pytest.raises(UnknownTargetError, match="known targets: esp32, esp32s3, esp32c3, esp32c6, esp32p4") as info:
        select_targets(option, IDF_TARGETS)
    assert option.split(",")[-1] in str(info.value) or ",," in option


def _copy_registry(tmp_path):
    path = tmp_path / "targets.toml"
    shutil.copy(DEFAULT_TARGETS_FILE, path)
    return path


def test_missing_key_is_named_with_the_file(tmp_path):
    path = _copy_registry(tmp_path)
    path.write_text(path.read_text().replace("clock_mhz = 160\n", "", 1))
    with pytest.raises(TargetRegistryError, match=rf"{path}: \[esp32c3\] is missing 'clock_mhz'"):
        load_targets(path)


def test_unknown_key_is_named_with_the_file(tmp_path):
    path = _copy_registry(tmp_path)
    path.write_text(path.read_text().replace(
        "[esp32s3.cost.int8]\n", "[esp32s3.cost.int8]\nsoftmax = { value = 1, source = \"x\" }\n"))
    with pytest.raises(TargetRegistryError, match=rf"{path}: \[esp32s3.cost.int8\] has unknown key\(s\) \['softmax'\]"):
        load_targets(path)


def test_coefficient_without_source_is_refused(tmp_path):
    path = tmp_path / "t.toml"
    text = DEFAULT_TARGETS_FILE.read_text()
    start = text.index("[esp32.cost.int8]")
    line_end = text.index("\n", text.index("conv = ", start))
    path.write_text(text[:start] + "[esp32.cost.int8]\nconv = { value = 2.6 }" + text[line_end:])
    with pytest.raises(TargetRegistryError, match=r"esp32.cost.int8.conv is missing 'source'"):
        load_targets(path)


def test_missing_file_and_bad_toml_name_the_file(tmp_path):
    with pytest.raises(TargetRegistryError, match="nope.toml: target registry not found"):
        load_targets(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[esp32\n")
    with pytest.raises(TargetRegistryError, match="bad.toml: not valid TOML"):
        load_targets(bad)


def test_write_coefficients_updates_values_and_keeps_comments(tmp_path):
    path = _copy_registry(tmp_path)
    before = path.read_text()
    write_coefficients(path, "esp32", {"int8.conv": 2.25, "per_op_overhead_cycles": 1800},
                       source="bench 2026-01 esp32 devkit")
    write_coefficients(path, "esp32s3", {"float32.per_element": Coefficient(7.5, "hand-set", False)})
    targets = load_targets(path)
    assert targets["esp32"].cost.coefficient("int8", "conv") == Coefficient(2.25, "bench 2026-01 esp32 devkit", True)
    assert targets["esp32"].cost.per_op_overhead_cycles == Coefficient(1800.0, "bench 2026-01 esp32 devkit", True)
    assert targets["esp32s3"].cost.coefficient("float32", "per_element") == Coefficient(7.5, "hand-set", False)
    assert targets["esp32c3"] == load_targets()["esp32c3"]
    after = path.read_text()
    comments = [line for line in before.splitlines() if line.startswith("#")]
    assert comments and comments == [line for line in after.splitlines() if line.startswith("#")]
    assert len(after.splitlines()) == len(before.splitlines())


def test_write_coefficients_refuses_unknown_keys(tmp_path):
    path = _copy_registry(tmp_path)
    with pytest.raises(TargetRegistryError, match="int8.softmax"):
        write_coefficients(path, "esp32", {"int8.softmax": 1.0})
    with pytest.raises(TargetRegistryError, match=r"no line 'conv = \.\.\.' in section \[esp8266.cost.int8\]"):
        write_coefficients(path, "esp8266", {"int8.conv": 1.0})
    assert path.read_text() == DEFAULT_TARGETS_FILE.read_text()


def test_a_firmware_config_has_its_own_int8_rates_and_inherits_the_rest(tmp_path):
    """[<target>.config_cost.<config>]: what it sets replaces default's, what it leaves out is default's."""
    targets = load_targets()
    esp32 = targets["esp32"]
    off = esp32.cost_for("esp_nn_off")
    assert esp32.configs == ("default", "esp_nn_off") and esp32.cost_for() is esp32.cost
    assert off.coefficient("int8", "conv").value > esp32.cost.coefficient("int8", "conv").value
    assert off.coefficient("float32", "conv") == esp32.cost.coefficient("float32", "conv")
    assert off.per_op_overhead_cycles == esp32.cost.per_op_overhead_cycles
    with pytest.raises(KeyError, match="esp32 has no cost model for firmware config 'embedded'"):
        esp32.cost_for("embedded")
    path = tmp_path / "targets.toml"
    text = DEFAULT_TARGETS_FILE.read_text()
    path.write_text(text.replace("[esp32.config_cost.esp_nn_off.int8]\n",
                                 "[esp32.config_cost.esp_nn_off.int8]\nsoftmax = { value = 1, source = \"x\" }\n"))
    with pytest.raises(TargetRegistryError, match=r"\[esp32.config_cost.esp_nn_off.int8\] has unknown key"):
        load_targets(path)
    path.write_text(text + '\n[esp32s3.config_cost.default]\nper_op_overhead_cycles = { value = 1, source = "x" }\n')
    with pytest.raises(TargetRegistryError, match=r"'default' is \[esp32s3.cost\] itself"):
        load_targets(path)


def test_write_coefficients_reaches_a_firmware_configs_table(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text(DEFAULT_TARGETS_FILE.read_text())
    write_coefficients(path, "esp32s3", {"int8.conv_1x1": 9.5}, config="esp_nn_off", source="bench run 7")
    targets = load_targets(path)
    assert targets["esp32s3"].cost_for("esp_nn_off").coefficient("int8", "conv_1x1") == \
        Coefficient(9.5, "bench run 7", True)
    assert targets["esp32s3"].cost == load_targets()["esp32s3"].cost  # default untouched
