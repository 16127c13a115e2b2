"""Reading the user's inputs: NumPy arrays (``.npy``, ``FILE.npz:key``), text lists, pools.

Inputs are opened, never stat-checked first, so a pipe (``--labeled <(grep ...)``, i.e.
``/dev/fd/63``), a FIFO or ``/dev/stdin`` works wherever a file does, and ``-`` means stdin.
Inputs that need random access are copied from a stream first: ``.npy`` / ``.npz`` arrays
into an unnamed temporary file, HDF5 pools into a named one (:mod:`alselect.tempfiles`).
``.npy`` arrays stay memory-mapped either way.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from .errors import AlselectError, InvalidInputError, PoolNotFoundError

STDIN = "-"
SPOOL_BYTES = 1 << 20
_NPY_MAGIC = b"\x93NUMPY"


def _stdin_binary():
    return sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin


@contextmanager
def open_input(source: str, what: str) -> Iterator:
    """Open ``source`` for binary reading (``-``: stdin, left open); errors name ``source``."""
    if source == STDIN:
        yield _stdin_binary()
        return
    try:
        handle = open(source, "rb")
    except FileNotFoundError:
        raise PoolNotFoundError(f"{what}: file '{source}' not found") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{what}: '{source}' is a directory, not a file") from None
    except OSError as exc:
        raise InvalidInputError(f"{what}: cannot read '{source}': {exc.strerror or exc}") from None
    with handle:
        yield handle


def _is_regular(handle) -> bool:
    try:
        return stat.S_ISREG(os.fstat(handle.fileno()).st_mode)
    except (OSError, AttributeError, ValueError):
        return False


def spool(stream):
    """Copy a stream into an unnamed temporary file; return it, rewound."""
    out = tempfile.TemporaryFile()
    try:
        shutil.copyfileobj(stream, out, SPOOL_BYTES)
        out.flush()
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return out


def _memmap_npy(handle, what: str, name: str) -> np.ndarray:
    """Memory-map a ``.npy`` held in an open file (a spooled copy)."""
    from numpy.lib import format as npy_format

    try:
        version = npy_format.read_magic(handle)
        header = (npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0)(handle)
    except ValueError as exc:
        raise InvalidInputError(f"{what}: '{name}' is not a readable .npy/.npz array ({exc})") from None
    shape, fortran, dtype = header
    if dtype.hasobject:
        raise InvalidInputError(f"{what}: '{name}' holds Python objects; save a numeric or string array")
    if int(np.prod(shape)) == 0:
        return np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    return np.memmap(handle, dtype=dtype, mode="r", shape=shape, offset=handle.tell(), order="F" if fortran else "C")


def _load_npz(source, path: str, key: str, what: str) -> np.ndarray:
    with np.load(source, allow_pickle=False) as archive:
        keys = list(archive.keys())
        if not key:
            if len(keys) != 1:
                raise InvalidInputError(
                    f"{what}: '{path}' holds {len(keys)} arrays ({', '.join(keys)}); name one as '{path}:KEY'"
                )
            key = keys[0]
        if key not in keys:
            raise InvalidInputError(f"{what}: '{path}' has no array '{key}'; it holds: {', '.join(keys)}")
        return archive[key]


def array_path(spec: str) -> str:
    """The file part of an array spec (``FILE.npz:key`` -> ``FILE.npz``)."""
    return spec.partition(":")[0] if ".npz:" in spec else spec


def load_array(spec: str, what: str) -> np.ndarray:
    """Load ``FILE.npy`` (memory-mapped, so large arrays are streamed) or ``FILE.npz:key``.

    ``-`` reads stdin; a pipe or FIFO is spooled to an unnamed temporary file and mapped
    from there. Which of ``.npy`` / ``.npz`` a stream holds is read from its first bytes."""
    path, _, key = spec.partition(":") if ".npz:" in spec else (spec, "", "")
    name = "<stdin>" if path == STDIN else path
    try:
        with open_input(path, what) as handle:
            if _is_regular(handle) and path != STDIN:
                if path.endswith(".npz"):
                    return _load_npz(path, path, key, what)
                return np.load(path, mmap_mode="r", allow_pickle=False)
            copy = spool(handle)
        head = copy.read(len(_NPY_MAGIC))
        copy.seek(0)
        if head == _NPY_MAGIC:
            return _memmap_npy(copy, what, name)
        if head.startswith(b"PK"):
            with copy:
                return _load_npz(copy, name, key, what)
        copy.close()
        raise InvalidInputError(f"{what}: '{name}' is not a .npy or .npz array (it starts with {head!r})")
    except AlselectError:
        raise
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"{what}: '{name}' is not a readable .npy/.npz array ({exc})") from None


#: Longest line a text input may have: its lines are row numbers, ids, labels or class names.
MAX_LINE_BYTES = 1 << 20
_TEXT_CHUNK = 1 << 20


def read_text(source: str, what: str) -> str:
    """The whole UTF-8 text of a file, pipe or FIFO, or of stdin for ``-``.

    Read in chunks and refused at the first NUL byte or a line over :data:`MAX_LINE_BYTES`, so a
    binary or endless input (``/dev/zero``) is an error, not a read of everything into memory."""
    chunks, since_newline, total = [], 0, 0
    with open_input(source, what) as handle:
        while True:
            chunk = handle.read(_TEXT_CHUNK)
            if not chunk:
                break
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8", "surrogateescape")
            nul = chunk.find(b"\0")
            if nul >= 0:
                raise InvalidInputError(f"{what}: '{source}' is not a text file (a NUL byte at byte {total + nul})")
            last = chunk.rfind(b"\n")
            since_newline = since_newline + len(chunk) if last < 0 else len(chunk) - last - 1
            if since_newline > MAX_LINE_BYTES:
                raise InvalidInputError(f"{what}: '{source}' has a line longer than {MAX_LINE_BYTES >> 20} MiB; "
                                        "it must be text with one entry per line")
            chunks.append(chunk)
            total += len(chunk)
    data = b"".join(chunks)
    try:
        return data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{what}: '{source}' is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_lines(source: str, what: str) -> list[str]:
    """Non-empty, non-comment (``#``) lines of a text file, pipe or FIFO, or of stdin for ``-``."""
    text = read_text(source, what)
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


@contextmanager
def pool_source(pool: str) -> Iterator[tuple[str, str]]:
    """``(file to open, name for messages)`` for a POOL argument.

    A regular file (also one redirected to stdin) is opened where it is. ``-`` (stdin), a
    pipe (``<(...)``) or a FIFO is copied into a temporary file first (HDF5 needs random
    access), removed when the block ends."""
    if pool != STDIN:
        try:
            mode = os.stat(pool).st_mode
        except OSError:
            mode = None  # the reader reports it by the given name
        if mode is None or stat.S_ISREG(mode) or stat.S_ISDIR(mode):
            yield pool, pool
            return
    elif sys.stdin is None or (hasattr(sys.stdin, "isatty") and sys.stdin.isatty()):
        raise InvalidInputError("POOL '-' reads the pool from stdin, which is a terminal; "
                                "pipe or redirect a pool file into it (alselect pick - ... < pool.h5)")
    name = "<stdin>" if pool == STDIN else pool
    with open_input(pool, "POOL") as handle:
        if pool == STDIN and _is_regular(handle) and os.path.exists(f"/proc/self/fd/{handle.fileno()}"):
            yield f"/proc/self/fd/{handle.fileno()}", name  # redirected from a file: no copy
            return
        # a named copy (HDF5 wants a real path): removed when the block ends, at exit, or
        # (after kill -9) by the next run that writes to the temporary directory
        from . import tempfiles

        fd, tmp = tempfiles.create(tempfile.gettempdir(), "stdin.h5" if pool == STDIN else "pipe.h5")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(handle, out, SPOOL_BYTES)
        except BaseException:
            tempfiles.discard(tmp)
            raise
    try:
        yield tmp, name
    finally:
        tempfiles.discard(tmp)


def parse_rows(lines: list[str], what: str) -> np.ndarray:
    """Row numbers from text lines (range and duplicates are checked against the pool later)."""
    rows = np.empty(len(lines), dtype=np.int64)
    for i, token in enumerate(lines):
        try:
            rows[i] = int(token)
        except OverflowError:
            raise InvalidInputError(f"{what}: entry {i + 1} ({token[:30]!r}) is far outside any pool's rows") from None
        except ValueError:
            raise InvalidInputError(
                f"{what}: entry {i + 1} ({token!r}) is not a row number; "
                "pass --ids if the list holds sample ids"
            ) from None
    return rows


def read_id_lines(source: str, what: str) -> list[str]:
    """Every line of an id list, one id per line, taken literally (surrounding whitespace
    removed): no comments or blank lines are skipped, so an id list always has one line per row
    and ids the format refuses ('', '#...') are reported instead of silently dropped."""
    return [line.strip() for line in read_text(source, what).splitlines()]


def parse_ids(lines: list[str]) -> np.ndarray:
    """Ids from text lines: int64 when every id is an integer, strings otherwise."""
    try:
        return np.array([int(t) for t in lines], dtype=np.int64)
    except (ValueError, OverflowError):  # not all integers, or beyond int64: string ids
        return np.array(lines, dtype=str)
