"""The EpochRecorder Lightning callback in a real ``Trainer.fit`` on the digits data."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
try:
    import lightning.pytorch as pl
except ImportError:
    pl = pytest.importorskip("pytorch_lightning")

from conftest import ROOT  # noqa: E402

pytestmark = pytest.mark.torch

# The training script a user would write: a small MLP on scikit-learn's digits (the data behind
# sample_data/digits.h5, pool rows in the same order), the recorder attached as a callback.
TRAIN = textwrap.dedent("""
    import sys, time
    import numpy as np, torch
    from sklearn.datasets import load_digits
    try:
        import lightning.pytorch as pl
    except ImportError:
        import pytorch_lightning as pl
    from alselect.record import EpochRecorderCallback

    pool, epochs, slow, labeled = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), np.load(sys.argv[4])
    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[labeled], y[labeled]), batch_size=32,
                                        shuffle=True)
    pool_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=512)

    class Net(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))

        def forward(self, inputs):
            return self.net(inputs)

        def training_step(self, batch, _):
            inputs, targets = batch
            return torch.nn.functional.cross_entropy(self(inputs), targets)

        def on_train_epoch_end(self):
            time.sleep(slow)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=0.01)

    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[EpochRecorderCallback(pool, dataloader=pool_loader)])
    trainer.fit(Net(), train)
""")


def write_script(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(TRAIN)
    return path


@pytest.fixture
def fresh_pool(tmp_path):
    """A pool over the digits with no recorded epochs yet (uniform probabilities to start)."""
    from sklearn.datasets import load_digits

    from alselect.pool import write_pool

    digits = load_digits()
    n = digits.target.size
    rng = np.random.default_rng(0)
    labeled = np.sort(rng.choice(n, size=100, replace=False))
    labels = np.full(n, -1)
    labels[labeled] = digits.target[labeled]
    path = tmp_path / "pool.h5"
    write_pool(path, probs=np.full((n, 10), 0.1, dtype=np.float32), labels=labels, truth=digits.target)
    np.save(tmp_path / "labeled.npy", labeled)
    return str(path), str(tmp_path / "labeled.npy")


def run_training(script, pool, labeled, epochs, slow=0.0, **kwargs):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, str(script), pool, str(epochs), str(slow), labeled], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_trainer_fit_records_every_epoch_and_dispersion_picks(tmp_path, fresh_pool):
    pool, labeled = fresh_pool
    script = write_script(tmp_path)
    proc = run_training(script, pool, labeled, epochs=4)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    from alselect.pool import open_pool

    with open_pool(pool) as p:
        preds = p.read("epoch_preds")
        truth = p.read("truth")
    assert preds.shape == (4, 1797)
    assert (preds >= 0).all() and (preds < 10).all()
    assert (preds[-1] == truth).mean() > 0.2  # twice chance: the recorded predictions come from the model
    r = subprocess.run([sys.executable, "-m", "alselect", "pick", pool, "-s", "dispersion", "-b", "20"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [int(v) for v in r.stdout.split()]
    assert len(rows) == 20 and not set(rows) & set(np.load(labeled).tolist())


def test_killed_training_run_keeps_completed_epochs(tmp_path, fresh_pool):
    pool, labeled = fresh_pool
    script = write_script(tmp_path)
    proc = run_training(script, pool, labeled, epochs=50, slow=0.5, start_new_session=True)
    from alselect.record import EpochRecorder

    deadline = time.monotonic() + 400
    try:
        while EpochRecorder(pool).epochs < 2:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    from alselect.pool import open_pool

    with open_pool(pool) as p:
        epochs = p.shape("epoch_preds")[0]
        assert epochs >= 2
        assert (p.read("epoch_preds") >= 0).all()
    r = subprocess.run([sys.executable, "-m", "alselect", "pick", pool, "-s", "dispersion", "-b", "10"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
