"""A pool held in memory: :class:`MemoryPool`, built from a mapping of dataset names to arrays.

The arrays go through the same checks as ``alselect pack`` (:func:`validate_arrays`) and are
stored in an in-memory HDF5 image (h5py's ``core`` driver, nothing written to disk), which the
ordinary :class:`~alselect.pool.Pool` reader then reads. So a notebook user gets exactly the
validation, the derived data (``probs`` from ``logits``, the labeled set) and the picks of the
same arrays written with ``pack``.
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping

import h5py
import numpy as np

from .. import __version__
from ..errors import InvalidInputError
from .reader import Pool
from .spec import ATTR_CREATED_BY, ATTR_FORMAT, ATTR_VERSION, FORMAT_NAME, V2_GROUPS, unknown_keywords
from .writer import PoolWriter, validate_arrays

_names = itertools.count()


class _MemoryWriter(PoolWriter):
    """PoolWriter into an in-memory HDF5 image; ``commit`` stamps it and keeps it open."""

    def __init__(self, n_rows: int):
        self.path = "<arrays>"
        self.n_rows = int(n_rows)
        self.file = h5py.File(f"alselect-memory-pool-{next(_names)}.h5", "w", driver="core", backing_store=False)
        self._done = False

    def commit(self) -> h5py.File:
        self.file.attrs[ATTR_CREATED_BY] = f"alselect {__version__}"
        self.file.attrs[ATTR_FORMAT] = FORMAT_NAME
        self.file.attrs[ATTR_VERSION] = 2 if any(group in self.file for group in V2_GROUPS) else 1
        self._done = True
        return self.file

    def abort(self) -> None:
        self.file.close()
        self._done = True


def _image(arrays: Mapping[str, Any]) -> h5py.File:
    data = validate_arrays(**arrays)
    n = (data["probs"] if "probs" in data else data["logits"]).shape[0]
    writer = _MemoryWriter(n)
    try:
        for name, array in data.items():
            writer.write(name, array)
    except BaseException:
        writer.abort()
        raise
    return writer.commit()


class MemoryPool(Pool):
    """A read-only pool over in-memory arrays; use it wherever a :class:`Pool` is accepted.

    Parameters
    ----------
    arrays : mapping
        Dataset names to arrays, as the keyword arguments of :func:`alselect.pool.write_pool`
        (``probs`` or ``logits`` required; ``embeddings``, ``labels``, ``labeled``, ``scores``
        as a mapping of names to arrays, ...).
    """

    def __init__(self, arrays: Mapping[str, Any]):
        if not isinstance(arrays, Mapping):
            raise InvalidInputError(
                f"a memory pool is built from a mapping of dataset names to arrays, got {type(arrays).__name__}"
            )
        unknown = unknown_keywords(arrays, _KNOWN)
        if unknown:
            raise InvalidInputError(
                f"unknown pool dataset '{unknown[0]}'; the arrays may be: {', '.join(_KNOWN)} (docs/file-format.md)"
            )
        self.source = self.path = "<arrays>"
        self.file = _image({k: v for k, v in arrays.items() if v is not None})
        try:
            self._check_structure()
        except Exception:
            self.file.close()
            raise
        self._labeled_rows: np.ndarray | None = None
        self._ids: np.ndarray | None = None


def _keywords() -> tuple[str, ...]:
    import inspect

    return tuple(p for p in inspect.signature(validate_arrays).parameters)


_KNOWN = _keywords()
