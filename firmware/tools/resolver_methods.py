#!/usr/bin/env python3
"""List the builtin ops a TFLite Micro MicroMutableOpResolver can add, read from its header.

    python firmware/tools/resolver_methods.py DIR/tensorflow/lite/micro/micro_mutable_op_resolver.h \
        --source "esp-tflite-micro v1.3.8 (d6465fd5...)" > tests_host/data/tflm_resolver_methods.txt

Why: the firmware registers ops by calling resolver.Add<Method>(), and the method names do
not all follow the BuiltinOperator name (AddConv2D for CONV_2D, AddPadV2 for PADV2,
AddUnidirectionalSequenceLSTM...). Guessing them breaks the chip build only, which CI here
cannot run. This reads the truth from the header instead: every `TfLiteStatus AddX(...)`
method whose body calls `AddBuiltin(BuiltinOperator_Y, ...)` is one line `Y AddX`. Methods
that add custom ops (AddCircularBuffer, AddDetectionPostprocess, the signal library, Ethos-U)
register no BuiltinOperator and are left out. tests_host/test_fw_ops_resolver.py compares the
committed output with firmware/cmake/registered_ops.cmake's table and registered_ops.txt.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

_METHOD = re.compile(r"\bTfLiteStatus\s+(Add[A-Za-z0-9_]*)\s*\(")
_BUILTIN = re.compile(r"\bAddBuiltin\s*\(\s*BuiltinOperator_([A-Z0-9_]+)\b")


def builtin_methods(header_text: str) -> dict[str, str]:
    """{BuiltinOperator name: Add method}, in header order; ValueError on an ambiguous header.

    A method's body is the text up to the next `TfLiteStatus Add...(`; AddBuiltin itself (the
    private helper, whose body names no BuiltinOperator_ constant) is skipped naturally.
    """
    found: dict[str, str] = {}
    matches = list(_METHOD.finditer(header_text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(header_text)
        body = header_text[match.end():end]
        ops = set(_BUILTIN.findall(body))
        if not ops:
            continue
        if len(ops) > 1:
            raise ValueError(f"{match.group(1)} adds several builtins ({', '.join(sorted(ops))})")
        op = ops.pop()
        if op in found and found[op] != match.group(1):
            raise ValueError(f"BuiltinOperator_{op} is added by both {found[op]} and {match.group(1)}")
        found[op] = match.group(1)
    return found


def read_methods_file(path: Path) -> dict[str, str]:
    """The committed list: `OP AddMethod` per line, # comments and blank lines skipped."""
    table: dict[str, str] = {}
    for line in path.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            op, method = fields
            table[op] = method
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("header", type=Path, help="micro_mutable_op_resolver.h")
    parser.add_argument("--source", required=True, help="where the header came from (version, commit)")
    args = parser.parse_args(argv)
    methods = builtin_methods(args.header.read_text())
    if not methods:
        parser.error(f"{args.header}: no AddBuiltin(BuiltinOperator_...) call found")
    out = [
        "# BuiltinOperator -> tflite::MicroMutableOpResolver method, every builtin the resolver can add.",
        f"# Extracted by firmware/tools/resolver_methods.py from {args.source},",
        "# tensorflow/lite/micro/micro_mutable_op_resolver.h. Regenerate, never edit by hand.",
        f"# {len(methods)} builtin ops.",
    ]
    out += [f"{op} {method}" for op, method in sorted(methods.items())]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
