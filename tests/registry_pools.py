"""Pools that hold every dataset a registered strategy can read, for the registry-wide tests.

The base is the synthetic detection video of :mod:`alselect.synthetic_video` (probabilities,
embeddings, regions with boxes, tracks and features, video frames, ground-truth boxes), with
every other per-sample dataset added: MC / ensemble probabilities, epoch predictions, labels,
a score, costs and CD mixtures. All built from the format's own keywords (``write_pool`` /
``MemoryPool``), so a strategy added later that reads an existing dataset is covered without
touching the tests.
"""

import numpy as np

N_CLASSES = 3
FLOAT_KINDS = ("probs", "embeddings", "mc_probs", "regions_probs", "regions_features", "regions_scores", "cd_mixtures")


def pool_arrays(n=40, *, dtype=np.float32, n_labeled=4, seed=0):
    """Arrays of a pool with ``n`` rows (even), the first ``n_labeled`` labeled (with known labels)."""
    from alselect.cdal import mixtures_from_regions
    from alselect.synthetic_video import synthetic_video

    c = N_CLASSES
    arrays = dict(synthetic_video(n_videos=2, frames=n // 2, objects=2, n_classes=c, seed=seed).arrays)
    rng = np.random.default_rng(seed)
    mixtures, present, counts = mixtures_from_regions(arrays["regions_probs"], arrays["regions_offsets"],
                                                      n_classes=c, dtype=np.float64)
    labels = np.full(n, -1, dtype=np.int64)
    labels[:n_labeled] = np.arange(n_labeled) % c
    arrays.update({
        "mc_probs": rng.dirichlet(np.full(c, 0.7), size=(n, 5)),
        "epoch_preds": rng.integers(0, c, size=(6, n)),
        "labels": labels,
        "scores": {"s": rng.random(n).astype(dtype)},
        "cost": rng.uniform(1.0, 2.0, size=n),
        "cd_mixtures": mixtures,
        "cd_present": present,
        "cd_counts": counts,
    })
    for name in FLOAT_KINDS:
        arrays[name] = np.asarray(arrays[name]).astype(dtype)
    return arrays
