"""pytest plugin: dataset and build options, and the session fixtures that build variants.

Options have ini twins (`--variants` / `variants =`), parsed by type callables that raise a
clear usage error. Building happens once per session, on --build-jobs worker processes;
under pytest-xdist once per xdist worker, each with the cores divided among the workers,
and the per-key cache locks keep them from building anything twice.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from .pipeline import (BuildConfig, BuildFailed, BuildSession, BuiltVariant, PreparedData, build_variants,
                       default_build_jobs, write_builds_csv)
from .timing import phase
from .variants import RECIPES

BUILD_SESSION = pytest.StashKey[BuildSession]()


def parse_variants(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise pytest.UsageError(f"--variants: unknown variant(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    return names


def parse_window(value: str) -> int:
    try:
        window = int(value)
    except ValueError:
        raise pytest.UsageError(f"--window: '{value}' is not an integer") from None
    if window < 1:
        raise pytest.UsageError(f"--window: must be at least 1, got {window}")
    return window


def parse_build_jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        raise pytest.UsageError(f"--build-jobs: '{value}' is not an integer") from None
    if jobs < 1:
        raise pytest.UsageError(f"--build-jobs: must be at least 1, got {jobs}")
    return jobs


def build_jobs(config: pytest.Config) -> int:
    """--build-jobs, else the ini's build_jobs, else the cores shared among xdist workers."""
    value = config.getoption("build_jobs") or (parse_build_jobs(config.getini("build_jobs"))
                                                if config.getini("build_jobs") else None)
    return value or default_build_jobs()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tinyml", "TinyML harness: data and model variants")
    group.addoption("--dataset", help="dataset directory <root>/<class>/*.npy, or 'basicmotions' (default: built-in synthetic gestures)")
    group.addoption("--window", type=parse_window, help="timesteps per sample (default: the most common sample length)")
    group.addoption("--variants", type=parse_variants, help=f"comma-separated variants to build and test (default: all: {', '.join(RECIPES)})")
    group.addoption("--rebuild", action="store_true", default=False, help="ignore the artifact cache and rebuild every variant")
    group.addoption("--seed", type=int, default=None, help="seed for the built-in data, the split and training (default 7)")
    group.addoption("--training-seed", type=int, default=None,
                    help="seed for training alone (default: --seed); retrains on the same data and split")
    group.addoption("--architecture", default="reference_cnn",
                    help="registered model architecture (model_builders.architectures.register_architecture)")
    group.addoption("--build-jobs", type=parse_build_jobs, default=None, metavar="N",
                    help="variants built at once, each in its own worker process (default: the cores, divided "
                         "among pytest-xdist workers; 1: one after another)")
    parser.addini("variants", "default for --variants", default="")
    parser.addini("build_jobs", "default for --build-jobs", default="")
    parser.addini("dataset", "default for --dataset", default="")


def build_config_from(config: pytest.Config) -> BuildConfig:
    variants = config.getoption("variants") or (parse_variants(config.getini("variants")) if config.getini("variants") else None)
    dataset = config.getoption("dataset") or config.getini("dataset") or None
    if dataset and dataset != "basicmotions" and not Path(dataset).is_dir():
        raise pytest.UsageError(f"--dataset: {dataset} is not a directory (expected <root>/<class>/*.npy) or 'basicmotions'")
    seed = config.getoption("seed")
    training_seed = config.getoption("training_seed")
    from .architectures import get_architecture

    try:
        get_architecture(config.getoption("architecture"))
    except KeyError as exc:
        raise pytest.UsageError(f"--architecture: {exc.args[0]}") from None
    return BuildConfig(dataset=dataset, window=config.getoption("window"), variants=variants,
                       architecture=config.getoption("architecture"),
                       rebuild=config.getoption("rebuild"), training_seed=training_seed,
                       **({"seed": seed} if seed is not None else {}))


def selected_variant_names(config: pytest.Config) -> list[str]:
    """Variant names at collection time, before anything is built (float32 always included)."""
    from .variants import resolve_variants

    return resolve_variants(build_config_from(config).variants)


def _progress(config: pytest.Config):
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def show(message: str) -> None:
        if reporter is None:
            return
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"[build] {message}")
        else:
            reporter.write_line(f"[build] {message}")

    return show


@pytest.fixture(scope="session")
def build_session(pytestconfig: pytest.Config) -> BuildSession:
    """Every selected variant, built or fetched from the cache; builds.csv written."""
    if BUILD_SESSION not in pytestconfig.stash:
        try:
            with phase("build_session"):
                session = build_variants(build_config_from(pytestconfig), progress=_progress(pytestconfig),
                                         jobs=build_jobs(pytestconfig))
        except BuildFailed as exc:
            if "float32" not in exc.session.variants:
                raise  # every measurement is relative to float32: nothing to test
            session = exc.session  # the others are tested; the failed ones fail by name (built_variant)
        write_builds_csv(session, pytestconfig.getoption("report_dir") / "builds.csv")
        pytestconfig.stash[BUILD_SESSION] = session
    return pytestconfig.stash[BUILD_SESSION]


@pytest.fixture(scope="session")
def prepared_data(build_session: BuildSession) -> PreparedData:
    return build_session.data


@pytest.fixture(scope="session")
def built_variants(build_session: BuildSession) -> dict[str, BuiltVariant]:
    """The variants that were built (a variant whose recipe failed is missing: see built_variant)."""
    return build_session.variants


@pytest.fixture(scope="session")
def built_variant(build_session: BuildSession):
    """built_variant(name): that variant, or the test fails with the error its recipe raised."""

    def get(name: str) -> BuiltVariant:
        if name in build_session.failures:
            pytest.fail(f"{name} was not built: {build_session.failures[name]}", pytrace=False)
        return build_session.variants[name]

    return get
