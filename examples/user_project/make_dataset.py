"""Writes data/<class>/*.npy: 2-axis wrist recordings (40 steps at 25 Hz), 3 classes.

A stand-in for the product's own recordings, generated once and committed (the harness
reads any folder in this layout). Run again to regenerate: python make_dataset.py
"""
from pathlib import Path

import numpy as np

STEPS, PER_CLASS = 40, 40


def recording(kind: str, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(STEPS) / 25.0
    x = rng.normal(0.0, 0.15, size=(STEPS, 2))
    x[:, 1] += 1.0  # gravity on the second axis
    if kind == "shake":
        x[:, 0] += np.sin(2 * np.pi * rng.uniform(4, 6) * t + rng.uniform(0, 6.3)) * rng.uniform(0.6, 1.0)
    elif kind == "tap":
        for _ in range(rng.integers(1, 3)):
            i = rng.integers(3, STEPS - 3)
            x[i:i + 2, :] += rng.uniform(1.0, 1.6)
    return x.astype(np.float32)


def main(root: Path = Path(__file__).parent / "data") -> None:
    rng = np.random.default_rng(2026)
    for kind in ("shake", "still", "tap"):
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(PER_CLASS):
            np.save(folder / f"{kind}_{i:03d}.npy", recording(kind, rng))


if __name__ == "__main__":
    main()
