"""Progress reports from inside sequential njit selection loops.

A kernel that picks one row per iteration takes an int ``every`` (0: silent)
and calls ``tick(done, last, every, total)`` after each pick; every ``every``
picks, and once more when ``done == total``, ``tick`` leaves nopython mode
through ``numba.objmode`` and calls :func:`report`, which hands the number of
picks made since the previous report to the callable installed by
:func:`reporting` in the calling thread.  With ``every = ceil(budget /
REPORTS)`` there are at most ``REPORTS + 1`` object-mode calls per run (a few
microseconds each), and the pick sequence does not depend on ``every`` at all:
the hook only reads counters.  Cached compilation (``cache=True``) works with
the object-mode block.

Why not chunks of picks: the engines keep heaps, stamps and center stores
whose resumption would need every kernel to export and re-import its whole
state; one counter call is far less invasive.
"""

import math
import threading
from contextlib import contextmanager

from numba import njit, objmode

#: reports per run at most (plus the final one), ~1% of the budget each
REPORTS = 100

_local = threading.local()


def report(n):
    """Forward ``n`` finished picks to the callable of the current thread."""
    cb = getattr(_local, "update", None)
    if cb is not None:
        cb(int(n))


def every_for(budget, progress):
    """Report stride for a run of ``budget`` picks; 0 when nobody listens."""
    if progress is None or budget <= 0:
        return 0
    return max(1, math.ceil(budget / REPORTS))


@contextmanager
def reporting(progress):
    """Install ``progress`` (``update(n)``, or None) for kernels run in this block."""
    prev = getattr(_local, "update", None)
    _local.update = progress
    try:
        yield
    finally:
        _local.update = prev


@njit(cache=True)
def tick(done, last, every, total):
    """Report ``done - last`` picks when ``every`` of them (or all) are done.

    Parameters
    ----------
    done : int  picks finished so far
    last : int  ``done`` at the previous report
    every : int  report stride; 0 never reports
    total : int  picks of the whole run

    Returns
    -------
    int  the new ``last``
    """
    if every <= 0 or done <= last:
        return last
    if done - last < every and done < total:
        return last
    k = done - last
    with objmode():
        report(k)
    return done
