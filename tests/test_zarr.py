"""Pools in Zarr v3 stores: the same datasets, checks, picks and errors as the HDF5 pool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import alselect
from alselect.errors import MissingExtraError, PoolFormatError
from alselect.pool import open_pool, write_pool
from alselect.pool.manifest import build_manifest
from alselect.strategies import REGISTRY
from clihelp import assert_clean_error, run
from registry_pools import pool_arrays
from shard_fixtures import CUTS, MANIFEST_LABELED, _rows, thread_cluster
from shard_fixtures import pool_arrays as shard_arrays

zarr = pytest.importorskip("zarr")
pytestmark = pytest.mark.zarr


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """The registry's every-dataset pool written as HDF5 and as a Zarr store."""
    folder = tmp_path_factory.mktemp("zarr")
    arrays = pool_arrays(40, dtype=np.float16)
    h5, zs = str(folder / "pool.h5"), str(folder / "pool.zarr")
    write_pool(h5, **arrays)
    write_pool(zs, **arrays)
    return h5, zs


def test_same_datasets_attributes_and_values(twins):
    h5, zs = twins
    with open_pool(h5) as a, open_pool(zs) as b:
        assert type(b).__name__ == "ZarrPool"
        assert (b.n_rows, b.n_classes, b.version) == (a.n_rows, a.n_classes, a.version)
        assert b.listing() == a.listing()
        for entry in a.listing():
            name = entry["name"]
            if name.startswith("history/"):
                continue
            x, y = a.read(name), b.read(name)
            assert x.dtype == y.dtype and x.shape == y.shape, name
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
        assert np.array_equal(a.labeled_rows(), b.labeled_rows())
        assert b.class_names() == a.class_names()
        assert b.problems() == [] == a.problems()
    root = zarr.open_group(zs, mode="r")
    assert root.attrs["format"] == "alselect-pool" and root.attrs["format_version"] == 3
    assert root["regions/offsets"].attrs["encoding_type"] == "csr-offsets"


def _strategies():
    """Every core strategy (the torch-trained learned ones read the same datasets through the same reader)."""
    return [spec for spec in REGISTRY.values() if not spec.impl.startswith("alselect.strategies.learned:")]


@pytest.mark.parametrize("paths", ["small-pool", "large-pool"])
@pytest.mark.parametrize("spec", _strategies(), ids=lambda s: s.name)
def test_every_strategy_picks_the_same_from_zarr(twins, spec, paths, monkeypatch):
    """Also with the large-pool paths forced (numba kernels, fused passes over raw blocks)."""
    from alselect import numpy_scores

    if paths == "large-pool":
        monkeypatch.setattr(numpy_scores, "SMALL_POOL_VALUES", 0)
    h5, zs = twins
    budget = 3
    try:
        a = alselect.select(h5, spec.name, budget, seed=5, **spec.test_params)
    except MissingExtraError as exc:
        pytest.skip(str(exc))
    b = alselect.select(zs, spec.name, budget, seed=5, **spec.test_params)
    np.testing.assert_array_equal(b.indices, a.indices)
    np.testing.assert_array_equal(b.scores, a.scores)


def test_inspect_reports_the_same(twins):
    from alselect.inspect import describe

    h5, zs = twins
    a, b = describe(h5), describe(zs)
    for report in (a, b):
        report.pop("path")
        report.pop("size_bytes")
    assert a == b


def test_memory_url_store(tmp_path):
    arrays = shard_arrays()
    url = "memory://alselect-test/pool.zarr"
    write_pool(url, **arrays)
    h5 = str(tmp_path / "p.h5")
    write_pool(h5, **arrays)
    for strategy in ("entropy", "kcenter", "bald"):
        a = alselect.select(h5, strategy, 7, seed=1)
        b = alselect.select(url, strategy, 7, seed=1)
        np.testing.assert_array_equal(b.indices, a.indices)
    with pytest.raises(PoolFormatError, match="not a Zarr v3 store|not found"):
        open_pool("memory://alselect-test/absent.zarr")


def test_pack_writes_zarr_atomically(tmp_path, rng):
    probs = rng.dirichlet(np.ones(3), 30).astype(np.float32)
    np.save(tmp_path / "p.npy", probs)
    target = tmp_path / "pool.zarr"
    result = run("pack", "-o", target, "--probs", tmp_path / "p.npy")
    assert result.exit_code == 0, result.output
    first = alselect.select(str(target), "entropy", 5).indices
    # a failing pack (bad probabilities) leaves the existing store as it was, and no temporary
    np.save(tmp_path / "bad.npy", probs * 2)
    assert_clean_error(run("pack", "-o", target, "--probs", tmp_path / "bad.npy"), "probs")
    assert sorted(os.listdir(tmp_path)) == ["bad.npy", "p.npy", "pool.zarr"]
    np.testing.assert_array_equal(alselect.select(str(target), "entropy", 5).indices, first)
    # a successful one replaces it
    np.save(tmp_path / "p2.npy", probs[:, ::-1].copy())
    assert run("pack", "-o", target, "--probs", tmp_path / "p2.npy").exit_code == 0
    assert sorted(os.listdir(tmp_path)) == ["bad.npy", "p.npy", "p2.npy", "pool.zarr"]
    with open_pool(str(target)) as pool:
        np.testing.assert_array_equal(pool.read("probs"), probs[:, ::-1])


# ------------------------------------------------------------------ bad stores: one Error line
@pytest.fixture
def store(tmp_path, rng):
    path = tmp_path / "pool.zarr"
    write_pool(str(path), probs=rng.dirichlet(np.ones(3), 20).astype(np.float32),
               embeddings=rng.normal(size=(20, 4)).astype(np.float32), labeled=[0, 3])
    return path


def _meta(path, name=""):
    return os.path.join(path, name, "zarr.json")


def _edit_json(file, fn):
    with open(file) as f:
        doc = json.load(f)
    fn(doc)
    with open(file, "w") as f:
        json.dump(doc, f)


def _set(doc, key, value):
    doc[key] = value


BAD = {
    "missing probs": (lambda p: shutil.rmtree(os.path.join(p, "probs")), ["neither 'probs' nor 'logits'"]),
    "wrong dtype": (lambda p: _edit_json(_meta(p, "labeled"), lambda d: _set(d, "data_type", "float32")),
                    ["'labeled'", "dtype float32", "integer"]),
    "wrong shape": (lambda p: _edit_json(_meta(p, "embeddings"), lambda d: _set(d, "shape", [19, 4])),
                    ["'embeddings'", "shape (19, 4)", "N=20"]),
    "claimed shape beyond the chunks": (
        lambda p: [_edit_json(_meta(p, n), lambda d: _set(d, "shape", [10 ** 12] + d["shape"][1:]))
                   for n in ("probs", "embeddings")], ["claims shape", "chunks"]),
    "corrupt root metadata": (lambda p: open(_meta(p), "w").write("{not json"), ["corrupt Zarr store"]),
    "corrupt array metadata": (lambda p: open(_meta(p, "probs"), "w").write("[1, 2"), ["corrupt Zarr store"]),
    "not a pool": (lambda p: _edit_json(_meta(p), lambda d: d["attributes"].pop("format")),
                   ["Zarr store but not an alselect pool"]),
    "newer version": (lambda p: _edit_json(_meta(p), lambda d: d["attributes"].update(format_version=99)),
                      ["version 99", "upgrade"]),
    "newer element version": (
        lambda p: _edit_json(_meta(p, "probs"), lambda d: d["attributes"].update(element_version=9)),
        ["element version 9"]),
    "missing chunk": (lambda p: os.remove(os.path.join(p, "embeddings", "c", "0", "0")), ["holds 0 of them"]),
    "no root group": (lambda p: os.remove(_meta(p)), ["not a Zarr v3 store"]),
    "corrupt chunk": (lambda p: open(os.path.join(p, "probs", "c", "0", "0"), "wb").write(b"garbage" * 9),
                      ["corrupt Zarr store", "probs"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_store_is_one_error_line(store, tmp_path, case):
    damage, fragments = BAD[case]
    damage(str(store))
    out = tmp_path / "picks.txt"
    out.write_text("old\n")
    command = ("pick", store, "-s", "entropy", "-b", 2, "-o", out)
    assert_clean_error(run(*command), *fragments)
    assert out.read_text() == "old\n"


def test_label_refuses_a_store(store, tmp_path):
    (tmp_path / "labels.csv").write_text("row,label\n1,0\n")
    assert_clean_error(run("label", store, "--from", tmp_path / "labels.csv"), "Zarr store", "HDF5")


def test_a_file_named_zarr_and_a_missing_store(tmp_path):
    bad = tmp_path / "x.zarr"
    bad.write_text("hello")
    assert_clean_error(run("inspect", bad), "not a Zarr store")
    assert_clean_error(run("inspect", tmp_path / "none.zarr"), "not found")


# ------------------------------------------------------------------ Zarr shards (and mixes)
@pytest.fixture(scope="module")
def zarr_sharded(tmp_path_factory):
    """shard_fixtures' uneven shards (one all labeled), as Zarr stores but one HDF5 file."""
    folder = tmp_path_factory.mktemp("zshards")
    arrays = shard_arrays()
    full = str(folder / "full.h5")
    write_pool(full, labeled=MANIFEST_LABELED, **arrays)
    shards = []
    for i in range(len(CUTS) - 1):
        path = str(folder / (f"shard-{i}.h5" if i == 1 else f"shard-{i}.zarr"))
        write_pool(path, **_rows(arrays, CUTS[i], CUTS[i + 1]))
        shards.append(path)
    manifest = str(folder / "pool.json")
    build_manifest(manifest, shards, labeled=MANIFEST_LABELED)
    return full, manifest, shards


@pytest.mark.parametrize("strategy,params", [("entropy", {}), ("margin", {}), ("kcenter", {}), ("kmeanspp", {}),
                                             ("bald", {}), ("random", {})])
def test_zarr_shards_pick_as_one_file(zarr_sharded, strategy, params):
    full, manifest, _ = zarr_sharded
    a = alselect.select(full, strategy, 25, seed=3, **params)
    b = alselect.select(manifest, strategy, 25, seed=3, **params)
    np.testing.assert_array_equal(b.indices, a.indices)


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.path.dirname(os.path.dirname(
        os.path.abspath(alselect.__file__))), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "alselect", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.mark.dask
def test_zarr_shards_on_a_local_cluster(zarr_sharded):
    """The real console script: `pick --dask local:2` and `inspect --dask local:2` on Zarr shards."""
    pytest.importorskip("distributed")
    full, manifest, _ = zarr_sharded
    one = alselect.select(full, "kcenter", 30, seed=2).indices
    proc = _cli("pick", manifest, "-s", "kcenter", "-b", 30, "--seed", 2, "--dask", "local:2")
    assert proc.returncode == 0, proc.stderr
    assert [int(v) for v in proc.stdout.split()] == one.tolist()
    seq = _cli("inspect", manifest, "--json")
    par = _cli("inspect", manifest, "--json", "--dask", "local:2")
    assert seq.returncode == par.returncode == 0, par.stderr
    assert json.loads(par.stdout) == json.loads(seq.stdout)


@pytest.mark.dask
@pytest.mark.parametrize("strategy", ["entropy", "bald", "kcenter"])
def test_zarr_shards_on_an_in_process_cluster(zarr_sharded, strategy):
    pytest.importorskip("distributed")
    full, manifest, _ = zarr_sharded
    with thread_cluster() as client:
        for budget in (1, 40):
            a = alselect.select(full, strategy, budget, seed=6)
            b = alselect.select(manifest, strategy, budget, seed=6, client=client)
            np.testing.assert_array_equal(b.indices, a.indices)
