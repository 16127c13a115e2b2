"""The selection pipeline behind both ``alselect pick`` and :func:`alselect.select`.

One validated entry point: open the pool, resolve the labeled set, check the budget, run
the strategy, order and cut the result. Strategies only compute scores (ranking) or a
pick sequence (sequential); ordering, tie-breaking and the cost budget live here once.

Tie-breaking (ranking strategies): samples with exactly equal scores are ordered by row
number when no seed is given, and by a seeded per-row hash otherwise (alselect.rowkeys: a key
depends only on the seed and the global row, so shards give the same order), so the result is
deterministic either way and a seed spreads ties uniformly over the pool.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .contract import Context, Ranking
from .errors import InternalError, InvalidInputError, PoolValueError, SelectionError
from .pool import MemoryPool, Pool, open_pool
from .pool.sharded import ShardedPool
from .progress import no_progress
from .strategies import get_strategy
from .temporal import check_rules
from .validation import check_row_indices, check_seed


@dataclass
class Selection:
    """The result of a selection.

    Attributes
    ----------
    indices : ndarray of int64, shape (k,)
        Selected rows (0-based), in selection order for sequential strategies and by
        descending priority for ranking strategies.
    scores : ndarray of float64, shape (k,)
        The strategy's score of each pick (its definition is listed by ``alselect strategies``).
    strategy, params, seed, order
        What produced it; ``order`` is ``"ranking"`` or ``"sequential"``.
    cost : float or None
        Total annotation cost of the picks when the pool has costs.
    notes : list of str
        Messages for the user (solver status, seeds drawn, ...).
    """

    indices: np.ndarray
    scores: np.ndarray
    strategy: str
    params: dict
    seed: int | None
    order: str
    cost: float | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.indices)


def _tie_keys(n: int, seed: int | None) -> np.ndarray:
    """Secondary sort key: row number, or the seeded per-row hash of alselect.rowkeys
    (independent of the strategy's own random stream; distinct for distinct rows)."""
    from .rowkeys import tie_keys

    return tie_keys(seed, np.arange(n, dtype=np.int64))


def rank_order(key: np.ndarray, rows: np.ndarray, tie: np.ndarray, k: int | None = None) -> np.ndarray:
    """Rows sorted by descending ``key``, ties by ascending ``tie``; only the first ``k`` when given.

    Selecting k of N uses a partition around the k-th key, so it costs O(N + k log k).
    """
    keys = key[rows]
    if k is not None and k < rows.size:
        threshold = np.partition(keys, rows.size - k)[rows.size - k]
        above = rows[keys > threshold]
        tied = rows[keys == threshold]
        tied = tied[np.argsort(tie[tied], kind="stable")[: k - above.size]]
        rows = np.concatenate([above, tied])
        keys = key[rows]
    return rows[np.lexsort((tie[rows], -keys))]


def _cost_walk(order: np.ndarray, cost: np.ndarray, budget: float, prefix: bool) -> np.ndarray:
    """Rows of ``order`` that fit in ``budget`` cost units.

    Ranking strategies skip a sample that does not fit and continue down the list
    (``prefix=False``); sequential strategies stop at the first one that does not fit
    (``prefix=True``), so the result stays a prefix of the greedy sequence."""
    c = cost[order]
    if prefix:
        return order[: int(np.searchsorted(np.cumsum(c), budget, side="right"))]
    take = np.zeros(order.size, dtype=bool)
    left = budget
    cheapest_after = np.minimum.accumulate(c[::-1])[::-1]
    for i in range(order.size):
        if left < cheapest_after[i]:
            break
        if c[i] <= left:
            take[i] = True
            left -= c[i]
    return order[take]


def _check_budget(budget, n_unlabeled: int, total_cost: float | None):
    if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer, np.floating)):
        raise SelectionError(f"budget must be a number, got {budget!r}")
    if not np.isfinite(float(budget)) or budget <= 0:
        raise SelectionError(f"budget must be > 0, got {budget}; pass a positive --budget")
    if total_cost is None:
        if float(budget) != int(budget):
            raise SelectionError(f"budget counts samples and must be an integer, got {budget} (use --budget-cost for cost units)")
        if budget > n_unlabeled:
            raise SelectionError(
                f"budget {int(budget)} exceeds the {n_unlabeled} unlabeled samples in the pool; "
                f"lower --budget to at most {n_unlabeled}"
            )
    elif budget > total_cost:
        raise SelectionError(
            f"budget {budget:g} exceeds the total cost {total_cost:g} of the {n_unlabeled} unlabeled samples; "
            f"lower --budget to at most {total_cost:g}"
        )


def _seed(seed) -> int | None:
    try:
        return check_seed(seed)
    except InvalidInputError as exc:
        raise SelectionError(str(exc)) from None


def _subset_candidates(candidates: np.ndarray, subset, seed: int) -> np.ndarray:
    """Keep a uniformly random ``subset`` of the candidate rows, drawn from its own seeded stream
    (independent of the strategy's), so the same seed gives the same subset for every strategy."""
    if isinstance(subset, bool) or not isinstance(subset, (int, np.integer)) or subset < 1:
        raise SelectionError(f"subset must be a positive integer number of candidates, got {subset!r}; pass --subset M >= 1")
    rows = np.flatnonzero(candidates)
    if subset >= rows.size:
        return candidates
    keep = np.random.default_rng([seed, 0x5B5E7]).choice(rows, size=int(subset), replace=False)
    out = np.zeros_like(candidates)
    out[keep] = True
    return out


def select(pool, strategy: str, budget, *, labeled=None, seed=None, budget_cost: bool = False,
           progress=None, exclude_neighbors=None, per_video: bool = False, subset=None, client=None,
           **params) -> Selection:
    """Select samples to label next.

    Parameters
    ----------
    pool : str, os.PathLike, Pool or mapping
        A pool file path, an open :class:`~alselect.pool.Pool` (or
        :class:`~alselect.pool.MemoryPool`), or a mapping of dataset names to NumPy arrays
        (``{"probs": P, "embeddings": X, "labeled": rows}``, the keywords of
        :func:`alselect.pool.write_pool`), validated as ``alselect pack`` validates them.
    strategy : str
        A strategy name (``alselect strategies`` lists them).
    budget : int or float
        Number of samples; with ``budget_cost=True``, annotation cost units (see the README).
    labeled : array-like of int, optional
        Row numbers labeled in addition to those recorded in the pool; never picked.
    seed : int, optional
        Seeds every random choice (randomised strategies and tie-breaking).
    budget_cost : bool, default False
        Spend ``budget`` in the pool's ``cost`` units instead of samples.
    progress : callable, optional
        Context-manager factory ``progress(label, total)`` yielding an ``update(n)`` callable.
    exclude_neighbors : int, optional
        Video pools: never pick a frame within this many frames of a labeled frame or of an
        earlier pick in the same video (``random`` with it is the thesis's Random+R).
    per_video : bool, default False
        Video pools: at most ceil(budget / V) picks per video before any video gets more
        (V = videos with unlabeled frames); see docs/video.md.
    subset : int, optional
        Random-subset pre-selection: the strategy sees only a seeded uniform random subset of
        ``subset`` unlabeled samples as candidates (all of them when fewer are unlabeled).
    client : dask.distributed.Client, optional
        Run on this Dask cluster: each shard of a sharded pool is read on a worker and only
        candidates travel (docs/scaling.md lists the strategies it supports).
    **params
        Strategy parameters (strings are parsed as on the command line).

    Returns
    -------
    Selection
    """
    if isinstance(pool, Mapping):
        with MemoryPool(pool) as opened:
            return select(opened, strategy, budget, labeled=labeled, seed=seed, budget_cost=budget_cost,
                          progress=progress, exclude_neighbors=exclude_neighbors, per_video=per_video,
                          subset=subset, client=client, **params)
    if not isinstance(pool, (Pool, ShardedPool)):
        if not isinstance(pool, (str, os.PathLike)):
            raise SelectionError(
                f"pool must be a path, an open Pool or a mapping of dataset names to arrays, got {type(pool).__name__}"
            )
        with open_pool(pool) as opened:
            return select(opened, strategy, budget, labeled=labeled, seed=seed, budget_cost=budget_cost,
                          progress=progress, exclude_neighbors=exclude_neighbors, per_video=per_video,
                          subset=subset, client=client, **params)
    spec = get_strategy(strategy)
    parsed = spec.parse_params(params)
    seed = _seed(seed)
    notes: list[str] = []
    if (spec.is_randomized(parsed) or subset is not None) and seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        notes.append(f"no seed given; used seed {seed} (pass --seed {seed} to reproduce)")
    for need in spec.needs:
        pool.require(need, f"strategy '{spec.name}'")
    n = pool.n_rows
    labeled_rows = pool.labeled_rows()
    if labeled is not None:
        extra = np.asarray(labeled)
        if extra.size == 0:
            extra = extra.astype(np.int64)
        try:
            extra = check_row_indices("labeled", extra, n)
        except PoolValueError as exc:  # an argument, not a dataset of the pool
            raise SelectionError(str(exc)) from None
        labeled_rows = np.union1d(labeled_rows, extra)
    candidates = np.ones(n, dtype=bool)
    candidates[labeled_rows] = False
    n_unlabeled = int(candidates.sum())
    if n_unlabeled == 0:
        raise SelectionError("every sample in the pool is already labeled; nothing is left to select")
    if subset is not None:
        candidates = _subset_candidates(candidates, subset, seed)
        if int(candidates.sum()) < n_unlabeled and not budget_cost and isinstance(budget, (int, np.integer)) \
                and budget > int(candidates.sum()):
            raise SelectionError(f"budget {int(budget)} exceeds --subset {int(candidates.sum())}: the strategy may "
                                 f"only pick among the subset; raise --subset to at least {int(budget)}")
        n_unlabeled = int(candidates.sum())
    cost = None
    if budget_cost:
        pool.require("cost", "--budget-cost")
        cost = pool.read("cost", dtype=np.float64)
    _check_budget(budget, n_unlabeled, None if cost is None else float(cost[candidates].sum()))

    ctx = Context(pool=pool, candidates=candidates, labeled=labeled_rows, seed=seed,
                  rng=np.random.default_rng(seed), progress=progress or no_progress, notes=notes,
                  strategy=spec.name)
    if cost is None:
        count = int(budget)
    else:  # the most samples that could fit: the cheapest ones first
        count = int(np.searchsorted(np.cumsum(np.sort(cost[candidates])), budget, side="right"))
        if count == 0:
            raise SelectionError(f"budget {budget:g} is below the cheapest unlabeled sample's cost; raise --budget")
    rules = check_rules(exclude_neighbors, per_video)
    if client is not None:
        from .distributed.select import select_distributed

        if rules.active or cost is not None or subset is not None:
            raise SelectionError("--dask runs without --budget-cost, --exclude-neighbors, --per-video and --subset; "
                                 "drop them or run on one machine")
        indices, out_scores = select_distributed(client, ctx, spec, parsed, count)
        return Selection(indices=indices, scores=out_scores, strategy=spec.name, params=parsed, seed=seed,
                         order=spec.order, cost=None, notes=ctx.notes)
    if rules.active:
        if cost is not None:
            raise SelectionError("--budget-cost cannot be combined with --exclude-neighbors or --per-video; "
                                 "give --budget as a number of samples")
        return _select_temporal(ctx, spec, parsed, rules, count, n, seed)
    result = spec.load()(ctx, count, **parsed)

    if isinstance(result, Ranking):
        scores = np.asarray(result.scores, dtype=np.float64)
        key = -scores if result.ascending else scores
        rows = np.flatnonzero(candidates)
        order = rank_order(key, rows, _tie_keys(n, seed), None if cost is not None else count)
        if cost is not None:
            order = _cost_walk(order, cost, float(budget), prefix=False)
        indices, out_scores = order, scores[order]
    else:
        indices = np.asarray(result.indices, dtype=np.int64)
        out_scores = np.asarray(result.scores, dtype=np.float64)
        if cost is not None:
            indices = _cost_walk(indices, cost, float(budget), prefix=True)
            out_scores = out_scores[: indices.size]
    if indices.size and (not candidates[indices].all() or np.unique(indices).size != indices.size):
        raise InternalError(f"strategy '{spec.name}' returned a labeled or repeated row")
    return Selection(indices=indices, scores=out_scores, strategy=spec.name, params=parsed, seed=seed,
                     order=spec.order, cost=None if cost is None else float(cost[indices].sum()),
                     notes=ctx.notes)


def _select_temporal(ctx: Context, spec, parsed: dict, rules, count: int, n: int, seed) -> Selection:
    """Selection under the temporal rules of :mod:`alselect.temporal`."""
    from .temporal import TemporalState, constrained_ranking, constrained_rounds

    impl = spec.load()
    state = TemporalState(ctx.pool, rules, ctx.candidates.copy(), ctx.labeled, count)
    candidates = ctx.candidates
    ctx.candidates = state.allowed()  # the labeled frames' neighbours are out from the start
    first = impl(ctx, min(count, int(ctx.candidates.sum())), **parsed)
    if isinstance(first, Ranking):
        scores = np.asarray(first.scores, dtype=np.float64)
        key = -scores if first.ascending else scores
        order = rank_order(key, np.flatnonzero(candidates), _tie_keys(n, seed))
        indices = constrained_ranking(state, order, count)
        out_scores = scores[indices]
    else:
        rounds = [first]
        aware = getattr(impl, "honours_picked", False)

        def run_round(allowed, picked, want):
            if rounds:
                result = rounds.pop()
            else:
                if not aware:
                    ctx.note("under the temporal rules this strategy ran in rounds and does not see the picks of "
                             "earlier rounds (they are only excluded)")
                ctx.candidates, ctx.picked = allowed, picked
                if ctx.seed is not None:  # fresh randomness for each restart, reproducible from the seed
                    ctx.seed = int(np.random.SeedSequence([seed, int(picked.size)]).generate_state(1)[0] >> 1)
                    ctx.rng = np.random.default_rng(ctx.seed)
                result = impl(ctx, want, **parsed)
            return result.indices, result.scores

        indices, out_scores = constrained_rounds(state, run_round, count, spec.name)
    if indices.size and (not candidates[indices].all() or np.unique(indices).size != indices.size):
        raise InternalError(f"strategy '{spec.name}' returned a labeled or repeated row")
    return Selection(indices=indices, scores=out_scores, strategy=spec.name, params=parsed, seed=seed,
                     order=spec.order, cost=None, notes=list(dict.fromkeys(ctx.notes)))
