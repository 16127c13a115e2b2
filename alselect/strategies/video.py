"""Video and detection strategies: temporal-coherence error estimates and the oracle bounds.

Thin adapters over :mod:`alselect.video` (docs/video.md has the algorithms and choices).
"""

from __future__ import annotations

import numpy as np

from ..contract import Context, Param, Range, Ranking, StrategySpec
from ..errors import SelectionError


def temporal_coherence(ctx: Context, budget: int, errors: str, k: int, theta: float) -> Ranking:
    from ..video import temporal_coherence as run

    if k < 1:
        raise SelectionError(f"parameter 'k' of strategy 'temporal-coherence' got {k}; it must be >= 1 frame")
    if not 0.0 <= theta < 1.0:
        raise SelectionError(f"parameter 'theta' of strategy 'temporal-coherence' got {theta}; it must lie in [0, 1)")
    result = run(ctx.pool, k=k, theta=theta, progress=ctx.progress)
    ctx.note(f"graph cut over {result.n_nodes} detections and candidates, {result.n_edges} edges; estimated "
             f"{int(result.fp.sum())} false positives and {int(result.fn.sum())} false negatives")
    score = {"fp": result.fp, "fn": result.fn, "both": result.fp + result.fn}[errors]
    return Ranking(score.astype(np.float64))


def _oracle(ctx: Context, which: int, iou: float) -> Ranking:
    from ..video import oracle_errors

    if not 0.0 <= iou < 1.0:
        raise SelectionError(f"parameter 'iou' of strategy '{ctx.strategy}' got {iou}; it must lie in [0, 1)")
    counts = oracle_errors(ctx.pool, threshold=iou)[which]
    return Ranking(counts.astype(np.float64))


def oracle_fp(ctx: Context, budget: int, iou: float) -> Ranking:
    return _oracle(ctx, 0, iou)


def oracle_fn(ctx: Context, budget: int, iou: float) -> Ranking:
    return _oracle(ctx, 1, iou)


# ---- registry entries (metadata only; see alselect.contract)
_IOU = Param("iou", 0.5, "a detection is correct when its IoU with an unmatched ground-truth box of its class "
             "exceeds this", type=float, range=Range(0, 1, high_open=True))

SPECS = [
    StrategySpec("temporal-coherence", "most estimated detection errors per frame: links across frames by tracked "
                 "boxes, graph cut of the TP/FP/TN/FN energy (exact min-cut)",
                 ("regions/offsets", "regions/boxes", "video/id", "video/frame"), f"{__name__}:temporal_coherence",
                 params=(Param("errors", "fp", "score frames by estimated false positives (thesis), false negatives, "
                               "or both", choices=("fp", "fn", "both")),
                         Param("k", 3, "frames tracked each way (thesis: 3)", type=int, range=Range(1)),
                         Param("theta", 0.5, "IoU above which a detection and a tracked box are linked", type=float,
                               range=Range(0, 1, high_open=True))),
                 reference="thesis §2.3.2, Eq. 2.1-2.4",
                 extra_needs="regions/tracks, or motion/forward and motion/backward"),
    StrategySpec("oracle-fp", "most false positives per frame against the ground-truth boxes (evaluation only)",
                 ("regions/offsets", "regions/boxes", "truth_boxes/offsets", "truth_boxes/boxes"),
                 f"{__name__}:oracle_fp", randomized=True, params=(_IOU,), reference="thesis §2.3.1"),
    StrategySpec("oracle-fn", "most missed ground-truth boxes per frame (evaluation only)",
                 ("regions/offsets", "regions/boxes", "truth_boxes/offsets", "truth_boxes/boxes"),
                 f"{__name__}:oracle_fn", randomized=True, params=(_IOU,), reference="thesis §2.3.1"),
]
