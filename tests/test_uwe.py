"""UWE weights from the paper's equations and selection on u^tau * f."""

import warnings

import numpy as np
import pytest

from alselect.diversity import kcenter_greedy, kmeanspp, uwe, uwe_weights

from test_kcenter import reference as kcenter_reference


def probs(rng, N, C):
    z = 2.0 * rng.normal(size=(N, C))
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def reference_u(P, measure):
    P = np.asarray(P, dtype=np.float64)
    s = np.sort(P, axis=1)[:, ::-1]
    if measure == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.where(P > 0, P * np.log(P), 0.0).sum(1)
    if measure == "bvsb":
        return s[:, 1] / s[:, 0]
    if measure == "least-confidence":
        return 1 - s[:, 0]
    return 1 - (s[:, 0] - s[:, 1])


@pytest.mark.parametrize("measure", ["entropy", "bvsb", "least-confidence", "margin"])
@pytest.mark.parametrize("normalize", ["none", "minmax"])
def test_weights_match_equations(measure, normalize):
    rng = np.random.default_rng(0)
    P = probs(rng, 200, 6)
    P[0] = np.eye(6)[2]  # one-hot row: zero uncertainty
    u = reference_u(P, measure)
    if normalize == "minmax":
        u = (u - u.min()) / (u.max() - u.min())
    for tau in (1.0, 0.1, 2.5):
        np.testing.assert_allclose(
            uwe_weights(P, uncertainty=measure, tau=tau, normalize=normalize), u ** tau,
            rtol=1e-10, atol=1e-12)


def test_uwe_kcenter_equals_reference_on_scaled_copy():
    rng = np.random.default_rng(1)
    P = probs(rng, 400, 5).astype(np.float32)
    F = np.maximum(rng.normal(size=(400, 16)), 0).astype(np.float32)
    lab = rng.choice(400, 20, replace=False)
    w = uwe_weights(P, tau=0.5)
    p = uwe(P, F, 40, tau=0.5, labeled=lab)
    rp, _ = kcenter_reference(F, 40, labeled=list(lab), weights=w)
    np.testing.assert_array_equal(p, rp)
    # and the scaled copy through the unweighted path gives the same picks
    q, _ = kcenter_greedy(w[:, None] * F.astype(np.float64), 40, labeled=lab)
    np.testing.assert_array_equal(p, q)


def test_uwe_kmeanspp_and_override_weights():
    rng = np.random.default_rng(2)
    P = probs(rng, 300, 4)
    F = rng.normal(size=(300, 7))
    w = uwe_weights(P, uncertainty="bvsb", normalize="minmax")
    a = uwe(P, F, 25, uncertainty="bvsb", normalize="minmax", sampler="kmeanspp", seed=3)
    b = kmeanspp(w[:, None] * F, 25, seed=3)
    np.testing.assert_array_equal(a, b)
    # region-level variants pass aggregated features plus their own weights
    c = uwe(None, F, 25, weights=w, sampler="kmeanspp", seed=3)
    np.testing.assert_array_equal(a, c)


def test_uwe_errors():
    P = np.full((3, 2), 0.5)
    F = np.zeros((3, 2))
    with pytest.raises(ValueError, match="tau must be a finite number > 0"):
        uwe_weights(P, tau=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning on the way to the error
        with pytest.raises(ValueError, match=r"u\(x\)\^tau overflows float64 for tau = 1e\+308"):
            uwe_weights(np.full((3, 3), 1 / 3), tau=1e308)  # entropy ln 3 > 1
    with pytest.raises(ValueError, match="uncertainty='gini' is not supported"):
        uwe_weights(P, uncertainty="gini")
    with pytest.raises(ValueError, match="sampler='random' is not supported"):
        uwe(P, F, 1, sampler="random")
    with pytest.raises(ValueError, match="same number of rows"):
        uwe(np.full((4, 2), 0.5), F, 1)
    with pytest.raises(ValueError, match="weights must be finite and >= 0"):
        uwe(None, F, 1, weights=np.array([1.0, -1.0, 0.0]))
