"""Imported once by the build fork server, so that no build pays for importing TensorFlow.

Every build runs in a fresh child forked from that server (see model_builders.scheduler).
This module only *imports* (TensorFlow, tf_keras, tfmot, the converter's Python modules):
it creates no eager context, runs no op and starts no thread pool, which is what makes
forking from it safe. Thread settings and op determinism are applied in each child by
tf_runtime.import_tf(), before its first op.
"""
from __future__ import annotations

import os
import time

from model_builders import timing

_started = time.time()
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import tensorflow  # noqa: E402,F401
import tensorflow.lite.python.convert  # noqa: E402,F401
import tensorflow.lite.python.lite  # noqa: E402,F401
import tf_keras  # noqa: E402,F401

try:
    import tensorflow_model_optimization  # noqa: E402,F401
except ImportError:  # pragma: no cover -- only QAT and pruning need it; they import it themselves
    pass

timing.record("tf_import", _started, time.time())
