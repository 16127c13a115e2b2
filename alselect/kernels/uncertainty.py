"""Per-sample uncertainty scores: one row in, one float64 out, rows in parallel.

All logs are natural (nats). ``0 log 0`` is taken as 0. Inputs are float32 or float64
blocks; accumulation is float64 so scores do not depend on the storage precision beyond
the values themselves.

    entropy            H(p)          = -sum_c p_c log p_c
    least confidence   LC(p)         = 1 - max_c p_c
    margin             M(p)          = p_(1) - p_(2)              (best minus second best; p_(2) = 0 if C = 1)
    BvSB               B(p)          = p_(2) / p_(1)              (best-versus-second-best ratio, UWE Eq. 8)
    BALD               I(y; w | x)   = H(mean_t p_t) - mean_t H(p_t)
    variation ratio    varR          = 1 - f_m / T,   f_m = count of the modal argmax over T members
    label dispersion   Disp          = 1 - f_x / E,   f_x = count of the modal label over E epochs

``bald_float16`` scores float16 members straight from their bit patterns: every float16 value
and its ``v log v`` are looked up in 65,536-entry tables, so a block is validated and scored in
one pass with one logarithm per class of the mean instead of one per stored value. Its scores
are bit-identical to ``bald`` on the same values widened to float32.
"""

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _xlogx(v):
    return v * np.log(v)


@numba.njit(cache=True, inline="always")
def _row_entropy(p):
    h = 0.0
    for c in range(p.shape[0]):
        v = np.float64(p[c])
        if v > 0.0:
            h -= _xlogx(v)
    return h


@numba.njit(cache=True, parallel=True)
def entropy(probs):
    """Shannon entropy (nats) of each row. probs: (n, C) -> (n,) float64."""
    n = probs.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        out[i] = _row_entropy(probs[i])
    return out


@numba.njit(cache=True, parallel=True)
def least_confidence(probs):
    """1 - max_c p_c of each row. probs: (n, C) -> (n,) float64."""
    n = probs.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        out[i] = 1.0 - np.float64(probs[i].max())
    return out


@numba.njit(cache=True, inline="always")
def _top_two(p):
    """The largest and second-largest entries of a row (second = 0 for a single class)."""
    best = -1.0
    second = -1.0
    for k in range(p.shape[0]):
        v = np.float64(p[k])
        if v > best:
            second = best
            best = v
        elif v > second:
            second = v
    return best, max(second, 0.0)


@numba.njit(cache=True, parallel=True)
def margin(probs):
    """Best minus second-best probability of each row. probs: (n, C) -> (n,) float64."""
    n = probs.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        best, second = _top_two(probs[i])
        out[i] = best - second
    return out


#: ``kind`` codes of ``probs_scores_screened``
SCREENED_KINDS = {"entropy": 0, "least_confidence": 1, "margin": 2}


@numba.njit(cache=True, inline="always")
def _row_suspect(p, atol):
    """A row with a negative or NaN value, or a sum off by more than ``atol`` (within a 1e-12
    margin, so the caller's own check, whose summation order differs, has the last word)."""
    total = 0.0
    bad = False
    for k in range(p.shape[0]):
        v = np.float64(p[k])
        total += v
        if not v >= 0.0:
            bad = True
    return bad or not abs(total - 1.0) <= atol - 1e-12  # the sum also catches inf


@numba.njit(cache=True, parallel=True)
def probs_scores_screened(probs, kind, atol):
    """``entropy`` (kind 0), ``least_confidence`` (1) or ``margin`` (2) of each row, computed by
    the same row functions (the same bits), and the probability-row screen of each row in the
    same pass over memory. probs: (n, C) -> ((n,) float64 scores, (n,) bool suspect)."""
    n = probs.shape[0]
    out = np.empty(n, dtype=np.float64)
    suspect = np.zeros(n, dtype=np.bool_)
    for i in numba.prange(n):
        row = probs[i]
        if kind == 0:
            out[i] = _row_entropy(row)
        elif kind == 1:
            out[i] = 1.0 - np.float64(row.max())
        else:
            best, second = _top_two(row)
            out[i] = best - second
        suspect[i] = _row_suspect(row, atol)
    return out, suspect


@numba.njit(cache=True, parallel=True)
def bvsb(probs):
    """Second-best over best probability of each row (0 for an all-zero row). (n, C) -> (n,)."""
    n = probs.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        best, second = _top_two(probs[i])
        out[i] = second / best if best > 0.0 else 0.0
    return out


@numba.njit(cache=True, parallel=True)
def bald(mc_probs):
    """Mutual information between prediction and model (nats). mc_probs: (n, T, C) -> (n,)."""
    n, t, c = mc_probs.shape
    out = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        mean = np.zeros(c, dtype=np.float64)
        expected_h = 0.0
        for s in range(t):
            for k in range(c):
                mean[k] += mc_probs[i, s, k]
            expected_h += _row_entropy(mc_probs[i, s])
        for k in range(c):
            mean[k] /= t
        out[i] = _row_entropy(mean) - expected_h / t
    return out


@numba.njit(cache=True, inline="always")
def _modal_count(labels):
    """Frequency of the most common value in a small integer vector (sorts a copy)."""
    s = np.sort(labels)
    best = 1
    run = 1
    for k in range(1, s.shape[0]):
        if s[k] == s[k - 1]:
            run += 1
        else:
            run = 1
        if run > best:
            best = run
    return best


@numba.njit(cache=True, parallel=True)
def variation_ratio(mc_probs):
    """1 - (modal count of member argmaxes) / T. mc_probs: (n, T, C) -> (n,) float64.

    A member's argmax ties go to the lowest class index (as ``np.argmax``)."""
    n, t, _ = mc_probs.shape
    out = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        votes = np.empty(t, dtype=np.int64)
        for s in range(t):
            votes[s] = np.argmax(mc_probs[i, s])
        out[i] = 1.0 - _modal_count(votes) / t
    return out


@numba.njit(cache=True, parallel=True)
def dispersion(epoch_preds):
    """1 - (modal count of the per-epoch labels) / E. epoch_preds: (E, n) -> (n,) float64."""
    e, n = epoch_preds.shape
    out = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        out[i] = 1.0 - _modal_count(epoch_preds[:, i].copy()) / e
    return out


@numba.njit(cache=True)
def xlogx_table(values):
    """``v log v`` of each value (0 where v <= 0 or v is not finite); the table of ``bald_float16``."""
    out = np.zeros(values.shape[0], dtype=np.float64)
    for i in range(values.shape[0]):
        v = values[i]
        if v > 0.0 and np.isfinite(v):
            out[i] = _xlogx(v)
    return out


@numba.njit(cache=True, parallel=True)
def bald_float16(bits, values, xlogx, atol):
    """BALD of float16 members given as their uint16 bit patterns, with validation flags.

    bits : (n, T, C) uint16, the float16 data viewed as uint16
    values : (65536,) float64, ``values[b]`` = the float16 with bit pattern b
    xlogx : (65536,) float64, ``xlogx_table(values)``
    atol : tolerance on |sum_k p_k - 1| of each member's row

    Returns the (n,) float64 scores and an (n,) bool array marking rows with a non-finite or
    negative value or a member sum off by more than ``atol`` (within a 1e-12 margin, so the
    caller's own check, whose summation order differs, has the last word on borderline rows).
    """
    n, t, c = bits.shape
    out = np.empty(n, dtype=np.float64)
    suspect = np.zeros(n, dtype=np.bool_)
    for i in numba.prange(n):
        mean = np.zeros(c, dtype=np.float64)
        expected_h = 0.0
        bad = False
        for s in range(t):
            h = 0.0
            total = 0.0
            for k in range(c):
                b = bits[i, s, k]
                v = values[b]
                mean[k] += v
                total += v
                if v > 0.0:
                    h -= xlogx[b]
                elif not v >= 0.0:  # negative or NaN
                    bad = True
            expected_h += h
            if not abs(total - 1.0) <= atol - 1e-12:  # also catches inf and NaN sums
                bad = True
        for k in range(c):
            mean[k] /= t
        out[i] = _row_entropy(mean) - expected_h / t
        suspect[i] = bad
    return out, suspect
