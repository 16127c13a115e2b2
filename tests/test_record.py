"""alselect.record: per-epoch predictions appended crash-safely, then `pick --strategy dispersion`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from alselect.cli import cli
from alselect.errors import AlselectError
from alselect.pool import open_pool, write_pool
from alselect.record import EpochRecorder

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
N, C = 40, 5


def make_pool(path, **extra):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(C), size=N).astype(np.float32)
    write_pool(path, probs=probs, **extra)
    return path


def epoch_labels(e: int) -> np.ndarray:
    return ((np.arange(N) * (e + 1)) // 7 % C).astype(np.int64)


def dispersion_reference(preds: np.ndarray) -> np.ndarray:
    """Thesis Eq. 3.1: 1 - (count of the most frequent label) / E, per row."""
    e, n = preds.shape
    out = np.empty(n)
    for i in range(n):
        out[i] = 1.0 - np.bincount(preds[:, i]).max() / e
    return out


def test_records_epochs_from_labels_logits_and_probs(tmp_path):
    pool = make_pool(tmp_path / "p.h5")
    rec = EpochRecorder(pool)
    assert rec.epochs == 0
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(N, C)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert rec.record(epoch_labels(0)) == 0
    assert rec.record(logits) == 1
    assert rec.record(probs.astype(np.float64)) == 2
    assert rec.record(epoch_labels(3).astype(np.int32)) == 3
    assert rec.epochs == 4
    with open_pool(pool) as opened:
        preds = opened.read("epoch_preds")
        assert opened.problems() == []
    assert preds.shape == (4, N) and preds.dtype == np.int8
    np.testing.assert_array_equal(preds, np.stack([epoch_labels(0), logits.argmax(1), probs.argmax(1), epoch_labels(3)]))


def test_appends_to_pack_created_epochs_and_dispersion_picks(tmp_path):
    first = np.stack([epoch_labels(0), epoch_labels(1)])
    pool = make_pool(tmp_path / "p.h5", epoch_preds=first)
    rec = EpochRecorder(pool)
    assert rec.epochs == 2
    for e in range(2, 6):
        rec.record(epoch_labels(e))
    expected = np.stack([epoch_labels(e) for e in range(6)])
    with open_pool(pool) as opened:
        np.testing.assert_array_equal(opened.read("epoch_preds"), expected)
    result = CliRunner().invoke(cli, ["pick", str(pool), "--strategy", "dispersion", "--budget", "6", "--with-scores"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.strip().splitlines()]
    picked = np.array([int(r[0]) for r in rows])
    scores = np.array([float(r[1]) for r in rows])
    ref = dispersion_reference(expected)
    order = np.lexsort((np.arange(N), -ref))[:6]  # highest dispersion, lowest row first on ties
    np.testing.assert_array_equal(picked, order)
    np.testing.assert_allclose(scores, ref[order])


def test_epoch_probs_stored_and_kept_aligned(tmp_path):
    pool = make_pool(tmp_path / "p.h5")
    rec = EpochRecorder(pool, store_probs=True)
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(N, C))
    probs = rng.dirichlet(np.ones(C), size=N).astype(np.float32)
    rec.record(probs)
    rec.record(logits)
    with open_pool(pool) as opened:
        stored = opened.read("epoch_probs")
        assert opened.problems() == []
    np.testing.assert_allclose(stored[0], probs)
    np.testing.assert_allclose(stored[1], np.exp(logits) / np.exp(logits).sum(1, keepdims=True), rtol=1e-5)
    auto = EpochRecorder(pool)  # the pool holds epoch_probs, so they keep being recorded
    assert auto.store_probs
    with pytest.raises(AlselectError, match=r"needs \(N, C\) probabilities or logits, not \(N,\) labels"):
        auto.record(epoch_labels(0))
    with pytest.raises(AlselectError, match="out of step with epoch_preds"):
        EpochRecorder(pool, store_probs=False)


@pytest.mark.parametrize("predictions, match", [
    (np.zeros(N + 1, dtype=np.int64), r"got 41 labels, but the pool has N=40 rows"),
    (np.zeros(N, dtype=np.float32), r"dtype float32; give integer labels"),
    (np.full(N, C, dtype=np.int64), r"holds label 5 .* must lie in \[0, 4\]"),
    (np.zeros((N, C + 1)), r"expected \(N=40,\) labels or \(N=40, C=5\)"),
    (np.full((N, C), np.nan), "NaN|finite"),
])
def test_record_errors(tmp_path, predictions, match):
    rec = EpochRecorder(make_pool(tmp_path / "p.h5"))
    with pytest.raises(AlselectError, match=match):
        rec.record(predictions)
    assert rec.epochs == 0


def test_recorder_rejects_non_pools_and_bad_mode(tmp_path):
    with pytest.raises(AlselectError, match="number of classes is unknown"):
        EpochRecorder(tmp_path / "missing.h5").record(np.zeros(5, dtype=np.int64))
    assert not (tmp_path / "missing.h5").exists()
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(AlselectError, match="not an alselect pool"):
        EpochRecorder(other)
    with pytest.raises(AlselectError, match="mode must be one of inplace, copy"):
        EpochRecorder(make_pool(tmp_path / "p.h5"), mode="journal")


def test_recording_before_the_pool_exists_then_infer_style_completion(tmp_path):
    """A training run may start before any pool: the recorder creates a file of epochs alone,
    which readers explain and a later writer of model outputs completes."""
    path = tmp_path / "pool.h5"
    rec = EpochRecorder(path)
    assert rec.epochs == 0
    probs = np.random.default_rng(0).dirichlet(np.ones(C), size=N).astype(np.float32)
    rec.record(probs)
    rec.record(np.argmax(probs, 1))
    assert EpochRecorder(path).epochs == 2 and EpochRecorder(path).n_classes == C
    with pytest.raises(AlselectError, match="holds only recorded epochs.*alselect infer"):
        open_pool(path)
    labels_only = tmp_path / "labels.h5"
    rec = EpochRecorder(labels_only, n_classes=C)
    rec.record(np.argmax(probs, 1))
    assert EpochRecorder(labels_only).n_classes == C
    with pytest.raises(AlselectError, match="n_classes=4, but"):
        EpochRecorder(labels_only, n_classes=4)


def test_readers_and_the_recorder_coexist(tmp_path):
    """A pool held open by a reader (a running pick) does not stop the recorder, and the reader
    keeps one consistent view of the epochs it first saw."""
    pool = make_pool(tmp_path / "p.h5")
    EpochRecorder(pool).record(epoch_labels(0))
    code = ("import sys, numpy as np; from alselect.record import EpochRecorder; r = EpochRecorder(sys.argv[1]); "
            f"[r.record((np.arange({N}) * (e + 1) // 7 % {C}).astype(np.int64)) for e in (1, 2)]")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open_pool(pool) as reader:
        assert reader.shape("epoch_preds") == (1, N)
        # another process records while this one holds the pool open (with HDF5's own lock it
        # died with "unable to lock file")
        proc = subprocess.run([sys.executable, "-c", code, pool], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        np.testing.assert_array_equal(reader.read("epoch_preds"), epoch_labels(0)[None])
        assert reader.read("probs").shape == (N, C)
    with open_pool(pool) as fresh:
        assert fresh.shape("epoch_preds") == (3, N)


def test_predict_probs_leaves_the_random_state_untouched():
    torch = pytest.importorskip("torch")
    from alselect.record import predict_probs

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.5))
    data = torch.utils.data.TensorDataset(torch.randn(50, 4))
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    probs = predict_probs(model, data, batch_size=8)
    assert probs.shape == (50, 3)
    assert torch.equal(torch.random.get_rng_state(), before)
    expected = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), expected)


# -------------------------------------------------------------------------------- crash safety
CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from alselect.record import EpochRecorder
    path, mode, crash_at, stall_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    N, C = {N}, {C}
    rec = EpochRecorder(path, mode=mode)
    e = rec.epochs
    while True:
        if e == crash_at:
            rec._before_commit = lambda: os._exit(3)   # dies like a SIGKILL: no cleanup, no close
        rec.record(((np.arange(N) * (e + 1)) // 7 % C).astype(np.int64))
        print("done", e, flush=True)
        if e == stall_at:
            time.sleep(60)                              # "training": killed here by the parent
        e += 1
""").format(N=N, C=C)


def child(path, mode, crash_at=-1, stall_at=-1):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path), mode, str(crash_at), str(stall_at)],
                            stdout=subprocess.PIPE, text=True, env=env)


def check_committed(path, epochs: int) -> None:
    with open_pool(path) as opened:
        assert opened.shape("epoch_preds") == (epochs, N)
        np.testing.assert_array_equal(opened.read("epoch_preds"), np.stack([epoch_labels(e) for e in range(epochs)]))
        assert opened.problems() == []


def test_crash_between_write_and_commit_keeps_completed_epochs(tmp_path):
    pool = make_pool(tmp_path / "p.h5")
    proc = child(pool, "inplace", crash_at=3)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3 and out.split() == ["done", "0", "done", "1", "done", "2"]
    with h5py.File(pool, "r") as f:
        assert f["epoch_preds"].shape == (4, N)  # the interrupted row is on disk ...
    check_committed(pool, 3)  # ... but readers see only the committed epochs
    rec = EpochRecorder(pool)
    assert rec.epochs == 3
    assert rec.record(epoch_labels(3)) == 3  # the next epoch overwrites the partial row
    check_committed(pool, 4)


@pytest.mark.parametrize("mode", ["inplace", "copy"])
def test_killed_during_training_keeps_completed_epochs(tmp_path, mode):
    pool = make_pool(tmp_path / "p.h5")
    proc = child(pool, mode, stall_at=2)
    for e in range(3):
        assert proc.stdout.readline().split() == ["done", str(e)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    check_committed(pool, 3)
    assert sorted(os.listdir(tmp_path)) == ["p.h5"]


def test_copy_mode_killed_at_any_time_leaves_a_valid_pool(tmp_path):
    pool = make_pool(tmp_path / "p.h5")
    proc = child(pool, "copy")
    for e in range(4):
        assert proc.stdout.readline().split() == ["done", str(e)]
    proc.send_signal(signal.SIGKILL)  # somewhere inside a later record(): copy, append or rename
    proc.wait(timeout=30)
    proc.stdout.close()
    with open_pool(pool) as opened:
        epochs = opened.shape("epoch_preds")[0]
    assert epochs >= 4
    check_committed(pool, epochs)


# ------------------------------------------------------------------------------ torch helpers
def test_predict_probs_and_record_from_a_training_loop(tmp_path):
    torch = pytest.importorskip("torch")
    import torch_fixtures as fx

    from alselect.record import predict_probs

    x, _ = fx.digits_arrays()
    model = fx.digits_mlp().train()
    probs = predict_probs(model, fx.digits_loader())
    assert model.training  # state restored
    with torch.no_grad():
        ref = torch.softmax(model.eval()(torch.from_numpy(x)), 1).numpy()
    np.testing.assert_allclose(probs, ref, atol=1e-6)
    pool = tmp_path / "p.h5"
    write_pool(pool, probs=probs)
    rec = EpochRecorder(pool)
    rec.record(torch.from_numpy(probs))
    rec.record(torch.from_numpy(probs.argmax(1)))
    with open_pool(pool) as opened:
        np.testing.assert_array_equal(opened.read("epoch_preds"), np.stack([probs.argmax(1)] * 2))


def test_lightning_callback_when_installed(tmp_path):
    try:
        import lightning.pytorch  # noqa: F401
    except ImportError:
        pytest.importorskip("pytorch_lightning")
    from alselect.record import EpochRecorderCallback

    pool = make_pool(tmp_path / "p.h5")
    cb = EpochRecorderCallback(pool, predict=lambda trainer, module: epoch_labels(0))

    class Trainer:
        sanity_checking = False
        is_global_zero = True

    cb.on_train_epoch_end(Trainer(), None)
    assert EpochRecorder(pool).epochs == 1


def test_import_record_does_not_import_torch():
    code = "import sys, alselect.record; assert 'torch' not in sys.modules; print('ok')"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.stdout.strip() == "ok", proc.stderr
