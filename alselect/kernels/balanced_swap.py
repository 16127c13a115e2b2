"""Best-improvement 1-swap descent for the class-balanced program (Eq. 4.8 / 4.9).

Pure numba kernel, no I/O. ``F(z) = -u^T z + lam * ||r||_1`` with ``r = Omega - P^T z``;
swapping a selected row ``s`` for an unselected row ``a`` changes ``F`` by
``u_s - u_a + lam * (||r + p_s - p_a||_1 - ||r||_1)``, which is at least
``u_s - u_a - lam * min(||r||_1, 2)`` (rows sum to 1): pairs whose bound cannot beat the
best swap so far are skipped without touching their C entries.
"""

from __future__ import annotations

import numba


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
        for i in range(C):
            r[i] += PS[bs, i] - PU[ba, i]
            t = PS[bs, i]
            PS[bs, i] = PU[ba, i]
            PU[ba, i] = t
        t = us[bs]
        us[bs] = uu[ba]
        uu[ba] = t
        k = ids_s[bs]
        ids_s[bs] = ids_u[ba]
        ids_u[ba] = k
        done += 1
    return done
