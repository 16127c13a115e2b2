"""A sharded pool read as one: :class:`ShardedPool` has the reader interface of
:class:`~alselect.pool.reader.Pool` over the concatenated rows of the shards of a manifest.

Global row ``r`` lives in the shard whose ``start <= r < start + rows``; datasets not indexed
by row (``regions/*``, ``truth_boxes/*``) are concatenated too, their CSR offsets shifted. On
one machine the shards are read in sequence; with a Dask client the distributed engines of
:mod:`alselect.distributed` read each shard on a worker instead.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import numpy as np

from ..errors import InternalError, MissingDatasetError, PoolFormatError, PoolNotFoundError, PoolValueError
from .. import validation as checks
from .manifest import Manifest, describe_mismatch, read_manifest, signature
from .reader import READ_BLOCK_BYTES, Pool, Progress
from .spec import dataset_spec
from .zarr_store import is_url

#: datasets whose values are CSR offsets into a per-region (or per-box) dataset
_OFFSETS = {"regions/offsets": "regions/probs", "truth_boxes/offsets": "truth_boxes/boxes"}


def _axis(name: str) -> int:
    return 1 if name.startswith("epoch_") else 0


@contextlib.contextmanager
def shard_errors(where: str, start: int | None = None):
    """Re-raise a value or format error met while reading one shard, prefixed with ``where`` and
    the shard's first global row: the shard's own messages count rows within the shard."""
    try:
        yield
    except (PoolValueError, PoolFormatError) as exc:
        if isinstance(exc, PoolNotFoundError):
            raise
        first = "" if start is None else f", whose row 0 is row {start} of the pool"
        raise type(exc)(f"{where}{first}: {exc}") from None


class _DatasetView:
    """Pool-wide shape and dtype of one dataset, with the first shard's attributes."""

    def __init__(self, pool: "ShardedPool", name: str):
        self.shape, self.dtype = pool.shape(name), pool.dtype(name)
        self.attrs = pool._ref.file[name].attrs


class _FileView:
    """The parts of an h5py file that describe a pool (membership, root attributes, dataset
    shapes), answered for the whole sharded pool; bulk reads go through the pool's methods."""

    def __init__(self, pool: "ShardedPool"):
        self._pool = pool
        self.attrs = pool._ref.file.attrs

    def __contains__(self, name: str) -> bool:
        return name in self._pool._ref.file

    def __getitem__(self, name: str) -> _DatasetView:
        return _DatasetView(self._pool, name)


class ShardedPool:
    """The pool described by a manifest (docs/file-format.md, "Sharded pools").

    Opening reads the manifest and opens every non-empty shard, checking each against the
    manifest (row count, format version, classes) and against the first shard (datasets);
    any mismatch is one :class:`PoolFormatError` naming the shard.
    """

    def __init__(self, path):
        self.path = self.source = os.fspath(path)
        self.manifest: Manifest = read_manifest(self.path)
        m = self.manifest
        self.n_rows, self.n_classes, self.version = m.n_rows, m.n_classes, m.pool_version
        self.shards: list[Pool | None] = []
        try:
            self._open_shards()
        except Exception:
            self.close()
            raise
        self._labeled_rows: np.ndarray | None = None
        self._ids: np.ndarray | None = None

    def _open_shards(self) -> None:
        m = self.manifest
        ref = ref_path = None
        for i, entry in enumerate(m.shards):
            if entry.path is None:
                self.shards.append(None)
                continue
            where = f"shard {i} ('{entry.path}') of manifest '{self.path}'"
            if not is_url(entry.path) and not os.path.exists(entry.path):
                raise PoolFormatError(f"{where} is missing; restore the file or rebuild the manifest with `alselect manifest`")
            try:
                shard = Pool(entry.path)
            except PoolFormatError as exc:
                raise PoolFormatError(f"{where}: {exc}") from None
            self.shards.append(shard)
            if shard.n_rows != entry.rows:
                raise PoolFormatError(f"{where} has {shard.n_rows} rows, but the manifest says {entry.rows}; rebuild "
                                      "the manifest with `alselect manifest`")
            if shard.version != m.pool_version:
                raise PoolFormatError(f"{where} has pool format version {shard.version}, but the manifest says "
                                      f"{m.pool_version}; every shard must use the manifest's version")
            if shard.n_classes != m.n_classes:
                raise PoolFormatError(f"{where} has {shard.n_classes} classes, but the manifest says {m.n_classes}")
            names = shard.class_names()
            if names is not None and m.class_names is not None and names != m.class_names:
                raise PoolFormatError(f"{where} has class names {names}, but the manifest says {m.class_names}")
            sig = signature(shard)
            if ref is None:
                ref, ref_path = sig, entry.path
            else:
                why = describe_mismatch(ref, sig, ref_path)
                if why:
                    raise PoolFormatError(f"{where} {why}")
        self._ref = next(s for s in self.shards if s is not None)
        self.file = _FileView(self)

    # -- what is there --------------------------------------------------------------------
    def live(self) -> Iterator[tuple[int, Pool]]:
        """(global start row, shard) of every non-empty shard, in row order."""
        for entry, shard in zip(self.manifest.shards, self.shards):
            if shard is not None:
                yield entry.start, shard

    def has(self, name: str) -> bool:
        return self._ref.has(name)

    def require(self, name: str, who: str = "this operation") -> None:
        if self.has(name):
            return
        spec = dataset_spec(name)
        raise MissingDatasetError(
            f"{who} needs dataset '{name}' {spec.shape} ({spec.description}), which the shards of '{self.path}' "
            f"lack; add it to every shard with {spec.how_to_add}"
        )

    def _length(self, name: str) -> list[int]:
        return [shard.shape(name)[_axis(name)] for _, shard in self.live()]

    def size_bytes(self) -> int:
        """Bytes on disk: the manifest and every shard."""
        sizes = [s.size_bytes() if hasattr(s, "size_bytes") else os.path.getsize(s.path) for _, s in self.live()]
        return os.path.getsize(self.path) + sum(v or 0 for v in sizes)

    def shape(self, name: str) -> tuple[int, ...]:
        base = list(self._ref.shape(name))
        if name in _OFFSETS:
            return (self.n_rows + 1,)
        if name == "class_names":
            return tuple(base)
        if name.startswith("epoch_"):
            epochs = min(shard.shape(name)[0] for _, shard in self.live())
            base[0] = epochs
        base[_axis(name)] = sum(self._length(name))
        return tuple(base)

    def dtype(self, name: str) -> np.dtype:
        return self._ref.dtype(name)

    def score_names(self) -> list[str]:
        return self._ref.score_names()

    def datasets(self) -> list[str]:
        return self._ref.datasets()

    def class_names(self) -> list[str] | None:
        return self.manifest.class_names if self.manifest.class_names is not None else self._ref.class_names()

    # -- reading --------------------------------------------------------------------------
    def _naming(self, shard: Pool):
        i = next(k for k, s in enumerate(self.shards) if s is shard)
        entry = self.manifest.shards[i]
        return shard_errors(f"shard {i} ('{entry.path}') of manifest '{self.path}'", entry.start)

    def iter_rows(self, name: str, *, dtype=None, progress: Progress | None = None,
                  block_bytes: int = READ_BLOCK_BYTES, raw: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """Blocks of every shard in turn, ``start`` counted globally (see :meth:`Pool.iter_rows`)."""
        self.require(name)
        offset = 0
        epochs = self.shape(name)[0] if name.startswith("epoch_") else None
        for _, shard in self.live():
            length = shard.shape(name)[_axis(name)]
            with self._naming(shard):
                for start, block in shard.iter_rows(name, dtype=dtype, progress=progress, block_bytes=block_bytes,
                                                    raw=raw):
                    if epochs is not None:
                        block = block[:epochs]
                    yield offset + start, block
            offset += length

    def check_block(self, name: str, start: int, block: np.ndarray) -> None:
        """Validate a block that ``iter_rows(name, raw=True)`` yielded at global ``start``."""
        offset = 0
        for _, shard in self.live():
            length = shard.shape(name)[_axis(name)]
            if start < offset + length:
                with self._naming(shard):
                    shard.check_block(name, start - offset, block)
                return
            offset += length
        raise InternalError(f"block start {start} lies beyond dataset '{name}'")

    def read(self, name: str, *, dtype=None, progress: Progress | None = None, raw: bool = False) -> np.ndarray:
        self.require(name)
        if name in _OFFSETS:
            return self._offsets(name)
        parts = []
        for _, shard in self.live():
            with self._naming(shard):
                parts.append(shard.read(name, dtype=dtype, progress=progress, raw=raw))
        if name.startswith("epoch_"):
            epochs = self.shape(name)[0]
            return np.concatenate([p[:epochs] for p in parts], axis=1)
        return np.concatenate(parts, axis=0)

    def _offsets(self, name: str) -> np.ndarray:
        parts, base = [np.zeros(1, dtype=np.int64)], 0
        for _, shard in self.live():
            off = shard._ds(name)[()].astype(np.int64)
            parts.append(off[1:] + base)
            base += int(off[-1])
        return np.concatenate(parts)

    def read_cd(self, *, dtype=np.float64, progress: Progress | None = None):
        parts = [shard.read_cd(dtype=dtype, progress=progress) for _, shard in self.live()]
        counts = None if parts[0][2] is None else np.concatenate([p[2] for p in parts])
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), counts

    def region_offsets(self) -> np.ndarray:
        self.require("regions/offsets")
        return self._offsets("regions/offsets")

    def labeled_rows(self) -> np.ndarray:
        """The manifest's labeled rows plus every shard's own (shifted to global rows)."""
        if self._labeled_rows is None:
            parts = [self.manifest.labeled] + [start + shard.labeled_rows() for start, shard in self.live()]
            self._labeled_rows = np.unique(np.concatenate(parts).astype(np.int64))
        return self._labeled_rows

    def ids(self) -> np.ndarray:
        """The shards' ids concatenated (global row numbers when the shards have none); unique pool-wide."""
        if self._ids is None:
            if not self._ref.has("ids"):
                self._ids = np.arange(self.n_rows, dtype=np.int64)
            else:
                ids = np.concatenate([shard.ids() for _, shard in self.live()])
                try:
                    checks.check_unique_ids(ids)
                except PoolValueError as exc:
                    raise PoolValueError(f"{exc} (across the shards of '{self.path}'; give every shard distinct ids)") from None
                self._ids = ids
        return self._ids

    rows_for_ids = Pool.rows_for_ids

    def _ds(self, name: str):
        """Raw HDF5 access exists per shard only; code that needs it (video frame gathering)
        reads one pool file."""
        raise PoolFormatError(f"reading '{name}' of a sharded pool ('{self.path}') is supported on one pool file "
                              "only; write the pool as one file for this strategy")

    def listing(self) -> list[dict]:
        """The first shard's datasets and links (see :meth:`Pool.listing`), with pool-wide shapes."""
        entries = []
        for entry in self._ref.listing():
            if entry["known"] and entry["link"] is None and not entry["name"].startswith("history/"):
                entry = dict(entry, shape=[int(s) for s in self.shape(entry["name"])])
            entries.append(entry)
        return entries

    def validation_rows(self) -> int:
        return sum(shard.validation_rows() for _, shard in self.live())

    def stores(self, name: str) -> bool:
        return self._ref.stores(name)

    def created_by(self) -> str:
        return self._ref.created_by()

    def problems(self, progress: Progress | None = None) -> list[str]:
        """Every shard's problems (prefixed by the shard), plus pool-wide id uniqueness."""
        found = []
        for entry, shard in zip(self.manifest.shards, self.shards):
            if shard is not None:
                found += [f"shard '{entry.path}': {p}" for p in shard.problems(progress)]
        if not found and self._ref.has("ids"):
            try:
                self.ids()
            except PoolValueError as exc:
                found.append(str(exc))
        return found

    def shard_ranges(self) -> list[tuple[str | None, int, int]]:
        """(path, first global row, rows) of every shard, empty ones included."""
        return [(e.path, e.start, e.rows) for e in self.manifest.shards]

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        for shard in self.shards:
            if shard is not None:
                shard.close()

    def __enter__(self) -> "ShardedPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ShardedPool('{self.path}', N={self.n_rows}, C={self.n_classes}, shards={len(self.shards)})"
