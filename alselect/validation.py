"""Value checks shared by the writer (``pack``), the reader and ``inspect``.

Each check takes one block of rows and raises :class:`PoolValueError` naming the dataset,
the first offending row, the rule and the fix. Blocks keep memory bounded on large pools.
"""

from __future__ import annotations

import numpy as np

from .errors import PoolValueError

FLOAT_DTYPES = ("float16", "float32", "float64")

#: Tolerance on |sum(p) - 1| per probability row, by storage dtype. float16 keeps 11
#: significant bits, so a correctly rounded softmax row can be off by ~C * 2**-12.
PROB_SUM_ATOL = {"float16": 1e-2, "float32": 1e-4, "float64": 1e-4}


def _first_bad_row(mask: np.ndarray) -> int:
    """Row index (axis 0) of the first True in ``mask`` (any trailing axes)."""
    flat = mask.reshape(mask.shape[0], -1).any(axis=1)
    return int(np.flatnonzero(flat)[0])


def check_float_dtype(name: str, dtype: np.dtype) -> None:
    if np.dtype(dtype).name not in FLOAT_DTYPES:
        raise PoolValueError(
            f"dataset '{name}' has dtype {np.dtype(dtype).name}; it must be float16, float32 or float64 "
            "(convert it with `arr.astype('float32')`)"
        )


def check_finite(name: str, block: np.ndarray, offset: int = 0) -> None:
    bad = ~np.isfinite(block)
    if bad.any():
        row = offset + _first_bad_row(bad)
        raise PoolValueError(
            f"dataset '{name}' has a NaN or infinite value in row {row}; "
            "every value must be finite (check the model's outputs for overflow or NaN inputs)"
        )


def check_probabilities(name: str, block: np.ndarray, offset: int = 0, stored: str | None = None) -> None:
    """Probability rows along the last axis: finite, >= 0, summing to 1 within PROB_SUM_ATOL.

    ``stored`` names the storage dtype when ``block`` was already converted (float16 data is
    checked after conversion to float32, which is much faster, with the float16 tolerance)."""
    check_finite(name, block, offset)
    neg = block < 0
    if neg.any():
        row = offset + _first_bad_row(neg)
        raise PoolValueError(
            f"dataset '{name}' has a negative probability in row {row}; probabilities must be >= 0 "
            "(pass raw model outputs as --logits so alselect applies the softmax)"
        )
    stored = stored or block.dtype.name
    atol = PROB_SUM_ATOL[stored]
    sums = block.sum(axis=-1, dtype=np.float64)
    off = np.abs(sums - 1.0) > atol
    if off.any():
        row = offset + _first_bad_row(off)
        where = np.unravel_index(int(np.flatnonzero(off.ravel())[0]), off.shape)
        raise PoolValueError(
            f"dataset '{name}' row {row} sums to {float(sums[where]):.6g}; probability rows must sum to 1 "
            f"within {atol:g} for {stored} (normalise them, or pass logits with --logits)"
        )


def check_labels(name: str, block: np.ndarray, n_classes: int | None, offset: int = 0,
                 allow_unknown: bool = True) -> None:
    """Integer class labels in [0, C), and -1 (unknown) where allowed."""
    if not np.issubdtype(block.dtype, np.integer):
        raise PoolValueError(
            f"dataset '{name}' has dtype {block.dtype.name}; labels must be integers "
            "(convert with `arr.astype('int64')`)"
        )
    low = -1 if allow_unknown else 0
    bad = block < low
    if n_classes is not None:
        bad |= block >= n_classes
    if bad.any():
        idx = np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), bad.shape)
        value = int(block[idx])
        rule = f"[{low}, {n_classes - 1}]" if n_classes is not None else f">= {low}"
        unknown = " (-1 = unknown)" if allow_unknown else ""
        raise PoolValueError(
            f"dataset '{name}' holds label {value} at position {tuple(int(i) for i in idx)}; "
            f"labels must lie in {rule}{unknown} for a pool of {n_classes} classes"
        )


def check_positive(name: str, block: np.ndarray, offset: int = 0) -> None:
    check_finite(name, block, offset)
    bad = block <= 0
    if bad.any():
        row = offset + _first_bad_row(bad)
        raise PoolValueError(
            f"dataset '{name}' has value {float(block[row - offset]):g} in row {row}; costs must be > 0"
        )


def check_row_indices(name: str, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Integer row numbers in [0, N), without duplicates. Returns them sorted as int64."""
    rows = np.asarray(rows)
    if rows.ndim != 1:
        raise PoolValueError(f"'{name}' must be a 1-D list of row numbers, got shape {rows.shape}")
    if rows.size and not np.issubdtype(rows.dtype, np.integer):
        raise PoolValueError(f"'{name}' must hold integer row numbers, got dtype {rows.dtype.name}")
    rows = rows.astype(np.int64, copy=False)
    bad = (rows < 0) | (rows >= n_rows)
    if bad.any():
        raise PoolValueError(
            f"'{name}' holds row {int(rows[bad][0])}, outside the pool's rows 0..{n_rows - 1}; "
            "row numbers are 0-based (pass ids with --ids if these are sample ids)"
        )
    ordered = np.sort(rows)
    dup = ordered[1:] == ordered[:-1]
    if dup.any():
        raise PoolValueError(
            f"'{name}' lists row {int(ordered[1:][dup][0])} more than once; each row may appear once"
        )
    return ordered


def check_unique_ids(ids: np.ndarray) -> None:
    values, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = values[counts > 1][0]
        dup = dup.decode() if isinstance(dup, bytes) else dup.item() if isinstance(dup, np.generic) else dup
        raise PoolValueError(
            f"dataset 'ids' holds id {dup!r} {int(counts[counts > 1][0])} times; ids must be unique"
        )


def check_offsets(name: str, offsets: np.ndarray, n_rows: int, n_regions: int | None) -> None:
    """CSR offsets: (N+1,) integers, starting at 0, non-decreasing, ending at R."""
    offsets = np.asarray(offsets)
    if offsets.ndim != 1 or offsets.shape[0] != n_rows + 1:
        raise PoolValueError(
            f"'{name}' has shape {offsets.shape}, expected (N+1,) = ({n_rows + 1},): one start per sample plus the end"
        )
    if not np.issubdtype(offsets.dtype, np.integer):
        raise PoolValueError(f"'{name}' must hold integers, got dtype {offsets.dtype.name}")
    if offsets[0] != 0:
        raise PoolValueError(f"'{name}' starts at {int(offsets[0])}; it must start at 0")
    step = np.diff(offsets)
    if (step < 0).any():
        i = int(np.flatnonzero(step < 0)[0])
        raise PoolValueError(
            f"'{name}' is not monotone: offsets[{i}] = {int(offsets[i])} > offsets[{i + 1}] = {int(offsets[i + 1])}; "
            "the regions of sample i are rows offsets[i]:offsets[i+1], so offsets must never decrease"
        )
    if n_regions is not None and offsets[-1] != n_regions:
        raise PoolValueError(
            f"'{name}' ends at {int(offsets[-1])} but there are {n_regions} regions; the last offset must equal "
            "the number of region rows"
        )


def check_nonnegative(name: str, block: np.ndarray, offset: int = 0) -> None:
    check_finite(name, block, offset)
    bad = block < 0
    if bad.any():
        raise PoolValueError(f"dataset '{name}' has a negative value in row {offset + _first_bad_row(bad)}; it must be >= 0")


def check_counts(name: str, block: np.ndarray, offset: int = 0) -> None:
    if not np.issubdtype(block.dtype, np.integer):
        raise PoolValueError(f"dataset '{name}' has dtype {block.dtype.name}; counts must be integers")
    bad = block < 0
    if bad.any():
        raise PoolValueError(f"dataset '{name}' has a negative count in row {offset + _first_bad_row(bad)}")


def check_mixtures(name: str, mixtures: np.ndarray, present: np.ndarray, offset: int = 0) -> None:
    """Mixtures (n, C, C): finite, >= 0, and each present class's row a probability vector."""
    check_finite(name, mixtures, offset)
    neg = mixtures < 0
    if neg.any():
        raise PoolValueError(f"dataset '{name}' has a negative value in sample {offset + _first_bad_row(neg)}")
    atol = PROB_SUM_ATOL[mixtures.dtype.name]
    sums = mixtures.sum(axis=-1, dtype=np.float64)
    off = (np.abs(sums - 1.0) > atol) & present.astype(bool)
    if off.any():
        i, c = (int(v) for v in np.argwhere(off)[0])
        raise PoolValueError(
            f"dataset '{name}' sample {offset + i}, class {c} is marked present but its mixture sums to "
            f"{float(sums[i, c]):.6g}; a present class's mixture must sum to 1 within {atol:g}"
        )


def check_flags(name: str, block: np.ndarray, offset: int = 0) -> None:
    """Booleans, or integers holding only 0 and 1."""
    if block.dtype == bool:
        return
    if not np.issubdtype(block.dtype, np.integer):
        raise PoolValueError(f"dataset '{name}' has dtype {block.dtype.name}; it must be boolean (or 0/1 integers)")
    bad = (block != 0) & (block != 1)
    if bad.any():
        raise PoolValueError(
            f"dataset '{name}' holds a value other than 0/1 in row {offset + _first_bad_row(bad)}; it must be "
            "boolean (or 0/1 integers)"
        )


def _bad_text(value: str) -> str | None:
    """Why ``value`` cannot be written as one line of a pick list and read back, or None."""
    if value == "":
        return "is empty"
    if value != value.strip():
        return "has leading or trailing whitespace"
    if "#" in value:
        return "contains '#' (starts a comment in id lists)"
    if len(value.splitlines()) != 1 or any(ch < " " or ch == "\x7f" for ch in value):
        return "contains a line break, tab or other control character"
    return None


def check_ids(name: str, ids: np.ndarray) -> None:
    """Sample ids: integers, or strings that survive a round trip through a one-id-per-line list
    (non-empty, no '#', no control characters or line breaks, no surrounding whitespace); unique."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iuUSO":
        raise PoolValueError(f"'{name}' must hold integers or strings, got dtype {ids.dtype.name}")
    if ids.dtype.kind not in "iu":
        values = []
        for i, value in enumerate(ids.tolist()):
            if isinstance(value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    raise PoolValueError(f"'{name}' entry {i} is not valid UTF-8; ids must be UTF-8 text") from None
            if not isinstance(value, str):
                raise PoolValueError(f"'{name}' entry {i} is a {type(value).__name__}; ids must be integers or strings")
            why = _bad_text(value)
            if why:
                raise PoolValueError(
                    f"'{name}' entry {i} ({value!r}) {why}; picks are written one id per line and read back with "
                    "--ids, so ids must be non-empty single-line text without '#' (rename the sample)"
                )
            values.append(value)
        ids = np.array(values, dtype=str)
    check_unique_ids(ids)


def check_class_names(name: str, names: np.ndarray) -> None:
    """Class names: non-empty single-line UTF-8 strings."""
    for i, value in enumerate(np.asarray(names).tolist()):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise PoolValueError(f"'{name}' entry {i} is not valid UTF-8") from None
        if not isinstance(value, str) or value.strip() == "" or len(value.splitlines()) != 1:
            raise PoolValueError(f"'{name}' entry {i} ({value!r}) must be a non-empty single-line string")


def check_unit_interval(name: str, block: np.ndarray, offset: int = 0) -> None:
    """Finite values in [0, 1] (detection scores)."""
    check_finite(name, block, offset)
    bad = (block < 0) | (block > 1)
    if bad.any():
        row = offset + _first_bad_row(bad)
        raise PoolValueError(
            f"dataset '{name}' has value {float(block.reshape(block.shape[0], -1)[row - offset].max()):g} in row {row}; "
            "detection scores must lie in [0, 1]"
        )


def check_tracks(name: str, block: np.ndarray, offset: int = 0) -> None:
    """Tracked boxes (r, 2k, 4): each box finite, or all four coordinates NaN (lost)."""
    nan = np.isnan(block)
    partial = nan.any(axis=-1) != nan.all(axis=-1)
    if partial.any() or np.isinf(block).any():
        row = offset + _first_bad_row(partial | np.isinf(block).any(axis=-1))
        raise PoolValueError(
            f"dataset '{name}' row {row} holds a box with some but not all coordinates NaN, or an infinite value; "
            "a tracked box is four finite numbers, or four NaN when the tracker lost the object"
        )


def check_frame_numbers(name: str, block: np.ndarray, offset: int = 0) -> None:
    """Frame numbers: integers >= 0."""
    if not np.issubdtype(block.dtype, np.integer):
        raise PoolValueError(f"dataset '{name}' has dtype {block.dtype.name}; frame numbers must be integers")
    bad = block < 0
    if bad.any():
        row = offset + _first_bad_row(bad)
        raise PoolValueError(f"dataset '{name}' has frame {int(block[row - offset])} in row {row}; frames must be >= 0")


def check_video_frames(videos: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Each (video, frame) pair occurs once. Returns the rows sorted by (video, frame)."""
    order = np.lexsort((frames, videos))
    v, f = videos[order], frames[order]
    dup = (v[1:] == v[:-1]) & (f[1:] == f[:-1])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise PoolValueError(
            f"rows {int(order[i])} and {int(order[i + 1])} are both frame {int(f[i])} of video {int(v[i])}; "
            "each frame of a video must appear once (check 'video/id' and 'video/frame')"
        )
    return order.astype(np.int64)
