"""The ``alselect`` command line.

Data goes to stdout, messages and progress to stderr; ``-`` means stdin/stdout; errors are
one ``Error: ...`` line with exit status 1. Modules behind each command are imported inside
it, so ``alselect strategies`` never loads numba and ``alselect pick`` never loads torch.
"""

from __future__ import annotations

import errno
import json
import math
import os
import sys

import click

from . import __version__
from .errors import AlselectError, InternalError, InvalidInputError


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


#: Where an unexpected exception (a bug in alselect) should be reported.
BUG_REPORT = ("this is a bug in alselect; please report it on the alselect issue tracker with the command line, "
              "`alselect --version` and the traceback printed by `alselect --debug ...`")


def _debug_requested(ctx) -> bool:
    return bool(ctx.meta.get("alselect.debug")) or os.environ.get("ALSELECT_DEBUG", "") not in ("", "0")


def interrupted(exc: BaseException) -> click.ClickException:
    """What KeyboardInterrupt becomes at the CLI boundary (one place to change signal handling)."""
    return click.ClickException("interrupted")


class AlselectGroup(click.Group):
    """The CLI boundary: every library error becomes one ``Error:`` line with exit status 1.

    - :class:`~alselect.errors.AlselectError` (and ``OSError`` from the file system): the message.
    - click's usage errors (bad option values, unknown options): one ``Error:`` line pointing to
      ``--help``, status 1; ``SystemExit``: unchanged.
    - anything else is a bug in alselect: one line saying so and where to report it; the
      traceback only with ``alselect --debug`` or ``ALSELECT_DEBUG=1``.
    """

    def invoke(self, ctx):
        from .jit_cache import notify_compiles

        notify_compiles()  # one stderr line when a kernel compiles instead of loading from the cache
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:  # one Error line and status 1, like every other error
            where = exc.ctx.command_path if exc.ctx is not None else "alselect"
            raise click.ClickException(_one_line(f"{exc.format_message().rstrip('.')}; see `{where} --help`")) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except InternalError as exc:
            if _debug_requested(ctx):
                raise
            raise click.ClickException(_one_line(f"{exc}; {BUG_REPORT}")) from None
        except AlselectError as exc:
            if _debug_requested(ctx):
                raise
            raise click.ClickException(_one_line(exc)) from None
        except OSError as exc:
            if _debug_requested(ctx) or exc.errno == errno.EPIPE:
                raise  # EPIPE: the reader of stdout left (`| head`); click's main exits 1 quietly
            raise click.ClickException(_one_line(f"{exc.strerror or exc} ({exc.filename})" if exc.filename else exc)) from None
        except KeyboardInterrupt as exc:
            raise interrupted(exc) from None
        except Exception as exc:
            if _debug_requested(ctx):
                raise
            raise click.ClickException(
                _one_line(f"unexpected {type(exc).__name__}: {exc}; {BUG_REPORT}")) from None


def _set_debug(ctx, param, value):
    if value:
        ctx.meta["alselect.debug"] = True
    return value


@click.group(cls=AlselectGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="alselect")
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug,
              help="Show the full traceback of an unexpected error (also ALSELECT_DEBUG=1).")
def cli():
    """Decide which samples to label next.

    A pool file (HDF5, see docs/file-format.md) holds a model's outputs over the unlabeled
    pool; `alselect pick` reads it and prints the samples to label, one per line.
    """


def output_options(func):
    """Shared output options: -o/--output, --format."""
    func = click.option("-o", "--output", default="-", show_default=True, metavar="FILE",
                        help="Write here instead of stdout ('-'); a file is replaced atomically, a device or FIFO "
                             "written directly; never one of the inputs.")(func)
    func = click.option("--format", "fmt", type=click.Choice(["txt", "csv", "jsonl"]), default="txt",
                        show_default=True, help="txt: one per line (tab-separated columns); csv with header; jsonl.")(func)
    return func


def _progress_factory():
    from .progress import stderr_progress

    return stderr_progress


# --------------------------------------------------------------------------------------- pick
@cli.command()
@click.argument("pool", metavar="POOL")
@click.option("-s", "--strategy", required=True, help="Strategy name (see `alselect strategies`).")
@click.option("-b", "--budget", required=True, type=float, help="Number of samples to select (cost units with --budget-cost).")
@click.option("--labeled", "labeled_file", metavar="FILE|-", help="Extra already-labeled samples: one row number (id with --ids) per line; '-' reads stdin.")
@click.option("--seed", type=click.IntRange(min=0), help="Seed for randomised strategies and tie-breaking.")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="Strategy parameter (repeatable).")
@click.option("--ids", "use_ids", is_flag=True, help="Print sample ids instead of row numbers, and read --labeled as ids.")
@click.option("--with-scores", is_flag=True, help="Add each pick's score as a second column (full precision: the shortest repr that reads back exactly).")
@click.option("--budget-cost", is_flag=True, help="Spend --budget in the pool's annotation-cost units instead of samples.")
@click.option("--exclude-neighbors", type=click.IntRange(min=0), metavar="K",
              help="Video pools: never pick a frame within K frames of a labeled frame or an earlier pick (same video).")
@click.option("--per-video", is_flag=True,
              help="Video pools: at most ceil(budget / videos) picks per video before any video gets more.")
@click.option("--subset", type=click.IntRange(min=1), metavar="M",
              help="Run the strategy on a seeded random subset of M unlabeled samples only.")
@click.option("--dask", "dask_address", metavar="ADDRESS|local:W",
              help="Run on a Dask cluster: a scheduler address (tcp://HOST:8786) or local:W for W local workers; "
                   "each shard is read on a worker (needs the [dask] extra).")
@output_options
def pick(pool, strategy, budget, labeled_file, seed, params, use_ids, with_scores, budget_cost, exclude_neighbors,
         per_video, subset, output, fmt, dask_address=None):
    """Select samples to label from POOL ('-' reads the pool from stdin).

    Prints the picks one per line as 0-based row numbers (ids with --ids): in selection
    order for sequential strategies, by priority for ranking strategies. Samples labeled
    in the pool or listed in --labeled are never picked.

    \b
    Example:
      alselect pick pool.h5 --strategy entropy --budget 100 > to_label.txt
    """
    from .errors import SelectionError
    from .inputs import parse_rows, pool_source, read_lines
    from .output import format_rows, write_text
    from .pool import open_pool
    from .selection import select
    from .targets import check_output

    parsed: dict[str, str] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SelectionError(f"-p expects KEY=VALUE, got {item!r}")
        parsed[key.strip()] = value.strip()
    if labeled_file == "-" and pool == "-":
        raise SelectionError("POOL and --labeled cannot both read stdin ('-')")
    target = check_output(output, [("POOL", pool), ("--labeled", labeled_file)])
    with pool_source(pool) as (source, name), open_pool(source, name=name) as opened:
        labeled = None
        if labeled_file is not None:
            lines = read_lines(labeled_file, "--labeled")
            labeled = opened.rows_for_ids(lines, "--labeled") if use_ids else parse_rows(lines, "--labeled")
        import contextlib

        from .stdout_guard import stdout_to_stderr

        if dask_address is not None:
            from .distributed import connect
            from .distributed.select import check_supported

            check_supported(strategy, parsed)
            cluster = connect(dask_address)
        else:
            cluster = contextlib.nullcontext()
        # a native solver's banner (HiGHS for `balanced`) or a cluster's log must not reach stdout
        with stdout_to_stderr(), cluster as client:
            result = select(opened, strategy, budget if budget_cost else _count(budget), labeled=labeled,
                            seed=seed, budget_cost=budget_cost, progress=_progress_factory(),
                            exclude_neighbors=exclude_neighbors, per_video=per_video, subset=subset,
                            client=client, **parsed)
        keys = opened.ids()[result.indices] if use_ids else result.indices
        if not budget_cost:
            from .guard import budget_warning

            warning = budget_warning(opened, result.strategy, int(budget), labeled)
            if warning:
                click.echo(f"warning: {warning}", err=True)
    columns = ["id" if use_ids else "row"] + (["score"] if with_scores else [])
    rows = zip(keys, result.scores) if with_scores else ((k,) for k in keys)
    write_text(target, format_rows(columns, list(rows), fmt))
    for note in result.notes:
        click.echo(f"{strategy}: {note}", err=True)
    spent = f" (cost {result.cost:g})" if result.cost is not None else ""
    click.echo(f"selected {len(result)} samples with '{result.strategy}'{spent}", err=True)


def _count(budget: float):
    from .errors import SelectionError

    if not math.isfinite(budget) or budget <= 0:
        raise SelectionError(f"--budget must be > 0 and finite, got {budget:g}; pass a positive number of samples")
    if budget != int(budget):
        raise SelectionError(f"--budget counts samples and must be an integer, got {budget:g} (add --budget-cost for cost units)")
    return int(budget)


# ------------------------------------------------------------------------------- pseudo-label
@cli.command("pseudo-label")
@click.argument("pool", metavar="POOL")
@click.option("-k", "--count", required=True, type=click.IntRange(min=1), help="Number of pseudo-labels.")
@click.option("--by", type=click.Choice(["dispersion", "entropy"]), default="dispersion", show_default=True,
              help="dispersion: most stable per-epoch predictions; entropy: most certain probabilities.")
@click.option("--labeled", "labeled_file", metavar="FILE|-", help="Extra already-labeled samples (never returned).")
@click.option("--ids", "use_ids", is_flag=True, help="Print sample ids instead of row numbers, and read --labeled as ids.")
@click.option("--names", "use_names", is_flag=True, help="Print class names instead of class numbers.")
@click.option("--with-scores", is_flag=True, help="Add the dispersion or entropy of each sample as a third column.")
@output_options
def pseudo_label(pool, count, by, labeled_file, use_ids, use_names, with_scores, output, fmt):
    """The COUNT unlabeled samples of POOL with the most stable or certain predictions, and their
    predicted labels (thesis §3.5): pseudo-labels for training an auxiliary model.

    Prints one sample per line with its predicted class, most stable first. The pool is not
    changed: pseudo-labeled samples stay unlabeled.

    \b
    Example:
      alselect pseudo-label pool.h5 --count 500 --by dispersion --format csv -o pseudo.csv
    """
    from .inputs import parse_rows, read_lines
    from .output import format_rows, write_text
    from .pool import open_pool
    from .pseudo_label import pseudo_labels

    with open_pool(pool) as opened:
        labeled = None
        if labeled_file is not None:
            lines = read_lines(labeled_file, "--labeled")
            labeled = opened.rows_for_ids(lines, "--labeled") if use_ids else parse_rows(lines, "--labeled")
        result = pseudo_labels(opened, count, by=by, labeled=labeled, progress=_progress_factory())
        keys = opened.ids()[result.indices] if use_ids else result.indices
        labels = result.labels
        if use_names:
            names = opened.class_names()
            if names is None:
                raise InvalidInputError("--names: the pool has no class names; add them with `alselect pack ... "
                                        "--class-names NAMES.txt` or drop --names")
            labels = [names[i] for i in labels]
    columns = ["id" if use_ids else "row", "label"] + (["score"] if with_scores else [])
    rows = zip(keys, labels, result.scores) if with_scores else zip(keys, labels)
    write_text(output, format_rows(columns, list(rows), fmt))
    click.echo(f"{len(result)} pseudo-labels by {by} (the pool is unchanged)", err=True)


# --------------------------------------------------------------------------------------- pack
def _pack_options(func):
    """One option per dataset of the pool format table (alselect.pool.spec.DATASETS)."""
    from .pool.spec import DATASETS

    from .pool.spec import RENAMED_FLAGS, renamed_flag_message

    for spec in reversed([s for s in DATASETS.values() if s.flag]):
        func = click.option(spec.flag, spec.arg, metavar=spec.metavar, help=spec.help,
                            multiple=spec.source == "named-arrays")(func)

    def renamed(ctx, param, value):
        if value not in (None, ()):
            raise InvalidInputError(renamed_flag_message(param.opts[0]))

    for flag in RENAMED_FLAGS:  # earlier releases' spellings: one Error line naming the new option
        func = click.option(flag, hidden=True, expose_value=False, multiple=True, callback=renamed)(func)
    return func


@cli.command()
@click.option("-o", "--output", required=True, metavar="POOL.h5",
              help="Pool file to write (atomically; '-' streams it to stdout); a POOL.zarr path or a URL "
                   "writes a Zarr v3 store (needs the [zarr] extra).")
@_pack_options
@click.option("--motion-stride", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Pixels per motion-grid cell.")
def pack(output, motion_stride, **options):
    """Build a pool file from NumPy arrays (.npy, or FILE.npz:key).

    Every input may be '-' (stdin, for one of them), a pipe or a FIFO.

    \b
    Example:
      alselect pack -o pool.h5 --probs probs.npy --embeddings emb.npy --labeled labeled.txt
    """
    from .inputs import array_path, load_array, parse_ids, parse_rows, read_id_lines, read_lines
    from .pool import write_pool
    from .pool.spec import BY_ARG
    from .targets import check_output

    if options.get("probs") is None and options.get("logits") is None:
        raise InvalidInputError("pack needs --probs P.npy or --logits L.npy")
    given = [(BY_ARG[arg], value) for arg, value in options.items() if value is not None and value != ()]
    inputs = []
    for spec, value in given:
        if spec.source == "array":
            inputs.append((spec.flag, array_path(value)))
        elif spec.source == "named-arrays":
            inputs += [(f"{spec.flag} {item.partition('=')[0]}", array_path(item.partition("=")[2])) for item in value]
        else:
            inputs.append((spec.flag, value))
    stdin_users = [option for option, path in inputs if path == "-"]
    if len(stdin_users) > 1:
        raise InvalidInputError(f"only one input can read stdin ('-'); {', '.join(stdin_users)} all do")
    from .pool.zarr_store import is_url

    if output == "-" or not is_url(output):  # a URL (a Zarr store in object storage) is written in place
        check_output(output, inputs)
    if output == "-" and sys.stdout.isatty():
        raise InvalidInputError("pack -o - writes a binary HDF5 file to stdout, which is a terminal; "
                                "redirect it (> pool.h5) or pipe it into another command")
    arrays = {}
    for spec, value in given:
        if spec.source == "array":
            arrays[spec.arg] = load_array(value, spec.flag)
        elif spec.source == "named-arrays":
            arrays[spec.arg] = {}
            for item in value:
                name, sep, path = item.partition("=")
                if not sep or not name:
                    raise InvalidInputError(f"{spec.flag} expects {spec.metavar}, got {item!r}")
                arrays[spec.arg][name] = load_array(path, f"{spec.flag} {name}")
        elif spec.source == "rows":
            arrays[spec.arg] = parse_rows(read_lines(value, spec.flag), spec.flag)
        elif spec.source == "ids":
            arrays[spec.arg] = parse_ids(read_id_lines(value, spec.flag))
        else:
            arrays[spec.arg] = read_lines(value, spec.flag)
    write_pool(output, motion_stride=motion_stride, **arrays)
    click.echo("wrote the pool to stdout" if output == "-" else f"wrote {output}", err=True)


# ----------------------------------------------------------------------------------- manifest
@cli.command()
@click.argument("shards", nargs=-1, required=True, metavar="SHARD.h5...")
@click.option("-o", "--output", required=True, metavar="POOL.json",
              help="Manifest to write (atomically); shard paths are stored relative to its folder.")
@click.option("--labeled", "labeled_file", metavar="FILE|-",
              help="Pool-wide labeled rows (global row numbers, one per line) to record in the manifest.")
def manifest(shards, output, labeled_file):
    """Build the manifest of a sharded pool from SHARD.h5 files, in row order.

    Checks that every shard agrees with the first on format version, classes and datasets;
    row numbers of the sharded pool run through the shards in the order given. A shard may
    also be a Zarr store (SHARD.zarr, or a URL such as s3://bucket/shard.zarr), mixed with files.

    \b
    Example:
      alselect manifest -o pool.json shard-000.h5 shard-001.h5 shard-002.h5
      alselect pick pool.json --strategy kcenter --budget 1000 --dask local:2
    """
    from .inputs import parse_rows, read_lines
    from .pool.manifest import build_manifest

    labeled = None if labeled_file is None else parse_rows(read_lines(labeled_file, "--labeled"), "--labeled")
    built = build_manifest(output, list(shards), labeled=labeled)
    if built is not None:
        click.echo(f"wrote {output}: {len(built.shards)} shards, {built.n_rows} rows", err=True)


# ------------------------------------------------------------------------------------ inspect
@cli.command()
@click.argument("pool", metavar="POOL")
@click.option("--picks", "picks_file", metavar="FILE|-",
              help="Also report the class balance of this selection (one row, or id with --ids, per line).")
@click.option("--ids", "use_ids", is_flag=True, help="--picks holds sample ids.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--dask", "dask_address", metavar="ADDRESS|local:W",
              help="Check the shards' values in parallel on a Dask cluster: a scheduler address (tcp://HOST:8786) "
                   "or local:W (needs the [dask] extra).")
def inspect(pool, picks_file, use_ids, as_json, dask_address=None):
    """Describe POOL and validate every value in it (exit status 1 when invalid).

    With --picks, add the predicted-class histogram of the selection next to the pool's and
    the labeled set's, the true-class histogram when the pool has ground truth, and the
    normalised L1 balance score of each (0 = uniform, 1 = a single class).
    """
    from .inputs import pool_source
    from .inspect import balance_report, describe, render, render_balance

    if picks_file == "-" and pool == "-":
        raise InvalidInputError("POOL and --picks cannot both read stdin ('-')")
    import contextlib

    from .stdout_guard import stdout_to_stderr

    if dask_address is not None:
        from .distributed import connect

        cluster = connect(dask_address)
    else:
        cluster = contextlib.nullcontext()
    with pool_source(pool) as (source, name):
        with stdout_to_stderr(), cluster as client:  # a cluster's log must not reach stdout
            report = describe(source, progress=_progress_factory(), name=name, client=client)
        if picks_file is not None and not report["problems"]:
            from .pool import open_pool

            with open_pool(source, name=name) as opened:
                report["balance"] = balance_report(opened, _read_picks(opened, picks_file, use_ids))
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(render(report))
        if "balance" in report:
            click.echo(render_balance(report["balance"], report["class_names"]))
    if report["problems"]:
        raise click.ClickException(f"pool '{pool}' is invalid: {len(report['problems'])} problem(s) found (listed above)")


# -------------------------------------------------------------------------------------- score
def _read_picks(pool, picks_file: str, use_ids: bool):
    from .inputs import parse_rows, read_lines
    from .validation import check_row_indices

    lines = read_lines(picks_file, "--picks")
    rows = pool.rows_for_ids(lines, "--picks") if use_ids else parse_rows(lines, "--picks")
    check_row_indices("--picks", rows, pool.n_rows)  # range and duplicates; keeps the given order
    if rows.size == 0:
        raise InvalidInputError(f"--picks: '{picks_file}' lists no samples")
    return rows


def _renamed_lam(ctx, param, value):
    if value is not None:
        raise InvalidInputError("--lam was renamed --sr-lam (the lambda of R_sr, CDAL Eq. 5; "
                                "`-p lam` is the class-balance weight of the balanced strategies)")


@cli.command()
@click.argument("pool", metavar="POOL")
@click.option("--picks", "picks_file", required=True, metavar="FILE|-",
              help="The selection: one row number (id with --ids) per line, e.g. the output of `pick`.")
@click.option("--ids", "use_ids", is_flag=True, help="--picks holds sample ids.")
@click.option("--alpha", type=click.FloatRange(0, 1), default=0.75, show_default=True,
              help="Weight of R_cd in R = alpha R_cd + (1 - alpha)(R_vr + R_sr).")
@click.option("--sr-lam", type=float, help="lambda of R_sr (Eq. 5); R_sr is computed only when given.")
@click.option("--lam", hidden=True, expose_value=False, callback=_renamed_lam)
@click.option("--reduce", type=click.Choice(["sum", "mean"]), default="sum", show_default=True,
              help="CD over shared classes: sum (paper) or mean (released code).")
@click.option("--layout", type=click.Choice(["auto", "mixtures", "regions", "classification"]), default="auto",
              show_default=True, help="Where the class mixtures come from (as for cdal-cs).")
@click.option("--classes", default="", help="Restrict CD to these classes (names or indices, comma-separated).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def score(pool, picks_file, use_ids, alpha, sr_lam, reduce, layout, classes, as_json):
    """CDAL rewards of a selection: R_cd (Eq. 3), R_vr (Eq. 4), R_sr (Eq. 5) and their total.

    Use it to compare any two selections of the same pool, e.g. `cdal-cs` against `entropy`.
    R_vr needs embeddings in the pool; R_sr needs --sr-lam (and uses per-class region counts).
    """
    from . import cdal
    from .inputs import pool_source
    from .pool import open_pool
    from .stdout_guard import stdout_to_stderr
    from .strategies.contextual import load_cd_inputs, parse_classes

    if picks_file == "-" and pool == "-":
        raise InvalidInputError("POOL and --picks cannot both read stdin ('-')")
    # fd 1 points at stderr until the values are printed
    with stdout_to_stderr(), pool_source(pool) as (source, name), open_pool(source, name=name) as opened:
        picks = _read_picks(opened, picks_file, use_ids)
        inputs = load_cd_inputs(opened, layout)
        embeddings = opened.read("embeddings") if opened.has("embeddings") else None
        rewards = cdal.reward_total(inputs.mixtures, inputs.present, picks, embeddings=embeddings,
                                    counts=inputs.counts if sr_lam is not None else None, sr_lam=sr_lam,
                                    alpha=alpha, reduce=reduce, classes=parse_classes(classes, opened, inputs.layout))
    values = {"R_cd": rewards.r_cd, "R_vr": rewards.r_vr, "R_sr": rewards.r_sr, "R": rewards.total,
              "alpha": alpha, "picks": int(picks.size), "layout": inputs.layout}
    if as_json:
        click.echo(json.dumps(values))
        return
    for key in ("R_cd", "R_vr", "R_sr", "R"):
        value = values[key]
        click.echo(f"{key}\t{'n/a' if value is None else repr(float(value))}")
    if rewards.r_vr is None:
        click.echo("R_vr: the pool has no embeddings (counted as 0)", err=True)
    if rewards.r_sr is None:
        click.echo("R_sr: pass --sr-lam to compute it (counted as 0)", err=True)


# --------------------------------------------------------------------------------- strategies
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def strategies(as_json):
    """List every strategy: what it does, the pool data it needs, its parameters."""
    from .strategies import REGISTRY

    items = []
    for spec in REGISTRY.values():
        needs = list(spec.needs) + ([spec.extra_needs] if spec.extra_needs else [])
        items.append({
            "name": spec.name, "summary": spec.summary, "needs": needs, "order": spec.order,
            "randomized": spec.is_randomized({p.name: p.default for p in spec.params}) if not callable(spec.randomized)
            else "with some parameters", "reference": spec.reference,
            "params": [{"name": p.name, "default": p.default, "help": p.help,
                        **({"choices": list(p.choices)} if p.choices else {}),
                        **({"range": str(p.range)} if p.range else {})} for p in spec.params],
        })
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for item in items:
        flags = item["order"] + {True: ", randomized (--seed)", False: ""}.get(
            item["randomized"], f", randomized {item['randomized']} (--seed)")
        click.echo(f"{item['name']}: {item['summary']}")
        click.echo(f"    needs: {', '.join(item['needs']) or 'nothing'}; {flags}; {item['reference']}")
        for p in item["params"]:
            choices = f" [{'|'.join(map(str, p['choices']))}]" if "choices" in p else ""
            choices += f" ({p['range']})" if "range" in p else ""
            click.echo(f"    -p {p['name']}={p['default']!s}{choices}: {p['help']}")


# `infer` lives in the optional torch part; its module imports only click at load time.
from .infer.command import infer as _infer  # noqa: E402

cli.add_command(_infer)

# `simulate` imports scikit-learn, joblib (and matplotlib with --report) inside the command only.
from .simulate.command import simulate as _simulate  # noqa: E402

cli.add_command(_simulate)
# The labeling loop: `label`, and `export` / `push` / `pull` for labeling tools.
from .labeling.command import COMMANDS as _LABELING  # noqa: E402

for _command in _LABELING:
    cli.add_command(_command)


def main():
    from .interrupt import Interrupted, check, installed

    try:
        with installed():
            try:
                cli(prog_name="alselect")
            except SystemExit:
                check()  # a signal that came while the command finished still counts
                raise
    except Interrupted as exc:  # SIGINT / SIGTERM: temporary files are gone, nothing written
        from .tempfiles import remove_all

        remove_all()
        sys.stderr.write(f"Error: {exc}\n")
        sys.stderr.flush()
        # exit now: a normal interpreter exit would wait for solver threads still in C
        # (HiGHS joins or aborts on them in its destructors) and free every array first
        os._exit(exc.exit_status)


if __name__ == "__main__":
    main()
