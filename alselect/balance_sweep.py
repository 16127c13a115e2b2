"""Choosing λ for class-balanced selection: a λ sweep and the thesis's knee rule.

The thesis (§4.4.1, Fig. 4.4) sweeps λ and keeps the smallest λ after which the L1 term
``||Omega - P^T z||_1`` stops falling.  :func:`knee` makes that rule exact;
:func:`sweep_balanced` and :func:`sweep_balanced_kcenter` produce the curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InvalidInputError

#: Default λ grid of a sweep: 0 and 19 log-spaced values from 0.01 to 100, to 3 significant digits (20 points).
DEFAULT_GRID = (0.0,) + tuple(float(f"{v:.3g}") for v in np.logspace(-2, 2, 19))
#: Knee: the first λ whose L1 term is within this fraction of the total fall of the curve.
KNEE_FRACTION = 0.05
#: ... or within this absolute amount (in samples) of the curve's floor.
KNEE_ABS = 1e-6
#: Certified gap asked of each solve of a sweep (the final solve uses the caller's).
SWEEP_GAP = 1e-3
#: Wall seconds allowed to each solve of a sweep.
SWEEP_TIME_LIMIT = 1.0


@dataclass
class SweepPoint:
    """One solve of a sweep: λ, both terms of the objective and the certificate."""

    lam: float
    l1_term: float
    informativeness_term: float
    objective: float = float("nan")
    gap: float = 0.0
    status: str = ""
    seconds: float = 0.0
    picks: np.ndarray = field(default=None, repr=False)


def parse_grid(text) -> tuple[float, ...]:
    """A λ grid from ``"0,0.1,1"`` (or a sequence); empty = :data:`DEFAULT_GRID`."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return DEFAULT_GRID
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        grid = [float(v) for v in items]
    except (TypeError, ValueError):
        raise InvalidInputError(f"lam_grid must be comma-separated numbers, got {text!r}; "
                                "e.g. 0,0.1,0.3,1,3,10") from None
    if len(grid) < 2 or not all(np.isfinite(grid)) or min(grid) < 0:
        raise InvalidInputError(f"lam_grid needs at least two finite values >= 0, got {text!r}")
    grid = sorted(set(grid))
    return tuple(grid)


def knee(lams, l1, *, fraction=KNEE_FRACTION, abs_tol=KNEE_ABS) -> int:
    """Index of the knee of an L1-term curve.

    With ``L_k`` the L1 term at ``lams[k]`` (increasing λ), ``L_min = min_k L_k`` and the
    fall ``D = L_0 - L_min``, the knee is the smallest ``k`` with

        ``L_k - L_min <= max(fraction * D, abs_tol)``

    i.e. the first λ from which raising λ can lower the L1 term by at most 5 % of what
    balancing achieves over the whole grid.  A flat curve (``D = 0``) gives ``k = 0``.
    """
    lams = np.asarray(lams, dtype=np.float64)
    L = np.asarray(l1, dtype=np.float64)
    if lams.ndim != 1 or lams.shape != L.shape or lams.size == 0:
        raise InvalidInputError(f"knee needs two 1-D arrays of the same length, got {lams.shape} and {L.shape}")
    if np.any(np.diff(lams) <= 0):
        raise InvalidInputError("knee needs lams in increasing order")
    if not np.all(np.isfinite(L)):
        raise InvalidInputError("knee needs finite L1 values")
    floor = L.min()
    tol = max(fraction * max(L[0] - floor, 0.0), abs_tol)
    return int(np.flatnonzero(L - floor <= tol)[0])


def sweep_balanced(u, P, omega, budget, lams=DEFAULT_GRID, *, candidates=None, gap_tol=SWEEP_GAP,
                   time_limit=SWEEP_TIME_LIMIT, progress=None):
    """Solve Eq. 4.8/4.9 along an increasing λ grid, each solve warm-started from the previous.

    Returns a list of :class:`SweepPoint` (one per λ).  ``time_limit`` applies to each
    solve; ``progress(1)`` is called after each.
    """
    from .balance import solve_balanced

    grid = parse_grid(lams)
    out, prev = [], None
    for lam in grid:
        res = solve_balanced(u, P, omega, budget, lam, candidates=candidates, gap_tol=gap_tol,
                             time_limit=time_limit, initial=prev)
        prev = res.picks
        out.append(SweepPoint(lam, res.l1_term, res.informativeness_term, res.objective, res.gap,
                              res.status, res.solve_time, res.picks))
        if progress is not None:
            progress(1)
    return out


def sweep_balanced_kcenter(X, P, omega, budget, lams=DEFAULT_GRID, *, progress=None, **kwargs):
    """Algorithm 2 along a λ grid (keyword arguments go to :func:`alselect.balance.balanced_kcenter`).

    Only the L1 term is reported: the greedy has no informativeness term (NaN).
    """
    import time

    from .balance import balanced_kcenter

    grid = parse_grid(lams)
    om = np.asarray(omega, dtype=np.float64)
    out = []
    for lam in grid:
        t = time.perf_counter()
        picks = balanced_kcenter(X, P, om, budget, lam, **kwargs)
        l1 = float(np.abs(om - np.asarray(P[np.sort(picks)], dtype=np.float64).sum(axis=0)).sum())
        out.append(SweepPoint(lam, l1, float("nan"), seconds=time.perf_counter() - t, picks=picks))
        if progress is not None:
            progress(1)
    return out


def sweep_table(points, chosen: int) -> list[str]:
    """The sweep as text lines (λ, L1 term, informativeness term, gap, seconds; * = knee)."""
    lines = [f"{'lam':>10} {'L1 term':>12} {'informativeness':>16} {'gap':>9} {'s':>6}"]
    for k, p in enumerate(points):
        info = "" if np.isnan(p.informativeness_term) else f"{p.informativeness_term:.4f}"
        gap = "" if p.status == "" else f"{p.gap:.1e}"
        lines.append(f"{p.lam:>10.4g} {p.l1_term:>12.4f} {info:>16} {gap:>9} {p.seconds:>6.2f}"
                     f"{'  <- knee' if k == chosen else ''}")
    return lines
