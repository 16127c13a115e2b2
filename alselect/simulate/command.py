"""The ``alselect simulate`` command (registered by :mod:`alselect.cli`)."""

from __future__ import annotations

import os

import click

from ..errors import InvalidInputError


def _strategy_list(text: str | None, model: str) -> list[str]:
    from ..strategies import REGISTRY, get_strategy
    from .loop import simulable

    if not text:
        return [name for name in REGISTRY if simulable(name, model)]
    names = [s.strip() for s in text.split(",") if s.strip()]
    for name in names:
        get_strategy(name)
        if not simulable(name, model):
            raise InvalidInputError(
                f"strategy '{name}' cannot be simulated: it needs data a simulation cannot produce "
                f"({', '.join(get_strategy(name).needs) or get_strategy(name).extra_needs}) or per-iteration predictions "
                f"the model {model!r} cannot give; drop it from --strategies")
    return list(dict.fromkeys(names))


def _strategy_params(items, names: list[str]) -> tuple:
    """``STRATEGY:KEY=VALUE`` items, checked against the strategies' parameters before any cell runs."""
    from ..strategies import get_strategy

    out = []
    for item in items:
        head, sep, value = item.partition("=")
        strategy, colon, key = head.partition(":")
        if not sep or not colon or not strategy.strip() or not key.strip():
            raise InvalidInputError(f"-p expects STRATEGY:KEY=VALUE (e.g. uwe:tau=2), got {item!r}")
        strategy, key = strategy.strip(), key.strip()
        if strategy not in names:
            raise InvalidInputError(f"-p {item!r}: strategy '{strategy}' is not among --strategies ({', '.join(names)})")
        get_strategy(strategy).parse_params({key: value.strip()})
        out.append((strategy, key, value.strip()))
    return tuple(sorted(out))


@click.command()
@click.argument("pool", metavar="POOL")
@click.option("--strategies", metavar="A,B,...", help="Strategies to compare (default: every strategy a simulation "
              "can feed); 'random' is always added as the baseline.")
@click.option("-b", "--budget", required=True, type=click.IntRange(min=1), help="Samples picked per cycle.")
@click.option("--cycles", default=5, show_default=True, type=click.IntRange(min=1), help="Active-learning cycles.")
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(min=1),
              help="Repetitions (seeds 0..S-1): split, initial set and model seed.")
@click.option("--initial", type=click.Choice(["random", "pool"]), default="random", show_default=True,
              help="Initial labeled set: random rows, or the pool's labeled rows.")
@click.option("--initial-size", type=click.IntRange(min=1), help="Size of a random initial set (default: --budget).")
@click.option("--test-fraction", default=0.2, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Share of the rows with known truth held out as the test set.")
@click.option("--metric", type=click.Choice(["accuracy", "balanced-accuracy", "macro-f1"]), default="accuracy",
              show_default=True, help="Metric of the summary, plots and guard (the results table has all three).")
@click.option("--model", default="logreg", show_default=True, metavar="NAME|pkg.mod:Class",
              help="Classifier retrained each cycle: logreg, linear-svm, or a scikit-learn estimator class.")
@click.option("--members", default=5, show_default=True, type=click.IntRange(min=2),
              help="Bootstrap ensemble size for strategies that need mc_probs.")
@click.option("--epochs", default=20, show_default=True, type=click.IntRange(min=2),
              help="Training iterations recorded for dispersion.")
@click.option("-p", "--param", "params", multiple=True, metavar="STRATEGY:KEY=VALUE",
              help="A strategy parameter, as `pick -p` (repeatable), e.g. uwe:tau=2.")
@click.option("-j", "--jobs", default=2, show_default=True, type=click.IntRange(min=1), help="Parallel worker processes.")
@click.option("-o", "--output", "results", metavar="FILE", help="Results table (.csv or .jsonl), appended per finished "
              "cell; a rerun skips finished cells (default: DIR/results.csv with --report).")
@click.option("--report", "report_dir", metavar="DIR", help="Write plots (PNG, SVG), tables and report.html here "
              "(needs the [plot] extra).")
@click.option("--no-record", is_flag=True, help="Do not record the low-budget guard in POOL.")
@click.option("--format", "fmt", type=click.Choice(["txt", "csv", "jsonl"]), default="txt", show_default=True,
              help="Format of the summary printed on stdout.")
def simulate(pool, strategies, budget, cycles, seeds, initial, initial_size, test_fraction, metric, model, members,
             epochs, params, jobs, results, report_dir, no_record, fmt):
    """Compare strategies on POOL by simulated active learning on its embeddings, labels revealed
    from its ground truth ('truth'), against random sampling.

    Each cycle trains a fresh classifier on the labeled embeddings, measures it on a held-out test
    set, picks --budget samples with each strategy and reveals their labels. Prints one summary
    row per strategy on stdout: area under the learning curve, final metric, paired difference to
    random with a 95% confidence interval over seeds, win/tie/loss, and the low-budget guard, which
    is recorded in POOL for `alselect pick` to warn below it.

    \b
    Example:
      alselect simulate pool.h5 --strategies entropy,kcenter,badge --budget 20 --cycles 5 --seeds 3 --report out/
    """
    from .. import guard as guards
    from .. import __version__
    from ..output import format_rows, write_text
    from ..pool import open_pool
    from ..progress import stderr_progress
    from . import models
    from .grid import run_grid
    from .loop import Settings, check_settings, load_data
    from .report import guard_sentence, write_report
    from .summary import summarize, table_rows

    if report_dir is not None:
        from ..plot import load_pyplot

        load_pyplot("simulate --report")
    if model not in models.BUILTIN:
        models.load_model_class(model)
    names = _strategy_list(strategies, model)
    if "random" not in names:
        names.insert(0, "random")
    settings = Settings(budget=budget, cycles=cycles, initial=initial, initial_size=initial_size or 0,
                        test_fraction=test_fraction, model=model, members=members, epochs=epochs,
                        params=_strategy_params(params, names))
    if results is not None:
        from ..targets import check_output

        check_output(results, [("POOL", pool)])
    with open_pool(pool) as opened:
        data = load_data(opened)
    check_settings(settings, data)
    if results is None and report_dir is not None:
        os.makedirs(report_dir, exist_ok=True)
        results = os.path.join(report_dir, "results.csv")
    from ..stdout_guard import stdout_to_stderr

    with stdout_to_stderr():  # solver banners from strategies (and worker processes) stay off stdout
        rows, skipped = run_grid(data, settings, names, list(range(seeds)), output=results, jobs=jobs,
                                 progress=stderr_progress)
    if skipped:
        click.echo(f"resumed: {skipped} finished cells read from {results}", err=True)
    key = metric.replace("-", "_")
    summary = summarize(rows, key, n_classes=data.n_classes)
    columns, table = table_rows(summary)
    text = format_rows(columns, table, fmt)
    write_text("-", "\t".join(columns) + "\n" + text if fmt == "txt" else text)
    click.echo(f"{metric}, {seeds} seeds, {cycles} cycles x {budget}: {guard_sentence(summary, data.n_classes)}", err=True)
    if "guard" in summary and not no_record:
        record = {**summary["guard"], "metric": key, "budget": budget, "cycles": cycles, "seeds": seeds,
                  "model": model, "initial": initial, "created_by": f"alselect {__version__} simulate"}
        try:
            guards.write_guard(pool, record)
            click.echo(f"recorded the low-budget guard in {pool}", err=True)
        except OSError as exc:
            click.echo(f"warning: could not record the guard in {pool} ({exc.strerror or exc}); pass --no-record "
                       "to skip", err=True)
    if report_dir is not None:
        settings_text = (f"{os.path.basename(pool)}: {data.truth.size} rows with known truth, {data.n_classes} classes; "
                         f"model {model}; initial set {initial} ({summary['labeled'][0]}), {cycles} cycles of {budget}; "
                         f"test fraction {test_fraction:g}; {seeds} seeds; metric {metric}.")
        files = write_report(report_dir, summary, rows, n_classes=data.n_classes, class_names=data.class_names,
                             title=f"alselect simulate: {os.path.basename(pool)}", settings_text=settings_text)
        click.echo(f"wrote {', '.join(files)} to {report_dir}", err=True)
    if results:
        click.echo(f"results table: {results}", err=True)
    else:
        click.echo("the results table was not saved (pass -o FILE to keep it and to resume an interrupted run)",
                   err=True)
