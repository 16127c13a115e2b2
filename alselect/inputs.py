"""Reading the user's inputs: NumPy arrays (``.npy``, ``FILE.npz:key``) and text lists."""

from __future__ import annotations

import os
import sys

import numpy as np

from .errors import AlselectError, InvalidInputError


def load_array(spec: str, what: str) -> np.ndarray:
    """Load ``FILE.npy`` (memory-mapped, so large arrays are streamed) or ``FILE.npz:key``."""
    path, _, key = spec.partition(":") if ".npz:" in spec else (spec, "", "")
    if not os.path.isfile(path):
        raise InvalidInputError(f"{what}: file '{path}' not found")
    try:
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as archive:
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
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except AlselectError:
        raise
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"{what}: '{path}' is not a readable .npy/.npz array ({exc})") from None


def read_text(source: str, what: str) -> str:
    """The whole text of a UTF-8 file, or of stdin for ``-``."""
    if source == "-":
        return sys.stdin.read()
    if not os.path.isfile(source):
        raise InvalidInputError(f"{what}: file '{source}' not found")
    try:
        with open(source, encoding="utf-8") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{what}: '{source}' is not UTF-8 text (byte {exc.start})") from None


def read_lines(source: str, what: str) -> list[str]:
    """Non-empty, non-comment (``#``) lines of a text file, or of stdin for ``-``."""
    if source == "-":
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    else:
        if not os.path.isfile(source):
            raise InvalidInputError(f"{what}: file '{source}' not found")
        with open(source, "rb") as handle:
            data = handle.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{what}: '{source}' is not UTF-8 text (byte {data[exc.start]:#04x} on line {line}); "
            "save the list as UTF-8, one entry per line"
        ) from None
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def parse_rows(lines: list[str], what: str) -> np.ndarray:
    """Row numbers from text lines (range and duplicates are checked against the pool later)."""
    rows = np.empty(len(lines), dtype=np.int64)
    for i, token in enumerate(lines):
        try:
            rows[i] = int(token)
        except OverflowError:
            raise InvalidInputError(
                f"{what}: entry {i + 1} ({token}) is far beyond any pool's rows; row numbers are 0-based"
            ) from None
        except ValueError:
            raise InvalidInputError(
                f"{what}: entry {i + 1} ({token!r}) is not a row number; "
                "pass --ids if the list holds sample ids"
            ) from None
    return rows


def parse_ids(lines: list[str]) -> np.ndarray:
    """Ids from text lines: int64 when every id is an integer, strings otherwise."""
    try:
        return np.array([int(t) for t in lines], dtype=np.int64)
    except ValueError:
        return np.array(lines, dtype=str)
