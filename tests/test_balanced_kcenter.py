"""balanced_kcenter (Algorithm 2) against a brute-force NumPy implementation."""

import numpy as np
import pytest

from alselect.balance import balanced_kcenter

TIE_RTOL = 1e-12  # the documented tie rule


def reference(X, P, om, b, lam, labeled):
    """Algorithm 2, one full pass per pick: every distance and penalty recomputed."""
    X = np.asarray(X, dtype=np.float64)
    P = np.asarray(P, dtype=np.float64)
    centers = [int(c) for c in labeled]
    alive = np.ones(len(X), bool)
    alive[centers] = False
    r = om.astype(np.float64).copy()
    picks = []
    for _ in range(b):
        rows = np.flatnonzero(alive)
        pen = np.abs(r[None, :] - P[rows]).sum(axis=1)
        if centers:
            d2 = np.min([((X[rows] - X[c]) ** 2).sum(axis=1) for c in centers], axis=0)
            d = np.sqrt(d2)
        else:                       # d = +inf for all: the penalty alone decides
            d = np.zeros(rows.size)
        score = -d + lam * pen
        i = int(np.argmin(score))
        tol = TIE_RTOL * (1 + d[i] + lam * pen[i])
        win = int(rows[np.flatnonzero(score <= score[i] + tol)[0]])
        picks.append(win)
        alive[win] = False
        centers.append(win)
        r -= P[win]
    return np.array(picks)


def plain_kcenter(X, b, labeled):
    """Textbook k-center greedy (farthest first), lowest row on ties."""
    X = np.asarray(X, dtype=np.float64)
    d2 = np.full(len(X), np.inf)
    for c in labeled:
        d2 = np.minimum(d2, ((X - X[c]) ** 2).sum(axis=1))
    d2[labeled] = -1
    picks = []
    for _ in range(b):
        j = int(np.argmax(d2)) if np.isfinite(d2).any() and len(labeled) + len(picks) else \
            int(np.flatnonzero(d2 > -1)[0])
        picks.append(j)
        d2 = np.minimum(d2, ((X - X[j]) ** 2).sum(axis=1))
        d2[picks] = -1
        d2[labeled] = -1
    return np.array(picks)


def data(rng, N, D, C, dtype=np.float64, rounded=False):
    X = rng.standard_normal((N, D))
    if rounded:
        X = np.round(X)            # many exact ties and duplicates
    P = rng.dirichlet(np.ones(C), N)
    return X.astype(dtype), P, rng.uniform(0, 4, C)


@pytest.mark.parametrize("seed", range(24))
def test_identical_to_bruteforce(seed):
    rng = np.random.default_rng(seed)
    N, D, C = int(rng.integers(5, 70)), int(rng.integers(1, 7)), int(rng.integers(1, 6))
    X, P, om = data(rng, N, D, C, dtype=[np.float32, np.float64][seed % 2], rounded=seed % 3 == 0)
    L = int(rng.integers(0, min(6, N - 1)))
    lab = rng.choice(N, L, replace=False)
    b = int(rng.integers(1, N - L + 1))
    lam = [0.0, 0.05, 0.7, 5.0][seed % 4]
    got = balanced_kcenter(X, P, om, b, lam, labeled=lab)
    np.testing.assert_array_equal(got, reference(X, P, om, b, lam, lab))


@pytest.mark.parametrize("seed", range(4))
def test_many_labeled_screened_initial_pass(seed):
    # >= 64 labeled rows take the BLAS-screened exact initial pass
    rng = np.random.default_rng(200 + seed)
    X, P, om = data(rng, 300, 8, 3, dtype=[np.float32, np.float64][seed % 2], rounded=seed >= 2)
    X[150:160] = X[0:10]                      # duplicates of labeled rows: d = 0 exactly
    lab = np.arange(0, 100)
    got = balanced_kcenter(X, P, om, 30, [0.0, 0.5][seed % 2], labeled=lab)
    np.testing.assert_array_equal(got, reference(X, P, om, 30, [0.0, 0.5][seed % 2], lab))


@pytest.mark.parametrize("seed", range(4))
def test_lambda_zero_is_plain_kcenter(seed):
    rng = np.random.default_rng(50 + seed)
    X, P, om = data(rng, 80, 4, 3)
    lab = rng.choice(80, seed * 2, replace=False)
    got = balanced_kcenter(X, P, om, 20, 0.0, labeled=lab)
    np.testing.assert_array_equal(got, plain_kcenter(X, 20, list(lab)))


def test_scale_code_divides_lambda_by_C_and_float16_and_candidates():
    rng = np.random.default_rng(9)
    X, P, om = data(rng, 60, 3, 4)
    a = balanced_kcenter(X, P, om, 10, 8.0, labeled=[0, 1], scale="code")
    np.testing.assert_array_equal(a, balanced_kcenter(X, P, om, 10, 2.0, labeled=[0, 1]))
    X16 = X.astype(np.float16)
    np.testing.assert_array_equal(balanced_kcenter(X16, P, om, 10, 1.0),
                                  reference(X16.astype(np.float32), P, om, 10, 1.0, []))
    got = balanced_kcenter(X, P, om, 6, 0.0, first=17)
    assert got[0] == 17
    np.testing.assert_array_equal(got, np.r_[17, plain_kcenter(X, 5, [17])])
    with pytest.raises(ValueError, match="first=99 is not a candidate row"):
        balanced_kcenter(X, P, om, 6, 0.0, first=99)
    cand = np.arange(10, 60)
    got = balanced_kcenter(X, P, om, 5, 1.0, labeled=[0, 1], candidates=cand)
    assert set(got) <= set(cand)


def test_one_hot_probabilities_and_balance_effect():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 2))
    y = (X[:, 0] > 1.0).astype(int)                  # class 1 is rare
    P = np.eye(2)[y]
    om = np.array([10.0, 10.0])
    plain = balanced_kcenter(X, P, om, 20, 0.0, labeled=[0])
    bal = balanced_kcenter(X, P, om, 20, 50.0, labeled=[0])
    np.testing.assert_array_equal(bal, reference(X, P, om, 20, 50.0, [0]))
    assert abs(np.bincount(y[bal], minlength=2)[1] - 10) <= abs(np.bincount(y[plain], minlength=2)[1] - 10)


@pytest.mark.parametrize("kwargs, match", [
    (dict(budget=9), r"budget 9 exceeds the 8 candidate rows"),
    (dict(budget=-1), "budget must be >= 1"),
    (dict(lam=np.nan), "lam must be finite"),
    (dict(scale="gurobi"), "scale must be one of"),
    (dict(X=np.full((10, 2), np.nan)), "X has a NaN or inf in row 0"),
    (dict(X=np.zeros(10)), r"X must be 2-D"),
    (dict(labeled=[12]), "'labeled' holds row 12, outside the rows 0..9"),
    (dict(P=np.ones((10, 3))), "rows must sum to 1"),
])
def test_errors(kwargs, match):
    a = dict(X=np.zeros((10, 2)), P=np.full((10, 3), 1 / 3), omega=np.ones(3), budget=2, lam=1.0,
             labeled=[0, 1])
    a.update(kwargs)
    X, P, om, b, lam = a.pop("X"), a.pop("P"), a.pop("omega"), a.pop("budget"), a.pop("lam")
    with pytest.raises(ValueError, match=match):
        balanced_kcenter(X, P, om, b, lam, **a)


@pytest.mark.parametrize("labeled", [None, [1, 4]])
def test_progress_sums_to_budget_and_keeps_picks(labeled):
    rng = np.random.default_rng(21)
    X, P, om = data(rng, 120, 4, 3)
    got = []
    with_p = balanced_kcenter(X, P, om, 35, 0.5, labeled=labeled, progress=got.append)
    np.testing.assert_array_equal(with_p, balanced_kcenter(X, P, om, 35, 0.5, labeled=labeled))
    assert sum(got) == 35 and all(n > 0 for n in got)
