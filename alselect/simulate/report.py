"""The ``--report DIR`` of ``alselect simulate``: learning curves (PNG, SVG), class histograms of
the final labeled sets (PNG, SVG), the summary tables (CSV) and one self-contained HTML page
(``report.html``: the PNGs are embedded, and link to the files beside it)."""

from __future__ import annotations

import html
import os

from ..errors import OutputError
from ..output import format_rows, write_text
from ..plot.html import figure, page, table
from .summary import cycle_rows, final_class_counts, table_rows

METRIC_LABELS = {"accuracy": "test accuracy", "balanced_accuracy": "test balanced accuracy",
                 "macro_f1": "test macro-F1"}


def guard_sentence(summary: dict, n_classes: int) -> str:
    g = summary.get("guard")
    if g is None:
        return "No guard: the run had no 'random' baseline to compare with."
    lpc = g["labels_per_class"]
    if not g["beaten"]:
        return (f"No strategy beat random (95% CI of the paired difference above 0) at any simulated budget up to "
                f"{lpc:.3g} labels per class ({lpc * n_classes:.0f} labels).")
    return (f"Random was not beaten below {lpc:.3g} labels per class ({lpc * n_classes:.0f} labels); from there on "
            f"at least one strategy beat it at every larger simulated budget.")


def write_report(directory: str, summary: dict, rows: list[dict], *, n_classes: int, class_names=None,
                 title: str = "", settings_text: str = "") -> list[str]:
    """Write the report files; return their names."""
    from ..plot import class_histogram, learning_curves, load_pyplot

    load_pyplot()  # the missing-extra error before anything is written
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"--report: cannot create directory '{directory}': {exc.strerror or exc}") from None
    metric = summary["metric"]
    series = {name: (e["mean"], e["half"]) for name, e in summary["strategies"].items()}
    g = summary.get("guard")
    guard_x = g["labels_per_class"] * n_classes if g and g["beaten"] else None
    files = learning_curves(summary["labeled"], series, os.path.join(directory, "curves"),
                            ylabel=METRIC_LABELS.get(metric, metric), title=title, guard=guard_x,
                            band_label=f"{summary['confidence']:.0%} CI over seeds")
    counts = final_class_counts(rows)
    counts = {name: counts[name] for name in summary["strategies"] if name in counts}
    files += class_histogram(counts, os.path.join(directory, "classes"), class_names=class_names,
                             title=f"class counts of the final labeled sets ({summary['labeled'][-1]} labels; dashed: balanced)")
    columns, summary_table = table_rows(summary)
    write_text(os.path.join(directory, "summary.csv"), format_rows(columns, summary_table, "csv"))
    ccolumns, ctable = cycle_rows(summary)
    write_text(os.path.join(directory, "cycles.csv"), format_rows(ccolumns, ctable, "csv"))
    files += ["summary.csv", "cycles.csv"]

    def image(name: str, alt: str) -> str:
        return figure(directory, name, alt, formats=("png", "svg"))

    name = title or "alselect simulate"
    body = f"""<p>{html.escape(settings_text)}</p>
<p class="guard"><b>Low-budget guard.</b> {html.escape(guard_sentence(summary, n_classes))}</p>
{image('curves', 'learning curves: mean over seeds with confidence bands')}
<h2>Summary per strategy</h2>
<p>aulc: area under the learning curve divided by the labeled range (the curve's mean {html.escape(metric)});
diff: paired difference to random over seeds with its {summary['confidence']:.0%} confidence interval;
wins/ties/losses: seeds on which the strategy is above/equal to/below random at the largest budget.
Full tables: <a href="summary.csv">summary.csv</a>, <a href="cycles.csv">cycles.csv</a>.</p>
{table(columns, summary_table)}
<h2>Per budget</h2>
{table(ccolumns, ctable)}
{image('classes', 'class counts of the final labeled sets')}"""
    page_text = page(name, body)
    write_text(os.path.join(directory, "report.html"), page_text)
    return files + ["report.html"]
