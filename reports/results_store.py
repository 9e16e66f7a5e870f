"""Results store: one JSON line per result, written the moment it is measured.

Why JSONL and fsync per line: a run that is killed (a board panics, CI times out) keeps
every figure measured before the kill, and `python -m reports` can rebuild the tables
from it. A killed writer can leave a truncated last line; readers skip it with a warning.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from vocabulary.metrics import (
    ACCURACY,
    ACCURACY_DROP_PP,
    ARENA_BYTES,
    GZIP_BYTES,
    LATENCY_EST_US,
    LATENCY_US,
    MACS,
    MODEL_BYTES,
)
from vocabulary.records import ResultRecord

if TYPE_CHECKING:
    import pandas as pd

RESULTS_JSONL = "results.jsonl"
RUN_META_JSON = "run_meta.json"
#: Files a report build writes beside results.jsonl; archived with it by start_run().
DERIVED_PATTERNS = ("results.csv", "summary.md", "*.png", RUN_META_JSON)

#: The first columns of results.csv, in this order; every other record field follows.
LEADING_COLUMNS = (
    "variant", "target", "source", ACCURACY.name, ACCURACY_DROP_PP.name, MODEL_BYTES.name,
    GZIP_BYTES.name, ARENA_BYTES.name, MACS.name, LATENCY_US.name, LATENCY_EST_US.name, "ops",
)


class TruncatedResultsWarning(UserWarning):
    """A results.jsonl ended in a partial line (the writer was killed mid-write)."""


class ResultsStore:
    """The results of one run in a directory (normally reports/latest/).

    `append` is safe to call from several processes (pytest-xdist workers): each line is
    written under a file lock, flushed and fsynced before it returns.
    """

    def __init__(self, path_dir: str | os.PathLike[str], keep_archives: int = 5) -> None:
        self.dir = Path(path_dir)
        self.jsonl_path = self.dir / RESULTS_JSONL
        self.meta_path = self.dir / RUN_META_JSON
        self.archive_dir = self.dir / "archive"
        self.keep_archives = keep_archives
        self._lock = FileLock(str(self.dir / (RESULTS_JSONL + ".lock")))

    def start_run(self, meta: dict[str, Any] | None = None, archive: bool = True) -> Path | None:
        """Begin a fresh run: move the previous run's files to archive/<time>/ (or delete
        them when archive=False) and start an empty results.jsonl.

        `meta` (library versions, dataset fingerprint, ...) is saved as run_meta.json so a
        later `python -m reports` can still check like-for-like against the baseline.
        Returns the archive folder used, or None when there was nothing to keep.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            previous = [p for pattern in (RESULTS_JSONL, *DERIVED_PATTERNS)
                        for p in sorted(self.dir.glob(pattern)) if p.is_file()]
            has_results = self.jsonl_path.exists() and self.jsonl_path.stat().st_size > 0
            archived: Path | None = None
            if previous and archive and has_results:
                archived = self._new_archive_folder()
                for path in previous:
                    shutil.move(str(path), archived / path.name)
                self._prune_archives()
            else:
                for path in previous:
                    path.unlink()
            self.jsonl_path.write_text("")
            if meta is not None:
                _write_json_durably(self.meta_path, meta)
        return archived

    def append(self, record: ResultRecord) -> None:
        """Write one record as one line, durably, before returning."""
        self.dir.mkdir(parents=True, exist_ok=True)
        line = record.to_json() + "\n"
        with self._lock:
            with open(self.jsonl_path, "a+b") as fh:
                # A killed writer may have left a partial line: start ours on a new line so
                # only the broken one is lost.
                if fh.tell() > 0:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        line = "\n" + line
                fh.write(line.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())

    def read(self) -> list[ResultRecord]:
        """All records of this run ([] when nothing was written yet)."""
        if not self.jsonl_path.exists():
            return []
        return read_jsonl(self.jsonl_path)

    def read_meta(self) -> dict[str, Any] | None:
        """The run meta saved by start_run(), or None."""
        if not self.meta_path.exists():
            return None
        return json.loads(self.meta_path.read_text())

    def _new_archive_folder(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.jsonl_path.stat().st_mtime))
        folder = self.archive_dir / stamp
        suffix = 1
        while folder.exists():
            suffix += 1
            folder = self.archive_dir / f"{stamp}-{suffix:03d}"  # sorts by name
        folder.mkdir(parents=True)
        return folder

    def _prune_archives(self) -> None:
        folders = sorted(p for p in self.archive_dir.iterdir() if p.is_dir())
        for old in folders[: max(0, len(folders) - self.keep_archives)]:
            shutil.rmtree(old)


def read_jsonl(path: str | os.PathLike[str]) -> list[ResultRecord]:
    """Parse results.jsonl.

    A line that is not JSON is what a killed writer leaves (normally the last line; in
    the middle after a resumed run): it is skipped with a TruncatedResultsWarning naming
    file and line. A line that is JSON but not a result record is a bug or a schema drift
    and raises ValueError naming file and line.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    records: list[ResultRecord] = []
    for lineno, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            warnings.warn(
                f"{path}:{lineno}: skipped a truncated line ({len(text)} chars; the run was "
                f"probably interrupted while writing it): {exc}",
                TruncatedResultsWarning, stacklevel=2)
            continue
        try:
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, got {type(data).__name__}")
            records.append(ResultRecord.from_dict(data))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{lineno}: not a valid result record: {exc}") from exc
    return records


def records_to_frame(records: Iterable[ResultRecord]) -> pd.DataFrame:
    """A table with one row per record: leading columns first, lists joined by spaces,
    scalar `extra` entries flattened to `extra.<key>` columns (others as JSON)."""
    rows = []
    for record in records:
        row = dataclasses.asdict(record)
        row["ops"] = " ".join(record.ops)
        row["flipped_samples"] = " ".join(str(i) for i in record.flipped_samples)
        extra = row.pop("extra")
        for key, value in sorted(extra.items()):
            is_scalar = value is None or isinstance(value, (str, int, float, bool))
            row[f"extra.{key}"] = value if is_scalar else json.dumps(value, sort_keys=True)
        rows.append(row)
    import pandas as pd  # imported when a table is written, not with the plugin

    field_names = [f.name for f in dataclasses.fields(ResultRecord) if f.name != "extra"]
    frame = pd.DataFrame(rows, columns=None if rows else field_names)
    rest = [c for c in field_names if c not in LEADING_COLUMNS]
    extras = sorted(c for c in frame.columns if c.startswith("extra."))
    return frame.reindex(columns=[*LEADING_COLUMNS, *rest, *extras])


def write_csv(records: Iterable[ResultRecord], path: str | os.PathLike[str]) -> Path:
    """Write results.csv (see records_to_frame for the columns)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records_to_frame(records).to_csv(path, index=False)
    return path


def _write_json_durably(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
