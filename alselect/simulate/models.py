"""The classifier of a simulation, trained from scratch on the labeled embeddings each cycle.

Built-in models (scikit-learn):

- ``logreg`` (default): ``LogisticRegression(C=1, max_iter=1000)``, multinomial, lbfgs;
- ``linear-svm``: ``LinearSVC(C=1)``, one-vs-rest; it has no probabilities, so probabilities are
  the softmax of its decision values;
- ``pkg.module:Class``: any scikit-learn-compatible estimator, built with no arguments
  (``random_state`` set to the seed when it has one). Probabilities come from ``predict_proba``,
  else the softmax of ``decision_function``, else one-hot ``predict``.

Outputs the strategies need, computed only when a simulated strategy needs them:

- ``probs`` (N, C): the model's probabilities; a class missing from the labeled set gets 0;
- ``mc_probs`` (N, T, C): a bootstrap ensemble: T models, each trained on a resample (with
  replacement, same size) of the labeled set, seeded per cycle;
- ``epoch_preds`` (E, N): predicted labels after each of the first E training iterations: one
  ``partial_fit`` pass per epoch when the estimator has ``partial_fit``, otherwise the solver
  stopped after e = 1..E iterations (``max_iter = e``, a deterministic solver's iterate e).
  Estimators with neither cannot feed ``dispersion``.

With a single class in the labeled set no classifier can be trained; every sample then gets
probability 1 for that class.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np

from ..errors import InvalidInputError

BUILTIN = ("logreg", "linear-svm")


def _builtin(name: str):
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, max_iter=1000)
    from sklearn.svm import LinearSVC

    return LinearSVC(C=1.0)


def load_model_class(spec: str):
    """Resolve ``pkg.module:Class`` (checked once, before any cycle runs)."""
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise InvalidInputError(
            f"--model {spec!r} is neither a built-in model ({', '.join(BUILTIN)}) nor an import path "
            "'package.module:Class' (e.g. sklearn.ensemble:RandomForestClassifier)"
        )
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise InvalidInputError(f"--model {spec!r} cannot be imported ({exc}); check the module and class name") from None
    if not callable(cls) or not hasattr(cls, "fit"):
        raise InvalidInputError(f"--model {spec!r} is not an estimator class with a fit method")
    return cls


def make_model(spec: str, seed: int):
    """A fresh, unfitted estimator for ``spec`` with its random_state set to ``seed`` when it has one."""
    model = _builtin(spec) if spec in BUILTIN else load_model_class(spec)()
    if hasattr(model, "get_params") and "random_state" in model.get_params():
        model.set_params(random_state=seed)
    return model


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    return z / z.sum(axis=1, keepdims=True)


def class_probabilities(model, X: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, n_classes) float64 probabilities of a fitted model over the full class range."""
    classes = np.asarray(model.classes_, dtype=np.int64)
    if hasattr(model, "predict_proba"):
        p = np.asarray(model.predict_proba(X), dtype=np.float64)
    elif hasattr(model, "decision_function"):
        d = np.asarray(model.decision_function(X), dtype=np.float64)
        if d.ndim == 1:  # binary: one decision value for classes_[1]
            d = np.stack([-d, d], axis=1) / 2
        p = _softmax(d)
    else:
        pred = np.asarray(model.predict(X))
        p = (pred[:, None] == classes[None, :]).astype(np.float64)
    out = np.zeros((X.shape[0], n_classes))
    out[:, classes] = p
    return out


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on tiny labeled sets, truncated solvers
        return model.fit(X, y)


def fit_probs(spec: str, seed: int, X_train, y_train, X, n_classes: int) -> tuple[np.ndarray, object]:
    """Train a fresh model and return its probabilities over ``X`` (and the model, None when the
    labeled set holds one class)."""
    present = np.unique(y_train)
    if present.size < 2:
        p = np.zeros((X.shape[0], n_classes))
        p[:, present[0]] = 1.0
        return p, None
    model = _fit(make_model(spec, seed), X_train, y_train)
    return class_probabilities(model, X, n_classes), model


def bootstrap_probs(spec: str, seed: int, X_train, y_train, X, n_classes: int, members: int,
                    rng: np.random.Generator) -> np.ndarray:
    """(N, members, C) probabilities of ``members`` models trained on bootstrap resamples."""
    out = np.empty((X.shape[0], members, n_classes))
    for m in range(members):
        take = rng.integers(0, y_train.size, size=y_train.size)
        out[:, m, :] = fit_probs(spec, seed + m + 1, X_train[take], y_train[take], X, n_classes)[0]
    return out


def supports_epochs(spec: str) -> bool:
    model = make_model(spec, 0)
    return hasattr(model, "partial_fit") or ("max_iter" in model.get_params() if hasattr(model, "get_params") else False)


def epoch_predictions(spec: str, seed: int, X_train, y_train, X, n_classes: int, epochs: int) -> np.ndarray:
    """(epochs, N) int64 predicted labels after each of the first ``epochs`` training iterations."""
    out = np.empty((epochs, X.shape[0]), dtype=np.int64)
    present = np.unique(y_train)
    if present.size < 2:
        out[:] = present[0]
        return out
    model = make_model(spec, seed)
    if hasattr(model, "partial_fit"):
        classes = np.arange(n_classes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for e in range(epochs):
                model.partial_fit(X_train, y_train, classes=classes)
                out[e] = np.argmax(class_probabilities(model, X, n_classes), axis=1)
        return out
    if not supports_epochs(spec):
        raise InvalidInputError(f"model {spec!r} has neither partial_fit nor max_iter, so it cannot give per-iteration "
                                "predictions for 'dispersion'; drop dispersion from --strategies or use another --model")
    for e in range(epochs):
        fitted = _fit(make_model(spec, seed).set_params(max_iter=e + 1), X_train, y_train)
        out[e] = np.argmax(class_probabilities(fitted, X, n_classes), axis=1)
    return out
