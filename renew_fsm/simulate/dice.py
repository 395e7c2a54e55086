"""Deterministic, order-free randomness: every draw is a pure function of (seed, doctor, purpose, position).

A resumed simulation, or one that visits doctors in another order, draws the
same numbers for the same doctor, so the same seed always gives the same cycle.
"""

from __future__ import annotations

import hashlib
import math
import struct
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


_SALTS: dict[str, int] = {}
_KEY = struct.Struct("<QQQQ").pack
_EIGHT = struct.Struct("<8Q").unpack
_blake2b = hashlib.blake2b
#: A 64-bit draw's top 53 bits as a float in [0, 1): every value exact, 1.0 never reached.
_UNIT = 2.0**-53


class Dice:
    """The draws for one doctor in one phase of one seeded run: eight a BLAKE2b block of
    (seed, doctor, phase, block number).

    Seeding a Mersenne Twister per doctor and phase costs more than the few
    draws a phase makes.  splitmix64 on Python integers was slow to seed and to draw
    from (each of its multiplications makes a 128-bit integer); one BLAKE2b
    block, hashed in C, gives eight draws, and a draw is an index into them: less
    time for both, and a generator with no known statistical defect.
    """

    __slots__ = ("_block", "_doctor", "_draws", "_next", "_salt", "_seed")

    def __init__(self, seed: int, doctor: int, phase: str):
        key = _SALTS.get(phase)
        if key is None:
            key = _SALTS[phase] = salt(phase)
        self._seed, self._doctor, self._salt = seed & MASK, doctor & MASK, key
        # The first draw hashes block 0, like every eighth draw after it.
        self._block, self._draws, self._next = -1, (), 8

    def random(self) -> float:
        """Uniform on [0, 1)."""
        n = self._next
        if n == 8:
            self._block += 1
            self._draws = _EIGHT(_blake2b(_KEY(self._seed, self._doctor, self._salt, self._block)).digest())
            n = 0
        self._next = n + 1
        return (self._draws[n] >> 11) * _UNIT

    def chance(self, p: float) -> bool:
        return self.random() < p

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def integer(self, a: int, b: int) -> int:
        """Uniform on the whole numbers a … b, both included."""
        return a + min(b - a, int(self.random() * (b - a + 1)))

    def score(self, mean: float, sd: float) -> float:
        """A test score: normal (Box–Muller), clipped to 0–100, to one decimal like the testing app reports."""
        u = 1.0 - self.random()
        z = math.sqrt(-2.0 * math.log(u)) * math.cos(2.0 * math.pi * self.random())
        return min(100.0, max(0.0, round(mean + sd * z, 1)))

    def pick(self, weights: dict[str, float]) -> str:
        roll = self.random() * sum(weights.values())
        for key, weight in weights.items():
            roll -= weight
            if roll < 0:
                return key
        return key

    def triangular(self, low: float, high: float, mode: float) -> float:
        u = self.random()
        c = (mode - low) / (high - low)
        if u > c:
            u, c, low, high = 1.0 - u, 1.0 - c, high, low
        return low + (high - low) * math.sqrt(u * c)


def zipf_weights(n: int, s: float = 0.9) -> list[float]:
    """Institution sizes: a few large hospitals, many small clinics."""
    return [1 / math.pow(k, s) for k in range(1, n + 1)]
