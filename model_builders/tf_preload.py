"""Imported once by the build fork server, so that no build pays for importing TensorFlow.

Every build runs in a fresh child forked from that server (see model_builders.scheduler).
This module only *imports* (TensorFlow, tf_keras, tfmot, the converter's Python modules):
it creates no eager context, runs no op and starts no thread pool, which is what makes
forking from it safe. Thread settings and op determinism are applied in each child by
tf_runtime.import_tf(), before its first op.
"""
from __future__ import annotations

import sys
import time

from model_builders import timing
from model_builders.tf_runtime import set_tf_environment

_started = time.time()
set_tf_environment()  # this server's and, through fork, every build's

import tensorflow  # noqa: E402,F401
import tensorflow.lite.python.convert  # noqa: E402,F401
import tensorflow.lite.python.lite  # noqa: E402,F401
import tf_keras  # noqa: E402,F401

# tfmot's pruning registry tries `from keras.src.engine import base_layer` (Keras 2 as a
# standalone package). With Keras 3 installed that import loads all of Keras 3 (about 2 s,
# a quarter of this module's time) and then fails, leaving base_layer None, as when no
# `keras` is installed at all. A None entry in sys.modules makes it fail at once, the same
# way; nothing else here uses Keras 3 (tf_keras is the Keras), and the entry is removed
# again so a later `import keras` works as usual.
_block_keras3 = "keras" not in sys.modules
if _block_keras3:
    sys.modules["keras"] = None  # type: ignore[assignment]
try:
    import tensorflow_model_optimization  # noqa: E402,F401
except ImportError:  # pragma: no cover -- only QAT and pruning need it; they import it themselves
    pass
finally:
    if _block_keras3 and sys.modules.get("keras", 0) is None:
        del sys.modules["keras"]

timing.record("tf_import", _started, time.time())
