"""The kick-and-descend search of the balanced solver against slow references."""

import numpy as np
import pytest

from alselect.kernels.balanced_swap import kick_descent, swap_descent


def bands(rng, ks, ku, C):
    PS = rng.dirichlet(np.full(C, 0.4), ks)
    PU = rng.dirichlet(np.full(C, 0.4), ku)
    us, uu = rng.uniform(0, 2, ks), rng.uniform(0, 2, ku)
    r = rng.uniform(-1, 1, C)
    return PS, us, np.arange(ks), PU, uu, np.arange(ks, ks + ku), r


def value(us, r, lam):
    return -us.sum() + lam * np.abs(r).sum()


def best_single_swap(PS, us, PU, uu, r, lam):
    """Largest decrease of F by one swap, by enumeration."""
    base = value(us, r, lam)
    best = 0.0
    for s in range(us.size):
        for a in range(uu.size):
            v = -(us.sum() - us[s] + uu[a]) + lam * np.abs(r + PS[s] - PU[a]).sum()
            best = min(best, v - base)
    return best


@pytest.mark.parametrize("lam", [0.5, 5.0, 100.0])
def test_kick_descent_keeps_state_consistent_and_never_worsens(lam):
    rng = np.random.default_rng(int(lam * 10))
    C = 6
    PS, us, ids_s, PU, uu, ids_u, r = bands(rng, 12, 15, C)
    rows = np.vstack([PS, PU])
    urow = np.r_[us, uu]
    r_full = r + PS.sum(axis=0)          # residual with nothing of the bands selected
    swap_descent(PS, us, ids_s, PU, uu, ids_u, r, lam, 1000, 1e-12)
    start = value(us, r, lam)
    kick_descent(PS, us, ids_s, PU, uu, ids_u, r, lam, 400, 3, 7, 1e-12, 64)
    # the arrays describe one selection: rows, values and residual agree with the ids
    assert sorted(np.r_[ids_s, ids_u]) == list(range(27))
    np.testing.assert_allclose(PS, rows[ids_s], atol=0)
    np.testing.assert_allclose(us, urow[ids_s], atol=0)
    np.testing.assert_allclose(r, r_full - rows[ids_s].sum(axis=0), atol=1e-12)
    assert value(us, r, lam) <= start + 1e-12
    # and the result is still a 1-swap local optimum
    assert best_single_swap(PS, us, PU, uu, r, lam) >= -1e-9 * (1 + np.abs(r).sum())


def test_kick_descent_is_deterministic_for_a_seed():
    rng = np.random.default_rng(3)
    a = bands(rng, 10, 10, 5)
    b = [x.copy() for x in a]
    kick_descent(*a, 20.0, 300, 3, 11, 1e-12, 64)
    kick_descent(*b, 20.0, 300, 3, 11, 1e-12, 64)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_kick_descent_escapes_a_single_swap_local_optimum():
    """Two rows must be exchanged together: each single swap unbalances, the pair does not."""
    lam = 10.0
    e = np.eye(4)
    half = 0.5 * (e[0] + e[1])
    PS, us, ids_s = np.array([e[0], e[1]]), np.zeros(2), np.array([0, 1])
    PU, uu, ids_u = np.array([half, half]), np.ones(2), np.array([2, 3])
    r = np.zeros(4)
    assert best_single_swap(PS, us, PU, uu, r, lam) == 0.0     # each swap costs -1 + lam * 1 = +9
    assert swap_descent(PS.copy(), us.copy(), ids_s.copy(), PU.copy(), uu.copy(), ids_u.copy(), r.copy(),
                        lam, 10, 1e-12) == 0
    assert kick_descent(PS, us, ids_s, PU, uu, ids_u, r, lam, 50, 1, 0, 1e-12, 64) >= 1
    assert sorted(ids_s) == [2, 3]
    assert value(us, r, lam) == pytest.approx(-2.0)
