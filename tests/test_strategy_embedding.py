"""kcenter, kmeanspp, badge and uwe through select/pick, against references and the array API."""

import numpy as np
import pytest

import alselect
from alselect import diversity
from clihelp import assert_clean_error, run
from conftest import random_probs


def ref_kcenter(X, budget, labeled):
    """Plain greedy: running min of float64 squared distances, one pass per pick, ties lowest row."""
    X = X.astype(np.float64)
    n = X.shape[0]
    mind = np.full(n, np.inf)
    for c in labeled:
        mind = np.minimum(mind, ((X - X[c]) ** 2).sum(1))
    pickable = np.ones(n, bool)
    pickable[list(labeled)] = False
    picks = []
    for step in range(budget):
        if step == 0 and not len(labeled):
            norms = (X ** 2).sum(1)
            b = int(np.argmax(np.where(pickable, norms, -1)))
        else:
            b = int(np.argmax(np.where(pickable, mind, -1)))
        picks.append(b)
        pickable[b] = False
        mind = np.minimum(mind, ((X - X[b]) ** 2).sum(1))
    return np.array(picks)


@pytest.fixture
def arrays(rng):
    n = 80
    return dict(probs=random_probs(rng, n, 5), embeddings=rng.normal(size=(n, 6)).astype(np.float32),
                labeled=[3, 30, 31], labels=np.where(np.arange(n) == 3, 1, -1))


@pytest.mark.parametrize("labeled", [[3, 30, 31], []])
def test_kcenter_matches_plain_greedy(make_pool, arrays, labeled):
    arrays = dict(arrays, labeled=labeled, labels=np.full(80, -1))
    path = make_pool(**arrays)
    result = alselect.select(path, "kcenter", 20)
    np.testing.assert_array_equal(result.indices, ref_kcenter(arrays["embeddings"], 20, labeled))
    r = run("pick", path, "-s", "kcenter", "-b", 20)
    assert r.stdout.split() == [str(i) for i in result.indices]


def test_kcenter_on_probabilities(make_pool, arrays):
    no_emb = {k: v for k, v in arrays.items() if k != "embeddings"}
    path = make_pool(**no_emb)
    result = alselect.select(path, "kcenter", 10, features="probs")
    np.testing.assert_array_equal(result.indices, ref_kcenter(arrays["probs"], 10, [3, 30, 31]))
    assert_clean_error(run("pick", path, "-s", "kcenter", "-b", 2), "'embeddings'", "--embeddings")


@pytest.mark.parametrize("strategy,call", [
    ("kmeanspp", lambda a, lab: diversity.kmeanspp(a["embeddings"], 12, labeled=lab, seed=5)),
    ("badge", lambda a, lab: diversity.badge(a["probs"], a["embeddings"], 12, labeled=lab, seed=5)),
    ("uwe", lambda a, lab: diversity.uwe(a["probs"], a["embeddings"], 12, labeled=lab)),
])
def test_embedding_strategies_equal_the_array_api(make_pool, arrays, strategy, call):
    path = make_pool(**arrays)
    result = alselect.select(path, strategy, 12, seed=5)
    np.testing.assert_array_equal(result.indices, call(arrays, np.array([3, 30, 31])))
    again = run("pick", path, "-s", strategy, "-b", 12, "--seed", 5)
    assert again.stdout.split() == [str(i) for i in result.indices]


def test_uwe_parameters_reach_the_kernel(make_pool, arrays):
    path = make_pool(**arrays)
    got = alselect.select(path, "uwe", 10, uncertainty="bvsb", tau=2.0, normalize="minmax", sampler="kmeanspp", seed=1)
    expected = diversity.uwe(arrays["probs"], arrays["embeddings"], 10, uncertainty="bvsb", tau=2.0,
                             normalize="minmax", sampler="kmeanspp", labeled=np.array([3, 30, 31]), seed=1)
    np.testing.assert_array_equal(got.indices, expected)
    assert_clean_error(run("pick", path, "-s", "uwe", "-b", 2, "-p", "uncertainty=foo"), "must be one of")


def test_randomised_embedding_strategies_report_their_seed(make_pool, arrays):
    path = make_pool(**arrays)
    for strategy in ("kmeanspp", "badge"):
        r = run("pick", path, "-s", strategy, "-b", 4)
        assert r.exit_code == 0 and "pass --seed" in r.stderr


def test_balanced_kcenter_with_lambda_zero_is_kcenter(make_pool, arrays):
    labels = np.full(80, -1)
    labels[[3, 30, 31]] = [1, 0, 4]
    path = make_pool(**dict(arrays, labels=labels))
    a = alselect.select(path, "balanced-kcenter", 15, lam=0)
    b = alselect.select(path, "kcenter", 15)
    np.testing.assert_array_equal(a.indices, b.indices)
    unlabeled = make_pool(probs=arrays["probs"], embeddings=arrays["embeddings"])
    np.testing.assert_array_equal(alselect.select(unlabeled, "balanced-kcenter", 15, lam=0).indices,
                                  alselect.select(unlabeled, "kcenter", 15).indices)


def test_kcenter_budget_cost_is_a_prefix(make_pool, arrays, rng):
    cost = rng.uniform(1, 3, size=80)
    path = make_pool(**arrays, cost=cost)
    full = alselect.select(path, "kcenter", 77).indices
    result = alselect.select(path, "kcenter", 10.0, budget_cost=True)
    k = len(result.indices)
    np.testing.assert_array_equal(result.indices, full[:k])
    assert cost[full[:k]].sum() <= 10.0 < cost[full[:k + 1]].sum()


@pytest.mark.parametrize("strategy,params", [
    ("kcenter", {}), ("kmeanspp", {}), ("badge", {}), ("uwe", {}), ("uwe", {"sampler": "kmeanspp"}),
])
def test_picking_reports_progress_summing_to_the_budget(make_pool, arrays, strategy, params):
    from contextlib import contextmanager

    bars = {}

    @contextmanager
    def recorder(label, total):
        got = bars.setdefault(label, (total, []))[1]
        yield got.append

    path = make_pool(**arrays)
    quiet = alselect.select(path, strategy, 25, seed=5, **params)
    result = alselect.select(path, strategy, 25, seed=5, progress=recorder, **params)
    np.testing.assert_array_equal(result.indices, quiet.indices)
    total, updates = bars[f"{strategy}: picking"]
    assert total == 25 and sum(updates) == 25 and all(n > 0 for n in updates)
