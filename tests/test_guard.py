"""The low-budget guard on synthetic curves, its record in the pool, and pick's warning."""

import subprocess
import sys

import numpy as np
import pytest

from alselect.guard import beats, overall_guard, read_guard, strategy_guard, write_guard
from alselect.pool import open_pool
from clihelp import run
from conftest import ROOT

LABELED = np.array([20, 40, 60, 80, 100])


def test_guard_is_where_the_final_run_of_wins_begins():
    # loses at 20 and 40, ties at 60, wins clearly from 80 on (3 seeds)
    d = np.array([[-0.05, -0.02, 0.00, 0.04, 0.05],
                  [-0.04, -0.03, 0.01, 0.05, 0.06],
                  [-0.06, -0.01, -0.01, 0.06, 0.05]])
    assert strategy_guard(LABELED, d, 10) == {"labels_per_class": 8.0, "beaten": True}
    # an early win that does not last does not count
    d2 = d.copy()
    d2[:, 0] = [0.05, 0.06, 0.05]
    assert strategy_guard(LABELED, d2, 10)["labels_per_class"] == 8.0
    # wins everywhere: the guard is the smallest budget
    assert strategy_guard(LABELED, np.abs(d) + 0.1, 10)["labels_per_class"] == 2.0


def test_guard_when_random_is_never_beaten_and_noisy_wins():
    never = -np.abs(np.random.default_rng(0).normal(size=(4, 5)))
    assert strategy_guard(LABELED, never, 5) == {"labels_per_class": 20.0, "beaten": False}
    # positive mean but a confidence interval reaching below 0 is not a win
    noisy = np.array([[0.10] * 5, [-0.08] * 5, [0.09] * 5])
    assert not beats(noisy).any()
    # one seed: the sign decides
    assert beats(np.array([[0.0, -0.1, 0.2]])).tolist() == [False, False, True]


def test_overall_guard_is_the_smallest_beaten():
    per = {"a": {"labels_per_class": 8.0, "beaten": True}, "b": {"labels_per_class": 4.0, "beaten": True},
           "c": {"labels_per_class": 10.0, "beaten": False}}
    assert overall_guard(per) == {"labels_per_class": 4.0, "beaten": True}
    assert overall_guard({"c": per["c"]}) == {"labels_per_class": 10.0, "beaten": False}


def _pick(pool, *args):
    return run("pick", pool, *args)


def _pick_subprocess(pool, *args):
    return subprocess.run([sys.executable, "-m", "alselect", "pick", str(pool), *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT)


@pytest.fixture
def pool10(make_pool, rng):
    n, c = 200, 10
    return make_pool(probs=rng.dirichlet(np.ones(c), size=n).astype(np.float32), labeled=list(range(20)))


def test_pick_warns_below_recorded_guard_and_keeps_picks(pool10):
    before = _pick(pool10, "-s", "entropy", "-b", 30)
    assert before.exit_code == 0 and "warning" not in before.stderr  # 50 labels, 5 per class >= default 1
    write_guard(pool10, {"labels_per_class": 6.0, "beaten": True,
                         "strategies": {"entropy": {"labels_per_class": 8.0, "beaten": True},
                                        "kcenter": {"labels_per_class": 12.0, "beaten": False}}})
    with open_pool(pool10) as p:
        assert read_guard(p)["strategies"]["entropy"]["labels_per_class"] == 8.0
    after = _pick_subprocess(pool10, "-s", "entropy", "-b", 30)  # the real console path, once
    assert after.stdout == before.stdout
    warnings = [line for line in after.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "'entropy' beat random only from 8 labels per class" in warnings[0]
    assert "warning" not in _pick(pool10, "-s", "entropy", "-b", 60).stderr  # 80 labels = 8 per class
    w = _pick(pool10, "-s", "kcenter", "-b", 30).stderr  # kcenter needs embeddings: error, no warning
    assert "warning" not in w
    w = _pick(pool10, "-s", "margin", "-b", 30).stderr  # not simulated: the pool's overall guard (6)
    assert "no simulated strategy beat random below 6 labels per class" in w
    assert "warning" not in _pick(pool10, "-s", "random", "-b", 5, "--seed", 1).stderr


def test_pick_default_guard_is_one_label_per_class(make_pool, rng):
    path = make_pool(probs=rng.dirichlet(np.ones(10), size=50).astype(np.float32))
    low = _pick(path, "-s", "entropy", "-b", 5)
    assert low.exit_code == 0 and len(low.stdout.split()) == 5
    assert [line for line in low.stderr.splitlines() if line.startswith("warning:")][0].count("below one label") == 1
    assert "warning" not in _pick(path, "-s", "entropy", "-b", 10).stderr
