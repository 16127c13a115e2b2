"""Compilation cache on read-only installs, and the one-line compile notice (real console runs)."""

import os
import pwd
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest

import alselect
from alselect.jit_cache import COMPILE_NOTICE, idle_cores
from alselect.numpy_scores import SMALL_POOL_VALUES
from alselect.pool import write_pool

from conftest import ROOT, random_probs

BUDGET = 7


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """A pool big enough that `margin` runs its numba kernel."""
    rng = np.random.default_rng(3)
    n, c = SMALL_POOL_VALUES // 10 + 500, 10
    path = tmp_path_factory.mktemp("pool") / "pool.h5"
    write_pool(path, probs=random_probs(rng, n, c), labeled=[1, 2, 3])
    return str(path)


@pytest.fixture(scope="module")
def expected(pool):
    return [str(i) for i in alselect.select(pool, "margin", BUDGET).indices]


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HOME", "XDG_CACHE_HOME", "NUMBA_CACHE_DIR", "PYTHONPATH", "TMPDIR")}
    env.update(extra)
    return env


def _pick(pool, env, cwd, prefix=()):
    cmd = [*prefix, sys.executable, "-m", "alselect", "pick", pool, "-s", "margin", "-b", str(BUDGET)]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def _install_copy(tmp_path):
    """alselect's sources copied to their own directory (the read-only install)."""
    site = tmp_path / "site"
    shutil.copytree(os.path.join(ROOT, "alselect"), site / "alselect",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return site


def _read_only_prefix(paths):
    """Command prefix running the rest in a mount namespace where ``paths`` are read-only."""
    binds = " && ".join(f'mount --bind "{p}" "{p}" && mount -o remount,bind,ro "{p}" "{p}"' for p in paths)
    return ["unshare", "-m", "sh", "-c", binds + ' && exec "$@"', "sh"]


def _can_unshare():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


def _make_read_only(site):
    """Non-root: drop write permission on the installed tree; root: a read-only bind mount."""
    if os.geteuid() == 0:
        if not _can_unshare():
            pytest.skip("root without mount namespaces: cannot make a directory read-only")
        home = pwd.getpwuid(os.getuid()).pw_dir  # where numba's per-user cache would go
        return _read_only_prefix([str(site)] + ([home] if os.path.isdir(home) else []))
    for dirpath, _, _ in os.walk(site):
        os.chmod(dirpath, stat.S_IRUSR | stat.S_IXUSR)
    return ()


def test_read_only_install_without_home_caches_in_a_private_temp_dir(tmp_path, pool, expected):
    site = _install_copy(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    prefix = _make_read_only(site)
    env = _env(PYTHONPATH=str(site), TMPDIR=str(tmp))
    if os.geteuid() != 0:  # no HOME falls back to the passwd entry's: make numba's per-user cache unusable
        env["XDG_CACHE_HOME"] = str(site / "alselect")
    try:
        first = _pick(pool, env, str(site), prefix)
        assert first.returncode == 0, first.stderr
        assert first.stdout.split() == expected
        assert COMPILE_NOTICE in first.stderr and "Traceback" not in first.stderr
        cache = tmp / f"alselect-numba-{os.getuid()}"
        assert any(name.endswith(".nbi") for _, _, files in os.walk(cache) for name in files)
        assert stat.S_IMODE(cache.stat().st_mode) & 0o077 == 0
        second = _pick(pool, env, str(site), prefix)
        assert second.returncode == 0, second.stderr
        assert second.stdout.split() == expected
        assert COMPILE_NOTICE not in second.stderr  # loaded from the temp-dir cache
    finally:
        for dirpath, _, _ in os.walk(site):
            os.chmod(dirpath, stat.S_IRWXU)


def test_nothing_writable_still_runs(tmp_path, pool, expected):
    if not _can_unshare():
        pytest.skip("needs root and mount namespaces to make every temp directory read-only")
    site = _install_copy(tmp_path)
    home = pwd.getpwuid(os.getuid()).pw_dir
    read_only = [str(site), "/tmp", "/var/tmp", os.path.dirname(pool)] + ([home] if os.path.isdir(home) else [])
    prefix = _read_only_prefix([p for p in dict.fromkeys(read_only) if os.path.isdir(p)])
    run = _pick(pool, _env(PYTHONPATH=str(site), TMPDIR=str(site)), str(site), prefix)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == expected
    assert "Traceback" not in run.stderr and "no locator" not in run.stderr


def test_compile_notice_once_and_only_when_compiling(tmp_path, pool, expected):
    env = _env(NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    first = _pick(pool, env, str(tmp_path))
    second = _pick(pool, env, str(tmp_path))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stderr.count(COMPILE_NOTICE) == 1
    assert COMPILE_NOTICE not in second.stderr
    assert first.stdout.split() == second.stdout.split() == expected
    assert os.listdir(tmp_path / "cache")  # NUMBA_CACHE_DIR is honoured


def test_thread_count_is_within_the_available_cores():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert 1 <= idle_cores() <= cores


def test_only_the_pools_specialisation_is_compiled(pool):
    code = ("import sys, alselect; alselect.select(sys.argv[1], 'margin', 3)\n"
            "from alselect.kernels import uncertainty as K\n"
            "for name in ('probs_scores_screened', 'entropy', 'margin', 'least_confidence', 'bald', 'bvsb'):\n"
            "    print(name, [str(a) for sig in getattr(K, name).signatures for a in sig])\n")
    out = subprocess.run([sys.executable, "-c", code, pool], capture_output=True, text=True, check=True).stdout
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    # margin on a large float32 pool: the screened kernel, in the pool's dtype only
    assert lines["probs_scores_screened"] == "['array(float32, 2d, C)', 'int64', 'float64']"
    assert all(lines[name] == "[]" for name in ("entropy", "margin", "least_confidence", "bald", "bvsb"))
