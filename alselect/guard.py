"""The low-budget guard: below how many labels per class random sampling is not beaten.

``alselect simulate`` measures it from learning curves and records it in the pool (root
attribute ``low_budget_guard``, a JSON record); ``alselect pick`` reads it and warns on stderr
when the labeled set after the pick would be below it. Without a record the default is
:data:`DEFAULT_LABELS_PER_CLASS`. This module imports only numpy and json, so ``pick`` stays light.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import numpy as np

from .errors import InvalidInputError
from .pool.spec import ATTR_LOW_BUDGET_GUARD
from .pool.writer import default_file_mode

#: Without a recorded guard, ``pick`` warns when the labeled set after the pick holds fewer than
#: one label per class: both papers report random sampling ahead of every strategy there.
DEFAULT_LABELS_PER_CLASS = 1.0


def beats(diffs: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """Per budget: does the strategy beat random? ``diffs`` is (seeds, budgets) of paired
    differences strategy - random. With two or more seeds: the lower end of the two-sided
    Student-t confidence interval of the mean difference is > 0; with one seed: the difference is > 0."""
    diffs = np.asarray(diffs, dtype=np.float64)
    if diffs.ndim != 2 or diffs.shape[0] == 0:
        raise InvalidInputError(f"diffs must be (seeds, budgets) with at least one seed, got shape {diffs.shape}")
    mean = diffs.mean(axis=0)
    if diffs.shape[0] == 1:
        return mean > 0
    return mean - half_width(diffs, confidence) > 0


def half_width(values: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """Half-width of the Student-t confidence interval of the mean over axis 0 (0 with one value)."""
    from scipy.stats import t

    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n < 2:
        return np.zeros(values.shape[1:])
    return t.ppf(0.5 + confidence / 2, n - 1) * values.std(axis=0, ddof=1) / np.sqrt(n)


def strategy_guard(labeled: np.ndarray, diffs: np.ndarray, n_classes: int, confidence: float = 0.95) -> dict:
    """The guard of one strategy from its paired curve against random.

    ``labeled`` (budgets,) is the labeled-set size at each measured budget (increasing),
    ``diffs`` (seeds, budgets) the paired metric differences strategy - random. The guard is the
    labeled count per class where the strategy's final run of wins begins: from there on it beats
    random at every measured budget (:func:`beats`). When it does not beat random at the largest
    budget, ``beaten`` is False and the guard is that largest budget per class (random was not
    beaten anywhere up to it).
    """
    labeled = np.asarray(labeled, dtype=np.float64)
    win = beats(diffs, confidence)
    if labeled.shape != win.shape:
        raise InvalidInputError(f"labeled has shape {labeled.shape}, diffs covers {win.shape[0]} budgets")
    if not win[-1]:
        return {"labels_per_class": float(labeled[-1] / n_classes), "beaten": False}
    start = win.size - 1
    while start > 0 and win[start - 1]:
        start -= 1
    return {"labels_per_class": float(labeled[start] / n_classes), "beaten": True}


def overall_guard(per_strategy: dict[str, dict]) -> dict:
    """The pool's guard: the smallest labels-per-class from which some strategy beats random."""
    beaten = [g["labels_per_class"] for g in per_strategy.values() if g["beaten"]]
    if beaten:
        return {"labels_per_class": min(beaten), "beaten": True}
    largest = max((g["labels_per_class"] for g in per_strategy.values()), default=0.0)
    return {"labels_per_class": largest, "beaten": False}


# ------------------------------------------------------------------------------- pool record
def read_guard(pool) -> dict | None:
    """The guard record of an open pool, or None when no simulation recorded one."""
    raw = pool.file.attrs.get(ATTR_LOW_BUDGET_GUARD)
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode()
    try:
        record = json.loads(str(raw))
    except ValueError:
        return None
    return record if isinstance(record, dict) and "labels_per_class" in record else None


def write_guard(path, record: dict) -> None:
    """Store ``record`` as the pool's guard attribute, atomically: the attribute is written to
    a copy in the same directory, which then replaces the pool."""
    import h5py

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as handle:
            handle.attrs[ATTR_LOW_BUDGET_GUARD] = json.dumps(record, sort_keys=True)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def budget_warning(pool, strategy: str, budget: int, extra_labeled=None) -> str | None:
    """The one-line warning ``pick`` prints when a labeled set of this size is below the guard."""
    if strategy == "random":
        return None
    labeled = pool.labeled_rows()
    if extra_labeled is not None and np.asarray(extra_labeled).size:
        labeled = np.union1d(labeled, np.asarray(extra_labeled, dtype=np.int64))
    after = int(labeled.size) + int(budget)
    per_class = after / pool.n_classes
    record = read_guard(pool)
    if record is None:
        if per_class >= DEFAULT_LABELS_PER_CLASS:
            return None
        return (f"{after} labels for {pool.n_classes} classes after this pick is below one label per class, where "
                f"random sampling usually beats '{strategy}'; check on this pool with `alselect simulate`")
    entry = record.get("strategies", {}).get(strategy) or record
    guard = float(entry["labels_per_class"])
    if per_class >= guard:
        return None
    simulated = strategy in record.get("strategies", {})
    who = f"'{strategy}'" if simulated else "no simulated strategy"
    if not entry.get("beaten", True):
        rule = f"{who} {'did not beat' if simulated else 'beat'} random at any simulated budget up to {guard:.3g} labels per class"
    elif simulated:
        rule = f"'{strategy}' beat random only from {guard:.3g} labels per class"
    else:
        rule = f"no simulated strategy beat random below {guard:.3g} labels per class"
    return (f"{after} labels for {pool.n_classes} classes after this pick ({per_class:.3g} per class) is below the "
            f"low-budget guard recorded by `alselect simulate`: {rule}; consider --strategy random")
