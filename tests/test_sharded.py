"""Sharded pools on one machine: the manifest, ShardedPool, `alselect manifest`, `infer --shard`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import alselect
from alselect.errors import PoolFormatError, PoolValueError
from alselect.pool import open_pool, write_pool
from alselect.pool.sharded import ShardedPool

from shard_fixtures import MANIFEST_LABELED, N, make_sharded, pool_arrays

STRATEGIES = [("random", {}), ("entropy", {}), ("margin", {}), ("least-confidence", {}), ("bald", {}),
              ("variation-ratio", {}), ("dispersion", {}), ("score", {}), ("kcenter", {}),
              ("kcenter", {"init": "random"}), ("kmeanspp", {}), ("badge", {}), ("uwe", {})]


def cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "alselect", *map(str, args)], capture_output=True, text=True,
                          input=stdin)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    return make_sharded(tmp_path_factory.mktemp("sharded"))


def test_reader_interface_matches_one_file(sharded):
    full, manifest, _ = sharded
    with open_pool(full) as one, open_pool(manifest) as many:
        assert isinstance(many, ShardedPool)
        assert (many.n_rows, many.n_classes, many.version) == (one.n_rows, one.n_classes, one.version)
        for name in ("probs", "embeddings", "mc_probs", "epoch_preds", "labels", "scores/s"):
            assert many.shape(name) == one.shape(name) and many.dtype(name) == one.dtype(name)
            np.testing.assert_array_equal(many.read(name), one.read(name))
            blocks = list(many.iter_rows(name, block_bytes=200))
            axis = 1 if name.startswith("epoch_") else 0
            np.testing.assert_array_equal(np.concatenate([b for _, b in blocks], axis=axis), one.read(name))
            starts = [s for s, _ in blocks]
            assert starts == sorted(starts) and starts[0] == 0
        np.testing.assert_array_equal(many.labeled_rows(), one.labeled_rows())
        assert set(MANIFEST_LABELED) <= set(many.labeled_rows().tolist())
        np.testing.assert_array_equal(many.ids(), np.arange(N))
        np.testing.assert_array_equal(many.rows_for_ids(["7", "201"]), [7, 201])
        assert many.class_names() == one.class_names() == ["a", "b", "c", "d"]
        assert many.score_names() == ["s"] and many.problems() == []


@pytest.mark.parametrize("strategy,params", STRATEGIES, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("seed", [None, 11])
def test_same_picks_as_one_file(sharded, strategy, params, seed):
    full, manifest, _ = sharded
    if seed is None and (strategy in ("random", "kmeanspp", "badge") or params):
        seed = 5  # randomised: compare under one seed
    a = alselect.select(full, strategy, 25, seed=seed, **params)
    b = alselect.select(manifest, strategy, 25, seed=seed, **params)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.isin(b.indices, np.arange(100, 130)).any()  # the all-labeled shard


def test_cli_manifest_pick_inspect(tmp_path):
    full, manifest, shards = make_sharded(tmp_path, empty_after=None)
    out = tmp_path / "again.json"
    r = cli("manifest", "-o", out, *shards)
    assert r.returncode == 0 and r.stdout == "", r.stderr
    doc = json.loads(out.read_text())
    assert doc["format"] == "alselect-sharded-pool" and doc["version"] == 1
    assert [s["rows"] for s in doc["shards"]] == [17, 83, 30, 110]
    assert all(not os.path.isabs(s["path"]) for s in doc["shards"])
    one = cli("pick", full, "-s", "entropy", "-b", 12, "--with-scores")
    many = cli("pick", manifest, "-s", "entropy", "-b", 12, "--with-scores")
    assert one.returncode == 0 and many.stdout == one.stdout
    r = cli("inspect", manifest, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["n_rows"] == N and len(report["shards"]) == 4 and report["problems"] == []


def test_inspect_names_the_bad_shard(tmp_path):
    _, manifest, shards = make_sharded(tmp_path)
    with h5py.File(shards[2], "r+") as f:
        f["probs"][3] = [2.0, -1.0, 0.0, 0.0]
    r = cli("inspect", manifest)
    assert r.returncode == 1
    assert f"shard '{shards[2]}'" in r.stdout and r.stderr.strip().startswith("Error:")


@pytest.fixture
def fused_paths(monkeypatch):
    """Every pool counts as large: the numba kernels and bald's fused float16 pass run."""
    from alselect import numpy_scores

    monkeypatch.setattr(numpy_scores, "SMALL_POOL_VALUES", 0)


def _float16_arrays():
    arrays = pool_arrays()
    arrays["mc_probs"] = arrays["mc_probs"].astype(np.float16)
    return arrays


@pytest.mark.parametrize("strategy", ["bald", "entropy", "least-confidence", "margin", "dispersion"])
def test_large_pool_paths_match_one_file(tmp_path, fused_paths, strategy):
    full, manifest, _ = make_sharded(tmp_path, _float16_arrays())
    a = alselect.select(full, strategy, 25)
    b = alselect.select(manifest, strategy, 25)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("strategy,name", [("bald", "mc_probs"), ("entropy", "probs")])
def test_bad_value_names_the_shard_and_its_first_row(tmp_path, fused_paths, strategy, name):
    _, manifest, shards = make_sharded(tmp_path, _float16_arrays())
    with h5py.File(shards[2], "r+") as f:  # manifest shard 3 (an empty shard is listed at 1), rows 100..129
        f[name][4] = np.nan
    with pytest.raises(PoolValueError) as err:
        alselect.select(manifest, strategy, 5)
    msg = str(err.value)
    assert f"shard 3 ('{shards[2]}')" in msg and "whose row 0 is row 100 of the pool" in msg
    assert "row 4;" in msg and "NaN" in msg


def _error(r) -> str:
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    return lines[0]


def test_missing_shard_and_other_version_name_the_shard(tmp_path):
    _, manifest, shards = make_sharded(tmp_path)
    os.rename(shards[1], shards[1] + ".gone")
    line = _error(cli("pick", manifest, "-s", "entropy", "-b", 3))
    assert shards[1] in line and "missing" in line
    os.rename(shards[1] + ".gone", shards[1])
    with h5py.File(shards[3], "r+") as f:
        f.attrs["format_version"] = 2
    line = _error(cli("pick", manifest, "-s", "entropy", "-b", 3))
    assert shards[3] in line and "version 2" in line
    line = _error(cli("manifest", "-o", tmp_path / "m.json", *shards))
    assert shards[3] in line and "version" in line
    assert not (tmp_path / "m.json").exists()


def test_manifest_rejects_disagreeing_shards(tmp_path):
    arrays = pool_arrays()
    a, b, c = (str(tmp_path / f"{x}.h5") for x in "abc")
    write_pool(a, probs=arrays["probs"][:10], embeddings=arrays["embeddings"][:10])
    write_pool(b, probs=arrays["probs"][10:20])
    write_pool(c, probs=arrays["probs"][10:20, :3] / arrays["probs"][10:20, :3].sum(1, keepdims=True),
               embeddings=arrays["embeddings"][10:20])
    assert b in _error(cli("manifest", "-o", tmp_path / "m.json", a, b))
    line = _error(cli("manifest", "-o", tmp_path / "m.json", a, c))
    assert c in line and "classes" in line
    assert "not found" in _error(cli("manifest", "-o", tmp_path / "m.json", a, tmp_path / "nope.h5"))


def test_float_datasets_must_share_their_dtype(tmp_path):
    """float16 and float32 shards would be validated with different tolerances and read by
    different kernels: refused when the manifest is built and when it is opened."""
    arrays = pool_arrays()
    a, b = str(tmp_path / "a.h5"), str(tmp_path / "b.h5")
    write_pool(a, probs=arrays["probs"][:10], labels=np.arange(10) % 4)
    write_pool(b, probs=arrays["probs"][10:20].astype(np.float16), labels=(np.arange(10) % 4).astype(np.int32))
    line = _error(cli("manifest", "-o", tmp_path / "m.json", a, b))
    assert b in line and "'probs' as float16" in line and "same dtype" in line and "rewrite" in line
    write_pool(b, probs=arrays["probs"][10:20], labels=(np.arange(10) % 4).astype(np.int32))  # int widths may differ
    r = cli("manifest", "-o", tmp_path / "m.json", a, b)
    assert r.returncode == 0, r.stderr
    write_pool(b, probs=arrays["probs"][10:20].astype(np.float64), labels=np.arange(10) % 4)  # changed later
    with pytest.raises(PoolFormatError, match="'probs' as float64.*same dtype"):
        alselect.select(str(tmp_path / "m.json"), "entropy", 3)


@pytest.mark.parametrize("edit,match", [
    (lambda d: d.update(format="other"), "format"),
    (lambda d: d.update(version=99), "newer"),
    (lambda d: d["shards"][0].update(rows=5), "rows"),
    (lambda d: d["shards"][0].update(path="/abs.h5"), "relative"),
    (lambda d: d.update(labeled=[10 ** 6]), "outside"),
    (lambda d: d.update(shards=[]), "shards"),
])
def test_bad_manifest(tmp_path, edit, match):
    _, manifest, _ = make_sharded(tmp_path)
    doc = json.loads(open(manifest).read())
    edit(doc)
    with open(manifest, "w") as handle:
        json.dump(doc, handle)
    with pytest.raises(PoolFormatError, match=match):
        ShardedPool(manifest)
    _error(cli("pick", manifest, "-s", "entropy", "-b", 1))


def test_tie_keys_are_a_function_of_seed_and_row():
    from alselect.rowkeys import tie_keys, uniform

    rows = np.arange(5000)
    keys = tie_keys(3, rows)
    assert np.unique(keys).size == rows.size
    np.testing.assert_array_equal(tie_keys(3, rows[1234:2000]), keys[1234:2000])
    np.testing.assert_array_equal(tie_keys(None, rows), rows)
    assert not np.array_equal(tie_keys(4, rows), keys)
    u = uniform(3, rows)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
    np.testing.assert_array_equal(uniform(3, rows[77:99]), u[77:99])


def test_exact_sqdist_is_the_engine_distance_bit_for_bit():
    from alselect.kernels.kcenter import MODE_EUCLID, _exact_pair
    from alselect.kernels.sharded_kcenter import exact_sqdist

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 37)).astype(np.float32)
    s = rng.uniform(0.1, 2, 30)
    n = np.zeros(30)
    C = X[20:].copy()
    for i in range(20):
        for j in range(10):
            assert exact_sqdist(X, i, s[i], C, j, s[20 + j]) == _exact_pair(MODE_EUCLID, X, X, n, s, i, 20 + j)


def test_infer_shards_concatenate_to_the_whole(tmp_path):
    pytest.importorskip("torch")
    from click.testing import CliRunner

    from alselect.cli import cli as group

    whole = tmp_path / "whole.h5"
    base = ["infer", "--model", "torch_fixtures:digits_mlp", "--data", "torch_fixtures:digits_loader"]
    assert CliRunner().invoke(group, base + ["-o", str(whole)]).exit_code == 0
    parts = []
    for i in range(3):
        part = tmp_path / f"part{i}.h5"
        r = CliRunner().invoke(group, base + ["-o", str(part), "--shard", f"{i}/3"])
        assert r.exit_code == 0, r.output
        parts.append(str(part))
    assert CliRunner().invoke(group, ["manifest", "-o", str(tmp_path / "m.json"), *parts]).exit_code == 0
    with open_pool(whole) as one, open_pool(tmp_path / "m.json") as many:
        assert [e.rows for e in many.manifest.shards] == [67, 67, 66]
        np.testing.assert_array_equal(many.ids(), one.ids())
        np.testing.assert_allclose(many.read("probs"), one.read("probs"), atol=1e-6)
    r = CliRunner().invoke(group, base + ["-o", str(tmp_path / "x.h5"), "--shard", "3/3"])
    assert r.exit_code == 1 and "0..N-1" in r.output
