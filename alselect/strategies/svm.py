"""SVM min-margin (thesis chapter 5, "SVM Min Margin", after Tong & Koller).

A linear SVM is trained on the labeled embeddings and the unlabeled samples nearest its
decision boundaries are picked. Multi-class rule (one-vs-rest, as in the thesis):

- one binary linear SVM per class c present among the labeled samples (class c against the
  rest; scikit-learn ``SVC(kernel="linear", C=C)`` inside ``OneVsRestClassifier``), giving
  decision values f_c(x) = w_c . x + b_c; with only two classes present there is one boundary;
- the score of x is its distance to the nearest boundary, min_c |f_c(x)| (``distance=functional``,
  default: in margin units, so x lies inside the margin of boundary c exactly when |f_c(x)| < 1)
  or min_c |f_c(x)| / ||w_c|| (``distance=geometric``: Euclidean distance in embedding space);
- picks go by ascending score: the samples inside some margin first, closest first; when fewer
  than the budget lie inside a margin the rest continue outward. The number of candidates inside a
  margin is reported.
"""

from __future__ import annotations

import numpy as np

from ..contract import Context, Param, Range, Ranking, StrategySpec
from ..errors import SelectionError

DEFAULT_C = 5.0
#: Rows scored per block, so the (block, classes) decision values stay small.
BLOCK_ROWS = 65536


def fit_ovr_svm(X_labeled: np.ndarray, y: np.ndarray, C: float = DEFAULT_C):
    """The one-vs-rest linear SVM of the strategy, fitted (scikit-learn)."""
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import SVC

    return OneVsRestClassifier(SVC(kernel="linear", C=C)).fit(np.asarray(X_labeled, dtype=np.float64), y)


def margin_scores(model, X: np.ndarray, distance: str = "functional") -> np.ndarray:
    """min over boundaries of |f_c(x)| (or |f_c(x)| / ||w_c||), float64, computed block by block."""
    W = np.vstack([np.asarray(est.coef_, dtype=np.float64).reshape(1, -1) for est in model.estimators_])
    b = np.array([float(np.ravel(est.intercept_)[0]) for est in model.estimators_])
    scale = np.linalg.norm(W, axis=1) if distance == "geometric" else np.ones(W.shape[0])
    scale[scale == 0] = np.inf  # a degenerate boundary (w = 0) is never near anything
    out = np.empty(X.shape[0], dtype=np.float64)
    for start in range(0, X.shape[0], BLOCK_ROWS):
        block = np.asarray(X[start:start + BLOCK_ROWS], dtype=np.float64)
        out[start:start + block.shape[0]] = (np.abs(block @ W.T + b) / scale).min(axis=1)
    return out


def _labeled_labels(ctx: Context) -> np.ndarray:
    labels = ctx.labeled_labels("strategy 'svm-margin' (an SVM trained on the labeled samples)")
    present = np.unique(labels)
    if present.size < 2:
        raise SelectionError(
            f"strategy 'svm-margin' needs labeled samples of at least 2 classes to train an SVM; the "
            f"{ctx.labeled.size} labeled samples cover {present.size}; label a few more (e.g. with random) first"
        )
    return labels


def svm_margin(ctx: Context, budget: int, C: float, distance: str) -> Ranking:
    if not C > 0 or not np.isfinite(C):
        raise SelectionError(f"parameter 'C' of strategy 'svm-margin' must be a positive number, got {C}")
    labels = _labeled_labels(ctx)
    X = ctx.read("embeddings", dtype=np.float32)
    model = fit_ovr_svm(X[ctx.labeled], labels, C)
    scores = margin_scores(model, X, distance)
    if distance == "functional":
        inside = int((scores[ctx.candidates] < 1.0).sum())
        ctx.note(f"{inside} of {int(ctx.candidates.sum())} candidates lie inside an SVM margin")
    return Ranking(scores, ascending=True)


# ---- registry entries (metadata only; see alselect.contract)
SPECS = [
    StrategySpec("svm-margin", "samples inside the margin of a one-vs-rest linear SVM on the labeled embeddings, "
                 "closest to a boundary first", ("embeddings",), f"{__name__}:svm_margin",
                 params=(Param("C", DEFAULT_C, "SVM regularisation C (thesis: 5)", type=float,
                               range=Range(0, low_open=True)),
                         Param("distance", "functional", "functional: min_c |f_c(x)| (margin units); geometric: "
                               "min_c |f_c(x)| / ||w_c||", choices=("functional", "geometric"))),
                 reference="thesis §5.4 (SVM Min Margin, C = 5, one-vs-rest)",
                 extra_needs="labels of the labeled samples"),
]
