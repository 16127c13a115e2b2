"""Certified balanced solver across lambda, degenerate programs, the knee rule and lam=auto."""

import itertools
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import alselect
from alselect.balance import omega, program_objective, solve_balanced
from alselect.balance_sweep import DEFAULT_GRID, knee, parse_grid, sweep_balanced, sweep_table
from alselect.errors import InvalidInputError
from alselect.milp_balanced import _sigint_flag

LAMS = [0.0, 1e-4, 0.3, 1.0, 3.0, 30.0, 1e3]


def brute_force(u, P, om, b, lam):
    best, best_set = np.inf, None
    for sub in itertools.combinations(range(u.size), b):
        s = list(sub)
        val = -u[s].sum() + lam * np.abs(om - P[s].sum(axis=0)).sum()
        if val < best:
            best, best_set = val, s
    return best, best_set


def trained_like(rng, N, C):
    """Softmax of peaked logits: mostly near one-hot rows with long tails."""
    logits = rng.standard_normal((N, C)) * 1.5
    logits[np.arange(N), rng.integers(0, C, N)] += rng.gamma(2.0, 2.0, N)
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    return P / P.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("lam", LAMS)
@pytest.mark.parametrize("kind", ["dirichlet", "trained", "one-hot"])
def test_exact_against_brute_force_across_lambda(lam, kind):
    rng = np.random.default_rng(int(lam * 1000) % 97 + len(kind))
    N, C, b = 12, 3, 4
    if kind == "dirichlet":
        P = rng.dirichlet(np.full(C, 0.5), N)
    elif kind == "trained":
        P = trained_like(rng, N, C)
    else:
        P = np.eye(C)[rng.integers(0, C, N)]
    u = rng.uniform(0, 1, N)
    om = np.array([2.0, 1.5, 0.5])   # sum = b: the tight case
    res = solve_balanced(u, P, om, b, lam, gap_tol=0.0)
    opt, _ = brute_force(u, P, om, b, lam)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(opt, abs=1e-7)
    assert res.lower_bound <= opt + 1e-7
    assert res.objective == pytest.approx(-res.informativeness_term + lam * res.l1_term, abs=1e-9)



@pytest.mark.parametrize("lam", [1.0, 10.0, 100.0])
@pytest.mark.parametrize("kind", ["trained", "dirichlet", "one-hot"])
@pytest.mark.parametrize("integral", [True, False])
def test_tight_quota_against_brute_force(lam, kind, integral):
    """sum(Omega) = b (a first cycle below every class's share): the subset-sum regime."""
    rng = np.random.default_rng(int(lam) + 7 * len(kind) + 3 * integral)
    N, C, b = 16, 5, 6
    if kind == "dirichlet":
        P = rng.dirichlet(np.full(C, 0.3), N)
    elif kind == "trained":
        P = trained_like(rng, N, C)
    else:
        P = np.eye(C)[rng.integers(0, C, N)]
    u = rng.uniform(0, 1, N)
    om = np.array([2.0, 1.0, 0.0, 2.0, 1.0]) if integral else np.array([1.7, 1.1, 0.4, 2.3, 0.5])
    assert om.sum() == pytest.approx(b)
    res = solve_balanced(u, P, om, b, lam, gap_tol=0.0, time_limit=None)
    opt, _ = brute_force(u, P, om, b, lam)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(opt, abs=1e-7)
    assert res.lower_bound <= opt + 1e-7


@pytest.mark.parametrize("lam", [1.0, 10.0, 100.0])
def test_tight_quota_against_cvxpy_highs(lam):
    """Beyond enumeration: HiGHS on the whole program, solved to optimality."""
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(int(lam) + 40)
    N, C, b = 28, 4, 6      # already at N = 40, lam = 100 either solver needs 15-30 s
    P = trained_like(rng, N, C)
    u = -(P * np.log(P)).sum(axis=1)
    om = np.array([2.0, 2.0, 1.0, 1.0])
    res = solve_balanced(u, P, om, b, lam, gap_tol=0.0, time_limit=None)
    z = cp.Variable(N, boolean=True)
    prob = cp.Problem(cp.Minimize(-u @ z + lam * cp.norm1(om - P.T @ z)), [cp.sum(z) == b])
    prob.solve(solver=cp.HIGHS, mip_rel_gap=0.0, mip_abs_gap=1e-10)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(prob.value, abs=1e-6 * max(1.0, abs(prob.value)))
    assert res.lower_bound <= prob.value + 1e-6

@pytest.mark.parametrize("lam", [0.0, 1e-3, 0.7, 2.0, 100.0])
def test_matches_cvxpy_highs_on_trained_probabilities(lam):
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(5)
    N, C, b = 120, 5, 15
    P = trained_like(rng, N, C)
    u = -(P * np.log(P)).sum(axis=1)
    om = np.array([6.0, 5.0, 4.0, 3.0, 0.0])   # slack (sum 18 > b) and an already-full class
    res = solve_balanced(u, P, om, b, lam, gap_tol=1e-6, time_limit=None)
    z = cp.Variable(N, boolean=True)
    prob = cp.Problem(cp.Minimize(-u @ z + lam * cp.norm1(om - P.T @ z)), [cp.sum(z) == b])
    prob.solve(solver=cp.HIGHS, mip_rel_gap=0.0, mip_abs_gap=1e-9)
    assert res.status == "optimal"
    assert res.lower_bound <= prob.value + 1e-6
    assert res.objective <= prob.value + 1e-6 * max(1, abs(prob.value)) + 1e-9


def test_one_hot_rows_are_solved_by_quotas_exactly():
    rng = np.random.default_rng(8)
    N, C, b = 14, 4, 6
    P = np.eye(C)[rng.integers(0, C, N)]
    u = rng.uniform(0, 1, N)
    om = np.array([2.5, 0.0, 1.2, 3.0])
    for lam in (0.05, 0.4, 5.0):
        res = solve_balanced(u, P, om, b, lam, gap_tol=0.0)
        assert res.info["method"] == "one-hot quotas"
        assert res.objective == pytest.approx(brute_force(u, P, om, b, lam)[0], abs=1e-12)


def test_omega_already_satisfied_gives_top_b():
    rng = np.random.default_rng(9)
    P = trained_like(rng, 300, 6)
    u = rng.uniform(0, 1, 300)
    res = solve_balanced(u, P, np.zeros(6), 20, 5.0)
    # with Omega = 0 the L1 term is sum_j z_j * sum_i p_ji, the same for every selection up to row sums
    top = np.argsort(-(u + 0 * P.sum(1)))[:20]
    assert res.status == "optimal"
    assert res.objective <= program_objective(u, P, np.zeros(6), 5.0, top) + 1e-9


def test_omega_unreachable_within_budget_fills_only_needed_classes():
    rng = np.random.default_rng(10)
    N, C, b = 200, 4, 10
    P = np.eye(C)[rng.integers(0, C, N)]
    u = rng.uniform(0, 1, N)
    om = np.array([20.0, 20.0, 0.0, 0.0])           # needs 40, budget 10
    res = solve_balanced(u, P, om, b, 50.0)
    counts = P[res.picks].sum(axis=0)
    assert counts[2] == 0 and counts[3] == 0
    assert res.l1_term == pytest.approx(om.sum() - b)
    # without one-hot rows: the same program, trained-like probabilities, certified
    P2 = trained_like(rng, N, C)
    res2 = solve_balanced(u, P2, om, b, 50.0)
    assert res2.status == "optimal" and res2.gap <= 1e-4


def test_large_pool_all_lambdas_within_default_limit_are_honest():
    rng = np.random.default_rng(11)
    N, C, b = 3000, 10, 60
    P = trained_like(rng, N, C)
    u = -(P * np.log(P)).sum(axis=1)
    om = omega(rng.integers(0, C, 300), C, b, b0=300, cycle=1)
    for lam in (0.1, 3.0, 100.0):
        res = solve_balanced(u, P, om, b, lam, time_limit=3.0)
        assert res.status in ("optimal", "time_limit")
        assert res.lower_bound <= res.objective
        assert res.objective == pytest.approx(program_objective(u, P, om, lam, res.picks), abs=1e-9)
        assert res.gap == pytest.approx((res.objective - res.lower_bound) / max(abs(res.objective), 1))


def test_warm_start_is_used_and_harmless():
    rng = np.random.default_rng(12)
    P = trained_like(rng, 500, 5)
    u = -(P * np.log(P)).sum(axis=1)
    om = np.array([10.0, 8, 6, 4, 2])
    cold = solve_balanced(u, P, om, 30, 2.0, gap_tol=0.0, time_limit=None)
    warm = solve_balanced(u, P, om, 30, 2.0, gap_tol=0.0, time_limit=None, initial=cold.picks[::-1])
    assert warm.objective == pytest.approx(cold.objective, abs=1e-9)
    with pytest.raises(InvalidInputError, match="initial must be a 1-D array"):
        solve_balanced(u, P, om, 30, 2.0, initial=np.ones((2, 2), dtype=int))


# ---------------------------------------------------------------- knee rule
def test_knee_on_synthetic_curves():
    lams = np.array([0, 0.1, 0.3, 1, 3, 10, 30])
    # fall of 100 to a floor of 10: the first point within 5% of the fall (<= 14.5) is lam=3
    assert knee(lams, [110, 80, 40, 20, 14, 12, 10]) == 4
    assert knee(lams, [5, 5, 5, 5, 5, 5, 5]) == 0                        # flat: no balancing needed
    assert knee(lams, [50, 50, 50, 10, 10, 10, 10]) == 3                 # step
    assert knee(lams, [50, 30, 10.4, 11, 10, 10.5, 10]) == 2            # noise above the floor
    geometric = 10 + 100 * 0.5 ** np.arange(7)
    floor = geometric.min()   # 11.5625: the floor is the curve's minimum, not its asymptote
    assert knee(lams, geometric) == int(np.flatnonzero(geometric - floor <= 0.05 * (geometric[0] - floor))[0]) == 4
    with pytest.raises(InvalidInputError, match="increasing order"):
        knee([1, 0], [1, 2])


def test_parse_grid():
    assert parse_grid("") == DEFAULT_GRID and len(DEFAULT_GRID) == 20
    assert parse_grid("3, 0,1") == (0.0, 1.0, 3.0)
    for bad in ("1", "a,b", "-1,2", "nan,1"):
        with pytest.raises(InvalidInputError, match="lam_grid"):
            parse_grid(bad)


def test_sweep_l1_falls_and_table_marks_the_knee():
    rng = np.random.default_rng(13)
    P = trained_like(rng, 2000, 8)
    u = -(P * np.log(P)).sum(axis=1)
    om = omega(rng.integers(0, 8, 200), 8, 60, b0=200, cycle=1)
    pts = sweep_balanced(u, P, om, 60, "0,0.1,0.3,1,3,10")
    l1 = np.array([p.l1_term for p in pts])
    assert l1[0] > l1[-1]
    k = knee([p.lam for p in pts], l1)
    lines = sweep_table(pts, k)
    assert len(lines) == 7 and "<- knee" in lines[k + 1]


# ---------------------------------------------------------------- Ctrl-C
def test_sigint_during_native_work_becomes_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt):
        with _sigint_flag() as flag:
            os.kill(os.getpid(), signal.SIGINT)
            assert flag["hit"]


# ---------------------------------------------------------------- strategies / CLI
@pytest.fixture
def pool(make_pool):
    rng = np.random.default_rng(14)
    N, C = 400, 4
    P = trained_like(rng, N, C).astype(np.float32)
    labels = np.full(N, -1)
    labeled = np.arange(40)
    labels[labeled] = rng.integers(0, C, 40)
    X = (rng.standard_normal((N, 8)) + 3 * np.eye(C, 8)[P.argmax(1)]).astype(np.float32)
    return make_pool(probs=P, embeddings=X, labels=labels, labeled=labeled)


def test_lam_auto_selects_and_records_the_knee(pool):
    sel = alselect.select(pool, "balanced", 20, lam="auto", lam_grid="0,0.3,1,3,10")
    text = "\n".join(sel.notes)
    assert "lam=auto chose lam=" in text and "<- knee" in text
    assert "informativeness term" in text and "L1 term" in text and "balance score" in text
    chosen = float(text.split("lam=auto chose lam=")[1].split()[0])
    again = alselect.select(pool, "balanced", 20, lam=chosen)
    assert set(again.indices) == set(sel.indices) or "optimal" in " ".join(again.notes)


def test_lam_auto_for_balanced_kcenter(pool):
    sel = alselect.select(pool, "balanced-kcenter", 15, lam="auto", lam_grid="0,1,10")
    text = "\n".join(sel.notes)
    assert "lam=auto chose lam=" in text and "<- knee" in text
    chosen = float(text.split("lam=auto chose lam=")[1].split()[0])
    again = alselect.select(pool, "balanced-kcenter", 15, lam=chosen)
    np.testing.assert_array_equal(again.indices, sel.indices)


def test_bad_lam_is_a_clean_error(pool):
    with pytest.raises(InvalidInputError, match="lam"):
        alselect.select(pool, "balanced", 5, lam="-2")
    with pytest.raises(InvalidInputError, match="lam_grid"):
        alselect.select(pool, "balanced", 5, lam="auto", lam_grid="x")


def test_console_script_lam_auto_keeps_stdout_clean(pool):
    proc = subprocess.run([sys.executable, "-m", "alselect", "pick", str(pool), "-s", "balanced", "-b", "10",
                           "-p", "lam=auto", "-p", "lam_grid=0,1,3"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.split()
    assert len(rows) == 10 and all(r.isdigit() for r in rows)
    assert "HiGHS" not in proc.stdout
    assert "lam=auto chose lam=" in proc.stderr and "L1 term" in proc.stderr
    bad = subprocess.run([sys.executable, "-m", "alselect", "pick", str(pool), "-s", "balanced", "-b", "10",
                          "-p", "lam=abc"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip().count("\n") == 0 and bad.stderr.startswith("Error: ")
