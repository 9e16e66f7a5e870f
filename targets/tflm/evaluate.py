"""Evaluate one model variant on the host: TFLite Micro accuracy, arena, bit-exactness.

Accuracy uses the model's own input quantization (the input tensor's scale and zero
point, rounded as the firmware does), never the Keras model. Deployable models run in
TFLite Micro (isolated worker); dynamic-range models, which TFLM cannot run, are
evaluated with the TFLite reference interpreter and say so in `engine`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_builders.timing import phase
from targets.tflm.analysis import ModelAnalysis, analyze_model
from targets.tflm.runner import TflmWorker, dequantize_output, quantize_input
from vocabulary.tensors import TensorSpec


@dataclass
class HostEvaluation:
    name: str
    accuracy: float
    """Top-1, percent."""
    predictions: np.ndarray
    arena_bytes: int | None
    """TFLM's recording-allocator total; None when TFLM cannot run the model."""
    arena_source: str
    max_lsb_diff: int | None
    """Largest |TFLM - reference| over all int8 outputs; None for float outputs or no reference."""
    lsb_diff_per_sample: np.ndarray | None
    max_abs_diff: float | None
    """Largest |TFLM - reference| for float outputs."""
    analysis: ModelAnalysis
    input: TensorSpec
    output: TensorSpec
    seconds: float
    engine: str
    """"tflm" or "tflite-reference" (dynamic-range models)."""
    raw_outputs: np.ndarray | None = None


def _check_shape(name: str, x: np.ndarray, y: np.ndarray, details: TensorSpec) -> None:
    expected = details.shape[1:]
    if x.ndim != len(details.shape) or tuple(x.shape[1:]) != tuple(expected):
        raise ValueError(
            f"{name}: dataset features have shape {tuple(x.shape)}, the model input is "
            f"{details.shape} (expected (N, {', '.join(map(str, expected))}))"
        )
    if y.shape != (x.shape[0],):
        raise ValueError(f"{name}: labels have shape {tuple(y.shape)}, expected ({x.shape[0]},) to match the features")


def prime_reference(model_bytes: bytes, x: np.ndarray, cache_dir: Path | None = None) -> None:
    """Compute and cache the reference outputs evaluate_on_host will ask for (same inputs,
    same content key), in a process that has TensorFlow loaded already (a build worker)."""
    from targets.tflm.reference import run_reference_cached

    analysis = analyze_model(model_bytes, name="reference")
    run_reference_cached(model_bytes, quantize_input(np.asarray(x, dtype=np.float32), analysis.input), cache_dir)


def evaluate_on_host(
    name: str,
    model_bytes: bytes,
    x: np.ndarray,
    y: np.ndarray,
    *,
    reference: bool = True,
    arena_size: int | None = None,
    cache_dir: Path | None = None,
) -> HostEvaluation:
    """Top-1 accuracy of `model_bytes` on (x, y); x float32 normalized features (N, T, C)."""
    start = time.perf_counter()
    analysis = analyze_model(model_bytes, name=name)
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y).astype(np.int64)
    _check_shape(name, x, y, analysis.input)
    inputs = quantize_input(x, analysis.input)

    reference_outputs = None
    if not analysis.deployable:
        from targets.tflm.reference import run_reference_cached

        with phase("reference", name):
            outputs = run_reference_cached(model_bytes, inputs, cache_dir)
        engine, arena_bytes = "tflite-reference", None
        arena_source = "n/a: not runnable on TFLite Micro (" + "; ".join(analysis.notes) + ")"
        input_details, output_details = analysis.input, analysis.output
    else:
        with phase("tflm", name), TflmWorker(model_bytes, name=name, arena_size=arena_size) as worker:
            outputs = worker.invoke(inputs)
            engine, arena_bytes, arena_source = "tflm", worker.arena_bytes, worker.arena_source
            input_details, output_details = worker.input, worker.output
        if reference:
            from targets.tflm.reference import run_reference_cached

            with phase("reference", name):
                reference_outputs = run_reference_cached(model_bytes, inputs, cache_dir)

    max_lsb = lsb_per_sample = max_abs = None
    if reference_outputs is not None:
        diff = np.abs(outputs.astype(np.float64) - reference_outputs.astype(np.float64)).reshape(len(outputs), -1)
        per_sample = diff.max(axis=1) if diff.size else np.zeros(len(outputs))
        if np.dtype(output_details.dtype).kind in "iu":
            lsb_per_sample = per_sample.astype(np.int64)
            max_lsb = int(lsb_per_sample.max()) if lsb_per_sample.size else 0
        else:
            max_abs = float(per_sample.max()) if per_sample.size else 0.0

    scores = dequantize_output(outputs, output_details).reshape(len(outputs), -1)
    predictions = scores.argmax(axis=1) if len(scores) else np.zeros(0, dtype=np.int64)
    accuracy = float((predictions == y).mean() * 100.0) if len(y) else float("nan")
    return HostEvaluation(
        name=name,
        accuracy=accuracy,
        predictions=predictions,
        arena_bytes=arena_bytes,
        arena_source=arena_source,
        max_lsb_diff=max_lsb,
        lsb_diff_per_sample=lsb_per_sample,
        max_abs_diff=max_abs,
        analysis=analysis,
        input=input_details,
        output=output_details,
        seconds=time.perf_counter() - start,
        engine=engine,
        raw_outputs=outputs,
    )
