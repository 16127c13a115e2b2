"""The ``alselect infer`` click command.

Only click is imported here; torch and everything that needs it is imported inside the
command body, so ``import alselect.cli`` and ``alselect pick`` never load torch.
"""

from __future__ import annotations

import click

from ..errors import require_extra


@click.command()
@click.option("--model", required=True, metavar="PKG.MODULE:FACTORY",
              help="Callable returning the torch.nn.Module (also path/to/file.py:FACTORY).")
@click.option("--weights", metavar="CKPT", help="Checkpoint: a state dict, or a dict with 'state_dict' or 'model' "
              "(loaded with torch.load(weights_only=True)).")
@click.option("--data", required=True, metavar="PKG.MODULE:FACTORY|DIR",
              help="Callable returning a Dataset/DataLoader yielding inputs or (inputs, ids) in pool order, "
                   "or a folder of .npy arrays (docs/infer.md).")
@click.option("-o", "--output", required=True, metavar="POOL.h5", help="Pool file to write (atomically).")
@click.option("--task", type=click.Choice(["classification", "segmentation", "detection"]), default="classification",
              show_default=True, help="What the model returns: (B, C) logits, (B, C, H, W) logits, or per-image boxes.")
@click.option("--embedding-layer", metavar="NAME", help="Module whose output is the embedding (default: the input "
              "of the last Linear; segmentation: of the last Conv2d).")
@click.option("--mc-samples", type=click.IntRange(min=0), default=0, show_default=True,
              help="MC-dropout passes written as mc_probs (N, T, C).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Batch size (ignored when --data returns a DataLoader).")
@click.option("--device", metavar="cuda|cpu", help="Device (default: cuda when available, else cpu).")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True,
              help="Forward-pass precision (autocast); probabilities are computed in float32.")
@click.option("--num-workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="DataLoader worker processes (ignored when --data returns a DataLoader).")
@click.option("--storage-dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True,
              help="Stored dtype of probs, mc_probs and embeddings.")
@click.option("--seed", type=click.IntRange(min=0), help="Seed torch (reproducible MC-dropout masks).")
@click.option("--update", is_flag=True, help="Replace the model outputs of an existing POOL.h5; its recorded epochs, "
              "labels, labeled set and labeling history are kept (they are kept without --update too, when "
              "POOL.h5 holds no model outputs yet).")
@click.option("--labels", "labels_file", metavar="Y.npy", help="Labels known so far (N,), -1 = unknown, in pool order.")
@click.option("--labeled", "labeled_file", metavar="FILE|-", help="Already-labeled rows, one row number per line.")
@click.option("--shard", metavar="I/N", help="Write only shard I of N (0-based): rows I*ceil(rows/N) onwards; "
              "list the shards in order with `alselect manifest`.")
def infer(model, weights, data, output, task, embedding_layer, mc_samples, batch_size, device, precision,
          num_workers, storage_dtype, seed, update=False, labels_file=None, labeled_file=None, shard=None):
    """Run a PyTorch model over the pool and write POOL.h5 (probs, embeddings, ids, ...).

    \b
    Example:
      alselect infer --model mypkg.models:resnet18 --weights ckpt.pt \\
          --data mypkg.data:unlabeled -o pool.h5 --mc-samples 20
    """
    from ..targets import check_output

    check_output(output, [("--weights", weights), ("--data", data), ("--labels", labels_file),
                          ("--labeled", labeled_file)])
    require_extra("torch", "torch", "`alselect infer`")
    from .run import run_infer
    from .shard import parse_shard

    shard = None if shard is None else parse_shard(shard)
    from ..inputs import load_array, parse_rows, read_lines

    labels = load_array(labels_file, "--labels") if labels_file else None
    labeled = parse_rows(read_lines(labeled_file, "--labeled"), "--labeled") if labeled_file else None

    stats = run_infer(model, data, output, weights=weights, task=task, embedding_layer=embedding_layer,
                      mc_samples=mc_samples, batch_size=batch_size, device=device, precision=precision,
                      num_workers=num_workers, storage_dtype=storage_dtype, seed=seed, shard=shard, update=update,
                      labels=labels, labeled=labeled)
    click.echo(f"wrote {stats.path}: {stats.n_rows} samples in {stats.seconds:.1f} s ({stats.rate:,.1f} samples/s); "
               f"datasets: {', '.join(stats.datasets)}", err=True)
