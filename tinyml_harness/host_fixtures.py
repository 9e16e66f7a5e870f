"""pytest plugin: variant x target parametrization, bring-your-own models, host evaluation.

`target` is pytest-embedded's own fixture; we only parametrize it indirectly (as
pytest-embedded-idf's idf_parametrize does), for tests that name `target` in their
signature. Which targets: pytest-embedded's `--target` (unset, `auto` or `all`: every
target in the registry; `a` or `a,b`: those); `-k` picks subsets, since ids carry the
target (`qat_int8-esp32s3`). Hardware tests (`hil` marker) are parametrized by
tinyml_harness.hil_fixtures instead, together with the port and build directory of each board.
"""
from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from targets.cost.registry import (
    TargetProfile,
    TargetRegistryError,
    UnknownTargetError,
    load_targets,
    select_targets,
)
from vocabulary.sources import HIL_MARKER

if TYPE_CHECKING:
    from targets.measure.host import HostMeasurements

TARGETS = pytest.StashKey[dict[str, TargetProfile]]()
MEASUREMENTS = pytest.StashKey["HostMeasurements"]()
PREFETCH = pytest.StashKey[bool]()  # a collected test measures built variants on the host


@dataclass(frozen=True)
class ExternalModel:
    """A .tflite the harness did not build (--model); its rows carry the file's stem."""

    name: str
    path: Path

    @property
    def tflite_bytes(self) -> bytes:
        return self.path.read_bytes()


def pytest_configure(config: pytest.Config) -> None:
    selected_targets(config)  # an unknown --target is one usage error, before collection


def target_registry(config: pytest.Config) -> dict[str, TargetProfile]:
    """The target registry, loaded once per run (whichever plugin asks first)."""
    if TARGETS not in config.stash:
        from tinyml_harness.plugin import settings

        try:
            config.stash[TARGETS] = load_targets(overlay=settings(config).targets_file)
        except TargetRegistryError as exc:  # names the file and the field
            raise pytest.UsageError(f"target registry: {exc}") from None
    return config.stash[TARGETS]


def selected_targets(config: pytest.Config, known: Iterable[str] | None = None) -> list[str]:
    """pytest-embedded's --target among `known` (default: every registry target); a name
    that is not there is a usage error listing the known ones."""
    try:
        return select_targets(config.getoption("target", None),
                              list(target_registry(config) if known is None else known))
    except UnknownTargetError as exc:
        raise pytest.UsageError(str(exc)) from None


def external_models(config: pytest.Config) -> list[ExternalModel]:
    from model_builders.variants import RECIPES
    from tinyml_harness.plugin import settings

    models: list[ExternalModel] = []
    for path in settings(config).models:
        if path.stem in RECIPES or path.stem in [m.name for m in models]:
            raise pytest.UsageError(f"--model {path}: the name '{path.stem}' is already taken; rename the file")
        models.append(ExternalModel(path.stem, path))
    return models


def _signature(metafunc: pytest.Metafunc) -> set[str]:
    return set(inspect.signature(metafunc.function).parameters)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    from tinyml_harness.build_fixtures import selected_variant_names

    wanted = _signature(metafunc)
    if "variant" in wanted:
        names = selected_variant_names(metafunc.config) + [m.name for m in external_models(metafunc.config)]
        metafunc.parametrize("variant", names)
    hardware = metafunc.definition.get_closest_marker(HIL_MARKER) is not None
    if "target" in wanted and not hardware and not _already_parametrized(metafunc, "target"):
        metafunc.parametrize("target", selected_targets(metafunc.config), indirect=True)


def _already_parametrized(metafunc: pytest.Metafunc, name: str) -> bool:
    return any(name in marker.args[0] for marker in metafunc.definition.iter_markers("parametrize"))


@pytest.fixture(scope="session")
def target_profiles(pytestconfig: pytest.Config) -> dict[str, TargetProfile]:
    return target_registry(pytestconfig)


@pytest.fixture
def target_profile(target: str, target_profiles: dict[str, TargetProfile]) -> TargetProfile:
    return target_profiles[target]


@pytest.fixture(scope="session")
def external_model_files(pytestconfig: pytest.Config) -> dict[str, ExternalModel]:
    return {m.name: m for m in external_models(pytestconfig)}


def _measurements(config: pytest.Config, data: Any) -> HostMeasurements:
    """The run's one HostMeasurements (made by the first of the fixture and the prefetch)."""
    if MEASUREMENTS not in config.stash:
        from targets.measure.host import HostMeasurements
        from tinyml_harness.plugin import settings

        config.stash[MEASUREMENTS] = HostMeasurements(
            data.x_test, data.y_test, class_names=data.class_names,
            ops_file=settings(config).ops_file, cache_dir=settings(config).artifact_cache)
    return config.stash[MEASUREMENTS]


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[PREFETCH] = any("host_measurements" in getattr(item, "fixturenames", ())
                                         for item in session.items)


def pytest_tinyml_variant_built(config: pytest.Config, variant: Any, data: Any) -> None:
    """Evaluate each variant on host TFLM as soon as it exists, while the others build
    (only when a collected test will ask for it)."""
    if config.stash.get(PREFETCH, False):
        _measurements(config, data).prefetch(variant, int8_required=variant.recipe.int8_io)


def pytest_unconfigure(config: pytest.Config) -> None:
    if MEASUREMENTS in config.stash:
        config.stash[MEASUREMENTS].close()


@pytest.fixture(scope="session")
def host_measurements(prepared_data, pytestconfig: pytest.Config) -> HostMeasurements:
    """Each model measured once on host TFLM (accuracy, arena, bit-exactness), on demand
    or already, when it was prefetched as it was built."""
    return _measurements(pytestconfig, prepared_data)
