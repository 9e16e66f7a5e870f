"""Kconfig symbols as the firmware's C++ and config files use them.

A Kconfig bool set to n is *absent* from sdkconfig.h, so `CONFIG_X` as a value does not
compile when X=n (TMH_ESP_NN=n did exactly that) and `#if CONFIG_X` leans on the
preprocessor's undefined-is-0. Bools are tested with #ifdef / defined(); int and string
symbols may be values. Every config file or option the firmware's files name must exist.
"""
from __future__ import annotations

import re
from pathlib import Path

from targets.board.fw_host import FIRMWARE_DIR, REPO_ROOT

KCONFIG = FIRMWARE_DIR / "main" / "Kconfig.projbuild"
CXX_FILES = sorted([*FIRMWARE_DIR.glob("main/*.cc"), *FIRMWARE_DIR.glob("main/*.h"),
                    *FIRMWARE_DIR.glob("core/*.cc"), *FIRMWARE_DIR.glob("core/*.h")])
# ESP-IDF's own non-bool symbols the firmware reads as values (types checked in ESP-IDF
# v5.1-v6.0 Kconfig files: esp_system, freertos, esp_hw_support, the top-level Kconfig).
IDF_VALUE_SYMBOLS = {"IDF_TARGET": "string", "ESP_CONSOLE_UART_NUM": "int",
                     "ESP_DEFAULT_CPU_FREQ_MHZ": "int", "FREERTOS_HZ": "int"}


def kconfig_types(path: Path = KCONFIG) -> dict[str, str]:
    types: dict[str, str] = {}
    symbol = None
    for line in path.read_text().splitlines():
        m = re.match(r"\s*(?:menu)?config\s+(\w+)", line)
        if m:
            symbol = m.group(1)
            continue
        m = re.match(r"\s*(bool|int|string|hex)\b", line)
        if m and symbol and symbol not in types:
            types[symbol] = m.group(1)
    return types


def misuses(text: str, name: str, types: dict[str, str]) -> list[str]:
    """Every place `text` uses a bool as a value, or names a symbol of unknown type."""
    problems = []
    for lineno, line in enumerate(text.splitlines(), 1):
        code = line.split("//", 1)[0]
        directive = re.match(r"\s*#\s*(\w+)", code)
        for m in re.finditer(r"\bCONFIG_(\w+)", code):
            sym = m.group(1)
            kind = types.get(sym) or IDF_VALUE_SYMBOLS.get(sym)
            where = f"{name}:{lineno}: CONFIG_{sym}"
            if directive and directive.group(1) in ("ifdef", "ifndef", "define", "undef"):
                continue
            in_defined = re.search(r"defined\s*\(\s*CONFIG_" + sym + r"\s*\)", code)
            if directive and directive.group(1) in ("if", "elif") and in_defined:
                continue
            if kind in ("int", "string", "hex"):
                continue
            if kind == "bool" or kind is None and directive:
                problems.append(f"{where} is a bool used as a value (use #ifdef / defined())")
            else:
                problems.append(f"{where}: type unknown; if it is an ESP-IDF int or string, "
                                "add it to IDF_VALUE_SYMBOLS after checking its Kconfig")
    return problems


def test_kconfig_bools_are_tested_with_defined_never_used_as_values():
    types = kconfig_types()
    assert types["TMH_ESP_NN"] == "bool" and types["TMH_ARENA_SIZE"] == "int"
    problems = [p for f in CXX_FILES for p in misuses(f.read_text(), f.name, types)]
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_bool_used_as_a_value():
    types = {"TMH_ESP_NN": "bool", "TMH_ARENA_SIZE": "int"}
    bad = "Engine e(arena, CONFIG_TMH_ARENA_SIZE, CONFIG_TMH_ESP_NN);\n#if CONFIG_TMH_ESP_NN\n#endif\n"
    assert len(misuses(bad, "x.cc", types)) == 2
    good = "#if defined(CONFIG_TMH_ESP_NN)\n#endif\n#ifdef CONFIG_TMH_ESP_NN\n#endif\n"
    assert misuses(good, "x.cc", types) == []


def test_configs_the_firmware_files_name_exist():
    """sdkconfig.ci.<name> mentioned anywhere in firmware/, the README or the workflow."""
    texts = [p for p in FIRMWARE_DIR.rglob("*") if p.is_file() and p.suffix in
             (".txt", ".md", ".cc", ".h", ".yml", ".toml", ".projbuild", "") and "build" not in p.parts]
    texts += [REPO_ROOT / "README.md", *REPO_ROOT.glob(".github/workflows/*.yml")]
    named = {m for p in texts if p.exists() for m in re.findall(r"sdkconfig\.ci\.(\w+)", p.read_text(errors="replace"))}
    named |= {m for m in re.findall(r"sdkconfig\.ci\.(\w+)", (FIRMWARE_DIR / "main" / "CMakeLists.txt").read_text())}
    assert "esp_nn_off" in named
    missing = sorted(n for n in named if not (FIRMWARE_DIR / f"sdkconfig.ci.{n}").exists())
    assert not missing, missing


def test_our_symbols_set_in_sdkconfig_files_are_declared_in_kconfig():
    types = kconfig_types()
    for path in FIRMWARE_DIR.glob("sdkconfig.*"):
        for sym in re.findall(r"^#?\s*CONFIG_(TMH_\w+)", path.read_text(), re.M):
            assert sym in types, f"{path.name}: CONFIG_{sym} is not in {KCONFIG.name}"
