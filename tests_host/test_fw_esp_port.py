"""main/esp_port.cc on a simulated ESP-IDF console (firmware/host/idf_sim): the drivers'
blocking rules as ESP-IDF v5.1-v6.0 implement them, virtual time, bytes on a schedule.

What this pins: a command is answered as soon as its newline arrived, on both consoles and
both ESP-IDF API generations (uart_read_bytes waits for the whole `length`, so a port that
asks it for 256 bytes makes every short command wait out the timeout); printf is routed
through the console driver (uart_vfs_dev_use_driver / usb_serial_jtag_vfs_use_driver, or
their v5.1 names), so a log line cannot land inside a reply.
"""
from __future__ import annotations

import json
import subprocess

import pytest

from targets.board.fw_host import FwHostBuildError, ensure_esp_port_sim

CONSOLES = [("uart", 1), ("uart", 3), ("usb", 1), ("usb", 3)]
TICK_MS = 10  # CONFIG_FREERTOS_HZ=100 in the sim, ESP-IDF's default


def run_sim(console: str, minor: int, *schedule: str) -> dict:
    try:
        binary = ensure_esp_port_sim(console, minor)
    except FwHostBuildError as exc:
        pytest.fail(str(exc))
    proc = subprocess.run([str(binary), *schedule], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("console,minor", CONSOLES, ids=[f"{c}-v5.{m}" for c, m in CONSOLES])
def test_a_short_command_is_answered_when_its_newline_arrives(console, minor):
    out = run_sim(console, minor, "100:identify\\n")
    replies = [r for r in out["replies"] if r["cmd"] == "identify"]
    assert len(replies) == 1
    assert replies[0]["ms"] - 100 <= TICK_MS, out


@pytest.mark.parametrize("console,minor", CONSOLES, ids=[f"{c}-v5.{m}" for c, m in CONSOLES])
def test_a_line_split_across_arrivals_is_answered_at_its_last_byte(console, minor):
    out = run_sim(console, minor, "100:iden", "340:tify\\nidentify\\n")
    times = [r["ms"] for r in out["replies"] if r["cmd"] == "identify"]
    assert len(times) == 2 and all(340 <= t <= 340 + TICK_MS for t in times), out


@pytest.mark.parametrize("console,minor", CONSOLES, ids=[f"{c}-v5.{m}" for c, m in CONSOLES])
def test_printf_goes_through_the_console_driver(console, minor):
    out = run_sim(console, minor, "0:identify\\n")
    assert out["vfs"] == {"uart": "uart0", "usb": "usb_serial_jtag"}[console]
