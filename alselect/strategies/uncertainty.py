"""Uncertainty strategies: a per-sample score streamed block by block through a numba kernel."""

from __future__ import annotations

import numpy as np

from ..errors import SelectionError
from ..kernels import uncertainty as K
from ..selection import Context, Ranking


def _kernel_dtype(ctx: Context, name: str):
    return np.float64 if ctx.pool.dtype(name) == np.float64 else np.float32


def stream_scores(ctx: Context, name: str, kernel, *, dtype=None) -> np.ndarray:
    """Apply a row kernel to every block of ``name``; returns (N,) float64 scores."""
    ctx.require(name)
    shape = ctx.pool.shape(name)
    axis = 1 if name.startswith("epoch_") else 0
    out = np.empty(shape[axis], dtype=np.float64)
    if dtype is None:
        dtype = _kernel_dtype(ctx, name)
    with ctx.progress(f"scoring {name}", shape[axis]) as update:
        for start, block in ctx.pool.iter_rows(name, dtype=dtype, progress=update):
            block = np.ascontiguousarray(block)
            out[start:start + block.shape[axis]] = kernel(block)
    return out


def random(ctx: Context, budget: int) -> Ranking:
    """Uniform keys from the seeded generator: the top-k keys are a uniform random k-subset."""
    return Ranking(ctx.rng.random(ctx.pool.n_rows))


def entropy(ctx: Context, budget: int) -> Ranking:
    return Ranking(stream_scores(ctx, "probs", K.entropy))


def least_confidence(ctx: Context, budget: int) -> Ranking:
    return Ranking(stream_scores(ctx, "probs", K.least_confidence))


def margin(ctx: Context, budget: int) -> Ranking:
    if ctx.pool.n_classes < 2:
        raise SelectionError("strategy 'margin' needs at least 2 classes; this pool has 1")
    return Ranking(stream_scores(ctx, "probs", K.margin), ascending=True)


def bald(ctx: Context, budget: int) -> Ranking:
    return Ranking(stream_scores(ctx, "mc_probs", K.bald))


def variation_ratio(ctx: Context, budget: int) -> Ranking:
    return Ranking(stream_scores(ctx, "mc_probs", K.variation_ratio))


def dispersion(ctx: Context, budget: int) -> Ranking:
    return Ranking(stream_scores(ctx, "epoch_preds", K.dispersion, dtype=np.int64))


def score(ctx: Context, budget: int, name: str, order: str) -> Ranking:
    names = ctx.pool.score_names()
    if not name:
        if len(names) != 1:
            listed = ", ".join(names) if names else "none"
            raise SelectionError(
                f"strategy 'score' needs -p name=SCORE; this pool's scores are: {listed} "
                "(add one with `alselect pack ... --score NAME=S.npy`)"
            )
        name = names[0]
    full = f"scores/{name}"
    if not ctx.pool.has(full):
        listed = ", ".join(names) if names else "none"
        raise SelectionError(
            f"strategy 'score' asked for score '{name}', which the pool lacks (it has: {listed}); "
            f"add it with `alselect pack ... --score {name}=S.npy`"
        )
    values = ctx.read(full, dtype=np.float64)
    return Ranking(values, ascending=(order == "asc"))
