"""File descriptor 1 carries the picks and nothing else, for every registered strategy.

Runs the installed console script in a subprocess (CliRunner captures only Python-level
stdout, so it cannot see a C library writing to fd 1, like the HiGHS banner of `balanced`)."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from alselect.pool import write_pool
from alselect.selection import select
from alselect.strategies import REGISTRY
from registry_pools import pool_arrays


def alselect_command():
    script = os.path.join(os.path.dirname(sys.executable), "alselect")
    if os.path.exists(script):
        return [script]
    found = shutil.which("alselect")
    return [found] if found else [sys.executable, "-m", "alselect"]


@pytest.fixture(scope="module")
def pool_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("stdout") / "pool.h5"
    write_pool(path, **pool_arrays(seed=3))
    return str(path)


def _run(*args):
    env = dict(os.environ, ALSELECT_DEBUG="0")
    return subprocess.run(alselect_command() + [str(a) for a in args], capture_output=True, env=env, timeout=600)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_stdout_is_exactly_the_picks(name, pool_file, tmp_path):
    spec = REGISTRY[name]
    params = [arg for key, value in spec.test_params.items() for arg in ("-p", f"{key}={value}")]
    expected = "".join(f"{int(i)}\n" for i in select(pool_file, name, 4, seed=5, **spec.test_params).indices).encode()
    r = _run("pick", pool_file, "-s", name, "-b", 4, "--seed", 5, *params)
    if r.returncode and b"pip install 'alselect[" in r.stderr:
        pytest.skip(r.stderr.decode().strip())
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == expected, (r.stdout, r.stderr)

    out = tmp_path / "picks.txt"
    r = _run("pick", pool_file, "-s", name, "-b", 4, "--seed", 5, *params, "-o", out)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b""
    assert out.read_bytes() == expected


def test_solver_banner_goes_to_stderr(pool_file):
    """`balanced` runs HiGHS through cvxpy, which prints its banner on fd 1."""
    r = _run("pick", pool_file, "-s", "balanced", "-b", 3)
    assert r.returncode == 0, r.stderr.decode()
    assert all(line.isdigit() for line in r.stdout.decode().splitlines())
    assert len(r.stdout.decode().splitlines()) == 3


def test_scores_print_at_full_precision(tmp_path):
    X = np.array([[0.0, 0.0], [1.0, 0.0], [1.0 + 1e-9, 0.0], [0.0, 0.5]])
    path = tmp_path / "exact.h5"
    write_pool(path, probs=np.full((4, 2), 0.5), embeddings=X, labeled=[0])
    r = _run("pick", path, "-s", "kcenter", "-b", 2, "--with-scores", "--format", "csv")
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "row,score"
    row, score = lines[1].split(",")
    assert row == "2" and float(score) == 1.0 + 1e-9  # reads back exactly


def test_stdout_guard_moves_raw_fd_writes_to_stderr():
    code = ("import os, sys\nfrom alselect.stdout_guard import stdout_to_stderr\n"
            "print('before', flush=True)\n"
            "with stdout_to_stderr():\n"
            "    os.write(1, b'c-level noise\\n'); print('python noise')\n"
            "print('data')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "before\ndata\n"
    assert "c-level noise" in r.stderr and "python noise" in r.stderr


def test_a_closed_stdout_is_no_error():
    """`alselect ... | head -1`: the reader leaves early; no Error line, no traceback."""
    proc = subprocess.Popen(alselect_command() + ["strategies"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command writes anything: its first write gets EPIPE
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert stderr == ""
