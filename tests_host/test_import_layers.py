"""The import graph points one way, down the data flow (docs/ARCHITECTURE.md, "Layers").

Each library module belongs to one layer; it may import its own layer and the layers
below, never a layer above, and nothing outside tests_* imports tests_*. Imports inside
functions count too: a lazy import is still a dependency. Also: no module grows past the
size a reader can hold (MAX_LINES), and a name means one thing (docs/ARCHITECTURE.md,
"Words with one meaning each"): no two library modules share a file name, and no two
classes share a name across the library and the firmware's own C++.
"""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Bottom to top. A module's layer is the longest prefix that names it.
LAYERS = [
    "vocabulary",         # words every layer shares: the result record, tensor descriptions
    "model_builders",     # datasets, architectures, variant recipes, the artifact cache
    "targets.tflm",       # host TFLite Micro: runner, reference, flatbuffer analysis, op list
    "targets.cost",       # target registry and latency / memory cost model
    "targets.board",      # the serial protocol, the Board, its links
    "targets.virtual",    # the virtual board (protocol server, engine, faults)
    "targets.measure",    # a host run or a board cycle turned into result records
    "reports",            # evidence: budgets, baseline, comparison, summary, plots
    "tinyml_harness",     # the pytest plugin and commands that tie it all together
    "benchmarks",         # timing scripts: figures, not assertions
]
LIBRARY = ["vocabulary", "model_builders", "targets", "reports", "tinyml_harness", "benchmarks"]
MAX_LINES = 400
#: A package's own files: their names say "this package", not what the file holds.
PACKAGE_FILES = {"__init__.py", "__main__.py"}
#: The firmware's own C++; idf_sim and esp_nn_host stand in for ESP-IDF's and esp-nn's headers.
FIRMWARE = ROOT / "firmware"
STAND_INS = ("idf_sim", "esp_nn_host")
_CPP_CLASS = re.compile(r"^(?:class|struct)\s+([A-Za-z_]\w*)\b(?!\s*;)", re.M)  # namespace level, not a declaration


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_modules() -> dict[str, Path]:
    return {_module_name(p): p for top in LIBRARY for p in sorted((ROOT / top).rglob("*.py"))}


def imported_names(path: Path, module: str) -> set[str]:
    """Every module name an import statement in `path` mentions (absolute, resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def layer_of(module: str) -> int | None:
    best = None
    for index, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            best = index
    return best


def upward_imports(modules: dict[str, Path]) -> list[str]:
    problems = []
    for module, path in modules.items():
        own = layer_of(module)
        for name in sorted(imported_names(path, module)):
            if name.split(".")[0].startswith("tests_"):
                problems.append(f"{module} imports {name}: only tests import tests")
                continue
            if name not in modules:  # a name inside a module (from m import f), or not ours
                continue
            theirs = layer_of(name)
            if own is not None and theirs is not None and theirs > own:
                problems.append(f"{module} ({LAYERS[own]}) imports {name} ({LAYERS[theirs]}), a layer above")
    return problems


def test_every_library_module_has_a_layer():
    assert [m for m in library_modules() if layer_of(m) is None and "." in m] == []


def test_no_module_imports_a_layer_above_or_the_tests():
    assert upward_imports(library_modules()) == []


def test_the_check_sees_an_upward_import_and_a_test_import(tmp_path):
    """The check itself can fail: a record module importing the report is caught."""
    low = tmp_path / "records.py"
    low.write_text("import json\n\ndef f():\n    from reports.summary import build_summary\n"
                   "    import tests_host.tiny_models\n")
    high = tmp_path / "summary.py"
    high.write_text("def build_summary(): ...\n")
    assert upward_imports({"vocabulary.records": low, "reports.summary": high}) == [
        "vocabulary.records (vocabulary) imports reports.summary (reports), a layer above",
        "vocabulary.records imports tests_host.tiny_models: only tests import tests",
    ]


@pytest.mark.parametrize("module", sorted(library_modules()))
def test_module_stays_readable_in_one_sitting(module):
    lines = len(library_modules()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (limit {MAX_LINES}): split it by concern"


# ------------------------------------------------------------------ one name, one meaning
def shared_file_names(modules: dict[str, Path]) -> dict[str, list[str]]:
    """File names (package files aside) that more than one library module carries."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for module, path in sorted(modules.items()):
        if path.name not in PACKAGE_FILES:
            by_name[path.name].append(module)
    return {name: found for name, found in by_name.items() if len(found) > 1}


def python_classes(modules: dict[str, Path]) -> dict[str, list[str]]:
    """Module-level class name -> the library modules that define it."""
    found: dict[str, list[str]] = defaultdict(list)
    for module, path in sorted(modules.items()):
        for node in ast.parse(path.read_text(), filename=str(path)).body:
            if isinstance(node, ast.ClassDef):
                found[node.name].append(module)
    return found


def cpp_classes(sources: list[Path]) -> dict[str, list[str]]:
    """Namespace-level class / struct name -> the C++ files that define it."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sources:
        for name in _CPP_CLASS.findall(path.read_text()):
            found[name].append(str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path))
    return found


def firmware_sources() -> list[Path]:
    return sorted(p for p in FIRMWARE.rglob("*") if p.suffix in (".cc", ".h")
                  and not set(STAND_INS) & set(p.relative_to(FIRMWARE).parts))


def shared_class_names(python: dict[str, list[str]], cpp: dict[str, list[str]]) -> dict[str, list[str]]:
    """Class names defined more than once, in Python or C++ or both."""
    merged = {name: python.get(name, []) + cpp.get(name, []) for name in sorted({*python, *cpp})}
    return {name: where for name, where in merged.items() if len(where) > 1}


def test_no_two_library_modules_share_a_file_name():
    assert shared_file_names(library_modules()) == {}


def test_no_two_classes_share_a_name_in_the_library_or_the_firmware():
    assert firmware_sources(), f"no C++ found under {FIRMWARE}"
    assert shared_class_names(python_classes(library_modules()), cpp_classes(firmware_sources())) == {}


def test_the_name_checks_see_a_shared_file_name_and_class_name(tmp_path):
    """The checks themselves can fail: three board.py files and a TflmEngine in Python and C++."""
    for folder in ("board", "virtual", "measure"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "board.py").write_text("class Board: ...\n" if folder == "board" else "")
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "virtual" / "engine.py").write_text("class TflmEngine:\n    class Nested: ...\n")
    cpp = tmp_path / "tflm_engine.h"
    cpp.write_text("class Engine;\nnamespace tmh {\nclass TflmEngine : public Engine {\n  struct Board {};\n};\n}\n")
    modules = {f"targets.{p.parent.name}.{p.stem}": p for p in sorted(tmp_path.rglob("*.py"))}
    assert shared_file_names(modules) == {
        "board.py": ["targets.board.board", "targets.measure.board", "targets.virtual.board"]}
    assert cpp_classes([cpp]) == {"TflmEngine": [str(cpp)]}  # not the declaration, not the nested struct
    assert shared_class_names(python_classes(modules), cpp_classes([cpp])) == {
        "TflmEngine": ["targets.virtual.engine", str(cpp)]}
