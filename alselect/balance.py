"""Class-balanced selection (Bengar et al., thesis ch. 4): validated array-level API.

* :func:`omega` — samples still needed per class, Eq. 4.4 (optionally towards a
  user target distribution), with :func:`infer_cycle` for the cycle number.
* :func:`informativeness` — the ``u`` vector of Eq. 4.7 / 4.9 (larger = more
  informative): entropy (natural log), margin, least confidence, BALD, or an
  external score.
* :func:`solve_balanced` — Eq. 4.8 / 4.9 solved to a certified gap
  (LP column generation, 1-swap descent, reduced-cost fixing, HiGHS MIP; see
  :mod:`alselect.milp_balanced`).
* :func:`balanced_kcenter` — Algorithm 2, greedy k-center with the balance
  penalty (lazy exact numba kernel, O(N) memory).
* :func:`balance_score`, :func:`class_histogram` — the balance report (Eq. 4.10).

Every public function validates its inputs once and raises ``InvalidInputError`` (a ``ValueError``)
stating the value, the rule and the fix.  numba and highspy are imported only
inside the functions that need them.
"""

from __future__ import annotations

import numpy as np

from alselect.error_bounds import U64, gamma, unit_roundoff
from alselect.errors import InvalidInputError
from alselect.validation import check_budget, probability_matrix, row_mask

from alselect.milp_balanced import DEFAULT_GAP_TOL, DEFAULT_TIME_LIMIT, BalancedResult, program_objective, program_terms

__all__ = [
    "BalancedResult",
    "balance_score",
    "balanced_kcenter",
    "class_histogram",
    "infer_cycle",
    "informativeness",
    "omega",
    "program_objective",
    "program_terms",
    "solve_balanced",
]

#: A target distribution must sum to 1 within this (it is then renormalised).
TARGET_SUM_TOL = 1e-6
#: Rows converted at once from float16 (keeps temporaries to a few MB).
ROW_BLOCK = 8192
#: Labeled rows from which the initial distances are screened with BLAS (below: direct loops).
SCREEN_MIN_CENTERS = 64
#: Rows per GEMM block of the screened initial pass.
SCREEN_ROW_BLOCK = 1024
#: Centers per GEMM block of the screened initial pass (block of dots: 1024 x 1024).
SCREEN_CENTER_BLOCK = 1024
#: Penalty scales of :func:`balanced_kcenter`: the thesis' lam, or the authors' code's lam / C.
KCENTER_SCALES = ("paper", "code")


# --------------------------------------------------------------------------- helpers
def _as_int_labels(labels, n_classes, name):
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {lab.shape}; pass one label per sample.")
    if lab.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(lab.dtype, np.integer):
        if np.issubdtype(lab.dtype, np.floating) and np.all(np.isfinite(lab)) and np.all(lab == np.round(lab)):
            lab = lab.astype(np.int64)
        else:
            raise InvalidInputError(f"{name} must hold integer class ids, got dtype {lab.dtype}; "
                             "pass integer labels in [0, n_classes).")
    lo, hi = int(lab.min()), int(lab.max())
    if lo < 0 or hi >= n_classes:
        raise InvalidInputError(f"{name} must lie in [0, {n_classes}), got values in [{lo}, {hi}]; "
                         "drop unlabeled (-1) entries or raise n_classes.")
    return lab.astype(np.int64, copy=False)


def _check_n_classes(n_classes):
    if not isinstance(n_classes, (int, np.integer)) or isinstance(n_classes, bool) or n_classes < 1:
        raise InvalidInputError(f"n_classes must be a positive integer, got {n_classes!r}.")
    return int(n_classes)


def _check_budget(budget, n_avail, what="candidate rows"):
    return check_budget(budget, n_avail, what, minimum=1)


def _check_lam(lam):
    try:
        lam = float(lam)
    except (TypeError, ValueError):
        raise InvalidInputError(f"lam must be a non-negative number, got {lam!r}.") from None
    if not np.isfinite(lam) or lam < 0:
        raise InvalidInputError(f"lam must be finite and >= 0, got {lam}; lam=0 disables balancing.")
    return lam


def _kernel_float(A, name):
    """C-contiguous float32/float64 view of ``A`` (float16/int converted to float32)."""
    A = np.asarray(A)
    if A.dtype in (np.float32, np.float64):
        return np.ascontiguousarray(A)
    if A.dtype == np.float16:
        out = np.empty(A.shape, dtype=np.float32)
        for s in range(0, A.shape[0], ROW_BLOCK):
            out[s:s + ROW_BLOCK] = A[s:s + ROW_BLOCK]
        return out
    if np.issubdtype(A.dtype, np.integer) or A.dtype == np.bool_:
        return np.ascontiguousarray(A, dtype=np.float32)
    raise InvalidInputError(f"{name} must be a float array, got dtype {A.dtype}.")


def _check_finite_blocks(A, name):
    for s in range(0, A.shape[0], ROW_BLOCK):
        ok = np.isfinite(A[s:s + ROW_BLOCK]).reshape(min(ROW_BLOCK, A.shape[0] - s), -1).all(axis=1)
        if not ok.all():
            bad = s + int(np.flatnonzero(~ok)[0])
            raise InvalidInputError(f"{name} has a NaN or inf in row {bad}; fix or drop that sample.")


def _check_probs(P, name="P", n_rows=None):
    """Probability rows by the pool format's rule (alselect.validation); integer one-hot rows allowed."""
    P = np.asarray(P)
    if P.dtype.kind in "iub":
        P = P.astype(np.float32)
    P = probability_matrix(name, P)
    if n_rows is not None and P.shape[0] != n_rows:
        raise InvalidInputError(f"{name} has {P.shape[0]} rows but {n_rows} were expected; pass one "
                                "probability row per sample.")
    return P


def _check_omega(om, C):
    om = np.asarray(om, dtype=np.float64)
    if om.shape != (C,):
        raise InvalidInputError(f"omega must have shape ({C},) to match P's {C} classes, got {om.shape}.")
    if not np.all(np.isfinite(om)) or om.min() < 0:
        raise InvalidInputError("omega must be finite and >= 0 (samples still needed per class); "
                         "compute it with alselect.balance.omega().")
    return om


def _candidate_rows(candidates, N, exclude=None):
    """Sorted int64 candidate rows from None (all rows) / bool mask / index array."""
    rows = np.arange(N, dtype=np.int64) if candidates is None else \
        np.flatnonzero(row_mask("candidates", candidates, N)).astype(np.int64)
    if exclude is not None and exclude.size:
        rows = rows[~np.isin(rows, exclude)]
    return rows


# --------------------------------------------------------------------------- Omega
def infer_cycle(n_labeled, budget, b0):
    """Cycle number ``c = round((n_labeled - b0) / budget) + 1``.

    The first cycle (``c = 1``) starts with the initial ``b0`` labeled samples;
    each completed cycle adds ``budget``.

    Parameters
    ----------
    n_labeled : int
        Labeled samples now.
    budget : int
        Budget per cycle ``b`` (>= 1).
    b0 : int
        Initial labeled-set size (``0 <= b0 <= n_labeled``).

    Returns
    -------
    int
    """
    for name, v in (("n_labeled", n_labeled), ("budget", budget), ("b0", b0)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise InvalidInputError(f"{name} must be an integer, got {v!r}.")
    if budget < 1:
        raise InvalidInputError(f"budget must be >= 1, got {budget}.")
    if b0 < 0 or b0 > n_labeled:
        raise InvalidInputError(f"b0 must lie in [0, n_labeled={n_labeled}], got {b0}; b0 is the labeled "
                         "count at the first cycle.")
    # floor(x + 1/2): Python's round() would send exact halves to the even cycle
    return int(np.floor((n_labeled - b0) / budget + 0.5)) + 1


def omega(labels_of_labeled, n_classes, budget, *, b0, cycle, target=None, truncate=False):
    """Samples still needed per class, Eq. 4.4.

    ``Omega_i(c) = max(t_i * (c*b + b0) - n_i, 0)`` with ``t_i = 1/C`` (the
    thesis) or a user target distribution ``t`` (sums to 1), ``n_i`` the labeled
    count of class ``i`` (0 for classes with no labeled sample yet).

    Parameters
    ----------
    labels_of_labeled : array of int, shape (L,)
        Class ids of the labeled samples (may be empty).
    n_classes : int
        ``C``.
    budget : int
        ``b``, this cycle's budget (>= 1).
    b0 : int
        Initial labeled-set size (labeled count at the first cycle, >= 0).
    cycle : int
        ``c >= 1`` (see :func:`infer_cycle`).
    target : None, "uniform" or array of float, shape (C,)
        Target class distribution (non-negative, sums to 1).
    truncate : bool
        If True, truncate ``t_i*(c*b + b0)`` to an integer first, as the
        authors' released code does (the thesis does not).

    Returns
    -------
    ndarray of float64, shape (C,)
    """
    C = _check_n_classes(n_classes)
    lab = _as_int_labels(labels_of_labeled, C, "labels_of_labeled")
    for name, v, lo in (("budget", budget, 1), ("b0", b0, 0), ("cycle", cycle, 1)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
            raise InvalidInputError(f"{name} must be an integer >= {lo}, got {v!r}.")
    if target is None or (isinstance(target, str) and target == "uniform"):
        t = np.full(C, 1.0 / C)
    elif isinstance(target, str):
        raise InvalidInputError(f"target must be 'uniform' or an array of {C} proportions, got {target!r}.")
    else:
        t = np.asarray(target, dtype=np.float64)
        if t.shape != (C,):
            raise InvalidInputError(f"target must have shape ({C},), got {t.shape}; give one proportion "
                             "per class.")
        if not np.all(np.isfinite(t)) or t.min() < 0:
            raise InvalidInputError("target proportions must be finite and >= 0.")
        if abs(t.sum() - 1.0) > TARGET_SUM_TOL:
            raise InvalidInputError(f"target must sum to 1 (within {TARGET_SUM_TOL}), got {t.sum():.8g}; "
                             "normalise it first.")
        t = t / t.sum()
    n = np.bincount(lab, minlength=C).astype(np.float64)
    goal = t * float(cycle * budget + b0)
    if truncate:
        goal = np.floor(goal)
    return np.maximum(goal - n, 0.0)


# --------------------------------------------------------------------------- u
def informativeness(kind, probs=None, mc_probs=None, score=None):
    """Per-sample informativeness ``u`` (larger = more informative).

    Parameters
    ----------
    kind : {"entropy", "margin", "least-confidence", "bald", "score"}
        * entropy: ``-sum_c p_c ln p_c`` (Eq. 4.6, natural log, ``0 ln 0 = 0``).
        * margin: ``1 - (p_(1) - p_(2))`` (smaller top-two margin = larger u).
        * least-confidence: ``1 - p_(1)``.
        * bald: ``H[mean_t p_t] - mean_t H[p_t]`` (natural log) over MC passes.
        * score: an external score, used as given (e.g. VAAL's discriminator
          uncertainty, Eq. 4.9; negate it first if smaller means more informative).
    probs : array, shape (N, C)
        Softmax probabilities (entropy, margin, least-confidence).
    mc_probs : array, shape (N, T, C)
        MC-dropout or ensemble probabilities (bald), laid out as in the pool file.
    score : array, shape (N,)
        External score (score).

    Returns
    -------
    ndarray of float64, shape (N,)
    """
    from .kernels import uncertainty as K

    if kind in ("entropy", "margin", "least-confidence"):
        if probs is None:
            raise InvalidInputError(f"informativeness kind={kind!r} needs probs of shape (N, C).")
        P = _kernel_float(_check_probs(probs, "probs"), "probs")
        if kind == "entropy":
            return K.entropy(P)
        if kind == "margin":
            return 1.0 - K.margin(P)
        return K.least_confidence(P)
    if kind == "bald":
        if mc_probs is None:
            raise InvalidInputError("informativeness kind='bald' needs mc_probs of shape (N, T, C).")
        A = np.asarray(mc_probs)
        if A.ndim != 3:
            raise InvalidInputError(f"mc_probs must be 3-D (N, T, C) as in the pool file, got shape {A.shape}.")
        for t in range(A.shape[1]):
            _check_probs(A[:, t], f"mc_probs[:, {t}]")
        return K.bald(_kernel_float(A, "mc_probs"))
    if kind == "score":
        if score is None:
            raise InvalidInputError("informativeness kind='score' needs score of shape (N,).")
        u = np.asarray(score, dtype=np.float64)
        if u.ndim != 1:
            raise InvalidInputError(f"score must be 1-D (N,), got shape {u.shape}.")
        if not np.all(np.isfinite(u)):
            raise InvalidInputError(f"score has a NaN or inf at row {int(np.flatnonzero(~np.isfinite(u))[0])}.")
        return u
    raise InvalidInputError(f"unknown informativeness kind {kind!r}; use one of 'entropy', 'margin', "
                     "'least-confidence', 'bald', 'score'.")


# --------------------------------------------------------------------------- balanced
def solve_balanced(u, P, omega, budget, lam, *, time_limit=DEFAULT_TIME_LIMIT, candidates=None,
                   gap_tol=DEFAULT_GAP_TOL, verbose_callback=None, initial=None):
    """Class-balanced selection, Eq. 4.8 / 4.9, to a certified optimality gap.

    ``min_z -u^T z + lam * ||Omega - P^T z||_1  s.t.  sum z = budget,  z in {0,1}``
    over the candidate rows.

    Parameters
    ----------
    u : array of float, shape (N,)
        Informativeness, larger = more informative (see :func:`informativeness`).
    P : array of float, shape (N, C)
        Class probabilities (rows sum to 1).
    omega : array of float, shape (C,)
        Samples still needed per class (:func:`omega`).
    budget : int
        ``1 <= budget <= number of candidates``.
    lam : float
        Balance weight ``>= 0``; 0 gives plain top-``budget`` of ``u``.
    time_limit : float or None
        Wall seconds, default ``DEFAULT_TIME_LIMIT`` (10 s); when hit the best
        selection found is returned with ``status="time_limit"`` and its
        certified gap.  None: no limit.
    candidates : None, bool mask (N,) or int array
        Eligible rows (default: all rows).
    gap_tol : float
        Required certified relative gap ``(objective - lower_bound) /
        max(|objective|, 1)``; default 1e-4 (HiGHS's default); 0 = exact.
    verbose_callback : callable(str) or None
        Receives one-line progress messages (the CLI prints them on stderr).
    initial : None or int array (budget,)
        A selection to start from (e.g. the solution at a nearby ``lam``).

    Returns
    -------
    BalancedResult
        ``picks`` (int64, ordered by descending ``u``, ties by lowest row), ``z``,
        ``objective``, ``lower_bound``, ``gap``, ``status`` ("optimal" when
        ``gap <= gap_tol``, "time_limit", or "feasible"), ``solve_time``,
        ``lp_fractional_count`` and diagnostics.
    """
    from alselect.milp_balanced import solve_balanced_program

    u = np.asarray(u, dtype=np.float64)
    if u.ndim != 1:
        raise InvalidInputError(f"u must be 1-D (N,), got shape {u.shape}.")
    if not np.all(np.isfinite(u)):
        raise InvalidInputError(f"u has a NaN or inf at row {int(np.flatnonzero(~np.isfinite(u))[0])}; "
                         "fix the scores.")
    P = _check_probs(P, "P", n_rows=u.size).astype(np.float64, copy=False)  # the program in float64
    om = _check_omega(omega, P.shape[1])
    lam = _check_lam(lam)
    cand = _candidate_rows(candidates, u.size)
    b = _check_budget(budget, cand.size)
    gap_tol = float(gap_tol)
    if not (gap_tol >= 0):
        raise InvalidInputError(f"gap_tol must be >= 0, got {gap_tol}.")
    if initial is not None:
        initial = np.asarray(initial)
        if initial.ndim != 1 or (initial.size and not np.issubdtype(initial.dtype, np.integer)):
            raise InvalidInputError("initial must be a 1-D array of row numbers (a previous selection).")
    if time_limit is not None and not (float(time_limit) > 0):
        raise InvalidInputError(f"time_limit must be > 0 seconds or None, got {time_limit}.")
    # the solver spends its time in HiGHS (C, GIL released): run it where a signal can stop it
    from alselect import interrupt

    return interrupt.call(solve_balanced_program, u, P, om, b, lam, candidates=cand, gap_tol=gap_tol,
                          time_limit=None if time_limit is None else float(time_limit),
                          verbose_callback=verbose_callback, initial=initial)


# --------------------------------------------------------------------------- k-center
def balanced_kcenter(X, P, omega, budget, lam, *, labeled=None, candidates=None, scale="paper",
                     first=None, progress=None):
    """Greedy class-balanced k-center, Algorithm 2 (exact, lazy, O(N) memory).

    Step ``t`` picks ``argmin_j -d_j + lam' * ||Omega - P^T z - p_j||_1`` over the
    remaining candidates, ``d_j`` the Euclidean distance to the nearest of the
    labeled rows and the picks so far, ``lam' = lam`` (``scale="paper"``) or
    ``lam / C`` (``scale="code"``, the authors' released code).  With nothing
    labeled, ``d_j = +inf`` for all rows at the first step, so the penalty alone
    decides the first pick (lowest row on ties: row ``candidates[0]`` when
    ``lam = 0``) unless ``first`` names it (e.g. the largest-norm row, the
    plain k-center engine's rule).  Ties within a relative 1e-12 go to the
    lowest row.

    Parameters
    ----------
    X : array of float, shape (N, D)
        Embeddings (float16 is converted to float32).
    P : array of float, shape (N, C)
        Class probabilities.
    omega : array of float, shape (C,)
    budget : int
    lam : float
    labeled : None or int array (L,)
        Rows already labeled (initial centers; never picked).
    candidates : None, bool mask (N,) or int array
        Eligible rows (default: all rows not labeled).
    scale : {"paper", "code"}
    first : None or int
        First pick when nothing is labeled (ignored otherwise); must be a candidate.
    progress : None or callable
        ``update(n_picks_done_since_last_call)``, called about every 1% of the
        budget from inside the kernel (``alselect.kernels.progress_hook``);
        the updates sum to the budget and the picks do not depend on it.

    Returns
    -------
    ndarray of int64, shape (budget,)
        Picks in selection order.
    """
    X = _kernel_float(X, "X")
    if X.ndim != 2:
        raise InvalidInputError(f"X must be 2-D (N, D), got shape {X.shape}.")
    N = X.shape[0]
    _check_finite_blocks(X, "X")
    P = _check_probs(P, "P", n_rows=N)
    om = _check_omega(omega, P.shape[1])
    lam = _check_lam(lam)
    if scale not in KCENTER_SCALES:
        raise InvalidInputError(f"scale must be one of {KCENTER_SCALES}, got {scale!r}.")
    if scale == "code":
        lam = lam / P.shape[1]
    lab = np.flatnonzero(row_mask("labeled", labeled, N)).astype(np.int64)
    cand = _candidate_rows(candidates, N, exclude=lab)
    b = _check_budget(budget, cand.size, "candidate rows (labeled rows excluded)")
    from alselect.kernels.balanced_kcenter import (
        balanced_kcenter_kernel,
        first_pick_by_penalty,
        min_sqdist_to_centers,
    )
    from alselect.kernels.progress_hook import every_for, reporting

    d2 = np.full(N, np.inf)
    if lab.size >= SCREEN_MIN_CENTERS:
        first = -1
        _screened_min_sqdist(X, cand, lab, d2)
    elif lab.size == 0:
        if first is None:
            first = int(first_pick_by_penalty(P, om, lam, cand))
        elif not isinstance(first, (int, np.integer)) or not np.isin(first, cand):
            raise InvalidInputError(f"first={first!r} is not a candidate row; pass a candidate row "
                             "number or None.")
        first = int(first)
        min_sqdist_to_centers(X, cand, np.array([first], dtype=np.int64), d2)
    else:
        first = -1
        min_sqdist_to_centers(X, cand, lab, d2)
    with reporting(progress):
        return balanced_kcenter_kernel(X, P, om, b, lam, lab, cand, first, d2,
                                       every_for(b, progress))


def _screened_min_sqdist(X, rows, centers, d2):
    """``d2[j] = min_c d64(x_j, x_c)`` exactly, screened by blocked BLAS dot products.

    Each (row block x center block) product is one GEMM in the input dtype; a
    rigorous rounding bound decides which pairs are recomputed in float64 (see
    ``fold_screened_block``).  Temporaries: a few MB per block.
    """
    from alselect.kernels.balanced_kcenter import fold_screened_block

    N, K = X.shape
    sqn = np.zeros(N)
    for s in range(0, N, ROW_BLOCK):
        blk = np.asarray(X[s:s + ROW_BLOCK], dtype=np.float64)
        sqn[s:s + ROW_BLOCK] = np.einsum("ij,ij->i", blk, blk)
    nrm = np.sqrt(sqn)
    gamma_dot, gamma64 = gamma(K, unit_roundoff(X.dtype)), gamma(K, U64)
    upper = np.full(N, np.inf)
    for cs in range(0, centers.size, SCREEN_CENTER_BLOCK):
        cblk = centers[cs:cs + SCREEN_CENTER_BLOCK]
        XC = X[cblk]
        for rs in range(0, rows.size, SCREEN_ROW_BLOCK):
            rblk = rows[rs:rs + SCREEN_ROW_BLOCK]
            G = X[rblk] @ XC.T
            fold_screened_block(X, rblk, cblk, G, sqn, nrm, gamma_dot, gamma64, d2, upper)


# --------------------------------------------------------------------------- report
def class_histogram(labels, n_classes):
    """Counts per class, shape (C,), int64 (labels in ``[0, n_classes)``)."""
    C = _check_n_classes(n_classes)
    lab = _as_int_labels(labels, C, "labels")
    return np.bincount(lab, minlength=C).astype(np.int64)


def balance_score(counts):
    """Normalised L1 distance to uniform, Eq. 4.10: 0 = uniform, 1 = a single class.

    ``score = sum_i |n_i - b/C| / (2 b (C - 1) / C)`` with ``b = sum_i n_i``.
    Returns 0.0 when ``C = 1`` (one class is trivially balanced) and NaN for
    an empty selection (``b = 0``).

    Parameters
    ----------
    counts : array of int or float, shape (C,)

    Returns
    -------
    float
    """
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 1 or n.size == 0:
        raise InvalidInputError(f"counts must be 1-D with one entry per class, got shape {n.shape}.")
    if not np.all(np.isfinite(n)) or n.min() < 0:
        raise InvalidInputError("counts must be finite and >= 0.")
    C = n.size
    b = n.sum()
    if b == 0:
        return float("nan")
    if C == 1:
        return 0.0
    return float(np.abs(n - b / C).sum() / (2.0 * b * (C - 1) / C))
