"""A repository's own target registry, layered over the packaged one (issue 21, item 3):
add a target, override a clock or a coefficient; errors name the user's file and field;
calibrate writes there and never into the packaged registry."""
from __future__ import annotations

import io
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from targets.cost.overlay import write_overlay_coefficients
from targets.cost.registry import DEFAULT_TARGETS_FILE, Coefficient, TargetRegistryError, load_targets
from tests_host.test_calibrate import TRUTH, bench_results
from tinyml_harness.calibrate import calibrate

ROOT = Path(__file__).resolve().parent.parent
NEW_TARGET = """
[mychip]
idf_target = false
clock_mhz = 100
sram_bytes = 262144
flash_bytes = 1048576
fw_ram_overhead_bytes = 30000
fw_flash_overhead_bytes = 300000
[mychip.cost]
per_op_overhead_cycles = { value = 900, source = "estimate: our lab's guess" }
[mychip.cost.int8]
conv = { value = 3, source = "estimate" }
depthwise_conv = { value = 3, source = "estimate" }
fully_connected = { value = 3, source = "estimate" }
per_element = { value = 5, source = "estimate" }
[mychip.cost.float32]
conv = { value = 30, source = "estimate" }
depthwise_conv = { value = 30, source = "estimate" }
fully_connected = { value = 30, source = "estimate" }
per_element = { value = 50, source = "estimate" }
"""
OVERRIDES = """
[esp32s3]
clock_mhz = 160
[esp32s3.cost.int8]
conv = { value = 1.25, source = "bench run 2026-12-01, board 7", calibrated = true }
"""


def test_a_user_file_adds_a_target_and_overrides_a_clock_and_a_coefficient(tmp_path):
    user = tmp_path / "targets.toml"
    user.write_text(OVERRIDES + NEW_TARGET)
    packaged = load_targets()
    layered = load_targets(overlay=user)
    assert list(layered) == [*packaged, "mychip"]
    assert layered["mychip"].clock_mhz == 100 and layered["mychip"].cost.coefficient("int8", "conv").value == 3
    s3 = layered["esp32s3"]
    assert s3.clock_mhz == 160 and s3.sram_bytes == packaged["esp32s3"].sram_bytes
    assert s3.cost.coefficient("int8", "conv") == Coefficient(1.25, "bench run 2026-12-01, board 7", True)
    assert s3.cost.coefficient("int8", "fully_connected") == packaged["esp32s3"].cost.coefficient(
        "int8", "fully_connected")  # only what the file sets changes
    assert layered["esp32"] == packaged["esp32"]


@pytest.mark.parametrize("text, message", [
    ("[esp32s3]\nclok_mhz = 160\n", "[esp32s3] has unknown key(s) ['clok_mhz']"),
    ("[esp32s3.cost.int8]\nconvv = { value = 1, source = \"x\" }\n",
     "[esp32s3.cost.int8] has unknown key(s) ['convv']"),
    ("[esp32s3.cost.int8]\nconv = { value = 1.5 }\n", "esp32s3.cost.int8.conv is missing 'source'"),
    ("[esp32s3]\nclock_mhz = \"fast\"\n", "esp32s3.clock_mhz has the wrong type"),
    ("[mychip]\nclock_mhz = 100\n", "[mychip] is missing 'idf_target'"),
    ("clock_mhz = 100\n", "clock_mhz must be a table"),
])
def test_a_mistake_in_the_user_file_names_that_file_and_the_field(tmp_path, text, message):
    user = tmp_path / "targets.toml"
    user.write_text(text)
    with pytest.raises(TargetRegistryError) as error:
        load_targets(overlay=user)
    assert str(error.value).startswith(f"{user}: ") and message in str(error.value)


def test_the_plugin_reads_the_rootdir_targets_file_or_targets_file(inprocess_pytest, tmp_path):
    """A user's repository: its pytest.ini, the host gate imported, its targets.toml.
    (Collections: no TensorFlow, so the nested runs are in this process.)"""
    def collect(cwd: Path, *args: str) -> subprocess.CompletedProcess:
        return inprocess_pytest(cwd, "--collect-only", "-q", "--variants", "ptq_int8", *args)

    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_tinyml.py").write_text(
        "from tinyml_harness.host_gate import test_variant, test_variant_on_target  # noqa: F401\n")
    (tmp_path / "targets.toml").write_text(NEW_TARGET)
    done = collect(tmp_path, "--target", "mychip")  # the rootdir's targets.toml, found by default
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "test_variant_on_target[ptq_int8-mychip]" in done.stdout
    (tmp_path / "elsewhere.toml").write_text("[esp32s3]\nclok_mhz = 1\n")
    done = collect(tmp_path, "--targets-file", "elsewhere.toml")
    assert done.returncode == 4
    assert f"target registry: {tmp_path / 'elsewhere.toml'}: [esp32s3] has unknown key(s) ['clok_mhz']" in done.stderr
    done = collect(tmp_path, "--targets-file", "missing.toml")
    assert done.returncode == 4 and f"--targets-file: {tmp_path / 'missing.toml'} does not exist" in done.stderr


def test_calibrate_writes_the_repository_file_and_never_the_packaged_one(tmp_path):
    packaged_before = DEFAULT_TARGETS_FILE.read_bytes()
    results = bench_results(tmp_path / "latest").jsonl_path
    done = subprocess.run([sys.executable, "-m", "tinyml_harness.calibrate", "--results", str(results)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert DEFAULT_TARGETS_FILE.read_bytes() == packaged_before
    user = tmp_path / "targets.toml"  # the default: ./targets.toml, created
    assert f"written to {Path('targets.toml')}" in done.stdout and user.is_file()
    s3 = load_targets(overlay=user)["esp32s3"]
    assert s3.cost.coefficient("int8", "conv").calibrated
    assert s3.cost.coefficient("int8", "conv").value == pytest.approx(TRUTH["int8.conv"], rel=0.05)
    assert not s3.cost.coefficient("float32", "conv").calibrated  # not measured: the packaged estimate
    assert "[esp32]" not in user.read_text()  # only what was fitted
    text = user.read_text()
    calibrate(results, user, out=io.StringIO())  # again: the same lines are replaced, not added
    assert user.read_text().count("conv = ") == text.count("conv = ")


def test_nothing_is_written_inside_an_installed_package(tmp_path):
    inside = Path(sysconfig.get_paths()["purelib"]) / "tinyml_harness_not_here" / "targets.toml"
    with pytest.raises(TargetRegistryError, match="inside an installed package"):
        write_overlay_coefficients(inside, "esp32", {"int8.conv": Coefficient(1.0, "bench", True)})
    assert not inside.parent.exists()
