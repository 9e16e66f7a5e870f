"""bench.toml on a real bench: what the HIL plugin hands pytest-embedded for each target.

pytest-embedded-serial-esp (2.x) hands esptool the port it probes and never reads
port_location, so a USB location (or serial number) must become a concrete `port` before
pytest-embedded sees it; otherwise two boards of one target cannot be told apart while the
preflight says the board was found. list_ports is monkeypatched: no board needed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from serial.tools import list_ports

from targets.board.bench_file import (
    BenchEntry,
    BenchFileError,
    load_bench,
    missing_board_message,
    port_params,
    ports_present,
)
from tinyml_harness import hil_fixtures

BENCH = Path("bench.toml")


@dataclass
class FakePort:
    device: str
    location: str | None
    serial_number: str | None
    vid: int | None = 0x303A


TWO_C3_BOARDS = [FakePort("/dev/ttyACM0", "1-1.1", "AA:01"), FakePort("/dev/ttyACM1", "1-1.2", "AA:02"),
                 FakePort("/dev/ttyS0", None, None, vid=None)]


@pytest.fixture
def bench_ports(monkeypatch):
    monkeypatch.delenv("ESPPORT", raising=False)
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: list(TWO_C3_BOARDS))


@pytest.mark.parametrize("field,value,device", [
    ("location", "1-1.2", "/dev/ttyACM1"), ("location", "1-1.1", "/dev/ttyACM0"),
    ("serial_number", "AA:02", "/dev/ttyACM1")])
def test_location_or_serial_number_becomes_the_port_pytest_embedded_opens(bench_ports, field, value, device):
    entry = BenchEntry("esp32c3", **{field: value})
    params = port_params(entry, {}, ports_present)
    assert params == {"port": device, "port_serial_number": None, "port_location": None}
    assert missing_board_message("esp32c3", entry, {}, ports_present(), BENCH) is None


def test_command_line_location_is_resolved_too(bench_ports):
    params = port_params(BenchEntry("esp32c3", location="1-1.1"), {"port_location": "1-1.2"},
                         ports_present)
    assert params["port"] == "/dev/ttyACM1"


def test_a_location_no_port_has_fails_naming_target_and_what_was_looked_for(bench_ports):
    entry = BenchEntry("esp32c3", location="3-4")
    assert port_params(entry, {}, ports_present)["port"] is None
    msg = missing_board_message("esp32c3", entry, {}, ports_present(), BENCH)
    assert msg is not None
    assert "target esp32c3" in msg and "USB location 3-4" in msg
    assert "/dev/ttyACM0 (location 1-1.1" in msg and "/dev/ttyACM1 (location 1-1.2" in msg


def test_a_serial_number_on_two_ports_is_refused_not_guessed(bench_ports, monkeypatch):
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: [
        FakePort("/dev/ttyACM0", "1-1.1", "AA:01"), FakePort("/dev/ttyACM1", "1-1.2", "AA:01")])
    msg = missing_board_message("esp32c3", BenchEntry("esp32c3", serial_number="AA:01"), {},
                                ports_present(), BENCH)
    assert msg is not None and "2 ports match (/dev/ttyACM0, /dev/ttyACM1)" in msg


def test_bench_baud_is_read_and_bad_values_name_file_and_field(tmp_path):
    path = tmp_path / "bench.toml"
    path.write_text('[esp32]\nport = "/dev/ttyUSB0"\nbaud = 921600\n')
    assert load_bench(path)["esp32"].baud == 921600
    for bad in ('"fast"', "0", "true"):
        path.write_text(f'[esp32]\nport = "/dev/ttyUSB0"\nbaud = {bad}\n')
        with pytest.raises(BenchFileError, match=r"bench.toml: \[esp32\] baud must be a positive integer"):
            load_bench(path)


def test_kconfig_baud_help_names_a_key_bench_toml_accepts(tmp_path):
    """The firmware's menuconfig help tells users where the host's rate goes; that key must load."""
    kconfig = (hil_fixtures.HARNESS_FIRMWARE / "main" / "Kconfig.projbuild").read_text()
    help_text = kconfig.split("config TMH_SERIAL_BAUD", 1)[1].split("config ", 1)[0]
    keys = re.findall(r"`(\w+) = N` in the target's bench.toml", help_text)
    assert keys, help_text
    path = tmp_path / "bench.toml"
    path.write_text("".join(f"[esp32]\n{k} = 460800\n" for k in keys))
    assert load_bench(path)["esp32"].baud == 460800
    assert "--baud" in help_text  # pytest-embedded's own option


@pytest.mark.parametrize("target,port,other", [
    ("esp32s3", "USB-Serial-JTAG", "USB-UART bridge"), ("esp32c3", "console UART", "USB-Serial-JTAG"),
    ("esp32c6", "console UART", "USB-Serial-JTAG"), ("esp32", "console UART", "USB-Serial-JTAG"),
    ("esp32p4", "console UART", "USB-Serial-JTAG")])
def test_timeout_hint_names_the_console_the_firmware_serves_and_the_other_port(target, port, other):
    """The hint follows the console each target's sdkconfig.defaults.<target> chooses."""
    hint = hil_fixtures.console_hint(target)
    assert hint.index(port) < hint.index(other), hint


def test_a_bad_bench_file_stops_pytest_with_a_usage_error_naming_it(inprocess_pytest, tmp_path):
    """bench_file knows nothing of pytest; the plugin turns its error into a usage error.
    (A collection: no TensorFlow, so the nested run is in this process.)"""
    bad = tmp_path / "bench.toml"
    bad.write_text('[esp32]\nbaud = "fast"\n')
    root = Path(__file__).resolve().parent.parent
    proc = inprocess_pytest(root, "--collect-only", "-q", f"--bench-file={bad}",
                            str(root / "tests_host" / "test_import_layers.py"))
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert f"{bad}: [esp32] baud must be a positive integer" in proc.stderr
