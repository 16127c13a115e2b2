"""alselect.select for the ranking strategies (random, uncertainty, score) against NumPy references; ordering rules."""

import numpy as np
import pytest

import alselect
from alselect.pool import open_pool
from alselect.selection import _cost_walk, _tie_keys
from conftest import random_probs
from test_kernels_uncertainty import ref_bald, ref_entropy, ref_margin, ref_modal_fraction


def ref_rank(scores, candidates, k, ascending=False, tie=None):
    """Plain Python sort: best score first, ties by ``tie`` (row number by default)."""
    tie = np.arange(len(scores)) if tie is None else tie
    rows = [i for i in range(len(scores)) if candidates[i]]
    rows.sort(key=lambda i: ((scores[i] if ascending else -scores[i]), tie[i]))
    return np.array(rows[:k])


def unlabeled_mask(pool_path):
    with open_pool(pool_path) as pool:
        mask = np.ones(pool.n_rows, bool)
        mask[pool.labeled_rows()] = False
    return mask


@pytest.fixture
def arrays(rng):
    n, c, t = 120, 6, 8
    return dict(
        probs=random_probs(rng, n, c),
        mc_probs=random_probs(rng, n * t, c).reshape(n, t, c),
        epoch_preds=rng.integers(0, c, size=(9, n)),
        labeled=[0, 7, 50],
        labels=np.where(np.arange(n) == 3, 2, -1),
        scores={"vaal": rng.normal(size=n)},
    )


@pytest.mark.parametrize("strategy,reference,ascending", [
    ("entropy", lambda a: ref_entropy(a["probs"]), False),
    ("least-confidence", lambda a: 1 - a["probs"].astype(np.float64).max(1), False),
    ("margin", lambda a: ref_margin(a["probs"]), True),
    ("bald", lambda a: ref_bald(a["mc_probs"]), False),
    ("variation-ratio", lambda a: 1 - ref_modal_fraction(a["mc_probs"].argmax(-1)), False),
    ("dispersion", lambda a: 1 - ref_modal_fraction(a["epoch_preds"].T), False),
    ("score", lambda a: a["scores"]["vaal"], False),
])
def test_ranking_strategies_match_reference(make_pool, arrays, strategy, reference, ascending):
    path = make_pool(**arrays)
    candidates = unlabeled_mask(path)
    assert not candidates[[0, 3, 7, 50]].any()  # pool's labeled list and labels >= 0 both count
    scores = reference(arrays)
    result = alselect.select(path, strategy, 25)
    expected = ref_rank(scores, candidates, 25, ascending)
    np.testing.assert_array_equal(result.indices, expected)
    np.testing.assert_allclose(result.scores, scores[expected], rtol=1e-9, atol=1e-12)


def test_seeded_tie_break_is_the_documented_permutation(make_pool, arrays):
    path = make_pool(**arrays)
    candidates = unlabeled_mask(path)
    scores = 1 - ref_modal_fraction(arrays["epoch_preds"].T)  # many exact ties
    result = alselect.select(path, "dispersion", 40, seed=9)
    expected = ref_rank(scores, candidates, 40, tie=_tie_keys(len(scores), 9))
    np.testing.assert_array_equal(result.indices, expected)
    again = alselect.select(path, "dispersion", 40, seed=9)
    np.testing.assert_array_equal(result.indices, again.indices)
    unseeded = alselect.select(path, "dispersion", 40)
    assert not np.array_equal(unseeded.indices, result.indices)  # seed reorders ties only...
    assert sorted(unseeded.scores, reverse=True) == list(unseeded.scores)
    np.testing.assert_array_equal(np.sort(unseeded.scores), np.sort(result.scores))  # ...not scores


def test_score_order_and_default_name(make_pool, rng):
    n = 30
    s = rng.normal(size=n)
    path = make_pool(probs=random_probs(rng, n, 3), scores={"loss": s})
    desc = alselect.select(path, "score", 5)  # the only score is the default
    asc = alselect.select(path, "score", 5, name="loss", order="asc")
    np.testing.assert_array_equal(desc.indices, np.argsort(-s)[:5])
    np.testing.assert_array_equal(asc.indices, np.argsort(s)[:5])


def test_extra_labeled_rows_are_never_picked(make_pool, arrays):
    path = make_pool(**arrays)
    all_rows = alselect.select(path, "entropy", 116).indices  # 120 rows minus 4 labeled
    blocked = all_rows[:10]
    result = alselect.select(path, "entropy", 20, labeled=blocked)
    assert not np.isin(result.indices, blocked).any()
    np.testing.assert_array_equal(result.indices, all_rows[10:30])


def test_budget_equal_to_unlabeled_count(make_pool, arrays):
    path = make_pool(**arrays)
    n_unlabeled = int(unlabeled_mask(path).sum())
    result = alselect.select(path, "margin", n_unlabeled)
    assert len(result) == n_unlabeled == len(set(result.indices.tolist()))


def test_random_is_seeded_and_uniform(make_pool, rng):
    n, k = 12, 3
    path = make_pool(probs=random_probs(rng, n, 2), labeled=[0, 1])
    a = alselect.select(path, "random", k, seed=4).indices
    np.testing.assert_array_equal(a, alselect.select(path, "random", k, seed=4).indices)
    counts = np.zeros(n)
    trials = 1500
    with open_pool(path) as pool:
        for s in range(trials):
            counts[alselect.select(pool, "random", k, seed=s).indices] += 1
    assert counts[:2].sum() == 0
    expected = trials * k / (n - 2)
    chi2 = ((counts[2:] - expected) ** 2 / expected).sum()
    assert chi2 < 27.9  # 99.9th percentile of chi-square with 9 degrees of freedom


def test_random_without_seed_reports_the_seed_it_used(make_pool, rng):
    path = make_pool(probs=random_probs(rng, 20, 2))
    result = alselect.select(path, "random", 4)
    assert result.seed is not None and "pass --seed" in result.notes[0]
    np.testing.assert_array_equal(alselect.select(path, "random", 4, seed=result.seed).indices, result.indices)


def test_logits_pool_uses_stable_softmax(make_pool, rng):
    logits = rng.normal(scale=30.0, size=(40, 5))
    logits[0] += 1000.0  # would overflow a naive exp
    path = make_pool(logits=logits.astype(np.float32))
    shifted = logits - logits.max(1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(1, keepdims=True)
    result = alselect.select(path, "entropy", 40)
    np.testing.assert_allclose(result.scores, ref_entropy(p)[result.indices], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(np.sort(result.indices), np.arange(40))


def test_float16_pool(make_pool, rng):
    p = random_probs(rng, 50, 4, dtype=np.float16)
    path = make_pool(probs=p)
    result = alselect.select(path, "entropy", 10)
    scores = ref_entropy(p.astype(np.float32))
    np.testing.assert_array_equal(result.indices, ref_rank(scores, np.ones(50, bool), 10))


def test_streaming_blocks_give_the_same_scores(make_pool, rng, monkeypatch):
    from alselect.pool import reader

    path = make_pool(probs=random_probs(rng, 300, 5))
    whole = alselect.select(path, "entropy", 30)
    monkeypatch.setattr(reader, "READ_BLOCK_BYTES", 64)  # 3 rows per block
    blocked = alselect.select(path, "entropy", 30)
    np.testing.assert_array_equal(whole.indices, blocked.indices)


def test_select_accepts_an_open_pool(full_pool):
    with open_pool(full_pool) as pool:
        a = alselect.select(pool, "entropy", 5)
    np.testing.assert_array_equal(a.indices, alselect.select(full_pool, "entropy", 5).indices)


def test_cost_budget_ranking_skips_and_continues(make_pool, rng):
    n = 10
    p = random_probs(rng, n, 3)
    cost = np.array([5, 1, 1, 1, 1, 1, 1, 1, 1, 4], dtype=np.float64)
    path = make_pool(probs=p, cost=cost)
    order = ref_rank(ref_entropy(p), np.ones(n, bool), n)
    result = alselect.select(path, "entropy", 6.5, budget_cost=True)
    expected, left = [], 6.5
    for i in order:
        if cost[i] <= left:
            expected.append(i)
            left -= cost[i]
    np.testing.assert_array_equal(result.indices, expected)
    assert result.cost == pytest.approx(cost[expected].sum()) and result.cost <= 6.5


def test_cost_walk_prefix_rule_for_sequential_strategies():
    order = np.array([3, 1, 2, 0])
    cost = np.array([1.0, 2.0, 5.0, 1.0])
    np.testing.assert_array_equal(_cost_walk(order, cost, 4.0, prefix=True), [3, 1])  # 1+2, then 5 does not fit
    np.testing.assert_array_equal(_cost_walk(order, cost, 4.0, prefix=False), [3, 1, 0])


def test_sample_pool_picks_are_informative():
    """On the real digits pool, the most uncertain picks are misclassified far more often."""
    from conftest import SAMPLE_POOL

    with open_pool(SAMPLE_POOL) as pool:
        truth, probs = pool.read("truth"), pool.read("probs")
        unlabeled = np.setdiff1d(np.arange(pool.n_rows), pool.labeled_rows())
        base_error = (probs[unlabeled].argmax(1) != truth[unlabeled]).mean()
        for strategy in ("entropy", "margin", "bald", "dispersion"):
            picks = alselect.select(pool, strategy, 100).indices
            error = (probs[picks].argmax(1) != truth[picks]).mean()
            assert error > 2 * base_error, (strategy, error, base_error)
