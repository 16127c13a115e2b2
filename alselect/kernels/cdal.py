r"""Contextual-diversity (CDAL) kernels: class mixtures, pairwise CD, CD core-set.

Notation (Agarwal et al., ECCV 2020, §3.1-3.2). An image ``i`` has regions
``r`` with softmax vectors ``p_r`` over ``C`` classes and pseudo-labels
``y_r = argmax_j p_r[j]`` (ties: lowest class). For every pseudo-label ``c``
present in the image the *mixture* (Eq. 1, single image) is

.. math:: P_i^c = \frac{\sum_{r: y_r = c} w_r p_r}{\sum_{r: y_r = c} w_r},
          \qquad w_r = v_r \,(H_2(p_r) + \varepsilon),

with ``H_2`` the Shannon entropy in bits (``0 log 0 = 0``) and ``v_r`` an
optional non-negative region weight (1 when absent). The pairwise contextual
diversity (Eq. 2) between images ``i`` and ``j`` is

.. math:: d(i, j) = \sum_{c \in S(i, j)} \tfrac12 \mathrm{KL}(P_i^c \| P_j^c)
                    + \tfrac12 \mathrm{KL}(P_j^c \| P_i^c)
                  = \sum_{c \in S(i, j)} \tfrac12 \sum_k (a_k - b_k)(\ell(a_k) - \ell(b_k)),

``S(i, j)`` the groups (pseudo-label classes) present in both images,
``a = P_i^c``, ``b = P_j^c`` and ``\ell(x) = \log \max(x, \text{floor})``
(natural log; the floor keeps exact zeros finite). With ``mean`` reduction the
sum is divided by ``|S(i, j)|``; images sharing no group are at distance 0.

The CD kernels work on a *compact* form of the mixtures: only present
(image, group) rows are stored, in ascending group order per image:
``x[q] = [P (C) | log max(P, floor) (C)]`` (float64), ``g[q]`` its group,
image ``i`` owning rows ``row_off[i]:row_off[i+1]``, and ``pos[i, c]`` the row
of (image ``i``, group ``c``) or -1. A pair distance walks the rows of one
image and looks the groups up in the other's ``pos`` row, so its cost is
``O(C * |S(i, j)|)`` plus ``O(#groups of i)``, not ``O(C * K)``.

K-Center-Greedy (Sener & Savarese, Algo. 1) with CD as the distance: at every
step pick the candidate whose CD to its nearest center is largest (ties:
lowest row), then make it a center. Two exact kernels:

* ``kcenter_reference_kernel``: one pass over all candidates per pick.
* ``kcenter_lazy_kernel``: a max-heap of *stale upper bounds*. The min
  distance of a row to the growing center set can only decrease, so the value
  computed against the first ``stamp`` centers bounds the current value from
  above. The heap top is refreshed against the centers added since its stamp
  (stopping early once it is provably beaten by a row already refreshed this
  step); a top whose bound is current is the exact argmax. The refresh reads
  a class-major copy of the centers (``_store_add``) and computes one class
  term against all centers of a block having that class at once (SIMD over
  centers); per pair it performs the same float64 operations in the same
  order as ``cd_pair`` (classes ascending, the same LANES partial sums), so
  both kernels' picks and distances agree bit for bit.

All kernels are pure: no validation, no I/O; the public layer is
``alselect.cdal``.
"""

import numba
import numpy as np

from .progress_hook import tick

LOG2_E = 1.4426950408889634  # 1 / ln 2: converts a natural-log entropy to bits
NO_FIRST = -1  # sentinel for "no forced first pick"
LANES = 4  # independent partial sums in the CD inner loop (hard-coded as t0..t3)
REFRESH_BATCH = 1  # stale heap tops refreshed together (sharing each center block)
CENTER_BLOCK = 256  # centers per block of the lazy kernel's class-major center store


# --------------------------------------------------------------------------- #
# Eq. 1: per-image class mixtures from ragged region probabilities
# --------------------------------------------------------------------------- #
@numba.njit(cache=True, inline="always")
def _add_region(acc, wsum, cnt, row, h, v, eps, best):
    """Fold one region (float64 values ``row``, natural-log entropy ``h``, weight ``v``) into
    its pseudo-label's sums."""
    w = v * (h * LOG2_E + eps)
    wsum[best] += w
    cnt[best] += 1
    for k in range(row.shape[0]):
        acc[best, k] += w * row[k]


@numba.njit(cache=True, inline="always")
def _store_image(i, acc, wsum, cnt, out_mix, out_present, out_counts):
    C = wsum.shape[0]
    for c in range(C):
        out_counts[i, c] = cnt[c]
        if cnt[c] > 0:
            out_present[i, c] = True
            inv = 1.0 / wsum[c]
            for k in range(C):
                out_mix[i, c, k] = acc[c, k] * inv
        else:
            out_present[i, c] = False
            for k in range(C):
                out_mix[i, c, k] = 0.0


@numba.njit(cache=True, parallel=True)
def mixtures_kernel(probs, bits, values, xlogx, half, offsets, weights, use_weights, eps, atol, out_mix,
                    out_present, out_counts, out_suspect):
    """Entropy-weighted per-pseudo-label mixtures of every image (Eq. 1), with validation flags.

    Parameters
    ----------
    probs : (R, C) float32 or float64
        Region softmax vectors of the images in this block, rows of image
        ``i`` at ``offsets[i]:offsets[i+1]`` (offsets relative to the block). Read when not
        ``half``.
    bits, values, xlogx : (R, C) uint16, (65536,) float64, (65536,) float64
        With ``half``: float16 regions as their bit patterns, and the value and ``v log v`` of
        every bit pattern (``alselect.float16``), so no region is widened in memory and no
        logarithm is taken. Same float64 operations in the same order: the results are
        bit-identical to the values widened to float32.
    half : bool
    offsets : (n+1,) int64
        Non-decreasing region offsets, ``offsets[0] == 0``, ``offsets[n] <= R``.
    weights : (R,) float64
        Optional region weights ``v_r`` (read only when ``use_weights``).
        A region whose weight is 0 adds nothing (it is still screened).
    use_weights : bool
    eps : float
        The paper's epsilon added to the entropy (bits).
    atol : float
        Tolerance on ``|sum_k p_rk - 1|`` (the pool format's, for the storage dtype).
    out_mix : (n, C, C) float32 or float64
        Output, ``out_mix[i, c]`` = ``P_i^c``; all-zero row when ``c`` is absent.
    out_present : (n, C) bool
        Output, ``c`` is the pseudo-label of at least one (weighted) region.
    out_counts : (n, C) int64
        Output, number of (weighted) regions with pseudo-label ``c``.
    out_suspect : (n,) bool
        Output, image ``i`` has a region with a non-finite or negative value or a sum off by
        more than ``atol`` (within a 1e-12 margin, so that the caller's own check, whose
        summation order differs, has the last word on borderline rows). Its mixtures are then
        meaningless and the caller must raise.
    """
    n = offsets.shape[0] - 1
    C = out_mix.shape[2]
    for i in numba.prange(n):
        acc = np.zeros((C, C), dtype=np.float64)
        wsum = np.zeros(C, dtype=np.float64)
        cnt = np.zeros(C, dtype=np.int64)
        row = np.empty(C, dtype=np.float64)
        bad = False
        for r in range(offsets[i], offsets[i + 1]):
            # pseudo-label (first maximum wins), entropy, and the row's screen
            best = 0
            pbest = -np.inf
            h = 0.0
            total = 0.0
            for k in range(C):
                if half:
                    b = bits[r, k]
                    pk = values[b]
                    xl = xlogx[b]
                else:
                    pk = np.float64(probs[r, k])
                    xl = pk * np.log(pk) if pk > 0.0 else 0.0
                row[k] = pk
                total += pk
                if pk > pbest or k == 0:
                    pbest = pk
                    best = k
                if pk > 0.0:
                    h -= xl
                elif not pk >= 0.0:  # negative or NaN
                    bad = True
            if not abs(total - 1.0) <= atol - 1e-12:  # also catches inf and NaN sums
                bad = True
            v = 1.0
            if use_weights:
                v = weights[r]
                if v == 0.0:
                    continue
            _add_region(acc, wsum, cnt, row, h, v, eps, best)
        out_suspect[i] = bad
        _store_image(i, acc, wsum, cnt, out_mix, out_present, out_counts)


# --------------------------------------------------------------------------- #
# compact (present-rows-only) representation
# --------------------------------------------------------------------------- #
@numba.njit(cache=True, nogil=True)
def compact_fill_kernel(mixtures, gate, row_off, floor, out_x, out_g):
    """Fill the compact rows ``[P (C) | log max(P, floor) (C)]`` (float64).

    Parameters
    ----------
    mixtures : (n, K, C) float32 or float64
        Block of images; ``row_off`` (n+1,) is relative to this block.
    gate : (n, K) bool
    row_off : (n+1,) int64
    floor : float
    out_x : (rows, 2C) float64
    out_g : (rows,) int64, the group of each row
    """
    n, K, C = mixtures.shape
    logfloor = np.log(floor)  # numba's log (libm), not NumPy's CPU-dependent SIMD one
    for i in range(n):
        q = row_off[i]
        for c in range(K):
            if gate[i, c]:
                out_g[q] = c
                for k in range(C):
                    x = np.float64(mixtures[i, c, k])
                    out_x[q, k] = x
                    out_x[q, C + k] = np.log(x) if x > floor else logfloor
                q += 1


# --------------------------------------------------------------------------- #
# Eq. 2: pairwise contextual diversity
# --------------------------------------------------------------------------- #
@numba.njit(cache=True, inline="always")
def class_term(xa, q, xb, r):
    """``0.5 * sum_k (p_a - p_b)(l_a - l_b)`` for row ``q`` of ``xa`` and row
    ``r`` of ``xb`` (each ``[P | log P]``): one class's symmetric KL.

    LANES independent partial sums in a fixed order (no fastmath): breaks the
    add-latency chain and stays deterministic, so every kernel using it gets
    the same bits.
    """
    C = xa.shape[1] // 2
    t0 = 0.0
    t1 = 0.0
    t2 = 0.0
    t3 = 0.0
    k = 0
    while k + LANES <= C:
        t0 += (xa[q, k] - xb[r, k]) * (xa[q, C + k] - xb[r, C + k])
        t1 += (xa[q, k + 1] - xb[r, k + 1]) * (xa[q, C + k + 1] - xb[r, C + k + 1])
        t2 += (xa[q, k + 2] - xb[r, k + 2]) * (xa[q, C + k + 2] - xb[r, C + k + 2])
        t3 += (xa[q, k + 3] - xb[r, k + 3]) * (xa[q, C + k + 3] - xb[r, C + k + 3])
        k += LANES
    while k < C:
        t0 += (xa[q, k] - xb[r, k]) * (xa[q, C + k] - xb[r, C + k])
        k += 1
    return 0.5 * ((t0 + t1) + (t2 + t3))


@numba.njit(cache=True, inline="always")
def cd_pair(xa, ga, a0, a1, xb, posb, jb, mean):
    """CD between image ``a`` (rows ``a0:a1`` of ``xa``/``ga``) and image ``jb``
    of the table ``posb`` (rows into ``xb``), Eq. 2.

    Sums ``0.5 * sum_k (p_a - p_b)(l_a - l_b)`` over groups present in both,
    in ascending group order (a's row order); ``mean`` divides by the number
    of shared groups (0 when none is shared). Returns float64. Every CD value
    in this module goes through this routine, or (lazy core-set) through
    ``_segment_terms``, which repeats its operations in the same order across
    many centers at once, so all kernels agree bit for bit.
    """
    s = 0.0
    shared = 0
    for q in range(a0, a1):
        r = posb[jb, ga[q]]
        if r >= 0:
            s += class_term(xa, q, xb, r)
            shared += 1
    if mean:
        if shared == 0:
            return 0.0
        return s / shared
    return s


@numba.njit(cache=True, parallel=True)
def cd_min_to_set_kernel(x, g, row_off, pos, rows, centers, mean, out):
    """``out[t] = min_{c in centers} d(rows[t], c)`` (+inf when no centers).

    x, g, row_off, pos : compact form; rows : (T,) int64; centers : (M,) int64;
    out : (T,) float64.
    """
    for t in numba.prange(rows.shape[0]):
        i = rows[t]
        best = np.inf
        for m in range(centers.shape[0]):
            v = cd_pair(x, g, row_off[i], row_off[i + 1], x, pos, centers[m], mean)
            if v < best:
                best = v
        out[t] = best


@numba.njit(cache=True, parallel=True)
def cd_set_sum_kernel(x, g, row_off, pos, picks, mean):
    """Eq. 3: ``sum_{m, n in picks} d(m, n)`` over ordered pairs (diagonal 0).

    Computed as twice the sum over ``m < n`` (d is symmetric); per-row partial
    sums are reduced in row order so the result does not depend on threads.
    """
    b = picks.shape[0]
    part = np.zeros(b, dtype=np.float64)
    for s in numba.prange(b):
        i = picks[s]
        acc = 0.0
        for t in range(s + 1, b):
            acc += cd_pair(x, g, row_off[i], row_off[i + 1], x, pos, picks[t], mean)
        part[s] = acc
    tot = 0.0
    for s in range(b):
        tot += part[s]
    return 2.0 * tot


# --------------------------------------------------------------------------- #
# K-Center-Greedy with CD
# --------------------------------------------------------------------------- #
@numba.njit(parallel=True, no_cpython_wrapper=True)
def _update_min(x, g, row_off, pos, cand, mind, center, mean):
    for t in numba.prange(cand.shape[0]):
        if mind[t] >= 0.0:  # -1 marks rows already picked
            i = cand[t]
            v = cd_pair(x, g, row_off[i], row_off[i + 1], x, pos, center, mean)
            if v < mind[t]:
                mind[t] = v


@numba.njit(cache=True)
def kcenter_reference_kernel(x, g, row_off, pos, cand, init_centers,
                             first, budget, mean, out_picks, out_dist, every=0):
    """Exact K-Center-Greedy, one pass over all candidates per pick.

    Parameters
    ----------
    x, g, row_off, pos
        Compact mixtures (see module docstring).
    cand : (T,) int64
        Candidate rows in ascending order (never containing initial centers).
    init_centers : (M,) int64
        Initial centers (the labeled set).
    first : int
        Position in ``cand`` of a forced first pick, or ``NO_FIRST``.
    budget : int
        Number of picks, ``<= T``.
    mean : bool
        Mean instead of sum reduction over shared groups.
    out_picks : (budget,) int64
        Picked rows in pick order.
    out_dist : (budget,) float64
        Min CD of each pick to the centers at the time it was picked
        (``+inf`` with no center yet).
    every : int
        Progress report stride in picks (``progress_hook.tick``); 0 reports
        nothing.  Picks do not depend on it.
    """
    T = cand.shape[0]
    mind = np.full(T, np.inf)
    for m in range(init_centers.shape[0]):
        _update_min(x, g, row_off, pos, cand, mind, init_centers[m], mean)
    last = 0
    for s in range(budget):
        if s == 0 and first != NO_FIRST:
            best = first
        else:
            best = 0
            bval = -1.0
            for t in range(T):
                if mind[t] > bval:  # strict: lowest row wins ties
                    bval = mind[t]
                    best = t
        out_picks[s] = cand[best]
        out_dist[s] = mind[best]
        mind[best] = -1.0
        _update_min(x, g, row_off, pos, cand, mind, cand[best], mean)
        last = tick(s + 1, last, every, budget)
    return 0


@numba.njit(cache=True, inline="always")
def _before(ka, ia, kb, ib):
    """Heap order: larger key first, then lower row first."""
    return ka > kb or (ka == kb and ia < ib)


@numba.njit(no_cpython_wrapper=True)
def _sift_down(key, idx, size, pos):
    k = key[pos]
    r = idx[pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _before(key[child + 1], idx[child + 1], key[child], idx[child]):
            child += 1
        if _before(key[child], idx[child], k, r):
            key[pos] = key[child]
            idx[pos] = idx[child]
            pos = child
        else:
            break
    key[pos] = k
    idx[pos] = r


@numba.njit(no_cpython_wrapper=True)
def _heap_remove(key, idx, size, h):
    """Remove heap slot ``h`` (max-heap by ``_before``); returns the new size."""
    size -= 1
    if h < size:
        key[h] = key[size]
        idx[h] = idx[size]
        pos = h
        while pos > 0:
            par = (pos - 1) // 2
            if _before(key[pos], idx[pos], key[par], idx[par]):
                tk = key[par]
                ti = idx[par]
                key[par] = key[pos]
                idx[par] = idx[pos]
                key[pos] = tk
                idx[pos] = ti
                pos = par
            else:
                break
        _sift_down(key, idx, size, pos)
    return size


@numba.njit(no_cpython_wrapper=True)
def _heap_push(key, idx, size, k, r):
    """Insert (``k``, ``r``) into the max-heap (order ``_before``); returns the new size."""
    pos = size
    while pos > 0:
        par = (pos - 1) // 2
        if _before(k, r, key[par], idx[par]):
            key[pos] = key[par]
            idx[pos] = idx[par]
            pos = par
        else:
            break
    key[pos] = k
    idx[pos] = r
    return size + 1


@numba.njit(no_cpython_wrapper=True)
def _store_add(x, g, row_off, j, m, stage, stage_ids, stage_n, flat, flat_ids, segoff, nflat):
    """Append image ``j`` as center ``m`` to the class-major center store.

    The store groups centers in blocks of ``CENTER_BLOCK`` (block ``b`` holds
    centers ``b*CENTER_BLOCK ...``). Within a block, the rows of class ``c``
    form a *segment*: a ``(2C, n)`` matrix (entry ``k`` of the ``n`` centers
    having ``c``, contiguous over centers) and the ids (offset in the block)
    of those centers, ascending. The block being filled lives in ``stage``
    ``(K, 2C, CENTER_BLOCK)`` (flattened); a full block is compacted into ``flat``
    (segment ``(b, c)`` at rows ``segoff[b, c]:segoff[b, c+1]``), which grows
    by doubling. Returns the (possibly reallocated) ``flat``, ``flat_ids`` and
    the number of rows used.
    """
    C2 = x.shape[1]
    K = stage_n.shape[0]
    off = m % CENTER_BLOCK
    for q in range(row_off[j], row_off[j + 1]):
        c = g[q]
        jj = stage_n[c]
        for k in range(C2):
            stage[(c * C2 + k) * CENTER_BLOCK + jj] = x[q, k]
        stage_ids[c * CENTER_BLOCK + jj] = off
        stage_n[c] = jj + 1
    if off == CENTER_BLOCK - 1:
        b = m // CENTER_BLOCK
        total = 0
        for c in range(K):
            total += stage_n[c]
        if nflat + total > flat_ids.shape[0]:
            cap = max(2 * flat_ids.shape[0], nflat + total)
            # element loops, not slice assignment (whose error path compiles string
            # formatting on first use)
            nf = np.empty(cap * C2, dtype=flat.dtype)
            for k in range(nflat * C2):
                nf[k] = flat[k]
            ni = np.empty(cap, dtype=flat_ids.dtype)
            for k in range(nflat):
                ni[k] = flat_ids[k]
            flat = nf
            flat_ids = ni
        for c in range(K):
            segoff[b, c] = nflat
            n = stage_n[c]
            for k in range(C2):
                base = nflat * C2 + k * n
                for jj in range(n):
                    flat[base + jj] = stage[(c * C2 + k) * CENTER_BLOCK + jj]
            for jj in range(n):
                flat_ids[nflat + jj] = stage_ids[c * CENTER_BLOCK + jj]
            nflat += n
            stage_n[c] = 0
        segoff[b, K] = nflat
    return flat, flat_ids, nflat


@numba.njit(no_cpython_wrapper=True)
def _segment_terms(xa, q, buf, base, stride, jj0, n, ids, idbase, acc, dist, cnt):
    """Add class row ``q`` of ``xa``'s symmetric KL to the centers of one segment.

    ``buf[base + k*stride + jj]`` is entry ``k`` (of ``[P | log P]``) of the
    segment's center ``jj``; ``ids[idbase + jj]`` its offset in the block.
    For ``jj0 <= jj < n``: ``dist[id] += class_term`` and ``cnt[id] += 1``.
    The lanes and their combination are those of ``class_term`` (lane ``k %
    LANES``, tail entries into lane 0), vectorised over centers instead of
    entries, so every value is bit-identical to ``class_term``.
    """
    C = xa.shape[1] // 2
    C4 = C - C % LANES
    w = n - jj0
    for lane in range(LANES):
        for jj in range(w):
            acc[lane, jj] = 0.0
    for k in range(C):
        a = xa[q, k]
        la = xa[q, C + k]
        # 1-D slices: lets LLVM vectorise the loop (no per-element index wraparound)
        pb = buf[base + k * stride + jj0:base + k * stride + n]
        lb = buf[base + (C + k) * stride + jj0:base + (C + k) * stride + n]
        t = acc[k % LANES if k < C4 else 0]
        for jj in range(w):
            t[jj] += (a - pb[jj]) * (la - lb[jj])
    idv = ids[idbase + jj0:idbase + n]
    for jj in range(w):
        u = idv[jj]
        dist[u] += 0.5 * ((acc[0, jj] + acc[1, jj]) + (acc[2, jj] + acc[3, jj]))
        cnt[u] += 1


@numba.njit(cache=True, inline="always")
def _first_at_least(ids, base, n, u):
    """First ``jj`` in ``[0, n)`` with ``ids[base + jj] >= u`` (ascending ids), else n."""
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if ids[base + mid] < u:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(no_cpython_wrapper=True)
def _block_min(x, g, row_off, i, b, first_u, ncent, v, mean,
               stage, stage_ids, stage_n, flat, flat_ids, segoff, acc, dist, cnt):
    """Lower ``v`` to the min CD of image ``i`` to the centers of block ``b``
    from offset ``first_u`` on (up to ``ncent``). Each distance equals
    ``cd_pair`` bit for bit (same class order, same lanes)."""
    C2 = x.shape[1]
    stage_stride = np.int64(CENTER_BLOCK)  # not the literal: one compile of _segment_terms
    lo = b * CENTER_BLOCK
    hi = min(lo + CENTER_BLOCK, ncent)
    complete = lo + CENTER_BLOCK <= ncent
    for u in range(first_u, hi - lo):
        dist[u] = 0.0
        cnt[u] = 0
    for q in range(row_off[i], row_off[i + 1]):
        c = g[q]
        if complete:
            sb = segoff[b, c]
            n = segoff[b, c + 1] - sb
            jj0 = _first_at_least(flat_ids, sb, n, first_u)
            if jj0 < n:
                _segment_terms(x, q, flat, sb * C2, n, jj0, n, flat_ids, sb, acc, dist, cnt)
        else:
            n = stage_n[c]
            sb = c * CENTER_BLOCK
            jj0 = _first_at_least(stage_ids, sb, n, first_u)
            if jj0 < n:
                _segment_terms(x, q, stage, sb * C2, stage_stride, jj0, n, stage_ids, sb, acc,
                               dist, cnt)
    for u in range(first_u, hi - lo):
        d = dist[u]
        if mean:
            d = d / cnt[u] if cnt[u] > 0 else 0.0
        if d < v:
            v = d
    return v


@numba.njit(no_cpython_wrapper=True)
def _refresh_batch(x, g, row_off, cand, rows, keys, stamp, nb, ncent, floor_val, mean,
                   stage, stage_ids, stage_n, flat, flat_ids, segoff, acc, dist, cnt):
    """Refresh candidates ``rows[:nb]`` (bounds ``keys``) to the current centers.

    Block by block (outer) and candidate by candidate (inner), so a block of
    the center store is reused from cache by every candidate of the batch. A
    candidate stops after a block once its bound drops below ``floor_val``
    (keeping the bound and the stamp reached). Returns pair distances evaluated.
    """
    m0 = ncent
    for p in range(nb):
        m0 = min(m0, stamp[rows[p]])
    evals = 0
    for b in range(m0 // CENTER_BLOCK, (ncent - 1) // CENTER_BLOCK + 1):
        lo = b * CENTER_BLOCK
        hi = min(lo + CENTER_BLOCK, ncent)
        for p in range(nb):
            t = rows[p]
            m = stamp[t]
            if m >= hi or keys[p] < floor_val:
                continue
            u = max(m, lo) - lo
            keys[p] = _block_min(x, g, row_off, cand[t], b, u, ncent, keys[p], mean, stage,
                                 stage_ids, stage_n, flat, flat_ids, segoff, acc, dist, cnt)
            evals += hi - lo - u
            stamp[t] = hi
    return evals


@numba.njit(cache=True)
def kcenter_lazy_kernel(x, g, row_off, pos, cand, init_centers,
                        first, budget, mean, out_picks, out_dist, work, every=0):
    """Exact K-Center-Greedy over lazily refreshed stale upper bounds.

    Same parameters and results as ``kcenter_reference_kernel`` (bit-identical
    picks and distances). Heap entries are (bound, candidate position), ordered
    by larger bound, then lower position; the bound of a candidate is its min
    CD to centers ``0..stamp-1`` (+inf for stamp 0), an upper bound on its
    current min CD because min distances only decrease as centers are added.
    Each step refreshes the heap top against the centers added since its
    stamp until the top's bound is current; that top is the exact argmax with
    the lowest row among ties. A refresh stops early (after a block) when its
    running minimum drops strictly below a value already certified exact in
    this step (that row beats it); the row keeps the tighter bound and the
    stamp reached.

    Centers live in a class-major store (see ``_store_add``): a refresh walks
    the candidate's classes and, per block of ``CENTER_BLOCK`` centers,
    computes the class term against all centers having that class at once
    (SIMD over centers, contiguous memory). Serial on purpose: the work per
    step is a few short scans, too fine-grained for thread launches.
    ``REFRESH_BATCH`` > 1 pops that many stale tops and refreshes them
    together (each center block reused from cache by all of them); exact for
    any value, but at 1 it evaluates the fewest pairs and was as fast as 2-4.

    ``work`` holds the arrays it works in, from ``alselect.cdal.lazy_workspace``
    (allocated by the caller: each ``np.empty`` signature here would be one more
    compile on first use; contents on entry do not matter).

    Returns the number of pair distances evaluated (diagnostics).
    """
    (stage, stage_ids, stage_n, flat, flat_ids, segoff, acc, dist, cnt, brow, bkey,
     stamp, key, idx) = work
    T = cand.shape[0]
    K = pos.shape[1]
    for c in range(K):
        stage_n[c] = 0
    for b in range(segoff.shape[0]):
        for c in range(K + 1):
            segoff[b, c] = 0
    # counters typed int64 from the start: a literal argument (or a variable numba
    # first infers as one) makes every jitted callee compile an extra copy
    nflat = np.int64(0)
    top = np.int64(0)
    one = np.int64(1)
    ncent = np.int64(0)
    for m in range(init_centers.shape[0]):
        flat, flat_ids, nflat = _store_add(x, g, row_off, init_centers[m], ncent, stage,
                                           stage_ids, stage_n, flat, flat_ids, segoff, nflat)
        ncent += 1
    for t in range(T):
        stamp[t] = 0
        key[t] = np.inf
        idx[t] = t
    size = T
    evals = 0
    last = 0
    for s in range(budget):
        if s == 0 and first != NO_FIRST:
            h = 0
            while idx[h] != first:
                h += 1
            i = cand[first]
            brow[0] = first
            bkey[0] = np.inf
            evals += _refresh_batch(x, g, row_off, cand, brow, bkey, stamp, one, ncent, -np.inf,
                                    mean, stage, stage_ids, stage_n, flat, flat_ids, segoff,
                                    acc, dist, cnt)
            v = bkey[0]
            size = _heap_remove(key, idx, size, h)
        else:
            # refresh the top until its bound is current; floor_val is the best
            # value certified exact in this step (a lower bound on the answer)
            floor_val = -np.inf
            while stamp[idx[0]] < ncent:
                nb = 0
                while nb < REFRESH_BATCH and size > 0 and stamp[idx[0]] < ncent:
                    brow[nb] = idx[0]
                    bkey[nb] = key[0]
                    size = _heap_remove(key, idx, size, top)
                    nb += 1
                evals += _refresh_batch(x, g, row_off, cand, brow, bkey, stamp, nb, ncent,
                                        floor_val, mean, stage, stage_ids, stage_n, flat,
                                        flat_ids, segoff, acc, dist, cnt)
                for p in range(nb):
                    if stamp[brow[p]] == ncent and bkey[p] > floor_val:
                        floor_val = bkey[p]
                    size = _heap_push(key, idx, size, bkey[p], brow[p])
            i = cand[idx[0]]
            v = key[0]
            size = _heap_remove(key, idx, size, top)
        out_picks[s] = i
        out_dist[s] = v
        flat, flat_ids, nflat = _store_add(x, g, row_off, i, ncent, stage, stage_ids, stage_n,
                                           flat, flat_ids, segoff, nflat)
        ncent += 1
        last = tick(s + 1, last, every, budget)
    return evals
