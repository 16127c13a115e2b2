"""Keep stdout for data: point file descriptor 1 at stderr while third-party code runs.

Some native libraries print banners straight to fd 1 (the HiGHS solver behind ``balanced`` does),
bypassing ``sys.stdout``; inside this context manager such output lands on stderr instead, and
child processes started inside it inherit the redirection.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager


@contextmanager
def stdout_to_stderr():
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no real fd 1 (e.g. captured in tests): nothing to guard
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 1)
        os.close(saved)
