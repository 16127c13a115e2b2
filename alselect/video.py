"""Video pools: frame order, temporal-coherence error estimates, oracle error counts.

The algorithms and every choice the thesis leaves open are in ``docs/video.md``. The numba
kernels live in :mod:`alselect.kernels.video`; this module reads the pool in batches of whole
videos, so memory stays bounded by the batch, not the pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import MissingDatasetError, SelectionError
from .progress import no_progress
from .validation import check_video_frames

#: Regions per batch when streaming video data (a batch holds whole videos).
BATCH_REGIONS = 200_000
#: Rows per batch when streaming motion fields (dense fields are large).
MOTION_BATCH_BYTES = 256 << 20
ERRORS = ("fp", "fn", "both")


@dataclass
class VideoIndex:
    """Where every frame sits: rows sorted by (video, frame), and each row's local video.

    Attributes
    ----------
    order : (N,) int64  rows sorted by (video id, frame)
    position : (N,) int64  position of each row in ``order``
    video : (N,) int64  local video number 0..V-1 of each row (videos numbered by id)
    frame : (N,) int64  frame number of each row
    vstart : (V+1,) int64  ``order[vstart[v]:vstart[v+1]]`` are the rows of video v
    """

    order: np.ndarray
    position: np.ndarray
    video: np.ndarray
    frame: np.ndarray
    vstart: np.ndarray

    @property
    def n_videos(self) -> int:
        return int(self.vstart.size - 1)


def video_index(pool, who: str = "this operation") -> VideoIndex:
    """Read and validate ``video/id`` and ``video/frame``; raises if the pool has no video data."""
    pool.require("video/id", who)
    pool.require("video/frame", who)
    ids = pool.read("video/id").astype(np.int64)
    frames = pool.read("video/frame").astype(np.int64)
    order = check_video_frames(ids, frames)
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    vstart = np.r_[starts, ids.size].astype(np.int64)
    local = np.repeat(np.arange(starts.size, dtype=np.int64), np.diff(vstart))
    video = np.empty_like(local)
    video[order] = local
    position = np.empty_like(order)
    position[order] = np.arange(order.size, dtype=np.int64)
    return VideoIndex(order=order, position=position, video=video, frame=frames, vstart=vstart)


# ------------------------------------------------------------------ batched region reading
def _video_batches(index: VideoIndex, offsets: np.ndarray, target: int):
    """Consecutive videos grouped so each group holds about ``target`` regions."""
    counts = np.diff(offsets)[index.order]
    per_video = np.add.reduceat(counts, index.vstart[:-1]) if counts.size else np.zeros(0, np.int64)
    v = 0
    V = index.n_videos
    while v < V:
        w, total = v, 0
        while w < V and (w == v or total + per_video[w] <= target):
            total += per_video[w]
            w += 1
        yield v, w
        v = w


def _gather(ds, ranges_lo, ranges_hi, gap: int = 1 << 12):
    """Concatenate ``ds[lo:hi]`` for every range (in the given order).

    Ranges are read in file order, merged into one read when fewer than ``gap`` rows apart, so a
    batch costs about its own rows whether or not its videos are stored contiguously."""
    sizes = ranges_hi - ranges_lo
    total = int(sizes.sum())
    out = np.empty((total,) + ds.shape[1:], dtype=ds.dtype)
    keep = np.flatnonzero(sizes > 0)
    if keep.size == 0:
        return out
    dest = np.r_[0, np.cumsum(sizes)[:-1]]
    lo_all, hi_all = ranges_lo[keep], ranges_hi[keep]
    if np.all(lo_all[1:] == hi_all[:-1]):  # contiguous and in file order: one read
        out[...] = ds[int(lo_all[0]):int(hi_all[-1])]
        return out
    order = keep[np.argsort(ranges_lo[keep], kind="stable")]
    q = 0
    while q < order.size:
        first = q
        seg_lo, seg_hi = int(ranges_lo[order[q]]), int(ranges_hi[order[q]])
        q += 1
        while q < order.size and int(ranges_lo[order[q]]) - seg_hi < gap:
            seg_hi = max(seg_hi, int(ranges_hi[order[q]]))
            q += 1
        chunk = ds[seg_lo:seg_hi]
        for p in order[first:q]:
            a, b = int(ranges_lo[p]) - seg_lo, int(ranges_hi[p]) - seg_lo
            out[int(dest[p]):int(dest[p]) + b - a] = chunk[a:b]
    return out


@dataclass
class VideoBatch:
    rows: np.ndarray  # pool rows, sorted by (video, frame)
    vstart: np.ndarray  # local video starts within ``rows``
    frame: np.ndarray
    off: np.ndarray  # CSR offsets of the batch's regions
    data: dict


def iter_video_batches(pool, index: VideoIndex, names, *, target: int = BATCH_REGIONS, progress=None):
    """Yield :class:`VideoBatch` es of whole videos with the region datasets ``names`` read."""
    offsets = pool.region_offsets()
    for v0, v1 in _video_batches(index, offsets, target):
        rows = index.order[index.vstart[v0]:index.vstart[v1]]
        lo, hi = offsets[rows], offsets[rows + 1]
        off = np.r_[0, np.cumsum(hi - lo)].astype(np.int64)
        data = {}
        for name in names:
            block = _gather(pool._ds(name), lo, hi)
            check = pool._checker(name)
            if block.dtype == np.float16:
                block = block.astype(np.float32)
            check(name, block, 0)
            data[name] = block
        yield VideoBatch(rows=rows, vstart=(index.vstart[v0:v1 + 1] - index.vstart[v0]).astype(np.int64),
                         frame=index.frame[rows], off=off, data=data)
        if progress is not None:
            progress(int(rows.size))


def region_classes(pool, data: dict) -> np.ndarray:
    if "regions/classes" in data:
        return data["regions/classes"].astype(np.int64)
    return np.argmax(data["regions/probs"], axis=1).astype(np.int64)


def _class_names(pool) -> list[str]:
    names = ["regions/boxes"]
    names.append("regions/classes" if pool.has("regions/classes") else "regions/probs")
    return names


# ------------------------------------------------------------------ temporal coherence
@dataclass
class CoherenceResult:
    fp: np.ndarray  # (N,) estimated false positives per frame
    fn: np.ndarray  # (N,) estimated false negatives per frame
    n_nodes: int
    n_edges: int
    det_fp: np.ndarray | None = None  # (R,) bool: detections labelled FP (pool region order)


def solve_labelling(n_det: int, n_cand: int, edges: np.ndarray):
    """Exact minimiser of the binary temporal-coherence energy by one min-cut.

    Variable x = 1 means "an object is there" (detection TP, candidate FN), x = 0 "nothing"
    (detection FP, candidate TN). Energy (Eq. 2.1-2.4 restricted to the finite labels):
    ``sum_det [x=0] + sum_cand [x=1] + sum_edges [x_u != x_v]``. Among minimisers the one
    with the fewest declared errors is returned: capacities are scaled so the cut minimises
    ``M * E + (#FP + #FN)`` with ``M`` above any error count, which keeps E minimal.

    Returns (n_det + n_cand,) bool: True where x = 1.
    """
    import maxflow

    n = n_det + n_cand
    present = np.ones(n, dtype=bool)
    if n == 0:
        return present
    M = float(n + 1)
    g = maxflow.Graph[float](n, max(1, edges.shape[0]))
    nodes = g.add_nodes(n)
    # source side = "nothing there": a detection there pays its sink capacity (M + 1), a
    # candidate on the sink side pays its source capacity (M + 1)
    src = np.zeros(n)
    snk = np.zeros(n)
    snk[:n_det] = M + 1.0
    src[n_det:] = M + 1.0
    g.add_grid_tedges(nodes, src, snk)
    if edges.shape[0]:
        caps = np.full(edges.shape[0], M)
        g.add_edges(edges[:, 0].astype(np.int32), edges[:, 1].astype(np.int32), caps, caps)
    g.maxflow()
    return g.get_grid_segments(nodes)  # True = sink side = object there


def energy(x: np.ndarray, n_det: int, edges: np.ndarray) -> int:
    """The temporal-coherence energy of a labelling (x: True = object there)."""
    x = np.asarray(x, dtype=bool)
    unary = int((~x[:n_det]).sum() + x[n_det:].sum())
    pair = int((x[edges[:, 0]] != x[edges[:, 1]]).sum()) if edges.size else 0
    return unary + pair


def temporal_coherence(pool, *, k: int = 3, theta: float = 0.5, progress=None) -> CoherenceResult:
    """Per-frame FP and FN estimates of the temporal-coherence graph cut (thesis §2.3.2)."""
    from .kernels import video as kv

    progress = progress or no_progress
    who = "strategy 'temporal-coherence'"
    for name in ("regions/offsets", "regions/boxes"):
        pool.require(name, who)
    motion = not pool.has("regions/tracks")
    if motion and not pool.has("motion/forward"):
        raise MissingDatasetError(
            f"{who} needs tracked boxes: dataset 'regions/tracks' (R, 2k, 4) from your tracker, or motion fields "
            f"'motion/forward' and 'motion/backward' (N, H, W, 2) to derive them; '{pool.path}' has neither "
            "(add them with `alselect pack ... --regions-tracks T.npy` or `--motion-forward F.npy --motion-backward B.npy`)"
        )
    if not motion:
        stored_k = pool.shape("regions/tracks")[1] // 2
        if k > stored_k:
            raise SelectionError(
                f"-p k={k} exceeds the {stored_k} frames each way stored in 'regions/tracks'; use -p k={stored_k} or less"
            )
    else:
        stride = float(pool._ds("motion/forward").attrs.get("stride", 1.0))
    index = video_index(pool, who)
    if motion:  # tracks are derived: bound k by the longest video so nothing is allocated blindly
        span = int(max(index.frame[index.order[b - 1]] - index.frame[index.order[a]]
                       for a, b in zip(index.vstart[:-1], index.vstart[1:])))
        if k > max(1, span):
            raise SelectionError(
                f"-p k={k} exceeds the longest video's {span} frames; tracks that long cannot land on a frame "
                f"(use -p k={max(1, span)} or less)"
            )
    n = pool.n_rows
    fp = np.zeros(n, dtype=np.int64)
    fn = np.zeros(n, dtype=np.int64)
    names = _class_names(pool) + ([] if motion else ["regions/tracks"])
    n_nodes = n_edges = 0
    offsets = pool.region_offsets()
    det_fp = np.zeros(int(offsets[-1]), dtype=bool)
    target = BATCH_REGIONS
    if motion:  # dense fields per row bound the batch size
        fwd = pool._ds("motion/forward")
        row_bytes = 2 * int(np.prod(fwd.shape[1:])) * 4
        target = max(1, min(BATCH_REGIONS, int(MOTION_BATCH_BYTES // max(1, row_bytes)
                                               * max(1.0, pool.shape("regions/boxes")[0] / n))))
    with progress("temporal-coherence: graphs", n) as update:
        for batch in iter_video_batches(pool, index, names, target=target, progress=update):
            boxes = batch.data["regions/boxes"]
            classes = region_classes(pool, batch.data)
            if motion:
                order = np.argsort(batch.rows)
                srt = batch.rows[order]
                f_fwd = np.empty((srt.size,) + fwd.shape[1:], dtype=np.float32)
                f_bwd = np.empty_like(f_fwd)
                f_fwd[order] = pool._ds("motion/forward")[srt]
                f_bwd[order] = pool._ds("motion/backward")[srt]
                tracks = kv.motion_tracks(batch.vstart, batch.frame, batch.off, boxes, f_fwd, f_bwd, stride, k)
            else:
                stored = batch.data["regions/tracks"]
                K = stored.shape[1] // 2
                tracks = np.ascontiguousarray(stored[:, K - k:K + k])
            edges, cand_row = kv.tc_graph(batch.vstart, batch.frame, batch.off, boxes, classes, tracks,
                                          int(k), float(theta))
            R = boxes.shape[0]
            x = solve_labelling(R, cand_row.size, edges)
            det_row = np.repeat(np.arange(batch.rows.size), np.diff(batch.off))
            fp[batch.rows] = np.bincount(det_row[~x[:R]], minlength=batch.rows.size)
            fn[batch.rows] = np.bincount(cand_row[x[R:]], minlength=batch.rows.size)
            counts = np.diff(batch.off)
            pool_idx = np.repeat(offsets[batch.rows] - batch.off[:-1], counts) + np.arange(R)
            det_fp[pool_idx] = ~x[:R]
            n_nodes += R + cand_row.size
            n_edges += edges.shape[0]
    return CoherenceResult(fp=fp, fn=fn, n_nodes=n_nodes, n_edges=n_edges, det_fp=det_fp)


# ------------------------------------------------------------------ oracle
def oracle_errors(pool, *, threshold: float = 0.5, progress=None):
    """Per-frame (FP, FN) counts against the ground-truth boxes (thesis §2.3.1)."""
    from .kernels import video as kv

    who = "strategy 'oracle-fp'/'oracle-fn'"
    for name in ("regions/offsets", "regions/boxes", "truth_boxes/offsets", "truth_boxes/boxes"):
        pool.require(name, who)
    off = pool.region_offsets()
    boxes = pool.read("regions/boxes", dtype=np.float64)
    if pool.has("regions/classes"):
        classes = pool.read("regions/classes").astype(np.int64)
    else:
        classes = np.argmax(pool.read("regions/probs", dtype=np.float32), axis=1).astype(np.int64)
    if pool.has("regions/scores"):
        scores = pool.read("regions/scores", dtype=np.float64)
    else:
        scores = pool.read("regions/probs", dtype=np.float64).max(axis=1)
    goff = pool._ds("truth_boxes/offsets")[()].astype(np.int64)
    gboxes = pool.read("truth_boxes/boxes", dtype=np.float64)
    use_classes = pool.has("truth_boxes/classes")
    gclasses = pool.read("truth_boxes/classes").astype(np.int64) if use_classes else np.zeros(gboxes.shape[0], np.int64)
    return kv.oracle_errors(off, boxes, classes, scores, goff, gboxes, gclasses, use_classes, float(threshold))
