"""Per-batch summaries computed on the model's device, for each task.

Only these small per-image results are copied to the host; in particular the per-pixel
softmax of a segmentation model never leaves the device. Probabilities are always
computed in float32 from the logits, whatever the autocast precision of the forward pass.

Segmentation (CDAL Eq. 1, per image I and pseudo-label c):

    P_r      = softmax(logits_r)                      r: pixel
    y_r      = argmax_j P_r[j]                        (lowest class index on ties)
    w_r      = H(P_r) + EPS,   H in bits: -sum_j P_r[j] log2 P_r[j]
    P_I^c    = sum_{r: y_r = c} w_r P_r / sum_{r: y_r = c} w_r      (zeros when no pixel has y_r = c)

plus ``present[c] = counts[c] > 0``, ``counts[c] = #{r: y_r = c}``, the mean pixel entropy
in nats, and the image-level ``probs`` = mean over pixels of P_r.

Detection, per image with boxes r = 1..R (probabilities P_r given by the model):
image-level ``probs`` = sum_r w_r P_r / sum_r w_r with the same entropy weights w_r (the
aggregation of CDAL's released detection preprocessing), or uniform 1/C when R = 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from .errors import InferError

#: CDAL's epsilon added to each region's entropy weight (bits): the one constant of alselect.cdal,
#: so `infer` mixtures equal `mixtures_from_regions` on the same regions.
from ..cdal import EPS as CDAL_ENTROPY_EPS  # noqa: E402
LN2 = math.log(2.0)
#: Keys of a model output dict holding the logits (torchvision segmentation models use "out").
LOGIT_KEYS = ("logits", "out")


def _tensor_output(out, task: str) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping):
        for key in LOGIT_KEYS:
            if isinstance(out.get(key), torch.Tensor):
                return out[key]
        raise InferError(
            f"the model returned a dict with keys {sorted(map(str, out))}; for --task {task} it must return a logits "
            f"tensor or a dict with one of the keys {', '.join(LOGIT_KEYS)}"
        )
    if isinstance(out, Sequence) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise InferError(f"the model returned a {type(out).__name__}; for --task {task} it must return a logits tensor")


def logits_of(out, task: str, batch: int) -> torch.Tensor:
    """The logits tensor of a model output, shape-checked for the task."""
    logits = _tensor_output(out, task)
    want = {"classification": (2, "(B, C)"), "segmentation": (4, "(B, C, H, W)")}[task]
    if logits.ndim != want[0] or logits.shape[0] != batch:
        other = " (use --task segmentation)" if task == "classification" and logits.ndim == 4 else ""
        raise InferError(
            f"for --task {task} the model must return logits {want[1]} with B = {batch}, got shape "
            f"{tuple(logits.shape)}{other}"
        )
    return logits


def softmax32(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return torch.softmax(logits.float(), dim=dim)


def segmentation(logits: torch.Tensor, eps: float = CDAL_ENTROPY_EPS) -> dict[str, torch.Tensor]:
    """Per-image CDAL summaries of (B, C, H, W) logits (see the module docstring)."""
    b, c = logits.shape[:2]
    # Pixels-major (B, P, C): class reductions run over contiguous memory (much faster on CPU).
    z = logits.float().flatten(2).transpose(1, 2).contiguous()
    logp = torch.log_softmax(z, dim=2)
    p = logp.exp()
    entropy = -(p * logp).sum(dim=2)  # (B, P), nats
    label = p.argmax(dim=2)  # (B, P), first maximum on ties
    weight = entropy * (1.0 / LN2) + eps
    n_pix = label.shape[1]
    mix = torch.zeros(b, c, c, device=z.device, dtype=torch.float32)
    mix.scatter_add_(1, label.unsqueeze(2).expand(b, n_pix, c), p * weight.unsqueeze(2))
    wsum = torch.zeros(b, c, device=z.device, dtype=torch.float32).scatter_add_(1, label, weight)
    counts = torch.zeros(b, c, device=z.device, dtype=torch.int64).scatter_add_(1, label, torch.ones_like(label))
    present = counts > 0
    mix = torch.where(present.unsqueeze(2), mix / wsum.clamp_min(torch.finfo(torch.float32).tiny).unsqueeze(2),
                      torch.zeros((), device=z.device))
    return {
        "probs": p.mean(dim=1),
        "cd/mixtures": mix,
        "cd/present": present.to(torch.uint8),
        "cd/counts": counts,
        "scores/mean_entropy": entropy.mean(dim=1),
    }


def _image_parts(item, index: int):
    if isinstance(item, Mapping):
        probs = item.get("probs")
        if probs is None and isinstance(item.get("logits"), torch.Tensor):
            probs = softmax32(item["logits"])
        return probs, item.get("features"), item.get("boxes")
    if isinstance(item, Sequence) and not isinstance(item, (str, bytes)) and 1 <= len(item) <= 3:
        parts = list(item) + [None] * (3 - len(item))
        return parts[0], parts[1], parts[2]
    if isinstance(item, torch.Tensor):
        return item, None, None
    raise InferError(
        f"for --task detection the model must return, per image, a dict with 'probs' (or 'logits') and optionally "
        f"'features' and 'boxes', or a tuple (probs, features, boxes); image {index} of the batch gave a "
        f"{type(item).__name__}"
    )


def detection(outputs, batch: int, eps: float = CDAL_ENTROPY_EPS):
    """Ragged region data of a batch of detection outputs.

    Returns ``(rows, ragged, counts)``: per-image tensors (``probs`` and, with features,
    ``embeddings`` = plain mean of the image's region features, zeros without regions),
    per-region tensors (``regions/probs``, ``regions/features``, ``regions/boxes``), and
    the host list of regions per image.
    """
    if isinstance(outputs, Mapping) or not isinstance(outputs, Sequence) or len(outputs) != batch:
        got = len(outputs) if isinstance(outputs, Sequence) and not isinstance(outputs, Mapping) else type(outputs).__name__
        raise InferError(f"for --task detection the model must return one output per image ({batch}), got {got}")
    parts = [_image_parts(item, i) for i, item in enumerate(outputs)]
    probs = []
    for i, (p, f, bx) in enumerate(parts):
        if not isinstance(p, torch.Tensor) or p.ndim != 2:
            raise InferError(f"detection output of image {i}: box probabilities must be a (R, C) tensor, got "
                             f"{tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__}")
        if f is not None and (f.ndim != 2 or f.shape[0] != p.shape[0]):
            raise InferError(f"detection output of image {i}: features have shape {tuple(f.shape)}, expected (R={p.shape[0]}, D)")
        if bx is not None and tuple(bx.shape) != (p.shape[0], 4):
            raise InferError(f"detection output of image {i}: boxes have shape {tuple(bx.shape)}, expected (R={p.shape[0]}, 4)")
        probs.append(p.float())
    n_cls = {p.shape[1] for p in probs}
    if len(n_cls) != 1:
        raise InferError(f"detection outputs disagree on the number of classes within one batch: {sorted(n_cls)}")
    c = n_cls.pop()
    has_f = {f is not None for _, f, _ in parts}
    has_b = {bx is not None for _, _, bx in parts}
    if len(has_f) != 1 or len(has_b) != 1:
        raise InferError("detection outputs must give features (and boxes) for every image or for none")
    counts = [int(p.shape[0]) for p in probs]
    device = probs[0].device
    region_probs = torch.cat(probs) if counts else torch.zeros(0, c, device=device)
    image = torch.repeat_interleave(torch.arange(batch, device=device), torch.tensor(counts, device=device))
    logp = torch.log(region_probs.clamp_min(torch.finfo(torch.float32).tiny))
    weight = -(region_probs * logp).sum(dim=1) / LN2 + eps
    acc = torch.zeros(batch, c, device=device).index_add_(0, image, region_probs * weight.unsqueeze(1))
    wsum = torch.zeros(batch, device=device).index_add_(0, image, weight)
    empty = torch.tensor([n == 0 for n in counts], device=device)
    image_probs = torch.where(empty.unsqueeze(1), torch.full((), 1.0 / c, device=device),
                              acc / wsum.clamp_min(torch.finfo(torch.float32).tiny).unsqueeze(1))
    rows = {"probs": image_probs}
    ragged = {"regions/probs": region_probs}
    if has_f.pop():
        feats = torch.cat([f.float() for _, f, _ in parts])
        ragged["regions/features"] = feats
        fsum = torch.zeros(batch, feats.shape[1], device=device).index_add_(0, image, feats)
        rows["embeddings"] = fsum / torch.tensor(counts, device=device).clamp_min(1).unsqueeze(1)
    if has_b.pop():
        ragged["regions/boxes"] = torch.cat([bx.float() for _, _, bx in parts])
    return rows, ragged, counts
