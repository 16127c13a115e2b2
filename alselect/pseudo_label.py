"""Pseudo-labels for the two-model framework (thesis §3.5): the unlabeled samples whose predictions
are most stable (lowest label dispersion over training epochs) or most certain (lowest entropy),
with the current model's predicted label.

- ``by="dispersion"``: ascending dispersion of the per-epoch predictions (``epoch_preds``); many
  samples share dispersion 0, so ties go to the lower entropy of ``probs``, then the lower row.
- ``by="entropy"``: ascending entropy of ``probs``, ties to the lower row.
- The label is the argmax of ``probs`` (ties: the lower class), the prediction of the model A
  that the framework trains the auxiliary model with.

The pool is never modified: pseudo-labels are not labels, and the thesis puts them back into the
unlabeled pool after each cycle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .contract import Context
from .errors import SelectionError
from .pool import Pool, open_pool
from .progress import no_progress
from .validation import check_row_indices

BY = ("dispersion", "entropy")


@dataclass
class PseudoLabels:
    """Rows (most stable/certain first), their predicted labels and the score they were ranked by."""

    indices: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    by: str

    def __len__(self) -> int:
        return len(self.indices)


def pseudo_labels(pool, count: int, *, by: str = "dispersion", labeled=None, progress=None) -> PseudoLabels:
    """The ``count`` most stable (``by="dispersion"``) or most certain (``by="entropy"``) unlabeled
    samples of ``pool`` (a path or an open :class:`~alselect.pool.Pool`) with predicted labels.
    ``labeled`` adds rows to the pool's labeled set; labeled rows are never returned."""
    if not isinstance(pool, Pool):
        if not isinstance(pool, (str, os.PathLike)):
            raise SelectionError(f"pool must be a path or an open Pool, got {type(pool).__name__}")
        with open_pool(pool) as opened:
            return pseudo_labels(opened, count, by=by, labeled=labeled, progress=progress)
    if by not in BY:
        raise SelectionError(f"by must be one of {', '.join(BY)}, got {by!r}")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise SelectionError(f"count must be a positive integer, got {count!r}; pass --count K >= 1")
    from .kernels import uncertainty as kernels
    from .strategies.uncertainty import stream_scores

    n = pool.n_rows
    labeled_rows = pool.labeled_rows()
    if labeled is not None:
        extra = np.asarray(labeled)
        labeled_rows = np.union1d(labeled_rows, check_row_indices("labeled", extra.astype(np.int64) if extra.size == 0
                                                                  else extra, n))
    candidates = np.ones(n, dtype=bool)
    candidates[labeled_rows] = False
    rows = np.flatnonzero(candidates)
    if count > rows.size:
        raise SelectionError(f"--count {count} exceeds the {rows.size} unlabeled samples; lower it to at most {rows.size}")
    if by == "dispersion":
        pool.require("epoch_preds", "pseudo-labels by dispersion")
    ctx = Context(pool=pool, candidates=candidates, labeled=labeled_rows, seed=None, rng=np.random.default_rng(0),
                  progress=progress or no_progress, strategy="pseudo-label")
    entropy = stream_scores(ctx, "probs", kernels.entropy)
    if by == "dispersion":
        primary = stream_scores(ctx, "epoch_preds", kernels.dispersion, dtype=np.int64)
        order = rows[np.lexsort((rows, entropy[rows], primary[rows]))]
    else:
        primary = entropy
        order = rows[np.lexsort((rows, entropy[rows]))]
    order = order[:count]
    labels = np.empty(order.size, dtype=np.int64)
    # argmax of probs for the chosen rows only, read block by block
    position = {int(r): i for i, r in enumerate(order)}
    for start, block in pool.iter_rows("probs"):
        stop = start + block.shape[0]
        inside = order[(order >= start) & (order < stop)]
        if inside.size:
            labels[[position[int(r)] for r in inside]] = np.argmax(block[inside - start], axis=1)
    return PseudoLabels(indices=order, labels=labels, scores=primary[order], by=by)
