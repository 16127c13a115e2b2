"""UWE embeddings of segmentation and detection pools (UWE paper §3.4).

Segmentation (Eq. 6-7): u(x) is the mean of the pixel (region) uncertainties and f(x) the
mean region feature, both weighted by ``regions/weights`` (pixel areas) when stored. Pools
written by ``alselect infer --task segmentation`` hold no per-pixel data; there u(x) is the
stored mean pixel entropy ``scores/mean_entropy`` and f(x) the ``embeddings`` (the feature map
averaged over pixels), which is the same mean aggregation.

Detection (Eq. 9): per class c, the detection of predicted class c with the largest
uncertainty gives block c = u(d) f(d); blocks are concatenated (C x D per sample), zeros for
a class with no detection. The embedding is built explicitly (float32, N x C x D), so the
k-center kernels run on it with unit weights.
"""

from __future__ import annotations

import numpy as np

from .errors import SelectionError

#: Largest detection-UWE matrix built (bytes); beyond it the user is asked to reduce D or N.
MAX_DETECTION_BYTES = 4 << 30


def _region_uncertainty(ctx, uncertainty: str) -> np.ndarray:
    from .diversity import uwe_weights

    # storage dtype: the probability check applies that dtype's tolerance (as pack and inspect do)
    return uwe_weights(ctx.read("regions/probs"), uncertainty=uncertainty, tau=1.0, normalize="none")


def _finish(u: np.ndarray, tau: float, normalize: str) -> np.ndarray:
    if not np.isfinite(tau) or tau <= 0:
        raise SelectionError(f"parameter 'tau' of strategy 'uwe' got {tau}; it must be a finite number > 0")
    u = np.maximum(u, 0.0)
    if normalize == "minmax":
        lo, hi = u.min(), u.max()
        u = (u - lo) / (hi - lo) if hi > lo else np.ones_like(u)
    return u ** tau


def segmentation_uwe(ctx, *, uncertainty: str, tau: float, normalize: str):
    """(features (N, D), weights (N,)) of the segmentation variant."""
    from .kernels import region_aggregate as ra

    pool = ctx.pool
    if pool.has("regions/probs") and pool.has("regions/features"):
        off = pool.region_offsets()
        u_r = _region_uncertainty(ctx, uncertainty)
        use_w = pool.has("regions/weights")
        w = ctx.read("regions/weights", dtype=np.float64) if use_w else np.ones(1)
        u = ra.segment_mean(off, u_r, w, use_w)
        F = ra.segment_mean_rows(off, ctx.read("regions/features", dtype=np.float32), w, use_w)
        return F, _finish(u, tau, normalize)
    if pool.has("scores/mean_entropy") and pool.has("embeddings"):
        if uncertainty != "entropy":
            raise SelectionError(
                f"uwe -p level=segmentation -p uncertainty={uncertainty} needs per-pixel data ('regions/probs' and "
                "'regions/features'); this pool has only the mean pixel entropy written by `alselect infer --task "
                "segmentation`, so use -p uncertainty=entropy"
            )
        u = ctx.read("scores/mean_entropy", dtype=np.float64)
        return ctx.read("embeddings", dtype=np.float32), _finish(u, tau, normalize)
    raise SelectionError(
        f"uwe -p level=segmentation needs 'regions/probs' and 'regions/features' (per pixel or superpixel), or "
        f"'scores/mean_entropy' and 'embeddings' as `alselect infer --task segmentation` writes them; "
        f"'{pool.path}' has neither"
    )


def detection_uwe(ctx, *, uncertainty: str, tau: float, normalize: str):
    """(features (N, C*D), unit weights (N,)) of the detection variant."""
    from .kernels import region_aggregate as ra

    pool = ctx.pool
    for name in ("regions/probs", "regions/features"):
        pool.require(name, "uwe -p level=detection")
    n, c = pool.n_rows, pool.n_classes
    d = pool.shape("regions/features")[1]
    need = 4 * n * c * d
    if need > MAX_DETECTION_BYTES:
        raise SelectionError(
            f"uwe -p level=detection builds an N x C*D = {n} x {c * d} float32 embedding ({need / 2**30:.1f} GiB), "
            f"over the {MAX_DETECTION_BYTES / 2**30:.0f} GiB limit; store lower-dimensional region features"
        )
    off = pool.region_offsets()
    u = _finish(_region_uncertainty(ctx, uncertainty), tau, normalize)
    if pool.has("regions/classes"):
        classes = ctx.read("regions/classes").astype(np.int64)
    else:
        classes = np.argmax(ctx.read("regions/probs"), axis=1).astype(np.int64)
    F = ra.classwise_max_embedding(off, u, classes, ctx.read("regions/features", dtype=np.float32), c)
    return F, np.ones(n)
