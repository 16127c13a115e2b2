"""Reading pool files lazily: :func:`open_pool` and :class:`Pool`.

Opening validates the structure (stamp, version, shapes, dtypes, the labeled list) without
reading bulk data. Values are validated block by block as each dataset is read, so a
strategy that needs only ``probs`` never touches the embeddings, and pools larger than
memory can be scored in a single streaming pass.
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator

import h5py
import numpy as np

from ..errors import AlselectError, MissingDatasetError, PoolFormatError, PoolNotFoundError, PoolValueError
from .. import interrupt, validation as checks
from . import locking
from .spec import (
    ATTR_COMMITTED_EPOCHS,
    ATTR_CREATED_BY,
    ATTR_ELEMENT_VERSION,
    ATTR_ENCODING_TYPE,
    ATTR_FORMAT,
    ATTR_VERSION,
    DATASETS,
    DTYPE_RULES,
    FORMAT_NAME,
    FORMAT_VERSION,
    SCORES_GROUP,
    dataset_spec,
    match_dims,
    value_check,
)

#: Bytes of one block when streaming a dataset (bounded memory on pools of any size).
READ_BLOCK_BYTES = 64 << 20

Progress = Callable[[int], None]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax along the last axis (max subtracted before exp), float32/64."""
    dtype = np.float64 if logits.dtype == np.float64 else np.float32
    z = logits.astype(dtype, copy=True)
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


#: A compressed dataset may claim at most this many times its stored bytes (zeros compress
#: about 1000:1 with gzip); beyond it the claimed shape is taken as corrupt, not allocated.
MAX_COMPRESSION = 1000
#: Exceptions h5py and numpy raise on corrupt metadata; every one becomes a PoolFormatError.
H5_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError, OverflowError, UnicodeDecodeError,
             AttributeError, IndexError, SystemError, MemoryError)
#: Whole datasets checked when the pool is opened (row lists and offsets); ids and class names
#: are checked when first used.
OPEN_CHECKED = tuple(name for name, spec in DATASETS.items() if spec.whole and spec.dtype == "integer")
#: Dims that must agree across datasets; other free dims (D, T, E, K) are per dataset.
SHARED_DIMS = ("N", "C", "R", "G", "H", "W", "M")


def _int_attr(value, what: str) -> int:
    """An integer attribute as int, or PoolFormatError (arrays, strings, NaN, inf, fractions)."""
    arr = np.asarray(value)
    if arr.size == 1 and arr.dtype.kind in "iu":
        return int(arr.reshape(()))
    if arr.size == 1 and arr.dtype.kind == "f" and float(arr.reshape(())).is_integer():
        return int(arr.reshape(()))  # integral floats (written by some tools) are accepted
    raise PoolFormatError(f"{what} is {repr(value)[:60]}; it must be one integer")


def _text_attr(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "OSU":
        return _text_attr(value.item())
    return value


def _decoded(value) -> str:
    """A string element as str (h5py returns UTF-8 strings as bytes; validated before this)."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def open_pool(path, *, name=None) -> "Pool":
    """Open and structurally validate a pool file (``name``: how messages call it, when
    ``path`` is a spooled copy, e.g. of stdin), a Zarr v3 store (a ``*.zarr`` directory or a
    URL, :class:`~alselect.pool.zarr_store.ZarrPool`), or the manifest of a sharded pool (a
    :class:`~alselect.pool.sharded.ShardedPool`); all have the same interface.

    Raises
    ------
    PoolNotFoundError
        No file at ``path``.
    PoolFormatError
        Not HDF5, truncated or corrupt, not an alselect pool, newer format or element version,
        links out of the file, or datasets of inconsistent shapes, dtypes or claimed sizes.
    """
    from .manifest import is_manifest

    if is_manifest(path):
        from .sharded import ShardedPool

        return ShardedPool(path)
    return Pool(path, name=name)  # a Zarr store opens as a ZarrPool (see Pool.__new__)


class Pool:
    """A read-only, lazily read pool file. Use :func:`open_pool` or ``with Pool(path) as pool``.

    Attributes
    ----------
    path : str
    n_rows : int
        N, the number of samples.
    n_classes : int
        C, the number of classes.
    version : int
        Format version of the file.
    """

    #: False for images that are not a file on disk (no locking, no reopening)
    _on_disk = False
    _state = None
    #: what the storage is called in messages (a backend overrides it)
    KIND = "an HDF5 file"
    #: exceptions of the storage library that mean corrupt metadata or data
    STORAGE_ERRORS = H5_ERRORS

    def __new__(cls, path=None, *args, **kwargs):
        # the storage backend seam: a Zarr store path or URL opens as a ZarrPool
        if cls is Pool and path is not None:
            from .zarr_store import ZarrPool, is_zarr_path

            if is_zarr_path(path):
                return super().__new__(ZarrPool)
        return super().__new__(cls)

    def __init__(self, path, *, name=None):
        #: the file opened; ``path`` (what messages name) differs when it is a spooled copy
        self.source = os.fspath(path)
        self.path = self.source if name is None else str(name)
        if not os.path.exists(self.source):
            raise PoolNotFoundError(f"pool file '{self.path}' not found; build one with `alselect pack` or `alselect infer`")
        if os.path.isdir(self.source):
            raise PoolFormatError(f"'{self.path}' is a directory, not a pool file")
        try:
            is_hdf5 = h5py.is_hdf5(self.source)
        except H5_ERRORS:
            is_hdf5 = False
        if not is_hdf5:
            raise PoolFormatError(
                f"'{self.path}' is not an HDF5 file; a pool is an HDF5 file written by `alselect pack` or `alselect infer`"
            )
        self._labeled_rows: np.ndarray | None = None
        self._ids: np.ndarray | None = None
        #: committed epochs per epoch dataset, fixed at first look: a reader's view of a pool that
        #: a training loop keeps appending to stays one consistent snapshot
        self._epochs_seen: dict[str, int] = {}
        self._on_disk = os.path.isfile(self.source)  # a regular file: the locking protocol applies
        with self._shared():
            try:
                self.file = locking.open_h5(self.source, "r")
                self._state = locking.file_state(self.source) if self._on_disk else None
            except H5_ERRORS as exc:
                raise self._corrupt("opening the file", exc) from None
            try:
                self._check_structure()
            except AlselectError:
                self.file.close()
                raise
            except H5_ERRORS as exc:
                self.file.close()
                raise self._corrupt("reading its structure", exc) from None

    def _shared(self):
        """The readers' lock of :mod:`alselect.pool.locking` (none for a file not on disk)."""
        if not self._on_disk:
            return contextlib.nullcontext()
        return locking.pool_lock(self.source, exclusive=False, what="a writer is appending")

    def _refresh(self) -> None:
        """Reopen when a writer changed the file in place since it was opened, so no HDF5
        metadata cached before the change is used after it (call under :meth:`_shared`). A file
        replaced by another one (a rename) keeps being read as opened."""
        if not self._on_disk:
            return
        try:
            state = locking.file_state(self.source)
        except OSError:
            return
        if state == self._state or state[0] != self._state[0]:
            return
        self.file.close()
        self.file = locking.open_h5(self.source, "r")
        self._state = state
        self._check_structure()

    def _corrupt(self, doing: str, exc: BaseException) -> PoolFormatError:
        detail = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        return PoolFormatError(
            f"'{self.path}' is truncated or corrupt: {doing} failed ({type(exc).__name__}: {detail}); "
            "rebuild it with `alselect pack` or `alselect infer`"
        )

    # -- structure ------------------------------------------------------------------------
    def _check_structure(self) -> None:
        self._present: dict[str, h5py.Dataset] = {}
        # In-memory images (no file on disk) have no file size to bound claimed sizes by.
        source = getattr(self, "source", self.path)
        self.file_size = os.path.getsize(source) if os.path.isfile(source) else None
        attrs = self.file.attrs
        fmt = _text_attr(attrs.get(ATTR_FORMAT))
        if not isinstance(fmt, str) or fmt != FORMAT_NAME:
            raise PoolFormatError(
                f"'{self.path}' is {self.KIND} but not an alselect pool (root attribute "
                f"'{ATTR_FORMAT}' is {repr(fmt)[:60]}, expected {FORMAT_NAME!r}); convert your arrays with `alselect pack`"
            )
        version = attrs.get(ATTR_VERSION)
        if version is None:
            raise PoolFormatError(f"'{self.path}' has no '{ATTR_VERSION}' attribute; rebuild it with `alselect pack`")
        self.version = _int_attr(version, f"root attribute '{ATTR_VERSION}' of '{self.path}'")
        if self.version > FORMAT_VERSION:
            raise PoolFormatError(
                f"'{self.path}' uses pool format version {self.version}, newer than the newest this alselect "
                f"reads ({FORMAT_VERSION}); upgrade alselect (`pip install -U alselect`)"
            )
        if self.version < 1:
            raise PoolFormatError(f"'{self.path}' has invalid format version {self.version}; versions start at 1")
        self._find_datasets()
        base = "probs" if "probs" in self._present else "logits" if "logits" in self._present else None
        if base is None:
            if "epoch_preds" in self._present:
                raise PoolFormatError(
                    f"'{self.path}' holds only recorded epochs, no model outputs yet; run `alselect infer -o "
                    f"{self.path} ...` to add them (it keeps the recorded epochs)"
                )
            raise PoolFormatError(
                f"'{self.path}' has neither 'probs' nor 'logits'; every pool needs class probabilities "
                "(rebuild it with `alselect pack --probs P.npy` or `--logits L.npy`)"
            )
        shape = self._present[base].shape
        if len(shape) != 2 or shape[0] == 0 or shape[1] == 0:
            raise PoolFormatError(f"dataset '{base}' in '{self.path}' has shape {shape}; it must be (N, C) with N, C >= 1")
        sizes = {"N": int(shape[0]), "C": int(shape[1])}
        names = sorted(self._present, key=lambda nm: (nm != base, nm != "regions/probs"))
        for name in names:
            self._check_dataset(name, sizes)
        self.n_rows, self.n_classes = sizes["N"], sizes["C"]
        self._sizes = sizes
        for name in names:
            for need in dataset_spec(name).requires:
                if need not in self._present:
                    raise PoolFormatError(
                        f"'{self.path}' holds '{name}' without '{need}'; the format requires both "
                        f"(add it with {dataset_spec(need).how_to_add})"
                    )
        for name in OPEN_CHECKED:
            if name in self._present:
                check = self._checker(name)
                try:
                    check(name, self._block(name, 0, self._present[name].shape[0]))
                except PoolValueError as exc:
                    raise PoolFormatError(f"{exc} (in '{self.path}')") from None

    def _find_datasets(self) -> None:
        """Map every known dataset name to its h5py dataset, refusing links and foreign storage."""
        candidates = [n for n in DATASETS if "<" not in n]
        scores = self._hard_child(self.file, SCORES_GROUP, want_group=True)
        if scores is not None:
            candidates += [f"{SCORES_GROUP}/{key}" for key in scores.keys()]
        for name in candidates:
            obj = self.file
            parts = name.split("/")
            for i, part in enumerate(parts):
                obj = self._hard_child(obj, part, want_group=i < len(parts) - 1, full="/".join(parts[:i + 1]))
                if obj is None:
                    break
            if obj is not None:
                self._present[name] = obj

    def _hard_child(self, group, key: str, *, want_group: bool, full: str | None = None):
        full = full or key
        if not isinstance(group, h5py.Group):
            return None
        link = group.get(key, getlink=True)
        if link is None:
            return None
        if isinstance(link, h5py.ExternalLink):
            raise PoolFormatError(
                f"'{full}' in '{self.path}' is an external link to '{link.filename}'; alselect never follows links "
                "out of the pool file: store the data in the pool itself (`alselect pack`)"
            )
        if isinstance(link, h5py.SoftLink):
            raise PoolFormatError(
                f"'{full}' in '{self.path}' is a soft link (to '{link.path}'); the format requires the data itself "
                "at each dataset's name: rebuild the pool with `alselect pack`"
            )
        return self._of_kind(group[key], full, want_group, h5py.Group, h5py.Dataset, "a dataset")

    def _of_kind(self, obj, full: str, want_group: bool, group_type, leaf_type, leaf: str):
        """``obj`` when it is a group (``want_group``) or a ``leaf_type``, else the format error."""
        if want_group:
            if not isinstance(obj, group_type):
                raise PoolFormatError(f"'{full}' in '{self.path}' is not a group; the format requires a group there")
            return obj
        if not isinstance(obj, leaf_type):
            raise PoolFormatError(f"'{full}' in '{self.path}' is a group; the format requires {leaf} there")
        return obj

    def _check_dataset(self, name: str, sizes: dict) -> None:
        spec = dataset_spec(name)
        ds = self._present[name]
        self._check_local(name, ds)
        self._check_dtype(name, spec, ds.dtype)
        shape = tuple(int(s) for s in ds.shape)
        want = match_dims(spec, shape, sizes, SHARED_DIMS)
        if want is not None:
            raise PoolFormatError(
                f"dataset '{name}' in '{self.path}' has shape {shape}, expected {want}; all datasets must describe "
                "the same N rows and C classes, and every other size must be >= 1 (rebuild the pool with `alselect pack`)"
            )
        if ATTR_ELEMENT_VERSION in ds.attrs:
            version = _int_attr(ds.attrs[ATTR_ELEMENT_VERSION],
                                f"attribute '{ATTR_ELEMENT_VERSION}' of dataset '{name}' in '{self.path}'")
            if version > spec.element_version:
                raise PoolFormatError(
                    f"dataset '{name}' in '{self.path}' has element version {version}, newer than the newest this "
                    f"alselect reads ({spec.element_version}); upgrade alselect (`pip install -U alselect`)"
                )
            if version < 1:
                raise PoolFormatError(f"dataset '{name}' in '{self.path}' has invalid element version {version}")
        encoding = _text_attr(ds.attrs.get(ATTR_ENCODING_TYPE, spec.encoding))
        if encoding != spec.encoding:
            raise PoolFormatError(
                f"dataset '{name}' in '{self.path}' has encoding type {encoding!r}, expected {spec.encoding!r}; "
                "rebuild the pool with `alselect pack`"
            )
        if spec.epochs:
            self._committed_epochs(ds, name)
        self._check_storage(name, spec, ds)

    def _check_local(self, name: str, ds) -> None:
        """Refuse datasets whose data lives outside the pool file (HDF5 virtual and external storage)."""
        if ds.is_virtual:
            raise PoolFormatError(
                f"dataset '{name}' in '{self.path}' is a virtual dataset; alselect never reads data from outside "
                "the pool file: store the data in the pool itself (`alselect pack`)"
            )
        if ds.external:
            raise PoolFormatError(
                f"dataset '{name}' in '{self.path}' keeps its data in external files; alselect never reads data "
                "from outside the pool file: store the data in the pool itself (`alselect pack`)"
            )

    @staticmethod
    def _is_string(dtype: np.dtype) -> bool:
        """Whether a stored dtype holds UTF-8 strings (h5py's variable-length string type)."""
        return h5py.check_string_dtype(dtype) is not None

    def _check_dtype(self, name: str, spec, dtype: np.dtype) -> None:
        kind = dtype.kind
        ok = {"float": dtype.name in checks.FLOAT_DTYPES,
              "integer": kind in "iu",
              "flags": kind in "iub",
              "ids": kind in "iu" or self._is_string(dtype),
              "string": self._is_string(dtype)}[spec.dtype]
        if not ok:
            raise PoolFormatError(
                f"dataset '{name}' in '{self.path}' has dtype {dtype}; it must be {DTYPE_RULES[spec.dtype]} "
                "(convert it, e.g. `arr.astype('float32')`, and rebuild the pool with `alselect pack`)"
            )

    def _check_storage(self, name: str, spec, ds: h5py.Dataset) -> None:
        """Refuse claimed sizes the file cannot hold, before anything is allocated or read."""
        shape = [int(s) for s in ds.shape]
        if spec.epochs and shape:
            shape[0] = self._committed_epochs(ds, name)
        itemsize = 16 if h5py.check_string_dtype(ds.dtype) is not None else ds.dtype.itemsize
        claimed = itemsize * int(np.prod(shape, dtype=object))
        if claimed == 0:
            return
        stored = int(ds.id.get_storage_size())
        nfilters = ds.id.get_create_plist().get_nfilters()
        limit = stored * (MAX_COMPRESSION if nfilters else 1)
        if claimed > limit or (self.file_size is not None and stored > self.file_size):
            raise PoolFormatError(
                f"dataset '{name}' in '{self.path}' claims shape {tuple(ds.shape)} ({claimed} bytes) but the file stores "
                f"{stored} bytes of it (file size {self.file_size}); the file is truncated or corrupt: rebuild it"
            )
        offset = ds.id.get_offset()
        if offset is not None and self.file_size is not None and offset + stored > self.file_size:
            raise PoolFormatError(
                f"dataset '{name}' in '{self.path}' ends at byte {offset + stored}, past the end of the file "
                f"({self.file_size} bytes); the file is truncated: rebuild it"
            )

    def _ds(self, name: str) -> h5py.Dataset:
        try:
            return self._present[name]
        except KeyError:
            self.require(name)
            raise

    # -- what is there --------------------------------------------------------------------
    def has(self, name: str) -> bool:
        """Whether the pool holds ``name``; ``probs`` is always available (derived from logits).
        A per-epoch dataset without a committed epoch counts as absent."""
        if name == "probs":
            return True
        if name not in self._present:
            return False
        if dataset_spec(name).epochs:
            return self.shape(name)[0] > 0
        return True

    def require(self, name: str, who: str = "this operation") -> None:
        """Raise :class:`MissingDatasetError` naming the dataset and how to add it."""
        if self.has(name):
            return
        spec = dataset_spec(name)
        if name in self._present:
            raise MissingDatasetError(
                f"{who} needs dataset '{name}' {spec.shape}, but '{self.path}' holds no committed epoch of it; "
                f"record at least one epoch ({spec.how_to_add})"
            )
        raise MissingDatasetError(
            f"{who} needs dataset '{name}' {spec.shape} ({spec.description}), which '{self.path}' lacks; "
            f"add it with {spec.how_to_add}"
        )

    def shape(self, name: str) -> tuple[int, ...]:
        if name == "probs" and "probs" not in self._present:
            return tuple(self._ds("logits").shape)
        ds = self._ds(name)
        if dataset_spec(name).epochs:
            return (self._committed_epochs(ds, name),) + tuple(ds.shape[1:])
        return tuple(ds.shape)

    def _committed_epochs(self, ds: h5py.Dataset, name: str = "") -> int:
        """Epoch rows to trust: the ATTR_COMMITTED_EPOCHS attribute when present, else all rows
        (as first seen by this reader)."""
        key = name or ds.name
        seen = self.__dict__.setdefault("_epochs_seen", {})
        if key not in seen:
            seen[key] = self._read_committed(ds, name)
        return seen[key]

    def _read_committed(self, ds: h5py.Dataset, name: str) -> int:
        committed = ds.attrs.get(ATTR_COMMITTED_EPOCHS)
        if committed is None:
            return int(ds.shape[0])
        value = _int_attr(committed, f"attribute '{ATTR_COMMITTED_EPOCHS}' of '{name}' in '{self.path}'")
        if value < 0:
            raise PoolFormatError(f"attribute '{ATTR_COMMITTED_EPOCHS}' of '{name}' in '{self.path}' is {value}; it must be >= 0")
        return min(value, int(ds.shape[0]))

    def stores(self, name: str) -> bool:
        """Whether the file itself holds dataset ``name`` (``probs`` is not derived here)."""
        return name in self._present

    def created_by(self) -> str:
        """The root ``created_by`` attribute ("" when absent or unreadable)."""
        try:
            value = _text_attr(self.file.attrs.get(ATTR_CREATED_BY, ""))
        except H5_ERRORS:
            return ""
        return value if isinstance(value, str) else ""

    def dtype(self, name: str) -> np.dtype:
        if name == "probs" and "probs" not in self._present:
            return self._ds("logits").dtype
        return self._ds(name).dtype

    def score_names(self) -> list[str]:
        prefix = SCORES_GROUP + "/"
        return sorted(n[len(prefix):] for n in self._present if n.startswith(prefix))

    def datasets(self) -> list[str]:
        """Every dataset path in the file, known or not (links are not followed)."""
        return [entry["name"] for entry in self.listing() if entry["link"] is None]

    def listing(self) -> list[dict]:
        """Every dataset and link in the file, known or not, without following links:
        dicts of ``name``, ``shape``, ``dtype``, ``known`` and ``link`` (None, "soft" or "external")."""
        found: list[dict] = []

        def walk(group, prefix: str, depth: int) -> None:
            if depth > 32:
                return
            for key in group.keys():
                name = prefix + key
                link = group.get(key, getlink=True)
                if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
                    kind = "soft" if isinstance(link, h5py.SoftLink) else "external"
                    found.append({"name": name, "shape": [], "dtype": "", "known": False, "link": kind})
                    continue
                obj = group[key]
                if isinstance(obj, h5py.Group):
                    walk(obj, name + "/", depth + 1)
                elif isinstance(obj, h5py.Dataset):
                    found.append({"name": name, "shape": [int(s) for s in obj.shape], "dtype": str(obj.dtype),
                                  "known": name in self._present, "link": None})

        try:
            walk(self.file, "", 0)
        except self.STORAGE_ERRORS as exc:
            raise self._corrupt("listing its datasets", exc) from None
        return sorted(found, key=lambda d: d["name"])

    def class_names(self) -> list[str] | None:
        if "class_names" not in self._present:
            return None
        raw = self._block("class_names", 0, self.n_classes)
        self._checker("class_names")("class_names", raw)
        return [_decoded(v) for v in raw.tolist()]

    # -- reading --------------------------------------------------------------------------
    def _checker(self, name: str):
        """The value check of ``name`` from the format table, bound to this pool's sizes."""
        present = None
        if name == "cd/mixtures":
            def present(start, stop):
                return self._block("cd/present", start, stop).astype(bool)
        return value_check(dataset_spec(name), n_classes=self.n_classes, n_rows=self.n_rows, sizes=self._sizes,
                           present=present)

    def _block(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` along the dataset's block axis, read with h5py errors turned into
        PoolFormatError (a corrupt chunk, a truncated file)."""
        spec = dataset_spec(name)
        with self._shared():
            try:
                self._refresh()
                ds = self._ds(name)
                if spec.axis == 0:
                    block = ds[start:stop]
                else:
                    block = ds[:self._committed_epochs(ds, name), start:stop]
            except AlselectError:
                raise
            except self.STORAGE_ERRORS as exc:
                raise self._corrupt(f"reading '{name}' rows {start}:{stop}", exc) from None
        return block

    def iter_rows(self, name: str, *, dtype=None, progress: Progress | None = None,
                  block_bytes: int = READ_BLOCK_BYTES, raw: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """Stream a dataset in validated blocks of rows.

        Yields ``(start, block)`` where ``block`` covers rows ``start:start+len`` of the
        dataset's block axis (the format table's ``axis``): axis 0, except for the per-epoch
        datasets ``epoch_preds`` (E, N) and ``epoch_probs`` (E, N, C), whose blocks are
        ``[:, start:stop]``. ``probs`` is derived from ``logits`` by a stable softmax when the
        pool stores only logits.

        Parameters
        ----------
        name : str
        dtype : numpy dtype, optional
            Convert each block (after validation in its storage dtype) to this dtype.
        progress : callable, optional
            Called with the number of rows done after each block.
        raw : bool
            Yield the blocks as stored, neither validated nor converted (``dtype`` ignored). A
            caller that validates in its own pass calls :meth:`check_block` on any block it
            flags, which raises the very error this method would have raised.
        """
        derive = name == "probs" and "probs" not in self._present
        source = "logits" if derive else name
        self.require(name)
        spec = dataset_spec(source)
        shape = self.shape(source)
        n = shape[spec.axis]
        row_bytes = max(1, self.dtype(source).itemsize * int(np.prod(shape, dtype=object)) // max(1, n))
        step = max(1, block_bytes // row_bytes)
        check = self._checker(source)
        for start in range(0, n, step):
            stop = min(n, start + step)
            interrupt.check()  # h5py defers signals (see alselect.interrupt)
            block = self._block(source, start, stop)
            if raw and not derive:
                yield start, block
                if progress is not None:
                    progress(stop - start)
                continue
            block = self._check_block(source, block, start, check)
            if derive:
                block = softmax(block)
            if dtype is not None and block.dtype != dtype:
                block = block.astype(dtype)
            yield start, block
            if progress is not None:
                progress(stop - start)

    def _check_block(self, source: str, block: np.ndarray, start: int, check) -> np.ndarray:
        """Validate one stored block with the table's check; float16 comes back widened to float32
        (numpy's float16 arithmetic is emulated and slow), checked with the float16 tolerance."""
        spec = dataset_spec(source)
        if block.dtype == np.float16 and spec.check != "check_mixtures":
            block = block.astype(np.float32)
            if spec.check == "check_probabilities":
                checks.check_probabilities(source, block, start, stored="float16")
                return block
        if check is not None:
            check(source, block, start)
        return block

    def check_block(self, name: str, start: int, block: np.ndarray) -> None:
        """Validate a block that ``iter_rows(name, raw=True)`` yielded at ``start``."""
        self._check_block(name, block, start, self._checker(name))

    def read(self, name: str, *, dtype=None, progress: Progress | None = None, raw: bool = False) -> np.ndarray:
        """Read a whole dataset into memory (validated block by block). ``raw``: the blocks as
        :meth:`iter_rows` yields them with ``raw=True``, unvalidated; a caller that validates in
        its own pass calls :meth:`check_block` on what it flags."""
        self.require(name)
        shape = self.shape(name)
        if name == "probs" and "probs" not in self._present:
            out_dtype = np.dtype(dtype or (np.float64 if self.dtype("logits") == np.float64 else np.float32))
        else:
            out_dtype = np.dtype(dtype or self.dtype(name))
        out = np.empty(shape, dtype=out_dtype)
        axis = dataset_spec("logits" if name == "probs" and "probs" not in self._present else name).axis
        for start, block in self.iter_rows(name, dtype=out_dtype, progress=progress, raw=raw):
            if axis == 0:
                out[start:start + block.shape[0]] = block
            else:
                out[:, start:start + block.shape[1]] = block
        return out

    def read_cd(self, *, dtype=np.float64, progress: Progress | None = None):
        """Read and validate the precomputed CD summaries.

        Returns
        -------
        mixtures : ndarray, shape (N, C, C)
        present : ndarray of bool, shape (N, C)
        counts : ndarray of int64, shape (N, C), or None when the pool has no ``cd/counts``
        """
        self.require("cd/mixtures")
        present = self.read("cd/present").astype(bool)
        mixtures = self.read("cd/mixtures", dtype=dtype, progress=progress)
        counts = self.read("cd/counts").astype(np.int64) if "cd/counts" in self._present else None
        return mixtures, present, counts

    def region_offsets(self) -> np.ndarray:
        """The (N+1,) CSR offsets of the region data (validated on open)."""
        self.require("regions/offsets")
        return self._block("regions/offsets", 0, self.n_rows + 1).astype(np.int64)

    def labeled_rows(self) -> np.ndarray:
        """Sorted row numbers of the labeled samples: rows listed in ``labeled`` plus rows whose
        ``labels`` entry is >= 0 (the union, see docs/file-format.md)."""
        if self._labeled_rows is None:
            parts = []
            if "labeled" in self._present:
                parts.append(self._block("labeled", 0, self._present["labeled"].shape[0]).astype(np.int64))
            if "labels" in self._present:
                labels = self.read("labels")
                parts.append(np.flatnonzero(labels >= 0))
            self._labeled_rows = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)
        return self._labeled_rows

    def ids(self) -> np.ndarray:
        """The sample ids (int64 or str array); row numbers when the pool has no ``ids``."""
        if self._ids is None:
            if "ids" not in self._present:
                self._ids = np.arange(self.n_rows, dtype=np.int64)
            else:
                raw = self._block("ids", 0, self.n_rows)
                try:
                    self._checker("ids")("ids", raw)
                except PoolValueError as exc:
                    raise PoolValueError(f"{exc} (in '{self.path}'; rebuild the pool with valid, unique ids)") from None
                self._ids = raw.astype(np.int64) if raw.dtype.kind in "iu" else \
                    np.array([_decoded(v) for v in raw.tolist()], dtype=str)
        return self._ids

    def rows_for_ids(self, tokens, what: str = "ids") -> np.ndarray:
        """Row numbers of the given ids (strings as read from a text file, or ints)."""
        ids = self.ids()
        tokens = [str(t).strip() for t in tokens]
        if ids.dtype.kind in "iu":
            wanted = np.empty(len(tokens), dtype=np.int64)
            for i, token in enumerate(tokens):
                try:
                    value = int(token)
                except ValueError:
                    raise PoolValueError(f"{what}: id {token!r} is not an integer, but this pool's ids are integers") from None
                if not -(1 << 63) <= value < (1 << 63):
                    raise PoolValueError(f"{what}: id {token!r} is not in the pool '{self.path}' (check the id list)")
                wanted[i] = value
        else:
            wanted = np.array(tokens, dtype=str)
        if wanted.size == 0:
            return np.empty(0, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        pos = np.searchsorted(ids[order], wanted)
        pos = np.minimum(pos, len(ids) - 1)
        found = ids[order][pos] == wanted
        if not found.all():
            missing = wanted[~found][0]
            raise PoolValueError(
                f"{what}: id {str(missing)!r} is not in the pool '{self.path}' (check the id list, "
                "or drop --ids if the file holds row numbers)"
            )
        return order[pos].astype(np.int64)

    def _validated_names(self) -> list[str]:
        return [n for n in self._present if not dataset_spec(n).whole and self.has(n)]

    def validation_rows(self) -> int:
        """Rows :meth:`problems` reads, for a progress bar."""
        return sum(self.shape(n)[dataset_spec(n).axis] for n in self._validated_names())

    def problems(self, progress: Progress | None = None) -> list[str]:
        """Validate every value of every known dataset; return the problems found (empty = valid)."""
        found: list[str] = []
        for name in self._validated_names():
            try:
                for _ in self.iter_rows(name, progress=progress):
                    pass
            except (PoolValueError, PoolFormatError) as exc:
                found.append(str(exc))
        for name, read in (("ids", self.ids), ("class_names", self.class_names)):
            if name in self._present:
                try:
                    read()
                except (PoolValueError, PoolFormatError) as exc:
                    found.append(str(exc))
        return found

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.file.close()
        except H5_ERRORS:
            pass  # read-only: nothing to lose

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Pool('{self.path}', N={self.n_rows}, C={self.n_classes}, version={self.version})"
