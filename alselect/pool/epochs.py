"""The append protocol of the per-epoch datasets (``epoch_preds``, ``epoch_probs``).

Format-level and framework-free (h5py and NumPy only): :class:`alselect.record.EpochRecorder`
and any other writer of epochs go through :func:`append_epoch`, so the protocol lives here once.

An epoch is appended in two steps: the new row is written and flushed, then the datasets'
``committed_epochs`` attribute is bumped and flushed. Readers trust only committed rows, so a
process killed between the two leaves a file that reads as the previous epochs, and the next
append overwrites the partial row. ``copy=True`` appends to a copy in the same directory,
fsyncs it and renames it over the pool, so the pool is always the old or the new complete file.
"""

from __future__ import annotations

import os
import shutil
from typing import Callable

import h5py
import numpy as np

from .. import tempfiles
from ..errors import PoolFormatError
from .spec import ATTR_COMMITTED_EPOCHS, stamp
from .writer import CHUNK_BYTES


def label_dtype(n_classes: int) -> np.dtype:
    """Smallest signed integer type holding labels 0..C-1 (E x N labels add up)."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_classes - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def committed_epochs(ds: h5py.Dataset) -> int:
    """Leading epoch rows that are complete (all rows when the attribute is absent)."""
    value = ds.attrs.get(ATTR_COMMITTED_EPOCHS)
    return int(ds.shape[0]) if value is None else min(int(value), int(ds.shape[0]))


def open_file(path: str, mode: str) -> h5py.File:
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        what = " for writing" if mode != "r" else ""
        raise PoolFormatError(
            f"cannot open '{path}'{what} ({str(exc).splitlines()[0]}); is another process using it?"
        ) from None


def _growable(f: h5py.File, path: str, name: str, n_rows: int, row_shape: tuple, dtype) -> h5py.Dataset:
    """The growable dataset ``name`` (created empty, as the format table describes, if absent)."""
    if name in f:
        ds = f[name]
        if ds.maxshape[0] is not None:
            raise PoolFormatError(
                f"'{name}' in '{path}' cannot grow (it was created without maxshape=(None, ...)); "
                "rebuild the pool with `alselect pack` or a current alselect"
            )
        return ds
    itemsize = np.dtype(dtype).itemsize * int(np.prod(row_shape, dtype=np.int64))
    chunk = (1, max(1, min(n_rows, CHUNK_BYTES // max(1, itemsize)))) + tuple(row_shape)
    full = (n_rows,) + tuple(row_shape)
    ds = f.create_dataset(name, shape=(0,) + full, maxshape=(None,) + full, dtype=dtype, chunks=chunk)
    stamp(ds, name)
    ds.attrs[ATTR_COMMITTED_EPOCHS] = 0
    return ds


def _append(path: str, labels: np.ndarray, probs: np.ndarray | None, n_classes: int,
            before_commit: Callable[[], None] | None) -> int:
    n_rows = int(labels.shape[0])
    with open_file(path, "r+") as f:
        preds = _growable(f, path, "epoch_preds", n_rows, (), label_dtype(n_classes))
        epoch = committed_epochs(preds)
        if np.issubdtype(preds.dtype, np.integer) and n_classes - 1 > np.iinfo(preds.dtype).max:
            raise PoolFormatError(f"'epoch_preds' in '{path}' has dtype {preds.dtype}, too small for {n_classes} classes")
        targets = [(preds, labels)]
        if probs is not None:
            prob_ds = _growable(f, path, "epoch_probs", n_rows, (n_classes,), np.float32)
            if committed_epochs(prob_ds) != epoch:
                raise PoolFormatError(
                    f"'{path}' holds {epoch} epochs of epoch_preds but {committed_epochs(prob_ds)} of epoch_probs; "
                    "they must stay aligned (record probabilities from the first epoch on, or drop epoch_probs)"
                )
            targets.append((prob_ds, probs))
        for ds, row in targets:  # 1) write the new row completely ...
            ds.resize(epoch + 1, axis=0)
            ds[epoch] = row
        f.flush()
        if before_commit is not None:
            before_commit()
        for ds, _ in targets:  # 2) ... then declare it committed
            ds.attrs[ATTR_COMMITTED_EPOCHS] = epoch + 1
        f.flush()
    return epoch


def append_epoch(path: str, labels: np.ndarray, probs: np.ndarray | None, n_classes: int, *,
                 copy: bool = False, before_commit: Callable[[], None] | None = None) -> int:
    """Append one epoch: ``labels`` (N,) to ``epoch_preds`` and, when given, ``probs`` (N, C)
    to ``epoch_probs``. Inputs are already validated. Returns the 0-based epoch index.

    ``before_commit`` runs after the row is flushed and before it is committed (a test seam)."""
    if not copy:
        return _append(path, labels, probs, n_classes, before_commit)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfiles.create(directory, os.path.basename(path))
    os.close(fd)
    try:
        shutil.copy2(path, tmp)
        epoch = _append(tmp, labels, probs, n_classes, before_commit)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tempfiles.discard(tmp)
        raise
    tempfiles.release(tmp)
    return epoch
