"""The harness's HIL gate on this project's model and data: each variant on each target's
board. The plugin's `hil` marker is on the test itself, so `pytest -m hil --virtual`
(virtual boards: emulated figures) or `pytest -m hil --target esp32s3 --port /dev/ttyACM0`
(a real board, flashed with the harness's firmware) selects it; plain `pytest` leaves it
out (pytest.ini's addopts)."""
from tinyml_harness.hil_gate import test_variant_on_board  # noqa: F401
