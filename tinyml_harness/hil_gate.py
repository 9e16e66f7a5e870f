"""The HIL gate's test, importable into any repository's test module:

    from tinyml_harness.hil_gate import test_variant_on_board  # noqa: F401

It carries the `hil` marker itself, so `pytest -m hil --virtual` (virtual boards) and
`pytest -m hil --target T --port P` (real boards) select it wherever it is imported.

Each variant (and each --model file) on each target's board: upload + verify, arena, timed
latency, per-op profile, the test split streamed for on-device accuracy, bit-exactness
against host TFLite Micro, free heap and firmware figures. A --model whose input shape has
no labelled data gets all of it but the accuracy ("n/a", as in the host gate): seeded random
inputs of its shape are streamed, and its outputs compared with host TFLite Micro. One ResultRecord per (variant,
target), source "hil" on a real chip or "virtual" (emulated) under --virtual, submitted
as it arrives and judged against budgets and baseline like the host gate's.

`target` is fed to pytest-embedded indirectly by tinyml_harness.hil_fixtures (with the
port, build directory and services of that target's board); the test reaches it through
`hil_board`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from targets.board.errors import ModelRejected
from targets.board.recovering_client import Board, run_cycle
from tinyml_harness.build_fixtures import require_built
from tinyml_harness.hil_fixtures import hil_test_split
from vocabulary.sources import VIRTUAL

TIME_RUNS = 100  # the `time` command: timed invokes, after TIME_WARMUP untimed ones
TIME_WARMUP = 10


def _provenance(build_session, variant: str, external_model_files, samples: int | None, split_size: int) -> dict:
    if variant in external_model_files:  # a --model file: the float32 parent's data, no build of ours
        provenance = {**build_session.provenance("float32"), "architecture": "external",
                      "architecture_hash": None, "build_key": None, "training_platform": None}
    else:
        provenance = build_session.provenance(variant)
    if samples is not None and samples < split_size:  # --hil-samples: another (smaller) test split
        provenance["test_split"] += f":first{samples}"
    return provenance


def _origin(variant: str, external_model_files, build_session) -> dict[str, Any]:
    """The same `origin` the host gate records: the file of a --model, else "built"."""
    if variant in external_model_files:
        return {"origin": str(external_model_files[variant].path)}
    return {"origin": "built", "cache_key": build_session.variants[variant].key[:16]}


@pytest.mark.hil
@pytest.mark.generic
def test_variant_on_board(variant, hil_board: Board, hil_state, build_session, external_model_files,
                          prepared_data, float32_host_eval, result_sink, pytestconfig):
    from targets.cost.registry import load_targets
    from targets.measure.board_records import (
        BoardRun,
        board_record,
        host_side,
        rejected_record,
        tensor_mismatches,
        unlabelled_inputs,
    )
    from targets.measure.shared import board_conditions
    from targets.tflm.analysis import analyze_model
    from tinyml_harness.hil_fixtures import firmware_figures

    target = hil_board.banner.get("target") or "?"
    model = (external_model_files.get(variant) or require_built(build_session, variant)).tflite_bytes
    analysis = analyze_model(model, name=variant)
    if not analysis.deployable:
        pytest.skip(f"{variant}: not deployable on TFLite Micro (dynamic-range / hybrid model: "
                    f"{'; '.join(analysis.notes) or 'float kernels with int8 weights'}); "
                    f"nothing to measure on a board")
    conditions = board_conditions(hil_state.virtual, hil_state.virtual_engine)
    x, y = hil_test_split(prepared_data, pytestconfig)
    labelled = tuple(analysis.input.shape[1:]) == tuple(np.shape(x)[1:])
    if not labelled:  # a --model of another input shape (a built variant always matches its data)
        x = unlabelled_inputs(analysis.input)
        y = np.zeros(len(x), dtype=np.int64)  # placeholders for the host run; no accuracy is kept
    expected = host_side(variant, model, x, y, load_targets()[target])
    host = expected.evaluation

    try:
        cycle = run_cycle(hil_board, model, name=variant, samples=expected.samples,
                          runs=TIME_RUNS, warmup=TIME_WARMUP)
    except ModelRejected as exc:
        result_sink.submit(rejected_record(variant, target, conditions, model, host, expected.estimate, str(exc)))
        pytest.fail(str(exc), pytrace=False)
    assert tensor_mismatches(cycle.upload.input, cycle.upload.output, host.input, host.output) == [], variant

    record = board_record(BoardRun(
        variant=variant, target=target, conditions=conditions, model=model, cycle=cycle, host=host,
        reference=float32_host_eval, labels=np.asarray(y) if labelled else None,
        class_names=prepared_data.class_names,
        estimate=expected.estimate, firmware=firmware_figures(target, hil_state),
        provenance=_provenance(build_session, variant, external_model_files, len(y) if labelled else None,
                               len(prepared_data.y_test)),
        banner=hil_board.banner, recoveries=hil_board.events,
        min_free_heap=hil_board.client.identify().get("min_free_heap")))  # low-water mark after the cycle
    record.extra.update(_origin(variant, external_model_files, build_session))
    # result_sink.submit records the metrics (record_property, and log_metric with --metric-path).
    gate = result_sink.submit(record)
    if conditions.source == VIRTUAL:
        # Same TFLM on both sides: anything but bit-exact means the path lost bytes.
        assert record.max_lsb_diff in (0, None), f"{variant}: virtual board differs from host TFLM"
    if hil_state.virtual and hil_state.virtual_engine == "fw-tflm":
        # A plain MicroInterpreter holds less than the wheel's recording one; never more.
        assert record.arena_bytes is not None and 0 < record.arena_bytes <= (host.arena_bytes or 0), (
            f"{variant}: firmware binary arena {record.arena_bytes} B, wheel {host.arena_bytes} B")
    if not gate.ok:  # the gate's own message: figures, budgets, baseline; no traceback noise
        pytest.fail(gate.message, pytrace=False)
