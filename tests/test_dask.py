"""Selection on a Dask LocalCluster gives exactly the single-machine picks."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import alselect
from alselect.errors import SelectionError

from shard_fixtures import make_sharded, thread_cluster

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.dask

RANKING = [("random", {}), ("entropy", {}), ("margin", {}), ("least-confidence", {}), ("bald", {}),
           ("variation-ratio", {}), ("dispersion", {}), ("score", {}), ("score", {"order": "asc"})]
KCENTER = [{}, {"init": "random"}, {"features": "probs"}]


@pytest.fixture(scope="module")
def client():
    with thread_cluster() as c:
        yield c


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    return make_sharded(tmp_path_factory.mktemp("dask"))


@pytest.mark.parametrize("strategy,params", RANKING, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("seed", [None, 3])
def test_ranking_same_as_one_machine(client, sharded, strategy, params, seed):
    full, manifest, _ = sharded
    if strategy == "random" and seed is None:
        seed = 8
    for budget in (1, 40, 200):
        a = alselect.select(full, strategy, budget, seed=seed, **params)
        b = alselect.select(manifest, strategy, budget, seed=seed, client=client, **params)
        np.testing.assert_array_equal(b.indices, a.indices)
        np.testing.assert_array_equal(b.scores, a.scores)


@pytest.mark.parametrize("params", KCENTER, ids=str)
def test_kcenter_same_sequence_as_one_machine(client, sharded, params):
    from alselect.distributed import select as dsel

    full, manifest, _ = sharded
    for budget in (1, 30, 200):
        a = alselect.select(full, "kcenter", budget, seed=4, **params)
        b = alselect.select(manifest, "kcenter", budget, seed=4, client=client, **params)
        np.testing.assert_array_equal(b.indices, a.indices)
        np.testing.assert_allclose(b.scores, a.scores, rtol=1e-9, atol=1e-12)
        assert dsel.LAST.rounds < budget or budget == 1


def test_kcenter_without_labeled_rows(client, tmp_path):
    from shard_fixtures import pool_arrays

    arrays = pool_arrays(seed=2)
    del arrays["labels"]
    rng = np.random.default_rng(1)
    arrays["embeddings"] = rng.normal(size=arrays["embeddings"].shape).astype(np.float32)
    full, manifest, _ = make_sharded(tmp_path, arrays, cuts=(0, 50, 51, 240))
    os.remove(full)
    from alselect.pool import write_pool

    write_pool(full, **arrays)  # nothing labeled anywhere: the first pick is the largest norm
    with open(manifest) as handle:
        text = handle.read().replace('"labeled": [5, 150, 151]', '"labeled": []')
    with open(manifest, "w") as handle:
        handle.write(text)
    for init in ("max-norm", "random"):
        a = alselect.select(full, "kcenter", 60, seed=9, init=init)
        b = alselect.select(manifest, "kcenter", 60, seed=9, init=init, client=client)
        np.testing.assert_array_equal(b.indices, a.indices)


@pytest.mark.parametrize("m", [1, 3])
def test_kcenter_with_few_candidates_per_round(client, sharded, monkeypatch, m):
    """Tiny candidate lists force many rounds, each confirming picks only under the bounds."""
    from alselect.distributed import select as dsel

    monkeypatch.setattr(dsel, "MIN_CANDIDATES", m)
    monkeypatch.setattr(dsel, "MAX_CANDIDATES", m)
    full, manifest, _ = sharded
    a = alselect.select(full, "kcenter", 80)
    b = alselect.select(manifest, "kcenter", 80, client=client)
    np.testing.assert_array_equal(b.indices, a.indices)
    assert 80 / (4 * m) <= dsel.LAST.rounds <= 80


@pytest.mark.parametrize("strategy,name", [("entropy", "probs"), ("kcenter", "embeddings")])
def test_bad_value_on_a_worker_names_the_shard(client, tmp_path, strategy, name):
    import h5py

    from alselect.errors import PoolValueError

    _, manifest, shards = make_sharded(tmp_path)
    with h5py.File(shards[3], "r+") as f:  # rows 130..239 of the pool
        f[name][4] = np.nan
    with pytest.raises(PoolValueError) as err:
        alselect.select(manifest, strategy, 5, client=client)
    msg = str(err.value)
    assert f"shard '{shards[3]}', whose row 0 is row 130 of the pool" in msg and "row 4" in msg


@pytest.mark.parametrize("strategy,params", [*RANKING[:5], ("kcenter", {}), ("kmeanspp", {}), ("badge", {}),
                                             ("uwe", {}), ("uwe", {"sampler": "kmeanspp"}), ("cdal-cs", {})],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_float16_pool_same_as_one_machine(client, tmp_path, strategy, params):
    """float16 rows sum to 1 only within 1e-2: a worker that widens them before validating
    them again would apply the float32 tolerance and refuse them."""
    from shard_fixtures import pool_arrays

    arrays = pool_arrays()
    for name in ("probs", "mc_probs", "embeddings"):
        arrays[name] = arrays[name].astype(np.float16)
    full, manifest, _ = make_sharded(tmp_path, arrays)
    a = alselect.select(full, strategy, 30, seed=2, **params)
    b = alselect.select(manifest, strategy, 30, seed=2, client=client, **params)
    np.testing.assert_array_equal(b.indices, a.indices)
    if strategy in ("kcenter", "uwe") and not params:  # greedy distances: summed in another order
        np.testing.assert_allclose(b.scores, a.scores, rtol=1e-9, atol=1e-12)
    else:
        np.testing.assert_array_equal(b.scores, a.scores)


def test_unsupported_strategy_is_one_clear_error(client, sharded):
    with pytest.raises(SelectionError, match="no distributed engine for the strategy 'svm-margin' yet"):
        alselect.select(sharded[1], "svm-margin", 3, seed=1, client=client)
    for name in ("balanced", "balanced-kcenter"):
        with pytest.raises(SelectionError, match=f"no distributed engine for '{name}'.*one machine.*drop --dask"):
            alselect.select(sharded[1], name, 3, client=client)
    with pytest.raises(SelectionError, match="aggregate=image"):
        alselect.select(sharded[1], "entropy", 3, client=client, aggregate="mean")


def _kill_run(manifest, out):
    """Run kcenter on 2 worker processes and kill one worker process mid-run (in a child process)."""
    code = f"""
import os, signal, threading, time, numpy as np, distributed, alselect
from alselect.distributed import select as dsel
dsel.MIN_CANDIDATES = dsel.MAX_CANDIDATES = 2  # many short rounds: the kill lands mid-run
with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cl, \\
        distributed.Client(cl) as client:
    pids = client.run(os.getpid)
    killed = []
    def killer():
        while not killed:
            time.sleep(0.05)
            info = client.processing()
            busy = [w for w, keys in info.items() if any('kcenter_fold' in k for k in keys)]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
    threading.Thread(target=killer, daemon=True).start()
    result = alselect.select({manifest!r}, "kcenter", 120, client=client)
    np.save({out!r}, result.indices)
    print("killed", len(killed))
"""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)


def test_killed_worker_gives_the_same_picks(sharded, tmp_path):
    full, manifest, _ = sharded
    out = str(tmp_path / "picks.npy")
    r = _kill_run(manifest, out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "killed 1" in r.stdout
    np.testing.assert_array_equal(np.load(out), alselect.select(full, "kcenter", 120).indices)


def test_cli_dask_local(sharded):
    full, manifest, _ = sharded
    args = ["pick", manifest, "-s", "kcenter", "-b", "25"]
    one = subprocess.run([sys.executable, "-m", "alselect", "pick", full, "-s", "kcenter", "-b", "25"],
                         capture_output=True, text=True)
    many = subprocess.run([sys.executable, "-m", "alselect", *args, "--dask", "local:2"], capture_output=True, text=True)
    assert many.returncode == 0, many.stderr
    assert many.stdout == one.stdout
    bad = subprocess.run([sys.executable, "-m", "alselect", *args, "--dask", "local:zero"], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("Error: --dask")


def test_missing_extra_is_one_error_line(sharded):
    code = ("import sys; sys.modules['distributed'] = None; from alselect.cli import main; "
            f"sys.argv = ['alselect', 'pick', {sharded[1]!r}, '-s', 'entropy', '-b', '2', '--dask', 'local:1']; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip() == ("Error: --dask needs the optional 'dask' extra; install it with "
                                "pip install 'alselect[dask]'")
