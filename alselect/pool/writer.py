"""Writing pool files: a streaming :class:`PoolWriter` and the one-shot :func:`write_pool`.

Files are written to a temporary name in the target directory and renamed into place only
when complete, so an interrupted write never leaves a half-written pool under the final
name, and a failed write leaves an existing file untouched. The format stamp is the last
thing written, so even a leaked temporary file is not mistaken for a pool.
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Mapping

import h5py
import numpy as np

from .. import __version__, interrupt, targets, tempfiles
from ..errors import InvalidInputError, PoolValueError
from .. import validation as checks
from .spec import (
    ATTR_CREATED_BY,
    ATTR_MOTION_STRIDE,
    ATTR_FORMAT,
    ATTR_VERSION,
    BY_ARG,
    unknown_keywords,
    DATASETS,
    DTYPE_RULES,
    FORMAT_NAME,
    MOTION_GROUP,
    SCORES_GROUP,
    DatasetSpec,
    dataset_spec,
    is_known,
    match_dims,
    stamp,
    value_check,
    version_for,
)

#: Sizes that must agree across the datasets written together (D, T, K are per dataset).
WRITER_SHARED_DIMS = ("N", "C", "R", "E", "G", "H", "W", "M")

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


def default_file_mode() -> int:
    """0o666 minus the umask: what a plain open() would have given (mkstemp uses 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class PoolWriter:
    """Build a pool file incrementally and atomically.

    Use as a context manager: the file appears under ``path`` only when the block exits
    without an exception (or :meth:`commit` is called); otherwise the temporary file is
    removed and any existing ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        Final location of the pool file; a ``*.zarr`` path or a URL writes a Zarr v3 store
        instead (:class:`~alselect.pool.zarr_store.ZarrPoolWriter`).
    n_rows : int
        Number of samples N in the pool.
    overwrite : bool, default True
        Replace an existing file at ``path`` on commit.
    """

    def __new__(cls, path=None, *args, **kwargs):
        # a Zarr store path or URL gets the Zarr writer (alselect.pool.zarr_store)
        if cls is PoolWriter and path is not None:
            from .zarr_store import ZarrPoolWriter, is_zarr_path

            if is_zarr_path(path):
                return super().__new__(ZarrPoolWriter)
        return super().__new__(cls)

    def __init__(self, path, n_rows: int, *, overwrite: bool = True):
        self.path = os.fspath(path)
        self.n_rows = int(n_rows)
        if self.n_rows <= 0:
            raise PoolValueError(f"a pool needs at least one row, got N={self.n_rows}")
        if not overwrite and os.path.exists(self.path):
            raise PoolValueError(f"'{self.path}' exists; pass overwrite=True (or remove it) to replace it")
        # '-' (stdout), devices and FIFOs get the file streamed into them on commit
        self._target = targets.resolve(self.path)
        if self._target.kind == "replace":
            directory = os.path.dirname(self._target.real)
            if not os.path.isdir(directory):
                raise PoolValueError(f"directory '{directory}' does not exist; create it first")
        self._tmp = targets.temp_for(self._target, "pool.h5")
        try:
            self.file = h5py.File(self._tmp, "w")
        except BaseException:
            tempfiles.discard(self._tmp)
            raise
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
        stamp(ds, name)
        for key, value in (attrs or {}).items():
            ds.attrs[key] = value
        return ds

    def write(self, name: str, array, *, attrs: Mapping[str, Any] | None = None) -> None:
        """Write a whole array as dataset ``name`` (rows copied block by block); datasets the
        format table marks growable are created resizable along axis 0."""
        spec = dataset_spec(name) if is_known(name) else None
        if spec is not None and spec.growable:
            array = np.asarray(array)
            ds = self.create(name, array.shape, array.dtype, maxshape=(None,) + array.shape[1:], axis=spec.axis,
                             attrs=attrs)
            ds[...] = array
            return
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
            interrupt.check()  # h5py defers signals (see alselect.interrupt)
            ds[start:start + step] = array[start:start + step]

    # -- commit / abort -------------------------------------------------------------------
    def commit(self) -> str:
        """Stamp the file, close it and move it to its final name.

        The version stamped is the lowest that covers the content: 2 when a version-2 group
        (``regions/``, ``cd/``) was written, else 1, so version-1 readers keep reading
        files that do not need version 2."""
        if self._done:
            return self.path
        names: list[str] = []
        self.file.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        version = version_for(names)
        self.file.attrs[ATTR_CREATED_BY] = f"alselect {__version__}"
        self.file.attrs[ATTR_FORMAT] = FORMAT_NAME
        self.file.attrs[ATTR_VERSION] = version
        self.file.close()
        self._done = True
        targets.commit(self._tmp, self._target)
        return self.path

    def abort(self) -> None:
        if self._done:
            return
        try:
            self.file.close()
        finally:
            tempfiles.discard(self._tmp)
            self._done = True

    def __enter__(self) -> "PoolWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _check_blocks(name: str, array: np.ndarray, check, axis: int = 0) -> None:
    step = max(1, WRITE_BLOCK_BYTES // max(1, array.nbytes // max(1, array.shape[axis])))
    for start in range(0, array.shape[axis], step):
        block = array[start:start + step] if axis == 0 else array[:, start:start + step]
        check(name, np.asarray(block), start)


def _dtype_ok(rule: str, array: np.ndarray) -> bool:
    kind = array.dtype.kind
    return {"float": array.dtype.name in checks.FLOAT_DTYPES, "integer": kind in "iu", "flags": kind in "iub",
            "ids": kind in "iuUSO", "string": kind in "USO"}[rule]


def _as_array(spec: DatasetSpec, name: str, value) -> np.ndarray:
    if spec.dtype in ("ids", "string"):
        array = np.asarray(value)
        if array.dtype.kind not in "iu":
            array = np.asarray(value, dtype=object) if array.dtype.kind in "OS" else array
    else:
        array = np.asarray(value)
        if array.size == 0 and array.dtype.kind == "f" and spec.dtype == "integer":
            array = array.astype(np.int64)  # an empty list reads as float64
    if not _dtype_ok(spec.dtype, array):
        raise PoolValueError(
            f"'{name}' has dtype {array.dtype.name}; it must be {DTYPE_RULES[spec.dtype]} "
            "(convert it, e.g. `arr.astype('float32')` or `arr.astype('int64')`)"
        )
    return array


def _check_shape(spec: DatasetSpec, name: str, array: np.ndarray, sizes: dict) -> None:
    want = match_dims(spec, array.shape, sizes, WRITER_SHARED_DIMS, may_be_empty=("R", "K"))
    if want is not None:
        raise PoolValueError(
            f"'{name}' has shape {array.shape}, expected {want}; all datasets must describe the same N rows "
            "and C classes, and every other size must be >= 1"
        )


def _given(arrays: Mapping[str, Any]) -> dict[str, tuple[DatasetSpec, Any]]:
    """The non-None arrays keyed by dataset path, in table order; scores expanded."""
    unknown = unknown_keywords(arrays, BY_ARG)
    if unknown:
        raise InvalidInputError(
            f"unknown pool dataset argument '{unknown[0]}'; known: {', '.join(BY_ARG)}"
        )
    out: dict[str, tuple[DatasetSpec, Any]] = {}
    for spec in DATASETS.values():
        value = arrays.get(spec.arg)
        if value is None:
            continue
        if spec.source == "named-arrays":
            if not isinstance(value, Mapping):
                raise InvalidInputError(f"'{spec.arg}' must map score names to arrays, got {type(value).__name__}")
            for sname, arr in value.items():
                if not isinstance(sname, str) or not sname or "/" in sname or checks._bad_text(sname):
                    raise PoolValueError(f"score name {sname!r} is invalid: use a non-empty single-line name without '/'")
                out[f"{SCORES_GROUP}/{sname}"] = (spec, arr)
        else:
            out[spec.name] = (spec, value)
    return out


def _flag(name: str) -> str:
    spec = dataset_spec(name)
    return spec.flag or spec.arg


def validate_arrays(**arrays) -> dict[str, np.ndarray]:
    """Check a set of in-memory arrays against the format table (``alselect.pool.spec``);
    return them keyed by dataset path, converted to their storage dtypes.

    Keywords are the table's ``arg`` names (``probs``, ``regions_probs``, ``scores``, ...)."""
    given = _given(arrays)
    if "probs" not in given and "logits" not in given:
        raise PoolValueError("a pool needs class probabilities: give probs (or logits, converted by softmax)")
    base_name = "probs" if "probs" in given else "logits"
    base = np.asarray(given[base_name][1])
    if base.ndim != 2:
        raise PoolValueError(f"'{base_name}' must be 2-D (N, C), got shape {base.shape}")
    if base.shape[0] == 0 or base.shape[1] == 0:
        raise PoolValueError(f"'{base_name}' is empty (shape {base.shape}); a pool needs N >= 1 rows and C >= 1 classes")
    for name, (spec, _) in given.items():
        for need in spec.requires:
            if need not in given:
                raise PoolValueError(f"{_flag(name)} needs {_flag(need)} ({need} {dataset_spec(need).shape})")
    sizes = {"N": int(base.shape[0]), "C": int(base.shape[1])}
    out: dict[str, np.ndarray] = {}
    for name, (spec, value) in sorted(given.items(), key=lambda kv: kv[0] != "regions/probs"):
        array = _as_array(spec, name, value)
        _check_shape(spec, name, array, sizes)
        out[name] = array
    context = {"n_classes": sizes["C"], "n_rows": sizes["N"], "sizes": sizes}
    for name, array in list(out.items()):
        spec = dataset_spec(name)
        present = out.get("cd/present")
        check = value_check(spec, present=None if present is None else
                            (lambda a, b: np.asarray(present[a:b]).astype(bool)), **context)
        if spec.whole:
            result = check(name, array)
            if spec.check == "check_row_indices":
                array = result
        elif check is not None:
            _check_blocks(name, array, check, spec.axis)
        if spec.store is not None and array.dtype != np.dtype(spec.store):
            array = array.astype(spec.store)
        if spec.dtype == "ids" and array.dtype.kind in "USO":
            array = np.array([v.decode("utf-8") if isinstance(v, bytes) else v for v in array.tolist()], dtype=str)
        elif spec.dtype == "ids":
            array = array.astype(np.int64)
        if spec.dtype == "string":
            array = np.asarray(array, dtype=str)
        out[name] = array
    if "video/id" in out:  # a rule across two datasets: each (video, frame) pair once
        checks.check_video_frames(out["video/id"], out["video/frame"])
    return {name: out[name] for name in given}


# The keywords come from the format table; publish them as the signature (help(), introspection).
validate_arrays.__signature__ = inspect.Signature(
    [inspect.Parameter(arg, inspect.Parameter.KEYWORD_ONLY, default=None) for arg in BY_ARG],
    return_annotation="dict[str, np.ndarray]")


def write_pool(path, *, motion_stride: float = 1.0, **arrays) -> str:
    """Validate in-memory arrays and write them as a pool file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; replaced only after the new file is complete.
    **arrays
        One keyword per dataset of the format table (``alselect.pool.spec.DATASETS``, the
        ``arg`` column): ``probs`` (N, C), ``logits`` (N, C), ``embeddings`` (N, D),
        ``mc_probs`` (N, T, C), ``epoch_preds`` (E, N), ``epoch_probs`` (E, N, C),
        ``labels`` (N,), ``truth`` (N,), ``labeled`` (K,), ``ids`` (N,), ``scores`` (dict
        name -> (N,)), ``cost`` (N,), ``class_names`` (C,), ``regions_probs`` (R, C),
        ``regions_offsets`` (N+1,), ``regions_weights``, ``regions_features``, ``regions_boxes``,
        ``cd_mixtures`` (N, C, C), ``cd_present`` (N, C), ``cd_counts`` (N, C), and the
        version-3 detection, video, motion and ground-truth-box arrays (``regions_scores``,
        ``regions_classes``, ``regions_tracks``, ``video_id``, ``video_frame``, ``motion_forward``,
        ``motion_backward``, ``truth_boxes_boxes``, ``truth_boxes_offsets``, ``truth_boxes_classes``).
        Either ``probs`` or ``logits`` is required.
    motion_stride : float, default 1
        Pixels per cell of the motion grid (stored as the ``stride`` attribute of the motion fields).

    Returns
    -------
    str
        The path written.
    """
    data = validate_arrays(**arrays)
    if any(name.startswith(MOTION_GROUP + "/") for name in data) and not (
            np.isfinite(motion_stride) and motion_stride > 0):
        raise PoolValueError(f"motion stride must be > 0 pixels per cell, got {motion_stride}")
    n = (data["probs"] if "probs" in data else data["logits"]).shape[0]
    with PoolWriter(path, n) as writer:
        for name, array in data.items():
            writer.write(name, array)
            if name.startswith(MOTION_GROUP + "/"):
                writer.file[name].attrs[ATTR_MOTION_STRIDE] = float(motion_stride)
    return os.fspath(path)


write_pool.__signature__ = inspect.Signature(
    [inspect.Parameter("path", inspect.Parameter.POSITIONAL_OR_KEYWORD),
     inspect.Parameter("motion_stride", inspect.Parameter.KEYWORD_ONLY, default=1.0)]
    + list(validate_arrays.__signature__.parameters.values()), return_annotation=str)
