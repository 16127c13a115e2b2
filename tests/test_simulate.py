"""alselect simulate: the cycle loop against a hand-written loop, resuming, the summary, the report."""

import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from alselect.pool import open_pool, write_pool
from alselect.simulate.grid import read_results, run_grid
from alselect.simulate.loop import Settings, load_data, run_cell
from alselect.simulate.summary import summarize
from conftest import ROOT


@pytest.fixture
def tiny_pool(tmp_path):
    """120 rows, 3 Gaussian classes in 4-D, truth known everywhere, nothing labeled."""
    rng = np.random.default_rng(7)
    c, n = 3, 120
    truth = rng.integers(0, c, size=n)
    centers = rng.normal(scale=2.0, size=(c, 4))
    emb = (centers[truth] + rng.normal(size=(n, 4))).astype(np.float32)
    path = tmp_path / "tiny.h5"
    write_pool(path, probs=np.full((n, c), 1 / c, dtype=np.float32), embeddings=emb, truth=truth,
               class_names=["a", "b", "c"])
    return str(path)


def _hand_loop(emb, truth, strategy, seed, budget, cycles, test_fraction):
    """The protocol written out directly: split, logistic regression from scratch, top-k by hand."""
    m = truth.size
    rng = np.random.default_rng([seed, 0x7E57])
    order = rng.permutation(m)
    n_test = int(round(test_fraction * m))
    test, sim = np.sort(order[:n_test]), np.sort(order[n_test:])
    labeled = np.sort(rng.choice(sim.size, size=budget, replace=False))
    X, y = emb[sim].astype(np.float64), truth[sim]
    accs, picks_per_cycle = [], []
    for cycle in range(cycles + 1):
        model = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(X[labeled], y[labeled])
        p = np.zeros((sim.size, 3))
        p[:, model.classes_] = model.predict_proba(X)
        pt = np.zeros((test.size, 3))
        pt[:, model.classes_] = model.predict_proba(emb[test].astype(np.float64))
        accs.append(float(np.mean(np.argmax(pt, 1) == truth[test])))
        if cycle == cycles:
            break
        pick_seed = int(np.random.SeedSequence([seed, cycle]).generate_state(1)[0] >> 1)
        cand = np.setdiff1d(np.arange(sim.size), labeled)
        if strategy == "random":
            from alselect.rowkeys import uniform

            key = uniform(pick_seed, np.arange(sim.size))  # `random`'s keys: a hash of (seed, row)
        else:
            q = p.astype(np.float32).astype(np.float64)
            key = -(q * np.log(np.where(q > 0, q, 1))).sum(1)
        picks = cand[np.argsort(-key[cand], kind="stable")[:budget]]
        picks_per_cycle.append(picks)
        labeled = np.union1d(labeled, picks)
    return accs, labeled, picks_per_cycle


@pytest.mark.parametrize("strategy", ["random", "entropy"])
def test_loop_matches_hand_written_loop(tiny_pool, strategy, monkeypatch):
    import alselect.selection

    with open_pool(tiny_pool) as pool:
        data = load_data(pool)
    settings = Settings(budget=5, cycles=3, test_fraction=0.25)
    real_select, seen = alselect.selection.select, []

    def recording_select(*args, **kwargs):
        result = real_select(*args, **kwargs)
        if not isinstance(args[0], (str, os.PathLike)):  # select(path) re-enters with the opened pool
            seen.append(result.indices)
        return result

    monkeypatch.setattr(alselect.selection, "select", recording_select)
    for seed in (0, 1):
        seen.clear()
        rows = run_cell(data, settings, strategy, seed)
        accs, final, picks = _hand_loop(data.embeddings, data.truth, strategy, seed, 5, 3, 0.25)
        assert len(seen) == 3
        for got, expected in zip(seen, picks):
            np.testing.assert_array_equal(got, expected)
        assert [r["cycle"] for r in rows] == [0, 1, 2, 3]
        assert [r["labeled"] for r in rows] == [5, 10, 15, 20]
        np.testing.assert_allclose([r["accuracy"] for r in rows], accs, rtol=0, atol=1e-12)
        counts = np.bincount(data.truth[np.sort(np.random.default_rng([seed, 0x7E57]).permutation(120)[30:])][final],
                             minlength=3)
        assert rows[-1]["class_counts"] == " ".join(map(str, counts))


def test_cells_share_split_and_initial_set(tiny_pool):
    with open_pool(tiny_pool) as pool:
        data = load_data(pool)
    settings = Settings(budget=5, cycles=1, test_fraction=0.25)
    a, b = run_cell(data, settings, "random", 3), run_cell(data, settings, "kcenter", 3)
    assert a[0]["accuracy"] == b[0]["accuracy"] and a[0]["class_counts"] == b[0]["class_counts"]


def test_mc_and_epoch_strategies_run(tiny_pool):
    with open_pool(tiny_pool) as pool:
        data = load_data(pool)
    settings = Settings(budget=4, cycles=2, test_fraction=0.25, members=3, epochs=4)
    for strategy in ("bald", "dispersion", "svm-margin", "balanced"):
        rows = run_cell(data, settings, strategy, 0)
        assert [r["labeled"] for r in rows] == [4, 8, 12]


def test_resume_skips_finished_cells_and_rejects_other_settings(tiny_pool, tmp_path):
    with open_pool(tiny_pool) as pool:
        data = load_data(pool)
    out = str(tmp_path / "results.csv")
    settings = Settings(budget=5, cycles=2, test_fraction=0.25)
    rows1, skipped1 = run_grid(data, settings, ["random", "entropy"], [0, 1], output=out)
    text = open(out).read()
    rows2, skipped2 = run_grid(data, settings, ["random", "entropy", "margin"], [0, 1], output=out)
    assert (skipped1, skipped2) == (0, 4)
    assert open(out).read().startswith(text) and len(read_results(out)) == 3 * 2 * 3
    assert [r for r in rows2 if r["strategy"] != "margin"] == rows1
    with pytest.raises(ValueError, match="other settings"):
        run_grid(data, Settings(budget=6, cycles=2, test_fraction=0.25), ["random"], [0], output=out)


def test_parallel_grid_equals_serial(tiny_pool):
    with open_pool(tiny_pool) as pool:
        data = load_data(pool)
    settings = Settings(budget=5, cycles=2, test_fraction=0.25)
    serial, _ = run_grid(data, settings, ["random"], [0, 1, 2], jobs=1)
    parallel, _ = run_grid(data, settings, ["random"], [0, 1, 2], jobs=2)
    strip = lambda rows: [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in rows]  # noqa: E731
    assert strip(serial) == strip(parallel)


def test_summary_paired_differences_and_aulc():
    rows = []
    for strategy, base in (("random", 0.5), ("entropy", 0.6)):
        for seed in range(3):
            for cycle, lab in enumerate((10, 20, 30)):
                value = base + 0.1 * cycle + 0.01 * seed
                rows.append({"strategy": strategy, "seed": seed, "cycle": cycle, "labeled": lab, "accuracy": value,
                             "class_counts": "1 2"})
    s = summarize(rows, "accuracy", n_classes=2)
    e = s["strategies"]["entropy"]
    np.testing.assert_allclose(e["diff_mean"], [0.1, 0.1, 0.1])
    assert e["wins"] == [3, 3, 3] and e["losses"] == [0, 0, 0]
    # trapezoid of 0.6, 0.7, 0.8 (+0.01 seed) over 10..30, divided by 20: the mean 0.7 + 0.01 seed
    np.testing.assert_allclose(e["aulc_mean"], 0.71)
    assert s["guard"]["labels_per_class"] == 10.0 and s["guard"]["beaten"]


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "alselect", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env)


def test_cli_report_files_and_guard_recorded(tiny_pool, tmp_path):
    pytest.importorskip("matplotlib")
    report = tmp_path / "out"
    r = _cli("simulate", tiny_pool, "--strategies", "entropy,kcenter", "--budget", 5, "--cycles", 2, "--seeds", 2,
             "--test-fraction", 0.25, "--jobs", 1, "--report", report)
    assert r.returncode == 0, r.stderr
    header, *lines = r.stdout.splitlines()
    assert header.startswith("strategy\tseeds\taulc") and [l.split("\t")[0] for l in lines] == ["random", "entropy",
                                                                                               "kcenter"]
    for name in ("curves.png", "curves.svg", "classes.png", "classes.svg", "summary.csv", "cycles.csv",
                 "report.html", "results.csv"):
        assert (report / name).stat().st_size > 0, name
    html = (report / "report.html").read_text()
    for name in ("curves.png", "curves.svg", "classes.png", "classes.svg", "summary.csv", "data:image/png;base64"):
        assert name in html
    assert "Low-budget guard" in html
    from alselect.guard import read_guard

    with open_pool(tiny_pool) as pool:
        record = read_guard(pool)
    assert record is not None and set(record["strategies"]) == {"entropy", "kcenter"} and record["budget"] == 5
    rerun = _cli("simulate", tiny_pool, "--strategies", "entropy,kcenter", "--budget", 5, "--cycles", 2, "--seeds",
                 2, "--test-fraction", 0.25, "--jobs", 1, "--report", report, "--no-record")
    assert rerun.returncode == 0 and "resumed: 6 finished cells" in rerun.stderr and rerun.stdout == r.stdout


def test_cli_report_without_matplotlib_is_one_error_line(tiny_pool, tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from alselect.cli import main; "
            f"sys.argv = ['alselect', 'simulate', {tiny_pool!r}, '--budget', '5', '--cycles', '1', "
            f"'--report', {str(tmp_path / 'out')!r}]; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert lines[0].startswith("Error: ") and "pip install 'alselect[plot]'" in lines[0]
    assert r.stdout == "" and not (tmp_path / "out").exists()


def test_cli_rejects_unsimulable_strategy_and_too_small_pool(tiny_pool):
    r = _cli("simulate", tiny_pool, "--strategies", "score", "--budget", 5)
    assert r.returncode == 1 and r.stderr.startswith("Error: strategy 'score' cannot be simulated")
    r = _cli("simulate", tiny_pool, "--budget", 50, "--cycles", 3)
    assert r.returncode == 1 and "lower --budget" in r.stderr and len(r.stderr.splitlines()) == 1


def test_engine_does_not_import_matplotlib_or_joblib():
    code = ("import sys, alselect, alselect.cli, alselect.selection, alselect.guard, alselect.simulate.command; "
            "print(any(m in sys.modules for m in ('matplotlib', 'joblib', 'sklearn')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.stdout.strip() == "False", r.stderr


def test_initial_pool_keeps_the_pools_labeled_rows_out_of_the_test_set(tmp_path):
    from alselect.simulate.loop import split

    rng = np.random.default_rng(1)
    n = 60
    truth = np.arange(n) % 3
    truth[5] = -1  # unknown truth: left out of the simulation
    path = tmp_path / "p.h5"
    write_pool(path, probs=np.full((n, 3), 1 / 3, dtype=np.float32), embeddings=rng.normal(size=(n, 2)),
               truth=truth, labeled=[1, 7, 8, 30])
    with open_pool(path) as pool:
        data = load_data(pool)
    assert 5 not in data.rows.tolist() and data.truth.size == 59
    for seed in range(3):
        sim, test, initial = split(data, Settings(budget=3, cycles=2, initial="pool", test_fraction=0.3), seed)
        assert data.rows[sim[initial]].tolist() == [1, 7, 8, 30]
        assert not set(test.tolist()) & set(sim.tolist()) and len(test) == round(0.3 * 59)


def test_results_round_trip_csv_and_jsonl(tmp_path):
    from alselect.simulate.grid import append_results

    row = {"strategy": "entropy", "seed": 2, "cycle": 1, "labeled": 40, "accuracy": 0.1 + 0.2,
           "balanced_accuracy": 1 / 3, "macro_f1": 2 / 7, "select_seconds": 0.5, "train_seconds": 1e-7,
           "class_counts": "1 2 3", "config": "abc"}
    for name in ("r.csv", "r.jsonl"):
        path = str(tmp_path / name)
        append_results(path, [row])
        append_results(path, [dict(row, cycle=2)])
        assert read_results(path) == [row, dict(row, cycle=2)]  # every digit survives
        with open(path, "a") as handle:
            handle.write('{"strategy": "torn' if name.endswith("jsonl") else "entropy,2,3,")  # a torn last line
        assert len(read_results(path)) == 2


def test_summary_metric_choice():
    rows = [{"strategy": s, "seed": 0, "cycle": c, "labeled": 10 * (c + 1), "accuracy": 0.5, "macro_f1": v,
             "class_counts": "1"} for s, v in (("random", 0.4), ("margin", 0.6)) for c in range(2)]
    assert summarize(rows, "macro_f1", n_classes=1)["strategies"]["margin"]["diff_mean"] == pytest.approx([0.2, 0.2])
    assert summarize(rows, "accuracy", n_classes=1)["strategies"]["margin"]["diff_mean"] == [0.0, 0.0]
