"""Benchmark: D² sampling (kmeanspp, badge) and cdal-cs on a Dask LocalCluster vs one machine.

    python bench/bench_dask_sequential.py            # about a minute or two on 2 cores

Writes a synthetic sharded pool (fixed seed; float16 embeddings from a Gaussian mixture,
Dirichlet probabilities; 1% of rows labeled) and runs every strategy for its FULL budget
(measured, not extrapolated) on the SAME pool: on one machine (shards read in sequence)
and with ``select(..., client=...)`` on W single-threaded worker processes. The picks must be
identical (checked). Reported: wall and CPU time (client process; plus the workers' CPU for
the cluster run), round trips (client <-> cluster gathers) and what they cost each, bytes to
the client and to the workers. Cluster start-up and a warm-up selection are excluded.
"""

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import alselect  # noqa: E402
from alselect.pool import write_pool  # noqa: E402
from alselect.pool.manifest import build_manifest  # noqa: E402

SEED = 0
CLASSES = 10


def write_shards(folder, rows, dim, shards):
    rng = np.random.default_rng(SEED)
    means = rng.normal(size=(32, dim)).astype(np.float32) * 2.0
    cuts = np.linspace(0, rows, shards + 1).astype(int)
    cuts[1:-1] += rng.integers(-rows // (4 * shards), rows // (4 * shards), shards - 1)  # uneven shards
    paths = []
    for i, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])):
        r = np.random.default_rng([SEED, i])
        emb = (means[r.integers(0, 32, hi - lo)] + r.normal(size=(hi - lo, dim))).astype(np.float16)
        probs = r.dirichlet(np.full(CLASSES, 0.3), size=hi - lo).astype(np.float32)
        path = os.path.join(folder, f"shard-{i:03d}.h5")
        write_pool(path, embeddings=emb, probs=probs, labeled=np.arange(0, hi - lo, 100))
        paths.append(path)
    manifest = os.path.join(folder, "pool.json")
    build_manifest(manifest, paths)
    return manifest


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--d2-budget", type=int, default=300, help="kmeanspp and badge budget")
    ap.add_argument("--cdal-budget", type=int, default=2000, help="cdal-cs budget")
    args = ap.parse_args()
    import distributed

    from alselect.distributed import select as dsel

    folder = tempfile.mkdtemp(prefix="alselect-bench-dask-seq-")
    runs = [("kmeanspp", args.d2_budget, {"seed": 1}), ("badge", args.d2_budget, {"seed": 1}),
            ("cdal-cs", args.cdal_budget, {})]
    try:
        manifest = write_shards(folder, args.rows, args.dim, args.shards)
        print(f"pool: {args.rows} rows x {args.dim} float16, {CLASSES} classes, {args.shards} uneven shards, "
              f"1% labeled; {args.workers} worker processes x 1 thread; load {os.getloadavg()[0]:.1f}")
        one = {name: timed(lambda: alselect.select(manifest, name, b, **kw)) for name, b, kw in runs}
        with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
                distributed.Client(cluster) as client:
            for name, _, kw in runs:  # warm-up (not timed): modules and numba caches
                alselect.select(manifest, name, 2, client=client, **kw)
            for name, budget, kw in runs:
                base = sum(client.run(time.process_time).values())
                many, wall, cpu = timed(lambda: alselect.select(manifest, name, budget, client=client, **kw))
                workers = sum(client.run(time.process_time).values()) - base
                st = dsel.LAST.as_dict()
                ref, w1, c1 = one[name]
                same = bool(np.array_equal(ref.indices, many.indices))
                print(f"{name} budget {budget} (full sequence, measured): cluster {wall:.2f} s wall (client cpu "
                      f"{cpu:.2f} s, workers cpu {workers:.2f} s), {st['rounds']} round trips "
                      f"({1000 * wall / st['rounds']:.1f} ms each, {budget / st['rounds']:.2f} picks per round trip), "
                      f"{st['bytes_to_client'] / 2**20:.2f} MiB to the client, {st['bytes_to_workers'] / 2**20:.2f} MiB "
                      f"to the workers; one machine {w1:.2f} s wall / {c1:.2f} s cpu; ratio one/cluster "
                      f"{w1 / wall:.2f}x; identical picks: {same}")
                assert same, f"{name} picks differ"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
