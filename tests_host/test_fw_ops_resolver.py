"""The op-resolver generator (firmware/cmake/registered_ops.cmake) that both the ESP-IDF
build and the host build run on firmware/main/registered_ops.txt."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from targets.firmware_ops import registered_ops
from targets.fw_host import FIRMWARE_DIR

MODULE = FIRMWARE_DIR / "cmake" / "registered_ops.cmake"


def generate(tmp_path: Path, ops_text: str | None) -> tuple[subprocess.CompletedProcess, Path]:
    if shutil.which("cmake") is None:
        pytest.skip("cmake not installed")
    ops = FIRMWARE_DIR / "main" / "registered_ops.txt"
    if ops_text is not None:
        ops = tmp_path / "ops.txt"
        ops.write_text(ops_text)
    out = tmp_path / "registered_ops.h"
    script = tmp_path / "gen.cmake"
    script.write_text(f'include("{MODULE}")\ntmh_generate_registered_ops("{ops}" "{out}")\n')
    return subprocess.run(["cmake", "-P", str(script)], capture_output=True, text=True), out


def test_header_registers_every_listed_op_in_file_order(tmp_path):
    proc, out = generate(tmp_path, None)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    names = registered_ops()
    assert f"#define TMH_REGISTERED_OP_COUNT {len(names)}" in text
    pairs = [ln.strip().rstrip("\\").strip() for ln in text.splitlines() if ln.strip().startswith("X(")]
    assert [p[2:].split(",")[0] for p in pairs] == names
    assert "X(CONV_2D, AddConv2D)" in pairs and "X(DEPTHWISE_CONV_2D, AddDepthwiseConv2D)" in pairs


@pytest.mark.parametrize("ops_text,needle", [
    ("CONV_2D\nNOT_A_REAL_OP\n", "op NOT_A_REAL_OP has no MicroMutableOpResolver method"),
    ("CONV_2D\nCONV_2D\n", "op CONV_2D is listed twice"),
    ("# nothing\n", "no ops listed"),
    ("conv_2d\n", "'conv_2d' is not a BuiltinOperator name"),
])
def test_bad_ops_lists_stop_the_build_naming_the_op(tmp_path, ops_text, needle):
    proc, _ = generate(tmp_path, ops_text)
    assert proc.returncode != 0 and needle in " ".join(proc.stderr.split()), proc.stderr
