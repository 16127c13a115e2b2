"""Per-row pseudo-random keys from a counter-based hash of (seed, stream, row).

A key depends only on the seed, a stream constant and the global row number, never on how
the rows are split, so a seeded ranking (``random``, and tie-breaking under ``--seed``) gives
the same order on one machine and on shards read by different workers. The hash is
SplitMix64's finaliser applied to ``seed * 2**32 + stream`` mixed with the row; it is a
bijection of the row for a fixed (seed, stream), so two rows never share a key.
"""

from __future__ import annotations

import numpy as np

#: stream of the tie-break keys of ranking strategies
TIES = 0x7A11
#: stream of the ``random`` strategy's scores
RANDOM = 0x52A4

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def row_hash(seed: int, stream: int, rows) -> np.ndarray:
    """uint64 keys of the given global rows (a bijection of the row for fixed seed and stream)."""
    rows = np.asarray(rows, dtype=np.int64).astype(np.uint64)
    base = _mix(np.array([(int(seed) << 32) + int(stream)], dtype=np.uint64))[0]
    with np.errstate(over="ignore"):
        return _mix(rows * _GOLDEN + base)


def tie_keys(seed: int | None, rows) -> np.ndarray:
    """int64 secondary sort keys: the row itself without a seed, else the seeded hash (its
    unsigned order carried over to int64 by flipping the top bit, so still a bijection)."""
    rows = np.asarray(rows, dtype=np.int64)
    if seed is None:
        return rows.copy()
    return (row_hash(seed, TIES, rows) ^ np.uint64(1 << 63)).view(np.int64)


def uniform(seed: int, rows) -> np.ndarray:
    """float64 in [0, 1): the top 53 bits of the row's ``random`` key."""
    return (row_hash(seed, RANDOM, rows) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


#: stream of D² sampling's exponential race (alselect.kernels.race); pick t has its own sub-stream
D2_RACE = 0xD25A
_PICK = np.uint64(0xD1B54A32D192ED03)


def race_seed(seed: int) -> np.uint64:
    """The uint64 key of ``seed``'s race stream (the kernels derive each pick's key from it)."""
    return _mix(np.array([((int(seed) << 32) + D2_RACE) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]


def race_base(seed: int, pick: int) -> np.uint64:
    """The uint64 key of pick ``pick``'s race under ``seed`` (what the rows are hashed with)."""
    with np.errstate(over="ignore"):
        return _mix(np.array([race_seed(seed) ^ (np.uint64(pick) * _PICK)], dtype=np.uint64))[0]


def race_uniforms(seed: int, pick: int, rows) -> np.ndarray:
    """float64 in (0, 1] of the given global rows for pick ``pick``: the top 53 bits of the
    row's hash, plus one, times 2**-53 (never 0, so ``-log`` is finite)."""
    rows = np.asarray(rows, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = _mix(rows * _GOLDEN + race_base(seed, pick))
    return ((h >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * 2.0 ** -53
