"""Bit-exact reference: the TensorFlow Lite interpreter with its reference kernels.

No XNNPACK and no optimized kernels (OpResolverType.BUILTIN_REF), so int8 outputs are
what TFLite's reference arithmetic gives: the yardstick for TFLM on the host and on the
chip. It also runs dynamic-range (hybrid) models, which TFLite Micro cannot.
TensorFlow is imported here, lazily, never at plugin import time.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import uuid
import warnings
from pathlib import Path

import numpy as np


def _interpreter(model_bytes: bytes):
    from model_builders.tf_runtime import set_tf_environment

    set_tf_environment()  # this process is about to import TensorFlow for the harness
    import tensorflow as tf

    with warnings.catch_warnings():
        # tf.lite.Interpreter warns that it moves to ai_edge_litert; it is still TF's own
        # reference-kernel interpreter, which is the yardstick we want.
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        interpreter = tf.lite.Interpreter(
            model_content=bytes(model_bytes),
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
            num_threads=1,
        )
    interpreter.allocate_tensors()
    return interpreter


def run_reference(model_bytes: bytes, inputs: np.ndarray) -> np.ndarray:
    """Outputs (N, *output_shape[1:]) for inputs (N, *input_shape[1:]), one sample per
    invoke (batch 1, as the model was converted and as the firmware runs it)."""
    interpreter = _interpreter(model_bytes)
    input_detail = interpreter.get_input_details()[0]
    output_detail = interpreter.get_output_details()[0]
    shape = tuple(int(d) for d in input_detail["shape"])
    inputs = np.asarray(inputs)
    if inputs.dtype != input_detail["dtype"] or tuple(inputs.shape[1:]) != shape[1:]:
        raise ValueError(
            f"reference: inputs are {inputs.dtype} {tuple(inputs.shape)}, the model expects "
            f"{np.dtype(input_detail['dtype']).name} (N, {', '.join(map(str, shape[1:]))})"
        )
    outputs = []
    for i in range(inputs.shape[0]):
        interpreter.set_tensor(input_detail["index"], inputs[i : i + 1].reshape(shape))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output_detail["index"]).copy())
    if not outputs:
        out_shape = tuple(int(d) for d in output_detail["shape"])
        return np.zeros((0, *out_shape[1:]), dtype=output_detail["dtype"])
    return np.concatenate(outputs, axis=0)


def run_reference_cached(model_bytes: bytes, inputs: np.ndarray, cache_dir: Path | None = None) -> np.ndarray:
    """run_reference, remembered by content.

    The reference is a pure function of the model bytes, the inputs and the TensorFlow
    version, so its outputs are kept in the artifact cache under a hash of the three: a
    warm run that rebuilds nothing imports no TensorFlow at all.
    """
    from model_builders.cache import DEFAULT_CACHE_DIR

    inputs = np.ascontiguousarray(inputs)
    digest = hashlib.sha256(bytes(model_bytes))
    digest.update(f"{inputs.dtype.str}{inputs.shape}".encode())
    digest.update(inputs.tobytes())
    digest.update(importlib.metadata.version("tensorflow").encode())
    cache_root = Path(cache_dir or os.environ.get("TINYML_CACHE_DIR") or DEFAULT_CACHE_DIR)
    path = cache_root / "reference" / f"{digest.hexdigest()}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    outputs = run_reference(model_bytes, inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.npy")
    np.save(tmp, outputs)
    os.replace(tmp, path)  # complete or absent, never half-written
    return outputs
