"""results.jsonl: durable appends, tolerant reads after a kill, run archiving, CSV columns."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from reports.results_store import LEADING_COLUMNS, ResultsStore, TruncatedResultsWarning, read_jsonl, write_csv
from vocabulary.records import ResultRecord


def rec(variant="ptq_int8", **kw) -> ResultRecord:
    base = dict(target="esp32", source="host-tflm", accuracy=94.5, accuracy_drop_pp=0.5,
                model_bytes=20480, gzip_bytes=15000, arena_bytes=8000, macs=300000,
                latency_est_us=812.5, ops=["CONV_2D", "FULLY_CONNECTED", "SOFTMAX"])
    base.update(kw)
    return ResultRecord(variant=variant, **base)


def test_each_append_is_one_fsynced_line(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr("reports.results_store.os.fsync",
                        lambda fd: (synced.append(fd), real_fsync(fd)))
    store = ResultsStore(tmp_path)
    store.start_run()
    store.append(rec())
    assert len(synced) == 1
    assert len(store.jsonl_path.read_text().splitlines()) == 1  # on disk before the next
    store.append(rec("qat_int8", flipped_samples=[3, 17]))
    assert len(synced) == 2
    records = store.read()
    assert [r.variant for r in records] == ["ptq_int8", "qat_int8"]
    assert records[0] == rec() and records[1].flipped_samples == [3, 17]


def test_truncated_last_line_is_skipped_with_a_warning(tmp_path):
    store = ResultsStore(tmp_path)
    store.append(rec())
    store.append(rec("qat_int8"))
    text = store.jsonl_path.read_text()
    store.jsonl_path.write_text(text[: len(text) - 40])  # killed mid-write
    with pytest.warns(TruncatedResultsWarning, match=r"results.jsonl:2: skipped a truncated"):
        records = read_jsonl(store.jsonl_path)
    assert [r.variant for r in records] == ["ptq_int8"]


def test_append_after_a_killed_run_starts_a_fresh_line(tmp_path):
    store = ResultsStore(tmp_path)
    store.append(rec())
    with open(store.jsonl_path, "a") as fh:
        fh.write('{"variant": "qat_in')  # the previous writer died here
    store.append(rec("pruned50_int8"))
    with pytest.warns(TruncatedResultsWarning):
        records = store.read()
    assert [r.variant for r in records] == ["ptq_int8", "pruned50_int8"]


def test_a_line_that_is_not_a_record_names_file_and_line(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(rec().to_json() + "\n" + '{"variant": "x", "colour": "red"}\n')
    with pytest.raises(ValueError, match=r"results.jsonl:2: not a valid result record"):
        read_jsonl(path)


def test_start_run_archives_the_previous_run(tmp_path):
    store = ResultsStore(tmp_path, keep_archives=2)
    store.start_run(meta={"dataset_fingerprint": "sha256:1"})
    store.append(rec())
    (tmp_path / "summary.md").write_text("old summary")
    (tmp_path / "sparsity_sweep.png").write_bytes(b"png")
    archived = store.start_run(meta={"dataset_fingerprint": "sha256:2"})
    assert archived is not None and archived.parent == tmp_path / "archive"
    assert sorted(p.name for p in archived.iterdir()) == [
        "results.jsonl", "run_meta.json", "sparsity_sweep.png", "summary.md"]
    assert store.read() == []
    assert store.read_meta() == {"dataset_fingerprint": "sha256:2"}
    assert not (tmp_path / "summary.md").exists()
    for _ in range(3):  # only the newest keep_archives folders stay
        store.append(rec())
        store.start_run()
    assert len(list((tmp_path / "archive").iterdir())) == 2


def test_start_run_without_archive_truncates(tmp_path):
    store = ResultsStore(tmp_path)
    store.append(rec())
    assert store.start_run(archive=False) is None
    assert store.jsonl_path.read_text() == ""
    assert not (tmp_path / "archive").exists()


def test_csv_has_the_public_columns_first(tmp_path):
    records = [rec(extra={"sparsity": 0.7, "clock_mhz": 240, "windows": [1, 2]}),
               rec("float32", latency_us=3012.0, ops=["CONV_2D"])]
    path = write_csv(records, tmp_path / "results.csv")
    frame = pd.read_csv(path)
    assert list(frame.columns[: len(LEADING_COLUMNS)]) == list(LEADING_COLUMNS)
    for column in ("deployable", "flipped_samples", "fits", "test_samples", "error",
                   "extra.sparsity", "extra.clock_mhz", "extra.windows"):
        assert column in frame.columns
    assert frame.loc[0, "ops"] == "CONV_2D FULLY_CONNECTED SOFTMAX"
    assert frame.loc[0, "extra.sparsity"] == 0.7
    assert frame.loc[0, "extra.windows"] == "[1, 2]"
    assert frame.loc[1, "latency_us"] == 3012.0
    assert frame.loc[0, "arena_bytes"] == 8000


def test_csv_of_no_records_still_has_a_header(tmp_path):
    frame = pd.read_csv(write_csv([], tmp_path / "results.csv"))
    assert list(frame.columns[:3]) == ["variant", "target", "source"] and frame.empty
