"""The built-in ``--data DIR`` dataset: a folder of ``.npy`` arrays (layout in docs/infer.md).

Two layouts:

* stacked: ``DIR/inputs.npy`` holds all samples, shape (N, ...); ids come from
  ``DIR/ids.npy`` (N,) integers or strings, or ``DIR/ids.txt`` (one per line), else row numbers;
* one file per sample: every ``DIR/*.npy`` (sorted by name) is one sample, all of the same
  shape; the id of a sample is its file name without ``.npy``.

Arrays are memory-mapped, so the folder may be larger than host memory. Every item is
returned as float32 (no scaling: store inputs already normalised).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from .errors import InferError

STACKED_NAME = "inputs.npy"


def _load(path: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise InferError(f"--data: cannot read '{path}' as a .npy array ({type(exc).__name__}: {exc})") from None


class NpyFolderDataset(Dataset):
    """Items are ``(inputs, id)``: a float32 tensor and an int or str id."""

    def __init__(self, folder: str):
        self.folder = folder
        stacked = os.path.join(folder, STACKED_NAME)
        if os.path.isfile(stacked):
            self.inputs = _load(stacked)
            if self.inputs.ndim < 1 or self.inputs.shape[0] == 0:
                raise InferError(f"--data: '{stacked}' has shape {self.inputs.shape}; it must be (N, ...) with N >= 1")
            self.files = None
            self.ids = self._stacked_ids(len(self.inputs))
        else:
            self.files = sorted(f for f in os.listdir(folder) if f.endswith(".npy"))
            if not self.files:
                raise InferError(
                    f"--data: folder '{folder}' holds no .npy arrays; put all samples in '{STACKED_NAME}' (N, ...) "
                    "or one SAMPLE_ID.npy per sample"
                )
            shape = _load(os.path.join(folder, self.files[0])).shape
            self.inputs = None
            self.ids = [f[: -len(".npy")] for f in self.files]
            self._shape = shape

    def _stacked_ids(self, n: int):
        npy, txt = os.path.join(self.folder, "ids.npy"), os.path.join(self.folder, "ids.txt")
        if os.path.isfile(npy):
            ids = np.asarray(_load(npy))
        elif os.path.isfile(txt):
            with open(txt, encoding="utf-8") as handle:
                ids = np.array([line.strip() for line in handle if line.strip()], dtype=str)
        else:
            return np.arange(n, dtype=np.int64)
        if ids.shape != (n,):
            raise InferError(f"--data: the ids in '{self.folder}' have shape {ids.shape}, expected ({n},), one per input")
        if ids.dtype.kind in "iu":
            return ids.astype(np.int64)
        if ids.dtype.kind in "US":
            return ids.astype(str)
        raise InferError(f"--data: ids in '{self.folder}' have dtype {ids.dtype}; use integers or strings")

    def __len__(self) -> int:
        return len(self.inputs) if self.inputs is not None else len(self.files)

    def __getitem__(self, index: int):
        if self.inputs is not None:
            array = np.array(self.inputs[index], dtype=np.float32)
            key = self.ids[index]
            return torch.from_numpy(array), (int(key) if isinstance(key, np.integer) else str(key))
        path = os.path.join(self.folder, self.files[index])
        array = np.array(_load(path), dtype=np.float32)
        if array.shape != self._shape:
            raise InferError(
                f"--data: '{path}' has shape {array.shape}, but '{self.files[0]}' has {self._shape}; "
                "all samples of a folder must have the same shape"
            )
        return torch.from_numpy(array), self.ids[index]
