"""--subset M: a seeded random subset of M unlabeled candidates, before any strategy runs."""

import numpy as np
import pytest

from alselect import select
from alselect.errors import SelectionError
from alselect.selection import _subset_candidates
from clihelp import run


@pytest.fixture
def pool(full_pool):
    return full_pool  # 60 rows, 5 labeled (rows 0-2 by labels, 5-6 listed)


def _subset(pool_path, m, seed):
    from alselect.pool import open_pool

    with open_pool(pool_path) as p:
        cand = np.ones(p.n_rows, dtype=bool)
        cand[p.labeled_rows()] = False
    return set(np.flatnonzero(_subset_candidates(cand, m, seed)).tolist()), set(np.flatnonzero(cand).tolist())


@pytest.mark.parametrize("strategy", ["random", "entropy", "margin", "bald", "dispersion", "kcenter", "kmeanspp",
                                      "badge", "uwe", "cdal-cs"])
def test_picks_stay_inside_the_seeded_subset(pool, strategy):
    subset, unlabeled = _subset(pool, 12, 4)
    assert len(subset) == 12 and subset <= unlabeled
    got = select(pool, strategy, 12, seed=4, subset=12)
    assert set(got.indices.tolist()) == subset  # budget M: the whole subset, nothing else
    small = select(pool, strategy, 5, seed=4, subset=12)
    assert set(small.indices.tolist()) <= subset


def test_subset_is_seeded_and_shared_by_strategies(pool):
    a = _subset(pool, 10, 1)[0]
    assert a == _subset(pool, 10, 1)[0] and a != _subset(pool, 10, 2)[0]
    assert set(select(pool, "entropy", 10, seed=1, subset=10).indices) == set(select(pool, "random", 10, seed=1,
                                                                                    subset=10).indices) == a


def test_subset_larger_than_pool_is_the_whole_pool(pool):
    np.testing.assert_array_equal(select(pool, "entropy", 7, seed=0, subset=10_000).indices,
                                  select(pool, "entropy", 7, seed=0).indices)


def test_budget_above_subset_and_bad_subset(pool):
    with pytest.raises(SelectionError, match="exceeds --subset 5"):
        select(pool, "entropy", 6, seed=0, subset=5)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(SelectionError, match="subset must be a positive integer"):
            select(pool, "entropy", 1, seed=0, subset=bad)


def test_subset_without_seed_draws_and_reports_one(pool):
    got = select(pool, "entropy", 3, subset=8)
    assert got.seed is not None and any("used seed" in n for n in got.notes)
    np.testing.assert_array_equal(select(pool, "entropy", 3, subset=8, seed=got.seed).indices, got.indices)


def test_cli_subset(pool):
    r = run("pick", pool, "-s", "entropy", "-b", 4, "--subset", 9, "--seed", 3)
    assert r.exit_code == 0
    rows = [int(x) for x in r.stdout.split()]
    assert len(rows) == 4 and set(rows) <= _subset(pool, 9, 3)[0]
