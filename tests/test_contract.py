"""The shared contract: one validation rule per concept, the exception tree at the CLI
boundary, exact float64 sequences whatever the storage dtype, and arrays as well as files."""

import ast
import os
import subprocess
import sys

import numpy as np
import pytest

import alselect
from alselect import diversity
from alselect.errors import AlselectError, InvalidInputError, PoolValueError, SelectionError
from alselect.pool import MemoryPool, open_pool, write_pool
from alselect.selection import select
from alselect.strategies import REGISTRY
from alselect.validation import PROB_SUM_ATOL, check_probabilities, probability_matrix, row_mask
from clihelp import assert_clean_error, run
from conftest import ROOT, SAMPLE_POOL
from registry_pools import pool_arrays

BARE = {"ValueError", "RuntimeError", "AssertionError", "TypeError", "KeyError", "IndexError"}


def test_no_bare_builtin_raises_in_the_package():
    """Every deliberate error is an AlselectError subclass (which also derives the builtin)."""
    found = []
    for folder, _, files in os.walk(os.path.join(ROOT, "alselect")):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                if isinstance(node, ast.Raise) and node.exc is not None:
                    target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                    if isinstance(target, ast.Name) and target.id in BARE:
                        found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno} raise {target.id}")
                if isinstance(node, ast.Assert):
                    found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno} assert")
    assert not found, found


# ------------------------------------------------------------------ probability rows: one rule
def _float16_pool_arrays():
    arrays = pool_arrays(dtype=np.float16, seed=4)
    arrays["probs"][5] = np.array([0.5, 0.3, 0.2049], dtype=np.float16)  # sums to 1.0049 in float16
    return arrays


def test_float16_row_sum_tolerance_is_the_same_for_every_command(tmp_path):
    arrays = _float16_pool_arrays()
    assert 1.004 < arrays["probs"][5].astype(np.float64).sum() < 1.006
    path = tmp_path / "f16.h5"
    write_pool(path, **arrays)  # pack accepts it ...
    assert run("inspect", path).exit_code == 0  # ... inspect too ...
    for name, spec in REGISTRY.items():  # ... and so does every strategy
        sel = select(str(path), name, 3, seed=0, **spec.test_params)
        assert len(sel) == 3, name


def test_float32_row_just_above_one_is_accepted_everywhere(tmp_path):
    arrays = pool_arrays(seed=5)
    arrays["probs"][5] = [1.00001, 0.0, 0.0]
    path = tmp_path / "p32.h5"
    write_pool(path, **arrays)
    for name in ("badge", "uwe", "balanced", "cdal-cs"):
        assert len(select(str(path), name, 3, seed=0)) == 3
    diversity.badge(arrays["probs"], arrays["embeddings"], 3, seed=0)


def test_bad_row_is_named_with_its_sum_in_every_layer():
    P = np.full((20, 3), 1 / 3, dtype=np.float32)
    P[5] = [0.6, 0.3, 0.3]
    X = np.zeros((20, 2), dtype=np.float32)
    for call in (lambda: diversity.badge(P, X, 2, seed=0),
                 lambda: diversity.uwe_weights(P),
                 lambda: alselect.balance.informativeness("entropy", probs=P),
                 lambda: alselect.cdal.classification_features(P),
                 lambda: select({"probs": P}, "entropy", 2)):
        with pytest.raises(ValueError, match=r"row 5 sums to 1\.2") as info:
            call()
        assert isinstance(info.value, AlselectError)


def test_tolerance_follows_the_storage_dtype():
    row = np.array([[0.5, 0.3, 0.2049]])
    check_probabilities("p", row.astype(np.float16))
    with pytest.raises(PoolValueError, match=f"within {PROB_SUM_ATOL['float32']:g} for float32"):
        check_probabilities("p", row.astype(np.float32))
    probability_matrix("p", row.astype(np.float16))  # widened to float32, float16 tolerance kept


def test_row_sets_reject_duplicates_everywhere():
    with pytest.raises(InvalidInputError, match="lists row 2 more than once"):
        row_mask("labeled", [2, 0, 2], 4)
    X = np.eye(4)
    with pytest.raises(InvalidInputError, match="more than once"):
        diversity.kcenter_greedy(X, 1, labeled=[1, 1])
    with pytest.raises(SelectionError, match="more than once"):
        select({"probs": np.full((4, 2), 0.5)}, "entropy", 1, labeled=[1, 1])


# ------------------------------------------------------------------ parameters and budgets
@pytest.mark.parametrize("args,fragment", [
    (["-s", "uwe", "-p", "tau=0"], "'tau' of strategy 'uwe' got '0'; it must be > 0"),
    (["-s", "balanced", "-p", "lam=nan"], "'lam' of strategy 'balanced' got 'nan'"),
    (["-s", "balanced", "-p", "lam=-1"], "lam must be a finite number >= 0"),
    (["-s", "balanced", "-p", "gap=-0.5"], "'gap' of strategy 'balanced' got '-0.5'"),
    (["-s", "balanced", "-p", "b0=100000"], "b0 must lie in [0, n_labeled=100]"),
    (["-s", "balanced-kcenter", "-p", "cycle=-2"], "'cycle' of strategy 'balanced-kcenter'"),
    (["-s", "entropy", "-b", "inf"], "--budget must be > 0 and finite, got inf"),
    (["-s", "entropy", "-b", "nan"], "--budget must be > 0 and finite, got nan"),
    (["-s", "entropy", "-b", "1e22"], "exceeds the 1697 unlabeled samples"),
])
def test_out_of_range_arguments_are_one_error_line(args, fragment):
    if "-b" not in args:
        args = args + ["-b", "5"]
    assert_clean_error(run("pick", SAMPLE_POOL, *args), fragment)


def test_strategies_lists_parameter_ranges():
    out = run("strategies").output
    assert "-p tau=1.0 (> 0)" in out
    assert "-p gap=0.0001 (>= 0)" in out


@pytest.mark.parametrize("content,fragment", [
    (b"1\n100000000000000000000000\n", "is far outside any pool's rows"),
    (b"1\n\xff\xfe\n", "is not UTF-8 text"),
])
def test_bad_labeled_lists(tmp_path, content, fragment):
    path = tmp_path / "labeled.txt"
    path.write_bytes(content)
    assert_clean_error(run("pick", SAMPLE_POOL, "-s", "entropy", "-b", "2", "--labeled", path), fragment)


# ------------------------------------------------------------------ the CLI boundary
def _explode(*args, **kwargs):
    raise ZeroDivisionError("boom")


def test_unexpected_exception_is_one_bug_line(monkeypatch):
    monkeypatch.setattr("alselect.selection.select", _explode)
    line = assert_clean_error(run("pick", SAMPLE_POOL, "-s", "entropy", "-b", "2"), "unexpected ZeroDivisionError: boom")
    assert "bug in alselect" in line and "--debug" in line


def test_debug_shows_the_traceback(monkeypatch):
    from click.testing import CliRunner

    from alselect.cli import cli

    monkeypatch.setattr("alselect.selection.select", _explode)
    result = CliRunner().invoke(cli, ["--debug", "pick", SAMPLE_POOL, "-s", "entropy", "-b", "2"])
    assert isinstance(result.exception, ZeroDivisionError)
    monkeypatch.setenv("ALSELECT_DEBUG", "1")
    result = CliRunner().invoke(cli, ["pick", SAMPLE_POOL, "-s", "entropy", "-b", "2"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_debug_traceback_in_a_subprocess(tmp_path):
    bad = tmp_path / "x.py"  # a plug-in strategy with a bug
    bad.write_text("from alselect.contract import Ranking\n"
                   "def broken(ctx, budget):\n    return Ranking(1 / 0)\n")
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from alselect.strategies import register, StrategySpec\n"
            "register(StrategySpec('broken', 'a bug', (), 'x:broken'))\n"
            "from alselect.cli import main\nsys.argv = ['alselect'] + sys.argv[1:]\nmain()\n") % str(tmp_path)
    args = [sys.executable, "-c", code, "pick", SAMPLE_POOL, "-s", "broken", "-b", "1"]
    plain = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ, ALSELECT_DEBUG="0"))
    assert plain.returncode == 1 and plain.stdout == ""
    assert plain.stderr.strip().count("\n") == 0 and "bug in alselect" in plain.stderr
    debug = subprocess.run(args[:3] + ["--debug"] + args[3:], capture_output=True, text=True)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr


# ------------------------------------------------------------------ exact float64 sequences
def test_kcenter_on_a_float64_pool_is_the_float64_sequence(tmp_path):
    X = np.array([[0.0, 0.0], [1.0, 0.0], [1.0 + 1e-9, 0.0], [0.0, 0.5]])
    path = tmp_path / "exact.h5"
    write_pool(path, probs=np.full((4, 2), 0.5), embeddings=X, labeled=[0])
    assert diversity.kcenter_greedy(X, 1, labeled=[0])[0].tolist() == [2]
    assert select(str(path), "kcenter", 1).indices.tolist() == [2]
    assert select({"probs": np.full((4, 2), 0.5), "embeddings": X, "labeled": [0]}, "kcenter", 1).indices.tolist() == [2]
    r = run("pick", path, "-s", "kcenter", "-b", "1")
    assert r.stdout == "2\n"
    labels = np.array([0, -1, -1, -1])
    path2 = tmp_path / "exact_bal.h5"
    write_pool(path2, probs=np.full((4, 2), 0.5), embeddings=X, labeled=[0], labels=labels)
    assert select(str(path2), "balanced-kcenter", 1, lam=0).indices.tolist() == [2]


# ------------------------------------------------------------------ arrays as well as files
@pytest.mark.parametrize("name", list(REGISTRY))
def test_arrays_give_the_picks_of_the_file(name, tmp_path):
    arrays = pool_arrays(seed=6)
    path = tmp_path / "pool.h5"
    write_pool(path, **arrays)
    params = REGISTRY[name].test_params
    from_file = select(str(path), name, 5, seed=11, **params)
    from_arrays = select(arrays, name, 5, seed=11, **params)
    np.testing.assert_array_equal(from_file.indices, from_arrays.indices)
    np.testing.assert_array_equal(from_file.scores, from_arrays.scores)


def test_memory_pool_validates_like_pack():
    with pytest.raises(PoolValueError, match="row 2 sums to 2"):
        MemoryPool({"probs": np.array([[0.5, 0.5], [1.0, 0.0], [1.0, 1.0]])})
    with pytest.raises(InvalidInputError, match="unknown pool dataset 'prob'"):
        MemoryPool({"prob": np.full((3, 2), 0.5)})
    with pytest.raises(InvalidInputError, match="mapping"):
        MemoryPool([1, 2])
    with MemoryPool({"logits": np.zeros((3, 2)), "labeled": [1]}) as pool:
        assert pool.labeled_rows().tolist() == [1]
        np.testing.assert_allclose(pool.read("probs"), 0.5)


def test_memory_pool_reads_like_the_file(tmp_path):
    arrays = pool_arrays(seed=7)
    write_pool(tmp_path / "p.h5", **arrays)
    with open_pool(tmp_path / "p.h5") as f, MemoryPool(arrays) as m:
        assert f.datasets() == m.datasets()
        for name in f.datasets():
            np.testing.assert_array_equal(f.read(name) if not name.startswith("cd/mixtures") else f.read_cd()[0],
                                          m.read(name) if not name.startswith("cd/mixtures") else m.read_cd()[0])


# ------------------------------------------------------------------ CDAL Eq. 1 epsilon
def test_infer_and_the_array_api_share_the_cdal_epsilon():
    torch = pytest.importorskip("torch")
    from alselect.cdal import EPS, mixtures_from_regions
    from alselect.infer.summaries import CDAL_ENTROPY_EPS, segmentation

    assert CDAL_ENTROPY_EPS == EPS
    logits = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    got = segmentation(logits)
    p = torch.softmax(logits.double(), dim=1).flatten(2).transpose(1, 2).reshape(-1, 3).numpy()
    want, present, _ = mixtures_from_regions(p, np.array([0, 20, 40]), dtype=np.float64)
    np.testing.assert_array_equal(got["cd/present"].numpy().astype(bool), present)
    np.testing.assert_allclose(got["cd/mixtures"].numpy(), want, rtol=2e-5, atol=1e-6)


def labeled_pick(ctx, budget):
    from alselect.contract import Picks

    return Picks(ctx.labeled[:budget], np.zeros(budget))


def test_a_strategy_breaking_the_contract_is_reported_as_a_bug(monkeypatch):
    from alselect.contract import SEQUENTIAL, StrategySpec
    from alselect.errors import InternalError

    spec = StrategySpec("labeled-pick", "returns labeled rows", (), f"{__name__}:labeled_pick", order=SEQUENTIAL)
    monkeypatch.setitem(REGISTRY, spec.name, spec)
    with pytest.raises(InternalError, match="returned a labeled or repeated row"):
        select(SAMPLE_POOL, spec.name, 2)
    line = assert_clean_error(run("pick", SAMPLE_POOL, "-s", spec.name, "-b", "2"), "returned a labeled or repeated row")
    assert "bug in alselect" in line
