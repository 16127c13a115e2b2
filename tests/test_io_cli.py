"""Outputs, pipes, temporary files and signals, through the real console script.

Every case runs ``alselect`` in a subprocess (the installed console script when it sits
beside the interpreter, else ``python -m alselect``), as a user's shell would.
"""

from __future__ import annotations

import hashlib
import os
import pty
import select
import signal
import stat
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from alselect.pool import open_pool, write_pool

_SCRIPT = os.path.join(os.path.dirname(sys.executable), "alselect")
ALSELECT = [_SCRIPT] if os.path.exists(_SCRIPT) else [sys.executable, "-m", "alselect"]
POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX pipes, FIFOs and signals")
pytestmark = POSIX


def run(*args, input=None, cwd=None, env=None, timeout=300):
    return subprocess.run(ALSELECT + [str(a) for a in args], input=input, capture_output=True, cwd=cwd,
                          env=env, timeout=timeout)


def error_line(result) -> str:
    """The stderr of a failed run: exactly one line starting with 'Error: '."""
    lines = result.stderr.decode().strip().splitlines()
    assert result.returncode == 1, result.stderr.decode()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    return lines[0]


def digest(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def temp_files(directory) -> list[str]:
    return sorted(n for n in os.listdir(directory) if ".alselect-" in n and n.endswith(".tmp"))


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    rng = np.random.default_rng(7)
    d = tmp_path_factory.mktemp("io")
    n, c = 300, 5
    probs = rng.dirichlet(np.full(c, 0.5), size=n).astype(np.float32)
    emb = rng.normal(size=(n, 6)).astype(np.float32)
    np.save(d / "probs.npy", probs)
    np.save(d / "emb.npy", emb)
    path = d / "pool.h5"
    write_pool(path, probs=probs, embeddings=emb, labeled=[1, 2])
    return str(path)


@pytest.fixture(scope="module")
def expected(pool):
    r = run("pick", pool, "-s", "entropy", "-b", 7)
    assert r.returncode == 0, r.stderr
    return r.stdout


# ------------------------------------------------------------------ -o never destroys input
@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "relative"])
def test_output_onto_the_pool_is_refused(pool, tmp_path, how):
    work = tmp_path / "pool.h5"
    work.write_bytes(open(pool, "rb").read())
    before = digest(work)
    target = {"same": work, "symlink": tmp_path / "link.h5", "hardlink": tmp_path / "hard.h5",
              "relative": "pool.h5"}[how]
    if how == "symlink":
        os.symlink(work, target)
    elif how == "hardlink":
        os.link(work, target)
    r = run("pick", work, "-s", "entropy", "-b", 5, "-o", target, cwd=tmp_path)
    line = error_line(r)
    assert "POOL" in line and "choose another output" in line
    assert r.stdout == b""
    assert digest(work) == before
    assert temp_files(tmp_path) == []


def test_output_onto_labeled_list_or_pack_input_is_refused(pool, tmp_path):
    labeled = tmp_path / "done.txt"
    labeled.write_text("3\n4\n")
    os.symlink(labeled, tmp_path / "alias.txt")
    line = error_line(run("pick", pool, "-s", "entropy", "-b", 5, "--labeled", labeled, "-o", tmp_path / "alias.txt"))
    assert "--labeled" in line
    assert labeled.read_text() == "3\n4\n"
    probs = tmp_path / "p.npy"
    np.save(probs, np.full((4, 2), 0.5, dtype=np.float32))
    before = digest(probs)
    line = error_line(run("pack", "-o", probs, "--probs", probs))
    assert "--probs" in line
    emb = tmp_path / "e.npy"
    np.save(emb, np.zeros((4, 3), dtype=np.float32))
    os.link(emb, tmp_path / "e2.npy")
    line = error_line(run("pack", "-o", tmp_path / "e2.npy", "--probs", probs, "--embeddings", emb))
    assert "--embeddings" in line
    assert digest(probs) == before and np.load(emb).shape == (4, 3)


def test_infer_output_onto_its_checkpoint_is_refused(tmp_path):
    weights = tmp_path / "ckpt.pt"
    weights.write_bytes(b"weights")
    line = error_line(run("infer", "--model", "m:f", "--weights", weights, "--data", tmp_path, "-o", weights))
    assert "--weights" in line and weights.read_bytes() == b"weights"


def test_simulate_results_onto_the_pool_are_refused(pool, tmp_path):
    work = tmp_path / "pool.h5"
    work.write_bytes(open(pool, "rb").read())
    os.symlink(work, tmp_path / "alias.h5")
    before = digest(work)
    line = error_line(run("simulate", work, "--strategies", "entropy", "-b", 5, "-o", tmp_path / "alias.h5"))
    assert "POOL" in line and digest(work) == before


def test_output_errors_name_the_given_path(pool, tmp_path):
    line = error_line(run("pick", pool, "-s", "entropy", "-b", 5, "-o", tmp_path / "no" / "such" / "x.txt"))
    assert "no/such/x.txt" in line and ".alselect-" not in line and ".tmp" not in line
    line = error_line(run("pick", pool, "-s", "entropy", "-b", 5, "-o", tmp_path))
    assert "is a directory" in line


# ------------------------------------------------------------------ devices, FIFOs, stdout
def _node(path):
    st = os.stat(path)
    return stat.S_IFMT(st.st_mode), st.st_rdev


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
@pytest.mark.parametrize("command", ["pick", "pack"])
def test_dev_null_is_written_not_replaced(pool, tmp_path, command):
    before = _node("/dev/null")
    assert stat.S_ISCHR(before[0])
    args = (["pick", pool, "-s", "entropy", "-b", 5] if command == "pick"
            else ["pack", "--probs", os.path.join(os.path.dirname(pool), "probs.npy")])
    r = run(*args, "-o", "/dev/null", env={**os.environ, "TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert r.stdout == b""
    assert _node("/dev/null") == before
    assert temp_files(tmp_path) == [] and temp_files("/dev") == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("command", ["pick", "pack"])
def test_dev_full_fails_cleanly_and_stays_a_device(pool, tmp_path, command):
    before = _node("/dev/full")
    args = (["pick", pool, "-s", "entropy", "-b", 5] if command == "pick"
            else ["pack", "--probs", os.path.join(os.path.dirname(pool), "probs.npy")])
    r = run(*args, "-o", "/dev/full", env={**os.environ, "TMPDIR": str(tmp_path)})
    line = error_line(r)
    assert line == "Error: cannot write '/dev/full': No space left on device"
    assert _node("/dev/full") == before
    assert temp_files(tmp_path) == []


def _drain(path, box):
    with open(path, "rb") as handle:
        box.append(handle.read())


def test_fifo_target_receives_the_picks_and_the_pool(pool, tmp_path, expected):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(fifo, got))
    reader.start()
    r = run("pick", pool, "-s", "entropy", "-b", 7, "-o", fifo)
    reader.join(60)
    assert r.returncode == 0, r.stderr
    assert got == [expected]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    # a pool streamed into a FIFO arrives whole
    got.clear()
    reader = threading.Thread(target=_drain, args=(fifo, got))
    reader.start()
    r = run("pack", "-o", fifo, "--probs", os.path.join(os.path.dirname(pool), "probs.npy"),
            env={**os.environ, "TMPDIR": str(tmp_path)})
    reader.join(60)
    assert r.returncode == 0, r.stderr
    copy = tmp_path / "copy.h5"
    copy.write_bytes(got[0])
    with open_pool(copy) as opened:
        assert opened.n_rows == 300
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and temp_files(tmp_path) == []


def test_dev_stdout_writes_to_the_callers_stdout_even_when_appending(pool, tmp_path, expected):
    r = run("pick", pool, "-s", "entropy", "-b", 7, "-o", "/dev/stdout")
    assert r.returncode == 0 and r.stdout == expected
    log = tmp_path / "log.txt"
    log.write_bytes(b"earlier line\n")
    cmd = " ".join(ALSELECT) + f" pick '{pool}' -s entropy -b 7 -o /dev/stdout >> '{log}'"
    subprocess.run(["bash", "-c", cmd], check=True, timeout=300)
    assert log.read_bytes() == b"earlier line\n" + expected
    assert stat.S_ISREG(os.stat(log).st_mode)


# ------------------------------------------------------------------------------- '-'
def test_dash_means_stdin_and_stdout_for_every_command(pool, tmp_path, expected):
    data = open(pool, "rb").read()
    assert run("pick", "-", "-s", "entropy", "-b", 7, input=data).stdout == expected
    r = run("inspect", "-", input=data)
    assert r.returncode == 0 and b"rows (N): 300" in r.stdout and b"<stdin>" in r.stdout
    r = run("inspect", pool, "--picks", "-", input=expected)
    assert r.returncode == 0 and b"L1 score" in r.stdout
    (tmp_path / "picks.txt").write_bytes(expected)
    r = run("score", "-", "--picks", tmp_path / "picks.txt", input=data)
    assert r.returncode == 0 and r.stdout.startswith(b"R_cd\t")
    assert run("score", pool, "--picks", "-", input=expected).stdout == r.stdout
    # --labeled -: the picks avoid the listed rows
    first = expected.split()[:3]
    r = run("pick", pool, "-s", "entropy", "-b", 4, "--labeled", "-", input=b"\n".join(first))
    assert r.returncode == 0 and not set(r.stdout.split()) & set(first)
    # pack -o - streams the pool; pack --probs - reads a .npy from stdin
    probs = os.path.join(os.path.dirname(pool), "probs.npy")
    r = run("pack", "-o", "-", "--probs", probs, "--labeled", "-", input=b"1\n2\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"\x89HDF") and not os.path.exists(tmp_path / "-")
    assert run("pick", "-", "-s", "entropy", "-b", 7, input=r.stdout).stdout == expected
    (tmp_path / "l.txt").write_text("1\n2\n")
    r2 = run("pack", "-o", tmp_path / "p2.h5", "--probs", "-", "--labeled", tmp_path / "l.txt",
             input=open(probs, "rb").read())
    assert r2.returncode == 0, r2.stderr
    assert run("pick", tmp_path / "p2.h5", "-s", "entropy", "-b", 7).stdout == expected


def test_stdin_pool_errors_name_stdin_not_a_temporary_path(tmp_path):
    for command in (["inspect", "-"], ["score", "-", "--picks", "x.txt"], ["pick", "-", "-s", "entropy", "-b", 2]):
        line = error_line(run(*command, input=b"not a pool at all", env={**os.environ, "TMPDIR": str(tmp_path)}))
        assert "'<stdin>'" in line and "/tmp" not in line and ".alselect-" not in line
    assert temp_files(tmp_path) == []


def test_a_terminal_is_never_read_as_a_pool_nor_sent_hdf5(pool):
    probs = os.path.join(os.path.dirname(pool), "probs.npy")
    for args, stream in ((["pick", "-", "-s", "entropy", "-b", 2], "stdin"), (["pack", "-o", "-", "--probs", probs], "stdout")):
        master, slave = pty.openpty()
        try:
            kw = {"stdin": slave} if stream == "stdin" else {"stdout": slave, "stdin": subprocess.DEVNULL}
            r = subprocess.run(ALSELECT + [str(a) for a in args], stderr=subprocess.PIPE, timeout=300, **kw)
        finally:
            os.close(slave)
            os.close(master)
        lines = r.stderr.decode().strip().splitlines()
        assert r.returncode == 1 and len(lines) == 1 and "terminal" in lines[0], lines


def test_two_inputs_cannot_share_stdin(pool):
    assert "stdin" in error_line(run("pick", "-", "-s", "entropy", "-b", 2, "--labeled", "-", input=b""))
    assert "stdin" in error_line(run("pack", "-o", "x.h5", "--probs", "-", "--labeled", "-", input=b""))


# ------------------------------------------------------------------ pipes and /dev/fd
def test_process_substitution_and_dev_stdin(pool, tmp_path, expected):
    probs = os.path.join(os.path.dirname(pool), "probs.npy")
    exe = " ".join(ALSELECT)
    script = (f"set -e\n"
              f"{exe} pick <(cat '{pool}') -s entropy -b 7 > a.txt\n"
              f"{exe} pick '{pool}' -s entropy -b 4 --labeled <(head -n 3 a.txt) > b.txt\n"
              f"{exe} pack -o c.h5 --probs <(cat '{probs}') --labeled <(echo 1; echo 2)\n"
              f"cat '{pool}' | {exe} pick /dev/stdin -s entropy -b 7 > d.txt\n"
              f"{exe} inspect '{pool}' --picks <(cat a.txt) > e.txt\n")
    r = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode()
    assert (tmp_path / "a.txt").read_bytes() == expected
    b = (tmp_path / "b.txt").read_bytes().split()
    assert len(b) == 4 and not set(b) & set(expected.split()[:3])
    assert run("pick", tmp_path / "c.h5", "-s", "entropy", "-b", 7).stdout == expected
    assert (tmp_path / "d.txt").read_bytes() == expected
    assert b"L1 score" in (tmp_path / "e.txt").read_bytes()
    assert temp_files(tmp_path) == []


# ------------------------------------------------------------------ temporary files
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporary_files_of_dead_processes_are_removed(pool, tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f".out.h5.alselect-{dead}.tmp"
    stale.write_bytes(b"x" * 100)
    live = tmp_path / f".other.alselect-{os.getpid()}.tmp"  # this test process is alive
    live.write_bytes(b"y")
    unrelated = tmp_path / ".out.h5.tmp"
    unrelated.write_bytes(b"z")
    r = run("pack", "-o", tmp_path / "out.h5", "--probs", os.path.join(os.path.dirname(pool), "probs.npy"))
    assert r.returncode == 0, r.stderr
    assert not stale.exists() and live.exists() and unrelated.exists()
    assert temp_files(tmp_path) == [live.name]


def _big_arrays(directory, n=60_000, d=512):
    rng = np.random.default_rng(3)
    probs, emb = directory / "bp.npy", directory / "be.npy"
    np.save(probs, rng.dirichlet(np.ones(8), size=n).astype(np.float32))
    np.save(emb, rng.normal(size=(n, d)).astype(np.float32))
    return probs, emb


def _wait_for(predicate, timeout=120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def _start_large_pack(tmp_path):
    """A `pack` of large arrays, returned once its temporary file exists (or it has ended)."""
    probs, emb = _big_arrays(tmp_path)
    out = tmp_path / "out" / "pool.h5"
    out.parent.mkdir()
    proc = subprocess.Popen(ALSELECT + ["pack", "-o", str(out), "--probs", str(probs), "--embeddings", str(emb)],
                            stderr=subprocess.PIPE)
    assert _wait_for(lambda: temp_files(out.parent) or proc.poll() is not None)
    return proc, out, probs


def test_kill_9_during_pack_leaves_a_temp_file_the_next_run_removes(tmp_path):
    proc, out, probs = _start_large_pack(tmp_path)
    proc.kill()
    proc.wait()
    if proc.returncode == 0:
        pytest.skip("pack finished before the kill")
    left = temp_files(out.parent)
    assert len(left) == 1 and not out.exists()
    r = run("pack", "-o", out, "--probs", probs)
    assert r.returncode == 0, r.stderr
    assert temp_files(out.parent) == [] and out.exists()


# ------------------------------------------------------------------------------ signals
@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_a_large_pack(tmp_path, sig, status):
    proc, out, _ = _start_large_pack(tmp_path)
    proc.send_signal(sig)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=60)
    waited = time.monotonic() - sent
    assert proc.returncode == status, err.decode()
    assert err.decode().strip().splitlines() == [f"Error: interrupted by {signal.Signals(sig).name}"]
    assert not out.exists() and temp_files(out.parent) == []
    assert waited < 10  # promptly: the full write takes far longer under any load


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_while_blocked_on_a_fifo(pool, tmp_path, sig, status):
    """Blocked in open() of a FIFO nobody writes / reads: deterministic, and after the pool
    has already been written to its temporary file (pack -o FIFO)."""
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    for args in (["pick", pool, "-s", "entropy", "-b", 3, "--labeled", fifo, "-o", tmp_path / "o.txt"],
                 ["pack", "-o", fifo, "--probs", os.path.join(os.path.dirname(pool), "probs.npy")]):
        proc = subprocess.Popen(ALSELECT + [str(a) for a in args], stderr=subprocess.PIPE, env=env)
        if args[0] == "pack":
            assert _wait_for(lambda: temp_files(tmp_path))
        time.sleep(1.0)
        assert proc.poll() is None
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == status, err.decode()
        assert err.decode().strip().splitlines()[-1] == f"Error: interrupted by {signal.Signals(sig).name}"
        assert not (tmp_path / "o.txt").exists() and temp_files(tmp_path) == []


def _run_on_a_tty(args, marker: bytes, sig, cwd):
    """Run with stderr on a pseudo-terminal (so progress bars draw), send ``sig`` once
    ``marker`` appears on it; return (status, stderr text, seconds from signal to exit)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(ALSELECT + [str(a) for a in args], stdout=subprocess.DEVNULL, stderr=slave, cwd=cwd)
    os.close(slave)
    seen, sent = b"", None
    try:
        end = time.monotonic() + 600
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break  # the child closed the terminal
                if not chunk:
                    break
                seen += chunk
            if sent is None and marker in seen:
                proc.send_signal(sig)
                sent = time.monotonic()
            if proc.poll() is not None:
                break
        status = proc.wait(timeout=60)
        return status, seen.decode(errors="replace"), (time.monotonic() - sent) if sent else None
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


@pytest.fixture(scope="module")
def kcenter_pool(tmp_path_factory):
    rng = np.random.default_rng(5)
    d = tmp_path_factory.mktemp("kc")
    n = 40_000
    path = d / "kc.h5"
    write_pool(path, probs=rng.dirichlet(np.ones(10), size=n).astype(np.float32),
               embeddings=rng.normal(size=(n, 48)).astype(np.float32))
    small = d / "small.h5"
    write_pool(small, probs=rng.dirichlet(np.ones(10), size=50).astype(np.float32),
               embeddings=rng.normal(size=(50, 48)).astype(np.float32))
    warm = run("pick", small, "-s", "kcenter", "-b", 5)  # compile (cached) before timing anything
    assert warm.returncode == 0, warm.stderr
    return str(path)


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_inside_the_kcenter_kernel(kcenter_pool, tmp_path, sig, status):
    out = tmp_path / "picks.txt"
    code, err, waited = _run_on_a_tty(["pick", kcenter_pool, "-s", "kcenter", "-b", 20_000, "-o", out],
                                      b"picking", sig, tmp_path)
    assert waited is not None, err
    assert code == status, err
    assert f"Error: interrupted by {signal.Signals(sig).name}" in err
    assert not out.exists() and temp_files(tmp_path) == []
    assert waited < 10


def test_signal_inside_the_kernel_stops_it_mid_run(tmp_path):
    """In-process view of the same path: a signal raised during the pick loop ends the
    numba kernel at its next check, long before the budget is spent."""
    code = r"""
import os, signal, sys
import numpy as np
from alselect import interrupt
from alselect.diversity import kcenter_greedy
X = np.random.default_rng(0).normal(size=(3000, 8)).astype(np.float32)
kcenter_greedy(X[:50], 5)  # compile
seen = []
def progress(n):
    seen.append(n)
    if len(seen) == 1:
        os.kill(os.getpid(), signal.SIGINT)
with interrupt.installed():
    try:
        kcenter_greedy(X, 2000, progress=progress)
    except interrupt.Interrupted as exc:
        print(exc.exit_status, sum(seen))
        sys.exit(0)
print("not interrupted")
sys.exit(1)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    status, done = map(int, r.stdout.split())
    assert status == 130 and 0 < done < 2000


@pytest.fixture(scope="module")
def balanced_pool(tmp_path_factory):
    """A first cycle whose quotas must be met exactly at a large lambda: the certified solve of
    this one runs far longer than the test waits (without a time limit it does not finish)."""
    rng = np.random.default_rng(9)
    d = tmp_path_factory.mktemp("bal")
    n, c = 4_000, 10
    path = d / "bal.h5"
    write_pool(path, probs=rng.dirichlet(np.full(c, 0.3), size=n).astype(np.float32))
    return str(path)


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_inside_the_balanced_solver(balanced_pool, tmp_path, sig, status):
    out = tmp_path / "picks.txt"
    proc = subprocess.Popen(ALSELECT + ["pick", balanced_pool, "-s", "balanced", "-b", "200", "-p", "lam=100",
                                        "-p", "time_limit=0", "-p", "gap=0", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    time.sleep(6.0)  # past start-up and reading, into the solve
    assert proc.poll() is None, proc.communicate()[1].decode()
    proc.send_signal(sig)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=60)
    waited = time.monotonic() - sent
    assert proc.returncode == status, err.decode()
    assert f"Error: interrupted by {signal.Signals(sig).name}" in err.decode()
    assert not out.exists() and temp_files(tmp_path) == []
    assert waited < 10
