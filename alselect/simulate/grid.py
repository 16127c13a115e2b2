"""The grid of (strategy, seed) cells: run in parallel, appended to a results file, resumable.

Each finished cell's rows are appended to the results file in one write (CSV with a header, or
JSONL for a ``.jsonl`` name). A rerun reads the file first and skips cells whose rows are all
there with the same settings (the ``config`` column); a file written with other settings is an
error rather than a silent mix. Cells run in worker processes (joblib) when ``jobs > 1``; every
cell is deterministic, so the results do not depend on ``jobs`` or on the order cells finish.
"""

from __future__ import annotations

import csv
import json
import os

from ..errors import InvalidInputError, OutputError
from ..output import format_rows
from .loop import COLUMNS, METRICS, Data, Settings, run_cell

_INT = ("seed", "cycle", "labeled")
_FLOAT = METRICS + ("select_seconds", "train_seconds")


def _fmt(path: str) -> str:
    return "jsonl" if path.endswith(".jsonl") else "csv"


def _typed(row: dict) -> dict:
    out = dict(row)
    for key in _INT:
        out[key] = int(out[key])
    for key in _FLOAT:
        out[key] = float(out[key])
    out["class_counts"] = str(out["class_counts"])
    return out


def read_results(path: str) -> list[dict]:
    """Rows of an existing results file ([] when it does not exist); a torn last line is dropped."""
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, encoding="utf-8", newline="") as handle:
        if _fmt(path) == "jsonl":
            records = []
            for line in handle:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
        else:
            records = list(csv.DictReader(handle))
    for record in records:
        try:
            rows.append(_typed({key: record[key] for key in COLUMNS}))
        except (KeyError, TypeError, ValueError):
            if not set(COLUMNS) <= set(record):
                raise InvalidInputError(f"results file '{path}' is not an `alselect simulate` results table (its columns "
                                        f"are {', '.join(record)}); pass another --output") from None
    return rows


def finished_cells(rows: list[dict], config: str, cycles: int, path: str) -> set[tuple[str, int]]:
    other = {r["config"] for r in rows} - {config}
    if other:
        raise InvalidInputError(
            f"results file '{path}' holds a simulation with other settings (config {sorted(other)[0]}, this run is "
            f"{config}); pass another --output, or delete the file to start over")
    seen: dict[tuple[str, int], set[int]] = {}
    for r in rows:
        seen.setdefault((r["strategy"], r["seed"]), set()).add(r["cycle"])
    return {cell for cell, got in seen.items() if got >= set(range(cycles + 1))}


def append_results(path: str, rows: list[dict]) -> None:
    """Append one cell's rows in a single write (header first when the file is new)."""
    fmt = _fmt(path)
    # repr keeps every digit in CSV, so a resumed run summarises exactly what a fresh one would
    cells = [[repr(r[c]) if fmt == "csv" and isinstance(r[c], float) else r[c] for c in COLUMNS] for r in rows]
    text = format_rows(COLUMNS, cells, fmt)
    if fmt == "csv" and os.path.exists(path) and os.path.getsize(path) > 0:
        text = text.split("\n", 1)[1]
    try:
        with open(path, "a", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise OutputError(f"cannot append to results file '{path}': {exc.strerror or exc}") from None


def run_grid(data: Data, settings: Settings, strategies: list[str], seeds: list[int], *, output: str | None = None,
             jobs: int = 1, progress=None) -> tuple[list[dict], int]:
    """Run every missing cell; return (all rows of this configuration, number of cells skipped)."""
    config = settings.config_id(data)
    rows = read_results(output) if output else []
    done = finished_cells(rows, config, settings.cycles, output) if output else set()
    rows = [r for r in rows if (r["strategy"], r["seed"]) in done]
    todo = [(s, seed) for seed in seeds for s in strategies if (s, seed) not in done]
    if progress is None:
        from ..progress import no_progress as progress
    with progress("simulating (strategy x seed)", len(todo)) as update:
        if jobs > 1 and len(todo) > 1:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
                delayed(run_cell)(data, settings, s, seed) for s, seed in todo)
        else:
            results = (run_cell(data, settings, s, seed) for s, seed in todo)
        for cell in results:
            if output:
                append_results(output, cell)
            rows.extend(cell)
            update(1)
    wanted = {(s, seed) for s in strategies for seed in seeds}
    keep = [r for r in rows if (r["strategy"], r["seed"]) in wanted]
    return sorted(keep, key=lambda r: (r["strategy"], r["seed"], r["cycle"])), len(done & wanted)
