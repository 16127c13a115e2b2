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

from . import __version__
from .errors import InvalidInputError, PoolFormatError, PoolValueError
from . import validation as checks
from .validation import PROB_SUM_ATOL
from .pool.epochs import append_epoch, committed_epochs, open_file
from .pool.reader import softmax
from .pool.spec import ATTR_FORMAT, FORMAT_NAME

MODES = ("inplace", "copy")
#: On ``epoch_preds`` of a file that holds only recorded epochs: the number of classes C.
ATTR_RECORDED_CLASSES = "n_classes"


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
        The pool file (its ``probs``/``logits`` fix N and C). It need not exist yet: then the
        first :meth:`record` creates a file holding only the recorded epochs (N from that call),
        and a later ``alselect infer -o pool_path`` adds the model outputs and keeps them.
    store_probs : bool, optional
        Also append (N, C) probabilities to ``epoch_probs``. Default: whenever the pool already
        holds ``epoch_probs`` (they must stay aligned with ``epoch_preds``).
    mode : {"inplace", "copy"}
        Crash-safety mode, see the module docstring.
    n_classes : int, optional
        C, needed only when recording (N,) labels into a pool that does not exist yet.
    """

    def __init__(self, pool_path, *, store_probs: bool | None = None, mode: str = "inplace",
                 n_classes: int | None = None):
        self.path = os.fspath(pool_path)
        if mode not in MODES:
            raise InvalidInputError(f"EpochRecorder mode must be one of {', '.join(MODES)}, got {mode!r}")
        if n_classes is not None and (isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer))
                                      or n_classes < 1):
            raise InvalidInputError(f"n_classes must be an integer >= 1, got {n_classes!r}")
        self.mode = mode
        self.n_rows: int | None = None
        self.n_classes: int | None = None if n_classes is None else int(n_classes)
        has_probs = False
        if os.path.exists(self.path):
            self._read_shape(n_classes)
            with open_file(self.path, "r") as f:
                has_probs = "epoch_probs" in f
        # else: the pool does not exist yet; the first record() creates a file holding only the
        # recorded epochs, which `alselect infer -o PATH` later completes (keeping them)
        self.store_probs = has_probs if store_probs is None else bool(store_probs)
        if has_probs and not self.store_probs:
            raise InvalidInputError(
                f"'{self.path}' holds epoch_probs; recording without store_probs would leave them out of step "
                "with epoch_preds (use store_probs=True)"
            )

    def _read_shape(self, n_classes: int | None) -> None:
        """N and C from the pool's probs/logits, or from the epochs of a file holding only those."""
        with open_file(self.path, "r") as f:
            fmt = f.attrs.get(ATTR_FORMAT)
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt != FORMAT_NAME:
                raise PoolFormatError(f"'{self.path}' is not an alselect pool (root attribute '{ATTR_FORMAT}' is {fmt!r})")
            base = "probs" if "probs" in f else "logits" if "logits" in f else None
            if base is not None:
                self.n_rows, self.n_classes = (int(s) for s in f[base].shape)
            elif "epoch_preds" in f and f["epoch_preds"].ndim == 2:
                self.n_rows = int(f["epoch_preds"].shape[1])
                stored = f["epoch_preds"].attrs.get(ATTR_RECORDED_CLASSES)
                self.n_classes = int(stored) if stored is not None else n_classes
                if "epoch_probs" in f and f["epoch_probs"].ndim == 3:
                    self.n_classes = int(f["epoch_probs"].shape[2])
            else:
                raise PoolFormatError(f"'{self.path}' has neither 'probs' nor 'logits' nor recorded epochs; it is "
                                      "not a pool the recorder can append to")
        if n_classes is not None and self.n_classes is not None and n_classes != self.n_classes:
            raise InvalidInputError(f"n_classes={n_classes}, but '{self.path}' has C={self.n_classes} classes")

    def _create(self, n_rows: int, n_classes: int) -> None:
        """A new file holding only the format stamp; the append adds the epoch datasets. Never
        replaces a file that appeared meanwhile (e.g. a concurrent `alselect infer`)."""
        import h5py

        from . import tempfiles
        from .pool.spec import ATTR_CREATED_BY, ATTR_VERSION

        directory = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfiles.create(directory, os.path.basename(self.path))
        os.close(fd)
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs[ATTR_FORMAT] = FORMAT_NAME
                f.attrs[ATTR_VERSION] = 1
                f.attrs[ATTR_CREATED_BY] = f"alselect {__version__} (epoch recorder)"
            try:
                os.link(tmp, self.path)
                ours = True
            except FileExistsError:
                ours = False  # someone else created it meanwhile: append there, if it fits
        finally:
            tempfiles.discard(tmp)
        if ours:
            self.n_rows, self.n_classes = n_rows, n_classes
        else:
            self._read_shape(n_classes)

    @property
    def epochs(self) -> int:
        """Number of committed epochs in the pool."""
        if not os.path.exists(self.path):
            return 0
        with open_file(self.path, "r") as f:
            return committed_epochs(f["epoch_preds"]) if "epoch_preds" in f else 0

    # -- validation -----------------------------------------------------------------------
    def _prepare(self, predictions) -> tuple[np.ndarray, np.ndarray | None]:
        arr = _as_numpy(predictions)
        if self.n_rows is None:  # the first epoch of a pool that does not exist yet
            if arr.ndim not in (1, 2) or arr.shape[0] < 1:
                raise PoolValueError(f"record() got predictions of shape {arr.shape}; expected (N,) labels or (N, C) "
                                     "probabilities/logits, one row per pool row in row order")
            c = arr.shape[1] if arr.ndim == 2 else self.n_classes
            if c is None:
                raise InvalidInputError(
                    f"'{self.path}' does not exist yet, so the number of classes is unknown; record (N, C) "
                    "probabilities/logits, or pass EpochRecorder(..., n_classes=C)")
            self._create(int(arr.shape[0]), int(c))
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
        epoch = append_epoch(self.path, labels, probs, self.n_classes, copy=self.mode == "copy",
                             before_commit=self._before_commit)
        if epoch == 0:
            self._remember_classes()
        return epoch

    def _remember_classes(self) -> None:
        """A file of recorded epochs alone keeps C beside them (no probs/logits tell it yet)."""
        with open_file(self.path, "r+") as f:
            if "probs" not in f and "logits" not in f and ATTR_RECORDED_CLASSES not in f["epoch_preds"].attrs:
                f["epoch_preds"].attrs[ATTR_RECORDED_CLASSES] = self.n_classes


def __getattr__(name):
    if name in ("EpochRecorderCallback", "predict_probs"):  # torch/Lightning helpers, imported on use
        from .integrations import lightning

        return getattr(lightning, name)
    raise AttributeError(f"module 'alselect.record' has no attribute {name!r}")
