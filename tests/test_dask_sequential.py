"""D² sampling (kmeanspp, badge, uwe) and cdal-cs on a Dask LocalCluster give exactly the
single-machine picks, on sharded pools with uneven shards, an empty shard and an all-labeled shard."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import alselect
from alselect.pool import write_pool
from alselect.pool.manifest import build_manifest

from shard_fixtures import MANIFEST_LABELED, make_sharded, pool_arrays, thread_cluster

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.dask

D2 = [("kmeanspp", {}), ("badge", {}), ("badge", {"labeled_centers": True}), ("uwe", {"sampler": "kmeanspp"}),
      ("uwe", {"sampler": "kmeanspp", "normalize": "minmax", "tau": 2.0, "uncertainty": "bvsb"})]
GREEDY = [("uwe", {}), ("uwe", {"normalize": "minmax", "tau": 0.5}), ("cdal-cs", {}), ("cdal-cs", {"reduce": "mean"}),
          ("cdal-cs", {"init": "random"})]


@pytest.fixture(scope="module")
def client():
    with thread_cluster() as c:
        yield c


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    return make_sharded(tmp_path_factory.mktemp("dask-seq"))


def _same(client, full, manifest, strategy, budget, seed, **params):
    b = alselect.select(manifest, strategy, budget, seed=seed, client=client, **params)
    a = alselect.select(full, strategy, budget, seed=b.seed, **params)  # the seed drawn when none was given
    np.testing.assert_array_equal(b.indices, a.indices)
    return a, b


@pytest.mark.parametrize("strategy,params", D2, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("seed", [None, 3])
def test_d2_sampling_same_picks_as_one_machine(client, sharded, strategy, params, seed):
    from alselect.distributed import select as dsel

    full, manifest, _ = sharded
    for budget in (1, 25):
        a, b = _same(client, full, manifest, strategy, budget, seed, **params)
        assert np.isnan(b.scores).all() and np.isnan(a.scores).all()
        assert dsel.LAST.rounds <= budget + 1  # one round trip per pick (+ the min-max bounds)


@pytest.mark.parametrize("strategy,params", GREEDY, ids=lambda v: v if isinstance(v, str) else "")
def test_greedy_same_sequence_as_one_machine(client, sharded, strategy, params):
    from alselect.distributed import select as dsel

    full, manifest, _ = sharded
    for budget in (1, 30, 150):
        a, b = _same(client, full, manifest, strategy, budget, 5, **params)
        if strategy == "cdal-cs":  # the CD itself, computed by the same float64 routine
            np.testing.assert_array_equal(b.scores, a.scores)
        else:
            np.testing.assert_allclose(b.scores, a.scores, rtol=1e-9, atol=1e-12)
        assert dsel.LAST.rounds < budget + 2 or budget == 1


def _unlabeled(tmp_path, arrays=None, cuts=(0, 50, 51, 240)):
    """The fixture pool with nothing labeled anywhere (the first pick is the strategy's own rule)."""
    arrays = pool_arrays(seed=2) if arrays is None else arrays
    arrays.pop("labels", None)
    full, manifest, _ = make_sharded(tmp_path, arrays, cuts=cuts)
    os.remove(full)
    write_pool(full, **arrays)
    with open(manifest) as handle:
        doc = json.load(handle)
    doc["labeled"] = []
    with open(manifest, "w") as handle:
        json.dump(doc, handle)
    return full, manifest


@pytest.mark.parametrize("strategy,params", [("kmeanspp", {}), ("kmeanspp", {"init": "random"}), ("badge", {}),
                                             ("cdal-cs", {}), ("cdal-cs", {"init": "random"}),
                                             ("uwe", {"sampler": "kmeanspp"})])
def test_first_pick_without_labeled_rows(client, tmp_path, strategy, params):
    full, manifest = _unlabeled(tmp_path)
    _same(client, full, manifest, strategy, 30, 9, **params)


def test_d2_with_only_duplicates_left(client, tmp_path):
    """Once every distinct point is a center, D² is 0 everywhere: the uniform race takes over."""
    arrays = pool_arrays(seed=4)
    rng = np.random.default_rng(0)
    arrays["embeddings"] = np.repeat(rng.normal(size=(6, 6)), 40, axis=0).astype(np.float32)
    full, manifest = _unlabeled(tmp_path, arrays)
    a, _ = _same(client, full, manifest, "kmeanspp", 60, 2)
    assert len(set(map(tuple, np.asarray(alselect.open_pool(full).read("embeddings"))[a.indices[:6]]))) == 6


@pytest.mark.parametrize("m", [1, 3])
def test_cdal_with_few_candidates_per_round(client, sharded, monkeypatch, m):
    from alselect.distributed import select as dsel

    monkeypatch.setattr(dsel, "MIN_CANDIDATES", m)
    monkeypatch.setattr(dsel, "MAX_CANDIDATES", m)
    full, manifest, _ = sharded
    _same(client, full, manifest, "cdal-cs", 60, None)
    assert 60 / (4 * m) <= dsel.LAST.rounds <= 61


# ---- cdal-cs on region pools: mixtures from regions/, and precomputed cd/ mixtures

def _region_arrays(seed=3, N=200, C=4):
    from alselect import cdal

    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 6, N)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rp = rng.dirichlet(np.full(C, 0.4), size=int(offsets[-1])).astype(np.float32)
    probs = np.stack([rp[offsets[i]:offsets[i + 1]].mean(0) for i in range(N)]).astype(np.float32)
    probs /= probs.sum(1, keepdims=True)
    labels = np.full(N, -1)
    labels[60:80] = rng.integers(0, C, 20)
    mix, present, cnt = cdal.mixtures_from_regions(rp, offsets, n_classes=C)
    return dict(probs=probs, regions_probs=rp, regions_offsets=offsets, labels=labels,
                class_names=["a", "b", "c", "d"]), (mix.astype(np.float32), present, cnt)


def _write_region_shards(folder, arrays, cuts, cd=None):
    folder = str(folder)
    full = os.path.join(folder, "full.h5")
    off = arrays["regions_offsets"]
    extra = {} if cd is None else dict(cd_mixtures=cd[0], cd_present=cd[1], cd_counts=cd[2])
    write_pool(full, labeled=MANIFEST_LABELED, **arrays, **extra)
    paths = []
    for i, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])):
        part = dict(probs=arrays["probs"][lo:hi], labels=arrays["labels"][lo:hi], class_names=arrays["class_names"],
                    regions_probs=arrays["regions_probs"][off[lo]:off[hi]], regions_offsets=off[lo:hi + 1] - off[lo])
        if cd is not None:
            part.update(cd_mixtures=cd[0][lo:hi], cd_present=cd[1][lo:hi], cd_counts=cd[2][lo:hi])
        path = os.path.join(folder, f"shard-{i}.h5")
        write_pool(path, **part)
        paths.append(path)
    manifest = os.path.join(folder, "pool.json")
    build_manifest(manifest, paths, labeled=MANIFEST_LABELED)
    return full, manifest


@pytest.mark.parametrize("layout", ["regions", "mixtures"])
def test_cdal_region_layouts_same_sequence(client, tmp_path, layout):
    arrays, cd = _region_arrays()
    full, manifest = _write_region_shards(tmp_path, arrays, (0, 40, 60, 80, 200), cd if layout == "mixtures" else None)
    for params in ({}, {"reduce": "mean"}, {"classes": "b,d"}):
        a, b = _same(client, full, manifest, "cdal-cs", 50, None, **params)
        np.testing.assert_array_equal(b.scores, a.scores)
        assert any(layout in n for n in b.notes)


# ---- the console script and a killed worker

def test_cli_dask_local_d2_and_cdal(sharded):
    """The console script, one run per engine (the other strategies go through select(client=))."""
    full, manifest, _ = sharded
    for args in (["-s", "badge", "-b", "20", "--seed", "4"], ["-s", "cdal-cs", "-b", "25"]):
        one = subprocess.run([sys.executable, "-m", "alselect", "pick", full, *args], capture_output=True, text=True)
        many = subprocess.run([sys.executable, "-m", "alselect", "pick", manifest, *args, "--dask", "local:2"],
                              capture_output=True, text=True)
        assert many.returncode == 0, many.stderr
        assert one.returncode == 0 and many.stdout == one.stdout and one.stdout.strip()


def test_uwe_region_levels_are_one_clear_error(client, sharded):
    from alselect.errors import SelectionError

    with pytest.raises(SelectionError, match="--dask runs 'uwe' with -p level=image only"):
        alselect.select(sharded[1], "uwe", 3, client=client, level="detection")


def test_killed_worker_during_d2_sampling_gives_the_same_picks(sharded, tmp_path):
    full, manifest, _ = sharded
    out = str(tmp_path / "picks.npy")
    code = f"""
import os, signal, threading, time, numpy as np, distributed, alselect
with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cl, \\
        distributed.Client(cl) as client:
    pids = client.run(os.getpid)
    killed = []
    def killer():
        while not killed:
            time.sleep(0.05)
            busy = [w for w, keys in client.processing().items() if any('d2_fold' in k for k in keys)]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
    threading.Thread(target=killer, daemon=True).start()
    result = alselect.select({manifest!r}, "kmeanspp", 60, seed=6, client=client)
    np.save({out!r}, result.indices)
    print("killed", len(killed))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "killed 1" in r.stdout
    np.testing.assert_array_equal(np.load(out), alselect.select(full, "kmeanspp", 60, seed=6).indices)


def test_kcenter_and_uwe_on_a_float64_pool_use_the_float64_values(client, tmp_path):
    """Rows that differ below float32's resolution: the sequence is the float64 one of the stored values."""
    arrays = pool_arrays(seed=3)
    rng = np.random.default_rng(5)
    arrays["embeddings"] = rng.normal(size=(240, 6)) * 1e3 + rng.normal(size=(240, 6)) * 1e-5
    full, manifest, _ = make_sharded(tmp_path, arrays)
    for strategy in ("kcenter", "uwe"):
        a, b = _same(client, full, manifest, strategy, 100, None)
        np.testing.assert_allclose(b.scores, a.scores, rtol=1e-12)
