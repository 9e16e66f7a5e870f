"""Dataset loading and validation: each bad input gives one clear error naming the culprit."""
from __future__ import annotations

import numpy as np
import pytest

from model_builders.datasets import GESTURES, DatasetError, load_directory, save_directory, synthetic_gestures


def make_dataset(root, classes=("a", "b"), per_class=4, shape=(20, 3), seed=0):
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            np.save(root / name / f"{i}.npy", rng.normal(size=shape).astype(np.float32))
    return root


def test_synthetic_gestures_are_deterministic_and_shaped_like_the_reference():
    first, second = synthetic_gestures(seed=3, samples_per_class=20), synthetic_gestures(seed=3, samples_per_class=20)
    assert first.x.shape == (60, 50, 3) and first.x.dtype == np.float32
    assert first.class_names == GESTURES
    assert np.array_equal(first.x, second.x) and np.array_equal(first.y, second.y)
    assert first.fingerprint() == second.fingerprint()
    assert synthetic_gestures(seed=4, samples_per_class=20).fingerprint() != first.fingerprint()
    assert np.bincount(first.y).tolist() == [20, 20, 20]


def test_synthetic_gestures_carry_gravity_and_noise():
    data = synthetic_gestures(seed=1, samples_per_class=50)
    magnitude_at_rest = np.linalg.norm(data.x[:, 0, :], axis=1)  # first step: mostly before the gesture
    assert 0.7 < np.median(magnitude_at_rest) < 1.3  # about 1 g
    assert np.all(np.isfinite(data.x))
    assert data.x.std(axis=1).min() > 0.01  # no sample is flat: sensor noise everywhere


def test_directory_loader_reads_sorted_classes_and_pads_or_truncates(tmp_path):
    make_dataset(tmp_path, classes=("wave", "flex"), per_class=3, shape=(20, 3))
    np.save(tmp_path / "flex" / "long.npy", np.ones((30, 3), np.float32))
    np.save(tmp_path / "wave" / "short.npy", np.ones((5, 3), np.float32))
    data = load_directory(tmp_path)
    assert data.class_names == ("flex", "wave")
    assert data.x.shape == (8, 20, 3)  # most common length wins
    short = data.files.index(str(tmp_path / "wave" / "short.npy"))
    assert np.all(data.x[short, :5] == 1) and np.all(data.x[short, 5:] == 0)
    assert load_directory(tmp_path, window=25).x.shape == (8, 25, 3)


def test_one_dimensional_samples_become_one_channel(tmp_path):
    make_dataset(tmp_path, shape=(16,))
    assert load_directory(tmp_path).x.shape == (8, 16, 1)


def test_save_and_load_round_trip(tmp_path):
    data = synthetic_gestures(seed=2, samples_per_class=5)
    loaded = load_directory(save_directory(data, tmp_path))
    assert loaded.class_names == data.class_names and loaded.x.shape == data.x.shape


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_or_inf_names_the_file(tmp_path, value):
    make_dataset(tmp_path)
    bad = np.zeros((20, 3), np.float32)
    bad[7, 1] = value
    np.save(tmp_path / "b" / "bad.npy", bad)
    with pytest.raises(DatasetError, match=r"bad\.npy.*NaN or inf.*timestep 7"):
        load_directory(tmp_path)


def test_mixed_channel_counts_name_both_files(tmp_path):
    make_dataset(tmp_path)
    np.save(tmp_path / "b" / "six.npy", np.zeros((20, 6), np.float32))
    with pytest.raises(DatasetError, match=r"six\.npy: 6 channels, but .*0\.npy has 3"):
        load_directory(tmp_path)


def test_non_numeric_dtype(tmp_path):
    make_dataset(tmp_path)
    np.save(tmp_path / "a" / "text.npy", np.array(["x"] * 20))
    with pytest.raises(DatasetError, match=r"text\.npy: dtype <U1 is not numeric"):
        load_directory(tmp_path)


def test_pickled_object_array_is_refused(tmp_path):
    make_dataset(tmp_path)
    np.save(tmp_path / "a" / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match=r"objects\.npy: cannot read"):
        load_directory(tmp_path)


def test_unreadable_file(tmp_path):
    make_dataset(tmp_path)
    (tmp_path / "a" / "broken.npy").write_bytes(b"not a numpy file")
    with pytest.raises(DatasetError, match=r"broken\.npy: cannot read"):
        load_directory(tmp_path)


def test_empty_class_folder_names_the_class(tmp_path):
    make_dataset(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="class folder 'empty' holds no .npy file"):
        load_directory(tmp_path)


def test_fewer_than_two_classes(tmp_path):
    make_dataset(tmp_path, classes=("only",))
    with pytest.raises(DatasetError, match="at least 2 class folders, found 1"):
        load_directory(tmp_path)


def test_missing_directory(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_directory(tmp_path / "nope")
