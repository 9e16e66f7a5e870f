"""The serial protocol's words, read from the file the firmware's C++ core includes.

firmware/core/protocol_vocabulary.def is the one list of the protocol's version, reply prefix,
commands (with argument counts), error codes, `time` reply fields, tensor-description keys and
the panic markers a chip's log shows. The C++ core expands it as X-macros; this module parses
it, so the client, the Board, the virtual board and the tests use the same words:

    from targets.board.protocol_words import CMD, ERR, REPLY_PREFIX
    CMD.time == "time";  ERR.E_STATE == "E_STATE";  CMD.tme -> AttributeError

Like targets.tflm.op_list for registered_ops.txt: a file both builds read, not a copy.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vocabulary.locations import firmware_dir

VOCABULARY_FILE = firmware_dir() / "core" / "protocol_vocabulary.def"

_CALL = re.compile(r"^(TMH_[A-Z_]+)\((.*)\)$")
_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|-?[0-9]+|[A-Za-z_][A-Za-z0-9_]*)\s*(?:,|$)')
_ARITY = {"TMH_CONSTANT": 2, "TMH_STRING": 2, "TMH_COMMAND": 3, "TMH_ERROR": 2,
          "TMH_TIMING_STAT": 1, "TMH_TIMING_UNIT": 1, "TMH_TENSOR_FIELD": 1,
          "TMH_PANIC_MARKER": 1}


def _strip_comment(line: str) -> str:
    """The line without its // comment (a // inside a string literal stays)."""
    in_string = False
    for i, ch in enumerate(line):
        if ch == '"' and (i == 0 or line[i - 1] != "\\"):
            in_string = not in_string
        elif not in_string and line.startswith("//", i):
            return line[:i]
    return line


def _value(token: str) -> Any:
    if token.startswith('"'):
        return bytes(token[1:-1], "utf-8").decode("unicode_escape")
    if re.fullmatch(r"-?[0-9]+", token):
        return int(token)
    return token  # an identifier


def parse_vocabulary(text: str, source: str = "protocol_vocabulary.def") -> list[tuple[str, list[Any]]]:
    """(macro, arguments) for each call, in file order. Preprocessor lines and comments are
    skipped; anything else that is not one well-formed call raises ValueError (file:line)."""
    calls = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).strip()
        if not line or line.startswith("#"):
            continue
        match = _CALL.match(line)
        if match is None or match.group(1) not in _ARITY:
            raise ValueError(f"{source}:{number}: not a vocabulary macro call: {raw.strip()!r}")
        args_text, args, pos = match.group(2), [], 0
        while pos < len(args_text):
            token = _TOKEN.match(args_text, pos)
            if token is None:
                raise ValueError(f"{source}:{number}: cannot read the arguments of {raw.strip()!r}")
            args.append(_value(token.group(1)))
            pos = token.end()
        if len(args) != _ARITY[match.group(1)]:
            raise ValueError(f"{source}:{number}: {match.group(1)} takes {_ARITY[match.group(1)]} "
                             f"argument(s), got {len(args)}: {raw.strip()!r}")
        calls.append((match.group(1), args))
    return calls


class Words:
    """A fixed set of protocol words as attributes: `CMD.time` is "time"; an unknown name
    raises AttributeError, so a typo fails where it is written rather than on the wire."""

    # Set with object.__setattr__ in __init__ (instances are read-only); declared here so the
    # type checker knows them rather than routing them through __getattr__.
    _kind: str
    _names: tuple[str, ...]

    def __init__(self, kind: str, names: Iterable[str]) -> None:
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_names", tuple(names))
        for name in self._names:
            object.__setattr__(self, name, name)

    def __getattr__(self, name: str) -> str:  # only called for names not set above
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"{name!r} is not a protocol {self._kind} "
                             f"({VOCABULARY_FILE.name} lists {', '.join(self._names)})")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("protocol words are read-only")

    def __iter__(self):
        return iter(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __len__(self) -> int:
        return len(self._names)


def _load(path: Path = VOCABULARY_FILE) -> dict[str, Any]:
    found: dict[str, Any] = {"constants": {}, "commands": {}, "errors": [], "stats": [],
                             "units": [], "tensor": [], "panic": []}
    for macro, args in parse_vocabulary(path.read_text(), str(path)):
        if macro in ("TMH_CONSTANT", "TMH_STRING"):
            found["constants"][args[0]] = args[1]
        elif macro == "TMH_COMMAND":
            found["commands"][args[0]] = (args[1], tuple(args[2].split()))
        elif macro == "TMH_ERROR":
            found["errors"].append(args[1])
        else:
            key = {"TMH_TIMING_STAT": "stats", "TMH_TIMING_UNIT": "units",
                   "TMH_TENSOR_FIELD": "tensor", "TMH_PANIC_MARKER": "panic"}[macro]
            found[key].append(args[0])
    return found


_V = _load()
_C = _V["constants"]

PROTOCOL_VERSION: int = _C["PROTOCOL_VERSION"]
REPLY_PREFIX: str = _C["REPLY_PREFIX"]
BOOT_BANNER: str = _C["BOOT_BANNER"]
UNKNOWN_COMMAND: str = _C["UNKNOWN_COMMAND"]
STAGED_INPUT: str = _C["STAGED_INPUT"]
TIME_MAX_RUNS: int = _C["TIME_MAX_RUNS"]
TIME_MAX_WARMUP: int = _C["TIME_MAX_WARMUP"]

#: command -> number of arguments, in the file's order
COMMANDS = MappingProxyType({name: nargs for name, (nargs, _) in _V["commands"].items()})
#: command -> argument names (for messages and docs)
COMMAND_ARGS = MappingProxyType({name: names for name, (_, names) in _V["commands"].items()})
CMD = Words("command", COMMANDS)
ERROR_CODES: tuple[str, ...] = tuple(_V["errors"])
ERR = Words("error code", ERROR_CODES)

TIMING_STATS: tuple[str, ...] = tuple(_V["stats"])
TIMING_UNITS: tuple[str, ...] = tuple(_V["units"])
#: the `time` reply's fields besides ok/cmd, in the order the core writes them
TIMING_FIELDS: tuple[str, ...] = ("runs", "warmup") + tuple(
    f"{stat}_{unit}" for unit in TIMING_UNITS for stat in TIMING_STATS)
#: keys of an upload_end "input" / "output" tensor description
TENSOR_FIELDS: tuple[str, ...] = tuple(_V["tensor"])
#: what a chip's log shows when it panics or resets
PANIC_MARKERS: tuple[str, ...] = tuple(_V["panic"])
