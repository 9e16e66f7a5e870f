"""The op-resolver generator (firmware/cmake/registered_ops.cmake) that both the ESP-IDF
build and the host build run on firmware/main/registered_ops.txt."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from targets.board.fw_host import FIRMWARE_DIR
from targets.tflm.op_list import registered_ops

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


# --- against the resolver header (tests_host/data/tflm_resolver_methods.txt) ---

DATA = Path(__file__).resolve().parent / "data"
METHODS_FILE = DATA / "tflm_resolver_methods.txt"
sys.path.insert(0, str(FIRMWARE_DIR / "tools"))
import resolver_methods  # noqa: E402  (firmware/tools is scripts, not a package)


def generated_pairs(out: Path) -> list[tuple[str, str]]:
    pairs = []
    for line in out.read_text().splitlines():
        line = line.strip().rstrip("\\").strip()
        if line.startswith("X(") and line.endswith(")"):
            op, method = line[2:-1].split(",")
            pairs.append((op.strip(), method.strip()))
    return pairs


def test_every_generated_add_call_is_a_method_the_header_has(tmp_path):
    methods = resolver_methods.read_methods_file(METHODS_FILE)
    proc, out = generate(tmp_path, None)
    assert proc.returncode == 0, proc.stderr
    wrong = [(op, m, methods.get(op)) for op, m in generated_pairs(out) if methods.get(op) != m]
    assert wrong == [], "generated (op, call, header's method): " + repr(wrong)


def test_cmake_table_maps_every_header_builtin_exactly(tmp_path):
    # Generate for every op the header can add: the table must know each, with the header's name.
    methods = resolver_methods.read_methods_file(METHODS_FILE)
    proc, out = generate(tmp_path, "\n".join(methods) + "\n")
    assert proc.returncode == 0, proc.stderr
    assert dict(generated_pairs(out)) == methods


def test_default_list_registers_every_builtin_the_resolver_can_add():
    methods = resolver_methods.read_methods_file(METHODS_FILE)
    names = registered_ops()
    assert sorted(set(names) - set(methods)) == [], "listed but the header cannot add them"
    assert sorted(set(methods) - set(names)) == [], "the header can add them but the firmware does not"
    assert len(names) == len(methods) == 100
    # what a common anomaly-detection model needs (issue 13)
    assert {"SHAPE", "STRIDED_SLICE", "PACK"} <= set(names)


def test_resolver_size_follows_the_list():
    # The resolver's capacity is the generated count, never a hand-written number.
    engine_h = (FIRMWARE_DIR / "main" / "tflm_engine.h").read_text()
    assert "tflite::MicroMutableOpResolver<TMH_REGISTERED_OP_COUNT> resolver_;" in engine_h
    assert not re.search(r"MicroMutableOpResolver<\s*\d", engine_h)


def test_an_op_tflm_has_no_add_method_for_stops_the_build(tmp_path):
    # GELU is a TFLite builtin that MicroMutableOpResolver cannot add.
    assert "GELU" not in resolver_methods.read_methods_file(METHODS_FILE)
    proc, _ = generate(tmp_path, "CONV_2D\nGELU\n")
    assert proc.returncode != 0 and "op GELU has no MicroMutableOpResolver method" in " ".join(proc.stderr.split())


SNIPPET = """
  TfLiteStatus AddCustom(const char* name, const TFLMRegistration* registration) {
    return kTfLiteOk;
  }
  TfLiteStatus AddCircularBuffer() {
    return AddCustom("CIRCULAR_BUFFER", tflite::Register_CIRCULAR_BUFFER());
  }
  TfLiteStatus AddConv2D(
      const TFLMRegistration& registration = Register_CONV_2D()) {
    return AddBuiltin(BuiltinOperator_CONV_2D, registration, ParseConv2D);
  }
  TfLiteStatus AddPadV2(const TFLMRegistration& registration = Register_PADV2()) {
    return AddBuiltin(BuiltinOperator_PADV2, registration, ParsePadV2);
  }
 private:
  TfLiteStatus AddBuiltin(tflite::BuiltinOperator op, const TFLMRegistration& registration,
                          TfLiteBridgeBuiltinParseFunction parser) {
    if (op == BuiltinOperator_CUSTOM) { return kTfLiteError; }
"""


def test_extractor_keeps_builtins_and_skips_custom_methods():
    assert resolver_methods.builtin_methods(SNIPPET) == {"CONV_2D": "AddConv2D", "PADV2": "AddPadV2"}


def test_extractor_refuses_a_builtin_added_by_two_methods():
    twice = SNIPPET + SNIPPET.replace("AddConv2D(", "AddConv2DAgain(")
    with pytest.raises(ValueError, match="CONV_2D is added by both AddConv2D and AddConv2DAgain"):
        resolver_methods.builtin_methods(twice)


def test_committed_methods_match_the_header_when_sources_are_given():
    """Re-extract from TFLM_SOURCE_DIR (an esp-tflite-micro or tflite-micro checkout)."""
    source = os.environ.get("TFLM_SOURCE_DIR")
    if not source:
        pytest.skip("TFLM_SOURCE_DIR not set: the committed list was not re-extracted from a header")
    header = Path(source) / "tensorflow" / "lite" / "micro" / "micro_mutable_op_resolver.h"
    extracted = resolver_methods.builtin_methods(header.read_text())
    committed = resolver_methods.read_methods_file(METHODS_FILE)
    assert extracted == committed, (
        f"{header} differs: only in header {sorted(set(extracted.items()) - set(committed.items()))}, "
        f"only committed {sorted(set(committed.items()) - set(extracted.items()))}")
