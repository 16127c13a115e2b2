"""NumPy versions of the uncertainty kernels, bit-identical to them, for small pools.

Importing numba and loading even a cached parallel kernel costs about a second, far more
than scoring a few thousand rows, so ``alselect.strategies.uncertainty`` scores pools of at
most :data:`SMALL_POOL_VALUES` stored values here instead of in
``alselect.kernels.uncertainty``.

Each function performs the kernel's float64 operations in the kernel's order (columns are
walked left to right, members and epochs in storage order), so the scores are the same bits,
not merely close: NumPy's vectorised sums and logarithms would round differently, which is
why entropies take each logarithm from ``math.log`` (the C library's, which the compiled
kernels call too) rather than from ``np.log``.
"""

from __future__ import annotations

import math

import numpy as np

#: pools whose scored dataset holds at most this many values are scored here
SMALL_POOL_VALUES = 1 << 18

_log = np.frompyfunc(math.log, 1, 1)


def _entropy64(p: np.ndarray) -> np.ndarray:
    """Entropy of each row of a float64 (n, C) array, summed left to right."""
    h = np.zeros(p.shape[0])
    for c in range(p.shape[1]):
        v = p[:, c]
        pos = v > 0.0
        if pos.any():
            x = v[pos]
            h[pos] -= x * _log(x).astype(np.float64)
    return h


def entropy(probs: np.ndarray) -> np.ndarray:
    return _entropy64(np.asarray(probs, dtype=np.float64))


def least_confidence(probs: np.ndarray) -> np.ndarray:
    return 1.0 - probs.max(axis=1).astype(np.float64)


def _top_two(p: np.ndarray):
    if p.shape[1] == 1:
        return p[:, 0].astype(np.float64), np.zeros(p.shape[0])
    top = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:].astype(np.float64)
    return top[:, 1], np.maximum(top[:, 0], 0.0)


def margin(probs: np.ndarray) -> np.ndarray:
    best, second = _top_two(probs)
    return best - second


def bvsb(probs: np.ndarray) -> np.ndarray:
    best, second = _top_two(probs)
    out = np.zeros(probs.shape[0])
    np.divide(second, best, out=out, where=best > 0.0)
    return out


def bald(mc_probs: np.ndarray) -> np.ndarray:
    n, t, c = mc_probs.shape
    mean = np.zeros((n, c))
    expected_h = np.zeros(n)
    for s in range(t):
        member = mc_probs[:, s, :].astype(np.float64)
        mean += member
        expected_h += _entropy64(member)
    mean /= t
    return _entropy64(mean) - expected_h / t


def _modal_counts(labels: np.ndarray, n_rows: int) -> np.ndarray:
    """Frequency of the most common value in each row of an (n, k) integer array."""
    values, codes = np.unique(labels, return_inverse=True)
    counts = np.zeros((n_rows, values.shape[0]), dtype=np.int64)
    rows = np.repeat(np.arange(n_rows), labels.shape[1])
    np.add.at(counts, (rows, codes.reshape(-1)), 1)
    return counts.max(axis=1)


def variation_ratio(mc_probs: np.ndarray) -> np.ndarray:
    n, t, _ = mc_probs.shape
    votes = np.argmax(mc_probs, axis=2)
    return 1.0 - _modal_counts(votes, n) / t


def dispersion(epoch_preds: np.ndarray) -> np.ndarray:
    e, n = epoch_preds.shape
    return 1.0 - _modal_counts(np.ascontiguousarray(epoch_preds.T), n) / e


KERNELS = {f.__name__: f for f in (entropy, least_confidence, margin, bvsb, bald, variation_ratio, dispersion)}
