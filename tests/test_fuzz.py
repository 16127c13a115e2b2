"""No traceback, ever: `inspect` and `pick` on generated and mutated pool files.

Hypothesis builds a valid pool, applies a mutation (truncation, bit flips, wrong dtypes and
shapes, NaN/inf/negative/denormal values, odd attributes, broken region offsets, enormous
claimed shapes, soft/external/virtual links, bad ids, empty epoch and member axes) and runs
`inspect` and `pick` with strategies of the registry. Every run must end with exit status 0
and valid picks, or exit status 1 and exactly one `Error:` line on stderr and no output file;
never a traceback, a signal, a hang (timeout) or a memory blow-up (RLIMIT_AS).

The runs go through tests/fuzz_driver.py (each one a forked process of a warm interpreter
that runs the real ``alselect.cli.main``, so hundreds of runs fit in a minute; for half of the
files with the large-pool paths forced, since the generated pools are small) and, for a
fixed catalogue of bad files, through the installed console script in a subprocess. A run is a
hang after RUN_TIMEOUT_S, or COMPILE_TIMEOUT_S once it has said it is compiling kernels (they
specialise on input dtypes, and one the warm-up did not meet compiles in the child).

CI runs a fixed, derandomized budget (about a minute); ``pytest -m fuzz`` runs the long
version: ALSELECT_FUZZ_EXAMPLES files (default 500), each through ``inspect`` and every strategy
of the registry (23 runs a file with 22 strategies, so 11,500 runs), and reports every bad run,
not only the first. On a 2-core machine that takes about 35 minutes when it is otherwise idle
and 80 minutes beside other jobs (5.4 and 2.4 runs a second measured, the second at load 14).
ALSELECT_FUZZ_STRATEGIES=a,b restricts both to some strategies.
"""

from __future__ import annotations

import json
import os
import re
import resource
import select
import subprocess
import sys

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import alselect
import fuzz_pools
from alselect.pool import write_pool
from alselect.strategies import REGISTRY

HERE = os.path.dirname(os.path.abspath(__file__))
BUDGET = 3
RUN_TIMEOUT_S = 30
#: A run that has announced a kernel compile may take this long: compiling is not hanging.
COMPILE_TIMEOUT_S = 300
#: Address-space limit of console-script runs.
SUBPROCESS_AS_BYTES = 3 << 30
CI_EXAMPLES = 40
CI_STRATEGIES_PER_EXAMPLE = 4
LONG_EXAMPLES = int(os.environ.get("ALSELECT_FUZZ_EXAMPLES", "500"))
#: Comma-separated strategy names to restrict the runs to (default: the whole registry).
ONLY = [s for s in os.environ.get("ALSELECT_FUZZ_STRATEGIES", "").split(",") if s]


def strategy_names() -> list[str]:
    return sorted(ONLY or REGISTRY)


class Driver:
    """tests/fuzz_driver.py as a server: one JSON request and one JSON reply per line."""

    def __init__(self, log_path: str):
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fuzz_driver.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, cwd=HERE)
        reply = self._read(600)
        assert reply.get("ready"), reply

    def _read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "the fuzz driver stopped answering"
        line = self.proc.stdout.readline()
        assert line, f"the fuzz driver exited (status {self.proc.poll()})"
        return json.loads(line)

    def run(self, argv: list[str], large_paths: bool = False) -> dict:
        request = {"argv": argv, "timeout": RUN_TIMEOUT_S, "compile_timeout": COMPILE_TIMEOUT_S,
                   "large_paths": large_paths}
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        return self._read(COMPILE_TIMEOUT_S + 60)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.log.close()


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if not hasattr(os, "fork") or not os.path.exists("/proc/self/status"):
        pytest.skip("the fuzz driver forks (POSIX with /proc)")
    d = Driver(str(tmp_path_factory.mktemp("fuzz") / "driver.log"))
    yield d
    d.close()


def console_script() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "alselect")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "alselect"]


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (SUBPROCESS_AS_BYTES, SUBPROCESS_AS_BYTES))


def run_console_script(argv: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    try:
        proc = subprocess.run(console_script() + argv, capture_output=True, timeout=RUN_TIMEOUT_S + 30,
                              preexec_fn=_limit_memory, stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired as exc:
        return {"rc": None, "signal": None, "timed_out": True, "stdout": str(exc.stdout), "stderr": str(exc.stderr)}
    rc = proc.returncode
    return {"rc": rc if rc >= 0 else None, "signal": -rc if rc < 0 else None, "timed_out": False,
            "stdout": proc.stdout.decode("utf-8", "replace"), "stderr": proc.stderr.decode("utf-8", "replace")}


def pick_argv(path: str, strategy: str, out: str) -> list[str]:
    return ["pick", path, "-s", strategy, "-b", str(BUDGET), "--seed", "0", "-o", out]


def check_run(result: dict, argv: list[str], pool_path: str, what: str) -> None:
    """Success with valid picks, or one `Error:` line and exit status 1; nothing else."""
    context = (f"{what}\n  alselect {' '.join(argv)}\n  exit={result['rc']} signal={result['signal']} "
               f"timed_out={result['timed_out']}\n  stdout: {result['stdout'][-800:]!r}\n  stderr: {result['stderr'][-2000:]!r}")
    assert not result["timed_out"], "hang: " + context
    assert result["signal"] is None, "killed by a signal: " + context
    assert "Traceback" not in result["stderr"], "traceback: " + context
    out = argv[argv.index("-o") + 1] if "-o" in argv else None
    if result["rc"] == 0:
        if argv[0] == "inspect":
            assert "validation: OK" in result["stdout"], context
            return
        assert result["stdout"] == "", "stdout must stay empty with -o: " + context
        assert out is not None and os.path.exists(out), context
        lines = open(out, encoding="utf-8").read().splitlines()
        assert len(lines) == BUDGET, context
        rows = [int(line) for line in lines]
        assert len(set(rows)) == len(rows), context
        with alselect.open_pool(pool_path) as pool:
            assert all(0 <= r < pool.n_rows for r in rows), context
            assert not set(rows) & set(pool.labeled_rows().tolist()), context
        return
    assert result["rc"] == 1, "unexpected exit status: " + context
    lines = [line for line in result["stderr"].splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), "not one Error: line: " + context
    assert not re.search(r"\bbug\b", lines[0], re.IGNORECASE), "an internal error: " + context
    if out is not None:
        assert not os.path.exists(out), "output file written on failure: " + context
    if argv[0] == "pick":
        assert result["stdout"] == "", context


def mutated_pool(data, directory: str) -> tuple[str, str]:
    path = os.path.join(directory, "pool.h5")
    base = fuzz_pools.build_base(data.draw, path)
    steps = [f"base {base}"]
    for mutation in data.draw(st.lists(st.sampled_from(fuzz_pools.MUTATIONS), min_size=1, max_size=2), label="mutations"):
        try:
            steps.append(f"{mutation.__name__}: {mutation(path, data.draw, directory)}")
        except (OSError, ValueError, TypeError, KeyError, RuntimeError, MemoryError, AttributeError) as exc:
            steps.append(f"{mutation.__name__}: could not apply ({exc})")  # e.g. the file is already unreadable
    return path, "; ".join(steps)


def exercise(driver, data, directory: str, strategies: list[str], failures: list | None = None) -> None:
    """inspect, then pick with each strategy; a bad run raises, or with ``failures`` is recorded
    there and the next run goes on."""
    path, what = mutated_pool(data, directory)
    # the generated pools are small; half of the files also go through the large-pool paths
    # (numba kernels, the passes that validate raw blocks themselves)
    large = data.draw(st.booleans(), label="large-pool paths")
    what += "\n  large-pool paths: yes" if large else ""
    runs = [["inspect", path]] + [pick_argv(path, strategy, os.path.join(directory, f"picks{i}.txt"))
                                  for i, strategy in enumerate(strategies)]
    for argv in runs:
        try:
            check_run(driver.run(argv, large), argv, path, what)
        except AssertionError as exc:
            if failures is None:
                raise
            failures.append(str(exc))


# No shrinking: every run is reported with the full description of its file, and shrinking
# a pool file costs minutes.
_COMMON = dict(deadline=None, database=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
               suppress_health_check=list(HealthCheck), print_blob=False)


@settings(max_examples=CI_EXAMPLES, **_COMMON)
@given(data=st.data())
def test_fuzz_inspect_and_pick(driver, tmp_path_factory, data):
    names = strategy_names()
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=CI_STRATEGIES_PER_EXAMPLE, unique=True),
                       label="strategies")
    exercise(driver, data, str(tmp_path_factory.mktemp("case")), chosen)


@pytest.mark.fuzz
def test_fuzz_long(driver, tmp_path_factory):
    """Every strategy on every file; reports every bad run, not only the first."""
    failures: list[str] = []

    @settings(max_examples=LONG_EXAMPLES, **_COMMON)
    @given(data=st.data())
    def run(data):
        exercise(driver, data, str(tmp_path_factory.mktemp("case")), strategy_names(), failures)

    run()
    assert not failures, f"{len(failures)} bad runs:\n\n" + "\n\n".join(failures)


# ------------------------------------------------------------- the real console script, fixed cases
def _catalogue(directory: str) -> dict[str, str]:
    rng = np.random.default_rng(7)
    n, c = 12, 3
    base = dict(probs=rng.dirichlet(np.ones(c), size=n).astype(np.float32),
                embeddings=rng.normal(size=(n, 3)).astype(np.float32),
                epoch_preds=rng.integers(0, c, size=(2, n)), labels=np.where(np.arange(n) < 2, 0, -1))
    files = {}

    def make(name, edit):
        path = os.path.join(directory, name + ".h5")
        write_pool(path, **base)
        edit(path)
        files[name] = path

    def truncate(path):
        with open(path, "r+b") as handle:
            handle.truncate(os.path.getsize(path) // 2)

    def h5edit(fn):
        def edit(path):
            with h5py.File(path, "r+") as f:
                fn(f)
        return edit

    def external(f):
        del f["embeddings"]
        f["embeddings"] = h5py.ExternalLink("/etc/passwd", "/x")

    def loop(f):
        del f["probs"]
        f["probs"] = h5py.SoftLink("/probs")

    def huge(f):
        del f["embeddings"]
        f.create_dataset("embeddings", shape=(10**12, 3), chunks=(1024, 3), dtype=np.float32)

    def bad_id(f):
        f.create_dataset("ids", data=np.array([f"s{i}" for i in range(n - 1)] + ["#a"], dtype=object),
                         dtype=h5py.string_dtype())

    def zero_epochs(f):
        del f["epoch_preds"]
        f.create_dataset("epoch_preds", shape=(0, n), maxshape=(None, n), dtype=np.int8)

    def no_members(f):
        f.create_dataset("mc_probs", shape=(n, 0, c), dtype=np.float32)

    make("truncated", truncate)
    make("external", h5edit(external))
    make("soft-loop", h5edit(loop))
    make("huge", h5edit(huge))
    make("bad-id", h5edit(bad_id))
    make("zero-epochs", h5edit(zero_epochs))
    make("no-members", h5edit(no_members))
    return files


#: (file, strategy, extra pick arguments, whether `inspect` must fail too)
CATALOGUE_RUNS = [("truncated", "entropy", [], True), ("external", "kcenter", [], True),
                  ("soft-loop", "entropy", [], True), ("huge", "kcenter", [], True),
                  ("bad-id", "margin", ["--ids"], True), ("zero-epochs", "dispersion", [], False),
                  ("no-members", "bald", [], True)]


def test_console_script_on_bad_files(tmp_path):
    files = _catalogue(str(tmp_path))
    for name, strategy, extra, inspect_fails in CATALOGUE_RUNS:
        argv = ["inspect", files[name]]
        result = run_console_script(argv)
        check_run(result, argv, files[name], name)
        assert result["rc"] == (1 if inspect_fails else 0), (name, argv, result)
        argv = pick_argv(files[name], strategy, str(tmp_path / f"{name}.txt")) + extra
        result = run_console_script(argv)
        check_run(result, argv, files[name], name)
        assert result["rc"] == 1, (name, argv, result)
