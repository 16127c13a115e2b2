"""Per-sample uncertainty u(x) for uncertainty-weighted embeddings (UWE).

uwe(x) = u(x)^tau * f(x)   (UWE paper Eq. 4 with the tau of Sec. 5.2).  The
kernels return u only; the diversity kernels take f plus the weight vector, so
the scaled copy of the embeddings is never materialised.

Measures (p = predicted class probabilities, p1 >= p2 the two largest):
* ``UNC_ENTROPY``           -sum_c p_c log p_c   (natural log, 0 log 0 = 0), Eq. 5
* ``UNC_BVSB``              p2 / p1              (best-versus-second-best), Eq. 8
* ``UNC_LEAST_CONFIDENCE``  1 - p1
* ``UNC_MARGIN``            1 - (p1 - p2)
"""

import numpy as np
from numba import njit, prange

UNC_ENTROPY = 0
UNC_BVSB = 1
UNC_LEAST_CONFIDENCE = 2
UNC_MARGIN = 3


@njit(cache=True, parallel=True)
def uncertainty(P, measure):
    """Row-wise uncertainty of a probability matrix.

    Parameters
    ----------
    P : (N, C) float32/float64, rows on the simplex
    measure : int  one of the UNC_* constants

    Returns
    -------
    (N,) float64
    """
    N, C = P.shape
    out = np.empty(N)
    for i in prange(N):
        if measure == UNC_ENTROPY:
            h = 0.0
            for c in range(C):
                v = np.float64(P[i, c])
                if v > 0.0:
                    h -= v * np.log(v)
            out[i] = h
        else:
            p1 = -1.0
            p2 = -1.0
            for c in range(C):
                v = np.float64(P[i, c])
                if v > p1:
                    p2 = p1
                    p1 = v
                elif v > p2:
                    p2 = v
            if p2 < 0.0:
                p2 = 0.0  # a single class
            if measure == UNC_BVSB:
                out[i] = p2 / p1 if p1 > 0.0 else 0.0
            elif measure == UNC_LEAST_CONFIDENCE:
                out[i] = 1.0 - p1
            else:
                out[i] = 1.0 - (p1 - p2)
    return out
