"""Benchmark: exact K-Center-Greedy and BADGE vs straightforward NumPy.

    python bench/bench_diversity.py [--quick] [--skip-1m] [--only CASE ...] [--load [N]] [--json]

CASE is one of kcenter-iso, kcenter-real, badge, kcenter-1m.  Times are wall
clock; "cpu" is the process CPU time of the call (all threads), the fairer
figure when other jobs share the machine.

Synthetic pools with a fixed seed:
* "isotropic": Gaussian mixture, C cluster means ~ N(0, I), points = mean + N(0, I)
* "realistic": clusters on a 24-dim latent subspace, lifted linearly to D dims
  and passed through ReLU (non-negative, low intrinsic dimension)
The NumPy references keep a running min-distance vector and do one full pass
over the pool per pick.  The timed kcenter reference is the usual float32 GEMM
form (ratio column); "identical" compares with a float64 reference applying the
engine's documented near-tie rule (the exact greedy sequence).  The 1M-row kcenter
run times the reference on a few picks and extrapolates linearly.
Peak memory: a helper process polls this process's VmRSS every 2 ms; the
figure is the peak during the call above the resident set before it.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchkit import Report, add_common_options  # noqa: E402

REPORT = None
QUICK = False

from alselect.diversity import badge, badge_embedding_factors, kcenter_greedy  # noqa: E402
from alselect.rowkeys import race_uniforms  # noqa: E402

SEED = 0
CASES = ("kcenter-iso", "kcenter-real", "badge", "kcenter-1m")
LATENT = 24
U64 = 2.0 ** -53


# ------------------------------------------------------------ data

def isotropic(N, D, C, rng):
    means = rng.normal(size=(C, D)).astype(np.float32)
    y = rng.integers(0, C, N)
    X = np.empty((N, D), dtype=np.float32)
    for r in range(0, N, 65536):
        yy = y[r:r + 65536]
        X[r:r + 65536] = means[yy] + rng.standard_normal((yy.size, D), dtype=np.float32)
    return X, y


def realistic(N, D, C, rng):
    cz = rng.normal(scale=2.0, size=(C, LATENT)).astype(np.float32)
    W = (rng.normal(size=(LATENT, D)) / np.sqrt(LATENT)).astype(np.float32)
    y = rng.integers(0, C, N)
    X = np.empty((N, D), dtype=np.float32)
    for r in range(0, N, 65536):
        yy = y[r:r + 65536]
        z = cz[yy] + rng.standard_normal((yy.size, LATENT), dtype=np.float32)
        blk = z @ W + 0.05 * rng.standard_normal((yy.size, D), dtype=np.float32)
        X[r:r + 65536] = np.maximum(blk, 0)
    return X, y


def probs_for(y, C, rng):
    z = 4.0 * np.eye(C, dtype=np.float32)[y] + 1.5 * rng.standard_normal((y.size, C), dtype=np.float32)
    e = np.exp(z - z.max(1, keepdims=True))
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


# ------------------------------------------------------------ memory

def _status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


_MONITOR_CODE = r"""
import sys, time, select
pid = sys.argv[1]
def rss():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
peak = rss()
while True:
    r, _, _ = select.select([sys.stdin], [], [], 0.002)
    peak = max(peak, rss())
    if r:
        if not sys.stdin.readline():
            break
        print(peak, flush=True)
        peak = rss()
"""
_monitor = None


def start_monitor():
    """A separate process polling our VmRSS every 2 ms (numba's OpenMP layer
    forbids fork, and kernels hold the GIL, so no in-process sampler)."""
    global _monitor
    import subprocess

    _monitor = subprocess.Popen([sys.executable, "-c", _MONITOR_CODE, str(os.getpid())],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _monitor_peak():
    _monitor.stdin.write("x\n")
    _monitor.stdin.flush()
    return int(_monitor.stdout.readline())


class Timed(float):
    """Wall seconds (the float value) with the call's CPU seconds in ``.cpu``."""

    def __new__(cls, wall, cpu):
        obj = super().__new__(cls, wall)
        obj.cpu = cpu
        return obj


def measured(fn):
    """(result, Timed seconds, peak bytes above the resident set before the call)."""
    _monitor_peak()  # reset
    base = _status("VmRSS:")
    c = time.process_time()
    t = time.perf_counter()
    out = fn()
    el = time.perf_counter() - t
    return out, Timed(el, time.process_time() - c), max(_monitor_peak() - base, 0)


# ------------------------------------------------------------ references

def kcenter_reference(X, budget, labeled, max_picks=None, exact=False):
    """Running min vector, one full pass per pick (GEMM form).

    exact=False: float32 matrix-vector products, plain argmax (the usual code).
    exact=True: float64 products on a float64 copy and the engine's near-tie
    rule (rows within the float64 error bound of the maximum are compared on
    exact distances), i.e. the documented exact greedy sequence.
    """
    N, D = X.shape
    Xr = X.astype(np.float64) if exact else X
    n = np.einsum("ij,ij->i", Xr, Xr, dtype=np.float64)
    nrm = np.sqrt(n)
    err = 8.0 * (D + 2) * U64 * (nrm * nrm.max() + n + n.max())
    mind = np.full(N, np.inf)
    pickable = np.ones(N, dtype=bool)
    pickable[labeled] = False
    for c in labeled:
        np.minimum(mind, n + n[c] - 2.0 * (Xr @ Xr[c]), out=mind)
    centers = list(labeled)
    picks = []
    steps = budget if max_picks is None else min(budget, max_picks)
    for _ in range(steps):
        if not centers:
            w = int(np.argmax(np.where(pickable, n, -np.inf)))
        else:
            v = np.where(pickable, mind, -np.inf)
            w = int(np.argmax(v))
            if exact:
                close = np.flatnonzero(pickable & (v + err >= v[w] - err[w]))
                if close.size > 1:  # decide on exact float64 distances
                    C64 = Xr[centers]
                    ex = [((C64 - Xr[i]) ** 2).sum(1).min() for i in close]
                    w = int(close[int(np.argmax(ex))])
        picks.append(w)
        centers.append(w)
        pickable[w] = False
        np.minimum(mind, n + n[w] - 2.0 * (Xr @ Xr[w]), out=mind)
    return np.array(picks)


def badge_reference(P, F, budget, seed):
    """Factored BADGE distances, one full pass over P and F per pick."""
    a = badge_embedding_factors(P)
    n = np.einsum("ij,ij->i", a, a, dtype=np.float64) * np.einsum("ij,ij->i", F, F, dtype=np.float64)
    alive = np.ones(len(F), dtype=bool)
    w = int(np.argmax(n))
    picks = [w]
    d2 = np.full(len(F), np.inf)
    for t in range(1, budget + 1):
        alive[w] = False
        d = n + n[w] - 2.0 * (a @ a[w]).astype(np.float64) * (F @ F[w]).astype(np.float64)
        d[d <= 1e-12 * (n + n[w])] = 0.0
        np.minimum(d2, d, out=d2)
        if t == budget:
            break
        p = np.where(alive, d2, 0.0)  # the exponential race of pick t (alselect.kernels.race)
        E = -np.log(race_uniforms(seed, t, np.arange(len(F))))
        w = int(np.argmin(np.where(p > 0, E / np.where(p > 0, p, 1.0), np.inf)))
        picks.append(w)
    return np.array(picks)


# ------------------------------------------------------------ runs

def row(name, t_new, t_ref, mem, nbytes, same, note="", compared="full sequence", extrapolated=False,
        reference="NumPy, one full pass per pick"):
    REPORT.row(f"{name} (`bench_diversity.py{' --quick' if QUICK else ''}`)", compared,
               (float(t_new), t_new.cpu), (float(t_ref), t_ref.cpu) if t_ref else None, reference,
               extrapolated=extrapolated, identical=same, peak_mib=round(mem / 2**20), note=note)
    ratio = f"{t_ref / t_new:6.1f}x" if t_ref else "   n/a"
    ref_cpu = getattr(t_ref, "cpu", float("nan"))
    cpu_ratio = f"{ref_cpu / t_new.cpu:6.1f}x" if t_ref else "   n/a"
    REPORT.say(f"{name:<34} {t_new:8.2f} s (cpu {t_new.cpu:7.2f})  "
               f"ref {t_ref if t_ref else float('nan'):8.2f} s (cpu {ref_cpu:7.2f})  "
               f"{ratio} (cpu {cpu_ratio})  "
               f"peak +{mem / 2**20:7.0f} MiB ({mem / nbytes:4.2f}x emb)  identical={same} {note}")


def bench_kcenter(gen, N, D, C, L, budget):
    rng = np.random.default_rng(SEED)
    X, _ = gen(N, D, C, rng)
    lab = rng.choice(N, L, replace=False)
    kcenter_greedy(X[:2000], 10, labeled=[0, 1])  # compile / load cache
    (p, _), t_new, mem = measured(lambda: kcenter_greedy(X, budget, labeled=lab))
    rp, t_ref, _ = measured(lambda: kcenter_reference(X, budget, lab))
    rx, t_rx, _ = measured(lambda: kcenter_reference(X, budget, lab, exact=True))
    row(f"kcenter {gen.__name__} N={N} D={D}", t_new, t_ref, mem, X.nbytes,
        bool(np.array_equal(p, rx)),
        f"L={L} B={budget}; float64 exact-rule ref {t_rx:.2f} s; "
        f"same as plain float32 ref: {bool(np.array_equal(p, rp))}",
        compared=f"all {budget:,} picks in order, vs the float64 exact-rule reference",
        reference="NumPy float32 GEMM form, one full pass per pick")


def bench_badge(N, D, C, budget):
    rng = np.random.default_rng(SEED + 1)
    F, y = isotropic(N, D, C, rng)
    F = np.maximum(F, 0)
    P = probs_for(y, C, rng)
    badge(P[:500], F[:500], 5, seed=0)
    p, t_new, mem = measured(lambda: badge(P, F, budget, seed=SEED))
    rp, t_ref, _ = measured(lambda: badge_reference(P, F, budget, SEED))
    row(f"badge N={N} C={C} D={D}", t_new, t_ref, mem, F.nbytes + P.nbytes,
        bool(np.array_equal(p, rp)), f"B={budget}", compared=f"all {budget:,} picks in order (same race uniforms)")


def bench_kcenter_big(N, D, C, budget, ref_picks):
    rng = np.random.default_rng(SEED + 2)
    X, _ = realistic(N, D, C, rng)
    lab = np.empty(0, dtype=np.int64)
    (p, _), t_new, mem = measured(lambda: kcenter_greedy(X, budget))
    rp, t_few, _ = measured(lambda: kcenter_reference(X, budget, lab, max_picks=ref_picks))
    t_ref = Timed(t_few * budget / ref_picks, t_few.cpu * budget / ref_picks)
    row(f"kcenter realistic N={N} D={D}", t_new, t_ref, mem, X.nbytes,
        bool(np.array_equal(p[:ref_picks], rp)),
        f"B={budget} (ref extrapolated from {ref_picks} picks; prefix compared)",
        compared=f"first {ref_picks} picks", extrapolated=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, seconds")
    ap.add_argument("--skip-1m", action="store_true", help="skip the 1M-row run")
    ap.add_argument("--only", nargs="+", choices=CASES, help="run only these cases")
    add_common_options(ap)
    args = ap.parse_args()
    global REPORT, QUICK
    REPORT, QUICK = Report("diversity", args), args.quick
    start_monitor()
    if args.quick:
        N, D, C, L, B, BIG, BB = 5000, 64, 10, 100, 250, 50000, 500
    else:
        N, D, C, L, B, BIG, BB = 50000, 512, 100, 1000, 2500, 1000000, 10000
    REPORT.say(f"cores={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
    cases = args.only or [c for c in CASES if not (args.skip_1m and c == "kcenter-1m")]
    with REPORT.competing_load():
        run_cases(cases, N, D, C, L, B, BIG, BB)
    REPORT.say(f"load after={os.getloadavg()[0]:.1f}")


def run_cases(cases, N, D, C, L, B, BIG, BB):
    if "kcenter-iso" in cases:
        bench_kcenter(isotropic, N, D, C, L, B)
    if "kcenter-real" in cases:
        bench_kcenter(realistic, N, D, C, L, B)
    if "badge" in cases:
        bench_badge(N, D, C, B)
    if "kcenter-1m" in cases:
        kcenter_greedy(np.ones((100, 4), dtype=np.float32), 3)  # compile / load cache
        bench_kcenter_big(BIG, D, C, BB, ref_picks=20)


if __name__ == "__main__":
    main()
