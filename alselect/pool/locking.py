"""Readers and writers of one pool file in separate processes.

HDF5's own file lock is held for as long as a file is open, so while a ``pick`` reads the pool a
training loop's epoch recorder cannot open it for writing ("unable to lock file"), and the
reverse. alselect opens pool files with HDF5's lock disabled and uses this protocol instead
(an advisory ``flock`` on the pool file itself, the same kind of lock HDF5 takes, so other HDF5
programs that keep their default locking still exclude and are excluded correctly):

- a writer (the epoch recorder, ``alselect label``) holds the exclusive lock only while it
  appends and flushes: milliseconds per epoch;
- a reader holds the shared lock while it opens the file and while each read of a dataset runs,
  and nothing in between; before a read it reopens the file if the file changed since it was
  opened, so it never combines HDF5 metadata cached before a writer's append with data written
  after it. What a reader sees is always the state after some complete append (the committed
  counts of the epoch datasets and the labeling history tell which rows are complete).

A writer therefore waits at most for the reads in progress, and a reader for one append; neither
fails because the other is there. The locks are advisory and local: on network file systems
without ``flock`` they degrade to no locking, which is no worse than HDF5's own behaviour there.
"""

from __future__ import annotations

import errno
import os
import time
from contextlib import contextmanager

from ..errors import PoolLockedError

try:
    import fcntl
except ImportError:  # Windows: no flock; HDF5 there has no working file lock either
    fcntl = None

#: How long a writer waits for readers (and a reader for a writer) before giving up.
DEFAULT_TIMEOUT_S = 60.0


def file_state(path: str) -> tuple:
    """What changes when a writer appends: inode, size and modification time."""
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@contextmanager
def pool_lock(path: str, *, exclusive: bool, timeout: float = DEFAULT_TIMEOUT_S, what: str = "the pool"):
    """Hold the shared (readers) or exclusive (writers) lock of the pool file at ``path``."""
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield  # the opener reports the missing or unreadable file in its own words
        return
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                    break  # a file system without flock: proceed unlocked
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    role = "write" if exclusive else "read"
                    raise PoolLockedError(
                        f"cannot {role} '{path}': another process has held it for {timeout:g} s ({what}); a "
                        "program keeping the pool open with HDF5's default locking (h5py.File without "
                        "locking=False) blocks alselect: close it, or wait for it to finish"
                    ) from None
                time.sleep(delay)
                delay = min(0.1, delay * 2)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def open_h5(path: str, mode: str = "r"):
    """``h5py.File`` with HDF5's own lock disabled (this module's protocol replaces it)."""
    import h5py

    return h5py.File(path, mode, locking=False)
