"""Per-sample aggregates of per-region values (CSR offsets): means and class-wise maxima."""

import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def segment_mean(off, values, weights, use_weights):
    """Weighted mean of ``values`` (R,) over each sample's regions; 0 for a sample without any."""
    n = off.shape[0] - 1
    out = np.zeros(n, dtype=np.float64)
    for i in numba.prange(n):
        s = 0.0
        w = 0.0
        for r in range(off[i], off[i + 1]):
            wr = np.float64(weights[r]) if use_weights else 1.0
            s += wr * values[r]
            w += wr
        if w > 0.0:
            out[i] = s / w
    return out


@numba.njit(cache=True, parallel=True)
def segment_mean_rows(off, features, weights, use_weights):
    """Weighted mean feature row (R, D) -> (N, D) float32; zeros for a sample without regions."""
    n = off.shape[0] - 1
    d = features.shape[1]
    out = np.zeros((n, d), dtype=np.float32)
    for i in numba.prange(n):
        acc = np.zeros(d, dtype=np.float64)
        w = 0.0
        for r in range(off[i], off[i + 1]):
            wr = np.float64(weights[r]) if use_weights else 1.0
            for j in range(d):
                acc[j] += wr * np.float64(features[r, j])
            w += wr
        if w > 0.0:
            for j in range(d):
                out[i, j] = acc[j] / w
    return out


@numba.njit(cache=True, parallel=True)
def classwise_max_embedding(off, u, classes, features, n_classes):
    """UWE Eq. 9: block c of row i is u(d) f(d) for the detection d of class c in sample i with
    the largest u (ties: the first such detection); zeros when sample i has no class-c detection."""
    n = off.shape[0] - 1
    d = features.shape[1]
    out = np.zeros((n, n_classes * d), dtype=np.float32)
    for i in numba.prange(n):
        best = np.full(n_classes, -1, dtype=np.int64)
        for r in range(off[i], off[i + 1]):
            c = classes[r]
            if best[c] < 0 or u[r] > u[best[c]]:
                best[c] = r
        for c in range(n_classes):
            r = best[c]
            if r >= 0:
                for j in range(d):
                    out[i, c * d + j] = np.float32(u[r] * np.float64(features[r, j]))
    return out


@numba.njit(cache=True, parallel=True)
def segment_reduce(off, values, mode, empty):
    """Per-sample mean (mode 0) or sum (mode 1) of region scores; ``empty`` without regions."""
    n = off.shape[0] - 1
    out = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        lo, hi = off[i], off[i + 1]
        if hi == lo:
            out[i] = empty
            continue
        s = 0.0
        for r in range(lo, hi):
            s += values[r]
        out[i] = s / (hi - lo) if mode == 0 else s
    return out
