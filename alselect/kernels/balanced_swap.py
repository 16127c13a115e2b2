"""Best-improvement 1-swap descent for the class-balanced program (Eq. 4.8 / 4.9).

Pure numba kernel, no I/O. ``F(z) = -u^T z + lam * ||r||_1`` with ``r = Omega - P^T z``;
swapping a selected row ``s`` for an unselected row ``a`` changes ``F`` by
``u_s - u_a + lam * (||r + p_s - p_a||_1 - ||r||_1)``, which is at least
``u_s - u_a - lam * min(||r||_1, 2)`` (rows sum to 1): pairs whose bound cannot beat the
best swap so far are skipped without touching their C entries.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, no_cpython_wrapper=True)
def _apply_swap(PS, us, ids_s, PU, uu, ids_u, r, s, a):
    """Exchange selected column ``s`` with unselected column ``a``, in place, updating the
    residual ``r`` of the class rows."""
    for i in range(r.size):
        r[i] += PS[s, i] - PU[a, i]
        t = PS[s, i]
        PS[s, i] = PU[a, i]
        PU[a, i] = t
    t = us[s]
    us[s] = uu[a]
    uu[a] = t
    k = ids_s[s]
    ids_s[s] = ids_u[a]
    ids_u[a] = k


@numba.njit(cache=True, nogil=True)
def swap_descent(PS, us, ids_s, PU, uu, ids_u, r, lam, max_swaps, min_gain):
    """Apply up to ``max_swaps`` best-improvement swaps between two bands, in place.

    ``PS`` / ``us`` / ``ids_s``: rows, informativeness and ids of the selected band;
    ``PU`` / ``uu`` / ``ids_u``: the same for the unselected band; ``r`` (float64, C):
    the residual of the whole selection, updated in place.  A swap is applied only
    when it lowers ``F`` by more than ``min_gain * (1 + ||r||_1)``.  Returns the
    number of swaps applied (fewer than ``max_swaps``: a local optimum was reached).
    """
    ks, C = PS.shape
    ku = PU.shape[0]
    done = 0
    for _ in range(max_swaps):
        R = 0.0
        for i in range(C):
            R += abs(r[i])
        best = -min_gain * (1.0 + R)
        reach = lam * min(R, 2.0)
        bs = -1
        ba = -1
        for a in range(ku):
            for s in range(ks):
                d = us[s] - uu[a]
                if d - reach >= best:
                    continue
                acc = 0.0
                for i in range(C):
                    acc += abs(r[i] + PS[s, i] - PU[a, i])
                val = d + lam * (acc - R)
                if val < best:
                    best = val
                    bs = s
                    ba = a
        if bs < 0:
            break
        _apply_swap(PS, us, ids_s, PU, uu, ids_u, r, bs, ba)
        done += 1
    return done


@numba.njit(cache=True, nogil=True)
def _band_value(us, r, lam):
    """``-sum(us) + lam * ||r||_1``: F up to the constant of the selected rows outside the band."""
    acc = 0.0
    for i in range(r.size):
        acc += abs(r[i])
    return -us.sum() + lam * acc


@numba.njit(cache=True, nogil=True)
def kick_descent(PS, us, ids_s, PU, uu, ids_u, r, lam, rounds, max_kick, seed, min_gain, max_swaps):
    """Iterated local search from a 1-swap local optimum, in place.

    Each round copies the best state, applies 1..``max_kick`` random swaps between the
    two bands (the kick), runs :func:`swap_descent` for at most ``max_swaps`` swaps and
    keeps the result when it lowers ``F`` by more than ``min_gain * (1 + ||r||_1)``.
    The arrays hold the best state on return.  ``seed`` fixes the kicks, so a given
    ``(state, rounds, seed)`` always gives the same result.  Returns the number of
    rounds that improved ``F``.
    """
    np.random.seed(seed)
    ks = PS.shape[0]
    ku = PU.shape[0]
    wPS = PS.copy()
    wPU = PU.copy()
    wus = us.copy()
    wuu = uu.copy()
    wis = ids_s.copy()
    wiu = ids_u.copy()
    wr = r.copy()
    best = _band_value(us, r, lam)
    improved = 0
    for _ in range(rounds):
        wPS[:, :] = PS
        wPU[:, :] = PU
        wus[:] = us
        wuu[:] = uu
        wis[:] = ids_s
        wiu[:] = ids_u
        wr[:] = r
        for _k in range(np.random.randint(1, max_kick + 1)):
            s = np.random.randint(0, ks)
            a = np.random.randint(0, ku)
            _apply_swap(wPS, wus, wis, wPU, wuu, wiu, wr, s, a)
        swap_descent(wPS, wus, wis, wPU, wuu, wiu, wr, lam, max_swaps, min_gain)
        val = _band_value(wus, wr, lam)
        R = 0.0
        for i in range(wr.size):
            R += abs(wr[i])
        if val < best - min_gain * (1.0 + R):
            best = val
            improved += 1
            PS[:, :] = wPS
            PU[:, :] = wPU
            us[:] = wus
            uu[:] = wuu
            ids_s[:] = wis
            ids_u[:] = wiu
            r[:] = wr
    return improved
