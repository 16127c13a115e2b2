"""The pool file: one HDF5 file of model outputs over an unlabeled pool (docs/file-format.md)."""

from .memory import MemoryPool
from .reader import Pool, open_pool, softmax
from .spec import FORMAT_NAME, FORMAT_VERSION
from .writer import PoolWriter, validate_arrays, write_pool

__all__ = ["Pool", "MemoryPool", "open_pool", "softmax", "PoolWriter", "write_pool", "validate_arrays",
           "FORMAT_NAME", "FORMAT_VERSION"]
