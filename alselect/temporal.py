"""Temporal representativeness on video pools: ``--exclude-neighbors K`` and ``--per-video``.

Rules (docs/video.md):

* exclude-neighbors K: never pick a frame within K frames (same video, by frame number) of a
  labeled frame or of an earlier pick of the same selection.
* per-video: with V videos holding unlabeled frames and a budget of b samples, no video gets
  more than q = ceil(b / V) picks while another video can still take one; when no allowed
  frame is left under the cap, the cap rises by q.

Ranking strategies: the ranked list is walked in order, skipping rows that break a rule.
Sequential strategies: the engine runs in rounds. Each round starts the strategy from the
picks accepted so far (passed as :attr:`Context.picked`, which the engine treats as earlier
picks) with only the allowed rows as candidates; its picks are accepted up to the first one
a rule rejects, which is discarded with everything after it. Because every accepted pick
was the engine's best (k-center: farthest) over a superset of the rows allowed at that
moment, the accepted sequence is exactly the greedy sequence of the constrained problem:
at each step, the best pick among the rows the rules allow at that step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InternalError, SelectionError


@dataclass
class TemporalRules:
    exclude: int | None  # K, or None
    per_video: bool

    @property
    def active(self) -> bool:
        return self.exclude is not None or self.per_video


def check_rules(exclude_neighbors, per_video) -> TemporalRules:
    if exclude_neighbors is not None:
        if isinstance(exclude_neighbors, bool) or not isinstance(exclude_neighbors, (int, np.integer)) \
                or exclude_neighbors < 0:
            raise SelectionError(
                f"exclude_neighbors must be a non-negative integer number of frames, got {exclude_neighbors!r}"
            )
        exclude_neighbors = int(exclude_neighbors)
    return TemporalRules(exclude=exclude_neighbors, per_video=bool(per_video))


class TemporalState:
    """The rules' bookkeeping over one selection: blocked rows and picks per video."""

    def __init__(self, pool, rules: TemporalRules, candidates: np.ndarray, labeled: np.ndarray, count: int):
        from .kernels import video as kv
        from .video import video_index

        flag = "--exclude-neighbors" if rules.exclude is not None else "--per-video"
        self.index = video_index(pool, flag)
        self.rules = rules
        self.kv = kv
        ix = self.index
        self.svideo = ix.video[ix.order]
        self.sframe = ix.frame[ix.order]
        self.blocked = np.zeros(pool.n_rows, dtype=bool)
        self.radius = rules.exclude if rules.exclude is not None else 0
        if rules.exclude is not None:
            for r in labeled:
                kv.block_neighbours(int(ix.position[r]), ix.order, self.svideo, self.sframe, self.blocked, self.radius)
        videos_open = np.unique(ix.video[candidates])
        self.n_videos = ix.n_videos
        self.quota_step = int(np.ceil(count / max(1, videos_open.size))) if rules.per_video else count + 1
        self.quota = self.quota_step
        self.per = np.zeros(ix.n_videos, dtype=np.int64)
        self.candidates = candidates

    def walk(self, order: np.ndarray, count: int) -> np.ndarray:
        kv, ix = self.kv, self.index
        return kv.constrained_walk(order.astype(np.int64), int(count), ix.position, ix.order, self.svideo,
                                   self.sframe, ix.video, self.blocked, self.radius, self.rules.exclude is not None,
                                   self.rules.per_video, ix.n_videos, self.quota_step)

    # -- sequential rounds
    def allowed(self) -> np.ndarray:
        mask = self.candidates & ~self.blocked
        if self.rules.per_video:
            mask &= self.per[self.index.video] < self.quota
        return mask

    def accepts(self, row: int) -> bool:
        if self.blocked[row] and self.rules.exclude is not None:
            return False
        return not (self.rules.per_video and self.per[self.index.video[row]] >= self.quota)

    def take(self, row: int) -> None:
        ix = self.index
        self.per[ix.video[row]] += 1
        if self.rules.exclude is not None:
            self.kv.block_neighbours(int(ix.position[row]), ix.order, self.svideo, self.sframe, self.blocked,
                                     self.radius)
        self.blocked[row] = True  # never twice

    def widen(self) -> bool:
        """Raise the per-video cap when nothing is allowed under it; False when nothing can be."""
        if not self.rules.per_video or not (self.candidates & ~self.blocked).any():
            return False
        self.quota += self.quota_step
        return True


def constrained_ranking(state: TemporalState, order: np.ndarray, count: int) -> np.ndarray:
    picks = state.walk(order, count)
    if picks.size < count:
        raise SelectionError(
            f"only {picks.size} frames satisfy the temporal rules (--exclude-neighbors {state.rules.exclude}); "
            f"lower --budget to at most {picks.size} or the exclusion radius"
        )
    return picks


def constrained_rounds(state: TemporalState, run_round, count: int, strategy: str):
    """Run a sequential strategy in rounds until ``count`` picks satisfy the rules.

    ``run_round(candidates, picked, budget)`` returns ``(indices, scores)`` in pick order.
    """
    picks: list[int] = []
    scores: list[float] = []
    while len(picks) < count:
        allowed = state.allowed()
        available = int(allowed.sum())
        if available == 0:
            if state.widen():
                continue
            raise SelectionError(
                f"only {len(picks)} frames satisfy the temporal rules (--exclude-neighbors {state.rules.exclude}); "
                f"lower --budget to at most {len(picks)} or the exclusion radius"
            )
        want = min(count - len(picks), available)
        idx, sc = run_round(allowed, np.asarray(picks, dtype=np.int64), want)
        idx = np.asarray(idx, dtype=np.int64)
        sc = np.asarray(sc, dtype=np.float64)
        accepted = 0
        for q in range(idx.size):
            r = int(idx[q])
            if not allowed[r]:
                break
            if not state.accepts(r):
                break
            state.take(r)
            picks.append(r)
            scores.append(float(sc[q]))
            accepted += 1
            if len(picks) == count:
                break
        if accepted == 0:
            raise InternalError(f"strategy '{strategy}' picked a row outside its candidates")
    return np.asarray(picks, dtype=np.int64), np.asarray(scores, dtype=np.float64)
