"""The simulation's classifier outputs against scikit-learn used directly."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.svm import LinearSVC

from alselect.errors import InvalidInputError
from alselect.simulate import models
from alselect.simulate.loop import simulable


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 2, 2])
    X = rng.normal(size=(12, 3)) + y[:, None]
    return X, y, rng.normal(size=(30, 3)) + 1


def test_probabilities_cover_every_class(data):
    X, y, Xp = data
    p, _ = models.fit_probs("logreg", 0, X[y != 1], y[y != 1], Xp, 4)
    ref = LogisticRegression(C=1.0, max_iter=1000, random_state=0).fit(X[y != 1], y[y != 1]).predict_proba(Xp)
    np.testing.assert_allclose(p[:, [0, 2]], ref)
    assert (p[:, [1, 3]] == 0).all()
    one, model = models.fit_probs("logreg", 0, X[:1], y[:1], Xp, 3)
    assert model is None and (one[:, 0] == 1).all()


def test_linear_svm_probabilities_are_softmax_of_decision_values(data):
    X, y, Xp = data
    p, _ = models.fit_probs("linear-svm", 1, X, y, Xp, 3)
    d = LinearSVC(C=1.0, random_state=1).fit(X, y).decision_function(Xp)
    e = np.exp(d - d.max(1, keepdims=True))
    np.testing.assert_allclose(p, e / e.sum(1, keepdims=True), rtol=1e-10)


def test_bootstrap_members_are_resampled_fits(data):
    X, y, Xp = data
    got = models.bootstrap_probs("logreg", 5, X, y, Xp, 3, 3, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    for m in range(3):
        take = rng.integers(0, y.size, size=y.size)
        ref = np.zeros((Xp.shape[0], 3))
        fit = LogisticRegression(C=1.0, max_iter=1000, random_state=5 + m + 1).fit(X[take], y[take])
        ref[:, fit.classes_] = fit.predict_proba(Xp)
        np.testing.assert_allclose(got[:, m], ref)


def test_epoch_predictions_truncated_solver(data):
    X, y, Xp = data
    got = models.epoch_predictions("logreg", 0, X, y, Xp, 3, 5)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = [LogisticRegression(C=1.0, max_iter=e, random_state=0).fit(X, y).predict(Xp) for e in range(1, 6)]
    np.testing.assert_array_equal(got, np.stack(ref))


def test_epoch_predictions_partial_fit():
    rng = np.random.default_rng(0)
    y = np.arange(40) % 3
    X = rng.normal(size=(40, 3)) + y[:, None]
    Xp = rng.normal(size=(25, 3))
    got = models.epoch_predictions("sklearn.linear_model:SGDClassifier", 4, X, y, Xp, 3, 4)
    sgd = SGDClassifier(random_state=4)
    ref = []
    for _ in range(4):
        sgd.partial_fit(X, y, classes=np.arange(3))
        ref.append(sgd.predict(Xp))
    np.testing.assert_array_equal(got, np.stack(ref))


def test_custom_model_by_import_path(data):
    X, y, Xp = data
    p, _ = models.fit_probs("sklearn.neighbors:KNeighborsClassifier", 0, X, y, Xp, 3)
    assert p.shape == (30, 3) and np.allclose(p.sum(1), 1)
    assert not simulable("dispersion", "sklearn.neighbors:KNeighborsClassifier")
    assert simulable("dispersion", "logreg") and simulable("bald", "logreg") and not simulable("score", "logreg")
    for bad in ("nomodule", "no.such.module:X", "sklearn.linear_model:NoSuchClass"):
        with pytest.raises(InvalidInputError, match="--model"):
            models.make_model(bad, 0)
