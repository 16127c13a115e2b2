"""Uncertainty strategies on a large pool file: alselect's streaming numba path vs plain NumPy.

Builds a synthetic pool (fixed seed) on disk: probs float32 (N, C), mc_probs float16
(N, T, C), epoch_preds int16 (E, N). For each strategy it times ``alselect.select`` (reads the
file block by block, validates, scores in parallel numba kernels, partial top-k; each strategy
run once beforehand so its kernel is compiled and loaded) against a straightforward NumPy
reference (read whole arrays with h5py, vectorised formula, full argsort), and checks that all
2,500 picks are identical, in order. Wall and CPU time (all threads) of both are reported: the
medians of ``--repeat`` (default 5) alternating runs of each side.

    python bench/bench_uncertainty.py            # N=1,000,000, C=100, T=10, E=20
    python bench/bench_uncertainty.py --quick    # N=100,000
    python bench/bench_uncertainty.py --quick --load      # beside one busy process per core
"""

import argparse
import os
import resource
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import alselect  # noqa: E402
from alselect.pool import PoolWriter  # noqa: E402
from benchkit import Report, add_common_options, timed  # noqa: E402

STRATEGIES = ("entropy", "margin", "least-confidence", "bald", "dispersion")


def build(path, n, c, t, e, seed=0):
    rng = np.random.default_rng(seed)
    block = 50_000
    with PoolWriter(path, n) as w:
        probs = w.create("probs", (n, c), np.float32)
        mc = w.create("mc_probs", (n, t, c), np.float16)
        ep = w.create("epoch_preds", (e, n), np.int16, axis=1)
        for s in range(0, n, block):
            m = min(block, n - s)
            logits = rng.normal(scale=3.0, size=(m, c)).astype(np.float32)
            p = np.exp(logits - logits.max(1, keepdims=True))
            probs[s:s + m] = p / p.sum(1, keepdims=True)
            noisy = logits[:, None, :] + rng.normal(scale=1.0, size=(m, t, c)).astype(np.float32)
            q = np.exp(noisy - noisy.max(2, keepdims=True))
            mc[s:s + m] = (q / q.sum(2, keepdims=True)).astype(np.float16)
            ep[:, s:s + m] = rng.integers(0, 4, size=(e, m))
        w.file.create_dataset("labeled", data=np.arange(0, n, 100, dtype=np.int64))


def xlogx(p):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(p), 0.0)


def reference(path, strategy, budget):
    with h5py.File(path, "r") as f:
        labeled = f["labeled"][()]
        if strategy in ("entropy", "margin", "least-confidence"):
            p = f["probs"][()].astype(np.float64)
            if strategy == "entropy":
                s = -xlogx(p).sum(1)
            elif strategy == "least-confidence":
                s = 1 - p.max(1)
            else:
                top = np.sort(p, axis=1)
                s = -(top[:, -1] - top[:, -2])
        elif strategy == "bald":
            m = f["mc_probs"][()].astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):  # x log x in place: 2 copies, not 5
                mlogm = np.log(m)
                mlogm *= m
            mlogm[m == 0] = 0.0
            s = -xlogx(m.mean(1)).sum(1) + mlogm.sum(2).mean(1)
        else:  # dispersion
            preds = f["epoch_preds"][()]
            s = 1 - np.array([np.bincount(col).max() for col in preds.T]) / preds.shape[0]
    s[labeled] = -np.inf
    order = np.lexsort((np.arange(len(s)), -s))
    return order[:budget]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated subset")
    ap.add_argument("--pool", help="build the pool at this path and keep it (reused when it exists)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each side (medians are reported)")
    add_common_options(ap)
    args = ap.parse_args()
    rep = Report("uncertainty", args)
    n, c, t, e = (100_000, 100, 10, 20) if args.quick else (1_000_000, 100, 10, 20)
    budget = 2_500
    strategies = args.strategies.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.pool or os.path.join(tmp, "pool.h5")
        t0 = time.perf_counter()
        if not os.path.exists(path):
            build(path, n, c, t, e)
        size = os.path.getsize(path) / 2**30
        rep.say(f"pool: N={n:,} C={c} T={t} E={e}, {size:.2f} GiB on disk, built in {time.perf_counter() - t0:.1f} s")
        for strategy in strategies:  # compile / load each kernel, warm the page cache
            alselect.select(path, strategy, 10)
        with rep.competing_load():
            rep.say(f"{'strategy':<18}{'alselect s':>11}{'(CPU)':>8}{'numpy s':>10}{'(CPU)':>8}{'ratio':>8}  identical")
            for strategy in strategies:
                ours, refs = [], []
                for _ in range(args.repeat):  # alternating, so drifts in the machine hit both
                    got, t = timed(lambda: alselect.select(path, strategy, budget).indices)
                    ours.append(t)
                    ref, t = timed(reference, path, strategy, budget)
                    refs.append(t)
                ta = tuple(float(np.median(v)) for v in zip(*ours))
                tr = tuple(float(np.median(v)) for v in zip(*refs))
                same = bool(np.array_equal(got, ref))
                rep.say(f"{strategy:<18}{ta[0]:>11.2f}{ta[1]:>8.2f}{tr[0]:>10.2f}{tr[1]:>8.2f}"
                        f"{tr[0] / ta[0]:>7.1f}x  {same}")
                dtypes = {"bald": "float16 mc_probs", "dispersion": "int16 epoch_preds"}.get(strategy, "float32 probs")
                rep.row(f"`{strategy}`, N={n:,} pool file, {dtypes} (`bench_uncertainty.py{' --quick' if args.quick else ''}`)",
                        f"all {budget:,} picks, in order; medians of {args.repeat} alternating runs", ta, tr,
                        "NumPy, whole arrays, argsort",
                        identical=same, strategy=strategy)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    rep.say(f"peak RSS of the whole run (dominated by the NumPy reference): {peak:.2f} GiB")


if __name__ == "__main__":
    main()
