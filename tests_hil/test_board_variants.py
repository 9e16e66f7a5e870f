"""Each variant on each target's board: upload + verify, arena, bench latency, per-op
profile, the whole test split streamed for on-device accuracy, bit-exactness against host
TFLite Micro, free heap and firmware figures. One ResultRecord per (variant, target),
source "hil" on a real chip or "virtual" under --virtual, submitted as it arrives.

`target` is fed to pytest-embedded indirectly by tinyml_harness.hil_fixtures (with the port, build
directory and services of that target's board); the test reaches it through `hil_board`.
"""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from tinyml_harness.build_fixtures import require_built
from vocabulary.records import ResultRecord, encode_correct
from targets.board.board import Board, ModelRejected, run_cycle

pytestmark = [pytest.mark.hil, pytest.mark.generic]

BENCH_RUNS = 100
BENCH_WARMUP = 10


@pytest.fixture(scope="session")
def float32_host_eval(built_variants, prepared_data, pytestconfig):
    """The float32 parent on host TFLM, same samples: the reference for accuracy drop."""
    from targets.tflm.evaluate import evaluate_on_host

    x, y = _split(prepared_data, pytestconfig)
    return evaluate_on_host("float32", built_variants["float32"].tflite_bytes, x, y, reference=False)


def _split(prepared_data, config):
    from tinyml_harness.plugin import settings

    limit = settings(config).hil_samples
    x, y = prepared_data.x_test, prepared_data.y_test
    return (x[:limit], y[:limit]) if limit else (x, y)


def test_variant_on_board(variant, hil_board: Board, hil_state, build_session, external_model_files,
                          prepared_data, float32_host_eval, result_sink, pytestconfig):
    from targets.cost.estimator import estimate_latency
    from tinyml_harness.hil_fixtures import firmware_figures
    from targets.tflm.evaluate import evaluate_on_host
    from targets.tflm.analysis import analyze_model
    from targets.cost.registry import load_targets
    from targets.tflm.runner import quantize_input

    import hashlib

    built_variants = build_session.variants
    target = hil_board.banner.get("target") or "?"
    artifact = external_model_files.get(variant) or require_built(build_session, variant)
    model = artifact.tflite_bytes
    analysis = analyze_model(model, name=variant)
    if not analysis.deployable:
        pytest.skip(f"{variant}: not deployable on TFLite Micro (dynamic-range / hybrid model: "
                    f"{'; '.join(analysis.notes) or 'float kernels with int8 weights'}); "
                    f"nothing to measure on a board")
    source = "virtual" if hil_state.virtual else "hil"
    x, y = _split(prepared_data, pytestconfig)

    host = evaluate_on_host(variant, model, x, y, reference=False)
    inputs = quantize_input(x, host.input)  # the model's own input scale / zero point
    samples = [inputs[i].tobytes() for i in range(len(inputs))]
    profile_target = load_targets()[target]
    estimate = estimate_latency(host.analysis, profile_target)

    try:
        cycle = run_cycle(hil_board, model, name=variant, samples=samples,
                          runs=BENCH_RUNS, warmup=BENCH_WARMUP)
    except ModelRejected as exc:
        record = ResultRecord(variant=variant, target=target, source=source, deployable=True,
                              model_bytes=len(model), fits=False, error=str(exc),
                              latency_est_us=estimate.total_us, ops=list(host.analysis.ops))
        result_sink.submit(record)
        pytest.fail(str(exc), pytrace=False)

    # The board's tensors must be the model's: same type, shape and quantization.
    for side, board_t, host_t in (("input", cycle.upload.input, host.input),
                                  ("output", cycle.upload.output, host.output)):
        assert (board_t.type, board_t.shape, board_t.bytes) == (
            np.dtype(host_t.dtype).name, tuple(host_t.shape), host_t.nbytes), f"{variant} {side} tensor"
        assert board_t.zero_point == host_t.zero_point and np.isclose(board_t.scale, host_t.scale)

    out_dtype = np.dtype(host.output.dtype)
    board_out = np.stack([np.frombuffer(o, dtype=out_dtype) for o in cycle.evaluation.outputs])
    host_out = np.asarray(host.raw_outputs).reshape(len(samples), -1)
    diff = np.abs(board_out.astype(np.float64) - host_out.astype(np.float64)).max(axis=1)
    max_lsb_diff = int(diff.max()) if out_dtype.kind in "iu" else None
    from targets.tflm.runner import dequantize_output

    scores = dequantize_output(board_out.reshape(host_out.shape), host.output)
    predictions = np.asarray(scores).reshape(len(samples), -1).argmax(axis=1)
    correct = predictions == np.asarray(y)
    accuracy = float(correct.mean() * 100.0)
    ref_correct = float32_host_eval.predictions == np.asarray(y)
    flipped = [int(i) for i in np.flatnonzero(correct != ref_correct)]
    labels = np.asarray(y)
    per_class = {name: round(float(correct[labels == i].mean() * 100), 3)
                 for i, name in enumerate(prepared_data.class_names) if np.any(labels == i)}
    per_class_ref = {name: float(ref_correct[labels == i].mean() * 100)
                     for i, name in enumerate(prepared_data.class_names) if np.any(labels == i)}
    provenance = (build_session.provenance(variant) if variant in built_variants
                  else {**build_session.provenance("float32"), "architecture": "external", "build_key": None})
    if len(samples) < len(prepared_data.y_test):  # --hil-samples: another (smaller) test split
        provenance["test_split"] += f":first{len(samples)}"

    status = hil_board.client.identify()  # heap low-water mark after the whole cycle
    op_macs = {info.index: info for info in host.analysis.op_infos}
    firmware = firmware_figures(target, hil_state)
    fw_binary = source == "virtual" and hil_state.virtual_engine == "fw-tflm"
    emulated = (None if source != "virtual" else
                "emulated (firmware binary on the host: TFLM reference kernels, host clock)" if fw_binary
                else "emulated (virtual board: host TFLM + latency estimate)")
    bench = {**cycle.bench.__dict__, "label": emulated or "measured on chip"}
    record = ResultRecord(
        variant=variant, target=target, source=source,
        accuracy=accuracy, accuracy_drop_pp=float32_host_eval.accuracy - accuracy,
        model_bytes=len(model), gzip_bytes=len(gzip.compress(model, mtime=0)),
        # The firmware binary measures a plain MicroInterpreter, not the wheel's recording
        # one (DESIGN.md): labelled so. The `virtual` baseline holds the wheel's figure, so
        # the gate reports the difference as "changed" until the two get keys of their own.
        arena_bytes=cycle.upload.arena_used_bytes,
        arena_source=("chip (arena_used_bytes)" if source == "hil"
                      else "firmware binary on the host: plain MicroInterpreter (x86_64, reference kernels)"
                      if fw_binary else f"virtual board: {host.arena_source}"),
        macs=host.analysis.macs,
        # A virtual board's timings are the estimate echoed back: never a measured latency.
        latency_us=cycle.bench.median_us if source == "hil" else None,
        latency_est_us=estimate.total_us, ops=list(host.analysis.ops), deployable=True,
        max_lsb_diff=max_lsb_diff, flipped_samples=flipped, fits=True, test_samples=len(samples),
        correct_bitmap=encode_correct(correct), per_class_accuracy=per_class,
        max_class_drop_pp=round(max(per_class_ref[c] - per_class[c] for c in per_class), 3),
        model_sha256=hashlib.sha256(model).hexdigest(), provenance=provenance,
        flash_bytes=firmware.image_bytes,  # the model lives in RAM: flash holds the image
        extra={
            "bench": bench,
            "profile": [{"index": p.index, "op": p.op, "us": p.us, "cycles": p.cycles,
                         "macs": op_macs[p.index].macs if p.index in op_macs else None,
                         "elements": op_macs[p.index].elements if p.index in op_macs else None,
                         "dtype": op_macs[p.index].dtype if p.index in op_macs else None}
                        for p in cycle.profile],
            "free_heap": cycle.upload.free_heap,
            "min_free_heap": status.get("min_free_heap"),
            "host_arena_bytes": host.arena_bytes, "host_arena_source": host.arena_source,
            "arena_gap_bytes": cycle.upload.arena_used_bytes - (host.arena_bytes or 0),
            "firmware_image_bytes": firmware.image_bytes if firmware.image_bytes is not None else firmware.note,
            "firmware_static_ram_bytes": (firmware.static_ram_bytes
                                          if firmware.static_ram_bytes is not None else firmware.note),
            "eval_samples": len(samples), "eval_seconds": round(cycle.evaluation.seconds, 3),
            "upload_seconds": round(cycle.upload.seconds, 3), "cycle_seconds": round(cycle.seconds, 3),
            "lsb_diff_per_sample": [int(d) for d in diff] if max_lsb_diff else [],
            "recoveries": [e.__dict__ for e in hil_board.events],
            "board": {k: hil_board.banner.get(k) for k in ("fw", "platform", "engine", "esp_nn", "clock_mhz", "nonce")},
            "emulated": bool(emulated),
        },
    )
    # result_sink.submit records the metrics (record_property, and log_metric with --metric-path).
    gate = result_sink.submit(record)
    if source == "virtual":
        # Same TFLM on both sides: anything but bit-exact means the path lost bytes.
        assert max_lsb_diff in (0, None), f"{variant}: virtual board differs from host TFLM"
    if fw_binary:
        # A plain MicroInterpreter holds less than the wheel's recording one; never more.
        assert 0 < cycle.upload.arena_used_bytes <= (host.arena_bytes or 0), (
            f"{variant}: firmware binary arena {cycle.upload.arena_used_bytes} B, wheel {host.arena_bytes} B")
    if not gate.ok:  # the gate's own message: figures, budgets, baseline; no traceback noise
        pytest.fail(gate.message, pytrace=False)
