"""Split determinism, held-out test data, normalization from the training split only."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from model_builders.datasets import Dataset, DatasetError, synthetic_gestures
from model_builders.normalization import Normalization
from model_builders.representative import (
    RepresentativeDataError,
    check_representative_indices,
    default_representative_indices,
)
from model_builders.splits import Split, stratified_split


@pytest.fixture(scope="module")
def data():
    return synthetic_gestures(seed=5, samples_per_class=60)


def test_split_is_deterministic_stratified_and_disjoint(data):
    first, second = stratified_split(data, seed=1), stratified_split(data, seed=1)
    assert first == second
    assert stratified_split(data, seed=2) != first
    train, val, test = map(set, (first.train, first.val, first.test))
    assert not (train & val or train & test or val & test)
    assert len(train | val | test) == len(data.y)
    for part in (first.train, first.val, first.test):
        counts = np.bincount(data.y[list(part)], minlength=3)
        assert counts.min() > 0 and counts.max() - counts.min() <= 1  # stratified
    assert len(first.test) == 36 and len(first.val) == 36
    assert Split.from_json(first.to_json()) == first


def test_too_few_samples_per_class_names_the_class():
    x = np.zeros((7, 4, 1), np.float32)
    y = np.array([0, 0, 0, 0, 0, 1, 1])
    with pytest.raises(DatasetError, match="class 'b' has 2 sample"):
        stratified_split(Dataset(x, y, ("a", "b"), "test"))


def test_normalization_uses_training_range_only(data):
    split = stratified_split(data, seed=1)
    norm = Normalization.fit(data.x[list(split.train)])
    train = norm.apply(data.x[list(split.train)])
    assert np.allclose(train.min(axis=(0, 1)), 0) and np.allclose(train.max(axis=(0, 1)), 1)
    everything = Normalization.fit(data.x)
    assert norm != everything  # the test split widens the range: proof it was not used
    assert Normalization.from_json(norm.to_json()) == norm


def test_normalization_header_compiles_with_the_same_constants(tmp_path, data):
    norm = Normalization.fit(data.x[:100])
    (tmp_path / "norm.h").write_text(norm.to_c_header())
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "norm.h"\nint main(void){for(int i=0;i<MODEL_NORM_CHANNELS;i++)'
        'printf("%.9g %.9g\\n",kModelNormMin[i],kModelNormMax[i]);return 0;}\n')
    subprocess.run(["cc", "-Wall", "-Werror", "-o", tmp_path / "main", tmp_path / "main.c"], check=True)
    lines = subprocess.run([tmp_path / "main"], capture_output=True, text=True, check=True).stdout.split("\n")
    printed = np.array([[float(v) for v in line.split()] for line in lines if line])
    assert np.allclose(printed[:, 0], norm.minimum, rtol=1e-6) and np.allclose(printed[:, 1], norm.maximum, rtol=1e-6)


def test_representative_default_follows_every_rule(data):
    split = stratified_split(data, seed=1)
    chosen = default_representative_indices(split, data.y, seed=1)
    assert len(chosen) == 100 and set(chosen) <= set(split.train)
    assert set(data.y[chosen]) == {0, 1, 2}
    check_representative_indices(chosen, split, data.y, data.class_names)


def test_representative_rules_name_the_broken_rule(data):
    split = stratified_split(data, seed=1)
    good = default_representative_indices(split, data.y, seed=1)
    with pytest.raises(RepresentativeDataError, match="from the training split.*test split"):
        check_representative_indices(good[:-1] + [split.test[0]], split, data.y, data.class_names)
    one_class = [i for i in split.train if data.y[i] != 2]
    with pytest.raises(RepresentativeDataError, match="every class present.*wave"):
        check_representative_indices(one_class, split, data.y, data.class_names)
    with pytest.raises(RepresentativeDataError, match="at least 100 samples.*50 distinct"):
        check_representative_indices(good[:50], split, data.y, data.class_names)
