"""The one place TensorFlow is imported, lazily, configured for reproducible training.

tfmot needs Keras 2, so TF_USE_LEGACY_KERAS=1 is set before the first import and models
are built with tf_keras. Op determinism and single-threaded kernels make training give
the same weights (and so the same .tflite bytes) for the same seed: import_tf_reproducibly,
public calls only. import_tf adds the builds' speed-ups, which change no result (AutoGraph
left out of tfmot, no tf.data autotuning thread in fit).
"""
from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any

#: What TensorFlow reads when it starts, for reproducible training: Keras 2 for tfmot, one
#: thread per op pool, no oneDNN rewrites (they reorder float sums). Its C++ log is kept to
#: fatal messages: builds run on the CPU, and on a machine without a GPU its CUDA platform
#: logs "failed call to cuInit" once per process (noise: failures reach pytest as exceptions).
#: TF_USE_LEGACY_KERAS is forced (tfmot cannot work without it); the others are defaults.
TF_ENVIRONMENT = {
    "TF_USE_LEGACY_KERAS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}

_reproducible = False


def set_tf_environment(environ: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Put TF_ENVIRONMENT into `environ` (default: this process's, which only a process about
    to import TensorFlow for the harness should change) and return it. Never called on
    import: loading the plugin leaves every other suite's environment alone."""
    target: MutableMapping[str, str] = os.environ if environ is None else environ
    for name, value in TF_ENVIRONMENT.items():
        if name == "TF_USE_LEGACY_KERAS":
            target[name] = value
        else:
            target.setdefault(name, value)
    return target
_fast = False


def import_tf() -> tuple[Any, Any]:
    """Return (tensorflow, tf_keras), configured for reproducible training and with the
    builds' speed-ups installed, on first use. Typed Any: neither package ships types, and
    their submodules and classes are reached as attributes."""
    global _fast
    tf, tf_keras = import_tf_reproducibly()
    if not _fast:
        _skip_autograph(("tensorflow_model_optimization", "model_builders"))
        _no_autotune_thread_in_fit()
        _fast = True
    return tf, tf_keras


def import_tf_reproducibly() -> tuple[Any, Any]:
    """Return (tensorflow, tf_keras) with Keras 2, op determinism and one thread, set on
    first use with public calls only (what a hand-written reproducible script does)."""
    global _reproducible
    set_tf_environment()
    import tensorflow as tf
    import tf_keras

    if not _reproducible:
        tf.config.experimental.enable_op_determinism()
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # the runtime was already initialized by someone else; determinism still holds
        tf.get_logger().setLevel("ERROR")
        _reproducible = True
    return tf, tf_keras


def _skip_autograph(packages: tuple[str, ...]) -> None:
    """Call these packages' code as plain Python when TensorFlow traces it, as AutoGraph
    already does for TensorFlow and Keras themselves. tfmot's wrappers (and our QAT
    configs) are written for graph mode (smart_cond, no Python branches on tensors), so
    rewriting them to graph control flow produces nothing different: every variant's
    weights and .tflite are bit-identical with and without it. Rewriting them costs seconds
    per process (about 1.3 s of each QAT model's construction, 0.6 s per pruning run), and
    every build is a fresh process."""
    try:
        from tensorflow.python.autograph.core import config as autograph_config
    except ImportError:  # pragma: no cover -- another TensorFlow layout: convert as usual
        return
    rules = tuple(autograph_config.CONVERSION_RULES)
    autograph_config.CONVERSION_RULES = tuple(autograph_config.DoNotConvert(p) for p in packages) + rules


def _no_autotune_thread_in_fit() -> None:
    """fit() on arrays feeds the model through a tf.data pipeline with autotuning on, whose
    optimisation thread sleeps for a period that doubles as it runs (10 ms, 20 ms, ...
    past a second within a two-second fit). Destroying the pipeline at the end of fit()
    waits for that sleep to end: up to 1.3 s measured, during which the build process
    sits idle (py-spy: ~RootDataset::Iterator waiting on its thread). Turning autotuning
    off for the pipeline Keras builds from arrays removes the thread. The pipeline yields
    the same batches in the same order (autotuning only sizes buffers and parallelism),
    so the trained weights are the same bit for bit. It is process-wide: it applies in
    the build workers and wherever the harness itself imports TensorFlow, to any fit() on
    arrays there (a large input pipeline of a user's own may then run without autotuned
    buffers)."""
    try:
        import tensorflow as tf
        from tf_keras.src.engine import data_adapter
    except ImportError:  # pragma: no cover -- another tf_keras layout: fit as usual
        return
    base: Any = data_adapter.TensorLikeDataAdapter  # a class reached at run time
    if base not in data_adapter.ALL_ADAPTER_CLS:
        return  # already replaced (or another layout)

    class ArrayAdapterWithoutAutotuneThread(base):
        _dataset: Any  # the tf.data pipeline Keras built (TensorLikeDataAdapter.__init__)

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            options = tf.data.Options()
            options.autotune.enabled = False
            self._dataset = self._dataset.with_options(options)

    adapters = data_adapter.ALL_ADAPTER_CLS
    adapters[adapters.index(base)] = ArrayAdapterWithoutAutotuneThread


def seed_everything(seed: int) -> None:
    _, keras = import_tf()
    keras.utils.set_random_seed(seed)


def prepare_fit(model, samples: int, batch_size: int) -> None:
    """Make a compiled model's fit() cheaper without changing what it computes.

    - One call into TensorFlow per epoch (what compile(steps_per_execution=N) sets) instead
      of one per batch: the models are tiny, so a step costs little more than Keras's
      per-batch Python work. Callbacks that act per batch would see one batch per epoch:
      use it only with callbacks that act per epoch (tfmot's pruning counts its step in the
      graph; its UpdatePruningStep callback only initializes the step and remasks at the
      end of each epoch).
    - The optimizer's slots and the compiled loss and metrics are created here, before the
      first trace: a tf.function whose first trace creates variables is traced a second
      time, and tracing a training step costs about a second.
    - The training step is traced once, not twice (see _one_trace_train_function).
    The steps, their order and their batches are the same, and so are the trained weights
    (bit for bit, checked on every variant)."""
    configure = getattr(model, "_configure_steps_per_execution", None)
    if configure is not None:  # tf_keras 2.x; without it, training is the same, only slower
        configure(max(1, -(-samples // batch_size)))
        _one_trace_train_function(model)
    if len(getattr(model, "outputs", None) or ()) != 1:
        return  # several outputs: fit() creates them itself
    try:
        import tensorflow as tf

        outputs = tf.zeros((1, *model.output_shape[1:]), dtype=model.outputs[0].dtype)
        model.compiled_loss.build(outputs)
        model.compiled_metrics.build(outputs, outputs)
        model.optimizer.build(model.trainable_variables)
    except (AttributeError, TypeError, ValueError):  # another model type: fit() creates them itself
        pass


def _one_trace_train_function(model) -> None:
    """Give a model with several steps per execution a train function that traces its
    training step once. Keras's own runs `for _ in tf.range(n): outputs = step(iterator)`;
    `outputs` is undefined before that loop, so AutoGraph first stages one whole training
    step in a throwaway graph only to learn its type, then traces it again for the real
    loop: a second trace that costs 0.2 s for the float CNN and 0.7 s under tfmot's
    pruning wrappers, in every build process. Here the loop carries only its counter and
    the logs are read after it: `get_metrics_result()`, which is what Keras's training
    step returns after its last update. The step itself is Keras's own one-step function
    (what make_train_function builds for one step per execution), so each step computes
    exactly what it did. Models that override how a step runs or what it returns keep
    Keras's function."""
    import tensorflow as tf
    import tf_keras

    base = tf_keras.Model
    if any(getattr(type(model), name, None) is not getattr(base, name)
           for name in ("train_step", "compute_metrics", "get_metrics_result", "make_train_function")):
        return
    steps_variable = getattr(model, "_steps_per_execution", None)
    if steps_variable is None or int(steps_variable.numpy()) <= 1 or model.run_eagerly:
        return
    steps = int(steps_variable.numpy())
    steps_variable.assign(1)
    try:
        one_step = model.make_train_function(force=True).python_function
    finally:
        steps_variable.assign(steps)

    def train_function(iterator):
        def body(i):
            one_step(iterator)
            return i + 1

        # the step count is read when the function runs: Keras lowers it for a short last execution
        done = tf.while_loop(lambda i: i < steps_variable, body, [tf.constant(0, steps_variable.dtype)])
        with tf.control_dependencies([done]):
            return model.get_metrics_result()

    model.train_function = model.train_tf_function = tf.function(train_function, reduce_retracing=True)
