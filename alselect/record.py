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

The PyTorch Lightning callback :class:`EpochRecorderCallback` is built on first access when
``lightning`` or ``pytorch_lightning`` is importable; importing this module imports neither
torch nor Lightning.
"""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np

from . import tempfiles
from .errors import InvalidInputError, MissingExtraError, PoolFormatError, PoolValueError
from . import validation as checks
from .validation import PROB_SUM_ATOL
from .pool.reader import softmax
from .pool.spec import ATTR_COMMITTED_EPOCHS
from .pool.spec import ATTR_ELEMENT_VERSION, ATTR_FORMAT, ELEMENT_VERSION, FORMAT_NAME
from .pool.writer import CHUNK_BYTES

MODES = ("inplace", "copy")


def _label_dtype(n_classes: int) -> np.dtype:
    """Smallest signed integer type holding labels 0..C-1 (E x N labels add up)."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_classes - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def _committed(ds: h5py.Dataset) -> int:
    value = ds.attrs.get(ATTR_COMMITTED_EPOCHS)
    return int(ds.shape[0]) if value is None else min(int(value), int(ds.shape[0]))


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
        with self._open("r") as f:
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

    def _open(self, mode: str, path: str | None = None) -> h5py.File:
        path = path or self.path
        try:
            return h5py.File(path, mode)
        except OSError as exc:
            what = "for writing" if mode != "r" else ""
            raise PoolFormatError(
                f"cannot open '{path}' {what} ({str(exc).splitlines()[0]}); is another process using it?"
            ) from None

    @property
    def epochs(self) -> int:
        """Number of committed epochs in the pool."""
        with self._open("r") as f:
            return _committed(f["epoch_preds"]) if "epoch_preds" in f else 0

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

    # -- appending ------------------------------------------------------------------------
    def _dataset(self, f: h5py.File, name: str, row_shape: tuple, dtype) -> h5py.Dataset:
        if name in f:
            ds = f[name]
            if ds.maxshape[0] is not None:
                raise PoolFormatError(
                    f"'{name}' in '{self.path}' cannot grow (it was created without maxshape=(None, ...)); "
                    "rebuild the pool with `alselect pack` or a current alselect"
                )
            return ds
        itemsize = np.dtype(dtype).itemsize * int(np.prod(row_shape[1:], dtype=np.int64))
        chunk = (1, max(1, min(row_shape[0], CHUNK_BYTES // max(1, itemsize)))) + tuple(row_shape[1:])
        ds = f.create_dataset(name, shape=(0,) + row_shape, maxshape=(None,) + row_shape, dtype=dtype, chunks=chunk)
        ds.attrs[ATTR_ELEMENT_VERSION] = ELEMENT_VERSION
        ds.attrs[ATTR_COMMITTED_EPOCHS] = 0
        return ds

    def _append(self, path: str, labels: np.ndarray, probs: np.ndarray | None) -> int:
        with self._open("r+", path) as f:
            preds = self._dataset(f, "epoch_preds", (self.n_rows,), _label_dtype(self.n_classes))
            epoch = _committed(preds)
            if np.issubdtype(preds.dtype, np.integer) and self.n_classes - 1 > np.iinfo(preds.dtype).max:
                raise PoolFormatError(f"'epoch_preds' in '{path}' has dtype {preds.dtype}, too small for {self.n_classes} classes")
            targets = [(preds, labels)]
            if probs is not None:
                prob_ds = self._dataset(f, "epoch_probs", (self.n_rows, self.n_classes), np.float32)
                if _committed(prob_ds) != epoch:
                    raise PoolFormatError(
                        f"'{path}' holds {epoch} epochs of epoch_preds but {_committed(prob_ds)} of epoch_probs; "
                        "they must stay aligned (record probabilities from the first epoch on, or drop epoch_probs)"
                    )
                targets.append((prob_ds, probs))
            for ds, row in targets:  # 1) write the new row completely ...
                ds.resize(epoch + 1, axis=0)
                ds[epoch] = row
            f.flush()
            self._before_commit()
            for ds, _ in targets:  # 2) ... then declare it committed
                ds.attrs[ATTR_COMMITTED_EPOCHS] = epoch + 1
            f.flush()
        return epoch

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
        if self.mode == "inplace":
            return self._append(self.path, labels, probs)
        directory = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfiles.create(directory, os.path.basename(self.path))
        os.close(fd)
        try:
            shutil.copy2(self.path, tmp)
            epoch = self._append(tmp, labels, probs)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tempfiles.discard(tmp)
            raise
        tempfiles.release(tmp)
        return epoch


def predict_probs(model, data, *, device=None, batch_size: int = 256):
    """Class probabilities (N, C) float32 of ``model`` over ``data`` (Dataset or DataLoader, in
    pool row order, items inputs or (inputs, ids)), computed in eval mode without gradients;
    the model's train/eval state is restored afterwards."""
    import torch
    from torch.utils.data import DataLoader

    from .infer import summaries
    from .infer.run import split_batch

    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size, shuffle=False)
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    parts = []
    try:
        with torch.no_grad():
            for batch in loader:
                inputs, _ = split_batch(batch)
                out = model(inputs.to(device, non_blocking=True))
                parts.append(summaries.softmax32(summaries.logits_of(out, "classification", inputs.shape[0])).cpu())
    finally:
        model.train(was_training)
    return torch.cat(parts).numpy()


_CALLBACK = None


def _callback_class():
    global _CALLBACK
    if _CALLBACK is not None:
        return _CALLBACK
    try:
        from lightning.pytorch.callbacks import Callback
    except ImportError:
        try:
            from pytorch_lightning.callbacks import Callback
        except ImportError:
            raise MissingExtraError("lightning", "EpochRecorderCallback (without it, call EpochRecorder.record() "
                                                 "from your training loop)") from None

    class EpochRecorderCallback(Callback):
        """Records the pool predictions at the end of every training epoch (rank 0 only).

        Give either ``dataloader`` (the pool in row order; probabilities from
        :func:`predict_probs`) or ``predict(trainer, pl_module) -> (N,) or (N, C)``.
        """

        def __init__(self, pool_path, dataloader=None, predict=None, *, store_probs=None, mode="inplace"):
            super().__init__()
            if (dataloader is None) == (predict is None):
                raise InvalidInputError("EpochRecorderCallback needs exactly one of dataloader=... or predict=...")
            self.recorder = EpochRecorder(pool_path, store_probs=store_probs, mode=mode)
            self.dataloader = dataloader
            self.predict = predict

        def on_train_epoch_end(self, trainer, pl_module):
            if getattr(trainer, "sanity_checking", False) or not getattr(trainer, "is_global_zero", True):
                return
            if self.predict is not None:
                predictions = self.predict(trainer, pl_module)
            else:
                predictions = predict_probs(pl_module, self.dataloader, device=pl_module.device)
            self.recorder.record(predictions)

    _CALLBACK = EpochRecorderCallback
    return _CALLBACK


def __getattr__(name):
    if name == "EpochRecorderCallback":
        return _callback_class()
    raise AttributeError(f"module 'alselect.record' has no attribute {name!r}")
