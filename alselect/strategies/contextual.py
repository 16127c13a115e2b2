"""Contextual diversity (CDAL): where the class mixtures come from, and the ``cdal-cs`` strategy.

Three pool layouts give the per-sample mixtures the CD distance compares:

- ``mixtures``: precomputed ``cd/mixtures`` + ``cd/present`` (+ ``cd/counts``), written by
  ``alselect infer --task segmentation`` or ``pack --cd-mixtures``;
- ``regions``: ragged ``regions/probs`` (+ ``regions/weights``) — mixtures by CDAL Eq. 1;
- ``classification``: the whole image is one region, CD compares the full softmax vectors,
  without pseudo-label gating (docs/contextual-diversity.md explains why).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract import SEQUENTIAL, Context, Param, Picks, StrategySpec
from ..errors import SelectionError

LAYOUTS = ("auto", "mixtures", "regions", "classification")


@dataclass
class CdInputs:
    layout: str
    mixtures: np.ndarray  # (N, K, C)
    present: np.ndarray  # (N, K) bool
    counts: np.ndarray | None  # (N, C) regions per pseudo-class


def resolve_layout(pool, layout: str) -> str:
    if layout == "auto":
        return "mixtures" if pool.has("cd/mixtures") else "regions" if pool.has("regions/probs") else "classification"
    if layout == "mixtures":
        pool.require("cd/mixtures", "layout 'mixtures'")
    elif layout == "regions":
        pool.require("regions/probs", "layout 'regions'")
    return layout


def load_cd_inputs(pool, layout: str = "auto", progress=None) -> CdInputs:
    """The mixtures of every sample for the pool's (or the requested) layout."""
    from .. import cdal

    layout = resolve_layout(pool, layout)
    if layout == "mixtures":
        # storage dtype, so the array layer applies that dtype's probability tolerance
        mixtures, present, counts = pool.read_cd(dtype=pool.dtype("cd/mixtures"))
    elif layout == "regions":
        weights = pool.read("regions/weights") if pool.has("regions/weights") else None
        # read as stored: the mixture kernel screens every region in its own pass, and a block
        # it flags gets the reader's check (whose error names the dataset and row)
        mixtures, present, counts = cdal.mixtures_from_regions(
            pool.read("regions/probs", raw=True), pool.region_offsets(), region_weights=weights,
            n_classes=pool.n_classes, row_check=lambda block, start: pool.check_block("regions/probs", start, block))
    else:
        probs = pool.read("probs")
        mixtures, present = cdal.classification_features(probs)
        counts = cdal.classification_class_counts(probs)
    return CdInputs(layout, mixtures, present, counts)


def parse_classes(spec: str, pool, layout: str) -> list[int] | None:
    """``-p classes=person,rider`` (names or indices) -> class indices, or None for all."""
    if not spec:
        return None
    if layout == "classification":
        raise SelectionError(
            "-p classes= restricts the per-class mixtures of segmentation/detection pools; a classification "
            "pool has one mixture per image (drop -p classes, or add region data / cd mixtures to the pool)"
        )
    names = pool.class_names() or []
    out = []
    for token in (t.strip() for t in spec.split(",") if t.strip()):
        if token in names:
            out.append(names.index(token))
        elif token.isdigit() and int(token) < pool.n_classes:
            out.append(int(token))
        else:
            known = ", ".join(names) if names else f"indices 0..{pool.n_classes - 1}"
            raise SelectionError(f"-p classes: unknown class {token!r}; use class names or indices ({known})")
    return sorted(set(out))


def cdal_cs(ctx: Context, budget: int, reduce: str, classes: str, layout: str, init: str) -> Picks:
    from .. import cdal

    with ctx.progress("reading class mixtures", 1) as update:
        inputs = load_cd_inputs(ctx.pool, layout)
        update(1)
    first_row = None
    if init == "random" and ctx.picked.size == 0:  # the released code's uniformly random first pick, seeded
        first_row = int(ctx.rng.choice(np.flatnonzero(ctx.candidates)))
    cls = parse_classes(classes, ctx.pool, inputs.layout)
    with ctx.progress("cdal-cs: picking", budget) as update:
        centers = np.union1d(ctx.labeled, ctx.picked) if ctx.picked.size else ctx.labeled  # earlier rounds' picks
        picks, min_dist = cdal.cdal_coreset(inputs.mixtures, inputs.present, budget, labeled=centers,
                                            reduce=reduce, classes=cls, candidates=ctx.candidates,
                                            first=first_row, progress=update)
    ctx.note(f"contextual diversity from the '{inputs.layout}' layout, {reduce} over shared classes")
    return Picks(picks, min_dist)


cdal_cs.honours_picked = True  # continues from ctx.picked (temporal rules, alselect.temporal)


# ---- registry entries (metadata only; see alselect.contract)
SPECS = [
    StrategySpec("cdal-cs", "core-set (k-center greedy) with contextual diversity (symmetric KL of class mixtures)",
                 ("probs",), f"{__name__}:cdal_cs", order=SEQUENTIAL,
                 randomized=lambda params: params["init"] == "random",
                 params=(Param("reduce", "sum", "sum the per-class symmetric KL over shared classes (paper Eq. 2) "
                               "or take the mean (released code)", choices=("sum", "mean")),
                         Param("classes", "", "comma-separated class names or indices to restrict CD to (Fig. 7b)"),
                         Param("layout", "auto", "where mixtures come from: cd/ mixtures, regions/, or the "
                               "softmax of a classification pool", choices=LAYOUTS),
                         Param("init", "greedy", "first-pick rule; greedy: labeled samples are the initial centers (paper); "
                               "random: a seeded random first pick even with a labeled set (released code)",
                               choices=("greedy", "random"))),
                 reference="CDAL §3.1-3.2 Eq. 1-2, §4.3, §5 Fig. 7b",
                 extra_needs="cd/mixtures or regions/probs (segmentation, detection); probs alone for classification"),
]
