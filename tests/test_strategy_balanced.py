"""balanced and balanced-kcenter through select/pick; Ω defaults; inspect --picks balance report."""

import itertools
import json

import numpy as np
import pytest

import alselect
from alselect.balance import balance_score, balanced_kcenter, omega
from clihelp import assert_clean_error, run
from conftest import random_probs
from test_kernels_uncertainty import ref_entropy


@pytest.fixture
def arrays(rng):
    n, c = 14, 3
    probs = random_probs(rng, n, c, alpha=0.7)
    labels = np.full(n, -1)
    labels[[0, 1, 2]] = [0, 0, 1]
    return dict(probs=probs, labels=labels, embeddings=rng.normal(size=(n, 4)).astype(np.float32),
                truth=rng.integers(0, c, n))


def brute_force(u, P, om, budget, lam, rows):
    best, best_set = np.inf, None
    for subset in itertools.combinations(rows, budget):
        s = list(subset)
        value = -u[s].sum() + lam * np.abs(om - P[s].sum(0)).sum()
        if value < best - 1e-12:
            best, best_set = value, s
    return best, best_set


@pytest.mark.parametrize("lam", [0.0, 0.5, 3.0])
def test_balanced_is_the_exact_optimum(make_pool, arrays, lam):
    path = make_pool(**arrays)
    result = alselect.select(path, "balanced", 4, lam=lam, gap=0)
    p = arrays["probs"].astype(np.float64)
    u = ref_entropy(p)
    om = np.maximum((4 + 3) / 3 - np.array([2, 1, 0]), 0)  # first cycle: b0 = 3 labeled, n = (2, 1, 0)
    best, _ = brute_force(u, p, om, 4, lam, range(3, 14))
    got = -u[result.indices].sum() + lam * np.abs(om - p[result.indices].sum(0)).sum()
    assert got == pytest.approx(best, abs=1e-9)
    assert "status optimal" in " ".join(result.notes) and "cycle 1 (b=4, b0=3)" in " ".join(result.notes)


def test_lambda_zero_is_plain_entropy(make_pool, arrays):
    path = make_pool(**arrays)
    a = alselect.select(path, "balanced", 5, lam=0)
    b = alselect.select(path, "entropy", 5)
    np.testing.assert_array_equal(np.sort(a.indices), np.sort(b.indices))


@pytest.mark.parametrize("params,b0,cycle", [({}, 3, 1), ({"cycle": 2}, 1, 2), ({"b0": 1}, 1, 2),
                                             ({"b0": 1, "cycle": 3}, 1, 3)])
def test_omega_defaults(make_pool, arrays, params, b0, cycle):
    path = make_pool(**arrays)
    result = alselect.select(path, "balanced-kcenter", 2, lam=0.7, **params)
    om = omega(np.array([0, 0, 1]), 3, 2, b0=b0, cycle=cycle)
    labeled = np.array([0, 1, 2])
    expected = balanced_kcenter(arrays["embeddings"], arrays["probs"].astype(np.float64), om, 2, 0.7, labeled=labeled,
                                candidates=np.arange(3, 14))
    np.testing.assert_array_equal(result.indices, expected)
    assert f"cycle {cycle} (b=2, b0={b0})" in result.notes[0]


def test_target_file(make_pool, arrays, tmp_path):
    path = make_pool(**arrays)
    (tmp_path / "t.txt").write_text("1\n1\n2\n")
    r = run("pick", path, "-s", "balanced", "-b", 4, "-p", f"target={tmp_path / 't.txt'}")
    assert r.exit_code == 0, r.output
    (tmp_path / "t.txt").write_text("1\n1\n")
    assert_clean_error(run("pick", path, "-s", "balanced", "-b", 4, "-p", f"target={tmp_path / 't.txt'}"),
                       "3 non-negative numbers")


def test_missing_labels_are_clear_errors(make_pool, arrays):
    no_labels = dict(arrays)
    del no_labels["labels"]
    path = make_pool(**no_labels, labeled=[0, 1])
    assert_clean_error(run("pick", path, "-s", "balanced", "-b", 2), "dataset 'labels'", "--labels")
    path = make_pool(**arrays, labeled=[5])
    assert_clean_error(run("pick", path, "-s", "balanced", "-b", 2), "1 of the 4 labeled samples have no label")


def test_balanced_scores_with_external_score(make_pool, arrays, rng):
    s = rng.random(14)
    path = make_pool(**arrays, scores={"vaal": s})
    asc = alselect.select(path, "balanced", 3, lam=0, uncertainty="score", score="vaal:asc")
    np.testing.assert_array_equal(np.sort(asc.indices), np.sort(3 + np.argsort(s[3:])[:3]))
    assert_clean_error(run("pick", path, "-s", "balanced", "-b", 2, "-p", "uncertainty=score"), "-p score=NAME")


def test_inspect_picks_balance_report(make_pool, arrays, tmp_path):
    path = make_pool(**arrays)
    picks = [3, 4, 9, 10]
    (tmp_path / "p.txt").write_text("\n".join(map(str, picks)))
    r = run("inspect", path, "--picks", tmp_path / "p.txt", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)["balance"]
    pred = arrays["probs"].argmax(1)
    assert report["predicted"]["picks"] == np.bincount(pred[picks], minlength=3).tolist()
    assert report["predicted"]["labeled"] == np.bincount(pred[[0, 1, 2]], minlength=3).tolist()
    assert report["true"]["picks"] == np.bincount(arrays["truth"][picks], minlength=3).tolist()
    expected = balance_score(np.bincount(pred[[0, 1, 2] + picks], minlength=3))
    assert report["balance_score"]["predicted_labeled+picks"] == pytest.approx(expected)
    text = run("inspect", path, "--picks", tmp_path / "p.txt").stdout
    assert "L1 score" in text and "true class histogram" in text and "labeled+picks" in text


def test_balance_score_extremes():
    assert balance_score(np.array([5, 5, 5])) == 0.0
    assert balance_score(np.array([0, 9, 0])) == pytest.approx(1.0)
