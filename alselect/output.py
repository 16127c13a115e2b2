"""Writing results: ``-`` is stdout; files are written to a temporary name and renamed, so a
failed command never leaves a partial or clobbered output file."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from typing import Sequence

import numpy as np

from .errors import InvalidInputError
from .pool.writer import default_file_mode

FORMATS = ("txt", "csv", "jsonl")


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _json_value(value):
    """JSON has no inf/NaN: a first k-center pick (distance inf, no center yet) becomes null."""
    value = _plain(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def format_rows(columns: Sequence[str], rows: Sequence[Sequence], fmt: str) -> str:
    """Render rows as txt (tab-separated, no header), csv (with header) or jsonl."""
    if fmt == "txt":
        return "".join("\t".join(_cell(v) for v in row) + "\n" for row in rows)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_cell(v) for v in row] for row in rows])
        return buf.getvalue()
    if fmt == "jsonl":
        return "".join(json.dumps({c: _json_value(v) for c, v in zip(columns, row)}) + "\n" for row in rows)
    raise InvalidInputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _cell(value) -> str:
    """Floats as their shortest round-trip repr (``float(cell) == value`` exactly)."""
    value = _plain(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_text(path: str, text: str, stdout=None) -> None:
    """Write ``text`` to ``path`` atomically, or to ``stdout`` (default ``sys.stdout``) for ``-``."""
    if path == "-":
        stream = sys.stdout if stdout is None else stdout
        stream.write(text)
        stream.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
