"""Keep file descriptor 1 for data only.

Solvers and other C libraries (HiGHS through cvxpy prints a banner) write straight to fd 1,
past ``sys.stdout``. :func:`data_stdout` points fd 1 at stderr while the data is produced and
hands back a stream on the real stdout, so ``alselect pick ... > picks.txt`` holds the picks
and nothing else.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys


def _stdout_fd() -> int | None:
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


@contextlib.contextmanager
def data_stdout():
    """Yield a text stream on the real stdout; inside the block fd 1 (and ``sys.stdout``) go to stderr.

    When ``sys.stdout`` is not the process's fd 1 (e.g. click's CliRunner captures it), there
    is no C-level stream to guard and ``sys.stdout`` itself is yielded.
    """
    if _stdout_fd() != 1:
        yield sys.stdout
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        real = os.fdopen(os.dup(saved), "w", encoding=sys.stdout.encoding or "utf-8",
                         errors=sys.stdout.errors or "strict", newline=None)
        try:
            yield real
        finally:
            real.close()  # flushes the data
    finally:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 1)
        os.close(saved)
