"""Exact solver for the class-balanced selection program (Bengar et al., Eq. 4.8 / 4.9).

Program (over the candidate rows ``j``; ``u`` larger = more informative)::

    min_z  F(z) = -u^T z + lam * || Omega - P^T z ||_1
    s.t.   sum_j z_j = b,   z_j in {0, 1}.

Strategy (see ``docs/class-balance.md`` for the proofs):

1. **Lagrangian / LP dual bound.**  For any ``y`` with ``|y_i| <= lam``,
   ``lam*|r_i| >= y_i*r_i``, hence for every feasible ``z``::

       F(z) >= y^T Omega - w^T z >= g(y) := y^T Omega - top_b(w),   w = u + P y.

   ``g(y)`` is a certified lower bound for ANY such ``y``; its maximum equals the
   LP-relaxation optimum.  We find the maximiser by column generation: the LP
   restricted to a working set of columns is solved with HiGHS (simplex via
   ``highspy``, warm-started between rounds); its equality duals are ``y``;
   columns with large ``w_j`` are added until ``g(y)`` (over ALL candidates)
   meets the restricted LP value.
2. **Incumbent.**  The LP vertex has at most ``C + 1`` fractional columns; a
   tiny MIP over those (all other columns fixed at their LP values) gives a
   feasible ``z``, improved by a 1-swap local search near the threshold
   (upper bound ``UB``).
3. **Reduced-cost fixing.**  Let ``w_(b)`` / ``w_(b+1)`` be the b-th / (b+1)-th
   largest ``w``.  Forcing ``z_j = 0`` for a top-b column raises the Lagrangian
   bound to ``g + w_j - w_(b+1)``; forcing ``z_j = 1`` for a non-top column
   raises it to ``g + w_(b) - w_j``.  Any column whose forced bound exceeds
   ``UB`` takes the other value in every solution at least as good as the
   incumbent, so it is fixed.  Only the columns with ``w`` within
   ``UB - g`` of the threshold stay free.
4. **Exact reduced MIP.**  The remaining program is solved with cvxpy + HiGHS
   (open source, no licence).  Its optimum is the global optimum; the
   certified lower bound is ``max(g(y), reduced-MIP dual bound)``.

Steps 2-4 stop as soon as ``(UB - LB) / max(|UB|, 1) <= gap_tol``.
``cvxpy`` / ``highspy`` are imported inside the functions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from alselect.errors import SolverError

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
#: Gaps below this count as zero (status "optimal" even with ``gap_tol=0``).
GAP_EXACT = 1e-12
#: LP values within this of 0/1 count as integral.
LP_INT_TOL = 1e-9
#: Columns on each side of the threshold searched by the 1-swap heuristic.
SWAP_BAND = 400
#: Maximum sweeps of the 1-swap heuristic.
SWAP_MAX_SWEEPS = 20
#: A swap must lower F by more than this times (1 + ||r||_1) to count.
SWAP_MIN_GAIN = 1e-12
#: Absolute gap asked from HiGHS on the reduced MIP.
MIP_ABS_GAP = 1e-9
#: Denominator floor of the reported relative gap: gap = (UB-LB)/max(|UB|, GAP_FLOOR).
GAP_FLOOR = 1.0


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


def program_objective(u, P, omega, lam, rows):
    """``F(z)`` in float64 for the selection ``rows`` (``-sum u + lam*||Omega - P^T z||_1``)."""
    rows = np.asarray(rows, dtype=np.int64)
    col = np.asarray(P[rows], dtype=np.float64).sum(axis=0) if rows.size else np.zeros(P.shape[1])
    return float(-np.asarray(u, dtype=np.float64)[rows].sum() + lam * np.abs(omega - col).sum())


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

        self.h = h = highspy.Highs()
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
            raise SolverError(f"HiGHS failed on the LP relaxation ({self.h.getModelStatus()}); retry with a time limit (-p time_limit=SECONDS) or report the pool to the alselect issue tracker")
        sol = self.h.getSolution()
        x = np.asarray(sol.col_value)[2 * self.C:]
        y = np.asarray(sol.row_dual)[:self.C]
        return float(self.h.getInfo().objective_function_value), x, y


def _swap_search(u_c, P, cand, omega, lam, sel, w, band, deadline):
    """Best-improvement 1-swap local search restricted to the columns nearest the threshold.

    ``sel`` (candidate positions, shape (b,)) is improved in place and returned
    with its objective decrease; every accepted swap strictly lowers ``F``.
    """
    sel = sel.copy()
    insel = np.zeros(u_c.size, dtype=bool)
    insel[sel] = True
    r = omega - np.asarray(P[cand[sel]], dtype=np.float64).sum(axis=0)
    s_pos = np.flatnonzero(insel)
    s_pos = s_pos[np.argsort(w[s_pos], kind="stable")[:band]]       # weakest selected
    u_pos = np.flatnonzero(~insel)
    u_pos = u_pos[np.argsort(-w[u_pos], kind="stable")[:band]]      # strongest unselected
    if s_pos.size == 0 or u_pos.size == 0:
        return sel
    PS = np.asarray(P[cand[s_pos]], dtype=np.float64)
    PU = np.asarray(P[cand[u_pos]], dtype=np.float64)
    slot = {int(p): i for i, p in enumerate(sel)}
    for _ in range(SWAP_MAX_SWEEPS):
        improved = False
        for a in range(u_pos.size):
            R = np.abs(r).sum()
            val = u_c[s_pos] - u_c[u_pos[a]] + lam * (np.abs(r - PU[a] + PS).sum(axis=1) - R)
            kk = int(np.argmin(val))
            if val[kk] < -SWAP_MIN_GAIN * (1.0 + R):
                j, k = u_pos[a], s_pos[kk]
                r = r - PU[a] + PS[kk]
                sel[slot.pop(int(k))] = j
                slot[int(j)] = np.flatnonzero(sel == j)[0]
                s_pos[kk], u_pos[a] = j, k
                PS[kk], PU[a] = PU[a].copy(), PS[kk].copy()
                improved = True
            if deadline is not None and time.perf_counter() > deadline:
                return sel
        if not improved:
            break
    return sel


def _solve_mip_cvxpy(u_r, P_r, omega_r, k, lam, const, time_limit, abs_gap):
    """MIP on the free columns with cvxpy + HiGHS.

    Returns (z_bool or None, objective, dual_bound, status_str).  ``const`` is
    the constant part of the objective (fixed columns), added back to the bounds.
    """
    import cvxpy as cp

    m = u_r.size
    z = cp.Variable(m, boolean=True)
    obj = -u_r @ z + lam * cp.norm1(omega_r - P_r.T @ z)
    prob = cp.Problem(cp.Minimize(obj), [cp.sum(z) == k])
    opts = {"mip_rel_gap": 0.0, "mip_abs_gap": max(float(abs_gap), MIP_ABS_GAP)}
    if time_limit is not None:
        opts["time_limit"] = max(float(time_limit), 0.01)
    prob.solve(solver=cp.HIGHS, **opts)
    info = prob.solver_stats.extra_stats
    status = prob.status
    if z.value is None or status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE, cp.USER_LIMIT):
        return None, np.inf, -np.inf, status
    zb = np.asarray(z.value) > 0.5
    dual = -np.inf
    if info is not None and np.isfinite(info.mip_dual_bound):
        # cvxpy may move a constant into its offset: re-anchor the bound on prob.value
        dual = float(info.mip_dual_bound) + (float(prob.value) - float(info.objective_function_value))
    return zb, float(prob.value) + const, dual + const, status


def solve_balanced_program(u, P, omega, budget, lam, *, candidates, gap_tol=DEFAULT_GAP_TOL,
                           time_limit=None, verbose_callback=None):
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
        Stop once ``(UB - LB) / max(|UB|, 1) <= gap_tol``; 0 asks for the exact
        optimum (HiGHS absolute gap 1e-9).
    time_limit : float or None
        Wall seconds; when hit, the best feasible solution is returned with its gap.
    verbose_callback : callable(str) or None
        Receives one-line progress messages.

    Returns
    -------
    BalancedResult
    """
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

    # ---- trivial cases -------------------------------------------------
    if b == M or lam == 0.0:
        if b == M:
            sel = cand
        else:  # lam == 0: top-b of u, lowest row on ties
            order = np.lexsort((cand, -u_c))
            sel = np.sort(cand[order[:b]])
        return _finish(u, P, omega, lam, sel, None, 0, t0, say, gap_tol, n_free=0, n_one=b,
                       info={"trivial": True}, lb=None)

    # ---- 1. LP relaxation by column generation --------------------------
    ts = time.perf_counter()
    master = _LPMaster(omega, b, lam)
    k0 = min(M, b + C + 1)
    first = np.argpartition(-u_c, k0 - 1)[:k0] if k0 < M else np.arange(M)
    in_work = np.zeros(M, dtype=bool)
    in_work[first] = True
    master.add(first, u_c[first], np.asarray(P[cand[first]], dtype=np.float64))
    g_best, y_best, rounds = -np.inf, np.zeros(C), 0
    while True:
        rounds += 1
        lp_val, x_lp, y = master.solve()
        y = np.clip(y, -lam, lam)
        g, w, wb, wb1 = _lagrangian_bound(u_c, P, cand, omega, b, y)
        if g > g_best:
            g_best, y_best, x_best = g, y, x_lp
        say(f"balanced: LP round {rounds}: {len(master.cols)} columns, LP {lp_val:.6f}, "
            f"bound {g:.6f}")
        if lp_val - g <= CG_TOL * (1.0 + abs(g)) or rounds >= CG_MAX_ROUNDS:
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
    frac_mask = (x_lp > LP_INT_TOL) & (x_lp < 1 - LP_INT_TOL)
    n_frac = int(frac_mask.sum())

    # ---- 2. incumbent: LP rounding by a tiny MIP, then 1-swap search ------
    ts = time.perf_counter()
    ones = work_idx[x_lp >= 1 - LP_INT_TOL]
    frac = work_idx[frac_mask]
    k_inc = b - ones.size
    inc = None
    if 0 < k_inc <= frac.size:
        r_one = omega - np.asarray(P[cand[ones]], dtype=np.float64).sum(axis=0)
        zf, _, _, _ = _solve_mip_cvxpy(u_c[frac], np.asarray(P[cand[frac]], dtype=np.float64),
                                       r_one, k_inc, lam, 0.0, remaining(), 0.0)
        if zf is not None:
            inc = np.concatenate([ones, frac[zf]])
    elif k_inc == 0:
        inc = ones
    if inc is None or inc.size != b:  # fallback: top-b of w
        inc = np.argpartition(-w, b - 1)[:b] if b < M else np.arange(M)
    ub = program_objective(u, P, omega, lam, cand[inc])
    if _rel_gap(ub, g) > gap_tol:
        inc = _swap_search(u_c, P, cand, omega, lam, inc, w, SWAP_BAND, deadline)
        ub = program_objective(u, P, omega, lam, cand[inc])
    timings["incumbent"] = time.perf_counter() - ts
    say(f"balanced: LP bound {g:.6f}, incumbent {ub:.6f}, {n_frac} fractional LP columns")

    if _rel_gap(ub, g) <= gap_tol:
        return _finish(u, P, omega, lam, cand[inc], g, n_frac, t0, say, gap_tol, n_free=0,
                       n_one=0, info={"rounds": rounds, **timings}, lb=g)

    # ---- 3. reduced-cost fixing -----------------------------------------
    slack = FIX_ABS_SLACK + FIX_REL_SLACK * (1.0 + abs(ub))
    delta = ub - g + slack
    fix1 = np.flatnonzero(w - wb1 > delta)
    free_mask = ~(wb - w > delta)
    free_mask[fix1] = False
    free = np.flatnonzero(free_mask)
    say(f"balanced: reduced-cost fixing leaves {free.size} free columns, {fix1.size} fixed to 1")
    if free.size == 0:
        return _finish(u, P, omega, lam, cand[inc], g, n_frac, t0, say, gap_tol, n_free=0,
                       n_one=fix1.size, info={"rounds": rounds, **timings}, lb=ub)

    # ---- 4. MIP on the free columns (cvxpy + HiGHS) -------------------------
    ts = time.perf_counter()
    k = b - fix1.size
    r1 = omega - (np.asarray(P[cand[fix1]], dtype=np.float64).sum(axis=0) if fix1.size else 0.0)
    const = -float(u_c[fix1].sum())
    rem = remaining()
    if rem is not None and rem <= 0:
        return _finish(u, P, omega, lam, cand[inc], g, n_frac, t0, say, gap_tol, n_free=free.size,
                       n_one=fix1.size, info={"rounds": rounds, **timings}, lb=g, limit_hit=True)
    abs_gap = gap_tol * max(abs(ub), GAP_FLOOR)
    zr, val, dual, st = _solve_mip_cvxpy(u_c[free], np.asarray(P[cand[free]], dtype=np.float64),
                                         r1, k, lam, const, rem, abs_gap)
    timings["mip"] = time.perf_counter() - ts
    best, lb = cand[inc], g
    if zr is not None:
        sel = np.concatenate([fix1, free[zr]])
        if program_objective(u, P, omega, lam, cand[sel]) <= ub:
            best = cand[sel]
        # every column fixing removed only solutions worse than ub, so the reduced
        # problem's dual bound is global as long as it does not exceed ub
        lb = max(g, min(dual, ub))
    return _finish(u, P, omega, lam, best, g, n_frac, t0, say, gap_tol, n_free=free.size,
                   n_one=fix1.size, info={"rounds": rounds, "mip_status": st, **timings}, lb=lb,
                   limit_hit=(st == "user_limit"))


def _rel_gap(ub, lb):
    return max(ub - lb, 0.0) / max(abs(ub), GAP_FLOOR)


def _finish(u, P, omega, lam, rows, lp_bound, n_frac, t0, say, gap_tol, *, n_free, n_one, info, lb,
            limit_hit=False):
    rows = np.asarray(rows, dtype=np.int64)
    obj = program_objective(u, P, omega, lam, rows)
    if lb is None:  # trivial cases are optimal by construction
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
    say(f"balanced: status={status} objective={obj:.6f} bound={lb:.6f} gap={gap:.3e} "
        f"time={dt:.2f}s")
    return BalancedResult(picks=picks, z=z, objective=obj, lower_bound=float(lb), gap=gap,
                          status=status, solve_time=dt, lp_fractional_count=n_frac,
                          lp_bound=float(lp_bound) if lp_bound is not None else obj,
                          n_free=int(n_free), n_fixed_one=int(n_one), info=info)
