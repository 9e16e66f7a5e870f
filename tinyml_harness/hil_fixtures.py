"""pytest plugin for the hardware-in-the-loop gate (tinyml_harness.hil_gate, imported by
tests_hil and by a user's repository), on top of pytest-embedded.

pytest-embedded owns the board connection: its `dut` fixture, its flashing (esptool, from
the ESP-IDF build directory `firmware/build_<target>_<config>`), its expect API and its
per-test logs. This plugin never redefines its (or idf-ci's) fixtures or options; it only
feeds them per target through indirect parametrization, as pytest_embedded_idf's
idf_parametrize does: `target`, `embedded_services`, `app_path`, `build_dir`, `port` from
bench.toml, and `baud` at esptool's ROM rate (flashing and sync); the firmware's rate
(bench.toml `baud` / --baud) is set on the port once the DUT exists (`hil_board`). A
bench.toml (or --port-location / --port-serial-number) serial number or USB location is
resolved to the one port it names
(targets.board.bench_file reads bench.toml and resolves ports), because
pytest-embedded-serial-esp hands esptool its own probed port and never reads
port_location (a serial number only filters its probe): the port a test holds (its lock)
is then the one it talks to.

Options of ours: `--virtual` (serve each target from a virtual board on a pty; the items get
the `host_test` marker, as ESP-IDF marks QEMU runs), `--virtual-engine` (python: the Python
virtual board on the tflite-micro wheel; fw-tflm: the firmware's own binary, fw_host built
with TFLite Micro from $TFLM_SOURCE_DIR, targets.virtual.fw_host_pty) and `--bench-file` (default
bench.toml).
`pytest -m hil` without --virtual and without a board fails at once, naming the target
and the ports tried. Under pytest-xdist, items of one target share an xdist_group (run
with --dist loadgroup) and every port is held under a file lock while a test uses it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from targets.board.bench_file import (
    PORT_OPTIONS,
    BenchEntry,
    BenchFileError,
    load_bench,
    missing_board_message,
    port_params,
    ports_present,
)
from vocabulary.locations import firmware_dir
from vocabulary.sources import HIL_MARKER

if TYPE_CHECKING:
    from targets.measure.board_records import FirmwareFigures

DEFAULT_CONFIG = "default"
#: The harness's own firmware sources (for hints); a run's builds live in settings.firmware_dir.
HARNESS_FIRMWARE = firmware_dir()
LOCK_DIR = Path(tempfile.gettempdir()) / "tinyml-hil-port-locks"
#: esptool's ROM sync speed (ESPLoader.ESP_ROM_BAUD). pytest-embedded-serial-esp hands its
#: `baud` to esptool as initial_baud, and esptool's own CLI never syncs faster ("don't sync
#: faster than the default baud rate", esptool/__init__.py): the DUT is created at this rate.
ROM_BAUD = 115200
PORT_LOCK_TIMEOUT_S = 1800.0


# --------------------------------------------------------------------------- session state
@dataclass
class HilState:
    virtual: bool
    bench_file: Path
    firmware_dir: Path
    bench: dict[str, BenchEntry]
    log_dir: Path
    config_name: str
    virtual_engine: str = "python"
    ops_file: Path | None = None  # --ops-file: the op list the emulated firmware registers
    targets_file: Path | None = None  # --targets-file: the user's targets, for the virtual board's cost model
    boards: dict[str, Any] = field(default_factory=dict)  # target -> PtyServerProcess / FwHostPtyProcess

    def virtual_board(self, target: str) -> Any:
        if target not in self.boards:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"virtual_board_{target}.log"
            if self.virtual_engine == "fw-tflm":
                from targets.board.fw_host import ensure_fw_tflm
                from targets.virtual.fw_host_pty import NOT_BUILT_REASON, FwHostPtyProcess, tflm_source_dir

                source_dir = tflm_source_dir()  # pytest_configure refuses the engine when unset
                if source_dir is None:
                    raise RuntimeError(f"--virtual-engine=fw-tflm: {NOT_BUILT_REASON}")
                binary = ensure_fw_tflm(source_dir, self.ops_file)
                self.boards[target] = FwHostPtyProcess(binary, target, log_path=log_path)
            else:
                from targets.virtual.pty_server import PtyServerProcess

                self.boards[target] = PtyServerProcess(target, ops_file=self.ops_file, log_path=log_path,
                                                       targets_file=self.targets_file)
        return self.boards[target]

    def stop(self) -> None:
        for board in self.boards.values():
            board.stop()
        self.boards.clear()


HIL_STATE = pytest.StashKey[HilState]()


def pytest_configure(config: pytest.Config) -> None:
    from tinyml_harness.plugin import settings

    options = settings(config)
    bench_file = options.bench_file
    sdkconfig = config.getoption("sdkconfig", None)  # idf-ci's option, when it is installed
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if options.virtual and options.virtual_engine == "fw-tflm":
        from targets.virtual.fw_host_pty import NOT_BUILT_REASON, tflm_source_dir

        if tflm_source_dir() is None:
            raise pytest.UsageError(f"--virtual-engine=fw-tflm: {NOT_BUILT_REASON}. Set it to an "
                                    "espressif/esp-tflite-micro checkout (or "
                                    "firmware/managed_components/espressif__esp-tflite-micro).")
    try:
        bench = load_bench(bench_file)
    except BenchFileError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[HIL_STATE] = HilState(
        virtual=options.virtual, bench_file=bench_file, firmware_dir=options.firmware_dir,
        bench=bench,
        log_dir=Path(tempfile.gettempdir()) / "tinyml-hil-logs" / f"{os.getpid()}-{worker}",
        config_name=sdkconfig or DEFAULT_CONFIG, virtual_engine=options.virtual_engine,
        ops_file=options.ops_file, targets_file=options.targets_file)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(HIL_STATE, None)
    if state is not None:
        state.stop()


def hil_targets(config: pytest.Config) -> list[str]:
    """Targets the HIL suite runs on: pytest-embedded's --target (auto/all/unset = every
    registry target that ESP-IDF builds firmware for)."""
    from tinyml_harness.host_fixtures import selected_targets, target_registry

    return selected_targets(config, [name for name, profile in target_registry(config).items()
                                     if profile.idf_target])


def _is_hil(definition: Any) -> bool:
    return definition.get_closest_marker(HIL_MARKER) is not None


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not _is_hil(metafunc.definition) or "target" not in metafunc.fixturenames:
        return
    config = metafunc.config
    state = config.stash[HIL_STATE]
    names = ["target", "embedded_services", "app_path", "build_dir", "port",
             "port_serial_number", "port_location", "baud"]
    cli = {o: config.getoption(o, None) for o in PORT_OPTIONS}
    params = []
    for target in hil_targets(config):
        marks = [pytest.mark.xdist_group(f"board-{target}")]
        if state.virtual:
            board = state.virtual_board(target)
            values = [target, "serial", str(state.firmware_dir), None, board.port, None, None, None]
            marks.append(pytest.mark.host_test)
        else:
            entry = state.bench.get(target, BenchEntry(target))
            ports = port_params(entry, cli, ports_present)
            # pytest-embedded flashes and syncs at its `baud`: esptool's default, never the
            # firmware's (hil_board switches the port to that once the DUT exists)
            values = [target, "esp,idf", str(state.firmware_dir), f"build_{target}_{state.config_name}",
                      ports.get("port"), ports.get("port_serial_number"), ports.get("port_location"),
                      ROM_BAUD]
        params.append(pytest.param(*values, marks=marks, id=target))
    metafunc.parametrize(",".join(names), params, indirect=True)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Runs after -m / -k deselection: only selected hil items count."""
    state = config.stash[HIL_STATE]
    if state.virtual:
        return
    targets = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if item.get_closest_marker(HIL_MARKER) and callspec and "target" in callspec.params:
            if callspec.params["target"] not in targets:
                targets.append(callspec.params["target"])
    if not targets:
        return
    cli = {o: config.getoption(o, None) for o in PORT_OPTIONS}
    present = ports_present()
    problems = [m for t in targets if (m := missing_board_message(
        t, state.bench.get(t, BenchEntry(t)), cli, present, state.bench_file))]
    for t in targets:
        build = state.firmware_dir / f"build_{t}_{state.config_name}"
        if not (build / "flasher_args.json").exists():
            problems.append(f"No firmware for target {t}: {build} has no flasher_args.json "
                            f"(build it, with ESP-IDF: python -m tinyml_harness.firmware --target {t} "
                            f"--config {state.config_name} {state.firmware_dir}).")
    if problems and not config.option.markexpr:
        problems.append("(plain `pytest` selected the HIL gate: add `addopts = -m \"not hil\"` to the [pytest] "
                        "section so that only `pytest -m hil` runs it)")
    if problems:
        raise pytest.UsageError("\n".join(problems))


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def hil_state(pytestconfig: pytest.Config) -> HilState:
    return pytestconfig.stash[HIL_STATE]


def port_lock_path(port_key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in port_key.strip("/"))
    return LOCK_DIR / f"{safe}.lock"


@pytest.fixture(autouse=True)
def _hil_port_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Holds the board's port while a hil test runs (autouse, so before `dut` opens it):
    two xdist workers never share a board."""
    if request.node.get_closest_marker(HIL_MARKER) is None or "target" not in request.fixturenames:
        yield
        return
    from filelock import FileLock, Timeout

    target = request.getfixturevalue("target")
    port = (request.getfixturevalue("port") or request.getfixturevalue("port_serial_number")
            or request.getfixturevalue("port_location") or f"target-{target}")
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(port_lock_path(os.path.realpath(port) if port.startswith("/") else port)))
    try:
        lock.acquire(timeout=PORT_LOCK_TIMEOUT_S)
    except Timeout:
        pytest.fail(f"board of {target} ({port}) stayed locked by another worker for "
                    f"{PORT_LOCK_TIMEOUT_S:.0f} s (lock file {lock.lock_file})", pytrace=False)
    try:
        yield
    finally:
        lock.release()


def firmware_baud(config: pytest.Config, state: HilState, target: str) -> int:
    """The rate the firmware's UART console runs at (CONFIG_TMH_SERIAL_BAUD): --baud, else
    bench.toml's `baud`, else the ROM's."""
    entry = state.bench.get(target, BenchEntry(target))
    return int(config.getoption("baud", None) or entry.baud or ROM_BAUD)


def use_firmware_baud(serial: Any, baud: int) -> None:
    """Switch the DUT's port (flashed and synced at ROM_BAUD) to the firmware's rate and reset
    the board, so its boot banner comes at the rate the port now reads (the one it printed
    before the switch was read at ROM_BAUD: garbage)."""
    serial.proc.baudrate = baud  # the pyserial port pytest-embedded reads from
    serial.hard_reset()


def console_hint(target: str) -> str:
    """Which devkit port the firmware serves the protocol on (its sdkconfig.defaults.<target>
    console), and the other one, for a board that flashed but never answers."""
    defaults = HARNESS_FIRMWARE / f"sdkconfig.defaults.{target}"
    usb = defaults.exists() and "CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG=y" in defaults.read_text()
    if usb:
        return (f"the {target} firmware answers on its USB-Serial-JTAG port (the devkit's \"USB\" "
                "connector, /dev/ttyACM*), not on the USB-UART bridge (\"UART\", /dev/ttyUSB*)")
    return (f"the {target} firmware answers on the console UART (the devkit's USB-UART bridge, "
            "/dev/ttyUSB*, \"UART\" connector), not on a USB-Serial-JTAG port (/dev/ttyACM*)")


@pytest.fixture
def hil_board(dut: Any, target: str, hil_state: HilState, pytestconfig: pytest.Config) -> Iterator[Any]:
    """A connected targets.board.recovering_client.Board on pytest-embedded's dut."""
    from targets.board.dut_link import DutLink
    from targets.board.protocol import BOOT_QUIET_S, ProtocolClient
    from targets.board.recovering_client import Board

    link = DutLink(dut)
    if hil_state.virtual:
        hard_reset = hil_state.virtual_board(target).hard_reset
        scale = 4.0  # host-speed work, but the python engine starts a TFLM process on a model's first upload
        quiet = 0.25  # a virtual board prints its boot log at once: silence means idle
        baud: int | None = None
    else:
        serial = getattr(dut, "serial", None)
        hard_reset = getattr(serial, "hard_reset", None)  # EspSerial: EN via DTR/RTS (esptool)
        scale = 1.0
        quiet = BOOT_QUIET_S
        baud = firmware_baud(pytestconfig, hil_state, target)
        if baud != ROM_BAUD and serial is not None:
            use_firmware_baud(serial, baud)
    client = ProtocolClient(link, timeout_scale=scale, baud=baud)
    board = Board(client, name=f"{target} board ({'virtual' if hil_state.virtual else 'real'}, "
                              f"{getattr(getattr(dut, 'serial', None), 'port', '?')})",
                  hard_reset=hard_reset, log_hint=link.logfile, boot_quiet=quiet)
    from targets.board.protocol import BoardTimeout

    try:
        board.connect()
    except BoardTimeout as exc:
        if hil_state.virtual:
            raise
        raise BoardTimeout(f"{exc.what} (is the cable on the right port? {console_hint(target)})",
                           exc.timeout, exc.last_lines) from None
    yield board


def hil_test_split(prepared_data: Any, config: pytest.Config) -> tuple[Any, Any]:
    """The test split a board streams: all of it, or the first --hil-samples."""
    from tinyml_harness.plugin import settings

    limit = settings(config).hil_samples
    x, y = prepared_data.x_test, prepared_data.y_test
    return (x[:limit], y[:limit]) if limit else (x, y)


@pytest.fixture(scope="session")
def float32_host_eval(built_variants: Any, prepared_data: Any, pytestconfig: pytest.Config) -> Any:
    """The float32 parent on host TFLM, same samples: the reference for accuracy drop."""
    from targets.tflm.evaluate import evaluate_on_host

    x, y = hil_test_split(prepared_data, pytestconfig)
    return evaluate_on_host("float32", built_variants["float32"].tflite_bytes, x, y, reference=False)


# --------------------------------------------------------------------------- firmware figures
def firmware_figures(target: str, state: HilState) -> FirmwareFigures:
    """Image size and static RAM of the flashed firmware, from the build's map file with
    esp-idf-size (real hardware only; the virtual board has no firmware image)."""
    from targets.measure.board_records import FirmwareFigures

    if state.virtual:
        return FirmwareFigures(None, None, "n/a (virtual)")
    build = state.firmware_dir / f"build_{target}_{state.config_name}"
    maps = sorted(build.glob("*.map"))
    if not maps:
        return FirmwareFigures(None, None, f"no .map file in {build}")
    proc = subprocess.run([sys.executable, "-m", "esp_idf_size", "--format", "json2", str(maps[0])],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return FirmwareFigures(None, None, f"esp-idf-size failed on {maps[0]}: {proc.stderr.strip()[-300:]}")
    summary = json.loads(proc.stdout)
    static_ram = sum(int(m["used"]) for m in summary.get("layout", [])
                     if "RAM" in m["name"].upper() and "FLASH" not in m["name"].upper())
    return FirmwareFigures(int(summary["total_size"]), static_ram, f"esp-idf-size {maps[0].name}")
