"""Pure ``@numba.njit`` kernels, grouped by concern, with no I/O.

Importing this package only sets up numba's compilation cache (``alselect.jit_cache``) before
the first kernel module imports numba; ``import alselect`` and the commands that run no kernel
never come here.
"""

from ..jit_cache import configure as _configure

_configure()
