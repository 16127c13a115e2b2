"""The simulation cycles (thesis chapter 5 protocol) and the resumable grid of (strategy, seed) cells.

One cell, for a strategy and a seed:

1. Split the rows whose ground truth is known: a test set (``test_fraction`` of them, drawn from
   the seed) and the simulation pool. The initial labeled set is ``initial_size`` random pool rows
   (drawn from the seed), or the pool file's own labeled rows (kept out of the test set).
   Split and initial set depend on the seed only, so every strategy starts from the same labeled
   set and is tested on the same rows: differences between strategies are paired by seed.
2. Cycle 0 .. K: train a fresh classifier on the labeled embeddings (:mod:`.models`), measure it
   on the test set; then (before the last measurement) write the cycle's pool (probs, embeddings,
   labels of the labeled rows, and mc_probs / epoch_preds when the strategy needs them) to a
   temporary file, pick ``budget`` samples with :func:`alselect.select`, and reveal their truth.

Seeds: the model's ``random_state`` is the cell seed; the pick of cycle k uses a seed derived from
(seed, k), the same for every strategy; the bootstrap resamples use (seed, k) too.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InvalidInputError, SelectionError
from . import models

#: What a simulated cycle pool can hold; a strategy needing anything else cannot be simulated.
PROVIDED = ("probs", "embeddings", "mc_probs", "epoch_preds", "labels")
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
COLUMNS = ("strategy", "seed", "cycle", "labeled") + METRICS + ("select_seconds", "train_seconds", "class_counts",
                                                                 "config")


@dataclass(frozen=True)
class Settings:
    """Everything besides the strategy and the seed that determines a cell's results."""

    budget: int
    cycles: int
    initial: str = "random"  # "random" or "pool"
    initial_size: int = 0  # 0: the budget (the thesis: initial set = per-cycle budget)
    test_fraction: float = 0.2
    model: str = "logreg"
    members: int = 5
    epochs: int = 20
    params: tuple = ()  # sorted (strategy, key, value) strategy parameters, as `pick -p`

    def config_id(self, data: "Data") -> str:
        blob = json.dumps({**asdict(self), "params": [list(p) for p in self.params], "n": int(data.truth.size), "c": data.n_classes,
                           "d": int(data.embeddings.shape[1])}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]


@dataclass
class Data:
    """The pool's rows with known truth: what every cell reads."""

    embeddings: np.ndarray  # (M, D)
    truth: np.ndarray  # (M,) int64 >= 0
    rows: np.ndarray  # (M,) their row numbers in the pool file
    pool_labeled: np.ndarray  # positions (into the M rows) of the pool's labeled rows
    n_classes: int
    class_names: list[str] | None = None


def load_data(pool) -> Data:
    """Read embeddings and truth of an open pool (rows with truth -1 are left out)."""
    pool.require("truth", "`alselect simulate` (it reveals labels from the ground truth)")
    pool.require("embeddings", "`alselect simulate` (the classifier is trained on frozen embeddings)")
    truth = pool.read("truth").astype(np.int64)
    rows = np.flatnonzero(truth >= 0)
    if rows.size < 2:
        raise InvalidInputError(f"the pool's 'truth' is known for {rows.size} rows; a simulation needs at least a test "
                                "set and a labeled set (store the known labels with `alselect pack ... --truth Y.npy`)")
    embeddings = pool.read("embeddings", dtype=np.float32)[rows]
    position = np.full(pool.n_rows, -1, dtype=np.int64)
    position[rows] = np.arange(rows.size)
    labeled = position[pool.labeled_rows()]
    return Data(embeddings=embeddings, truth=truth[rows], rows=rows, pool_labeled=np.sort(labeled[labeled >= 0]),
                n_classes=pool.n_classes, class_names=pool.class_names())


def check_settings(settings: Settings, data: Data) -> None:
    m = data.truth.size
    if settings.budget < 1 or settings.cycles < 1:
        raise InvalidInputError(f"--budget and --cycles must be >= 1, got {settings.budget} and {settings.cycles}")
    if not 0 < settings.test_fraction < 1:
        raise InvalidInputError(f"--test-fraction must be in (0, 1), got {settings.test_fraction}")
    if settings.initial == "pool" and data.pool_labeled.size == 0:
        raise InvalidInputError("--initial pool: the pool has no labeled rows with known truth; use --initial random")
    n_test = n_test_rows(settings, m)
    start = data.pool_labeled.size if settings.initial == "pool" else initial_size(settings)
    need = start + settings.budget * settings.cycles
    if n_test < 1 or m - n_test < need:
        raise InvalidInputError(
            f"{m} rows with known truth cannot hold a test set of {n_test} ({settings.test_fraction:g}) and "
            f"{need} labels ({start} initial + {settings.cycles} cycles x {settings.budget}); lower --budget, "
            "--cycles or --test-fraction")


def initial_size(settings: Settings) -> int:
    return settings.initial_size or settings.budget


def n_test_rows(settings: Settings, m: int) -> int:
    return int(round(settings.test_fraction * m))


def split(data: Data, settings: Settings, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(simulation rows, test rows, initial labeled positions within the simulation rows)."""
    m = data.truth.size
    rng = np.random.default_rng([seed, 0x7E57])
    n_test = n_test_rows(settings, m)
    if settings.initial == "pool":
        fixed = data.pool_labeled
        free = np.setdiff1d(np.arange(m), fixed)
        test = np.sort(rng.choice(free, size=n_test, replace=False))
        sim = np.setdiff1d(np.arange(m), test)
        initial = np.searchsorted(sim, fixed)
    else:
        order = rng.permutation(m)
        test, sim = np.sort(order[:n_test]), np.sort(order[n_test:])
        initial = np.sort(rng.choice(sim.size, size=initial_size(settings), replace=False))
    return sim, test, initial.astype(np.int64)


def pick_seed(seed: int, cycle: int) -> int:
    return int(np.random.SeedSequence([seed, cycle]).generate_state(1)[0] >> 1)


def measure(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy and macro-F1 over the classes present in the test set."""
    from sklearn.metrics import balanced_accuracy_score, f1_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"accuracy": float(np.mean(y_true == y_pred)),
                "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
                "macro_f1": float(f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro",
                                           zero_division=0))}


def strategy_params(strategy: str, settings: Settings, cycle: int, n_initial: int) -> dict:
    """Parameters that describe the cycle to strategies that model it (class balancing's b0 and cycle)."""
    from ..strategies import get_strategy

    names = {p.name for p in get_strategy(strategy).params}
    out = {"b0": n_initial, "cycle": cycle + 1} if {"b0", "cycle"} <= names else {}
    out.update({key: value for name, key, value in settings.params if name == strategy})
    return out


def needs_of(strategy: str) -> tuple[str, ...]:
    from ..strategies import get_strategy

    return get_strategy(strategy).needs


def simulable(strategy: str, model: str) -> bool:
    from ..strategies import get_strategy

    spec = get_strategy(strategy)
    if spec.name == "score" or not set(spec.needs) <= set(PROVIDED):
        return False
    return "epoch_preds" not in spec.needs or models.supports_epochs(model)


def run_cell(data: Data, settings: Settings, strategy: str, seed: int) -> list[dict]:
    """The rows (cycle 0 .. K) of one (strategy, seed) cell."""
    from ..pool import write_pool
    from ..selection import select

    sim, test, labeled = split(data, settings, seed)
    X, y = data.embeddings[sim], data.truth[sim]
    X_test, y_test = data.embeddings[test], data.truth[test]
    C = data.n_classes
    needs = needs_of(strategy)
    config = settings.config_id(data)
    n_initial = labeled.size
    rows, select_seconds = [], 0.0
    with tempfile.TemporaryDirectory(prefix="alselect-simulate-") as tmp:
        path = os.path.join(tmp, "cycle.h5")
        for cycle in range(settings.cycles + 1):
            t0 = time.process_time()
            probs, model = models.fit_probs(settings.model, seed, X[labeled], y[labeled], X, C)
            if model is None:  # one class labeled: it is every prediction
                pred = np.full(y_test.size, int(y[labeled][0]))
            else:
                pred = np.argmax(models.class_probabilities(model, X_test, C), axis=1)
            train_seconds = time.process_time() - t0
            counts = np.bincount(y[labeled], minlength=C)
            rows.append({"strategy": strategy, "seed": seed, "cycle": cycle, "labeled": int(labeled.size),
                         **measure(y_test, pred), "select_seconds": select_seconds, "train_seconds": train_seconds,
                         "class_counts": " ".join(map(str, counts)), "config": config})
            if cycle == settings.cycles:
                break
            labels = np.full(sim.size, -1, dtype=np.int64)
            labels[labeled] = y[labeled]
            arrays = {"probs": probs.astype(np.float32), "embeddings": X, "labels": labels, "labeled": labeled}
            t1 = time.process_time()  # the strategy's cost: its extra inputs (ensemble, epochs) and the pick
            crng = np.random.default_rng([seed, cycle, 0xB007])
            if "mc_probs" in needs:
                arrays["mc_probs"] = models.bootstrap_probs(settings.model, seed, X[labeled], y[labeled], X, C,
                                                            settings.members, crng).astype(np.float32)
            if "epoch_preds" in needs:
                arrays["epoch_preds"] = models.epoch_predictions(settings.model, seed, X[labeled], y[labeled], X, C,
                                                                 settings.epochs)
            write_pool(path, **arrays)
            picked = select(path, strategy, settings.budget, seed=pick_seed(seed, cycle),
                            **strategy_params(strategy, settings, cycle, n_initial))
            select_seconds = time.process_time() - t1
            if picked.indices.size != settings.budget:
                raise SelectionError(f"strategy '{strategy}' picked {picked.indices.size} of {settings.budget} samples")
            labeled = np.union1d(labeled, picked.indices)
    return rows
