"""This project's own model: a small 1D CNN for a 2-axis wrist sensor (tap / shake / still).

Registered under a name so the harness can build it: `architecture = wrist_cnn` in pytest.ini.
The builder's source is part of the harness's cache key and of the baseline's record.
"""
from model_builders.architectures import register_architecture


@register_architecture("wrist_cnn")
def wrist_cnn(input_shape, n_classes, keras):
    layers = keras.layers
    model = keras.Sequential([
        layers.Input(shape=input_shape),
        layers.Conv1D(8, 5, activation="relu"),
        layers.MaxPooling1D(2),
        layers.Conv1D(16, 3, activation="relu"),
        layers.MaxPooling1D(2),
        layers.Flatten(),
        layers.Dense(16, activation="relu"),
        layers.Dense(n_classes, activation="softmax"),
    ], name="wrist_cnn")
    model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
    return model
