"""The rootdir, decided again once the harness's options are known.

pytest picks the rootdir and the ini file before installed plugins add their options, so
in `pytest -m host --dataset /data/elsewhere` it takes /data/elsewhere for a test path:
the rootdir becomes that folder (or a project above it), and the project's pytest.ini,
testpaths and addopts are never read. With every option known, the same rule gives the
answer the user meant; when it differs, this module applies it before any conftest loads.
It touches a few private attributes of pytest's Config (pytest is pinned to 9.x), in this
one place.
"""
from __future__ import annotations

import copy

import pytest
from _pytest.config.findpaths import determine_setup


def redecide_rootdir(config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    known = parser.parse_known_args(list(args), namespace=copy.copy(config.option))
    rootpath, inipath, inicfg, ignored = determine_setup(
        inifile=known.inifilename, override_ini=known.override_ini, args=known.file_or_dir,
        rootdir_cmd_arg=known.rootdir or None, invocation_dir=config.invocation_params.dir)
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return
    stale = list(config.getini("addopts"))  # the wrong ini's addopts lead args
    if stale and args[:len(stale)] == stale:
        del args[:len(stale)]
    config._rootpath, config._inipath = rootpath, inipath
    config._inicfg, config._ignored_config_files = inicfg, ignored
    config._inicache.clear()
    config._parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
    args[:0] = config._validate_args(config.getini("addopts"), "via addopts config")
    confcutdir = known.confcutdir
    config.known_args_namespace = parser.parse_known_args(args, namespace=copy.copy(config.option))
    config.known_args_namespace.confcutdir = confcutdir or str(inipath.parent if inipath else rootpath)
