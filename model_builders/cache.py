"""Content-addressed artifact cache with atomic writes and a lock per key.

An artifact is a directory named by the sha256 of everything that determines it. It is
built in a temporary sibling directory and renamed into place only when complete, so a
kill -9 at any moment leaves either the old state or the complete artifact, never a
half-written one that a later run would trust. A file lock per key makes concurrent runs
and pytest-xdist workers wait for each other instead of building the same thing twice.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from vocabulary.locations import writable_root

DEFAULT_CACHE_DIR = Path(os.environ.get("TINYML_CACHE_DIR", writable_root() / ".cache" / "artifacts"))
COMPLETE_MARKER = "meta.json"  # written last inside the temporary directory


class ArtifactBusy(Exception):
    """Another process holds this key's lock (raised only when the caller asked not to wait)."""


def cache_key(material: dict[str, Any]) -> str:
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ArtifactCache:
    def __init__(self, root: Path = DEFAULT_CACHE_DIR):
        self.root = Path(root)
        (self.root / ".locks").mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / key

    def lookup(self, key: str) -> Path | None:
        """The artifact directory if it is complete, else None (no lock needed: rename is atomic)."""
        directory = self.path(key)
        return directory if (directory / COMPLETE_MARKER).is_file() else None

    def get_or_build(self, key: str, material: dict[str, Any], build: Callable[[Path], dict], *,
                     rebuild: bool = False, wait: bool = True) -> tuple[Path, bool]:
        """Return (artifact directory, cache_hit). `build(tmp_dir)` writes files and returns metadata.

        wait=False raises ArtifactBusy at once when another process is building this key,
        so a scheduler can build something else first and come back (then with wait=True)."""
        if not rebuild and (hit := self.lookup(key)):
            return hit, True
        lock = FileLock(str(self.root / ".locks" / f"{key}.lock"))
        try:
            lock.acquire(timeout=-1 if wait else 0)
        except Timeout:
            raise ArtifactBusy(key) from None
        try:
            return self._build_locked(key, material, build, rebuild)
        finally:
            lock.release()

    def _build_locked(self, key: str, material: dict[str, Any], build: Callable[[Path], dict],
                      rebuild: bool) -> tuple[Path, bool]:
        if not rebuild and (hit := self.lookup(key)):
            return hit, True  # another process built it while we waited
        for stale in self.root.glob(f".tmp-{key}-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed build of this key
        tmp = self.root / f".tmp-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            meta = build(tmp)
            meta = {**meta, "key": key, "key_material": material}
            _write_synced(tmp / COMPLETE_MARKER, json.dumps(meta, indent=2, sort_keys=True, default=str))
            for file in tmp.iterdir():
                _fsync_file(file)
            _fsync_dir(tmp)
            self._install(tmp, key)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.path(key), False

    def _install(self, tmp: Path, key: str) -> None:
        final = self.path(key)
        old = None
        if final.exists():  # --rebuild: move the old one aside first; a crash here means "rebuild next time"
            old = self.root / f".old-{key}-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
        os.rename(tmp, final)
        _fsync_dir(self.root)
        if old:
            shutil.rmtree(old, ignore_errors=True)


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_file(path: Path) -> None:
    if path.is_file():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
