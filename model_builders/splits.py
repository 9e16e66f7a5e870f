"""Deterministic stratified train / val / test split, stored with the artifacts.

The test split is held out: it is never used for training, early stopping or
representative data (model_builders.representative enforces the last).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from model_builders.datasets import Dataset, DatasetError

DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)  # train, val, test


@dataclass(frozen=True)
class Split:
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]
    seed: int
    fractions: tuple[float, float, float]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Split:
        data = json.loads(text)
        train_f, val_f, test_f = data["fractions"]
        return cls(tuple(data["train"]), tuple(data["val"]), tuple(data["test"]), data["seed"],
                   (train_f, val_f, test_f))


def stratified_split(dataset: Dataset, seed: int = 7,
                     fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> Split:
    """Per class: shuffle with the seed, then cut val and test off (at least one sample each).

    Raises DatasetError naming the class when it has too few samples to put one in every split.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) <= 0:
        raise DatasetError(f"split fractions {fractions} must be three positive numbers summing to 1")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for label, name in enumerate(dataset.class_names):
        indices = np.flatnonzero(dataset.y == label)
        if len(indices) < 3:
            raise DatasetError(
                f"class '{name}' has {len(indices)} sample(s); the train/val/test split needs at least 3 per class"
            )
        indices = rng.permutation(indices)
        n_val = max(1, int(round(len(indices) * fractions[1])))
        n_test = max(1, int(round(len(indices) * fractions[2])))
        n_val, n_test = min(n_val, len(indices) - 2), min(n_test, len(indices) - 2)
        parts["test"] += indices[:n_test].tolist()
        parts["val"] += indices[n_test:n_test + n_val].tolist()
        parts["train"] += indices[n_test + n_val:].tolist()
    train_f, val_f, test_f = fractions
    return Split(tuple(sorted(parts["train"])), tuple(sorted(parts["val"])), tuple(sorted(parts["test"])), seed,
                 (train_f, val_f, test_f))
