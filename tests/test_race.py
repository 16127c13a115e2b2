"""The exponential race of D² sampling (alselect.kernels.race) against a direct NumPy form."""

import numpy as np
import pytest
from scipy import stats

from alselect import rowkeys
from alselect.kernels import race


def reference(w, active, seed, t, row0=0):
    """Every key computed: smallest -log(U) / w over active rows with w > 0 (else -log U)."""
    E = -np.log(rowkeys.race_uniforms(seed, t, row0 + np.arange(w.size)))
    if (active & (w > 0)).any():
        key = np.where(active & (w > 0), E / np.where(w > 0, w, 1.0), np.inf)
    else:
        key = np.where(active, E, np.inf)
    return int(np.argmin(key)) if np.isfinite(key).any() else -1


def test_kernel_hash_is_the_rowkeys_definition():
    rows = np.array([0, 1, 2, 17, 10 ** 9, 2 ** 40 + 3])
    for seed in (0, 5, 2 ** 31 - 1):
        for t in (0, 1, 999):
            base = np.uint64(race.pick_base(rowkeys.race_seed(seed), t))
            assert base == rowkeys.race_base(seed, t)
            got = [race.uniform(base, int(r)) for r in rows]
            np.testing.assert_array_equal(got, rowkeys.race_uniforms(seed, t, rows))
    u = rowkeys.race_uniforms(3, 0, np.arange(100000))
    assert u.min() > 0.0 and u.max() <= 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("kind", ["spread", "zeros", "all-zero", "heavy"])
def test_race_with_log_free_pruning_is_the_full_argmin(kind):
    rng = np.random.default_rng(1)
    for trial in range(40):
        N = int(rng.integers(1, 400))
        w = rng.exponential(size=N)
        if kind == "zeros":
            w[rng.random(N) < 0.7] = 0.0
        elif kind == "all-zero":
            w[:] = 0.0
        elif kind == "heavy":
            w = w ** 8 * 1e30
        active = rng.random(N) < 0.8
        seed, t, row0 = int(rng.integers(0, 2 ** 31)), int(rng.integers(0, 50)), int(rng.integers(0, 10 ** 6))
        base = np.uint64(race.pick_base(rowkeys.race_seed(seed), t))
        assert race.draw(w, active, base, row0) == reference(w, active, seed, t, row0)


def test_shard_winners_give_the_pool_winner():
    """Any split of the rows: the smallest (key, row) of the shards' winners is the pool's."""
    rng = np.random.default_rng(2)
    N = 1000
    w = rng.exponential(size=N) * (rng.random(N) < 0.5)
    w[[10, 600]] = w[300]  # equal weights in different shards
    active = rng.random(N) < 0.9
    for t in range(30):
        base = np.uint64(race.pick_base(rowkeys.race_seed(11), t))
        whole = race.draw(w, active, base, 0)
        cuts = np.sort(rng.choice(np.arange(1, N), 4, replace=False))
        best = (np.inf, -1)
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, N]):
            key, row = race.race(w[lo:hi], active[lo:hi], base, lo, True)
            if row >= 0 and (key, lo + row) < best:
                best = (key, lo + row)
        assert best[1] == whole


def test_race_follows_the_weights():
    w = np.array([0.0, 1.0, 2.0, 0.0, 5.0, 0.5])
    active = np.ones(6, dtype=bool)
    trials = 6000
    seed_base = rowkeys.race_seed(4)
    counts = np.bincount([race.draw(w, active, np.uint64(race.pick_base(seed_base, t)), 0) for t in range(trials)],
                         minlength=6)
    assert counts[0] == counts[3] == 0
    keep = w > 0
    assert stats.chisquare(counts[keep], w[keep] / w.sum() * trials).pvalue > 1e-3
