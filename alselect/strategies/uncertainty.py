"""Uncertainty strategies: a per-sample score streamed block by block through a numba kernel."""

from __future__ import annotations

import numpy as np

from ..contract import Context, Param, Ranking, StrategySpec
from ..errors import SelectionError


def _kernels():
    """The numba kernels, imported when a strategy runs (listing strategies loads no numba)."""
    from ..kernels import uncertainty

    return uncertainty


def _kernel_dtype(ctx: Context, name: str):
    return np.float64 if ctx.pool.dtype(name) == np.float64 else np.float32


def _row_kernel(kernel, shape):
    """A kernel of ``alselect.kernels.uncertainty`` named ``kernel`` (or a callable, as is);
    small pools get its bit-identical NumPy version, which spares loading numba."""
    if callable(kernel):
        return kernel
    if _small(shape):
        from .. import numpy_scores

        return numpy_scores.KERNELS[kernel]
    return getattr(_kernels(), kernel)


def _small(shape) -> bool:
    """A dataset of at most ``numpy_scores.SMALL_POOL_VALUES`` values: scored in NumPy."""
    from .. import numpy_scores

    return int(np.prod(shape)) <= numpy_scores.SMALL_POOL_VALUES


def stream_scores(ctx: Context, name: str, kernel, *, dtype=None) -> np.ndarray:
    """Apply a row kernel (a callable, or a kernel's name) to every block of ``name``;
    returns (N,) float64 scores."""
    ctx.require(name)
    shape = ctx.pool.shape(name)
    axis = 1 if name.startswith("epoch_") else 0
    out = np.empty(shape[axis], dtype=np.float64)
    if _screened(kernel, name, shape):
        return _screened_scores(ctx, name, kernel, out)
    kernel = _row_kernel(kernel, shape)
    if dtype is None:
        dtype = _kernel_dtype(ctx, name)
    with ctx.progress(f"scoring {name}", shape[axis]) as update:
        for start, block in ctx.pool.iter_rows(name, dtype=dtype, progress=update):
            block = np.ascontiguousarray(block)
            out[start:start + block.shape[axis]] = kernel(block)
    return out


def _screened(kernel, name: str, shape) -> bool:
    """Probability rows scored by a kernel that validates them in its own pass."""
    return (isinstance(kernel, str) and name in ("probs", "regions/probs")
            and kernel in ("entropy", "least_confidence", "margin") and not _small(shape))


def _screened_scores(ctx: Context, name: str, kernel: str, out: np.ndarray) -> np.ndarray:
    """Probability rows scored and screened in one pass (``probs_scores_screened``)."""
    from ..validation import prob_sum_atol

    kernels = _kernels()
    kind = kernels.SCREENED_KINDS[kernel]
    atol = prob_sum_atol(ctx.pool.dtype(name))  # for probs derived from logits: the logits' dtype

    def score(block):
        rows = np.ascontiguousarray(block, dtype=np.float32 if block.dtype == np.float16 else None)
        return kernels.probs_scores_screened(rows, kind, atol)

    return _scored_as_stored(ctx, name, score, out)


def _scored_as_stored(ctx: Context, name: str, score, out: np.ndarray) -> np.ndarray:
    """Fill ``out`` from the blocks of ``name`` as stored, each scored and screened by
    ``score(block) -> (scores, suspect)``; a block with a flagged row gets the reader's own
    check, which raises its error (or clears a borderline row)."""
    with ctx.progress(f"scoring {name}", out.shape[0]) as update:
        for start, block in ctx.pool.iter_rows(name, raw=True, progress=update):
            scores, suspect = score(block)
            if suspect.any():
                ctx.pool.check_block(name, start, block)
            out[start:start + block.shape[0]] = scores
    return out


def random(ctx: Context, budget: int) -> Ranking:
    """Uniform keys hashed from (seed, row) (alselect.rowkeys): the top-k keys are a uniform
    random k-subset, and a sharded pool gives the same keys shard by shard."""
    from ..rowkeys import uniform

    return Ranking(uniform(ctx.seed, ctx.row_offset + np.arange(ctx.pool.n_rows, dtype=np.int64)))


def _per_detection(ctx: Context, kernel, how: str, ascending: bool) -> Ranking:
    """Detection-level scores aggregated into a frame score (thesis §2.5.2, docs/video.md).

    A frame without detections gets the least informative score: 0 for the descending
    scores, +inf for margin, so it is picked only after every frame with a detection."""
    from ..kernels.region_aggregate import segment_reduce

    ctx.require("regions/offsets")
    per_box = stream_scores(ctx, "regions/probs", kernel)
    empty = np.inf if ascending else 0.0
    scores = segment_reduce(ctx.pool.region_offsets(), per_box, 0 if how == "mean" else 1, empty)
    return Ranking(scores, ascending=ascending)


def _aggregated(ctx: Context, kernel, aggregate: str, rule: str, ascending: bool = False) -> Ranking:
    if aggregate == "image":
        return Ranking(stream_scores(ctx, "probs", kernel), ascending=ascending)
    return _per_detection(ctx, kernel, rule if aggregate == "detections" else aggregate, ascending)


def entropy(ctx: Context, budget: int, aggregate: str = "image") -> Ranking:
    return _aggregated(ctx, "entropy", aggregate, "mean")


def least_confidence(ctx: Context, budget: int, aggregate: str = "image") -> Ranking:
    return _aggregated(ctx, "least_confidence", aggregate, "mean")


def margin(ctx: Context, budget: int, aggregate: str = "image") -> Ranking:
    if ctx.pool.n_classes < 2:
        raise SelectionError("strategy 'margin' needs at least 2 classes; this pool has 1")
    return _aggregated(ctx, "margin", aggregate, "sum", ascending=True)


def bald(ctx: Context, budget: int) -> Ranking:
    shape = ctx.pool.shape("mc_probs")
    if ctx.pool.dtype("mc_probs") == np.float16 and not _small(shape):
        return Ranking(_bald_float16(ctx, shape[0]))
    return Ranking(stream_scores(ctx, "mc_probs", "bald"))


def _bald_float16(ctx: Context, n: int) -> np.ndarray:
    """BALD of float16 members validated and scored in one pass over the stored bits."""
    from ..float16 import float16_tables
    from ..validation import PROB_SUM_ATOL

    kernels = _kernels()
    values, xlogx = float16_tables()

    def score(block):
        bits = np.ascontiguousarray(block).view(np.uint16)
        return kernels.bald_float16(bits, values, xlogx, PROB_SUM_ATOL["float16"])

    return _scored_as_stored(ctx, "mc_probs", score, np.empty(n, dtype=np.float64))


def variation_ratio(ctx: Context, budget: int) -> Ranking:
    return Ranking(stream_scores(ctx, "mc_probs", "variation_ratio"))


def dispersion(ctx: Context, budget: int) -> Ranking:
    return Ranking(stream_scores(ctx, "epoch_preds", "dispersion", dtype=np.int64))


def score(ctx: Context, budget: int, name: str, order: str) -> Ranking:
    names = ctx.pool.score_names()
    if not name:
        if len(names) != 1:
            listed = ", ".join(names) if names else "none"
            raise SelectionError(
                f"strategy 'score' needs -p name=SCORE; this pool's scores are: {listed} "
                "(add one with `alselect pack ... --scores NAME=S.npy`)"
            )
        name = names[0]
    full = f"scores/{name}"
    if not ctx.pool.has(full):
        listed = ", ".join(names) if names else "none"
        raise SelectionError(
            f"strategy 'score' asked for score '{name}', which the pool lacks (it has: {listed}); "
            f"add it with `alselect pack ... --scores {name}=S.npy`"
        )
    values = ctx.read(full, dtype=np.float64)
    return Ranking(values, ascending=(order == "asc"))


# ---- registry entries (metadata only; see alselect.contract)
def _aggregate(rule: str) -> Param:
    return Param("aggregate", "image",
                 f"image: the sample's probs; detections: the score of every box in regions/probs, {rule} over the "
                 "frame's boxes (thesis §2.5.2); mean or sum to choose the rule", choices=("image", "detections", "mean", "sum"))


SPECS = [
    StrategySpec("random", "uniformly random unlabeled samples (reproducible with --seed)", (), f"{__name__}:random",
                 randomized=True, reference="baseline"),
    StrategySpec("entropy", "highest Shannon entropy of the predicted class distribution", ("probs",),
                 f"{__name__}:entropy", params=(_aggregate("averaged"),),
                 reference="parting-with-illusions §3.1; thesis Eq. 4.7"),
    StrategySpec("margin", "smallest gap between the best and second-best class probability", ("probs",),
                 f"{__name__}:margin", params=(_aggregate("summed"),), reference="thesis §2.5.2 (margin sampling)"),
    StrategySpec("least-confidence", "lowest probability of the predicted class (1 - max p)", ("probs",),
                 f"{__name__}:least_confidence", params=(_aggregate("averaged"),), reference="thesis §2.5.2"),
    StrategySpec("bald", "highest mutual information between prediction and model (MC dropout / ensemble)",
                 ("mc_probs",), f"{__name__}:bald", reference="thesis §3.4.1, §4.5 (BALD, natural log)"),
    StrategySpec("variation-ratio", "highest 1 - modal fraction of the ensemble / MC members' predicted classes",
                 ("mc_probs",), f"{__name__}:variation_ratio", reference="parting-with-illusions Eq. 1"),
    StrategySpec("dispersion", "highest label dispersion: 1 - modal fraction of per-epoch predicted labels",
                 ("epoch_preds",), f"{__name__}:dispersion", reference="thesis chapter 3, Eq. 3.1"),
    StrategySpec("score", "top-k of a named external per-sample score stored in the pool", (), f"{__name__}:score",
                 params=(Param("name", "", "name of the score in the pool's 'scores' group (default: the only one)"),
                         Param("order", "desc", "desc picks the largest scores first, asc the smallest",
                               choices=("desc", "asc"))),
                 reference="external scores (VAAL discriminator, predicted loss, ...)",
                 extra_needs="scores/<name>"),
]
