"""Embedding-space strategies: k-center greedy (core-set), k-means++, BADGE and UWE.

Thin wrappers: read what the strategy needs from the pool, hand it to the exact kernels of
``alselect.diversity`` (docs/diversity.md has the algorithms and exactness rules).
"""

from __future__ import annotations

import numpy as np

from ..contract import SEQUENTIAL, Context, Param, Picks, Range, StrategySpec, parse_bool

#: Scores of D²-sampling strategies: the sampling has no per-pick score to report.
NO_SCORE = np.nan


def _features(ctx: Context, space: str) -> np.ndarray:
    """In the storage dtype: the kernels widen float16 exactly and keep float32/float64, so the
    picks are the exact float64 sequence of the stored values (as with the array API)."""
    return ctx.read(space)


def _no_scores(picks: np.ndarray) -> Picks:
    return Picks(picks, np.full(picks.shape[0], NO_SCORE))


def _centers(ctx: Context) -> np.ndarray:
    """Labeled rows plus the picks of earlier rounds (temporal rules): the initial centers."""
    return np.union1d(ctx.labeled, ctx.picked) if ctx.picked.size else ctx.labeled


def _honours_picked(func):
    """Mark an adapter that continues from ``ctx.picked`` (see alselect.temporal)."""
    func.honours_picked = True
    return func


@_honours_picked
def kcenter(ctx: Context, budget: int, features: str, init: str) -> Picks:
    from ..diversity import kcenter_greedy

    X = _features(ctx, features)
    with ctx.progress("kcenter: picking", budget) as update:
        picks, min_dist = kcenter_greedy(X, budget, labeled=_centers(ctx), init=init,
                                         seed=ctx.seed if init == "random" else None, candidates=ctx.candidates,
                                         progress=update)
    return Picks(picks, min_dist)


@_honours_picked
def kmeanspp(ctx: Context, budget: int, init: str) -> Picks:
    from ..diversity import kmeanspp as run

    X = _features(ctx, "embeddings")
    with ctx.progress("kmeanspp: picking", budget) as update:
        return _no_scores(run(X, budget, labeled=_centers(ctx), seed=ctx.seed, init=init, progress=update,
                              candidates=ctx.candidates))


@_honours_picked
def badge(ctx: Context, budget: int, labeled_centers: bool) -> Picks:
    from ..diversity import badge as run

    probs = ctx.read("probs")
    F = _features(ctx, "embeddings")
    with ctx.progress("badge: picking", budget) as update:
        return _no_scores(run(probs, F, budget, labeled=ctx.labeled, seed=ctx.seed,
                              labeled_as_centers=labeled_centers, progress=update,
                              candidates=ctx.candidates, centers=ctx.picked))


@_honours_picked
def uwe(ctx: Context, budget: int, uncertainty: str, tau: float, normalize: str, sampler: str,
        level: str = "image") -> Picks:
    from ..diversity import kcenter_greedy, uwe_weights
    from ..diversity import kmeanspp as run_kmeanspp

    if level == "image":
        weights = uwe_weights(ctx.read("probs"), uncertainty=uncertainty, tau=tau, normalize=normalize)
        F = _features(ctx, "embeddings")
    else:
        from ..regions_uwe import detection_uwe, segmentation_uwe

        build = segmentation_uwe if level == "segmentation" else detection_uwe
        F, weights = build(ctx, uncertainty=uncertainty, tau=tau, normalize=normalize)
    with ctx.progress("uwe: picking", budget) as update:
        if sampler == "kmeanspp":
            return _no_scores(run_kmeanspp(F, budget, labeled=_centers(ctx), seed=ctx.seed, weights=weights,
                                           progress=update, candidates=ctx.candidates))
        picks, min_dist = kcenter_greedy(F, budget, labeled=_centers(ctx), candidates=ctx.candidates,
                                         weights=weights, progress=update)
    return Picks(picks, min_dist)


# ---- registry entries (metadata only; see alselect.contract)
_INIT = Param("init", "max-norm", "first pick when nothing is labeled: the largest-norm sample, or a seeded random one",
              choices=("max-norm", "random"))

SPECS = [
    StrategySpec("kcenter", "core-set k-center greedy: repeatedly the sample farthest from its nearest center (exact)",
                 (), f"{__name__}:kcenter", order=SEQUENTIAL,
                 randomized=lambda params: params["init"] == "random",
                 params=(Param("features", "embeddings", "the space: embeddings, or the probability vectors",
                               choices=("embeddings", "probs")), _INIT),
                 reference="core-set (Sener & Savarese); UWE paper §3.1 baseline",
                 extra_needs="embeddings (probs with -p features=probs)"),
    StrategySpec("kmeanspp", "k-means++ seeding on the embeddings: D² sampling without replacement",
                 ("embeddings",), f"{__name__}:kmeanspp", order=SEQUENTIAL, randomized=True, params=(_INIT,),
                 reference="k-means++ (Arthur & Vassilvitskii); BADGE's sampler"),
    StrategySpec("badge", "BADGE: k-means++ seeding on gradient embeddings (p - onehot(argmax p)) x f, factored",
                 ("probs", "embeddings"), f"{__name__}:badge", order=SEQUENTIAL, randomized=True,
                 params=(Param("labeled_centers", False, "also use labeled samples as initial centers (the BADGE "
                               "paper and code do not)", type=parse_bool),),
                 reference="UWE paper §3.1 (BADGE recap); Ash et al."),
    StrategySpec("uwe", "uncertainty-weighted embeddings u(x)^tau f(x), then k-center greedy or k-means++",
                 ("probs",), f"{__name__}:uwe", order=SEQUENTIAL,
                 randomized=lambda params: params["sampler"] == "kmeanspp",
                 params=(Param("uncertainty", "entropy", "u(x): entropy, bvsb (p_second / p_best), "
                               "least-confidence (1 - p_best), or margin (1 - (p_best - p_second))",
                               choices=("entropy", "bvsb", "least-confidence", "margin")),
                         Param("tau", 1.0, "exponent tau on the uncertainty (paper §5.2)", type=float,
                               range=Range(0, low_open=True)),
                         Param("normalize", "none", "none (paper) or minmax-normalise u first (authors' code)",
                               choices=("none", "minmax")),
                         Param("sampler", "kcenter", "kcenter (labeled = initial centers) or kmeanspp",
                               choices=("kcenter", "kmeanspp")),
                         Param("level", "image", "image: probs and embeddings; segmentation: mean pixel "
                               "uncertainty times mean region features (Eq. 6-7); detection: per class, the "
                               "most uncertain box's u(d) f(d), concatenated (Eq. 9)",
                               choices=("image", "segmentation", "detection"))),
                 reference="UWE paper §3.2-3.4, §5.2",
                 extra_needs="embeddings (level=image); regions/probs, regions/features (level=segmentation|detection)"),
]
