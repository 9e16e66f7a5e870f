"""`python -m tinyml_harness.firmware`: the firmware tree copied out of the harness and built
with the idf.py command idf-build-apps would run, or one line saying what to install.

No ESP-IDF here: a fake idf.py on PATH records the arguments and the directory it was run
in, and leaves the flasher_args.json a real build leaves."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tinyml_harness.firmware import BUILD_LEFTOVERS, main
from vocabulary.locations import firmware_dir

FIRMWARE = firmware_dir()
EXPECTED_ARGS = ["-B", "build_esp32s3_default", "-D", "IDF_TARGET=esp32s3",
                 "-D", "SDKCONFIG=build_esp32s3_default/sdkconfig",
                 "-D", "SDKCONFIG_DEFAULTS=sdkconfig.defaults;sdkconfig.ci.default", "build"]

FAKE_IDF_PY = """#!{python}
import json, os, sys
from pathlib import Path
with open(os.environ["FAKE_IDF_RECORD"], "a") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd()}}) + "\\n")
build = Path(sys.argv[sys.argv.index("-B") + 1])
build.mkdir(parents=True, exist_ok=True)
(build / "flasher_args.json").write_text("{{}}")
"""


@pytest.fixture
def fake_idf(tmp_path, monkeypatch) -> Path:
    """A fake idf.py first on PATH; returns the file it records its calls in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "idf.py"
    script.write_text(FAKE_IDF_PY.format(python=sys.executable))
    script.chmod(0o755)
    record = tmp_path / "idf_calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_IDF_RECORD", str(record))
    monkeypatch.delenv("IDF_PATH", raising=False)
    monkeypatch.delenv("IDF_PYTHON_ENV_PATH", raising=False)
    return record


def _calls(record: Path) -> list[dict]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_the_build_directory_is_the_one_idf_build_apps_names():
    """firmware/.idf_build_apps.toml's build_dir pattern, for esp32s3 x default."""
    pattern = tomllib.loads((FIRMWARE / ".idf_build_apps.toml").read_text())["build_dir"]
    assert pattern.replace("@t", "esp32s3").replace("@w", "default") == EXPECTED_ARGS[1]


def test_copy_only_copies_the_tree_without_build_leftovers_and_prints_the_command(tmp_path, capsys):
    dest = tmp_path / "fw"
    assert main(["--target", "esp32s3", "--copy-only", str(dest)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"copied the harness's firmware tree {FIRMWARE} -> {dest}"
    assert out[1] == (f"(cd {dest} && idf.py -B build_esp32s3_default -D IDF_TARGET=esp32s3 -D "
                      "SDKCONFIG=build_esp32s3_default/sdkconfig -D "
                      "'SDKCONFIG_DEFAULTS=sdkconfig.defaults;sdkconfig.ci.default' build)")
    for name in ("CMakeLists.txt", "core/protocol_vocabulary.def", "main/registered_ops.txt",
                 "sdkconfig.defaults.esp32s3", "sdkconfig.ci.default", ".idf_build_apps.toml"):
        assert (dest / name).read_bytes() == (FIRMWARE / name).read_bytes(), name
    copied = {p.name for p in dest.rglob("*")}
    assert not [n for n in copied if n.startswith("build_") or n in ("sdkconfig", "managed_components")]
    assert set(BUILD_LEFTOVERS) >= {"build_*", "sdkconfig", "managed_components"}


def test_the_build_runs_idf_py_in_the_copy_with_its_own_sdkconfig_and_the_ci_defaults(tmp_path, fake_idf, capsys):
    dest = tmp_path / "fw"
    assert main(["--target", "esp32s3", str(dest)]) == 0
    (call,) = _calls(fake_idf)
    assert call["argv"] == EXPECTED_ARGS
    assert Path(call["cwd"]) == dest
    out = capsys.readouterr().out
    assert f"(cd {dest} && {shutil.which('idf.py')} -B build_esp32s3_default " in out
    assert (f"built {dest / 'build_esp32s3_default'}; flash and test it with: "
            f"pytest -m hil --target esp32s3 --firmware-dir {dest}") in out


def test_after_export_sh_idf_py_runs_on_esp_idfs_own_python(tmp_path, fake_idf, monkeypatch, capsys):
    """export.sh sets IDF_PATH and IDF_PYTHON_ENV_PATH: idf.py runs on that Python, not on
    the harness's (whose esptool 5 idf.py's dependency check refuses)."""
    idf, env = tmp_path / "esp-idf", tmp_path / "idf-python-env"
    (idf / "tools").mkdir(parents=True)
    (env / "bin").mkdir(parents=True)
    shutil.copy((tmp_path / "bin" / "idf.py"), idf / "tools" / "idf.py")
    (env / "bin" / "python").symlink_to(sys.executable)
    (tmp_path / "bin" / "idf.py").unlink()  # only ESP-IDF's copy
    monkeypatch.setenv("IDF_PATH", str(idf))
    monkeypatch.setenv("IDF_PYTHON_ENV_PATH", str(env))
    assert main(["--target", "esp32", str(tmp_path / "fw")]) == 0
    assert _calls(fake_idf)[0]["argv"][:2] == ["-B", "build_esp32_default"]
    assert f"&& {env / 'bin' / 'python'} {idf / 'tools' / 'idf.py'} -B build_esp32_default " in capsys.readouterr().out


def test_a_second_build_keeps_the_users_edits_and_says_so(tmp_path, fake_idf, capsys):
    dest = tmp_path / "fw"
    assert main(["--target", "esp32c3", "--config", "esp_nn_off", str(dest)]) == 0
    (dest / "sdkconfig.defaults").write_text((dest / "sdkconfig.defaults").read_text() + "CONFIG_TMH_ARENA_SIZE=8192\n")
    capsys.readouterr()
    assert main(["--target", "esp32c3", "--config", "esp_nn_off", str(dest)]) == 0
    out = capsys.readouterr().out
    assert f"using the firmware tree already in {dest}; 1 file(s) differ from the installed copy, kept: " \
           "sdkconfig.defaults" in out
    assert "CONFIG_TMH_ARENA_SIZE=8192" in (dest / "sdkconfig.defaults").read_text()
    assert [c["argv"][:2] for c in _calls(fake_idf)] == [["-B", "build_esp32c3_esp_nn_off"]] * 2
    assert "SDKCONFIG_DEFAULTS=sdkconfig.defaults;sdkconfig.ci.esp_nn_off" in _calls(fake_idf)[0]["argv"]


@pytest.mark.parametrize("args, message", [
    (["--target", "esp32h2"], "--target esp32h2: the firmware has no sdkconfig.defaults.esp32h2; known targets: "
                              "esp32, esp32c3, esp32c6, esp32p4, esp32s3"),
    (["--target", "esp32", "--config", "fast"], "--config fast: no sdkconfig.ci.fast in"),
    (["--target", "esp32", "--config", "embedded"], "--config embedded needs"),
])
def test_a_wrong_name_is_one_line_naming_it(tmp_path, fake_idf, capsys, args, message):
    assert main([*args, str(tmp_path / "fw")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "fw").exists() and not fake_idf.exists()


def test_a_directory_that_is_not_the_firmware_is_left_alone(tmp_path, fake_idf, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    assert main(["--target", "esp32", str(tmp_path / "mine")]) == 2
    assert "is not the harness's firmware tree" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_firmware_of_another_protocol_version_is_refused(tmp_path, fake_idf, capsys):
    dest = tmp_path / "fw"
    assert main(["--target", "esp32", "--copy-only", str(dest)]) == 0
    (dest / "core" / "protocol_vocabulary.def").write_text("// an older protocol\n")
    assert main(["--target", "esp32", str(dest)]) == 2
    assert "holds the firmware of another harness version" in capsys.readouterr().err
    assert not fake_idf.exists()


def _run_without_esp_idf(tmp_path: Path, **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("IDF_PATH", "IDF_PYTHON_ENV_PATH")}
    env.update(PATH=str(Path(sys.executable).parent), **extra_env)  # this Python, and no idf.py
    return subprocess.run([sys.executable, "-m", "tinyml_harness.firmware", "--target", "esp32s3",
                           str(tmp_path / "fw")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_without_esp_idf_it_stops_with_one_line_saying_what_to_install(tmp_path):
    done = _run_without_esp_idf(tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: ESP-IDF not found (no idf.py on PATH, IDF_PATH unset): install ESP-IDF "
                                  "v5.1 or later") and done.stderr.count("\n") == 1, done.stderr
    assert ". $IDF_PATH/export.sh" in done.stderr
    assert not (tmp_path / "fw").exists()  # nothing half done


def test_esp_idf_installed_but_not_exported_says_to_source_export_sh(tmp_path):
    idf = tmp_path / "esp-idf"
    (idf / "tools").mkdir(parents=True)
    (idf / "tools" / "idf.py").write_text("")
    done = _run_without_esp_idf(tmp_path, IDF_PATH=str(idf))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == (f"error: ESP-IDF at IDF_PATH={idf} is not set up in this shell (no idf.py on PATH): "
                           f"run `. {idf}/export.sh`, then this command again\n")
