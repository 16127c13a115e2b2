"""pseudo-label: the most stable/certain unlabeled samples with predicted labels; never labeled rows."""

import numpy as np
import pytest

from alselect.errors import MissingDatasetError, SelectionError
from alselect.pool import open_pool
from alselect.pseudo_label import pseudo_labels
from clihelp import assert_clean_error, run


def _reference(probs, epoch_preds, labeled, by, k):
    p = probs.astype(np.float64)
    ent = -(p * np.log(np.where(p > 0, p, 1))).sum(1)
    disp = np.array([1 - np.bincount(epoch_preds[:, i]).max() / epoch_preds.shape[0] for i in range(p.shape[0])])
    rows = [i for i in range(p.shape[0]) if i not in set(labeled)]
    key = (lambda i: (disp[i], ent[i], i)) if by == "dispersion" else (lambda i: (ent[i], i))
    order = sorted(rows, key=key)[:k]
    return np.array(order), np.argmax(probs[order], axis=1)


@pytest.mark.parametrize("by", ["dispersion", "entropy"])
def test_matches_reference_and_skips_labeled(make_pool, rng, by):
    n, c = 50, 4
    probs = rng.dirichlet(np.full(c, 0.3), size=n).astype(np.float32)
    epoch_preds = rng.integers(0, c, size=(6, n))
    # make the labeled rows the most certain and stable ones, so a wrong filter would return them
    labeled = [3, 10, 11]
    probs[labeled] = np.eye(c, dtype=np.float32)[0]
    epoch_preds[:, labeled] = 0
    epoch_preds[:, 20:30] = np.argmax(probs[20:30], axis=1)  # some ties at dispersion 0
    path = make_pool(probs=probs, epoch_preds=epoch_preds, labeled=labeled)
    got = pseudo_labels(path, 15, by=by)
    rows, labels = _reference(probs, epoch_preds, labeled, by, 15)
    np.testing.assert_array_equal(got.indices, rows)
    np.testing.assert_array_equal(got.labels, labels)
    assert not set(got.indices.tolist()) & set(labeled)
    extra = pseudo_labels(path, 15, by=by, labeled=got.indices[:5])
    assert not set(extra.indices.tolist()) & (set(labeled) | set(got.indices[:5].tolist()))
    with open_pool(path) as pool:  # the pool is unchanged
        np.testing.assert_array_equal(pool.labeled_rows(), labeled)


def test_errors(make_pool, rng):
    path = make_pool(probs=rng.dirichlet(np.ones(3), size=10).astype(np.float32), labeled=[0, 1])
    with pytest.raises(SelectionError, match="exceeds the 8 unlabeled"):
        pseudo_labels(path, 9, by="entropy")
    with pytest.raises(MissingDatasetError):
        pseudo_labels(path, 2, by="dispersion")
    assert_clean_error(run("pseudo-label", path, "--count", 2), "epoch_preds")


def test_cli_formats(full_pool):
    r = run("pseudo-label", full_pool, "--count", 4, "--by", "entropy", "--format", "csv", "--with-scores", "--names",
            "--ids")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "id,label,score" and len(lines) == 5
    assert all(line.split(",")[1] in "abcd" for line in lines[1:])
    r = run("pseudo-label", full_pool, "-k", 3)
    assert r.exit_code == 0 and all(len(line.split("\t")) == 2 for line in r.stdout.splitlines())
