"""firmware/tools/embed_model.py: the generated C++ compiles, is 16-byte aligned and holds
exactly the model's bytes, length, CRC and normalization constants."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from targets.board.fw_host import FIRMWARE_DIR

TOOL = FIRMWARE_DIR / "tools" / "embed_model.py"

CHECK_MAIN = r"""
#include <cstdint>
#include <cstdio>
#include "embedded_model.h"
int main() {
  std::printf("%zu %08x %zu %d\n", g_embedded_model_len, g_embedded_model_crc32,
              g_embedded_norm_channels,
              static_cast<int>(reinterpret_cast<std::uintptr_t>(g_embedded_model) % 16));
  for (size_t c = 0; c < g_embedded_norm_channels; ++c)
    std::printf("%.9g %.9g\n", g_embedded_norm_min[c], g_embedded_norm_max[c]);
  std::fwrite(g_embedded_model, 1, g_embedded_model_len, stderr);
  return 0;
}
"""


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True)


def compile_and_run(out_stem: Path) -> tuple[list[str], bytes]:
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    main = out_stem.parent / "check_main.cc"
    main.write_text(CHECK_MAIN)
    exe = out_stem.parent / "check"
    subprocess.run([cxx, "-std=c++17", "-Wall", "-Wextra", "-Werror", f"-I{out_stem.parent}",
                    str(main), str(out_stem.with_suffix(".cc")), "-o", str(exe)], check=True)
    proc = subprocess.run([str(exe)], capture_output=True, check=True)
    return proc.stdout.decode().splitlines(), proc.stderr


def test_generated_sources_hold_the_model_and_norm_exactly(tmp_path):
    model = bytes(range(256)) * 3 + b"\x07"  # not a multiple of 16: the last row is short
    (tmp_path / "m.tflite").write_bytes(model)
    (tmp_path / "norm.json").write_text(json.dumps({"min": [-19.6, -2, 0.125], "max": [19.6, 2, 1e3]}))
    out = tmp_path / "gen" / "embedded_model"
    r = run_tool(str(tmp_path / "m.tflite"), "--norm", str(tmp_path / "norm.json"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    lines, data = compile_and_run(out)
    assert lines[0].split() == [str(len(model)), f"{zlib.crc32(model):08x}", "3", "0"]
    # %.9g round-trips a float32: the C++ floats equal the JSON values rounded to float32.
    got = np.array([[float(v) for v in ln.split()] for ln in lines[1:]], dtype=np.float32)
    want = np.array([[-19.6, 19.6], [-2, 2], [0.125, 1e3]], dtype=np.float32)
    assert np.array_equal(got, want)
    assert data == model
    assert "alignas(16)" in out.with_suffix(".cc").read_text()


def test_without_norm_the_channel_count_is_zero(tmp_path):
    (tmp_path / "m.tflite").write_bytes(b"TFL3" * 5)
    out = tmp_path / "embedded_model"
    assert run_tool(str(tmp_path / "m.tflite"), "-o", str(out)).returncode == 0
    lines, data = compile_and_run(out)
    assert lines[0].split() == ["20", f"{zlib.crc32(b'TFL3' * 5):08x}", "0", "0"]
    assert data == b"TFL3" * 5


@pytest.mark.parametrize("norm,needle", [
    ({"min": [0, 0]}, "field 'max'"),
    ({"min": [0, 0], "max": [1]}, "'min' has 2 channels, 'max' has 1"),
    ({"min": [1], "max": [1]}, "channel 0: max 1.0 is not above min 1.0"),
    ({"min": ["a"], "max": [1]}, "min[0] = 'a'"),
])
def test_bad_norm_files_are_refused_naming_file_and_field(tmp_path, norm, needle):
    (tmp_path / "m.tflite").write_bytes(b"x")
    (tmp_path / "norm.json").write_text(json.dumps(norm))
    r = run_tool(str(tmp_path / "m.tflite"), "--norm", str(tmp_path / "norm.json"), "-o", str(tmp_path / "o"))
    assert r.returncode == 1 and "norm.json" in r.stderr and needle in r.stderr
