"""Deterministic, order-free randomness: every draw is a pure function of (seed, doctor, purpose).

A resumed simulation, or one that visits doctors in another order, draws the
same numbers for the same doctor, so the same seed always gives the same cycle.
"""

from __future__ import annotations

import math
import random
import zlib

MASK = (1 << 64) - 1


def mix(x: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def salt(text: str) -> int:
    return zlib.crc32(text.encode())


class Dice:
    """The draws for one doctor in one phase of one seeded run."""

    __slots__ = ("_rng",)

    def __init__(self, seed: int, doctor: int, phase: str):
        self._rng = random.Random(mix(mix(seed) ^ mix(doctor) ^ salt(phase)))

    def chance(self, p: float) -> bool:
        return self._rng.random() < p

    def uniform(self, a: float, b: float) -> float:
        return self._rng.uniform(a, b)

    def integer(self, a: int, b: int) -> int:
        return self._rng.randint(a, b)

    def score(self, mean: float, sd: float) -> float:
        """A test score: normal, clipped to 0–100, to one decimal like the testing app reports."""
        return min(100.0, max(0.0, round(self._rng.gauss(mean, sd), 1)))

    def pick(self, weights: dict[str, float]) -> str:
        return self._rng.choices(list(weights), weights=list(weights.values()))[0]

    def triangular(self, low: float, high: float, mode: float) -> float:
        return self._rng.triangular(low, high, mode)


def zipf_weights(n: int, s: float = 0.9) -> list[float]:
    """Institution sizes: a few large hospitals, many small clinics."""
    return [1 / math.pow(k, s) for k in range(1, n + 1)]
