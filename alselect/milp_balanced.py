"""Exact solver for the class-balanced selection program (Bengar et al., Eq. 4.8 / 4.9).

Program (over the candidate rows ``j``; ``u`` larger = more informative)::

    min_z  F(z) = -u^T z + lam * || Omega - P^T z ||_1
    s.t.   sum_j z_j = b,   z_j in {0, 1}.

Method (see ``docs/class-balance.md`` for the proofs):

1. **Lagrangian / LP dual bound.**  For any ``y`` with ``|y_i| <= lam``,
   ``lam*|r_i| >= y_i*r_i``, hence for every feasible ``z``::

       F(z) >= y^T Omega - w^T z >= g(y) := y^T Omega - top_b(w),   w = u + P y.

   ``g(y)`` is a certified lower bound for ANY such ``y``, computed here in float64; its
   maximum is the LP-relaxation optimum, found by column generation (HiGHS simplex via
   ``highspy``, warm-started between rounds).
2. **Incumbent.**  The best of: the LP vertex rounded by its largest values, the caller's
   warm start, the top-b of ``w``; improved by a numba best-improvement 1-swap descent
   between the weakest selected and strongest unselected columns by ``w``.
3. **Reduced-cost fixing.**  Forcing ``z_j = 0`` for a top-b column raises the bound to
   ``g + w_j - w_(b+1)``; forcing ``z_j = 1`` for a non-top column to ``g + w_(b) - w_j``;
   columns whose forced bound exceeds ``UB`` are fixed.
4. **Exact reduced MIP** on the free columns with HiGHS (``highspy`` arrays, no modelling
   layer), seeded with the incumbent, under the remaining time, polled for Ctrl-C.  The
   certified lower bound is ``max(g(y), min(MIP dual bound, UB))``.

One-hot rows skip all of this: the program separates by class and a greedy over per-class
marginal gains is exact (:func:`_quota_solve`).  Steps 2-4 stop as soon as
``(UB - LB) / max(|UB|, 1) <= gap_tol`` or the time limit is reached.
``highspy`` and numba are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .errors import SolverError

#: Rows of ``P`` processed at once when forming ``P @ y`` (keeps float64
#: temporaries to a few MB).
ROW_BLOCK = 8192
#: Absolute slack added to every reduced-cost fixing test, so that rounding in
#: ``w`` / ``g`` can never fix a column wrongly.
FIX_ABS_SLACK = 1e-7
#: Relative part of the same slack (times ``1 + |UB|``).
FIX_REL_SLACK = 1e-9
#: Column generation stops when ``LP_restricted - g(y) <= CG_TOL * (1 + |g|)``.
CG_TOL = 1e-9
#: Maximum column-generation rounds (the bound stays certified if reached).
CG_MAX_ROUNDS = 30
#: Default certified relative gap (HiGHS's own default ``mip_rel_gap``).
DEFAULT_GAP_TOL = 1e-4
#: Gaps below this count as zero (status "optimal" even with ``gap_tol=0``): HiGHS tolerances.
GAP_EXACT = 1e-9
#: LP values within this of 0/1 count as integral.
LP_INT_TOL = 1e-9
#: Columns on each side of the threshold searched by the 1-swap heuristic.
SWAP_BAND = 512
#: A swap must lower F by more than this times (1 + ||r||_1) to count.
SWAP_MIN_GAIN = 1e-12
#: Absolute gap asked from HiGHS on the reduced MIP.
MIP_ABS_GAP = 1e-9
#: Denominator floor of the reported relative gap: gap = (UB-LB)/max(|UB|, GAP_FLOOR).
GAP_FLOOR = 1.0
#: Largest disagreement between HiGHS's value of its MIP solution and ours that is
#: attributed to HiGHS's tolerances (its bound is then shifted by it).
ANCHOR_TOL = 1e-5
#: Default wall-clock limit of one solve, seconds (``time_limit=None`` lifts it).
DEFAULT_TIME_LIMIT = 10.0
#: Swaps per numba call of the descent (deadline / Ctrl-C checked between calls).
SWAP_CHUNK = 8
#: The exact MIP is attempted only on at most this many free columns (memory stays O(N + C*b)).
MIP_MAX_FREE = 20000
#: Columns on each side of the threshold used by the kick-and-descend search.
KICK_BAND = 128
#: Largest number of random swaps in one kick.
KICK_MAX = 3
#: Swaps allowed in the descent after each kick.
KICK_DESCENT_SWAPS = 64
#: Kick rounds per numba call (deadline / Ctrl-C checked between calls): at most 50, fewer
#: on wide rows, so that one call's worst case (every descent using all its swaps) stays
#: near this many band-pair evaluations times C.
KICK_CHUNK_WORK = 8_192_000
#: The search stops after this many rounds in a row without improvement ...
KICK_PATIENCE = 1000
#: ... or after this many rounds in all ...
KICK_MAX_ROUNDS = 40000
#: ... or once it has used this share of the time left.
KICK_TIME_SHARE = 0.4


@dataclass
class BalancedResult:
    """Outcome of :func:`solve_balanced_program`.

    Attributes
    ----------
    picks : ndarray of int64, shape (b,)
        Selected row numbers (into the full ``u`` / ``P``), ordered by
        descending ``u``; ties by ascending row.
    z : ndarray of bool, shape (N,)
        Indicator of ``picks`` over all rows.
    objective : float
        ``F(z)`` recomputed in float64 from the inputs.
    lower_bound : float
        Certified lower bound on the optimum of the program.
    gap : float
        ``(objective - lower_bound) / max(|objective|, 1)`` (>= 0).
    status : str
        ``"optimal"`` (gap within tolerance), ``"time_limit"`` (best feasible
        solution when the limit was hit) or ``"feasible"``.
    solve_time : float
        Wall seconds spent in :func:`solve_balanced_program`.
    lp_fractional_count : int
        Fractional columns in the LP-relaxation vertex.
    lp_bound : float
        ``g(y)`` at the final dual ``y`` (the LP relaxation value).
    n_free : int
        Columns left free by reduced-cost fixing (size of the exact MIP).
    n_fixed_one : int
        Columns fixed to 1 by reduced-cost fixing.
    info : dict
        Extra diagnostics (timings of each phase, rounds).
    """

    picks: np.ndarray
    z: np.ndarray
    objective: float
    lower_bound: float
    gap: float
    status: str
    solve_time: float
    lp_fractional_count: int
    lp_bound: float = float("nan")
    n_free: int = 0
    n_fixed_one: int = 0
    info: dict = field(default_factory=dict)
    #: ``sum_j u_j z_j`` of the picks (the informativeness term enters F with a minus sign).
    informativeness_term: float = float("nan")
    #: ``||Omega - P^T z||_1`` of the picks (F = -informativeness_term + lam * l1_term).
    l1_term: float = float("nan")


def program_terms(u, P, omega, rows):
    """(``sum u`` over ``rows``, ``||Omega - P^T z||_1``) in float64."""
    rows = np.asarray(rows, dtype=np.int64)
    col = np.asarray(P[rows], dtype=np.float64).sum(axis=0) if rows.size else np.zeros(P.shape[1])
    return float(np.asarray(u, dtype=np.float64)[rows].sum()), float(np.abs(omega - col).sum())


def program_objective(u, P, omega, lam, rows):
    """``F(z)`` in float64 for the selection ``rows`` (``-sum u + lam*||Omega - P^T z||_1``)."""
    rows = np.asarray(rows, dtype=np.int64)
    col = np.asarray(P[rows], dtype=np.float64).sum(axis=0) if rows.size else np.zeros(P.shape[1])
    return float(-np.asarray(u, dtype=np.float64)[rows].sum() + lam * np.abs(omega - col).sum())


_HIGHS_QUIET = []


def new_highs():
    """A silent ``highspy.Highs``: its one-time banner goes to stdout, which is data."""
    import highspy

    if not _HIGHS_QUIET:
        sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        _HIGHS_QUIET.append(True)
    else:
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


@contextlib.contextmanager
def _sigint_flag():
    """Turn Ctrl-C into a flag while native code runs; KeyboardInterrupt is raised on exit.

    HiGHS polls the flag through its interrupt callbacks, so a solve stops within a
    fraction of a second.  Outside the main thread this is a no-op.
    """
    state = {"hit": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, frame):
        state["hit"] = True

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, old)
    if state["hit"]:
        raise KeyboardInterrupt


def _matvec(P, y, rows):
    """``P[rows] @ y`` in float64, in row blocks."""
    out = np.empty(rows.size, dtype=np.float64)
    for s in range(0, rows.size, ROW_BLOCK):
        blk = rows[s:s + ROW_BLOCK]
        out[s:s + ROW_BLOCK] = np.asarray(P[blk], dtype=np.float64) @ y
    return out


def _top_b_values(w, b):
    """(sum of the b largest, b-th largest, (b+1)-th largest or -inf)."""
    n = w.size
    if b == n:
        return float(w.sum()), float(w.min()), -np.inf
    part = np.partition(w, (n - b - 1, n - b))
    wb1, wb = part[n - b - 1], part[n - b]
    return float(part[n - b:].sum()), float(wb), float(wb1)


def _lagrangian_bound(u_c, P, cand, omega, b, y):
    """``g(y)`` and ``w`` over the candidates (``y`` is clipped to the box first)."""
    w = u_c + _matvec(P, y, cand)
    top, wb, wb1 = _top_b_values(w, b)
    return float(y @ omega) - top, w, wb, wb1


class _LPMaster:
    """LP relaxation on a growing column set, solved with HiGHS (highspy) and warm-started.

    Rows ``0..C-1``: ``sum_j p_ji z_j + s_minus_i - s_plus_i = Omega_i``;
    row ``C``: ``sum_j z_j = k``.  Objective ``-u^T z + lam * sum(s_plus + s_minus)``.
    The duals of rows ``0..C-1`` are the ``y`` of the Lagrangian bound.
    """

    def __init__(self, omega, k, lam):
        import highspy

        self.h = h = new_highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("solver", "simplex")
        self.C = C = omega.size
        rhs = np.concatenate([omega, [float(k)]])
        h.addRows(C + 1, rhs, rhs, 0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        eye = np.arange(C, dtype=np.int32)
        starts = np.arange(C, dtype=np.int32)
        for sign in (-1.0, 1.0):  # s_plus then s_minus
            h.addCols(C, np.full(C, float(lam)), np.zeros(C), np.full(C, highspy.kHighsInf),
                      C, starts, eye, np.full(C, sign))
        self.cols = []  # candidate positions, in column order

    def add(self, pos, u_cols, P_cols):
        """Add z columns (``P_cols`` float64, shape (k, C))."""
        k, C = P_cols.shape
        mask = P_cols != 0.0
        nnz_per = mask.sum(axis=1) + 1
        starts = np.concatenate([[0], np.cumsum(nnz_per)[:-1]]).astype(np.int32)
        idx = np.empty(int(nnz_per.sum()), dtype=np.int32)
        val = np.empty(idx.size)
        rr, cc = np.nonzero(mask)
        # row-major nonzero order == column order of the LP; append the cardinality row
        pos_in = starts[rr] + (np.arange(rr.size) - np.searchsorted(rr, rr))
        idx[pos_in] = cc
        val[pos_in] = P_cols[rr, cc]
        last = starts + nnz_per - 1
        idx[last] = C
        val[last] = 1.0
        self.h.addCols(k, -u_cols, np.zeros(k), np.ones(k), idx.size, starts, idx, val)
        self.cols.extend(pos.tolist())

    def solve(self):
        import highspy

        self.h.run()
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise SolverError(f"HiGHS failed on the LP relaxation ({self.h.getModelStatus()}); "
                              "report this with the pool, budget and lam")
        sol = self.h.getSolution()
        x = np.asarray(sol.col_value)[2 * self.C:]
        y = np.asarray(sol.row_dual)[:self.C]
        return float(self.h.getInfo().objective_function_value), x, y




def _compile_kernels():
    from .kernels.balanced_swap import kick_descent, swap_descent

    one = np.ones((1, 1))
    swap_descent(one, np.zeros(1), np.zeros(1, np.int64), one.copy(), np.zeros(1), np.zeros(1, np.int64),
                 np.zeros(1), 1.0, 1, SWAP_MIN_GAIN)
    kick_descent(one.copy(), np.zeros(1), np.zeros(1, np.int64), one.copy(), np.zeros(1),
                 np.zeros(1, np.int64), np.zeros(1), 1.0, 1, 1, 0, SWAP_MIN_GAIN, 1)


def _bands(u_c, P, cand, omega, sel, w, band):
    """The swap searches' working set: the ``band`` weakest selected and ``band`` strongest
    unselected columns by ``w``, their columns and values as float64 copies, and the
    residual ``omega - P[sel].sum(0)``; None when one side is empty."""
    insel = np.zeros(u_c.size, dtype=bool)
    insel[sel] = True
    s_pos = np.flatnonzero(insel)
    s_pos = s_pos[np.argsort(w[s_pos], kind="stable")[:band]]
    u_pos = np.flatnonzero(~insel)
    u_pos = u_pos[np.argsort(-w[u_pos], kind="stable")[:band]]
    if s_pos.size == 0 or u_pos.size == 0:
        return None
    PS = np.asarray(P[cand[s_pos]], dtype=np.float64).copy()
    PU = np.asarray(P[cand[u_pos]], dtype=np.float64).copy()
    r = omega - np.asarray(P[cand[sel]], dtype=np.float64).sum(axis=0)
    return insel, s_pos, PS, PU, u_c[s_pos].copy(), u_c[u_pos].copy(), s_pos.copy(), u_pos.copy(), r


def _swap_improve(u_c, P, cand, omega, lam, sel, w, band, deadline):
    """1-swap descent (``alselect.kernels.balanced_swap``) between the ``band`` weakest
    selected and ``band`` strongest unselected columns by ``w``; returns new positions."""
    from .kernels.balanced_swap import swap_descent

    bands = _bands(u_c, P, cand, omega, sel, w, band)
    if bands is None:
        return np.sort(sel)
    insel, s_pos, PS, PU, us, uu, ids_s, ids_u, r = bands
    while True:  # chunks keep Ctrl-C and the deadline responsive
        n = swap_descent(PS, us, ids_s, PU, uu, ids_u, r, float(lam), SWAP_CHUNK, SWAP_MIN_GAIN)
        if n < SWAP_CHUNK or (deadline is not None and time.perf_counter() > deadline):
            break
    insel[s_pos] = False
    insel[ids_s] = True
    return np.flatnonzero(insel)


def _kick_improve(u_c, P, cand, omega, lam, sel, w, deadline):
    """Iterated local search (``kick_descent``) from the 1-swap local optimum ``sel``.

    Bands of :data:`KICK_BAND` columns on each side of the threshold by ``w``; runs until
    :data:`KICK_PATIENCE` rounds in a row bring nothing, :data:`KICK_MAX_ROUNDS` rounds, or
    the deadline.  The seed of each chunk is its index, so the result does not depend on
    timing unless the deadline stops it.  Returns the new positions.
    """
    from .kernels.balanced_swap import kick_descent

    bands = _bands(u_c, P, cand, omega, sel, w, KICK_BAND)
    if bands is None:
        return np.sort(sel)
    insel, s_pos, PS, PU, us, uu, ids_s, ids_u, r = bands
    per_call = int(np.clip(KICK_CHUNK_WORK // (s_pos.size * ids_u.size * PS.shape[1]), 1, 50))
    chunk, idle = 0, 0
    while chunk * per_call < KICK_MAX_ROUNDS and idle < KICK_PATIENCE:
        if deadline is not None and time.perf_counter() > deadline:
            break
        hit = kick_descent(PS, us, ids_s, PU, uu, ids_u, r, float(lam), per_call, KICK_MAX, chunk,
                           SWAP_MIN_GAIN, KICK_DESCENT_SWAPS)
        idle = 0 if hit else idle + per_call
        chunk += 1
    insel[s_pos] = False
    insel[ids_s] = True
    return np.flatnonzero(insel)


def _one_hot(P, cand):
    """True when every candidate row is exactly one-hot (a single entry equal to 1)."""
    for s in range(0, cand.size, ROW_BLOCK):
        blk = np.asarray(P[cand[s:s + ROW_BLOCK]], dtype=np.float64)
        if not (np.count_nonzero(blk, axis=1) == 1).all() or not (blk.max(axis=1) == 1.0).all():
            return False
    return True


def _quota_solve(u_c, P, cand, omega, b, lam):
    """Exact optimum for one-hot rows: a separable concave allocation, solved greedily.

    With one-hot rows F = -sum u + lam * sum_i |Omega_i - n_i| separates by class; the m-th
    best row of class i lowers F by ``u_(m) - lam * (|Omega_i - m| - |Omega_i - m + 1|)``,
    which does not increase with m, so the b largest gains over all classes (a prefix of
    each class) are optimal.  Ties: class-internal order by (-u, row).
    """
    cls = np.empty(cand.size, dtype=np.int64)
    for s in range(0, cand.size, ROW_BLOCK):
        cls[s:s + ROW_BLOCK] = np.argmax(np.asarray(P[cand[s:s + ROW_BLOCK]]), axis=1)
    order = np.lexsort((cand, -u_c, cls))
    c_sorted = cls[order]
    first = np.searchsorted(c_sorted, c_sorted, side="left")
    m = np.arange(cand.size) - first + 1                      # rank within its class, from 1
    om = omega[c_sorted]
    gain = u_c[order] - lam * (np.abs(om - m) - np.abs(om - m + 1))
    pick = np.lexsort((m, c_sorted, -gain))[:b]
    return order[pick]


def _mip_highs(u_f, P_f, r1, k, lam, deadline, abs_gap, start):
    """Exact MIP on the free columns with HiGHS (highspy, arrays, no modelling layer).

    ``deadline`` (``time.perf_counter()`` value or None) becomes HiGHS's time limit just
    before it runs, so building the model does not stretch the solve past it.  Returns (positions or None, objective, dual bound, status string), all without the
    constant of the fixed columns.  ``start`` (bool, free columns) seeds the search.
    """
    import highspy

    master = _LPMaster(r1, k, lam)
    master.add(np.arange(u_f.size), u_f, P_f)
    h = master.h
    C, m = r1.size, u_f.size
    h.changeColsIntegrality(m, np.arange(2 * C, 2 * C + m, dtype=np.int32),
                            np.full(m, highspy.HighsVarType.kInteger))
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_feasibility_tolerance", 1e-9)
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.setOptionValue("mip_abs_gap", max(float(abs_gap), MIP_ABS_GAP))
    if start is not None:
        res = r1 - P_f[start].sum(axis=0)
        sol = highspy.HighsSolution()
        sol.col_value = np.concatenate([np.maximum(-res, 0), np.maximum(res, 0), start.astype(np.float64)]).tolist()
        sol.value_valid = True
        h.setSolution(sol)
    with _sigint_flag() as flag:
        from . import interrupt

        def poll(event):  # our SIGINT flag, or a signal the CLI's handler recorded
            if flag["hit"] or interrupt.requested() is not None:
                event.interrupt()

        h.cbMipInterrupt.subscribe(poll)
        h.cbSimplexInterrupt.subscribe(poll)
        if deadline is not None:
            h.setOptionValue("time_limit", max(deadline - time.perf_counter(), 0.05))
        h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    name = {highspy.HighsModelStatus.kOptimal: "optimal",
            highspy.HighsModelStatus.kTimeLimit: "time_limit"}.get(status, str(status))
    x = np.asarray(h.getSolution().col_value)
    if x.size != 2 * C + m or info.primal_solution_status == 0:
        return None, np.inf, -np.inf, name
    zb = np.flatnonzero(x[2 * C:] > 0.5)
    dual = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else -np.inf
    return zb, float(info.objective_function_value), dual, name


def solve_balanced_program(u, P, omega, budget, lam, *, candidates, gap_tol=DEFAULT_GAP_TOL,
                           time_limit=DEFAULT_TIME_LIMIT, verbose_callback=None, initial=None):
    """Solve Eq. 4.8/4.9 to a certified relative gap; inputs are assumed validated.

    Parameters
    ----------
    u : ndarray of float64, shape (N,)
    P : ndarray of float32 or float64, shape (N, C)
    omega : ndarray of float64, shape (C,)
    budget : int
        ``1 <= budget <= candidates.size``.
    lam : float
        ``>= 0``.
    candidates : ndarray of int64, shape (M,)
        Sorted eligible rows.
    gap_tol : float
        Stop once ``(UB - LB) / max(|UB|, 1) <= gap_tol``; 0 asks for the exact optimum.
    time_limit : float or None
        Wall seconds (default :data:`DEFAULT_TIME_LIMIT`); when hit, the best selection
        found is returned with its certified gap.  None: no limit.
    verbose_callback : callable(str) or None
        Receives one-line progress messages.
    initial : ndarray of int64 or None
        A selection (rows) to start from, e.g. the solution at a nearby ``lam``.

    Returns
    -------
    BalancedResult
    """
    if lam > 0 and budget < candidates.size:
        _compile_kernels()  # numba's first-call compile is not solve time
    t0 = time.perf_counter()
    say = verbose_callback or (lambda msg: None)
    N, C = P.shape
    b = int(budget)
    cand = candidates
    M = cand.size
    u_c = u[cand]
    timings = {}
    deadline = None if time_limit is None else t0 + float(time_limit)

    def remaining():
        return None if deadline is None else deadline - time.perf_counter()

    def late():
        return deadline is not None and time.perf_counter() > deadline

    # ---- trivial and separable cases -------------------------------------
    if b == M or lam == 0.0:
        if b == M:
            sel = cand
        else:  # lam == 0: top-b of u, lowest row on ties
            order = np.lexsort((cand, -u_c))
            sel = np.sort(cand[order[:b]])
        return _finish(u, P, omega, lam, sel, None, 0, t0, say, gap_tol, n_free=0, n_one=b,
                       info={"method": "trivial"}, lb=None)
    if _one_hot(P, cand):
        sel = cand[_quota_solve(u_c, P, cand, omega, b, lam)]
        return _finish(u, P, omega, lam, sel, None, 0, t0, say, gap_tol, n_free=0, n_one=0,
                       info={"method": "one-hot quotas"}, lb=None)

    init_pos = None
    if initial is not None:
        rows = np.asarray(initial, dtype=np.int64)
        ip = np.searchsorted(cand, rows)
        ok = (ip < M) & (cand[np.minimum(ip, M - 1)] == rows)
        ip = np.unique(ip[ok])
        if ip.size == b:
            init_pos = ip

    # ---- 1. LP relaxation by column generation: the dual y gives g(y) -----
    ts = time.perf_counter()
    master = _LPMaster(omega, b, lam)
    k0 = min(M, b + C + 1)
    first = np.argpartition(-u_c, k0 - 1)[:k0] if k0 < M else np.arange(M)
    if init_pos is not None:
        first = np.union1d(first, init_pos)
    in_work = np.zeros(M, dtype=bool)
    in_work[first] = True
    master.add(first, u_c[first], np.asarray(P[cand[first]], dtype=np.float64))
    g_best, y_best, x_best, rounds = -np.inf, None, None, 0
    while True:
        rounds += 1
        lp_val, x_lp, y = master.solve()
        y = np.clip(y, -lam, lam)
        g, w, wb, wb1 = _lagrangian_bound(u_c, P, cand, omega, b, y)
        if g > g_best:
            g_best, y_best, x_best = g, y, x_lp
        say(f"balanced: LP round {rounds}: {len(master.cols)} columns, LP {lp_val:.6f}, bound {g:.6f}")
        if lp_val - g <= CG_TOL * (1.0 + abs(g)) or rounds >= CG_MAX_ROUNDS or late():
            break
        kk = min(M, b + C + 1)
        top = np.argpartition(-w, kk - 1)[:kk] if kk < M else np.arange(M)
        new = np.sort(top[~in_work[top]])
        if new.size == 0:
            break
        in_work[new] = True
        master.add(new, u_c[new], np.asarray(P[cand[new]], dtype=np.float64))
    timings["lp"] = time.perf_counter() - ts
    y = y_best
    g, w, wb, wb1 = _lagrangian_bound(u_c, P, cand, omega, b, y)
    x_lp = x_best
    work_idx = np.asarray(master.cols[:x_lp.size], dtype=np.int64)  # columns only get appended
    del master
    frac_mask = (x_lp > LP_INT_TOL) & (x_lp < 1 - LP_INT_TOL)
    n_frac = int(frac_mask.sum())

    # ---- 2. incumbents: LP rounding, the warm start, top-b of w; 1-swap descent
    ts = time.perf_counter()
    starts = []
    order = np.argsort(-x_lp, kind="stable")
    starts.append(work_idx[order[:b]] if work_idx.size >= b else None)
    starts.append(init_pos)
    starts.append(np.argpartition(-w, b - 1)[:b] if b < M else np.arange(M))
    inc, ub = None, np.inf
    for st in starts:
        if st is None or st.size != b:
            continue
        val = program_objective(u, P, omega, lam, cand[st])
        if val < ub:
            inc, ub = st, val
    if _rel_gap(ub, g) > gap_tol:
        inc = _swap_improve(u_c, P, cand, omega, lam, inc, w, SWAP_BAND, deadline)
        ub = program_objective(u, P, omega, lam, cand[inc])
    if _rel_gap(ub, g) > gap_tol and not late():
        left = remaining()
        kick_deadline = None if left is None else time.perf_counter() + KICK_TIME_SHARE * left
        cand_inc = _kick_improve(u_c, P, cand, omega, lam, inc, w, kick_deadline)
        val = program_objective(u, P, omega, lam, cand[cand_inc])
        if val < ub:
            inc, ub = cand_inc, val
    timings["incumbent"] = time.perf_counter() - ts
    say(f"balanced: LP bound {g:.6f}, incumbent {ub:.6f}, {n_frac} fractional LP columns")
    info = {"method": "lp+swap", "rounds": rounds, **timings}
    if _rel_gap(ub, g) <= gap_tol or late():
        return _finish(u, P, omega, lam, cand[inc], g, n_frac, t0, say, gap_tol, n_free=0,
                       n_one=0, info=info, lb=g, limit_hit=late())

    # ---- 3. reduced-cost fixing (docs/class-balance.md §3.4) ------------------
    slack = FIX_ABS_SLACK + FIX_REL_SLACK * (1.0 + abs(ub))
    delta = ub - g + slack
    fix1 = np.flatnonzero(w - wb1 > delta)
    free_mask = ~(wb - w > delta)
    free_mask[fix1] = False
    free = np.flatnonzero(free_mask)
    say(f"balanced: reduced-cost fixing leaves {free.size} free columns, {fix1.size} fixed to 1")
    if free.size == 0:
        return _finish(u, P, omega, lam, cand[inc], g, n_frac, t0, say, gap_tol, n_free=0,
                       n_one=fix1.size, info=info, lb=ub)
    if free.size > MIP_MAX_FREE:
        return _finish(u, P, omega, lam, cand[inc], g, n_frac, t0, say, gap_tol, n_free=free.size,
                       n_one=fix1.size, info={**info, "mip": "skipped (too many free columns)"}, lb=g)

    # ---- 4. exact MIP on the free columns (HiGHS), seeded with the incumbent ----
    ts = time.perf_counter()
    k = b - fix1.size
    r1 = omega - (np.asarray(P[cand[fix1]], dtype=np.float64).sum(axis=0) if fix1.size else 0.0)
    const = -float(u_c[fix1].sum())
    start = np.isin(free, inc)
    if start.sum() != k:
        start = None
    abs_gap = gap_tol * max(abs(ub), GAP_FLOOR)
    zr, val, dual, st = _mip_highs(u_c[free], np.asarray(P[cand[free]], dtype=np.float64), r1, k, lam,
                                   deadline, abs_gap, start)
    timings["mip"] = time.perf_counter() - ts
    best, lb = cand[inc], g
    if zr is not None and zr.size == k:
        sel = np.concatenate([fix1, free[zr]])
        f_sel = program_objective(u, P, omega, lam, cand[sel])
        if f_sel <= ub:
            best = cand[sel]
        # HiGHS evaluates its solution within its feasibility tolerances: re-anchor its
        # bound on our float64 value of that solution when the two agree closely
        drift = f_sel - (val + const)
        if abs(drift) <= ANCHOR_TOL * (1.0 + abs(f_sel)):
            dual += drift
        # every column fixing removed only solutions worse than ub, so the reduced
        # problem's dual bound is global as long as it does not exceed ub
        lb = max(g, min(dual + const, ub))
    return _finish(u, P, omega, lam, best, g, n_frac, t0, say, gap_tol, n_free=free.size,
                   n_one=fix1.size, info={**info, "method": "lp+swap+mip", "mip_status": st, **timings},
                   lb=lb, limit_hit=(st == "time_limit"))


def _rel_gap(ub, lb):
    return max(ub - lb, 0.0) / max(abs(ub), GAP_FLOOR)


def _finish(u, P, omega, lam, rows, lp_bound, n_frac, t0, say, gap_tol, *, n_free, n_one, info, lb,
            limit_hit=False):
    rows = np.asarray(rows, dtype=np.int64)
    info_term, l1 = program_terms(u, P, omega, rows)
    obj = program_objective(u, P, omega, lam, rows)
    if lb is None:  # trivial and one-hot cases are optimal by construction
        lb = obj
    lb = min(lb, obj)
    gap = _rel_gap(obj, lb)
    if gap <= gap_tol or gap <= GAP_EXACT:
        status = "optimal"
    else:
        status = "time_limit" if limit_hit else "feasible"
    order = np.lexsort((rows, -np.asarray(u, dtype=np.float64)[rows]))
    picks = rows[order]
    z = np.zeros(u.size, dtype=bool)
    z[picks] = True
    dt = time.perf_counter() - t0
    say(f"balanced: status={status} objective={obj:.6f} bound={lb:.6f} gap={gap:.3e} time={dt:.2f}s")
    return BalancedResult(picks=picks, z=z, objective=obj, lower_bound=float(lb), gap=gap,
                          status=status, solve_time=dt, lp_fractional_count=n_frac,
                          lp_bound=float(lp_bound) if lp_bound is not None else obj,
                          n_free=int(n_free), n_fixed_one=int(n_one), info=info,
                          informativeness_term=info_term, l1_term=l1)
