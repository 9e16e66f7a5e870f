"""bench.toml and serial-port resolution: which port each target's board is on.

Nothing here needs pytest: the HIL plugin (tinyml_harness.hil_fixtures) feeds these
figures to pytest-embedded and turns a BenchFileError into a usage error.
pytest-embedded-serial-esp (2.x) hands esptool the port it probes and never reads
port_location, so a serial number or USB location is resolved here to the one port it
names: two boards of one target are told apart only this way.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_KEYS = {"port": "port", "serial_number": "port_serial_number", "location": "port_location",
              "baud": "baud"}
PORT_OPTIONS = ("port", "port_serial_number", "port_location")


class BenchFileError(ValueError):
    """bench.toml is malformed (the message names the file, the target and the key)."""


@dataclass(frozen=True)
class BenchEntry:
    """Where one target's board is attached; each field fills one pytest-embedded option."""

    target: str
    port: str | None = None
    serial_number: str | None = None
    location: str | None = None
    baud: int | None = None  # the firmware's CONFIG_TMH_SERIAL_BAUD (UART consoles)

    def describe(self) -> str:
        parts = [f"{k}={getattr(self, k)}" for k in BENCH_KEYS if getattr(self, k)]
        return ", ".join(parts) or "nothing"


def load_bench(path: Path) -> dict[str, BenchEntry]:
    """bench.toml: one table per target, keys port / serial_number / location / baud. A
    missing file means no bench mapping (pytest-embedded's own --port / ESPPORT still apply)."""
    if not path.exists():
        return {}
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BenchFileError(f"{path}: not valid TOML: {exc}") from None
    bench = {}
    for target, table in raw.items():
        if not isinstance(table, dict):
            raise BenchFileError(f"{path}: [{target}] must be a table of port / serial_number / "
                                    "location / baud")
        unknown = set(table) - set(BENCH_KEYS)
        if unknown:
            raise BenchFileError(f"{path}: [{target}] has unknown key(s) {sorted(unknown)}; "
                                    f"allowed: {sorted(BENCH_KEYS)}")
        values: dict[str, Any] = {k: str(v) for k, v in table.items() if k != "baud"}
        if "baud" in table:
            baud = table["baud"]
            if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
                raise BenchFileError(f"{path}: [{target}] baud must be a positive integer "
                                        f"(the firmware's CONFIG_TMH_SERIAL_BAUD), got {baud!r}")
            values["baud"] = baud
        bench[target] = BenchEntry(target, **values)
    return bench


def ports_present() -> list[Any]:
    """The serial ports present now (pyserial's list_ports)."""
    from serial.tools import list_ports

    return list(list_ports.comports())


def _wanted(entry: BenchEntry, cli: dict[str, str | None]) -> tuple[str | None, str | None, str | None, str]:
    """(port, serial_number, location, where the port came from): ESPPORT, then the command
    line, then bench.toml, as pytest-embedded ranks them."""
    env_port = os.environ.get("ESPPORT")
    port = env_port or cli.get("port") or entry.port
    origin = "ESPPORT" if env_port else ("--port" if cli.get("port") else "bench file")
    return (port, cli.get("port_serial_number") or entry.serial_number,
            cli.get("port_location") or entry.location, origin)


def _describe_present(present: list[Any]) -> str:
    return ", ".join(f"{p.device} (location {getattr(p, 'location', None) or '?'}, serial "
                     f"{getattr(p, 'serial_number', None) or '?'})" for p in present) or "none"


def resolve_port(entry: BenchEntry, cli: dict[str, str | None],
                 present: list[Any]) -> tuple[str | None, str | None]:
    """(device, None) when a serial number or USB location picks exactly one present port;
    (None, what was looked for) when it picks none or several; (None, None) when neither is
    configured or a port is given outright. pytest-embedded-serial-esp ignores
    port_location (esptool probes every port), so the harness turns both into `port`."""
    port, serial_number, location, _ = _wanted(entry, cli)
    if port and not port.endswith("*"):
        return None, None
    matches = list(present)
    looked_for = []
    if serial_number:
        wanted = {s.strip() for s in serial_number.split(",") if s.strip()}
        matches = [p for p in matches if p.serial_number in wanted]
        looked_for.append(f"serial number {serial_number}")
    if location:
        matches = [p for p in matches if p.location == location]
        looked_for.append(f"USB location {location}")
    if not looked_for:
        return None, None
    what = " and ".join(looked_for)
    if len(matches) == 1:
        return matches[0].device, None
    if not matches:
        return None, f"{what}: no port matches (present: {_describe_present(present)})"
    return None, (f"{what}: {len(matches)} ports match ({', '.join(p.device for p in matches)}); "
                  "give each board its serial number or location")


def port_params(entry: BenchEntry, cli: dict[str, str | None], list_present: Any) -> dict[str, str | None]:
    """The port options handed to pytest-embedded for one target: a concrete `port` when a
    serial number or location resolves to one; otherwise the command line's options apply
    ({}) or bench.toml's (an unresolved entry is reported by the preflight)."""
    _, serial_number, location, _ = _wanted(entry, cli)
    if serial_number or location:
        device, _problem = resolve_port(entry, cli, list_present())
        if device:
            return {"port": device, "port_serial_number": None, "port_location": None}
    if any(cli.get(o) for o in PORT_OPTIONS):
        return {}
    return {opt: getattr(entry, key) for key, opt in BENCH_KEYS.items() if opt in PORT_OPTIONS}


def missing_board_message(target: str, entry: BenchEntry, cli: dict[str, str | None],
                          present: list[Any], bench_file: Path) -> str | None:
    """None when the configured board of `target` is attached; else one message naming the
    target and the ports tried. The check matches what is configured; it detects nothing."""
    port, serial_number, location, origin = _wanted(entry, cli)
    devices = [p.device for p in present]
    if port and not port.endswith("*"):
        if os.path.exists(port):
            return None
        tried = f"{port} (from {bench_file if origin == 'bench file' else origin}): not present"
    elif serial_number or location:
        device, problem = resolve_port(entry, cli, present)
        if device:
            return None
        tried = str(problem)
    else:
        # Unconfigured: pytest-embedded (esptool) will probe the ports; boards attach over
        # USB (a USB-UART bridge or USB-Serial-JTAG), so a machine with only its built-in
        # /dev/ttyS* has no board to find.
        pattern = (port or "").rstrip("*")
        usb = [p.device for p in present if getattr(p, "vid", None) is not None]
        candidates = [d for d in usb if pattern in d]
        if candidates:
            return None
        tried = (f"no port configured (--port, ESPPORT, {bench_file.name} [{target}]) and no "
                 f"USB serial port present{' matching ' + port if port else ''} "
                 f"(present: {', '.join(devices) or 'none'})")
    return (f"No board found for target {target}: ports tried: {tried}. "
            f"Attach the board, fix {bench_file.name} / --port, or run with --virtual.")
