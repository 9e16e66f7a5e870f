"""A firmware baud above 115200 is not esptool's sync speed: pytest-embedded-serial-esp passes
its `baud` to esptool as initial_baud, while esptool's own CLI never syncs faster than
115200. The harness gives pytest-embedded the ROM rate and switches the DUT's port to the
firmware's rate once the board is flashed."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from targets.board.bench_file import BenchEntry
from tinyml_harness import hil_fixtures
from tinyml_harness.hil_fixtures import HIL_STATE, HilState

ESPTOOL_DEFAULT_BAUD = 115200  # esptool's ESPLoader.ESP_ROM_BAUD


def state(tmp_path: Path, baud: int | None) -> HilState:
    return HilState(virtual=False, bench_file=tmp_path / "bench.toml", firmware_dir=tmp_path,
                    bench={"esp32": BenchEntry("esp32", port="/dev/ttyUSB0", baud=baud)},
                    log_dir=tmp_path, config_name="default")


class FakeConfig:
    def __init__(self, hil: HilState, options: dict[str, object]) -> None:
        self.stash = pytest.Stash()
        self.stash[HIL_STATE] = hil
        self.options = options

    def getoption(self, name: str, default: object = None) -> object:
        return self.options.get(name, default)


def embedded_params(monkeypatch, config: FakeConfig) -> dict[str, object]:
    """What pytest_generate_tests hands pytest-embedded for the esp32 board."""
    monkeypatch.setattr(hil_fixtures, "hil_targets", lambda _config: ["esp32"])
    calls = []
    metafunc = SimpleNamespace(definition=SimpleNamespace(get_closest_marker=lambda name: name == "hil"),
                               fixturenames=["target"], config=config,
                               parametrize=lambda names, params, indirect: calls.append((names, params)))
    hil_fixtures.pytest_generate_tests(metafunc)
    (names, params), = calls
    return dict(zip(names.split(","), params[0].values, strict=True))


@pytest.mark.parametrize("options", [{}, {"baud": 921600}], ids=["bench-file", "command-line"])
def test_pytest_embedded_flashes_and_syncs_at_the_rom_rate(monkeypatch, tmp_path, options):
    config = FakeConfig(state(tmp_path, baud=921600), options)
    params = embedded_params(monkeypatch, config)
    assert params["baud"] == ESPTOOL_DEFAULT_BAUD and params["port"] == "/dev/ttyUSB0"
    assert hil_fixtures.firmware_baud(config, config.stash[HIL_STATE], "esp32") == 921600  # kept for the port


def test_the_firmware_rate_comes_from_the_command_line_then_bench_toml(tmp_path):
    firmware_baud = hil_fixtures.firmware_baud
    assert firmware_baud(FakeConfig(state(tmp_path, 460800), {"baud": 921600}), state(tmp_path, 460800),
                         "esp32") == 921600
    assert firmware_baud(FakeConfig(state(tmp_path, 460800), {}), state(tmp_path, 460800), "esp32") == 460800
    assert firmware_baud(FakeConfig(state(tmp_path, None), {}), state(tmp_path, None), "esp32") == ESPTOOL_DEFAULT_BAUD


def test_the_port_switches_to_the_firmware_rate_then_the_board_resets():
    events = []

    class Port:
        def __setattr__(self, name, value):
            events.append((name, value))

    serial = SimpleNamespace(proc=Port(), hard_reset=lambda: events.append(("hard_reset",)))
    hil_fixtures.use_firmware_baud(serial, 921600)
    assert events == [("baudrate", 921600), ("hard_reset",)]
