"""Embedding-space strategies: k-center greedy (core-set), k-means++, BADGE and UWE.

Thin wrappers: read what the strategy needs from the pool, hand it to the exact kernels of
``alselect.diversity`` (docs/diversity.md has the algorithms and exactness rules).
"""

from __future__ import annotations

import numpy as np

from ..selection import Context, Picks

#: Scores of D²-sampling strategies: the sampling has no per-pick score to report.
NO_SCORE = np.nan


def _features(ctx: Context, space: str) -> np.ndarray:
    return ctx.read(space, dtype=np.float32)


def _no_scores(picks: np.ndarray) -> Picks:
    return Picks(picks, np.full(picks.shape[0], NO_SCORE))


def kcenter(ctx: Context, budget: int, features: str, init: str) -> Picks:
    from ..diversity import kcenter_greedy

    X = _features(ctx, features)
    with ctx.progress("kcenter: picking", budget) as update:
        picks, min_dist = kcenter_greedy(X, budget, labeled=ctx.labeled, init=init,
                                         seed=ctx.seed if init == "random" else None, candidates=ctx.candidates,
                                         progress=update)
    return Picks(picks, min_dist)


def kmeanspp(ctx: Context, budget: int, init: str) -> Picks:
    from ..diversity import kmeanspp as run

    X = _features(ctx, "embeddings")
    with ctx.progress("kmeanspp: picking", budget) as update:
        return _no_scores(run(X, budget, labeled=ctx.labeled, seed=ctx.seed, init=init, progress=update))


def badge(ctx: Context, budget: int, labeled_centers: bool) -> Picks:
    from ..diversity import badge as run

    probs = ctx.read("probs", dtype=np.float32)
    F = _features(ctx, "embeddings")
    with ctx.progress("badge: picking", budget) as update:
        return _no_scores(run(probs, F, budget, labeled=ctx.labeled, seed=ctx.seed,
                              labeled_as_centers=labeled_centers, progress=update))


def uwe(ctx: Context, budget: int, uncertainty: str, tau: float, normalize: str, sampler: str) -> Picks:
    from ..diversity import kcenter_greedy, kmeanspp as run_kmeanspp, uwe_weights

    weights = uwe_weights(ctx.read("probs", dtype=np.float32), uncertainty=uncertainty, tau=tau, normalize=normalize)
    F = _features(ctx, "embeddings")
    with ctx.progress("uwe: picking", budget) as update:
        if sampler == "kmeanspp":
            return _no_scores(run_kmeanspp(F, budget, labeled=ctx.labeled, seed=ctx.seed, weights=weights,
                                           progress=update))
        picks, min_dist = kcenter_greedy(F, budget, labeled=ctx.labeled, candidates=ctx.candidates,
                                         weights=weights, progress=update)
    return Picks(picks, min_dist)
