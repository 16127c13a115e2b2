"""Temporary files that never outlive their process for long.

Every temporary file alselect writes is named ``.NAME.alselect-PID.tmp`` (``-PID-K`` when a
process needs several for one name) and created exclusively. It is removed on every exit
path that runs Python: explicitly by its owner, else at interpreter exit. A process killed
outright (``kill -9``, out of memory) cannot remove its files, so :func:`create` first
removes, in the directory it writes to, every such file whose process is gone.

A file whose PID is alive is never touched (on a directory shared across machines, a PID
from another host that happens to be dead here would be removed: do not share temporary
directories between hosts running alselect at once).
"""

from __future__ import annotations

import atexit
import itertools
import os
import re

_PATTERN = re.compile(r"^\..*\.alselect-(\d+)(?:-\d+)?\.tmp$")
_live: set[str] = set()
_counter = itertools.count(1)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def is_temp_name(name: str) -> bool:
    """Whether ``name`` (a base name) follows the temporary-file pattern."""
    return _PATTERN.match(name) is not None


def remove_stale(directory: str) -> list[str]:
    """Remove temporary files in ``directory`` left by dead processes; return their paths.

    Files of this process that it no longer tracks (a recycled PID) count as stale too.
    """
    removed = []
    own = os.getpid()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _PATTERN.match(entry.name)
        if match is None:
            continue
        pid = int(match.group(1))
        path = os.path.join(directory, entry.name)
        if (pid == own and path in _live) or (pid != own and _pid_alive(pid)):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(path)
                removed.append(path)
        except OSError:
            pass
    return removed


def create(directory: str, name: str, mode: int = 0o600) -> tuple[int, str]:
    """Create a new temporary file for ``name`` in ``directory``; return ``(fd, path)``.

    The caller owns the file: it either renames it into place and calls :func:`release`,
    or calls :func:`discard`. Raises OSError (with the directory as its filename) when the
    directory cannot be written.
    """
    remove_stale(directory)
    stem = f".{os.path.basename(name) or 'output'}.alselect-{os.getpid()}"
    for attempt in range(100):
        suffix = "" if attempt == 0 else f"-{next(_counter)}"
        path = os.path.join(directory, f"{stem}{suffix}.tmp")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, directory) from None
        _live.add(path)
        return fd, path
    raise FileExistsError(f"cannot find a free temporary name for '{name}' in '{directory}'")


def release(path: str) -> None:
    """Stop tracking ``path`` (it was renamed into place)."""
    _live.discard(path)


def discard(path: str) -> None:
    """Remove ``path`` if it still exists and stop tracking it."""
    _live.discard(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@atexit.register
def remove_all() -> None:
    """Remove every temporary file this process still tracks (also run at exit)."""
    for path in list(_live):
        try:
            os.unlink(path)
        except OSError:
            pass
    _live.clear()
