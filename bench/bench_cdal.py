"""Benchmark CDAL-CS (K-Center-Greedy with contextual diversity).

    python bench/bench_cdal.py [--quick] [--load [N]] [--json]

Part 1: a pool of precomputed mixtures (100,000 images, C = 19, budget 5,000;
``--quick``: 10,000 / 500). Synthetic, fixed seed: each image holds a few
classes (class frequencies from 0.9 down to 0.03, about 5 of 19 present), each
mixture peaked on its own class (confidence ~ Beta(8, 1.5), the rest spread
by a sparse Dirichlet). Times ``cdal_coreset`` (lazy exact kernel) next to
* the numba one-pass-per-pick reference kernel (same exact algorithm),
* a straightforward NumPy implementation: per pick, the CD of the new center
  to every row vectorised over (N, C, C) arrays,
* the released-code style per-pair Python function (one call per pair),
the slow ones run for a prefix of the picks and extrapolated linearly
(their cost per pick is constant). Picks are compared on the common prefix.

Part 2: a Cityscapes-sized pool from raw region probabilities (2,975 images x
2,000 regions (superpixels) x 19 classes, float16, ~226 MB; ``--quick``: 300 x
500): mixture computation (numba streaming vs a NumPy per-image loop), then
CDAL-CS with 10 % labeled and budget 150 (the paper's Cityscapes protocol),
compared with a full NumPy core-set run.

Peak memory is the process's peak resident set size (ru_maxrss) after each
step; numba allocations are not seen by tracemalloc.
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed alselect
from benchkit import Report, add_common_options  # noqa: E402

REPORT = None
TAG = "`bench_cdal.py`"

from alselect.cdal import (PROB_FLOOR, cdal_coreset, mixture_entropy,  # noqa: E402
                           mixtures_from_regions)

SEED = 0
C = 19


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def class_freq(C):
    return 0.9 * (0.03 / 0.9) ** (np.arange(C) / (C - 1))


def synthetic_mixtures(N, C, seed):
    rng = np.random.default_rng(seed)
    present = rng.random((N, C)) < class_freq(C)
    none = ~present.any(1)
    present[none, rng.integers(0, C, none.sum())] = True
    mix = np.zeros((N, C, C), dtype=np.float32)
    ii, cc = np.nonzero(present)
    m = ii.size
    conf = rng.beta(8.0, 1.5, m)
    rest = rng.gamma(0.3, 1.0, (m, C))
    rest[np.arange(m), cc] = 0
    rest /= rest.sum(1, keepdims=True)
    rows = rest * (1 - conf)[:, None]
    rows[np.arange(m), cc] = conf
    mix[ii, cc] = rows
    return mix, present


# --------------------------------------------------------------------------- #
# straightforward NumPy references
# --------------------------------------------------------------------------- #
def numpy_cd_to_center(P, L, G, j):
    """CD (sum over shared classes, Eq. 2) of every row to row j, vectorised."""
    shared = G & G[j]
    terms = 0.5 * np.einsum("nck,nck->nc", P - P[j], L - L[j])
    return np.where(shared, terms, 0.0).sum(1)


def numpy_coreset(mix, present, budget, labeled=(), first=None, max_picks=None):
    """Exact K-Center-Greedy, per pick a full vectorised pass (float64)."""
    P = mix.astype(np.float64)
    L = np.log(np.maximum(P, PROB_FLOOR))
    N = len(P)
    mind = np.full(N, np.inf)
    pickable = np.ones(N, bool)
    pickable[list(labeled)] = False
    for c in labeled:
        mind = np.minimum(mind, numpy_cd_to_center(P, L, present, c))
    picks = []
    for s in range(budget if max_picks is None else min(budget, max_picks)):
        if s == 0 and first is not None:
            b = first
        else:
            b = int(np.argmax(np.where(pickable, mind, -1)))
        picks.append(b)
        pickable[b] = False
        mind = np.minimum(mind, numpy_cd_to_center(P, L, present, b))
    return np.array(picks)


def released_style_kl(a, b, present_a, present_b):
    """The authors' per-pair function shape: loop over classes, symmetric KL."""
    tot = 0.0
    for c in range(a.shape[0]):
        if present_a[c] and present_b[c]:
            la = np.log(np.maximum(a[c], PROB_FLOOR))
            lb = np.log(np.maximum(b[c], PROB_FLOOR))
            tot += -0.5 * np.sum(a[c] * (lb - la)) - 0.5 * np.sum(b[c] * (la - lb))
    return tot


def timed(f, *a, **k):
    t = time.perf_counter()
    c = time.process_time()
    r = f(*a, **k)
    return r, time.perf_counter() - t, time.process_time() - c


def part1(N, budget):
    REPORT.say(f"== CDAL-CS on precomputed mixtures: N={N:,}, C={C}, budget={budget:,} ==")
    (mix, present), t_gen, _ = timed(synthetic_mixtures, N, C, SEED)
    REPORT.say(f"data: {mix.nbytes / 2**20:.0f} MB float32 mixtures, {present.sum(1).mean():.2f} "
          f"classes present per image (generated in {t_gen:.1f} s); peak RSS {peak_mb():.0f} MB")
    # warm the numba caches on a tiny pool (compile time is not the algorithm's)
    cdal_coreset(mix[:300], present[:300], 5)
    cdal_coreset(mix[:300], present[:300], 5, method="reference")

    (picks, dist), t_lazy, c_lazy = timed(cdal_coreset, mix, present, budget)
    REPORT.say(f"cdal_coreset (lazy, exact)     : {t_lazy:8.2f} s wall  {c_lazy:8.2f} s cpu   "
          f"peak RSS {peak_mb():.0f} MB   radius {dist[1]:.3f} -> {dist[-1]:.3f}")
    h = mixture_entropy(mix, present)
    first = int(np.argmax(h))

    # numba reference: one pass per pick, prefix then extrapolate
    ref_picks = max(50, budget // 25)
    (rp, _), t_ref, c_ref = timed(cdal_coreset, mix, present, ref_picks, method="reference")
    t_ref_full = t_ref * budget / ref_picks
    same = np.array_equal(rp, picks[:ref_picks])
    REPORT.row(f"`cdal-cs`, N={N:,} mixtures, C={C}, budget {budget:,} ({TAG})", f"first {ref_picks} picks",
               (t_lazy, c_lazy), (t_ref_full, c_ref * budget / ref_picks),
               "numba kernel, one full pass per pick", extrapolated=True, identical=bool(same))
    REPORT.say(f"numba reference (one pass/pick): {t_ref_full:8.2f} s (extrapolated from "
          f"{ref_picks} picks)  ratio {t_ref_full / t_lazy:6.1f}x  same picks: {same}")

    # NumPy vectorised per pick
    np_picks = 8 if N > 20000 else 20
    npk, t_np, c_np = timed(numpy_coreset, mix, present, budget, first=first, max_picks=np_picks)
    t_np_full = t_np * budget / np_picks
    same = np.array_equal(npk, picks[:np_picks])
    REPORT.row(f"`cdal-cs`, N={N:,} mixtures, C={C}, budget {budget:,} ({TAG})", f"first {np_picks} picks",
               (t_lazy, c_lazy), (t_np_full, c_np * budget / np_picks),
               "NumPy, vectorised over (N, C, C) per pick", extrapolated=True, identical=bool(same))
    REPORT.say(f"NumPy vectorised per pick      : {t_np_full:8.1f} s (extrapolated from {np_picks} "
          f"picks)  ratio {t_np_full / t_lazy:6.0f}x  same picks: {same}   "
          f"peak RSS {peak_mb():.0f} MB")

    # released-code style: a Python function per pair (sklearn pairwise_distances(metric=kl))
    n_pairs = 3000
    rng = np.random.default_rng(1)
    ii = rng.integers(0, N, n_pairs)
    jj = rng.integers(0, N, n_pairs)
    t = time.perf_counter()
    for a, b in zip(ii, jj):
        released_style_kl(mix[a], mix[b], present[a], present[b])
    per_pair = (time.perf_counter() - t) / n_pairs
    pairs = N * budget
    REPORT.say(f"per-pair Python (released style): {per_pair * pairs / 3600:8.1f} h (extrapolated: "
          f"{per_pair * 1e6:.0f} us/pair x {pairs:.1e} pairs)  ratio "
          f"{per_pair * pairs / t_lazy:6.0f}x")

    pre = max(10, budget // 10)
    cdal_coreset(mix[:300], present[:300], 5, method="engine")
    (ep, _), t_eng, _ = timed(cdal_coreset, mix, present, pre, method="engine")
    _, t_lp, _ = timed(cdal_coreset, mix, present, pre)
    REPORT.say(f"generic k-center engine (A,B,n): {t_eng:8.2f} s for the first {pre} picks vs "
               f"lazy {t_lp:.2f} s (ratio {t_eng / t_lp:.1f}x)  same picks: "
               f"{np.array_equal(ep, picks[:pre])}")
    REPORT.say()


def cityscapes_regions(n_img, n_reg, seed):
    """float16 region softmax vectors, generated in chunks (memory modest)."""
    rng = np.random.default_rng(seed)
    freq = class_freq(C)
    probs = np.empty((n_img * n_reg, C), dtype=np.float16)
    chunk = max(1, (1 << 21) // (n_reg * C))
    for i0 in range(0, n_img, chunk):
        i1 = min(n_img, i0 + chunk)
        m = (i1 - i0) * n_reg
        pres = rng.random((i1 - i0, C)) < freq
        pres[np.arange(i1 - i0), rng.integers(0, 3, i1 - i0)] = True
        w = pres * freq
        w /= w.sum(1, keepdims=True)
        # class of each region drawn from the image's present classes
        u = rng.random((i1 - i0, n_reg))
        cw = np.cumsum(w, 1)[:, None, :]
        lab = np.minimum((u[..., None] > cw).sum(-1).reshape(-1), C - 1)
        # context confusion: a second class of the same image gets some of the mass
        u2 = rng.random((i1 - i0, n_reg))
        conf = np.minimum((u2[..., None] > cw).sum(-1).reshape(-1), C - 1)
        logits = rng.normal(0.0, 0.7, (m, C)).astype(np.float32)
        logits[np.arange(m), conf] += rng.gamma(2.0, 1.0, m).astype(np.float32)
        logits[np.arange(m), lab] += rng.gamma(5.0, 1.0, m).astype(np.float32)
        logits -= logits.max(1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(1, keepdims=True)
        probs[i0 * n_reg:i1 * n_reg] = logits
    offsets = np.arange(n_img + 1, dtype=np.int64) * n_reg
    return probs, offsets


def numpy_mixtures(probs, offsets, eps=1e-6):
    N = len(offsets) - 1
    mix = np.zeros((N, C, C))
    pres = np.zeros((N, C), bool)
    for i in range(N):
        p = probs[offsets[i]:offsets[i + 1]].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.where(p > 0, p * np.log2(p), 0.0).sum(1)
        w = h + eps
        y = p.argmax(1)
        num = np.zeros((C, C))
        np.add.at(num, y, w[:, None] * p)
        den = np.bincount(y, weights=w, minlength=C)
        pres[i] = den > 0
        mix[i, pres[i]] = num[pres[i]] / den[pres[i], None]
        mix[i, pres[i]] /= mix[i, pres[i]].sum(1, keepdims=True)  # float16 rows sum to 1 only within 1e-2
    return mix, pres


def part2(n_img, n_reg, budget):
    REPORT.say(f"== Cityscapes-sized pool from raw regions: {n_img:,} images x {n_reg:,} regions x "
          f"{C} classes ==")
    (probs, off), t_gen, _ = timed(cityscapes_regions, n_img, n_reg, SEED)
    REPORT.say(f"data: {probs.nbytes / 2**20:.0f} MB float16 region probabilities (generated in "
          f"{t_gen:.1f} s); peak RSS {peak_mb():.0f} MB")
    mixtures_from_regions(probs[:4 * n_reg], off[:5])  # warm-up compile
    (mix, pres, counts), t_mix, c_mix = timed(mixtures_from_regions, probs, off)
    REPORT.say(f"mixtures_from_regions (numba)  : {t_mix:8.2f} s wall {c_mix:6.2f} s cpu   peak RSS "
          f"{peak_mb():.0f} MB   {pres.sum(1).mean():.1f} classes present per image")
    n_np = min(n_img, 200)
    (nmix, npres), t_npm, c_npm = timed(numpy_mixtures, probs[:n_np * n_reg], off[:n_np + 1])
    t_npm_full = t_npm * n_img / n_np
    ok = np.array_equal(npres, pres[:n_np]) and np.allclose(nmix, mix[:n_np], atol=1e-5)
    REPORT.row(f"CD mixtures from regions, {n_img:,} images x {n_reg:,} regions x {C} classes, float16 ({TAG})",
               f"mixtures of the first {n_np} images (present sets equal, values within 1e-5)",
               (t_mix, c_mix), (t_npm_full, c_npm * n_img / n_np), "NumPy per-image loop",
               extrapolated=n_np < n_img, identical=bool(ok))
    REPORT.say(f"NumPy per-image loop           : {t_npm_full:8.2f} s (extrapolated from {n_np} "
          f"images)  ratio {t_npm_full / t_mix:5.1f}x  same mixtures: {ok}")
    rng = np.random.default_rng(SEED)
    labeled = rng.choice(n_img, n_img // 10, replace=False)
    (picks, _), t_cs, c_cs = timed(cdal_coreset, mix, pres, budget, labeled=labeled)
    ref, t_np, c_np = timed(numpy_coreset, mix, pres, budget, labeled=labeled)
    REPORT.row(f"`cdal-cs` on those mixtures, {len(labeled)} labeled, budget {budget} ({TAG})",
               f"all {budget} picks in order", (t_cs, c_cs), (t_np, c_np), "NumPy core-set, full run",
               identical=bool(np.array_equal(ref, picks)))
    REPORT.say(f"cdal_coreset, {len(labeled)} labeled, budget {budget}: {t_cs:8.3f} s   NumPy "
          f"core-set {t_np:7.2f} s   ratio {t_np / t_cs:5.0f}x   same picks: "
          f"{np.array_equal(ref, picks)}")
    REPORT.say(f"total (mixtures + core-set)    : {t_mix + t_cs:8.2f} s   peak RSS {peak_mb():.0f} MB")
    REPORT.say()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, runs in seconds")
    add_common_options(ap)
    args = ap.parse_args()
    global REPORT, TAG
    REPORT = Report("cdal", args)
    TAG = "`bench_cdal.py --quick`" if args.quick else TAG
    with REPORT.competing_load():
        if args.quick:
            part1(10_000, 500)
            part2(300, 500, 30)
        else:
            part1(100_000, 5_000)
            part2(2_975, 2_000, 150)


if __name__ == "__main__":
    main()
