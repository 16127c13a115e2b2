"""Runs ``alselect`` command lines for the fuzz test, each in its own forked process.

    python tests/fuzz_driver.py        # then one JSON request per line on stdin

Start-up imports alselect and runs every strategy once, so the numba kernels are loaded;
each request is then a fork of this warm process that runs the real ``alselect.cli.main``
with the given argv, with fd 1 and fd 2 redirected to files, stdin from /dev/null, an
address-space limit (RLIMIT_AS) and a wall-clock timeout (the child is killed). The reply is
one JSON line: exit status, signal, timed_out, stdout, stderr. Forked children are real
processes, so a crash, hang or memory blow-up in one is seen as such and never affects the
next. tests/test_fuzz.py also runs the installed console script directly for a share of
the cases.

Numba's OpenMP threading layer refuses to run after a fork; the workqueue layer is used. The
MIP solver's thread pool does not survive a fork either, so warm-up leaves it unstarted.
"""

import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback

os.environ["NUMBA_THREADING_LAYER"] = "workqueue"
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

#: Strategies not run during warm-up: their solver starts a thread pool that a forked child
#: would inherit without its threads (HiGHS), so each child starts its own.
FORK_UNSAFE = ("balanced",)
#: Extra address space a child may map beyond the warm parent's.
EXTRA_AS_BYTES = 1536 << 20


def _vm_size() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def warm_up(directory: str) -> None:
    import alselect.cli  # noqa: F401 - imported once here, not in every child
    from alselect import select
    from alselect.pool import write_pool
    from alselect.strategies import REGISTRY

    rng = np.random.default_rng(0)
    n, c = 24, 3
    probs = rng.dirichlet(np.ones(c), size=n).astype(np.float32)
    present = np.ones((n, c), dtype=bool)
    pools = [
        dict(probs=probs, embeddings=rng.normal(size=(n, 4)).astype(np.float32),
             mc_probs=rng.dirichlet(np.ones(c), size=(n, 3)).astype(np.float32),
             epoch_preds=rng.integers(0, c, size=(3, n)), labels=np.where(np.arange(n) < c, np.arange(n), -1),
             scores={"s": rng.random(n)}, cost=np.ones(n)),
        dict(probs=probs, cd_mixtures=rng.dirichlet(np.ones(c), size=(n, c)).astype(np.float32),
             cd_present=present),
        dict(probs=probs, regions_probs=probs, regions_offsets=np.arange(n + 1)),
    ]
    from alselect.synthetic_video import synthetic_video

    video = synthetic_video(n_videos=2, frames=(3, 6), objects=2, k=1, feature_dim=3, seed=0)
    pools.append(dict(video.arrays))
    # the generated pools store floats as float16, float32 or float64: kernels specialised on a
    # dtype would otherwise compile inside a child, against its timeout
    for dtype in (np.float16, np.float64):
        pools.append({k: v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype == np.float32 else v
                      for k, v in pools[0].items()})
        pools.append(dict(pools[0], logits=rng.normal(size=(n, c)).astype(dtype), probs=None))
    from alselect import numpy_scores

    small = numpy_scores.SMALL_POOL_VALUES
    for i, arrays in enumerate(pools):
        path = os.path.join(directory, f"warm{i}.h5")
        write_pool(path, **{k: v for k, v in arrays.items() if v is not None})
        for name in REGISTRY:
            if name in FORK_UNSAFE:
                continue
            for limit in (small, 0):  # the small-pool paths, then the large-pool kernels
                if limit == 0 and REGISTRY[name].impl.startswith("alselect.strategies.learned:"):
                    continue  # torch-trained: no size-dependent path
                numpy_scores.SMALL_POOL_VALUES = limit
                try:
                    select(path, name, 2, seed=0)
                except Exception:  # noqa: BLE001 - only loading kernels here
                    pass
    numpy_scores.SMALL_POOL_VALUES = small


def run_child(argv: list[str], out_path: str, err_path: str, large_paths: bool = False) -> None:
    """In the forked child: run the CLI like the console script would, then exit.
    ``large_paths``: every pool counts as large (numba kernels and fused validating passes)."""
    try:
        if large_paths:
            from alselect import numpy_scores

            numpy_scores.SMALL_POOL_VALUES = 0
        limit = _vm_size() + EXTRA_AS_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, out_path), (2, err_path)):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", closefd=False)
        sys.argv = ["alselect"] + argv
        from alselect.cli import main

        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    except BaseException:  # noqa: BLE001 - what the interpreter would print for an uncaught error
        try:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(1)


def run(argv: list[str], timeout: float, scratch: str, compile_timeout: float | None = None,
        large_paths: bool = False) -> dict:
    """Run ``argv`` in a forked child, killed after ``timeout`` seconds, or ``compile_timeout``
    once it has announced a kernel compile (alselect.jit_cache.COMPILE_NOTICE): compiling is not
    hanging, and kernels specialise on the input dtypes, so a combination the warm-up did not
    meet compiles in a child (10-60 s on a busy 2-core machine)."""
    out_path = os.path.join(scratch, "stdout")
    err_path = os.path.join(scratch, "stderr")
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        run_child(argv, out_path, err_path, large_paths)
    from alselect.jit_cache import COMPILE_NOTICE

    timed_out = False
    limit = timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > limit:
            if limit == timeout and compile_timeout and compile_timeout > timeout:
                with open(err_path, "rb") as handle:
                    if COMPILE_NOTICE.encode() in handle.read():
                        limit = compile_timeout
                        continue
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            timed_out = True
            break
        time.sleep(0.005)
    code = os.waitstatus_to_exitcode(status)
    with open(out_path, "rb") as handle:
        stdout = handle.read().decode("utf-8", errors="replace")
    with open(err_path, "rb") as handle:
        stderr = handle.read().decode("utf-8", errors="replace")
    return {"rc": code if code >= 0 else None, "signal": -code if code < 0 else None, "timed_out": timed_out,
            "stdout": stdout, "stderr": stderr, "wall_s": time.monotonic() - start}


def main() -> None:
    # Replies go to a private copy of fd 1; fd 1 itself points at /dev/null, so C-level output
    # of the warm-up (solver banners) cannot corrupt the protocol.
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    requests = os.fdopen(os.dup(0), "r")
    with tempfile.TemporaryDirectory(prefix="alselect-fuzz-") as scratch:
        warm_up(scratch)
        print(json.dumps({"ready": True}), file=reply, flush=True)
        for line in requests:
            if not line.strip():
                continue
            request = json.loads(line)
            print(json.dumps(run(request["argv"], float(request.get("timeout", 30)), scratch,
                                 request.get("compile_timeout"), bool(request.get("large_paths")))),
                  file=reply, flush=True)


if __name__ == "__main__":
    main()
