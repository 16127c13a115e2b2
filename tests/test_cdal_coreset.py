"""CDAL-CS: K-Center-Greedy with CD, against a brute-force NumPy core-set."""

import numpy as np
import pytest

from alselect.cdal import (cdal_coreset, classification_features, mixture_entropy,
                           mixtures_from_regions)

FLOOR = 1e-10


def ref_cd_matrix(mix, pres, reduce="sum", classes=None):
    """Full N x N CD matrix from Eq. 2 (small pools only)."""
    N, K, _ = mix.shape
    gate = pres.copy()
    if classes is not None:
        keep = np.zeros(K, bool)
        keep[classes] = True
        gate &= keep
    P = mix.astype(np.float64)
    L = np.log(np.maximum(P, FLOOR))
    D = np.zeros((N, N))
    for i in range(N):
        for j in range(N):
            shared = gate[i] & gate[j]
            terms = 0.5 * np.sum((P[i] - P[j]) * (L[i] - L[j]), axis=1)
            s = terms[shared].sum()
            if reduce == "mean":
                s = s / shared.sum() if shared.any() else 0.0
            D[i, j] = s
    return D


def ref_coreset(D, budget, labeled=(), first=None, candidates=None):
    """Sener & Savarese Algo. 1 on a precomputed matrix; ties: lowest row."""
    N = D.shape[0]
    pickable = np.ones(N, bool) if candidates is None else np.isin(np.arange(N), candidates)
    pickable[list(labeled)] = False
    mind = np.full(N, np.inf)
    for c in labeled:
        mind = np.minimum(mind, D[:, c])
    picks, dists = [], []
    for s in range(budget):
        if s == 0 and first is not None:
            b = first
        else:
            b = int(np.argmax(np.where(pickable, mind, -1.0)))  # argmax: first maximum
        picks.append(b)
        dists.append(mind[b])
        pickable[b] = False
        mind = np.minimum(mind, D[:, b])
    return np.array(picks), np.array(dists)


def seg_pool(seed, N=60, C=6, max_regions=30):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_regions + 1, N)
    off = np.concatenate([[0], np.cumsum(sizes)])
    base = rng.normal(size=(N, C)) * 2.5
    img = np.repeat(np.arange(N), sizes)
    logits = base[img] + rng.normal(size=(off[-1], C)) * 2.0
    p = np.exp(logits - logits.max(1, keepdims=True))
    mix, pres, _ = mixtures_from_regions(p / p.sum(1, keepdims=True), off)
    return mix, pres


@pytest.mark.parametrize("method", ["lazy", "reference"])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("classes", [None, [0, 3]])
def test_matches_brute_force_with_labeled(method, reduce, classes):
    mix, pres = seg_pool(0)
    D = ref_cd_matrix(mix, pres, reduce, classes)
    labeled = [4, 17, 33]
    want, wd = ref_coreset(D, 25, labeled)
    got, gd = cdal_coreset(mix, pres, 25, labeled=labeled, reduce=reduce, classes=classes,
                           method=method)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(gd, wd, rtol=1e-12, atol=1e-14)
    assert np.all(np.diff(gd) <= 1e-12)  # the covering radius never grows


@pytest.mark.parametrize("method", ["lazy", "reference"])
def test_no_labeled_first_pick_is_max_mixture_entropy(method):
    mix, pres = seg_pool(1)
    h = np.array([sum(-np.sum(mix[i, c] * np.log(np.maximum(mix[i, c], FLOOR)))
                      for c in np.flatnonzero(pres[i])) for i in range(len(mix))])
    np.testing.assert_allclose(mixture_entropy(mix, pres), h, rtol=1e-6)
    first = int(np.argmax(h))
    want, wd = ref_coreset(ref_cd_matrix(mix, pres), 20, first=first)
    got, gd = cdal_coreset(mix, pres, 20, method=method)
    np.testing.assert_array_equal(got, want)
    assert got[0] == first and np.isinf(gd[0])


@pytest.mark.parametrize("method", ["lazy", "reference"])
def test_forced_first_and_candidates(method):
    mix, pres = seg_pool(2)
    D = ref_cd_matrix(mix, pres, "mean")
    cand = np.arange(0, 60, 2)
    want, wd = ref_coreset(D, 12, labeled=[1, 3], first=10, candidates=cand)
    got, gd = cdal_coreset(mix, pres, 12, labeled=[1, 3], first=10, candidates=cand,
                           reduce="mean", method=method)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(gd, wd, rtol=1e-12)


@pytest.mark.parametrize("method", ["lazy", "reference"])
def test_ties_and_zero_distances_lowest_row(method):
    # duplicates and images sharing no class with any center (distance 0)
    mix, pres = seg_pool(3, N=20)
    mix = np.concatenate([mix, mix[:5], mix[:5]])
    pres = np.concatenate([pres, pres[:5], pres[:5]])
    D = ref_cd_matrix(mix, pres)
    want, _ = ref_coreset(D, 29, labeled=[7])  # every candidate, down to the zero ties
    got, _ = cdal_coreset(mix, pres, 29, labeled=[7], method=method)
    np.testing.assert_array_equal(got, want)


def test_classification_layout():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(80, 10)) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    mix, pres = classification_features(p)
    D = ref_cd_matrix(mix, pres)
    want, _ = ref_coreset(D, 20, labeled=[0, 1])
    got, _ = cdal_coreset(mix, pres, 20, labeled=[0, 1])
    np.testing.assert_array_equal(got, want)
    # the selection spans several predicted classes (gating would collapse it)
    assert np.unique(p[got].argmax(1)).size >= 5


def test_detection_layout_with_boxless_images():
    rng = np.random.default_rng(5)
    sizes = rng.integers(0, 6, 50)
    off = np.concatenate([[0], np.cumsum(sizes)])
    logits = rng.normal(size=(off[-1], 5)) * 2.5
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    mix, pres, _ = mixtures_from_regions(p, off)
    D = ref_cd_matrix(mix, pres)
    want, _ = ref_coreset(D, 15, labeled=[2])
    np.testing.assert_array_equal(cdal_coreset(mix, pres, 15, labeled=[2])[0], want)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_lazy_equals_reference_bitwise_on_larger_pool(reduce):
    rng = np.random.default_rng(6)
    N, C = 1500, 8
    pres = rng.random((N, C)) < np.linspace(0.8, 0.1, C)
    pres[~pres.any(1), 0] = True
    mix = rng.dirichlet(np.full(C, 0.5), (N, C)).astype(np.float32)
    mix[~pres] = 0
    lab = rng.choice(N, 40, replace=False)
    a = cdal_coreset(mix, pres, 150, labeled=lab, reduce=reduce, method="lazy")
    b = cdal_coreset(mix, pres, 150, labeled=lab, reduce=reduce, method="reference")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_engine_path_when_available():
    mix, pres = seg_pool(7)
    want, _ = ref_coreset(ref_cd_matrix(mix, pres), 20, labeled=[5])
    got, _ = cdal_coreset(mix, pres, 20, labeled=[5], method="engine")
    np.testing.assert_array_equal(got, want)
    want, wd = ref_coreset(ref_cd_matrix(mix, pres, classes=[0, 2, 3]), 15, labeled=[1, 3],
                           first=10)
    got, gd = cdal_coreset(mix, pres, 15, labeled=[1, 3], first=10, classes=[0, 2, 3],
                           method="engine")
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(gd, wd, rtol=1e-6, atol=1e-9)
    want, _ = ref_coreset(ref_cd_matrix(mix, pres), 12, first=int(np.argmax(
        mixture_entropy(mix, pres))))
    np.testing.assert_array_equal(cdal_coreset(mix, pres, 12, method="engine")[0], want)


def test_errors():
    mix, pres = seg_pool(8, N=10)
    with pytest.raises(ValueError, match=r"budget 9 exceeds the 8 unlabeled candidates"):
        cdal_coreset(mix, pres, 9, labeled=[0, 1])
    with pytest.raises(ValueError, match="first = 0 is not an unlabeled candidate"):
        cdal_coreset(mix, pres, 2, labeled=[0], first=0)
    with pytest.raises(ValueError, match="method='engine' needs reduce='sum'"):
        cdal_coreset(mix, pres, 2, reduce="mean", method="engine")
    with pytest.raises(ValueError, match="'labeled' lists row 1 more than once"):
        cdal_coreset(mix, pres, 2, labeled=[1, 1])
    with pytest.raises(ValueError, match="budget must be an integer"):
        cdal_coreset(mix, pres, 2.0)


def ref_cd_matrix_vectorised(mix, pres, reduce="sum"):
    """Eq. 2 for all pairs at once (broadcast over (N, N, K, C)); small pools only."""
    P = mix.astype(np.float64)
    L = np.log(np.maximum(P, FLOOR))
    terms = 0.5 * np.einsum("ijkc,ijkc->ijk", P[:, None] - P[None], L[:, None] - L[None])
    shared = pres[:, None] & pres[None]
    s = np.where(shared, terms, 0.0).sum(-1)
    if reduce == "mean":
        n = shared.sum(-1)
        s = np.where(n > 0, s / np.maximum(n, 1), 0.0)
    return s


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_lazy_many_center_blocks_matches_brute_force(reduce):
    # > CENTER_BLOCK centers: labeled rows fill complete (flushed) blocks, picks
    # continue in the staging block and cross into the next ones; catch-ups
    # start mid-block. Duplicates add exact ties.
    from alselect.kernels.cdal import CENTER_BLOCK

    rng = np.random.default_rng(9)
    N, C = 420, 5
    pres = rng.random((N, C)) < np.linspace(0.9, 0.2, C)
    pres[~pres.any(1), 1] = True
    mix = rng.dirichlet(np.full(C, 0.4), (N, C)).astype(np.float32)
    mix[~pres] = 0
    mix[400:], pres[400:] = mix[:20], pres[:20]
    lab = rng.choice(N, CENTER_BLOCK + 37, replace=False)
    D = ref_cd_matrix_vectorised(mix, pres, reduce)
    budget = N - lab.size - 5
    want, wd = ref_coreset(D, budget, labeled=lab)
    got, gd = cdal_coreset(mix, pres, budget, labeled=lab, reduce=reduce)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(gd, wd, rtol=1e-12, atol=1e-14)
    ref = cdal_coreset(mix, pres, budget, labeled=lab, reduce=reduce, method="reference")
    np.testing.assert_array_equal(got, ref[0])
    np.testing.assert_array_equal(gd, ref[1])


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_lazy_equals_reference_bitwise_across_blocks(reduce):
    # several full center blocks built from picks alone (no labeled rows), a
    # class subset, candidates and a forced first pick
    from alselect.kernels.cdal import CENTER_BLOCK

    rng = np.random.default_rng(10)
    N, C = 3000, 7
    pres = rng.random((N, C)) < np.linspace(0.9, 0.1, C)
    pres[~pres.any(1), 0] = True
    mix = rng.dirichlet(np.full(C, 0.5), (N, C))
    mix[~pres] = 0
    cand = np.flatnonzero(rng.random(N) < 0.8)
    budget = 2 * CENTER_BLOCK + 100
    kw = dict(reduce=reduce, classes=[0, 2, 3, 5, 6], candidates=cand, first=int(cand[7]))
    a = cdal_coreset(mix, pres, budget, method="lazy", **kw)
    b = cdal_coreset(mix, pres, budget, method="reference", **kw)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("method", ["lazy", "reference", "engine"])
@pytest.mark.parametrize("labeled,first", [((), None), ((0, 3), None), ((0, 3), 7)])
def test_progress_sums_to_budget_and_keeps_picks(method, labeled, first):
    mix, pres = seg_pool(5)
    got = []
    kw = dict(labeled=list(labeled) or None, first=first, method=method)
    picks, dist = cdal_coreset(mix, pres, 23, progress=got.append, **kw)
    p0, d0 = cdal_coreset(mix, pres, 23, **kw)
    np.testing.assert_array_equal(picks, p0)
    np.testing.assert_array_equal(dist, d0)
    assert sum(got) == 23 and all(n > 0 for n in got)
