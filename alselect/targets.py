"""Where an output goes, and writing it there without ever destroying data.

Rules for every ``-o`` (see docs/cli.md):

- ``-`` is stdout; so are ``/dev/stdout``, ``/dev/fd/1`` and ``/proc/self/fd/1`` (each
  ``/dev/fd/N`` name writes to descriptor N), written in place, never reopened;
- an existing target that is not a regular file (a character device such as ``/dev/null``
  or ``/dev/full``, a FIFO, a socket) is opened and written directly, never replaced;
- anything else is written to a temporary file beside it (:mod:`alselect.tempfiles`) and
  renamed over it only once complete, so a failed or interrupted command leaves the old
  file untouched; a symlink is followed, so the file it points to is replaced and the
  link kept;
- an output that is the same file as one of the command's inputs (the same path, a
  symlink or a hard link to it) is refused before any work (:func:`check_output`).

Messages name the path the user gave, never a temporary path.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator

from . import interrupt, tempfiles
from .errors import OutputError

STDOUT = "-"
_FD_ALIAS = re.compile(r"^/(?:dev/fd|proc/self/fd|proc/(\d+)/fd)/(\d+)$")
_STD_ALIAS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
COPY_BYTES = 1 << 20


@dataclass(frozen=True)
class Target:
    """A resolved output. ``kind``: ``stdout`` ('-'), ``fd`` (a /dev/fd/N name),
    ``direct`` (an existing non-regular file) or ``replace`` (atomic rename onto ``real``)."""

    path: str
    kind: str
    real: str | None = None
    fd: int | None = None

    @property
    def name(self) -> str:
        """The target as messages should name it."""
        return "stdout" if self.kind == "stdout" else self.path


def _fd_alias(path: str) -> int | None:
    if path in _STD_ALIAS:
        return _STD_ALIAS[path]
    match = _FD_ALIAS.match(os.path.normpath(path))
    if match is None or (match.group(1) is not None and int(match.group(1)) != os.getpid()):
        return None
    return int(match.group(2))


def resolve(path) -> Target:
    """Classify ``path`` as an output target (no file is created or opened)."""
    path = os.fspath(path)
    if path == STDOUT:
        return Target(path, "stdout", fd=1)
    fd = _fd_alias(path)
    if fd is not None:
        return Target(path, "fd", fd=fd)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {exc.strerror}") from None
    if st is not None and stat.S_ISDIR(st.st_mode) and not path.rstrip("/").endswith(".zarr"):  # a Zarr store is one
        raise OutputError(f"-o '{path}' is a directory; give a file name inside it")
    if st is not None and not stat.S_ISREG(st.st_mode):
        return Target(path, "direct")
    return Target(path, "replace", real=os.path.realpath(path))


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def check_output(path, inputs: Iterable[tuple[str, str | None]] = ()) -> Target:
    """Resolve ``-o path`` and refuse it, before any work, when it would destroy an input
    or cannot be written.

    Parameters
    ----------
    path : str
        The ``-o`` value.
    inputs : iterable of (option, path)
        Every input of the command, e.g. ``("POOL", "pool.h5")``; None and ``-`` are skipped.

    Raises
    ------
    OutputError
        The output is one of the inputs (same path, symlink or hard link), a directory, or
        its directory does not exist.
    """
    target = resolve(path)
    if target.kind == "replace":
        directory = os.path.dirname(target.real)
        if not os.path.isdir(directory):
            given = os.path.dirname(path) or "."
            problem = "is not a directory" if os.path.exists(directory) else "does not exist; create it first"
            raise OutputError(f"cannot write '{path}': '{given}' {problem}")
        try:
            out_st = os.stat(target.real)
        except OSError:
            out_st = None
        if out_st is not None:
            for option, source in inputs:
                if source is None or source == "-":
                    continue
                try:
                    in_st = os.stat(source)
                except OSError:
                    continue
                if _same_file(out_st, in_st):
                    same = "is" if os.path.abspath(source) == os.path.abspath(path) else "is the same file as"
                    raise OutputError(f"-o '{path}' {same} the input {option} '{source}'; "
                                      "writing there would destroy it: choose another output file")
    return target


def _os_error(target: Target, exc: OSError) -> OutputError:
    return OutputError(f"cannot write '{target.name}': {exc.strerror or exc}")


@contextmanager
def open_output(path, *, binary: bool = False) -> Iterator:
    """Open an output for writing; it is committed when the block ends without an exception.

    Yields a text (UTF-8) or binary file object. A ``replace`` target appears only on
    success (written to a temporary file, renamed); on failure or interrupt the temporary
    file is removed and an existing file is left as it was.
    """
    target = path if isinstance(path, Target) else resolve(path)
    if target.kind == "stdout":
        stream = sys.stdout.buffer if binary and hasattr(sys.stdout, "buffer") else sys.stdout
        try:
            yield stream
            stream.flush()
        except OutputError:
            raise
        except OSError as exc:
            raise _os_error(target, exc) from None
        return
    if target.kind in ("fd", "direct"):
        try:
            if target.kind == "fd":
                if target.fd == 1:
                    sys.stdout.flush()
                fd = os.dup(target.fd)
            else:
                fd = os.open(target.path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
            handle = os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"}))
        except OSError as exc:
            raise _os_error(target, exc) from None
        try:
            with handle:
                yield handle
        except OutputError:
            raise
        except OSError as exc:
            raise _os_error(target, exc) from None
        return
    directory = os.path.dirname(target.real)
    try:
        fd, tmp = tempfiles.create(directory, os.path.basename(target.real))
    except OSError as exc:
        raise _os_error(target, exc) from None
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
            yield handle
        commit(tmp, target)
    except OutputError:
        tempfiles.discard(tmp)
        raise
    except OSError as exc:
        tempfiles.discard(tmp)
        raise _os_error(target, exc) from None
    except BaseException:
        tempfiles.discard(tmp)
        raise


def commit(tmp: str, target: Target) -> None:
    """Move the finished temporary file ``tmp`` to ``target`` (rename, or copy into a stream
    or device), then forget it. Raises :class:`interrupt.Interrupted` instead when a signal
    arrived, so an interrupted command never publishes its output."""
    from .pool.writer import default_file_mode

    try:
        interrupt.check()
    except BaseException:
        tempfiles.discard(tmp)
        raise
    if target.kind == "replace":
        try:
            os.chmod(tmp, default_file_mode())
            os.replace(tmp, target.real)
        except OSError as exc:
            tempfiles.discard(tmp)
            raise _os_error(target, exc) from None
        tempfiles.release(tmp)
        return
    try:
        with open(tmp, "rb") as source, open_output(target, binary=True) as sink:
            shutil.copyfileobj(source, sink, COPY_BYTES)
    finally:
        tempfiles.discard(tmp)


def temp_for(target: Target, name: str | None = None) -> str:
    """Create the temporary file a whole-file writer (HDF5) fills before :func:`commit`:
    beside a ``replace`` target, in the system temporary directory otherwise. Returns its
    path (closed)."""
    import tempfile

    if target.kind == "replace":
        directory, base = os.path.dirname(target.real), os.path.basename(target.real)
    else:
        directory, base = tempfile.gettempdir(), name or "stdout"
    try:
        fd, tmp = tempfiles.create(directory, base)
    except OSError as exc:
        raise _os_error(target, exc) from None
    os.close(fd)
    return tmp
