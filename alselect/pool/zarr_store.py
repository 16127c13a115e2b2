"""Pools in Zarr v3 stores: the :class:`ZarrPool` reader backend and the :class:`ZarrPoolWriter`.

A Zarr pool holds exactly the datasets and attributes of the format table
(:data:`alselect.pool.spec.DATASETS`): the root group carries the root attributes, each
dataset is an array at its path (``regions/probs`` is array ``probs`` of group ``regions``)
with its element attributes, and strings are Zarr's variable-length UTF-8 ``string`` type.
:class:`ZarrPool` is a :class:`~alselect.pool.reader.Pool` whose storage calls (finding
datasets, dtypes, claimed sizes, block reads, listing) go to Zarr instead of h5py, so the
structure checks, element versions and block-by-block value checks are the reader's own.

A path is a Zarr store when it ends in ``.zarr`` or is a URL (``s3://``, ``gs://``,
``memory://``, ``file://``, ...: any fsspec URL Zarr accepts). Zarr is the optional extra
``alselect[zarr]`` (also part of ``alselect[dask]``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

import numpy as np

from .. import __version__
from ..errors import AlselectError, OutputError, PoolFormatError, PoolNotFoundError, PoolValueError, require_extra
from .reader import H5_ERRORS, Pool
from .spec import ATTR_CREATED_BY, ATTR_FORMAT, ATTR_VERSION, FORMAT_NAME, dataset_spec, encoding_of, is_known, \
    version_for
from .writer import STR_DTYPE, PoolWriter, _row_chunks

#: Suffix that marks a local directory as a Zarr store.
ZARR_SUFFIX = ".zarr"
#: Largest decoded chunk a reader accepts: a chunk is decoded whole, so a claimed chunk shape
#: is a claimed allocation (the writer's chunks are about 1 MiB).
MAX_CHUNK_BYTES = 256 << 20

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(path) -> bool:
    return isinstance(path, str) and bool(_URL.match(path))


def is_zarr_path(path) -> bool:
    """Whether ``path`` names a Zarr store: a URL, or a path ending in ``.zarr``."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        return False
    return is_url(path) or path.rstrip("/\\").endswith(ZARR_SUFFIX)


def _zarr():
    return require_extra("zarr", "zarr", "Zarr pool stores")


def _errors() -> tuple:
    import zarr.errors

    return H5_ERRORS + (zarr.errors.BaseZarrError, NotImplementedError)


def store_bytes(path: str) -> int | None:
    """Bytes of a local Zarr store (None for a URL: not listed)."""
    if is_url(path):
        return None
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


class ZarrPool(Pool):
    """A read-only pool in a Zarr v3 store (use :func:`~alselect.pool.open_pool`, or ``Pool(path)``)."""

    KIND = "a Zarr store"

    def __init__(self, path, *, name=None):
        zarr = _zarr()
        self.STORAGE_ERRORS = _errors()
        self.source = os.fspath(path)
        self.path = self.source if name is None else str(name)
        self._labeled_rows = None
        self._ids = None
        self._epochs_seen = {}
        if not is_url(self.source):
            if not os.path.exists(self.source):
                raise PoolNotFoundError(
                    f"Zarr store '{self.path}' not found; build one with `alselect pack -o {self.path} ...`")
            if not os.path.isdir(self.source):
                raise PoolFormatError(f"'{self.path}' is a file, not a Zarr store (a Zarr store is a directory "
                                      "or a URL); name an HDF5 pool file without the .zarr suffix")
        try:
            self.file = zarr.open_group(self.source, mode="r", zarr_format=3)
        except FileNotFoundError as exc:
            if isinstance(exc, zarr.errors.GroupNotFoundError):
                raise PoolFormatError(
                    f"'{self.path}' is not a Zarr v3 store (no root group metadata 'zarr.json'); build the pool "
                    f"with `alselect pack -o {self.path} ...`") from None
            raise PoolNotFoundError(f"Zarr store '{self.path}' not found; build one with `alselect pack -o "
                                    f"{self.path} ...`") from None
        except self.STORAGE_ERRORS as exc:
            raise self._corrupt("opening the store", exc) from None
        try:
            self._check_structure()
        except AlselectError:
            raise
        except self.STORAGE_ERRORS as exc:
            raise self._corrupt("reading its structure", exc) from None

    def _corrupt(self, doing: str, exc: BaseException) -> PoolFormatError:
        detail = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        return PoolFormatError(
            f"'{self.path}' is a corrupt Zarr store: {doing} failed ({type(exc).__name__}: {detail}); "
            f"rebuild it with `alselect pack -o {self.path} ...`"
        )

    # -- the storage seam -------------------------------------------------------------------
    def _hard_child(self, group, key: str, *, want_group: bool, full: str | None = None):
        import zarr

        full = full or key
        if not isinstance(group, zarr.Group):
            return None
        obj = group.get(key)
        if obj is None:
            return None
        return self._of_kind(obj, full, want_group, zarr.Group, zarr.Array, "an array")

    def _check_local(self, name: str, ds) -> None:
        """A Zarr store holds its own data: nothing to refuse."""

    @staticmethod
    def _is_string(dtype: np.dtype) -> bool:
        # Zarr's variable-length UTF-8 strings read as numpy's StringDType (kind "T")
        return dtype.kind in "TO"

    def _check_storage(self, name: str, spec, ds) -> None:
        """Refuse claimed shapes the store does not hold, before anything is allocated: every
        chunk of the grid must be stored (missing chunks would read as the fill value) and a
        chunk must decode to at most MAX_CHUNK_BYTES."""
        shape = [int(s) for s in ds.shape]
        if spec.epochs and shape:
            shape[0] = self._committed_epochs(ds, name)
        if int(np.prod(shape, dtype=object)) == 0:
            return
        chunks = ds.shards or ds.chunks
        chunk_bytes = ds.dtype.itemsize * int(np.prod(chunks, dtype=object))
        if chunk_bytes > MAX_CHUNK_BYTES:
            raise PoolFormatError(
                f"dataset '{name}' in '{self.path}' has chunks of shape {tuple(chunks)} ({chunk_bytes} bytes decoded), "
                f"more than the {MAX_CHUNK_BYTES} bytes a reader decodes at once; rewrite it with smaller chunks "
                f"(`alselect pack -o {self.path} ...`)"
            )
        # the grid's size by arithmetic, the stored chunks by listing: neither costs O(claimed)
        want = int(np.prod([-(-size // step) for size, step in zip(ds.shape, chunks)], dtype=object))
        stored = _stored_chunks(ds)
        if stored < want:
            raise PoolFormatError(
                f"dataset '{name}' in '{self.path}' claims shape {tuple(ds.shape)} in {want} chunks, but the store "
                f"holds {stored} of them; the store is truncated or was written without empty chunks: rebuild it "
                f"with `alselect pack -o {self.path} ...` (or write every chunk, zarr's write_empty_chunks=True)"
            )

    def _block(self, name: str, start: int, stop: int) -> np.ndarray:
        block = super()._block(name, start, stop)
        if block.dtype.kind == "T":  # strings as h5py gives them: an object array
            block = block.astype(object)
        return block

    def dtype(self, name: str) -> np.dtype:
        dtype = super().dtype(name)
        return np.dtype(object) if dtype.kind == "T" else dtype

    def listing(self) -> list[dict]:
        import zarr

        try:
            members = list(self.file.members(max_depth=None))
        except self.STORAGE_ERRORS as exc:
            raise self._corrupt("listing its arrays", exc) from None
        found = [{"name": key, "shape": [int(s) for s in obj.shape], "dtype": str(self.dtype(key)) if
                  key in self._present else str(obj.dtype), "known": key in self._present, "link": None}
                 for key, obj in members if isinstance(obj, zarr.Array)]
        return sorted(found, key=lambda d: d["name"])

    def size_bytes(self) -> int | None:
        return store_bytes(self.source)

    def close(self) -> None:
        self.file = None  # nothing to release: zarr opens objects per read


def _stored_chunks(ds) -> int:
    """How many chunk (or shard) objects the store holds for array ``ds``."""
    from zarr.core.sync import sync

    store, prefix = ds.store_path.store, ds.store_path.path + "/"

    async def count():
        return sum([1 async for key in store.list_prefix(prefix) if key != prefix + "zarr.json"])

    return sync(count())


class ZarrPoolWriter(PoolWriter):
    """:class:`~alselect.pool.writer.PoolWriter` into a Zarr v3 store (``PoolWriter(path, n)``
    with a Zarr path builds one).

    A local store is written to a temporary directory beside ``path`` and renamed into place
    when complete (an existing store is replaced only then); a URL store is written in place,
    the format stamp last, so an interrupted write is never read as a pool.
    """

    def __init__(self, path, n_rows: int, *, overwrite: bool = True):
        zarr = _zarr()
        self.path = os.fspath(path)
        self.n_rows = int(n_rows)
        self._done = False
        self._tmp = None
        if self.n_rows <= 0:
            raise PoolValueError(f"a pool needs at least one row, got N={self.n_rows}")
        if is_url(self.path):
            store = self.path
        else:
            if not overwrite and os.path.exists(self.path):
                raise PoolValueError(f"'{self.path}' exists; pass overwrite=True (or remove it) to replace it")
            target = os.path.abspath(self.path.rstrip("/\\"))
            directory = os.path.dirname(target)
            if not os.path.isdir(directory):
                raise PoolValueError(f"directory '{directory}' does not exist; create it first")
            self._tmp = store = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", suffix=".part", dir=directory)
        try:
            self.file = zarr.open_group(store, mode="w", zarr_format=3)
        except _errors() as exc:
            self._discard()
            raise OutputError(f"cannot write the Zarr store '{self.path}': {type(exc).__name__}: {exc}") from None
        except BaseException:
            self._discard()
            raise

    def _discard(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def create(self, name: str, shape: tuple[int, ...], dtype, *, maxshape=None, axis: int = 0, attrs=None):
        """Create an array whose rows are written later (every chunk is stored, even empty ones)."""
        string = dtype is STR_DTYPE or (isinstance(dtype, type) and dtype is str)
        dtype = str if string else np.dtype(dtype)
        itemsize = 16 if string else dtype.itemsize
        chunks = _row_chunks(tuple(max(1, s) for s in shape), itemsize, axis)
        ds = self.file.create_array(name, shape=tuple(shape), dtype=dtype, chunks=chunks,
                                    config={"write_empty_chunks": True})
        meta = dict(encoding_of(dataset_spec(name))) if is_known(name) else {}
        meta.update({k: v.item() if isinstance(v, np.generic) else v for k, v in (attrs or {}).items()})
        if meta:
            ds.attrs.update(meta)
        return ds

    def commit(self) -> str:
        """Stamp the store (the format attribute last) and move it to its final name."""
        if self._done:
            return self.path
        import zarr

        names = [key for key, obj in self.file.members(max_depth=None) if isinstance(obj, zarr.Array)]
        self.file.attrs.update({ATTR_CREATED_BY: f"alselect {__version__}", ATTR_VERSION: version_for(names)})
        self.file.attrs[ATTR_FORMAT] = FORMAT_NAME
        self._done = True
        if self._tmp is not None:
            _replace_dir(self._tmp, os.path.abspath(self.path.rstrip("/\\")))
        return self.path

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._discard()


def _replace_dir(src: str, dst: str) -> None:
    """Move directory ``src`` to ``dst``, replacing whatever is there only once ``src`` is complete."""
    if not os.path.lexists(dst):
        os.rename(src, dst)
        return
    trash = tempfile.mkdtemp(prefix=f".{os.path.basename(dst)}.", suffix=".old", dir=os.path.dirname(dst))
    old = os.path.join(trash, "old")
    os.rename(dst, old)
    try:
        os.rename(src, dst)
    except BaseException:
        os.rename(old, dst)
        raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)
