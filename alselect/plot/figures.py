"""Learning curves with confidence bands and class histograms, saved as PNG and SVG."""

from __future__ import annotations

import os

import numpy as np

from ..errors import require_extra

#: Colour-blind-safe qualitative palette (Okabe-Ito), random always first in black.
PALETTE = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#999999",
           "#882255", "#44AA99", "#117733", "#B8A100")
#: With more series than this, only the first (the baseline) gets a band: overlapping bands are unreadable.
MAX_BANDS = 4
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")


def load_pyplot(what: str = "--report"):
    """matplotlib.pyplot on the non-interactive Agg backend, or the one-line missing-extra error."""
    matplotlib = require_extra("matplotlib", "plot", what)
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, base: str) -> list[str]:
    paths = [base + ".png", base + ".svg"]
    fig.savefig(paths[0], dpi=120, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    return [os.path.basename(p) for p in paths]


def learning_curves(labeled, series: dict, base: str, *, ylabel: str, title: str = "",
                    guard: float | None = None, band_label: str = "95% CI over seeds", what: str = "--report") -> list[str]:
    """One line per strategy (mean) with a shaded band (mean ± half-width); ``series`` maps a name to
    (mean, half), the baseline first. With more than MAX_BANDS series only the baseline has a band.
    ``guard`` (a labeled count) draws a dotted vertical line. Returns the file names."""
    plt = load_pyplot(what)
    labeled = np.asarray(labeled, dtype=np.float64)
    all_bands = len(series) <= MAX_BANDS
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    for i, (name, (mean, half)) in enumerate(series.items()):
        mean, half = np.asarray(mean, dtype=np.float64), np.asarray(half, dtype=np.float64)
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(labeled, mean, marker=MARKERS[i % len(MARKERS)], markersize=4, lw=2 if i == 0 else 1.5,
                color=colour, label=name, zorder=3 if i == 0 else 2)
        if all_bands or i == 0:
            ax.fill_between(labeled, mean - half, mean + half, color=colour, alpha=0.12, lw=0)
    if guard is not None:
        ax.axvline(guard, color="#666666", ls=":", lw=1.2, label="low-budget guard")
    ax.set_xlabel("labeled samples")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    first = next(iter(series), "")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False,
              title=f"mean over seeds\nband: {band_label}" + ("" if all_bands else f"\n(shown for {first})"),
              title_fontsize=8, alignment="left")
    fig.tight_layout()
    names = _save(fig, base)
    plt.close(fig)
    return names


def class_histogram(counts: dict, base: str, *, class_names=None, title: str = "", what: str = "--report") -> list[str]:
    """Per strategy, the (mean) class counts of its labeled set: grouped bars for up to MAX_BANDS
    strategies, one small panel per strategy beyond. A dashed line marks a perfectly balanced set."""
    plt = load_pyplot(what)
    names = list(counts)
    C = len(next(iter(counts.values())))
    labels = list(class_names) if class_names is not None else [str(c) for c in range(C)]
    long_labels = max(len(s) for s in labels) > 3
    x = np.arange(C)
    uniform = float(np.mean([np.sum(v) for v in counts.values()])) / C

    def ticks(ax):
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=45 if long_labels else 0, ha="right" if long_labels else "center",
                           fontsize=8 if C > 12 else 9)
        ax.axhline(uniform, color="#666666", ls="--", lw=1)
        ax.grid(True, axis="y", alpha=0.3)

    if len(names) <= MAX_BANDS:
        width = 0.8 / len(names)
        fig, ax = plt.subplots(figsize=(min(11.0, max(7.5, 0.3 * C * len(names))), 4.2))
        for i, name in enumerate(names):
            ax.bar(x - 0.4 + width * (i + 0.5), counts[name], width, label=name, color=PALETTE[i % len(PALETTE)])
        ticks(ax)
        ax.set_xlabel("class")
        ax.set_ylabel("labeled samples (mean over seeds)")
        ax.legend(fontsize=9, ncol=len(names), loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
        if title:
            ax.set_title(title, fontsize=11)
    else:
        cols = 3
        rows = -(-len(names) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(11.0, 2.3 * rows + 0.6), sharey=True, squeeze=False)
        for i, ax in enumerate(axes.flat):
            if i >= len(names):
                ax.axis("off")
                continue
            ax.bar(x, counts[names[i]], 0.75, color=PALETTE[i % len(PALETTE)])
            ticks(ax)
            ax.set_title(names[i], fontsize=10)
        for ax in axes[:, 0]:
            ax.set_ylabel("labeled (mean)")
        if title:
            fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    out = _save(fig, base)
    plt.close(fig)
    return out
