"""A pool written whole and as uneven shards (one empty, one all labeled), for sharded tests."""

from __future__ import annotations

import contextlib
import json
import os

import numpy as np

from alselect.pool import write_pool
from alselect.pool.manifest import build_manifest

N, C, T, E, D = 240, 4, 5, 6, 6
#: shard boundaries: rows 100..129 are all labeled; an empty shard is listed after the first
CUTS = (0, 17, 100, 130, N)
MANIFEST_LABELED = [5, 150, 151]


def pool_arrays(seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(C, 0.5), size=N).astype(np.float32)
    probs[[40, 90, 200]] = probs[12]  # exact ties across shards
    emb = rng.normal(size=(N, D)).astype(np.float32)
    emb[[60, 180]] = emb[30]  # duplicate points: exact ties in k-center distances
    labels = np.full(N, -1)
    labels[100:130] = rng.integers(0, C, 30)
    labels[[3, 140]] = 1
    score = rng.random(N)
    score[[10, 110, 220]] = score[0]
    return dict(probs=probs, embeddings=emb, labels=labels,
                mc_probs=rng.dirichlet(np.full(C, 0.5), size=N * T).astype(np.float32).reshape(N, T, C),
                epoch_preds=rng.integers(0, C, size=(E, N)), scores={"s": score},
                class_names=["a", "b", "c", "d"])


def _rows(arrays: dict, lo: int, hi: int) -> dict:
    out = {}
    for name, value in arrays.items():
        if name == "class_names":
            out[name] = value
        elif name == "scores":
            out[name] = {k: v[lo:hi] for k, v in value.items()}
        elif name == "epoch_preds":
            out[name] = value[:, lo:hi]
        else:
            out[name] = value[lo:hi]
    return out


def make_sharded(folder, arrays: dict | None = None, cuts=CUTS, empty_after: int | None = 0):
    """Write ``full.h5`` (whole pool, manifest labeled rows in ``labeled``) and ``pool.json`` over
    ``shard-I.h5``; returns (full path, manifest path, shard paths)."""
    folder = str(folder)
    arrays = pool_arrays() if arrays is None else arrays
    full = os.path.join(folder, "full.h5")
    write_pool(full, labeled=MANIFEST_LABELED, **arrays)
    shards = []
    for i in range(len(cuts) - 1):
        path = os.path.join(folder, f"shard-{i}.h5")
        write_pool(path, **_rows(arrays, cuts[i], cuts[i + 1]))
        shards.append(path)
    manifest = os.path.join(folder, "pool.json")
    build_manifest(manifest, shards, labeled=MANIFEST_LABELED)
    if empty_after is not None:
        with open(manifest) as handle:
            doc = json.load(handle)
        doc["shards"].insert(empty_after + 1, {"path": None, "rows": 0})
        with open(manifest, "w") as handle:
            json.dump(doc, handle)
    return full, manifest, shards


@contextlib.contextmanager
def thread_cluster():
    """A client of an in-process LocalCluster: 2 single-threaded workers, a free dashboard port."""
    import distributed

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        yield client
