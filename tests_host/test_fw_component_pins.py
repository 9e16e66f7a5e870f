"""The firmware under measurement is pinned: main/idf_component.yml names one exact version of
esp-tflite-micro and of esp-nn (a range such as ^1.3.7 resolves to whatever is newest on the
day of the build, and firmware/dependencies.lock is not committed), and the docs name the
same versions."""
from __future__ import annotations

import re

from targets.board.fw_host import FIRMWARE_DIR

MANIFEST = FIRMWARE_DIR / "main" / "idf_component.yml"
PINNED = ("espressif/esp-tflite-micro", "espressif/esp-nn")


def manifest_versions(text: str) -> dict[str, str]:
    """dependency -> its version spec, from the manifest's `dependencies:` block (the file
    keeps to `name:` / `version: "..."` pairs, so no YAML parser is needed)."""
    specs: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        dep = re.match(r"^  ([\w./-]+):\s*$", line)
        if dep:
            name = dep.group(1)
            continue
        spec = re.match(r"""^    version:\s*["']?([^"'#]+?)["']?\s*(#.*)?$""", line)
        if spec and name:
            specs[name] = spec.group(1).strip()
    return specs


def exact_pin(spec: str) -> str | None:
    """The version an exact pin names ("==1.4.0" or a bare "1.4.0"), else None."""
    found = re.fullmatch(r"(?:==)?\s*(\d+\.\d+\.\d+(?:~\d+)?)", spec)
    return found.group(1) if found else None


def pins() -> dict[str, str | None]:
    specs = manifest_versions(MANIFEST.read_text())
    return {name: exact_pin(specs.get(name, "")) for name in PINNED}


def test_tflite_micro_and_esp_nn_are_pinned_exactly():
    assert all(pins().values()), (pins(), manifest_versions(MANIFEST.read_text()))


def test_a_range_is_not_taken_for_a_pin():
    assert manifest_versions('dependencies:\n  espressif/esp-tflite-micro:\n    version: "^1.3.7"\n') == {
        "espressif/esp-tflite-micro": "^1.3.7"}
    assert [exact_pin(s) for s in ("^1.3.7", ">=1.1.1", "~1.4.0", "==1.4.0", "1.2.3")] == [
        None, None, None, "1.4.0", "1.2.3"]


def test_the_firmware_readme_names_the_pinned_versions():
    readme = (FIRMWARE_DIR / "README.md").read_text()
    for name, version in pins().items():
        assert f"{name.split('/')[1]} {version}" in readme, (name, version)
