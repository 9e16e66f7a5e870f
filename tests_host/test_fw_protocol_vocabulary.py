"""One protocol vocabulary (firmware/core/protocol_vocabulary.def): the C++ core (fw_host, built
from it), the virtual board and the Python client all speak its words, and nothing else
defines them."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import pytest

from targets.board import protocol_words as vocab
from targets.board.fw_host import FIRMWARE_DIR, REPO_ROOT
from targets.board.line_codec import parse_reply_line
from targets.board.replies import TimingReport
from targets.tflm.op_list import REGISTERED_OPS_FILE
from targets.virtual.host_engine import LoadedModel
from targets.virtual.state_machine import VirtualDevice
from tests_host.fw_host_process import FwHostProcess, fake_model
from vocabulary.tensors import TensorSpec


# ------------------------------------------------------------------ the two boards
class _StubEngine:
    """What VirtualDevice needs from its engine, without TFLM: a 4-byte int8 model."""

    profile = SimpleNamespace(sram_bytes=512 * 1024, fw_ram_overhead_bytes=64 * 1024)
    arena_capacity = 64 * 1024
    clock_mhz = 240
    ops_file = REGISTERED_OPS_FILE

    def load(self, data: bytes) -> LoadedModel:
        spec = TensorSpec("int8", (1, 4), 0.5, -1, 4)
        return LoadedModel(arena_used_bytes=1000, input=spec, output=spec, est_total_us=12.5,
                           est_per_op=[(0, "FULLY_CONNECTED", 12.5)],
                           invoke=lambda x: bytes(x), close=lambda: None)


class _Virtual:
    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.board = VirtualDevice("esp32s3", _StubEngine(), self.out.append)

    def __call__(self, line: bytes) -> dict:
        self.out.clear()
        self.board.handle_line(line)
        replies = [parse_reply_line(b) for b in b"".join(self.out).splitlines(keepends=True)]
        replies = [r for r in replies if r is not None]
        assert len(replies) == 1, (line, self.out)
        return replies[0]


class _Core:
    def __init__(self, fw: FwHostProcess) -> None:
        self.fw = fw

    def __call__(self, line: bytes) -> dict:
        self.fw.link.write(line + b"\n")
        while True:
            raw = self.fw.link.readline(10.0)
            assert raw is not None, f"fw_host did not answer {line[:40]!r}"
            body = parse_reply_line(raw)
            if body is not None and body.get("cmd") != vocab.BOOT_BANNER:
                return body


@pytest.fixture(scope="module")
def both():
    with FwHostProcess() as fw:
        yield {"core": _Core(fw), "virtual": _Virtual()}


def _upload(ask, model: bytes) -> dict:
    import base64
    import zlib

    assert ask(f"upload_begin {len(model)} {zlib.crc32(model):08x}".encode())["ok"]
    assert ask(b"upload_chunk 0 " + base64.b64encode(model))["ok"]
    return ask(b"upload_end")


# ------------------------------------------------------------------ the file itself
def test_the_vocabulary_file_is_read_strictly():
    calls = vocab.parse_vocabulary('#ifndef X\nTMH_STRING(A, "a(b), // c")  // note\n'
                                   "TMH_COMMAND(go, 2, \"x y\")\n")
    assert calls == [("TMH_STRING", ["A", "a(b), // c"]), ("TMH_COMMAND", ["go", 2, "x y"])]
    for bad in ("TMH_COMMAND(go, 2)", "TMH_NOPE(1)", "int x = 1;", 'TMH_STRING(A, "open)'):
        with pytest.raises(ValueError, match=":1:"):
            vocab.parse_vocabulary(bad)


def test_python_words_follow_the_file():
    assert vocab.PROTOCOL_VERSION == 2 and vocab.REPLY_PREFIX == "@@TMH "
    assert vocab.CMD.time == "time" and "bench" not in vocab.CMD
    with pytest.raises(AttributeError, match="not a protocol command"):
        vocab.CMD.bench  # noqa: B018
    assert tuple(f.name for f in fields(TimingReport)) == vocab.TIMING_FIELDS
    assert TensorSpec.WIRE_FIELDS == vocab.TENSOR_FIELDS
    round_trip = TensorSpec.from_wire(TensorSpec("int8", (1,), 1.0, 0, 1).to_wire())
    assert set(round_trip.to_wire()) == set(vocab.TENSOR_FIELDS)


# ------------------------------------------------------------------ both boards agree with it
def test_both_boards_banners_have_the_same_fields(both):
    """Including the firmware's component versions (null where there is no esp-tflite-micro
    or esp-nn): records and baselines read the same keys from every board."""
    core, virtual = both["core"](b"identify"), both["virtual"](b"identify")
    assert core.keys() == virtual.keys()
    assert {"tflm_version", "esp_nn_version"} <= core.keys()
    assert (core["tflm_version"], core["esp_nn_version"]) == (None, None)  # fake engine


@pytest.mark.parametrize("side", ["core", "virtual"])
def test_identify_carries_the_protocol_version(both, side):
    reply = both[side](b"identify")
    assert reply["ok"] and reply["cmd"] == vocab.CMD.identify
    assert reply["proto"] == vocab.PROTOCOL_VERSION


@pytest.mark.parametrize("side", ["core", "virtual"])
def test_the_command_table_is_the_vocabularys(both, side):
    """Every command is known, with its argument count; a word outside the table is not."""
    ask = both[side]
    for name, nargs in vocab.COMMANDS.items():
        reply = ask(" ".join([name] + ["1"] * (nargs + 1)).encode())
        assert (reply["ok"], reply["cmd"], reply["code"]) == (False, name, vocab.ERR.E_PARSE), reply
    for word in ("bench", "times", "IDENTIFY"):
        reply = ask(word.encode())
        assert (reply["cmd"], reply["code"]) == (vocab.UNKNOWN_COMMAND, vocab.ERR.E_PARSE), reply


def test_the_virtual_board_handles_exactly_the_vocabularys_commands():
    handlers = {name[len("cmd_"):] for name in dir(VirtualDevice) if name.startswith("cmd_")}
    assert handlers == set(vocab.COMMANDS)


@pytest.mark.parametrize("side", ["core", "virtual"])
def test_replies_use_the_vocabularys_fields_and_codes(both, side):
    ask = both[side]
    assert ask(b"time 1 0")["code"] == vocab.ERR.E_STATE
    model = fake_model(n_in=4, n_out=4) if side == "core" else bytes(16)
    end = _upload(ask, model)
    assert end["ok"], end
    for key in ("input", "output"):
        assert tuple(end[key]) == vocab.TENSOR_FIELDS
        assert TensorSpec.from_wire(end[key]).nbytes == 4
    timing = ask(b"time 3 1")
    assert tuple(k for k in timing if k not in ("ok", "cmd")) == vocab.TIMING_FIELDS
    assert TimingReport.from_reply(timing).runs == 3
    over = ask(f"time {vocab.TIME_MAX_RUNS + 1} 0".encode())
    assert over["code"] == vocab.ERR.E_RANGE
    assert ask(f"time {vocab.TIME_MAX_RUNS} {vocab.TIME_MAX_WARMUP + 1}".encode())["code"] == vocab.ERR.E_RANGE
    assert ask(f"infer 0 {vocab.STAGED_INPUT}".encode())["code"] == vocab.ERR.E_INPUT
    codes = {ask(line)["code"] for line in (b"", b"upload_end", b"upload_chunk 0 AAAA", b"upload_begin x 0",
                                            b"set_input ***", b"upload_begin 0 00000000")}
    assert codes <= set(vocab.ERROR_CODES)


# ------------------------------------------------------------------ nothing else defines the words
def _library_python() -> list[Path]:
    return sorted(p for top in ("targets", "vocabulary") for p in (REPO_ROOT / top).rglob("*.py"))


def test_no_python_module_spells_the_prefix_or_the_panic_markers():
    offenders = [str(p.relative_to(REPO_ROOT)) for p in _library_python()
                 if "@@TMH" in p.read_text() or "Guru Meditation" in p.read_text()]
    assert offenders == []


def test_board_and_virtual_code_take_error_codes_from_the_vocabulary():
    literal = re.compile(r"""["']E_[A-Z0-9_]+["']""")
    offenders = {str(p.relative_to(REPO_ROOT)): literal.findall(p.read_text())
                 for p in _library_python()
                 if p.parent.name in ("board", "virtual") and p.name != "protocol_words.py"}
    assert {k: v for k, v in offenders.items() if v} == {}


_CPP_TOKEN = re.compile(r'//[^\n]*|/\*.*?\*/|"((?:[^"\\\n]|\\.)*)"|\'(?:[^\'\\\n]|\\.)*\'', re.S)


def cpp_string_literals(text: str) -> list[str]:
    """The contents of the C++ string literals in `text`, comments and char literals skipped."""
    return [m.group(1) for m in _CPP_TOKEN.finditer(text) if m.group(1) is not None]


# Words the core must take from protocol_vocabulary.def (X-macros), never spell itself.
_CPP_WORDS = frozenset(vocab.COMMANDS) | set(vocab.ERROR_CODES) | set(vocab.TENSOR_FIELDS) | set(
    vocab.TIMING_STATS) | set(vocab.TIMING_UNITS) | {vocab.REPLY_PREFIX, vocab.REPLY_PREFIX.strip(),
                                                     vocab.BOOT_BANNER}


def test_cpp_string_literals_are_found_outside_comments():
    text = 'w.key("dtype"); // "shape"\n/* "scale" */ f(\'"\', "a\\"b", "");'
    assert cpp_string_literals(text) == ["dtype", 'a\\"b', ""]


def test_the_cpp_core_spells_no_word_outside_the_vocabulary():
    """Command names, error codes, tensor keys, timing statistics and the framing words come
    from protocol_vocabulary.def's X-macros: a string literal of one in the core is a copy."""
    core = FIRMWARE_DIR / "core"
    offenders = {}
    for path in sorted(core.glob("*.cc")) + sorted(core.glob("*.h")):
        text = path.read_text()
        assert "@@TMH" not in text, path.name
        assert not re.search(r'"E_[A-Z]', text), f"{path.name} spells an error code"
        words = sorted({w for w in cpp_string_literals(text) if w in _CPP_WORDS})
        if words:
            offenders[path.name] = words
    assert offenders == {}


def test_docs_and_fuzz_dictionary_name_every_word():
    spec = (FIRMWARE_DIR / "PROTOCOL.md").read_text()
    assert f"# Serial protocol (version {vocab.PROTOCOL_VERSION})" in spec
    for name in vocab.COMMANDS:
        assert f"| `{name}" in spec, f"PROTOCOL.md's command table lacks {name}"
    for code in vocab.ERROR_CODES:
        assert f"| `{code}` |" in spec, f"PROTOCOL.md's error table lacks {code}"
    words = {word.strip() for word in
             re.findall(r'^[^#"]*"([^"]*)"', (FIRMWARE_DIR / "host" / "fuzz.dict").read_text(), re.M)}
    assert set(vocab.COMMANDS) <= words
