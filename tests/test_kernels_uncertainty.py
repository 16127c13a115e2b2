"""Uncertainty kernels against plain NumPy references written from the formulas."""

import numpy as np
import pytest

from alselect.kernels import uncertainty as K


def ref_entropy(p):
    p = p.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(-1)


def ref_margin(p):
    s = np.sort(p.astype(np.float64), axis=1)
    return s[:, -1] - s[:, -2]


def ref_bald(m):
    return ref_entropy(m.astype(np.float64).mean(1)) - ref_entropy(m).mean(1)


def ref_modal_fraction(votes):  # votes: (n, T)
    return np.array([np.bincount(v).max() / len(v) for v in votes])


@pytest.fixture(params=[np.float32, np.float64])
def probs(request, rng):
    p = rng.dirichlet(np.full(7, 0.3), size=200).astype(request.param)
    p[0] = 0
    p[0, 3] = 1  # one-hot row: entropy 0, margin 1
    p[1] = 1 / 7  # uniform row: exact ties among all classes
    return p


def test_entropy(probs):
    np.testing.assert_allclose(K.entropy(probs), ref_entropy(probs), rtol=1e-12, atol=1e-12)
    assert K.entropy(probs)[0] == 0.0


def test_least_confidence(probs):
    np.testing.assert_allclose(K.least_confidence(probs), 1 - probs.astype(np.float64).max(1), atol=1e-15)


def test_margin(probs):
    np.testing.assert_allclose(K.margin(probs), ref_margin(probs), atol=1e-15)
    assert K.margin(probs)[1] == 0.0


def test_margin_two_classes_tie(rng):
    p = np.array([[0.5, 0.5], [0.9, 0.1]])
    np.testing.assert_allclose(K.margin(p), [0.0, 0.8])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bald(rng, dtype):
    m = rng.dirichlet(np.full(5, 0.4), size=(80, 9)).astype(dtype)
    m[0] = m[0, 0]  # identical members: mutual information 0
    got = K.bald(m)
    np.testing.assert_allclose(got, ref_bald(m), rtol=1e-9, atol=1e-12)
    assert abs(got[0]) < 1e-6
    assert (got > -1e-9).all()


def test_variation_ratio(rng):
    m = rng.dirichlet(np.full(4, 0.4), size=(100, 7))
    votes = m.argmax(-1)
    np.testing.assert_allclose(K.variation_ratio(m), 1 - ref_modal_fraction(votes))


def test_variation_ratio_argmax_tie_goes_to_lowest_class():
    m = np.array([[[0.5, 0.5], [0.5, 0.5], [0.2, 0.8]]])  # votes 0, 0, 1
    np.testing.assert_allclose(K.variation_ratio(m), [1 - 2 / 3])


def test_dispersion(rng):
    preds = rng.integers(0, 5, size=(11, 300))
    np.testing.assert_allclose(K.dispersion(preds), 1 - ref_modal_fraction(preds.T))


def test_dispersion_thesis_example():
    # Fig. 3.1: the same label in every epoch gives dispersion 0; E alternating labels 1 - 1/E.
    preds = np.array([[3, 0], [3, 1], [3, 2], [3, 3], [3, 4]])
    np.testing.assert_allclose(K.dispersion(preds), [0.0, 0.8])


def test_bvsb(probs):
    s = np.sort(probs.astype(np.float64), axis=1)
    np.testing.assert_allclose(K.bvsb(probs), s[:, -2] / s[:, -1], atol=1e-15)


def test_single_class_rows():
    p = np.ones((3, 1))
    np.testing.assert_array_equal(K.margin(p), [1.0, 1.0, 1.0])  # second best taken as 0
    np.testing.assert_array_equal(K.bvsb(p), [0.0, 0.0, 0.0])
