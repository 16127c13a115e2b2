"""The labeling-loop commands: ``label``, and ``export``/``push``/``pull label-studio``.

Only click is imported at load time; the SDK is imported by ``push`` and ``pull`` alone.
"""

from __future__ import annotations

import json

import click


def _summary(report, pool: str) -> str:
    if not report.changed and not report.repaired:
        return f"{pool}: nothing changed ({report.unchanged} sample(s) already labeled so)"
    parts = [f"{report.changed} newly labeled" if not report.relabeled else
             f"{report.changed - report.relabeled} newly labeled, {report.relabeled} relabeled"]
    if report.unchanged:
        parts.append(f"{report.unchanged} already so")
    if report.repaired:
        parts.append(f"{report.repaired} label(s) restored from the history")
    return f"{pool}: cycle {report.cycle}: " + ", ".join(parts)


@click.command("label")
@click.argument("pool", metavar="POOL")
@click.option("--from", "source", required=True, metavar="FILE|-",
              help="CSV (header id|row, label|class) or JSONL of labels; '-' reads stdin.")
@click.option("--overwrite", is_flag=True, help="Relabel samples that already have a different label.")
@click.option("--cycle", type=click.IntRange(min=1), help="Record the labels under this cycle (default: the next).")
def label(pool, source, overwrite, cycle):
    """Mark samples of POOL labeled with their labels, in place and crash-safely.

    Unknown ids, rows or class names, and conflicting relabels (without --overwrite) are
    refused before anything is written. Every change is recorded in the pool's labeling
    history with its cycle and time (`alselect inspect` lists it).

    \b
    Example:
      printf 'id,class\\nimg7.png,cat\\n' | alselect label pool.h5 --from -
    """
    from ..inputs import read_text
    from .history import apply_labels
    from .sources import parse_label_text

    entries = parse_label_text(read_text(source, "--from"), "--from")
    report = apply_labels(pool, entries, overwrite=overwrite, cycle=cycle)
    click.echo(_summary(report, pool), err=True)


def _server_options(func, project_required: bool = True):
    func = click.option("--project", type=click.IntRange(min=1), required=project_required,
                        help="Label Studio project id.")(func)
    func = click.option("--url", required=True, help="Label Studio server, e.g. http://localhost:8080.")(func)
    return func


def _task_options(func):
    for option in reversed([
        click.option("--picks", "picks_file", required=True, metavar="FILE|-",
                     help="The output of `alselect pick` (txt, csv or jsonl; scores are kept)."),
        click.option("--ids", "use_ids", is_flag=True, help="A txt --picks list holds sample ids."),
        click.option("--data-root", metavar="URL|DIR", help="Samples are DATA_ROOT/<id> (a URL, or a local folder "
                     "served by Label Studio's local-files storage)."),
        click.option("--document-root", default="/", show_default=True, metavar="DIR",
                     help="LOCAL_FILES_DOCUMENT_ROOT of the Label Studio server (for a local --data-root)."),
        click.option("--data", "mapping_file", metavar="FILE", help="CSV (id,url) or JSONL mapping of ids to URLs."),
        click.option("--image-size", metavar="WxH", help="Image size in pixels, for box pre-annotations."),
        click.option("--strategy", help="Strategy name to record in each task's meta."),
    ]):
        func = option(func)
    return func


def _tasks(pool, picks_file, use_ids, data_root, document_root, mapping_file, image_size, strategy):
    from ..errors import InvalidInputError
    from ..inputs import read_text
    from ..pool import open_pool
    from .label_studio import build_tasks, parse_picks, read_mapping

    if data_root is not None and mapping_file is not None:
        raise InvalidInputError("give either --data-root or --data, not both")
    size = None
    if image_size is not None:
        w, sep, h = image_size.lower().partition("x")
        if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
            raise InvalidInputError(f"--image-size expects WIDTHxHEIGHT in pixels, e.g. 1280x720, got {image_size!r}")
        size = (int(w), int(h))
    mapping = read_mapping(read_text(mapping_file, "--data")) if mapping_file else None
    with open_pool(pool) as opened:
        picks = parse_picks(read_text(picks_file, "--picks"), opened, use_ids=use_ids, strategy=strategy)
        return build_tasks(opened, picks, data_root=data_root, mapping=mapping, document_root=document_root,
                           image_size=size), opened.class_names(), opened.has("regions/boxes")


@click.group("export")
def export():
    """Write picks in a labeling tool's import format."""


@export.command("label-studio")
@click.argument("pool", metavar="POOL")
@_task_options
@click.option("-o", "--output", default="-", show_default=True, metavar="FILE",
              help="Task JSON file ('-' = stdout); written atomically.")
@click.option("--config", "config_file", metavar="FILE", help="Also write a matching labeling configuration (XML).")
def export_label_studio(pool, picks_file, use_ids, data_root, document_root, mapping_file, image_size, strategy,
                        output, config_file):
    """Label Studio task JSON for the picks of POOL, with the pool's predictions as pre-annotations.

    \b
    Example:
      alselect pick pool.h5 -s entropy -b 100 --with-scores > picks.txt
      alselect export label-studio pool.h5 --picks picks.txt --data-root https://data.example/img -o tasks.json
    """
    from ..output import write_text
    from .label_studio import label_config

    tasks, names, boxes = _tasks(pool, picks_file, use_ids, data_root, document_root, mapping_file, image_size,
                                 strategy)
    if config_file:
        write_text(config_file, label_config(names or [], boxes=boxes) + "\n")
    write_text(output, json.dumps(tasks, indent=1) + "\n")
    click.echo(f"wrote {len(tasks)} Label Studio tasks", err=True)


@click.group("push")
def push():
    """Send picks to a labeling tool."""


@push.command("label-studio")
@click.argument("pool", metavar="POOL")
@_task_options
@lambda func: _server_options(func, project_required=False)
@click.option("--new-project", metavar="TITLE", help="Create a project for the pool's classes (instead of "
              "--project) and print its id on stdout.")
def push_label_studio(pool, picks_file, use_ids, data_root, document_root, mapping_file, image_size, strategy,
                      url, project, new_project):
    """Create Label Studio tasks for the picks of POOL (token: $LABEL_STUDIO_API_KEY).

    Idempotent: picks already in the project (matched by sample id) are skipped.

    
    Example:
      PROJECT=$(alselect push label-studio pool.h5 --picks p.txt --url URL --new-project c1)
    """
    from ..errors import InvalidInputError
    from .label_studio import connect, create_project, push as push_tasks, require_classes

    if (project is None) == (new_project is None):
        raise InvalidInputError("give either --project ID or --new-project TITLE")
    tasks, names, boxes = _tasks(pool, picks_file, use_ids, data_root, document_root, mapping_file, image_size,
                                 strategy)
    client = connect(url)
    if new_project is not None:
        if names is None:
            from ..pool import open_pool

            with open_pool(pool) as opened:
                require_classes(opened)
        project = create_project(client, new_project, names, boxes=boxes)
    created, skipped = push_tasks(client, project, tasks)
    click.echo(f"project {project}: created {created} task(s), {skipped} already there", err=True)
    if new_project is not None:
        click.echo(project)


@click.group("pull")
def pull():
    """Bring annotations from a labeling tool back into the pool."""


@pull.command("label-studio")
@click.argument("pool", metavar="POOL")
@_server_options
@click.option("--overwrite", is_flag=True, help="Relabel samples whose pool label differs from the annotation.")
@click.option("--cycle", type=click.IntRange(min=1), help="Record the labels under this cycle (default: the next).")
def pull_label_studio(pool, url, project, overwrite, cycle):
    """Write the finished annotations of a Label Studio project into POOL (as `alselect label`)."""
    from .history import apply_labels
    from .label_studio import connect, pull_entries

    entries, unfinished = pull_entries(connect(url), project)
    if not entries:
        click.echo(f"project {project}: no finished annotations yet ({unfinished} task(s) waiting)", err=True)
        return
    report = apply_labels(pool, entries, overwrite=overwrite, cycle=cycle, what=f"Label Studio project {project}")
    click.echo(_summary(report, pool) + (f"; {unfinished} task(s) not yet annotated" if unfinished else ""), err=True)


@click.command("report")
@click.argument("pool", metavar="POOL")
@click.option("--picks", "picks_file", required=True, metavar="FILE|-",
              help="The output of `alselect pick` (txt, csv or jsonl; scores are kept).")
@click.option("--ids", "use_ids", is_flag=True, help="A txt --picks list holds sample ids.")
@click.option("-o", "--output", required=True, metavar="REPORT.html",
              help="The HTML page; its PNGs are written beside it.")
@click.option("--strategy", help="Strategy name shown in the report.")
@click.option("--map", "method", type=click.Choice(["pca", "umap"]), default="pca", show_default=True,
              help="2-D map of the embeddings (umap needs umap-learn).")
@click.option("--data-root", metavar="DIR", help="Folder the image ids are relative to (thumbnails).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the map's sample.")
def report(pool, picks_file, use_ids, output, strategy, method, data_root, seed):
    """A visual check of a batch of picks: class balance, uncertainty, embedding map, thumbnails.

    Needs the optional plot extra (pip install 'alselect[plot]').

    \b
    Example:
      alselect pick pool.h5 -s badge -b 200 --with-scores > picks.txt
      alselect report pool.h5 --picks picks.txt --strategy badge -o report.html
    """
    from ..errors import require_extra
    from ..inputs import read_text
    from ..pool import open_pool
    from .label_studio import parse_picks

    require_extra("matplotlib", "plot", "alselect report")
    from ..plot.pick_report import write_report

    with open_pool(pool) as opened:
        picks = parse_picks(read_text(picks_file, "--picks"), opened, use_ids=use_ids)
        written = write_report(opened, picks.rows, output, pick_scores=picks.scores, strategy=strategy,
                               method=method, data_root=data_root, seed=seed)
    click.echo(f"wrote {output} and {len(written) - 1} PNG(s) beside it", err=True)


COMMANDS = (label, export, push, pull, report)
