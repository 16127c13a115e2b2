"""Class-balanced selection (thesis chapter 4): the L1-balanced program and balanced k-center.

Ω, the number of samples each class still needs (Eq. 4.4), is derived from the pool:

- n_i counts the labeled samples of class i (the pool's ``labels``; every labeled row must
  have a known label);
- b is this cycle's budget; b0 the labeled-set size at the first cycle; c the cycle number.
  With neither ``-p b0`` nor ``-p cycle`` given, both come from the pool's labeling history
  (``alselect label``: b0 = the labeled rows the history did not label, c = the cycle after
  the last recorded one); without a history this is the first cycle (c = 1, b0 = the
  current labeled count). With only ``cycle``: b0 = labeled count − (c − 1)·b. With only
  ``b0``: c = round((labeled count − b0) / b) + 1.
"""

from __future__ import annotations

import numpy as np

from ..contract import SEQUENTIAL, Context, Param, Picks, Range, StrategySpec
from ..errors import InvalidInputError, SelectionError
from .uncertainty import stream_scores


def _target(spec: str, n_classes: int):
    if spec in ("", "uniform"):
        return None
    from ..inputs import read_lines

    try:
        values = np.array([float(v) for v in read_lines(spec, "-p target")], dtype=np.float64)
    except ValueError:
        raise SelectionError(f"-p target: '{spec}' must hold one number per line (a class distribution)") from None
    if values.shape != (n_classes,) or (values < 0).any() or values.sum() <= 0:
        raise SelectionError(
            f"-p target: '{spec}' must hold {n_classes} non-negative numbers (one per class), got {values.size}"
        )
    return values / values.sum()


def omega_for(ctx: Context, budget: int, b0: int, cycle: int, target: str) -> np.ndarray:
    """Ω for this selection, with the defaults described in the module docstring."""
    from ..balance import infer_cycle, omega

    from ..labeling.history import history_defaults

    n_labeled = int(ctx.labeled.size)
    recorded = history_defaults(ctx.pool) if b0 < 0 and cycle <= 0 else None
    if recorded is not None:  # the pool's labeling history says where this loop stands
        b0, cycle = min(recorded[0], n_labeled), recorded[1]
    elif b0 < 0 and cycle <= 0:
        b0, cycle = n_labeled, 1
    elif b0 < 0:
        b0 = n_labeled - (cycle - 1) * budget
        if b0 < 0:
            raise SelectionError(
                f"-p cycle={cycle} with budget {budget} implies a negative initial labeled-set size "
                f"({n_labeled} labeled now); pass -p b0= explicitly"
            )
    elif cycle <= 0:
        cycle = infer_cycle(n_labeled, budget, b0)
    om = omega(ctx.labeled_labels("class balancing"), ctx.pool.n_classes, budget, b0=b0, cycle=cycle,
               target=_target(target, ctx.pool.n_classes))
    ctx.note(f"Omega for cycle {cycle} (b={budget}, b0={b0}): {om.sum():.1f} samples still needed over "
             f"{int((om > 0).sum())} classes")
    return om


def _informativeness(ctx: Context, uncertainty: str, score_name: str) -> np.ndarray:
    from ..kernels import uncertainty as K

    if uncertainty == "entropy":
        return stream_scores(ctx, "probs", K.entropy)
    if uncertainty == "least-confidence":
        return stream_scores(ctx, "probs", K.least_confidence)
    if uncertainty == "margin":  # a smaller best-vs-second gap is more informative
        return 1.0 - stream_scores(ctx, "probs", K.margin)
    if uncertainty == "bald":
        return stream_scores(ctx, "mc_probs", K.bald)
    name, _, order = score_name.partition(":")
    if not name:
        raise SelectionError("-p uncertainty=score needs -p score=NAME[:asc] naming a score in the pool's 'scores' group")
    ctx.require(f"scores/{name}")
    values = ctx.read(f"scores/{name}", dtype=np.float64)
    return -values if order == "asc" else values  # asc: smaller = more informative (e.g. VAAL)


def lam_value(text):
    """``-p lam=``: a number >= 0, or ``auto`` (λ chosen by the knee rule of a sweep)."""
    if isinstance(text, str) and text.strip().lower() == "auto":
        return "auto"
    value = float(text)
    if not np.isfinite(value) or value < 0:
        raise InvalidInputError("lam must be a finite number >= 0 or 'auto'")
    return value


def _balance_notes(ctx: Context, P: np.ndarray, picks: np.ndarray, info_term: float, l1: float, lam: float) -> None:
    from ..balance import balance_score, class_histogram

    labels = ctx.labeled_labels("class balancing")
    predicted = np.argmax(P[np.sort(picks)], axis=1)
    score = balance_score(class_histogram(np.concatenate([labels, predicted]), P.shape[1]))
    info = "" if np.isnan(info_term) else f"informativeness term sum(u) = {info_term:.6g}, "
    ctx.note(f"objective terms: {info}L1 term ||Omega - P^T z||_1 = {l1:.6g} (lam * L1 = {lam * l1:.6g}); "
             f"L1 balance score (Eq. 4.10) of labeled + picks (picks by predicted class) = {score:.4f}")


def _choose_lam(ctx: Context, points) -> float:
    from ..balance_sweep import knee, sweep_table

    k = knee([p.lam for p in points], [p.l1_term for p in points])
    for line in sweep_table(points, k):
        ctx.note(f"lam sweep: {line}")
    lam = points[k].lam
    ctx.note(f"lam=auto chose lam={lam:g} (knee of the L1 term, docs/class-balance.md); "
             f"reuse it in later cycles with -p lam={lam:g}")
    return lam


def balanced(ctx: Context, budget: int, lam, uncertainty: str, score: str, b0: int, cycle: int, target: str,
             time_limit: float, gap: float, lam_grid: str) -> Picks:
    from ..balance import solve_balanced
    from ..balance_sweep import sweep_balanced

    informative = _informativeness(ctx, uncertainty, score)
    om = omega_for(ctx, budget, b0, cycle, target)
    P = ctx.read("probs")  # storage dtype: the probability check uses its tolerance
    cand = np.flatnonzero(ctx.candidates)
    limit = time_limit if time_limit > 0 else None
    initial = None
    if lam == "auto":
        from ..balance_sweep import parse_grid

        grid = parse_grid(lam_grid)
        with ctx.progress("balanced: lam sweep", len(grid)) as update:
            points = sweep_balanced(informative, P, om, budget, grid, candidates=cand, progress=update)
        lam = _choose_lam(ctx, points)
        initial = next(p.picks for p in points if p.lam == lam)
    result = solve_balanced(informative, P, om, budget, lam, time_limit=limit, candidates=cand, gap_tol=gap,
                            initial=initial)
    ctx.note(f"solver status {result.status}, objective {result.objective:.6g}, certified lower bound "
             f"{result.lower_bound:.6g}, gap {result.gap:.2e}, LP fractional variables {result.lp_fractional_count}, "
             f"solve time {result.solve_time:.2f} s")
    _balance_notes(ctx, P, result.picks, result.informativeness_term, result.l1_term, lam)
    return Picks(result.picks, informative[result.picks])


def balanced_kcenter(ctx: Context, budget: int, lam, b0: int, cycle: int, target: str, scale: str,
                     lam_grid: str) -> Picks:
    from ..balance import balanced_kcenter as run

    X = ctx.read("embeddings")  # storage dtype: distances are float64 sums of the stored values
    P = ctx.read("probs")
    om = omega_for(ctx, budget, b0, cycle, target)
    first = None
    if ctx.labeled.size == 0:  # same first pick as `kcenter`: the largest-norm candidate, ties lowest row
        norms = np.einsum("ij,ij->i", X, X, dtype=np.float64)
        norms[~ctx.candidates] = -1.0
        first = int(np.argmax(norms))
    kwargs = dict(labeled=ctx.labeled, candidates=np.flatnonzero(ctx.candidates), scale=scale, first=first)
    if lam == "auto":
        from ..balance_sweep import parse_grid, sweep_balanced_kcenter

        grid = parse_grid(lam_grid)
        with ctx.progress("balanced-kcenter: lam sweep", len(grid)) as update:
            points = sweep_balanced_kcenter(X, P, om, budget, grid, progress=update, **kwargs)
        lam = _choose_lam(ctx, points)
        picks = next(p.picks for p in points if p.lam == lam)
    else:
        with ctx.progress("balanced-kcenter: picking", budget) as update:
            picks = run(X, P, om, budget, lam, progress=update, **kwargs)
    l1 = float(np.abs(om - P[np.sort(picks)].sum(axis=0)).sum())
    _balance_notes(ctx, P, picks, float("nan"), l1, lam)
    return Picks(picks, np.full(picks.shape[0], np.nan))


# ---- registry entries (metadata only; see alselect.contract)
_OMEGA = (Param("b0", -1, "labeled-set size at the first cycle (-1: derived, see docs/class-balance.md)", type=int,
                range=Range(-1)),
          Param("cycle", 0, "active-learning cycle c of Eq. 4.4 (0: derived from b0, or 1)", type=int, range=Range(0)),
          Param("target", "uniform", "target class distribution: uniform, or a file with one weight per class"))

_GRID = Param("lam_grid", "", "with lam=auto: comma-separated lambda values (default: 0 and 19 log-spaced "
              "values from 0.01 to 100)")

SPECS = [
    StrategySpec("balanced", "most informative samples under an L1 class-balance penalty, solved exactly (MIP)",
                 ("probs",), f"{__name__}:balanced", order=SEQUENTIAL,
                 params=(Param("lam", 1.0, "weight lambda of the L1 balance term, or auto: sweep lam_grid and take "
                               "the knee of the L1 term (thesis Fig. 4.4; docs/class-balance.md)", type=lam_value),
                         Param("uncertainty", "entropy", "informativeness u: entropy (Eq. 4.7), bald, margin, "
                               "least-confidence, or score (Eq. 4.9)",
                               choices=("entropy", "bald", "margin", "least-confidence", "score")),
                         Param("score", "", "with uncertainty=score: NAME of the pool score, NAME:asc when smaller is more "
                               "informative (VAAL)"),
                         *_OMEGA,
                         Param("time_limit", 10.0, "seconds; when hit, the best selection found and its certified "
                               "gap are returned (0 = no limit)", type=float, range=Range(0)),
                         Param("gap", 1e-4, "relative optimality gap at which the solve stops (0 = exact optimum)",
                               type=float, range=Range(0)),
                         _GRID),
                 reference="thesis §4.4, Eq. 4.4-4.9, Algorithm 1",
                 extra_needs="labels of the labeled samples; mc_probs for uncertainty=bald; scores/<name> for uncertainty=score"),
    StrategySpec("balanced-kcenter", "k-center greedy with the class-balance penalty (thesis Algorithm 2)",
                 ("probs", "embeddings"), f"{__name__}:balanced_kcenter", order=SEQUENTIAL,
                 params=(Param("lam", 1.0, "weight lambda of the L1 balance penalty, or auto: knee of the L1 term "
                               "over lam_grid (one greedy run per grid value)", type=lam_value), *_OMEGA,
                         Param("scale", "paper", "paper: lambda as written; code: lambda / C as in the authors' code",
                               choices=("paper", "code")),
                         _GRID),
                 reference="thesis §4.4, Algorithm 2",
                 extra_needs="labels of the labeled samples"),
]
