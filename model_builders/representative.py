"""Representative data for full-integer quantization, and the rules it must follow.

The converter calibrates activation ranges on these samples, so they must come from the
training split (never val or test), cover every class, and be numerous enough: at least
100 samples, or the whole training split when it is smaller.
"""
from __future__ import annotations

import numpy as np

from model_builders.splits import Split

MIN_SAMPLES = 100


class RepresentativeDataError(ValueError):
    """A representative set that breaks a rule; the message names the rule."""


def default_representative_indices(split: Split, y: np.ndarray, seed: int, count: int = MIN_SAMPLES) -> list[int]:
    """Round-robin over classes through a seeded shuffle of the training split."""
    rng = np.random.default_rng(seed + 1)
    by_class = {int(c): list(rng.permutation([i for i in split.train if y[i] == c]))
                for c in np.unique(y[list(split.train)])}
    chosen: list[int] = []
    target = min(count, len(split.train))
    while len(chosen) < target:
        for members in by_class.values():
            if members and len(chosen) < target:
                chosen.append(int(members.pop()))
    return sorted(chosen)


def check_representative_indices(indices: list[int], split: Split, y: np.ndarray, class_names: tuple[str, ...]) -> None:
    """Raise RepresentativeDataError naming the first rule the set breaks."""
    train = set(split.train)
    outside = [i for i in indices if i not in train]
    if outside:
        where = "test" if outside[0] in set(split.test) else "validation" if outside[0] in set(split.val) else "no"
        raise RepresentativeDataError(
            f"rule 'from the training split': sample {outside[0]} is in the {where} split "
            f"({len(outside)} of {len(indices)} samples are outside the training split)"
        )
    missing = [name for c, name in enumerate(class_names)
               if c in set(y[list(split.train)]) and c not in set(y[list(indices)])]
    if missing:
        raise RepresentativeDataError(f"rule 'every class present': no sample of class {', '.join(missing)}")
    needed = min(MIN_SAMPLES, len(split.train))
    if len(set(indices)) < needed:
        raise RepresentativeDataError(
            f"rule 'at least {MIN_SAMPLES} samples (all if fewer)': {len(set(indices))} distinct samples, need {needed}"
        )
