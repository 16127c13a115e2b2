"""Format version 3 (video, detection, motion, ground-truth boxes), detection-level
aggregation of uncertainty (thesis §2.5.2), and the UWE segmentation/detection variants."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from alselect import select
from alselect.errors import PoolFormatError, PoolValueError, SelectionError
from alselect.pool import open_pool, write_pool
from alselect.synthetic_video import synthetic_video


@pytest.fixture
def video(tmp_path):
    sv = synthetic_video(n_videos=3, frames=(10, 14), objects=3, seed=9, shuffle=True)
    path = tmp_path / "v.h5"
    write_pool(path, **sv.arrays)
    return sv, path


def test_version_stamps_and_older_files(tmp_path, video):
    sv, path = video
    with open_pool(path) as pool:
        assert pool.version == 3
        assert pool.shape("regions/tracks")[1:] == (6, 4)
        assert pool.problems() == []
    a = sv.arrays
    write_pool(tmp_path / "v2.h5", probs=a["probs"], regions_probs=a["regions_probs"], regions_offsets=a["regions_offsets"])
    write_pool(tmp_path / "v1.h5", probs=a["probs"])
    with open_pool(tmp_path / "v2.h5") as p2, open_pool(tmp_path / "v1.h5") as p1:
        assert (p2.version, p1.version) == (2, 1)
    with h5py.File(tmp_path / "v1.h5", "a") as f:
        f.attrs["format_version"] = 4
    with pytest.raises(PoolFormatError, match="newer"):
        open_pool(tmp_path / "v1.h5")


@pytest.mark.parametrize("change,match", [
    (lambda a: a.update(video_frame=np.zeros_like(a["video_frame"])), "both frame 0 of video"),
    (lambda a: a.update(video_frame=a["video_frame"] - 1), "frames must be >= 0"),
    (lambda a: a.pop("video_frame"), "--video-id needs --video-frame"),
    (lambda a: a.update(regions_scores=a["regions_scores"] + 1), r"in \[0, 1\]"),
    (lambda a: a.update(regions_classes=a["regions_classes"] + 3), "labels must lie"),
    (lambda a: a.update(regions_tracks=a["regions_tracks"][:, :5]), r"\(R=\d+, 2k, 4\)"),
    (lambda a: a["regions_tracks"].__setitem__((0, 0, 1), np.nan) or a["regions_tracks"].__setitem__((0, 0, 0), 1.0),
     "some but not all coordinates NaN"),
    (lambda a: a.update(truth_boxes_offsets=a["truth_boxes_offsets"][:-1]), "expected"),
    (lambda a: a.update(motion_forward=np.zeros((len(a["video_frame"]), 4, 4, 2), np.float32)), "--motion-forward needs --motion-backward"),
])
def test_bad_video_data_is_refused(tmp_path, video, change, match):
    sv, _ = video
    arrays = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in sv.arrays.items()}
    arrays["regions_tracks"] = arrays["regions_tracks"].copy()
    change(arrays)
    with pytest.raises(PoolValueError, match=match):
        write_pool(tmp_path / "bad.h5", **arrays)
    assert not (tmp_path / "bad.h5").exists()


def test_stored_problems_are_reported(tmp_path, video):
    _, path = video
    with h5py.File(path, "a") as f:
        f["regions/scores"][0] = 2.0
        f["video/frame"][0] = -3
    with open_pool(path) as pool:
        problems = pool.problems()
    assert any("regions/scores" in p for p in problems) and any("video/frame" in p for p in problems)


# ------------------------------------------------------------------ detection aggregation
def _entropy(p):
    p = p.astype(np.float64)
    return -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(1)


def test_detection_aggregation_rules(make_pool, rng):
    n, c = 7, 3
    counts = np.array([2, 0, 3, 1, 4, 0, 2])
    off = np.r_[0, np.cumsum(counts)]
    rp = rng.dirichlet(np.ones(c), size=off[-1]).astype(np.float32)
    path = make_pool(probs=rng.dirichlet(np.ones(c), size=n).astype(np.float32), regions_probs=rp, regions_offsets=off)
    row = np.repeat(np.arange(n), counts)
    ent = np.bincount(row, _entropy(rp), minlength=n) / np.maximum(counts, 1)
    lc = np.bincount(row, 1 - rp.max(1).astype(np.float64), minlength=n) / np.maximum(counts, 1)
    top2 = np.sort(rp.astype(np.float64), axis=1)
    mar = np.bincount(row, top2[:, -1] - top2[:, -2], minlength=n)
    sel = select(path, "entropy", n, aggregate="detections")
    np.testing.assert_allclose(sel.scores, ent[sel.indices], atol=1e-12)
    assert set(sel.indices[-2:]) == {1, 5}  # frames without detections score 0 and come last
    sel = select(path, "least-confidence", n, aggregate="detections")
    np.testing.assert_allclose(sel.scores, lc[sel.indices], atol=1e-12)
    sel = select(path, "margin", n, aggregate="detections")  # summed, smallest first
    np.testing.assert_allclose(sel.scores[:5], np.sort(mar[counts > 0]), atol=1e-6)
    assert np.isinf(sel.scores[-2:]).all() and set(sel.indices[-2:]) == {1, 5}
    sel = select(path, "entropy", n, aggregate="sum")
    np.testing.assert_allclose(np.sort(sel.scores), np.sort(np.bincount(row, _entropy(rp), minlength=n)), atol=1e-12)
    with pytest.raises(SelectionError, match="aggregate"):
        select(path, "entropy", 2, aggregate="max")


# ------------------------------------------------------------------ UWE variants
def _kcenter_reference(F, budget, labeled):
    centers = list(labeled)
    picks = []
    for _ in range(budget):
        rows = np.array([r for r in range(F.shape[0]) if r not in centers])
        if centers:
            d = np.min(((F[rows, None] - F[None, centers]) ** 2).sum(-1), axis=1)
        else:
            d = (F[rows] ** 2).sum(1)
        r = int(rows[np.argmax(d)])
        picks.append(r)
        centers.append(r)
    return picks


def test_uwe_detection_is_the_classwise_max_box(tmp_path, video):
    sv, path = video
    a = sv.arrays
    off, rp, feats, cls = a["regions_offsets"], a["regions_probs"], a["regions_features"], a["regions_classes"]
    top2 = np.sort(rp.astype(np.float64), axis=1)
    u = top2[:, -2] / top2[:, -1]  # BvSB (UWE Eq. 8)
    n, c, d = off.size - 1, rp.shape[1], feats.shape[1]
    F = np.zeros((n, c * d))
    for i in range(n):
        for k in range(c):
            rs = [r for r in range(off[i], off[i + 1]) if cls[r] == k]
            if rs:
                r = max(rs, key=lambda r: (u[r], -r))
                F[i, k * d:(k + 1) * d] = u[r] * feats[r]
    F = F.astype(np.float32).astype(np.float64)
    sel = select(path, "uwe", 8, level="detection", uncertainty="bvsb")
    assert sel.indices.tolist() == _kcenter_reference(F, 8, [])


def test_uwe_segmentation_is_the_mean_aggregate(tmp_path, rng):
    n, c, d = 30, 4, 5
    counts = rng.integers(1, 6, size=n)
    off = np.r_[0, np.cumsum(counts)]
    rp = rng.dirichlet(np.ones(c), size=off[-1]).astype(np.float32)
    rf = rng.normal(size=(off[-1], d)).astype(np.float32)
    w = rng.uniform(1, 10, size=off[-1]).astype(np.float32)
    path = tmp_path / "seg.h5"
    write_pool(path, probs=rng.dirichlet(np.ones(c), size=n).astype(np.float32), regions_probs=rp,
               regions_offsets=off, regions_features=rf, regions_weights=w, labeled=[2])
    row = np.repeat(np.arange(n), counts)
    wsum = np.bincount(row, w, minlength=n)
    u = np.bincount(row, w * _entropy(rp), minlength=n) / wsum
    f = np.stack([np.bincount(row, w * rf[:, j], minlength=n) for j in range(d)], 1) / wsum[:, None]
    F = (u[:, None] * f.astype(np.float32).astype(np.float64))
    sel = select(path, "uwe", 6, level="segmentation")
    assert sel.indices.tolist() == _kcenter_reference(F, 6, [2])
    # what `infer --task segmentation` writes: mean pixel entropy and mean-pooled embeddings
    emb = rng.normal(size=(n, d)).astype(np.float32)
    me = rng.uniform(0.1, 1.0, size=n)
    write_pool(tmp_path / "inf.h5", probs=rng.dirichlet(np.ones(c), size=n).astype(np.float32), embeddings=emb,
               scores={"mean_entropy": me})
    sel = select(tmp_path / "inf.h5", "uwe", 6, level="segmentation")
    assert sel.indices.tolist() == _kcenter_reference(me[:, None] * emb.astype(np.float64), 6, [])
    with pytest.raises(SelectionError, match="uncertainty=entropy"):
        select(tmp_path / "inf.h5", "uwe", 6, level="segmentation", uncertainty="bvsb")


def test_gather_reads_ranges_in_any_order(tmp_path, rng):
    from alselect.video import _gather

    data = rng.normal(size=(50_000, 3)).astype(np.float32)
    with h5py.File(tmp_path / "g.h5", "w") as f:
        f["x"] = data
    lo = rng.integers(0, 49_000, size=40)
    hi = lo + rng.integers(0, 900, size=40)
    with h5py.File(tmp_path / "g.h5", "r") as f:
        for gap in (1, 4096, 10 ** 6):
            got = _gather(f["x"], lo, hi, gap=gap)
            np.testing.assert_array_equal(got, np.concatenate([data[a:b] for a, b in zip(lo, hi)]))
