"""svm-margin against scikit-learn's decision_function computed directly."""

import numpy as np
import pytest
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import SVC

from alselect import select
from alselect.errors import SelectionError


def _pool(make_pool, rng, c, n=80, labeled=12):
    truth = rng.integers(0, c, size=n)
    truth[:c] = np.arange(c)  # every class among the labeled rows
    emb = (rng.normal(scale=1.5, size=(c, 5))[truth] + rng.normal(size=(n, 5))).astype(np.float32)
    labels = np.full(n, -1)
    labels[:labeled] = truth[:labeled]
    return make_pool(probs=np.full((n, c), 1 / c, dtype=np.float32), embeddings=emb, labels=labels), emb, labels


@pytest.mark.parametrize("c", [2, 4])
@pytest.mark.parametrize("distance", ["functional", "geometric"])
def test_svm_margin_matches_decision_function(make_pool, rng, c, distance):
    path, emb, labels = _pool(make_pool, rng, c)
    lab = np.flatnonzero(labels >= 0)
    model = OneVsRestClassifier(SVC(kernel="linear", C=5.0)).fit(emb[lab].astype(np.float64), labels[lab])
    f = model.decision_function(emb.astype(np.float64))
    f = f.reshape(len(emb), -1)
    if distance == "geometric":
        norms = np.array([np.linalg.norm(e.coef_) for e in model.estimators_])
        f = f / norms
    expected_scores = np.abs(f).min(axis=1)
    cand = np.setdiff1d(np.arange(len(emb)), lab)
    expected = cand[np.argsort(expected_scores[cand], kind="stable")][:15]
    got = select(path, "svm-margin", 15, distance=distance)
    np.testing.assert_array_equal(got.indices, expected)
    np.testing.assert_allclose(got.scores, expected_scores[expected], rtol=1e-6, atol=1e-9)
    if distance == "functional":
        inside = int((expected_scores[cand] < 1).sum())
        assert any(note.startswith(f"{inside} of {cand.size} candidates") for note in got.notes)


def test_svm_margin_C_changes_the_model(make_pool, rng):
    path, emb, labels = _pool(make_pool, rng, 3)
    assert not np.array_equal(select(path, "svm-margin", 30, C="0.01").indices, select(path, "svm-margin", 30).indices)


def test_svm_margin_needs_two_labeled_classes(make_pool, rng):
    n = 30
    labels = np.full(n, -1)
    labels[:4] = 1
    path = make_pool(probs=np.full((n, 3), 1 / 3, dtype=np.float32), embeddings=rng.normal(size=(n, 3)), labels=labels)
    with pytest.raises(SelectionError, match="at least 2 classes"):
        select(path, "svm-margin", 5)
    no_labels = make_pool(probs=np.full((n, 3), 1 / 3, dtype=np.float32), embeddings=rng.normal(size=(n, 3)),
                          labeled=[0, 1])
    with pytest.raises(SelectionError, match="needs the labels of the 2 labeled samples"):
        select(no_labels, "svm-margin", 5)
