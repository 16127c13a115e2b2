"""D² sampling as an exponential race: the draw of k-means++ / BADGE / UWE, shard by shard.

Pick ``t`` gives every pickable row ``i`` the key ``E_i / w_i`` with ``E_i = -log U_i`` and
``U_i`` in (0, 1] a counter-based hash of (seed, t, global row) (``alselect.rowkeys.
race_uniforms``); the row of smallest key is picked (ties: lowest row). The ``E_i`` are
independent Exp(1), so ``P(i) = w_i / sum_j w_j`` exactly, and the winner depends only on the
seed, the pick, the global rows and their weights: a shard's winner is the smallest key among
its rows, and the pool's winner the smallest shard winner, whatever the sharding. No global
sum is formed, so there is no summation order to agree on.

Rows with ``w_i = 0`` never win while a row of positive weight remains; when none remains
(only exact duplicates of centers are left) the race runs with ``w_i = 1`` over the pickable
rows, a uniform draw from the same uniforms.

Most rows are settled without a ``log``: ``-log U >= 1 - U``, so a row whose
``0.999 (1 - U) > best * w`` cannot beat (or tie) the current best; the 0.1% margin covers
the rounding of both sides.
"""

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_PICK = np.uint64(0xD1B54A32D192ED03)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_ONE = np.uint64(1)
_INV53 = 2.0 ** -53
#: keeps the log-free lower bound below the computed key despite rounding
LB_MARGIN = 0.999


@njit(cache=True, inline="always")
def _mix(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(no_cpython_wrapper=True)
def _pick_base(seed_base, t):
    return _mix(np.uint64(seed_base) ^ (np.uint64(t) * _PICK))


@njit(cache=True)
def pick_base(seed_base, t):
    """The key of pick ``t`` from the seed's key ``seed_base`` (``rowkeys.race_seed``); the same
    value as ``rowkeys.race_base``."""
    return _pick_base(seed_base, t)


@njit(cache=True, inline="always")
def uniform(base, row):
    """U in (0, 1] of global ``row`` for the pick keyed ``base``."""
    h = _mix(np.uint64(row) * _GOLDEN + np.uint64(base))
    return np.float64((h >> _S11) + _ONE) * _INV53


@njit(no_cpython_wrapper=True)
def _race(w, active, base, row0, weighted):
    """:func:`race` for kernels (no CPython wrapper to compile)."""
    best = np.inf
    arg = -1
    for i in range(w.shape[0]):
        if not active[i]:
            continue
        wi = 1.0
        if weighted:
            wi = w[i]
            if not wi > 0.0:
                continue
        u = uniform(base, row0 + i)
        if LB_MARGIN * (1.0 - u) > best * wi:
            continue
        k = -np.log(u) / wi
        if k < best:
            best = k
            arg = i
    return best, arg


@njit(cache=True)
def race(w, active, base, row0, weighted):
    """The smallest key over the active rows of one block of rows.

    Parameters
    ----------
    w : (N,) float64 weights (D² values); read only when ``weighted``
    active : (N,) bool  pickable rows
    base : uint64  the pick's key (``pick_base``)
    row0 : int  global row of local row 0
    weighted : bool  keys E/w over rows with w > 0; else keys E over all active rows

    Returns
    -------
    key : float  smallest key (+inf when no row qualifies)
    row : int  its local row (-1 when none), the lowest on ties
    """
    return _race(w, active, base, row0, weighted)


@njit(cache=True)
def has_weight(w, active):
    """Whether some active row has w > 0 (the weighted race applies)."""
    for i in range(w.shape[0]):
        if active[i] and w[i] > 0.0:
            return True
    return False


@njit(cache=True)
def draw(w, active, base, row0):
    """One pick of the race over a whole pool (one machine): weighted when some active row
    has positive weight, else uniform over the active rows. Returns the local row or -1."""
    weighted = has_weight(w, active)
    return _race(w, active, base, row0, weighted)[1]
