"""Rigorous floating-point error bounds for the screened exact engines (NumPy, O(N)).

The k-center engines screen with fast GEMM-form distances and decide on canonical float64
ones (``alselect.kernels.kcenter``, "Exactness rule"); the bounds here say how far apart
the two can be for each row. They are computed once per run in NumPy: one vectorised pass,
nothing to compile on first use.
"""

import numpy as np

#: slack factor on the rigorous bound
BOUND_SAFETY = 2.0
#: float64 unit roundoff
U64 = 2.0 ** -53


def unit_roundoff(dtype) -> float:
    """The unit roundoff of float32 (2^-24) or float64 (2^-53) arithmetic."""
    return 2.0 ** -24 if np.dtype(dtype) == np.float32 else U64


def gamma(k, u):
    """Higham's gamma_k = k u / (1 - k u): error factor of a length-k dot product."""
    ku = k * u
    return ku / (1.0 - ku)


def row_error_bounds(anorm, bnorm, n, s, g_gemm, g64):
    """Per-row bound E[i] >= |a(i, c) - d64(i, c)| for every possible center c.

    a(i, c) takes its dot product in the input precision (error factor ``g_gemm`` =
    gamma_{K+2}(u), any summation order), d64 a sequential float64 one (``g64`` =
    gamma_{K+2}(u64)); each is within gamma_K |A_i|.|B_c| <= gamma_K ||A_i|| ||B_c|| of
    the exact dot (Higham, Thm 3.1 + Cauchy-Schwarz). The float64 combinations
    n_i + n_c - 2 s_i s_c x add a few u64 times the magnitudes involved, and the direct
    Euclidean sum of d64 is within gamma_K(u64) of its true value. The total is
    multiplied by ``BOUND_SAFETY``.

    Parameters
    ----------
    anorm, bnorm : (N,) float64  unscaled row norms of A and B
    n : (N,) float64
    s : (N,) float64 row scales
    g_gemm, g64 : float  gamma factors of the screening and canonical dots

    Returns
    -------
    (N,) float64
    """
    if anorm.shape[0] == 0:
        return np.empty(0)
    bmax = max(float(np.max(np.abs(s) * bnorm)), 0.0)
    nmax = max(float(np.max(np.abs(n))), 0.0)
    ai = np.abs(s) * anorm
    mag = np.abs(n) + nmax + 2.0 * ai * bmax
    dot_err = 2.0 * ai * bmax * (g_gemm + g64)
    return BOUND_SAFETY * (dot_err + (8.0 * U64 + 2.0 * g64) * mag)
