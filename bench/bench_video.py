"""Temporal coherence end to end on a large synthetic video pool.

Builds a pool of FRAMES frames in VIDEOS videos with about DETS detections per frame and
tracked boxes 3 frames each way (alselect.synthetic_video), then runs

    alselect pick POOL --strategy temporal-coherence --budget 500 --exclude-neighbors 1

in a subprocess, reporting wall time, CPU time and peak resident memory of that process
(graph building and min-cut solving included; numba's compiled cache is warmed by a first,
untimed run on a small pool; peak memory is the process's VmHWM, Linux). Next to it, a straightforward pure-Python implementation
(dict lookups, per-edge PyMaxflow calls) runs on the first SLICE videos; its time is
extrapolated linearly to the whole pool (marked as such), and its per-frame FP counts are
checked against alselect's on the same videos.

    python bench/bench_video.py                 # 200,000 frames, 2,000 videos, 20 per frame
    python bench/bench_video.py --videos 200    # a quicker run
    (--json: result rows for bench/make_readme_table.py; --load [N]: busy processes meanwhile)
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this checkout, not an installed alselect
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchkit import Report, add_common_options  # noqa: E402

from alselect.pool import write_pool  # noqa: E402
from alselect.synthetic_video import synthetic_video  # noqa: E402


def build(path, videos, frames, objects, seed, chunk=100):
    parts = []
    for start in range(0, videos, chunk):
        sv = synthetic_video(n_videos=min(chunk, videos - start), frames=frames, objects=objects, p_drop=0.05,
                             fp_rate=0.05, det_noise=2.0, track_noise=3.0, feature_dim=1, seed=seed + start)
        a = sv.arrays
        a["video_id"] = a["video_id"] + 10 * start
        for key in ("regions_features", "embeddings", "truth_boxes_boxes", "truth_boxes_offsets", "truth_boxes_classes"):
            a.pop(key)
        parts.append(a)
    merged = {}
    for key in parts[0]:
        if key == "regions_offsets":
            shift = np.cumsum([0] + [p["regions_offsets"][-1] for p in parts[:-1]])
            merged[key] = np.concatenate([parts[0][key][:1]] + [p[key][1:] + s for p, s in zip(parts, shift)])
        else:
            merged[key] = np.concatenate([p[key] for p in parts])
    write_pool(path, **merged)
    return merged


# ------------------------------------------------------------------ the straightforward version
def _iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def python_tc(a, rows, k=3, theta=0.5):
    """Per-frame FP counts of the temporal-coherence cut, in plain Python (rows: the slice)."""
    import maxflow

    vid, frm, off = a["video_id"], a["video_frame"], a["regions_offsets"]
    boxes, cls, tracks = a["regions_boxes"].tolist(), a["regions_classes"].tolist(), a["regions_tracks"]
    row_of = {(int(vid[i]), int(frm[i])): i for i in rows}
    deltas = list(range(-k, 0)) + list(range(1, k + 1))
    K = tracks.shape[1] // 2
    links, linked, dets = set(), {}, []
    for i in rows:
        for r in range(off[i], off[i + 1]):
            dets.append(r)
            for d in deltas:
                t = row_of.get((int(vid[i]), int(frm[i]) + d))
                tb = tracks[r, K + d if d < 0 else K + d - 1]
                if t is None or np.isnan(tb[0]):
                    continue
                tb = tb.tolist()
                for e in range(off[t], off[t + 1]):
                    if cls[e] == cls[r] and _iou(tb, boxes[e]) > theta:
                        links.add((min(r, e), max(r, e)))
                        linked.setdefault(r, set()).add(t)
                        linked.setdefault(e, set()).add(i)
    node = {r: q for q, r in enumerate(dets)}
    cand_edges, cand_row = [], []
    for i in rows:  # unmatched tracked boxes landing in frame i, clustered greedily by overlap
        items = []
        for d in deltas:
            s = row_of.get((int(vid[i]), int(frm[i]) - d))
            if s is None:
                continue
            for r in range(off[s], off[s + 1]):
                tb = tracks[r, K + d if d < 0 else K + d - 1]
                if not np.isnan(tb[0]) and i not in linked.get(r, ()):
                    items.append((r, tb.tolist()))
        parent = list(range(len(items)))

        def find(x):
            while parent[x] != x:
                x = parent[x]
            return x
        for p in range(len(items)):
            for q in range(p + 1, len(items)):
                if cls[items[p][0]] == cls[items[q][0]] and _iou(items[p][1], items[q][1]) > theta:
                    parent[max(find(p), find(q))] = min(find(p), find(q))
        roots = {}
        for p, (r, _) in enumerate(items):
            c = roots.setdefault(find(p), len(cand_row) + len(roots))
            cand_edges.append((node[r], c))
        cand_row += [i] * len(roots)
    n_det = len(dets)
    n = n_det + len(cand_row)
    M = float(n + 1)
    g = maxflow.Graph[float]()
    g.add_nodes(n)
    for q in range(n_det):
        g.add_tedge(q, 0.0, M + 1)
    for c in range(len(cand_row)):
        g.add_tedge(n_det + c, M + 1, 0.0)
    for r, e in links:
        g.add_edge(node[r], node[e], M, M)
    for q, c in cand_edges:
        g.add_edge(q, n_det + c, M, M)
    g.maxflow()
    fp = {}
    for r in dets:
        if g.get_segment(node[r]) == 0:
            i = int(np.searchsorted(off, r, side="right") - 1)
            fp[i] = fp.get(i, 0) + 1
    return fp


def run_pick(pool, budget):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    cmd = [sys.executable, "-c",
           "import sys; from alselect.cli import main; sys.argv = ['alselect'] + sys.argv[1:]\n"
           "try:\n    main()\nfinally:\n"
           "    hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
           "    sys.stderr.write(f'peak_rss_kib {hwm[0]}\\n')",
           "pick", pool, "--strategy", "temporal-coherence", "--budget", str(budget), "--exclude-neighbors", "1",
           "--with-scores"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = int(done.stderr.strip().splitlines()[-1].split()[1]) / 1024
    return wall, cpu, peak, done.stdout, done.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=2000)
    ap.add_argument("--frames", type=int, default=100, help="frames per video")
    ap.add_argument("--objects", type=int, default=20, help="objects per video (about the detections per frame)")
    ap.add_argument("--slice", type=int, default=10, help="videos for the pure-Python reference")
    ap.add_argument("--seed", type=int, default=0)
    add_common_options(ap)
    args = ap.parse_args()
    rep = Report("video", args)
    print = rep.say  # noqa: A001 - the report goes to stderr with --json
    with tempfile.TemporaryDirectory() as tmp, rep.competing_load():
        small = os.path.join(tmp, "small.h5")
        build(small, 4, 20, 3, args.seed)
        run_pick(small, 10)  # warms numba's on-disk cache; not timed
        pool = os.path.join(tmp, "video.h5")
        t0 = time.perf_counter()
        arrays = build(pool, args.videos, args.frames, args.objects, args.seed)
        n, r = arrays["video_frame"].size, arrays["regions_boxes"].shape[0]
        print(f"pool: {n} frames in {args.videos} videos, {r} detections ({r / n:.1f} per frame), tracks k=3; "
              f"built in {time.perf_counter() - t0:.1f} s, {os.path.getsize(pool) / 2**20:.0f} MiB")
        wall, cpu, peak, out, err = run_pick(pool, 500)
        print(f"alselect pick --strategy temporal-coherence --budget 500 --exclude-neighbors 1 (whole pool, measured): "
              f"wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS {peak:.0f} MiB")
        for line in err.splitlines():
            if line.startswith("temporal-coherence:"):
                print("  " + line)
        # the reference on a slice of whole videos
        vid = arrays["video_id"]
        keep = np.unique(vid)[: args.slice]
        rows = np.flatnonzero(np.isin(vid, keep))
        t0 = time.perf_counter()
        c0 = time.process_time()
        fp_py = python_tc(arrays, rows)
        py_wall, py_cpu = time.perf_counter() - t0, time.process_time() - c0
        scale = n / rows.size
        print(f"pure Python on {keep.size} videos ({rows.size} frames, measured): wall {py_wall:.2f} s, CPU {py_cpu:.2f} s; "
              f"extrapolated x{scale:.0f} to the whole pool: {py_wall * scale:.0f} s "
              f"(alselect {py_wall * scale / wall:.1f}x faster end to end)")
        from alselect.pool import open_pool
        from alselect.video import temporal_coherence

        with open_pool(pool) as opened:
            fp = temporal_coherence(opened).fp
        same = all(fp[i] == fp_py.get(int(i), 0) for i in rows)
        print(f"per-frame FP counts on the slice identical to the reference: {same}")
        rep.row(f"`temporal-coherence` end to end (`pick ... --exclude-neighbors 1`, budget 500), {n:,} frames, "
                f"{args.videos:,} videos, {r:,} detections (`bench_video.py`)",
                f"per-frame FP counts on the first {keep.size} videos", (wall, cpu),
                (py_wall * scale, py_cpu * scale), "pure Python, per-edge PyMaxflow calls",
                extrapolated=True, identical=bool(same), peak_mib=round(peak))


if __name__ == "__main__":
    main()
