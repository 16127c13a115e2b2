"""Writing pool files: a streaming :class:`PoolWriter` and the one-shot :func:`write_pool`.

Files are written to a temporary name in the target directory and renamed into place only
when complete, so an interrupted write never leaves a half-written pool under the final
name, and a failed write leaves an existing file untouched. The format stamp is the last
thing written, so even a leaked temporary file is not mistaken for a pool.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Mapping

import h5py
import numpy as np

from .. import __version__
from ..errors import PoolValueError
from . import checks
from .spec import (
    ATTR_CREATED_BY,
    ATTR_ELEMENT_VERSION,
    ATTR_FORMAT,
    ATTR_VERSION,
    ELEMENT_VERSION,
    FORMAT_NAME,
    FORMAT_VERSION,
    SCORES_GROUP,
)

#: Target size of one HDF5 chunk: big enough for fast sequential reads, small enough that
#: reading a few rows does not pull megabytes.
CHUNK_BYTES = 1 << 20
#: Rows validated per block while writing.
WRITE_BLOCK_BYTES = 64 << 20

STR_DTYPE = h5py.string_dtype("utf-8")


def _row_chunks(shape: tuple[int, ...], itemsize: int, axis: int = 0) -> tuple[int, ...]:
    """Chunk shape covering whole rows along ``axis`` and about CHUNK_BYTES."""
    if 0 in shape:
        return None  # h5py refuses chunks on empty datasets
    other = int(np.prod([s for i, s in enumerate(shape) if i != axis])) or 1
    rows = max(1, min(shape[axis], CHUNK_BYTES // max(1, other * itemsize)))
    return tuple(rows if i == axis else (1 if axis != 0 and i == 0 else s) for i, s in enumerate(shape))


class PoolWriter:
    """Build a pool file incrementally and atomically.

    Use as a context manager: the file appears under ``path`` only when the block exits
    without an exception (or :meth:`commit` is called); otherwise the temporary file is
    removed and any existing ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        Final location of the pool file.
    n_rows : int
        Number of samples N in the pool.
    overwrite : bool, default True
        Replace an existing file at ``path`` on commit.
    """

    def __init__(self, path, n_rows: int, *, overwrite: bool = True):
        self.path = os.fspath(path)
        self.n_rows = int(n_rows)
        if self.n_rows <= 0:
            raise PoolValueError(f"a pool needs at least one row, got N={self.n_rows}")
        if not overwrite and os.path.exists(self.path):
            raise PoolValueError(f"'{self.path}' exists; pass overwrite=True (or remove it) to replace it")
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise PoolValueError(f"directory '{directory}' does not exist; create it first")
        fd, self._tmp = tempfile.mkstemp(prefix="." + os.path.basename(self.path) + ".", suffix=".tmp", dir=directory)
        os.close(fd)
        self.file = h5py.File(self._tmp, "w")
        self._done = False

    # -- datasets -------------------------------------------------------------------------
    def create(self, name: str, shape: tuple[int, ...], dtype, *, maxshape=None, axis: int = 0,
               attrs: Mapping[str, Any] | None = None) -> h5py.Dataset:
        """Create an empty chunked dataset whose rows (along ``axis``) are written later."""
        dtype = np.dtype(dtype) if dtype is not STR_DTYPE else dtype
        itemsize = 16 if dtype is STR_DTYPE else dtype.itemsize
        ds = self.file.create_dataset(name, shape=shape, dtype=dtype, maxshape=maxshape,
                                      chunks=_row_chunks(shape, itemsize, axis) if maxshape is None else
                                      _row_chunks(tuple(max(1, s) for s in shape), itemsize, axis))
        ds.attrs[ATTR_ELEMENT_VERSION] = ELEMENT_VERSION
        for key, value in (attrs or {}).items():
            ds.attrs[key] = value
        return ds

    def write(self, name: str, array, *, attrs: Mapping[str, Any] | None = None) -> None:
        """Write a whole array as dataset ``name`` (rows copied block by block)."""
        if isinstance(array, np.ndarray) and array.dtype.kind in "US":
            ds = self.create(name, array.shape, STR_DTYPE, attrs=attrs)
            ds[...] = array.astype(str).astype(object)
            return
        array = np.asarray(array)
        if array.dtype == object:
            ds = self.create(name, array.shape, STR_DTYPE, attrs=attrs)
            ds[...] = array
            return
        ds = self.create(name, array.shape, array.dtype, attrs=attrs)
        if array.ndim == 0 or array.size == 0:
            if array.size:
                ds[...] = array
            return
        step = max(1, WRITE_BLOCK_BYTES // max(1, array[0].nbytes))
        for start in range(0, array.shape[0], step):
            ds[start:start + step] = array[start:start + step]

    # -- commit / abort -------------------------------------------------------------------
    def commit(self, version: int | None = None) -> str:
        """Stamp the file, close it and move it to its final name.

        ``version`` overrides the ``format_version`` stamp (default FORMAT_VERSION), e.g. 2 for
        pools holding ``cd/`` or ``regions/`` datasets.
        """
        if self._done:
            return self.path
        self.file.attrs[ATTR_CREATED_BY] = f"alselect {__version__}"
        self.file.attrs[ATTR_FORMAT] = FORMAT_NAME
        self.file.attrs[ATTR_VERSION] = FORMAT_VERSION if version is None else int(version)
        self.file.close()
        os.replace(self._tmp, self.path)
        self._done = True
        return self.path

    def abort(self) -> None:
        if self._done:
            return
        try:
            self.file.close()
        finally:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)
            self._done = True

    def __enter__(self) -> "PoolWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _float_array(array: np.ndarray, name: str) -> np.ndarray:
    checks.check_float_dtype(name, array.dtype)
    return array


def _expect_shape(name: str, array: np.ndarray, expected: tuple, what: str) -> None:
    if array.shape != expected:
        raise PoolValueError(
            f"'{name}' has shape {array.shape}, expected {expected} ({what}); "
            "all datasets must describe the same N rows and C classes"
        )


def _check_blocks(name: str, array: np.ndarray, check, axis: int = 0) -> None:
    step = max(1, WRITE_BLOCK_BYTES // max(1, array.nbytes // max(1, array.shape[axis])))
    for start in range(0, array.shape[axis], step):
        block = array[start:start + step] if axis == 0 else array[:, start:start + step]
        check(name, np.asarray(block), start)


def validate_arrays(*, probs=None, logits=None, embeddings=None, mc_probs=None, epoch_preds=None,
                    epoch_probs=None, labels=None, labeled=None, ids=None, scores=None, cost=None,
                    class_names=None, truth=None) -> dict[str, np.ndarray]:
    """Check a set of in-memory arrays against the format rules; return them normalised."""
    if probs is None and logits is None:
        raise PoolValueError("a pool needs class probabilities: give probs (or logits, converted by softmax)")
    out: dict[str, np.ndarray] = {}
    base = probs if probs is not None else logits
    base = np.asarray(base)
    base_name = "probs" if probs is not None else "logits"
    if base.ndim != 2:
        raise PoolValueError(f"'{base_name}' must be 2-D (N, C), got shape {base.shape}")
    n, c = base.shape
    if n == 0 or c == 0:
        raise PoolValueError(f"'{base_name}' is empty (shape {base.shape}); a pool needs N >= 1 rows and C >= 1 classes")
    if probs is not None:
        probs = _float_array(np.asarray(probs), "probs")
        _check_blocks("probs", probs, checks.check_probabilities)
        out["probs"] = probs
    if logits is not None:
        logits = _float_array(np.asarray(logits), "logits")
        _expect_shape("logits", logits, (n, c), "N rows, C classes")
        _check_blocks("logits", logits, checks.check_finite)
        out["logits"] = logits
    if embeddings is not None:
        embeddings = _float_array(np.asarray(embeddings), "embeddings")
        if embeddings.ndim != 2 or embeddings.shape[0] != n:
            raise PoolValueError(f"'embeddings' has shape {embeddings.shape}, expected (N={n}, D)")
        _check_blocks("embeddings", embeddings, checks.check_finite)
        out["embeddings"] = embeddings
    if mc_probs is not None:
        mc_probs = _float_array(np.asarray(mc_probs), "mc_probs")
        if mc_probs.ndim != 3 or mc_probs.shape[0] != n or mc_probs.shape[2] != c:
            raise PoolValueError(f"'mc_probs' has shape {mc_probs.shape}, expected (N={n}, T, C={c})")
        _check_blocks("mc_probs", mc_probs, checks.check_probabilities)
        out["mc_probs"] = mc_probs
    if epoch_preds is not None:
        epoch_preds = np.asarray(epoch_preds)
        if epoch_preds.ndim != 2 or epoch_preds.shape[1] != n:
            raise PoolValueError(f"'epoch_preds' has shape {epoch_preds.shape}, expected (E, N={n}): one row per epoch")
        checks.check_labels("epoch_preds", epoch_preds, c, allow_unknown=False)
        out["epoch_preds"] = epoch_preds
    if epoch_probs is not None:
        epoch_probs = _float_array(np.asarray(epoch_probs), "epoch_probs")
        if epoch_probs.ndim != 3 or epoch_probs.shape[1:] != (n, c):
            raise PoolValueError(f"'epoch_probs' has shape {epoch_probs.shape}, expected (E, N={n}, C={c})")
        for e in range(epoch_probs.shape[0]):
            checks.check_probabilities(f"epoch_probs[{e}]", epoch_probs[e])
        out["epoch_probs"] = epoch_probs
    for name, arr in (("labels", labels), ("truth", truth)):
        if arr is not None:
            arr = np.asarray(arr)
            _expect_shape(name, arr, (n,), "one label per row")
            checks.check_labels(name, arr, c)
            out[name] = arr.astype(np.int64, copy=False)
    if labeled is not None:
        labeled = np.asarray(labeled)
        out["labeled"] = checks.check_row_indices("labeled", labeled.astype(np.int64) if labeled.size == 0 else labeled, n)
    if ids is not None:
        ids = np.asarray(ids)
        _expect_shape("ids", ids, (n,), "one id per row")
        if ids.dtype.kind not in "iuUSO":
            raise PoolValueError(f"'ids' must be integers or strings, got dtype {ids.dtype.name}")
        if ids.dtype.kind in "iu":
            ids = ids.astype(np.int64)
        else:
            ids = ids.astype(str)
        checks.check_unique_ids(ids)
        out["ids"] = ids
    if cost is not None:
        cost = _float_array(np.asarray(cost), "cost")
        _expect_shape("cost", cost, (n,), "one cost per row")
        checks.check_positive("cost", cost)
        out["cost"] = cost
    if class_names is not None:
        class_names = np.asarray(class_names, dtype=str)
        _expect_shape("class_names", class_names, (c,), "one name per class")
        out["class_names"] = class_names
    for sname, arr in (scores or {}).items():
        if not sname or "/" in sname:
            raise PoolValueError(f"score name {sname!r} is invalid: use a non-empty name without '/'")
        arr = _float_array(np.asarray(arr), f"{SCORES_GROUP}/{sname}")
        _expect_shape(f"{SCORES_GROUP}/{sname}", arr, (n,), "one score per row")
        checks.check_finite(f"{SCORES_GROUP}/{sname}", arr)
        out[f"{SCORES_GROUP}/{sname}"] = arr
    return out


def write_pool(path, **arrays) -> str:
    """Validate in-memory arrays and write them as a pool file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; replaced only after the new file is complete.
    **arrays
        Any of ``probs`` (N, C), ``logits`` (N, C), ``embeddings`` (N, D), ``mc_probs`` (N, T, C),
        ``epoch_preds`` (E, N), ``epoch_probs`` (E, N, C), ``labels`` (N,), ``labeled`` (K,),
        ``ids`` (N,), ``scores`` (dict name -> (N,)), ``cost`` (N,), ``class_names`` (C,),
        ``truth`` (N,). Either ``probs`` or ``logits`` is required.

    Returns
    -------
    str
        The path written.
    """
    data = validate_arrays(**arrays)
    n = (data.get("probs") if "probs" in data else data["logits"]).shape[0]
    with PoolWriter(path, n) as writer:
        for name, array in data.items():
            if name == "epoch_preds":
                ds = writer.create(name, array.shape, array.dtype, maxshape=(None, n), axis=1)
                ds[...] = array
            else:
                writer.write(name, array)
    return os.fspath(path)
