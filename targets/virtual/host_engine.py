"""The virtual board's engine: host TFLite Micro plus the target's cost model.

What the firmware's TFLM engine does on a chip (verify, check ops, allocate, invoke), done
on the host: outputs and arena come from TFLite Micro (targets.tflm.runner), timings are
the latency *estimate* (targets.cost.estimator), never a measurement.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from targets.board.protocol_words import ERR
from vocabulary.tensors import TensorSpec


@dataclass
class LoadedModel:
    arena_used_bytes: int
    input: TensorSpec
    output: TensorSpec
    est_total_us: float
    est_per_op: list[tuple[int, str, float]]
    invoke: Callable[[bytes], bytes]
    close: Callable[[], None]


class EngineError(Exception):
    def __init__(self, code: str, msg: str, **fields: Any) -> None:
        super().__init__(msg)
        self.code, self.msg, self.fields = code, msg, fields


class HostTflmEngine:
    """Host TFLite Micro plus the target's cost model. Workers are cached by model CRC so a
    re-upload after a reset costs no new interpreter process (the protocol state still says
    the model is gone: the cache is invisible to the host)."""

    def __init__(self, target: str, arena_capacity: int, ops_file: Path | None = None,
                 targets_file: Path | None = None) -> None:
        from targets.cost.registry import load_targets
        from targets.tflm.op_list import REGISTERED_OPS_FILE

        targets = load_targets(overlay=targets_file)  # the user's registry over the packaged one
        if target not in targets:
            raise SystemExit(f"virtual board: unknown target {target!r}; known: {sorted(targets)}")
        self.profile = targets[target]
        self.arena_capacity = arena_capacity
        # the op list the emulated firmware was built with (CONFIG_TMH_OPS_FILE on a chip)
        self.ops_file = ops_file or REGISTERED_OPS_FILE
        self._cache: dict[tuple[int, int], LoadedModel] = {}

    @property
    def clock_mhz(self) -> int:
        return int(self.profile.clock_mhz)

    def load(self, model: bytes) -> LoadedModel:
        key = (zlib.crc32(model), len(model))
        if key not in self._cache:
            self._cache[key] = self._load(model)
        return self._cache[key]

    def _load(self, model: bytes) -> LoadedModel:
        import numpy as np

        from targets.cost.estimator import estimate_latency
        from targets.tflm.analysis import analyze_model
        from targets.tflm.op_list import missing_ops
        from targets.tflm.runner import TflmError, TflmWorker

        if len(model) < 8 or model[4:8] != b"TFL3":
            raise EngineError(ERR.E_MODEL, "not a TFLite flatbuffer (identifier TFL3 missing)")
        try:
            analysis = analyze_model(model, name="uploaded")
        except Exception as exc:  # any parse failure is a verification failure
            raise EngineError(ERR.E_MODEL, f"flatbuffer verification failed: {exc}") from exc
        missing = missing_ops(list(analysis.ops), self.ops_file)
        if missing:
            raise EngineError(ERR.E_OP, f"op {missing[0]} not registered", op=missing[0])
        try:
            worker = TflmWorker(model, name="virtual-board")
        except TflmError as exc:
            raise EngineError(ERR.E_MODEL, f"TFLM could not load the model: {exc}") from exc
        if worker.arena_bytes > self.arena_capacity:
            worker.close()
            raise EngineError(ERR.E_ALLOC, f"arena needs {worker.arena_bytes} B",
                              arena_capacity=self.arena_capacity)
        estimate = estimate_latency(analysis, self.profile)
        in_d, out_d = worker.input, worker.output
        in_dtype, out_dtype = np.dtype(in_d.dtype), np.dtype(out_d.dtype)

        def invoke(data: bytes) -> bytes:
            batch = np.frombuffer(data, dtype=in_dtype).reshape((1, *tuple(in_d.shape)[1:]))
            try:
                out = worker.invoke(batch)
            except TflmError as exc:
                raise EngineError(ERR.E_INVOKE, str(exc)) from exc
            return np.ascontiguousarray(out, dtype=out_dtype).tobytes()

        return LoadedModel(
            arena_used_bytes=int(worker.arena_bytes),
            input=in_d, output=out_d,
            est_total_us=float(estimate.total_us),
            est_per_op=[(int(o.index), str(o.op), float(o.us)) for o in estimate.per_op],
            invoke=invoke, close=worker.close)

    def close(self) -> None:
        for model in self._cache.values():
            model.close()
        self._cache.clear()

