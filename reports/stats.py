"""Paired significance for accuracy changes: exact McNemar test.

Why: with 100-1000 test samples one flipped sample moves accuracy by 0.1-1 point, so an
accuracy gate must ask whether the *discordant* samples (right in one run, wrong in the
other) are lopsided beyond chance, not just whether the percentage moved.
"""
from __future__ import annotations

from math import comb


def mcnemar_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs.

    Under "no change" each discordant sample is equally likely to go either way, so
    min(b, c) ~ Binomial(b + c, 1/2); p = 2 * P(X <= min(b, c)), capped at 1.
    b = c = 0 (no discordant samples) gives 1.0.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(comb(n, i) for i in range(k + 1))
    # Integer arithmetic until the end: exact even for thousands of samples.
    return min(1.0, 2 * tail / 2**n)
