"""What ESP-IDF and idf-build-apps do with firmware/ before any compiler runs, reproduced
on the host so a configure-time failure shows up here rather than on a bench.

ESP-IDF first includes every component's CMakeLists.txt in CMake *script mode*
(tools/cmake/component.cmake runs tools/cmake/scripts/component_get_requirements.cmake with
`cmake -P`, ESP-IDF v5.1 to v6.0), with idf_component_register stubbed as a macro that
records the requirements and returns. Commands or keywords that script mode refuses
(file(GLOB ... CONFIGURE_DEPENDS), add_custom_command, set_property(DIRECTORY ...)) fail the
configure of every target. The driver below stubs what that script stubs.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from targets.board.fw_host import FIRMWARE_DIR

MAIN_COMPONENT = FIRMWARE_DIR / "main"

# The stubs of component_get_requirements.cmake: registration records and returns, so
# nothing after idf_component_register runs in this pass.
REQUIREMENTS_PASS = """
cmake_policy(SET CMP0057 NEW)
set(ESP_PLATFORM 1)
set(CMAKE_BUILD_EARLY_EXPANSION 1)
function(idf_build_get_property var property)
  set(${{var}} "" PARENT_SCOPE)
endfunction()
function(idf_component_get_property var component property)
  set(${{var}} "" PARENT_SCOPE)
endfunction()
macro(require_idf_targets)
endmacro()
macro(idf_component_register)
  set(options WHOLE_ARCHIVE)
  set(single_value KCONFIG KCONFIG_PROJBUILD)
  set(multi_value SRCS SRC_DIRS EXCLUDE_SRCS INCLUDE_DIRS PRIV_INCLUDE_DIRS LDFRAGMENTS
      REQUIRES PRIV_REQUIRES REQUIRED_IDF_TARGETS EMBED_FILES EMBED_TXTFILES)
  cmake_parse_arguments(_ "${{options}}" "${{single_value}}" "${{multi_value}}" "${{ARGN}}")
  set(__component_requires "${{__REQUIRES}}")
  set(__component_priv_requires "${{__PRIV_REQUIRES}}")
  set(__component_include_dirs "${{__INCLUDE_DIRS}}")
  set(__component_registered 1)
  return()
endmacro()
function(get_requirements)
  set(COMPONENT_NAME main)
  set(COMPONENT_DIR "{component}")
  set(COMPONENT_PATH "{component}")
  include("{component}/CMakeLists.txt" OPTIONAL)
  message(STATUS "registered=${{__component_registered}}")
  message(STATUS "include_dirs=${{__component_include_dirs}}")
endfunction()
get_requirements()
"""


def run_requirements_pass(tmp_path: Path, component: Path) -> subprocess.CompletedProcess:
    if shutil.which("cmake") is None:
        pytest.skip("cmake not installed: the script-mode check needs it")
    driver = tmp_path / "component_get_requirements.cmake"
    driver.write_text(REQUIREMENTS_PASS.format(component=component.as_posix()))
    # ESP-IDF runs it from the build directory; a scratch directory stands in for it.
    return subprocess.run(["cmake", "-P", str(driver)], cwd=tmp_path, capture_output=True, text=True)


def test_main_component_survives_the_script_mode_requirements_pass(tmp_path):
    proc = run_requirements_pass(tmp_path, MAIN_COMPONENT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "registered=1" in out, out  # it reached idf_component_register
    include_dirs = next(ln for ln in out.splitlines() if "include_dirs=" in ln).split("=", 1)[1]
    assert "../core" in include_dirs.split(";"), include_dirs
    # The requirements pass must not write into the build tree either.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["component_get_requirements.cmake"]


def test_the_driver_catches_what_script_mode_refuses(tmp_path):
    """The driver is a real script-mode run: a CONFIGURE_DEPENDS glob fails it."""
    bad = tmp_path / "bad_component"
    bad.mkdir()
    (bad / "CMakeLists.txt").write_text(
        'file(GLOB s CONFIGURE_DEPENDS "${CMAKE_CURRENT_LIST_DIR}/*.cc")\n'
        'idf_component_register(SRCS ${s} INCLUDE_DIRS ".")\n')
    proc = run_requirements_pass(tmp_path, bad)
    assert proc.returncode != 0
    assert "CONFIGURE_DEPENDS" in proc.stderr


def test_component_lists_every_core_source():
    """main/CMakeLists.txt lists the core's sources (no configure-time glob): none missing."""
    text = (MAIN_COMPONENT / "CMakeLists.txt").read_text()
    listed = set(re.findall(r"\.\./core/(\w+\.cc)", text))
    assert listed == {p.name for p in (FIRMWARE_DIR / "core").glob("*.cc")}



def test_kconfig_ops_file_is_ignored_by_the_requirements_pass(tmp_path):
    """Script mode never reads the ops file, even one that does not exist (sdkconfig is not
    final then; the real pass checks it)."""
    driver_text = REQUIREMENTS_PASS.replace(
        "set(CMAKE_BUILD_EARLY_EXPANSION 1)",
        'set(CMAKE_BUILD_EARLY_EXPANSION 1)\nset(CONFIG_TMH_OPS_FILE "no_such_ops.txt")')
    driver = tmp_path / "component_get_requirements.cmake"
    driver.write_text(driver_text.format(component=MAIN_COMPONENT.as_posix()))
    proc = subprocess.run(["cmake", "-P", str(driver)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0 and "registered=1" in proc.stdout + proc.stderr, proc.stderr


# The real (project-mode) pass of the main component, with idf_component_register stubbed
# as a plain static library: what CONFIG_TMH_OPS_FILE does to the generated resolver.
REAL_PASS = """
cmake_minimum_required(VERSION 3.16)
project(real_pass LANGUAGES CXX)
macro(idf_component_register)
  file(WRITE "${{CMAKE_BINARY_DIR}}/empty.cc" "")
  add_library(__idf_main STATIC "${{CMAKE_BINARY_DIR}}/empty.cc")
  set(COMPONENT_LIB __idf_main)
endmacro()
# The build's components and their directories: TEST_BUILD_COMPONENTS, TEST_DIR_<name>.
function(idf_build_get_property var property)
  set(${{var}} "${{TEST_BUILD_COMPONENTS}}" PARENT_SCOPE)
endfunction()
function(idf_component_get_property var component property)
  set(${{var}} "${{TEST_DIR_${{component}}}}" PARENT_SCOPE)
endfunction()
{config}
include("{component}/CMakeLists.txt")
get_target_property(defs __idf_main COMPILE_DEFINITIONS)
message(STATUS "compile_definitions=${{defs}}")
"""


def run_real_pass(tmp_path: Path, config: str) -> tuple[subprocess.CompletedProcess, Path]:
    if shutil.which("cmake") is None:
        pytest.skip("cmake not installed")
    src = tmp_path / "src"
    src.mkdir()
    (src / "CMakeLists.txt").write_text(REAL_PASS.format(config=config, component=MAIN_COMPONENT.as_posix()))
    build = tmp_path / "build"
    proc = subprocess.run(["cmake", "-S", str(src), "-B", str(build)], capture_output=True, text=True)
    return proc, build / "tmh_generated" / "registered_ops.h"


def test_default_build_registers_the_full_list(tmp_path):
    from targets.tflm.op_list import registered_ops

    proc, header = run_real_pass(tmp_path, 'set(CONFIG_TMH_OPS_FILE "registered_ops.txt")')
    assert proc.returncode == 0, proc.stderr
    assert f"#define TMH_REGISTERED_OP_COUNT {len(registered_ops())}" in header.read_text()


def test_kconfig_ops_file_selects_a_lean_list(tmp_path):
    lean = tmp_path / "lean.txt"
    lean.write_text("# lean\nFULLY_CONNECTED\nSOFTMAX\n")
    proc, header = run_real_pass(tmp_path, f'set(CONFIG_TMH_OPS_FILE "{lean.as_posix()}")')
    assert proc.returncode == 0, proc.stderr
    text = header.read_text()
    assert "#define TMH_REGISTERED_OP_COUNT 2" in text
    assert "X(FULLY_CONNECTED, AddFullyConnected)" in text and "AddConv2D" not in text


def test_the_banner_versions_come_from_the_managed_components_manifests(tmp_path):
    """main/CMakeLists.txt reads esp-tflite-micro's and esp-nn's idf_component.yml `version`
    (what the component manager downloaded) into TMH_TFLM_VERSION / TMH_ESP_NN_VERSION."""
    managed = tmp_path / "managed_components"
    config = ['set(CONFIG_TMH_OPS_FILE "registered_ops.txt")',
              'set(TEST_BUILD_COMPONENTS "main;espressif__esp-tflite-micro;espressif__esp-nn")']
    for name, version in (("espressif__esp-tflite-micro", "1.4.0"), ("espressif__esp-nn", "1.2.3")):
        (managed / name).mkdir(parents=True)
        (managed / name / "idf_component.yml").write_text(f'description: x\nversion: "{version}"\n')
        config.append(f'set(TEST_DIR_{name} "{(managed / name).as_posix()}")')
    proc, _ = run_real_pass(tmp_path, "\n".join(config))
    assert proc.returncode == 0, proc.stderr
    assert 'TMH_TFLM_VERSION="1.4.0";TMH_ESP_NN_VERSION="1.2.3"' in proc.stdout, proc.stdout
    # a build without them (or a manifest without a version) says "unknown", never a guess
    (tmp_path / "bare").mkdir()
    proc, _ = run_real_pass(tmp_path / "bare", 'set(CONFIG_TMH_OPS_FILE "registered_ops.txt")')
    assert 'TMH_TFLM_VERSION="unknown";TMH_ESP_NN_VERSION="unknown"' in proc.stdout, proc.stdout


def test_missing_ops_file_stops_the_build_with_the_command_that_writes_it(tmp_path):
    proc, _ = run_real_pass(tmp_path, 'set(CONFIG_TMH_OPS_FILE "registered_ops.lean.txt")')
    err = " ".join(proc.stderr.split())
    assert proc.returncode != 0
    assert "registered_ops.lean.txt, which does not exist" in err and "python -m targets.tflm.lean_ops" in err

# --------------------------------------------------------------------------- idf-build-apps
# A stand-in IDF_PATH for idf-build-apps' app finder: it reads only the target list
# (tools/idf_py_actions/constants.py) and the version (tools/cmake/version.cmake) from it.
IDF_STUB_CONSTANTS = ("SUPPORTED_TARGETS = ['esp32', 'esp32s2', 'esp32c3', 'esp32s3', 'esp32c2', "
                      "'esp32c6', 'esp32h2', 'esp32p4']\nPREVIEW_TARGETS = ['linux', 'esp32c5']\n")
IDF_STUB_VERSION = "set(IDF_VERSION_MAJOR 5)\nset(IDF_VERSION_MINOR 3)\nset(IDF_VERSION_PATCH 1)\n"

def apps_idf_build_apps_would_build(tmp_path: Path, env_extra: dict[str, str]) -> list[dict]:
    """`idf-build-apps find` run in firmware/ as a user runs `idf-build-apps build`: it
    reads .idf_build_apps.toml and the manifest itself."""
    pytest.importorskip("idf_build_apps", reason="idf-build-apps is not installed (pip install "
                                                 "idf-build-apps): the config list was not checked")
    idf = tmp_path / "idf"
    (idf / "tools" / "idf_py_actions").mkdir(parents=True)
    (idf / "tools" / "cmake").mkdir(parents=True)
    (idf / "tools" / "idf_py_actions" / "constants.py").write_text(IDF_STUB_CONSTANTS)
    (idf / "tools" / "cmake" / "version.cmake").write_text(IDF_STUB_VERSION)
    env = {k: v for k, v in os.environ.items() if k != "TMH_EMBEDDED_MODEL_READY"}
    env.update(IDF_PATH=str(idf), **env_extra)
    out = tmp_path / "apps.json"
    proc = subprocess.run([sys.executable, "-m", "idf_build_apps", "find", "--output", str(out),
                           "--output-format", "json"], cwd=FIRMWARE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return [{"target": a["target"], "config": a["config_name"]} for a in json.loads(out.read_text())]


def sdkconfig_values(target: str, config: str) -> dict[str, str]:
    """What idf.py would read for build_<target>_<config>: sdkconfig.defaults, then the
    config's file; each followed by its .<target> twin when present (later files win)."""
    values: dict[str, str] = {}
    for base in ("sdkconfig.defaults", f"sdkconfig.ci.{config}"):
        for path in (FIRMWARE_DIR / base, FIRMWARE_DIR / f"{base}.{target}"):
            if not path.exists():
                continue
            for line in path.read_text().splitlines():
                m = re.match(r"^(CONFIG_\w+)=(.*)$", line) or re.match(r"^# (CONFIG_\w+) is not set", line)
                if m:
                    values[m.group(1)] = m.group(2) if m.lastindex == 2 else "n"
    return values


def missing_for(target: str, config: str) -> list[str]:
    """What a build of target x config needs that is not there or does not agree."""
    v = sdkconfig_values(target, config)
    problems = []
    if v.get("CONFIG_TMH_EMBEDDED_MODEL") == "y" and not (MAIN_COMPONENT / "embedded_model.cc").exists():
        problems.append("main/embedded_model.cc (CONFIG_TMH_EMBEDDED_MODEL=y)")
    esp_nn = v.get("CONFIG_TMH_ESP_NN", "y") == "y"  # Kconfig default y
    ansi_c = v.get("CONFIG_NN_ANSI_C") == "y"
    if esp_nn == ansi_c:
        problems.append(f"CONFIG_TMH_ESP_NN={'y' if esp_nn else 'n'} with CONFIG_NN_ANSI_C="
                        f"{'y' if ansi_c else 'n'} (main/CMakeLists.txt stops the build)")
    return problems


def test_every_config_idf_build_apps_builds_by_default_has_what_it_needs(tmp_path):
    apps = apps_idf_build_apps_would_build(tmp_path, {})
    pairs = {(a["target"], a["config"]) for a in apps}
    targets = {"esp32", "esp32s3", "esp32c3", "esp32c6", "esp32p4"}
    assert {t for t, _ in pairs} == targets
    assert {c for _, c in pairs} >= {"default", "esp_nn_off"}
    problems = {f"build_{t}_{c}": missing_for(t, c) for t, c in sorted(pairs)}
    assert not {k: v for k, v in problems.items() if v}, problems


def test_embedded_config_builds_once_its_model_is_declared_ready(tmp_path):
    apps = apps_idf_build_apps_would_build(tmp_path, {"TMH_EMBEDDED_MODEL_READY": "yes"})
    assert {a["target"] for a in apps if a["config"] == "embedded"} == {
        "esp32", "esp32s3", "esp32c3", "esp32c6", "esp32p4"}


def test_the_config_check_notices_a_missing_embedded_model():
    if (MAIN_COMPONENT / "embedded_model.cc").exists():
        pytest.skip("firmware/main/embedded_model.cc exists in this checkout")
    assert missing_for("esp32s3", "embedded") == ["main/embedded_model.cc (CONFIG_TMH_EMBEDDED_MODEL=y)"]
