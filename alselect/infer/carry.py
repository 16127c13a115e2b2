"""What ``alselect infer -o POOL`` keeps of an existing POOL.

A pool carries the loop's state besides the model outputs: the epochs a training run recorded,
the labels and labeled set, the labeling history, ground truth, costs, class names. ``infer``
rewrites the model outputs and nothing else:

- an existing POOL that holds only loop state (for example the epochs an
  :class:`~alselect.record.EpochRecorder` wrote before any pool existed) is extended: the new file
  gets infer's datasets plus every dataset of the old one;
- an existing POOL that already holds model outputs is refused unless ``--update``, which
  replaces infer's own datasets and keeps the rest;
- a file that is not an alselect pool is never overwritten.

The old datasets are copied into the new file under the pool's writers' lock
(:mod:`alselect.pool.locking`), held until the new file has replaced the old one, so an epoch
that a training loop records meanwhile waits and lands in the new file; none is lost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import InvalidInputError, PoolFormatError
from ..pool.spec import ATTR_CREATED_BY, ATTR_FORMAT, ATTR_VERSION, FORMAT_NAME

#: Top-level names (datasets or groups) that belong to the labeling loop, not to the model.
LOOP_STATE = ("epoch_preds", "epoch_probs", "labels", "labeled", "truth", "cost", "class_names", "history",
              "truth_boxes")
_STAMP = (ATTR_FORMAT, ATTR_VERSION, ATTR_CREATED_BY)


@dataclass
class Carry:
    """The existing pool's names that the new one takes over."""

    path: str
    names: list[str]
    attrs: list[str]


def _top_names(f) -> list[str]:
    return sorted(f.keys())


def plan(output: str, *, update: bool, writes: tuple[str, ...] = ()) -> Carry | None:
    """Check ``output`` before any work; None when there is nothing to keep.

    ``writes`` names datasets infer writes from its own options (``labels``, ``labeled``): those
    are not carried over."""
    import h5py

    from ..pool.locking import open_h5

    if output == "-" or not os.path.isfile(output):
        return None
    if not h5py.is_hdf5(output):
        raise InvalidInputError(f"-o '{output}' exists and is not a pool file; infer never overwrites other files: "
                                "choose another output, or remove it")
    try:
        with open_h5(output, "r") as f:
            fmt = f.attrs.get(ATTR_FORMAT)
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt != FORMAT_NAME:
                raise InvalidInputError(f"-o '{output}' is an HDF5 file but not an alselect pool; infer never "
                                        "overwrites other files: choose another output, or remove it")
            names = _top_names(f)
            attrs = [a for a in f.attrs if a not in _STAMP]
    except OSError as exc:
        raise PoolFormatError(f"-o '{output}' cannot be read ({str(exc).splitlines()[0]}); move it away or "
                              "repair it before writing a pool there") from None
    model = [n for n in names if n not in LOOP_STATE]
    if model and not update:
        raise InvalidInputError(
            f"-o '{output}' already holds model outputs ({', '.join(model[:4])}{', ...' if len(model) > 4 else ''}); "
            "pass --update to replace them (recorded epochs, labels, the labeled set and the labeling history "
            "are kept), or choose another output")
    keep = [n for n in names if n in LOOP_STATE and n not in writes]
    return Carry(output, keep, attrs) if keep or attrs else None


def _rows_of(obj, name: str) -> int | None:
    """N of a carried dataset (None for groups and row-free datasets)."""
    import h5py

    if not isinstance(obj, h5py.Dataset) or name in ("class_names",) or obj.ndim == 0:
        return None
    if name in ("epoch_preds", "epoch_probs"):
        return int(obj.shape[1]) if obj.ndim >= 2 else None
    if name == "labeled":
        return None
    return int(obj.shape[0])


def copy_into(carry: Carry, target, n_rows: int) -> None:
    """Copy the carried names from ``carry.path`` into the open h5py file ``target``."""
    from ..pool.locking import open_h5

    with open_h5(carry.path, "r") as src:
        for name in carry.names:
            if name not in src:
                continue  # removed meanwhile by its owner: nothing to keep
            rows = _rows_of(src[name], name)
            if rows is not None and rows != n_rows:
                raise InvalidInputError(
                    f"-o '{carry.path}' holds '{name}' for {rows} samples, but the model ran over {n_rows}; the "
                    "recorded state belongs to another pool: choose another output")
            if name == "labeled" and src[name].size and int(src[name][()].max()) >= n_rows:
                raise InvalidInputError(f"-o '{carry.path}': 'labeled' lists rows beyond the {n_rows} samples")
            if name in target:
                del target[name]
            src.copy(src[name], target, name=name)
        for attr in carry.attrs:
            target.attrs[attr] = src.attrs[attr]
