"""Benchmark: class-balanced selection (thesis ch. 4) at pool scale.

    python bench/bench_balance.py [--quick]

Synthetic pool, fixed seed: N rows, C classes with a long-tailed prior
(imbalance 0.01 between head and tail), softmax probabilities from noisy
logits biased toward the head classes, embeddings = class mean + N(0, I) in D
dims.  Omega is that of cycle 2 after a random first cycle (b0 = 2b).

balanced (Eq. 4.8):  ours (certified gap) | plain cvxpy+HiGHS on the full MIP
    (time limit; its own reported gap) | plain top-b entropy.
balanced-kcenter (Alg. 2):  ours | NumPy reference doing one full pass per
    pick (timed on a prefix of the picks and extrapolated when slow) | plain
    exact k-center engine (alselect.diversity.kcenter_greedy) | ours with lam = 0.
Peak memory = process high-water mark above the resident set before the call.
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

from alselect.diversity import kcenter_greedy  # noqa: E402
from alselect.balance import (  # noqa: E402
    balance_score,
    balanced_kcenter,
    class_histogram,
    informativeness,
    omega,
    program_objective,
    solve_balanced,
)

SEED = 0
IMBALANCE = 0.01
#: Labeled rows folded by the NumPy reference at full size (its time is extrapolated).
REF_LABELED = 200


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
    import cvxpy as cp

    Pc = np.asarray(P[rows], dtype=np.float64)
    z = cp.Variable(rows.size, boolean=True)
    prob = cp.Problem(cp.Minimize(-u[rows] @ z + lam * cp.norm1(om - Pc.T @ z)), [cp.sum(z) == b])
    t = time.perf_counter()
    prob.solve(solver=cp.HIGHS, time_limit=time_limit)
    dt = time.perf_counter() - t
    info = prob.solver_stats.extra_stats
    obj = prob.value if z.value is not None else float("nan")
    return prob.status, obj, (info.mip_gap if info is not None else float("nan")), dt


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-full-mip", action="store_true",
                    help="skip the plain cvxpy+HiGHS solve of the full MIP (minutes at full size: "
                         "cvxpy/HiGHS model building ignores the time limit)")
    args = ap.parse_args()
    N, C, D = (5000, 20, 64) if args.quick else (50000, 100, 512)
    b = N // 20
    ref_picks = b if args.quick else 40
    full_limit = 10.0 if args.quick else 60.0
    rng = np.random.default_rng(SEED)
    P, y, X = make_pool(N, C, D, rng)
    first_cycle = rng.choice(N, 2 * b, replace=False)          # b0 = 2b labeled, cycle 1 done
    labeled = np.concatenate([first_cycle[:2 * b], rng.choice(np.setdiff1d(np.arange(N), first_cycle), b, replace=False)])
    b0 = 2 * b
    om = omega(y[labeled], C, b, b0=b0, cycle=2)
    cand = np.setdiff1d(np.arange(N), labeled)
    u = informativeness("entropy", probs=P)
    print(f"pool N={N} C={C} D={D} budget={b} labeled={labeled.size} sum(Omega)={om.sum():.0f} "
          f"(cpu cores: {os.cpu_count()})")

    print("\n== balanced (Eq. 4.8, entropy) ==")
    print(f"{'lam':>5} {'method':<26} {'time s':>8} {'status':>10} {'objective':>14} {'gap':>10} "
          f"{'peak MiB':>9} {'L1 score':>9}")
    print("      (L1 score = Eq. 4.10 on the TRUE classes of labeled + picks; 0 = balanced)")
    solve_balanced(u[:200], P[:200], om, 5, 1.0)            # warm imports (cvxpy, highspy)
    for lam in (0.6, 2.0):
        res, dt, mem = measured(solve_balanced, u, P, om, b, lam, candidates=cand)
        sc = balance_score(class_histogram(y[np.r_[labeled, res.picks]], C))
        print(f"{lam:>5} {'ours (certified)':<26} {dt:>8.2f} {res.status:>10} {res.objective:>14.4f} "
              f"{res.gap:>10.2e} {mem:>9.0f} {sc:>9.3f}   (LP fractional {res.lp_fractional_count}, "
              f"free {res.n_free})")
        if not args.skip_full_mip:
            st, obj, gap, dt2 = plain_cvxpy(u, P, om, b, lam, cand, full_limit)
            print(f"{lam:>5} {'cvxpy+HiGHS full MIP':<26} {dt2:>8.2f} {st:>10} {obj:>14.4f} "
                  f"{gap:>10.2e} {'':>9} {'':>9}   (time limit {full_limit:.0f} s)")
        (top, dt3, mem3) = measured(lambda: cand[np.argsort(-u[cand], kind="stable")[:b]])
        print(f"{lam:>5} {'plain top-b entropy':<26} {dt3:>8.2f} {'':>10} "
              f"{program_objective(u, P, om, lam, top):>14.4f} {'':>10} {mem3:>9.0f} "
              f"{balance_score(class_histogram(y[np.r_[labeled, top]], C)):>9.3f}")

    print("\n== balanced-kcenter (Algorithm 2) ==")
    kc_plain = kcenter_greedy
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
