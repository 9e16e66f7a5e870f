"""Baseline: the committed figures a run is compared with, and the comparison itself.

pytest-benchmark's habits: the saved run carries library versions and the dataset
fingerprint beside the figures, a comparison says when two runs are not like for like,
and tolerances read as one token per metric (`arena_bytes:+0`, `latency_us:+5%`).
pytest-regressions' habits: a missing baseline is reported (and only written on request),
writes are atomic and locked, an "obtained" file can be written beside the expected one.

Accuracy is a statistic (see stats.py). For accuracy and accuracy_drop_pp a worsening
beyond tolerance is a regression only when it is significant (exact McNemar on the paired
test samples, p < alpha) or when it exceeds a hard ceiling (hard_ceiling_factor x the
tolerance). Pairing needs, for both runs, flipped_samples (indices whose correctness
differs from float32's) and test_samples, and the same float32 accuracy on that target and
source (so "flipped versus float32" means the same thing in both runs): then the samples
where the two runs differ are exactly the symmetric difference of the two flip sets, and
the net change in correct samples splits them into b (lost) and c (gained). Without
pairing the tolerance alone decides, and the row says why it was unpaired.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from filelock import FileLock

from reports.budgets import format_metric
from reports.records import ResultRecord
from reports.stats import mcnemar_p

FORMAT_VERSION = 1

#: Metrics stored in the baseline and compared, with the default tolerance of each.
DEFAULT_TOLERANCE_TOKENS = (
    "accuracy:-0.5",
    "accuracy_drop_pp:+0.5",
    "model_bytes:+0",
    "gzip_bytes:+2%",
    "arena_bytes:+0",
    "macs:+0",
    "latency_est_us:+5%",
    "latency_us:+5%",
    "flash_bytes:+2%",
)
ACCURACY_METRICS = ("accuracy", "accuracy_drop_pp")
STATUSES = ("ok", "regressed", "improved", "new", "missing")
#: Libraries whose versions change the figures; recorded in run meta.
DEFAULT_LIBRARIES = ("tensorflow", "tf-keras", "tensorflow-model-optimization",
                     "tflite-micro", "numpy")

_TOKEN = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*:\s*([+-])\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


class BaselineError(ValueError):
    """The baseline file or a tolerance is unusable, or a write was refused."""


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may worsen. direction +1: higher is worse (bytes, latency);
    -1: lower is worse (accuracy). amount is absolute, or a percent of the old figure."""

    metric: str
    direction: int
    amount: float
    percent: bool

    def allowed(self, old: float) -> float:
        """The largest worsening (a non-negative number, in the metric's unit) accepted."""
        return abs(old) * self.amount / 100.0 if self.percent else self.amount

    def __str__(self) -> str:
        sign = "+" if self.direction > 0 else "-"
        return f"{self.metric}:{sign}{self.amount:g}{'%' if self.percent else ''}"


def parse_tolerance(token: str) -> Tolerance:
    """Parse `metric:+N`, `metric:-N`, `metric:+N%` or `metric:-N%`."""
    match = _TOKEN.match(token)
    if not match:
        raise BaselineError(
            f"bad tolerance {token!r}: expected metric:+N, metric:-N or metric:+N% "
            f"(e.g. arena_bytes:+0, accuracy:-0.5, latency_us:+5%)")
    metric, sign, amount, percent = match.groups()
    known = [t.split(":")[0] for t in DEFAULT_TOLERANCE_TOKENS]
    if metric not in known:
        raise BaselineError(f"bad tolerance {token!r}: unknown metric {metric!r}; "
                            f"known: {', '.join(known)}")
    return Tolerance(metric, +1 if sign == "+" else -1, float(amount), bool(percent))


def parse_tolerances(tokens: str | Iterable[str] | None = None) -> dict[str, Tolerance]:
    """Defaults overridden by `tokens` (an iterable, or one comma-separated string)."""
    result = {t.metric: t for t in map(parse_tolerance, DEFAULT_TOLERANCE_TOKENS)}
    if isinstance(tokens, str):
        tokens = [t for t in tokens.split(",") if t.strip()]
    for tolerance in map(parse_tolerance, tokens or ()):
        result[tolerance.metric] = tolerance
    return result


BASELINE_METRICS = tuple(t.split(":")[0] for t in DEFAULT_TOLERANCE_TOKENS)
Key = tuple[str, str, str]


@dataclass
class Baseline:
    path: Path
    meta: dict[str, Any]
    entries: dict[Key, dict[str, Any]]


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
    entries: dict[Key, dict[str, Any]] = {}
    for i, entry in enumerate(data["results"]):
        try:
            key = (entry["variant"], entry["target"], entry["source"])
        except (KeyError, TypeError):
            raise BaselineError(f"{path}: results[{i}] lacks variant/target/source") from None
        entries[key] = entry
    return Baseline(path, data["meta"], entries)


@dataclass
class ComparisonRow:
    variant: str
    target: str
    source: str
    metric: str
    old: float | None
    new: float | None
    delta: float | None
    tolerance: str
    status: str  # one of STATUSES
    note: str = ""


@dataclass
class Comparison:
    rows: list[ComparisonRow]
    baseline_path: Path | None
    baseline_missing: bool
    like_for_like: bool | None  # None: the current run's meta was not given
    like_for_like_notes: list[str] = field(default_factory=list)
    baseline_meta: dict[str, Any] = field(default_factory=dict)

    @property
    def regressions(self) -> list[ComparisonRow]:
        return [r for r in self.rows if r.status == "regressed"]

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.rows) for s in STATUSES}

    def headline(self) -> str:
        """One line: what was compared with what, and the outcome."""
        if self.baseline_missing:
            return (f"baseline missing ({self.baseline_path}): every figure is new; write "
                    f"it with --update-baseline and a reason")
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items())
        meta = self.baseline_meta
        origin = f"created {meta.get('created', '?')}, reason: {meta.get('reason', '?')}"
        return f"vs baseline {self.baseline_path} ({origin}): {counts}"

    def like_for_like_line(self) -> str:
        if self.like_for_like is None:
            return "like-for-like: unknown (this run's versions/dataset were not recorded)"
        if self.like_for_like:
            return "like-for-like: yes (same library versions and dataset fingerprint)"
        return "NOT like-for-like: " + "; ".join(self.like_for_like_notes)


def compare(records: Iterable[ResultRecord], baseline: Baseline | None,
            tolerances: Mapping[str, Tolerance] | None = None,
            current_meta: Mapping[str, Any] | None = None,
            alpha: float = 0.05, hard_ceiling_factor: float = 2.0,
            only_sources_in_run: bool = True) -> Comparison:
    """Compare this run's records with the baseline, metric by metric.

    With only_sources_in_run, baseline entries of sources this run did not use (HIL
    figures during a host-only CI run) are out of scope rather than "missing".
    """
    records = list(records)
    tolerances = dict(tolerances) if tolerances is not None else parse_tolerances()
    if baseline is None:
        rows = [ComparisonRow(*r.key, m, None, getattr(r, m), None,
                              str(tolerances.get(m, "")), "new", "no baseline")
                for r in records for m in BASELINE_METRICS if getattr(r, m) is not None]
        return Comparison(rows, None, True, None)

    like, notes = _like_for_like(baseline.meta, current_meta)
    current = {r.key: r for r in records}
    sources = {r.source for r in records}
    in_scope = {k for k in baseline.entries if not only_sources_in_run or k[2] in sources}
    rows: list[ComparisonRow] = []
    for key in sorted(set(current) | in_scope):
        record, entry = current.get(key), baseline.entries.get(key)
        for metric in BASELINE_METRICS:
            old = None if entry is None else entry.get(metric)
            new = None if record is None else getattr(record, metric)
            if old is None and new is None:
                continue
            tolerance = tolerances.get(metric)
            tol_text = str(tolerance) if tolerance else "-"
            if old is None:
                note = "not in baseline" if entry is None else "not measured in baseline"
                rows.append(ComparisonRow(*key, metric, None, new, None, tol_text, "new", note))
                continue
            if new is None:
                note = "not in this run" if record is None else "not measured in this run"
                rows.append(ComparisonRow(*key, metric, old, None, None, tol_text,
                                          "missing", note))
                continue
            delta = new - old
            if tolerance is None:
                rows.append(ComparisonRow(*key, metric, old, new, delta, tol_text, "ok"))
                continue
            status, note = _judge(metric, old, new, tolerance, record, entry, baseline,
                                  current, alpha, hard_ceiling_factor)
            rows.append(ComparisonRow(*key, metric, old, new, delta, tol_text, status, note))
    return Comparison(rows, baseline.path, False, like, notes, dict(baseline.meta))


def _judge(metric: str, old: float, new: float, tolerance: Tolerance,
           record: ResultRecord | None, entry: Mapping[str, Any], baseline: Baseline,
           current: Mapping[Key, ResultRecord], alpha: float,
           hard_ceiling_factor: float) -> tuple[str, str]:
    worsening = (new - old) * tolerance.direction  # > 0: worse
    allowed = tolerance.allowed(old)
    eps = 1e-9
    if worsening <= allowed + eps:
        if worsening < -eps and -worsening >= allowed - eps:
            return "improved", ""
        return "ok", ""
    if metric not in ACCURACY_METRICS:
        return "regressed", ""
    ceiling = hard_ceiling_factor * allowed
    paired = _paired_counts(record, entry, baseline, current) if record else "no record"
    if isinstance(paired, str):
        return "regressed", f"beyond tolerance; unpaired ({paired})"
    b, c = paired
    p = mcnemar_p(b, c)
    stat = f"McNemar p={p:.3g}, lost {b}, gained {c}"
    if p < alpha:
        return "regressed", f"significant ({stat})"
    if worsening > ceiling + eps:
        return "regressed", f"beyond hard ceiling {ceiling:g} ({stat})"
    return "ok", f"beyond tolerance but not significant ({stat})"


def _paired_counts(record: ResultRecord, entry: Mapping[str, Any], baseline: Baseline,
                   current: Mapping[Key, ResultRecord]) -> tuple[int, int] | str:
    """(b, c): test samples right in the baseline and wrong now, and the reverse; or the
    reason pairing is impossible."""
    if record.variant == "float32":
        return "float32 is the flip reference; its own samples are not recorded"
    n = record.test_samples
    if n is None or entry.get("test_samples") != n:
        return "test_samples missing or different"
    f32_key = ("float32", record.target, record.source)
    f32_new, f32_old = current.get(f32_key), baseline.entries.get(f32_key)
    if f32_new is None or f32_old is None or f32_new.accuracy is None \
            or f32_old.get("accuracy") is None:
        return "float32 not measured in both runs"
    if abs(f32_new.accuracy - f32_old["accuracy"]) > 1e-9:
        return "float32 accuracy changed, flips are not comparable"
    if record.accuracy is None or entry.get("accuracy") is None:
        return "accuracy missing"
    discordant = len(set(record.flipped_samples) ^ set(entry.get("flipped_samples") or []))
    net_lost = (entry["accuracy"] - record.accuracy) * n / 100.0
    k = round(net_lost)
    b2 = discordant + k
    if abs(net_lost - k) > 0.01 or b2 % 2 or not 0 <= b2 // 2 <= discordant:
        return "flipped samples inconsistent with the accuracies"
    return b2 // 2, discordant - b2 // 2


def _like_for_like(old: Mapping[str, Any], new: Mapping[str, Any] | None
                   ) -> tuple[bool | None, list[str]]:
    if new is None:
        return None, []
    notes: list[str] = []
    old_versions, new_versions = old.get("versions") or {}, new.get("versions") or {}
    for lib in sorted(set(old_versions) | set(new_versions)):
        a, b = old_versions.get(lib), new_versions.get(lib)
        if a != b:
            notes.append(f"{lib} {a or 'absent'} -> {b or 'absent'}")
    a, b = old.get("dataset_fingerprint"), new.get("dataset_fingerprint")
    if a != b:
        notes.append(f"dataset fingerprint {a or 'absent'} -> {b or 'absent'}")
    return not notes, notes


def format_comparison_table(comparison: Comparison, only_changed: bool = True) -> str:
    """pytest-benchmark style old -> new table; by default only rows that moved or
    are not "ok" (a regression, improvement, new or missing figure)."""
    lines = [comparison.headline()]
    if not comparison.baseline_missing:
        lines.append(comparison.like_for_like_line())
    rows = [r for r in comparison.rows if not only_changed or r.status != "ok"
            or (r.delta is not None and abs(r.delta) > 1e-9)]
    if not rows:
        lines.append("(no changes)")
        return "\n".join(lines)
    order = {s: i for i, s in enumerate(("regressed", "missing", "improved", "new", "ok"))}
    rows.sort(key=lambda r: (order[r.status], r.variant, r.target, r.source, r.metric))
    header = ("status", "variant", "target", "source", "metric", "old -> new", "delta",
              "tolerance", "note")
    table = [header] + [(
        r.status.upper() if r.status == "regressed" else r.status,
        r.variant, r.target, r.source, r.metric,
        f"{format_metric(r.metric, r.old)} -> {format_metric(r.metric, r.new)}",
        _format_delta(r), r.tolerance, r.note) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        lines.append("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def _format_delta(row: ComparisonRow) -> str:
    if row.delta is None:
        return ""
    text = f"{row.delta:+,.0f}" if not isinstance(row.delta, float) or \
        row.metric.endswith(("_bytes", "_us")) or row.metric == "macs" else f"{row.delta:+.2f}"
    if row.old:
        text += f" ({100.0 * row.delta / abs(row.old):+.1f}%)"
    return text


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
                   meta: Mapping[str, Any] | None, reason: str, complete: bool,
                   merge: bool = True) -> Path:
    """Write the baseline atomically (temp file + os.replace, under a lock).

    Refused when the run is incomplete (`complete` False: an interrupted or filtered run
    must not become the reference) or when `reason` is empty (an accepted change needs a
    reviewed reason). With merge, entries for items this run did not measure (say HIL
    figures on a host-only update) are kept as they were; records that carry an error are
    left out and listed in meta["not_measured"].
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
        previous = load_baseline(path) if merge else None
        entries = dict(previous.entries) if previous else {}
        for record in records:
            if record.error:
                continue
            entries[record.key] = _entry(record, created)
        full_meta = dict(meta or {})
        full_meta.update(created=created, reason=reason.strip(), format=FORMAT_VERSION)
        full_meta.setdefault("git_commit", _git_commit(path.parent))
        full_meta["not_measured"] = sorted("/".join(r.key) for r in records if r.error)
        _atomic_write_json(path, {"meta": full_meta,
                                  "results": [entries[k] for k in sorted(entries)]})
    return path


def write_obtained(path: str | os.PathLike[str], records: Iterable[ResultRecord],
                   meta: Mapping[str, Any] | None) -> Path:
    """pytest-regressions' "obtained" file: this run's figures in baseline form, beside
    the baseline (baseline.obtained.json), to diff or copy over after review."""
    path = Path(path)
    obtained = path.with_name(path.stem + ".obtained" + path.suffix)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results = [_entry(r, created) for r in sorted(records, key=lambda r: r.key)
               if not r.error]
    _atomic_write_json(obtained, {"meta": {**(meta or {}), "created": created,
                                           "format": FORMAT_VERSION, "obtained": True},
                                  "results": results})
    return obtained


def _entry(record: ResultRecord, created: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"variant": record.variant, "target": record.target,
                             "source": record.source, "updated": created}
    for metric in BASELINE_METRICS:
        value = getattr(record, metric)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            entry[metric] = value
    entry["test_samples"] = record.test_samples
    entry["flipped_samples"] = sorted(record.flipped_samples)
    if record.arena_source:
        entry["arena_source"] = record.arena_source
    return entry


def _lock_for(path: Path) -> FileLock:
    # The lock lives in the temp dir so no stray .lock file appears in the repository.
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return FileLock(os.path.join(tempfile.gettempdir(), f"baseline-{digest}.lock"))


def _atomic_write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
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
