"""Benchmark: selection on a Dask LocalCluster vs the single-machine engine, same sharded pool.

    python bench/bench_dask.py                      # small: about a minute on 2 cores
    python bench/bench_dask.py --rows 10000000 --dim 256 --shards 16 --workers 2 \\
        --topk 10000 --budget 10000 --labeled-every 10000 --skip-single-kcenter \\
        --dir /big/disk --keep                         # the full-scale run (about 5 GB on disk)

Writes a synthetic sharded pool (fixed seed; float16 embeddings from a Gaussian mixture,
Dirichlet probabilities; every ``--labeled-every``-th row labeled, 1% by default), then times,
on the SAME pool:
* entropy top-K: ``select(manifest, "entropy", K)`` on one machine (shards read in sequence)
  against ``select(..., client=...)`` on W single-threaded worker processes;
* exact kcenter for the FULL budget (the whole greedy sequence, measured, not extrapolated):
  the single-machine engine (alselect.kernels.kcenter) against the distributed rounds. The
  workers fold the labeled rows and the picks of every round but the last into all their rows;
  the client folds each confirmed pick into that round's candidates.
Both runs must give identical picks (checked). Reported: wall and CPU time (client process;
plus the workers' CPU for the cluster runs), round trips (client <-> cluster gathers), bytes
sent to the client and broadcast to the workers, and the peak resident memory of each worker.
Cluster start-up and a tiny warm-up selection (workers loading modules and numba caches)
are excluded; start-up is reported separately. ``--keep`` leaves the pool in ``--dir`` and a
later run with the same sizes reuses it. The single-machine k-center holds the embeddings as
float32 (4 bytes x rows x dim: 10 GB at 10^7 x 256), the workers hold their shards as stored
(float16); ``--skip-single-kcenter`` skips the former where it does not fit in memory.
"""

import argparse
import logging
import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import alselect  # noqa: E402
from benchkit import Report, add_common_options  # noqa: E402
from alselect.pool import PoolWriter  # noqa: E402
from alselect.pool.manifest import build_manifest  # noqa: E402

SEED = 0
CLUSTERS = 64
CLASSES = 10
BLOCK = 262144


def write_shards(folder, rows, dim, shards, every=100):
    manifest = os.path.join(folder, "pool.json")
    stamp = os.path.join(folder, "sizes.txt")
    sizes = f"{rows} {dim} {shards} {every} {SEED}\n"
    if os.path.exists(manifest) and os.path.exists(stamp) and open(stamp).read() == sizes:
        return manifest, False  # --keep: the same pool, written by an earlier run
    rng = np.random.default_rng(SEED)
    means = rng.normal(size=(CLUSTERS, dim)).astype(np.float32) * 2.0
    paths, size = [], -(-rows // shards)
    for i in range(shards):
        lo, hi = i * size, min(rows, (i + 1) * size)
        path = os.path.join(folder, f"shard-{i:03d}.h5")
        with PoolWriter(path, hi - lo) as w:
            emb = w.create("embeddings", (hi - lo, dim), np.float16)
            probs = w.create("probs", (hi - lo, CLASSES), np.float32)
            for a in range(0, hi - lo, BLOCK):
                b = min(hi - lo, a + BLOCK)
                r = np.random.default_rng([SEED, i, a])
                x = means[r.integers(0, CLUSTERS, b - a)] + r.normal(size=(b - a, dim)).astype(np.float32)
                emb[a:b] = x.astype(np.float16)
                probs[a:b] = r.dirichlet(np.full(CLASSES, 0.3), size=b - a).astype(np.float32)
            w.write("labeled", np.arange(0, hi - lo, every, dtype=np.int64))
            w.commit()
        paths.append(path)
    build_manifest(manifest, paths)
    with open(stamp, "w") as f:
        f.write(sizes)
    return manifest, True


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def peak_mib():
    """This process's peak resident memory (VmHWM; ru_maxrss would count the forking parent's)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_cpu(client):
    return sum(client.run(time.process_time).values())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--topk", type=int, default=10_000)
    ap.add_argument("--budget", type=int, default=500, help="kcenter budget (0: skip kcenter)")
    ap.add_argument("--labeled-every", type=int, default=100, help="label every n-th row of each shard")
    ap.add_argument("--dir", help="where to write the pool (default: a temporary folder, removed after)")
    ap.add_argument("--keep", action="store_true", help="keep the pool in --dir (and reuse one of the same sizes)")
    ap.add_argument("--skip-single-kcenter", action="store_true", help="skip the single-machine kcenter run")
    add_common_options(ap)
    args = ap.parse_args()
    rep = Report("dask", args)
    import distributed

    from alselect.distributed import select as dsel

    folder = args.dir or tempfile.mkdtemp(prefix="alselect-bench-dask-")
    os.makedirs(folder, exist_ok=True)
    try:
        t0 = time.perf_counter()
        manifest, fresh = write_shards(folder, args.rows, args.dim, args.shards, args.labeled_every)
        disk = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        made = f"written in {time.perf_counter() - t0:.1f} s" if fresh else "kept from an earlier run"
        n_labeled = len(alselect.open_pool(manifest).labeled_rows())
        size = f"{args.rows:,} x {args.dim} float16, {args.shards} shards"
        rep.say(f"pool: {args.rows} rows x {args.dim} float16 in {args.shards} shards, {disk / 2**30:.2f} GiB "
                f"({made}), {n_labeled} labeled; {args.workers} worker processes x 1 thread")

        # warm-up (not timed): numba caches and modules, on the first shard
        first = alselect.open_pool(manifest).shard_ranges()[0][0]
        alselect.select(first, "entropy", 10)
        if args.budget and not args.skip_single_kcenter:
            alselect.select(first, "kcenter", 2)
        one_e, w1e, c1e = timed(lambda: alselect.select(manifest, "entropy", args.topk))
        rep.say(f"(one machine entropy done: {w1e:.1f} s)")
        one_k = None
        if args.budget and not args.skip_single_kcenter:
            one_k, w1k, c1k = timed(lambda: alselect.select(manifest, "kcenter", args.budget))
            rep.say(f"(one machine kcenter done: {w1k:.1f} s)")
        client_peak_single = peak_mib()
        t0 = time.perf_counter()
        with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
            rep.say(f"cluster start-up: {time.perf_counter() - t0:.1f} s (not counted below)")
            # warm-up (not timed): workers load the numba caches and modules once
            alselect.select(manifest, "entropy", 10, client=client)
            if args.budget:
                alselect.select(manifest, "kcenter", 2, client=client)
            base = worker_cpu(client)
            many_e, wde, cde = timed(lambda: alselect.select(manifest, "entropy", args.topk, client=client))
            se = dsel.LAST.as_dict()
            cpu_e = worker_cpu(client) - base
            if args.budget:
                base = worker_cpu(client)
                many_k, wdk, cdk = timed(lambda: alselect.select(manifest, "kcenter", args.budget, client=client))
                sk = dsel.LAST.as_dict()
                cpu_k = worker_cpu(client) - base
            peaks = client.run(peak_mib)
        same_e = bool(np.array_equal(one_e.indices, many_e.indices))
        assert same_e, "entropy picks differ"
        peak_text = ", ".join(f"{v:.0f}" for v in peaks.values())
        rep.say(f"entropy top-{args.topk}: one machine {w1e:.2f} s wall / {c1e:.2f} s cpu; cluster {wde:.2f} s wall "
                f"(client cpu {cde:.2f} s, workers cpu {cpu_e:.2f} s); ratio one/cluster {w1e / wde:.2f}x; "
                f"{se['rounds']} round trip, {se['bytes_to_client'] / 2**20:.2f} MiB to the client; "
                f"{args.rows / wde:,.0f} rows/s wall, {args.rows / max(cpu_e, 1e-9):,.0f} rows per worker-cpu-second; "
                "identical picks: True")
        rep.row(f"`entropy` top-{args.topk:,} on `--dask local:{args.workers}` (worker processes), {size} "
                "(`bench_dask.py`)", "all picks in order", (wde, cde + cpu_e), (w1e, c1e),
                "the same pool on one machine (shards read in sequence)", identical=same_e,
                rounds=se["rounds"], bytes_to_client=se["bytes_to_client"], worker_cpu_s=round(cpu_e, 3),
                peak_worker_mib=[round(v) for v in peaks.values()])
        if args.budget:
            same_k = None if one_k is None else bool(np.array_equal(one_k.indices, many_k.indices))
            assert same_k is not False, "kcenter picks differ"
            # centers the workers folded into every row: the labeled ones, then the picks confirmed
            # in every round but the last (each broadcast as float32 vector + scale + norm + row)
            folded = sk["bytes_to_workers"] // (args.shards * (4 * args.dim + 24))
            pairs = float(args.rows) * (n_labeled + folded)
            line = (f"kcenter budget {args.budget} (full sequence, measured), {n_labeled} labeled: cluster {wdk:.2f} s "
                    f"wall (client cpu {cdk:.2f} s, workers cpu {cpu_k:.2f} s), {sk['rounds']} round trips "
                    f"({wdk / sk['rounds']:.3f} s per round, {args.budget / sk['rounds']:.1f} picks per round), "
                    f"{sk['bytes_to_client'] / 2**20:.2f} MiB to the client, {sk['bytes_to_workers'] / 2**20:.2f} MiB "
                    f"broadcast to the workers ({folded} picks folded on the workers); {pairs:.3g} row-center pairs "
                    f"folded on the workers (rows x (labeled + picks broadcast)), {pairs / max(cpu_k, 1e-9):,.3g} per "
                    "worker-cpu-second, shard reading included")
            if one_k is not None:
                line += (f"; one machine {w1k:.2f} s wall / {c1k:.2f} s cpu; ratio one/cluster {w1k / wdk:.2f}x; "
                         "identical picks: True")
            else:
                line += "; one machine not run (--skip-single-kcenter)"
            rep.say(line)
            rep.row(f"exact `kcenter` budget {args.budget:,} ({n_labeled:,} labeled) on `--dask local:{args.workers}`, "
                    f"{size} (`bench_dask.py`)", "full sequence" if one_k is not None else "not compared (one machine not run)",
                    (wdk, cdk + cpu_k), None if one_k is None else (w1k, c1k),
                    "the single-machine engine on the same pool" if one_k is not None else "none",
                    identical=same_k, rounds=sk["rounds"], bytes_to_client=sk["bytes_to_client"],
                    bytes_to_workers=sk["bytes_to_workers"], worker_cpu_s=round(cpu_k, 3), worker_pairs=pairs,
                    peak_worker_mib=[round(v) for v in peaks.values()])
        rep.say(f"peak RSS per worker (MiB): {peak_text}; client (after the one-machine runs): {client_peak_single:.0f}")
    finally:
        if not (args.dir and args.keep):
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
