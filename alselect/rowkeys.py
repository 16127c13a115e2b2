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
