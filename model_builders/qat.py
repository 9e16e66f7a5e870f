"""Quantization-aware training that covers every Conv1D and Dense layer.

tfmot's quantize_model rejects Conv1D and MaxPooling1D. So every layer is annotated by
hand: Conv1D with a QuantizeConfig of ours (per-tensor int8 weights, 8-bit activations:
per-channel QAT on Conv1D would need the Conv2D formulation), MaxPooling1D with a config
that only passes values through (max pooling does not change the quantization range),
and everything else with tfmot's default registry (Dense, Flatten, Dropout, ...).
"""
from __future__ import annotations

from typing import Any

from model_builders.tf_runtime import import_tf_reproducibly


def _configs() -> dict[str, type]:
    import tensorflow_model_optimization as tfmot

    quantizers = tfmot.quantization.keras.quantizers

    class Conv1DQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
        """Per-tensor symmetric int8 kernel, asymmetric 8-bit output activation."""

        def get_weights_and_quantizers(self, layer):
            return [(layer.kernel, quantizers.LastValueQuantizer(num_bits=8, symmetric=True, narrow_range=True,
                                                                 per_axis=False))]

        def get_activations_and_quantizers(self, layer):
            return [(layer.activation, quantizers.MovingAverageQuantizer(num_bits=8, symmetric=False,
                                                                         narrow_range=False, per_axis=False))]

        def set_quantize_weights(self, layer, quantize_weights):
            layer.kernel = quantize_weights[0]

        def set_quantize_activations(self, layer, quantize_activations):
            layer.activation = quantize_activations[0]

        def get_output_quantizers(self, layer):
            return []

        def get_config(self):
            return {}

    class PassThroughQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
        """For layers that keep their input's range (max pooling)."""

        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return []

        def get_config(self):
            return {}

    return {"Conv1DQuantizeConfig": Conv1DQuantizeConfig, "PassThroughQuantizeConfig": PassThroughQuantizeConfig}


def quantize_all_layers(float_model: Any) -> Any:
    """A QAT model with the float model's weights, every Conv1D and Dense quantized."""
    _, keras = import_tf_reproducibly()  # the builds install the speed-ups; this needs only Keras
    import tensorflow_model_optimization as tfmot

    configs = _configs()
    annotate = tfmot.quantization.keras.quantize_annotate_layer

    def annotate_layer(layer):
        clone = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, keras.layers.Conv1D):
            return annotate(clone, configs["Conv1DQuantizeConfig"]())
        if isinstance(layer, keras.layers.MaxPooling1D):
            return annotate(clone, configs["PassThroughQuantizeConfig"]())
        return annotate(clone)

    annotated = keras.models.clone_model(float_model, clone_function=annotate_layer)
    annotated.set_weights(float_model.get_weights())
    with tfmot.quantization.keras.quantize_scope(configs):
        return tfmot.quantization.keras.quantize_apply(annotated)


def quantized_layer_names(qat_model: Any) -> dict[str, bool]:
    """For every Conv1D and Dense of the QAT model: is its kernel wrapped for quantization?"""
    _, keras = import_tf_reproducibly()  # the builds install the speed-ups; this needs only Keras
    result = {}
    for layer in qat_model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, (keras.layers.Conv1D, keras.layers.Dense)):
            quantizes_kernel = bool(getattr(layer, "quantize_config", None)) and bool(
                layer.quantize_config.get_weights_and_quantizers(inner)
            )
            result[inner.name] = quantizes_kernel
    return result
