"""pytest plugin: dataset and build options, and the session fixtures that build variants.

Options are tinyml_harness.plugin's (each with an ini twin). Building happens once per
session, on --build-jobs worker processes; under pytest-xdist once per xdist worker, each with
the cores divided among the workers, and the per-key cache locks keep them from building
anything twice.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import threading

import pytest

from model_builders.pipeline import (
    BuildConfig,
    BuildFailed,
    BuildSession,
    BuiltVariant,
    PreparedData,
    build_variants,
    default_build_jobs,
    needs_build,
    write_builds_csv,
)
from model_builders.timing import phase

BUILD_SESSION = pytest.StashKey[BuildSession]()
EARLY_SERVER = pytest.StashKey[bool]()
COUNTED = pytest.StashKey[bool]()  # this run is counted in _open_runs
#: pytest runs configured in this process and not yet unconfigured: more than one while a run
#: runs another in-process (pytester, pytest.main). The build fork server belongs to the
#: process, so only the outermost run stops it (a nested run must not kill the enclosing one's).
_open_runs = 0
REFERENCE_HOOK = "targets.tflm.evaluate:prime_reference"


def build_jobs(config: pytest.Config) -> int:
    """--build-jobs (or ini build_jobs), else the cores shared among xdist workers."""
    from tinyml_harness.plugin import settings

    return settings(config).build_jobs or default_build_jobs()


def build_config_from(config: pytest.Config) -> BuildConfig:
    """The build configuration of this run, from the harness settings."""
    from model_builders.architectures import get_architecture
    from tinyml_harness.plugin import settings

    options = settings(config)
    try:
        get_architecture(options.architecture)
    except KeyError as exc:
        raise pytest.UsageError(f"--architecture: {exc.args[0]}") from None
    build = BuildConfig(dataset=options.dataset, window=options.window, variants=options.variants,
                        architecture=options.architecture, rebuild=options.rebuild, cache_dir=options.artifact_cache,
                        training_seed=options.training_seed, overrides=options.recipe_params)
    return build if options.seed is None else dataclasses.replace(build, seed=options.seed)


def selected_variant_names(config: pytest.Config) -> list[str]:
    """Variant names at collection time, before anything is built (float32 always included)."""
    from model_builders.variants import resolve_variants

    return resolve_variants(build_config_from(config).variants)


def _xdist(config: pytest.Config) -> bool:
    return bool(os.environ.get("PYTEST_XDIST_WORKER") or getattr(config.option, "numprocesses", None)
                or getattr(config.option, "dist", "no") != "no")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """A cold cache: start the build workers' fork server now, so that its TensorFlow import
    (seconds) overlaps collection instead of delaying the first build. Nothing starts when
    every variant is in the cache (a warm run imports no TensorFlow), nor under xdist or
    --collect-only; pytest_collection_finish stops it when no collected test builds."""
    global _open_runs
    _open_runs += 1
    config.stash[COUNTED] = True
    if config.option.collectonly or getattr(config.option, "help", False) or _xdist(config):
        return
    from model_builders.datasets import DatasetError

    try:
        cold = needs_build(build_config_from(config))
    except DatasetError as exc:  # a bad sample file: one usage error, not one per test item
        raise pytest.UsageError(f"--dataset: {exc}") from None
    except Exception:  # noqa: BLE001 -- bad data or options: the build_session fixture reports them
        return
    if cold:
        from model_builders.scheduler import start_server

        start_server()
        config.stash[EARLY_SERVER] = True


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.stash.get(EARLY_SERVER, False) and _open_runs == 1 and not any(
            "build_session" in getattr(item, "fixturenames", ()) for item in session.items):
        from model_builders.scheduler import stop_server

        stop_server()
        session.config.stash[EARLY_SERVER] = False


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the build fork server now rather than at interpreter exit: it holds TensorFlow,
    whose teardown takes a quarter of a second, and it shares pytest's stdout, so a caller
    reading that pipe (CI, tee) would wait for it. Killing it loses nothing: every build is
    finished and installed by now. The outermost run only (_open_runs)."""
    global _open_runs
    counted = config.stash.get(COUNTED, False)
    others = _open_runs - 1 if counted else _open_runs
    if counted:
        _open_runs -= 1
    if others == 0 and "model_builders.scheduler" in sys.modules:
        from model_builders.scheduler import stop_server

        stop_server()


def _warm_report_imports() -> None:
    """Import what the end of the run needs (matplotlib for the plots, pandas for
    results.csv: about 0.4 s) while the builds run; the single-threaded float32 build
    leaves a core free then, and the run's last step no longer waits for these imports."""
    def work() -> None:
        try:
            import pandas  # noqa: F401

            import reports.plots  # noqa: F401
        except Exception:  # noqa: BLE001 -- an optimisation only: the report imports them again and reports
            pass

    threading.Thread(target=work, name="tinyml-warm-imports", daemon=True).start()


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


def _announce(config: pytest.Config, progress):
    """Call pytest_tinyml_variant_built for each variant as it becomes available. A hook
    that raises is reported with its variant and the builds go on: a listener's bug must
    not throw away the builds still running (the tests that need its work fail instead)."""
    def announce(variant, data) -> None:
        try:
            config.hook.pytest_tinyml_variant_built(config=config, variant=variant, data=data)
        except Exception as exc:  # noqa: BLE001 -- reported by name, the build session goes on
            progress(f"{variant.name}: a pytest_tinyml_variant_built hook raised {type(exc).__name__}: {exc} "
                     "(the builds go on)")

    return announce


def built_session(config: pytest.Config) -> BuildSession | None:
    """The run's build session if a test asked for it (the gate's run metadata reads it)."""
    return config.stash.get(BUILD_SESSION, None)


@pytest.fixture(scope="session")
def build_session(pytestconfig: pytest.Config) -> BuildSession:
    """Every selected variant, built or fetched from the cache; builds.csv written."""
    if BUILD_SESSION not in pytestconfig.stash:
        from tinyml_harness.plugin import settings

        if pytestconfig.stash.get(EARLY_SERVER, False):
            _warm_report_imports()
        try:
            with phase("build_session"):
                # Reference outputs need TensorFlow: computed in the build workers, where it is
                # loaded already, so a cold run never imports it in this process.
                progress = _progress(pytestconfig)
                session = build_variants(build_config_from(pytestconfig), progress=progress,
                                         jobs=build_jobs(pytestconfig), after_build=REFERENCE_HOOK,
                                         on_built=_announce(pytestconfig, progress))
        except BuildFailed as exc:
            if "float32" not in exc.session.variants:
                raise  # every measurement is relative to float32: nothing to test
            session = exc.session  # the others are tested; the failed ones fail by name (require_built)
        write_builds_csv(session, settings(pytestconfig).report_dir / "builds.csv")
        pytestconfig.stash[BUILD_SESSION] = session
    return pytestconfig.stash[BUILD_SESSION]


@pytest.fixture(scope="session")
def prepared_data(build_session: BuildSession) -> PreparedData:
    return build_session.data


@pytest.fixture(scope="session")
def built_variants(build_session: BuildSession) -> dict[str, BuiltVariant]:
    """The variants that were built (a variant whose recipe failed is missing: see require_built)."""
    return build_session.variants


def require_built(session: BuildSession, name: str) -> BuiltVariant:
    """That variant, or the calling test fails naming the error its recipe raised (the
    other variants of a build with a failed recipe are still tested)."""
    if name in session.failures:
        pytest.fail(f"{name} was not built: {session.failures[name]}", pytrace=False)
    return session.variants[name]
