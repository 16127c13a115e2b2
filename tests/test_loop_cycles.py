"""Three full labeling cycles on the digits: train with the recorder -> infer -> pick -> label.

Nothing recorded or labeled may ever be lost: the recorder starts before any pool exists,
`infer` keeps what was recorded and labeled, and every cycle's labels are still there at the end.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import torch_fixtures as fx  # noqa: E402
from conftest import ROOT  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, ROOT, os.environ.get("PYTHONPATH", "")]))


def alselect(*args, stdin=None):
    r = subprocess.run([sys.executable, "-m", "alselect", *map(str, args)], input=stdin, capture_output=True,
                       text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr
    return r


def train(labeled, labels, epochs, recorder, ckpt):
    """A few epochs of the fixture MLP on the labeled rows, recording every epoch's predictions."""
    x, _ = fx.digits_arrays()
    x = torch.from_numpy(x)
    model = fx.digits_mlp()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    y = torch.from_numpy(labels[labeled])
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[labeled]), y).backward()
        opt.step()
        from alselect.record import predict_probs

        recorder.record(predict_probs(model, torch.utils.data.TensorDataset(x)))
    torch.save(model.state_dict(), ckpt)


def test_three_cycles_lose_nothing(tmp_path):
    from alselect.labeling import read_history
    from alselect.pool import open_pool
    from alselect.record import EpochRecorder

    n = fx.N_DIGITS
    truth = fx.digits_arrays()[1]
    pool, ckpt = tmp_path / "pool.h5", tmp_path / "model.pt"
    rng = np.random.default_rng(0)
    labeled = np.sort(rng.choice(n, size=20, replace=False))
    known = np.full(n, -1)
    known[labeled] = truth[labeled]
    np.save(tmp_path / "y0.npy", known)
    recorded, all_picks = 0, []
    for cycle in (1, 2, 3):
        recorder = EpochRecorder(pool)  # cycle 1: no pool yet, the recorder creates the epochs file
        train(labeled, known, 3, recorder, ckpt)
        recorded += 3
        infer = ["infer", "--model", "torch_fixtures:digits_mlp", "--weights", ckpt,
                 "--data", "torch_fixtures:digits_data", "-o", pool]
        alselect(*infer, *(["--labels", tmp_path / "y0.npy"] if cycle == 1 else ["--update"]))
        picks = [int(v) for v in alselect("pick", pool, "-s", "dispersion", "-b", 10).stdout.split()]
        assert len(picks) == 10 and not set(picks) & set(labeled.tolist())
        csv = "row,label\n" + "".join(f"{r},{truth[r]}\n" for r in picks)
        alselect("label", pool, "--from", "-", stdin=csv)
        all_picks += picks
        known[picks] = truth[picks]
        labeled = np.union1d(labeled, picks)
        with open_pool(pool) as p:
            assert p.shape("epoch_preds") == (recorded, n)  # every recorded epoch survived infer
            np.testing.assert_array_equal(p.labeled_rows(), labeled)
            np.testing.assert_array_equal(p.read("labels")[labeled], truth[labeled])
        history = read_history(str(pool))
        assert history.rows.tolist() == all_picks
        assert history.cycle.tolist() == [c for c in range(1, cycle + 1) for _ in range(10)]
    r = alselect("pick", pool, "-s", "balanced", "-b", 10)
    assert "cycle 4 (b=10, b0=20)" in r.stderr  # the loop's position, from the pool's own history
