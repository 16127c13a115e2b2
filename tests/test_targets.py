"""Output targets, temporary files and the interrupt module, in process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from alselect import interrupt, targets, tempfiles
from alselect.errors import OutputError

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file types and signals")


def test_targets_are_classified(tmp_path):
    assert targets.resolve("-").kind == "stdout"
    assert targets.resolve("/dev/stdout").kind == "fd" and targets.resolve("/dev/stdout").fd == 1
    assert targets.resolve("/dev/fd/2").fd == 2
    assert targets.resolve(f"/proc/{os.getpid()}/fd/1").kind == "fd"
    assert targets.resolve("/dev/null").kind == "direct"
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    assert targets.resolve(str(fifo)).kind == "direct"
    new = targets.resolve(str(tmp_path / "new.txt"))
    assert new.kind == "replace" and new.real == str(tmp_path / "new.txt")
    (tmp_path / "real.txt").write_text("x")
    os.symlink(tmp_path / "real.txt", tmp_path / "link.txt")
    assert targets.resolve(str(tmp_path / "link.txt")).real == os.path.realpath(tmp_path / "real.txt")
    with pytest.raises(OutputError, match="is a directory"):
        targets.resolve(str(tmp_path))


def test_symlinked_output_replaces_the_file_and_keeps_the_link(tmp_path):
    (tmp_path / "real.txt").write_text("old")
    os.symlink("real.txt", tmp_path / "link.txt")
    with targets.open_output(str(tmp_path / "link.txt")) as handle:
        handle.write("new")
    assert os.path.islink(tmp_path / "link.txt") and (tmp_path / "real.txt").read_text() == "new"
    assert tempfiles.is_temp_name(".x.alselect-12.tmp") and not tempfiles.is_temp_name("x.tmp")
    assert [n for n in os.listdir(tmp_path) if tempfiles.is_temp_name(n)] == []


def test_a_failed_commit_names_the_target_not_the_temporary_file(tmp_path, monkeypatch):
    out = tmp_path / "picks.txt"
    out.write_text("keep")

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", src)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OutputError) as info:
        with targets.open_output(str(out)) as handle:
            handle.write("new")
    message = str(info.value)
    assert message == f"cannot write '{out}': Permission denied"
    assert ".alselect-" not in message and out.read_text() == "keep"
    assert [n for n in os.listdir(tmp_path) if tempfiles.is_temp_name(n)] == []


def test_a_failing_block_leaves_the_old_file(tmp_path):
    out = tmp_path / "o.txt"
    out.write_text("old")
    with pytest.raises(KeyError):
        with targets.open_output(str(out)) as handle:
            handle.write("partial")
            raise KeyError("boom")
    assert out.read_text() == "old" and os.listdir(tmp_path) == ["o.txt"]


def test_check_output_refuses_inputs_and_bad_directories(tmp_path):
    src = tmp_path / "in.h5"
    src.write_bytes(b"x")
    os.link(src, tmp_path / "hard.h5")
    with pytest.raises(OutputError, match="same file as the input POOL"):
        targets.check_output(str(tmp_path / "hard.h5"), [("POOL", str(src))])
    targets.check_output(str(tmp_path / "other.h5"), [("POOL", str(src))])  # a new file is fine
    targets.check_output("/dev/null", [("--labeled", "/dev/null")])  # devices are not data
    with pytest.raises(OutputError, match="(?i)not a directory"):
        targets.check_output(str(src / "x.txt"))
    with pytest.raises(OutputError, match="does not exist"):
        targets.check_output(str(tmp_path / "nope" / "x.txt"))


def test_stale_files_are_told_apart_from_live_ones(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".a.alselect-{dead.pid}-3.tmp"
    stale.write_text("")
    alive = tmp_path / f".b.alselect-{os.getppid()}.tmp"
    alive.write_text("")
    fd, mine = tempfiles.create(str(tmp_path), "c")
    os.close(fd)
    assert not stale.exists() and alive.exists() and os.path.exists(mine)
    assert os.path.basename(mine) == f".c.alselect-{os.getpid()}.tmp"
    fd, second = tempfiles.create(str(tmp_path), "c")  # same name, same process: a new file
    os.close(fd)
    assert second != mine and tempfiles.remove_stale(str(tmp_path)) == []
    tempfiles.discard(mine)
    tempfiles.discard(second)
    assert sorted(os.listdir(tmp_path)) == [alive.name]


def test_check_and_call_outside_installed_do_nothing_special():
    interrupt.check()
    assert interrupt.requested() is None
    assert interrupt.call(lambda a, b=0: a + b, 2, b=3) == 5


def test_installed_turns_signals_into_interrupted_and_restores_handlers():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(interrupt.Interrupted) as info:
        with interrupt.installed():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):
                time.sleep(0.001)
    assert info.value.exit_status == 143 and str(info.value) == "interrupted by SIGTERM"
    assert signal.getsignal(signal.SIGINT) is before


def test_sighup_counts_as_an_interrupt_too():
    with pytest.raises(interrupt.Interrupted) as info:
        with interrupt.installed():
            os.kill(os.getpid(), signal.SIGHUP)
            for _ in range(1000):
                time.sleep(0.001)
    assert info.value.exit_status == 129


def test_call_returns_results_and_is_interruptible_while_c_code_runs():
    release = threading.Event()
    with interrupt.installed():
        assert interrupt.call(sum, [1, 2, 3]) == 6
        with pytest.raises(ZeroDivisionError):
            interrupt.call(lambda: 1 / 0)
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        start = time.monotonic()
        with pytest.raises(interrupt.Interrupted):
            interrupt.call(release.wait, 60)  # blocks in C without the GIL, like a solver
        assert time.monotonic() - start < 30
    release.set()


def test_a_signal_inside_h5py_is_deferred_not_swallowed(tmp_path):
    """h5py turns exceptions from its callbacks into other errors or drops them: the
    handler defers there and the signal is delivered again in ordinary code."""
    import h5py
    import numpy as np

    arr = np.zeros((2000, 256), dtype=np.float32)
    with pytest.raises(interrupt.Interrupted):
        with interrupt.installed():
            with h5py.File(tmp_path / "x.h5", "w") as f:
                threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
                for i in range(100000):
                    f.attrs[f"a{i % 50}"] = "text"  # string conversion callbacks in h5py
                    f.create_dataset(f"d{i}", data=arr[:8])
