"""Every CLI command through click's CliRunner: pack -> inspect -> pick round trips."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import alselect
from clihelp import run
from conftest import ROOT, SAMPLE_POOL, random_probs


@pytest.fixture
def npy_dir(tmp_path, rng):
    n, c = 40, 3
    arrays = {
        "p.npy": random_probs(rng, n, c),
        "e.npy": rng.normal(size=(n, 4)).astype(np.float32),
        "m.npy": random_probs(rng, n * 4, c).reshape(n, 4, c),
        "t.npy": rng.integers(0, c, size=(5, n)),
        "y.npy": np.full(n, -1),
        "s.npy": rng.random(n),
        "cost.npy": rng.uniform(1, 2, size=n),
    }
    for name, arr in arrays.items():
        np.save(tmp_path / name, arr)
    np.savez(tmp_path / "bundle.npz", probs=arrays["p.npy"], emb=arrays["e.npy"])
    (tmp_path / "labeled.txt").write_text("0\n1\n# a comment\n\n2\n")
    (tmp_path / "ids.txt").write_text("".join(f"img_{i}\n" for i in range(n)))
    (tmp_path / "names.txt").write_text("cat\ndog\nbird\n")
    return tmp_path


def test_pack_inspect_pick_round_trip(npy_dir):
    d = npy_dir
    pool = d / "pool.h5"
    r = run("pack", "-o", pool, "--probs", d / "p.npy", "--embeddings", d / "e.npy", "--mc-probs", d / "m.npy",
            "--epoch-preds", d / "t.npy", "--labels", d / "y.npy", "--labeled", d / "labeled.txt",
            "--ids", d / "ids.txt", "--scores", f"vaal={d / 's.npy'}", "--cost", d / "cost.npy",
            "--class-names", d / "names.txt")
    assert r.exit_code == 0, r.output
    r = run("inspect", pool)
    assert r.exit_code == 0, r.output
    for fragment in ("rows (N): 40", "classes (C): 3", "mc_probs", "(40, 4, 3)", "scores/vaal", "labeled: 3 of 40",
                     "cat", "validation: OK", "on disk"):
        assert fragment in r.stdout
    report = json.loads(run("inspect", pool, "--json").stdout)
    assert report["labeled"] == 3 and sum(report["predicted_histogram"]) == 40 and report["problems"] == []
    expected = alselect.select(str(pool), "entropy", 5)
    r = run("pick", pool, "--strategy", "entropy", "--budget", 5)
    assert r.exit_code == 0
    assert r.stdout.split() == [str(i) for i in expected.indices]
    assert "selected 5 samples" in r.stderr
    r = run("pick", pool, "-s", "entropy", "-b", 5, "--ids")
    assert r.stdout.split() == [f"img_{i}" for i in expected.indices]


def test_pack_npz_key_and_logits(npy_dir):
    d = npy_dir
    pool = d / "npz.h5"
    r = run("pack", "-o", pool, "--probs", f"{d / 'bundle.npz'}:probs", "--embeddings", f"{d / 'bundle.npz'}:emb")
    assert r.exit_code == 0, r.output
    np.save(d / "logits.npy", np.log(np.load(d / "p.npy")))
    r = run("pack", "-o", d / "logits.h5", "--logits", d / "logits.npy")
    assert r.exit_code == 0, r.output
    a = alselect.select(str(pool), "margin", 10).indices
    b = alselect.select(str(d / "logits.h5"), "margin", 10).indices
    np.testing.assert_array_equal(a, b)
    assert "logits (softmax)" in run("inspect", d / "logits.h5").stdout


@pytest.mark.parametrize("fmt", ["txt", "csv", "jsonl"])
def test_pick_formats_and_scores(fmt):
    expected = alselect.select(SAMPLE_POOL, "bald", 4)
    r = run("pick", SAMPLE_POOL, "-s", "bald", "-b", 4, "--format", fmt, "--with-scores", "--ids")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    if fmt == "txt":
        got = [line.split("\t") for line in lines]
    elif fmt == "csv":
        assert lines[0] == "id,score"
        got = [line.split(",") for line in lines[1:]]
    else:
        got = [[o["id"], o["score"]] for o in map(json.loads, lines)]
    assert [g[0] for g in got] == [f"digit-{i:04d}" for i in expected.indices]
    np.testing.assert_allclose([float(g[1]) for g in got], expected.scores, rtol=1e-9)


def test_pick_output_file_and_labeled_from_stdin(tmp_path):
    out = tmp_path / "picks.txt"
    first = alselect.select(SAMPLE_POOL, "entropy", 10).indices
    r = run("pick", SAMPLE_POOL, "-s", "entropy", "-b", 5, "--labeled", "-", "-o", out,
            input="\n".join(map(str, first[:5])) + "\n")
    assert r.exit_code == 0 and r.stdout == ""
    assert out.read_text().split() == [str(i) for i in first[5:10]]
    r = run("pick", SAMPLE_POOL, "-s", "entropy", "-b", 5, "--ids", "--labeled", "-",
            input="".join(f"digit-{i:04d}\n" for i in first[:5]))
    assert r.stdout.split() == [f"digit-{i:04d}" for i in first[5:10]]


def test_pick_pool_from_stdin():
    with open(SAMPLE_POOL, "rb") as handle:
        data = handle.read()
    from click.testing import CliRunner

    from alselect.cli import cli

    r = CliRunner().invoke(cli, ["pick", "-", "-s", "margin", "-b", "3"], input=data)
    assert r.exit_code == 0, r.output
    assert r.stdout.split() == [str(i) for i in alselect.select(SAMPLE_POOL, "margin", 3).indices]


def test_pick_params_seed_and_budget_cost(full_pool):
    r = run("pick", full_pool, "-s", "score", "-b", 3, "-p", "name=loss", "-p", "order=asc")
    assert r.stdout.split() == [str(i) for i in alselect.select(full_pool, "score", 3, name="loss", order="asc").indices]
    a = run("pick", full_pool, "-s", "random", "-b", 5, "--seed", 3).stdout
    assert a == run("pick", full_pool, "-s", "random", "-b", 5, "--seed", 3).stdout
    r = run("pick", full_pool, "-s", "random", "-b", 5)
    assert "pass --seed" in r.stderr
    r = run("pick", full_pool, "-s", "entropy", "-b", 4.5, "--budget-cost", "--with-scores")
    assert r.exit_code == 0 and "(cost " in r.stderr


def test_strategies_lists_needs_and_params():
    r = run("strategies")
    assert r.exit_code == 0
    for name in ("random", "entropy", "margin", "least-confidence", "bald", "variation-ratio", "dispersion", "score"):
        assert f"\n{name}: " in "\n" + r.stdout
    assert "needs: mc_probs" in r.stdout and "-p order=desc [desc|asc]" in r.stdout
    items = json.loads(run("strategies", "--json").stdout)
    assert {i["name"] for i in items} >= {"bald", "dispersion"}


def test_help_and_version():
    assert "pick" in run("--help").stdout
    assert alselect.__version__ in run("--version").stdout


def test_python_dash_m_and_cold_start():
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "alselect", "pick", SAMPLE_POOL, "-s", "entropy", "-b", "3"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and len(r.stdout.split()) == 3
    code = ("import sys, alselect.cli, alselect; "
            "heavy = [m for m in ('numba', 'cvxpy', 'torch', 'sklearn') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    code = ("import sys; from click.testing import CliRunner; from alselect.cli import cli; "
            "r = CliRunner().invoke(cli, ['strategies']); assert r.exit_code == 0; "
            "assert 'numba' not in sys.modules and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    code = ("import sys; from click.testing import CliRunner; from alselect.cli import cli; "
            f"r = CliRunner().invoke(cli, ['pick', {SAMPLE_POOL!r}, '-s', 'entropy', '-b', '2']); "
            "assert r.exit_code == 0, r.output; "
            "heavy = [m for m in ('cvxpy', 'torch', 'sklearn') if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_sample_pool_is_valid_and_complete():
    r = run("inspect", SAMPLE_POOL)
    assert r.exit_code == 0 and "validation: OK" in r.stdout
    for name in ("probs", "embeddings", "mc_probs", "epoch_preds", "labels", "labeled", "truth", "ids"):
        assert f"  {name} " in r.stdout


def test_sample_pool_script_builds_a_valid_pool(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "sample_data"))
    try:
        import make_digits_pool
    finally:
        sys.path.pop(0)
    out = tmp_path / "digits.h5"
    make_digits_pool.build(str(out), n_labeled=50, epochs=3, members=2)
    with alselect.open_pool(out) as pool:
        assert pool.shape("mc_probs") == (1797, 2, 10) and pool.shape("epoch_preds") == (3, 1797)
        assert pool.labeled_rows().size == 50 and pool.problems() == []
