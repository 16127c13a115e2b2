"""CDAL-RL: the episode reward against `alselect score`'s functions, the chunked policy against
the unchunked one, and training that finds the high-reward subset of a small pool."""

import numpy as np
import pytest

import alselect
from alselect import cdal
from alselect.learned.reward import Reward

torch_marks = [pytest.mark.torch]


def rare_context_pool(rng, n_common=72, n_rare=8, c=4):
    """Most images share one confident context; a few each carry a distinct, peaked one.
    The selection of every rare image maximises R_cd (Eq. 3)."""
    common = rng.dirichlet(np.full(c, 50.0) * np.array([8, 1, 1, 1]), size=n_common)
    rare = np.stack([rng.dirichlet(np.roll([30.0, 1, 1, 1], i % c) + rng.uniform(0, 3, c)) for i in range(n_rare)])
    probs = np.concatenate([common, rare]).astype(np.float32)
    probs /= probs.sum(1, keepdims=True)
    emb = np.concatenate([rng.normal(size=(n_common, 3)) * 0.3, rng.normal(size=(n_rare, 3)) + 2.0]).astype(np.float32)
    return probs, emb, np.arange(n_common, n_common + n_rare)


def test_reward_equals_reward_total_when_exhaustive(rng):
    probs, emb, _ = rare_context_pool(rng)
    mix, present = cdal.classification_features(probs)
    picks = np.array([3, 10, 75, 79])
    r = Reward(mix, present, budget=4, rng=np.random.default_rng(0), embeddings=emb)
    want = cdal.reward_total(mix, present, picks, embeddings=emb)
    assert r.of_selection(picks) == pytest.approx(want.total, rel=1e-12)
    code = Reward(mix, present, budget=4, rng=np.random.default_rng(0), embeddings=emb, mode="code")
    want_code = 0.5 * cdal.reward_vr(emb, picks, squared=True, scale=0.02) + \
        1.5 * cdal.reward_cd(mix, present, picks, aggregate="mean")
    assert code.of_selection(picks) == pytest.approx(want_code, rel=1e-12)


def test_reward_sr_only_with_counts(rng):
    probs, emb, _ = rare_context_pool(rng)
    mix, present = cdal.classification_features(probs)
    counts = rng.integers(0, 5, size=(probs.shape[0], 4))
    picks = np.array([1, 2, 77])
    r = Reward(mix, present, 3, np.random.default_rng(0), embeddings=emb, counts=counts, sr_lam=2.0)
    want = cdal.reward_total(mix, present, picks, embeddings=emb, counts=counts, sr_lam=2.0)
    assert r.of_selection(picks) == pytest.approx(want.total, rel=1e-12)


def test_sampled_r_cd_is_unbiased(rng):
    # averaged over every m-subset of the picks, the scaled subset sum is the exact Eq. 3 sum
    import itertools

    probs, _, _ = rare_context_pool(rng)
    mix, present = cdal.classification_features(probs)
    picks = np.array([0, 9, 40, 73, 76, 79])
    subsets = iter(itertools.combinations(picks, 3))

    class EachSubset:
        def choice(self, a, m, replace):
            return np.array(next(subsets))

    r = Reward(mix, present, 6, EachSubset(), sample=3)
    est = np.mean([r.r_cd(picks) for _ in range(20)])
    assert est == pytest.approx(cdal.reward_cd(mix, present, picks), rel=1e-9)


def test_reward_vr_rows_is_the_mean_over_those_rows(rng):
    x = rng.normal(size=(50, 4)).astype(np.float32)
    picks, rows = np.array([2, 9, 30]), np.array([0, 5, 9, 44])
    d = np.sqrt(((x[rows, None, :].astype(np.float64) - x[None, picks]) ** 2).sum(-1)).min(1)
    assert cdal.reward_vr(x, picks, rows=rows) == pytest.approx(np.exp(-d.mean()), rel=1e-9)
    assert cdal.reward_vr(x, picks, rows=np.arange(50)) == pytest.approx(cdal.reward_vr(x, picks), rel=1e-12)


def test_episode_selection_is_cut_to_the_budget():
    r = Reward(np.zeros((6, 1, 2)), np.ones((6, 1), bool), 2, np.random.default_rng(0))
    p = np.array([0.9, 0.2, 0.5, 0.5, 0.1, 0.8])
    cut = r.selection(np.array([1, 1, 1, 1, 0, 0], bool), p)
    assert cut.size == 2 and np.isin(cut, [0, 1, 2, 3]).all()
    np.testing.assert_array_equal(r.selection(np.array([0, 1, 0, 0, 0, 0], bool), p), [1])


@pytest.mark.torch
def test_chunked_backward_equals_one_pass(rng):
    pytest.importorskip("torch")
    import torch

    from alselect.learned.policy import PolicyConfig, train_policy

    f = rng.random((90, 5)).astype(np.float32)
    reward = lambda a, p: float(a[:30].sum() - a[30:].sum())  # noqa: E731
    runs = [train_policy(f, reward, 10, PolicyConfig(hidden=8, epochs=4, lr=1e-2, chunk=20, step_rows=rows),
                         device=torch.device("cpu"), seed=3) for rows in (20, 10_000)]
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-5)
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-6)


@pytest.mark.torch
def test_training_finds_the_rare_contexts(make_pool, rng):
    pytest.importorskip("torch")
    import torch

    from alselect.learned.policy import PolicyConfig, train_policy

    probs, emb, rare = rare_context_pool(rng)
    mix, present = cdal.classification_features(probs)
    budget = rare.size
    reward = Reward(mix, present, budget, np.random.default_rng(0), embeddings=emb)
    state = torch.get_rng_state()
    p, history = train_policy(mix.reshape(len(mix), -1), reward, budget,
                              PolicyConfig(hidden=32, epochs=40, lr=1e-2), device=torch.device("cpu"), seed=0)
    assert torch.equal(state, torch.get_rng_state())  # global torch RNG untouched
    assert history[-5:].mean() > history[:5].mean()
    picks = np.argsort(-p, kind="stable")[:budget]
    total = lambda s: cdal.reward_total(mix, present, s, embeddings=emb).total  # noqa: E731
    random_r = [total(np.random.default_rng(i).choice(len(probs), budget, replace=False)) for i in range(100)]
    assert total(picks) > np.median(random_r)
    assert np.isin(picks, rare).sum() >= budget // 2


@pytest.mark.torch
def test_pick_never_returns_labeled_rows_and_is_reproducible(make_pool, rng):
    pytest.importorskip("torch")
    probs, emb, _ = rare_context_pool(rng)
    path = make_pool(probs=probs, embeddings=emb, labeled=np.arange(70, 78))
    runs = [alselect.select(path, "cdal-rl", 5, seed=11, epochs=3, hidden=16, lr=1e-2) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].indices, runs[1].indices)
    assert not np.isin(runs[0].indices, np.arange(70, 78)).any()
    assert ((runs[0].scores >= 0) & (runs[0].scores <= 1)).all()
    other = alselect.select(path, "cdal-rl", 5, seed=12, epochs=3, hidden=16, lr=1e-2)
    assert other.seed == 12


@pytest.mark.torch
def test_regions_layout_with_r_sr(make_pool, rng):
    pytest.importorskip("torch")
    n, c = 30, 3
    sizes = rng.integers(1, 6, n)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    region_probs = rng.dirichlet(np.ones(c), size=offsets[-1]).astype(np.float32)
    path = make_pool(probs=rng.dirichlet(np.ones(c), size=n).astype(np.float32), regions_probs=region_probs,
                     regions_offsets=offsets, embeddings=rng.normal(size=(n, 2)).astype(np.float32), labeled=[0, 1])
    sel = alselect.select(path, "cdal-rl", 4, seed=0, epochs=2, hidden=8)
    assert sel.indices.size == 4 and not np.isin(sel.indices, [0, 1]).any()
    assert any("R_sr with sr_lam" in note for note in sel.notes)
