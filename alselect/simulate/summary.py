"""From the results table to the summary: per strategy and budget the mean and standard deviation
over seeds, the area under the learning curve, the paired difference to random with a confidence
interval over seeds, win/tie/loss counts, and the low-budget guard (:mod:`alselect.guard`).

- Area under the learning curve (AULC): the trapezoid area of a seed's curve over the labeled
  count, divided by the labeled range, so it reads as the curve's mean metric; reported as mean
  and standard deviation over seeds.
- Paired difference: strategy minus random on the same seed (same split, same initial set);
  mean and a two-sided Student-t interval over seeds (95% by default; none with one seed).
- Win/tie/loss per budget: seeds on which the strategy's metric is above, equal to (within 1e-12)
  or below random's.
- Cycle 0 (the shared initial set) is in the curves but not in the guard, where every strategy ties.
"""

from __future__ import annotations

import numpy as np

from .. import guard as guards
from ..errors import InvalidInputError

TIE = 1e-12
BASELINE = "random"


def _aulc(labeled: np.ndarray, curves: np.ndarray) -> np.ndarray:
    if labeled.size < 2:
        return curves[:, 0].copy()
    area = ((curves[:, 1:] + curves[:, :-1]) / 2 * np.diff(labeled)).sum(axis=1)
    return area / (labeled[-1] - labeled[0])


def curves_of(rows: list[dict], metric: str) -> tuple[np.ndarray, dict[str, dict[int, np.ndarray]]]:
    """(labeled counts per cycle, {strategy: {seed: curve}}) from result rows."""
    if not rows:
        raise InvalidInputError("no simulation results to summarise")
    cycles = max(r["cycle"] for r in rows) + 1
    labeled = np.full(cycles, -1, dtype=np.int64)
    out: dict[str, dict[int, np.ndarray]] = {}
    for r in rows:
        curve = out.setdefault(r["strategy"], {}).setdefault(r["seed"], np.full(cycles, np.nan))
        curve[r["cycle"]] = r[metric]
        labeled[r["cycle"]] = r["labeled"]
    return labeled, out


def summarize(rows: list[dict], metric: str = "accuracy", n_classes: int | None = None,
              confidence: float = 0.95) -> dict:
    """The summary dict behind the stdout table, the report and the guard record."""
    labeled, curves = curves_of(rows, metric)
    strategies = sorted(curves, key=lambda s: (s != BASELINE, s))
    out = {"metric": metric, "labeled": labeled.tolist(), "confidence": confidence, "strategies": {}}
    base = curves.get(BASELINE)
    for name in strategies:
        seeds = sorted(curves[name])
        M = np.stack([curves[name][s] for s in seeds])
        aulc = _aulc(labeled.astype(np.float64), M)
        entry = {"seeds": seeds, "mean": M.mean(0).tolist(), "std": M.std(0, ddof=1).tolist() if len(seeds) > 1
                 else [0.0] * labeled.size, "half": guards.half_width(M, confidence).tolist(),
                 "aulc_mean": float(aulc.mean()), "aulc_std": float(aulc.std(ddof=1)) if len(seeds) > 1 else 0.0}
        if base is not None and name != BASELINE:
            paired = [s for s in seeds if s in base]
            if paired:
                D = np.stack([curves[name][s] - base[s] for s in paired])
                half = guards.half_width(D, confidence)
                da = _aulc(labeled.astype(np.float64), D)
                da_half = float(guards.half_width(da[:, None], confidence)[0])
                entry.update({
                    "paired_seeds": paired,
                    "diff_mean": D.mean(0).tolist(), "diff_low": (D.mean(0) - half).tolist(),
                    "diff_high": (D.mean(0) + half).tolist(),
                    "aulc_diff": float(da.mean()), "aulc_diff_low": float(da.mean() - da_half),
                    "aulc_diff_high": float(da.mean() + da_half),
                    "wins": (D > TIE).sum(0).tolist(), "ties": (np.abs(D) <= TIE).sum(0).tolist(),
                    "losses": (D < -TIE).sum(0).tolist(),
                })
                if n_classes and labeled.size > 1:
                    entry["guard"] = guards.strategy_guard(labeled[1:], D[:, 1:], n_classes, confidence)
        out["strategies"][name] = entry
    if n_classes:
        per = {k: v["guard"] for k, v in out["strategies"].items() if "guard" in v}
        if per:
            out["guard"] = {**guards.overall_guard(per), "strategies": per}
    return out


def final_class_counts(rows: list[dict]) -> dict[str, np.ndarray]:
    """Per strategy: the mean over seeds of the final labeled set's class counts."""
    last = max(r["cycle"] for r in rows)
    acc: dict[str, list[np.ndarray]] = {}
    for r in rows:
        if r["cycle"] == last:
            acc.setdefault(r["strategy"], []).append(np.array(r["class_counts"].split(), dtype=np.float64))
    return {k: np.mean(v, axis=0) for k, v in acc.items()}


def table_rows(summary: dict) -> tuple[list[str], list[list]]:
    """One row per strategy: AULC, final metric, paired differences, the last budget's W/T/L, guard."""
    columns = ["strategy", "seeds", "aulc", "aulc_std", "aulc_diff", "aulc_diff_low", "aulc_diff_high",
               "final", "final_std", "final_diff", "final_diff_low", "final_diff_high", "final_wins",
               "final_ties", "final_losses", "guard_labels_per_class", "beats_random"]
    out = []
    for name, e in summary["strategies"].items():
        g = e.get("guard")
        out.append([name, len(e["seeds"]), e["aulc_mean"], e["aulc_std"], e.get("aulc_diff", ""),
                    e.get("aulc_diff_low", ""), e.get("aulc_diff_high", ""), e["mean"][-1], e["std"][-1],
                    e["diff_mean"][-1] if "diff_mean" in e else "", e["diff_low"][-1] if "diff_low" in e else "",
                    e["diff_high"][-1] if "diff_high" in e else "", e["wins"][-1] if "wins" in e else "",
                    e["ties"][-1] if "ties" in e else "", e["losses"][-1] if "losses" in e else "",
                    g["labels_per_class"] if g else "", ("yes" if g["beaten"] else "no") if g else ""])
    return columns, out


def cycle_rows(summary: dict) -> tuple[list[str], list[list]]:
    """One row per strategy and budget (the per-budget view of the report)."""
    columns = ["strategy", "cycle", "labeled", "mean", "std", "diff", "diff_low", "diff_high", "wins", "ties", "losses"]
    out = []
    for name, e in summary["strategies"].items():
        for k, n in enumerate(summary["labeled"]):
            out.append([name, k, n, e["mean"][k], e["std"][k]] + [e[key][k] if key in e else "" for key in
                                                                  ("diff_mean", "diff_low", "diff_high", "wins",
                                                                   "ties", "losses")])
    return columns, out
