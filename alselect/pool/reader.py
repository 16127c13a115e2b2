"""Reading pool files lazily: :func:`open_pool` and :class:`Pool`.

Opening validates the structure (stamp, version, shapes, dtypes, the labeled list) without
reading bulk data. Values are validated block by block as each dataset is read, so a
strategy that needs only ``probs`` never touches the embeddings, and pools larger than
memory can be scored in a single streaming pass.
"""

from __future__ import annotations

import os
from typing import Callable, Iterator

import h5py
import numpy as np

from ..errors import MissingDatasetError, PoolFormatError, PoolValueError
from .. import interrupt, validation as checks
from .spec import (
    ATTR_COMMITTED_EPOCHS,
    CD_GROUP,
    REGIONS_GROUP,
    ATTR_FORMAT,
    ATTR_VERSION,
    FORMAT_NAME,
    FORMAT_VERSION,
    MOTION_GROUP,
    SCORES_GROUP,
    TRUTH_BOXES_GROUP,
    VIDEO_GROUP,
    dataset_spec,
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


def _check_flags(name: str, block: np.ndarray, offset: int = 0) -> None:
    if block.dtype != bool and not np.isin(block, (0, 1)).all():
        raise PoolValueError(f"dataset '{name}' must hold only 0/1 (or booleans)")


def open_pool(path, *, name=None) -> "Pool":
    """Open and structurally validate a pool file (``name``: how messages call it, when
    ``path`` is a spooled copy, e.g. of stdin), or the manifest of a sharded pool (a
    :class:`~alselect.pool.sharded.ShardedPool`, same interface).

    Raises
    ------
    PoolFormatError
        Missing file, not HDF5, truncated, not an alselect pool, newer format version, or
        datasets of inconsistent shapes.
    """
    from .manifest import is_manifest

    if is_manifest(path):
        from .sharded import ShardedPool

        return ShardedPool(path)
    return Pool(path, name=name)


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

    def __init__(self, path, *, name=None):
        #: the file opened; ``path`` (what messages name) differs when it is a spooled copy
        self.source = os.fspath(path)
        self.path = self.source if name is None else str(name)
        if not os.path.exists(self.source):
            raise PoolFormatError(f"pool file '{self.path}' not found; build one with `alselect pack` or `alselect infer`")
        if os.path.isdir(self.source):
            raise PoolFormatError(f"'{self.path}' is a directory, not a pool file")
        if not h5py.is_hdf5(self.source):
            raise PoolFormatError(
                f"'{self.path}' is not an HDF5 file; a pool is an HDF5 file written by `alselect pack` or `alselect infer`"
            )
        try:
            self.file = h5py.File(self.source, "r")
        except OSError as exc:
            raise PoolFormatError(
                f"'{self.path}' cannot be opened as HDF5 ({str(exc).splitlines()[0]}); it is probably truncated "
                "or corrupt: rebuild it with `alselect pack` or `alselect infer`"
            ) from None
        try:
            self._check_structure()
        except Exception:
            self.file.close()
            raise
        self._labeled_rows: np.ndarray | None = None
        self._ids: np.ndarray | None = None

    # -- structure ------------------------------------------------------------------------
    def _check_structure(self) -> None:
        attrs = self.file.attrs
        fmt = attrs.get(ATTR_FORMAT)
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != FORMAT_NAME:
            raise PoolFormatError(
                f"'{self.path}' is an HDF5 file but not an alselect pool (root attribute "
                f"'{ATTR_FORMAT}' is {fmt!r}, expected {FORMAT_NAME!r}); convert your arrays with `alselect pack`"
            )
        version = attrs.get(ATTR_VERSION)
        try:
            self.version = int(version)
        except (TypeError, ValueError):
            raise PoolFormatError(f"'{self.path}' has no valid '{ATTR_VERSION}' attribute ({version!r})") from None
        if self.version > FORMAT_VERSION:
            raise PoolFormatError(
                f"'{self.path}' uses pool format version {self.version}, newer than the newest this alselect "
                f"reads ({FORMAT_VERSION}); upgrade alselect (`pip install -U alselect`)"
            )
        if self.version < 1:
            raise PoolFormatError(f"'{self.path}' has invalid format version {self.version}")
        base = "probs" if "probs" in self.file else "logits" if "logits" in self.file else None
        if base is None:
            raise PoolFormatError(
                f"'{self.path}' has neither 'probs' nor 'logits'; every pool needs class probabilities "
                "(rebuild it with `alselect pack --probs P.npy` or `--logits L.npy`)"
            )
        shape = self._ds(base).shape
        if len(shape) != 2 or shape[0] == 0 or shape[1] == 0:
            raise PoolFormatError(f"dataset '{base}' has shape {shape}; it must be (N, C) with N, C >= 1")
        self.n_rows, self.n_classes = int(shape[0]), int(shape[1])
        n, c = self.n_rows, self.n_classes
        expected = {
            "probs": (n, c), "logits": (n, c), "labels": (n,), "truth": (n,), "cost": (n,), "ids": (n,),
            "class_names": (c,),
        }
        for name, exp in expected.items():
            if name in self.file and self._ds(name).shape != exp:
                self._shape_error(name, exp)
        if "embeddings" in self.file:
            s = self._ds("embeddings").shape
            if len(s) != 2 or s[0] != n:
                self._shape_error("embeddings", f"(N={n}, D)")
        for name in ("mc_probs",):
            if name in self.file:
                s = self._ds(name).shape
                if len(s) != 3 or s[0] != n or s[2] != c:
                    self._shape_error(name, f"(N={n}, T, C={c})")
        if "epoch_preds" in self.file:
            s = self._ds("epoch_preds").shape
            if len(s) != 2 or s[1] != n:
                self._shape_error("epoch_preds", f"(E, N={n})")
        if "epoch_probs" in self.file:
            s = self._ds("epoch_probs").shape
            if len(s) != 3 or s[1:] != (n, c):
                self._shape_error("epoch_probs", f"(E, N={n}, C={c})")
        for name in ("probs", "logits", "embeddings", "mc_probs", "epoch_probs", "cost"):
            if name in self.file:
                checks.check_float_dtype(name, self._ds(name).dtype)
        for name in ("epoch_preds", "labels", "truth", "labeled"):
            if name in self.file and not np.issubdtype(self._ds(name).dtype, np.integer):
                raise PoolFormatError(f"dataset '{name}' has dtype {self._ds(name).dtype}; it must hold integers")
        for sname in self.score_names():
            full = f"{SCORES_GROUP}/{sname}"
            if self._ds(full).shape != (n,):
                self._shape_error(full, (n,))
            checks.check_float_dtype(full, self._ds(full).dtype)
        if REGIONS_GROUP in self.file:
            self._check_regions()
        if CD_GROUP in self.file:
            self._check_cd()
        if VIDEO_GROUP in self.file or MOTION_GROUP in self.file or TRUTH_BOXES_GROUP in self.file:
            self._check_v3_groups()
        if "labeled" in self.file:
            labeled = self._ds("labeled")
            if labeled.ndim != 1:
                self._shape_error("labeled", "(K,)")
            checks.check_row_indices("dataset 'labeled'", labeled[()], n)

    def _check_regions(self) -> None:
        if "regions/offsets" not in self.file or "regions/probs" not in self.file:
            raise PoolFormatError(
                f"'{self.path}' has a 'regions' group without both 'regions/offsets' and 'regions/probs'; "
                "rebuild it with `alselect pack --region-probs R.npy --region-offsets O.npy`"
            )
        probs = self._ds("regions/probs")
        if probs.ndim != 2 or probs.shape[1] != self.n_classes:
            self._shape_error("regions/probs", f"(R, C={self.n_classes})")
        checks.check_float_dtype("regions/probs", probs.dtype)
        r = probs.shape[0]
        try:
            checks.check_offsets("regions/offsets", self._ds("regions/offsets")[()], self.n_rows, r)
        except PoolValueError as exc:
            raise PoolFormatError(f"{exc} (in '{self.path}')") from None
        for name, width in (("regions/weights", None), ("regions/features", -1), ("regions/boxes", 4)):
            if name in self.file:
                s = self._ds(name).shape
                ok = (len(s) == 1) if width is None else (len(s) == 2 and (width == -1 or s[1] == width))
                if not ok or s[0] != r:
                    self._shape_error(name, {None: f"(R={r},)", -1: f"(R={r}, D)", 4: f"(R={r}, 4)"}[width])
                checks.check_float_dtype(name, self._ds(name).dtype)
        for name in ("regions/scores", "regions/classes"):
            if name in self.file and self._ds(name).shape != (r,):
                self._shape_error(name, f"(R={r},)")
        if "regions/scores" in self.file:
            checks.check_float_dtype("regions/scores", self._ds("regions/scores").dtype)
        if "regions/classes" in self.file and not np.issubdtype(self._ds("regions/classes").dtype, np.integer):
            raise PoolFormatError(f"dataset 'regions/classes' has dtype {self._ds('regions/classes').dtype}; it must hold integers")
        if "regions/tracks" in self.file:
            s = self._ds("regions/tracks").shape
            if len(s) != 3 or s[0] != r or s[1] < 2 or s[1] % 2 or s[2] != 4:
                self._shape_error("regions/tracks", f"(R={r}, 2k, 4) with k >= 1")
            checks.check_float_dtype("regions/tracks", self._ds("regions/tracks").dtype)

    def _check_v3_groups(self) -> None:
        n = self.n_rows
        if (f"{VIDEO_GROUP}/id" in self.file) != (f"{VIDEO_GROUP}/frame" in self.file):
            raise PoolFormatError(f"'{self.path}' must hold both 'video/id' and 'video/frame', or neither")
        for name in ("video/id", "video/frame"):
            if name in self.file:
                if self._ds(name).shape != (n,):
                    self._shape_error(name, (n,))
                if not np.issubdtype(self._ds(name).dtype, np.integer):
                    raise PoolFormatError(f"dataset '{name}' has dtype {self._ds(name).dtype}; it must hold integers")
        if MOTION_GROUP in self.file:
            if "motion/forward" not in self.file or "motion/backward" not in self.file:
                raise PoolFormatError(f"'{self.path}' has a 'motion' group without both 'motion/forward' and 'motion/backward'")
            if "video/id" not in self.file:
                raise PoolFormatError(f"'{self.path}' has motion fields but no 'video/id' and 'video/frame'")
            shape = self._ds("motion/forward").shape
            for name in ("motion/forward", "motion/backward"):
                s = self._ds(name).shape
                if len(s) != 4 or s[0] != n or s[3] != 2 or s != shape:
                    self._shape_error(name, f"(N={n}, H, W, 2), the same for forward and backward")
                checks.check_float_dtype(name, self._ds(name).dtype)
        if TRUTH_BOXES_GROUP in self.file:
            if "truth_boxes/offsets" not in self.file or "truth_boxes/boxes" not in self.file:
                raise PoolFormatError(f"'{self.path}' has a 'truth_boxes' group without both 'truth_boxes/offsets' and 'truth_boxes/boxes'")
            boxes = self._ds("truth_boxes/boxes")
            if boxes.ndim != 2 or boxes.shape[1] != 4:
                self._shape_error("truth_boxes/boxes", "(G, 4)")
            checks.check_float_dtype("truth_boxes/boxes", boxes.dtype)
            try:
                checks.check_offsets("truth_boxes/offsets", self._ds("truth_boxes/offsets")[()], n, boxes.shape[0])
            except PoolValueError as exc:
                raise PoolFormatError(f"{exc} (in '{self.path}')") from None
            if "truth_boxes/classes" in self.file:
                if self._ds("truth_boxes/classes").shape != (boxes.shape[0],):
                    self._shape_error("truth_boxes/classes", f"(G={boxes.shape[0]},)")

    def _check_cd(self) -> None:
        n, c = self.n_rows, self.n_classes
        if ("cd/mixtures" in self.file) != ("cd/present" in self.file):
            raise PoolFormatError(f"'{self.path}' must hold both 'cd/mixtures' and 'cd/present', or neither")
        for name, exp in (("cd/mixtures", (n, c, c)), ("cd/present", (n, c)), ("cd/counts", (n, c))):
            if name in self.file and self._ds(name).shape != exp:
                self._shape_error(name, exp)
        if "cd/mixtures" in self.file:
            checks.check_float_dtype("cd/mixtures", self._ds("cd/mixtures").dtype)

    def _shape_error(self, name: str, expected) -> None:
        raise PoolFormatError(
            f"dataset '{name}' in '{self.path}' has shape {self._ds(name).shape}, expected {expected}; "
            "all datasets must describe the same N rows and C classes (rebuild the pool with `alselect pack`)"
        )

    def _ds(self, name: str) -> h5py.Dataset:
        obj = self.file[name]
        if not isinstance(obj, h5py.Dataset):
            raise PoolFormatError(f"'{name}' in '{self.path}' is a group; the format requires a dataset there")
        return obj

    # -- what is there --------------------------------------------------------------------
    def has(self, name: str) -> bool:
        """Whether the pool holds ``name``; ``probs`` is always available (derived from logits)."""
        if name == "probs":
            return True
        return name in self.file and isinstance(self.file[name], h5py.Dataset)

    def require(self, name: str, who: str = "this operation") -> None:
        """Raise :class:`MissingDatasetError` naming the dataset and how to add it."""
        if self.has(name):
            return
        spec = dataset_spec(name)
        raise MissingDatasetError(
            f"{who} needs dataset '{name}' {spec.shape} ({spec.description}), which '{self.path}' lacks; "
            f"add it with {spec.how_to_add}"
        )

    def shape(self, name: str) -> tuple[int, ...]:
        if name == "probs" and "probs" not in self.file:
            return self._ds("logits").shape
        ds = self._ds(name)
        if name.startswith("epoch_"):
            return (self._committed_epochs(ds),) + tuple(ds.shape[1:])
        return tuple(ds.shape)

    @staticmethod
    def _committed_epochs(ds: h5py.Dataset) -> int:
        """Epoch rows to trust: the ATTR_COMMITTED_EPOCHS attribute when present, else all rows."""
        committed = ds.attrs.get(ATTR_COMMITTED_EPOCHS)
        return int(ds.shape[0]) if committed is None else min(int(committed), int(ds.shape[0]))

    def dtype(self, name: str) -> np.dtype:
        if name == "probs" and "probs" not in self.file:
            return self._ds("logits").dtype
        return self._ds(name).dtype

    def score_names(self) -> list[str]:
        group = self.file.get(SCORES_GROUP)
        return sorted(group.keys()) if isinstance(group, h5py.Group) else []

    def datasets(self) -> list[str]:
        """Every dataset path in the file, known or not."""
        names: list[str] = []
        self.file.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        return sorted(names)

    def class_names(self) -> list[str] | None:
        if "class_names" not in self.file:
            return None
        return [v.decode() if isinstance(v, bytes) else str(v) for v in self._ds("class_names")[()]]

    # -- reading --------------------------------------------------------------------------
    def _checker(self, name: str):
        if name in ("epoch_preds",):
            return lambda nm, block, off: checks.check_labels(nm, block, self.n_classes, off, allow_unknown=False)
        if name in ("labels", "truth"):
            return lambda nm, block, off: checks.check_labels(nm, block, self.n_classes, off)
        if name == "cost":
            return checks.check_positive
        if name == "cd/present":
            return _check_flags
        if name in ("regions/classes", "truth_boxes/classes"):
            return lambda nm, block, off: checks.check_labels(nm, block, self.n_classes, off, allow_unknown=False)
        if name == "regions/scores":
            return checks.check_unit_interval
        if name == "regions/tracks":
            return checks.check_tracks
        if name == "video/frame":
            return checks.check_frame_numbers
        if name == "video/id":
            return lambda nm, block, off: None  # any integers; uniqueness of (video, frame) is checked on use
        kind = dataset_spec(name).kind
        if kind == "count":
            return checks.check_counts
        if name == "regions/weights":
            return checks.check_nonnegative
        return checks.check_probabilities if kind == "prob" else checks.check_finite

    def iter_rows(self, name: str, *, dtype=None, progress: Progress | None = None,
                  block_bytes: int = READ_BLOCK_BYTES, raw: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """Stream a per-sample dataset in validated blocks of rows.

        Yields ``(start, block)`` where ``block`` covers rows ``start:start+len``. The sample
        axis is axis 0, except for the per-epoch datasets ``epoch_preds`` (E, N) and
        ``epoch_probs`` (E, N, C), whose blocks are ``[:, start:stop]``. ``probs`` is derived
        from ``logits`` by a stable softmax when the pool stores only logits.

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
        derive = name == "probs" and "probs" not in self.file
        source = "logits" if derive else name
        self.require(name)
        ds = self._ds(source)
        axis = 1 if source.startswith("epoch_") else 0
        n = ds.shape[axis]
        row_bytes = max(1, ds.dtype.itemsize * int(np.prod(ds.shape)) // max(1, n))
        step = max(1, block_bytes // row_bytes)
        check = self._checker(source)
        for start in range(0, n, step):
            stop = min(n, start + step)
            interrupt.check()  # h5py defers signals (see alselect.interrupt)
            try:
                block = ds[start:stop] if axis == 0 else ds[:self._committed_epochs(ds), start:stop]
            except OSError as exc:
                raise PoolFormatError(
                    f"reading '{source}' rows {start}:{stop} of '{self.path}' failed ({exc}); the file is "
                    "probably truncated or corrupt: rebuild it"
                ) from None
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
        """Validate one stored block; float16 comes back widened to float32."""
        if block.dtype == np.float16:  # numpy's float16 arithmetic is emulated and slow
            block = block.astype(np.float32)
            if check is checks.check_probabilities:
                checks.check_probabilities(source, block, start, stored="float16")
            else:
                check(source, block, start)
        else:
            check(source, block, start)
        return block

    def check_block(self, name: str, start: int, block: np.ndarray) -> None:
        """Validate a block that ``iter_rows(name, raw=True)`` yielded at ``start``."""
        self._check_block(name, block, start, self._checker(name))

    def read(self, name: str, *, dtype=None, progress: Progress | None = None) -> np.ndarray:
        """Read a whole dataset into memory (validated block by block)."""
        self.require(name)
        shape = self.shape(name)
        if name == "probs" and "probs" not in self.file:
            out_dtype = np.dtype(dtype or (np.float64 if self.dtype("logits") == np.float64 else np.float32))
        else:
            out_dtype = np.dtype(dtype or self.dtype(name))
        out = np.empty(shape, dtype=out_dtype)
        axis = 1 if name.startswith("epoch_") else 0
        for start, block in self.iter_rows(name, dtype=out_dtype, progress=progress):
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
        mixtures = np.empty(self.shape("cd/mixtures"), dtype=dtype)
        ds = self._ds("cd/mixtures")
        step = max(1, READ_BLOCK_BYTES // max(1, ds.dtype.itemsize * self.n_classes ** 2))
        for start in range(0, self.n_rows, step):
            block = ds[start:start + step]
            checks.check_mixtures("cd/mixtures", block, present[start:start + step], start)
            mixtures[start:start + block.shape[0]] = block
            if progress is not None:
                progress(block.shape[0])
        counts = self.read("cd/counts").astype(np.int64) if "cd/counts" in self.file else None
        return mixtures, present, counts

    def region_offsets(self) -> np.ndarray:
        """The (N+1,) CSR offsets of the region data (validated on open)."""
        self.require("regions/offsets")
        return self._ds("regions/offsets")[()].astype(np.int64)

    def labeled_rows(self) -> np.ndarray:
        """Sorted row numbers of the labeled samples: rows listed in ``labeled`` plus rows whose
        ``labels`` entry is >= 0 (the union, see docs/file-format.md)."""
        if self._labeled_rows is None:
            parts = []
            if "labeled" in self.file:
                parts.append(self._ds("labeled")[()].astype(np.int64))
            if "labels" in self.file:
                labels = self.read("labels")
                parts.append(np.flatnonzero(labels >= 0))
            self._labeled_rows = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)
        return self._labeled_rows

    def ids(self) -> np.ndarray:
        """The sample ids (int64 or str array); row numbers when the pool has no ``ids``."""
        if self._ids is None:
            if "ids" not in self.file:
                self._ids = np.arange(self.n_rows, dtype=np.int64)
            else:
                raw = self._ds("ids")[()]
                if raw.dtype.kind in "OS":
                    raw = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in raw], dtype=str)
                else:
                    raw = raw.astype(np.int64)
                try:
                    checks.check_unique_ids(raw)
                except PoolValueError as exc:
                    raise PoolValueError(f"{exc} (in '{self.path}'; rebuild the pool with unique ids)") from None
                self._ids = raw
        return self._ids

    def rows_for_ids(self, tokens, what: str = "ids") -> np.ndarray:
        """Row numbers of the given ids (strings as read from a text file, or ints)."""
        ids = self.ids()
        tokens = [str(t).strip() for t in tokens]
        if ids.dtype.kind in "iu":
            try:
                wanted = np.array([int(t) for t in tokens], dtype=np.int64)
            except ValueError:
                bad = next(t for t in tokens if not t.lstrip("-").isdigit())
                raise PoolValueError(f"{what}: id {bad!r} is not an integer, but this pool's ids are integers") from None
        else:
            wanted = np.array(tokens, dtype=str)
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

    def problems(self, progress: Progress | None = None) -> list[str]:
        """Validate every value of every known dataset; return the problems found (empty = valid)."""
        found: list[str] = []
        names = [n for n in ("probs", "logits", "embeddings", "mc_probs", "epoch_preds", "epoch_probs",
                             "labels", "truth", "cost") if n in self.file]
        names += [f"{SCORES_GROUP}/{s}" for s in self.score_names()]
        names += [n for n in ("regions/probs", "regions/weights", "regions/features", "regions/boxes",
                              "cd/present", "cd/counts") if n in self.file]
        names += [n for n in ("regions/scores", "regions/classes", "regions/tracks", "video/frame",
                              "motion/forward", "motion/backward", "truth_boxes/boxes", "truth_boxes/classes")
                  if n in self.file]
        if "cd/mixtures" in self.file:
            try:
                self.read_cd()
            except (PoolValueError, PoolFormatError) as exc:
                found.append(str(exc))
        for name in names:
            try:
                for _ in self.iter_rows(name, progress=progress):
                    pass
            except (PoolValueError, PoolFormatError) as exc:
                found.append(str(exc))
        if "ids" in self.file:
            try:
                self.ids()
            except PoolValueError as exc:
                found.append(str(exc))
        return found

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Pool('{self.path}', N={self.n_rows}, C={self.n_classes}, version={self.version})"
