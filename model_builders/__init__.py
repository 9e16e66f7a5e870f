"""Datasets, architectures and variant recipes, built through a content-addressed cache.

Importing this package sets the environment TensorFlow reads when it starts, so training is
reproducible whichever module imports TensorFlow first in the process (pytest loads this
package as a plugin, before any test): Keras 2 for tfmot, one thread per op pool, and no
oneDNN rewrites (which reorder float sums). TensorFlow's C++ log is kept to fatal
messages: builds run on the CPU, and on a machine without a GPU its CUDA platform logs
"failed call to cuInit" once per build process (noise: failures reach pytest as exceptions).
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
