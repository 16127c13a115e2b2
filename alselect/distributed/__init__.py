"""Selection on a Dask cluster (``pick --dask``, ``select(..., client=...)``).

Every shard of a sharded pool is read on a worker; the client receives only per-shard
candidates and sends back only picked rows, so it holds O(budget + shards) state. The
engines give the single-machine picks exactly (docs/scaling.md). ``dask.distributed`` is an
optional extra, imported only here.
"""

from __future__ import annotations

import contextlib
import logging

from ..errors import InvalidInputError, require_extra


def _distributed():
    return require_extra("distributed", "dask", "--dask")


@contextlib.contextmanager
def connect(address: str):
    """A ``dask.distributed.Client`` for ``tcp://HOST:PORT`` (an existing scheduler) or
    ``local:W`` (a local cluster of W single-threaded worker processes, closed on exit)."""
    distributed = _distributed()
    address = str(address).strip()
    if address.startswith("local:"):
        text = address[len("local:"):]
        if not text.isdigit() or int(text) < 1:
            raise InvalidInputError(f"--dask {address!r}: local:W needs a worker count W >= 1, e.g. local:2")
        with distributed.LocalCluster(n_workers=int(text), threads_per_worker=1, processes=True,
                                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
            yield client
        return
    if "://" not in address:
        raise InvalidInputError(f"--dask {address!r} is neither a scheduler address (tcp://HOST:8786) nor local:W")
    try:
        client = distributed.Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise InvalidInputError(f"--dask {address}: cannot reach the scheduler ({exc}); start one with "
                                "`dask scheduler` or use --dask local:W") from None
    with client:
        yield client
