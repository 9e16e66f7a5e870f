"""Build the harness's firmware for one target and config, from the installed package:

    python -m tinyml_harness.firmware --target esp32s3 [--config default] [DIR]

DIR (default ./firmware, where pytest's --firmware-dir looks by default) receives a copy of
the firmware tree the harness carries (firmware/ of a checkout, or the installed data
package `tinyml_firmware`), unless it already holds one, which is then used in place; then
ESP-IDF's idf.py builds DIR/build_<target>_<config>, the directory `pytest -m hil --target
<target>` flashes. The idf.py command is printed before it runs and is the one
idf-build-apps runs for firmware/.idf_build_apps.toml: its own sdkconfig inside the build
directory, and `sdkconfig.defaults;sdkconfig.ci.<config>` as defaults (ESP-IDF adds each
file's `.<target>` twin). `--copy-only` copies and prints the command without ESP-IDF.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from vocabulary.locations import firmware_dir

#: What a build leaves in an ESP-IDF project (firmware/.gitignore's list): never copied.
BUILD_LEFTOVERS = ("build_*", "build", "sdkconfig", "sdkconfig.old", "managed_components", "dependencies.lock",
                   "expanded_sdkconfig_files", "__pycache__", "*.pyc")
PROTOCOL_FILE = Path("core") / "protocol_vocabulary.def"
INSTALL_ESP_IDF = ("install ESP-IDF v5.1 or later (https://docs.espressif.com/projects/esp-idf/en/stable/"
                   "esp32/get-started/), run `. $IDF_PATH/export.sh` in this shell, then this command again")


class FirmwareError(Exception):
    """A problem the user fixes (a name, a directory, ESP-IDF): printed as one line."""


@dataclass(frozen=True)
class Build:
    tree: Path
    target: str
    config: str

    @property
    def build_dir(self) -> str:
        return f"build_{self.target}_{self.config}"

    def idf_args(self) -> list[str]:
        """idf.py's arguments, relative to the tree (the command runs there)."""
        return ["-B", self.build_dir, "-D", f"IDF_TARGET={self.target}",
                "-D", f"SDKCONFIG={self.build_dir}/sdkconfig",
                "-D", f"SDKCONFIG_DEFAULTS=sdkconfig.defaults;sdkconfig.ci.{self.config}", "build"]


def known_targets(tree: Path) -> list[str]:
    """The targets the firmware has defaults for (sdkconfig.defaults.<target>)."""
    return sorted(p.name.removeprefix("sdkconfig.defaults.") for p in tree.glob("sdkconfig.defaults.*"))


def known_configs(tree: Path) -> list[str]:
    """The configs, as idf-build-apps names them (sdkconfig.ci.<config>)."""
    return sorted(p.name.removeprefix("sdkconfig.ci.") for p in tree.glob("sdkconfig.ci.*"))


def check_build(build: Build) -> None:
    if build.target not in known_targets(build.tree):
        raise FirmwareError(f"--target {build.target}: the firmware has no sdkconfig.defaults.{build.target}; "
                            f"known targets: {', '.join(known_targets(build.tree))}")
    if build.config not in known_configs(build.tree):
        raise FirmwareError(f"--config {build.config}: no sdkconfig.ci.{build.config} in {build.tree}; "
                            f"known configs: {', '.join(known_configs(build.tree))}")
    if build.config == "embedded" and not (build.tree / "main" / "embedded_model.cc").is_file():
        raise FirmwareError(f"--config embedded needs {build.tree / 'main' / 'embedded_model.cc'}: write it first "
                            f"with python {build.tree / 'tools' / 'embed_model.py'} MODEL.tflite -o "
                            f"{build.tree / 'main' / 'embedded_model'}")


def prepare_tree(dest: Path, source: Path) -> str:
    """Copy the firmware tree into `dest`, or keep the one already there; says which."""
    if dest.resolve() == source.resolve():
        return f"using the harness's firmware tree in place: {dest}"
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        if not (dest / PROTOCOL_FILE).is_file() or not (dest / "CMakeLists.txt").is_file():
            raise FirmwareError(f"{dest} exists and is not the harness's firmware tree (no {PROTOCOL_FILE}): "
                                "give an empty or new directory")
        if not filecmp.cmp(dest / PROTOCOL_FILE, source / PROTOCOL_FILE, shallow=False):
            raise FirmwareError(f"{dest} holds the firmware of another harness version ({PROTOCOL_FILE} differs "
                                f"from {source / PROTOCOL_FILE}): the installed harness cannot talk to it; "
                                "remove it or give another directory")
        changed = _changed_files(dest, source)
        note = f"; {len(changed)} file(s) differ from the installed copy, kept: {', '.join(changed)}" if changed else ""
        return f"using the firmware tree already in {dest}{note}"
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(*BUILD_LEFTOVERS), dirs_exist_ok=True)
    return f"copied the harness's firmware tree {source} -> {dest}"


def _changed_files(dest: Path, source: Path) -> list[str]:
    ignore = shutil.ignore_patterns(*BUILD_LEFTOVERS)
    changed = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_dir() or any(ignore(str(path.parent), [part]) for part in relative.parts):
            continue
        mine = dest / relative
        if not mine.is_file() or not filecmp.cmp(mine, path, shallow=False):
            changed.append(str(relative))
    return changed


def find_idf_py() -> list[str]:
    """How to run idf.py: with ESP-IDF's own Python when export.sh has set it up (so that
    the harness's venv, active or not, never runs it), else idf.py on PATH; or one line
    saying what to do."""
    idf_path, idf_python_env = os.environ.get("IDF_PATH"), os.environ.get("IDF_PYTHON_ENV_PATH")
    script = Path(idf_path) / "tools" / "idf.py" if idf_path else None
    if script and script.is_file() and idf_python_env and (Path(idf_python_env) / "bin" / "python").is_file():
        return [str(Path(idf_python_env) / "bin" / "python"), str(script)]
    found = shutil.which("idf.py")
    if found:
        return [found]
    if script and script.is_file():
        raise FirmwareError(f"ESP-IDF at IDF_PATH={idf_path} is not set up in this shell (no idf.py on PATH): "
                            f"run `. {idf_path}/export.sh`, then this command again")
    raise FirmwareError(f"ESP-IDF not found (no idf.py on PATH, IDF_PATH unset): {INSTALL_ESP_IDF}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinyml_harness.firmware", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="ESP-IDF target (chip), e.g. esp32s3")
    parser.add_argument("--config", default="default", help="sdkconfig.ci.<config> to build (default: default)")
    parser.add_argument("--copy-only", action="store_true",
                        help="copy the firmware tree and print the idf.py command; no ESP-IDF needed")
    parser.add_argument("dir", nargs="?", default="firmware",
                        help="where the firmware tree goes (default: ./firmware, pytest's default --firmware-dir)")
    args = parser.parse_args(argv)
    dest = Path(args.dir).expanduser().resolve()
    try:
        source = firmware_dir()
        check_build(Build(source, args.target, args.config))
        idf_py = ["idf.py"] if args.copy_only else find_idf_py()  # before copying: nothing half done
        print(prepare_tree(dest, source))
        build = Build(dest, args.target, args.config)
        check_build(build)  # a kept tree may lack the config (e.g. embedded_model.cc)
    except (FirmwareError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = [*idf_py, *build.idf_args()]
    print(f"(cd {shlex.quote(str(dest))} && {shlex.join(command)})")
    if args.copy_only:
        return 0
    sys.stdout.flush()
    done = subprocess.run(command, cwd=dest)
    if done.returncode != 0:
        print(f"error: idf.py failed (exit {done.returncode}); its output is above", file=sys.stderr)
        return done.returncode
    if not (dest / build.build_dir / "flasher_args.json").is_file():
        print(f"error: idf.py succeeded but {dest / build.build_dir} has no flasher_args.json", file=sys.stderr)
        return 1
    pytest_args = f"pytest -m hil --target {args.target} --firmware-dir {shlex.quote(str(dest))}"
    if args.config != "default":  # pytest reads the config from idf-ci's --sdkconfig, when installed
        pytest_args += f" --sdkconfig {args.config}"
    print(f"built {dest / build.build_dir}; flash and test it with: {pytest_args}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
