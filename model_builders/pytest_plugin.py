"""pytest plugin: dataset and build options, and the session fixtures that build variants.

Options have ini twins (`--variants` / `variants =`), parsed by type callables that raise a
clear usage error. Building happens once per session (per xdist worker, the cache lock
makes workers wait for each other rather than build twice).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from .pipeline import BuildConfig, BuildSession, PreparedData, BuiltVariant, build_variants, write_builds_csv
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
    parser.addini("variants", "default for --variants", default="")
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
        session = build_variants(build_config_from(pytestconfig), progress=_progress(pytestconfig))
        write_builds_csv(session, pytestconfig.getoption("report_dir") / "builds.csv")
        pytestconfig.stash[BUILD_SESSION] = session
    return pytestconfig.stash[BUILD_SESSION]


@pytest.fixture(scope="session")
def prepared_data(build_session: BuildSession) -> PreparedData:
    return build_session.data


@pytest.fixture(scope="session")
def built_variants(build_session: BuildSession) -> dict[str, BuiltVariant]:
    return build_session.variants
