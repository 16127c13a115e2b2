"""Shared pieces of the bench scripts: result rows, CPU time beside wall time, competing load.

Every bench prints a human-readable report; with ``--json`` it prints one JSON object per
result instead (on stdout, the report moves to stderr), which ``bench/make_readme_table.py``
collects into ``bench/results.jsonl`` and the README performance table.

A result row holds:

    bench        script name without ``bench_`` / ``.py``
    workload     what ran (sizes, strategy)
    compared     what was checked against the reference: "full sequence", "first K picks", ...
    alselect_s, alselect_cpu_s      wall and CPU seconds of alselect (CPU = all threads)
    reference_s, reference_cpu_s    the same for the straightforward reference (may be null)
    reference    what the reference is
    extrapolated true when reference_s is extrapolated from a part of the run
    identical    picks (or scores) equal to the reference's on what was compared (null: n/a)
    load         busy processes spinning during the run (``--load``)
    cores        CPU cores available to the process
    loadavg      the machine's 1-minute load average when the row was made (other jobs included)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _loadavg():
    try:
        return round(os.getloadavg()[0], 1)
    except (AttributeError, OSError):
        return None


def add_common_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--json", action="store_true",
                    help="print one JSON result row per line on stdout (the report goes to stderr)")
    ap.add_argument("--load", type=int, nargs="?", const=-1, default=0, metavar="N",
                    help="spin N busy processes during the run (no N: one per core)")


class Report:
    """Prints the human report and collects result rows."""

    def __init__(self, bench: str, args):
        self.bench = bench
        self.json = args.json
        self.load = cores() if args.load == -1 else args.load
        self.out = sys.stderr if self.json else sys.stdout

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def row(self, workload: str, compared: str, alselect: tuple[float, float],
            reference: tuple[float, float] | None, reference_name: str, *,
            extrapolated: bool = False, identical: bool | None = None, **extra) -> dict:
        row = {
            "bench": self.bench, "workload": workload, "compared": compared,
            "alselect_s": round(alselect[0], 4), "alselect_cpu_s": round(alselect[1], 4),
            "reference": reference_name,
            "reference_s": None if reference is None else round(reference[0], 4),
            "reference_cpu_s": None if reference is None else round(reference[1], 4),
            "extrapolated": bool(extrapolated), "identical": identical,
            "load": self.load, "cores": cores(), "loadavg": _loadavg(), **extra,
        }
        if self.json:
            print(json.dumps(row), flush=True)
        return row

    @contextlib.contextmanager
    def competing_load(self):
        """``self.load`` processes spinning a core each for the duration of the block."""
        procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.load)]
        try:
            if procs:
                time.sleep(0.3)  # let them reach the run queue
                self.say(f"(competing load: {len(procs)} busy process(es) on {cores()} core(s))")
            yield
        finally:
            for p in procs:
                p.kill()
                p.wait()


def timed(fn, *args, **kwargs):
    """(result, (wall seconds, CPU seconds of this process, all threads))."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, (time.perf_counter() - t0, time.process_time() - c0)


def timed_child(cmd, **kwargs):
    """Run a command to completion: (CompletedProcess, (wall s, CPU s of the child))."""
    r0 = os.times()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, **kwargs)
    wall = time.perf_counter() - t0
    r1 = os.times()
    return proc, (wall, (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system))
