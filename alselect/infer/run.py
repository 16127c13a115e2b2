"""The `alselect infer` pipeline: model over data, summaries on the device, rows streamed to disk.

Per batch the main thread moves the inputs to the device (non-blocking from pinned memory),
runs the forward pass(es) under ``torch.inference_mode`` and autocast, reduces the outputs
to per-sample summaries on the device, starts their copy into pinned host memory and hands
them to the writer thread (:mod:`alselect.infer.sink`) without waiting for the copy. The
pool is written to a temporary file and renamed into place only when complete.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .. import validation as checks
from ..pool.writer import PoolWriter
from ..errors import PoolValueError
from . import summaries
from .device import autocast, resolve_device
from .errors import InferError
from .factories import _first_line, build_loader, build_model, expected_rows, shuffles
from .hooks import EmbeddingHook, dropout_modules, mc_dropout, resolve_layer
from .progress import Throughput
from .sink import AsyncSink, Packet, PoolSink

TASKS = ("classification", "segmentation", "detection")
#: Batches in flight between the device and the writer thread.
QUEUE_DEPTH = 4


@dataclass
class InferStats:
    path: str
    n_rows: int
    seconds: float
    datasets: list[str]

    @property
    def rate(self) -> float:
        return self.n_rows / self.seconds if self.seconds > 0 else float("inf")


def _int_column(values, what: str, batch: int) -> np.ndarray:
    if isinstance(values, torch.Tensor) and not values.dtype.is_floating_point and values.dtype != torch.bool \
            and values.ndim == 1 and len(values) == batch:
        return values.cpu().numpy().astype(np.int64)
    raise InferError(
        f"the data yields {what} of type {type(values).__name__}; with 4-element items (inputs, ids, video, frame) "
        f"the video ids and frame numbers must be integers, one per sample"
    )


def split_video(batch):
    """(batch without video columns, (video ids, frames) or None) of a collated batch.

    Items ``(inputs, ids, video, frame)`` carry the video structure of video pools."""
    if isinstance(batch, (list, tuple)) and len(batch) == 4:
        inputs, ids, video, frame = batch
        b = int(inputs.shape[0]) if isinstance(inputs, torch.Tensor) else len(video)
        return [inputs, ids], (_int_column(video, "video ids", b), _int_column(frame, "frame numbers", b))
    return batch, None


def split_batch(batch):
    """(inputs, ids or None) from a collated batch; ids become an int64 or str ndarray."""
    ids = None
    if isinstance(batch, (list, tuple)):
        if len(batch) == 1:
            batch = batch[0]
        elif len(batch) == 2:
            batch, ids = batch
        else:
            raise InferError(
                f"each data item must be inputs, a pair (inputs, ids), or (inputs, ids, video, frame); got a "
                f"{type(batch).__name__} of {len(batch)} elements (wrap the dataset to drop labels/targets)"
            )
    if not isinstance(batch, torch.Tensor):
        raise InferError(
            f"the data yields {type(batch).__name__} inputs; each item must be a tensor or array, or a pair "
            "(inputs, ids)"
        )
    if ids is not None:
        if isinstance(ids, torch.Tensor):
            if ids.dtype.is_floating_point or ids.dtype == torch.bool or ids.ndim != 1:
                raise InferError(
                    f"the data yields ids of dtype {ids.dtype} and shape {tuple(ids.shape)}; ids must be integers or "
                    "strings, one per sample (the second element of each item is taken as its id)"
                )
            ids = ids.cpu().numpy().astype(np.int64)
        elif isinstance(ids, (list, tuple)) and all(isinstance(v, str) for v in ids):
            ids = np.array(ids, dtype=object)
        else:
            raise InferError(
                f"the data yields ids of type {type(ids).__name__}; ids must be integers or strings (the second "
                "element of each item is taken as its id)"
            )
        if len(ids) != batch.shape[0]:
            raise InferError(f"a batch has {batch.shape[0]} inputs but {len(ids)} ids")
    return batch, ids


def _to_host(tensors: dict, device: torch.device) -> dict:
    """Start non-blocking device-to-host copies into pinned memory (plain detach on CPU)."""
    if device.type != "cuda":
        return {k: v.detach() for k, v in tensors.items()}
    out = {}
    for name, value in tensors.items():
        host = torch.empty(value.shape, dtype=value.dtype, pin_memory=True)
        host.copy_(value, non_blocking=True)
        out[name] = host
    return out


def _as_loader(data, batch_size: int, num_workers: int, device: torch.device) -> DataLoader:
    if isinstance(data, str):
        return build_loader(data, batch_size=batch_size, num_workers=num_workers, device=device)
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                          pin_memory=device.type == "cuda")
    raise InferError(f"data must be a factory spec, a Dataset or a DataLoader, got {type(data).__name__}")


def run_infer(model, data, output, *, weights: str | None = None, task: str = "classification",
              embedding_layer: str | None = None, mc_samples: int = 0, batch_size: int = 64,
              device: str | None = None, precision: str = "fp32", num_workers: int = 0,
              storage_dtype: str = "float32", seed: int | None = None, progress: bool | None = None,
              queue_depth: int = QUEUE_DEPTH, shard: tuple[int, int] | None = None, update: bool = False,
              labels=None, labeled=None) -> InferStats:
    """Run ``model`` over ``data`` and write the pool file ``output`` (atomically).

    An existing ``output`` keeps its loop state (recorded epochs, labels, labeled set, labeling
    history, ...; see :mod:`alselect.infer.carry`); one that already holds model outputs is
    refused unless ``update``. ``labels`` ((N,) class indices, -1 = unknown) and ``labeled``
    (row numbers) are written as given instead of being kept.

    Parameters
    ----------
    model : str or nn.Module
        ``PKG.MODULE:FACTORY`` (or ``file.py:FACTORY``) of a callable returning an ``nn.Module``,
        or the module itself.
    data : str, Dataset or DataLoader
        ``PKG.MODULE:FACTORY`` returning a Dataset/DataLoader, a folder of ``.npy`` arrays, or
        the object itself. Items are inputs or (inputs, ids), in pool row order.
    output : path
        Pool file to write.
    weights : str, optional
        Checkpoint loaded with ``torch.load(weights_only=True)``.
    task : {"classification", "segmentation", "detection"}
    embedding_layer : str, optional
        Module name (as in ``model.named_modules()``) whose output is the embedding.
    mc_samples : int
        Monte-Carlo-dropout passes written as ``mc_probs`` (N, T, C) (classification only).
    storage_dtype : {"float32", "float16"}
        Storage dtype of ``probs``, ``mc_probs`` and ``embeddings``.
    seed : int, optional
        Seeds torch's generator (reproducible MC-dropout masks).
    progress : bool, optional
        Draw the throughput line on stderr (default: when stderr is a terminal).
    shard : (I, N), optional
        Write only shard I of N (0-based) of the data's rows (alselect.infer.shard).

    Returns
    -------
    InferStats
    """
    if task not in TASKS:
        raise InferError(f"--task {task!r} is not one of: {', '.join(TASKS)}")
    if mc_samples < 0:
        raise InferError(f"--mc-samples must be >= 0, got {mc_samples}")
    if mc_samples and task != "classification":
        raise InferError(f"--mc-samples is supported for --task classification only (got --task {task})")
    if storage_dtype not in ("float32", "float16"):
        raise InferError(f"--storage-dtype must be float32 or float16, got {storage_dtype!r}")
    from ..pool.zarr_store import is_zarr_path

    if is_zarr_path(output):
        raise InferError(f"-o {output}: infer writes HDF5 pool files (-o POOL.h5); Zarr stores are written by "
                         "`alselect pack -o POOL.zarr` or `alselect.write_pool`, and a manifest may list both kinds")
    dev = resolve_device(device)
    forward_ctx = autocast(dev, precision)  # validates the precision before any work
    if seed is not None:
        torch.manual_seed(seed)
    if isinstance(model, str):
        net = build_model(model, weights, dev)
    elif isinstance(model, nn.Module):
        net = model.to(dev).eval()
    else:
        raise InferError(f"model must be a factory spec or an nn.Module, got {type(model).__name__}")
    if mc_samples and not dropout_modules(net):
        raise InferError("--mc-samples needs dropout layers (torch.nn.Dropout and friends), but the model has none")
    loader = _as_loader(data, batch_size, num_workers, dev)
    if shard is not None:
        from .shard import shard_loader

        loader = shard_loader(loader, *shard)
    n_rows = expected_rows(loader)
    if n_rows == 0:
        raise InferError("the data is empty (len() is 0); a pool needs at least one sample")

    layer = resolve_layer(net, embedding_layer, task) if (task != "detection" or embedding_layer) else None
    hook = EmbeddingHook(*layer) if layer is not None else None
    store = np.dtype(storage_dtype)
    dtypes = {"probs": store, "mc_probs": store, "embeddings": store}
    meter = Throughput(n_rows, enabled=progress)
    # PoolWriter wants N > 0 up front; with unknown N every row dataset is growable instead.
    from .carry import copy_into, plan

    carry = plan(output, update=update, writes=tuple(name for name, value in (("labels", labels), ("labeled", labeled))
                                                      if value is not None))
    writer = PoolWriter(output, n_rows or 1)
    sink = None
    all_ids: list[np.ndarray] = []
    all_video: list[tuple] = []
    rows = 0
    regions = 0
    try:
        sink = AsyncSink(PoolSink(writer, n_rows, dtypes), depth=queue_depth)
        with torch.inference_mode():
            batches = iter(loader)
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except InferError:
                    raise
                except Exception as exc:
                    raise InferError(f"reading the data failed after {rows} samples ({_first_line(exc)})") from exc
                batch, video = split_video(batch)
                inputs, ids = split_batch(batch)
                if (video is None) != (not all_video) and rows > 0:
                    raise InferError("some batches yield video ids and others do not; yield (inputs, ids, video, "
                                     "frame) for every item")
                b = int(inputs.shape[0])
                if rows == 0 and ids is None and shuffles(loader):
                    raise InferError(
                        "the DataLoader shuffles (RandomSampler) and yields no ids, so pool rows could not be "
                        "traced back to samples; use shuffle=False or yield (inputs, ids)"
                    )
                if (ids is None) != (not all_ids) and rows > 0:
                    raise InferError("some batches yield ids and others do not; yield (inputs, ids) for every item")
                inputs = inputs.to(dev, non_blocking=True)
                with forward_ctx:
                    out = _forward(net, inputs, rows)
                packet_rows, ragged = {}, {}
                if task == "detection":
                    packet_rows, ragged, counts = summaries.detection(out, b)
                    offsets = regions + np.cumsum(counts, dtype=np.int64)
                    regions = int(offsets[-1]) if len(offsets) else regions
                    packet_rows = dict(packet_rows)
                else:
                    logits = summaries.logits_of(out, task, b)
                    if task == "classification":
                        packet_rows["probs"] = summaries.softmax32(logits)
                    else:
                        packet_rows.update(summaries.segmentation(logits))
                if hook is not None:
                    packet_rows["embeddings"] = hook.take(b)
                if mc_samples:
                    with mc_dropout(net):
                        if hook is not None:
                            hook.enabled = False
                        samples = []
                        for _ in range(mc_samples):
                            with forward_ctx:
                                samples.append(summaries.softmax32(summaries.logits_of(_forward(net, inputs, rows), task, b)))
                        if hook is not None:
                            hook.enabled = True
                    packet_rows["mc_probs"] = torch.stack(samples, dim=1)
                host = _to_host(packet_rows, dev)
                host_ragged = _to_host(ragged, dev) if ragged else {}
                if task == "detection":
                    host["regions/offsets"] = offsets
                if ids is not None:
                    host["ids"] = ids
                    all_ids.append(ids)
                if video is not None:
                    host["video/id"], host["video/frame"] = video
                    all_video.append(video)
                event = None
                if dev.type == "cuda":  # recorded after every copy above: the writer waits on it
                    event = torch.cuda.Event()
                    event.record()
                sink.put(Packet(host, host_ragged, event))
                rows += b
                meter.update(b)
        sink.close()
        meter.close()
        if rows == 0:
            raise InferError("the data yielded no samples; a pool needs at least one")
        if n_rows is not None and rows != n_rows:
            raise InferError(
                f"the data yielded {rows} samples but its len() announced {n_rows}; fix __len__ of the dataset"
            )
        if all_ids:
            _check_ids(all_ids)
        if all_video:
            _check_video(all_video)
        names = sorted(sink.sink.columns)
        _write_loop_state(writer, rows, labels, labeled)
        if carry is None:
            writer.commit()  # stamps the version itself from the groups written
        else:
            from ..pool.locking import pool_lock

            # held until the new file has replaced the old: a recorder's next epoch waits and lands in it
            with pool_lock(output, exclusive=True, what="alselect infer"):
                copy_into(carry, writer.file, rows)
                writer.commit()
            names += [n for n in carry.names if n not in names]
    except BaseException:
        if sink is not None:
            sink.abort()
        writer.abort()
        if meter.enabled:
            sys.stderr.write("\n")
        raise
    finally:
        if hook is not None:
            hook.remove()
    return InferStats(str(output), rows, meter.elapsed, names)


def _write_loop_state(writer, rows: int, labels, labeled) -> None:
    """``--labels`` / ``--labeled`` of this cycle, checked against the rows the model ran over."""
    from .. import validation

    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (rows,):
            raise InferError(f"--labels holds {labels.size} labels, but the model ran over {rows} samples; give one "
                             "label per sample in pool order (-1 = unknown)")
        writer.write("labels", labels.astype(np.int64))
    if labeled is not None:
        writer.write("labeled", validation.check_row_indices("--labeled", np.asarray(labeled, dtype=np.int64), rows))


def _forward(net: nn.Module, inputs: torch.Tensor, rows: int):
    try:
        return net(inputs)
    except InferError:
        raise
    except Exception as exc:
        raise InferError(
            f"the model's forward pass failed on the batch starting at sample {rows}, inputs of shape "
            f"{tuple(inputs.shape)} ({_first_line(exc)})"
        ) from exc


def _check_video(parts: list[tuple]) -> None:
    videos = np.concatenate([v for v, _ in parts])
    frames = np.concatenate([f for _, f in parts])
    try:
        checks.check_frame_numbers("video/frame", frames)
        checks.check_video_frames(videos, frames)
    except PoolValueError as exc:
        raise InferError(f"{exc}; the third and fourth elements of each data item are its video id and frame number") from None


def _check_ids(parts: list[np.ndarray]) -> None:
    ids = np.concatenate(parts)
    ids = ids.astype(str) if ids.dtype == object else ids
    try:
        checks.check_ids("ids", ids)
    except PoolValueError as exc:
        raise InferError(
            f"{exc}; the second element of each data item is taken as the sample id (if your dataset yields "
            "(input, label) pairs, make it yield inputs only, or (input, id))"
        ) from None
