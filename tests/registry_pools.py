"""Pools that hold every dataset a registered strategy can read, for the registry-wide tests.

Built from the format's own keywords (``write_pool`` / ``MemoryPool``), so a strategy added
later that reads an existing dataset is covered without touching the tests.
"""

import numpy as np

N_CLASSES = 3


def pool_arrays(n=40, *, dtype=np.float32, n_labeled=4, seed=0):
    """Arrays of a pool with ``n`` rows, the first ``n_labeled`` labeled (with known labels)."""
    rng = np.random.default_rng(seed)
    c = N_CLASSES
    probs = rng.dirichlet(np.full(c, 0.7), size=n)
    regions_per = rng.integers(1, 4, size=n)
    offsets = np.concatenate([[0], np.cumsum(regions_per)]).astype(np.int64)
    region_probs = rng.dirichlet(np.full(c, 0.7), size=int(offsets[-1]))
    from alselect.cdal import mixtures_from_regions

    mixtures, present, counts = mixtures_from_regions(region_probs, offsets, n_classes=c, dtype=np.float64)
    labels = np.full(n, -1, dtype=np.int64)
    labels[:n_labeled] = np.arange(n_labeled) % c
    return {
        "probs": probs.astype(dtype),
        "embeddings": rng.normal(size=(n, 4)).astype(dtype),
        "mc_probs": rng.dirichlet(np.full(c, 0.7), size=(n, 5)).astype(dtype),
        "epoch_preds": rng.integers(0, c, size=(6, n)),
        "labels": labels,
        "scores": {"s": rng.random(n).astype(dtype)},
        "cost": rng.uniform(1.0, 2.0, size=n),
        "region_probs": region_probs.astype(dtype),
        "region_offsets": offsets,
        "cd_mixtures": mixtures.astype(dtype),
        "class_present": present,
        "class_counts": counts,
    }
