"""K-Center-Greedy against a plain NumPy reference (running min vector, one
full pass per pick) computing the canonical float64 distance d64: a
left-to-right sum over dimensions of (s_i x_ik - s_c x_ck)^2."""

import numpy as np
import pytest

from alselect.diversity import kcenter_greedy, kcenter_greedy_ip


def d64_to(X64, s, c):
    """Canonical distance of every row to row c: sequential sum over k."""
    acc = np.zeros(X64.shape[0])
    for k in range(X64.shape[1]):
        v = s * X64[:, k] - s[c] * X64[c, k]
        acc += v * v
    return acc


def reference(X, budget, labeled=(), candidates=None, weights=None, first=None):
    X64 = np.asarray(X, dtype=np.float64)
    N = X64.shape[0]
    s = np.ones(N) if weights is None else np.asarray(weights, dtype=np.float64)
    mind = np.full(N, np.inf)
    pickable = np.ones(N, dtype=bool)
    pickable[list(labeled)] = False
    if candidates is not None:
        cm = np.zeros(N, dtype=bool)
        cm[candidates] = True
        pickable &= cm
    for c in labeled:
        np.minimum(mind, d64_to(X64, s, c), out=mind)
    picks, dists = [], []
    if len(labeled) == 0:
        if first is None:
            nrm = np.zeros(N)
            for k in range(X64.shape[1]):
                nrm += (s * X64[:, k]) ** 2
            first = int(np.argmax(np.where(pickable, nrm, -np.inf)))
        picks.append(first)
        dists.append(np.inf)
        pickable[first] = False
        np.minimum(mind, d64_to(X64, s, first), out=mind)
    while len(picks) < budget:
        v = np.where(pickable, mind, -np.inf)
        w = int(np.argmax(v))  # first maximum: lowest row on ties
        picks.append(w)
        dists.append(np.sqrt(max(v[w], 0.0)))
        pickable[w] = False
        np.minimum(mind, d64_to(X64, s, w), out=mind)
    return np.array(picks), np.array(dists)


def check(X, budget, **kw):
    p, d = kcenter_greedy(X, budget, **kw)
    ref_kw = {k: v for k, v in kw.items() if k in ("candidates", "weights")}
    lab = kw.get("labeled")
    rp, rd = reference(X, budget, labeled=() if lab is None else list(lab), **ref_kw)
    np.testing.assert_array_equal(p, rp)
    np.testing.assert_allclose(d, rd, rtol=1e-6, atol=1e-6)
    return p, d


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("nlab", [0, 7])
def test_matches_reference(dtype, nlab):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 12)).astype(dtype)
    lab = rng.choice(400, nlab, replace=False)
    check(X, 60, labeled=lab)


def test_clustered_nonnegative_many_blocks():
    # more rows than one GEMM block, more labeled than one center block
    rng = np.random.default_rng(1)
    z = rng.normal(size=(20, 4))[rng.integers(0, 20, 5000)] + 0.1 * rng.normal(size=(5000, 4))
    X = np.maximum(z @ rng.normal(size=(4, 40)), 0).astype(np.float32)
    lab = rng.choice(5000, 1100, replace=False)
    check(X, 300, labeled=lab)


def test_duplicates_zero_rows_and_budget_equal_to_unlabeled():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 5)).astype(np.float32)
    X[10:20] = X[3]          # duplicates of row 3
    X[30:35] = 0.0           # all-zero rows
    lab = [0, 1, 2]
    p, d = check(X, 57, labeled=lab)
    assert sorted(p) == sorted(set(range(60)) - set(lab))
    assert d[-1] == 0.0      # only duplicates are left at the end


def test_all_rows_identical():
    X = np.ones((20, 3), dtype=np.float32)
    p, d = check(X, 20)
    np.testing.assert_array_equal(p, np.arange(20))  # ties: lowest row


def test_everything_but_one_labeled():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 6))
    lab = np.delete(np.arange(50), 17)
    p, d = check(X, 1, labeled=lab)
    assert p.tolist() == [17]


def test_exact_near_tie_is_resolved_on_float64_distances():
    # Rows 1, 2, 3 lie at distance^2 1, 1 + 2e-12 + 1e-24 and 1 - 2e-12 + 1e-24
    # from the center; with norms ~3e4 the GEMM-form screening cannot tell them
    # apart, the rule decides on d64 (row 2), then row 3 beats row 1 (which is
    # now 1e-12 from row 2).
    X = np.zeros((4, 3))
    X[1, 0] = 1.0
    X[2, 0] = 1.0 + 1e-12
    X[3, 1] = 1.0 - 1e-12
    X = X + 100.0
    p, d = check(X, 3, labeled=[0])
    assert p.tolist() == [2, 3, 1]


def test_float32_near_tie_below_screening_precision():
    # squared distances 25 (row 1) and 25 + 2**-20 (row 2) from row 0, all
    # coordinates exact in float32 but offset by 1000 so float32 GEMM values
    # carry errors ~1e-1; the exact rule still picks row 2.
    X = np.array([[0, 0], [3, 4], [5, 2.0 ** -10], [4, 3]], dtype=np.float32) + 1000
    p, d = check(X, 3, labeled=[0])
    assert p.tolist() == [2, 1, 3]
    assert d[0] == np.sqrt(25 + 2.0 ** -20)


def test_exact_tie_goes_to_lowest_row():
    X = np.array([[0.0, 0.0], [3.0, 4.0], [4.0, 3.0], [0.0, 5.0], [-5.0, 0.0]])
    p, d = check(X, 2, labeled=[0])
    assert p[0] == 1
    assert d[0] == 5.0


def test_first_pick_max_norm_and_random():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(100, 4))
    p, d = kcenter_greedy(X, 5)
    assert p[0] == np.argmax((X ** 2).sum(1)) and np.isinf(d[0])
    a, _ = kcenter_greedy(X, 5, init="random", seed=7)
    b, _ = kcenter_greedy(X, 5, init="random", seed=7)
    np.testing.assert_array_equal(a, b)
    rp, _ = reference(X, 5, first=int(a[0]))
    np.testing.assert_array_equal(a, rp)


def test_candidates_restrict_picks():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    cand = np.arange(0, 200, 3)
    p, _ = check(X, 30, labeled=[1, 2, 4], candidates=cand)
    assert set(p) <= set(cand)


def test_weights_equal_scaled_copy():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    w = rng.random(300)
    w[:10] = 0.0
    check(X, 40, labeled=[5, 6], weights=w)


def test_ip_engine_matches_euclidean_and_generic_reference():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(250, 9))
    n = (X ** 2).sum(1)
    p_ip, d_ip = kcenter_greedy_ip(X, X, n, 25, labeled=[3])
    p_e, d_e = kcenter_greedy(X, 25, labeled=[3])
    np.testing.assert_array_equal(p_ip, p_e)
    np.testing.assert_allclose(np.sqrt(d_ip), d_e, rtol=1e-9)
    # a non-metric symmetric form: A = [x, 1], B = [x, -1]-like blocks
    A = np.hstack([X, np.ones((250, 1))])
    B = np.hstack([X, np.ones((250, 1))])
    n2 = rng.random(250)
    D = n2[:, None] + n2[None, :] - 2 * A @ B.T
    p, d = kcenter_greedy_ip(A, B, n2, 20, labeled=[0, 1])
    mind = D[:, [0, 1]].min(1)
    pick = np.ones(250, bool)
    pick[[0, 1]] = False
    rp = []
    for _ in range(20):
        w = int(np.argmax(np.where(pick, mind, -np.inf)))
        rp.append(w)
        pick[w] = False
        mind = np.minimum(mind, D[:, w])
    np.testing.assert_array_equal(p, rp)


def test_budget_zero_and_errors():
    X = np.zeros((5, 2))
    p, d = kcenter_greedy(X, 0)
    assert p.size == 0 and d.size == 0
    with pytest.raises(ValueError, match="budget 6 exceeds the 5"):
        kcenter_greedy(X, 6)
    with pytest.raises(ValueError, match="budget 5 exceeds the 4"):
        kcenter_greedy(X, 5, labeled=[0])
    with pytest.raises(ValueError, match="'X' has a NaN or infinite value in row 1"):
        kcenter_greedy(np.array([[0.0, 1.0], [np.nan, 0.0]]), 1)
    with pytest.raises(ValueError, match="2-D array"):
        kcenter_greedy(np.zeros(5), 1)
    with pytest.raises(ValueError, match="float16, float32 or float64"):
        kcenter_greedy(np.zeros((5, 2), dtype=np.int64), 1)
    with pytest.raises(ValueError, match="init='far'"):
        kcenter_greedy(X, 1, init="far")
    with pytest.raises(ValueError, match="outside"):
        kcenter_greedy(X, 1, labeled=[7])
    with pytest.raises(ValueError, match="seed is required"):
        kcenter_greedy(X, 1, init="random")


def test_float32_screened_refresh_with_large_offset():
    # Coordinates offset by 300 make the float32 screening bound (~1e-1) larger
    # than many gaps between centers, so the screened refreshes (BLAS products
    # in float32 over >= 16 new centers) must re-evaluate a window of centers
    # in float64; picks must still follow the exact float64 sequence.
    rng = np.random.default_rng(8)
    z = rng.normal(size=(12, 3))[rng.integers(0, 12, 1500)] + 0.3 * rng.normal(size=(1500, 3))
    X = (np.maximum(z @ rng.normal(size=(3, 24)), 0) + 300.0).astype(np.float32)
    check(X, 120, labeled=[0, 1])
    check(X, 120)


@pytest.mark.parametrize("budget", [1, 7, 250])
def test_progress_sums_to_budget_and_keeps_picks(budget):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(400, 5)).astype(np.float32)
    got = []
    with_p = kcenter_greedy(X, budget, progress=got.append)
    without = kcenter_greedy(X, budget)
    np.testing.assert_array_equal(with_p[0], without[0])
    np.testing.assert_array_equal(with_p[1], without[1])
    assert sum(got) == budget and all(n > 0 for n in got)
    assert len(got) <= 101  # about every 1% of the budget, not every pick
    got = []
    n = (X.astype(np.float64) ** 2).sum(1)
    ip = kcenter_greedy_ip(X, X, n, budget, labeled=[0, 5], progress=got.append)
    np.testing.assert_array_equal(ip[0], kcenter_greedy_ip(X, X, n, budget, labeled=[0, 5])[0])
    assert sum(got) == budget


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_helpers_match_numpy(dtype):
    from alselect.kernels.blas import gemm_abt_entry, gemv_ax_entry

    rng = np.random.default_rng(5)
    X = rng.normal(size=(37, 19)).astype(dtype)
    Y = rng.normal(size=(53, 19)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(gemm_abt_entry(X, Y), X @ Y.T, rtol=tol, atol=tol)
    # leading-axis slices (rows K apart) are what the engine passes
    np.testing.assert_allclose(gemm_abt_entry(X[3:9], Y[10:41]), X[3:9] @ Y[10:41].T,
                               rtol=tol, atol=tol)
    np.testing.assert_allclose(gemv_ax_entry(Y[7:30], X[4]), Y[7:30] @ X[4], rtol=tol, atol=tol)
    assert gemm_abt_entry(X[:0], Y).shape == (0, 53)
    assert np.all(gemm_abt_entry(X[:, :0].copy(), Y[:, :0].copy()) == 0.0)
    assert np.all(gemv_ax_entry(Y[:, :0].copy(), X[0, :0].copy()) == 0.0)


def test_initial_pass_independent_of_thread_count(monkeypatch):
    import numba

    from alselect import diversity
    from alselect.kernels import kcenter as kc

    rng = np.random.default_rng(8)
    X = rng.normal(size=(2 * kc.ROW_BLOCK + 77, 6)).astype(np.float32)
    n = (X.astype(np.float64) ** 2).sum(1)
    s = np.ones(len(X))
    live = rng.random(len(X)) < 0.7
    centers = rng.choice(len(X), kc.CENTER_BLOCK + 50, replace=False)
    live[centers] = False
    got = []
    for threads in (1, 2):
        monkeypatch.setattr(numba, "get_num_threads", lambda t=threads: t)
        got.append(diversity._initial_pass(X, X, n, s, centers, live))
    for a, b in zip(*got):
        np.testing.assert_array_equal(a, b)
    m1, m2, c1 = got[0]
    # against a direct float64 computation (rows live only; others untouched)
    D = n[:, None] + n[centers][None, :] - 2.0 * (X.astype(np.float64) @ X[centers].T.astype(np.float64))
    rows = np.flatnonzero(live)
    np.testing.assert_allclose(m1[rows], D[rows].min(1), rtol=1e-4, atol=1e-3)
    srt = np.sort(D[rows], axis=1)
    np.testing.assert_allclose(m2[rows], srt[:, 1], rtol=1e-4, atol=1e-3)
    assert np.all(np.isinf(m1[~live])) and np.all(c1[~live] == -1)
    assert np.all(np.isin(c1[rows], centers))


def test_run_blocks_stops_at_an_error_and_drops_the_blocks_not_started(monkeypatch):
    import time

    import numba

    from alselect.threads import run_blocks

    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)
    done = []

    def fn(i):
        time.sleep(0.01)
        if i == 3:
            raise KeyError("block 3")
        done.append(i)

    with pytest.raises(KeyError):
        run_blocks(fn, range(200))
    assert len(done) < 20  # an interrupt takes the same path: running blocks end, the rest never start
