"""Label files: which sample got which label.

Two encodings, told apart by their first non-blank character:

- CSV with a header naming one key column (``id`` or ``row``) and one value column (``label``, an
  integer class index or a class name, or ``class``, a class name);
- JSONL, one object per line with the same keys (``{"id": "img7.png", "class": "cat"}``).

Blank lines are skipped. Keys and values are resolved against the pool later
(:func:`alselect.labeling.history.resolve`), so this module needs no pool.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from ..errors import InvalidInputError

KEY_COLUMNS = ("id", "row")
VALUE_COLUMNS = ("label", "class")


@dataclass(frozen=True)
class LabelEntry:
    """One line of a label file: ``key`` is a row number (``by == "row"``) or a sample id."""

    line: int
    by: str  # "id" or "row"
    key: str
    value: str
    value_kind: str  # "label" (index or name) or "class" (name)


def _columns(names, what: str, line: int) -> tuple[str, str]:
    keys = [c for c in KEY_COLUMNS if c in names]
    values = [c for c in VALUE_COLUMNS if c in names]
    if len(keys) != 1 or len(values) != 1:
        raise InvalidInputError(
            f"{what}: line {line} has columns {sorted(names)}; a label file needs exactly one of "
            f"{'/'.join(KEY_COLUMNS)} and one of {'/'.join(VALUE_COLUMNS)} (e.g. a CSV header 'id,label')"
        )
    return keys[0], values[0]


def _text(value, what: str, line: int, column: str) -> str:
    if value is None or isinstance(value, (dict, list, bool)):
        raise InvalidInputError(f"{what}: line {line}: '{column}' is {json.dumps(value)}; give a string or an integer")
    text = str(value).strip()
    if not text:
        raise InvalidInputError(f"{what}: line {line}: '{column}' is empty")
    return text


def parse_label_text(text: str, what: str = "--from") -> list[LabelEntry]:
    """Parse a whole label file (CSV with header, or JSONL)."""
    stripped = text.lstrip()
    if not stripped:
        raise InvalidInputError(f"{what}: the label file is empty; give a CSV with header 'id,label' or JSONL lines")
    entries: list[LabelEntry] = []
    if stripped.startswith("{"):
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{what}: line {number} is not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise InvalidInputError(f"{what}: line {number} is not a JSON object")
            key, value = _columns(obj.keys(), what, number)
            entries.append(LabelEntry(number, key, _text(obj[key], what, number, key),
                                      _text(obj[value], what, number, value), value))
        return entries
    reader = csv.reader(io.StringIO(text))
    header = None
    for number, row in enumerate(reader, start=1):
        if not row or not any(cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        if header is None:
            header = cells
            key, value = _columns(set(header), what, number)
            ki, vi = header.index(key), header.index(value)
            continue
        if len(cells) != len(header):
            raise InvalidInputError(f"{what}: line {number} has {len(cells)} fields, the header has {len(header)}")
        entries.append(LabelEntry(number, key, _text(cells[ki], what, number, key),
                                  _text(cells[vi], what, number, value), value))
    return entries
