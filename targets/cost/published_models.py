"""The models Espressif publishes invoke() times for, rebuilt here as op tables.

Latency depends on a graph's ops and shapes, not on its weights, so the estimator is
calibrated and validated on these architectures built from their definitions (random
weights, int8 by the TFLite converter with a small random representative set), never
on the fetched .tflite files:

- person detection: TFLite Micro's example model, MobileNet v1 alpha 0.25 on 96x96x1
  grayscale, 2 classes;
- MobileNetV3-Small 224: tf_keras.applications.MobileNetV3Small(weights=None), 1000
  classes, int8;
- and the harness's own gesture CNN (int8, float32), whose estimate docs/LATENCY.md
  states beside the reference lesson's figures.

Each model becomes a table of its ops as targets/tflm/analysis.py sees them (op, dtype,
MACs, elements, kernel, channels), committed as published_models.json so the estimator's
tests need no TensorFlow. Regenerate (TensorFlow, about a minute):

    python -m targets.cost.published_models --write
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from targets.tflm.analysis import OpInfo, analyze_model

TABLE_FILE = Path(__file__).resolve().parent / "published_models.json"
SEED = 0


def person_detection_keras():
    """MobileNet v1, alpha 0.25, 96x96x1, 2 classes: the layers of TFLM's person_detect.tflite."""
    import tf_keras as keras

    def depth(filters: int) -> int:
        return int(filters * 0.25)

    # batch 1: a static RESHAPE at the end, as in the published model. The first 3x3 conv of a
    # one-channel image is the published model's depthwise op with multiplier 8 (same MACs).
    inputs = keras.Input((96, 96, 1), batch_size=1)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=depth(32),
                                     activation="relu6")(inputs)
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
              (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]
    for filters, stride in blocks:
        x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu6")(x)
        x = keras.layers.Conv2D(depth(filters), 1, activation="relu6")(x)
    x = keras.layers.AveragePooling2D(3)(x)
    x = keras.layers.Conv2D(2, 1)(x)
    x = keras.layers.Reshape((2,))(x)
    return keras.Model(inputs, keras.layers.Softmax()(x), name="person_detection")


def mobilenet_v3_small_keras():
    """Keras's MobileNetV3-Small 224 (random weights; the input is already scaled, no Rescaling)."""
    import tf_keras as keras

    return keras.applications.MobileNetV3Small(input_shape=(224, 224, 3), weights=None, classes=1000,
                                               include_preprocessing=False)


def gesture_cnn_keras():
    """The harness's built-in gesture CNN (architecture reference_cnn, 50x3, 3 classes): the model
    the reference lesson's figures are about (docs/LATENCY.md puts its estimate beside them)."""
    import tf_keras as keras

    from model_builders.architectures import get_architecture

    return get_architecture("reference_cnn")((50, 3), 3, keras)


#: name -> (Keras builder, how it is converted)
MODELS: dict[str, tuple[Callable, str]] = {
    "person_detection": (person_detection_keras, "int8"),
    "mobilenet_v3_small_224": (mobilenet_v3_small_keras, "int8"),
    "gesture_cnn_int8": (gesture_cnn_keras, "int8"),
    "gesture_cnn_float32": (gesture_cnn_keras, "float32"),
}


def tflite(model, kind: str, samples: int = 4) -> bytes:
    """float32, or full-integer int8 with a small random representative set (shapes are what matter)."""
    import tensorflow as tf

    rng = np.random.default_rng(SEED)
    shape = (1, *model.input_shape[1:])

    def representative():
        for _ in range(samples):
            yield [rng.uniform(-1, 1, shape).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if kind == "float32":
        return converter.convert()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def op_rows(model_bytes: bytes, name: str) -> list[dict]:
    """The analysis's view of every op, as JSON-able rows."""
    return [{"op": i.op, "dtype": i.dtype, "macs": i.macs, "elements": i.elements,
             "kernel": list(i.kernel), "channels": list(i.channels)}
            for i in analyze_model(model_bytes, name=name).op_infos]


def build_table() -> dict[str, list[dict]]:
    """Every published model, built and converted now (TensorFlow)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    tf.random.set_seed(SEED)
    return {name: op_rows(tflite(build(), kind), name) for name, (build, kind) in MODELS.items()}


def render(table: dict[str, list[dict]]) -> str:
    """One op a line: the committed file diffs by op."""
    parts = []
    for name, rows in table.items():
        lines = ",\n".join("    " + json.dumps(row) for row in rows)
        parts.append(f'  "{name}": [\n{lines}\n  ]')
    return "{\n" + ",\n".join(parts) + "\n}\n"


class PublishedModel:
    """A committed op table, as the estimator reads a model (`op_infos`)."""

    def __init__(self, name: str, rows: list[dict]) -> None:
        self.name = name
        self.op_infos = [OpInfo(index, r["op"], r["macs"], r["dtype"], r["elements"],
                                tuple(r["kernel"]), tuple(r["channels"]))
                         for index, r in enumerate(rows)]

    @property
    def macs(self) -> int:
        return sum(i.macs for i in self.op_infos)


def load(path: Path = TABLE_FILE) -> dict[str, PublishedModel]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the published models' op tables ({exc}); "
                         "regenerate: python -m targets.cost.published_models --write") from None
    return {name: PublishedModel(name, rows) for name, rows in raw.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m targets.cost.published_models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"rewrite {TABLE_FILE.name}")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if {TABLE_FILE.name} differs")
    args = parser.parse_args(argv)
    text = render(build_table())
    for name, model in load_text(text).items():
        print(f"{name}: {len(model.op_infos)} ops, {model.macs:,} MACs")
    if args.write:
        TABLE_FILE.write_text(text)
        print(f"written {TABLE_FILE}")
    if args.check and TABLE_FILE.read_text() != text:
        print(f"{TABLE_FILE} differs from the rebuilt tables: regenerate with --write", file=sys.stderr)
        return 1
    return 0


def load_text(text: str) -> dict[str, PublishedModel]:
    return {name: PublishedModel(name, rows) for name, rows in json.loads(text).items()}


if __name__ == "__main__":
    sys.exit(main())
