"""Datasets: the built-in synthetic gesture set and directories of .npy files.

A dataset is plain numpy: x with shape (samples, timesteps, channels), float32, and y with
integer class indices into class_names. Everything here is numpy only, so a warm run that
needs no training never imports TensorFlow.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GESTURES = ("flex", "punch", "wave")  # sorted, as directory datasets are
SAMPLE_RATE_HZ = 50
WINDOW = 50  # 1 s at 50 Hz, as the reference project


class DatasetError(ValueError):
    """A dataset that cannot be used; the message names the file or class at fault."""


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray  # (samples, timesteps, channels) float32
    y: np.ndarray  # (samples,) int64 class indices
    class_names: tuple[str, ...]
    source: str  # where it came from, for reports ("synthetic-gestures seed=7", a path)
    files: tuple[str, ...] = field(default=())  # one per sample for directory datasets

    @property
    def window(self) -> int:
        return int(self.x.shape[1])

    @property
    def channels(self) -> int:
        return int(self.x.shape[2])

    def fingerprint(self) -> str:
        """sha256 over the samples, labels and class names: the cache key's dataset part."""
        digest = hashlib.sha256()
        digest.update(json.dumps({"classes": list(self.class_names), "shape": list(self.x.shape)}).encode())
        digest.update(np.ascontiguousarray(self.x, dtype="<f4").tobytes())
        digest.update(np.ascontiguousarray(self.y, dtype="<i8").tobytes())
        return digest.hexdigest()


# --------------------------------------------------------------------------- synthetic


def synthetic_gestures(seed: int = 7, samples_per_class: int = 250, subjects: int = 12) -> Dataset:
    """Accelerometer gestures (wave / punch / flex), 50 steps x 3 axes at 50 Hz, in g.

    Physically motivated: a gravity vector whose direction depends on how each subject
    holds the device, per-subject amplitude and tempo, gestures that start at a random
    moment and sometimes run off the end of the window, sensor noise and bias, and a share
    of hard cases (weak, truncated or hesitant gestures) so that a good model scores in the
    low-to-high 90s rather than 100%. Deterministic for a given seed.
    """
    rng = np.random.default_rng(seed)
    subject_profiles = [_subject_profile(rng) for _ in range(subjects)]
    xs, ys = [], []
    for label, gesture in enumerate(GESTURES):
        for _ in range(samples_per_class):
            profile = subject_profiles[rng.integers(subjects)]
            xs.append(_gesture_sample(gesture, profile, rng))
            ys.append(label)
    x = np.stack(xs).astype(np.float32)
    y = np.asarray(ys, dtype=np.int64)
    order = rng.permutation(len(y))
    return Dataset(x[order], y[order], GESTURES, f"synthetic-gestures seed={seed} n={len(y)}")


def _subject_profile(rng: np.random.Generator) -> dict:
    tilt = rng.normal(0, 0.35, size=2)  # how the device sits on the wrist (rad)
    gravity = np.array([np.sin(tilt[0]), np.sin(tilt[1]), np.cos(tilt[0]) * np.cos(tilt[1])])
    return {
        "gravity": gravity,
        "amplitude": rng.uniform(0.6, 1.4),
        "tempo": rng.uniform(0.75, 1.3),
        "noise": rng.uniform(0.04, 0.10),
        "bias": rng.normal(0, 0.03, size=3),
    }


def _gesture_sample(gesture: str, profile: dict, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(WINDOW) / SAMPLE_RATE_HZ
    amplitude = profile["amplitude"] * rng.uniform(0.7, 1.3)
    tempo = profile["tempo"] * rng.uniform(0.85, 1.15)
    start = rng.uniform(0.0, 0.35)
    hard = rng.random() < 0.22
    if hard:  # weak or hesitant movements that overlap with the other classes
        amplitude *= rng.uniform(0.25, 0.5)
    motion = np.zeros((WINDOW, 3))
    local = np.clip((t - start) * tempo, 0, None)
    active = (t >= start).astype(float)
    if gesture == "wave":
        freq = rng.uniform(1.8, 2.6)
        duration = rng.uniform(0.5, 0.75) / tempo if hard else 1.0
        envelope = active * (local < duration) * np.sin(np.pi * np.clip(local / duration, 0, 1))
        motion[:, 0] = 1.2 * amplitude * envelope * np.sin(2 * np.pi * freq * local)
        motion[:, 1] = 0.3 * amplitude * envelope * np.sin(2 * np.pi * freq * local + rng.uniform(0, np.pi))
    elif gesture == "punch":
        peak = rng.uniform(0.12, 0.2) / tempo
        thrust = np.exp(-(((local - peak) / (0.06 / tempo)) ** 2))
        brake = np.exp(-(((local - 2.2 * peak) / (0.08 / tempo)) ** 2))
        motion[:, 1] = active * amplitude * (2.5 * thrust - 1.6 * brake)
        motion[:, 0] = active * amplitude * 0.3 * thrust * rng.normal()
        motion[:, 2] = active * amplitude * 0.2 * brake * rng.normal()
    else:  # flex: a curl rotates the forearm, so gravity moves between axes slowly
        duration = rng.uniform(0.5, 0.8) / tempo
        phase = np.clip(local / duration, 0, 1)
        angle = active * amplitude * 1.1 * np.sin(np.pi * phase)
        motion[:, 2] = np.cos(angle) - 1.0
        motion[:, 1] = np.sin(angle)
        motion[:, 0] = 0.25 * amplitude * np.sin(2 * np.pi * phase) * active
    signal = profile["gravity"] + motion + profile["bias"]
    signal += rng.normal(0, profile["noise"], size=signal.shape)
    signal += 0.02 * np.cumsum(rng.normal(0, 0.1, size=signal.shape), axis=0)  # slow drift
    return signal


# --------------------------------------------------------------------------- directories


def load_directory(root: Path | str, window: int | None = None) -> Dataset:
    """Read `root/<class>/*.npy` (class names = sorted folder names).

    Each file holds one (timesteps, channels) or (timesteps,) numeric array. The window is
    `window`, else the most common sample length; longer samples are truncated, shorter
    ones zero-padded at the end, as the reference project does.
    """
    root = Path(root)
    arrays: list[np.ndarray] = []
    labels: list[int] = []
    files: list[str] = []
    first: tuple[int, str] | None = None  # (channels, file) of the first sample
    folders = class_folders(root)
    for label, (_, paths) in enumerate(folders):
        for path in paths:
            array = _load_sample(path)
            first = first or (array.shape[1], str(path))
            if array.shape[1] != first[0]:
                raise DatasetError(
                    f"{path}: {array.shape[1]} channels, but {first[1]} has {first[0]}; "
                    "every sample needs the same channel count"
                )
            arrays.append(array)
            labels.append(label)
            files.append(str(path))
    lengths = Counter(a.shape[0] for a in arrays)
    if window is None:
        window = max(lengths.items(), key=lambda item: (item[1], item[0]))[0]
    if window < 1:
        raise DatasetError(f"dataset {root}: window must be at least 1, got {window}")
    x = np.zeros((len(arrays), window, arrays[0].shape[1]), dtype=np.float32)
    for i, array in enumerate(arrays):
        n = min(window, array.shape[0])
        x[i, :n] = array[:n]
    return Dataset(x, np.asarray(labels, dtype=np.int64), tuple(d.name for d, _ in folders), str(root), tuple(files))


def class_folders(root: Path) -> list[tuple[Path, list[Path]]]:
    """The layout of a dataset directory, checked without reading a sample (cheap enough
    for startup): at least two class folders, each with .npy files. Sorted by class name."""
    if not root.is_dir():
        raise DatasetError(f"dataset directory {root} does not exist or is not a directory")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DatasetError(f"dataset {root}: needs at least 2 class folders, found {len(class_dirs)}")
    folders = [(class_dir, sorted(class_dir.glob("*.npy"))) for class_dir in class_dirs]
    for class_dir, paths in folders:
        if not paths:
            raise DatasetError(f"dataset {root}: class folder '{class_dir.name}' holds no .npy file")
    return folders


def _load_sample(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot read as a .npy array ({exc})") from exc
    if not isinstance(array, np.ndarray) or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DatasetError(f"{path}: dtype {getattr(array, 'dtype', type(array))} is not numeric")
    if np.iscomplexobj(array):
        raise DatasetError(f"{path}: complex values are not supported")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DatasetError(f"{path}: shape {array.shape}; expected (timesteps, channels) or (timesteps,)")
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        bad = int(np.argwhere(~np.isfinite(array))[0][0])
        raise DatasetError(f"{path}: contains NaN or inf (first at timestep {bad})")
    return array


def save_directory(dataset: Dataset, root: Path | str) -> Path:
    """Write a dataset in the seed layout `root/<class>/NNNNN.npy` (for examples and tests)."""
    root = Path(root)
    for i, (sample, label) in enumerate(zip(dataset.x, dataset.y, strict=True)):
        folder = root / dataset.class_names[label]
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{i:05d}.npy", sample)
    return root
