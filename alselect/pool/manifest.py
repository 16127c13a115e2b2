"""The sharded-pool manifest: a small JSON file listing pool files (shards) in row order.

A sharded pool is the concatenation of its shards' rows; the manifest carries what is
pool-wide (format version, class names, an extra labeled set) and each shard's row count, so a
reader knows every global row number without opening the shards. docs/file-format.md
("Sharded pools") is the specification; this module reads, checks and writes it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from ..errors import PoolFormatError, PoolNotFoundError
from .spec import FORMAT_VERSION
from .zarr_store import is_url

#: Value of the manifest's ``format`` member.
MANIFEST_FORMAT = "alselect-sharded-pool"
#: Version of the manifest layout this release reads and writes.
MANIFEST_VERSION = 1


@dataclass
class ShardEntry:
    """One shard: its absolute path (None for an empty shard listed without a file) and rows."""

    path: str | None
    rows: int
    start: int  # global row number of its first row


@dataclass
class Manifest:
    path: str
    pool_version: int
    n_classes: int
    class_names: list[str] | None
    labeled: np.ndarray  # global rows, sorted, unique
    shards: list[ShardEntry]

    @property
    def n_rows(self) -> int:
        return sum(s.rows for s in self.shards)


def is_manifest(path) -> bool:
    """Whether ``path`` is a regular file whose first non-blank byte is ``{`` (JSON object)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as handle:
        head = handle.read(64).lstrip()
    return head.startswith(b"{")


def _fail(path: str, what: str) -> PoolFormatError:
    return PoolFormatError(f"manifest '{path}' {what}; rebuild it with `alselect manifest -o {os.path.basename(path)} SHARD.h5...`")


def read_manifest(path) -> Manifest:
    """Parse and check a manifest (not its shards; :class:`~alselect.pool.sharded.ShardedPool` opens those)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise PoolNotFoundError(f"manifest '{path}' not found; build one with `alselect manifest -o {path} SHARD.h5...`")
    try:
        with open(path, encoding="utf-8") as handle:
            doc = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise _fail(path, f"has format {got!r}, expected {MANIFEST_FORMAT!r}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(path, f"has invalid 'version' {version!r}")
    if version > MANIFEST_VERSION:
        raise PoolFormatError(f"manifest '{path}' has version {version}, newer than the newest this alselect reads "
                              f"({MANIFEST_VERSION}); upgrade alselect (`pip install -U alselect`)")
    pool_version = doc.get("pool_format_version")
    if not isinstance(pool_version, int) or isinstance(pool_version, bool) or not 1 <= pool_version:
        raise _fail(path, f"has invalid 'pool_format_version' {pool_version!r}")
    if pool_version > FORMAT_VERSION:
        raise PoolFormatError(f"manifest '{path}' describes pool format version {pool_version}, newer than the newest "
                              f"this alselect reads ({FORMAT_VERSION}); upgrade alselect (`pip install -U alselect`)")
    n_classes = doc.get("n_classes")
    if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 1:
        raise _fail(path, f"has invalid 'n_classes' {n_classes!r}")
    names = doc.get("class_names")
    if names is not None and (not isinstance(names, list) or len(names) != n_classes
                              or not all(isinstance(v, str) for v in names)):
        raise _fail(path, f"has 'class_names' that is not a list of {n_classes} strings")
    raw_shards = doc.get("shards")
    if not isinstance(raw_shards, list) or not raw_shards:
        raise _fail(path, "has no 'shards' list (at least one shard is required)")
    base = os.path.dirname(os.path.abspath(path))
    shards: list[ShardEntry] = []
    start = 0
    for i, entry in enumerate(raw_shards):
        if not isinstance(entry, dict):
            raise _fail(path, f"shard {i} is not an object")
        rows = entry.get("rows")
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
            raise _fail(path, f"shard {i} has invalid 'rows' {rows!r} (a non-negative integer)")
        rel = entry.get("path")
        if rel is None and rows != 0:
            raise _fail(path, f"shard {i} has {rows} rows but no 'path'")
        if rel is not None and (not isinstance(rel, str) or not rel or os.path.isabs(rel)):
            raise _fail(path, f"shard {i} has 'path' {rel!r}; it must be a non-empty path relative to the manifest "
                        "(or the URL of a Zarr store)")
        if rel is not None and not is_url(rel):
            rel = os.path.normpath(os.path.join(base, rel))
        shards.append(ShardEntry(rel, rows, start))
        start += rows
    if start == 0:
        raise _fail(path, "lists shards holding 0 rows in all; a pool needs at least one sample")
    labeled = doc.get("labeled", [])
    if not isinstance(labeled, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in labeled):
        raise _fail(path, "has a 'labeled' member that is not a list of row numbers")
    lab = np.asarray(labeled, dtype=np.int64)
    if lab.size and (lab.min() < 0 or lab.max() >= start):
        bad = int(lab.min() if lab.min() < 0 else lab.max())
        raise _fail(path, f"lists labeled row {bad}, outside the pool's {start} rows")
    return Manifest(path, pool_version, n_classes, names, np.unique(lab), shards)


def signature(pool) -> dict:
    """What shards of one pool must share: format version, classes and the datasets (per-row
    shape; the dtype for floats, the dtype kind otherwise). Floats must agree exactly: their
    validation tolerance and the fused kernels depend on the storage dtype."""
    sig = {}
    for name in pool.datasets():
        shape = pool.shape(name)
        dtype = pool.dtype(name)
        kind = "str" if dtype.kind in "OSU" else dtype.name if dtype.kind == "f" else dtype.kind
        axis = 1 if name.startswith("epoch_") else 0
        rest = tuple(shape[:axis]) + tuple(shape[axis + 1:])
        if name in ("regions/offsets", "truth_boxes/offsets", "class_names", "labeled"):
            rest = ()
        sig[name] = (kind, rest)
    return {"version": pool.version, "n_classes": pool.n_classes, "class_names": pool.class_names(),
            "datasets": sig}


def describe_mismatch(ref: dict, sig: dict, ref_path: str) -> str | None:
    """A sentence saying how ``sig`` differs from the first shard's ``ref``, or None."""
    if sig["version"] != ref["version"]:
        return f"has pool format version {sig['version']}, but '{ref_path}' has {ref['version']}"
    if sig["n_classes"] != ref["n_classes"]:
        return f"has {sig['n_classes']} classes, but '{ref_path}' has {ref['n_classes']}"
    if sig["class_names"] != ref["class_names"]:
        return f"has class names {sig['class_names']}, but '{ref_path}' has {ref['class_names']}"
    a, b = set(ref["datasets"]), set(sig["datasets"])
    if a != b:
        extra, missing = sorted(b - a), sorted(a - b)
        part = f"lacks {', '.join(missing)}" if missing else f"has {', '.join(extra)} in addition"
        return f"{part} compared with '{ref_path}'; every shard must hold the same datasets"
    for name in sorted(a):
        (k1, r1), (k0, r0) = sig["datasets"][name], ref["datasets"][name]
        if r1 != r0:
            return f"stores '{name}' with per-row shape {r1}, but '{ref_path}' with {r0}"
        if k1 != k0:
            what = "dtype" if k1.startswith("float") or k0.startswith("float") else "dtype kind"
            return (f"stores '{name}' as {k1}, but '{ref_path}' as {k0}; every shard must store it with the same "
                    f"{what} (validation tolerances and kernels depend on it): rewrite this shard's '{name}' as {k0}")
    return None


def build_manifest(output, shard_paths, *, labeled=None) -> Manifest:
    """Check that the shards agree and write the manifest ``output`` atomically.

    Shard paths are stored relative to the manifest's folder, so the set can be moved as a whole;
    URLs (Zarr stores in object storage) are stored as given. HDF5 files and Zarr stores may be
    mixed: each shard is read by its own backend.
    """
    from ..output import write_text
    from .reader import Pool
    from .zarr_store import is_zarr_path

    output = os.fspath(output)
    if not shard_paths:
        raise PoolFormatError("`alselect manifest` needs at least one shard file")
    base = os.path.dirname(os.path.abspath(output)) if output != "-" else os.getcwd()
    entries, ref, ref_path = [], None, None
    for shard in shard_paths:
        shard = os.fspath(shard)
        if not is_url(shard) and not (os.path.isfile(shard) or is_zarr_path(shard) and os.path.isdir(shard)):
            raise PoolNotFoundError(f"shard '{shard}' not found (or not a pool file or Zarr store); check the path")
        try:
            with Pool(shard) as pool:
                sig = signature(pool)
                rows = pool.n_rows
        except PoolFormatError as exc:
            raise PoolFormatError(f"shard '{shard}': {exc}") from None
        if ref is None:
            ref, ref_path = sig, shard
        else:
            why = describe_mismatch(ref, sig, ref_path)
            if why:
                raise PoolFormatError(f"shard '{shard}' {why}")
        entries.append({"path": shard if is_url(shard) else os.path.relpath(os.path.abspath(shard), base),
                        "rows": rows})
    doc = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "pool_format_version": ref["version"],
        "n_classes": ref["n_classes"],
        "class_names": ref["class_names"],
        "shards": entries,
        "labeled": [] if labeled is None else [int(v) for v in np.unique(np.asarray(labeled, dtype=np.int64))],
    }
    write_text(output, json.dumps(doc, indent=1) + "\n")
    return read_manifest(output) if output != "-" else None
