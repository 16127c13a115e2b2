"""Does DAAL favour a cluster that the labeled set lacks? Shares of its top picks, per seed and variant.

    python bench/bench_daal_novel_cluster.py [--seeds 0,1,2,3,4] [--epochs 20] [--only "NAME ..."]

A measurement, not a speed benchmark. The pool (fixed data seed 0): three Gaussian blobs in 32
dimensions, centres drawn from N(0, 4 I), unit-variance noise; 200 + 200 unlabeled rows from
blobs 0 and 1, 50 unlabeled rows from blob 2 (the novel blob) and 100 + 100 labeled rows from
blobs 0 and 1. Each variant runs ``alselect.select(pool, "daal", 50, seed=s, epochs=E, ...)``
(alselect's defaults elsewhere: `-p scale=l2`, width 256, latent 32, batch 128) and prints, per
training seed, the share of the 50 picks that fall in the novel blob. ``vaal`` (20 epochs, width 64, latent 8, batch 64, as
its test) is the reference row: a method that does find the blob.

Variants: `-p` parameters over BASE (adversary=0 gan=minimax dpp=1 init=kaiming dropout=0.4,
alselect's defaults); the names list what differs. ``xavier`` is Algorithm 1 as printed with the
VAE initialised like the ScoreNet; ``adv=1`` gives the ScoreNet the generator side of L_GAN;
``dpp=0`` leaves L_sparsity the length regulariser alone.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))  # an installed alselect wins over this checkout

BASE = dict(adversary=0.0, gan="minimax", dpp=1.0, init="kaiming", dropout=0.4)
VARIANTS = {
    "xavier": dict(init="xavier"),
    "default": {},
    "dropout=0": dict(dropout=0.0),
    "adv=1": dict(adversary=1.0),
    "adv=1,dropout=0": dict(adversary=1.0, dropout=0.0),
    "adv=1,dropout=0,dpp=0.1": dict(adversary=1.0, dropout=0.0, dpp=0.1),
    "adv=1,dropout=0,dpp=0": dict(adversary=1.0, dropout=0.0, dpp=0.0),
    "adv=1,dropout=0,dpp=0,nonsat": dict(adversary=1.0, dropout=0.0, dpp=0.0, gan="nonsaturating"),
    "dropout=0,dpp=0": dict(dropout=0.0, dpp=0.0),
}
NOVEL = np.arange(400, 450)


def write_novel_cluster_pool(path: str, d: int = 32) -> None:
    from alselect.pool import write_pool

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, d)) * 2
    blob = lambda c, n: (centers[c] + rng.normal(size=(n, d))).astype(np.float32)  # noqa: E731
    emb = np.concatenate([blob(0, 200), blob(1, 200), blob(2, 50), blob(0, 100), blob(1, 100)])
    n = emb.shape[0]
    write_pool(path, probs=rng.dirichlet(np.full(3, 0.5), size=n).astype(np.float32), embeddings=emb,
               labeled=np.arange(450, n))


def shares(path: str, strategy: str, params: dict, seeds: list[int]):
    import alselect

    out = []
    for seed in seeds:
        t0, c0 = time.perf_counter(), time.process_time()
        sel = alselect.select(path, strategy, 50, seed=seed, threads=1, **params)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out.append((float(np.isin(sel.indices, NOVEL).mean()), wall, cpu))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--only", default="", help="variant names (and/or 'vaal') separated by spaces")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.only.split() or [*VARIANTS, "vaal"]
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "pool.h5")
        write_novel_cluster_pool(path)
        print(f"share of the 50 picks in the novel blob, per seed {seeds}; {args.epochs} epochs; "
              "wall / CPU seconds per run")
        for name in names:
            if name == "vaal":
                strategy, params = "vaal", dict(epochs=20, width=64, latent=8, batch=64)
            else:
                strategy, params = "daal", dict(epochs=args.epochs, **{**BASE, **VARIANTS[name]})
            rows = shares(path, strategy, params, seeds)
            cells = " ".join(f"{s:4.2f}" for s, _, _ in rows)
            passed = sum(s >= 0.8 for s, _, _ in rows)
            wall = np.mean([w for _, w, _ in rows])
            cpu = np.mean([c for _, _, c in rows])
            print(f"{name:29s} {cells}   >= 0.8 in {passed}/{len(rows)} seeds   "
                  f"{wall:5.1f} s wall / {cpu:5.1f} s CPU per run", flush=True)


if __name__ == "__main__":
    main()
