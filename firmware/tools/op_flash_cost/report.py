#!/usr/bin/env python3
"""Print the section sizes of the flash-cost probes built by this directory's CMakeLists.txt.

    python firmware/tools/op_flash_cost/report.py build/op-flash-cost [--model any_int8.tflite]

Flash on the chip holds code (.text) and constants (.rodata, .data's initial values); each
is printed per probe with the difference to the first probe. These are x86-64 figures from
the host compiler (a proxy for the difference between op lists, not a chip figure: see
firmware/README.md). --model also runs each probe on a model, to show every probe loads it.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

SECTIONS = (".text", ".rodata", ".data")


def sections(binary: Path) -> dict[str, int]:
    out = subprocess.run(["size", "-A", str(binary)], check=True, capture_output=True, text=True).stdout
    sizes = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] in SECTIONS:
            sizes[fields[0]] = int(fields[1])
    return sizes


def count_ops(ops_file: Path) -> int:
    return sum(1 for line in ops_file.read_text().splitlines() if line.split("#", 1)[0].strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build_dir", type=Path)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args(argv)
    probes = [line.split(" ", 1) for line in (args.build_dir / "probes.txt").read_text().splitlines()]
    first = None
    print(f"{'probe':10} {'ops':>4} " + " ".join(f"{s:>9}" for s in SECTIONS) + f" {'sum':>9} {'delta':>9}  ops file")
    for name, ops_file in probes:
        sizes = sections(args.build_dir / name)
        total = sum(sizes.get(s, 0) for s in SECTIONS)
        first = total if first is None else first
        print(f"{name:10} {count_ops(Path(ops_file)):>4} " + " ".join(f"{sizes.get(s, 0):>9}" for s in SECTIONS)
              + f" {total:>9} {total - first:>+9}  {ops_file}")
        if args.model:
            run = subprocess.run([str(args.build_dir / name), str(args.model)], capture_output=True, text=True)
            print(f"           runs {args.model.name}: exit {run.returncode} {run.stdout.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
