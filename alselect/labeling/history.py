"""Labels into the pool file, in place and crash-safely, with a labeling history.

A pool's labels live in ``labels`` (N,) (``-1`` = unknown); a row is labeled when it is listed in
``labeled`` or has ``labels >= 0``. :func:`apply_labels` changes only ``labels`` and the
``history/`` group:

``history/rows``, ``history/labels``, ``history/previous`` (int64), ``history/cycle`` (int32),
``history/time`` (float64, seconds since the epoch, UTC) -- one entry per changed row, growable;
the group attribute ``committed`` counts the valid entries.

Crash safety follows the epoch recorder's protocol: the new history entries are written and
flushed first, then ``committed`` is bumped, and only then are the ``labels`` written. Readers
and the next call trust only committed entries (an uncommitted tail is overwritten), and every
call first replays the committed history onto ``labels``, so a crash between the two steps is
repaired by the next ``alselect label`` and never loses a label.

The cycle of a call is one more than the highest recorded cycle (the pool's initial labeled set
is cycle 0), unless given. ``balanced`` derives b0 (the labeled count before cycle 1) and the
current cycle from this history when its parameters are not given.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError, PoolFormatError, PoolLockedError, PoolValueError
from .sources import LabelEntry

GROUP = "history"
FIELDS = ("rows", "labels", "previous", "cycle", "time")
ATTR_COMMITTED = "committed"
_DTYPES = {"rows": np.int64, "labels": np.int64, "previous": np.int64, "cycle": np.int32, "time": np.float64}


@dataclass
class LabelHistory:
    """The committed labeling history of a pool (arrays of equal length, in write order)."""

    rows: np.ndarray
    labels: np.ndarray
    previous: np.ndarray
    cycle: np.ndarray
    time: np.ndarray

    def __len__(self) -> int:
        return int(self.rows.size)

    def latest(self) -> tuple[np.ndarray, np.ndarray]:
        """Each row the history labeled, and its latest label (later entries win)."""
        order = np.arange(self.rows.size)[::-1]
        rows, first = np.unique(self.rows[order], return_index=True)
        return rows, self.labels[order][first]

    @property
    def last_cycle(self) -> int:
        return int(self.cycle.max()) if self.cycle.size else 0

    def per_cycle(self) -> list[dict]:
        """One summary per cycle: entries, distinct rows, relabels, first and last time."""
        out = []
        for c in np.unique(self.cycle):
            sel = self.cycle == c
            out.append({"cycle": int(c), "entries": int(sel.sum()), "rows": int(np.unique(self.rows[sel]).size),
                        "relabeled": int((self.previous[sel] >= 0).sum()),
                        "first": float(self.time[sel].min()), "last": float(self.time[sel].max())})
        return out


def _empty_history() -> LabelHistory:
    return LabelHistory(*(np.empty(0, _DTYPES[f]) for f in FIELDS))


def history_from_file(f) -> LabelHistory:
    """The committed history of an open h5py file (empty when the pool has none)."""
    if GROUP not in f:
        return _empty_history()
    group = f[GROUP]
    missing = [name for name in FIELDS if name not in group]
    if missing:
        raise PoolFormatError(f"group '{GROUP}' lacks '{missing[0]}'; the labeling history is damaged "
                              "(restore the pool from a backup, or delete the group to forget the history)")
    lengths = {int(group[name].shape[0]) for name in FIELDS if group[name].ndim == 1}
    if len(lengths) != 1 or any(group[name].ndim != 1 for name in FIELDS):
        # entries are written field by field: a crash can leave fields of different lengths beyond
        # the committed count, which is harmless; below it they must agree
        lengths = {min(int(group[name].shape[0]) for name in FIELDS)}
    committed = group.attrs.get(ATTR_COMMITTED, 0)
    try:
        committed = int(committed)
    except (TypeError, ValueError):
        raise PoolFormatError(f"group '{GROUP}' has a non-integer '{ATTR_COMMITTED}' attribute ({committed!r})") from None
    committed = max(0, min(committed, min(lengths)))
    return LabelHistory(*(np.asarray(group[name][:committed], dtype=_DTYPES[name]) for name in FIELDS))


def read_history(pool) -> LabelHistory:
    """The committed history of a :class:`~alselect.pool.Pool` (or a path)."""
    if isinstance(pool, (str, os.PathLike)):
        from ..pool import open_pool

        with open_pool(pool) as opened:
            return read_history(opened)
    handle = getattr(pool, "file", None)  # in-memory pools have no history
    history = history_from_file(handle) if handle is not None else _empty_history()
    if history.rows.size and (history.rows.min() < 0 or history.rows.max() >= pool.n_rows):
        raise PoolValueError(f"'{GROUP}/rows' holds rows outside [0, {pool.n_rows}); the labeling history is damaged")
    return history


def history_defaults(pool) -> tuple[int, int] | None:
    """``(b0, cycle)`` for the next selection, derived from the history; None without history.

    b0 is the number of labeled rows that the history did not label (the initial set); the
    next selection belongs to the cycle after the last recorded one."""
    history = read_history(pool)
    if not len(history):
        return None
    labeled = pool.labeled_rows()
    first_labeled = np.unique(history.rows[(history.previous < 0) & (history.cycle >= 1)])
    b0 = int(np.setdiff1d(labeled, first_labeled, assume_unique=True).size)
    return b0, history.last_cycle + 1


# --------------------------------------------------------------------------------- resolving
def resolve(pool, entries: list[LabelEntry], what: str = "--from") -> tuple[np.ndarray, np.ndarray]:
    """Rows and class indices of ``entries``; rejects unknown ids, rows and class names, and a
    row given two different labels in the same file."""
    if not entries:
        raise InvalidInputError(f"{what}: the label file has a header but no entries")
    names = pool.class_names()
    index = {name: i for i, name in enumerate(names)} if names else {}
    c = pool.n_classes
    by_id = [e for e in entries if e.by == "id"]
    rows = np.empty(len(entries), dtype=np.int64)
    if by_id:
        try:
            found = pool.rows_for_ids([e.key for e in by_id], what)
        except PoolValueError as exc:
            raise InvalidInputError(str(exc).split(" (check")[0] + "; fix or drop that entry") from None
        for e, r, i in zip(by_id, found, (k for k, e in enumerate(entries) if e.by == "id")):
            rows[i] = r
    for i, e in enumerate(entries):
        if e.by == "row":
            try:
                rows[i] = int(e.key)
            except ValueError:
                raise InvalidInputError(f"{what}: line {e.line}: row {e.key!r} is not an integer") from None
            if not 0 <= rows[i] < pool.n_rows:
                raise InvalidInputError(f"{what}: line {e.line}: row {e.key} is outside the pool's rows 0..{pool.n_rows - 1}")
    labels = np.empty(len(entries), dtype=np.int64)
    for i, e in enumerate(entries):
        value = e.value
        if e.value_kind == "label" and value.lstrip("-").isdigit():
            label = int(value)
            if not 0 <= label < c:
                raise InvalidInputError(f"{what}: line {e.line}: label {label} is outside the classes 0..{c - 1}")
        elif value in index:
            label = index[value]
        elif not names:
            raise InvalidInputError(f"{what}: line {e.line}: class {value!r} given by name, but the pool has no "
                                    "class_names; give integer labels or add names with `alselect pack --class-names`")
        else:
            raise InvalidInputError(f"{what}: line {e.line}: unknown class {value!r}; the pool's classes are: "
                                    f"{', '.join(names)}")
        labels[i] = label
    order = np.lexsort((np.arange(rows.size), rows))
    dup = np.flatnonzero(rows[order][1:] == rows[order][:-1])
    for d in dup:
        a, b = order[d], order[d + 1]
        if labels[a] != labels[b]:
            raise InvalidInputError(f"{what}: lines {entries[a].line} and {entries[b].line} give the same sample two "
                                    f"different labels ({labels[a]} and {labels[b]}); keep one")
    keep = np.ones(rows.size, dtype=bool)
    keep[order[dup + 1]] = False
    return rows[keep], labels[keep]


# ---------------------------------------------------------------------------------- writing
@contextmanager
def open_for_update(path: str):
    """The pool opened ``r+`` under the writers' lock (:mod:`alselect.pool.locking`): waits while
    readers are reading or another writer is appending."""
    from ..pool.locking import open_h5, pool_lock

    with pool_lock(path, exclusive=True, what="labels"):
        try:
            f = open_h5(path, "r+")
        except OSError as exc:
            raise PoolFormatError(f"cannot open '{path}' for writing ({str(exc).splitlines()[0]})") from None
        try:
            yield f
        finally:
            f.close()


def _append(group, values: dict[str, np.ndarray], start: int) -> None:
    for name in FIELDS:
        data = np.asarray(values[name], dtype=_DTYPES[name])
        if name not in group:
            from ..pool.spec import stamp

            stamp(group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=_DTYPES[name], chunks=(4096,)),
                  f"{GROUP}/{name}")
        ds = group[name]
        ds.resize((start + data.size,))
        ds[start:] = data


def _replay(f, history: LabelHistory, n_rows: int) -> None:
    """Make ``labels`` agree with the committed history (the latest entry of each row wins)."""
    if not len(history):
        return
    rows, latest = history.latest()
    labels = _labels_dataset(f, n_rows)
    current = labels[()]
    stale = current[rows] != latest
    if stale.any():
        fix = rows[stale]
        current[fix] = latest[stale]
        labels[...] = current


def _labels_dataset(f, n_rows: int):
    if "labels" not in f:
        from ..pool.spec import stamp

        ds = f.create_dataset("labels", data=np.full(n_rows, -1, dtype=np.int64))
        stamp(ds, "labels")
    return f["labels"]


def _name(ids, row) -> str:
    return f"row {row}" if ids is None else f"{str(ids[row])!r} (row {row})"


def _cls(names, label) -> str:
    return f"{names[label]!r}" if names else str(int(label))


@dataclass
class LabelReport:
    changed: int
    unchanged: int
    relabeled: int
    cycle: int
    repaired: int


def apply_labels(path, entries: list[LabelEntry], *, overwrite: bool = False, cycle: int | None = None,
                 what: str = "--from", now: float | None = None) -> LabelReport:
    """Mark the samples of ``entries`` labeled with their labels, in the pool file at ``path``.

    Raises :class:`InvalidInputError` (nothing written) for unknown ids, rows or class names, and
    for a sample already labeled with a different class unless ``overwrite``."""
    from ..pool import open_pool
    from ..pool.zarr_store import is_zarr_path

    path = os.fspath(path)
    if is_zarr_path(path):
        raise InvalidInputError(f"'{path}' is a Zarr store; labels are recorded in HDF5 pool files only (Zarr stores "
                                "are written whole by `alselect pack`): label the HDF5 pool, or list the labeled rows "
                                "in a manifest ('labeled', `alselect manifest --labeled`)")
    if cycle is not None and (isinstance(cycle, bool) or not isinstance(cycle, (int, np.integer)) or cycle < 1):
        raise InvalidInputError(f"cycle must be an integer >= 1, got {cycle!r} (cycle 0 is the initial labeled set)")
    with open_pool(path) as pool:
        rows, labels = resolve(pool, entries, what)
        history = read_history(pool)
        n_rows = pool.n_rows
        pool_ids = pool.ids() if pool.has("ids") else None
        names = pool.class_names()
        current = pool.read("labels", dtype=np.int64) if pool.has("labels") else np.full(n_rows, -1, np.int64)
    stored = current.copy()
    # the committed history wins over a stale ``labels`` (a crash between the two steps)
    if len(history):
        hrows, latest = history.latest()
        current[hrows] = latest
    previous = current[rows]
    conflict = (previous >= 0) & (previous != labels)
    if conflict.any() and not overwrite:
        i = int(np.flatnonzero(conflict)[0])
        raise InvalidInputError(
            f"{what}: sample {_name(pool_ids, rows[i])} is already labeled {_cls(names, previous[i])}, the new label "
            f"is {_cls(names, labels[i])} ({int(conflict.sum())} such conflict(s)); pass --overwrite to relabel"
        )
    change = previous != labels
    cycle = history.last_cycle + 1 if cycle is None else int(cycle)
    stamp = time.time() if now is None else float(now)
    k = int(change.sum())
    if not k and not (stored != current).any():
        return LabelReport(changed=0, unchanged=int(rows.size), relabeled=0, cycle=cycle, repaired=0)
    with open_for_update(path) as f:
        start = len(history)
        if len(history_from_file(f)) != start:
            raise PoolLockedError(f"another process recorded labels in '{path}' while this one was checking its "
                                  "file; nothing was written: run the command again")
        if k:
            group = f.require_group(GROUP)
            _append(group, {"rows": rows[change], "labels": labels[change], "previous": previous[change],
                            "cycle": np.full(k, cycle), "time": np.full(k, stamp)}, start)
            f.flush()
            group.attrs[ATTR_COMMITTED] = start + k
            f.flush()
        _replay(f, history_from_file(f), n_rows)
    return LabelReport(changed=k, unchanged=int((~change).sum()), relabeled=int((change & (previous >= 0)).sum()),
                       cycle=cycle, repaired=int((stored != current).sum()))
