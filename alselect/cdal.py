r"""Contextual diversity (CDAL, Agarwal et al., ECCV 2020): array-level API.

Public functions validate their inputs once and call the numba kernels of
:mod:`alselect.kernels.cdal` (see that module for the equations).

Layouts
-------
* Segmentation / detection: ragged regions (pixels, superpixels, boxes) with
  softmax vectors ``region_probs (R, C)`` and per-image ``offsets (N+1,)``;
  :func:`mixtures_from_regions` turns them into per-pseudo-label mixtures
  ``(N, C, C)`` (row ``c`` = ``P_I^c``; the paper's matrix has them as
  columns) with a ``present (N, C)`` mask and ``counts (N, C)``.
* Classification: :func:`classification_features` gives one ungated group per
  image, ``(N, 1, C)`` with ``present`` all True, so CD compares the full
  softmax vectors (no pseudo-label gating, see ``docs/contextual-diversity.md``).

All CD functions accept any ``(N, K, C)`` mixtures with a ``(N, K)`` mask:
group ``k`` counts for two images only when present in both.

Tie-breaking is lowest row number everywhere. Full documentation:
``docs/contextual-diversity.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from alselect.errors import InvalidInputError
from alselect.renamed import COUNTS, SR_LAM, renamed_keywords

EPS = 1e-6
"""Default epsilon added to the region entropy (bits) in the mixing weights."""

PROB_FLOOR = 1e-10
"""``log x`` is computed as ``log(max(x, PROB_FLOOR))`` inside CD, so exact
zeros in a mixture give a large but finite divergence."""

COUNT_FLOOR = 0.5
"""R_sr uses ``log(max(count, COUNT_FLOOR) / sr_lam)`` by default: a class with no
region in the selection scores below one with a single region, but finitely."""

ALPHA = 0.75
"""Weight of R_cd in the total reward (paper §3.2)."""

BLOCK_ELEMS = 1 << 22
"""Elements per block for validation / dtype conversion (~16 MB of float32)."""

REDUCTIONS = ("sum", "mean")
METHODS = ("auto", "engine", "lazy", "reference")


# --------------------------------------------------------------------------- #
# validation helpers
# --------------------------------------------------------------------------- #
def _kernel_float(x):
    """float32/float64 C-contiguous view or copy of a (small) block."""
    if x.dtype == np.float16:
        x = x.astype(np.float32)
    return np.ascontiguousarray(x)


def _check_float_array(x, name, ndim):
    x = np.asarray(x)
    if x.ndim != ndim:
        raise InvalidInputError(f"{name} must be a {ndim}-D array, got shape {x.shape}; "
                                f"pass a {ndim}-D float array.")
    if x.dtype not in (np.float16, np.float32, np.float64):
        raise InvalidInputError(f"{name} must be float16, float32 or float64, got {x.dtype}; "
                                f"convert it with .astype(np.float32).")
    return x


def _check_probability_rows(block, name, first_row, stored):
    """The pool format's probability-row rule (alselect.validation), tolerance of the storage dtype."""
    from .validation import probability_block

    probability_block(name, _kernel_float(block), first_row, stored)


def _check_offsets(offsets, n_regions):
    """CSR offsets (N+1,) -> contiguous int64; the rules are the pool format's (alselect.validation)."""
    from .validation import check_offsets

    off = np.asarray(offsets)
    if off.ndim != 1 or off.shape[0] < 1:
        raise InvalidInputError(f"region offsets must be a 1-D array of length N+1, got shape "
                                f"{off.shape}; offsets[i]:offsets[i+1] are the regions of image i.")
    check_offsets("region offsets", off, off.shape[0] - 1, n_regions)
    return np.ascontiguousarray(off, dtype=np.int64)


def _check_rows(rows, n, name, allow_empty=True):
    """Row numbers (or an (N,) bool mask) -> sorted-as-given unique int64 rows."""
    if rows is None:
        r = np.zeros(0, dtype=np.int64)
    else:
        a = np.asarray(rows)
        if a.dtype == bool:
            if a.shape != (n,):
                raise InvalidInputError(f"{name} as a boolean mask must have shape ({n},), got {a.shape}.")
            r = np.flatnonzero(a).astype(np.int64)
        elif a.size == 0:
            r = np.zeros(0, dtype=np.int64)
        elif np.issubdtype(a.dtype, np.integer):
            r = a.ravel().astype(np.int64)
        else:
            raise InvalidInputError(f"{name} must be integer row numbers or a boolean mask, got dtype "
                                    f"{a.dtype}.")
    if r.size:
        from .validation import row_mask

        row_mask(name, r, n)  # range and duplicates: the one row-set rule
    if not allow_empty and r.size == 0:
        raise InvalidInputError(f"{name} is empty; pass at least one row.")
    return r


def _check_mixtures(mixtures, present, name="mixtures"):
    """Validate (N, K, C) mixtures and (N, K) present mask."""
    mixtures = _check_float_array(mixtures, name, 3)
    N, K, C = mixtures.shape
    present = np.asarray(present)
    if present.shape != (N, K):
        raise InvalidInputError(f"present must have shape (N, K) = {(N, K)} to match {name} "
                                f"{mixtures.shape}, got {present.shape}.")
    if present.dtype != bool:
        if not np.issubdtype(present.dtype, np.integer) or not np.isin(present, (0, 1)).all():
            raise InvalidInputError(f"present must be boolean (or 0/1), got dtype {present.dtype}; pass "
                                    f"the class-present mask.")
        present = present.astype(bool)
    from .validation import mixture_block

    step = max(1, BLOCK_ELEMS // max(1, K * C))
    for i0 in range(0, N, step):
        mixture_block(name, _kernel_float(mixtures[i0:i0 + step]), present[i0:i0 + step], i0,
                      mixtures.dtype.name)
    return mixtures, present


def _check_classes(classes, K):
    if classes is None:
        return None
    cl = np.asarray(classes).ravel()
    if cl.size == 0:
        raise InvalidInputError("classes is empty; pass at least one class index (or None for all).")
    if not np.issubdtype(cl.dtype, np.integer):
        raise InvalidInputError(f"classes must be integer class indices, got dtype {cl.dtype}; map "
                                f"class names to indices first.")
    if cl.min() < 0 or cl.max() >= K:
        raise InvalidInputError(f"classes must lie in [0, {K}), got {cl.tolist()}; K = {K} groups in "
                         f"these mixtures.")
    if np.unique(cl).size != cl.size:
        raise InvalidInputError(f"classes contains duplicates: {cl.tolist()}; list each class once.")
    return np.sort(cl).astype(np.int64)


def _check_reduce(reduce):
    if reduce not in REDUCTIONS:
        raise InvalidInputError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}; 'sum' is the "
                                f"paper's Eq. 2, 'mean' the authors' released core-set code.")
    return reduce == "mean"


def _check_floor(floor):
    floor = float(floor)
    if not (0.0 < floor < 1.0):
        raise InvalidInputError(f"floor must be in (0, 1), got {floor}; it replaces log(0).")
    return floor


def _gate(present, classes):
    if classes is None:
        return np.ascontiguousarray(present)
    g = np.zeros_like(present)
    g[:, classes] = present[:, classes]
    return g


# --------------------------------------------------------------------------- #
# Eq. 1: mixtures
# --------------------------------------------------------------------------- #
def mixtures_from_regions(region_probs, offsets, *, region_weights=None, eps=EPS,
                          n_classes=None, dtype=np.float32, row_check=None):
    """Per-image, per-pseudo-label class mixtures (Eq. 1 for a single image).

    For image ``i`` and class ``c``:
    ``P_i^c = sum_{r: argmax p_r = c} w_r p_r / sum w_r`` with
    ``w_r = v_r * (H_2(p_r) + eps)`` (entropy in bits, ``v_r`` the optional
    region weight, e.g. a superpixel's pixel count; ``v_r = 0`` drops the
    region). Pseudo-label ties go to the lowest class index. Each present
    mixture is divided by its sum, so that it sums to 1 although stored softmax
    rows only do within their dtype's rounding (float16: 1e-2); for exact
    softmax rows this changes nothing. Streams over the images in blocks
    (float16 input is converted per block).

    Parameters
    ----------
    region_probs : (R, C) float16/32/64
        Softmax vector of every region (pixel, superpixel, box), images
        concatenated in pool order.
    offsets : (N+1,) int
        Regions of image ``i`` are ``offsets[i]:offsets[i+1]``; starts at 0,
        non-decreasing, ends at ``R``. Images without regions are allowed
        (nothing present).
    region_weights : (R,) float, optional
        Non-negative finite weights ``v_r``.
    eps : float
        Added to the entropy in bits (paper: "small constant"), > 0.
    n_classes : int, optional
        Expected ``C`` (rejects regions of another width).
    dtype : float32 or float64
        Dtype of the returned mixtures (accumulation is float64).
    row_check : callable(block, first_row), optional
        Called on a block of ``region_probs`` in which the kernel flagged a row (non-finite,
        negative, or a sum off by more than the storage dtype's tolerance); it must raise,
        or return when its own rule clears a borderline row. Default: the probability-row
        rule of :mod:`alselect.validation` as an :class:`InvalidInputError`. A pool
        reader passes its own check, so the error names the dataset.

    Every region is screened by the kernel itself in the same pass that computes the
    mixtures; only a block with a flagged row is checked again.

    Returns
    -------
    mixtures : (N, C, C) dtype
        ``mixtures[i, c]`` = ``P_i^c``; zero rows for absent classes.
    present : (N, C) bool
        At least one region of image ``i`` has pseudo-label ``c``.
    counts : (N, C) int64
        Number of regions of image ``i`` with pseudo-label ``c``.
    """
    from alselect.float16 import float16_tables
    from alselect.kernels import cdal as K
    from alselect.validation import prob_sum_atol

    probs = _check_float_array(region_probs, "region_probs", 2)
    R, C = probs.shape
    if C < 1:
        raise InvalidInputError("region_probs has 0 classes; pass (R, C) softmax vectors with C >= 1.")
    if n_classes is not None and C != int(n_classes):
        raise InvalidInputError(f"region_probs has {C} classes per region but the pool has "
                                f"{int(n_classes)}; regions must have the pool's class count.")
    off = _check_offsets(offsets, R)
    N = off.shape[0] - 1
    if not (np.isfinite(eps) and eps > 0):
        raise InvalidInputError(f"eps must be a finite positive number, got {eps}; the paper adds a small "
                                f"eps > 0 to the entropy.")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise InvalidInputError(f"dtype must be float32 or float64, got {dtype}.")
    use_w = region_weights is not None
    if use_w:
        wts = np.asarray(region_weights)
        if wts.ndim != 1 or wts.shape[0] != R:
            raise InvalidInputError(f"region_weights must have shape (R,) = ({R},), got {wts.shape}; "
                                    f"one weight per region.")
        if not np.issubdtype(wts.dtype, np.number) or np.iscomplexobj(wts):
            raise InvalidInputError(f"region_weights must be real numbers, got dtype {wts.dtype}.")
    mix = np.zeros((N, C, C), dtype=dtype)
    present = np.zeros((N, C), dtype=bool)
    counts = np.zeros((N, C), dtype=np.int64)
    stored = probs.dtype.name
    atol = prob_sum_atol(stored)
    if row_check is None:
        def row_check(block, first_row):
            _check_probability_rows(block, "region_probs", first_row, stored)
    half = stored == "float16"
    if half:
        values, xlogx = float16_tables()
        no_rows = np.zeros((0, C), dtype=np.float32)
    else:
        values = xlogx = np.zeros(0, dtype=np.float64)
        no_bits = np.zeros((0, C), dtype=np.uint16)
    block_regions = max(1, BLOCK_ELEMS // C)
    empty_w = np.zeros(0, dtype=np.float64)
    i0 = 0
    while i0 < N:
        i1 = int(np.searchsorted(off, off[i0] + block_regions, side="right")) - 1
        i1 = min(max(i1, i0 + 1), N)
        r0, r1 = int(off[i0]), int(off[i1])
        blk = np.ascontiguousarray(probs[r0:r1])
        if use_w:
            w = np.asarray(wts[r0:r1], dtype=np.float64)
            if not np.isfinite(w).all() or (w < 0).any():
                r = r0 + int(np.argmax(~np.isfinite(w) | (w < 0)))
                raise InvalidInputError(f"region_weights[{r}] = {wts[r]} is not a finite non-negative "
                                        f"number; weights scale the entropy weights (0 drops a region).")
        else:
            w = empty_w
        rel = np.ascontiguousarray(off[i0:i1 + 1] - r0)
        suspect = np.zeros(i1 - i0, dtype=bool)
        if half:  # the kernel reads the bit patterns; ``probs`` is not read
            K.mixtures_kernel(no_rows, blk.view(np.uint16), values, xlogx, True, rel, w, use_w, float(eps), atol,
                              mix[i0:i1], present[i0:i1], counts[i0:i1], suspect)
        else:
            K.mixtures_kernel(blk, no_bits, values, xlogx, False, rel, w, use_w, float(eps), atol,
                              mix[i0:i1], present[i0:i1], counts[i0:i1], suspect)
        if suspect.any():
            row_check(blk, r0)
        _normalize_present(mix[i0:i1], present[i0:i1])
        i0 = i1
    return mix, present, counts


def _normalize_present(mix, present):
    """Divide each present mixture by its sum, in place.

    A mixture of softmax rows sums to 1 (Eq. 1), but stored rows only sum to 1 within their
    dtype's tolerance (float16: 1e-2), and so do their mixtures; normalised, every mixture
    passes the float32/float64 check of the functions that take mixtures."""
    rows = mix[present]
    if rows.size:
        mix[present] = rows / rows.sum(axis=-1, dtype=np.float64, keepdims=True)


def classification_features(probs, *, dtype=None):
    """Image classification layout: the whole image is one region, no gating.

    CD between two images is then the symmetric KL between their full softmax
    vectors (as the authors' released classification code does). Gating by
    pseudo-label (Eq. 2's indicator) would put images with different predicted
    classes at distance 0 and collapse the core-set onto one class, so a single
    always-present group is used instead.

    Parameters
    ----------
    probs : (N, C) float16/32/64
        Softmax outputs.
    dtype : float16, float32 or float64, optional
        Dtype of the mixtures; default: that of ``probs``, so the values are the stored ones
        and later checks apply the storage dtype's probability tolerance.

    Returns
    -------
    mixtures : (N, 1, C) dtype
    present : (N, 1) bool, all True
    """
    p = _check_float_array(probs, "probs", 2)
    N, C = p.shape
    dtype = p.dtype if dtype is None else np.dtype(dtype)
    if dtype not in (np.float16, np.float32, np.float64):
        raise InvalidInputError(f"dtype must be float16, float32 or float64, got {dtype}.")
    stored = p.dtype.name
    step = max(1, BLOCK_ELEMS // max(1, C))
    mix = np.empty((N, 1, C), dtype=dtype)
    for i0 in range(0, N, step):
        blk = p[i0:i0 + step]
        _check_probability_rows(blk, "probs", i0, stored)
        mix[i0:i0 + step, 0] = blk
    return mix, np.ones((N, 1), dtype=bool)


def classification_class_counts(probs):
    """(N, C) int64 one-hot of the predicted class (for R_sr on classification)."""
    p = _check_float_array(probs, "probs", 2)
    counts = np.zeros(p.shape, dtype=np.int64)
    counts[np.arange(p.shape[0]), np.argmax(p, axis=1)] = 1
    return counts


# --------------------------------------------------------------------------- #
# compact form (internal)
# --------------------------------------------------------------------------- #
class _Compact(NamedTuple):
    x: np.ndarray        # (rows, 2C) float64: [P | log max(P, floor)] of present groups
    g: np.ndarray        # (rows,) int64: group of each row
    row_off: np.ndarray  # (N+1,) int64: image i owns rows row_off[i]:row_off[i+1]
    pos: np.ndarray      # (N, K) int64: row of (image, group), -1 when absent


def _compact(mixtures, gate, floor):
    """Present (image, group) rows only, as float64 ``[P | log P]``.

    Memory: ``16 C`` bytes per present (image, group) plus ``8 K`` per image. The offsets
    come from NumPy; the rows are filled by the ``nogil`` kernel ``compact_fill_kernel``,
    blocks of images on Python threads (``alselect.threads``).
    """
    from alselect.kernels.cdal import compact_fill_kernel
    from alselect.threads import run_blocks

    N, K, C = mixtures.shape
    gate = np.ascontiguousarray(gate, dtype=bool)
    row_off = np.zeros(N + 1, dtype=np.int64)
    np.cumsum(gate.sum(axis=1), out=row_off[1:])
    pos = np.where(gate, np.cumsum(gate.ravel()).reshape(N, K) - 1, -1).astype(np.int64)
    nrows = int(row_off[-1])
    x = np.empty((nrows, 2 * C), dtype=np.float64)
    g = np.empty(nrows, dtype=np.int64)
    step = max(1, BLOCK_ELEMS // max(1, K * C))

    def fill(i0):
        i1 = min(N, i0 + step)
        q0, q1 = int(row_off[i0]), int(row_off[i1])
        compact_fill_kernel(_kernel_float(mixtures[i0:i1]), gate[i0:i1],
                            row_off[i0:i1 + 1] - q0, floor, x[q0:q1], g[q0:q1])

    run_blocks(fill, range(0, N, step))
    return _Compact(x, g, row_off, pos)


def _prepare(mixtures, present, classes, floor):
    mixtures, present = _check_mixtures(mixtures, present)
    cl = _check_classes(classes, mixtures.shape[1])
    return mixtures, present, _compact(mixtures, _gate(present, cl), _check_floor(floor))


# --------------------------------------------------------------------------- #
# Eq. 2: pairwise CD
# --------------------------------------------------------------------------- #
def cd_pairwise(mix_a, present_a, mix_b, present_b, *, reduce="sum", classes=None,
                floor=PROB_FLOOR):
    """Pairwise contextual diversity between two images (Eq. 2).

    ``sum_{c shared} 0.5 KL(P_a^c || P_b^c) + 0.5 KL(P_b^c || P_a^c)`` over
    the groups present in both images (restricted to ``classes`` when given);
    ``reduce="mean"`` divides by the number of shared groups. Images sharing
    no group are at distance 0.

    Parameters
    ----------
    mix_a, mix_b : (K, C) float
    present_a, present_b : (K,) bool
    reduce : {"sum", "mean"}
    classes : sequence of int, optional
    floor : float
        ``log(max(x, floor))`` replaces ``log x``.

    Returns
    -------
    float
    """
    from alselect.kernels.cdal import cd_min_to_set_kernel

    a = np.asarray(mix_a)
    b = np.asarray(mix_b)
    if a.ndim != 2 or a.shape != b.shape:
        raise InvalidInputError(f"mix_a and mix_b must be (K, C) arrays of the same shape, got "
                                f"{a.shape} and {b.shape}.")
    dt = np.result_type(a.dtype, b.dtype)
    mix = np.stack([a, b]).astype(dt if dt in (np.float16, np.float32, np.float64) else a.dtype)
    pres = np.stack([np.asarray(present_a), np.asarray(present_b)])
    mean = _check_reduce(reduce)
    _, _, cmp_ = _prepare(mix, pres, classes, floor)
    out = np.empty(1)
    cd_min_to_set_kernel(*cmp_, np.array([0], dtype=np.int64), np.array([1], dtype=np.int64),
                         mean, out)
    return float(out[0])


def cd_to_set(mixtures, present, centers, *, rows=None, reduce="sum", classes=None,
              floor=PROB_FLOOR):
    """Min CD of each row to a set of center images (the core-set coverage).

    Parameters
    ----------
    mixtures : (N, K, C) float
    present : (N, K) bool
    centers : sequence of int
        Center rows (a single row gives the CD of every row to that image).
    rows : sequence of int, optional
        Rows to evaluate (default: all).
    reduce, classes, floor
        As in :func:`cd_pairwise`.

    Returns
    -------
    (T,) float64
        ``min_{c in centers} d(row, c)``; ``+inf`` when ``centers`` is empty.
    """
    from alselect.kernels.cdal import cd_min_to_set_kernel

    mean = _check_reduce(reduce)
    mixtures, present, cmp_ = _prepare(mixtures, present, classes, floor)
    N = mixtures.shape[0]
    ctr = _check_rows(centers, N, "centers")
    rws = np.arange(N, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64).ravel()
    if rws.size and (rws.min() < 0 or rws.max() >= N):
        raise InvalidInputError(f"rows must lie in [0, {N}); pass row numbers of the pool.")
    out = np.empty(rws.shape[0])
    cd_min_to_set_kernel(*cmp_, rws, ctr, mean, out)
    return out


# --------------------------------------------------------------------------- #
# inner-product form
# --------------------------------------------------------------------------- #
def cd_inner_product_form(mixtures, present, *, classes=None, dtype=np.float32,
                          floor=PROB_FLOOR):
    r"""Write the sum-reduced CD as ``d(i, j) = n[i] + n[j] - 2 <A[i], B[j]>``.

    With ``a = P_i^c``, ``l_a = log max(a, floor)``, ``h_a = a . l_a`` and the
    gate ``g_i^c`` (present, and in ``classes``):

    .. math:: d(i,j) = \sum_c g_i^c g_j^c \tfrac12\,[h_a + h_b - a\cdot l_b - b\cdot l_a].

    The gated self terms ``g_i g_j h_a`` couple both images, so in general
    ``n = 0`` and

    ``A_i = 1/2 [g a (K*C), g l_a (K*C), -g h_a (K), g (K)]``,
    ``B_j = 1/2 [g l_b (K*C), g b (K*C), g (K), -g h_b (K)]``

    (width ``2KC + 2K``). When every selected group is present in every image
    (e.g. classification, K = 1) the gate is 1 and the self terms move into
    ``n_i = 1/2 sum_c h_a^c``: ``A_i = 1/2 [a, l_a]``, ``B_j = 1/2 [l_b, b]``
    (width ``2KC``). Only groups in ``classes`` are written.

    Parameters
    ----------
    mixtures : (N, K, C) float
    present : (N, K) bool
    classes : sequence of int, optional
    dtype : float32 (default, for the BLAS engine) or float64
        Values are computed in float64 per block and rounded once.
    floor : float

    Returns
    -------
    A, B : (N, D) dtype
    n : (N,) dtype
    """
    mixtures, present = _check_mixtures(mixtures, present)
    cl = _check_classes(classes, mixtures.shape[1])
    floor = _check_floor(floor)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise InvalidInputError(f"dtype must be float32 or float64, got {dtype}.")
    N, K, C = mixtures.shape
    groups = np.arange(K) if cl is None else cl
    G = groups.size
    gate = present[:, groups]
    dense = bool(gate.all())
    D = 2 * G * C + (0 if dense else 2 * G)
    A = np.empty((N, D), dtype=dtype)
    B = np.empty((N, D), dtype=dtype)
    n = np.zeros(N, dtype=dtype)
    GC = G * C
    step = max(1, BLOCK_ELEMS // max(1, K * C))
    for i0 in range(0, N, step):
        i1 = min(N, i0 + step)
        g = gate[i0:i1].astype(np.float64)
        p = mixtures[i0:i1][:, groups].astype(np.float64)
        p[g == 0] = 0.0  # absent rows are ignored whatever they hold
        lg = np.log(np.maximum(p, floor))
        lg[g == 0] = 0.0
        h = np.einsum("ngc,ngc->ng", p, lg)
        m = i1 - i0
        A[i0:i1, :GC] = 0.5 * p.reshape(m, GC)
        A[i0:i1, GC:2 * GC] = 0.5 * lg.reshape(m, GC)
        B[i0:i1, :GC] = 0.5 * lg.reshape(m, GC)
        B[i0:i1, GC:2 * GC] = 0.5 * p.reshape(m, GC)
        if dense:
            n[i0:i1] = 0.5 * h.sum(axis=1)
        else:
            A[i0:i1, 2 * GC:2 * GC + G] = -0.5 * h
            A[i0:i1, 2 * GC + G:] = 0.5 * g
            B[i0:i1, 2 * GC:2 * GC + G] = 0.5 * g
            B[i0:i1, 2 * GC + G:] = -0.5 * h
    return A, B, n


# --------------------------------------------------------------------------- #
# CDAL-CS: K-Center-Greedy with CD
# --------------------------------------------------------------------------- #
def _engine():
    """The generic batched k-center engine (imported when first needed)."""
    from alselect.diversity import kcenter_greedy_ip

    return kcenter_greedy_ip


def mixture_entropy(mixtures, present, *, classes=None, floor=PROB_FLOOR):
    """Total contextual entropy ``h_i = sum_c H(P_i^c)`` (nats) per image.

    Sum over present (selected) groups of the Shannon entropy of the mixture;
    used as the default first pick of :func:`cdal_coreset`.

    Returns
    -------
    (N,) float64
    """
    mixtures, present, cmp_ = _prepare(mixtures, present, classes, floor)
    return _entropy_from_compact(cmp_)


def _entropy_from_compact(cmp_):
    N = cmp_.row_off.shape[0] - 1
    C = cmp_.x.shape[1] // 2
    h_rows = -np.einsum("rc,rc->r", cmp_.x[:, :C], cmp_.x[:, C:])
    owner = np.repeat(np.arange(N), np.diff(cmp_.row_off))
    return np.bincount(owner, weights=h_rows, minlength=N)


def cdal_coreset(mixtures, present, budget, *, labeled=None, reduce="sum", classes=None,
                 first=None, candidates=None, method="auto", floor=PROB_FLOOR, progress=None):
    """CDAL-CS: K-Center-Greedy with contextual diversity as the distance.

    Labeled rows are the initial centers; each step picks the candidate whose
    CD to its nearest center is largest (ties: lowest row) and makes it a
    center. Exact greedy sequence; memory O(N) beyond the compact mixtures
    (no N x N or N x labeled matrix).

    First pick: ``first`` when given (made even when labeled rows exist, like
    the released code's random first pick); otherwise, with labeled rows, the
    regular greedy step; with no labeled rows, the candidate of largest total
    mixture entropy (:func:`mixture_entropy`, ties lowest row).

    Parameters
    ----------
    mixtures : (N, K, C) float
    present : (N, K) bool
    budget : int
        Number of picks, ``1 <= budget <= #candidates``.
    labeled : sequence of int or (N,) bool, optional
    reduce : {"sum", "mean"}
        Paper (Eq. 2) sums over shared classes; the released code averages.
    classes : sequence of int, optional
        Restrict CD to these groups (Fig. 7b).
    first : int, optional
        Forced first pick (a candidate row).
    candidates : sequence of int or (N,) bool, optional
        Rows that may be picked (default: all unlabeled rows).
    method : {"auto", "engine", "lazy", "reference"}
        ``lazy`` (default for ``auto``): exact heap of stale upper bounds over
        the compact mixtures; ``reference``: one pass over all rows per pick;
        ``engine``: the generic batched k-center engine
        (``alselect.diversity.kcenter_greedy_ip``, imported lazily) on the
        float32 inner-product form, sum reduction only; it is exact with
        respect to that form evaluated in float64, so it can order differently
        from ``lazy`` only at near-ties (~1e-13 relative). Measured 6-36x
        slower than ``lazy`` at C = 19, hence not the default.
    floor : float
    progress : callable, optional
        ``update(n_picks_done_since_last_call)``, called about every 1% of the
        budget from inside the kernel (``alselect.kernels.progress_hook``);
        the updates sum to the budget and the picks do not depend on it.

    Returns
    -------
    picks : (budget,) int64
        Rows in pick order.
    min_dist : (budget,) float64
        CD of each pick to its nearest center when it was picked (``inf`` for
        a first pick with no center).
    """
    from alselect.kernels.cdal import NO_FIRST, kcenter_lazy_kernel, kcenter_reference_kernel
    from alselect.kernels.progress_hook import every_for, reporting

    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {METHODS}, got {method!r}.")
    mean = _check_reduce(reduce)
    mixtures, present = _check_mixtures(mixtures, present)
    N, K, _ = mixtures.shape
    cl = _check_classes(classes, K)
    floor = _check_floor(floor)
    lab = _check_rows(labeled, N, "labeled")
    if candidates is None:
        is_cand = np.ones(N, dtype=bool)
    else:
        is_cand = np.zeros(N, dtype=bool)
        is_cand[_check_rows(candidates, N, "candidates")] = True
    is_cand[lab] = False
    cand = np.flatnonzero(is_cand).astype(np.int64)
    from .validation import check_budget

    budget = check_budget(budget, cand.size, "unlabeled candidates", minimum=1)
    if first is not None:
        first = int(first)
        if not (0 <= first < N) or not is_cand[first]:
            raise InvalidInputError(f"first = {first} is not an unlabeled candidate row; pass a candidate "
                                    f"row or None.")
    use_engine = method == "engine"
    if use_engine and mean:
        raise InvalidInputError("method='engine' needs reduce='sum' (the mean over shared classes is not "
                                "an inner-product form); use method='lazy'.")
    cmp_ = _compact(mixtures, _gate(present, cl), floor)
    if first is None and lab.size == 0:
        h = _entropy_from_compact(cmp_)
        first = int(cand[np.argmax(h[cand])])

    if use_engine:
        del cmp_  # the engine works on the dense inner-product form instead
        eng = _engine()
        A, B, n = cd_inner_product_form(mixtures, present, classes=cl, floor=floor)
        head, head_d = np.zeros(0, dtype=np.int64), np.zeros(0)
        if first is not None and lab.size:
            # the engine takes `first` only with no labeled rows: make the forced
            # first pick here and hand it over as one more initial center
            head = np.array([first], dtype=np.int64)
            head_d = cd_to_set(mixtures, present, lab, rows=head, classes=cl, floor=floor)
            lab = np.concatenate([lab, head])
            cand = cand[cand != first]
            budget -= 1
            first = None
            if progress is not None:
                progress(1)
        if budget == 0:
            return head, head_d
        picks, dist = eng(A, B, n, budget, labeled=lab if lab.size else None, first=first,
                          candidates=cand if cand.size < N - lab.size else None,
                          progress=progress)
        return (np.concatenate([head, np.asarray(picks, dtype=np.int64)]),
                np.concatenate([head_d, np.asarray(dist, dtype=np.float64)]))

    first_pos = NO_FIRST if first is None else int(np.searchsorted(cand, first))
    picks = np.empty(budget, dtype=np.int64)
    dist = np.empty(budget, dtype=np.float64)
    with reporting(progress):
        if method == "reference":
            kcenter_reference_kernel(*cmp_, cand, lab, first_pos, budget, mean, picks, dist,
                                     every_for(budget, progress))
        else:
            kcenter_lazy_kernel(*cmp_, cand, lab, first_pos, budget, mean, picks, dist,
                                lazy_workspace(cmp_.x.shape[1], cmp_.pos.shape[1], cand.size,
                                               lab.size + budget),
                                every_for(budget, progress))
    return picks, dist


def lazy_workspace(C2, K, T, M):
    """The arrays ``kernels.cdal.kcenter_lazy_kernel`` works in (its unpacking order), for
    compact rows of width ``C2``, ``K`` groups, ``T`` candidates and ``M`` centers in all;
    NumPy allocates them so the kernel compiles no ``np.empty`` signatures of its own (the
    center store still grows inside, from ``4 * CENTER_BLOCK`` centers)."""
    from alselect.kernels.cdal import CENTER_BLOCK, LANES, REFRESH_BATCH

    i64, f64 = np.int64, np.float64
    return (np.empty(K * C2 * CENTER_BLOCK, f64), np.empty(K * CENTER_BLOCK, i64),  # stage
            np.empty(K, i64),                                                     # stage_n
            np.empty(4 * CENTER_BLOCK * C2, f64), np.empty(4 * CENTER_BLOCK, i64),  # store
            np.empty((M // CENTER_BLOCK + 1, K + 1), i64),                        # segoff
            np.empty((LANES, CENTER_BLOCK), f64), np.empty(CENTER_BLOCK, f64),    # acc, dist
            np.empty(CENTER_BLOCK, i64),                                          # cnt
            np.empty(REFRESH_BATCH, i64), np.empty(REFRESH_BATCH, f64),           # brow, bkey
            np.empty(T, i64), np.empty(T, f64), np.empty(T, i64))                 # stamp key idx


# --------------------------------------------------------------------------- #
# CDAL-RL rewards (Eq. 3-5)
# --------------------------------------------------------------------------- #
class CdalRewards(NamedTuple):
    """Reward components of one selection; ``None`` when not computable."""

    r_cd: float
    r_vr: float | None
    r_sr: float | None
    total: float


def _check_picks(picks, n):
    p = _check_rows(picks, n, "picks", allow_empty=False)
    return p


def reward_cd(mixtures, present, picks, *, reduce="sum", classes=None, aggregate="sum",
              floor=PROB_FLOOR):
    """R_cd: aggregate contextual diversity of a selection (Eq. 3).

    ``aggregate="sum"``: Eq. 3 literally, ``sum_{m, n in picks} d(m, n)`` over
    ordered pairs (each unordered pair twice, ``d(m, m) = 0``).
    ``aggregate="mean"``: that sum divided by ``|picks|^2``, as the authors'
    released RL code averages over all ordered pairs including the diagonal.

    Returns
    -------
    float
    """
    from alselect.kernels.cdal import cd_set_sum_kernel

    if aggregate not in ("sum", "mean"):
        raise InvalidInputError(f"aggregate must be 'sum' (Eq. 3) or 'mean' (released code), got "
                                f"{aggregate!r}.")
    mean = _check_reduce(reduce)
    mixtures, present, cmp_ = _prepare(mixtures, present, classes, floor)
    p = _check_picks(picks, mixtures.shape[0])
    tot = float(cd_set_sum_kernel(*cmp_, p, mean))
    return tot / (p.size * p.size) if aggregate == "mean" else tot


def reward_vr(embeddings, picks, *, squared=False, scale=1.0, rows=None):
    """R_vr: visual representativeness of a selection (Eq. 4).

    ``exp(-scale * mean_i min_{j in picks} ||x_i - x_j||)`` over all rows
    ``i`` of the pool (picked rows contribute 0). The paper uses the plain
    Euclidean norm and ``scale = 1``; the released code uses squared distances
    and ``scale = 1/50`` (``squared=True, scale=0.02``).

    Parameters
    ----------
    embeddings : (N, D) float
    picks : sequence of int
    squared : bool
    scale : float > 0
    rows : sequence of int, optional
        Take the mean over these rows only (default: every row). A uniform
        sample of rows gives an unbiased estimate of the mean at a fraction of
        the cost; the CDAL-RL policy uses it in its inner loop.

    Returns
    -------
    float
    """
    x = _check_float_array(embeddings, "embeddings", 2)
    N, D = x.shape
    p = _check_picks(picks, N)
    if not (np.isfinite(scale) and scale > 0):
        raise InvalidInputError(f"scale must be a finite positive number, got {scale}.")
    y = x[p].astype(np.float64)
    if not np.isfinite(y).all():
        raise InvalidInputError("embeddings of the picked rows contain NaN or inf; embeddings must be "
                                "finite.")
    if rows is None:
        n_rows, block = N, (lambda i0, i1: x[i0:i1])
    else:
        r = _check_picks(rows, N)
        n_rows, block = r.size, (lambda i0, i1: x[r[i0:i1]])
    yy = np.einsum("jd,jd->j", y, y)
    step = max(1, BLOCK_ELEMS // max(1, p.size + D))
    tot = 0.0
    for i0 in range(0, n_rows, step):
        xb = block(i0, i0 + step).astype(np.float64)
        if not np.isfinite(xb).all():
            bad = int(np.argmax(~np.isfinite(xb).all(axis=1)))
            row = i0 + bad if rows is None else int(r[i0 + bad])
            raise InvalidInputError(f"embeddings row {row} contains NaN or inf; embeddings must be finite.")
        d2 = np.einsum("id,id->i", xb, xb)[:, None] + yy[None, :] - 2.0 * (xb @ y.T)
        m = np.maximum(d2.min(axis=1), 0.0)
        tot += float(np.sum(m if squared else np.sqrt(m)))
    return float(np.exp(-scale * tot / n_rows))


@renamed_keywords(class_counts=COUNTS, lam=SR_LAM)
def reward_sr(counts, picks, sr_lam, *, count_floor=COUNT_FLOOR):
    """R_sr: semantic representation of a selection (Eq. 5).

    ``sum_c log(max(n_c, count_floor) / sr_lam)`` with ``n_c`` the number of
    regions pseudo-labeled ``c`` in the selected images. The paper's
    ``log(0)`` for a class with no region is ``-inf``; ``count_floor = 0``
    reproduces that, the default keeps it finite.

    Parameters
    ----------
    counts : (N, C) int or float
        Regions per pseudo-label per image (dataset ``cd/counts``; ``counts`` of
        :func:`mixtures_from_regions`).
    picks : sequence of int
    sr_lam : float > 0
        The paper's lambda: a class represented by far fewer regions than ``sr_lam``
        lowers the reward.
    count_floor : float >= 0

    Returns
    -------
    float
    """
    cc = np.asarray(counts)
    numeric = np.issubdtype(cc.dtype, np.integer) or np.issubdtype(cc.dtype, np.floating)
    if cc.ndim != 2 or not numeric:
        raise InvalidInputError(f"counts must be a 2-D (N, C) numeric array, got shape {cc.shape} "
                                f"dtype {cc.dtype}.")
    if np.issubdtype(cc.dtype, np.floating) and not np.isfinite(cc).all():
        raise InvalidInputError("counts contains NaN or inf; counts must be finite.")
    if (cc < 0).any():
        raise InvalidInputError("counts has negative entries; counts must be >= 0.")
    if not (np.isfinite(sr_lam) and sr_lam > 0):
        raise InvalidInputError(f"sr_lam must be a finite positive number, got {sr_lam}; it is the paper's "
                                f"lambda in log(|R^c| / lambda).")
    if not (np.isfinite(count_floor) and count_floor >= 0):
        raise InvalidInputError(f"count_floor must be finite and >= 0, got {count_floor}.")
    p = _check_picks(picks, cc.shape[0])
    n_c = cc[p].sum(axis=0, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return float(np.sum(np.log(np.maximum(n_c, count_floor) / sr_lam)))


@renamed_keywords(class_counts=COUNTS, lam=SR_LAM)
def reward_total(mixtures, present, picks, *, embeddings=None, counts=None, sr_lam=None,
                 alpha=ALPHA, reduce="sum", classes=None, aggregate="sum", vr_squared=False,
                 vr_scale=1.0, count_floor=COUNT_FLOOR, floor=PROB_FLOOR):
    """Total CDAL-RL reward ``alpha R_cd + (1 - alpha)(R_vr + R_sr)``.

    R_vr needs ``embeddings`` and R_sr needs ``counts`` and ``sr_lam``;
    a component whose inputs are missing is reported as ``None`` and counts
    as 0 in the total (the paper uses R_sr for segmentation only).

    Returns
    -------
    CdalRewards
    """
    if not (0.0 <= alpha <= 1.0):
        raise InvalidInputError(f"alpha must be in [0, 1], got {alpha}; the paper uses 0.75.")
    r_cd = reward_cd(mixtures, present, picks, reduce=reduce, classes=classes,
                     aggregate=aggregate, floor=floor)
    r_vr = None if embeddings is None else reward_vr(embeddings, picks, squared=vr_squared,
                                                     scale=vr_scale)
    if counts is not None and sr_lam is None:
        raise InvalidInputError("counts given without sr_lam; R_sr needs the paper's lambda.")
    r_sr = None if counts is None else reward_sr(counts, picks, sr_lam,
                                                 count_floor=count_floor)
    total = alpha * r_cd + (1.0 - alpha) * ((r_vr or 0.0) + (r_sr or 0.0))
    return CdalRewards(r_cd, r_vr, r_sr, float(total))
