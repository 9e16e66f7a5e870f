"""`idf-build-apps build` with check_warnings: a warning in a managed component (esp-tflite-micro,
esp-nn) must not mark the app FAILED; one in our own code or from kconfgen must.

idf-build-apps scans each build log line with App.is_error_or_warning (the regex
`(?:error|warning):`, then the ignore patterns from ignore_warning_strs/ignore_warning_files);
one line that matches and is not ignored makes the build "succeeded with warnings", FAILED
under check_warnings. The test loads firmware/.idf_build_apps.toml through idf-build-apps' own
settings class and asks its own matcher, in a subprocess (the patterns are class state).
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from targets.board.fw_host import FIRMWARE_DIR

# What GCC 12.2 (ESP-IDF v5.1/v5.2's compiler; Debian's g++ 12.2.0 prints the same) says
# about esp-tflite-micro 1.4.0's reference/sub.h, compiled with the component's -Wshadow
# -Wno-error=shadow; the managed component's path as a build in firmware/ prints it.
MANAGED = "/home/ci/proj/firmware/managed_components/"
SUB_H = MANAGED + "espressif__esp-tflite-micro/tensorflow/lite/kernels/internal/reference/sub.h"
THEIRS = [f"{SUB_H}:{line}:62: warning: declaration of \u2018const tflite::ArithmeticParams& "
          f"params\u2019 shadows a parameter [-Wshadow]" for line in (56, 100, 212)] + [
    f"{SUB_H}:76:34: warning: declaration of \u2018const tflite::ArithmeticParams& params\u2019 "
    f"shadows a parameter [-Wshadow]",
    MANAGED + "espressif__esp-nn/src/common/common_functions.h:30:5: warning: unused variable 'x' "
              "[-Wunused-variable]",
    "C:\\bench\\firmware\\managed_components\\espressif__esp-tflite-micro\\tensorflow\\lite\\"
    "kernels\\internal\\reference\\sub.h:56:62: warning: declaration of 'params' shadows a parameter",
]
OURS = [
    "/home/ci/proj/firmware/main/tflm_engine.cc:40:7: warning: unused variable 'n' [-Wunused-variable]",
    "/home/ci/proj/firmware/core/device.cc:12:3: warning: comparison of integer expressions "
    "[-Wsign-compare]",
    # kconfgen, for a symbol a target does not have (sdkconfig.defaults explains the CPU1 case)
    "warning: unknown kconfig symbol 'ESP_TASK_WDT_CHECK_IDLE_TASK_CPU1' assigned to 'n' in "
    "/home/ci/proj/firmware/sdkconfig.defaults",
    # a managed header's warning is ignored, but our file that includes it is still checked
    "/home/ci/proj/firmware/main/tflm_engine.cc:88:1: warning: no return statement [-Wreturn-type]",
]

MATCHER = """
import json, sys
from idf_build_apps.args import BuildArguments
from idf_build_apps.app import App
args = BuildArguments()  # reads .idf_build_apps.toml in the working directory
app = App.model_construct()
lines = json.loads(sys.stdin.read())
print(json.dumps({"check_warnings": args.check_warnings,
                  "verdicts": [list(app.is_error_or_warning(line)) for line in lines]}))
"""


def idf_build_apps_verdicts(lines: list[str]) -> tuple[bool, list[tuple[bool, bool]]]:
    """(check_warnings, [(is a warning or error, is ignored) per line]) as idf-build-apps
    decides them with firmware/.idf_build_apps.toml."""
    pytest.importorskip("idf_build_apps", reason="idf-build-apps is not installed (pip install "
                                                 "idf-build-apps): its warning matcher was not run")
    proc = subprocess.run([sys.executable, "-c", MATCHER], cwd=FIRMWARE_DIR, input=json.dumps(lines),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["check_warnings"], [tuple(v) for v in out["verdicts"]]


def test_managed_component_warnings_do_not_fail_the_build():
    check, verdicts = idf_build_apps_verdicts(THEIRS)
    assert check is True  # warnings stay on for everything else
    assert verdicts == [(True, True)] * len(THEIRS), list(zip(THEIRS, verdicts, strict=True))


def test_our_warnings_and_kconfgen_still_fail_the_build():
    _, verdicts = idf_build_apps_verdicts(OURS)
    assert verdicts == [(True, False)] * len(OURS), list(zip(OURS, verdicts, strict=True))


def test_notes_and_context_lines_are_not_warnings():
    lines = [f"{SUB_H}: In instantiation of \u2018void tflite::reference_ops::Sub(...)\u2019:",
             "-- Configuring done", "[512/1024] Building CXX object esp-idf/main/CMakeFiles/x.dir/y.cc.obj"]
    _, verdicts = idf_build_apps_verdicts(lines)
    assert verdicts == [(False, False)] * len(lines)
