"""Eq. 1 mixtures from ragged regions, against a NumPy reference from the paper."""

import numpy as np
import pytest

import alselect.cdal as cdal
from alselect.cdal import classification_features, mixtures_from_regions


def ref_mixtures(probs, offsets, weights=None, eps=cdal.EPS):
    """P_I^c = sum_{r in R_I^c} w_r p_r / sum w_r, w_r = v_r (H_2(p_r) + eps)."""
    probs = np.asarray(probs, dtype=np.float64)
    N = len(offsets) - 1
    C = probs.shape[1]
    mix = np.zeros((N, C, C))
    present = np.zeros((N, C), dtype=bool)
    counts = np.zeros((N, C), dtype=np.int64)
    for i in range(N):
        num = np.zeros((C, C))
        den = np.zeros(C)
        for r in range(offsets[i], offsets[i + 1]):
            v = 1.0 if weights is None else float(weights[r])
            if v == 0.0:
                continue
            p = probs[r]
            nz = p[p > 0]
            h = -np.sum(nz * np.log2(nz))
            c = int(np.argmax(p))
            w = v * (h + eps)
            num[c] += w * p
            den[c] += w
            counts[i, c] += 1
            present[i, c] = True
        for c in range(C):
            if present[i, c]:
                mix[i, c] = num[c] / den[c]
                mix[i, c] /= mix[i, c].sum()  # stored rows sum to 1 only within rounding
    return mix, present, counts


def random_regions(rng, n_images, C, max_regions, peak=3.0, empty_every=0):
    sizes = rng.integers(0, max_regions + 1, n_images)
    if empty_every:
        sizes[::empty_every] = 0
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    logits = rng.normal(size=(offsets[-1], C)) * peak
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True), offsets


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_segmentation_layout_matches_reference(dtype):
    rng = np.random.default_rng(0)
    probs, off = random_regions(rng, 15, 6, 60)
    mix, present, counts = mixtures_from_regions(probs.astype(dtype), off, dtype=np.float64)
    rmix, rpres, rcnt = ref_mixtures(probs.astype(dtype), off)
    np.testing.assert_array_equal(present, rpres)
    np.testing.assert_array_equal(counts, rcnt)
    np.testing.assert_allclose(mix, rmix, rtol=1e-10, atol=1e-12)
    # present rows sum to one, absent rows are zero
    np.testing.assert_allclose(mix.sum(2)[present], 1.0, atol=1e-9)
    assert np.all(mix[~present] == 0)


def test_float32_output_and_region_weights():
    rng = np.random.default_rng(1)
    probs, off = random_regions(rng, 10, 5, 30)
    w = rng.integers(0, 4, off[-1]).astype(np.float64)  # superpixel sizes, 0 drops the region
    mix, present, counts = mixtures_from_regions(probs, off, region_weights=w)
    rmix, rpres, rcnt = ref_mixtures(probs, off, weights=w)
    assert mix.dtype == np.float32
    np.testing.assert_array_equal(present, rpres)
    np.testing.assert_array_equal(counts, rcnt)
    np.testing.assert_allclose(mix, rmix, rtol=2e-6, atol=1e-7)


def test_detection_layout_boxes_float16_and_empty_images():
    rng = np.random.default_rng(2)
    probs, off = random_regions(rng, 12, 4, 8, empty_every=4)  # images 0, 4, 8 have no box
    p16 = probs.astype(np.float16)
    mix, present, counts = mixtures_from_regions(p16, off, eps=1e-3)
    rmix, rpres, rcnt = ref_mixtures(p16, off, eps=1e-3)
    assert not present[[0, 4, 8]].any() and counts[[0, 4, 8]].sum() == 0
    np.testing.assert_array_equal(present, rpres)
    np.testing.assert_allclose(mix, rmix, rtol=2e-6, atol=1e-7)


def test_pseudo_label_tie_goes_to_lowest_class_and_one_hot_regions():
    probs = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    mix, present, counts = mixtures_from_regions(probs, [0, 3])
    np.testing.assert_array_equal(present[0], [True, False, True])
    np.testing.assert_array_equal(counts[0], [1, 0, 2])
    np.testing.assert_allclose(mix[0, 0], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(mix[0, 2], [0.0, 0.0, 1.0])  # zero entropy: weights eps, still fine


def test_entropy_weighting_in_bits():
    # two regions with pseudo-label 0: weights H_2 + eps, entropy in bits
    p1 = np.array([0.5, 0.5, 0.0, 0.0])          # 1 bit
    p2 = np.array([0.7, 0.1, 0.1, 0.1])
    h2 = -np.sum(p2 * np.log2(p2))
    mix, _, _ = mixtures_from_regions(np.stack([p1, p2]), [0, 2], eps=1e-6, dtype=np.float64)
    w1, w2 = 1.0 + 1e-6, h2 + 1e-6
    np.testing.assert_allclose(mix[0, 0], (w1 * p1 + w2 * p2) / (w1 + w2), rtol=1e-12)


def test_streaming_blocks_equal_one_block(monkeypatch):
    rng = np.random.default_rng(3)
    probs, off = random_regions(rng, 40, 5, 50)
    full = mixtures_from_regions(probs, off)
    monkeypatch.setattr(cdal, "BLOCK_ELEMS", 37)  # a handful of regions per block
    blocked = mixtures_from_regions(probs, off)
    for a, b in zip(full, blocked):
        np.testing.assert_array_equal(a, b)


def test_classification_features_one_ungated_group():
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(7), 9)
    mix, present = classification_features(p)
    assert mix.shape == (9, 1, 7) and present.shape == (9, 1) and present.all()
    np.testing.assert_allclose(mix[:, 0], p, rtol=1e-6)


# --------------------------------------------------------------------------- #
# bad region data
# --------------------------------------------------------------------------- #
GOOD = np.array([[0.2, 0.8], [0.6, 0.4], [1.0, 0.0]])


@pytest.mark.parametrize("offsets, match", [
    ([1, 3], "must start at 0"),
    ([0, 2, 1, 3], "not monotone"),
    ([0, 2, 4], "ends at 4 but there are 3 regions"),
    ([0, 2], "ends at 2 but there are 3 regions"),
    ([[0, 3]], "1-D array"),
    ([0.0, 1.5, 3.0], "must hold integers"),
])
def test_bad_offsets(offsets, match):
    with pytest.raises(ValueError, match=match):
        mixtures_from_regions(GOOD, np.asarray(offsets))


def test_bad_region_probs():
    bad = GOOD.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="'region_probs' has a NaN or infinite value in row 1"):
        mixtures_from_regions(bad, [0, 3])
    neg = np.array([[1.2, -0.2], [0.5, 0.5]])
    with pytest.raises(ValueError, match="'region_probs' has a negative probability in row 0"):
        mixtures_from_regions(neg, [0, 2])
    with pytest.raises(ValueError, match=r"'region_probs' row 1 sums to 2;"):
        mixtures_from_regions(np.array([[0.5, 0.5], [1.0, 1.0]]), [0, 2])
    with pytest.raises(ValueError, match="2 classes per region but the pool has 3"):
        mixtures_from_regions(GOOD, [0, 3], n_classes=3)
    with pytest.raises(ValueError, match="2-D array"):
        mixtures_from_regions(GOOD[0], [0, 2])
    with pytest.raises(ValueError, match="float16, float32 or float64"):
        mixtures_from_regions(GOOD.astype(int), [0, 3])


def test_bad_weights_and_eps():
    with pytest.raises(ValueError, match=r"shape \(R,\) = \(3,\)"):
        mixtures_from_regions(GOOD, [0, 3], region_weights=np.ones(2))
    with pytest.raises(ValueError, match=r"region_weights\[1\] = -1.0"):
        mixtures_from_regions(GOOD, [0, 3], region_weights=np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match=r"region_weights\[2\] = nan"):
        mixtures_from_regions(GOOD, [0, 3], region_weights=np.array([1.0, 1.0, np.nan]))
    with pytest.raises(ValueError, match="eps must be a finite positive"):
        mixtures_from_regions(GOOD, [0, 3], eps=0.0)


def test_classification_features_rejects_logits():
    with pytest.raises(ValueError, match="'probs' has a negative probability in row 0"):
        classification_features(np.array([[2.0, -1.0]]))


def test_float16_mixtures_are_accepted_by_the_functions_that_take_mixtures():
    """float16 rows sum to 1 within 1e-2 only; their mixtures, normalised, pass the float32 check."""
    from alselect.cdal import cdal_coreset

    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.full(19, 0.3), size=40 * 50).astype(np.float16)
    off = np.arange(0, 40 * 50 + 1, 50)
    assert np.abs(probs.astype(np.float64).sum(1) - 1).max() > 1e-4  # the case that failed
    mix, present, _ = mixtures_from_regions(probs, off)
    assert mix.dtype == np.float32
    np.testing.assert_allclose(mix.sum(2, dtype=np.float64)[present], 1.0, atol=1e-6)
    picks, _ = cdal_coreset(mix, present, 5)
    assert len(set(picks.tolist())) == 5


def test_float16_lookup_kernel_is_bit_identical_to_the_widened_regions():
    from alselect.float16 import float16_tables
    from alselect.kernels import cdal as K

    rng = np.random.default_rng(5)
    probs, off = random_regions(rng, 30, 7, 40, empty_every=7)
    p16 = probs.astype(np.float16)
    n, C = off.size - 1, probs.shape[1]
    values, xlogx = float16_tables()
    w = rng.integers(0, 3, off[-1]).astype(np.float64)
    for weights, use in ((np.zeros(0), False), (w, True)):
        outs = []
        for half in (True, False):
            out = (np.zeros((n, C, C)), np.zeros((n, C), bool), np.zeros((n, C), np.int64), np.zeros(n, bool))
            if half:
                K.mixtures_kernel(np.zeros((0, C), np.float32), p16.view(np.uint16), values, xlogx, True, off,
                                  weights, use, 1e-6, 1e-2, *out)
            else:
                K.mixtures_kernel(p16.astype(np.float32), np.zeros((0, C), np.uint16), values, xlogx, False, off,
                                  weights, use, 1e-6, 1e-2, *out)
            outs.append(out)
        for x, y in zip(*outs):
            np.testing.assert_array_equal(x, y)
        assert not outs[0][3].any()
    # and the public function on float16 regions agrees with the reference
    mix, present, counts = mixtures_from_regions(p16, off, region_weights=w, dtype=np.float64)
    rmix, rpres, rcnt = ref_mixtures(p16, off, weights=w)
    np.testing.assert_array_equal(present, rpres)
    np.testing.assert_array_equal(counts, rcnt)
    np.testing.assert_allclose(mix, rmix, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("value,match", [(np.nan, "NaN or infinite value in row 4"),
                                         (np.inf, "NaN or infinite value in row 4"),
                                         (-0.25, "negative probability in row 4"),
                                         (0.75, "row 4 sums to")])
def test_the_kernel_screen_catches_every_bad_row(dtype, value, match, monkeypatch):
    """A bad row anywhere, in any block, also in a region whose weight drops it, raises the
    validation module's error (the kernel flags, the shared rule words the message)."""
    rng = np.random.default_rng(6)
    probs, off = random_regions(rng, 6, 3, 5)
    probs = probs[:max(off[-1], 6)]
    probs[4] = [0.25, 0.25, 0.5]
    probs[4, 0] = value
    weights = np.ones(off[-1])
    weights[4] = 0.0
    monkeypatch.setattr(cdal, "BLOCK_ELEMS", 7)
    for w in (None, weights):
        with pytest.raises(ValueError, match=f"'region_probs' (has a )?{match}"):
            mixtures_from_regions(probs.astype(dtype), off, region_weights=w)


def test_a_borderline_sum_is_decided_by_the_shared_rule():
    """A row within the tolerance but inside the kernel's 1e-12 margin is flagged by the kernel
    and cleared by the shared rule: the mixtures come back."""
    row = np.array([0.5, 0.5 + 1e-4 - 5e-13])  # |sum - 1| between atol - 1e-12 and atol (float64)
    assert 1e-4 - 1e-12 < abs(row.sum() - 1.0) <= 1e-4
    mix, present, counts = mixtures_from_regions(np.stack([row, [0.5, 0.5]]), [0, 2], dtype=np.float64)
    np.testing.assert_array_equal(counts[0], [1, 1])
    with pytest.raises(ValueError, match="row 0 sums to"):
        mixtures_from_regions(np.stack([row + [0.0, 1e-9], [0.5, 0.5]]), [0, 2])
