"""Pure ``@numba.njit`` kernels, grouped by concern, with no I/O.

Importing this package only sets up numba's compilation cache (``alselect.jit_cache``) before
the first kernel module imports numba; ``import alselect`` and the commands that run no kernel
never come here.

First-run compile time: entry points (the functions called from Python) are ``cache=True``;
internal helpers are ``no_cpython_wrapper=True`` and uncached, since they only ever compile into
an entry point, whose cache file holds their code. Counters passed to helpers start as
``np.int64(0)`` rather than a literal (each literal type compiles another copy of the callee),
and kernels avoid array-to-array slice assignment (its error path compiles string formatting)
and one-off ``np.full`` / ``np.zeros`` signatures. Matrix products call BLAS through
``kernels.blas`` rather than ``np.dot`` (whose generic layer compiles for about 0.45 s per
signature), and a pass that needs several cores runs as a ``nogil`` kernel on Python threads
rather than as a ``prange`` region (about a second to compile).
"""

from ..jit_cache import configure as _configure

_configure()
