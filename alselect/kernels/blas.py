"""BLAS products for njit kernels, without compiling ``np.dot``.

``np.dot`` inside a kernel compiles numba's generic linear-algebra layer (shape checks,
layout dispatch, result allocation): about 0.45 s per operand signature on first use.
The kernels need only two fixed shapes, so they call numba's own BLAS shims
(``numba_xxgemm`` / ``numba_xxgemv``, the functions ``np.dot`` ends in, which reach
SciPy's ``cython_blas``) directly, as external symbols: about 0.08 s to compile, and
cached like any other kernel because no address is baked into the code.

Both helpers take rows of C-contiguous float32 or float64 matrices (a leading-axis slice
of such a matrix is fine: its rows are ``K`` elements apart) and write into ``out``;
``ab`` is a length-2 scratch array of the operands' dtype (``ab = [1, 0]``: BLAS's alpha
and beta), allocated once by the caller. The summation order is BLAS's, so results are
screening values within the ``gamma_K`` error bound, never canonical sums.
"""

import numpy as np
from numba import njit, types
from numba.np.linalg import ensure_blas

from ..errors import InternalError

ensure_blas()  # scipy.linalg.cython_blas: where the shims find the routines

_xxgemm = types.ExternalFunction("numba_xxgemm", types.intc(
    types.char, types.char, types.char,        # kind, transa, transb
    types.intp, types.intp, types.intp,        # m, n, k
    types.voidptr, types.voidptr, types.intp,  # alpha, a, lda
    types.voidptr, types.intp,                 # b, ldb
    types.voidptr, types.voidptr, types.intp,  # beta, c, ldc
))
_xxgemv = types.ExternalFunction("numba_xxgemv", types.intc(
    types.char, types.char, types.intp, types.intp,  # kind, trans, m, n
    types.voidptr, types.voidptr, types.intp,        # alpha, a, lda
    types.voidptr, types.voidptr, types.voidptr,     # x, beta, y
))

# character codes as plain integers: ``ord`` inside a kernel compiles numba's unicode layer
_T = np.int8(ord("t"))
_N = np.int8(ord("n"))
_D = np.int8(ord("d"))
_S = np.int8(ord("s"))


@njit(no_cpython_wrapper=True)
def _kind(X):
    return _D if X.itemsize == 8 else _S


@njit(no_cpython_wrapper=True)
def gemm_abt(X, Y, out, ab):
    """``out[i, j] = <X[i], Y[j]>``: out (m, n) C-contiguous, X (m, K), Y (n, K).

    Fortran BLAS sees the row-major ``out`` as its transpose, so it computes
    ``out^T = Y X^T`` with Y transposed.
    """
    m, K = X.shape
    n = Y.shape[0]
    if m == 0 or n == 0:
        return
    if K == 0:
        for i in range(m):
            for j in range(n):
                out[i, j] = 0.0
        return
    st = _xxgemm(_kind(X), _T, _N, n, m, K, ab.ctypes, Y.ctypes, K, X.ctypes, K,
                 ab[1:].ctypes, out.ctypes, n)
    if st != 0:
        raise InternalError("BLAS gemm unavailable (scipy.linalg.cython_blas)")


@njit(no_cpython_wrapper=True)
def gemv_ax(Y, x, out, ab):
    """``out[j] = <Y[j], x>``: Y (n, K), x (K,), out (n,), all contiguous."""
    n, K = Y.shape
    if n == 0:
        return
    if K == 0:
        for j in range(n):
            out[j] = 0.0
        return
    st = _xxgemv(_kind(Y), _T, K, n, ab.ctypes, Y.ctypes, K, x.ctypes, ab[1:].ctypes,
                 out.ctypes)
    if st != 0:
        raise InternalError("BLAS gemv unavailable (scipy.linalg.cython_blas)")


@njit(cache=True)
def gemm_abt_entry(X, Y):
    """``X @ Y.T`` through :func:`gemm_abt` (for tests: the kernels call the helper)."""
    out = np.empty((X.shape[0], Y.shape[0]), dtype=X.dtype)
    ab = np.empty(2, dtype=X.dtype)
    ab[0] = 1.0
    ab[1] = 0.0
    gemm_abt(X, Y, out, ab)
    return out


@njit(cache=True)
def gemv_ax_entry(Y, x):
    """``Y @ x`` through :func:`gemv_ax` (for tests)."""
    out = np.empty(Y.shape[0], dtype=Y.dtype)
    ab = np.empty(2, dtype=Y.dtype)
    ab[0] = 1.0
    ab[1] = 0.0
    gemv_ax(Y, x, out, ab)
    return out
