"""``alselect report``: a visual check of a batch of picks before it is sent to annotators.

Four figures (PNG, and one self-contained HTML page that embeds them):

- ``classes``: the predicted-class distribution (argmax of ``probs``) of the pool, the labeled
  set and the picks, with the L1 balance score of each (thesis Eq. 4.10; 0 = uniform);
- ``scores``: the distribution of the predictive entropy of the pool, the labeled set and the
  picks (the strategy-independent view: is the batch more uncertain than the pool?), and the
  picks' own scores when the pick list carries them;
- ``map``: a 2-D map of the embeddings (PCA, or UMAP with ``method="umap"`` when umap-learn is
  installed) of a bounded random sample of the pool plus every labeled sample and pick (each
  capped), labeled samples and picks drawn on top;
- ``thumbnails``: the first picks' images, when the pool's ids are image files under
  ``data_root`` (or the working directory).

Everything is read in streamed blocks, so memory is bounded by the sample sizes, not the pool.
"""

from __future__ import annotations

import html
import os

import numpy as np

from ..errors import InvalidInputError, OutputError
from .html import figure, page, table

#: Rows of the pool drawn into the 2-D map (plus labeled samples and picks, each capped too).
MAP_SAMPLE = 20_000
MAP_HIGHLIGHT_CAP = 5_000
THUMBNAILS = 48
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
COLOURS = {"pool": "#9A9A9A", "labeled": "#0072B2", "picks": "#D55E00"}
#: Streamed passes read this much at a time, so memory stays flat on pools of any size.
BLOCK_BYTES = 8 << 20


def _entropy_and_argmax(pool) -> tuple[np.ndarray, np.ndarray]:
    n = pool.n_rows
    entropy = np.empty(n, dtype=np.float64)
    argmax = np.empty(n, dtype=np.int64)
    for start, block in pool.iter_rows("probs", dtype=np.float64, block_bytes=BLOCK_BYTES):
        p = np.clip(block, 1e-300, None)
        entropy[start:start + block.shape[0]] = -(block * np.log(p)).sum(axis=1)
        argmax[start:start + block.shape[0]] = np.argmax(block, axis=1)
    return entropy, argmax


def _sample(rng, rows: np.ndarray, cap: int) -> np.ndarray:
    return np.sort(rng.choice(rows, size=cap, replace=False)) if rows.size > cap else rows


def _gather(pool, name: str, rows: np.ndarray) -> np.ndarray:
    """The given sorted rows of a per-sample dataset, streamed block by block."""
    out, filled = None, 0
    for start, block in pool.iter_rows(name, block_bytes=BLOCK_BYTES):
        stop = start + block.shape[0]
        lo, hi = np.searchsorted(rows, [start, stop])
        if hi > lo:
            if out is None:
                out = np.empty((rows.size,) + block.shape[1:], dtype=np.float64)
            out[filled:filled + hi - lo] = block[rows[lo:hi] - start].astype(np.float64)
            filled += hi - lo
    return out


def _project(x: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, str]:
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise InvalidInputError("--map umap needs umap-learn (pip install umap-learn); use --map pca") from None
        return umap.UMAP(n_components=2, random_state=seed).fit_transform(x), "UMAP"
    x = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    share = (s[:2] ** 2).sum() / max((s ** 2).sum(), 1e-300)
    return x @ vt[:2].T, f"PCA ({100 * share:.0f}% of the variance)"


def _save(fig, directory: str, name: str) -> str:
    path = os.path.join(directory, name + ".png")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _class_figure(plt, argmax, groups, names, directory):
    from ..balance import balance_score

    c = len(names)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.5 * c + 3), 4.2))
    width = 0.8 / len(groups)
    x = np.arange(c)
    scores = {}
    for i, (group, rows) in enumerate(groups.items()):
        counts = np.bincount(argmax[rows], minlength=c)
        scores[group] = balance_score(counts) if rows.size else float("nan")
        share = counts / max(1, rows.size)
        ax.bar(x - 0.4 + width * (i + 0.5), share, width, color=COLOURS[group],
               label=f"{group} (n={rows.size:,}, L1 score {scores[group]:.3f})")
    ax.set_xticks(x)
    rotate = max(len(s) for s in names) > 3 or c > 20
    ax.set_xticklabels(names, rotation=45 if rotate else 0, ha="right" if rotate else "center", fontsize=8 if c > 20 else 9)
    ax.set_ylabel("share of the group")
    ax.set_xlabel("predicted class (argmax of probs)")
    ax.set_title("predicted-class distribution (L1 balance score: 0 = uniform, 1 = one class)", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    path = _save(fig, directory, "classes")
    plt.close(fig)
    return path, scores


def _score_figure(plt, entropy, groups, pick_scores, strategy, directory):
    if pick_scores is not None and not np.isfinite(pick_scores).any():
        pick_scores = None  # e.g. BADGE, whose picks carry no score
    panels = 2 if pick_scores is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.2 * panels, 4.0), squeeze=False)
    ax = axes[0, 0]
    bins = np.linspace(0.0, max(float(entropy.max()), 1e-9), 41)
    for group, rows in groups.items():
        if rows.size:
            ax.hist(entropy[rows], bins=bins, density=True, histtype="step" if group == "pool" else "stepfilled",
                    alpha=1.0 if group == "pool" else 0.45, lw=1.6, color=COLOURS[group],
                    label=f"{group} (median {np.median(entropy[rows]):.3f})")
    ax.set_xlabel("predictive entropy of probs (nats)")
    ax.set_ylabel("density")
    ax.set_title("uncertainty of the picks vs the pool", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(True, alpha=0.3)
    if pick_scores is not None:
        ax = axes[0, 1]
        finite = pick_scores[np.isfinite(pick_scores)]
        ax.plot(np.arange(1, pick_scores.size + 1), np.where(np.isfinite(pick_scores), pick_scores, np.nan),
                color=COLOURS["picks"], lw=1.5)
        ax.set_xlabel("pick (selection order)")
        ax.set_ylabel(f"score of {strategy or 'the strategy'}")
        ax.set_title(f"the picks' own scores ({finite.size} finite)", fontsize=10)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path = _save(fig, directory, "scores")
    plt.close(fig)
    return path


def _map_figure(plt, pool, groups, method, seed, directory):
    rng = np.random.default_rng(seed)
    unlabeled = np.setdiff1d(np.arange(pool.n_rows), np.union1d(groups["labeled"], groups["picks"]))
    totals = {"unlabeled": unlabeled, "labeled": groups["labeled"], "picks": groups["picks"]}
    shown = {group: _sample(rng, rows, MAP_SAMPLE if group == "unlabeled" else MAP_HIGHLIGHT_CAP)
             for group, rows in totals.items()}
    rows = np.concatenate(list(shown.values()))
    order = np.argsort(rows, kind="stable")
    source = "embeddings" if pool.has("embeddings") else "probs"
    x = np.empty((rows.size, pool.shape(source)[1]), dtype=np.float64)
    x[order] = _gather(pool, source, rows[order])
    xy, how = _project(x, method, seed)
    fig, ax = plt.subplots(figsize=(7.0, 6.0))
    at = 0
    for group, sel in shown.items():
        part = xy[at:at + sel.size]
        at += sel.size
        if sel.size:
            faint = group == "unlabeled"
            of = "" if sel.size == totals[group].size else f" of {totals[group].size:,}"
            ax.scatter(part[:, 0], part[:, 1], s=3 if faint else 14, alpha=0.35 if faint else 0.9,
                       color=COLOURS["pool" if faint else group], marker="x" if group == "picks" else "o",
                       lw=1.0 if group == "picks" else 0, label=f"{group} ({sel.size:,} shown{of})")
    ax.set_title(f"{source}: {how}", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=8, frameon=False, loc="best", markerscale=2)
    fig.tight_layout()
    path = _save(fig, directory, "map")
    plt.close(fig)
    return path


def _thumbnail_figure(plt, pool, picks, data_root, directory):
    ids = pool.ids()
    if ids.dtype.kind not in "US":
        return None
    root = data_root or os.getcwd()
    files = []
    for row in picks[:THUMBNAILS]:
        name = str(ids[row])
        path = name if os.path.isabs(name) else os.path.join(root, name)
        if not name.lower().endswith(IMAGE_EXTENSIONS) or not os.path.isfile(path):
            return None  # ids are not image files here: no grid rather than a partial one
        files.append((row, name, path))
    if not files:
        return None
    cols = min(8, len(files))
    rows_n = -(-len(files) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(1.6 * cols, 1.8 * rows_n), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (row, name, path) in zip(axes.ravel(), files):
        try:
            ax.imshow(plt.imread(path), cmap="gray")
        except Exception:
            ax.text(0.5, 0.5, "unreadable", ha="center", va="center", fontsize=7)
        ax.set_title(os.path.basename(name)[:18], fontsize=7)
    fig.suptitle(f"the first {len(files)} picks", fontsize=10)
    fig.tight_layout()
    path = _save(fig, directory, "thumbnails")
    plt.close(fig)
    return path


def write_report(pool, picks: np.ndarray, output: str, *, pick_scores: np.ndarray | None = None,
                 strategy: str | None = None, method: str = "pca", data_root: str | None = None,
                 seed: int = 0) -> list[str]:
    """Write the report HTML to ``output`` and its PNGs beside it; returns every path written."""
    from ..balance import balance_score
    from ..output import write_text
    from .figures import load_pyplot

    plt = load_pyplot("alselect report")
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise OutputError(f"-o: directory '{directory}' does not exist")
    names = pool.class_names() or [str(c) for c in range(pool.n_classes)]
    entropy, argmax = _entropy_and_argmax(pool)
    labeled = pool.labeled_rows()
    groups = {"pool": np.arange(pool.n_rows), "labeled": labeled, "picks": np.sort(picks)}
    written = []
    class_png, scores = _class_figure(plt, argmax, groups, names, directory)
    written.append(class_png)
    written.append(_score_figure(plt, entropy, groups, pick_scores, strategy, directory))
    written.append(_map_figure(plt, pool, groups, method, seed, directory))
    thumbs = _thumbnail_figure(plt, pool, picks, data_root, directory)
    if thumbs:
        written.append(thumbs)
    after = np.bincount(argmax[np.union1d(labeled, picks)], minlength=pool.n_classes)
    shown = [os.path.splitext(os.path.basename(path))[0] for path in written]
    captions = {"classes": "predicted-class distribution of pool, labeled set and picks",
                "scores": "uncertainty of the picks against the pool", "map": "2-D map of the embeddings",
                "thumbnails": "the first picks"}
    strategy_text = f" by <b>{html.escape(strategy)}</b>" if strategy else ""
    body = f"""<p>Pool <code>{html.escape(str(pool.path))}</code>: {pool.n_rows:,} samples, {pool.n_classes} classes;
{labeled.size:,} labeled; {picks.size:,} picks{strategy_text}.
L1 balance score of labeled + picks: <b>{balance_score(after):.4f}</b> (0 = uniform, 1 = one class).</p>
{table(["group", "samples", "L1 balance score (predicted classes)"],
       [(g, f"{groups[g].size:,}", scores[g]) for g in groups])}
{"".join(figure(directory, name, captions[name]) for name in shown)}"""
    write_text(output, page("alselect pick report", body))
    return written + [output]
