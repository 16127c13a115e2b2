"""Blocks of one pass over the data on a few Python threads.

A pass that wants several cores runs as a ``nogil`` numba kernel (or a NumPy call that
releases the GIL) per block on ``numba.get_num_threads()`` Python threads, instead of
as a ``prange`` region: the parallel region costs over half a second to compile on
first use, a thread pool nothing. The thread count is numba's, which the CLI lowers on
a busy machine (``alselect.jit_cache``). Each block must write only its own rows, so
the result does not depend on the thread count.
"""

from __future__ import annotations


def run_blocks(fn, items) -> None:
    """Call ``fn(item)`` for every item, on up to ``numba.get_num_threads()`` threads;
    a pending interrupt (``alselect.interrupt``) is raised once all have finished."""
    import numba

    from alselect import interrupt

    items = list(items)
    threads = max(1, min(numba.get_num_threads(), len(items)))
    if threads == 1:
        for item in items:
            fn(item)
    else:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(threads)
        try:
            for f in [pool.submit(fn, item) for item in items]:
                f.result()
        finally:
            # on an interrupt (raised in this thread while it waits) or an error, drop the
            # blocks not started: only the running ones are waited for
            pool.shutdown(wait=True, cancel_futures=True)
    interrupt.check()
