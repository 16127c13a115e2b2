"""Pure ``@numba.njit`` kernels, grouped by concern, with no I/O.

Nothing is imported here on purpose: importing ``alselect.kernels`` must not
compile or load numba; each strategy imports the one kernel module it needs.
"""
