"""Omega (Eq. 4.4), infer_cycle, informativeness, class_histogram and balance_score (Eq. 4.10)."""

import numpy as np
import pytest

from alselect.balance import (
    balance_score,
    class_histogram,
    infer_cycle,
    informativeness,
    omega,
)


def test_omega_first_cycle_uniform_start_is_b_over_C():
    # Eq. 4.5: with n_i = b0/C, Omega(1) = b/C for every class
    labels = np.repeat(np.arange(4), 5)            # b0 = 20, 5 per class
    om = omega(labels, 4, 8, b0=20, cycle=1)
    np.testing.assert_allclose(om, [2.0, 2.0, 2.0, 2.0])


def test_omega_hand_worked_with_missing_and_oversampled_classes():
    # C=3, b=6, b0=6, cycle 2 -> goal per class (2*6+6)/3 = 6
    labels = [0] * 9 + [1] * 3                      # class 2 has no labeled sample
    om = omega(labels, 3, 6, b0=6, cycle=2)
    np.testing.assert_allclose(om, [0.0, 3.0, 6.0])  # class 0 over-sampled -> clipped at 0


def test_omega_target_distribution_and_truncation():
    labels = [0, 0, 1]
    # goal = t * (1*4 + 3) = [3.5, 2.1, 1.4]
    om = omega(labels, 3, 4, b0=3, cycle=1, target=[0.5, 0.3, 0.2])
    np.testing.assert_allclose(om, [1.5, 1.1, 1.4])
    om_t = omega(labels, 3, 4, b0=3, cycle=1, target=[0.5, 0.3, 0.2], truncate=True)
    np.testing.assert_allclose(om_t, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(omega(labels, 3, 4, b0=3, cycle=1, target="uniform"),
                               omega(labels, 3, 4, b0=3, cycle=1))


def test_omega_no_labels_at_all():
    np.testing.assert_allclose(omega([], 4, 8, b0=0, cycle=1), [2.0] * 4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(labels_of_labeled=[0, 5], n_classes=3), r"must lie in \[0, 3\)"),
    (dict(labels_of_labeled=[0.5], n_classes=3), "integer class ids"),
    (dict(labels_of_labeled=[0], n_classes=0), "n_classes must be a positive integer"),
    (dict(labels_of_labeled=[0], n_classes=3, target=[0.5, 0.5, 0.5]), "must sum to 1"),
    (dict(labels_of_labeled=[0], n_classes=3, target=[1.0, 0.0]), r"shape \(3,\)"),
    (dict(labels_of_labeled=[0], n_classes=3, target="zipf"), "'uniform'"),
    (dict(labels_of_labeled=[0], n_classes=3, cycle=0), "cycle must be an integer >= 1"),
    (dict(labels_of_labeled=[0], n_classes=3, budget=0), "budget must be an integer >= 1"),
])
def test_omega_errors(kwargs, match):
    args = dict(budget=4, b0=1, cycle=1)
    args.update(kwargs)
    labels = args.pop("labels_of_labeled")
    C = args.pop("n_classes")
    b = args.pop("budget")
    with pytest.raises(ValueError, match=match):
        omega(labels, C, b, **args)


def test_infer_cycle():
    assert infer_cycle(100, 50, 100) == 1
    assert infer_cycle(150, 50, 100) == 2
    assert infer_cycle(260, 50, 100) == 4          # 3.2 cycles done -> rounds to 3 -> cycle 4
    assert infer_cycle(125, 50, 100) == 2          # a half rounds up
    with pytest.raises(ValueError, match="b0 must lie in"):
        infer_cycle(10, 5, 20)
    with pytest.raises(ValueError, match="budget must be >= 1"):
        infer_cycle(10, 0, 5)


def test_informativeness_reference_values():
    P = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.6, 0.3, 0.1]])
    ent = informativeness("entropy", probs=P)
    np.testing.assert_allclose(ent, [np.log(2), 0.0, -(0.6 * np.log(0.6) + 0.3 * np.log(0.3)
                                                       + 0.1 * np.log(0.1))])
    np.testing.assert_allclose(informativeness("margin", probs=P), [1.0, 0.0, 0.7])
    np.testing.assert_allclose(informativeness("least-confidence", probs=P), [0.5, 0.0, 0.4])
    mc = np.array([[[1.0, 0.0], [0.0, 1.0]]])   # (N=1, T=2, C=2): total disagreement
    np.testing.assert_allclose(informativeness("bald", mc_probs=mc), [np.log(2)])
    np.testing.assert_allclose(informativeness("score", score=[3.0, -1.0]), [3.0, -1.0])
    with pytest.raises(ValueError, match="unknown informativeness kind"):
        informativeness("variance", probs=P)
    with pytest.raises(ValueError, match="rows must sum to 1"):
        informativeness("entropy", probs=[[2.0, 3.0]])
    with pytest.raises(ValueError, match="NaN or infinite value in row 1"):
        informativeness("entropy", probs=[[0.5, 0.5], [np.nan, 0.5]])


def test_class_histogram_and_balance_score():
    np.testing.assert_array_equal(class_histogram([0, 2, 2], 4), [1, 0, 2, 0])
    assert balance_score([5, 5, 5, 5]) == 0.0
    assert balance_score([0, 8, 0, 0]) == pytest.approx(1.0)
    # hand-worked: b=4, C=2, |3-2| + |1-2| = 2 over 2*4*(1/2) = 4
    assert balance_score([3, 1]) == pytest.approx(0.5)
    assert balance_score([7]) == 0.0
    assert np.isnan(balance_score([0, 0, 0]))
    with pytest.raises(ValueError, match="counts must be finite and >= 0"):
        balance_score([1, -1])
    with pytest.raises(ValueError, match=r"must lie in \[0, 2\)"):
        class_histogram([0, 2], 2)
