"""Native output (the HiGHS banner of `balanced`) never reaches stdout: pick and simulate print data only."""

import subprocess
import sys

import numpy as np

from conftest import ROOT, SAMPLE_POOL


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "alselect", *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def test_pick_balanced_stdout_is_only_picks():
    r = _cli("pick", SAMPLE_POOL, "-s", "balanced", "-b", 7)
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert len(rows) == 7 and all(line.isdigit() for line in rows), r.stdout


def test_simulate_balanced_stdout_is_only_the_summary(make_pool):
    rng = np.random.default_rng(0)
    truth = np.arange(90) % 3
    emb = (rng.normal(size=(3, 4))[truth] * 2 + rng.normal(size=(90, 4))).astype(np.float32)
    pool = make_pool(probs=np.full((90, 3), 1 / 3, dtype=np.float32), embeddings=emb, truth=truth)
    r = _cli("simulate", pool, "--strategies", "balanced", "--budget", 6, "--cycles", 1, "--seeds", 1, "--jobs", 1,
             "--no-record", "--format", "csv")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("strategy,seeds,aulc") and [l.split(",")[0] for l in lines[1:]] == ["random", "balanced"]
