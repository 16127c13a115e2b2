"""k-means++ / BADGE D^2 sampling against explicit NumPy references that
consume the same uniforms (alselect.rowkeys.race_uniforms(seed, pick, row)) with the
same rule: the exponential race, smallest -log(U) / D^2 (ties lowest row)."""

import numpy as np
import pytest
from scipy import stats

from alselect.diversity import badge, kmeanspp
from alselect.rowkeys import race_uniforms


def race_pick(weights, alive, seed, t):
    """The race of pick t: weighted over alive rows with weight > 0, else uniform over alive."""
    E = -np.log(race_uniforms(seed, t, np.arange(weights.size)))
    w = np.where(alive, weights, 0.0)
    if (w > 0).any():
        key = np.where(w > 0, E / np.where(w > 0, w, 1.0), np.inf)
    else:
        key = np.where(alive, E, np.inf)
    return int(np.argmin(key))  # the first minimum: lowest row on ties


def d2_reference(G, budget, seed, centers0=(), pickable=None, init="max-norm"):
    """Explicit k-means++ on the rows of G (float64, full distances)."""
    G = np.asarray(G, dtype=np.float64)
    N = G.shape[0]
    alive = np.ones(N, bool) if pickable is None else pickable.copy()
    d2 = np.full(N, np.inf)
    for c in centers0:
        d2 = np.minimum(d2, ((G - G[c]) ** 2).sum(1))
    picks = []
    for t in range(budget):
        if t == 0 and len(centers0) == 0:
            rows = np.flatnonzero(alive)
            if init == "max-norm":
                w = int(rows[np.argmax((G[rows] ** 2).sum(1))])
            else:
                w = race_pick(np.zeros(N), alive, seed, 0)
        else:
            p = np.where(alive, d2, 0.0)
            p[p <= 1e-12 * ((G ** 2).sum(1) + 0)] = 0.0
            w = race_pick(p, alive, seed, t)
        picks.append(w)
        alive[w] = False
        d2 = np.minimum(d2, ((G - G[w]) ** 2).sum(1))
    return np.array(picks)


def explicit_badge(P, F):
    a = P.astype(np.float64).copy()
    a[np.arange(len(a)), a.argmax(1)] -= 1
    return (a[:, :, None] * F.astype(np.float64)[:, None, :]).reshape(len(a), -1)


def softmax_probs(rng, N, C, scale=3.0):
    z = scale * rng.normal(size=(N, C))
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_kmeanspp_matches_reference(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype(dtype)
    lab = [4, 9, 100]
    for seed in range(3):
        p = kmeanspp(X, 40, labeled=lab, seed=seed)
        alive = np.ones(300, bool)
        alive[lab] = False
        np.testing.assert_array_equal(p, d2_reference(X, 40, seed, lab, alive))


def test_kmeanspp_no_labeled_first_is_max_norm_and_random_init():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    p = kmeanspp(X, 20, seed=5)
    assert p[0] == np.argmax((X ** 2).sum(1))
    np.testing.assert_array_equal(p, d2_reference(X, 20, 5))
    q = kmeanspp(X, 20, seed=5, init="random")
    np.testing.assert_array_equal(q, d2_reference(X, 20, 5, init="random"))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_badge_identical_to_explicit_gradient_embeddings(dtype):
    rng = np.random.default_rng(2)
    N, C, D = 250, 5, 8
    P = softmax_probs(rng, N, C).astype(dtype)
    F = np.abs(rng.normal(size=(N, D))).astype(dtype)
    G = explicit_badge(P, F)
    for seed in range(3):
        p = badge(P, F, 30, seed=seed)
        np.testing.assert_array_equal(p, d2_reference(G, 30, seed))
    assert badge(P, F, 1, seed=0)[0] == np.argmax((G ** 2).sum(1))


def test_badge_labeled_excluded_or_centers():
    rng = np.random.default_rng(3)
    N, C, D = 150, 4, 5
    P = softmax_probs(rng, N, C)
    F = rng.normal(size=(N, D))
    G = explicit_badge(P, F)
    lab = np.arange(0, 150, 10)
    alive = np.ones(N, bool)
    alive[lab] = False
    p = badge(P, F, 25, labeled=lab, seed=1)
    assert not set(p) & set(lab)
    np.testing.assert_array_equal(p, d2_reference(G, 25, 1, (), alive))
    q = badge(P, F, 25, labeled=lab, seed=1, labeled_as_centers=True)
    np.testing.assert_array_equal(q, d2_reference(G, 25, 1, lab, alive))


def test_duplicates_fallback_and_full_budget():
    rng = np.random.default_rng(4)
    X = np.repeat(rng.normal(size=(5, 3)), 6, axis=0)  # 5 distinct points x 6
    X[:3] = 0.0
    p = kmeanspp(X, 30, seed=2)
    assert sorted(p) == list(range(30))  # without replacement, all rows
    np.testing.assert_array_equal(p, d2_reference(X, 30, 2))
    # after the distinct points are taken only zero-D^2 rows remain
    assert set(p[:5].tolist()) == {0, 6, 12, 18, 24} or len(set(map(tuple, X[p[:5]]))) == 5


def test_d2_distribution_chi_square():
    # Tiny pool: one center (largest norm), second pick must follow D^2 exactly.
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [1.0, 1.0]])
    d2 = ((X - X[3]) ** 2).sum(1)
    d2[3] = 0
    expected = d2 / d2.sum()
    from alselect.diversity import d2_rows, d2_state
    from alselect.kernels import d2sampling as d2
    from alselect.rowkeys import race_seed

    trials = 4000
    counts = np.zeros(5)
    ones = np.ones(5)
    n = d2_rows(X, None, False, ones)[1]
    zeros_i, zeros_f = np.zeros(5, dtype=np.int64), np.zeros(5)
    pickable = np.ones(5, dtype=bool)
    none = np.empty(0, dtype=np.int64)
    for seed in range(trials):  # the kernel directly: the stream kmeanspp uses
        p = np.empty(2, dtype=np.int64)
        d2.d2_engine(X, X, False, n, ones, none, 3, race_seed(seed), zeros_i, zeros_f, zeros_f,
                     zeros_f, np.zeros((1, 1)), d2_state(n, pickable, 2), p)
        counts[p[1]] += 1
    for seed in range(20):  # ... which is what the public function runs
        p = np.empty(2, dtype=np.int64)
        d2.d2_engine(X, X, False, n, ones, none, 3, race_seed(seed), zeros_i, zeros_f, zeros_f,
                     zeros_f, np.zeros((1, 1)), d2_state(n, pickable, 2), p)
        np.testing.assert_array_equal(kmeanspp(X, 2, seed=seed), p)
    assert counts[3] == 0
    keep = expected > 0
    chi2, pval = stats.chisquare(counts[keep], expected[keep] * trials)
    assert pval > 1e-3


def test_seeds_reproduce_and_differ():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(500, 4)).astype(np.float32)
    a = kmeanspp(X, 50, seed=11)
    np.testing.assert_array_equal(a, kmeanspp(X, 50, seed=11))
    assert not np.array_equal(a, kmeanspp(X, 50, seed=12))


def test_errors():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="seed is required"):
        kmeanspp(X, 1, seed=None)
    with pytest.raises(ValueError, match="budget 5 exceeds the 4"):
        kmeanspp(X, 5, seed=0)
    P = np.full((4, 2), 0.5)
    with pytest.raises(ValueError, match="same number of rows"):
        badge(P, np.zeros((3, 2)), 1, seed=0)
    with pytest.raises(ValueError, match="sum to 1"):
        badge(np.full((4, 2), 0.6), X, 1, seed=0)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        badge(np.array([[2.0, -1.0]] * 4), X, 1, seed=0)


@pytest.mark.parametrize("labeled", [None, [2, 9]])
def test_progress_sums_to_budget_and_keeps_picks(labeled):
    rng = np.random.default_rng(8)
    F = rng.normal(size=(500, 6)).astype(np.float32)
    P = softmax_probs(rng, 500, 4)
    for fn, args in [(kmeanspp, (F, 203)), (badge, (P, F, 203))]:
        got = []
        with_p = fn(*args, labeled=labeled, seed=4, progress=got.append)
        np.testing.assert_array_equal(with_p, fn(*args, labeled=labeled, seed=4))
        assert sum(got) == 203 and all(n > 0 for n in got)


@pytest.mark.parametrize("labeled_as_centers", [False, True])
def test_badge_many_blocks_identical_to_explicit(labeled_as_centers):
    # confident probabilities: the class-table, pseudo-label and center-pair
    # bounds prune most rows; N is large enough for many pruned groups
    rng = np.random.default_rng(12)
    N, C = 1300, 6
    y = rng.integers(0, C, N)
    z = 5.0 * np.eye(C)[y] + rng.normal(size=(N, C))
    P = np.exp(z - z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    F = np.maximum(rng.normal(size=(C, 7))[y] + 0.3 * rng.normal(size=(N, 7)), 0)
    lab = np.array([5, 400, 1299])
    pickable = np.ones(N, bool)
    pickable[lab] = False
    G = explicit_badge(P, F)
    centers0 = lab if labeled_as_centers else ()
    if labeled_as_centers:
        ref = d2_reference(G, 150, 9, centers0=centers0, pickable=pickable)
    else:
        ref = d2_reference(G, 150, 9, pickable=pickable)
    got = badge(P, F, 150, labeled=lab, seed=9, labeled_as_centers=labeled_as_centers)
    np.testing.assert_array_equal(got, ref)


def test_kmeanspp_many_blocks_identical_to_reference():
    rng = np.random.default_rng(13)
    X = rng.normal(size=(1100, 4)) * rng.exponential(size=(1100, 1))
    lab = [7, 600]
    pickable = np.ones(1100, bool)
    pickable[lab] = False
    np.testing.assert_array_equal(kmeanspp(X, 200, labeled=lab, seed=2),
                                  d2_reference(X, 200, 2, centers0=lab, pickable=pickable))
