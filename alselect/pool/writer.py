"""Writing pool files: a streaming :class:`PoolWriter` and the one-shot :func:`write_pool`.

Files are written to a temporary name in the target directory and renamed into place only
when complete, so an interrupted write never leaves a half-written pool under the final
name, and a failed write leaves an existing file untouched. The format stamp is the last
thing written, so even a leaked temporary file is not mistaken for a pool.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import h5py
import numpy as np

from .. import __version__, interrupt, targets, tempfiles
from ..errors import PoolValueError
from .. import validation as checks
from .spec import (
    ATTR_CREATED_BY,
    ATTR_ELEMENT_VERSION,
    ATTR_FORMAT,
    ATTR_VERSION,
    ELEMENT_VERSION,
    FORMAT_NAME,
    ATTR_MOTION_STRIDE,
    SCORES_GROUP,
    V2_GROUPS,
    V3_DATASETS,
    V3_GROUPS,
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
        version = 2 if any(group in self.file for group in V2_GROUPS) else 1
        if any(group in self.file for group in V3_GROUPS) or any(name in self.file for name in V3_DATASETS):
            version = 3
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



def _float_dataset(out: dict, name: str, array, dims: tuple, check) -> None:
    """Validate a float dataset against symbolic dims, e.g. (("N", 10), ("D", None)), store it in ``out``."""
    array = _float_array(np.asarray(array), name)
    expected = "(" + ", ".join(sym if size is None else f"{sym}={size}" if sym else str(size)
                               for sym, size in dims) + ")"
    if array.ndim != len(dims) or any(size is not None and s != size for s, (_, size) in zip(array.shape, dims)):
        raise PoolValueError(
            f"'{name}' has shape {array.shape}, expected {expected}; all datasets must describe the same "
            "N rows and C classes"
        )
    _check_blocks(name, array, check)
    out[name] = array


def validate_arrays(*, probs=None, logits=None, embeddings=None, mc_probs=None, epoch_preds=None,
                    epoch_probs=None, labels=None, labeled=None, ids=None, scores=None, cost=None,
                    class_names=None, truth=None, region_probs=None, region_offsets=None, region_weights=None,
                    region_features=None, region_boxes=None, cd_mixtures=None, class_present=None,
                    class_counts=None, region_scores=None, region_classes=None, region_tracks=None,
                    video_ids=None, frames=None, motion_forward=None, motion_backward=None,
                    truth_boxes=None, truth_box_offsets=None, truth_box_classes=None) -> dict[str, np.ndarray]:
    """Check a set of in-memory arrays against the format rules; return them keyed by dataset path."""
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
        _float_dataset(out, "logits", logits, (("N", n), ("C", c)), checks.check_finite)
    if embeddings is not None:
        _float_dataset(out, "embeddings", embeddings, (("N", n), ("D", None)), checks.check_finite)
    if mc_probs is not None:
        _float_dataset(out, "mc_probs", mc_probs, (("N", n), ("T", None), ("C", c)), checks.check_probabilities)
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
    out.update(_validate_regions(n, c, region_probs, region_offsets, region_weights, region_features, region_boxes))
    out.update(_validate_cd(n, c, cd_mixtures, class_present, class_counts))
    out.update(_validate_detections(out, c, region_scores, region_classes, region_tracks))
    out.update(_validate_video(n, c, video_ids, frames, motion_forward, motion_backward,
                               truth_boxes, truth_box_offsets, truth_box_classes))
    return out


def _validate_detections(regions, c, scores, classes, tracks) -> dict[str, np.ndarray]:
    given = {"--region-scores": scores, "--region-classes": classes, "--region-tracks": tracks}
    named = [k for k, v in given.items() if v is not None]
    if not named:
        return {}
    if "regions/probs" not in regions:
        raise PoolValueError(f"{named[0]} needs --region-probs and --region-offsets")
    r = regions["regions/probs"].shape[0]
    out: dict[str, np.ndarray] = {}
    if scores is not None:
        _float_dataset(out, "regions/scores", scores, (("R", r),), checks.check_unit_interval)
    if classes is not None:
        classes = np.asarray(classes)
        _expect_shape("regions/classes", classes, (r,), "one predicted class per region")
        checks.check_labels("regions/classes", classes, c, allow_unknown=False)
        out["regions/classes"] = classes.astype(np.int64)
    if tracks is not None:
        tracks = _float_array(np.asarray(tracks), "regions/tracks")
        if tracks.ndim != 3 or tracks.shape[0] != r or tracks.shape[1] < 2 or tracks.shape[1] % 2 or tracks.shape[2] != 4:
            raise PoolValueError(
                f"'regions/tracks' has shape {tracks.shape}, expected (R={r}, 2k, 4): each region's box in "
                "frames -k..-1 then +1..+k of its video, NaN where lost"
            )
        _check_blocks("regions/tracks", tracks, checks.check_tracks)
        out["regions/tracks"] = tracks
    return out


def _validate_video(n, c, video_ids, frames, forward, backward, boxes, offsets, classes) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if (video_ids is None) != (frames is None):
        raise PoolValueError("video structure needs both --video-ids (N,) and --frames (N,)")
    if video_ids is not None:
        video_ids, frames = np.asarray(video_ids), np.asarray(frames)
        for name, arr in (("video/id", video_ids), ("video/frame", frames)):
            _expect_shape(name, arr, (n,), "one value per row")
            if not np.issubdtype(arr.dtype, np.integer):
                raise PoolValueError(f"'{name}' must hold integers, got dtype {arr.dtype.name}")
        checks.check_frame_numbers("video/frame", frames)
        checks.check_video_frames(video_ids, frames)
        out["video/id"], out["video/frame"] = video_ids.astype(np.int64), frames.astype(np.int64)
    if (forward is None) != (backward is None):
        raise PoolValueError("motion fields need both --motion-forward and --motion-backward (N, H, W, 2)")
    if forward is not None:
        if video_ids is None:
            raise PoolValueError("motion fields need --video-ids and --frames (motion links frames of a video)")
        _float_dataset(out, "motion/forward", forward, (("N", n), ("H", None), ("W", None), ("", 2)), checks.check_finite)
        _float_dataset(out, "motion/backward", backward, (("N", n), ("H", np.shape(forward)[1]), ("W", np.shape(forward)[2]), ("", 2)),
                       checks.check_finite)
    if (boxes is None) != (offsets is None):
        if classes is not None and boxes is None:
            raise PoolValueError("--truth-box-classes needs --truth-boxes and --truth-box-offsets")
        raise PoolValueError("ground-truth boxes need both --truth-boxes (G, 4) and --truth-box-offsets (N+1,)")
    if classes is not None and boxes is None:
        raise PoolValueError("--truth-box-classes needs --truth-boxes and --truth-box-offsets")
    if boxes is not None:
        boxes = _float_array(np.asarray(boxes), "truth_boxes/boxes")
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise PoolValueError(f"'truth_boxes/boxes' has shape {boxes.shape}, expected (G, 4) as x1, y1, x2, y2")
        offsets = np.asarray(offsets)
        checks.check_offsets("truth_boxes/offsets", offsets, n, boxes.shape[0])
        checks.check_finite("truth_boxes/boxes", boxes)
        out["truth_boxes/offsets"], out["truth_boxes/boxes"] = offsets.astype(np.int64), boxes
        if classes is not None:
            classes = np.asarray(classes)
            _expect_shape("truth_boxes/classes", classes, (boxes.shape[0],), "one class per ground-truth box")
            checks.check_labels("truth_boxes/classes", classes, c, allow_unknown=False)
            out["truth_boxes/classes"] = classes.astype(np.int64)
    return out


def _validate_regions(n, c, probs, offsets, weights, features, boxes) -> dict[str, np.ndarray]:
    given = {"--region-weights": weights, "--region-features": features, "--region-boxes": boxes}
    if probs is None and offsets is None:
        extra = [k for k, v in given.items() if v is not None]
        if extra:
            raise PoolValueError(f"{extra[0]} needs --region-probs and --region-offsets")
        return {}
    if probs is None or offsets is None:
        raise PoolValueError("region data needs both --region-probs (R, C) and --region-offsets (N+1,)")
    probs = _float_array(np.asarray(probs), "regions/probs")
    if probs.ndim != 2 or probs.shape[1] != c:
        raise PoolValueError(
            f"'regions/probs' has shape {probs.shape}, expected (R, C={c}): regions must have the pool's {c} classes"
        )
    r = probs.shape[0]
    offsets = np.asarray(offsets)
    checks.check_offsets("regions/offsets", offsets, n, r)
    _check_blocks("regions/probs", probs, checks.check_probabilities)
    out = {"regions/offsets": offsets.astype(np.int64), "regions/probs": probs}
    if weights is not None:
        _float_dataset(out, "regions/weights", weights, (("R", r),), checks.check_nonnegative)
    if features is not None:
        _float_dataset(out, "regions/features", features, (("R", r), ("D", None)), checks.check_finite)
    if boxes is not None:
        _float_dataset(out, "regions/boxes", boxes, (("R", r), ("", 4)), checks.check_finite)
    return out


def _validate_cd(n, c, mixtures, present, counts) -> dict[str, np.ndarray]:
    out = {}
    if (mixtures is None) != (present is None):
        raise PoolValueError("class mixtures need both --cd-mixtures (N, C, C) and --class-present (N, C)")
    if mixtures is not None:
        mixtures = _float_array(np.asarray(mixtures), "cd/mixtures")
        _expect_shape("cd/mixtures", mixtures, (n, c, c), "one C x C mixture matrix per sample")
        present = np.asarray(present)
        _expect_shape("cd/present", present, (n, c), "one flag per sample and class")
        if present.dtype != bool and not (np.issubdtype(present.dtype, np.integer) and np.isin(present, (0, 1)).all()):
            raise PoolValueError("'cd/present' must be boolean (or 0/1 integers)")
        present = present.astype(np.uint8)
        step = max(1, WRITE_BLOCK_BYTES // max(1, mixtures[0].nbytes))
        for start in range(0, n, step):
            checks.check_mixtures("cd/mixtures", np.asarray(mixtures[start:start + step]), present[start:start + step], start)
        out["cd/mixtures"], out["cd/present"] = mixtures, present
    if counts is not None:
        counts = np.asarray(counts)
        _expect_shape("cd/counts", counts, (n, c), "regions per sample and class")
        checks.check_counts("cd/counts", counts)
        out["cd/counts"] = counts.astype(np.int64)
    return out


def write_pool(path, *, motion_stride: float = 1.0, **arrays) -> str:
    """Validate in-memory arrays and write them as a pool file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; replaced only after the new file is complete.
    **arrays
        Any of ``probs`` (N, C), ``logits`` (N, C), ``embeddings`` (N, D), ``mc_probs`` (N, T, C),
        ``epoch_preds`` (E, N), ``epoch_probs`` (E, N, C), ``labels`` (N,), ``labeled`` (K,),
        ``ids`` (N,), ``scores`` (dict name -> (N,)), ``cost`` (N,), ``class_names`` (C,),
        ``truth`` (N,), the region, video, motion and ground-truth-box arrays of
        :func:`validate_arrays`. Either ``probs`` or ``logits`` is required.
    motion_stride : float, default 1
        Pixels per cell of the motion grid (stored as the ``stride`` attribute).

    Returns
    -------
    str
        The path written.
    """
    data = validate_arrays(**arrays)
    n = (data["probs"] if "probs" in data else data["logits"]).shape[0]
    with PoolWriter(path, n) as writer:
        for name, array in data.items():
            if name == "epoch_preds":
                ds = writer.create(name, array.shape, array.dtype, maxshape=(None, n), axis=1)
                ds[...] = array
            elif name.startswith("regions/") and name != "regions/offsets":
                # ragged data may be appended to (R grows), so keep it resizable
                ds = writer.create(name, array.shape, array.dtype, maxshape=(None,) + array.shape[1:])
                ds[...] = array
            else:
                writer.write(name, array)
            if name.startswith("motion/"):
                if not (np.isfinite(motion_stride) and motion_stride > 0):
                    raise PoolValueError(f"motion stride must be > 0 pixels per cell, got {motion_stride}")
                writer.file[name].attrs[ATTR_MOTION_STRIDE] = float(motion_stride)
    return os.fspath(path)
