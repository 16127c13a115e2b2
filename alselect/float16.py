"""Lookup tables for float16 data read as bit patterns.

A float16 block viewed as uint16 indexes 65,536-entry tables, so a kernel reads each stored
value and its ``v log v`` without widening the block in memory or taking a logarithm. The
``v log v`` table comes from the compiled kernels' log (the C library's): NumPy's vectorised
log rounds some values differently, and the scores must equal those of the widened data.
"""

from __future__ import annotations

import numpy as np

_TABLES: list[tuple[np.ndarray, np.ndarray]] = []


def float16_tables() -> tuple[np.ndarray, np.ndarray]:
    """``(values, xlogx)``: every float16 by bit pattern as float64, and ``v log v`` of it (0 where
    ``v <= 0`` or not finite). Built once per process."""
    if not _TABLES:
        from .kernels.uncertainty import xlogx_table

        values = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float64)
        _TABLES.append((values, xlogx_table(values)))
    return _TABLES[0]
