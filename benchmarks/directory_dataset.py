"""A seeded directory dataset for the benchmark: no download, the same bytes on every machine.

Shaped like the held-out set of issue 15: 640 variable-length samples, 12 channels, 9 classes,
most common length 29 (so the window is 29), written as <root>/<class>/NNNN.npy with one
(timesteps, channels) array per file. Each class is a mix of two sinusoids on a class-specific
subset of channels plus noise and a random phase, so a small CNN learns it but not perfectly.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLES, CHANNELS, CLASSES, WINDOW = 640, 12, 9, 29


def make_dataset(root: Path, seed: int = 15) -> Path:
    rng = np.random.default_rng(seed)
    root = Path(root)
    frequencies = rng.uniform(0.05, 0.35, size=(CLASSES, 2))
    masks = rng.random((CLASSES, CHANNELS)) < 0.5
    lengths = np.where(rng.random(SAMPLES) < 0.6, WINDOW, rng.integers(20, 37, SAMPLES))  # 29 most common
    for i in range(SAMPLES):
        label = i % CLASSES
        t = np.arange(lengths[i])[:, None]
        phase = rng.uniform(0, 2 * np.pi, size=(1, CHANNELS))
        signal = (np.sin(2 * np.pi * frequencies[label, 0] * t + phase) * masks[label]
                  + 0.5 * np.sin(2 * np.pi * frequencies[label, 1] * t + phase) * ~masks[label])
        signal = signal + rng.normal(0, 0.6, size=signal.shape)
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{i:04d}.npy", signal.astype(np.float32))
    return root
