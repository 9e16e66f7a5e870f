"""Where the harness's own files are: in a checkout, or installed from a wheel.

The Python side reads files of the firmware's source tree (the protocol vocabulary, the
registered op list, the sdkconfig defaults) and builds the firmware's portable core for the
host. In a checkout (an editable install, or PYTHONPATH) they are next to the code; a wheel
installs the same tree as the data-only package `tinyml_firmware` (pyproject.toml maps it
to firmware/). Checkout first, so that a worktree on PYTHONPATH reads its own firmware.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

_NEXT_TO_THE_CODE = Path(__file__).resolve().parents[1]
INSTALLED_FIRMWARE_PACKAGE = "tinyml_firmware"


def checkout_root() -> Path | None:
    """The repository the code runs from, or None when it runs from an installed wheel."""
    if (_NEXT_TO_THE_CODE / "firmware" / "core" / "protocol_vocabulary.def").is_file():
        return _NEXT_TO_THE_CODE
    return None


def firmware_dir() -> Path:
    """The firmware's source tree (firmware/ in a checkout)."""
    root = checkout_root()
    if root is not None:
        return root / "firmware"
    spec = importlib.util.find_spec(INSTALLED_FIRMWARE_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        if (Path(location) / "core" / "protocol_vocabulary.def").is_file():
            return Path(location)
    raise FileNotFoundError(
        f"the harness's firmware sources are missing: no firmware/ next to {_NEXT_TO_THE_CODE} and no installed "
        f"'{INSTALLED_FIRMWARE_PACKAGE}' package; reinstall tinyml-hil-harness (pip install -e . from a checkout, "
        "or its wheel)")


def writable_root() -> Path:
    """Where the harness keeps what it builds for itself when no option says where (the
    host build of the firmware core, the default artifact cache): the checkout, or else
    the current directory, never the installed package."""
    return checkout_root() or Path.cwd()
