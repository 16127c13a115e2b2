"""alselect: decide which samples to label next.

The public API is loaded lazily so that ``import alselect`` (and the CLI) stay fast:

- :func:`select` -- run a strategy on a pool, returns a :class:`~alselect.selection.Selection`.
- :func:`open_pool`, :func:`write_pool`, :class:`PoolWriter` -- the pool file.
"""

__version__ = "0.1.0"

_LAZY = {
    "select": ("alselect.selection", "select"),
    "Selection": ("alselect.selection", "Selection"),
    "open_pool": ("alselect.pool", "open_pool"),
    "MemoryPool": ("alselect.pool", "MemoryPool"),
    "write_pool": ("alselect.pool", "write_pool"),
    "PoolWriter": ("alselect.pool", "PoolWriter"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'alselect' has no attribute {name!r}")
