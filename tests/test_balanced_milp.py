"""solve_balanced (Eq. 4.8/4.9) against independent exact solves."""

import itertools

import numpy as np
import pytest

from alselect.balance import informativeness, program_objective, solve_balanced


def brute_force(u, P, om, b, lam, rows):
    """Minimum of -sum u + lam*||om - P^T z||_1 over all b-subsets of rows."""
    best = np.inf
    for sub in itertools.combinations(rows, b):
        sub = list(sub)
        val = -u[sub].sum() + lam * np.abs(om - P[sub].sum(axis=0)).sum()
        best = min(best, val)
    return best


def cvxpy_full(u, P, om, b, lam):
    """The whole program handed to cvxpy + HiGHS, solved to optimality."""
    import cvxpy as cp

    z = cp.Variable(u.size, boolean=True)
    prob = cp.Problem(cp.Minimize(-u @ z + lam * cp.norm1(om - P.T @ z)), [cp.sum(z) == b])
    prob.solve(solver=cp.HIGHS, mip_rel_gap=0.0, mip_abs_gap=1e-9)
    return prob.value


def make(rng, N, C, one_hot=False):
    P = rng.dirichlet(np.full(C, 0.5), size=N)
    if one_hot:
        P = np.eye(C)[rng.integers(0, C, N)]
    u = informativeness("entropy", probs=P) if not one_hot else rng.uniform(0, 1, N)
    om = rng.uniform(0, 3, C)
    return u, P, om


@pytest.mark.parametrize("seed", range(8))
def test_matches_brute_force_small(seed):
    rng = np.random.default_rng(seed)
    N, C = int(rng.integers(6, 15)), int(rng.integers(2, 5))
    u, P, om = make(rng, N, C, one_hot=(seed % 4 == 3))
    b = int(rng.integers(1, N))
    lam = [0.3, 1.0, 3.0, 10.0][seed % 4]
    res = solve_balanced(u, P, om, b, lam, gap_tol=0.0)
    opt = brute_force(u, P, om, b, lam, range(N))
    assert res.picks.size == b and np.unique(res.picks).size == b
    assert res.objective == pytest.approx(opt, abs=1e-7)
    assert res.objective == pytest.approx(program_objective(u, P, om, lam, res.picks), abs=1e-12)
    assert res.lower_bound <= opt + 1e-7
    assert res.status == "optimal"


@pytest.mark.parametrize("seed", range(3))
def test_matches_cvxpy_highs_full_program(seed):
    rng = np.random.default_rng(100 + seed)
    N, C, b = 200, 6, 25
    u, P, om = make(rng, N, C)
    lam = [0.5, 2.0, 5.0][seed]
    res = solve_balanced(u, P, om, b, lam, gap_tol=0.0)
    opt = cvxpy_full(u, P, om, b, lam)
    assert res.objective == pytest.approx(opt, abs=1e-6)
    assert res.lower_bound <= opt + 1e-6
    assert res.gap <= 1e-9


def test_certified_gap_is_honest_at_default_tolerance():
    rng = np.random.default_rng(7)
    N, C, b = 400, 8, 40
    u, P, om = make(rng, N, C)
    res = solve_balanced(u, P, om, b, 1.5)
    opt = cvxpy_full(u, P, om, b, 1.5)
    assert res.lower_bound <= opt + 1e-6 <= res.objective + 2e-6
    assert res.gap == pytest.approx((res.objective - res.lower_bound) / max(abs(res.objective), 1))
    assert res.gap <= 1e-4 and res.status == "optimal"


def test_lambda_zero_is_top_b_and_picks_ordered():
    rng = np.random.default_rng(1)
    u, P, om = make(rng, 50, 4)
    u[[3, 9]] = 5.0                                      # tie: lowest row first
    res = solve_balanced(u, P, om, 10, 0.0)
    expected = np.lexsort((np.arange(50), -u))[:10]
    np.testing.assert_array_equal(res.picks, expected)
    assert res.picks[0] == 3 and res.picks[1] == 9


def test_candidates_restrict_the_choice():
    rng = np.random.default_rng(2)
    N, C = 12, 3
    u, P, om = make(rng, N, C)
    rows = np.array([1, 4, 5, 7, 8, 11])
    res = solve_balanced(u, P, om, 3, 1.0, candidates=rows, gap_tol=0.0)
    assert set(res.picks) <= set(rows)
    assert res.objective == pytest.approx(brute_force(u, P, om, 3, 1.0, rows), abs=1e-7)
    mask = np.zeros(N, bool)
    mask[rows] = True
    res2 = solve_balanced(u, P, om, 3, 1.0, candidates=mask, gap_tol=0.0)
    assert res2.objective == pytest.approx(res.objective, abs=1e-9)


def test_omega_far_above_budget_many_lp_rounds():
    # regression: the best dual may come from an earlier column-generation round
    rng = np.random.default_rng(11)
    N, C = 14, 6
    u, P, om = make(rng, N, C)
    om = om * 10
    res = solve_balanced(u, P, om, 5, 1.0, gap_tol=0.0)
    assert res.objective == pytest.approx(brute_force(u, P, om, 5, 1.0, range(N)), abs=1e-7)


def test_budget_equal_to_candidates_takes_all():
    rng = np.random.default_rng(3)
    u, P, om = make(rng, 8, 3)
    res = solve_balanced(u, P, om, 8, 1.0)
    assert sorted(res.picks) == list(range(8)) and res.status == "optimal"


def test_time_limit_returns_a_feasible_selection():
    rng = np.random.default_rng(4)
    u, P, om = make(rng, 3000, 20)
    res = solve_balanced(u, P, om, 300, 3.0, gap_tol=0.0, time_limit=0.5)
    assert res.picks.size == 300 and np.unique(res.picks).size == 300
    assert res.status in ("optimal", "time_limit", "feasible")
    assert res.lower_bound <= res.objective
    assert res.objective == pytest.approx(program_objective(u, P, om, 3.0, res.picks), abs=1e-9)


@pytest.mark.parametrize("args, kwargs, match", [
    (dict(budget=20), {}, r"budget 20 exceeds the 10 candidate rows"),
    (dict(budget=0), {}, "budget must be >= 1"),
    (dict(lam=-1.0), {}, "lam must be finite and >= 0"),
    (dict(u=np.r_[np.nan, np.zeros(9)]), {}, "u has a NaN or inf at row 0"),
    (dict(P=np.full((10, 3), 0.5)), {}, "rows must sum to 1"),
    (dict(P=np.full((9, 3), 1 / 3)), {}, "P has 9 rows but 10 were expected"),
    (dict(om=np.ones(4)), {}, r"omega must have shape \(3,\)"),
    (dict(om=-np.ones(3)), {}, "omega must be finite and >= 0"),
    (dict(), dict(gap_tol=-1), "gap_tol must be >= 0"),
    (dict(), dict(time_limit=0), "time_limit must be > 0"),
    (dict(), dict(candidates=[0, 0, 1]), "'candidates' lists row 0 more than once"),
    (dict(), dict(candidates=[0, 10]), "'candidates' holds row 10, outside the rows 0..9"),
])
def test_errors(args, kwargs, match):
    a = dict(u=np.zeros(10), P=np.full((10, 3), 1 / 3), om=np.ones(3), budget=2, lam=1.0)
    a.update(args)
    with pytest.raises(ValueError, match=match):
        solve_balanced(a["u"], a["P"], a["om"], a["budget"], a["lam"], **kwargs)
