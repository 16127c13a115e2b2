"""``alselect inspect``: what a pool holds and every validation problem in it."""

from __future__ import annotations

import os

import numpy as np

from .errors import AlselectError
from .pool import open_pool
from .progress import no_progress


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def predicted_histogram(pool, progress=None) -> np.ndarray:
    """Count of rows per predicted class (argmax of probs, ties to the lowest class)."""
    counts = np.zeros(pool.n_classes, dtype=np.int64)
    for _, block in pool.iter_rows("probs", progress=progress):
        counts += np.bincount(np.argmax(block, axis=1), minlength=pool.n_classes)
    return counts


def describe(path: str, progress=None, *, name=None, client=None) -> dict:
    """Everything ``inspect`` prints, as a JSON-ready dict. Raises on pools that cannot be opened.

    ``name``: how to call the pool when ``path`` is a spooled copy (of stdin, a pipe).
    ``client``: a ``dask.distributed`` client; every shard's values are then checked on its
    workers (:mod:`alselect.distributed.inspect`), with the same report."""
    progress = progress or no_progress
    with open_pool(path, name=name) as pool:
        datasets = pool.listing()
        hist = None
        if client is not None:
            from .distributed.inspect import values

            with progress("validating on the cluster", pool.n_rows) as update:
                problems, counts = values(client, pool, progress=update)
            hist = None if counts is None else counts.tolist()
        else:
            with progress("validating", pool.validation_rows()) as update:
                problems = pool.problems(progress=update)
            try:
                hist = predicted_histogram(pool).tolist()
            except AlselectError:
                pass
        labeled = None
        try:
            labeled = int(pool.labeled_rows().size)
        except AlselectError:
            pass  # already listed in problems
        names = None
        try:
            names = pool.class_names()
        except AlselectError:
            pass
        names = names or [str(c) for c in range(pool.n_classes)]
        regions = None
        if pool.has("regions/offsets"):
            per = np.diff(pool.region_offsets())
            regions = {"total": int(per.sum()), "min": int(per.min()), "mean": float(per.mean()), "max": int(per.max()),
                       "extras": [n.split("/")[1] for n in ("regions/weights", "regions/features", "regions/boxes")
                                  if pool.has(n)]}
        history = None
        try:
            from .labeling.history import read_history

            history = read_history(pool).per_cycle() or None
        except AlselectError as exc:
            problems.append(str(exc))
        video = _video_report(pool)
        cd = None
        if pool.has("cd/present"):
            try:
                present = pool.read("cd/present").astype(bool)
                cd = {"mean_present": float(present.sum(1).mean()), "counts": pool.has("cd/counts")}
            except AlselectError:
                pass
        return {
            "path": pool.path,
            "size_bytes": pool.size_bytes() if hasattr(pool, "size_bytes") else os.path.getsize(pool.source),
            "format_version": pool.version,
            "created_by": pool.created_by(),
            "n_rows": pool.n_rows,
            "n_classes": pool.n_classes,
            "probs_source": "probs" if pool.stores("probs") else "logits (softmax)",
            "datasets": datasets,
            "scores": pool.score_names(),
            "labeled": labeled,
            "class_names": names,
            "predicted_histogram": hist,
            "regions": regions,
            "cd": cd,
            "history": history,
            "video": video,
            "problems": problems,
            **({"shards": [{"path": p, "start": a, "rows": r} for p, a, r in pool.shard_ranges()]}
               if hasattr(pool, "shard_ranges") else {}),
        }


def _video_report(pool) -> dict | None:
    """Videos, frames per video, tracked-box depth, motion grid and ground-truth boxes."""
    out = {}
    if pool.has("video/id"):
        ids = pool.read("video/id")
        _, per = np.unique(ids, return_counts=True)
        out.update(videos=int(per.size), frames_min=int(per.min()), frames_mean=float(per.mean()),
                   frames_max=int(per.max()))
    if pool.has("regions/tracks"):
        out["tracks_k"] = int(pool.shape("regions/tracks")[1] // 2)
    if pool.has("motion/forward"):
        out["motion_grid"] = list(pool.shape("motion/forward")[1:3])
        out["motion_stride"] = float(pool.file["motion/forward"].attrs.get("stride", 1.0))
    if pool.has("truth_boxes/boxes"):
        out["truth_boxes"] = int(pool.shape("truth_boxes/boxes")[0])
    out["detection"] = [n.split("/")[1] for n in ("regions/scores", "regions/classes") if pool.has(n)]
    return out if len(out) > 1 or out["detection"] else None


def render(report: dict) -> str:
    lines = [
        f"pool: {report['path']}  ({_human_bytes(report['size_bytes'])} on disk)",
        f"format: alselect-pool version {report['format_version']}  (created by {report['created_by'] or 'unknown'})",
        f"rows (N): {report['n_rows']}    classes (C): {report['n_classes']}    probabilities from: {report['probs_source']}",
        "datasets:",
    ]
    if report.get("shards"):
        sizes = [s["rows"] for s in report["shards"]]
        lines.insert(3, f"shards: {len(sizes)} (rows per shard min {min(sizes)} / max {max(sizes)}; see --json for the list)")
    width = max(len(d["name"]) for d in report["datasets"])
    for d in report["datasets"]:
        note = "" if d["known"] else f"   ({d['link']} link; not followed)" if d.get("link") else \
            "   (not part of the format; ignored)"
        lines.append(f"  {d['name']:<{width}}  {str(tuple(d['shape'])):<18} {d['dtype']}{note}")
    if report["labeled"] is not None:
        share = 100.0 * report["labeled"] / report["n_rows"]
        lines.append(f"labeled: {report['labeled']} of {report['n_rows']} ({share:.1f}%), "
                     f"unlabeled: {report['n_rows'] - report['labeled']}")
    if report.get("regions"):
        r = report["regions"]
        extras = f"; with {', '.join(r['extras'])}" if r["extras"] else ""
        lines.append(f"regions: {r['total']} in all, per sample min {r['min']} / mean {r['mean']:.1f} / max {r['max']}{extras}")
    if report.get("video"):
        v = report["video"]
        parts = []
        if "videos" in v:
            parts.append(f"{v['videos']} videos, frames per video min {v['frames_min']} / mean {v['frames_mean']:.1f} "
                         f"/ max {v['frames_max']}")
        if "tracks_k" in v:
            parts.append(f"tracked boxes {v['tracks_k']} frames each way")
        if "motion_grid" in v:
            parts.append(f"motion fields {v['motion_grid'][0]} x {v['motion_grid'][1]} cells of {v['motion_stride']:g} px")
        if "truth_boxes" in v:
            parts.append(f"{v['truth_boxes']} ground-truth boxes")
        if v["detection"]:
            parts.append(f"detections with {', '.join(v['detection'])}")
        lines.append("video: " + "; ".join(parts))
    if report.get("cd"):
        counts = ", per-class counts" if report["cd"]["counts"] else ""
        lines.append(f"class mixtures (cd/): {report['cd']['mean_present']:.2f} classes present per sample on average{counts}")
    if report.get("history"):
        import time

        lines.append("labeling history (alselect label / pull):")
        for h in report["history"]:
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(h["last"]))
            relabeled = f", {h['relabeled']} relabeled" if h["relabeled"] else ""
            lines.append(f"  cycle {h['cycle']}: {h['rows']} sample(s){relabeled}, {when} UTC")
    if report["predicted_histogram"] is not None:
        lines.append("predicted-class histogram (argmax of probs):")
        total = max(1, sum(report["predicted_histogram"]))
        top = max(report["predicted_histogram"]) or 1
        name_w = max(len(n) for n in report["class_names"])
        for name, count in zip(report["class_names"], report["predicted_histogram"]):
            bar = "#" * int(round(30 * count / top))
            lines.append(f"  {name:<{name_w}}  {count:>9}  {100.0 * count / total:5.1f}%  {bar}")
    if report["problems"]:
        lines.append(f"validation: {len(report['problems'])} problem(s):")
        lines += [f"  - {p}" for p in report["problems"]]
    else:
        lines.append("validation: OK")
    return "\n".join(lines)


def balance_report(pool, picks: np.ndarray) -> dict:
    """Class histograms of a selection next to the pool's and the labeled set's, with the
    normalised L1 balance score of thesis Eq. 4.10 (0 = uniform, 1 = a single class)."""
    from .balance import balance_score

    c = pool.n_classes
    predicted = np.empty(pool.n_rows, dtype=np.int64)
    for start, block in pool.iter_rows("probs"):
        predicted[start:start + block.shape[0]] = np.argmax(block, axis=1)
    labeled = pool.labeled_rows()
    groups = {"pool": np.arange(pool.n_rows), "labeled": labeled, "picks": picks,
              "labeled+picks": np.union1d(labeled, picks)}
    report = {"picks": int(picks.size), "predicted": {}, "true": None, "balance_score": {}}
    for name, rows in groups.items():
        counts = np.bincount(predicted[rows], minlength=c)
        report["predicted"][name] = counts.tolist()
        report["balance_score"][f"predicted_{name}"] = balance_score(counts) if rows.size else None
    if pool.has("truth"):
        truth = pool.read("truth")
        report["true"] = {}
        for name, rows in groups.items():
            known = truth[rows][truth[rows] >= 0]
            counts = np.bincount(known, minlength=c)
            report["true"][name] = counts.tolist()
            report["balance_score"][f"true_{name}"] = balance_score(counts) if known.size else None
    return report


def render_balance(report: dict, class_names: list[str]) -> str:
    kinds = [("predicted", "predicted class")] + ([("true", "true class")] if report["true"] else [])
    lines = [f"balance of the {report['picks']} picks (L1 balance score, Eq. 4.10: 0 = uniform, 1 = one class):"]
    width = max(len(n) for n in class_names + ["class"])
    for kind, title in kinds:
        hist = report[kind]
        lines.append(f"  {title} histogram:")
        groups = ("pool", "labeled", "picks", "labeled+picks")
        lines.append(f"    {'class':<{width}}" + "".join(f"  {g:>13}" for g in groups))
        for c, name in enumerate(class_names):
            lines.append(f"    {name:<{width}}" + "".join(f"  {hist[g][c]:>13}" for g in groups))
        scores = [report["balance_score"].get(f"{kind}_{g}") for g in groups]
        cells = "".join(f"  {'n/a' if s is None or s != s else format(s, '.4f'):>13}" for s in scores)
        lines.append(f"    {'L1 score':<{width}}{cells}")
    return "\n".join(lines)
