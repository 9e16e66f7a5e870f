"""What the docs tell a person at a bench agrees with the firmware's files.

- the console (and so the USB port: /dev/ttyACM* for USB-Serial-JTAG, /dev/ttyUSB* for the
  UART bridge) of each target is what its sdkconfig.defaults.<target> sets: ESP-IDF's own
  default is UART0 on every chip (components/esp_system/Kconfig, v5.1-v5.5; esp_stdio/Kconfig
  in v6.0: `choice ESP_CONSOLE_UART`, default ESP_CONSOLE_UART_DEFAULT);
- every `python -m X` they name imports (and runs as a module);
- every `idf.py` command passes its build directory's own sdkconfig.
Data-driven: every sdkconfig.defaults.<target> file and every Markdown file in the checkout.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from targets.board.fw_host import FIRMWARE_DIR, REPO_ROOT

SKIP_DIRS = {".git", "build", ".cache", "node_modules", "managed_components", ".venv", "venv",
             ".mypy_cache", ".ruff_cache", "__pycache__"}
TARGETS = sorted(p.name.split(".")[-1] for p in FIRMWARE_DIR.glob("sdkconfig.defaults.*"))
USB_SERIAL_JTAG, UART0 = "USB-Serial-JTAG", "UART0"
DEVICE = {USB_SERIAL_JTAG: "/dev/ttyACM", UART0: "/dev/ttyUSB"}


def _walk(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(suffixes)
                  and not SKIP_DIRS.intersection(p.relative_to(REPO_ROOT).parts[:-1]))


def doc_files() -> list[Path]:
    """Every Markdown file, the firmware's sources and configs, and bench.toml."""
    firmware = _walk(FIRMWARE_DIR, (".md", ".txt", ".cmake", ".projbuild", ".yml", ".toml", ".cc",
                                    ".h", ".py")) + sorted(FIRMWARE_DIR.glob("sdkconfig*"))
    return sorted(set(_walk(REPO_ROOT, (".md",)) + firmware + [REPO_ROOT / "bench.toml"]))


def console_of(target: str) -> str:
    """The console sdkconfig.defaults (then .<target>, which wins) gives the target."""
    console = UART0
    for path in (FIRMWARE_DIR / "sdkconfig.defaults", FIRMWARE_DIR / f"sdkconfig.defaults.{target}"):
        for line in path.read_text().splitlines() if path.exists() else []:
            if re.fullmatch(r"CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG=y\s*", line):
                console = USB_SERIAL_JTAG
            elif re.fullmatch(r"CONFIG_ESP_CONSOLE_UART(_DEFAULT)?=y\s*", line):
                console = UART0
    return console


def _where(path: Path, number: int) -> str:
    return f"{path.relative_to(REPO_ROOT)}:{number}"


# ------------------------------------------------------------------ item: consoles and ports
def port_claims(path: Path, text: str) -> list[tuple[str, str, str]]:
    """(where, target, device prefix) for each port a file ties to a target: a command line
    with --target T and --port /dev/tty..., or a bench.toml table [T] with port = "/dev/tty..."."""
    claims, section = [], None
    for number, line in enumerate(text.splitlines(), 1):
        table = re.match(r"^#?\s*\[(\w+)\]\s*$", line)
        if table:
            section = table.group(1)
        target = re.search(r"--target[ =](\w+)", line)
        port = re.search(r"(/dev/tty(?:ACM|USB))\d", line)
        if port and target:
            claims.append((_where(path, number), target.group(1), port.group(1)))
        elif port and section and re.match(r"^#?\s*port\s*=", line):
            claims.append((_where(path, number), section, port.group(1)))
    return claims


def default_console_claims(path: Path, text: str) -> list[tuple[str, str]]:
    """(where, target) for each target a line says has a USB-Serial-JTAG console by default."""
    return [(_where(path, number), t) for number, line in enumerate(text.splitlines(), 1)
            if USB_SERIAL_JTAG in line and "default" in line
            for t in re.findall(r"\besp32\w*", line)]


def test_there_are_targets_to_check():
    assert {"esp32", "esp32s3"} <= set(TARGETS)


def test_the_console_table_matches_the_sdkconfig_files():
    rows = {m.group(1): (m.group(2).strip(), m.group(3))
            for m in re.finditer(r"^\| (esp32\w*) \| ([^|]+) \|[^|]*\| `(/dev/tty\w+)\*` \|$",
                                 (FIRMWARE_DIR / "README.md").read_text(), re.MULTILINE)}
    assert set(rows) == set(TARGETS), "firmware/README.md's console table lists every target"
    wrong = {t: rows[t] for t in TARGETS if rows[t] != (console_of(t), DEVICE[console_of(t)])}
    assert not wrong, wrong


def test_every_port_the_docs_give_a_target_is_its_consoles():
    wrong = [(where, t, dev) for path in doc_files() for where, t, dev in port_claims(path, path.read_text())
             if t in TARGETS and dev != DEVICE[console_of(t)]]
    assert not wrong, wrong
    claims = [c for path in doc_files() for c in default_console_claims(path, path.read_text())]
    assert not [(where, t) for where, t in claims if t in TARGETS and console_of(t) != USB_SERIAL_JTAG]


def test_the_port_checks_catch_what_issue_22_found():
    readme = Path("README.md")
    old = "cd .. && pytest -m hil --target esp32s3 --port /dev/ttyUSB0\n"
    assert port_claims(REPO_ROOT / readme, old) == [("README.md:1", "esp32s3", "/dev/ttyUSB")]
    bench = "# [esp32c6]\n# port = \"/dev/ttyACM1\"\n"
    assert port_claims(REPO_ROOT / "bench.toml", bench) == [("bench.toml:2", "esp32c6", "/dev/ttyACM")]
    row = "USB-Serial-JTAG consoles (esp32s3/c3/c6 default here) ignore it"
    assert default_console_claims(REPO_ROOT / readme, row) == [("README.md:1", "esp32s3")]
    row = "USB-Serial-JTAG consoles (esp32s3, esp32c3 by default) ignore it"
    assert [t for _, t in default_console_claims(REPO_ROOT / readme, row)] == ["esp32s3", "esp32c3"]


# ------------------------------------------------------------------ item: python -m
def python_m_modules() -> dict[str, str]:
    """module -> the first place a file names it after `python -m` / `python3 -m`."""
    found: dict[str, str] = {}
    for path in doc_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for module in re.findall(r"\bpython3? -m ([A-Za-z_][\w.]*\w)", line):
                found.setdefault(module, _where(path, number))
    return found


def runnable(module: str) -> bool:
    """`python -m module` would start: the module exists, or the package has a __main__."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    return not spec.submodule_search_locations or importlib.util.find_spec(module + ".__main__") is not None


def test_every_python_m_the_docs_name_runs():
    modules = python_m_modules()
    assert "targets.tflm.lean_ops" in modules  # the scan reads firmware/ and the docs
    missing = {m: where for m, where in modules.items() if not runnable(m)}
    assert not missing, missing


def test_a_module_that_does_not_exist_is_caught():
    assert not runnable("targets.lean_ops") and runnable("targets.tflm.lean_ops")
    assert not runnable("targets")  # a package without __main__ does not run with -m


# ------------------------------------------------------------------ item: SDKCONFIG per build dir
IDF_ACTIONS = {"build", "flash", "monitor", "size", "set-target", "menuconfig", "reconfigure",
               "app-flash", "fullclean", "size-components", "size-files", "erase-flash"}


def idf_py_problems(text: str) -> list[str]:
    """Each `idf.py ...` command with an action that does not pass `-B DIR` and
    `-D SDKCONFIG=DIR/sdkconfig`."""
    problems = []
    for match in re.finditer(r"idf\.py((?:[ \t]+(?:\\\n)?[^\s`&|;#)]+)+)", text):
        words = match.group(1).replace("\\\n", " ").split()
        if not IDF_ACTIONS.intersection(words):
            continue
        build = words[words.index("-B") + 1] if "-B" in words[:-1] else None
        sdkconfig = next((w.split("=", 1)[1] for i, w in enumerate(words) if w.startswith("SDKCONFIG=")
                          and i > 0 and words[i - 1] == "-D"), None)
        if build is None or sdkconfig != f"{build}/sdkconfig":
            problems.append(match.group(0).strip())
    return problems


def test_every_idf_py_command_uses_its_build_directorys_sdkconfig():
    problems = {str(p.relative_to(REPO_ROOT)): found for p in doc_files()
                if (found := idf_py_problems(p.read_text(errors="replace")))}
    assert not problems, problems


def test_the_harness_prints_the_build_command_with_its_sdkconfig():
    import shlex

    from tinyml_harness.firmware import Build

    command = "idf.py " + shlex.join(Build(REPO_ROOT / "firmware", "esp32c6", "default").idf_args())
    assert idf_py_problems(command) == [] and "IDF_TARGET=esp32c6" in command
    assert "-B build_esp32c6_default " in command and "-D SDKCONFIG=build_esp32c6_default/sdkconfig " in command


@pytest.mark.parametrize("command", [
    "idf.py set-target esp32s3 && idf.py build flash monitor",
    "idf.py -B build_esp32s3_default size",
    "idf.py -B build_a -D SDKCONFIG=build_b/sdkconfig flash",
])
def test_the_idf_py_check_catches_a_shared_sdkconfig(command):
    assert idf_py_problems(command)
