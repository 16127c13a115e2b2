"""Eq. 2 pairwise contextual diversity and its inner-product form."""

import numpy as np
import pytest
from scipy.special import rel_entr

from alselect.cdal import (PROB_FLOOR, cd_inner_product_form, cd_pairwise, cd_to_set,
                           classification_features, mixtures_from_regions)


def ref_cd(Pa, ga, Pb, gb, reduce="sum", classes=None, floor=PROB_FLOOR):
    """sum_{c shared} 0.5 KL(a||b) + 0.5 KL(b||a), logs floored at ``floor``."""
    total, shared = 0.0, 0
    for c in range(Pa.shape[0]):
        if not (ga[c] and gb[c]) or (classes is not None and c not in classes):
            continue
        a = Pa[c].astype(np.float64)
        b = Pb[c].astype(np.float64)
        la, lb = np.log(np.maximum(a, floor)), np.log(np.maximum(b, floor))
        kl_ab = np.sum(a * (la - lb))
        kl_ba = np.sum(b * (lb - la))
        total += 0.5 * kl_ab + 0.5 * kl_ba
        shared += 1
    if reduce == "mean":
        return total / shared if shared else 0.0
    return total


def random_pool(seed, N=20, C=6, max_regions=40):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, max_regions + 1, N)
    off = np.concatenate([[0], np.cumsum(sizes)])
    # a few dominant classes per image, so images share some classes but not all
    base = rng.normal(size=(N, C)) * 2.0
    img = np.repeat(np.arange(N), sizes)
    logits = base[img] + rng.normal(size=(off[-1], C)) * 2.0
    p = np.exp(logits - logits.max(1, keepdims=True))
    return mixtures_from_regions(p / p.sum(1, keepdims=True), off, dtype=np.float64)[:2]


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("classes", [None, [1, 4]])
def test_pairwise_matches_reference(reduce, classes):
    mix, pres = random_pool(0, N=10)
    nonzero = 0
    for i in range(10):
        for j in range(10):
            got = cd_pairwise(mix[i], pres[i], mix[j], pres[j], reduce=reduce, classes=classes)
            want = ref_cd(mix[i], pres[i], mix[j], pres[j], reduce, classes)
            assert got == pytest.approx(want, rel=1e-12, abs=1e-14)
            nonzero += got > 0
    assert nonzero > 10


def test_pairwise_matches_scipy_symmetric_kl_when_no_zeros():
    mix, pres = random_pool(1)
    i, j = 2, 5
    shared = np.flatnonzero(pres[i] & pres[j])
    assert shared.size
    want = sum(0.5 * rel_entr(mix[i, c], mix[j, c]).sum()
               + 0.5 * rel_entr(mix[j, c], mix[i, c]).sum() for c in shared)
    assert cd_pairwise(mix[i], pres[i], mix[j], pres[j]) == pytest.approx(want, rel=1e-10)
    assert cd_pairwise(mix[i], pres[i], mix[j], pres[j], reduce="mean") == pytest.approx(
        want / shared.size, rel=1e-10)


def test_no_shared_class_is_distance_zero_and_self_distance_zero():
    P = np.zeros((3, 3))
    P[0] = [0.8, 0.1, 0.1]
    Q = np.zeros((3, 3))
    Q[2] = [0.1, 0.1, 0.8]
    ga, gb = np.array([1, 0, 0], bool), np.array([0, 0, 1], bool)
    assert cd_pairwise(P, ga, Q, gb) == 0.0
    assert cd_pairwise(P, ga, Q, gb, reduce="mean") == 0.0
    assert cd_pairwise(P, ga, P, ga) == 0.0


def test_symmetric():
    mix, pres = random_pool(2)
    for i, j in [(0, 1), (3, 7), (4, 9)]:
        assert cd_pairwise(mix[i], pres[i], mix[j], pres[j]) == pytest.approx(
            cd_pairwise(mix[j], pres[j], mix[i], pres[i]), rel=1e-14)


def test_exact_zeros_use_the_floor():
    P = np.array([[1.0, 0.0, 0.0]])
    Q = np.array([[0.5, 0.5, 0.0]])
    g = np.array([True])
    got = cd_pairwise(P, g, Q, g)
    want = ref_cd(P, g, Q, g)  # 0.5 * [0.5 log 2 + 0.5 log(0.5 / floor)]
    assert np.isfinite(got)
    assert got == pytest.approx(want, rel=1e-12)
    assert got == pytest.approx(0.25 * np.log(2) + 0.25 * np.log(0.5 / PROB_FLOOR), rel=1e-12)
    assert cd_pairwise(P, g, Q, g, floor=1e-4) == pytest.approx(ref_cd(P, g, Q, g, floor=1e-4))


def test_classification_compares_full_softmax_without_gating():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.6, 0.3, 0.1]])
    mix, pres = classification_features(p)
    # different predicted classes, still a positive distance (no pseudo-label gating)
    d01 = cd_pairwise(mix[0], pres[0], mix[1], pres[1])
    want = 0.5 * rel_entr(p[0], p[1]).sum() + 0.5 * rel_entr(p[1], p[0]).sum()
    assert d01 == pytest.approx(want, rel=1e-6)
    # with the segmentation-style gating (one region per image) it would be 0
    gmix, gpres, _ = mixtures_from_regions(p, np.arange(4))
    assert cd_pairwise(gmix[0], gpres[0], gmix[1], gpres[1]) == 0.0


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_cd_to_set_is_min_over_centers(reduce):
    mix, pres = random_pool(3, N=25)
    centers = [3, 11, 17]
    rows = [0, 5, 11, 24]
    got = cd_to_set(mix, pres, centers, rows=rows, reduce=reduce)
    want = [min(ref_cd(mix[r], pres[r], mix[c], pres[c], reduce) for c in centers) for r in rows]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert got[2] == 0.0
    assert np.all(np.isinf(cd_to_set(mix, pres, [])))


@pytest.mark.parametrize("classes", [None, [0, 2, 5]])
def test_inner_product_form_equals_direct_cd(classes):
    mix, pres = random_pool(4, N=18)
    A, B, n = cd_inner_product_form(mix, pres, classes=classes, dtype=np.float64)
    assert A.shape[1] == 2 * (6 if classes is None else 3) * 7  # 2KC + 2K
    D = n[:, None] + n[None, :] - 2.0 * A @ B.T
    want = np.array([[ref_cd(mix[i], pres[i], mix[j], pres[j], "sum", classes)
                      for j in range(18)] for i in range(18)])
    np.testing.assert_allclose(D, want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(A @ B.T, (A @ B.T).T, atol=1e-9)  # <A_i,B_j> = <A_j,B_i>
    A32, B32, n32 = cd_inner_product_form(mix, pres, classes=classes)
    assert A32.dtype == np.float32
    D32 = n32[:, None].astype(np.float64) + n32[None, :] - 2.0 * (A32.astype(np.float64) @ B32.T)
    np.testing.assert_allclose(D32, want, rtol=1e-4, atol=1e-4)


def test_inner_product_form_dense_when_all_present():
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(5), 12)
    mix, pres = classification_features(p, dtype=np.float64)
    A, B, n = cd_inner_product_form(mix, pres, dtype=np.float64)
    assert A.shape == (12, 10) and np.all(n <= 0)
    D = n[:, None] + n[None, :] - 2.0 * A @ B.T
    want = np.array([[ref_cd(mix[i], pres[i], mix[j], pres[j]) for j in range(12)]
                     for i in range(12)])
    np.testing.assert_allclose(D, want, rtol=1e-10, atol=1e-12)


def test_absent_rows_are_ignored_whatever_they_hold():
    mix, pres = random_pool(6, N=6)
    dirty = mix.copy()
    dirty[~pres] = 0.3  # garbage in absent rows
    A, B, n = cd_inner_product_form(mix, pres, dtype=np.float64)
    A2, B2, n2 = cd_inner_product_form(dirty, pres, dtype=np.float64)
    np.testing.assert_array_equal(A, A2)
    assert cd_pairwise(dirty[0], pres[0], dirty[1], pres[1]) == cd_pairwise(
        mix[0], pres[0], mix[1], pres[1])


def test_validation_errors():
    mix, pres = random_pool(7, N=4)
    with pytest.raises(ValueError, match=r"present must have shape \(N, K\)"):
        cd_to_set(mix, pres[:, :3], [0])
    bad = mix.copy()
    i, c = np.argwhere(pres)[0]
    bad[i, c] *= 2
    with pytest.raises(ValueError, match=rf"'mixtures' sample {i}, class {c} is marked present but its mixture sums to"):
        cd_to_set(bad, pres, [0])
    bad = mix.copy()
    bad[2, 0, 0] = np.nan
    with pytest.raises(ValueError, match="mixtures' has a NaN or infinite value in row 2"):
        cd_to_set(bad, pres, [0])
    with pytest.raises(ValueError, match=r"classes must lie in \[0, 6\)"):
        cd_to_set(mix, pres, [0], classes=[6])
    with pytest.raises(ValueError, match="reduce must be one of"):
        cd_to_set(mix, pres, [0], reduce="max")
    with pytest.raises(ValueError, match="'centers' holds row 9, outside the rows 0..3"):
        cd_to_set(mix, pres, [9])
    with pytest.raises(ValueError, match="same shape"):
        cd_pairwise(mix[0], pres[0], mix[1, :3], pres[1, :3])
