"""The artifact cache: hits, atomic installs, kill -9 safety, one build per key under concurrency."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from model_builders.cache import ArtifactCache, cache_key

ROOT = Path(__file__).resolve().parent.parent


def writer(text: str, calls: list | None = None):
    def build(out: Path) -> dict:
        if calls is not None:
            calls.append(text)
        (out / "model.tflite").write_text(text)
        return {"text": text}

    return build


def test_key_is_stable_and_sensitive_to_every_field():
    material = {"recipe": "ptq_int8", "params": {"a": 1, "b": [1, 2]}, "seed": 7}
    assert cache_key(material) == cache_key(dict(reversed(list(material.items()))))
    assert cache_key({**material, "seed": 8}) != cache_key(material)
    assert cache_key({**material, "params": {"a": 1, "b": [2, 1]}}) != cache_key(material)


def test_second_request_is_a_hit_and_rebuild_forces(tmp_path):
    cache, calls = ArtifactCache(tmp_path), []
    first, hit1 = cache.get_or_build("k", {}, writer("one", calls))
    second, hit2 = cache.get_or_build("k", {}, writer("two", calls))
    assert (hit1, hit2) == (False, True) and calls == ["one"]
    assert (second / "model.tflite").read_text() == "one"
    third, hit3 = cache.get_or_build("k", {}, writer("three", calls), rebuild=True)
    assert not hit3 and (third / "model.tflite").read_text() == "three"
    assert not list(tmp_path.glob(".old-*")) and not list(tmp_path.glob(".tmp-*"))


def test_failed_build_leaves_nothing_trusted(tmp_path):
    cache = ArtifactCache(tmp_path)

    def failing(out: Path) -> dict:
        (out / "model.tflite").write_text("half")
        raise RuntimeError("converter exploded")

    with pytest.raises(RuntimeError):
        cache.get_or_build("k", {}, failing)
    assert cache.lookup("k") is None and not list(tmp_path.glob(".tmp-*"))


SLOW_BUILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from model_builders.cache import ArtifactCache
    def build(out):
        (out / "model.tflite").write_text("partial")
        Path({marker!r}).write_text("started")
        time.sleep({sleep})
        (out / "model.tflite").write_text("complete")
        with open({calls!r}, "a") as f:
            f.write("built\\n")
        return {{}}
    ArtifactCache(Path({cache!r})).get_or_build("key", {{}}, build)
""")


def start_builder(tmp_path: Path, sleep: float, tag: str) -> subprocess.Popen:
    script = SLOW_BUILD.format(root=str(ROOT), marker=str(tmp_path / f"started-{tag}"), sleep=sleep,
                               calls=str(tmp_path / "calls.txt"), cache=str(tmp_path / "cache"))
    return subprocess.Popen([sys.executable, "-c", script])


def wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_kill_9_mid_build_leaves_no_half_written_artifact(tmp_path):
    proc = start_builder(tmp_path, sleep=30, tag="a")
    wait_for(tmp_path / "started-a")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cache = ArtifactCache(tmp_path / "cache")
    assert cache.lookup("key") is None  # the partial build is not trusted
    assert list((tmp_path / "cache").glob(".tmp-key-*"))  # it is there, but only as a temp dir
    path, hit = cache.get_or_build("key", {}, writer("fresh"))
    assert not hit and (path / "model.tflite").read_text() == "fresh"
    assert not list((tmp_path / "cache").glob(".tmp-key-*"))  # stale temp dir cleaned under the lock


def test_concurrent_builders_build_once(tmp_path):
    procs = [start_builder(tmp_path, sleep=1.0, tag=str(i)) for i in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert (tmp_path / "calls.txt").read_text().splitlines() == ["built"]
    assert (ArtifactCache(tmp_path / "cache").lookup("key") / "model.tflite").read_text() == "complete"
