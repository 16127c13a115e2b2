"""Bringing labels back into the pool, and the hand-off to labeling tools.

- :mod:`.sources` parses label files (CSV/JSONL of id or row -> label or class name).
- :mod:`.history` applies labels to a pool file in place, crash-safely, with a per-cycle history.
- :mod:`.label_studio` exports, pushes and pulls Label Studio tasks (the ``[label-studio]`` extra).
"""

from .history import LabelHistory, apply_labels, read_history
from .sources import LabelEntry, parse_label_text

__all__ = ["LabelEntry", "LabelHistory", "apply_labels", "parse_label_text", "read_history"]
