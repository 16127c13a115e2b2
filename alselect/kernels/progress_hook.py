"""Progress reports and interrupt checks from inside sequential njit selection loops.

A kernel that picks one row per iteration takes an int ``every`` (0: never leaves
nopython mode) and calls ``tick(done, last, every, total)`` after each pick; every
``every`` picks, and once more when ``done == total``, ``tick`` leaves nopython mode
through ``numba.objmode`` and calls :func:`report`. There a pending SIGINT / SIGTERM is
raised (Python runs signal handlers only between bytecodes, so a kernel never entering
object mode could not be interrupted; see :mod:`alselect.interrupt`), and the picks made
since the previous report go to the callable installed by :func:`reporting` in the calling
thread, at most about ``REPORTS`` times per run.

:func:`every_for` returns ``ceil(budget / CHECKS)``: at most ``CHECKS + 1`` object-mode
calls per run (about 1.5 microseconds each, so a few milliseconds in all), and a check
every 1/CHECKS of the run's pick loop, whether or not anybody watches progress (a run of
up to CHECKS seconds is checked at least once a second). Work before the first pick (a
kernel's initial distance pass) has no check inside; it is one pass over the data. The pick
sequence does not depend on ``every``: the hook only reads counters. Cached compilation
(``cache=True``) works with the object-mode block.

Why not chunks of picks: the engines keep heaps, stamps and center stores whose
resumption would need every kernel to export and re-import its whole state; one counter
call is far less invasive.
"""

import math
import threading
from contextlib import contextmanager

from numba import njit, objmode

from alselect import interrupt

#: progress reports per run at most (plus the final one), ~1% of the budget each
REPORTS = 100
#: object-mode calls (interrupt checks) per run at most (plus the final one)
CHECKS = 2000

_local = threading.local()


def report(n, done=None, total=None):
    """Raise a pending interrupt; forward finished picks to the current thread's callable
    about every 1/REPORTS of ``total`` (each call when ``total`` is not given, as from a
    kernel compiled against the older ``report(n)``)."""
    interrupt.check()
    cb = getattr(_local, "update", None)
    if cb is None:
        return
    pending = getattr(_local, "pending", 0) + int(n)
    if total is None or pending * REPORTS >= total or done >= total:
        _local.pending = 0
        cb(pending)
    else:
        _local.pending = pending


def every_for(budget, progress=None):
    """Object-mode stride for a run of ``budget`` picks (``progress`` is accepted for
    callers of the older signature; checks happen either way)."""
    if budget <= 0:
        return 0
    return max(1, math.ceil(budget / CHECKS))


@contextmanager
def reporting(progress):
    """Install ``progress`` (``update(n)``, or None) for kernels run in this block."""
    prev = getattr(_local, "update", None), getattr(_local, "pending", 0)
    _local.update, _local.pending = progress, 0
    try:
        yield
        if progress is not None and _local.pending:
            progress(_local.pending)  # a run that ended before its budget
    finally:
        _local.update, _local.pending = prev


# One explicit signature: callers pass literal constants (``tick(t0, 0, ...)``) and
# counters whose type numba first infers as a literal, and each literal would otherwise
# compile another copy of this function and its object-mode block.
@njit("int64(int64, int64, int64, int64)", cache=True)
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
        report(k, done, total)
    return done
