"""Recording the model's predictions on the pool after every training epoch (for ``dispersion``).

    recorder = EpochRecorder("pool.h5")
    for epoch in range(epochs):
        train_one_epoch(model)
        recorder.record(predict_probs(model, pool_loader))   # or (N,) labels, or (N, C) logits

Each call appends one row to ``epoch_preds`` (E, N) (created when the pool has none), and
with ``store_probs`` one (N, C) slice to ``epoch_probs`` (E, N, C).

Crash safety
------------
``mode="inplace"`` (default, O(N) per epoch): the file is opened only inside ``record``, so
a process killed while training (i.e. almost always) leaves it closed and intact. Inside
``record`` the new row is written and flushed first, and only then is the dataset attribute
``committed_epochs`` bumped; readers (``alselect.pool.Pool``) and the next ``record`` trust
only the committed rows, so a kill between the two leaves a file that reads as the previous
epochs (the next ``record`` overwrites the partial row). HDF5 has no journal: a kill in the
middle of HDF5's own metadata flush (a window of milliseconds per epoch) can still damage the
file. ``mode="copy"`` removes that window too: every epoch copies the pool to a temporary
file in the same directory, appends there, fsyncs and renames it over the pool, so the pool
is always either the old or the new complete file, at the cost of copying the whole pool
(embeddings included) once per epoch.

The append protocol itself is :mod:`alselect.pool.epochs`; :func:`predict_probs` and the
PyTorch Lightning callback :class:`EpochRecorderCallback` live in
:mod:`alselect.integrations.lightning` and are reachable from here on first access; importing
this module imports neither torch nor Lightning.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import InvalidInputError, PoolFormatError, PoolValueError
from . import validation as checks
from .validation import PROB_SUM_ATOL
from .pool.epochs import append_epoch, committed_epochs, open_file
from .pool.reader import softmax
from .pool.spec import ATTR_FORMAT, FORMAT_NAME

MODES = ("inplace", "copy")


def _as_numpy(predictions) -> np.ndarray:
    if hasattr(predictions, "detach"):  # a torch tensor, without importing torch
        predictions = predictions.detach().float().cpu().numpy() if predictions.is_floating_point() else \
            predictions.detach().cpu().numpy()
    return np.asarray(predictions)


def _looks_like_probs(block: np.ndarray) -> bool:
    atol = PROB_SUM_ATOL.get(block.dtype.name, 1e-4)
    return bool((block >= 0).all() and (np.abs(block.sum(axis=1, dtype=np.float64) - 1.0) <= atol).all())


class EpochRecorder:
    """Append per-epoch predictions of every pool row to a pool file, crash-safely.

    Parameters
    ----------
    pool_path : str or os.PathLike
        An existing pool file (its ``probs``/``logits`` fix N and C).
    store_probs : bool, optional
        Also append (N, C) probabilities to ``epoch_probs``. Default: whenever the pool already
        holds ``epoch_probs`` (they must stay aligned with ``epoch_preds``).
    mode : {"inplace", "copy"}
        Crash-safety mode, see the module docstring.
    """

    def __init__(self, pool_path, *, store_probs: bool | None = None, mode: str = "inplace"):
        self.path = os.fspath(pool_path)
        if mode not in MODES:
            raise InvalidInputError(f"EpochRecorder mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        if not os.path.isfile(self.path):
            raise PoolFormatError(f"'{self.path}' does not exist; create the pool first (`alselect infer` or `alselect pack`)")
        with open_file(self.path, "r") as f:
            fmt = f.attrs.get(ATTR_FORMAT)
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt != FORMAT_NAME:
                raise PoolFormatError(f"'{self.path}' is not an alselect pool (root attribute '{ATTR_FORMAT}' is {fmt!r})")
            base = "probs" if "probs" in f else "logits" if "logits" in f else None
            if base is None:
                raise PoolFormatError(f"'{self.path}' has neither 'probs' nor 'logits'; it is not a valid pool")
            self.n_rows, self.n_classes = (int(s) for s in f[base].shape)
            has_probs = "epoch_probs" in f
        self.store_probs = has_probs if store_probs is None else bool(store_probs)
        if has_probs and not self.store_probs:
            raise InvalidInputError(
                f"'{self.path}' holds epoch_probs; recording without store_probs would leave them out of step "
                "with epoch_preds (use store_probs=True)"
            )

    @property
    def epochs(self) -> int:
        """Number of committed epochs in the pool."""
        with open_file(self.path, "r") as f:
            return committed_epochs(f["epoch_preds"]) if "epoch_preds" in f else 0

    # -- validation -----------------------------------------------------------------------
    def _prepare(self, predictions) -> tuple[np.ndarray, np.ndarray | None]:
        arr = _as_numpy(predictions)
        n, c = self.n_rows, self.n_classes
        if arr.ndim == 1:
            if arr.shape != (n,):
                raise PoolValueError(f"record() got {arr.shape[0]} labels, but the pool has N={n} rows (one per row, in row order)")
            if not np.issubdtype(arr.dtype, np.integer):
                raise PoolValueError(
                    f"record() got (N,) predictions of dtype {arr.dtype}; give integer labels, or (N, C) "
                    "probabilities/logits"
                )
            if self.store_probs:
                raise PoolValueError("store_probs=True needs (N, C) probabilities or logits, not (N,) labels")
            checks.check_labels("predictions", arr, c, allow_unknown=False)
            return arr, None
        if arr.ndim != 2 or arr.shape != (n, c):
            raise PoolValueError(
                f"record() got predictions of shape {arr.shape}; expected (N={n},) labels or (N={n}, C={c}) "
                "probabilities/logits, one row per pool row in row order"
            )
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float32)
        checks.check_finite("predictions", arr)
        labels = np.argmax(arr, axis=1)  # first maximum on ties: lowest class wins
        probs = None
        if self.store_probs:
            probs = arr if _looks_like_probs(arr) else softmax(arr)
            probs = probs.astype(np.float32, copy=False)
        return labels, probs

    def _before_commit(self) -> None:
        """Test seam: runs after the row is written and before it is committed."""

    def record(self, predictions) -> int:
        """Append one epoch of predictions for every pool row, in row order.

        Parameters
        ----------
        predictions : array-like or torch.Tensor
            (N,) integer labels, or (N, C) probabilities or logits (labels = argmax, lowest
            class on ties). With ``store_probs``, (N, C) rows that are non-negative and sum to
            1 are stored as they are, anything else is taken as logits (softmax).

        Returns
        -------
        int
            The 0-based index of the recorded epoch.
        """
        labels, probs = self._prepare(predictions)
        return append_epoch(self.path, labels, probs, self.n_classes, copy=self.mode == "copy",
                            before_commit=self._before_commit)


def __getattr__(name):
    if name in ("EpochRecorderCallback", "predict_probs"):  # torch/Lightning helpers, imported on use
        from .integrations import lightning

        return getattr(lightning, name)
    raise AttributeError(f"module 'alselect.record' has no attribute {name!r}")
