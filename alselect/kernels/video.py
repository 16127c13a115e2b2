"""Video kernels: box overlap, temporal-coherence graph building, motion tracking, oracle
matching and the temporal-representativeness walk.

Conventions shared by every kernel here:

* Rows of one batch are sorted by (video, frame). ``vstart[v]:vstart[v+1]`` are the batch
  rows of local video ``v``; ``frame[i]`` its frame number, strictly increasing inside a video.
* Regions (detections) of batch row ``i`` are ``off[i]:off[i+1]`` in the batch's region arrays.
* Tracked boxes ``tracks[r, j]``: column ``j`` holds the box in frame ``f + delta(j)`` with
  ``delta = -k..-1`` for ``j < k`` and ``+1..+k`` for ``j >= k``; NaN when lost.
* Boxes are (x1, y1, x2, y2); IoU is computed in float64 whatever the storage dtype.
"""

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def iou(a0, a1, a2, a3, b0, b1, b2, b3):
    """Intersection over union of two boxes; 0 when the union is empty."""
    iw = min(a2, b2) - max(a0, b0)
    ih = min(a3, b3) - max(a1, b1)
    if iw <= 0.0 or ih <= 0.0:
        inter = 0.0
    else:
        inter = iw * ih
    area_a = max(a2 - a0, 0.0) * max(a3 - a1, 0.0)
    area_b = max(b2 - b0, 0.0) * max(b3 - b1, 0.0)
    union = area_a + area_b - inter
    if union <= 0.0:
        return 0.0
    return inter / union


@numba.njit(cache=True, inline="always")
def delta_of(j, k):
    return j - k if j < k else j - k + 1


@numba.njit(cache=True)
def find_frame(frame, lo, hi, target):
    """Row in ``lo:hi`` (sorted by frame) whose frame is ``target``; -1 when absent."""
    a, b = lo, hi
    while a < b:
        m = (a + b) // 2
        if frame[m] < target:
            a = m + 1
        else:
            b = m
    if a < hi and frame[a] == target:
        return a
    return -1


@numba.njit(cache=True)
def row_video(vstart):
    n = vstart[-1]
    out = np.empty(n, dtype=np.int64)
    for v in range(vstart.shape[0] - 1):
        for i in range(vstart[v], vstart[v + 1]):
            out[i] = v
    return out


@numba.njit(cache=True)
def _find(parent, a):
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


@numba.njit(cache=True)
def tc_graph(vstart, frame, off, boxes, classes, tracks, k, theta):
    """Build the temporal-coherence graph of one batch (thesis §2.3.2, Fig. 2.2).

    Links: detections d (frame i) and e (frame j), same video and class, 0 < |i - j| <= k,
    when IoU(e, d tracked into j) > theta or IoU(d, e tracked into i) > theta. A tracked
    box d->j is *matched* when d is linked to some detection of frame j; unmatched tracked
    boxes landing in the same frame are clustered (same class, connected components of
    IoU > theta) into candidates, each joined to the detections its boxes came from.

    Returns
    -------
    edges : (E, 2) int64  node pairs; nodes 0..R-1 are detections, R.. candidates
    cand_row : (M,) int64  batch row (frame) of each candidate
    """
    n_rows = frame.shape[0]
    R = boxes.shape[0]
    two_k = tracks.shape[1]
    rv = row_video(vstart)
    det_row = np.empty(R, dtype=np.int64)
    for i in range(n_rows):
        for r in range(off[i], off[i + 1]):
            det_row[r] = i
    # target row of every (detection, column); -1 when that frame is not in the pool
    target = np.full((R, two_k), -1, dtype=np.int64)
    for r in range(R):
        i = det_row[r]
        v = rv[i]
        for j in range(two_k):
            t = find_frame(frame, vstart[v], vstart[v + 1], frame[i] + delta_of(j, k))
            target[r, j] = t
    matched = np.zeros((R, two_k), dtype=np.bool_)
    cap = 16
    link_a = np.empty(cap, dtype=np.int64)
    link_b = np.empty(cap, dtype=np.int64)
    n_links = 0
    for r in range(R):
        for j in range(two_k):
            t = target[r, j]
            if t < 0 or np.isnan(tracks[r, j, 0]):
                continue
            b0 = np.float64(tracks[r, j, 0])
            b1 = np.float64(tracks[r, j, 1])
            b2 = np.float64(tracks[r, j, 2])
            b3 = np.float64(tracks[r, j, 3])
            jr = two_k - 1 - j  # column of the opposite offset
            for e in range(off[t], off[t + 1]):
                if classes[e] != classes[r]:
                    continue
                if iou(b0, b1, b2, b3, np.float64(boxes[e, 0]), np.float64(boxes[e, 1]),
                       np.float64(boxes[e, 2]), np.float64(boxes[e, 3])) > theta:
                    matched[r, j] = True
                    matched[e, jr] = True
                    if n_links == cap:
                        cap *= 2
                        na = np.empty(cap, dtype=np.int64)
                        nb = np.empty(cap, dtype=np.int64)
                        na[:n_links] = link_a[:n_links]
                        nb[:n_links] = link_b[:n_links]
                        link_a, link_b = na, nb
                    link_a[n_links] = min(r, e)
                    link_b[n_links] = max(r, e)
                    n_links += 1
    # unique links
    keys = link_a[:n_links] * R + link_b[:n_links]
    keys = np.unique(keys)
    # unmatched tracked boxes grouped by target row
    n_un = 0
    for r in range(R):
        for j in range(two_k):
            if target[r, j] >= 0 and not matched[r, j] and not np.isnan(tracks[r, j, 0]):
                n_un += 1
    un_t = np.empty(n_un, dtype=np.int64)
    un_r = np.empty(n_un, dtype=np.int64)
    un_j = np.empty(n_un, dtype=np.int64)
    q = 0
    for r in range(R):
        for j in range(two_k):
            if target[r, j] >= 0 and not matched[r, j] and not np.isnan(tracks[r, j, 0]):
                un_t[q] = target[r, j]
                un_r[q] = r
                un_j[q] = j
                q += 1
    order = np.argsort(un_t, kind="mergesort")
    parent = np.arange(n_un)
    s = 0
    while s < n_un:
        e_ = s
        t = un_t[order[s]]
        while e_ < n_un and un_t[order[e_]] == t:
            e_ += 1
        for a in range(s, e_):
            pa = order[a]
            ra, ja = un_r[pa], un_j[pa]
            for b in range(a + 1, e_):
                pb = order[b]
                rb, jb = un_r[pb], un_j[pb]
                if classes[ra] != classes[rb]:
                    continue
                if iou(np.float64(tracks[ra, ja, 0]), np.float64(tracks[ra, ja, 1]),
                       np.float64(tracks[ra, ja, 2]), np.float64(tracks[ra, ja, 3]),
                       np.float64(tracks[rb, jb, 0]), np.float64(tracks[rb, jb, 1]),
                       np.float64(tracks[rb, jb, 2]), np.float64(tracks[rb, jb, 3])) > theta:
                    x, y = _find(parent, pa), _find(parent, pb)
                    if x != y:
                        parent[max(x, y)] = min(x, y)
        s = e_
    cand_of = np.full(n_un, -1, dtype=np.int64)
    n_cand = 0
    for a in range(n_un):  # candidates numbered in order of their first tracked box
        root = _find(parent, a)
        if cand_of[root] < 0:
            cand_of[root] = n_cand
            n_cand += 1
        cand_of[a] = cand_of[root]
    cand_row = np.empty(n_cand, dtype=np.int64)
    edges = np.empty((keys.shape[0] + n_un, 2), dtype=np.int64)
    for q in range(keys.shape[0]):
        edges[q, 0] = keys[q] // R
        edges[q, 1] = keys[q] % R
    base = keys.shape[0]
    for a in range(n_un):
        c = cand_of[a]
        cand_row[c] = un_t[a]
        edges[base + a, 0] = un_r[a]
        edges[base + a, 1] = R + c
    return edges, cand_row


@numba.njit(cache=True)
def count_per_row(n_rows, rows, flags):
    """How many of the items (row ``rows[q]``) have ``flags[q]`` set, per row."""
    out = np.zeros(n_rows, dtype=np.int64)
    for q in range(rows.shape[0]):
        if flags[q]:
            out[rows[q]] += 1
    return out


@numba.njit(cache=True)
def motion_tracks(vstart, frame, off, boxes, forward, backward, stride, k):
    """Track every detection box into frames -k..-1, +1..+k by its centre's motion.

    Step by step, as the thesis does with optical flow: the box moves by the motion vector
    of the grid cell under its current centre, using the field of the frame it is in
    (forward: frame f to f+1; backward: f to f-1). A missing intermediate frame loses the
    track (NaN from there on).
    """
    R = boxes.shape[0]
    H, W = forward.shape[1], forward.shape[2]
    out = np.full((R, 2 * k, 4), np.nan, dtype=np.float32)
    rv = row_video(vstart)
    for i in range(frame.shape[0]):
        v = rv[i]
        for r in range(off[i], off[i + 1]):
            for direction in (1, -1):
                x0 = np.float64(boxes[r, 0])
                y0 = np.float64(boxes[r, 1])
                x1 = np.float64(boxes[r, 2])
                y1 = np.float64(boxes[r, 3])
                cur = i
                for m in range(1, k + 1):
                    nxt = find_frame(frame, vstart[v], vstart[v + 1], frame[i] + direction * m)
                    if nxt < 0:
                        break
                    cx = 0.5 * (x0 + x1)
                    cy = 0.5 * (y0 + y1)
                    gx = min(max(int(np.floor(cx / stride)), 0), W - 1)
                    gy = min(max(int(np.floor(cy / stride)), 0), H - 1)
                    if direction == 1:
                        dx = np.float64(forward[cur, gy, gx, 0])
                        dy = np.float64(forward[cur, gy, gx, 1])
                        j = k + m - 1
                    else:
                        dx = np.float64(backward[cur, gy, gx, 0])
                        dy = np.float64(backward[cur, gy, gx, 1])
                        j = k - m
                    x0 += dx
                    x1 += dx
                    y0 += dy
                    y1 += dy
                    out[r, j, 0] = x0
                    out[r, j, 1] = y0
                    out[r, j, 2] = x1
                    out[r, j, 3] = y1
                    cur = nxt
    return out


@numba.njit(cache=True)
def oracle_errors(off, boxes, classes, scores, goff, gboxes, gclasses, use_classes, threshold):
    """False positives and false negatives of every row against its ground-truth boxes.

    Detections are matched greedily in descending score (ties: lower index first) to the
    unmatched ground-truth box of highest IoU (> threshold, same class when
    ``use_classes``); a detection whose best box is already taken is a duplicate and counts
    as a false positive, as in the VOC protocol. Unmatched ground truth are false negatives.
    """
    n = off.shape[0] - 1
    fp = np.zeros(n, dtype=np.int64)
    fn = np.zeros(n, dtype=np.int64)
    for i in range(n):
        lo, hi = off[i], off[i + 1]
        glo, ghi = goff[i], goff[i + 1]
        taken = np.zeros(ghi - glo, dtype=np.bool_)
        order = np.argsort(-scores[lo:hi].astype(np.float64), kind="mergesort")
        for q in range(hi - lo):
            r = lo + order[q]
            best = threshold
            best_g = -1
            for g in range(glo, ghi):
                if use_classes and gclasses[g] != classes[r]:
                    continue
                o = iou(np.float64(boxes[r, 0]), np.float64(boxes[r, 1]), np.float64(boxes[r, 2]),
                        np.float64(boxes[r, 3]), np.float64(gboxes[g, 0]), np.float64(gboxes[g, 1]),
                        np.float64(gboxes[g, 2]), np.float64(gboxes[g, 3]))
                if o > best:
                    best = o
                    best_g = g
            if best_g >= 0 and not taken[best_g - glo]:
                taken[best_g - glo] = True
            else:
                fp[i] += 1
        for g in range(ghi - glo):
            if not taken[g]:
                fn[i] += 1
    return fp, fn


@numba.njit(cache=True)
def block_neighbours(pos, sorted_rows, svideo, sframe, blocked, radius):
    """Mark every row within ``radius`` frames of sorted position ``pos`` (same video) blocked."""
    n = sorted_rows.shape[0]
    v = svideo[pos]
    f = sframe[pos]
    p = pos
    while p >= 0 and svideo[p] == v and f - sframe[p] <= radius:
        blocked[sorted_rows[p]] = True
        p -= 1
    p = pos + 1
    while p < n and svideo[p] == v and sframe[p] - f <= radius:
        blocked[sorted_rows[p]] = True
        p += 1


@numba.njit(cache=True)
def constrained_walk(order, count, position, sorted_rows, svideo, sframe, video, blocked, radius,
                     exclude, per_video, n_videos, quota_step):
    """Walk a ranked list, keeping rows that satisfy the temporal rules, until ``count``.

    ``exclude``: a kept row blocks every row within ``radius`` frames of it (same video);
    ``blocked`` arrives with the labeled frames' neighbourhoods already marked. ``per_video``:
    a video may hold at most ``quota`` kept rows; ``quota`` starts at ``quota_step`` and grows
    by ``quota_step`` whenever a walk over the whole list finds nothing more to keep.
    """
    taken = np.zeros(order.shape[0], dtype=np.bool_)
    per = np.zeros(n_videos, dtype=np.int64)
    out = np.empty(count, dtype=np.int64)
    got = 0
    quota = quota_step if per_video else count + 1
    while got < count:
        before = got
        for q in range(order.shape[0]):
            if got == count:
                break
            if taken[q]:
                continue
            r = order[q]
            if exclude and blocked[r]:
                continue
            if per[video[r]] >= quota:
                continue
            taken[q] = True
            out[got] = r
            got += 1
            per[video[r]] += 1
            if exclude:
                block_neighbours(position[r], sorted_rows, svideo, sframe, blocked, radius)
        if got == before:
            if not per_video:
                break
            quota += quota_step
            if quota > count + quota_step:
                break
    return out[:got]
