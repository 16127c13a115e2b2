import os

import numpy as np
import pytest

from alselect.pool import write_pool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_POOL = os.path.join(ROOT, "sample_data", "digits.h5")


def random_probs(rng, n, c, dtype=np.float32, alpha=0.5):
    return rng.dirichlet(np.full(c, alpha), size=n).astype(dtype)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def make_pool(tmp_path):
    """Write a pool from keyword arrays and return its path."""
    counter = [0]

    def _make(**arrays):
        counter[0] += 1
        path = tmp_path / f"pool{counter[0]}.h5"
        write_pool(path, **arrays)
        return str(path)

    return _make


@pytest.fixture
def full_pool(make_pool, rng):
    """A small pool with every v1 dataset."""
    n, c, t, e, d = 60, 4, 5, 6, 3
    probs = random_probs(rng, n, c)
    return make_pool(
        probs=probs,
        embeddings=rng.normal(size=(n, d)).astype(np.float32),
        mc_probs=random_probs(rng, n * t, c).reshape(n, t, c),
        epoch_preds=rng.integers(0, c, size=(e, n)),
        labels=np.where(np.arange(n) < 3, 0, -1),
        labeled=[5, 6],
        ids=np.array([f"s{i:03d}" for i in range(n)]),
        scores={"vaal": rng.random(n), "loss": rng.random(n)},
        cost=rng.uniform(0.5, 3.0, size=n),
        class_names=["a", "b", "c", "d"],
        truth=rng.integers(0, c, size=n),
    )


def pytest_collection_modifyitems(config, items):
    """Tests marked ``fuzz`` run only when selected with ``-m fuzz``."""
    if "fuzz" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="long fuzz run: select it with `pytest -m fuzz`")
    for item in items:
        if "fuzz" in item.keywords:
            item.add_marker(skip)
