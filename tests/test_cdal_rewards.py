"""CDAL-RL rewards (Eq. 3-5) against NumPy references written from the paper."""

import numpy as np
import pytest

from alselect.cdal import (COUNT_FLOOR, CdalRewards, mixtures_from_regions, reward_cd,
                           reward_sr, reward_total, reward_vr)
from alselect.errors import InvalidInputError

FLOOR = 1e-10


def ref_pair(Pa, ga, Pb, gb, reduce="sum"):
    s, n = 0.0, 0
    for c in np.flatnonzero(ga & gb):
        a, b = Pa[c].astype(np.float64), Pb[c].astype(np.float64)
        la, lb = np.log(np.maximum(a, FLOOR)), np.log(np.maximum(b, FLOOR))
        s += 0.5 * np.sum(a * (la - lb)) + 0.5 * np.sum(b * (lb - la))
        n += 1
    return s / n if (reduce == "mean" and n) else (0.0 if reduce == "mean" else s)


def ref_reward_cd(mix, pres, picks, reduce="sum"):
    """Eq. 3: d_{I_b} = sum over m, n in I_b of d(m, n) (ordered pairs)."""
    return sum(ref_pair(mix[m], pres[m], mix[n], pres[n], reduce) for m in picks for n in picks)


def ref_reward_vr(X, picks):
    """Eq. 4: exp(-1/|I| sum_i min_{j in I_b} ||x_i - x_j||_2)."""
    X = X.astype(np.float64)
    return np.exp(-np.mean([min(np.linalg.norm(X[i] - X[j]) for j in picks)
                            for i in range(len(X))]))


def pool(seed=0, N=30, C=5):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 25, N)
    off = np.concatenate([[0], np.cumsum(sizes)])
    logits = rng.normal(size=(N, C))[np.repeat(np.arange(N), sizes)] * 2 + rng.normal(
        size=(off[-1], C)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return mixtures_from_regions(p, off, dtype=np.float64)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_reward_cd_eq3(reduce):
    mix, pres, _ = pool()
    picks = [3, 8, 0, 21, 14, 29]
    want = ref_reward_cd(mix, pres, picks, reduce)
    assert reward_cd(mix, pres, picks, reduce=reduce) == pytest.approx(want, rel=1e-12)
    # released RL code: mean over all |I_b|^2 ordered pairs, diagonal included
    assert reward_cd(mix, pres, picks, reduce=reduce, aggregate="mean") == pytest.approx(
        want / 36, rel=1e-12)
    assert reward_cd(mix, pres, [5]) == 0.0


def test_reward_cd_class_subset():
    mix, pres, _ = pool(1)
    picks = [1, 2, 3, 4, 5]
    sub = pres.copy()
    sub[:, [0, 2, 3]] = False
    assert reward_cd(mix, pres, picks, classes=[1, 4]) == pytest.approx(
        ref_reward_cd(mix, sub, picks), rel=1e-12)


def test_reward_vr_eq4_and_released_variant():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 6)).astype(np.float32)
    picks = [0, 9, 17]
    assert reward_vr(X, picks) == pytest.approx(ref_reward_vr(X, picks), rel=1e-9)
    sq = np.mean([min(np.sum((X[i].astype(float) - X[j]) ** 2) for j in picks) for i in range(40)])
    assert reward_vr(X, picks, squared=True, scale=1 / 50) == pytest.approx(np.exp(-sq / 50),
                                                                            rel=1e-9)
    assert reward_vr(X, np.arange(40)) == pytest.approx(1.0)


def test_reward_sr_eq5():
    counts = np.array([[3, 0, 1], [0, 0, 5], [2, 0, 0], [1, 4, 0]])
    lam = 2.0
    # sum_c log(|R^c_{I_b}| / lambda), picks {0, 2}: counts per class 5, 0, 1
    want = np.log(5 / lam) + np.log(COUNT_FLOOR / lam) + np.log(1 / lam)
    assert reward_sr(counts, [0, 2], lam) == pytest.approx(want, rel=1e-12)
    assert reward_sr(counts, [0, 2], lam, count_floor=0) == -np.inf
    assert reward_sr(counts, [0, 3], lam) == pytest.approx(
        np.log(4 / lam) + np.log(4 / lam) + np.log(1 / lam))


def test_reward_total():
    mix, pres, counts = pool(3)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4))
    picks = [2, 7, 11, 19]
    r = reward_total(mix, pres, picks, embeddings=X, counts=counts, sr_lam=10.0)
    assert isinstance(r, CdalRewards)
    rcd = ref_reward_cd(mix, pres, picks)
    rvr = ref_reward_vr(X, picks)
    rsr = reward_sr(counts, picks, 10.0)
    assert r.r_cd == pytest.approx(rcd) and r.r_vr == pytest.approx(rvr)
    assert r.total == pytest.approx(0.75 * rcd + 0.25 * (rvr + rsr))
    only_cd = reward_total(mix, pres, picks, alpha=0.5)
    assert only_cd.r_vr is None and only_cd.r_sr is None
    assert only_cd.total == pytest.approx(0.5 * rcd)


def test_reward_errors():
    mix, pres, counts = pool(4, N=6)
    with pytest.raises(ValueError, match="'picks' lists row 1 more than once"):
        reward_cd(mix, pres, [1, 1])
    with pytest.raises(ValueError, match="picks is empty"):
        reward_cd(mix, pres, [])
    with pytest.raises(ValueError, match="'picks' holds row 6, outside the rows 0..5"):
        reward_sr(counts, [6], 1.0)
    with pytest.raises(ValueError, match="sr_lam must be a finite positive number"):
        reward_sr(counts, [1], 0.0)
    with pytest.raises(ValueError, match="counts has negative entries"):
        reward_sr(-counts - 1, [1], 1.0)
    with pytest.raises(ValueError, match="counts given without sr_lam"):
        reward_total(mix, pres, [1], counts=counts)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        reward_total(mix, pres, [1], alpha=2.0)
    with pytest.raises(ValueError, match="aggregate must be 'sum'"):
        reward_cd(mix, pres, [1], aggregate="max")
    with pytest.raises(ValueError, match="embeddings row 2 contains NaN"):
        X = np.ones((6, 2))
        X[2, 1] = np.nan
        reward_vr(X, [0])


def test_renamed_keywords_are_errors_naming_the_new_ones():
    """`lam` of R_sr is `sr_lam` (`lam` is the balanced strategies' weight); `class_counts` is `counts`."""
    mix, pres, counts = pool(4, N=6)
    with pytest.raises(InvalidInputError, match="reward_sr\\(\\): 'lam' was renamed 'sr_lam'"):
        reward_sr(counts, [1], lam=1.0)
    with pytest.raises(InvalidInputError, match="'class_counts' was renamed 'counts'"):
        reward_sr(class_counts=counts, picks=[1], sr_lam=1.0)
    with pytest.raises(InvalidInputError, match="reward_total\\(\\): 'lam' was renamed 'sr_lam'"):
        reward_total(mix, pres, [1], counts=counts, lam=1.0)
    with pytest.raises(InvalidInputError, match="'class_counts' was renamed 'counts'"):
        reward_total(mix, pres, [1], class_counts=counts, sr_lam=1.0)
    assert reward_sr(counts=counts, picks=[1], sr_lam=1.0) == reward_sr(counts, [1], 1.0)
