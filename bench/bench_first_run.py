"""First run after installing: `alselect pick` with a cold compilation cache, per strategy.

Installs the working tree (tracked files as committed: ``git archive HEAD``) into a fresh
virtual environment (``--system-site-packages`` for the dependencies, ``pip install
--no-deps``), then for each strategy runs ``alselect pick sample_data/digits.h5 -s S -b 20``
twice with ``NUMBA_CACHE_DIR`` pointing at a new empty directory: the first run compiles (cold),
the second loads the cache (warm). ``--baseline REV`` does the same for another revision in a
second environment, so before and after are measured side by side in one run, the two trees
interleaved ``--repeat`` times (medians reported: the machines are shared). The compile time of
a first run is its cold time minus the warm time; the ratio line gives HEAD / baseline for the
cold run and for the compile time.

    python bench/bench_first_run.py [--strategies kcenter,cdal-cs,badge] [--baseline REV]
                                    [--repeat 3] [--load [N]] [--json]
"""

import argparse
import importlib.util
import os
import site
import subprocess
import sys
import tempfile

from benchkit import Report, add_common_options, timed_child

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POOL = os.path.join(ROOT, "sample_data", "digits.h5")


def install(rev: str, where: str) -> str:
    """A fresh venv at ``where`` with revision ``rev`` of this repository installed; its bin dir."""
    src = os.path.join(where, "src")
    os.makedirs(src)
    archive = subprocess.run(["git", "-C", ROOT, "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
    env = os.path.join(where, "venv")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", env], check=True)
    # --system-site-packages reaches the base interpreter's packages only; when this script runs
    # inside a virtual environment, its dependencies are made visible by a .pth file (listed
    # paths are appended after the new venv's own site-packages, and .pth files found there are
    # not processed, so an editable alselect in the running environment cannot shadow the tree)
    purelib = subprocess.run([os.path.join(env, "bin", "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    with open(os.path.join(purelib, "_bench_parent_site.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    # build with this environment's setuptools and wheel when it has both (no download), else
    # let pip fetch them into an isolated build environment
    local_build = all(importlib.util.find_spec(m) for m in ("setuptools", "wheel"))
    subprocess.run([os.path.join(env, "bin", "python"), "-m", "pip", "install", "-q", "--no-deps",
                    *(["--no-build-isolation"] if local_build else []), src], check=True)
    return os.path.join(env, "bin")


def measure(bindir: str, strategy: str, cache: str):
    cmd = [os.path.join(bindir, "alselect"), "pick", POOL, "-s", strategy, "-b", "20", "--seed", "0"]
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    kw = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    cold_proc, cold = timed_child(cmd, **kw)
    warm_proc, warm = timed_child(cmd, **kw)
    for p in (cold_proc, warm_proc):
        if p.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    return cold, warm, cold_proc.stderr, warm_proc.stderr


def _median(xs):
    xs = sorted(xs)
    k = len(xs) // 2
    return xs[k] if len(xs) % 2 else 0.5 * (xs[k - 1] + xs[k])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strategies", default="kcenter,cdal-cs,badge")
    ap.add_argument("--baseline", metavar="REV", help="also measure this git revision (e.g. main~5)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="cold/warm pairs per strategy and tree, interleaved; medians reported")
    add_common_options(ap)
    args = ap.parse_args()
    rep = Report("first_run", args)
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"HEAD": install("HEAD", os.path.join(tmp, "head"))}
        if args.baseline:
            trees[args.baseline] = install(args.baseline, os.path.join(tmp, "baseline"))
        rep.say(f"medians of {args.repeat} interleaved runs; compile = cold - warm (wall)")
        rep.say(f"{'strategy':<12}{'tree':<14}{'cold s':>8}{'(CPU)':>8}{'warm s':>8}{'(CPU)':>8}"
                f"{'compile s':>11}  notice on stderr (cold/warm)")
        with rep.competing_load():
            for strategy in args.strategies.split(","):
                runs = {name: [] for name in trees}
                for _ in range(args.repeat):
                    for name, bindir in trees.items():
                        runs[name].append(measure(bindir, strategy, tempfile.mkdtemp(dir=tmp)))
                res = {}
                for name, rr in runs.items():
                    cold = tuple(_median([r[0][k] for r in rr]) for k in (0, 1))
                    warm = tuple(_median([r[1][k] for r in rr]) for k in (0, 1))
                    compile_s = (cold[0] - warm[0], cold[1] - warm[1])
                    notice = ["compiling" in e for e in (rr[-1][2], rr[-1][3])]
                    res[name] = cold, warm, compile_s
                    rep.say(f"{strategy:<12}{name:<14}{cold[0]:>8.2f}{cold[1]:>8.2f}{warm[0]:>8.2f}"
                            f"{warm[1]:>8.2f}{compile_s[0]:>11.2f}"
                            f"  {'yes' if notice[0] else 'no'}/{'yes' if notice[1] else 'no'}")
                head = res["HEAD"]
                base = res.get(args.baseline) if args.baseline else None
                if base:
                    rep.say(f"{'':<12}{'ratio':<14}{head[0][0] / base[0][0]:>8.2f}{'':>24}"
                            f"{head[2][0] / base[2][0]:>11.2f}  (HEAD / {args.baseline})")
                    rep.row(f"first `pick -s {strategy}` after install: compile time (cold - warm)",
                            f"cold run minus warm run, medians of {args.repeat}; reference: the same "
                            "for the baseline tree", head[2], base[2], f"baseline {args.baseline}",
                            ratio_kind="speedup", strategy=strategy)
                    rep.row(f"first `pick -s {strategy}` after install: whole cold run",
                            f"process start to exit, cold cache, medians of {args.repeat}; reference: "
                            "the same for the baseline tree", head[0], base[0],
                            f"baseline {args.baseline}, cold", ratio_kind="speedup", strategy=strategy)
                else:
                    rep.row(f"first `pick -s {strategy}` after install, cold cache (`bench_first_run.py`)",
                            "cold run vs warm run", head[0], head[1], "second run (cache warm)",
                            ratio_kind="overhead", strategy=strategy)


if __name__ == "__main__":
    main()
