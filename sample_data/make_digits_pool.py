"""Build the bundled sample pool from scikit-learn's handwritten digits (no download).

What it does, like a real labeling loop after one cycle:

1. Takes the 1,797 8x8 digit images (10 classes) and marks a random, seeded subset of
   ``--labeled`` images as already labeled; the rest is the unlabeled pool.
2. Trains a small neural network (one hidden ReLU layer of 32 units) on the labeled subset
   for ``--epochs`` epochs, recording the predicted label of EVERY image after each epoch
   (for label dispersion).
3. Trains ``--members - 1`` more networks from other seeds: their class probabilities,
   with the first network's, form the ensemble samples ``mc_probs`` (N, T, C).
4. Stores the first network's softmax ``probs``, its hidden-layer activations as
   ``embeddings``, the known labels of the labeled subset, the ground truth of every image
   as ``truth`` (evaluation only) and string ids ``digit-0000`` ...; then packs the pool.

Usage: python sample_data/make_digits_pool.py [-o sample_data/digits.h5] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

HIDDEN_UNITS = 32


def _train(x, y, classes, epochs, seed, x_pool, record=False):
    net = MLPClassifier(hidden_layer_sizes=(HIDDEN_UNITS,), learning_rate_init=0.01, alpha=1e-3,
                        random_state=seed)
    per_epoch = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(epochs):
            net.partial_fit(x, y, classes=classes)
            if record:
                per_epoch.append(net.predict(x_pool))
    return net, (np.stack(per_epoch).astype(np.int16) if record else None)


def build(output: str, *, seed: int = 0, n_labeled: int = 100, epochs: int = 30, members: int = 5) -> str:
    # Imported here so the script also runs from a source checkout without installing.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from alselect.pool import write_pool

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float64)
    truth = digits.target.astype(np.int64)
    n = len(truth)
    classes = np.arange(10)
    rng = np.random.default_rng(seed)
    labeled = np.sort(rng.choice(n, size=n_labeled, replace=False))

    first, epoch_preds = _train(x[labeled], truth[labeled], classes, epochs, seed, x, record=True)
    others = [_train(x[labeled], truth[labeled], classes, epochs, seed + 1 + m, x)[0] for m in range(members - 1)]
    probs = first.predict_proba(x)
    mc_probs = np.stack([net.predict_proba(x) for net in [first] + others], axis=1)
    hidden = np.maximum(x @ first.coefs_[0] + first.intercepts_[0], 0.0)

    labels = np.full(n, -1, dtype=np.int64)
    labels[labeled] = truth[labeled]
    write_pool(
        output,
        probs=probs.astype(np.float32),
        embeddings=hidden.astype(np.float32),
        mc_probs=mc_probs.astype(np.float32),
        epoch_preds=epoch_preds,
        labels=labels,
        labeled=labeled,
        truth=truth,
        ids=np.array([f"digit-{i:04d}" for i in range(n)]),
        class_names=[str(c) for c in classes],
    )
    unlabeled = np.setdiff1d(np.arange(n), labeled)
    accuracy = float((probs[unlabeled].argmax(1) == truth[unlabeled]).mean())
    print(f"wrote {output}: N={n}, labeled={n_labeled}, accuracy on the unlabeled pool {accuracy:.3f}",
          file=sys.stderr)
    return output


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("-o", "--output", default=os.path.join(here, "digits.h5"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--labeled", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--members", type=int, default=5)
    args = parser.parse_args(argv)
    build(args.output, seed=args.seed, n_labeled=args.labeled, epochs=args.epochs, members=args.members)


if __name__ == "__main__":
    main()
