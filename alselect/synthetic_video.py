"""A synthetic video-detection pool with known errors, for tests and benchmarks.

Objects move on smooth tracks (constant velocity plus a slow sinusoidal wobble) through the
frames of several videos. A simulated detector sees each object with a small box noise,
drops it with probability ``p_drop`` (a known false negative) and hallucinates boxes at a
rate ``fp_rate`` per object and frame (known false positives). Tracked boxes come from the
true motion plus noise: a real detection's box is tracked to where its object really is in
the neighbouring frames; a hallucinated box stays where it is (background does not move).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SyntheticVideo:
    arrays: dict  # keyword arguments of alselect.pool.write_pool
    fp_region: np.ndarray  # (R,) bool: hallucinated detections
    fn_frame: np.ndarray  # (N,) int: objects the detector dropped in each frame
    motion_stride: float = 1.0


def synthetic_video(n_videos: int = 6, frames: int | tuple[int, int] = 40, objects: int = 4, *, n_classes: int = 3,
                    k: int = 3, p_drop: float = 0.05, fp_rate: float = 0.03, det_noise: float = 1.0,
                    track_noise: float = 1.0, feature_dim: int = 8, image=(960.0, 540.0), shuffle: bool = False,
                    motion_grid: int | None = None, seed: int = 0) -> SyntheticVideo:
    """Build the arrays of a synthetic video pool.

    Parameters
    ----------
    n_videos, frames, objects
        Videos; frames per video (or a (low, high) range drawn per video); objects per video.
    k : int
        Frames tracked each way (``regions/tracks`` is (R, 2k, 4)).
    shuffle : bool
        Store the frames in a random row order (a video's frames need not be contiguous rows).
    motion_grid : int, optional
        Also store dense motion fields on cells of this many pixels (``motion/forward`` and
        ``motion/backward``): each cell moves with the object whose true box covers its centre.
    """
    rng = np.random.default_rng(seed)
    W, H = image
    V, O = int(n_videos), int(objects)
    if isinstance(frames, tuple):
        lengths = rng.integers(frames[0], frames[1] + 1, size=V)
    else:
        lengths = np.full(V, int(frames))
    L = int(lengths.max())
    size = rng.uniform(40, 90, size=(V, O, 1, 2))
    c0 = rng.uniform([120, 100], [W - 120, H - 100], size=(V, O, 1, 2))
    vel = rng.normal(0, 2.0, size=(V, O, 1, 2))
    amp = rng.uniform(0, 8, size=(V, O, 1, 2))
    omega = rng.uniform(0.05, 0.15, size=(V, O, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(V, O, 1, 2))
    cls = rng.integers(0, n_classes, size=(V, O))
    t = np.arange(-k, L + k, dtype=np.float64)[None, None, :, None]
    centre = c0 + vel * t + amp * np.sin(omega * t + phase)  # (V, O, L + 2k, 2)
    true = np.concatenate([centre - size / 2, centre + size / 2], axis=-1)  # (V, O, L + 2k, 4)

    # rows: frame t of video v; row order video-major unless shuffled
    n = int(lengths.sum())
    vid = np.repeat(np.arange(V), lengths)
    frm = np.concatenate([np.arange(x) for x in lengths])
    row_of = -np.ones((V, L), dtype=np.int64)
    perm = rng.permutation(n) if shuffle else np.arange(n)
    row_of[vid, frm] = perm

    visible = np.arange(L)[None, :] < lengths[:, None]  # (V, L)
    keep = rng.random((V, O, L)) >= p_drop
    keep &= visible[:, None, :]
    dropped = (~keep) & visible[:, None, :]
    n_fp = rng.binomial(O, fp_rate, size=(V, L)) * visible

    # real detections
    rv, ro, rt = np.nonzero(keep)
    det_true = true[rv, ro, rt + k]
    boxes_real = det_true + rng.normal(0, det_noise, size=det_true.shape)
    cls_real = cls[rv, ro]
    deltas = np.r_[np.arange(-k, 0), np.arange(1, k + 1)]
    tt = rt[:, None] + deltas[None, :]
    tr_real = true[rv[:, None], ro[:, None], tt + k] + rng.normal(0, track_noise, size=(rv.size, 2 * k, 4))
    inside = (tt >= 0) & (tt < lengths[rv][:, None])
    tr_real[~inside] = np.nan
    # hallucinations
    fv, ft = np.nonzero(n_fp)
    fv, ft = np.repeat(fv, n_fp[fv, ft]), np.repeat(ft, n_fp[fv, ft])
    fsize = rng.uniform(40, 90, size=(fv.size, 2))
    fc = rng.uniform([60, 60], [W - 60, H - 60], size=(fv.size, 2))
    boxes_fp = np.concatenate([fc - fsize / 2, fc + fsize / 2], axis=1)
    cls_fp = rng.integers(0, n_classes, size=fv.size)
    tr_fp = boxes_fp[:, None, :] + rng.normal(0, track_noise, size=(fv.size, 2 * k, 4))
    tt = ft[:, None] + deltas[None, :]
    tr_fp[~((tt >= 0) & (tt < lengths[fv][:, None]))] = np.nan

    row = np.r_[row_of[rv, rt], row_of[fv, ft]]
    order = np.argsort(row, kind="stable")
    row = row[order]
    boxes = np.concatenate([boxes_real, boxes_fp])[order].astype(np.float32)
    classes = np.r_[cls_real, cls_fp][order].astype(np.int64)
    tracks = np.concatenate([tr_real, tr_fp])[order].astype(np.float32)
    fp_region = np.r_[np.zeros(rv.size, bool), np.ones(fv.size, bool)][order]
    offsets = np.r_[0, np.cumsum(np.bincount(row, minlength=n))].astype(np.int64)
    R = boxes.shape[0]

    logits = rng.normal(0, 1, size=(R, n_classes))
    logits[np.arange(R), classes] += rng.uniform(1, 4, size=R)
    rprobs = np.exp(logits - logits.max(1, keepdims=True))
    rprobs /= rprobs.sum(1, keepdims=True)
    scores = rng.uniform(0.5, 1.0, size=R)
    feats = rng.normal(0, 1, size=(R, feature_dim)).astype(np.float32)
    feats[:, : min(n_classes, feature_dim)] += 3 * np.eye(n_classes, feature_dim)[classes][:, : min(n_classes, feature_dim)]
    det_row = np.repeat(np.arange(n), np.diff(offsets))
    probs = np.full((n, n_classes), 0.0)
    np.add.at(probs, det_row, rprobs)
    count = np.diff(offsets)[:, None]
    probs = np.where(count > 0, probs / np.maximum(count, 1), 1.0 / n_classes)

    emb = np.zeros((n, feature_dim))
    np.add.at(emb, det_row, feats)
    emb = (emb / np.maximum(count, 1)).astype(np.float32)
    fn_frame = np.zeros(n, dtype=np.int64)
    dv, do, dt = np.nonzero(dropped)
    np.add.at(fn_frame, row_of[dv, dt], 1)
    gv, go, gt = np.nonzero(visible[:, None, :] & np.ones((V, O, L), bool))
    grow = row_of[gv, gt]
    gorder = np.argsort(grow, kind="stable")
    gboxes = true[gv, go, gt + k][gorder].astype(np.float32)
    gcls = cls[gv, go][gorder].astype(np.int64)
    goff = np.r_[0, np.cumsum(np.bincount(grow, minlength=n))].astype(np.int64)
    video_rows = np.empty(n, dtype=np.int64)
    frame_rows = np.empty(n, dtype=np.int64)
    video_rows[perm] = vid * 7 + 100  # arbitrary ids, not 0..V-1
    frame_rows[perm] = frm
    arrays = dict(probs=probs.astype(np.float32), embeddings=emb, regions_probs=rprobs.astype(np.float32), regions_offsets=offsets,
                  regions_boxes=boxes, regions_classes=classes, regions_scores=scores.astype(np.float32),
                  regions_features=feats, regions_tracks=tracks, video_id=video_rows, video_frame=frame_rows,
                  truth_boxes_boxes=gboxes, truth_boxes_offsets=goff, truth_boxes_classes=gcls)
    stride = 1.0
    if motion_grid:
        stride = float(motion_grid)
        gh, gw = int(np.ceil(H / stride)), int(np.ceil(W / stride))
        cy = (np.arange(gh) + 0.5) * stride
        cx = (np.arange(gw) + 0.5) * stride
        fwd = np.zeros((n, gh, gw, 2), dtype=np.float32)
        bwd = np.zeros((n, gh, gw, 2), dtype=np.float32)
        for v in range(V):
            for f in range(lengths[v]):
                r = row_of[v, f]
                for o in range(O):
                    b = true[v, o, f + k]
                    ys = (cy >= b[1]) & (cy < b[3])
                    xs = (cx >= b[0]) & (cx < b[2])
                    cell = ys[:, None] & xs[None, :]
                    fwd[r][cell] = (centre[v, o, f + k + 1] - centre[v, o, f + k])
                    bwd[r][cell] = (centre[v, o, f + k - 1] - centre[v, o, f + k])
        arrays.update(motion_forward=fwd, motion_backward=bwd)
        del arrays["regions_tracks"]
    return SyntheticVideo(arrays=arrays, fp_region=fp_region, fn_frame=fn_frame, motion_stride=stride)
