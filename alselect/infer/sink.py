"""Host side of `alselect infer`: a writer thread that streams row blocks into the pool.

The main thread runs the model and enqueues each batch's (small) results; the writer
thread waits for the batch's device-to-host copy, validates the values and appends them
to the datasets through per-dataset buffers of whole HDF5 chunks, so the device never waits
on the disk and each chunk is written once. A bounded queue keeps host memory bounded.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

import h5py
import numpy as np

from ..errors import PoolValueError
from .. import validation as checks
from ..pool.spec import dataset_spec, stamp, value_check
from ..pool.writer import CHUNK_BYTES, PoolWriter
from .errors import InferError

#: Host buffer per dataset before it is written (a whole number of chunks).
BUFFER_BYTES = 8 << 20
STR_DTYPE = h5py.string_dtype("utf-8")
#: Seconds between liveness checks while the queue is full.
POLL_S = 0.5


class _Column:
    """One dataset, filled front to back through a buffer of whole chunks."""

    def __init__(self, file: h5py.File, name: str, dtype, row_shape: tuple, n_rows: int | None, head=None):
        self.name = name
        self.growable = n_rows is None
        is_str = dtype is STR_DTYPE
        itemsize = 16 if is_str else np.dtype(dtype).itemsize
        row_bytes = max(1, itemsize * int(np.prod(row_shape, dtype=np.int64)))
        chunk_rows = max(1, CHUNK_BYTES // row_bytes)
        self.offset = 0 if head is None else 1
        total = None if self.growable else n_rows + self.offset
        chunk_rows = chunk_rows if total is None else min(chunk_rows, total)
        shape = ((self.offset if self.growable else total),) + row_shape
        self.ds = file.create_dataset(name, shape=shape, dtype=dtype, chunks=(chunk_rows,) + row_shape,
                                      maxshape=(None,) + row_shape if self.growable else None)
        stamp(self.ds, name)
        if head is not None:
            self.ds[0] = head
        cap = chunk_rows * max(1, BUFFER_BYTES // (chunk_rows * row_bytes))
        self.buf = np.empty((cap,) + row_shape, dtype=object if is_str else dtype)
        self.fill = 0
        self.start = self.offset

    def append(self, block: np.ndarray) -> None:
        done = 0
        while done < len(block):
            take = min(len(self.buf) - self.fill, len(block) - done)
            self.buf[self.fill:self.fill + take] = block[done:done + take]
            self.fill += take
            done += take
            if self.fill == len(self.buf):
                self.flush()

    def flush(self) -> None:
        if not self.fill:
            return
        end = self.start + self.fill
        if self.growable and self.ds.shape[0] < end:
            self.ds.resize(end, axis=0)
        self.ds[self.start:end] = self.buf[:self.fill]
        self.start, self.fill = end, 0

    @property
    def rows(self) -> int:
        return self.start + self.fill - self.offset


class PoolSink:
    """Creates datasets on first sight (shapes are known only after the first batch) and appends.

    ``row`` datasets have one row per pool sample (N rows, or growable when N is unknown);
    ``ragged`` datasets (regions) always grow. ``dtypes`` overrides the storage dtype by name.
    """

    def __init__(self, writer: PoolWriter, n_rows: int | None, dtypes: dict | None = None):
        self.writer = writer
        self.n_rows = n_rows
        self.dtypes = dict(dtypes or {})
        self.columns: dict[str, _Column] = {}

    def _column(self, name: str, block: np.ndarray, ragged: bool) -> _Column:
        col = self.columns.get(name)
        if col is None:
            dtype = STR_DTYPE if block.dtype.kind in "OUS" else self.dtypes.get(name, block.dtype)
            head = np.int64(0) if name == "regions/offsets" else None
            col = _Column(self.writer.file, name, dtype, block.shape[1:], None if ragged else self.n_rows, head)
            self.columns[name] = col
        elif block.shape[1:] != col.ds.shape[1:]:
            raise InferError(
                f"'{name}' changed shape between batches: {tuple(col.ds.shape[1:])} then {tuple(block.shape[1:])} "
                "per row; the model must return the same number of classes/features for every sample"
            )
        return col

    def _check(self, name: str, block: np.ndarray, offset: int, batch: dict) -> None:
        """The format table's value check of ``name`` on float blocks (the others are checked
        whole when the run ends: offsets, ids)."""
        spec = dataset_spec(name)
        if block.dtype.kind != "f" or spec.whole:
            return
        if spec.check == "check_mixtures" and "cd/present" not in batch:
            check = checks.check_finite
        else:
            present = batch.get("cd/present")
            check = value_check(spec, present=None if present is None else np.asarray(present).astype(bool))
        try:
            if check is not None:
                check(name, block, offset)
        except PoolValueError as exc:
            raise InferError(
                f"the model's outputs are invalid: {exc} (non-finite logits? try --precision fp32 or bf16)"
            ) from None

    def add(self, arrays: dict[str, np.ndarray], ragged: bool = False) -> None:
        for name, block in arrays.items():
            col = self._column(name, block, ragged)
            if not ragged and self.n_rows is not None and col.rows + len(block) > self.n_rows:
                raise InferError(
                    f"the data yielded more than the {self.n_rows} samples its len() announced; fix __len__ "
                    "of the dataset (or make it an IterableDataset without __len__)"
                )
            self._check(name, block, col.rows, arrays)
            col.append(block)

    def finish(self) -> None:
        for col in self.columns.values():
            col.flush()


@dataclass
class Packet:
    """One batch of results on its way to the disk; ``event`` marks its device-to-host copy."""

    rows: dict
    ragged: dict = field(default_factory=dict)
    event: object = None


def _numpy(value) -> np.ndarray:
    return value if isinstance(value, np.ndarray) else value.numpy()


class AsyncSink:
    """Runs a :class:`PoolSink` in a background thread fed by a bounded queue."""

    _STOP = object()

    def __init__(self, sink: PoolSink, depth: int = 4):
        self.sink = sink
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.error: BaseException | None = None
        self._abort = False
        self.thread = threading.Thread(target=self._run, name="alselect-infer-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is self._STOP:
                return
            if self.error is not None or self._abort:
                continue  # drain: the main thread is shutting down
            try:
                if item.event is not None:
                    item.event.synchronize()
                self.sink.add({k: _numpy(v) for k, v in item.rows.items()})
                if item.ragged:
                    self.sink.add({k: _numpy(v) for k, v in item.ragged.items()}, ragged=True)
            except BaseException as exc:  # re-raised in the main thread
                self.error = exc

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, packet: Packet) -> None:
        while True:
            self._raise()
            try:
                self.queue.put(packet, timeout=POLL_S)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait for every queued batch to be written, then flush the buffers."""
        self.put(self._STOP)  # type: ignore[arg-type]
        self.thread.join()
        self._raise()
        self.sink.finish()

    def abort(self) -> None:
        self._abort = True
        while True:
            try:
                self.queue.put(self._STOP, timeout=POLL_S)
                break
            except queue.Full:
                continue
        self.thread.join()
