"""Temporal representativeness: --exclude-neighbors and --per-video hold for ranking and
sequential strategies; the constrained k-center sequence is the exact constrained greedy."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from alselect import select
from alselect.errors import SelectionError, MissingDatasetError
from alselect.pool import write_pool

HERE = os.path.dirname(os.path.abspath(__file__))


def _video_pool(path, rng, lengths, d=5, c=3, labeled=(), interleave=True):
    n = int(sum(lengths))
    vid = np.repeat(np.arange(len(lengths)) * 10 + 3, lengths)
    frm = np.concatenate([np.arange(L) * 2 for L in lengths])  # frame numbers step 2: gaps are fine
    perm = rng.permutation(n) if interleave else np.arange(n)
    probs = rng.dirichlet(np.ones(c), size=n).astype(np.float32)
    emb = np.cumsum(rng.normal(size=(n, d)), axis=0).astype(np.float32)  # nearby frames similar
    labels = np.full(n, -1)
    labels[list(labeled)] = np.arange(len(labeled)) % c
    write_pool(path, probs=probs[perm], embeddings=emb[perm], video_id=vid[perm], video_frame=frm[perm],
               labels=labels)
    return vid[perm], frm[perm], emb[perm].astype(np.float64)


def _check_exclusion(picks, labeled, vid, frm, K):
    rows = list(labeled) + list(picks)
    for a in range(len(rows)):
        for b in range(a + 1, len(rows)):
            ra, rb = rows[a], rows[b]
            if a < len(labeled) and b < len(labeled):
                continue
            if vid[ra] == vid[rb]:
                assert abs(int(frm[ra]) - int(frm[rb])) > K, (ra, rb)


STRATEGIES = [("random", {}), ("entropy", {}), ("margin", {}), ("kcenter", {}), ("kmeanspp", {}), ("badge", {}),
              ("uwe", {}), ("uwe", {"sampler": "kmeanspp"}), ("cdal-cs", {}), ("balanced", {}),
              ("balanced-kcenter", {})]


@pytest.mark.parametrize("name,params", STRATEGIES)
def test_exclusion_holds_for_every_strategy(tmp_path, name, params):
    rng = np.random.default_rng(1)
    vid, frm, _ = _video_pool(tmp_path / "p.h5", rng, [40, 25, 60, 8], labeled=[5, 17, 80])
    # frame numbers step by 2, so K = 2 blocks one stored neighbour each side
    sel = select(tmp_path / "p.h5", name, 30, seed=0, exclude_neighbors=2, **params)
    assert len(sel) == 30 and np.unique(sel.indices).size == 30
    _check_exclusion(sel.indices, [5, 17, 80], vid, frm, 2)
    again = select(tmp_path / "p.h5", name, 30, seed=0, exclude_neighbors=2, **params)
    assert np.array_equal(sel.indices, again.indices)


@pytest.mark.parametrize("name", ["entropy", "kcenter", "random"])
def test_per_video_rule(tmp_path, name):
    rng = np.random.default_rng(2)
    vid, frm, _ = _video_pool(tmp_path / "p.h5", rng, [2, 30, 30])
    sel = select(tmp_path / "p.h5", name, 12, seed=0, per_video=True)
    counts = {v: int((vid[sel.indices] == v).sum()) for v in np.unique(vid)}
    q = math.ceil(12 / 3)
    short, *others = sorted(counts, key=lambda v: (vid == v).sum())
    assert counts[short] == 2  # every frame of the short video before any video exceeds q
    assert all(counts[v] >= q for v in others) and sum(counts.values()) == 12
    # budget within V * q: no video exceeds q
    sel = select(tmp_path / "p.h5", name, 7, seed=0, per_video=True)
    assert max(int((vid[sel.indices] == v).sum()) for v in np.unique(vid)) <= math.ceil(7 / 3)


def _reference_constrained_kcenter(X, budget, labeled, vid, frm, K, per_video):
    n = X.shape[0]
    centers = list(labeled)
    blocked = np.zeros(n, bool)
    blocked[list(labeled)] = True
    for r in labeled:
        blocked |= (vid == vid[r]) & (np.abs(frm - frm[r]) <= K)
    videos = np.unique(vid[~np.isin(np.arange(n), labeled)])
    step = math.ceil(budget / videos.size) if per_video else budget + 1
    quota = step
    count = {v: 0 for v in np.unique(vid)}
    picks = []
    while len(picks) < budget:
        allowed = ~blocked & np.array([count[v] < quota for v in vid])
        if not allowed.any():
            quota += step
            continue
        rows = np.flatnonzero(allowed)
        if centers:
            d = np.min(((X[rows, None, :] - X[None, centers, :]) ** 2).sum(-1), axis=1)
        else:
            d = (X[rows] ** 2).sum(1)
        r = int(rows[np.argmax(d)])
        picks.append(r)
        centers.append(r)
        count[vid[r]] += 1
        blocked |= (vid == vid[r]) & (np.abs(frm - frm[r]) <= K)
        blocked[r] = True
    return np.array(picks)


@pytest.mark.parametrize("per_video,labeled", [(False, [3, 40]), (True, []), (True, [7])])
def test_constrained_kcenter_is_the_exact_constrained_greedy(tmp_path, per_video, labeled):
    rng = np.random.default_rng(3)
    vid, frm, X = _video_pool(tmp_path / "p.h5", rng, [50, 35, 45], labeled=labeled)
    sel = select(tmp_path / "p.h5", "kcenter", 25, exclude_neighbors=4, per_video=per_video)
    ref = _reference_constrained_kcenter(X.astype(np.float32).astype(np.float64), 25, labeled, vid, frm, 4, per_video)
    assert sel.indices.tolist() == ref.tolist()


def test_random_plus_r_and_errors(tmp_path):
    rng = np.random.default_rng(4)
    vid, frm, _ = _video_pool(tmp_path / "p.h5", rng, [10, 10])
    sel = select(tmp_path / "p.h5", "random", 6, seed=5, exclude_neighbors=2)  # Random+R
    _check_exclusion(sel.indices, [], vid, frm, 2)
    with pytest.raises(SelectionError, match="only .* frames satisfy"):
        select(tmp_path / "p.h5", "random", 12, seed=5, exclude_neighbors=2)
    with pytest.raises(SelectionError, match="exclude_neighbors"):
        select(tmp_path / "p.h5", "random", 3, seed=5, exclude_neighbors=-1)
    write_pool(tmp_path / "plain.h5", probs=np.full((5, 2), 0.5))
    with pytest.raises(MissingDatasetError, match="video/id"):
        select(tmp_path / "plain.h5", "entropy", 2, per_video=True)


def test_cli_done_criterion(tmp_path):
    """`alselect pick POOL --strategy temporal-coherence --budget 500 --exclude-neighbors 1` on a packed pool."""
    from alselect.synthetic_video import synthetic_video

    sv = synthetic_video(n_videos=10, frames=160, objects=3, p_drop=0.1, fp_rate=0.05, seed=11, shuffle=True)
    args = []
    names = {"probs": "--probs", "regions_probs": "--regions-probs", "regions_offsets": "--regions-offsets",
             "regions_boxes": "--regions-boxes", "regions_classes": "--regions-classes",
             "regions_scores": "--regions-scores", "regions_tracks": "--regions-tracks", "video_id": "--video-id",
             "video_frame": "--video-frame", "truth_boxes_boxes": "--truth-boxes-boxes", "truth_boxes_offsets": "--truth-boxes-offsets",
             "truth_boxes_classes": "--truth-boxes-classes"}
    for key, flag in names.items():
        np.save(tmp_path / f"{key}.npy", sv.arrays[key])
        args += [flag, str(tmp_path / f"{key}.npy")]
    exe = [sys.executable, "-m", "alselect"]
    pool = str(tmp_path / "video.h5")
    done = subprocess.run(exe + ["pack", "-o", pool] + args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(exe + ["pick", pool, "--strategy", "temporal-coherence", "--budget", "500",
                                 "--exclude-neighbors", "1", "--with-scores"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 500
    rows = np.array([int(line.split("\t")[0]) for line in lines])
    scores = np.array([float(line.split("\t")[1]) for line in lines])
    vid, frm = sv.arrays["video_id"], sv.arrays["video_frame"]
    order = np.lexsort((frm[rows], vid[rows]))
    same = vid[rows][order][1:] == vid[rows][order][:-1]
    assert (np.diff(frm[rows][order])[same] > 1).all()
    assert (np.diff(scores) <= 0).all()
    # frames with an injected hallucination come first
    has_fp = np.bincount(np.repeat(np.arange(frm.size), np.diff(sv.arrays["regions_offsets"])),
                         weights=sv.fp_region, minlength=frm.size) > 0
    top = rows[scores > 0]
    assert has_fp[top].mean() > 0.9
    done = subprocess.run(exe + ["pick", pool, "--strategy", "random", "--budget", "5", "--per-video",
                                 "--budget-cost"], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].startswith("Error: ")
    done = subprocess.run(exe + ["inspect", pool], capture_output=True, text=True)
    assert done.returncode == 0 and "video: 10 videos" in done.stdout and "format: alselect-pool version 3" in done.stdout
