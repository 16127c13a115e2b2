"""Embedding-space selection: K-Center-Greedy, k-means++, BADGE and UWE.

Thin validated layer over the kernels in ``alselect.kernels.kcenter``,
``alselect.kernels.d2sampling`` and ``alselect.kernels.uncertainty``: inputs are
checked once here through ``alselect.validation`` (shapes, dtypes, finiteness,
probability rows, ranges), float16 is widened to float32 block by block (float32 and
float64 are kept as given), and random streams are drawn here so that NumPy
references can consume the very same uniforms.  See docs/diversity.md for the
algorithms, the exactness rule and the tie-breaking (lowest row everywhere).

Row sets
--------
``labeled`` (bool mask or index array; a row listed twice is an error, order
does not matter): rows that are already labeled; never picked.  For
``kcenter_greedy``, ``kmeanspp`` and ``uwe`` they are the initial centers (UWE
paper Algorithm 1).  ``badge`` follows the BADGE paper and code: labeled rows
are excluded but are not centers unless ``labeled_as_centers=True``.
``candidates`` (bool mask or index array, kcenter only): rows that may be
picked; other rows that are not labeled are ignored entirely (they are neither
picked nor centers, and their distances do not matter).

Progress
--------
Every selection function takes ``progress=None`` or a callable
``update(n)`` that receives the number of picks finished since its previous
call, about every 1% of the budget, summing to the budget (an ``update`` of a
``ctx.progress`` bar fits).  The engines call it from inside their njit loop
through ``numba.objmode`` (``alselect.kernels.progress_hook``); picks are
bit-identical with and without it.
"""

import numpy as np

from alselect.error_bounds import U64, gamma, row_error_bounds, unit_roundoff
from alselect.errors import InvalidInputError
from alselect.validation import as_float_matrix, check_budget, check_seed, probability_matrix, row_mask

__all__ = [
    "kcenter_greedy",
    "kcenter_greedy_ip",
    "kmeanspp",
    "badge",
    "uwe_weights",
    "uwe",
]

UNCERTAINTIES = ("entropy", "bvsb", "least-confidence", "margin")
NORMALIZATIONS = ("none", "minmax")
SAMPLERS = ("kcenter", "kmeanspp")
INITS = ("max-norm", "random")
#: largest center-center table for triangle pruning, relative to the embeddings
TRI_MEM_FRACTION = 0.25
#: ... or in bytes, whichever is larger
TRI_MEM_FLOOR = 64 * 2 ** 20
#: float64 values per block of BADGE's class table pass (bounds its copy to 8 MiB)
CLASS_TABLE_BLOCK = 1 << 20


# ------------------------------------------------------------ validation

def _as_matrix(X, name):
    """C-contiguous float32/float64 2-D array (float16 widened exactly), finite."""
    return as_float_matrix(name, X)


def _row_set(rows, N, name):
    """Bool mask of length N from None, a bool mask or an index array."""
    return row_mask(name, rows, N)


def _check_budget(budget, available, what):
    return check_budget(budget, available, what)


def _check_probs(P, name="probs"):
    return probability_matrix(name, P)


def _choice(value, allowed, name):
    if value not in allowed:
        raise InvalidInputError(f"{name}={value!r} is not supported; choose one of "
                                f"{', '.join(allowed)}.")
    return value


def _seeded_uniforms(seed, count):
    return np.random.default_rng(check_seed(seed, required=True)).random(count)


# ------------------------------------------------------------ k-center greedy

def _kcenter_run(mode, A, B, n, s, pickable, labeled, first, budget, progress=None,
                 anorm=None):
    from alselect.kernels import kcenter as kc
    from alselect.kernels.progress_hook import every_for, reporting

    N, K = A.shape
    if anorm is None:
        anorm = kc.row_norms_unscaled(A)
    bnorm = anorm if B is A else kc.row_norms_unscaled(B)
    g64 = gamma(K + 2, U64)
    e_lo = row_error_bounds(anorm, bnorm, n, s, gamma(K + 2, unit_roundoff(A.dtype)), g64)
    e_hi = row_error_bounds(anorm, bnorm, n, s, g64, g64)
    init = np.flatnonzero(labeled).astype(np.int64)
    # the (budget, budget) float32 table for triangle pruning must stay small
    # next to the embeddings (peak memory target: 1.5x the array)
    use_tri = mode == kc.MODE_EUCLID and 4 * budget * budget <= max(
        TRI_MEM_FRACTION * A.nbytes, TRI_MEM_FLOOR)
    live = pickable.copy()
    if init.size == 0:
        live[first] = False
    work = kcenter_workspace(A, init.size, budget, use_tri)
    with _single_threaded_blas(), reporting(progress):
        m1, m2, c1 = _initial_pass(A, B, n, s, init if init.size else np.array([first]), live)
        done = kc.kcenter_engine(mode, A, B, n, s, e_lo, e_hi, live, init, int(first),
                                 use_tri, m1, m2, c1, work, every_for(budget, progress))
    return work[0][:done], work[1][:done]


def kcenter_workspace(A, L, budget, use_tri):
    """The arrays ``kernels.kcenter.kcenter_engine`` works in, for ``budget`` picks over rows
    ``A`` with ``L`` initial centers (contents unset; the engine fills them): NumPy allocates
    them, so the engine compiles no ``np.empty`` signatures of its own. The order is the
    engine's unpacking order; the first three are its outputs (picks, mind2, stats)."""
    from alselect.kernels import kcenter as kc

    N, K = A.shape
    tri = budget if use_tri else 1
    i64, f64 = np.int64, np.float64
    return (np.empty(budget, i64), np.empty(budget, f64), np.empty(10, i64),   # outputs
            np.empty(L + budget, i64),                                        # allc
            np.empty((budget, K), f64), np.empty((budget, K), A.dtype),       # cbuf, cbufA
            np.empty(budget, f64), np.empty(budget, f64), np.empty(budget, i64),  # cn cs cid
            np.empty(N, i64), np.empty(N, np.bool_),                          # lastc, tight
            np.empty((tri, tri), np.float32), np.empty(N if use_tri else 1, i64),  # cc, slot_of
            np.empty(N, f64), np.empty(N, i64), np.empty(N, i64),             # hk, hv, cand
            np.empty(L + budget, f64),                                        # scratch
            np.empty(kc.REFRESH_BATCH, i64), np.empty(kc.REFRESH_BATCH, i64),  # batch, gsel
            np.empty(K, A.dtype), np.empty((kc.REFRESH_BATCH, K), A.dtype),   # rowbuf, xb
            np.empty(2, A.dtype), np.empty(budget, A.dtype),                  # ab, gbuf
            np.empty(kc.SMALL_REFRESH, f64))                                  # sbuf


def _initial_pass(A, B, n, s, centers, live):
    """(m1, m2, c1) of every live row against ``centers``: the engine's initial pass.

    Blocked GEMMs (``CENTER_BLOCK`` centers gathered at a time, ``ROW_BLOCK`` rows per
    task) on Python threads (``alselect.threads``), each a single-threaded NumPy product
    (the caller limits BLAS to one thread) folded by the ``nogil`` kernel ``fold_rows``;
    a pending interrupt is raised between center blocks. The fold order of each row is
    the center order, whatever the thread count.
    """
    from alselect.kernels import kcenter as kc
    from alselect.threads import run_blocks

    N = A.shape[0]
    m1 = np.full(N, np.inf)
    m2 = np.full(N, np.inf)
    c1 = np.full(N, -1, dtype=np.int64)
    centers = np.asarray(centers, dtype=np.int64)
    starts = [r0 for r0 in range(0, N, kc.ROW_BLOCK) if live[r0:r0 + kc.ROW_BLOCK].any()]
    for c0 in range(0, centers.size, kc.CENTER_BLOCK):
        cid = np.ascontiguousarray(centers[c0:c0 + kc.CENTER_BLOCK])
        cblkT = B[cid].T
        cn, cs = n[cid], s[cid]

        def fold(r0, cid=cid, cblkT=cblkT, cn=cn, cs=cs):
            kc.fold_rows(A[r0:r0 + kc.ROW_BLOCK] @ cblkT, r0, n, s, cn, cs, cid, live,
                         m1, m2, c1)

        run_blocks(fold, starts)
    return m1, m2, c1


def _single_threaded_blas():
    """Context limiting BLAS to one thread during the engine.

    The engine issues thousands of small BLAS products per second; with a
    multi-threaded BLAS each one synchronises its threads, and on a busy
    machine (more runnable threads than cores) every synchronisation can cost
    a scheduler time slice: measured 4.6 s single-threaded vs 26 s threaded
    for the same run next to one other job on 2 cores.  The large initial pass
    spreads its GEMMs over the cores with numba's own threads instead.
    Falls back to a no-op when threadpoolctl (a scikit-learn dependency) is
    unavailable.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _first_pick(init, pickable, norms2, seed):
    """Largest norm (ties lowest row) or the seeded random pickable row."""
    rows = np.flatnonzero(pickable)
    if init == "random":
        u = _seeded_uniforms(seed, 1)[0]
        return int(rows[min(int(np.floor(u * rows.size)), rows.size - 1)])
    vals = norms2[rows]
    return int(rows[int(np.argmax(vals))])  # argmax returns the first maximum


def kcenter_greedy(X, budget, *, labeled=None, init="max-norm", seed=None,
                   candidates=None, weights=None, progress=None):
    """Exact K-Center-Greedy (core-set) in Euclidean space.

    Parameters
    ----------
    X : (N, D) float16/float32/float64 embeddings
    budget : int  number of rows to pick, at most the number of pickable rows
    labeled : bool mask (N,) or index array, optional -- initial centers
    init : {"max-norm", "random"}  first pick when nothing is labeled: the row
        of largest norm (ties: lowest row) or a row drawn with ``seed``
    seed : int, optional  needed for ``init="random"``
    candidates : bool mask (N,) or index array, optional -- rows that may be
        picked (default: all unlabeled rows)
    weights : (N,) array, optional -- per-row scale s_i: distances are taken
        between s_i x_i (UWE) without building the scaled copy
    progress : callable, optional -- ``update(n_picks_done_since_last_call)``
        (see "Progress" in the module docstring)

    Returns
    -------
    picks : (budget,) int64  in pick order
    min_dist : (budget,) float64  Euclidean distance of each pick to its
        nearest center when picked (+inf for a first pick with no centers)
    """
    X = _as_matrix(X, "X")
    N = X.shape[0]
    _choice(init, INITS, "init")
    lab = _row_set(labeled, N, "labeled")
    pickable = ~lab
    if candidates is not None:
        pickable &= _row_set(candidates, N, "candidates")
    budget = _check_budget(budget, int(pickable.sum()), "pickable rows (unlabeled candidates)")
    s = _check_weights(weights, N)
    if budget == 0:
        return np.empty(0, dtype=np.int64), np.empty(0)
    from alselect.kernels import kcenter as kc

    n, anorm = kc.row_sqnorms_and_norms(X, s)
    first = -1
    if not lab.any():
        first = _first_pick(init, pickable, n, seed)
    picks, mind2 = _kcenter_run(kc.MODE_EUCLID, X, X, n, s, pickable, lab, first, budget,
                                progress, anorm=anorm)
    return picks, np.sqrt(np.maximum(mind2, 0.0))


def _check_weights(weights, N):
    if weights is None:
        return np.ones(N)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (N,):
        raise InvalidInputError(f"weights must have shape ({N},); got {w.shape}.")
    if not np.isfinite(w).all() or (w < 0).any():
        raise InvalidInputError("weights must be finite and >= 0; got a negative or non-finite "
                                "value. Check the uncertainty scores.")
    return np.ascontiguousarray(w)


def kcenter_greedy_ip(A, B, n, budget, *, labeled=None, first=None, candidates=None,
                      progress=None):
    """The exact K-Center-Greedy engine on an inner-product distance.

    d(i, j) = n[i] + n[j] - 2 <A[i], B[j]>, with <A_i, B_j> = <A_j, B_i> guaranteed
    by the caller (e.g. a symmetric KL over (p, log p) blocks).  No triangle
    inequality is assumed.  Euclidean distance is A = B = X, n = ||x||^2.

    Parameters
    ----------
    A, B : (N, K) float16/float32/float64, same dtype after conversion
    n : (N,) float64
    budget : int
    labeled : bool mask or index array, optional -- initial centers
    first : int, optional -- first pick when nothing is labeled (default: the
        row of largest n, ties lowest row)
    candidates : bool mask or index array, optional -- rows that may be picked
    progress : callable, optional -- ``update(n_picks_done_since_last_call)``

    Returns
    -------
    picks : (budget,) int64 in pick order
    min_d : (budget,) float64  d(pick, nearest center) when picked (the
        distance itself, not a square root; +inf for a first pick with no
        centers)
    """
    A = _as_matrix(A, "A")
    B = _as_matrix(B, "B")
    if A.shape != B.shape:
        raise InvalidInputError(f"A and B must have the same shape; got {A.shape} and {B.shape}.")
    if A.dtype != B.dtype:
        B = B.astype(A.dtype) if A.dtype == np.float64 else B.astype(np.float32)
        A = A.astype(B.dtype, copy=False)
    N = A.shape[0]
    n = np.ascontiguousarray(np.asarray(n, dtype=np.float64))
    if n.shape != (N,) or not np.isfinite(n).all():
        raise InvalidInputError(f"n must be a finite array of shape ({N},); got shape {n.shape}.")
    lab = _row_set(labeled, N, "labeled")
    pickable = ~lab
    if candidates is not None:
        pickable &= _row_set(candidates, N, "candidates")
    budget = _check_budget(budget, int(pickable.sum()), "pickable rows (unlabeled candidates)")
    if budget == 0:
        return np.empty(0, dtype=np.int64), np.empty(0)
    from alselect.kernels import kcenter as kc

    f = -1
    if not lab.any():
        if first is None:
            f = _first_pick("max-norm", pickable, n, None)
        else:
            f = int(first)
            if not (0 <= f < N) or not pickable[f]:
                raise InvalidInputError(f"first={first} must be a pickable row index in [0, {N}).")
    s = np.ones(N)
    return _kcenter_run(kc.MODE_IP, A, B, n, s, pickable, lab, f, budget, progress)


# ------------------------------------------------------------ D^2 sampling

def d2_state(n, active, capacity):
    """The D² engine's mutable state for rows with ``n`` (``d2_rows``) of which ``active``
    may be picked, with slots for ``capacity`` centers: ``(active, d2, nrm, assign,
    centers, maxd2, skip, cc2)`` as ``kernels.d2sampling.d2_engine`` and a shard's fold
    (``alselect.distributed.d2``) use it."""
    active = np.array(active, dtype=np.bool_)
    return (active, np.where(active, np.inf, 0.0), np.sqrt(n),
            np.full(n.shape[0], -1, dtype=np.int64), np.empty(capacity, dtype=np.int64),
            np.full(capacity, np.inf), np.zeros(capacity, dtype=np.bool_), np.zeros(capacity))


def _rowdots(X):
    """float64 ``sum_k X[i, k]**2`` per row (NumPy: one pass over the data needs no kernel,
    and no compile on first use; the cast to float64 is buffered, never a full copy)."""
    return np.einsum("ij,ij->i", X, X, dtype=np.float64)


def d2_rows(A, Q, has_q, s, P=None):
    """The D² engine's per-row inputs ``(Q, n, y, psum, fnorm, anorm)`` for rows ``A``
    (one machine, or one shard): ``Q`` defaults to an unused zero column; ``n`` is
    ``s² |A|² (|Q|²)`` of distance (1) in ``alselect.kernels.d2sampling``; ``y``, ``psum``,
    ``fnorm`` and ``anorm`` feed BADGE's O(1) pseudo-label bound and are zeros otherwise."""
    N = A.shape[0]
    if Q is None:
        Q = np.zeros((N, 1), dtype=A.dtype)
    fsq = _rowdots(A)
    n = s * s * fsq
    if has_q:
        qsq = _rowdots(Q)
        n *= qsq
        y = np.argmax(P, axis=1).astype(np.int64)
        psum = P.sum(axis=1, dtype=np.float64)
        fnorm = np.sqrt(fsq)
        anorm = np.sqrt(qsq)
    else:
        y = np.zeros(N, dtype=np.int64)
        psum, fnorm, anorm = np.zeros(N), np.zeros(N), np.zeros(N)
    return Q, n, y, psum, fnorm, anorm


def badge_class_table(Q, has_q, y, active):
    """BADGE's (C, C) table ``[m, k]``: max p_i[m] (from ``Q = p - onehot(y)``, so
    ``Q[i, m] + [m == k]`` in float64) over the active rows i of class k, and 0 where a
    class has no active row; a bound for the D² engine's pruning only. A (1, 1) zero table
    when ``has_q`` is false. NumPy, over blocks of ``CLASS_TABLE_BLOCK`` values."""
    C = Q.shape[1] if has_q else 1
    table = np.zeros((C, C))
    if not has_q:
        return table
    step = max(1, CLASS_TABLE_BLOCK // C)
    for r0 in range(0, Q.shape[0], step):
        rows = np.flatnonzero(active[r0:r0 + step]) + r0
        if rows.size == 0:
            continue
        order = np.argsort(y[rows], kind="stable")
        rows, ys = rows[order], y[rows][order]
        starts = np.flatnonzero(np.r_[True, ys[1:] != ys[:-1]])
        cls = ys[starts]
        mx = np.maximum.reduceat(Q[rows].astype(np.float64), starts, axis=0)  # (groups, C)
        mx[np.arange(cls.size), cls] += 1.0
        table[:, cls] = np.maximum(table[:, cls], mx.T)
    return table


def _d2_run(A, Q, has_q, s, pickable, centers_mask, budget, seed, init, P=None, progress=None):
    from alselect.kernels import d2sampling as d2
    from alselect.kernels.progress_hook import every_for, reporting
    from alselect.rowkeys import race_seed

    Q, n, y, psum, fnorm, anorm = d2_rows(A, Q, has_q, s, P)
    base = race_seed(seed)
    first = -1
    if not centers_mask.any():
        first = _d2_first(init, pickable, n, base)
    init_c = np.flatnonzero(centers_mask).astype(np.int64)
    pmax_cls = badge_class_table(Q, has_q, y, pickable)
    picks = np.empty(budget, dtype=np.int64)
    with reporting(progress):
        d2.d2_engine(A, Q, has_q, n, s, init_c, first, base, y, psum, fnorm, anorm, pmax_cls,
                     d2_state(n, pickable, init_c.size + budget), picks,
                     every_for(budget, progress))
    return picks


def _d2_first(init, pickable, norms2, seed_base):
    """First center with no centers: the largest norm (ties lowest row), or pick 0's race with
    equal weights (a uniform pickable row, from the same stream as the later picks)."""
    if init == "random":
        from alselect.kernels.race import draw, pick_base

        return int(draw(np.zeros(pickable.shape[0]), pickable, pick_base(seed_base, 0), 0))
    return _first_pick("max-norm", pickable, norms2, None)


def kmeanspp(X, budget, *, labeled=None, seed, init="max-norm", weights=None, progress=None,
             candidates=None):
    """k-means++ seeding (D^2 sampling without replacement) on embeddings.

    Labeled rows are the initial centers; with none, the first center is the
    row of largest norm (ties lowest row) or, with ``init="random"``, a
    uniform unlabeled row.  Pick t is the exponential race of
    ``alselect.kernels.race`` keyed by (seed, t, row); see docs/diversity.md.

    Parameters
    ----------
    X : (N, D) float16/float32/float64
    budget : int
    labeled : bool mask or index array, optional
    seed : int
    init : {"max-norm", "random"}
    weights : (N,) optional per-row scale (UWE)
    progress : callable, optional -- ``update(n_picks_done_since_last_call)``
    candidates : bool mask (N,) or index array, optional -- rows that may be
        picked (default: all unlabeled rows)

    Returns
    -------
    (budget,) int64 picks in pick order
    """
    X = _as_matrix(X, "X")
    N = X.shape[0]
    _choice(init, INITS, "init")
    lab = _row_set(labeled, N, "labeled")
    pickable = ~lab
    if candidates is not None:
        pickable &= _row_set(candidates, N, "candidates")
    budget = _check_budget(budget, int(pickable.sum()), "pickable rows (unlabeled candidates)")
    s = _check_weights(weights, N)
    seed = check_seed(seed, required=True)
    if budget == 0:
        return np.empty(0, dtype=np.int64)
    return _d2_run(X, None, False, s, pickable, lab, budget, seed, init, progress=progress)


def badge_embedding_factors(probs):
    """a = p - onehot(argmax p) (ties: lowest class), same dtype as probs."""
    a = np.array(probs, copy=True)
    a[np.arange(a.shape[0]), np.argmax(a, axis=1)] -= 1
    return a


def badge(probs, features, budget, *, labeled=None, seed, labeled_as_centers=False,
          progress=None, candidates=None, centers=None):
    """BADGE: k-means++ seeding on gradient embeddings (p - onehot) (x) f.

    Distances use ||g_x - g_y||^2 = |a_x|^2|f_x|^2 + |a_y|^2|f_y|^2
    - 2 (a_x.a_y)(f_x.f_y); the N x (C.D) matrix is never built.  The first
    center is the row of largest gradient norm (ties lowest row).  Labeled rows
    are never picked; as in the BADGE paper and code they are not centers
    unless ``labeled_as_centers=True``.

    Parameters
    ----------
    probs : (N, C) probabilities
    features : (N, D) penultimate-layer embeddings
    budget : int
    labeled : bool mask or index array, optional
    seed : int
    labeled_as_centers : bool
    progress : callable, optional -- ``update(n_picks_done_since_last_call)``
    candidates : bool mask or index array, optional -- rows that may be picked
    centers : bool mask or index array, optional -- extra initial centers (earlier
        picks of the same selection); never picked

    Returns
    -------
    (budget,) int64 picks in pick order
    """
    P = _check_probs(probs)
    F = _as_matrix(features, "features")
    if P.shape[0] != F.shape[0]:
        raise InvalidInputError(f"probs and features must have the same number of rows; got "
                                f"{P.shape[0]} and {F.shape[0]}.")
    N = F.shape[0]
    lab = _row_set(labeled, N, "labeled")
    extra = _row_set(centers, N, "centers")
    pickable = ~lab & ~extra
    if candidates is not None:
        pickable &= _row_set(candidates, N, "candidates")
    budget = _check_budget(budget, int(pickable.sum()), "pickable rows (unlabeled candidates)")
    seed = check_seed(seed, required=True)
    if budget == 0:
        return np.empty(0, dtype=np.int64)
    a = badge_embedding_factors(P)
    init_centers = (lab | extra) if labeled_as_centers else extra
    return _d2_run(F, a, True, np.ones(N), pickable, init_centers, budget, seed, "max-norm", P=P,
                   progress=progress)


# ------------------------------------------------------------ UWE

def uwe_weights(probs, *, uncertainty="entropy", tau=1.0, normalize="none"):
    """Uncertainty weights u(x)^tau of UWE (paper Eq. 4, tau of Sec. 5.2).

    Parameters
    ----------
    probs : (N, C) probabilities
    uncertainty : {"entropy", "bvsb", "least-confidence", "margin"}
        entropy -sum p log p (nats); bvsb p_second / p_best; least-confidence
        1 - p_best; margin 1 - (p_best - p_second)
    tau : float > 0
    normalize : {"none", "minmax"}  "minmax" maps u to [0, 1] before the power
        (the authors' code); a constant u becomes all ones

    Returns
    -------
    (N,) float64
    """
    from alselect.kernels import uncertainty as K

    _choice(uncertainty, UNCERTAINTIES, "uncertainty")
    _choice(normalize, NORMALIZATIONS, "normalize")
    tau = float(tau)
    if not np.isfinite(tau) or tau <= 0:
        raise InvalidInputError(f"tau must be a finite number > 0; got {tau}.")
    P = _check_probs(probs)
    if uncertainty == "margin":  # larger = more uncertain
        u = 1.0 - K.margin(P)
    else:
        u = {"entropy": K.entropy, "bvsb": K.bvsb, "least-confidence": K.least_confidence}[uncertainty](P)
    u = np.maximum(u, 0.0)  # entropy of a one-hot row can round to -0
    if normalize == "minmax":
        lo, hi = u.min(), u.max()
        u = (u - lo) / (hi - lo) if hi > lo else np.ones_like(u)
    with np.errstate(over="ignore"):
        w = u ** tau
    if not np.isfinite(w).all():  # entropy (nats) exceeds 1 for C >= 3 classes
        raise InvalidInputError(f"u(x)^tau overflows float64 for tau = {tau:g} (the largest u(x) is "
                                f"{float(u.max()):.6g}); use a smaller tau (the paper uses 1 and 0.1)")
    return w


def uwe(probs, features, budget, *, uncertainty="entropy", tau=1.0, normalize="none",
        sampler="kcenter", labeled=None, seed=None, weights=None, progress=None):
    """UWE selection: k-center greedy (default) or k-means++ on u(x)^tau f(x).

    Labeled rows are the initial centers (paper Algorithm 1).  The scaled
    embeddings are never materialised: the kernels take f and the weights.
    ``weights`` overrides the weights computed from ``probs`` (segmentation /
    detection variants pass aggregated features and weights; ``probs`` may
    then be None).  ``progress``: ``update(n_picks_done_since_last_call)``.

    Returns
    -------
    (budget,) int64 picks in pick order
    """
    _choice(sampler, SAMPLERS, "sampler")
    F = _as_matrix(features, "features")
    if weights is None:
        w = uwe_weights(probs, uncertainty=uncertainty, tau=tau, normalize=normalize)
    else:
        w = _check_weights(weights, F.shape[0])
    if w.shape[0] != F.shape[0]:
        raise InvalidInputError(f"probs and features must have the same number of rows; got "
                                f"{w.shape[0]} and {F.shape[0]}.")
    if sampler == "kmeanspp":
        return kmeanspp(F, budget, labeled=labeled, seed=seed, weights=w, progress=progress)
    return kcenter_greedy(F, budget, labeled=labeled, weights=w, progress=progress)[0]
