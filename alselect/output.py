"""Formatting results and writing them: ``-`` is stdout; files are written to a temporary
name and renamed, so a failed command never leaves a partial or clobbered output file
(rules: :mod:`alselect.targets`)."""

from __future__ import annotations

import csv
import io
import json
from typing import Sequence

import numpy as np

from .errors import InvalidInputError

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


def write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` (a path, ``-`` for stdout, or a resolved
    :class:`alselect.targets.Target`) by the rules of :mod:`alselect.targets`."""
    from .targets import open_output

    with open_output(path) as handle:
        handle.write(text)
