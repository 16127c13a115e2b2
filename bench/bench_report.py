"""`alselect report` on a large pool: end-to-end time and peak memory, next to a plain approach.

Builds a synthetic pool (default 10^6 rows, C=10, D=128 float16 embeddings), picks 1,000 rows
(a seeded random subset, so the bench times the report, not a strategy), then measures:

- alselect: `alselect report POOL --picks FILE -o DIR/report.html` in a subprocess, measured
  end to end (wall and CPU time of the child, its peak RSS);
- plain: the same figures' data computed the straightforward way in this process: read probs
  and all embeddings whole, predictive entropy with NumPy, PCA of every row (SVD of the full
  N x D matrix), measured (not extrapolated).

Usage: python bench/bench_report.py [--rows 1000000] [--dim 128] [--keep DIR]
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
sys.path.insert(0, ROOT)


def build(path: str, n: int, d: int, c: int, seed: int = 0) -> None:
    from alselect.pool import write_pool

    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(c, d)).astype(np.float32)
    label = rng.integers(0, c, size=n)
    emb = (centers[label] + 0.8 * rng.normal(size=(n, d)).astype(np.float32)).astype(np.float16)
    logits = rng.normal(size=(n, c)).astype(np.float32) * 2.0
    logits[np.arange(n), label] += 3.0
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    labeled = np.sort(rng.choice(n, size=min(n // 100, 10_000), replace=False))
    write_pool(path, probs=probs.astype(np.float32), embeddings=emb, labeled=labeled)


def plain(path: str) -> float:
    import h5py

    t0 = time.perf_counter()
    with h5py.File(path, "r") as f:
        probs = f["probs"][()].astype(np.float64)
        emb = f["embeddings"][()].astype(np.float64)
    _ = -(probs * np.log(np.clip(probs, 1e-300, None))).sum(1)
    _ = np.argmax(probs, 1)
    x = emb - emb.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    _ = x @ vt[:2].T
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--keep", help="write the pool and report here instead of a temporary folder")
    args = parser.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="alselect-bench-report-")
    os.makedirs(work, exist_ok=True)
    pool = os.path.join(work, "pool.h5")
    t0 = time.perf_counter()
    build(pool, args.rows, args.dim, args.classes)
    print(f"pool: {args.rows:,} rows, C={args.classes}, D={args.dim} float16 embeddings "
          f"({os.path.getsize(pool) / 2**20:.0f} MiB), built in {time.perf_counter() - t0:.1f} s")
    rng = np.random.default_rng(1)
    picks = os.path.join(work, "picks.txt")
    with open(picks, "w") as handle:
        handle.write("".join(f"{r}\n" for r in rng.choice(args.rows, size=1000, replace=False)))
    out = os.path.join(work, "report.html")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "alselect", "report", pool, "--picks", picks, "-o", out],
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(r.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"alselect report (end to end, measured): wall {wall:.1f} s, CPU {cpu:.1f} s, "
          f"peak RSS {after.ru_maxrss / 1024:.0f} MiB; files: {', '.join(sorted(os.listdir(work)))}")
    t_plain = plain(pool)
    print(f"plain NumPy (full read, PCA of every row; figures' data only, no plotting, measured): "
          f"{t_plain:.1f} s (plain / alselect = {t_plain / wall:.2f})")


if __name__ == "__main__":
    main()
