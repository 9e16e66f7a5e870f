"""Baseline: the committed figures a run is compared with (reports/baseline.json).

An entry means the same thing on every machine. It is keyed by what its figures depend
on: the dataset fingerprint, the test split, the architecture, the variant, the source,
and the target only for target-dependent figures (ANY_TARGET otherwise). Beside the
figures it records the artifact's sha256, the build key (every input of the build: recipe
code and parameters, parent, data, seed, library versions), the training platform and the
per-sample correctness of the test split, so that compare.py can tell "same bytes" from
"retrained elsewhere" and pair accuracy on the same samples. A baseline holds entries for
any number of datasets and architectures; a run is only ever compared with its own.

pytest-regressions' habits: a missing baseline is reported (and only written on request),
writes are atomic and locked, an "obtained" file can be written beside the expected one.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from vocabulary.metrics import ACCURACY, ARENA_BYTES, baseline_metrics, target_independent
from vocabulary.records import LIBRARY_NAMES, ResultRecord

FORMAT_VERSION = 2
ANY_TARGET = "*"
#: Figures that do not depend on the target, per source: judged and stored once per variant.
#: Host TFLM runs one 64-bit build whatever the target; a board measures on its own chip.
TARGET_INDEPENDENT = target_independent()  # vocabulary.metrics: the rows' target_independent_on
#: Every figure a baseline stores and compares (the rows with a default tolerance).
BASELINE_METRICS = baseline_metrics()
#: Libraries whose versions change the figures; recorded in run meta.
DEFAULT_LIBRARIES = LIBRARY_NAMES
#: Board settings a chip figure depends on; a run on other settings is not compared with it.
#: tflm_version / esp_nn_version: the esp-tflite-micro and esp-nn components the firmware
#: links (firmware/main/idf_component.yml pins them; None where there is none).
CONDITION_KEYS = ("platform", "engine", "esp_nn", "tflm_version", "esp_nn_version", "clock_mhz")

#: (dataset_fingerprint, test_split, architecture, variant, source, target)
Key = tuple[str, str, str, str, str, str]
Context = tuple[str, str, str]


class BaselineError(ValueError):
    """The baseline file or a tolerance is unusable, or a write was refused."""


def metrics_for(source: str, scope: str) -> tuple[str, ...]:
    """The metrics one item judges: scope "variant" (once per variant), "target" (per
    target) or "all"."""
    independent = TARGET_INDEPENDENT.get(source, ())
    if scope == "variant":
        return independent
    if scope == "target":
        return tuple(m for m in BASELINE_METRICS if m not in independent)
    return BASELINE_METRICS


def context_of(record: ResultRecord) -> Context:
    """What a record's figures depend on beyond the variant: data, split and architecture."""
    p = record.provenance
    return (p.get("dataset_fingerprint") or "", p.get("test_split") or "", p.get("architecture") or "")


def key_of(record: ResultRecord, metric: str) -> Key:
    target = ANY_TARGET if metric in TARGET_INDEPENDENT.get(record.source, ()) else record.target
    return (*context_of(record), record.variant, record.source, target)


def describe_context(context: Context) -> str:
    fingerprint, split, architecture = context
    return f"dataset {fingerprint[:12] or '?'}, test split {split[:12] or '?'}, architecture {architecture or '?'}"


@dataclass
class Baseline:
    path: Path
    meta: dict[str, Any]
    entries: dict[Key, dict[str, Any]]

    def contexts(self) -> set[Context]:
        return {k[:3] for k in self.entries}

    def has_context(self, context: Context) -> bool:
        return context in self.contexts()


def baseline_figures(baseline: Baseline | None, record: ResultRecord) -> dict[str, Any]:
    """metric -> the baseline's figure for this record (for messages), or {}."""
    if baseline is None:
        return {}
    figures: dict[str, Any] = {}
    for metric in BASELINE_METRICS:
        entry = baseline.entries.get(key_of(record, metric))
        if entry and metric in entry.get("metrics", {}):
            figures[metric] = entry["metrics"][metric]
    return figures


def _entry_key(entry: Mapping[str, Any]) -> Key:
    return (entry["dataset_fingerprint"], entry["test_split"], entry["architecture"], entry["variant"],
            entry["source"], entry["target"])


def rewrite_command(path: Path) -> str:
    return (f"pytest -m host --baseline {path} --update-baseline --baseline-reason \"rewrite in format "
            f"{FORMAT_VERSION}\" (and pytest -m hil --virtual ... for virtual-board entries)")


def load_baseline(path: str | os.PathLike[str]) -> Baseline | None:
    """The baseline at `path`, or None when there is none yet."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or "results" not in data or "meta" not in data:
        raise BaselineError(f"{path}: expected an object with 'meta' and 'results'")
    version = data["meta"].get("format")
    if version != FORMAT_VERSION:
        raise BaselineError(
            f"{path}: baseline format {version}, this harness reads format {FORMAT_VERSION}. Format 1 "
            f"lacks the per-sample correctness and artifact hashes that comparisons across machines "
            f"need, so it cannot be migrated; rewrite it from a full run: {rewrite_command(path)}")
    entries: dict[Key, dict[str, Any]] = {}
    for i, entry in enumerate(data["results"]):
        try:
            entries[_entry_key(entry)] = entry
        except (KeyError, TypeError):
            raise BaselineError(f"{path}: results[{i}] lacks dataset_fingerprint/test_split/architecture/"
                                f"variant/source/target") from None
    return Baseline(path, data["meta"], entries)


def entries_from_records(records: Iterable[ResultRecord], created: str) -> dict[Key, dict[str, Any]]:
    """Baseline entries from a run's records: target-independent figures once per variant
    (from its first record), the rest per target. Records with an error are left out."""
    entries: dict[Key, dict[str, Any]] = {}
    for record in records:
        if record.error:
            continue
        for scope in ("variant", "target"):
            metrics = metrics_for(record.source, scope)
            if not metrics:
                continue
            key = key_of(record, metrics[0])
            if key in entries:
                continue
            entries[key] = _entry(record, key, metrics, created)
    return entries


def _entry(record: ResultRecord, key: Key, metrics: Iterable[str], created: str) -> dict[str, Any]:
    figures = {}
    for metric in metrics:
        value = getattr(record, metric)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            figures[metric] = value
    p = record.provenance
    entry: dict[str, Any] = dict(zip(("dataset_fingerprint", "test_split", "architecture", "variant", "source",
                                      "target"), key, strict=True))
    entry.update(metrics=figures, updated=created, model_sha256=record.model_sha256,
                 build_key=p.get("build_key"), architecture_hash=p.get("architecture_hash"),
                 training_platform=p.get("training_platform"))
    if ACCURACY.name in metrics:
        entry.update(test_samples=record.test_samples, correct_bitmap=record.correct_bitmap,
                     per_class_accuracy=dict(record.per_class_accuracy))
    if record.arena_source and ARENA_BYTES.name in figures:
        entry["arena_source"] = record.arena_source
    board = record.extra.get("board") or {}
    if board:
        entry["conditions"] = {k: board.get(k) for k in CONDITION_KEYS}
    return entry


def run_meta(dataset_fingerprint: str | None,
             libraries: Iterable[str] = DEFAULT_LIBRARIES,
             repo_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Versions, dataset fingerprint and git commit of this run: what like-for-like checks."""
    versions: dict[str, str] = {}
    for lib in libraries:
        try:
            versions[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {"versions": versions, "dataset_fingerprint": dataset_fingerprint,
            "git_commit": _git_commit(repo_dir)}


def write_baseline(path: str | os.PathLike[str], records: Iterable[ResultRecord],
                   meta: Mapping[str, Any] | None, reason: str | None, complete: bool,
                   merge: bool = True) -> Path:
    """Write the baseline atomically (temp file + os.replace, under a lock).

    Refused when the run is incomplete (`complete` False: an interrupted or filtered run
    must not become the reference) or when `reason` is empty (an accepted change needs a
    reviewed reason). With merge, entries of other datasets, architectures and sources are
    kept as they were; those of a (dataset, architecture, source) this run measured are
    replaced as a whole. Records that carry an error are left out and listed in
    meta["not_measured"].
    """
    path = Path(path)
    if not complete:
        raise BaselineError(
            f"refusing to write baseline {path}: the run is incomplete (interrupted, "
            f"filtered or with failures), so it cannot become the reference; rerun the "
            f"full selection, then update the baseline")
    if not reason or not reason.strip():
        raise BaselineError(f"refusing to write baseline {path}: give a reason for the "
                            f"update (it is recorded in meta.reason and reviewed)")
    records = list(records)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with _lock_for(path):
        try:
            previous = load_baseline(path) if merge else None
        except BaselineError:
            previous = None  # an old format is replaced by this complete run
        new = entries_from_records(records, created)
        replaced = {(*k[:3], k[4]) for k in new}
        entries = {k: v for k, v in (previous.entries if previous else {}).items()
                   if (*k[:3], k[4]) not in replaced}
        entries.update(new)
        full_meta = dict(meta or {})
        full_meta.update(created=created, reason=reason.strip(), format=FORMAT_VERSION)
        full_meta.setdefault("git_commit", _git_commit(path.parent))
        full_meta["not_measured"] = sorted("/".join(r.key) for r in records if r.error)
        _atomic_write_json(path, {"meta": full_meta, "results": [entries[k] for k in sorted(entries)]})
    return path


def write_obtained(path: str | os.PathLike[str], records: Iterable[ResultRecord],
                   meta: Mapping[str, Any] | None) -> Path:
    """pytest-regressions' "obtained" file: this run's figures in baseline form, beside
    the baseline (baseline.obtained.json), to diff or copy over after review."""
    path = Path(path)
    obtained = path.with_name(path.stem + ".obtained" + path.suffix)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    entries = entries_from_records(sorted(records, key=lambda r: r.key), created)
    _atomic_write_json(obtained, {"meta": {**(meta or {}), "created": created,
                                           "format": FORMAT_VERSION, "obtained": True},
                                  "results": [entries[k] for k in sorted(entries)]})
    return obtained


def _lock_for(path: Path) -> FileLock:
    # The lock lives in the temp dir so no stray .lock file appears in the repository.
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return FileLock(os.path.join(tempfile.gettempdir(), f"baseline-{digest}.lock"))


def _atomic_write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would follow the file into the repository
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _git_commit(repo_dir: str | os.PathLike[str] | None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_dir or None,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
